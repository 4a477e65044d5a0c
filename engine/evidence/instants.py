"""Instants and half-open intervals, in epoch milliseconds: RFC 3339 in and out, local wall time
for people, and the interval arithmetic of evaluated time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(ms: int) -> str:
    """``2026-10-12T06:30:00Z``, with milliseconds only when there are some (as the engine)."""
    instant = _EPOCH + timedelta(milliseconds=ms)
    text = instant.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.removesuffix("+00:00") + "Z"


def _local(ms: int, tz: str) -> str:
    local = (_EPOCH + timedelta(milliseconds=ms)).astimezone(ZoneInfo(tz))
    return local.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")


def _show(ms: int, tz: str) -> str:
    """Short local wall time for people: ``2026-10-12 14:30`` (seconds only when not zero)."""
    local = (_EPOCH + timedelta(milliseconds=ms)).astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def _instant(value: Any) -> int | None:
    """RFC 3339 with an offset → epoch ms, or None."""
    from engine.core.calendar import parse_instant

    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return (parsed - _EPOCH) // timedelta(milliseconds=1)


def _span(lo: int, hi: int, tz: str) -> dict[str, Any]:
    return {
        "start": _utc(lo),
        "end": _utc(hi),
        "start_local": _local(lo, tz),
        "end_local": _local(hi, tz),
    }


def _need(text: str) -> int:
    value = _instant(text)
    assert value is not None, text
    return value


# --- interval arithmetic (half-open [start, end) ms) ---------------------------------------------


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _minus(base: list[tuple[int, int]], cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in base:
        pieces = [(start, end)]
        for cut_start, cut_end in cuts:
            pieces = [
                piece
                for s, e in pieces
                for piece in ((s, min(e, cut_start)), (max(s, cut_end), e))
                if piece[1] > piece[0]
            ]
        out.extend(pieces)
    return out


def _overlap(spans: list[tuple[int, int]], lo: int, hi: int) -> int:
    return sum(max(0, min(e, hi) - max(s, lo)) for s, e in spans)


def _whole_minutes(start: int, end: int) -> tuple[int, int]:
    """An exemption covers only the minutes inside it entirely (README, evaluated time)."""
    return (-(-start // MINUTE_MS) * MINUTE_MS, end // MINUTE_MS * MINUTE_MS)
