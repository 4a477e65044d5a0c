"""What every SLI family provides (``engine.core.sli``), with the defaults most share."""

from __future__ import annotations

from typing import Any, NamedTuple

from engine.core import burn
from engine.core.closing import Closing
from engine.core.contract import ObjectiveRule
from engine.core.state import ObjectiveState, WindowAcc


class WindowFigures(NamedTuple):
    """What a closed window reports (the metric record's figures).  A named tuple: one is made
    per closed window, and a frozen dataclass costs several times as much to make."""

    value: float | None
    good: int | None
    total: int | None
    coverage: float | None
    period_value: float | None
    period_good: int | None
    period_total: int | None


class Family:
    """An SLI family.  Stateless: every method takes the objective and the closing."""

    #: the SLI names of the family (``engine.models.contract``)
    slis: tuple[str, ...] = ()

    def piece(
        self,
        objective: ObjectiveRule,
        closing: Closing,
        lo: int,
        hi: int,
        buckets: dict[int, WindowAcc] | None = None,
    ) -> WindowAcc:
        """The partial of ``[lo, hi)``; with ``buckets``, also split per 5-minute bucket
        (bucket end → accumulator) for the early warnings.  Default: nothing counted here
        (the family's partials live elsewhere)."""
        return WindowAcc(lo, hi)

    def window(
        self, objective: ObjectiveRule, closing: Closing, state: ObjectiveState, acc: WindowAcc
    ) -> WindowFigures:
        """The figures of the window ``acc`` that just closed (``state.period`` includes it)."""
        raise NotImplementedError

    def period_value(
        self, objective: ObjectiveRule, closing: Closing, state: ObjectiveState
    ) -> float | None:
        """The value of the period ``state.period`` as it closes."""
        raise NotImplementedError

    def judge(
        self,
        closing: Closing,
        objective: ObjectiveRule,
        state: ObjectiveState,
        acc: WindowAcc,
        figures: WindowFigures,
        compliant: bool | None,
    ) -> None:
        """The breach rule of the family, after a window closed."""

    def judge_period(
        self,
        closing: Closing,
        objective: ObjectiveRule,
        state: ObjectiveState,
        observed: float | None,
    ) -> None:
        """A breach known only when the period closes (default: none)."""

    def period_evidence(
        self, objective: ObjectiveRule, closing: Closing, period: WindowAcc
    ) -> dict[str, Any]:
        """The period counts behind a compensation, in the family's units."""
        return {"period_good": period.good, "period_bad": period.bad,
                "period_evaluated": period.evaluated}  # fmt: skip

    def units(self, objective: ObjectiveRule, acc: WindowAcc) -> tuple[int, int]:
        """(bad, total) units of the error budget (budgeted families only)."""
        raise NotImplementedError(f"{objective.sli} has no error budget")


def bucket_of(buckets: dict[int, WindowAcc], t: int) -> WindowAcc:
    """The 5-minute bucket accumulator holding ``t`` (made on first use)."""
    end = burn.bucket_end(t)
    found = buckets.get(end)
    if found is None:
        found = buckets[end] = WindowAcc(end - burn.BUCKET_MS, end)
    return found
