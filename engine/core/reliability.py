"""Service reliability (Table A.1): node up-time, failures, MTTR, MTBF, failure count,
longest recovery — all as known at a given instant."""

from __future__ import annotations

from typing import Any

from engine.core import intervals as iv
from engine.core.calendar import utc_iso
from engine.core.contract import ObjectiveRule
from engine.core.state import ContractState

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def node_piece(
    segments: dict[str, list[tuple[int, int, str]]],
    evaluated: list[iv.Interval],
    degraded_is_down: bool,
) -> tuple[int, int]:
    up = down = 0
    for segs in segments.values():
        for s, e, state in segs:
            overlap = iv.overlap(evaluated, s, e)
            if state == "down" or (state == "degraded" and degraded_is_down):
                down += overlap
            else:
                up += overlap
    return up, down


def failure_stats(cs: ContractState, until: int) -> dict[str, int]:
    """Failures known at ``until``: those started before it; later restorations not yet seen."""
    known = [f for f in cs.failures if f["start"] < until]
    restored = [f for f in known if f["end"] is not None and f["end"] <= until]
    durations = [
        min(f["end"] if f["end"] is not None else until, until) - f["start"] for f in known
    ]
    return {
        "failures": len(known),
        "restored": len(restored),
        "restoration_ms": sum(f["end"] - f["start"] for f in restored),
        "longest_ms": max(durations, default=0),
    }


def reliability_value(
    objective: ObjectiveRule, cs: ContractState, until: int, operating_ms: int = 0
) -> float | None:
    """Reliability SLIs as known at ``until``; ``operating_ms``: node up-time in the period."""
    stats = failure_stats(cs, until)
    match objective.sli:
        case "failure_count":
            return float(stats["failures"])
        case "max_recovery":
            return stats["longest_ms"] / MINUTE_MS
        case "mttr":
            return (
                stats["restoration_ms"] / stats["restored"] / MINUTE_MS
                if stats["restored"]
                else None
            )
        case "mtbf":
            operating_h = operating_ms / HOUR_MS
            return operating_h / stats["failures"] if stats["failures"] else None
        case "stability_interruptions" | "stability_recovery":
            return _worst_72h(cs, until, objective.sli == "stability_recovery")
    raise AssertionError(objective.sli)


STABILITY_SPAN_MS = 72 * HOUR_MS


def _worst_72h(cs: ContractState, until: int, recovery: bool) -> float:
    """Table A.1 domestic hw/sw stability, as a continuous run would see it: over every 72-hour
    span of the period so far, the failures starting in it (interruptions) or their total
    recovery time in minutes (a failure still open counts up to ``until``); the worst span."""
    known = sorted(
        (f["start"], min(f["end"] if f["end"] is not None else until, until) - f["start"])
        for f in cs.failures
        if f["start"] < until
    )
    best = 0.0
    total = 0
    lo = 0
    for hi, (start, duration) in enumerate(known):
        total += duration
        while start - known[lo][0] >= STABILITY_SPAN_MS:
            total -= known[lo][1]
            lo += 1
        best = max(best, total / MINUTE_MS if recovery else float(hi - lo + 1))
    return best


def failures_as_of(cs: ContractState, until: int) -> list[dict[str, Any]]:
    return [
        {
            "node": f["node"],
            "start": utc_iso(f["start"]),
            "end": utc_iso(f["end"]) if f["end"] is not None and f["end"] <= until else None,
        }
        for f in cs.failures
        if f["start"] < until
    ]
