"""A window closes: its value and the period's so far, one metric record, then the breach
rule of its SLI and, for probe availability, a discrepancy record.
"""

from __future__ import annotations

from engine.core.breaches import availability_breach, open_period_breach, window_breach
from engine.core.calendar import utc_iso
from engine.core.closing import (
    AVAILABILITY,
    MONOTONE_RELIABILITY,
    RELIABILITY,
    Closing,
    availability_counts,
    availability_value,
    record_id,
    request_value,
)
from engine.core.contract import ObjectiveRule
from engine.core.discrepancy import window_discrepancy
from engine.core.gauges import GAUGES
from engine.core.records import MetricRecord
from engine.core.reliability import failure_stats, failures_as_of, reliability_value
from engine.core.state import ObjectiveState, WindowAcc
from engine.models.contract import PROBE_AVAILABILITY


def close_window(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState, acc: WindowAcc
) -> None:
    cs, contract = closing.cs, closing.contract
    period = state.period
    assert period is not None
    period.add(acc)
    sli = objective.sli
    good: int | None = acc.good
    total: int | None = acc.good + acc.bad
    coverage: float | None = None
    period_value: float | None
    if sli in AVAILABILITY:
        value, coverage = availability_value(objective, acc)
        period_value, _ = availability_value(objective, period)
        good, total = availability_counts(objective, acc)
    elif sli == "error_rate":
        value, period_value = request_value(objective, acc), request_value(objective, period)
        coverage = 1.0 if total else None
        if total is not None and total < objective.min_requests:
            value = None
    elif sli == "latency" or sli in GAUGES:
        windows = closing.data.latency_windows if sli == "latency" else closing.data.gauge_windows
        value, count = windows.get((objective.id, acc.start), (None, 0))
        good, total = None, count
        coverage = 1.0 if count else None
        if count < objective.min_requests:
            value = None
        # known only once the period is complete: on its last window
        period_value = (
            final_period_value(closing, objective, state) if acc.end == period.end else None
        )
    else:
        value = period_value = reliability_value(
            objective, cs, acc.end, closing.operating_ms(acc.end)
        )
        good, total = None, failure_stats(cs, acc.end)["failures"]
    # reliability (Table A.1): –/failures, the period's so far as the window's total is
    period_good, period_total = (
        (None, total) if sli in RELIABILITY else _period_counts(objective, period)
    )
    compliant = objective.meets(value) if value is not None else None
    metric: MetricRecord = {
        "record": "metric",
        "metric_id": record_id(contract, objective, acc.start),
        "contract_id": contract.id,
        "contract_version": contract.revision,
        "objective_id": objective.id,
        "sli": sli,
        "unit": objective.unit,
        "window_start": utc_iso(acc.start),
        "window_end": utc_iso(acc.end),
        "value": value,
        "good": good,
        "total": total,
        "coverage": coverage,
        "period_start": utc_iso(period.start),
        "period_end": utc_iso(period.end),
        "period_value": period_value,
        "period_good": period_good,
        "period_total": period_total,
        "compliant": compliant,
    }
    closing.out.metrics.append(metric)
    if sli in ("latency", "error_rate") or sli in GAUGES:
        window_breach(closing, objective, state, acc, value, compliant)
    elif sli in AVAILABILITY:
        availability_breach(closing, objective, state, acc)
    elif sli in MONOTONE_RELIABILITY and compliant is False:
        open_period_breach(
            closing, objective, state, value, acc.end, {"failures": failures_as_of(cs, acc.end)}
        )
    if sli in PROBE_AVAILABILITY and (found := window_discrepancy(contract, objective, cs, acc)):
        closing.out.discrepancies.append(found)


def _period_counts(objective: ObjectiveRule, period: WindowAcc) -> tuple[int | None, int | None]:
    """The period's good and total, in the same units as the window's (reliability SLIs: the
    caller's failure count)."""
    if objective.sli == "latency" or objective.sli in GAUGES:
        return None, None
    if objective.sli in AVAILABILITY:
        return availability_counts(objective, period)
    return period.good, period.good + period.bad


def final_period_value(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState
) -> float | None:
    period = state.period
    assert period is not None
    if objective.sli in AVAILABILITY:
        return availability_value(objective, period)[0]
    if objective.sli == "error_rate":
        total = period.good + period.bad
        return request_value(objective, period) if total >= objective.min_requests else None
    if objective.sli == "latency" or objective.sli in GAUGES:
        periods = (
            closing.data.latency_periods
            if objective.sli == "latency"
            else closing.data.gauge_periods
        )
        value, count = periods.get((objective.id, period.start), (None, 0))
        return value if count >= objective.min_requests else None
    return reliability_value(objective, closing.cs, period.end, closing.operating_ms(period.end))
