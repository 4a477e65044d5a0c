"""A window closes: its SLI family's figures (``engine.core.sli``), one metric record, then
the family's breach rule (and, for probe availability, a discrepancy record).
"""

from __future__ import annotations

from engine.core.calendar import utc_iso
from engine.core.closing import Closing, record_id
from engine.core.contract import ObjectiveRule
from engine.core.records import MetricRecord
from engine.core.sli import family
from engine.core.state import ObjectiveState, WindowAcc


def close_window(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState, acc: WindowAcc
) -> None:
    contract = closing.contract
    period = state.period
    assert period is not None
    period.add(acc)
    sli_family = family(objective.sli)
    figures = sli_family.window(objective, closing, state, acc)
    value = figures.value
    compliant = objective.meets(value) if value is not None else None
    metric: MetricRecord = {
        "record": "metric",
        "metric_id": record_id(contract, objective, acc.start),
        "contract_id": contract.id,
        "contract_version": contract.revision,
        "objective_id": objective.id,
        "sli": objective.sli,
        "unit": objective.unit,
        "window_start": utc_iso(acc.start),
        "window_end": utc_iso(acc.end),
        "value": value,
        "good": figures.good,
        "total": figures.total,
        "coverage": figures.coverage,
        "period_start": utc_iso(period.start),
        "period_end": utc_iso(period.end),
        "period_value": figures.period_value,
        "period_good": figures.period_good,
        "period_total": figures.period_total,
        "compliant": compliant,
    }
    closing.out.metrics.append(metric)
    sli_family.judge(closing, objective, state, acc, figures, compliant)
