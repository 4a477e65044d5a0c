"""Probe availability (service, storage and network availability, §6.1.10 and Table A.1): the
platform's probes per minute; a minute is unavailable when its share of successful probes is
below the objective's ``unavailable_below``.  Units: evaluated minutes."""

from __future__ import annotations

from engine.core import intervals as iv
from engine.core.breaches import availability_breach
from engine.core.closing import (
    MINUTE_MS,
    Closing,
    availability_counts,
    availability_value,
    minutes_in,
)
from engine.core.contract import ObjectiveRule
from engine.core.discrepancy import window_discrepancy
from engine.core.sli.base import Family, WindowFigures, bucket_of
from engine.core.state import ObjectiveState, WindowAcc
from engine.models.contract import PROBE_AVAILABILITY


class Availability(Family):
    """What probe and node availability share: value = 100 × good / total under the
    objective's no-data rule, a period breach once the period cannot meet it."""

    def window(
        self, objective: ObjectiveRule, closing: Closing, state: ObjectiveState, acc: WindowAcc
    ) -> WindowFigures:
        period = state.period
        assert period is not None
        value, coverage = availability_value(objective, acc)
        period_value, _ = availability_value(objective, period)
        good, total = availability_counts(objective, acc)
        period_good, period_total = availability_counts(objective, period)
        return WindowFigures(value, good, total, coverage, period_value, period_good, period_total)

    def period_value(
        self, objective: ObjectiveRule, closing: Closing, state: ObjectiveState
    ) -> float | None:
        assert state.period is not None
        return availability_value(objective, state.period)[0]

    def judge(
        self,
        closing: Closing,
        objective: ObjectiveRule,
        state: ObjectiveState,
        acc: WindowAcc,
        figures: WindowFigures,
        compliant: bool | None,
    ) -> None:
        availability_breach(closing, objective, state, acc)

    def units(self, objective: ObjectiveRule, acc: WindowAcc) -> tuple[int, int]:
        good, total = availability_counts(objective, acc)
        return total - good, total


class ProbeAvailability(Availability):
    slis = PROBE_AVAILABILITY

    def piece(
        self,
        objective: ObjectiveRule,
        closing: Closing,
        lo: int,
        hi: int,
        buckets: dict[int, WindowAcc] | None = None,
    ) -> WindowAcc:
        acc = WindowAcc(lo, hi)
        data = closing.data
        evaluated = iv.clip(closing.evaluated, lo, hi)
        acc.evaluated = iv.total(evaluated) // MINUTE_MS
        if buckets is not None and objective.no_data != "unknown":
            for start, end in evaluated:
                # the minutes start, start + 1 min, … before end, counted per bucket
                t = start
                while t < end:
                    part = bucket_of(buckets, t)
                    upto = min(part.end, end)
                    part.evaluated += -((start - upto) // MINUTE_MS) + ((start - t) // MINUTE_MS)
                    t = part.end
        probes = data.probes_for.get(objective.id, data.probes)
        for minute, n, ok in minutes_in(probes, lo, hi):
            if iv.contains(evaluated, minute):
                if ok * 100 < objective.unavailable_below * n:
                    acc.bad += 1
                    if buckets is not None:
                        bucket_of(buckets, minute).bad += 1
                else:
                    acc.good += 1
                    if buckets is not None:
                        bucket_of(buckets, minute).good += 1
        return acc

    def judge(
        self,
        closing: Closing,
        objective: ObjectiveRule,
        state: ObjectiveState,
        acc: WindowAcc,
        figures: WindowFigures,
        compliant: bool | None,
    ) -> None:
        super().judge(closing, objective, state, acc, figures, compliant)
        # where the provider's own reports disagree with the platform's probes (§6.2.6)
        if found := window_discrepancy(closing.contract, objective, closing.cs, acc):
            closing.out.discrepancies.append(found)


PROBE_AVAILABILITY_FAMILY = ProbeAvailability()
