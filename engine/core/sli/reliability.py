"""Service reliability (Table A.1): MTTR, MTBF, failure count, longest recovery and the
stability figures, from the period's failures as known at each window's end.  The window's
value is the period's so far; the total is the failure count."""

from __future__ import annotations

from typing import Any

from engine.core.breaches import open_period_breach
from engine.core.closing import MONOTONE_RELIABILITY, RELIABILITY, Closing
from engine.core.contract import ObjectiveRule
from engine.core.reliability import failure_stats, failures_as_of, reliability_value
from engine.core.sli.base import Family, WindowFigures
from engine.core.state import ObjectiveState, WindowAcc


class Reliability(Family):
    slis = RELIABILITY

    def window(
        self, objective: ObjectiveRule, closing: Closing, state: ObjectiveState, acc: WindowAcc
    ) -> WindowFigures:
        cs = closing.cs
        value = reliability_value(objective, cs, acc.end, closing.operating_ms(acc.end))
        failures = failure_stats(cs, acc.end)["failures"]
        return WindowFigures(value, None, failures, None, value, None, failures)

    def period_value(
        self, objective: ObjectiveRule, closing: Closing, state: ObjectiveState
    ) -> float | None:
        assert state.period is not None
        end = state.period.end
        return reliability_value(objective, closing.cs, end, closing.operating_ms(end))

    def judge(
        self,
        closing: Closing,
        objective: ObjectiveRule,
        state: ObjectiveState,
        acc: WindowAcc,
        figures: WindowFigures,
        compliant: bool | None,
    ) -> None:
        # figures that only get worse as the period goes on: breached as soon as they fail
        if objective.sli in MONOTONE_RELIABILITY and compliant is False:
            evidence = {"failures": failures_as_of(closing.cs, acc.end)}
            open_period_breach(closing, objective, state, figures.value, acc.end, evidence)

    def judge_period(
        self,
        closing: Closing,
        objective: ObjectiveRule,
        state: ObjectiveState,
        observed: float | None,
    ) -> None:
        # MTTR and MTBF are averages: judged on the whole period, when it closes
        cs = closing.cs
        if (
            objective.sli in ("mttr", "mtbf")
            and observed is not None
            and not objective.meets(observed)
        ):
            assert cs.period_end_ms is not None
            evidence = {"failures": failures_as_of(cs, cs.period_end_ms)}
            open_period_breach(closing, objective, state, observed, cs.period_end_ms, evidence)

    def period_evidence(
        self, objective: ObjectiveRule, closing: Closing, period: WindowAcc
    ) -> dict[str, Any]:
        return {"failures": failures_as_of(closing.cs, period.end)}


RELIABILITY_FAMILY = Reliability()
