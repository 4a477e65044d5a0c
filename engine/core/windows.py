"""Evaluation windows: whole minutes dividing a day, laid from local midnight (§6.1.6 zone).

A window of ``w`` ms starts at local midnight + k·w in the contract's time zone, so hourly
windows follow local hours and a daily window is a local day (23 or 25 h across DST).
Periods start at local midnight (calendar months) so windows never straddle a period edge.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import polars as pl


@lru_cache(maxsize=256)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def _to_ms(local: datetime) -> int:
    return int(local.astimezone(UTC).timestamp() * 1000)


def _midnight_ms(day: date, zone: ZoneInfo) -> int:
    return _to_ms(datetime(day.year, day.month, day.day, tzinfo=zone))


@lru_cache(maxsize=1 << 14)  # contracts share instants: one computation serves them all
def window_bounds(t_ms: int, tz: str, window_ms: int) -> tuple[int, int]:
    """The window of length ``window_ms`` containing instant ``t_ms``.

    Windows are laid in real time from the instant of local midnight and the last one of a
    day is cut at the next local midnight, so each local day (23, 24 or 25 h) is partitioned
    exactly and, DST shifts being whole hours, sub-daily windows stay on the local clock.
    """
    zone = _zone(tz)
    day = datetime.fromtimestamp(t_ms / 1000, zone).date()
    day_start = _midnight_ms(day, zone)
    if day_start > t_ms:  # a zone whose midnight does not exist that day
        day_start = t_ms - t_ms % 60_000
    next_day = _midnight_ms(day + timedelta(days=1), zone)
    start = day_start + (t_ms - day_start) // window_ms * window_ms
    return start, min(start + window_ms, next_day)


def window_starts(minute_ms: pl.Series, tz: str, window_ms: int) -> pl.Series:
    """Vectorised ``window_bounds(t)[0]`` over instants, computed once per distinct instant."""
    distinct = minute_ms.unique().to_list()
    mapping = {t: window_bounds(t, tz, window_ms)[0] for t in distinct}
    return minute_ms.replace_strict(mapping, return_dtype=pl.Int64)
