"""Half-open ``[start, end)`` millisecond intervals: the arithmetic of time in the core."""

from __future__ import annotations

from collections.abc import Iterable

Interval = tuple[int, int]
MINUTE_MS = 60_000


def normalise(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-empty, merged."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def subtract(base: Iterable[Interval], cuts: Iterable[Interval]) -> list[Interval]:
    """``base`` minus the union of ``cuts``."""
    result: list[Interval] = []
    cut_list = normalise(cuts)
    for start, end in normalise(base):
        cursor = start
        for cut_start, cut_end in cut_list:
            if cut_end <= cursor or cut_start >= end:
                continue
            if cut_start > cursor:
                result.append((cursor, cut_start))
            cursor = max(cursor, cut_end)
            if cursor >= end:
                break
        if cursor < end:
            result.append((cursor, end))
    return result


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    b_list = normalise(b)
    for start, end in normalise(a):
        for b_start, b_end in b_list:
            lo, hi = max(start, b_start), min(end, b_end)
            if lo < hi:
                out.append((lo, hi))
    return normalise(out)


def total(intervals: Iterable[Interval]) -> int:
    return sum(end - start for start, end in intervals)


def clip(intervals: Iterable[Interval], start: int, end: int) -> list[Interval]:
    """``intervals`` ∩ ``[start, end)``, normalised.  One pass over normalised input (the
    core's evaluated time always is); anything else goes through :func:`intersect`."""
    items = intervals if isinstance(intervals, list) else list(intervals)
    out: list[Interval] = []
    previous_end = None
    for s, e in items:
        if e <= s or (previous_end is not None and s <= previous_end):
            return intersect(items, [(start, end)])  # not normalised: the general way
        previous_end = e
        if s < end and e > start:
            out.append((s if s > start else start, e if e < end else end))
    return out


def overlap(intervals: list[Interval], start: int, end: int) -> int:
    """``total(clip(intervals, start, end))``, without building the list."""
    sum_ms = 0
    previous_end = None
    for s, e in intervals:
        if e <= s or (previous_end is not None and s <= previous_end):
            return total(intersect(intervals, [(start, end)]))
        previous_end = e
        if s < end and e > start:
            sum_ms += (e if e < end else end) - (s if s > start else start)
    return sum_ms


def inner_minutes(interval: Interval) -> Interval:
    """The whole minutes inside an interval: a timeslice is exempt only if fully covered."""
    start, end = interval
    return (-(-start // MINUTE_MS) * MINUTE_MS, end // MINUTE_MS * MINUTE_MS)


def contains(intervals: list[Interval], t: int) -> bool:
    """Whether ``t`` lies in one of the (normalised) intervals."""
    lo, hi = 0, len(intervals)
    while lo < hi:
        mid = (lo + hi) // 2
        if intervals[mid][1] <= t:
            lo = mid + 1
        else:
            hi = mid
    return lo < len(intervals) and intervals[lo][0] <= t
