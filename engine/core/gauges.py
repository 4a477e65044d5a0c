"""Gauge SLIs of the Annex A catalogue: a statistic of one numeric telemetry field per window.

Storage read/write speed, network jitter/loss/throughput/congestion, resource-pool utilisation,
concurrency, provisioning and scaling times, model-service calls and tokens, PUE and the
renewable energy ratio R.  Each is defined by the event kind it reads, a per-event value ``x``
(and, for ratios, a denominator ``y``) and a statistic:

* ``mean`` = Σx / n, ``max``, ``min`` over the samples of the window;
* ``sum`` = Σx (calls, tokens);
* ``ratio`` = Σx / Σy (PUE = ΣP_total / ΣP_IT; R = ΣE_R / Σ[E_total − (E_elec − E_self −
  E_green) × a]).

The partial state of a window is ``(n, Σx, Σy, min x, max x)``; it merges by adding and by
min/max, so any split of the events into batches gives the same window.  Sums are kept in
integer micro-units (x rounded to 1e-6 per event) so that merging is exact whatever the order;
the sums are Int128: one event's micro value is below 2⁵³ (the bounds of
``engine.models.events``), but 4,612 requests of 2·10⁹ tokens would already pass 2⁶³.

Pure: polars only; no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

MICRO = 1_000_000


@dataclass(frozen=True, slots=True)
class GaugeDef:
    kind: str  # the event kind read
    unit: str
    statistic: str  # default statistic
    choosable: bool  # whether the rule file may pick mean / max / min
    in_service_time: bool  # only samples in evaluated minutes count


GAUGES: dict[str, GaugeDef] = {
    "storage_read_speed": GaugeDef("storage_io", "MB/s", "mean", True, True),
    "storage_write_speed": GaugeDef("storage_io", "MB/s", "mean", True, True),
    "network_jitter": GaugeDef("network", "ms", "mean", True, True),
    "network_loss": GaugeDef("network", "percent", "mean", True, True),
    "network_throughput": GaugeDef("network", "Mbit/s", "mean", True, True),
    "network_congestion": GaugeDef("network", "percent", "mean", False, True),
    "pool_utilization": GaugeDef("utilization", "percent", "mean", True, True),
    "concurrency": GaugeDef("utilization", "count", "max", True, True),
    "provisioning_time": GaugeDef("provisioning", "seconds", "max", True, True),
    "scale_out_time": GaugeDef("scaling", "seconds", "max", True, True),
    "scale_in_time": GaugeDef("scaling", "seconds", "max", True, True),
    "calls": GaugeDef("request", "count", "sum", False, True),
    "tokens": GaugeDef("request", "count", "sum", False, True),
    "pue": GaugeDef("energy", "ratio", "ratio", False, False),
    "renewable_ratio": GaugeDef("energy", "percent", "ratio", False, False),
}

PARTIAL_SCHEMA: dict[str, pl.DataType] = {
    "n": pl.Int64(),
    "sx": pl.Int128(),
    "sy": pl.Int128(),
    "mn": pl.Float64(),
    "mx": pl.Float64(),
}


def values(sli: str) -> tuple[pl.Expr, pl.Expr | None]:
    """Per-event ``x`` (and ``y`` for ratios) of ``sli``; rows carry the objective's parameters
    ``_param`` (a number: congestion loss ratio, grid renewable share) and ``_field``."""
    col = pl.col
    match sli:
        case "storage_read_speed":
            return col("read_mbps"), None
        case "storage_write_speed":
            return col("write_mbps"), None
        case "network_jitter":
            return col("jitter_ms"), None
        case "network_loss":
            return col("loss_ratio") * 100.0, None
        case "network_throughput":
            return col("throughput_mbps"), None
        case "network_congestion":
            loss = col("loss_ratio")
            congested = pl.when(loss >= col("_param")).then(100.0).otherwise(0.0)
            return pl.when(loss.is_not_null()).then(congested), None
        case "pool_utilization":
            field = col("_field")
            picked = (
                pl.when(field == "cpu").then(col("cpu"))
                .when(field == "gpu").then(col("gpu"))
                .when(field == "memory").then(col("memory"))
                .when(field == "storage").then(col("storage"))
                .otherwise(col("bandwidth"))
            )  # fmt: skip
            return picked * 100.0, None
        case "concurrency":
            return pl.when(col("_field") == "users").then(col("users")).otherwise(
                col("tasks")
            ).cast(pl.Float64), None
        case "provisioning_time":
            return (col("completed_at_ms") - col("requested_at_ms")) / 1000.0, None
        case "scale_out_time" | "scale_in_time":
            direction = "out" if sli == "scale_out_time" else "in"
            seconds = (col("completed_at_ms") - col("requested_at_ms")) / 1000.0
            return pl.when(col("direction") == direction).then(seconds), None
        case "calls":
            return pl.lit(1.0), None
        case "tokens":
            return (col("tokens_in").fill_null(0) + col("tokens_out").fill_null(0)).cast(
                pl.Float64
            ), None
        case "pue":
            return col("total_kwh"), col("it_kwh")
        case "renewable_ratio":
            electricity = col("grid_kwh").fill_null(col("total_kwh"))
            own = col("self_kwh").fill_null(0.0) + col("green_kwh").fill_null(0.0)
            denominator = col("total_kwh") - (electricity - own) * col("_param")
            return col("renewable_kwh").fill_null(0.0) * 100.0, denominator
    raise KeyError(sli)


def _micro(expr: pl.Expr) -> pl.Expr:
    return (expr * MICRO).round(0).cast(pl.Int64).cast(pl.Int128)


def partials(rows: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Rows with columns ``keys``, ``x`` and ``y`` (null when unused) → one partial per key."""
    rows = rows.filter(pl.col("x").is_not_null() & pl.col("x").is_finite())
    return rows.group_by(keys).agg(
        n=pl.len().cast(pl.Int64),
        sx=_micro(pl.col("x")).sum(),
        sy=_micro(pl.col("y")).sum().fill_null(0),
        mn=pl.col("x").min(),
        mx=pl.col("x").max(),
    )


def empty(keys: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema={**keys, **PARTIAL_SCHEMA})


def merge(a: pl.DataFrame, b: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """The partials of ``a`` and ``b`` combined (exact: integer sums, min, max)."""
    if not b.height:
        return a
    wide = pl.Schema({"sx": pl.Int128(), "sy": pl.Int128()})  # old snapshots hold Int64
    both = pl.concat([a.cast(wide), b.select(a.columns).cast(a.schema).cast(wide)])
    return (
        both.group_by(keys)
        .agg(
            n=pl.col("n").sum(),
            sx=pl.col("sx").sum(),
            sy=pl.col("sy").sum(),
            mn=pl.col("mn").min(),
            mx=pl.col("mx").max(),
        )
        .sort(keys)
    )


def value(statistic: str, n: int, sx: int, sy: int, mn: float, mx: float) -> float | None:
    """The statistic of one merged partial (None without samples or with Σy = 0)."""
    if n == 0:
        return None
    match statistic:
        case "mean":
            return sx / MICRO / n
        case "max":
            return mx
        case "min":
            return mn
        case "sum":
            return sx / MICRO
        case "ratio":
            return sx / sy if sy > 0 else None
    raise KeyError(statistic)
