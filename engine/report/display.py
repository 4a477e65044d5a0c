"""Instants, periods and targets as an operator reads them: in the contract's time zone.

The engine writes UTC (``2026-09-30T16:00:00Z``); a person in +08:00 reads October. Pure: the
zone is an argument, nothing reads the clock. A period that is exactly one local calendar
month (local midnight on the 1st to local midnight on the next 1st) is named after it
(``October 2026``); any other period shows its local first and last days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.core.calendar import parse_instant

# not strftime's %B: that follows the locale
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def _local(utc: str, tz: str) -> datetime:
    return datetime.fromtimestamp(parse_instant(utc) / 1000, tz=UTC).astimezone(ZoneInfo(tz))


def local_time(utc: str | None, tz: str) -> str | None:
    """``2026-10-01 00:00 +08:00`` (seconds only when not zero); None stays None."""
    if utc is None:
        return None
    t = _local(utc, tz)
    text = t.strftime("%Y-%m-%d %H:%M:%S" if t.second else "%Y-%m-%d %H:%M")
    offset = t.strftime("%z")
    return f"{text} {offset[:3]}:{offset[3:]}" if offset else text


def period_label(start: str | None, end: str | None, tz: str) -> str | None:
    """``October 2026`` for one local calendar month, else ``2026-10-01 – 2026-10-30``
    (local dates, the last day included); None when either edge is unknown."""
    if start is None or end is None:
        return None
    lo, hi = _local(start, tz), _local(end, tz)
    midnight = lo.time() == hi.time() == datetime.min.time()
    next_month = (lo.year + lo.month // 12, lo.month % 12 + 1)
    if midnight and lo.day == 1 and hi.day == 1 and (hi.year, hi.month) == next_month:
        return f"{_MONTHS[lo.month - 1]} {lo.year}"
    last = (hi - timedelta(microseconds=1)).date()
    return f"{lo.date().isoformat()} – {last.isoformat()}"


_SYMBOL = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
_UNIT = {"percent": "%", "minutes": "min", "hours": "h", "seconds": "s", "count": ""}


def quantity(value: float | None, unit: str | None, digits: int = 4) -> str:
    """``99.87 %``, ``23.93 ms``, ``4``: a value with its unit's symbol; ``n/a`` for None."""
    if value is None:
        return "n/a"
    symbol = _UNIT.get(unit or "", unit or "")
    text = f"{value:.{digits}g}"
    return f"{text} {symbol}" if symbol else text


def target_text(comparator: str | None, threshold: float | None, unit: str | None) -> str | None:
    """An objective's target as a person writes it: ``≥ 99.5 %``, ``≤ 500 ms``."""
    if not comparator or threshold is None:
        return None
    symbol = _UNIT.get(unit or "", unit or "")
    number = f"{float(threshold):g}"
    return f"{_SYMBOL.get(comparator, comparator)} {number}" + (f" {symbol}" if symbol else "")
