"""Output records: metrics, breaches, compensations, late events, dead letters.

Each record has a deterministic id built from (contract, revision, objective, window or
period), so reprocessing the same input yields the same ids and billing can de-duplicate.
Instants are RFC 3339 strings in UTC (``...Z``); money is a decimal string.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metric(Output):
    """One objective's SLI over one closed evaluation window, with the period so far."""

    record: Literal["metric"] = "metric"
    metric_id: str
    contract_id: str
    contract_version: int
    objective_id: str
    sli: str
    unit: str = Field(description="percent, ms, count or hours")
    window_start: str
    window_end: str
    value: float | None = Field(description="The SLI over the window; null when not measurable.")
    good: int | None = Field(description="Good units: available minutes, up node-ms, ok requests…")
    total: int | None = Field(
        description="Units judged: evaluated minutes, known node-ms, requests…"
    )
    coverage: float | None = Field(description="Share of evaluated units that had data (0..1).")
    period_start: str
    period_end: str
    period_value: float | None
    period_good: int | None
    period_total: int | None
    compliant: bool | None = Field(
        description="Window value meets the objective; null if unjudged."
    )


class Breach(Output):
    record: Literal["breach"] = "breach"
    breach_id: str = Field(description="Same id on the opened and resolved record of one breach.")
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
    detected_at: str = Field(description="Event time at which the engine became certain.")
    priority: int | None = None
    evidence: dict[str, Any]


class Compensation(Output):
    record: Literal["compensation"] = "compensation"
    compensation_id: str = Field(description="One per contract, objective and period: pay once.")
    contract_id: str
    contract_version: int
    objective_id: str
    sli: str
    period_start: str
    period_end: str
    observed: float | None
    threshold: float
    tier: int | None = Field(
        description="Index of the tier applied (0 = first listed); null: none."
    )
    credit_percent: float
    credit_amount: str = Field(description="Decimal string in the contract currency.")
    currency: str
    extension_hours: float
    period_fee: str
    capped: bool
    evidence: dict[str, Any]


class LateEvent(Output):
    record: Literal["late"] = "late"
    origin: str
    contract_id: str
    event_id: str
    kind: str
    event_time: str
    watermark: str
    lateness_ms: int
    raw: str
    raw_base64: str | None = Field(
        default=None,
        description=(
            "Only when the line's bytes are not valid UTF-8: the exact bytes, standard base64 "
            "with padding (RFC 4648 §4).  Absent otherwise."
        ),
    )


class DiscrepancyMeasured(Output):
    sources: list[str] = Field(description="Whose probes the objective counts.")
    unavailable_minutes: int
    available_minutes: int


class DiscrepancyReported(Output):
    down_minutes: float = Field(description="Minutes of the window a report says down.")
    nodes_down: list[str]
    incidents: list[str]


class Discrepancy(Output):
    """A closed probe-availability window where the probes and the reports disagree (§6.2.6):
    ``platform_down_unreported`` (probes saw unavailable minutes, no node-down or incident
    report overlaps) or ``reported_down_platform_up`` (a report says down, every judged minute
    was available). Evidence only: it changes no number."""

    record: Literal["discrepancy"] = "discrepancy"
    discrepancy_id: str
    contract_id: str
    contract_version: int
    objective_id: str
    sli: str
    kind: Literal["platform_down_unreported", "reported_down_platform_up"]
    window_start: str
    window_end: str
    measured: DiscrepancyMeasured
    reported: DiscrepancyReported


class DeadLetter(Output):
    """A line or message that is not a valid event, with its reason and origin."""

    record: Literal["deadletter"] = "deadletter"
    origin: str = Field(description="topic[partition]@offset or file:line")
    error: str
    raw: str = Field(
        description=(
            "The line as text.  When its bytes are not valid UTF-8, a lossy rendering (U+FFFD "
            "for each invalid sequence) and raw_base64 holds the exact bytes."
        )
    )
    raw_base64: str | None = Field(
        default=None,
        description=(
            "Only when the line's bytes are not valid UTF-8: the exact bytes, standard base64 "
            "with padding (RFC 4648 §4).  Absent otherwise."
        ),
    )


class Usage(Output):
    """Annex B usage figures of one contract, tenant and project over one local hour."""

    record: Literal["usage"] = "usage"
    usage_id: str
    contract_id: str
    tenant_id: str = Field(description='"-" when the events carried none.')
    project_id: str
    window_start: str
    window_end: str
    calls: int
    calls_per_minute_max: int
    calls_per_minute_min: int = Field(description="0 unless every minute of the hour had calls.")
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


class BudgetWarning(Output):
    """An early warning (multi-window multi-burn-rate): the error budget burns too fast."""

    record: Literal["warning"] = "warning"
    warning_id: str = Field(description="Same id on the fired and cleared record of one warning.")
    status: Literal["fired", "cleared"]
    contract_id: str
    contract_version: int
    objective_id: str
    sli: str
    severity: Literal["page", "ticket"]
    threshold_factor: float = Field(description="The burn rate at or above which the rule fires.")
    long_window: str
    short_window: str
    burn_rate_long: float | None = Field(description="(bad / units over the window) / budget.")
    burn_rate_short: float | None
    budget_remaining: float | None = Field(
        description="Share of the period's error budget still unspent (negative: overspent)."
    )
    period_start: str
    period_end: str
    detected_at: str = Field(description="Event time of the 5-minute bucket end it was decided.")


class OwnerUsage(BaseModel):
    tenant_id: str = Field(description='"-" when the events named none.')
    project_id: str
    node_hours: str
    requests: int
    tokens: int
    quantity: str = Field(description="In the contract's metering unit.")
    amount: str | None = Field(description="quantity × unit price; null with a fixed fee.")


class PeriodUsage(Output):
    """Metering of one assessment period (§6.1.7), in all and per tenant and project.

    A period with many tenants/projects is split into ``parts`` records of at most 1,000
    owners each (no record outgrows a Kafka message): part 1 carries the period's totals and
    fee, parts 2.. zero totals and more owners, so a sum over all parts is the period's usage.
    """

    record: Literal["period_usage"] = "period_usage"
    usage_id: str = Field(
        description="Part 1: usage:<contract>:<period start>:r<revision>; "
        "part k > 1: the same with :p<k>."
    )
    contract_id: str
    contract_version: int
    period_start: str
    period_end: str
    unit: str
    unit_price: str
    currency: str
    node_hours: str = Field(description="Node up time (decimal hours).")
    card_hours: str = Field(description="node_hours × cards_per_node.")
    core_hours: str = Field(description="node_hours × cores_per_node.")
    requests: int
    tokens: int
    quantity: str = Field(description="Billed quantity in the contract's unit.")
    fee: str = Field(description="The period fee compensation credits are a percent of.")
    fee_rule: str
    part: int = Field(ge=1, description="1..parts; totals and fee are in part 1, zero in others.")
    parts: int = Field(ge=1, description="Records of this period (owners split in order).")
    by_owner: list[OwnerUsage] = Field(description="This part's owners, sorted by tenant/project.")


class ScoreMetric(BaseModel):
    key: str
    name: str
    weight: float
    value: Any
    unit: str | None = None
    source: Literal["measured", "attested", "missing", "not_applicable"]
    score: float | None
    input: Any = None


class ScoreLevel(BaseModel):
    key: str
    name: str
    weight: float
    score: float | None
    metrics: list[ScoreMetric]


class Scorecard(Output):
    """Table A.2 scorecard and §7 grade of a contract (or a provider) for one period."""

    record: Literal["scorecard"] = "scorecard"
    scorecard_id: str
    scope: Literal["contract", "provider"]
    provider_id: str
    contract_id: str | None
    contract_version: int | None
    period_start: str
    period_end: str
    total_score: float
    grade: int = Field(ge=1, le=5)
    grade_by_score: int = Field(ge=1, le=5)
    caps: list[dict[str, Any]] = Field(description="§7 hard requirements that capped the grade.")
    levels: list[ScoreLevel]


OUTPUT_MODELS: dict[str, type[Output]] = {
    "metric": Metric,
    "breach": Breach,
    "compensation": Compensation,
    "late": LateEvent,
    "deadletter": DeadLetter,
    "usage": Usage,
    "period_usage": PeriodUsage,
    "warning": BudgetWarning,
    "scorecard": Scorecard,
    "discrepancy": Discrepancy,
}
