"""Bytes → a typed polars frame of v1 telemetry events, and dead letters for what is not.

The fast path hands a whole batch to ``pl.read_ndjson`` with a fixed schema and validates it
with vectorised expressions.  A batch polars cannot parse (a malformed line, a wrong JSON type)
is split into slices and only the slices that fail are decoded line by line with the pydantic
models (``engine.models.events``), which also give the reason a dead letter carries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
import polars as pl
from pydantic import ValidationError

from engine.models.events import EVENT_ADAPTER, EVENT_KINDS

RAW_SCHEMA: dict[str, pl.DataType] = {
    "schema_version": pl.Int64(),
    "event_id": pl.String(),
    "event_time": pl.String(),
    "provider_id": pl.String(),
    "contract_id": pl.String(),
    "resource_id": pl.String(),
    "source": pl.String(),
    "tenant_id": pl.String(),
    "project_id": pl.String(),
    "kind": pl.String(),
    "ok": pl.Boolean(),
    "latency_ms": pl.Float64(),
    "status": pl.String(),
    "model": pl.String(),
    "tokens_in": pl.Int64(),
    "tokens_out": pl.Int64(),
    "state": pl.String(),
    "reason": pl.String(),
    "cpu": pl.Float64(),
    "gpu": pl.Float64(),
    "memory": pl.Float64(),
    "storage": pl.Float64(),
    "bandwidth": pl.Float64(),
    "tasks": pl.Int64(),
    "users": pl.Int64(),
    "jitter_ms": pl.Float64(),
    "loss_ratio": pl.Float64(),
    "throughput_mbps": pl.Float64(),
    "read_mbps": pl.Float64(),
    "write_mbps": pl.Float64(),
    "incident_id": pl.String(),
    "impact": pl.Int64(),
    "urgency": pl.Int64(),
    "summary": pl.String(),
    "maintenance_id": pl.String(),
    "window_start": pl.String(),
    "window_end": pl.String(),
    "period_start": pl.String(),
    "period_end": pl.String(),
    "total_kwh": pl.Float64(),
    "it_kwh": pl.Float64(),
    "renewable_kwh": pl.Float64(),
    "grid_kwh": pl.Float64(),
    "self_kwh": pl.Float64(),
    "green_kwh": pl.Float64(),
    "direction": pl.String(),
    "requested_at": pl.String(),
    "completed_at": pl.String(),
    "nodes": pl.Int64(),
}
# Parsed as text, typed afterwards by vectorised casts: a wrong JSON type then fails one row,
# not the whole batch, and the same checks judge every line whatever batch it came in.
TEXT_SCHEMA = dict.fromkeys(RAW_SCHEMA, pl.String())
_INSTANT = "%Y-%m-%dT%H:%M:%S%.f%#z"
_PIECE = 32_768  # lines per polars call: each call costs ~ms of its own, big pieces pay it less
_RETRY_PIECE = 2048  # a refused piece is parsed again in pieces of this size, then halved
_SMALL_PIECE = 128  # a piece polars refuses is halved down to this, then parsed as text


@dataclass(frozen=True, slots=True)
class DeadLetter:
    raw: str
    error: str
    origin: str


@dataclass(frozen=True, slots=True)
class Decoded:
    """Valid events (``seq`` = index of the line in the batch) and the dead letters."""

    events: pl.DataFrame
    dead: list[DeadLetter]


def split_records(payload: bytes) -> list[bytes]:
    """One Kafka message or file chunk → one JSON text per event.

    Accepts a single object, NDJSON, or a JSON array of objects (also as NDJSON lines).
    An array that is not valid JSON stays one (bad) record so it is dead-lettered whole.
    """
    lines = payload.split(b"\n")
    if b"[" not in payload:
        return (
            [line for line in lines if line.strip()]
            if b"\n\n" in payload or not lines[-1]
            else lines
        )
    out: list[bytes] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[:1] == b"[":
            try:
                items = orjson.loads(stripped)
            except orjson.JSONDecodeError:
                out.append(line)
                continue
            out.extend(orjson.dumps(item) for item in items)
        else:
            out.append(line)
    return out


def decode(lines: list[bytes], origin: Callable[[int], str], block: bytes | None = None) -> Decoded:
    """Decode and validate ``lines`` (one JSON object each); ``origin(i)`` names line ``i``.

    ``block``, if given, is ``b"\\n".join(lines)`` already (a file chunk): it saves a copy
    when the batch is small enough to be parsed in one piece.

    Fast path: a piece is parsed straight into the typed schema.  If polars refuses it (a wrong
    JSON type, a malformed line), the piece is parsed as text and typed row by row — the
    reference path, whose result the fast path equals on every piece it accepts.
    """
    if not lines:
        return Decoded(_empty_frame(), [])
    frames: list[pl.DataFrame] = []
    texts: list[pl.DataFrame] = []
    dead: list[DeadLetter] = []

    def piece(part: list[bytes], start: int, joined: bytes | None) -> None:
        try:
            frames.append(_read_typed(joined or b"\n".join(part), len(part), start))
            return
        except (pl.exceptions.PolarsError, OSError):
            pass
        if len(part) > _RETRY_PIECE:  # one bad line costs one big parse, not eight halvings
            for sub in range(0, len(part), _RETRY_PIECE):
                piece(part[sub : sub + _RETRY_PIECE], start + sub, None)
            return
        if len(part) > _SMALL_PIECE:  # narrow down to the small piece holding the problem
            half = len(part) // 2
            piece(part[:half], start, None)
            piece(part[half:], start + half, None)
            return
        parsed: list[pl.DataFrame] = []
        _parse(part, start, parsed, dead, origin)
        for text in parsed:  # text → types; a value of the wrong type is flagged
            texts.append(text)
            frames.append(_cast(text.with_columns(_tbad=_type_flags())))

    for start in range(0, len(lines), _PIECE):
        part = lines[start : start + _PIECE]
        piece(part, start, block if block is not None and len(part) == len(lines) else None)
    frames = [f if "_tbad" in f.columns else f.with_columns(_tbad=pl.lit(False)) for f in frames]
    raw = pl.concat(frames, how="vertical", rechunk=False) if frames else _empty_typed()
    text = pl.concat(texts, how="vertical", rechunk=False) if texts else _empty_raw()
    return _validate(raw, text, lines, origin, dead)


def _read_typed(block: bytes, n: int, offset: int) -> pl.DataFrame:
    frame = pl.read_ndjson(block, schema=RAW_SCHEMA)
    if frame.height != n:  # a blank or whitespace-only line was skipped
        raise pl.exceptions.ComputeError("blank line in batch")
    return frame.with_columns(pl.int_range(offset, offset + n, dtype=pl.Int64).alias("seq"))


def _read(lines: list[bytes], offset: int) -> pl.DataFrame:
    return _read_block(b"\n".join(lines), lines, offset)


def _read_block(block: bytes, lines: list[bytes], offset: int) -> pl.DataFrame:
    """Parse one piece as text columns (typed later, row by row, by ``_validate``)."""
    frame = pl.read_ndjson(block, schema=TEXT_SCHEMA)
    if frame.height != len(lines):  # a blank or whitespace-only line was skipped
        raise pl.exceptions.ComputeError("blank line in batch")
    return frame.with_columns(
        pl.int_range(offset, offset + frame.height, dtype=pl.Int64).alias("seq")
    )


def _parse(
    lines: list[bytes],
    offset: int,
    frames: list[pl.DataFrame],
    dead: list[DeadLetter],
    origin: Callable[[int], str],
    block: bytes | None = None,
) -> None:
    """Parse one piece with polars; if it fails, screen its lines and parse the good ones."""
    try:
        frames.append(_read_block(block, lines, offset) if block else _read(lines, offset))
        return
    except (pl.exceptions.PolarsError, OSError):
        pass
    good: list[int] = []
    for i, line in enumerate(lines):
        reason = _json_error(line)
        if reason is None:
            good.append(i)
        else:
            dead.append(DeadLetter(_text(line), reason, origin(offset + i)))
    _parse_typed(lines, good, offset, frames, dead, origin)


def _parse_typed(
    lines: list[bytes],
    picked: list[int],
    offset: int,
    frames: list[pl.DataFrame],
    dead: list[DeadLetter],
    origin: Callable[[int], str],
) -> None:
    """Parse JSON objects with polars, halving on failure down to the line of a wrong type.

    A line's fate does not depend on its batch: whatever polars can parse is validated by the
    same vectorised checks; only a line polars cannot type is explained here.
    """
    if not picked:
        return
    try:
        frame = pl.read_ndjson(b"\n".join(lines[i] for i in picked), schema=TEXT_SCHEMA)
    except pl.exceptions.PolarsError as exc:
        if len(picked) > 1:
            half = len(picked) // 2
            _parse_typed(lines, picked[:half], offset, frames, dead, origin)
            _parse_typed(lines, picked[half:], offset, frames, dead, origin)
        else:
            line = lines[picked[0]]
            reason = _model_error(line) or f"could not be parsed: {exc}"
            dead.append(DeadLetter(_text(line), reason, origin(offset + picked[0])))
        return
    seq = pl.Series("seq", [offset + i for i in picked], dtype=pl.Int64)
    frames.append(frame.with_columns(seq))


def _json_error(line: bytes) -> str | None:
    """Why one line is not a JSON object, or None."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    return None


def _model_error(line: bytes) -> str | None:
    """The pydantic model's reason a JSON object is not a v1 event, or None."""
    try:
        EVENT_ADAPTER.validate_json(line)
    except ValidationError as exc:
        return _pydantic_reason(exc)
    return None


def _pydantic_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        loc = ".".join(str(p) for p in error["loc"][1:] or error["loc"])
        parts.append(f"{loc}: {error['msg']}")
    return "schema violation: " + "; ".join(parts)


def _text(line: bytes) -> str:
    return line.decode("utf-8", errors="replace")


def _empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema={**TEXT_SCHEMA, "seq": pl.Int64()})


_TYPE_NAMES = {pl.Int64(): "an integer", pl.Float64(): "a number", pl.Boolean(): "true or false"}


def _cast_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    source = pl.col(name)
    if dtype == pl.Boolean():
        return pl.when(source == "true").then(True).when(source == "false").then(False)
    return source.cast(dtype, strict=False)


def _cast(text: pl.DataFrame) -> pl.DataFrame:
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
        error = pl.when(bad).then(pl.lit(f"{name} must be {_TYPE_NAMES[dtype]}")).otherwise(error)
    return error


def _ts(col: str) -> pl.Expr:
    return (
        pl.col(col)
        .str.to_datetime(_INSTANT, time_unit="ms", time_zone="UTC", strict=False)
        .dt.epoch("ms")
    )


def _checks() -> list[tuple[pl.Expr, str]]:
    kind = pl.col("kind")
    checks: list[tuple[pl.Expr, str]] = [
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
    for name in (
        "latency_ms",
        "jitter_ms",
        "throughput_mbps",
        "read_mbps",
        "write_mbps",
        "total_kwh",
        "it_kwh",
        "renewable_kwh",
        "grid_kwh",
        "self_kwh",
        "green_kwh",
    ):
        checks.append((pl.col(name) < 0, f"{name} must be ≥ 0"))
        checks.append((pl.col(name).is_nan(), f"{name} must be a number"))
    for name in ("cpu", "gpu", "memory", "storage", "bandwidth", "loss_ratio"):
        checks.append(
            (~pl.col(name).is_between(0.0, 1.0), f"{name} must be a ratio between 0 and 1")
        )
    checks.append((pl.col("nodes") < 1, "nodes must be ≥ 1"))
    for name in ("tokens_in", "tokens_out", "tasks", "users"):
        checks.append((pl.col(name) < 0, f"{name} must be ≥ 0"))
    for name in ("impact", "urgency"):
        checks.append((~pl.col(name).is_between(1, 4), f"{name} must be between 1 and 4"))
    return checks


def _type_flags() -> pl.Expr:
    """Per row: does any field hold a JSON value not of its type (cheap booleans)."""
    return pl.any_horizontal(
        [
            pl.col(name).is_not_null() & _cast_expr(name, dtype).is_null()
            for name, dtype in RAW_SCHEMA.items()
            if dtype != pl.String()
        ]
    ).fill_null(False)


def _validate(
    raw: pl.DataFrame,
    text: pl.DataFrame,
    lines: list[bytes],
    origin: Callable[[int], str],
    dead: list[DeadLetter],
) -> Decoded:
    """Check every typed row with boolean flags; only the (rare) rows that fail get their
    message, from the same checks in the same order (first wrongly typed field, then first
    failing check).  ``text``: the text form of the rows that took the text path."""
    frame = raw.with_columns(
        event_ms=_ts("event_time"),
        window_start_ms=_ts("window_start"),
        window_end_ms=_ts("window_end"),
        period_start_ms=_ts("period_start"),
        period_end_ms=_ts("period_end"),
        requested_at_ms=_ts("requested_at"),
        completed_at_ms=_ts("completed_at"),
        status_code=pl.col("status").str.to_integer(strict=False),
    )
    checks = _checks()
    failed = frame.select(pl.any_horizontal([c.fill_null(False) for c, _ in checks])).to_series()
    bad_mask = failed | frame.get_column("_tbad")
    if bad_mask.any():
        bad = frame.filter(bad_mask)
        typing = text.join(bad.select("seq"), on="seq").select(
            "seq", _type_errors(text).alias("_type_error")
        ) if text.height else pl.DataFrame(schema={"seq": pl.Int64, "_type_error": pl.String})
        bad = bad.join(typing, on="seq", how="left", maintain_order="left")
        error: pl.Expr = pl.lit(None, dtype=pl.String)
        for condition, message in reversed(checks):
            error = pl.when(condition.fill_null(False)).then(pl.lit(message)).otherwise(error)
        error = pl.coalesce(pl.col("_type_error"), error)
        for seq, message in bad.select("seq", error.alias("error")).iter_rows():
            dead.append(DeadLetter(_text(lines[seq]), f"schema violation: {message}", origin(seq)))
        frame = frame.filter(~bad_mask)
    return Decoded(
        frame.drop(
            "_tbad",
            "event_time",
            "window_start",
            "window_end",
            "period_start",
            "period_end",
            "requested_at",
            "completed_at",
        ),
        dead,
    )


def _empty_typed() -> pl.DataFrame:
    return pl.DataFrame(schema={**RAW_SCHEMA, "seq": pl.Int64(), "_tbad": pl.Boolean()})


def _empty_frame() -> pl.DataFrame:
    return _validate(_empty_typed(), _empty_raw(), [], lambda i: str(i), []).events
