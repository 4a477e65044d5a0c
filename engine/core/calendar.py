"""Service time (§6.1.6: 5×8h, 7×12h, 7×24h) and assessment periods (§6.2.7 cycle).

Pure: no I/O, no clock reads. Every instant is an ``int`` of epoch milliseconds UTC (``*_ms``);
local time appears only here, where service calendars and calendar months are evaluated.

A UTC instant is *in service time* when its local wall-clock time falls inside one of the
ranges of its local date: no ranges on a holiday, Monday's ranges on an extra workday, else the
ranges of its weekday. Across DST this is exact: a skipped wall hour is never service time, a
repeated wall hour counts twice (a 7×24 day is 23 h or 25 h long).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

MinuteRange = tuple[int, int]
DayRanges = tuple[MinuteRange, ...]
WeeklyRanges = tuple[DayRanges, ...]

_MINUTE_MS = 60_000
_DAY_MS = 86_400_000
_DAY_MINUTES = 1440
_ONE_MS = timedelta(milliseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Offsets are probed this often when walking time; tzdata never changes an offset twice within
# it (the closest pair of changes since 1900 is ~96 h apart, Africa/Freetown 1939).
_PROBE_MS = 12 * 3_600_000
_MAX_ROW_TABLE_DAYS = 1_000_000


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown IANA time zone {tz!r}") from None


def _day_ranges(label: str, ranges: Iterable[MinuteRange]) -> DayRanges:
    """Validate (0 ≤ start < end ≤ 1440, ints) and return sorted, merged ranges."""
    checked: list[MinuteRange] = []
    for rng in ranges:
        start, end = rng
        if type(start) is not int or type(end) is not int:
            raise ValueError(f"{label}: range {rng!r} must be two ints (minutes of the day)")
        if not 0 <= start < end <= _DAY_MINUTES:
            raise ValueError(f"{label}: range {rng!r} needs 0 <= start < end <= 1440")
        checked.append((start, end))
    checked.sort()
    merged: list[MinuteRange] = []
    for start, end in checked:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _day_number(day: date) -> int:
    """Days since 1970-01-01 (local dates are counted like UTC ones)."""
    return day.toordinal() - _EPOCH_ORDINAL


def _dates(label: str, values: Iterable[date]) -> frozenset[date]:
    out: set[date] = set()
    for value in values:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise TypeError(f"{label}: {value!r} is not a datetime.date")
        out.add(value)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class ServiceCalendar:
    """When service is owed (§6.1.6), in the local time of ``tz``.

    ``weekly``: 7 entries Monday..Sunday of half-open (start_minute, end_minute) local ranges;
    normalised on construction (sorted, overlapping or touching ranges merged).
    ``holidays``: local dates with no service time at all (whatever the weekday).
    ``extra_workdays``: local dates that use Monday's ranges instead of their own weekday's
    (make-up working days). A date may not be in both sets.
    """

    tz: str
    weekly: WeeklyRanges
    holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        _zone(self.tz)
        if len(self.weekly) != 7:
            raise ValueError(f"weekly needs 7 entries (Monday..Sunday), got {len(self.weekly)}")
        weekly = tuple(_day_ranges(k, r) for k, r in zip(_WEEKDAYS, self.weekly, strict=True))
        holidays = _dates("holidays", self.holidays)
        extra = _dates("extra_workdays", self.extra_workdays)
        if both := sorted(holidays & extra):
            raise ValueError(f"dates both holiday and extra workday: {both}")
        object.__setattr__(self, "weekly", weekly)
        object.__setattr__(self, "holidays", holidays)
        object.__setattr__(self, "extra_workdays", extra)

    @classmethod
    def preset(
        cls,
        name: str,
        tz: str,
        holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        hours: MinuteRange | None = None,
    ) -> ServiceCalendar:
        """``"7x24"``, ``"7x12"`` (daily 08:00–20:00) or ``"5x8"`` (Mon–Fri 09:00–17:00).

        ``hours`` overrides the daily range of 7x12 / 5x8 in minutes, e.g. ``(540, 1080)``.
        ``"7×24h"`` spellings are accepted too.
        """
        key = name.strip().lower().replace("×", "x").removesuffix("h")
        if key == "7x24":
            if hours is not None:
                raise ValueError("7x24 service time has no hours to override")
            week: list[DayRanges] = [((0, _DAY_MINUTES),)] * 7
        elif key == "7x12":
            week = [(hours or (480, 1200),)] * 7
        elif key == "5x8":
            week = [(hours or (540, 1020),)] * 5 + [(), ()]
        else:
            raise ValueError(f"unknown service time preset {name!r}; use 7x24, 7x12 or 5x8")
        return cls(tz, tuple(week), frozenset(holidays), frozenset(extra_workdays))

    @classmethod
    def custom(
        cls,
        tz: str,
        ranges: Mapping[str, Iterable[MinuteRange]],
        holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
    ) -> ServiceCalendar:
        """Ranges per weekday key ``mon``..``sun``; a missing key means no service that day."""
        by_key = {k.lower(): v for k, v in ranges.items()}
        if unknown := sorted(set(by_key) - set(_WEEKDAYS)):
            raise ValueError(f"unknown weekday keys {unknown}; use {', '.join(_WEEKDAYS)}")
        week = tuple(tuple(by_key.get(k, ())) for k in _WEEKDAYS)
        return cls(tz, week, frozenset(holidays), frozenset(extra_workdays))

    @property
    def always(self) -> bool:
        """Service every minute of every day (7×24 without holidays)."""
        return not self.holidays and all(day == ((0, 1440),) for day in self.weekly)

    def ranges_on(self, day: date) -> DayRanges:
        """The local service ranges of one local date."""
        if day in self.holidays:
            return ()
        if day in self.extra_workdays:
            return self.weekly[0]
        return self.weekly[day.weekday()]


def service_minutes_mask(cal: ServiceCalendar, minute_start_ms: pl.Series) -> pl.Series:
    """Boolean ``in_service`` per one-minute timeslice starting at each UTC epoch-ms instant.

    The minute is judged by the local wall time of its start (exact for UTC-aligned minutes,
    since modern offsets are whole minutes). Nulls stay null. Vectorised (polars time zones).
    """
    if not minute_start_ms.dtype.is_integer():
        raise TypeError(f"minute_start_ms must be integer epoch ms, not {minute_start_ms.dtype}")
    table = [False] * (8 * _DAY_MINUTES)  # rows: weekday 0..6 (Monday = 0), 7 = no service
    for weekday, ranges in enumerate(cal.weekly):
        for start, end in ranges:
            table[weekday * _DAY_MINUTES + start : weekday * _DAY_MINUTES + end] = [True] * (
                end - start
            )
    wall = pl.col("t").cast(pl.Int64)
    if cal.tz != "UTC":
        wall = (
            wall.cast(pl.Datetime("ms"))
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone(cal.tz)
            .dt.replace_time_zone(None)
            .to_physical()
        )
    frame = pl.DataFrame({"t": minute_start_ms}).select(wall=wall)
    frame = frame.with_columns(day=pl.col("wall") // _DAY_MS)
    day = pl.col("day")
    row: pl.Expr = (day + 3) % 7  # 1970-01-01 was a Thursday
    special = {_day_number(d): 0 for d in cal.extra_workdays}  # Monday's ranges
    special.update({_day_number(d): 7 for d in cal.holidays})  # no service
    first, last = frame["day"].min(), frame["day"].max()
    if special and isinstance(first, int) and isinstance(last, int):
        if last - first < _MAX_ROW_TABLE_DAYS:  # one row number per local day of the batch
            rows = ((pl.int_range(first, last + 1, eager=True) + 3) % 7).cast(pl.Int64)
            inside = {n - first: r for n, r in special.items() if first <= n <= last}
            rows.scatter(list(inside), pl.Series(list(inside.values()), dtype=pl.Int64))
            row = pl.lit(rows).gather(day - first)
        else:  # a batch spanning millennia (bad data): look the special days up instead
            for fixed in (0, 7):
                numbers = pl.Series([n for n, r in special.items() if r == fixed], dtype=pl.Int64)
                row = pl.when(day.is_in(numbers.implode())).then(fixed).otherwise(row)
    index = row * _DAY_MINUTES + (pl.col("wall") - day * _DAY_MS) // _MINUTE_MS
    mask = pl.lit(pl.Series(table, dtype=pl.Boolean)).gather(index).alias("in_service")
    return frame.select(mask).to_series()


def _offset_ms(zone: ZoneInfo, t_ms: int) -> int:
    offset = (_EPOCH + timedelta(milliseconds=t_ms)).astimezone(zone).utcoffset()
    return 0 if offset is None else offset // _ONE_MS


def _offset_pieces(zone: ZoneInfo, start_ms: int, end_ms: int) -> list[tuple[int, int, int]]:
    """Split [start_ms, end_ms) (non-empty) into maximal (start, end, offset_ms) pieces."""
    pieces: list[tuple[int, int, int]] = []
    piece_start = cur = start_ms
    offset = _offset_ms(zone, start_ms)
    while cur < end_ms - 1:
        probe = min(cur + _PROBE_MS, end_ms - 1)
        if _offset_ms(zone, probe) == offset:
            cur = probe
            continue
        lo, hi = cur, probe  # offset(lo) == offset != offset(hi): bisect to the change
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if _offset_ms(zone, mid) == offset else (lo, mid)
        pieces.append((piece_start, hi, offset))
        piece_start = cur = hi
        offset = _offset_ms(zone, hi)
    pieces.append((piece_start, end_ms, offset))
    return pieces


def _check_range(start_ms: int, end_ms: int) -> None:
    if end_ms < start_ms:
        raise ValueError(f"end_ms {end_ms} is before start_ms {start_ms}")


def service_intervals(cal: ServiceCalendar, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """Service-time intervals (UTC ms, half-open, sorted, merged) inside [start_ms, end_ms)."""
    _check_range(start_ms, end_ms)
    if start_ms == end_ms:
        return []
    if cal.always:  # 7×24 without holidays: every instant
        return [(start_ms, end_ms)]
    return list(_service_intervals(cal, start_ms, end_ms))


@lru_cache(maxsize=1 << 12)  # contracts on the same calendar close the same ranges
def _service_intervals(
    cal: ServiceCalendar, start_ms: int, end_ms: int
) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for piece_start, piece_end, offset in _offset_pieces(_zone(cal.tz), start_ms, end_ms):
        wall_start, wall_end = piece_start + offset, piece_end + offset
        for day_no in range(wall_start // _DAY_MS, (wall_end - 1) // _DAY_MS + 1):
            base = day_no * _DAY_MS
            for start, end in cal.ranges_on(date.fromordinal(_EPOCH_ORDINAL + day_no)):
                lo = max(base + start * _MINUTE_MS, wall_start) - offset
                hi = min(base + end * _MINUTE_MS, wall_end) - offset
                if lo >= hi:
                    continue
                if out and lo <= out[-1][1]:
                    out[-1] = (out[-1][0], max(out[-1][1], hi))
                else:
                    out.append((lo, hi))
    return tuple(out)


def service_ms_between(cal: ServiceCalendar, start_ms: int, end_ms: int) -> int:
    """Exact milliseconds of service time in [start_ms, end_ms)."""
    return sum(hi - lo for lo, hi in service_intervals(cal, start_ms, end_ms))


@dataclass(frozen=True, slots=True)
class PeriodSpec:
    """Assessment cycle (§6.2.7).

    ``calendar_month``: local months of ``tz``; ``days`` must be None; ``anchor_ms`` is unused.
    ``rolling_days``: fixed ``days`` × 86 400 000 ms periods from ``anchor_ms`` (e.g. the term
    start), in both directions; ``tz`` is only for display.
    """

    kind: Literal["calendar_month", "rolling_days"]
    days: int | None
    tz: str
    anchor_ms: int

    def __post_init__(self) -> None:
        _zone(self.tz)
        if self.kind == "calendar_month":
            if self.days is not None:
                raise ValueError("calendar_month periods take no days")
        elif self.kind == "rolling_days":
            if type(self.days) is not int or self.days < 1:
                raise ValueError(f"rolling_days periods need days >= 1, got {self.days!r}")
        else:
            raise ValueError(f"unknown period kind {self.kind!r}")


def _local_midnight_ms(zone: ZoneInfo, day: date) -> int:
    """First instant whose local wall time is at or after ``day`` 00:00 (DST-gap safe)."""
    wall = _day_number(day) * _DAY_MS
    candidates = []
    for fold in (0, 1):
        local = datetime(day.year, day.month, day.day, tzinfo=zone, fold=fold)
        candidates.append((local - _EPOCH) // _ONE_MS)
    if real := [t for t in candidates if t + _offset_ms(zone, t) == wall]:
        return min(real)
    lo, hi = min(candidates), max(candidates)  # midnight skipped: find the jump over it
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if mid + _offset_ms(zone, mid) >= wall else (mid, hi)
    return hi


@lru_cache(maxsize=1 << 12)
def _month_start_ms(zone: ZoneInfo, year: int, month: int) -> int:
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return _local_midnight_ms(zone, date(year, month, 1))


@lru_cache(maxsize=1 << 14)
def period_containing(spec: PeriodSpec, t_ms: int) -> tuple[int, int]:
    """Half-open [start_ms, end_ms) of the assessment period containing ``t_ms``."""
    if spec.kind == "rolling_days":
        assert spec.days is not None
        length = spec.days * _DAY_MS
        start = spec.anchor_ms + (t_ms - spec.anchor_ms) // length * length
        return start, start + length
    zone = _zone(spec.tz)
    local = (_EPOCH + timedelta(milliseconds=t_ms)).astimezone(zone)
    year, month = local.year, local.month
    while t_ms < _month_start_ms(zone, year, month):  # wall clock set back over a 1st
        month -= 1
    while t_ms >= _month_start_ms(zone, year, month + 1):
        month += 1
    return _month_start_ms(zone, year, month), _month_start_ms(zone, year, month + 1)


def periods_between(spec: PeriodSpec, start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """Periods overlapping [start_ms, end_ms), in order, each clipped to it."""
    _check_range(start_ms, end_ms)
    out: list[tuple[int, int]] = []
    cur = start_ms
    while cur < end_ms:
        _, period_end = period_containing(spec, cur)
        out.append((cur, min(period_end, end_ms)))
        cur = period_end
    return out


def local_iso(ms: int, tz: str) -> str:
    """RFC 3339 with the zone's offset: ``2026-11-01T00:00:00+08:00`` (ms only if nonzero)."""
    local = (_EPOCH + timedelta(milliseconds=ms)).astimezone(_zone(tz))
    return local.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")


@lru_cache(maxsize=1 << 14)  # window and period edges repeat across contracts
def utc_iso(ms: int) -> str:
    """RFC 3339 in UTC: ``2026-10-31T16:00:00Z`` (ms only if nonzero)."""
    text = (_EPOCH + timedelta(milliseconds=ms)).isoformat(
        timespec="milliseconds" if ms % 1000 else "seconds"
    )
    return text.removesuffix("+00:00") + "Z"


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2}))?"
)


def parse_instant(s: str) -> int:
    """RFC 3339 timestamp with ``Z`` or ``±HH:MM`` → epoch ms (sub-ms digits are truncated)."""
    match = _RFC3339.fullmatch(s.strip())
    if match is None:
        raise ValueError(f"{s!r} is not an RFC 3339 timestamp like 2026-11-01T00:00:00+08:00")
    if match["z"] is None and match["sign"] is None:
        raise ValueError(
            f"{s!r} has no UTC offset; write it with 'Z' or '+HH:MM', "
            "e.g. 2026-10-31T16:00:00Z or 2026-11-01T00:00:00+08:00"
        )
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        instant = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"{s!r} is not a valid timestamp: {exc}") from None
    offset_ms = 0
    if match["sign"] is not None:
        hours, minutes = int(match["oh"]), int(match["om"])
        if hours > 23 or minutes > 59:
            raise ValueError(f"{s!r} has an invalid UTC offset")
        offset_ms = (hours * 60 + minutes) * _MINUTE_MS * (1 if match["sign"] == "+" else -1)
    fraction_ms = int(((match[7] or "") + "000")[:3])
    return (instant - _EPOCH) // _ONE_MS + fraction_ms - offset_ms
