"""Latency and gauge objectives, vectorised across contracts: the closing events bucketed
into their (period-clipped) windows as mergeable partials (histograms, gauge sums), merged
into state; the windows and periods a closing completes finished into values.

Inside a closing, each (contract, objective) pair is a dense integer ``_key`` numbered in
(contract, objective) order, so sorting by ``_key`` sorts as the named state does and the
group-bys and sorts of the bulk run on integers; names come back by ``gather``.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat

import polars as pl

from engine.core import gauges
from engine.core import histogram as hist
from engine.core import intervals as iv
from engine.core.contract import Contract
from engine.core.evaluate import MinuteData
from engine.core.state import EngineState
from engine.core.window_frame import Layout, eligible, finished_periods, in_windows, periods

_NEVER = -(2**62)  # the closing target of a contract this closing does not close


_PAIR = pl.struct("contract_id", "objective_id")


def _one_of(column: str, values: set[str]) -> pl.Expr:
    """``column`` is one of ``values`` (an equality when there is one: cheaper than is_in)."""
    if len(values) == 1:
        return pl.col(column) == next(iter(values))
    return pl.col(column).is_in(sorted(values))


def _runs(frame: pl.DataFrame) -> list[tuple[str, str]]:
    """The (contract, objective) of each run of equal pairs in ``frame``: a sorted state
    has one run per pair, so its rows are numbered without hashing every row's names."""
    runs = frame.select(_PAIR.rle().alias("run")).unnest("run").get_column("value")
    return list(
        zip(
            runs.struct.field("contract_id").to_list(),
            runs.struct.field("objective_id").to_list(),
            strict=True,
        )
    )


class _Keys:
    """The (contract, objective) pairs of one closing as dense integers, in sorted order."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self.pairs = sorted(set(pairs))
        self.index = {pair: i for i, pair in enumerate(self.pairs)}
        self.cids = pl.Series("contract_id", [c for c, _ in self.pairs], dtype=pl.String)
        self.oids = pl.Series("objective_id", [o for _, o in self.pairs], dtype=pl.String)

    def frame(self) -> pl.DataFrame:
        """``contract_id, objective_id → _key``, to number named rows by a join."""
        return pl.DataFrame(
            [self.cids, self.oids, pl.Series("_key", range(len(self.pairs)), dtype=pl.Int64)]
        )

    def numbered(self, runs: list[tuple[str, str]]) -> pl.Expr:
        """``_key`` of each row of the frame whose :func:`_runs` are ``runs``."""
        of_run = pl.Series([self.index[name] for name in runs], dtype=pl.Int64)
        return pl.lit(of_run).gather(_PAIR.rle_id()).alias("_key")

    def per_key(self, values: list[object], dtype: pl.DataType) -> pl.Expr:
        """An expression of ``_key``: the value of each pair (a list in key order)."""
        return pl.lit(pl.Series(values, dtype=dtype)).gather(pl.col("_key"))

    def named(self, frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
        """``frame`` with ``_key`` replaced by ``contract_id, objective_id``."""
        key = frame.get_column("_key")
        return frame.select(pl.lit(self.cids.gather(key)), pl.lit(self.oids.gather(key)), *columns)

    def fill(
        self,
        frame: pl.DataFrame,
        start: str,
        into: dict[str, dict[tuple[str, int], tuple[float | None, int]]],
    ) -> None:
        """``frame`` (``_key``, ``start``, value, count; sorted by ``_key``) into each
        contract's ``{(objective_id, start): (value, count)}``."""
        starts = frame.get_column(start).to_list()
        values = frame.get_column("value").to_list()
        counts = frame.get_column("count").to_list()
        at = 0
        for length, key in frame.get_column("_key").rle().struct.unnest().iter_rows():
            cid, oid = self.pairs[key]
            end = at + length
            into[cid].update(
                zip(
                    zip(repeat(oid, length), starts[at:end], strict=True),
                    zip(values[at:end], counts[at:end], strict=True),
                    strict=True,
                )
            )
            at = end


#: the zero bucket ordered just below every other (each latency >= ``MIN_MS`` is above it)
_ZERO_RANK = hist.bucket_index(hist.MIN_MS) - 1


def _packed(frame: pl.DataFrame, columns: list[str]) -> pl.Expr | None:
    """One Int64 that orders and groups as the integer ``columns`` do (the bucket's zero
    sentinel moved next to the other buckets), when their ranges fit in 62 bits together;
    else None.  A one-column sort or group-by is several times faster than one on three."""
    values = [
        pl.when(pl.col(c) == hist.ZERO_BUCKET).then(_ZERO_RANK).otherwise(pl.col(c))
        if c == hist.BUCKET
        else pl.col(c)
        for c in columns
    ]
    bounds = frame.select(
        *(v.min().alias(f"lo{i}") for i, v in enumerate(values)),
        *(v.max().alias(f"hi{i}") for i, v in enumerate(values)),
    ).row(0)
    los, his = bounds[: len(columns)], bounds[len(columns) :]
    if any(lo is None for lo in los):
        return None  # no rows
    widths = [(hi - lo).bit_length() for lo, hi in zip(los, his, strict=True)]
    if sum(widths) > 62:
        return None
    code, shift = pl.lit(0, dtype=pl.Int64), 0
    for value, lo, width in reversed(list(zip(values, los, widths, strict=True))):
        code = code + (value.cast(pl.Int64) - lo) * 2**shift
        shift += width
    return code.alias("_code")


def _by_window(samples: pl.DataFrame) -> pl.DataFrame:
    """``samples`` sorted by ``_key``, ``window_start``, bucket (ties in any order)."""
    order = ["_key", "window_start", hist.BUCKET]
    code = _packed(samples, order)
    return samples.sort(order) if code is None else samples.sort(code)


def _summed_by(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """``keys..., count``: the counts of ``frame`` summed per distinct ``keys`` (integer
    columns, the bucket last), sorted by them."""
    code = _packed(frame, keys)
    if code is None:
        return frame.group_by(keys).agg(pl.col(hist.COUNT).sum()).sort(keys)
    return (
        frame.group_by(code)
        .agg(*(pl.col(k).first() for k in keys), pl.col(hist.COUNT).sum())
        .sort("_code")
        .drop("_code")
    )


def close_latency(
    state: EngineState,
    revisions: dict[str, Contract],
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
    layouts: dict[Layout, int] = {}  # same calendar, period and window → same windows
    for cid in targets:
        contract = contracts[cid] = revisions[cid]
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
    open_pairs = _runs(state.lat_windows)
    keys = _Keys([*percentiles, *open_pairs])
    window_keys = ["_key", "window_start", "window_end"]
    number = {cid: i for i, cid in enumerate(contracts)}
    spec_frame = pl.DataFrame(
        [
            (cid, kind, keys.index[(cid, oid)], number[cid], layout, ok)
            for cid, oid, kind, layout, ok in specs
        ],
        schema={"contract_id": pl.String, "kind": pl.String, "_key": pl.Int64,
                "_contract": pl.Int64, "_layout": pl.Int64, "_successful": pl.Boolean},
        orient="row",
    )  # fmt: skip
    rows = (
        closing.lazy()
        .select("contract_id", "kind", "minute", "latency_ms", "ok")
        # the kinds first: a join on two text columns costs more than a filter on one
        .filter(_one_of("kind", {kind for _, _, kind, _, _ in specs}))
        .filter(pl.col("latency_ms").is_not_null())
        .join(spec_frame.lazy(), on=["contract_id", "kind"])
        # ``requests: successful``: failed samples leave the percentile
        .filter(~pl.col("_successful") | pl.col("ok").fill_null(False))
        .select("_key", "_contract", "_layout", "minute", "latency_ms")
        .collect()
    )
    windows = hist.typed(
        state.lat_windows.with_columns(_key=keys.numbered(open_pairs)), window_keys
    )
    if rows.height:  # the samples join the open windows' partials, unmerged
        rows = in_windows(eligible(rows, state, contracts, targets, evaluated), layouts)
        windows = pl.concat([windows, hist.samples(rows, window_keys)])
    target = keys.per_key([targets.get(cid, _NEVER) for cid, _ in keys.pairs], pl.Int64())
    done = windows.select(pl.col("window_end") <= target).to_series()
    closed = windows.filter(done & (windows.get_column(hist.COUNT) > 0))
    # only what stays open is merged and sorted; ``_key`` sorts as (contract_id, objective_id)
    still_open = hist.merge(windows.filter(~done), windows.head(0), window_keys)
    state.lat_windows = keys.named(still_open, *window_keys[1:], hist.BUCKET, hist.COUNT)
    if closed.height:
        closed = _by_window(closed)
        smallest = min(percentiles.values())  # of a pair no objective asks for any more
        q_of = keys.per_key([percentiles.get(pair, smallest) for pair in keys.pairs], pl.Float64())
        per_window = hist.quantile_by(closed, ["_key", "window_start"], q_of, ordered=True)
        keys.fill(per_window, "window_start", {c: data[c].latency_windows for c in targets})
        # windows feed their period's histogram, read when the period ends: appended now,
        # merged every few closings
        specs_of = {cid: contract.period for cid, contract in contracts.items()}
        calendars = list(dict.fromkeys(specs_of.values()))
        at = {spec: i for i, spec in enumerate(calendars)}
        pspec = keys.per_key(
            [at[specs_of[cid]] if cid in specs_of else -1 for cid, _ in keys.pairs], pl.Int64()
        )
        period_of = periods(
            per_window.select("_key", "window_start", _pspec=pspec), "window_start", calendars
        ).get_column("_ps")
        window = pl.struct("_key", "window_start").rle_id()  # per_window's row of each sample
        add = _summed_by(
            closed.select(
                "_key",
                pl.lit(period_of).gather(window).alias("period_start"),
                hist.BUCKET,
                hist.COUNT,
            ),
            ["_key", "period_start", hist.BUCKET],
        )
        state.lat_periods = hist.append(
            state.lat_periods,
            keys.named(add, "period_start", hist.BUCKET, hist.COUNT),
            ["contract_id", "objective_id", "period_start"],
            merged=True,
            merger=lambda chunks: _merged(chunks, "period_start"),
        )
    _end_periods(state, percentiles, contracts, targets, data)


def _end_periods(
    state: EngineState,
    percentiles: dict[tuple[str, str], float],
    contracts: dict[str, Contract],
    targets: dict[str, int],
    data: dict[str, MinuteData],
) -> None:
    """The latency periods this closing ends: their percentile to each contract's data, then
    out of the state."""
    finished = finished_periods(state.lat_periods, contracts, targets)
    if not finished:
        return
    fin = pl.DataFrame(
        finished, schema={"contract_id": pl.String, "period_start": pl.Int64}, orient="row"
    )
    closed = state.lat_periods.join(fin, on=["contract_id", "period_start"])
    if not closed.height:  # no row has any of the candidates
        return
    keys = _Keys([*percentiles, *closed.select("contract_id", "objective_id").unique().rows()])
    smallest = min(percentiles.values())  # of a pair no objective asks for any more
    q_of = keys.per_key([percentiles.get(pair, smallest) for pair in keys.pairs], pl.Float64())
    numbered = closed.join(keys.frame(), on=["contract_id", "objective_id"])
    per_period = hist.quantile_by(
        numbered.select("_key", "period_start", hist.BUCKET, hist.COUNT),
        ["_key", "period_start"],
        q_of,
    )
    keys.fill(per_period, "period_start", {c: data[c].latency_periods for c in targets})
    state.lat_periods = state.lat_periods.join(fin, on=["contract_id", "period_start"], how="anti")


def _merged(frame: pl.DataFrame, at: str) -> pl.DataFrame:
    """``histogram.merge`` of a named state keyed by contract, objective and ``at``, with
    the pairs numbered by runs of equal names (its chunks are each sorted: few runs)
    rather than by hashing every row's names."""
    names = _runs(frame)
    keys = _Keys(names)
    numbered = frame.select(keys.numbered(names), at, hist.BUCKET, hist.COUNT)
    return keys.named(_summed_by(numbered, ["_key", at, hist.BUCKET]), at, hist.BUCKET, hist.COUNT)


def close_gauges(
    state: EngineState,
    revisions: dict[str, Contract],
    targets: dict[str, int],
    closing: pl.DataFrame,
    data: dict[str, MinuteData],
    evaluated: dict[str, list[iv.Interval]],
) -> None:
    """Gauge objectives (``engine.core.gauges``), vectorised across contracts like latency:
    per-window partials merged into state, finished windows and periods handed to evaluate."""
    contracts: dict[str, Contract] = {}
    layouts: dict[Layout, int] = {}
    specs: dict[str, list[tuple[str, str, int, str, float]]] = {}
    statistic: dict[tuple[str, str], str] = {}
    for cid in targets:
        contract = contracts[cid] = revisions[cid]
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
    open_pairs = _runs(state.gauge_windows)
    keys = _Keys([*statistic, *open_pairs])
    window_keys = ["_key", "window_start", "window_end"]
    number = {cid: i for i, cid in enumerate(contracts)}
    by_kind: dict[str, pl.DataFrame] = {}  # the closing's events of a kind, read once
    needed: dict[str, set[str]] = {}
    for sli in specs:
        x, y = gauges.values(sli)
        used = set(x.meta.root_names()) | (set(y.meta.root_names()) if y is not None else set())
        needed.setdefault(gauges.GAUGES[sli].kind, set()).update(used)
    for kind, columns in needed.items():
        wanted = sorted((columns - {"_field", "_param"}) | {"contract_id", "minute"})
        by_kind[kind] = closing.lazy().filter(pl.col("kind") == kind).select(wanted).collect()
    in_service: list[pl.DataFrame] = []
    anytime: list[pl.DataFrame] = []
    for sli, sli_specs in specs.items():
        definition = gauges.GAUGES[sli]
        spec_frame = pl.DataFrame(
            [
                (cid, keys.index[(cid, oid)], number[cid], layout, field, param)
                for cid, oid, layout, field, param in sli_specs
            ],
            schema={"contract_id": pl.String, "_key": pl.Int64, "_contract": pl.Int64,
                    "_layout": pl.Int64, "_field": pl.String, "_param": pl.Float64},
            orient="row",
        )  # fmt: skip
        x, y = gauges.values(sli)
        rows = (
            by_kind[definition.kind]
            .lazy()
            .join(spec_frame.lazy(), on="contract_id")
            .select(
                "_key",
                "_contract",
                "_layout",
                "minute",
                x.cast(pl.Float64).alias("x"),
                (y if y is not None else pl.lit(None)).cast(pl.Float64).alias("y"),
            )
            .collect()
        )
        if rows.height:
            (in_service if definition.in_service_time else anytime).append(rows)
    if in_service:
        anytime.append(eligible(pl.concat(in_service), state, contracts, targets, evaluated))
    windows = state.gauge_windows.select(
        keys.numbered(open_pairs), *window_keys[1:], *gauges.PARTIAL_SCHEMA
    )
    if anytime:
        part = gauges.partials(in_windows(pl.concat(anytime), layouts), window_keys)
        windows = gauges.merge(windows, part, window_keys)
    target = keys.per_key([targets.get(cid, _NEVER) for cid, _ in keys.pairs], pl.Int64())
    done = windows.select(pl.col("window_end") <= target).to_series()
    closed = windows.filter(done)
    state.gauge_windows = keys.named(
        windows.filter(~done), *window_keys[1:], *gauges.PARTIAL_SCHEMA
    )
    period_keys = ["contract_id", "objective_id", "period_start"]
    if closed.height:
        oid_of = keys.oids.to_list()
        cid_of = keys.cids.to_list()
        for key, start, n, sx, sy, mn, mx in closed.select(
            "_key", "window_start", *gauges.PARTIAL_SCHEMA
        ).iter_rows():
            cid, oid = cid_of[key], oid_of[key]
            value = gauges.value(statistic[(cid, oid)], n, sx, sy, mn, mx)
            data[cid].gauge_windows[(oid, start)] = (value, n)
        calendars = list(dict.fromkeys(contract.period for contract in contracts.values()))
        at = {spec: i for i, spec in enumerate(calendars)}
        pspec = keys.per_key(
            [at[contracts[cid].period] if cid in contracts else -1 for cid in cid_of], pl.Int64()
        )
        period_start = periods(
            closed.select("window_start", _pspec=pspec), "window_start", calendars
        ).get_column("_ps")
        with_period = keys.named(
            closed.with_columns(period_start=period_start),
            "period_start",
            *gauges.PARTIAL_SCHEMA,
        )
        state.gauge_periods = gauges.merge(state.gauge_periods, with_period, period_keys)
    finished = finished_periods(state.gauge_periods, contracts, targets)
    if finished:
        fin = pl.DataFrame(
            finished, schema={"contract_id": pl.String, "period_start": pl.Int64}, orient="row"
        )
        ending = state.gauge_periods.join(fin, on=["contract_id", "period_start"], how="semi")
        for cid, oid, start, n, sx, sy, mn, mx in ending.iter_rows():
            stat = statistic.get((cid, oid), "mean")
            data[cid].gauge_periods[(oid, start)] = (gauges.value(stat, n, sx, sy, mn, mx), n)
        if ending.height:
            state.gauge_periods = state.gauge_periods.join(
                fin, on=["contract_id", "period_start"], how="anti"
            )
