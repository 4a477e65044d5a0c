"""What the engine outputs: every output kind with its file and topic, and its records' fields.

``OUTPUT_KINDS`` is the one map of an output kind to its name on ``Outputs``, its ``record``
values, its file in a replay output directory and its Kafka topic; every adapter reads it from
here. The ``TypedDict`` classes spell the fields of each record as the core builds it (plain
dicts: no cost at run time); the pydantic models in ``engine.models.outputs`` stay the schema
source (``schemas/output.*.v1.schema.json``), and a test holds the two key for key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, NotRequired, TypedDict


@dataclass(frozen=True, slots=True)
class OutputKind:
    """One output of the core and where it goes.

    ``name`` is the attribute on ``engine.core.pipeline.Outputs``; it is also the ``kind`` of
    the file in a replay manifest and the ``kind`` label of ``csla_outputs_total`` on a
    worker's ``/metrics`` (``dead`` for dead letters: the series scraped today). Everything
    a reader outside the engine sees says ``deadletter``: the ``record`` value, the file, the
    topic and its setting (``CSLA_TOPIC_DEADLETTER``).
    """

    name: str
    #: the ``record`` values of its records, the main one first (``usage`` also carries the
    #: ``period_usage`` records of metering, §6.1.7)
    records: tuple[str, ...]
    #: its file in a replay output directory
    file: str
    #: its topic unless ``setting`` says otherwise
    topic: str
    #: the field of ``engine.settings.Topics`` (env ``CSLA_TOPIC_<SETTING>``) naming its topic
    setting: str

    @property
    def record(self) -> str:
        """The ``record`` value of its (main) records."""
        return self.records[0]


def _kind(name: str, *records: str, stem: str | None = None) -> OutputKind:
    stem = stem or name
    return OutputKind(name, records, f"{stem}.jsonl", f"csla.{stem}", stem)


METRICS = _kind("metrics", "metric")
BREACHES = _kind("breaches", "breach")
COMPENSATIONS = _kind("compensations", "compensation")
LATE = _kind("late", "late")
DEAD = _kind("dead", "deadletter", stem="deadletter")
USAGE = _kind("usage", "usage", "period_usage")
WARNINGS = _kind("warnings", "warning")
SCORECARDS = _kind("scorecards", "scorecard")
DISCREPANCIES = _kind("discrepancies", "discrepancy")

#: Every output kind, in the order the files are written and the records published (the
#: outputs are byte-identical across runs because this order is fixed).
OUTPUT_KINDS: tuple[OutputKind, ...] = (
    METRICS, BREACHES, COMPENSATIONS, LATE, DEAD, USAGE, WARNINGS, SCORECARDS, DISCREPANCIES,
)  # fmt: skip
#: output kind name → its ``OutputKind``
OUTPUT_KIND: Mapping[str, OutputKind] = MappingProxyType({k.name: k for k in OUTPUT_KINDS})


# --- records (engine.models.outputs, field for field) ------------------------------------------
class MetricRecord(TypedDict):
    """``record: metric``: one objective's SLI over one closed window, with the period so far."""

    record: Literal["metric"]
    metric_id: str
    contract_id: str
    contract_version: int
    objective_id: str
    sli: str
    unit: str
    window_start: str
    window_end: str
    value: float | None
    good: int | None
    total: int | None
    coverage: float | None
    period_start: str
    period_end: str
    period_value: float | None
    period_good: int | None
    period_total: int | None
    compliant: bool | None


class BreachRecord(TypedDict):
    record: Literal["breach"]
    breach_id: str
    status: Literal["opened", "resolved"]
    contract_id: str
    contract_version: int
    objective_id: str
    sli: str
    comparator: str
    threshold: float
    observed: float | None
    window_start: str
    window_end: str
    detected_at: str
    priority: int | None
    evidence: dict[str, Any]


class CompensationRecord(TypedDict):
    record: Literal["compensation"]
    compensation_id: str
    contract_id: str
    contract_version: int
    objective_id: str
    sli: str
    period_start: str
    period_end: str
    observed: float | None
    threshold: float
    tier: int | None
    credit_percent: float
    credit_amount: str
    currency: str
    extension_hours: float
    period_fee: str
    capped: bool
    evidence: dict[str, Any]


class LateRecord(TypedDict):
    record: Literal["late"]
    origin: str
    contract_id: str
    event_id: str
    kind: str
    event_time: str
    watermark: str
    lateness_ms: int
    raw: str
    raw_base64: NotRequired[str]


class RawFields(TypedDict):
    """The bytes of a line in a dead letter or late record (``engine.core.decode.raw_fields``)."""

    raw: str
    raw_base64: NotRequired[str]


class DeadLetterRecord(TypedDict):
    """``record: deadletter``; ``raw_base64`` only when the bytes are not valid UTF-8."""

    record: Literal["deadletter"]
    origin: str
    error: str
    raw: str
    raw_base64: NotRequired[str]


class UsageRecord(TypedDict):
    """``record: usage``: Annex B usage of one contract, tenant and project over a local hour."""

    record: Literal["usage"]
    usage_id: str
    contract_id: str
    tenant_id: str
    project_id: str
    window_start: str
    window_end: str
    calls: int
    calls_per_minute_max: int
    calls_per_minute_min: int
    calls_per_minute_mean: float
    errors: int
    tokens_in: int
    tokens_out: int
    tokens_per_request: float | None
    cpu_mean: float | None
    cpu_max: float | None
    gpu_mean: float | None
    gpu_max: float | None
    memory_mean: float | None
    memory_max: float | None
    storage_mean: float | None
    storage_max: float | None
    bandwidth_mean: float | None
    bandwidth_max: float | None


class OwnerUsagePart(TypedDict):
    tenant_id: str
    project_id: str
    node_hours: str
    requests: int
    tokens: int
    quantity: str
    amount: str | None


class PeriodUsageRecord(TypedDict):
    """``record: period_usage``: metering of one period (§6.1.7), in the ``usage`` output."""

    record: Literal["period_usage"]
    usage_id: str
    contract_id: str
    contract_version: int
    period_start: str
    period_end: str
    unit: str
    unit_price: str
    currency: str
    node_hours: str
    card_hours: str
    core_hours: str
    requests: int
    tokens: int
    quantity: str
    fee: str
    fee_rule: str
    part: int
    parts: int
    by_owner: list[OwnerUsagePart]


class WarningRecord(TypedDict):
    """``record: warning``: a burn-rate warning fired or cleared."""

    record: Literal["warning"]
    warning_id: str
    status: Literal["fired", "cleared"]
    contract_id: str
    contract_version: int
    objective_id: str
    sli: str
    severity: Literal["page", "ticket"]
    threshold_factor: float
    long_window: str
    short_window: str
    burn_rate_long: float | None
    burn_rate_short: float | None
    budget_remaining: float | None
    period_start: str
    period_end: str
    detected_at: str


class ScoreMetricPart(TypedDict):
    key: str
    name: str
    weight: float
    value: Any
    unit: str | None
    source: Literal["measured", "attested", "missing", "not_applicable"]
    score: float | None
    input: Any


class ScoreLevelPart(TypedDict):
    key: str
    name: str
    weight: float
    score: float | None
    metrics: list[ScoreMetricPart]


class ScorecardRecord(TypedDict):
    """``record: scorecard``: Table A.2 scorecard and §7 grade of a contract or a provider."""

    record: Literal["scorecard"]
    scorecard_id: str
    scope: Literal["contract", "provider"]
    provider_id: str
    contract_id: str | None
    contract_version: int | None
    period_start: str
    period_end: str
    total_score: float
    grade: int
    grade_by_score: int
    caps: list[dict[str, Any]]
    levels: list[ScoreLevelPart]


class DiscrepancyMeasuredPart(TypedDict):
    sources: list[str]
    unavailable_minutes: int
    available_minutes: int


class DiscrepancyReportedPart(TypedDict):
    down_minutes: float
    nodes_down: list[str]
    incidents: list[str]


class DiscrepancyRecord(TypedDict):
    """``record: discrepancy``: a window where probes and reports disagree (§6.2.6)."""

    record: Literal["discrepancy"]
    discrepancy_id: str
    contract_id: str
    contract_version: int
    objective_id: str
    sli: str
    kind: Literal["platform_down_unreported", "reported_down_platform_up"]
    window_start: str
    window_end: str
    measured: DiscrepancyMeasuredPart
    reported: DiscrepancyReportedPart


#: ``record`` value → its TypedDict (the keys of ``engine.models.outputs.OUTPUT_MODELS``)
RECORD_TYPES: Mapping[str, type] = MappingProxyType(
    {
        "metric": MetricRecord,
        "breach": BreachRecord,
        "compensation": CompensationRecord,
        "late": LateRecord,
        "deadletter": DeadLetterRecord,
        "usage": UsageRecord,
        "period_usage": PeriodUsageRecord,
        "warning": WarningRecord,
        "scorecard": ScorecardRecord,
        "discrepancy": DiscrepancyRecord,
    }
)
