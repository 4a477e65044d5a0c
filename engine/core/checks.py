"""Every check of a decoded telemetry row, vectorised, and the reason of a row that fails.

A row is a valid v1 event when each field has its JSON type (text columns are typed by
:func:`cast`; a value that does not cast flags its row), each number and instant lies within
its bound (``engine.models.events``), and each kind has its required fields.  :func:`validate`
runs the checks as one boolean flag per row; only the rare rows that fail are explained, by
the same checks in the same order, so a line's reason never depends on its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from functools import cache, lru_cache

import orjson
import polars as pl

from engine.core.wire import (
    IDENT_FIELDS,
    IDENT_MAX,
    INSTANTS,
    RAW_SCHEMA,
    TEXT_FIELDS,
    DeadLetter,
    Decoded,
    ms_column,
)
from engine.models.limits import (
    DURATION_MS_MAX,
    EARLIEST_MS,
    EVENT_KINDS,
    INTEGER_BOUNDS,
    LATEST_MS,
    NUMBER_BOUNDS,
    RATIO_FIELDS,
    STATUS_MAX,
)

_NOT_A_STRING = r"^(?:-?[0-9][0-9.eE+-]*|true|false|\{.*|\[.*)$"


_INSTANT = "%Y-%m-%dT%H:%M:%S%.f%#z"


_TYPE_NAMES = {pl.Int64(): "an integer", pl.Float64(): "a number", pl.Boolean(): "true or false"}


def _range(name: str) -> str:
    """`` between <low> and <high>`` of a bounded field (empty if it has no bound)."""
    bound = NUMBER_BOUNDS.get(name) or INTEGER_BOUNDS.get(name)
    return "" if bound is None else f" between {_number(bound[0])} and {_number(bound[1])}"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def finite_message(name: str, note: str = "not NaN or infinite") -> str:
    return f"{name} must be a finite number{_range(name)} ({note})"


def _cast_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    source = pl.col(name)
    if dtype == pl.Boolean():
        return pl.when(source == "true").then(True).when(source == "false").then(False)
    return source.cast(dtype, strict=False)


def cast(text: pl.DataFrame) -> pl.DataFrame:
    """Text columns → their types (a value that does not cast becomes null)."""
    return text.with_columns(
        _cast_expr(name, dtype).alias(name)
        for name, dtype in RAW_SCHEMA.items()
        if dtype != pl.String()
    )


def _type_errors(text: pl.DataFrame) -> pl.Expr:
    """Per text row, the first field whose JSON value is not of its type (null if none)."""
    error: pl.Expr = pl.lit(None, dtype=pl.String)
    for name, dtype in reversed(RAW_SCHEMA.items()):
        if dtype == pl.String():
            continue
        bad = pl.col(name).is_not_null() & _cast_expr(name, dtype).is_null()
        message = f"{name} must be {_TYPE_NAMES[dtype]}{_range(name)}"
        error = pl.when(bad).then(pl.lit(message)).otherwise(error)
    return error


@cache
def type_flags() -> pl.Expr:
    """Per row: does any field hold a JSON value not of its type (cheap booleans)."""
    return pl.any_horizontal(
        [
            pl.col(name).is_not_null() & _cast_expr(name, dtype).is_null()
            for name, dtype in RAW_SCHEMA.items()
            if dtype != pl.String()
        ]
    ).fill_null(False)


def _ts(col: str) -> pl.Expr:
    return (
        pl.col(col)
        .str.to_datetime(_INSTANT, time_unit="ms", time_zone="UTC", strict=False)
        .dt.epoch("ms")
    )


@cache
def _checks() -> tuple[tuple[pl.Expr, str], ...]:
    """Every check of a typed row, in the order its message is chosen (the first that fails).
    Built once: the expressions are immutable, and a small batch would pay ~1 ms for them."""
    return (*_plain_checks(), *_value_checks(), *_instant_checks())


@lru_cache(maxsize=64)
def flag(empty: frozenset[str] = frozenset()) -> pl.Expr:
    """Whether any of :func:`_checks` fails, cheaper: one range test per bounded field (NaN
    compares above every number in polars, so ``is_between`` is false for it, as for ±inf).

    ``empty``: columns entirely null in the batch. A condition that reads only those has the
    same value on every row (the checks are elementwise), its value on a row of nulls: it is
    left out when that is not true (most fields are absent from most batches)."""
    bounds: dict[str, tuple[float, float]] = {**NUMBER_BOUNDS, **INTEGER_BOUNDS}
    conditions = [
        *(condition for condition, _ in _plain_checks()),
        *(~pl.col(name).is_between(low, high) for name, (low, high) in bounds.items()),
        *(condition for condition, _ in _instant_checks()),
    ]
    if empty:
        nulls = pl.DataFrame(schema=_checked_schema()).clear(1)
        conditions = [
            c
            for c in conditions
            if not set(c.meta.root_names()) <= empty or nulls.select(c.fill_null(False)).item()
        ]
    # null where no condition holds and one is null: filled once (a fill per condition costs
    # ~30 % of this flag on a small batch, where each expression node's overhead dominates)
    return pl.any_horizontal(conditions or [pl.lit(False)]).fill_null(False)


def _checked_schema() -> dict[str, pl.DataType]:
    """The columns the checks read: the wire fields, each instant in ms, the status code."""
    return {
        **RAW_SCHEMA,
        **{ms_column(name): pl.Int64() for name in INSTANTS},
        "status_code": pl.Int64(),
    }


@cache
def _check_columns() -> tuple[pl.Expr, ...]:
    """One boolean column per check of :func:`_checks`, in order."""
    return tuple(c.fill_null(False).alias(f"_check{i}") for i, (c, _) in enumerate(_checks()))


def _plain_checks() -> list[tuple[pl.Expr, str]]:
    kind = pl.col("kind")
    checks: list[tuple[pl.Expr, str]] = [
        *(
            (
                pl.col(name).str.len_chars() > IDENT_MAX,
                f"{name} is longer than {IDENT_MAX} characters",
            )
            for name in IDENT_FIELDS
        ),
        (pl.col("schema_version").is_null(), "missing required field 'schema_version'"),
        (pl.col("schema_version") != 1, "unsupported schema_version (this engine reads 1)"),
    ]
    for name in ("event_id", "event_time", "provider_id", "contract_id", "resource_id", "source"):
        checks.append((pl.col(name).is_null(), f"missing required field '{name}'"))
        checks.append((pl.col(name).str.len_bytes() == 0, f"field '{name}' is empty"))
    checks += [
        (kind.is_null(), "missing required field 'kind'"),
        (~kind.is_in(EVENT_KINDS), "unknown kind (expected one of " + ", ".join(EVENT_KINDS) + ")"),
        (
            ~pl.col("source").is_in(["platform", "provider", "customer"]),
            "source must be platform, provider or customer",
        ),
        (pl.col("event_ms").is_null(), "event_time is not an RFC 3339 instant with an offset"),
        ((kind == "probe") & pl.col("ok").is_null(), "probe: missing required field 'ok'"),
        ((kind == "request") & pl.col("ok").is_null(), "request: missing required field 'ok'"),
        (
            (kind == "request") & pl.col("latency_ms").is_null(),
            "request: missing required field 'latency_ms'",
        ),
        (
            (kind == "request") & pl.col("status").is_not_null() & pl.col("status_code").is_null(),
            "request: status must be an integer",
        ),
        (
            (kind == "node_state")
            & ~pl.col("state").is_in(["up", "down", "degraded"]).fill_null(False),
            "node_state: state must be up, down or degraded",
        ),
        (
            (kind == "incident") & pl.col("incident_id").is_null(),
            "incident: missing required field 'incident_id'",
        ),
        (
            (kind == "incident") & ~pl.col("status").is_in(["opened", "resolved"]).fill_null(False),
            "incident: status must be opened or resolved",
        ),
        (
            (kind == "maintenance") & pl.col("maintenance_id").is_null(),
            "maintenance: missing required field 'maintenance_id'",
        ),
        (
            (kind == "maintenance")
            & (pl.col("window_start_ms").is_null() | pl.col("window_end_ms").is_null()),
            "maintenance: window_start and window_end must be RFC 3339 instants with an offset",
        ),
        (
            (kind == "maintenance") & (pl.col("window_end_ms") <= pl.col("window_start_ms")),
            "maintenance: window_end must be after window_start",
        ),
        (
            (kind == "energy")
            & (pl.col("period_start_ms").is_null() | pl.col("period_end_ms").is_null()),
            "energy: period_start and period_end must be RFC 3339 instants with an offset",
        ),
        (
            (kind == "energy") & (pl.col("total_kwh").is_null() | pl.col("it_kwh").is_null()),
            "energy: missing required field 'total_kwh' or 'it_kwh'",
        ),
        (
            kind.is_in(["provisioning", "scaling"])
            & (pl.col("requested_at_ms").is_null() | pl.col("completed_at_ms").is_null()),
            "requested_at and completed_at must be RFC 3339 instants with an offset",
        ),
        (
            kind.is_in(["provisioning", "scaling"])
            & (pl.col("completed_at_ms") < pl.col("requested_at_ms")),
            "completed_at must not be before requested_at",
        ),
        (
            (kind == "scaling") & ~pl.col("direction").is_in(["out", "in"]).fill_null(False),
            "scaling: direction must be out or in",
        ),
    ]
    return checks


def _value_checks() -> list[tuple[pl.Expr, str]]:
    """Every numeric value within its bound (``engine.models.events``): a non-finite number
    ("Infinity", "NaN", "1e309" as text) or one out of range rejects its line, whatever its
    kind, before any sum can overflow or any histogram refuse it."""
    checks: list[tuple[pl.Expr, str]] = []
    for name, (low, high) in NUMBER_BOUNDS.items():
        col = pl.col(name)
        checks.append((~col.is_finite(), finite_message(name)))
        if name in RATIO_FIELDS:
            checks.append((~col.is_between(low, high), f"{name} must be a ratio{_range(name)}"))
        else:
            checks.append((col < low, f"{name} must be ≥ {_number(low)}"))
            checks.append((col > high, f"{name} must be ≤ {_number(high)}"))
    for name, (ilow, ihigh) in INTEGER_BOUNDS.items():
        col = pl.col(name)
        if name in ("impact", "urgency"):
            checks.append((~col.is_between(ilow, ihigh), f"{name} must be{_range(name)}"))
        else:
            checks.append((col < ilow, f"{name} must be ≥ {ilow}"))
            checks.append((col > ihigh, f"{name} must be ≤ {ihigh}"))
    return checks


def _instant_checks() -> list[tuple[pl.Expr, str]]:
    """A request's status code, every instant in [2000, 2100), every duration ≤ 366 days."""
    kind = pl.col("kind")
    checks: list[tuple[pl.Expr, str]] = []
    checks.append(
        (
            (kind == "request") & ~pl.col("status_code").is_between(0, STATUS_MAX),
            f"request: status must be between 0 and {STATUS_MAX}",
        )
    )
    for name in INSTANTS:
        checks.append(
            (
                ~pl.col(ms_column(name)).is_between(EARLIEST_MS, LATEST_MS, closed="left"),
                f"{name} must be from 2000-01-01T00:00:00Z to before 2100-01-01T00:00:00Z",
            )
        )
    days = DURATION_MS_MAX // 86_400_000
    checks += [
        (
            (kind == "maintenance")
            & (pl.col("window_end_ms") - pl.col("window_start_ms") > DURATION_MS_MAX),
            f"maintenance: the window must not last more than {days} days",
        ),
        (
            (kind == "energy") & (pl.col("period_end_ms") <= pl.col("period_start_ms")),
            "energy: period_end must be after period_start",
        ),
        (
            (kind == "energy")
            & (pl.col("period_end_ms") - pl.col("period_start_ms") > DURATION_MS_MAX),
            f"energy: the period must not last more than {days} days",
        ),
        (
            kind.is_in(["provisioning", "scaling"])
            & (pl.col("completed_at_ms") - pl.col("requested_at_ms") > DURATION_MS_MAX),
            f"completed_at must be at most {days} days after requested_at",
        ),
    ]
    return checks


def validate(
    raw: pl.DataFrame,
    text: pl.DataFrame,
    lines: Sequence[bytes],
    origin: Callable[[int], str],
    dead: list[DeadLetter],
    skip: Collection[int] = (),
    strings: Collection[int] | None = None,
) -> Decoded:
    """Check every typed row with boolean flags; only the (rare) rows that fail get their
    message, from the same checks in the same order (first wrongly typed field, then first
    failing check).  ``text``: the text form of the rows that took the text path; ``skip``:
    the ``seq`` of placeholder rows, dropped without a word (their lines are dead already);
    ``strings``: the ``seq`` of the only rows whose text fields may hold a JSON value that is
    not a string (None: any row may, see :func:`not_strings`)."""
    height = raw.height
    empty = {name for name in RAW_SCHEMA if raw.get_column(name).null_count() == height}
    frame = raw.with_columns(
        *(
            (pl.lit(None, pl.Int64) if name in empty else _ts(name)).alias(ms_column(name))
            for name in INSTANTS
        ),
        status_code=pl.col("status").str.to_integer(strict=False),
    )
    wrong_strings = not_strings(
        frame if strings is None else frame.filter(pl.col("seq").is_in(list(strings))),
        lines,
        empty,
    )
    derived = {ms_column(name) for name in INSTANTS if name in empty}
    derived |= {"status_code"} if "status" in empty else set()
    flagged = flag(frozenset(empty | derived))
    failed = frame.select(flagged | pl.col("seq").is_in([*wrong_strings, *skip])).to_series()
    bad_mask = failed | frame.get_column("_tbad")
    if bad_mask.any():
        bad = frame.filter(bad_mask)
        typing = (
            text.join(bad.select("seq"), on="seq").select(
                "seq", _type_errors(text).alias("_type_error")
            )
            if text.height
            else pl.DataFrame(schema={"seq": pl.Int64, "_type_error": pl.String})
        )
        bad = bad.join(typing, on="seq", how="left", maintain_order="left")
        # one flat select of every check, not a when/then chain: a chain of ~80 conditions
        # costs ~15 ms even on a handful of rows
        messages = [message for _, message in _checks()]
        if skip:
            bad = bad.filter(~pl.col("seq").is_in(list(skip)))
        for seq, type_error, *hits in bad.select("seq", "_type_error", *_check_columns()).rows():
            failing = (m for m, hit in zip(messages, hits, strict=True) if hit)
            message = type_error or next(failing, None) or wrong_strings.get(seq)
            message = message or "a value is out of range"
            dead.append(DeadLetter.of(lines[seq], f"schema violation: {message}", origin(seq)))
        frame = frame.filter(~bad_mask)
    return Decoded(frame.drop("_tbad", *INSTANTS), dead)


def not_strings(
    frame: pl.DataFrame, lines: Sequence[bytes], empty: set[str] | frozenset[str] = frozenset()
) -> dict[int, str]:
    """``seq`` → message of the rows where a text field holds a JSON number, boolean, object
    or array (polars reads it as its text; the model refuses it): only rows whose text could
    be one are parsed again, from their raw line. ``empty``: fields null in every row."""
    present = [name for name in TEXT_FIELDS if name in frame.columns and name not in empty]
    if not present:
        return {}
    suspect = frame.select(
        pl.any_horizontal(pl.col(n).str.contains(_NOT_A_STRING).fill_null(False) for n in present)
    ).to_series()
    if not suspect.any():
        return {}
    wrong: dict[int, str] = {}
    for seq in frame.get_column("seq").filter(suspect).to_list():
        try:
            obj = orjson.loads(lines[seq])
        except orjson.JSONDecodeError:
            continue  # the parse that read it decides, not this check
        if isinstance(obj, dict):
            for name in present:
                value = obj.get(name)
                if value is not None and not isinstance(value, str):
                    wrong[seq] = f"{name} must be a string (got {type(value).__name__})"
                    break
    return wrong
