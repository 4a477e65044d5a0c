"""Latency and gauge objectives, vectorised across contracts: the closing events bucketed
into their (period-clipped) windows as mergeable partials (histograms, gauge sums), merged
into state; the windows and periods a closing completes finished into values.

Inside a closing, each (contract, objective) pair is a dense integer ``_key`` numbered in
(contract, objective) order, so sorting by ``_key`` sorts as the named state does and the
group-bys and sorts of the bulk run on integers; names come back by ``gather``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta
from itertools import repeat
from zoneinfo import ZoneInfo

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

MINUTE_MS = 60_000
_DAY_MS = 86_400_000
_NEVER = -(2**62)  # the closing target of a contract this closing does not close
Layout = tuple[PeriodSpec, str, int, int]  # period, tz, term end, window length


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


def _periods(frame: pl.DataFrame, at: str, calendars: list[PeriodSpec]) -> pl.DataFrame:
    """``_ps, _pe``: the period holding each row's instant ``at`` under its calendar
    ``_pspec`` (an index into ``calendars``), in the rows' order.  ``period_containing`` runs
    once per period the rows reach, not once per row: periods are contiguous."""
    ranges = frame.group_by("_pspec").agg(lo=pl.col(at).min(), hi=pl.col(at).max())
    table: list[tuple[int, int, int]] = []
    for index, lo, hi in ranges.iter_rows():
        start, end = period_containing(calendars[index], lo)
        table.append((index, start, end))
        while end <= hi:
            start, end = period_containing(calendars[index], end)
            table.append((index, start, end))
    if len(table) == ranges.height:  # one period per calendar: a look-up
        pspec = pl.col("_pspec")
        indexes = [index for index, _, _ in table]
        return frame.select(
            _ps=pspec.replace_strict(indexes, [s for _, s, _ in table], return_dtype=pl.Int64),
            _pe=pspec.replace_strict(indexes, [e for _, _, e in table], return_dtype=pl.Int64),
        )
    periods = pl.DataFrame(
        table, schema={"_pspec": pl.Int64, "_ps": pl.Int64, "_pe": pl.Int64}, orient="row"
    ).sort("_ps")
    return (
        frame.select("_pspec", at)
        .with_row_index("_row")
        .sort(at)
        .join_asof(periods, left_on=at, right_on="_ps", by="_pspec", check_sortedness=False)
        .sort("_row")
        .select("_ps", "_pe")
    )


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
    layouts: dict[Layout, int] = {}  # same calendar, period and window → same windows
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
        rows = _in_windows(_eligible(rows, state, contracts, targets, evaluated), layouts)
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
        period_of = _periods(
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
    # periods that end inside this closing: their percentile, then drop them
    finished = _finished(state.lat_periods, contracts, targets)
    if finished:
        fin = pl.DataFrame(
            finished, schema={"contract_id": pl.String, "period_start": pl.Int64}, orient="row"
        )
        closed_periods = state.lat_periods.join(fin, on=["contract_id", "period_start"])
        period_keys = _Keys(
            [*percentiles, *closed_periods.select("contract_id", "objective_id").unique().rows()]
        )
        smallest = min(percentiles.values())
        q_of = period_keys.per_key(
            [percentiles.get(pair, smallest) for pair in period_keys.pairs], pl.Float64()
        )
        numbered = closed_periods.join(
            period_keys.frame(), on=["contract_id", "objective_id"]
        ).select("_key", "period_start", hist.BUCKET, hist.COUNT)
        per_period = hist.quantile_by(numbered, ["_key", "period_start"], q_of)
        keys_fill = {c: data[c].latency_periods for c in targets}
        period_keys.fill(per_period, "period_start", keys_fill)
        state.lat_periods = state.lat_periods.join(
            fin, on=["contract_id", "period_start"], how="anti"
        )


def _merged(frame: pl.DataFrame, at: str) -> pl.DataFrame:
    """``histogram.merge`` of a named state keyed by contract, objective and ``at``, with
    the pairs numbered by runs of equal names (its chunks are each sorted: few runs)
    rather than by hashing every row's names."""
    names = _runs(frame)
    keys = _Keys(names)
    numbered = frame.select(keys.numbered(names), at, hist.BUCKET, hist.COUNT)
    return keys.named(_summed_by(numbered, ["_key", at, hist.BUCKET]), at, hist.BUCKET, hist.COUNT)


def _finished(
    periods: pl.DataFrame, contracts: dict[str, Contract], targets: dict[str, int]
) -> list[tuple[str, int]]:
    """(contract, period start) of the periods this closing ends, out of the starts in
    ``periods``: every contract of ``targets`` with every start found, so some pairs may be
    missing from ``periods`` (they join nothing).  One ``period_end_of`` per calendar, term
    end and start, not per row."""
    starts = periods.get_column("period_start").unique().to_list()
    if not starts:
        return []
    ends: dict[tuple[int, int, int], int] = {}  # by the calendar's identity: no hashing
    out = []
    for cid, target in targets.items():
        contract = contracts[cid]
        for start in starts:
            key = (id(contract.period), contract.term_end_ms, start)
            end = ends.get(key)
            if end is None:
                end = ends[key] = period_end_of(contract, start)
            if end <= target:
                out.append((cid, start))
    return out


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
    caches each contract's evaluated time of this closing.  ``_contract`` numbers the rows'
    contract in the order of ``contracts``."""
    cids = list(contracts)
    spread = rows.group_by("_contract").agg(lo=pl.col("minute").min(), hi=pl.col("minute").max())
    whole = True  # every contract's minutes inside one evaluated interval (e.g. 7x24)
    for number, lo, hi in spread.iter_rows():
        cid = cids[number]
        if cid not in evaluated:
            cs = state.contracts[cid]
            evaluated[cid] = evaluated_intervals(
                cs, contracts[cid], cs.closed_until_ms or 0, targets[cid]
            )
        whole = whole and any(s <= lo and hi < e for s, e in evaluated[cid])
    if whole:
        return rows
    # each contract's evaluated intervals as edges on one line, contract after contract: a
    # minute is evaluated when an odd number of edges lie at or before it (the intervals of
    # a contract are sorted and disjoint, [start, end))
    numbers = spread.get_column("_contract").to_list()
    spans = [(n, s, e) for n in numbers for s, e in evaluated[cids[n]]]
    lo = min([*spread.get_column("lo").to_list(), *(s for _, s, _ in spans)])
    hi = max([*spread.get_column("hi").to_list(), *(e for _, _, e in spans)])
    shift = (hi - lo).bit_length()
    if max(numbers).bit_length() + shift > 62:  # pragma: no cover - ~146 years of minutes
        raise ValueError("closing range too wide for evaluated-minute edges")
    edges = pl.Series(
        sorted((n << shift) + t - lo for n, s, e in spans for t in (s, e)), dtype=pl.Int64
    )
    at = pl.col("_contract").cast(pl.Int64) * 2**shift + (pl.col("minute") - lo)
    return rows.filter(pl.lit(edges).search_sorted(at, side="right") % 2 == 1)


def _whole_day(start: int, end: int, tz: str) -> bool:
    """Whether [start, end) is one local day of ``tz`` from midnight to midnight, 24 h long
    at one UTC offset: its windows are then plain arithmetic from ``start``."""
    if end - start != _DAY_MS:
        return False
    zone = ZoneInfo(tz)
    first = datetime.fromtimestamp(start / 1000, zone)
    last = datetime.fromtimestamp((end - 1) / 1000, zone)
    after = datetime.fromtimestamp(end / 1000, zone)
    return (
        first.time() == after.time() == time()
        and first.utcoffset() == last.utcoffset()
        and first.date() == last.date() == after.date() - timedelta(days=1)
    )


def _window_bounds(minutes: pl.DataFrame, zones: list[tuple[str, int]]) -> pl.DataFrame:
    """``_zone, minute`` → with ``_ws, _we``, ``window_bounds(minute, *zones[_zone])``.

    The minutes of a whole local day (:func:`_whole_day`) are laid arithmetically from its
    midnight, as ``window_bounds`` lays them; the minutes of any other day (a DST change, a
    zone whose midnight is skipped) go through ``window_bounds`` one by one.  Python runs
    per zone and day, not per minute."""
    parts = []
    for zone, (tz, window_ms) in enumerate(zones):
        these = minutes.filter(pl.col("_zone") == zone)
        if not these.height:
            continue
        at, last = these.select(pl.col("minute").min(), pl.col("minute").max().alias("hi")).row(0)
        days: list[tuple[int, int, bool]] = []  # start, end, whole
        while at <= last:
            start, end = window_bounds(at, tz, _DAY_MS)
            if not start <= at < end:  # pragma: no cover - a zone's odd day: minute by minute
                start, end = at, at + MINUTE_MS
                days.append((start, end, False))
            else:
                days.append((start, end, _whole_day(start, end, tz)))
            at = end
        starts = pl.Series([start for start, _, _ in days], dtype=pl.Int64)
        day = pl.lit(starts).search_sorted(pl.col("minute"), side="right") - 1
        laid = these.with_columns(
            _ds=pl.lit(starts).gather(day),
            _de=pl.lit(pl.Series([end for _, end, _ in days], dtype=pl.Int64)).gather(day),
            _whole=pl.lit(pl.Series([whole for _, _, whole in days])).gather(day),
        ).with_columns(
            _ws=pl.col("_ds") + (pl.col("minute") - pl.col("_ds")) // window_ms * window_ms
        )
        whole = laid.get_column("_whole") & (laid.get_column("minute") < laid.get_column("_de"))
        regular = laid.filter(whole).select(
            "_zone", "minute", "_ws", _we=pl.min_horizontal(pl.col("_ws") + window_ms, "_de")
        )
        parts.append(regular)
        odd = laid.filter(~whole).get_column("minute").to_list()
        if odd:
            bounds = [window_bounds(minute, tz, window_ms) for minute in odd]
            parts.append(
                pl.DataFrame(
                    {
                        "_zone": pl.Series([zone] * len(odd), dtype=pl.Int64),
                        "minute": pl.Series(odd, dtype=pl.Int64),
                        "_ws": pl.Series([s for s, _ in bounds], dtype=pl.Int64),
                        "_we": pl.Series([e for _, e in bounds], dtype=pl.Int64),
                    }
                )
            )
    return (
        pl.concat(parts)
        if parts
        else minutes.with_columns(_ws=pl.col("minute"), _we=pl.col("minute"))
    )


def _in_windows(rows: pl.DataFrame, layouts: dict[Layout, int]) -> pl.DataFrame:
    """Rows with ``_layout`` and ``minute`` → with their (period-clipped) window bounds.

    A window's bounds depend on the zone and length alone (:func:`_window_bounds`, shared by
    the layouts with that zone and length); the period clip on the period's calendar, once
    per period (:func:`_periods`); the term end is a column."""
    by_layout = sorted(layouts.items(), key=lambda item: item[1])
    zones = list(dict.fromkeys((tz, window_ms) for (_, tz, _, window_ms), _ in by_layout))
    zone_at = {zone: i for i, zone in enumerate(zones)}
    calendars = list(dict.fromkeys(period for (period, *_), _ in by_layout))
    at = {spec: i for i, spec in enumerate(calendars)}
    layout_frame = pl.DataFrame(
        [
            (index, zone_at[(tz, window_ms)], at[period], term_end)
            for (period, tz, term_end, window_ms), index in by_layout
        ],
        schema={"_layout": pl.Int64, "_zone": pl.Int64, "_pspec": pl.Int64,
                "_term_end": pl.Int64},
        orient="row",
    )  # fmt: skip
    minutes = rows.select("_layout", "minute").unique().join(layout_frame, on="_layout")
    per_zone = _window_bounds(minutes.select("_zone", "minute").unique(), zones)
    minutes = minutes.join(per_zone, on=["_zone", "minute"])
    window_frame = pl.concat(
        [minutes, _periods(minutes, "minute", calendars)], how="horizontal"
    ).select(
        "_layout",
        "minute",
        window_start=pl.max_horizontal("_ws", "_ps"),
        window_end=pl.min_horizontal("_we", "_pe", "_term_end"),
    )
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
    layouts: dict[Layout, int] = {}
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
        anytime.append(_eligible(pl.concat(in_service), state, contracts, targets, evaluated))
    windows = state.gauge_windows.select(
        keys.numbered(open_pairs), *window_keys[1:], *gauges.PARTIAL_SCHEMA
    )
    if anytime:
        part = gauges.partials(_in_windows(pl.concat(anytime), layouts), window_keys)
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
        period_start = _periods(
            closed.select("window_start", _pspec=pspec), "window_start", calendars
        ).get_column("_ps")
        with_period = keys.named(
            closed.with_columns(period_start=period_start),
            "period_start",
            *gauges.PARTIAL_SCHEMA,
        )
        state.gauge_periods = gauges.merge(state.gauge_periods, with_period, period_keys)
    finished = _finished(state.gauge_periods, contracts, targets)
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
