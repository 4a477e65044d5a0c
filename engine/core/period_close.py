"""A period closes (§6.1.16): its final values, period breaches resolved, usage and fee, one
compensation per objective with tiers (never twice), and the scorecard (Table A.2).
"""

from __future__ import annotations

from decimal import Decimal
from typing import cast

from engine.core.breaches import emit_breach
from engine.core.calendar import utc_iso
from engine.core.closing import MEASURE_KEYS, Closing, record_id
from engine.core.compensation import applicable_tier, credit, period_fee, period_usage, quantize
from engine.core.contract import ObjectiveRule
from engine.core.records import ScorecardRecord
from engine.core.reliability import failure_stats
from engine.core.scoring import scorecard
from engine.core.sli import family
from engine.core.state import ObjectiveState, WindowAcc


def close_period(closing: Closing) -> None:
    """Period close: final value, period breaches, compensation once (§6.1.16)."""
    cs, contract = closing.cs, closing.contract
    assert cs.period_start_ms is not None and cs.period_end_ms is not None
    fee = period_fee(contract.metering, cs.usage)
    closing.out.usage.extend(period_usage(contract, cs, fee))
    remaining_cap = quantize(fee * contract.cap_percent / 100, contract.metering)
    measured: dict[str, float | None] = {}
    if cs.nodes:  # failures are tracked: a period without any scores reliability at its best
        measured["failure_count"] = float(failure_stats(cs, cs.period_end_ms)["failures"])
    for objective in contract.objectives:
        state = cs.objectives.setdefault(objective.id, ObjectiveState())
        if state.period is None:
            state.period = WindowAcc(cs.period_start_ms, cs.period_end_ms)
        sli = family(objective.sli)
        observed = sli.period_value(objective, closing, state)
        key = MEASURE_KEYS.get((objective.sli, objective.source), objective.sli)
        measured.setdefault(key, observed)
        measured[f"{key}@{objective.id}"] = observed
        sli.judge_period(closing, objective, state, observed)
        if state.breach_id is not None and state.breach_kind == "period":
            emit_breach(
                closing,
                objective,
                state.breach_id,
                "resolved",
                observed,
                cs.period_start_ms,
                cs.period_end_ms,
                cs.period_end_ms,
                {"reason": "period closed", "final": observed},
            )
            state.breach_id = None
            state.breach_kind = None
        if objective.tiers and cs.period_start_ms not in state.paid_periods:
            remaining_cap = _compensate(closing, objective, state, observed, fee, remaining_cap)
            state.paid_periods = [*state.paid_periods[-11:], cs.period_start_ms]
        state.period = None
        state.window = None
    if contract.scoring is not None:
        closing.out.scorecards.append(
            cast(
                ScorecardRecord,
                scorecard(
                    contract.scoring,
                    measured,
                    contract.spec.attested,
                    software_support=contract.spec.software_support,
                    contract_id=contract.id,
                    provider_id=contract.provider_id,
                    contract_version=contract.revision,
                    period_start=utc_iso(cs.period_start_ms),
                    period_end=utc_iso(cs.period_end_ms),
                ),
            )
        )


def _compensate(
    closing: Closing,
    objective: ObjectiveRule,
    state: ObjectiveState,
    observed: float | None,
    fee: Decimal,
    remaining_cap: Decimal,
) -> Decimal:
    cs, contract = closing.cs, closing.contract
    assert (
        cs.period_start_ms is not None and cs.period_end_ms is not None and state.period is not None
    )
    chosen = applicable_tier(objective, observed)
    percent = chosen[1].credit_percent if chosen else 0.0
    hours = chosen[1].extension_hours if chosen else 0.0
    amount, capped = credit(fee, percent, remaining_cap, contract.metering)
    closing.out.compensations.append(
        {
            "record": "compensation",
            "compensation_id": "comp:" + record_id(contract, objective, cs.period_start_ms),
            "contract_id": contract.id,
            "contract_version": contract.revision,
            "objective_id": objective.id,
            "sli": objective.sli,
            "period_start": utc_iso(cs.period_start_ms),
            "period_end": utc_iso(cs.period_end_ms),
            "observed": observed,
            "threshold": objective.threshold,
            "tier": chosen[0] if chosen else None,
            "credit_percent": percent,
            "credit_amount": str(amount),
            "currency": contract.metering.currency,
            "extension_hours": hours,
            "period_fee": str(fee),
            "capped": capped,
            "evidence": {
                **family(objective.sli).period_evidence(objective, closing, state.period),
                "usage": dict(cs.usage),
                "fee_rule": "period_fee"
                if contract.metering.period_fee is not None
                else f"usage x unit_price ({contract.metering.unit})",
                "arithmetic": f"{fee} x {percent}% = {amount}" + (" (capped)" if capped else ""),
                "rule": contract.source,
            },
        }
    )
    return remaining_cap - amount
