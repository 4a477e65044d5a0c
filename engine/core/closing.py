"""What a closing works on: one contract's range ``[A, B)`` of event time, the minute data
aggregated for it, what it emits, and the arithmetic of availability values.

Shared by the stages of a closing (``evaluate`` walks the windows, ``window_close`` judges a
window, ``breaches``, ``early_warnings``, ``period_close``).  Pure: no I/O, no clock.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from engine.core import burn
from engine.core import intervals as iv
from engine.core.calendar import period_containing, utc_iso
from engine.core.contract import Contract, ObjectiveRule, Ruleset
from engine.core.records import (
    BreachRecord,
    CompensationRecord,
    DiscrepancyRecord,
    MetricRecord,
    PeriodUsageRecord,
    ScorecardRecord,
    WarningRecord,
)
from engine.core.reliability import node_piece
from engine.core.state import ContractState, WindowAcc

MINUTE_MS = 60_000


# the scorecard's name of a latency objective's period value, by the events it reads
MEASURE_KEYS = {
    ("latency", "network"): "network_latency",
    ("latency", "storage_io"): "storage_latency",
}


# reliability SLIs that can only get worse as the period goes on: breach as soon as they fail
# the failure-interval SLIs (Table A.1 service reliability)
RELIABILITY = ("mttr", "mtbf", "failure_count", "max_recovery", "stability_interruptions",
               "stability_recovery")  # fmt: skip


MONOTONE_RELIABILITY = (
    "failure_count", "max_recovery", "stability_interruptions", "stability_recovery"
)  # fmt: skip


@dataclass
class Emitted:
    metrics: list[MetricRecord] = field(default_factory=list)
    breaches: list[BreachRecord] = field(default_factory=list)
    compensations: list[CompensationRecord] = field(default_factory=list)
    warnings: list[WarningRecord] = field(default_factory=list)
    usage: list[PeriodUsageRecord] = field(default_factory=list)  # period usage (§6.1.7)
    scorecards: list[ScorecardRecord] = field(default_factory=list)  # Table A.2, §7
    discrepancies: list[DiscrepancyRecord] = field(default_factory=list)  # §6.2.6 evidence

    def lengths(self) -> tuple[int, ...]:
        return tuple(len(getattr(self, name)) for name in _EMITTED)

    def truncate(self, lengths: tuple[int, ...]) -> None:
        """Forget what was emitted after :meth:`lengths` (a contract whose closing raised)."""
        for name, n in zip(_EMITTED, lengths, strict=True):
            del getattr(self, name)[n:]


_EMITTED = (
    "metrics", "breaches", "compensations", "warnings", "usage", "scorecards", "discrepancies"
)  # fmt: skip


@dataclass
class MinuteData:
    """The closing events of one contract, aggregated per minute (sorted by minute)."""

    probes: list[tuple[int, int, int]] = field(default_factory=list)  # minute, n, ok
    requests: list[tuple[int, int, int, int]] = field(default_factory=list)  # minute, n, ok, tokens
    control: list[dict[str, Any]] = field(default_factory=list)  # rows in event-time order
    # (objective_id, window_start) -> (value, count) of latency windows closed in this range
    latency_windows: dict[tuple[str, int], tuple[float | None, int]] = field(default_factory=dict)
    # (objective_id, period_start) -> (value, count) of latency periods closed in this range
    latency_periods: dict[tuple[str, int], tuple[float | None, int]] = field(default_factory=dict)
    # the same for gauge objectives (``engine.core.gauges``)
    gauge_windows: dict[tuple[str, int], tuple[float | None, int]] = field(default_factory=dict)
    gauge_periods: dict[tuple[str, int], tuple[float | None, int]] = field(default_factory=dict)
    # probes of the resources an availability objective selects: objective_id -> rows
    probes_for: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    # requests per minute and owner: minute, "tenant\x1fproject", n, tokens (sorted by minute)
    requests_by_owner: list[tuple[int, str, int, int]] = field(default_factory=list)


def minutes_in(rows: list[tuple[Any, ...]], lo: int, hi: int) -> list[tuple[Any, ...]]:
    """The rows (tuples sorted by minute, their first field) with lo <= minute < hi.  A
    one-field tuple sorts before every row of its minute, so tuples are compared as they are,
    in C, without a key function."""
    start = bisect.bisect_left(rows, (lo,))
    return rows[start : bisect.bisect_left(rows, (hi,), lo=start)]


def first_field(row: Any) -> int:
    return int(row[0])


def availability_counts(objective: ObjectiveRule, acc: WindowAcc) -> tuple[int, int]:
    """(good, total): the numerator and denominator of availability, per the no-data rule."""
    known = acc.good + acc.bad
    if objective.sli == "node_availability" or objective.no_data == "unknown":
        return acc.good, known
    unknown = max(acc.evaluated - known, 0)
    if objective.no_data == "available":
        return acc.good + unknown, acc.evaluated
    return acc.good, acc.evaluated


def availability_value(
    objective: ObjectiveRule, acc: WindowAcc
) -> tuple[float | None, float | None]:
    """(value %, coverage) of an availability accumulator: value = 100 × good / total."""
    good, total = availability_counts(objective, acc)
    value = 100.0 * good / total if total else None
    if objective.sli == "node_availability":
        return value, (1.0 if total else None)
    known = acc.good + acc.bad
    return value, (known / acc.evaluated if acc.evaluated else None)


def record_id(contract: Contract, objective: ObjectiveRule, start: int) -> str:
    return f"{contract.id}:{objective.id}:{utc_iso(start)}:r{contract.revision}"


def request_value(objective: ObjectiveRule, acc: WindowAcc) -> float | None:
    total = acc.good + acc.bad
    return 100.0 * acc.bad / total if total else None


@dataclass
class Closing:
    cs: ContractState
    contract: Contract
    data: MinuteData
    segments: dict[str, list[tuple[int, int, str]]]
    out: Emitted
    up_base_ms: int = 0  # period node up-time before ``piece_start``
    piece_start: int = 0
    piece_end: int = 0
    evaluated: list[iv.Interval] = field(default_factory=list)  # of [piece_start, piece_end)
    owed: list[iv.Interval] = field(default_factory=list)  # piece time ignoring exemptions
    owed_after_ms: int = 0  # that time from piece_end to the period's end
    _burn_rules: tuple[int, tuple[burn.BurnRule, ...], int] | None = None

    def burn_rules(self) -> tuple[tuple[burn.BurnRule, ...], int]:
        """The warning rules scaled to the current period, and how many buckets to keep: the
        longest window and a little more for a longer next period (31 vs 30 days)."""
        cs, contract = self.cs, self.contract
        assert cs.period_start_ms is not None and cs.period_end_ms is not None
        period_ms = cs.period_end_ms - cs.period_start_ms
        if self._burn_rules is None or self._burn_rules[0] != period_ms:
            rules = burn.scaled(contract.warning_rules, period_ms, contract.warning_scale)
            keep = max(rule.long_ms for rule in rules) * 32 // 30 // burn.BUCKET_MS + 1
            self._burn_rules = (period_ms, rules, keep)
        return self._burn_rules[1], self._burn_rules[2]

    def operating_ms(self, until: int) -> int:
        """Node up-time of the current period up to ``until`` (MTBF's operating time)."""
        up, _ = node_piece(self.segments, [(self.piece_start, until)], degraded_is_down=False)
        return self.up_base_ms + up


def revision_of(ruleset: Ruleset, cid: str, cs: ContractState) -> Contract:
    contract = ruleset.at(cid, cs.closed_until_ms or 0) or ruleset.latest(cid)
    assert contract is not None
    return contract


def period_end_of(contract: Contract, t: int) -> int:
    """End of the period holding ``t`` (the term's last period ends with the term)."""
    return min(period_containing(contract.period, t)[1], contract.term_end_ms)
