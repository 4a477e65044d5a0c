"""Latency and gauge objectives, vectorised across contracts: the closing events bucketed
into their (period-clipped) windows as mergeable partials (histograms, gauge sums), merged
into state; the windows and periods a closing completes finished into values.
"""

from __future__ import annotations

import polars as pl

from engine.core import gauges
from engine.core import histogram as hist
from engine.core import intervals as iv
from engine.core.calendar import PeriodSpec, period_containing
from engine.core.closing import period_end_of, revision_of
from engine.core.contract import Contract, Ruleset
from engine.core.control import evaluated_intervals
from engine.core.evaluate import MinuteData
from engine.core.state import EngineState
from engine.core.windows import window_bounds


def _percentiles(
    parts: pl.DataFrame, start: str, percentiles: dict[tuple[str, str], float]
) -> dict[tuple[str, str, int], tuple[float | None, int]]:
    """(contract, objective, start) → (its objective's percentile, sample count)."""
    qs = sorted(set(percentiles.values()))
    values = hist.quantiles(parts, ["contract_id", "objective_id", start], qs)
    at = {q: 3 + i for i, q in enumerate(qs)}  # the row's place of each percentile column
    out: dict[tuple[str, str, int], tuple[float | None, int]] = {}
    for row in values.iter_rows():  # contract_id, objective_id, start, p…, count
        cid, oid = row[0], row[1]
        out[(cid, oid, row[2])] = (row[at[percentiles.get((cid, oid), qs[0])]], row[-1])
    return out


def close_latency(
    state: EngineState,
    ruleset: Ruleset,
    targets: dict[str, int],
    closing: pl.DataFrame,
    data: dict[str, MinuteData],
    evaluated: dict[str, list[iv.Interval]],
) -> None:
    """Latency objectives, vectorised across contracts: bucket the closing events into their
    (period-clipped) windows, then finish the windows and periods this closing completes."""
    specs: list[tuple[str, str, str, int, bool]] = []
    percentiles: dict[tuple[str, str], float] = {}
    contracts: dict[str, Contract] = {}
    layouts: dict[
        tuple[PeriodSpec, str, int, int], int
    ] = {}  # same calendar, period and window → same windows
    for cid in targets:
        contract = contracts[cid] = revision_of(ruleset, cid, state.contracts[cid])
        for objective in contract.objectives:
            if objective.sli == "latency":
                key = (contract.period, contract.tz, contract.term_end_ms, objective.window_ms)
                layout = layouts.setdefault(key, len(layouts))
                specs.append(
                    (cid, objective.id, objective.source, layout, objective.successful_only)
                )
                percentiles[(cid, objective.id)] = objective.percentile or 99.0
    if not specs:
        return
    keys = ["contract_id", "objective_id", "window_start", "window_end"]
    spec_frame = pl.DataFrame(
        specs,
        schema={"contract_id": pl.String, "objective_id": pl.String, "kind": pl.String,
                "_layout": pl.Int64, "_successful": pl.Boolean},
        orient="row",
    )  # fmt: skip
    rows = (
        closing.filter(pl.col("latency_ms").is_not_null())
        .select("contract_id", "kind", "minute", "latency_ms", "ok")
        .join(spec_frame, on=["contract_id", "kind"])
        # ``requests: successful``: failed samples leave the percentile
        .filter(~pl.col("_successful") | pl.col("ok").fill_null(False))
        .drop("ok", "_successful")
    )
    windows = state.lat_windows
    if rows.height:  # the samples join the open windows' partials in one group-by
        rows = _in_windows(_eligible(rows, state, contracts, targets, evaluated), layouts)
        windows = hist.merge_samples(windows, rows, keys)
    closed, still_open = _split_closed(windows, targets)
    state.lat_windows = hist.canonical(still_open, keys)  # only what stays open is sorted
    if closed.height:
        for (cid, oid, start), value in _percentiles(closed, "window_start", percentiles).items():
            data[cid].latency_windows[(oid, start)] = value
        # windows feed their period's histogram
        period_rows = [
            (cid, oid, ws, period_containing(contracts[cid].period, ws)[0])
            for cid, oid, ws in closed.select("contract_id", "objective_id", "window_start")
            .unique()
            .iter_rows()
        ]
        period_map = pl.DataFrame(
            period_rows,
            schema={"contract_id": pl.String, "objective_id": pl.String,
                    "window_start": pl.Int64, "period_start": pl.Int64},
            orient="row",
        )  # fmt: skip
        add = closed.join(period_map, on=["contract_id", "objective_id", "window_start"]).select(
            "contract_id", "objective_id", "period_start", "bucket", "count"
        )
        # read when the period ends: appended now, merged every few closings
        state.lat_periods = hist.append(
            state.lat_periods, add, ["contract_id", "objective_id", "period_start"]
        )
    # periods that end inside this closing: their percentile, then drop them
    finished = [
        (cid, period_start)
        for cid, period_start in state.lat_periods.select("contract_id", "period_start")
        .unique()
        .iter_rows()
        if cid in targets and period_end_of(contracts[cid], period_start) <= targets[cid]
    ]
    if finished:
        fin = pl.DataFrame(
            finished, schema={"contract_id": pl.String, "period_start": pl.Int64}, orient="row"
        )
        closed_periods = state.lat_periods.join(fin, on=["contract_id", "period_start"])
        for (cid, oid, start), value in _percentiles(
            closed_periods, "period_start", percentiles
        ).items():
            data[cid].latency_periods[(oid, start)] = value
        state.lat_periods = state.lat_periods.join(
            fin, on=["contract_id", "period_start"], how="anti"
        )


def _split_closed(
    windows: pl.DataFrame, targets: dict[str, int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(windows this closing completes, windows still open): a window is complete when its
    end is at or before its contract's closing target."""
    target_of = pl.col("contract_id").replace_strict(
        list(targets), list(targets.values()), default=-(2**62), return_dtype=pl.Int64
    )
    done = windows.select(pl.col("window_end") <= target_of).to_series()
    return windows.filter(done), windows.filter(~done)


def _eligible(
    rows: pl.DataFrame,
    state: EngineState,
    contracts: dict[str, Contract],
    targets: dict[str, int],
    evaluated: dict[str, list[iv.Interval]],
) -> pl.DataFrame:
    """The rows whose minute is evaluated (service time, term, exemptions); ``evaluated``
    caches each contract's evaluated time of this closing."""
    pairs = rows.select("contract_id", "minute").unique()
    for cid in pairs.get_column("contract_id").unique().to_list():
        if cid not in evaluated:
            cs = state.contracts[cid]
            evaluated[cid] = evaluated_intervals(
                cs, contracts[cid], cs.closed_until_ms or 0, targets[cid]
            )
    spans = pl.DataFrame(
        [
            (cid, s, e)
            for cid in pairs.get_column("contract_id").unique()
            for s, e in evaluated[cid]
        ],
        schema={"contract_id": pl.String, "_start": pl.Int64, "_end": pl.Int64},
        orient="row",
    ).sort("_start")
    # the evaluated interval that starts last at or before each minute (they are disjoint)
    eligible = (
        pairs.sort("minute")
        .join_asof(
            spans, left_on="minute", right_on="_start", by="contract_id", check_sortedness=False
        )
        .filter(pl.col("minute") < pl.col("_end"))
        .select("contract_id", "minute")
    )
    if eligible.height == pairs.height:  # every minute counts (e.g. 7x24, no exemption)
        return rows
    return rows.join(eligible, on=["contract_id", "minute"])


def _in_windows(
    rows: pl.DataFrame, layouts: dict[tuple[PeriodSpec, str, int, int], int]
) -> pl.DataFrame:
    """Rows with ``_layout`` and ``minute`` → with their (period-clipped) window bounds."""
    by_layout = {index: key for key, index in layouts.items()}
    windows = []
    for layout, minute in rows.select("_layout", "minute").unique().iter_rows():
        period, tz, term_end, window_ms = by_layout[layout]
        start, end = window_bounds(minute, tz, window_ms)
        period_start, period_end = period_containing(period, minute)
        windows.append((layout, minute, max(start, period_start), min(end, period_end, term_end)))
    window_frame = pl.DataFrame(
        windows,
        schema={"_layout": pl.Int64, "minute": pl.Int64, "window_start": pl.Int64,
                "window_end": pl.Int64},
        orient="row",
    )  # fmt: skip
    return rows.join(window_frame, on=["_layout", "minute"])


def close_gauges(
    state: EngineState,
    ruleset: Ruleset,
    targets: dict[str, int],
    closing: pl.DataFrame,
    data: dict[str, MinuteData],
    evaluated: dict[str, list[iv.Interval]],
) -> None:
    """Gauge objectives (``engine.core.gauges``), vectorised across contracts like latency:
    per-window partials merged into state, finished windows and periods handed to evaluate."""
    contracts: dict[str, Contract] = {}
    layouts: dict[tuple[PeriodSpec, str, int, int], int] = {}
    specs: dict[str, list[tuple[str, str, int, str, float]]] = {}
    statistic: dict[tuple[str, str], str] = {}
    for cid in targets:
        contract = contracts[cid] = revision_of(ruleset, cid, state.contracts[cid])
        for objective in contract.objectives:
            if objective.sli in gauges.GAUGES:
                key = (contract.period, contract.tz, contract.term_end_ms, objective.window_ms)
                layout = layouts.setdefault(key, len(layouts))
                specs.setdefault(objective.sli, []).append(
                    (cid, objective.id, layout, objective.field or "", objective.param)
                )
                statistic[(cid, objective.id)] = objective.statistic or "mean"
    if not specs:
        return
    keys = ["contract_id", "objective_id", "window_start", "window_end"]
    parts = []
    for sli, sli_specs in specs.items():
        definition = gauges.GAUGES[sli]
        spec_frame = pl.DataFrame(
            sli_specs,
            schema={"contract_id": pl.String, "objective_id": pl.String, "_layout": pl.Int64,
                    "_field": pl.String, "_param": pl.Float64},
            orient="row",
        )  # fmt: skip
        x, y = gauges.values(sli)
        rows = (
            closing.filter(pl.col("kind") == definition.kind)
            .join(spec_frame, on="contract_id")
            .with_columns(x=x, y=y if y is not None else pl.lit(None, dtype=pl.Float64))
            .select("contract_id", "objective_id", "_layout", "minute", "x", "y")
        )
        if not rows.height:
            continue
        if definition.in_service_time:
            rows = _eligible(rows, state, contracts, targets, evaluated)
        parts.append(gauges.partials(_in_windows(rows, layouts), keys))
    for part in parts:
        state.gauge_windows = gauges.merge(state.gauge_windows, part, keys)

    closed, state.gauge_windows = _split_closed(state.gauge_windows, targets)
    period_keys = ["contract_id", "objective_id", "period_start"]
    if closed.height:
        for cid, oid, start, _, n, sx, sy, mn, mx in closed.iter_rows():
            value = gauges.value(statistic[(cid, oid)], n, sx, sy, mn, mx)
            data[cid].gauge_windows[(oid, start)] = (value, n)
        with_period = closed.with_columns(
            period_start=pl.Series(
                [
                    period_containing(contracts[cid].period, ws)[0]
                    for cid, ws in closed.select("contract_id", "window_start").iter_rows()
                ],
                dtype=pl.Int64,
            )
        )
        state.gauge_periods = gauges.merge(
            state.gauge_periods,
            with_period.select(*period_keys, *gauges.PARTIAL_SCHEMA),
            period_keys,
        )
    finished = [
        (cid, oid, start, n, sx, sy, mn, mx)
        for cid, oid, start, n, sx, sy, mn, mx in state.gauge_periods.iter_rows()
        if cid in targets and period_end_of(contracts[cid], start) <= targets[cid]
    ]
    for cid, oid, start, n, sx, sy, mn, mx in finished:
        stat = statistic.get((cid, oid), "mean")
        data[cid].gauge_periods[(oid, start)] = (gauges.value(stat, n, sx, sy, mn, mx), n)
    if finished:
        fin = pl.DataFrame(
            [(cid, start) for cid, _, start, *_ in finished],
            schema={"contract_id": pl.String, "period_start": pl.Int64},
            orient="row",
        ).unique()
        state.gauge_periods = state.gauge_periods.join(
            fin, on=["contract_id", "period_start"], how="anti"
        )
