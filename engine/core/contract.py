"""The compiled, frozen contract the core evaluates (built by ``engine.ruleset.compile``).

A rule file (``engine.models.contract.RuleFile``) is the spec; this is the model: instants in
epoch milliseconds, durations in milliseconds, the calendar compiled, objectives typed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from decimal import Decimal

from engine.core.burn import BurnRule
from engine.core.calendar import PeriodSpec, ServiceCalendar
from engine.core.gauges import GAUGES
from engine.models.assessment import Scoring
from engine.models.contract import Comparator, Metering, RuleFile, SliKind, Tier

SOURCES = ("platform", "provider", "customer")
MEASURED_KINDS = frozenset({"probe", "request", "network", "storage_io", "utilization"})
"""Measurements: a stream of samples, by default counted from the platform only (§6.1.3: the
platform monitors; §8.4 c). The other kinds are reports (node_state, incident, maintenance,
energy, provisioning, scaling), by default counted from the platform and the provider."""
EVENT_KINDS = (
    "probe", "request", "node_state", "utilization", "network", "storage_io", "incident",
    "maintenance", "energy", "provisioning", "scaling",
)  # fmt: skip


def default_sources(kind: str) -> frozenset[str]:
    """Who may report events of ``kind`` unless the contract says otherwise (README)."""
    return frozenset({"platform"} if kind in MEASURED_KINDS else {"platform", "provider"})


def objective_kind(sli: str, latency_source: str) -> str:
    """The event kind an objective of ``sli`` reads."""
    if sli in ("service_availability", "storage_availability", "network_availability"):
        return "probe"
    if sli == "latency":
        return latency_source
    if sli == "error_rate":
        return "request"
    if sli in GAUGES:
        return GAUGES[sli].kind
    return "node_state"  # node availability and the failure-interval SLIs


@dataclass(frozen=True, slots=True)
class ObjectiveRule:
    id: str
    sli: SliKind
    comparator: Comparator
    threshold: float
    window_ms: int
    percentile: float | None
    source: str
    unavailable_below: float
    no_data: str
    degraded_is_down: bool
    min_requests: int
    tiers: tuple[Tier, ...]
    resources: tuple[str, ...] | None = None  # probe-availability: resource_id globs
    statistic: str | None = None  # gauges: mean / max / min / sum / ratio
    field: str | None = None  # pool_utilization / concurrency: the field read
    param: float = 0.0  # network_congestion: loss ratio; renewable_ratio: a
    successful_only: bool = False  # latency: only ok samples (``requests: successful``)

    def meets(self, value: float) -> bool:
        """Whether ``value`` satisfies ``comparator threshold``."""
        match self.comparator:
            case ">=":
                return value >= self.threshold
            case ">":
                return value > self.threshold
            case "<=":
                return value <= self.threshold
            case "<":
                return value < self.threshold
        raise AssertionError(self.comparator)

    @property
    def higher_is_better(self) -> bool:
        return self.comparator in (">=", ">")

    @property
    def unit(self) -> str:
        return SLI_UNITS[self.sli]


SLI_UNITS: dict[str, str] = {
    "service_availability": "percent",
    "storage_availability": "percent",
    "network_availability": "percent",
    "node_availability": "percent",
    "latency": "ms",
    "error_rate": "percent",
    "mttr": "minutes",
    "mtbf": "hours",
    "failure_count": "count",
    "max_recovery": "minutes",
    "stability_interruptions": "count",
    "stability_recovery": "minutes",
    **{sli: g.unit for sli, g in GAUGES.items()},
}


@dataclass(frozen=True, slots=True)
class Contract:
    id: str
    revision: int
    effective_from_ms: int
    term_start_ms: int
    term_end_ms: int
    calendar: ServiceCalendar
    period: PeriodSpec
    grace_ms: int
    objectives: tuple[ObjectiveRule, ...]
    maintenance_notice_ms: int
    maintenance_sources: frozenset[str]
    force_majeure: tuple[tuple[int, int, str], ...]
    metering: Metering
    cap_percent: Decimal
    spec: RuleFile = field(repr=False, compare=False)
    source: str = ""
    warning_rules: tuple[BurnRule, ...] = ()  # unscaled; empty: early warnings off
    warning_scale: bool = True
    scoring: Scoring | None = field(default=None, repr=False, compare=False)  # merged Table A.2
    provider_id: str = ""
    # event kind → the sources whose events of that kind count (§6.1.3, §8.4 c)
    counting: dict[str, frozenset[str]] = field(default_factory=dict, compare=False)
    max_skew_ms: int = 120_000
    source_idle_ms: int = 600_000
    # the event kinds that move a source's progress (engine.core.watermark)
    progress_kinds: frozenset[str] = frozenset(EVENT_KINDS)

    def counts(self, kind: str, source: str) -> bool:
        """Whether ``source``'s events of ``kind`` count for this contract."""
        return source in self.counting.get(kind, default_sources(kind))

    def counts_any(self, source: str) -> bool:
        """Whether some kind of ``source``'s events counts for this contract."""
        return any(self.counts(kind, source) for kind in EVENT_KINDS)

    @property
    def tz(self) -> str:
        return self.calendar.tz


@dataclass(frozen=True, slots=True)
class Ruleset:
    """All revisions of all contracts, each contract's revisions ordered by ``effective_from``."""

    revisions: dict[str, tuple[Contract, ...]]
    # the platform's Table A.2 scoring (provider scorecards); None: the packaged defaults
    scoring: Scoring | None = field(default=None, compare=False)

    def at(self, contract_id: str, t_ms: int) -> Contract | None:
        """The revision of ``contract_id`` in force at ``t_ms`` (None before the first one)."""
        revisions = self.revisions.get(contract_id)
        if not revisions:
            return None
        starts = [r.effective_from_ms for r in revisions]
        index = bisect.bisect_right(starts, t_ms) - 1
        return revisions[index] if index >= 0 else None

    def latest(self, contract_id: str) -> Contract | None:
        revisions = self.revisions.get(contract_id)
        return revisions[-1] if revisions else None

    @property
    def contract_ids(self) -> list[str]:
        return sorted(self.revisions)

    def __contains__(self, contract_id: object) -> bool:
        return contract_id in self.revisions
