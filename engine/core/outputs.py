"""What a step or a closing returns: every output record kind, as lists, and the books."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.core.records import (
    OUTPUT_KINDS,
    BreachRecord,
    CompensationRecord,
    DeadLetterRecord,
    DiscrepancyRecord,
    LateRecord,
    MetricRecord,
    PeriodUsageRecord,
    ScorecardRecord,
    UsageRecord,
    WarningRecord,
)

#: the record lists of ``Outputs``, in the fixed order of ``engine.core.records.OUTPUT_KINDS``
OUTPUT_NAMES = tuple(kind.name for kind in OUTPUT_KINDS)


@dataclass
class Outputs:
    metrics: list[MetricRecord] = field(default_factory=list)
    breaches: list[BreachRecord] = field(default_factory=list)
    compensations: list[CompensationRecord] = field(default_factory=list)
    late: list[LateRecord] = field(default_factory=list)
    dead: list[DeadLetterRecord] = field(default_factory=list)
    usage: list[UsageRecord | PeriodUsageRecord] = field(default_factory=list)
    warnings: list[WarningRecord] = field(default_factory=list)
    scorecards: list[ScorecardRecord] = field(default_factory=list)
    discrepancies: list[DiscrepancyRecord] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    # contracts quarantined in this step → why (engine.core.closer.quarantine)
    quarantined: dict[str, str] = field(default_factory=dict)

    def extend(self, other: Outputs) -> None:
        for name in OUTPUT_NAMES:
            getattr(self, name).extend(getattr(other, name))
        self.quarantined.update(other.quarantined)
        for key, value in other.stats.items():
            self.stats[key] = self.stats.get(key, 0) + value

    def count(self, key: str, n: int) -> None:
        if n:
            self.stats[key] = self.stats.get(key, 0) + n
