"""Breach records (§6.2): a window breach opens on a non-compliant window and resolves on the
next compliant one; a period breach opens once the period can no longer meet its objective
(availability) or has failed for good (reliability), and resolves when the period closes.
"""

from __future__ import annotations

from typing import Any, Literal

from engine.core import intervals as iv
from engine.core.calendar import utc_iso
from engine.core.closing import MINUTE_MS, Closing, availability_value, record_id
from engine.core.contract import ObjectiveRule
from engine.core.state import ContractState, ObjectiveState, WindowAcc
from engine.models.contract import PROBE_AVAILABILITY


def _priority(cs: ContractState, start: int, end: int) -> int | None:
    """Highest priority (impact × urgency, §6.2.2) of incidents overlapping [start, end)."""
    best = None
    for _, prio, s, e in cs.incident_log:
        if s < end and e > start:
            best = max(best or 0, prio)
    for prio, s in cs.incidents.values():
        if s < end:
            best = max(best or 0, prio)
    return best


def emit_breach(
    closing: Closing,
    objective: ObjectiveRule,
    breach_id: str,
    status: Literal["opened", "resolved"],
    observed: float | None,
    start: int,
    end: int,
    detected: int,
    evidence: dict[str, Any],
) -> None:
    closing.out.breaches.append(
        {
            "record": "breach",
            "breach_id": breach_id,
            "status": status,
            "contract_id": closing.contract.id,
            "contract_version": closing.contract.revision,
            "objective_id": objective.id,
            "sli": objective.sli,
            "comparator": objective.comparator,
            "threshold": objective.threshold,
            "observed": observed,
            "window_start": utc_iso(start),
            "window_end": utc_iso(end),
            "detected_at": utc_iso(detected),
            "priority": _priority(closing.cs, start, min(end, detected)),
            "evidence": evidence,
        }
    )


def window_breach(
    closing: Closing,
    objective: ObjectiveRule,
    state: ObjectiveState,
    acc: WindowAcc,
    value: float | None,
    compliant: bool | None,
) -> None:
    evidence = {"window_good": acc.good, "window_bad": acc.bad, "rule": closing.contract.source}
    if compliant is False and state.breach_id is None:
        state.breach_id = "breach:" + record_id(closing.contract, objective, acc.start)
        state.breach_kind = "window"
        emit_breach(
            closing,
            objective,
            state.breach_id,
            "opened",
            value,
            acc.start,
            acc.end,
            acc.end,
            evidence,
        )
    elif compliant is True and state.breach_id is not None and state.breach_kind == "window":
        emit_breach(
            closing,
            objective,
            state.breach_id,
            "resolved",
            value,
            acc.start,
            acc.end,
            acc.end,
            evidence,
        )
        state.breach_id = None
        state.breach_kind = None


def availability_breach(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState, acc: WindowAcc
) -> None:
    """Open a period breach once the period can no longer meet the objective."""
    if state.breach_id is not None:
        return
    cs, contract = closing.cs, closing.contract
    period = state.period
    assert period is not None and cs.period_end_ms is not None
    # the best the rest of the period can do, from what is known at this window's end: every
    # remaining service minute perfect; exemptions not yet applied (they could only lower it),
    # and nodes counted only if they had reported by then — so batching cannot change it
    remaining_ms = iv.overlap(closing.owed, acc.end, closing.piece_end) + closing.owed_after_ms
    if objective.sli in PROBE_AVAILABILITY:
        remaining_units = remaining_ms // MINUTE_MS
        if objective.no_data == "unknown":
            best_total = period.good + period.bad + remaining_units
        else:
            best_total = period.evaluated + remaining_units
        bad = period.bad if objective.no_data != "unavailable" else period.evaluated - period.good
    else:
        nodes = max(
            sum(1 for segs in closing.segments.values() if segs and segs[0][0] < acc.end), 1
        )
        best_total = period.good + period.bad + remaining_ms * nodes
        bad = period.bad
    if best_total <= 0:
        return
    best = 100.0 * (best_total - bad) / best_total
    if not objective.meets(best):
        observed, _ = availability_value(objective, period)
        evidence = {
            "period_good": period.good,
            "period_bad": bad,
            "remaining_units": best_total - period.good - period.bad,
            "best_possible": round(best, 6),
            "exemptions": [e for e in cs.maintenance_log]
            + [
                {"force_majeure": r, "start": utc_iso(s), "end": utc_iso(e)}
                for s, e, r in contract.force_majeure
            ],
            "rule": contract.source,
        }
        open_period_breach(closing, objective, state, observed, acc.end, evidence)


def open_period_breach(
    closing: Closing,
    objective: ObjectiveRule,
    state: ObjectiveState,
    observed: float | None,
    detected: int,
    evidence: dict[str, Any],
) -> None:
    if state.breach_id is not None:
        return
    cs = closing.cs
    assert cs.period_start_ms is not None and cs.period_end_ms is not None
    state.breach_id = "breach:" + record_id(closing.contract, objective, cs.period_start_ms)
    state.breach_kind = "period"
    emit_breach(
        closing,
        objective,
        state.breach_id,
        "opened",
        observed,
        cs.period_start_ms,
        cs.period_end_ms,
        detected,
        evidence,
    )
