"""Early warnings of a closing: the 5-minute buckets of budgeted objectives (availability,
error rate) fed to the burn-rate rules (``engine.core.burn``), and the budget left.
"""

from __future__ import annotations

from typing import cast

from engine.core import burn
from engine.core import intervals as iv
from engine.core.calendar import utc_iso
from engine.core.closing import MINUTE_MS, Closing, record_id
from engine.core.contract import ObjectiveRule
from engine.core.records import WarningRecord
from engine.core.sli import family
from engine.core.state import ObjectiveState, WindowAcc


def burn_range(
    closing: Closing,
    objective: ObjectiveRule,
    state: ObjectiveState,
    buckets: dict[int, WindowAcc],
    lo: int,
    hi: int,
    budget: float,
) -> None:
    """Add the buckets of ``[lo, hi)`` to the history; at each bucket end, fire or clear."""
    t = lo
    while t < hi:
        end = burn.bucket_end(t)
        if state.burn_open is None or state.burn_open[0] != end:
            state.burn_open = [end, 0, 0]
        part = buckets.get(end)
        if part is not None:
            bad, total = family(objective.sli).units(objective, part)
            state.burn_open[1] += bad
            state.burn_open[2] += total
        if end <= hi:
            _end_bucket(closing, objective, state, budget)
        t = end


def _end_bucket(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState, budget: float
) -> None:
    cs, contract = closing.cs, closing.contract
    assert cs.period_start_ms is not None and cs.period_end_ms is not None
    assert state.burn_open is not None
    end, bad, total = state.burn_open
    state.burn_open = None
    state.burn_end = end
    state.burn_bad.append(bad)
    state.burn_total.append(total)
    if state.burn_period is None or state.burn_period[0] != cs.period_start_ms:
        state.burn_period = [cs.period_start_ms, 0, 0]
    state.burn_period[1] += bad
    state.burn_period[2] += total
    rules, keep = closing.burn_rules()
    if len(state.burn_bad) > keep:
        del state.burn_bad[: len(state.burn_bad) - keep]
        del state.burn_total[: len(state.burn_total) - keep]

    def make_id(rule: burn.BurnRule) -> str:
        return f"warn:{record_id(contract, objective, end)}:{rule.key}"

    changes = burn.evaluate(
        state.burn_bad, state.burn_total, rules, budget, state.warnings, make_id
    )
    if not changes:
        return
    remaining = _budget_remaining(closing, objective, state, end, budget)
    for change in changes:
        closing.out.warnings.append(
            cast(
                WarningRecord,
                {
                    "record": "warning",
                    **change,
                    "contract_id": contract.id,
                    "contract_version": contract.revision,
                    "objective_id": objective.id,
                    "sli": objective.sli,
                    "budget_remaining": remaining,
                    "period_start": utc_iso(cs.period_start_ms),
                    "period_end": utc_iso(cs.period_end_ms),
                    "detected_at": utc_iso(end),
                },
            )
        )


def _budget_remaining(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState, at: int, budget: float
) -> float | None:
    """Share of the period's error budget not yet spent at ``at``: 1 − bad / (b × units), the
    units being those of the period so far plus, for availability, the service time to come."""
    assert state.burn_period is not None
    _, bad, total = state.burn_period
    if objective.sli != "error_rate":
        remaining_ms = iv.overlap(closing.owed, at, closing.piece_end) + closing.owed_after_ms
        if objective.sli == "node_availability":
            nodes = sum(1 for segs in closing.segments.values() if segs and segs[0][0] < at)
            total += remaining_ms * max(nodes, 1)
        else:
            total += remaining_ms // MINUTE_MS
    if total <= 0 or budget <= 0:
        return None
    return round(1.0 - bad / (budget * total), 6)
