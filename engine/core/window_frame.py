"""The windows, periods and evaluated minutes of a closing's rows, in columns: shared by the
latency and gauge closings (``engine.core.distributions``).  Python runs per zone and local
day, per calendar and period, per contract; never per row.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import polars as pl

from engine.core import intervals as iv
from engine.core.calendar import PeriodSpec, period_containing
from engine.core.closing import period_end_of
from engine.core.contract import Contract
from engine.core.control import evaluated_intervals
from engine.core.state import EngineState
from engine.core.windows import window_bounds

MINUTE_MS = 60_000
_DAY_MS = 86_400_000
Layout = tuple[PeriodSpec, str, int, int]  # period, tz, term end, window length


def periods(frame: pl.DataFrame, at: str, calendars: list[PeriodSpec]) -> pl.DataFrame:
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
    spans = pl.DataFrame(
        table, schema={"_pspec": pl.Int64, "_ps": pl.Int64, "_pe": pl.Int64}, orient="row"
    ).sort("_ps")
    return (
        frame.select("_pspec", at)
        .with_row_index("_row")
        .sort(at)
        .join_asof(spans, left_on=at, right_on="_ps", by="_pspec", check_sortedness=False)
        .sort("_row")
        .select("_ps", "_pe")
    )


def finished_periods(
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


def eligible(
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


def window_bounds_of(minutes: pl.DataFrame, zones: list[tuple[str, int]]) -> pl.DataFrame:
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


def in_windows(rows: pl.DataFrame, layouts: dict[Layout, int]) -> pl.DataFrame:
    """Rows with ``_layout`` and ``minute`` → with their (period-clipped) window bounds.

    A window's bounds depend on the zone and length alone (:func:`window_bounds_of`, shared by
    the layouts with that zone and length); the period clip on the period's calendar, once
    per period (:func:`periods`); the term end is a column."""
    if not rows.height:  # e.g. every minute outside service time
        return rows.with_columns(window_start=pl.col("minute"), window_end=pl.col("minute"))
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
    per_zone = window_bounds_of(minutes.select("_zone", "minute").unique(), zones)
    minutes = minutes.join(per_zone, on=["_zone", "minute"])
    window_frame = pl.concat(
        [minutes, periods(minutes, "minute", calendars)], how="horizontal"
    ).select(
        "_layout",
        "minute",
        window_start=pl.max_horizontal("_ws", "_ps"),
        window_end=pl.min_horizontal("_we", "_pe", "_term_end"),
    )
    return rows.join(window_frame, on=["_layout", "minute"])
