"""Usage figures of Annex B (Table B.1) per contract, tenant and project, per local hour.

For every hourly window (local hours of the contract's zone, :func:`windows.window_starts`)
and every ``(tenant, project)`` seen in it (a missing tenant or project is ``"-"``):

* model service calls (``request`` events): total calls, per-minute call counts max / min /
  mean over the window's minutes, failed calls (``ok`` false), ``tokens_in`` / ``tokens_out``
  totals and token consumption per request;
* resource use (``utilization`` events): mean and maximum of ``cpu``, ``gpu``, ``memory``,
  ``storage`` and ``bandwidth``.

Partial state is a frame of aggregates keyed by :data:`KEYS` that merge exactly (integer sums
and counts, maxima, minima), so any split of the events into closings gives the same records:

* a minute's events always arrive in one closing (a minute closes once), so a closing reduces
  its minutes to per-minute call counts and the partial keeps, per window, the number of
  minutes with calls and the max / min of their counts;
* utilisation ratios are summed as integer nano-units (``round(x · 10⁹)``), never as floats,
  whose sum would depend on the order of the additions;
* token and nano-unit sums never wrap (issue 11): within one closing they are Int64 sums of at
  most 2³² − 1 rows (a polars frame) of values ≤ 2·10⁹ (tokens, ``TOKENS_MAX`` in
  ``engine.models.events``) or ≤ 10⁹ (a ratio in nano-units), below 2⁶³ − 1; across closings
  the partial keeps them as Int128 (2¹²⁷: no realistic count of events reaches it).

Figures of a window (``window_minutes = (window_end − window_start) / 1 min``, 60 except on a
day cut short by a DST shift that is not a whole hour):

* ``calls_per_minute_mean = calls / window_minutes`` (minutes without calls count as 0);
* ``calls_per_minute_min`` is 0 unless every minute of the window had calls;
* ``calls_per_minute_max`` is 0 when there were no calls;
* ``tokens_per_request = (tokens_in + tokens_out) / calls that reported tokens``; None if none;
* ``<metric>_mean = Σ nano / (samples · 10⁹)``, ``<metric>_max`` the largest sample; None
  without samples.

A window is reported once, when its contract closes past its end; only ``(tenant, project)``
pairs with at least one request or utilisation event in the window get a record.  Pure: polars
and the standard library only; no I/O, no clock.
"""

from __future__ import annotations

from typing import Any, cast

import polars as pl

from engine.core.calendar import utc_iso
from engine.core.records import UsageRecord
from engine.core.windows import window_bounds

__all__ = ["HOUR_MS", "KEYS", "METRICS", "NANO", "SCHEMA", "empty_usage", "usage_step"]

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
NANO = 1_000_000_000
"""Utilisation ratios are summed in units of 10⁻⁹."""
NONE = "-"
"""Tenant or project of an event that names none."""
METRICS = ("cpu", "gpu", "memory", "storage", "bandwidth")
KEYS = ["contract_id", "tenant_id", "project_id", "window_start", "window_end"]

_SUMS = [
    "calls",
    "errors",
    "call_minutes",
    "tokens_in",
    "tokens_out",
    "token_calls",
    *(f"{m}_{part}" for m in METRICS for part in ("n", "nano")),
]
_MAXES = ["calls_minute_max", *(f"{m}_max" for m in METRICS)]
_MINS = ["calls_minute_min"]

_WIDE = {"tokens_in", "tokens_out", *(f"{m}_nano" for m in METRICS)}
"""Sums of the partial that could pass 2⁶³ over many closings: kept as Int128."""

SCHEMA: dict[str, pl.DataType] = {
    "contract_id": pl.String(),
    "tenant_id": pl.String(),
    "project_id": pl.String(),
    "window_start": pl.Int64(),
    "window_end": pl.Int64(),
    **{name: pl.Int128() if name in _WIDE else pl.Int64() for name in _SUMS},
    "calls_minute_max": pl.Int64(),
    "calls_minute_min": pl.Int64(),
    **{f"{m}_max": pl.Float64() for m in METRICS},
}
"""Columns of the partial state, in order.  ``calls_minute_max`` / ``_min``: over the minutes
that had calls (null if none); ``call_minutes``: how many minutes had calls; ``token_calls``:
calls that reported ``tokens_in`` or ``tokens_out``; ``<metric>_n`` / ``_nano`` / ``_max``:
samples, their sum in nano-units, their maximum."""


_SCHEMA = pl.Schema(SCHEMA)


def empty_usage() -> pl.DataFrame:
    """The partial state with no open window."""
    return pl.DataFrame(schema=SCHEMA)


def _conform(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every column of :data:`SCHEMA` (missing sums 0, extremes null)."""
    columns = []
    for name, dtype in SCHEMA.items():
        if name in frame.columns:
            columns.append(pl.col(name).cast(dtype))
        elif name in _SUMS:
            columns.append(pl.lit(0, dtype=dtype).alias(name))
        else:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
    return frame.select(columns)


def _with_windows(events: pl.DataFrame, tz_of: dict[str, str]) -> pl.DataFrame:
    """Add ``window_start`` / ``window_end`` of the local hour of each event's minute.

    Computed once per distinct (time zone, minute), whatever the number of contracts.
    """
    zones = pl.DataFrame(
        {"contract_id": list(tz_of), "_tz": list(tz_of.values())},
        schema={"contract_id": pl.String, "_tz": pl.String},
    )
    events = events.join(zones, on="contract_id", how="left")
    rows = []
    for tz, minute in events.select("_tz", "minute").unique().iter_rows():
        start, end = window_bounds(minute, tz, HOUR_MS)
        rows.append((tz, minute, start, end))
    windows = pl.DataFrame(
        rows,
        schema={"_tz": pl.String, "minute": pl.Int64, "window_start": pl.Int64,
                "window_end": pl.Int64},
        orient="row",
    )  # fmt: skip
    return events.join(windows, on=["_tz", "minute"], how="left").drop("_tz")


def _partials(closing: pl.DataFrame, tz_of: dict[str, str]) -> pl.DataFrame:
    """The partial aggregates of one closing's events (all of each minute's events)."""
    events = closing.filter(pl.col("kind").is_in(["request", "utilization"])).select(
        pl.col("contract_id"),
        pl.col("kind"),
        pl.col("minute").cast(pl.Int64),
        pl.col("tenant_id").fill_null(NONE),
        pl.col("project_id").fill_null(NONE),
        pl.col("ok"),
        pl.col("tokens_in"),
        pl.col("tokens_out"),
        *(pl.col(m) for m in METRICS),
    )
    if not events.height:
        return empty_usage()
    # per minute first, then the minutes into their hours: the window bounds are joined to
    # the per-minute rows, not to every event
    owner = ["contract_id", "tenant_id", "project_id", "minute"]
    requests = events.filter(pl.col("kind") == "request")
    reported = pl.col("tokens_in").is_not_null() | pl.col("tokens_out").is_not_null()
    per_minute = requests.group_by(owner).agg(
        n=pl.len().cast(pl.Int64),
        errors=(~pl.col("ok")).sum().cast(pl.Int64),
        tokens_in=pl.col("tokens_in").sum(),
        tokens_out=pl.col("tokens_out").sum(),
        token_calls=reported.sum().cast(pl.Int64),
    )
    calls = (
        _with_windows(per_minute, tz_of)
        .group_by(KEYS)
        .agg(
            calls=pl.col("n").sum(),
            errors=pl.col("errors").sum(),
            call_minutes=pl.len(),
            tokens_in=pl.col("tokens_in").sum(),
            tokens_out=pl.col("tokens_out").sum(),
            token_calls=pl.col("token_calls").sum(),
            calls_minute_max=pl.col("n").max(),
            calls_minute_min=pl.col("n").min(),
        )
    )
    # per minute: each metric's sample count, sum (in nano-units, each sample rounded) and max
    utilisation_minutes = (
        events.filter(pl.col("kind") == "utilization")
        .group_by(owner)
        .agg(
            *(pl.col(m).count().cast(pl.Int64).alias(f"{m}_n") for m in METRICS),
            *((pl.col(m) * NANO).round().cast(pl.Int64).sum().alias(f"{m}_nano") for m in METRICS),
            *(pl.col(m).max().alias(f"{m}_max") for m in METRICS),
        )
    )
    utilisation = (
        _with_windows(utilisation_minutes, tz_of)
        .group_by(KEYS)
        .agg(
            *(pl.col(f"{m}_n").sum() for m in METRICS),
            *(pl.col(f"{m}_nano").sum() for m in METRICS),
            *(pl.col(f"{m}_max").max() for m in METRICS),
        )
    )
    return pl.concat([_conform(calls), _conform(utilisation)], how="vertical")


def _merge(*frames: pl.DataFrame) -> pl.DataFrame:
    """Merge partial frames: sums add, maxima take the max, minima the min.  A frame of an
    older snapshot (Int64 token sums) is cast to :data:`SCHEMA` first."""
    return (
        pl.concat([f if f.schema == _SCHEMA else f.cast(_SCHEMA) for f in frames])
        .group_by(KEYS)
        .agg(
            *(pl.col(c).sum() for c in _SUMS),
            *(pl.col(c).max() for c in _MAXES),
            *(pl.col(c).min() for c in _MINS),
        )
        .select(list(SCHEMA))
        .sort(KEYS)
    )


def _ratio(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator`` correctly rounded (Python int division), None if 0/0."""
    return numerator / denominator if denominator else None


def _record(row: dict[str, Any]) -> UsageRecord:
    cid, tenant, project = row["contract_id"], row["tenant_id"], row["project_id"]
    start, end = row["window_start"], row["window_end"]
    window_minutes = (end - start) // MINUTE_MS
    calls = row["calls"]
    full = row["call_minutes"] >= window_minutes
    record: dict[str, Any] = {
        "record": "usage",
        "usage_id": f"usage:{cid}:{tenant}:{project}:{utc_iso(start)}",
        "contract_id": cid,
        "tenant_id": tenant,
        "project_id": project,
        "window_start": utc_iso(start),
        "window_end": utc_iso(end),
        "calls": calls,
        "calls_per_minute_max": row["calls_minute_max"] or 0,
        "calls_per_minute_min": (row["calls_minute_min"] or 0) if full else 0,
        "calls_per_minute_mean": calls / window_minutes,
        "errors": row["errors"],
        "tokens_in": row["tokens_in"],
        "tokens_out": row["tokens_out"],
        "tokens_per_request": _ratio(row["tokens_in"] + row["tokens_out"], row["token_calls"]),
    }
    for m in METRICS:
        record[f"{m}_mean"] = _ratio(row[f"{m}_nano"], row[f"{m}_n"] * NANO)
        record[f"{m}_max"] = row[f"{m}_max"]
    return cast(UsageRecord, record)


def usage_step(
    parts: pl.DataFrame,
    closing: pl.DataFrame,
    targets: dict[str, int],
    tz_of: dict[str, str],
) -> tuple[pl.DataFrame, list[UsageRecord]]:
    """Merge one closing's events into ``parts``; report the windows that closed.

    ``closing``: every event of the minutes just closed (columns of the pipeline's buffer plus
    ``minute``); ``targets[contract]``: the instant the contract is now closed until;
    ``tz_of[contract]``: its IANA zone (needed for every contract in ``closing``).  Returns the
    new partials and one record per (contract, tenant, project, window) with
    ``window_end <= targets[contract]``, sorted by (contract, window_start, tenant, project).
    """
    parts = _merge(parts, _partials(closing, tz_of)) if closing.height else parts
    if not targets or not parts.height:
        return parts, []
    target_frame = pl.DataFrame(
        {"contract_id": list(targets), "_target": list(targets.values())},
        schema={"contract_id": pl.String, "_target": pl.Int64},
    )
    joined = parts.join(target_frame, on="contract_id", how="left", maintain_order="left")
    done = pl.col("window_end") <= pl.col("_target").fill_null(-(2**62))
    closed = joined.filter(done).drop("_target")
    rest = joined.filter(~done).drop("_target")
    ordered = closed.sort("contract_id", "window_start", "tenant_id", "project_id")
    return rest, [_record(row) for row in ordered.iter_rows(named=True)]
