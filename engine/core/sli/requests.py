"""Error rate (§6.1.10, Table A.1): failed requests over requests in each window; a window
with fewer than ``min_requests`` has no value.  Units: requests."""

from __future__ import annotations

from engine.core import intervals as iv
from engine.core.breaches import window_breach
from engine.core.closing import MINUTE_MS, Closing, minutes_in, request_value
from engine.core.contract import ObjectiveRule
from engine.core.sli.base import Family, WindowFigures, bucket_of
from engine.core.state import ObjectiveState, WindowAcc


class ErrorRate(Family):
    slis = ("error_rate",)

    def piece(
        self,
        objective: ObjectiveRule,
        closing: Closing,
        lo: int,
        hi: int,
        buckets: dict[int, WindowAcc] | None = None,
    ) -> WindowAcc:
        acc = WindowAcc(lo, hi)
        evaluated = iv.clip(closing.evaluated, lo, hi)
        # evaluated minutes: the time the requests counted were taken from (evidence only)
        acc.evaluated = iv.total(evaluated) // MINUTE_MS
        for minute, n, ok, _ in minutes_in(closing.data.requests, lo, hi):
            if iv.contains(evaluated, minute):
                acc.good += ok
                acc.bad += n - ok
                if buckets is not None:
                    part = bucket_of(buckets, minute)
                    part.good += ok
                    part.bad += n - ok
        return acc

    def window(
        self, objective: ObjectiveRule, closing: Closing, state: ObjectiveState, acc: WindowAcc
    ) -> WindowFigures:
        period = state.period
        assert period is not None
        total = acc.good + acc.bad
        value = request_value(objective, acc)
        if total < objective.min_requests:
            value = None
        return WindowFigures(
            value, acc.good, total, 1.0 if total else None, request_value(objective, period),
            period.good, period.good + period.bad,
        )  # fmt: skip

    def period_value(
        self, objective: ObjectiveRule, closing: Closing, state: ObjectiveState
    ) -> float | None:
        period = state.period
        assert period is not None
        total = period.good + period.bad
        return request_value(objective, period) if total >= objective.min_requests else None

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

    def units(self, objective: ObjectiveRule, acc: WindowAcc) -> tuple[int, int]:
        return acc.bad, acc.good + acc.bad


ERROR_RATE = ErrorRate()
