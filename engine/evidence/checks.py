"""Checks: each recorded quantity against its recomputation, with its tolerance."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from engine.evidence.facts import _JUDGED, EXEMPT, _Facts
from engine.evidence.instants import MINUTE_MS

if TYPE_CHECKING:
    from engine.core.contract import ObjectiveRule

LATENCY_REL_TOLERANCE = 0.005  # the engine reports histogram buckets (README, latency)
FLOAT_REL_TOLERANCE = 1e-9  # same formula on the same integers: equal up to float noise


def _check(
    record: str,
    quantity: str,
    recorded: Any,
    recomputed: Any,
    tolerance: str,
    informational: bool = False,
) -> dict[str, Any]:
    """One comparison; an informational one is shown but does not decide ``matches``."""
    if recorded is None or recomputed is None:
        matches = recorded is None and recomputed is None
    elif tolerance == "exact":
        matches = recorded == recomputed
    elif tolerance == "0.5% relative":
        matches = abs(recorded - recomputed) <= LATENCY_REL_TOLERANCE * abs(recomputed) + 1e-12
    else:
        matches = math.isclose(recorded, recomputed, rel_tol=FLOAT_REL_TOLERANCE, abs_tol=1e-12)
    return {
        "record": record,
        "quantity": quantity,
        "recorded": recorded,
        "recomputed": recomputed,
        "tolerance": tolerance,
        "matches": matches,
        "informational": informational,
    }


_COUNTS = {  # SLI → the recomputed facts behind the engine's good / bad accumulators
    "service_availability": ("available_minutes", "unavailable_minutes"),
    "node_availability": ("up_ms", "down_ms"),
    "error_rate": ("ok_requests", "failed_requests"),
}


def _record_checks(
    record: dict[str, Any], result: dict[str, Any], objective: ObjectiveRule, label: str
) -> list[dict[str, Any]]:
    """The record's value and the counts in its evidence against the recomputation."""
    sli = objective.sli
    tolerance = "0.5% relative" if sli == "latency" else "1e-9 relative"
    checks = [_check(label, "observed", record["observed"], result["value"], tolerance)]
    evidence = record.get("evidence", {})
    expected: list[tuple[str, Any]] = []
    if sli in _COUNTS:
        good_key, bad_key = _COUNTS[sli]
        bad = result[bad_key]
        if (
            label == "opened"
            and sli == "service_availability"
            and objective.no_data == "unavailable"
        ):
            bad = result["evaluated_minutes"] - result["available_minutes"]
        for prefix in ("period", "window"):
            if f"{prefix}_good" in evidence:
                expected += [(f"{prefix}_good", result[good_key]), (f"{prefix}_bad", bad)]
        if sli == "service_availability" and "period_evaluated" in evidence:
            expected.append(("period_evaluated", result["evaluated_minutes"]))
    if "failures" in evidence and "failure_list" in result:
        expected.append(("failures", result["failure_list"]))
    for key, value in expected:
        checks.append(_check(label, f"evidence.{key}", evidence[key], value, "exact"))
    return checks


def _best_possible(
    facts: _Facts, objective: ObjectiveRule, result: dict[str, Any], detected: int
) -> tuple[int, float | None]:
    """Service availability: the best the period could still reach at ``detected`` (README)."""
    remaining = sum(  # service minutes ahead; exemptions ahead are not counted (README)
        1
        for m in range(detected, facts.period[1], MINUTE_MS)
        if facts.minute_status(m, as_of=detected) in (_JUDGED, EXEMPT)
    )
    if objective.no_data == "unknown":
        total = result["available_minutes"] + result["unavailable_minutes"] + remaining
        bad = result["unavailable_minutes"]
    else:
        total = result["evaluated_minutes"] + remaining
        bad = result["unavailable_minutes"]
        if objective.no_data == "unavailable":
            bad = result["evaluated_minutes"] - result["available_minutes"]
    best = round(100.0 * (total - bad) / total, 6) if total > 0 else None
    return remaining, best
