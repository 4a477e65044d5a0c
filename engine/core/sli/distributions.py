"""Latency percentiles and gauges (Table A.1: latency, storage and network speed, jitter,
loss, utilisation, provisioning times, PUE …): one value per window from a distribution of
samples.  Their partials (mergeable histograms, gauge sums) are kept in columns and finished
per window and period by ``engine.core.distributions``; these families read the results.
A window with fewer than ``min_requests`` samples has no value; the period's value is known
on its last window."""

from __future__ import annotations

from typing import Any

from engine.core.breaches import window_breach
from engine.core.closing import Closing
from engine.core.contract import ObjectiveRule
from engine.core.gauges import GAUGES
from engine.core.sli.base import Family, WindowFigures
from engine.core.state import ObjectiveState, WindowAcc


class Distribution(Family):
    def __init__(self, slis: tuple[str, ...], latency: bool) -> None:
        self.slis = slis
        self.latency = latency

    def _windows(self, closing: Closing) -> dict[tuple[str, int], tuple[float | None, int]]:
        data = closing.data
        return data.latency_windows if self.latency else data.gauge_windows

    def _periods(self, closing: Closing) -> dict[tuple[str, int], tuple[float | None, int]]:
        data = closing.data
        return data.latency_periods if self.latency else data.gauge_periods

    def window(
        self, objective: ObjectiveRule, closing: Closing, state: ObjectiveState, acc: WindowAcc
    ) -> WindowFigures:
        period = state.period
        assert period is not None
        value, count = self._windows(closing).get((objective.id, acc.start), (None, 0))
        if count < objective.min_requests:
            value = None
        # known only once the period is complete: on its last window
        period_value = (
            self.period_value(objective, closing, state) if acc.end == period.end else None
        )
        return WindowFigures(value, None, count, 1.0 if count else None, period_value, None, None)

    def period_value(
        self, objective: ObjectiveRule, closing: Closing, state: ObjectiveState
    ) -> float | None:
        assert state.period is not None
        value, count = self._periods(closing).get((objective.id, state.period.start), (None, 0))
        return value if count >= objective.min_requests else None

    def judge(
        self,
        closing: Closing,
        objective: ObjectiveRule,
        state: ObjectiveState,
        acc: WindowAcc,
        figures: WindowFigures,
        compliant: bool | None,
    ) -> None:
        window_breach(closing, objective, state, acc, figures.value, compliant)

    def period_evidence(
        self, objective: ObjectiveRule, closing: Closing, period: WindowAcc
    ) -> dict[str, Any]:
        return {
            "period_samples": self._periods(closing).get((objective.id, period.start), (None, 0))[1]
        }


LATENCY = Distribution(("latency",), latency=True)
GAUGE_FAMILY = Distribution(tuple(GAUGES), latency=False)
