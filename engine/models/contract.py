"""Rule files, spec ``csla/v1``: a contract written to the CSLA standard, machine-readable.

Every required element of §6.1 and the optional ones of §6.2 is a typed field, so a rule file
*is* the CSLA.  The operative parts for the engine are ``service_time`` (§6.1.6), ``term``
(§6.1.5), ``metering`` (§6.1.7), ``objectives`` (§6.1.8, Annex A), ``exemptions`` (§6.1.13) and
``compensation`` (§6.1.16).  ``engine.ruleset`` loads these files with line numbers and compiles
them into the frozen runtime model the core uses.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.models.assessment import Attested, ScoringOverride

SPEC_VERSION = "csla/v1"
Ident = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
HHMM = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")]
#: At most 12 digits before the point and 6 after (18 in all): a product of money and a
#: quantity, rounded to its minor units, then stays exact in Decimal's 28 digits.
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=6, description="Money: 0 to 999,999,999,999.999999."),
]
Percent = Annotated[float, Field(ge=0.0, le=100.0)]
#: Hours of a leap year: the bound of notice and extension hours.
YEAR_HOURS = 8784
#: Bound of any threshold or tier bound (SLI values are never negative).
MAX_SLI_VALUE = 1e12
SliValue = Annotated[float, Field(ge=0, le=MAX_SLI_VALUE, allow_inf_nan=False)]
Source = Literal["platform", "provider", "customer"]
"""Who sent an event (the wire format's ``source``); §6.1.3: the platform monitors."""
_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
#: The longest duration a rule file may write: ten years of 366 days.
MAX_DURATION_MS = 3660 * 86_400_000


def duration_ms(text: str) -> int:
    """``"90s"``, ``"5m"``, ``"1h"``, ``"30d"`` → milliseconds (at most ``MAX_DURATION_MS``).

    Remembered per text (a rule file's validators and compile ask about 35 times, for the
    same few texts); a text it refuses is not kept."""
    known = _DURATIONS.get(text)
    if known is not None:
        return known
    ms = _duration_ms(text)
    if len(_DURATIONS) >= _DURATIONS_KEPT:
        _DURATIONS.clear()
    _DURATIONS[text] = ms
    return ms


_DURATIONS: dict[str, int] = {}
_DURATIONS_KEPT = 1024


def _duration_ms(text: str) -> int:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 1h or 7d")
    digits = match.group(1)
    ms = int(digits) * _UNIT_MS[match.group(2)] if len(digits) <= 15 else MAX_DURATION_MS + 1
    if ms > MAX_DURATION_MS:
        raise ValueError(f"duration {text[:20]!r} is longer than 3660d (ten years)")
    return ms


def _plausible(value: date, name: str = "date") -> None:
    """Dates and instants of a rule file lie in 1970..9998: date arithmetic (a day later, a
    period's end) near year 1 or 9999 overflows."""
    day = value.date() if isinstance(value, datetime) else value
    if not date(1970, 1, 2) <= day <= date(9998, 12, 31):
        raise ValueError(f"{name} {value.isoformat()} is not between 1970-01-02 and 9998-12-31")


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- §6.1.1–6.1.3 parties ---------------------------------------------------------------------
class Contact(Spec):
    name: str
    role: str | None = None
    duties: str | None = None
    location: str | None = None
    phone: str | None = None
    email: str | None = None


class Organisation(Spec):
    kind: Literal["organisation"] = "organisation"
    name: str
    department: str | None = None
    contacts: list[Contact] = Field(default_factory=list)


class Individual(Spec):
    kind: Literal["individual"]
    name: str
    contact: str
    address: str | None = None
    id_proof: str | None = Field(default=None, description="Reference to an ID document.")


class Platform(Spec):
    name: str
    functions: list[
        Literal[
            "compute_id_lookup",
            "runtime_monitoring",
            "scheduling",
            "identity",
            "resource_service",
            "trade_settlement",
        ]
    ] = Field(default_factory=list)


class Provider(Organisation):
    id: Ident = Field(
        description="The provider's identifier: every event of this contract must carry it as "
        "provider_id (a mismatch is a dead letter)."
    )


class Parties(Spec):
    customer: Annotated[Organisation | Individual, Field(discriminator="kind")]
    provider: Provider
    platform: Platform | None = None


# --- §6.1.4 service content, §6.1.5 term, §6.1.6 service time ---------------------------------
class ExtraServices(Spec):
    deployment: list[str] = Field(default_factory=list)
    operation: list[str] = Field(default_factory=list)
    exit: list[str] = Field(default_factory=list)


class ServiceContent(Spec):
    category: str
    mode: str | None = None
    functions: list[str] = Field(default_factory=list)
    delivery: str | None = None
    scenario: Literal["training", "inference", "storage", "general"] = "general"
    extra_services: ExtraServices = Field(default_factory=ExtraServices)


class Term(Spec):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> Term:
        _plausible(self.start, "start")
        _plausible(self.end, "end")
        if self.end <= self.start:
            raise ValueError("term.end must be after term.start")
        return self


class HoursRange(Spec):
    start: HHMM
    end: HHMM


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ServiceTime(Spec):
    """§6.1.6: the window in which service is owed."""

    preset: Literal["7x24", "7x12", "5x8", "custom"]
    timezone: str = "Asia/Shanghai"
    hours: HoursRange | None = Field(
        default=None, description="Daily range for 7x12 (default 08:00-20:00) or 5x8 (09:00-17:00)."
    )
    weekly: (
        dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], list[HoursRange]] | None
    ) = Field(default=None, description="Only with preset: custom.")
    holidays: list[date] = Field(default_factory=list, description="Local dates owed no service.")
    extra_workdays: list[date] = Field(
        default_factory=list, description="Weekend dates worked as Mondays (make-up workdays)."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long
            shown = repr(value) if len(value) <= 60 else repr(value[:57] + "...")
            raise ValueError(f"{shown} is not an IANA time zone (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("holidays", "extra_workdays")
    @classmethod
    def _plausible_dates(cls, value: list[date]) -> list[date]:
        for day in value:
            _plausible(day)
        return value

    @model_validator(mode="after")
    def _custom_needs_weekly(self) -> ServiceTime:
        if self.preset == "custom" and not self.weekly:
            raise ValueError("preset: custom needs a weekly calendar")
        if self.preset != "custom" and self.weekly:
            raise ValueError("weekly is only allowed with preset: custom")
        if self.preset in ("7x24", "custom") and self.hours is not None:
            raise ValueError(f"hours does not apply to preset {self.preset}")
        return self


class Assessment(Spec):
    """The assessment period (§6.2.7 cycle): calendar month in the contract's zone, or rolling."""

    period: Literal["calendar_month", "rolling_days"] = "calendar_month"
    days: Annotated[int, Field(ge=1, le=366)] | None = None
    grace: str = Field(
        default="5m", description="Watermark lag behind the latest event time (at most 7d)."
    )
    max_skew: str = Field(
        default="2m",
        description="How far one source's event time may lead the contract's other sources (or "
        "its own progress) before it is held back: it is still counted, but it moves the "
        "watermark no further than this ahead.",
    )
    source_idle: str = Field(
        default="10m",
        description="A source whose event time trails the leading source by more than this "
        "stops holding the watermark back. Must exceed max_skew.",
    )

    @field_validator("grace", "max_skew", "source_idle")
    @classmethod
    def _grace(cls, value: str) -> str:
        if duration_ms(value) > 7 * 86_400_000:
            raise ValueError(f"{value!r} is longer than 7d")
        return value

    @model_validator(mode="after")
    def _days(self) -> Assessment:
        if (self.period == "rolling_days") != (self.days is not None):
            raise ValueError("days is required with period: rolling_days and only then")
        if duration_ms(self.max_skew) <= 0:
            raise ValueError("max_skew must be more than 0")
        if duration_ms(self.source_idle) <= duration_ms(self.max_skew):
            raise ValueError("source_idle must be longer than max_skew")
        return self


# --- §6.1.7 metering ---------------------------------------------------------------------------
MeteringUnit = Literal[
    "card_hour", "core_hour", "node_month", "tb_month", "per_call", "per_1k_tokens"
]


class Metering(Spec):
    unit: MeteringUnit
    unit_price: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    period_fee: Money | None = Field(
        default=None, description="Fixed fee of one assessment period; else usage × unit_price."
    )
    quantity: (
        Annotated[Decimal, Field(gt=0, le=1_000_000_000, max_digits=18, decimal_places=6)] | None
    ) = Field(
        default=None,
        description="Fixed quantity for node_month / tb_month units (at most 1,000,000,000).",
    )
    cards_per_node: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    cores_per_node: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    guide_price: Money | None = Field(
        default=None, description="Platform guide price (§6.1.7); outside 50–150% → warning."
    )
    rounding: Literal["half_up", "half_even", "down"] = "half_up"
    minor_units: Annotated[int, Field(ge=0, le=6)] = 2


# --- §6.1.8 objectives and §6.1.16 compensation ------------------------------------------------
SliKind = Literal[
    "service_availability",
    "storage_availability",
    "network_availability",
    "node_availability",
    "latency",
    "error_rate",
    "mttr",
    "mtbf",
    "failure_count",
    "max_recovery",
    "stability_interruptions",
    "stability_recovery",
    "storage_read_speed",
    "storage_write_speed",
    "network_jitter",
    "network_loss",
    "network_throughput",
    "network_congestion",
    "pool_utilization",
    "concurrency",
    "provisioning_time",
    "scale_out_time",
    "scale_in_time",
    "calls",
    "tokens",
    "pue",
    "renewable_ratio",
]
PROBE_AVAILABILITY = ("service_availability", "storage_availability", "network_availability")
CHOOSABLE_STATISTIC = (
    "storage_read_speed", "storage_write_speed", "network_jitter", "network_loss",
    "network_throughput", "pool_utilization", "concurrency", "provisioning_time",
    "scale_out_time", "scale_in_time",
)  # fmt: skip
Comparator = Literal[">=", ">", "<=", "<"]
PERCENT_SLIS = (
    *PROBE_AVAILABILITY, "node_availability", "error_rate", "network_loss",
    "network_congestion", "pool_utilization",
)  # fmt: skip


class Tier(Spec):
    """A compensation tier: applies when the period value is worse than ``bound``."""

    bound: SliValue
    credit_percent: Percent = 0.0
    extension_hours: Annotated[float, Field(ge=0, le=YEAR_HOURS)] = 0.0

    @model_validator(mode="after")
    def _gives_something(self) -> Tier:
        if self.credit_percent == 0 and self.extension_hours == 0:
            raise ValueError("a tier must give credit_percent or extension_hours")
        return self


class Objective(Spec):
    id: Ident
    sli: SliKind
    description: str | None = None
    comparator: Comparator
    threshold: SliValue
    window: str = Field(
        default="1h",
        description="Evaluation window for metrics and breaches: whole minutes dividing a day.",
    )
    percentile: Annotated[float, Field(gt=0, lt=100)] | None = Field(
        default=None, description="For sli: latency — e.g. 99 for p99."
    )
    source: Literal["request", "probe", "storage_io", "network"] = Field(
        default="request", description="For sli: latency — which events carry latency_ms."
    )
    requests: Literal["all", "successful"] | None = Field(
        default=None,
        description="For sli: latency — which samples the percentile reads: all (the default: "
        "a failed request or probe counts at its latency_ms) or successful (ok: true only; "
        "source request or probe, the kinds that carry ok).",
    )
    sources: list[Source] | None = Field(
        default=None,
        min_length=1,
        description="Who may report the events this objective counts (§6.1.3, §8.4 c). "
        "Default: platform for measurements (probe, request, network, storage_io, "
        "utilization), platform and provider for self-reports (node_state, incident, energy, "
        "provisioning, scaling). Customer events count only where listed here.",
    )
    unavailable_below: Percent = Field(
        default=100.0,
        description="service_availability: a minute is unavailable when probe success % < this.",
    )
    no_data: Literal["unknown", "available", "unavailable"] = "unknown"
    degraded_is_down: bool = Field(default=False, description="node_availability: degraded = down.")
    min_requests: Annotated[int, Field(ge=0, le=1_000_000_000)] = Field(
        default=1,
        description="latency / error_rate / gauges: windows with fewer samples are not judged.",
    )
    resources: list[Annotated[str, Field(min_length=1)]] | None = Field(
        default=None,
        description="Availability SLIs: only probes of resources matching these globs "
        "(required for storage_availability and network_availability).",
    )
    statistic: Literal["mean", "max", "min"] | None = Field(
        default=None,
        description="Gauge SLIs (speeds, jitter, loss, utilisation, concurrency, provisioning "
        "and scaling times): the statistic over a window's samples.",
    )
    field: Literal["cpu", "gpu", "memory", "storage", "bandwidth", "tasks", "users"] | None = Field(
        default=None,
        description="pool_utilization: which ratio (default gpu); concurrency: tasks "
        "(default) or users.",
    )
    congestion_loss: Annotated[float, Field(gt=0, le=1)] = Field(
        default=0.01,
        description="network_congestion: a sample with loss_ratio ≥ this is congested.",
    )
    grid_renewable_share: Annotated[float, Field(ge=0, le=1)] | None = Field(
        default=None,
        description="renewable_ratio: a, the renewable share of the grid electricity (0..1).",
    )
    compensation: list[Tier] = Field(default_factory=list)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        ms = duration_ms(value)
        if ms == 0 or ms % 60_000 or 86_400_000 % ms:
            raise ValueError("window must be whole minutes dividing a day (1m, 5m, 15m, 1h, 1d)")
        return value

    @model_validator(mode="after")
    def _fields_fit_sli(self) -> Objective:
        if self.sli == "latency" and self.percentile is None:
            raise ValueError("sli: latency needs percentile (e.g. 99)")
        if self.sli != "latency" and self.percentile is not None:
            raise ValueError(f"percentile does not apply to sli: {self.sli}")
        if self.sli != "latency" and self.requests is not None:
            raise ValueError(f"requests does not apply to sli: {self.sli}")
        if self.requests == "successful" and self.source not in ("request", "probe"):
            raise ValueError(
                f"requests: successful needs source request or probe ({self.source} samples "
                "carry no ok)"
            )
        if self.sli in PERCENT_SLIS and not 0 <= self.threshold <= 100:
            raise ValueError(f"threshold of {self.sli} is a percent between 0 and 100")
        if self.sli in PERCENT_SLIS and any(tier.bound > 100 for tier in self.compensation):
            raise ValueError(f"compensation bounds of {self.sli} are percents up to 100")
        if self.sli == "latency" and self.threshold <= 0:
            raise ValueError("threshold of latency must be more than 0 ms")
        if self.sli in ("storage_availability", "network_availability") and not self.resources:
            raise ValueError(
                f"sli: {self.sli} needs resources (globs of the resource_ids its probes check)"
            )
        if self.resources is not None and self.sli not in PROBE_AVAILABILITY:
            raise ValueError(f"resources does not apply to sli: {self.sli}")
        if self.statistic is not None and self.sli not in CHOOSABLE_STATISTIC:
            raise ValueError(f"statistic does not apply to sli: {self.sli}")
        fields = {
            "pool_utilization": ("cpu", "gpu", "memory", "storage", "bandwidth"),
            "concurrency": ("tasks", "users"),
        }
        if self.field is not None and self.field not in fields.get(self.sli, ()):
            allowed = fields.get(self.sli)
            raise ValueError(
                f"field: {self.field} does not apply to sli: {self.sli}"
                + (f" (one of {', '.join(allowed)})" if allowed else "")
            )
        if self.sli == "renewable_ratio" and self.grid_renewable_share is None:
            raise ValueError(
                "sli: renewable_ratio needs grid_renewable_share (a: the grid's renewable share)"
            )
        return self


class BurnRateRule(Spec):
    """Fire when the budget burns at ≥ ``burn_rate``× over both windows (SRE workbook)."""

    severity: Literal["page", "ticket"]
    burn_rate: Annotated[float, Field(gt=0, le=10_000)]
    long: str
    short: str

    @model_validator(mode="after")
    def _windows(self) -> BurnRateRule:
        if duration_ms(self.short) == 0:
            raise ValueError("short window must be longer than 0")
        if duration_ms(self.short) >= duration_ms(self.long):
            raise ValueError("short window must be shorter than long window")
        return self


def _default_burn_rules() -> list[BurnRateRule]:
    return [
        BurnRateRule(severity="page", burn_rate=14.4, long="1h", short="5m"),
        BurnRateRule(severity="page", burn_rate=6.0, long="6h", short="30m"),
        BurnRateRule(severity="ticket", burn_rate=1.0, long="3d", short="6h"),
    ]


class EarlyWarning(Spec):
    """Multi-window multi-burn-rate warnings on budgeted objectives (availability, error rate)."""

    enabled: bool = True
    scale_to_period: bool = Field(
        default=True,
        description="Scale the windows by (period length / 30 days): the defaults are for a "
        "30-day budget.",
    )
    rules: Annotated[list[BurnRateRule], Field(min_length=1)] = Field(
        default_factory=_default_burn_rules
    )


class Compensation(Spec):
    """§6.1.16: how credits are paid. Tiers live on each objective."""

    form: Literal["credit", "extension", "both"] = "credit"
    cap_percent: Percent = Field(default=100.0, description="Cap on all credits of one period.")


# --- §6.1.13 liability and exemptions ----------------------------------------------------------
class ForceMajeure(Spec):
    start: AwareDatetime
    end: AwareDatetime
    reason: str

    @model_validator(mode="after")
    def _ordered(self) -> ForceMajeure:
        _plausible(self.start, "start")
        _plausible(self.end, "end")
        if self.end <= self.start:
            raise ValueError("force majeure end must be after start")
        return self


ExemptionKind = Literal["planned_downtime", "natural_disaster", "force_majeure"]
_DEFAULT_SOURCES: list[Source] = ["platform", "provider"]
_DEFAULT_EXEMPTIONS: list[ExemptionKind] = ["planned_downtime", "natural_disaster", "force_majeure"]


class Exemptions(Spec):
    maintenance_notice_hours: Annotated[float, Field(ge=0, le=YEAR_HOURS)] = 72.0
    maintenance_sources: list[Source] = Field(default_factory=lambda: list(_DEFAULT_SOURCES))
    force_majeure: list[ForceMajeure] = Field(default_factory=list)


class Liability(Spec):
    text: str | None = None
    exemptions: list[ExemptionKind] = Field(default_factory=lambda: list(_DEFAULT_EXEMPTIONS))


# --- the other §6.1 and §6.2 elements: typed but not operative ------------------------------
class SoftwareSupport(Spec):
    frameworks: list[str] = Field(default_factory=list)
    acceleration_libraries: list[str] = Field(default_factory=list)
    dev_tools: list[str] = Field(default_factory=list)
    pretrained_models: list[str] = Field(default_factory=list)
    automated_deployment: bool = False


class Deliverables(Spec):
    tangible: list[str] = Field(default_factory=list)
    intangible: list[str] = Field(default_factory=list)
    third_party_reports: list[str] = Field(default_factory=list)


class Responsibilities(Spec):
    provider: list[str] = Field(default_factory=list)
    customer: list[str] = Field(default_factory=list)


class Confidentiality(Spec):
    scope: str
    duties: list[str] = Field(default_factory=list)
    duration_months: Annotated[int, Field(ge=0, le=1200)] | None = None


class ComplaintChannel(Spec):
    type: Literal["phone", "visit", "letter", "email", "web", "other"]
    value: str


class PriorityMatrix(Spec):
    """§6.2.2: priority = impact × urgency (each 1..4)."""

    levels: dict[str, Annotated[int, Field(ge=1, le=16)]] = Field(default_factory=dict)


class OptionalElements(Spec):
    """§6.2: optional elements, kept verbatim for the record."""

    third_parties: list[Organisation] = Field(default_factory=list)
    service_priority: PriorityMatrix | None = None
    change_management: str | None = None
    delivery_processes: list[Literal["initiation", "incident", "request", "reporting"]] = Field(
        default_factory=list
    )
    resource_conditions: str | None = None
    dispute_resolution: list[Literal["negotiation", "arbitration", "litigation"]] = Field(
        default_factory=list
    )
    assessment_report: str | None = None
    fees_and_payment: str | None = None
    intellectual_property: str | None = None
    notices: str | None = None


class ContractHeader(Spec):
    id: Ident
    revision: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        description="Contract version number."
    )
    effective_from: AwareDatetime = Field(description="This revision applies from this instant.")
    title: str | None = None


class RuleFile(Spec):
    """One rule file: ``version: csla/v1`` and the contract. At most 1 MiB of YAML, nested at
    most 64 levels, with aliases adding at most 10,000 nodes (``engine.ruleset.limits``)."""

    version: Literal["csla/v1"]
    contract: ContractHeader
    parties: Parties
    service: ServiceContent
    term: Term
    service_time: ServiceTime
    assessment: Assessment = Field(default_factory=Assessment)
    metering: Metering
    objectives: Annotated[list[Objective], Field(min_length=1)]
    monitoring: list[str] = Field(default_factory=list, description="Annex B metrics monitored.")
    software_support: SoftwareSupport = Field(default_factory=SoftwareSupport)
    deliverables: Deliverables = Field(default_factory=Deliverables)
    responsibilities: Responsibilities = Field(default_factory=Responsibilities)
    liability: Liability = Field(default_factory=Liability)
    exemptions: Exemptions = Field(default_factory=Exemptions)
    confidentiality: Confidentiality | None = None
    complaint_channels: list[ComplaintChannel] = Field(default_factory=list)
    compensation: Compensation = Field(default_factory=Compensation)
    early_warning: EarlyWarning = Field(default_factory=EarlyWarning)
    scoring: ScoringOverride | None = Field(
        default=None, description="Changes to the Table A.2 scoring defaults (docs/scoring.md)."
    )
    attested: Attested | None = Field(
        default=None,
        description="Annex A metrics attested rather than measured, each with its evidence.",
    )
    optional: OptionalElements = Field(default_factory=OptionalElements)

    @model_validator(mode="after")
    def _unique_objectives(self) -> RuleFile:
        seen: set[str] = set()
        for objective in self.objectives:
            if objective.id in seen:
                raise ValueError(f"objective id {objective.id!r} is used twice")
            seen.add(objective.id)
        return self


def rule_file_json_schema() -> dict[str, object]:
    schema = RuleFile.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://csla-engine.dev/schemas/rule-file.csla-v1.schema.json"
    return schema
