"""Assessment specs: attested metrics (Annex A, Table A.1), Table A.2 scoring, §7 grades.

Two optional rule-file sections are modelled here:

- ``attested:`` (``Attested``) — the Table A.1 metrics a provider *declares* rather than the
  engine measuring them (security level, data privacy, model catalogue, FLOPS, …). Each one is
  ``{value: …, evidence: {report_id, date, tested_by}}``; the evidence is required.
- ``scoring:`` (``ScoringOverride``) — a contract's changes to the shipped Table A.2 defaults
  (``rules/.scoring/table-a2.yaml``, a full ``Scoring``): first-level or second-level weights,
  metric curves and inputs, grade cut points, metrics not applicable.

``merge_scoring(defaults, override)`` gives the ``Scoring`` the pure ``engine.core.scoring``
computes a scorecard from. See docs/scoring.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.resources import scoring_defaults

SCORING_VERSION = "csla-scoring/v1"
# rules/.scoring/table-a2.yaml of the checkout, or its packaged copy in a wheel (an installed
# engine has no rules/ of its own); a rules directory without .scoring/ uses these
DEFAULT_SCORING_PATH = scoring_defaults()
PLATFORM_SCORING_FILE = Path(".scoring") / "table-a2.yaml"  # inside a rules directory


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Text = Annotated[str, Field(min_length=1)]
Percent = Annotated[float, Field(ge=0.0, le=100.0)]
Score = Annotated[float, Field(ge=0.0, le=100.0)]
Weight = Annotated[float, Field(ge=0.0, le=100.0)]


def _unique(values: list[Any], what: str, field: str = "value") -> None:
    doubles = sorted({str(v) for v in values if values.count(v) > 1})
    if doubles:
        raise ValueError(f"{field}: {what} listed twice: {', '.join(doubles)}")


# --- evidence and attested metrics (Table A.1) ------------------------------------------------
class Evidence(Spec):
    """Where an attested value comes from: a test or audit report."""

    report_id: Text = Field(description="Identifier of the test or audit report.")
    date: dt.date = Field(description="Date of the report.")
    tested_by: Text = Field(description="Who tested: laboratory, auditor or platform.")
    note: str | None = None


class Attestation(Spec):
    evidence: Evidence


SecurityControl = Literal[
    "patching",  # 1) software kept patched
    "network_isolation",  # 3) segmentation, isolation, filtering; no unauthorised VPC access
    "protected_transfer",  # 4) client ↔ platform transfer protected and isolated
    "advanced_threat_detection",  # 5) APT, zero-day, targeted attacks
    "threat_correlation",  # 6) big-data threat detection over the whole attack chain
    "firewall_linkage",  # 7) firewall ↔ security monitoring linkage, policy migration
    "security_visualisation",  # 8) security events, attack paths, multi-dimensional views
]
SECURITY_CONTROLS: tuple[str, ...] = SecurityControl.__args__  # type: ignore[attr-defined]


class SecurityValue(Spec):
    gb_t_22239_level: Annotated[int, Field(ge=1, le=5)] = Field(
        description="Classified protection level under GB/T 22239 (Table A.1 asks for level 3)."
    )
    controls: list[SecurityControl] = Field(
        default_factory=list, description="Table A.1 service security measures in place."
    )

    @model_validator(mode="after")
    def _controls_once(self) -> SecurityValue:
        _unique(list(self.controls), "control", "controls")
        return self


class Security(Attestation):
    value: SecurityValue


class DataPrivacy(Attestation):
    value: bool = Field(description="Different users' data is mutually invisible.")


StorageFeature = Literal[
    "consistency",
    "durability",
    "availability",
    "integrity",
    "error_correction",
    "backup_restore",
    "encryption",
    "redundancy",
    "disaster_recovery",
]
STORAGE_FEATURES: tuple[str, ...] = StorageFeature.__args__  # type: ignore[attr-defined]


class DataStorageReliability(Attestation):
    value: list[StorageFeature] = Field(description="Table A.1 storage reliability measures.")

    @model_validator(mode="after")
    def _once(self) -> DataStorageReliability:
        _unique(list(self.value), "feature")
        return self


class DataDurability(Attestation):
    value: Annotated[Decimal, Field(gt=0, le=100)] = Field(
        description="Probability of no data loss over a year, percent (99.999999999 = 11 nines)."
    )


class DevEnvironment(Attestation):
    value: Annotated[list[Text], Field(min_length=1)] = Field(
        description="Online development environment modes (e.g. notebook, ide, ssh, container)."
    )

    @model_validator(mode="after")
    def _once(self) -> DevEnvironment:
        _unique(list(self.value), "mode")
        return self


LifecycleStage = Literal[
    "data_preparation",
    "training",
    "tuning",
    "debugging",
    "version_management",
    "deployment",
    "monitoring",
]
LIFECYCLE_STAGES: tuple[str, ...] = LifecycleStage.__args__  # type: ignore[attr-defined]


class LifecycleTooling(Attestation):
    value: list[LifecycleStage] = Field(description="Lifecycle stages the platform has tools for.")

    @model_validator(mode="after")
    def _once(self) -> LifecycleTooling:
        _unique(list(self.value), "stage")
        return self


class ModelCount(Attestation):
    value: Annotated[int, Field(ge=0)] = Field(description="Built-in models ready to use.")


ModelCategory = Literal[
    "vision",
    "speech",
    "nlp",
    "time_series",
    "multimodal",
    "llm",
    "text_to_image",
    "remote_sensing",
]
MODEL_CATEGORIES: tuple[str, ...] = ModelCategory.__args__  # type: ignore[attr-defined]


class ModelCategories(Attestation):
    value: list[ModelCategory] = Field(description="§7 technical categories of built-in models.")
    industries: list[Text] = Field(
        default_factory=list, description="Industry scenarios covered (informative)."
    )

    @model_validator(mode="after")
    def _once(self) -> ModelCategories:
        _unique(list(self.value), "category")
        return self


Precision = Literal["fp64", "fp32", "fp16", "fp8"]


class Flops(Attestation):
    value: Annotated[dict[Precision, Annotated[float, Field(gt=0)]], Field(min_length=1)] = Field(
        description="Peak dense TFLOPS of one accelerator card, by precision."
    )


class CoAcceleration(Attestation):
    value: Annotated[float, Field(gt=0)] = Field(
        description="Time on a generic stack / time on the co-designed stack, same task."
    )


class HardwareAdaptationValue(Spec):
    ai_core_utilisation: Percent = Field(description="AI-core utilisation during the task, %.")
    special_instruction_share: Percent = Field(
        description="Special accelerator instructions / all instructions, %."
    )


class HardwareAdaptation(Attestation):
    value: HardwareAdaptationValue


ModelScale = Literal["10b", "50b", "100b", "300b"]


class LargeModelCompatibility(Attestation):
    value: Annotated[dict[ModelScale, Percent], Field(min_length=1)] = Field(
        description="Adaptation error rate (%) by model scale; an untested scale is left out."
    )


ElasticityFeature = Literal[
    "dynamic_scaling", "load_balancing", "containerisation", "automated_operations"
]


class ResourceElasticity(Attestation):
    value: list[ElasticityFeature] = Field(description="Table A.1 resource elasticity features.")

    @model_validator(mode="after")
    def _once(self) -> ResourceElasticity:
        _unique(list(self.value), "feature")
        return self


class FineTuning(Attestation):
    value: Annotated[float, Field(gt=0)] = Field(
        description="Largest model fine-tuning supported, billions of parameters (§7 a)."
    )


MonitoringLevel = Literal["none", "basic", "multi", "full"]
MONITORING_LEVELS: tuple[str, ...] = MonitoringLevel.__args__  # type: ignore[attr-defined]


class ModelMonitoring(Attestation):
    value: MonitoringLevel = Field(
        description="§7 e: none, basic, multi(-metric) or full (multi-dimensional) monitoring."
    )


class Attested(Spec):
    """The rule file's ``attested:`` section: every attested Table A.1 metric, all optional."""

    security: Security | None = None
    data_privacy: DataPrivacy | None = None
    data_storage_reliability: DataStorageReliability | None = None
    data_durability: DataDurability | None = None
    dev_environment: DevEnvironment | None = None
    lifecycle_tooling: LifecycleTooling | None = None
    model_count: ModelCount | None = None
    model_categories: ModelCategories | None = None
    flops: Flops | None = None
    co_acceleration: CoAcceleration | None = None
    hardware_adaptation: HardwareAdaptation | None = None
    large_model_compatibility: LargeModelCompatibility | None = None
    resource_elasticity: ResourceElasticity | None = None
    fine_tuning: FineTuning | None = None
    model_monitoring: ModelMonitoring | None = None

    @model_validator(mode="after")
    def _categories_have_models(self) -> Attested:
        count, categories = self.model_count, self.model_categories
        if count and categories and count.value < len(categories.value):
            raise ValueError(
                f"model_count: {count.value} built-in model(s) cannot cover"
                f" {len(categories.value)} categories"
            )
        return self


def _nines(percent: Decimal) -> float:
    loss = 1 - percent / 100
    return 20.0 if loss <= Decimal("1e-20") else float(-loss.log10())


# name → (unit, how the number is derived from ``Attested``)
ATTESTED_INPUTS: dict[str, tuple[str, str]] = {
    "security_level": ("level", "security.value.gb_t_22239_level"),
    "security_controls": (
        "count",
        f"number of security.value.controls (of {len(SECURITY_CONTROLS)})",
    ),
    "data_privacy": ("bool", "data_privacy.value: 1 if true, 0 if false"),
    "data_storage_reliability": ("count", f"number of features (of {len(STORAGE_FEATURES)})"),
    "data_durability": ("nines", "-log10(1 - data_durability.value / 100), at most 20"),
    "dev_env_modes": ("count", "number of dev_environment modes"),
    "lifecycle_tooling": ("count", f"number of lifecycle stages (of {len(LIFECYCLE_STAGES)})"),
    "model_count": ("count", "model_count.value"),
    "model_categories": ("count", f"number of model_categories (of {len(MODEL_CATEGORIES)})"),
    "flops_fp64": ("TFLOPS", "flops.value.fp64"),
    "flops_fp32": ("TFLOPS", "flops.value.fp32"),
    "flops_fp16": ("TFLOPS", "flops.value.fp16"),
    "flops_fp8": ("TFLOPS", "flops.value.fp8"),
    "co_acceleration_ratio": ("ratio", "co_acceleration.value"),
    "ai_core_utilisation": ("percent", "hardware_adaptation.value.ai_core_utilisation"),
    "special_instruction_share": ("percent", "hardware_adaptation.value.special_instruction_share"),
    "compat_error_rate_10b": ("percent", "large_model_compatibility.value.10b"),
    "compat_error_rate_50b": ("percent", "large_model_compatibility.value.50b"),
    "compat_error_rate_100b": ("percent", "large_model_compatibility.value.100b"),
    "compat_error_rate_300b": ("percent", "large_model_compatibility.value.300b"),
    "resource_elasticity": ("count", "number of resource_elasticity features (of 4)"),
    "max_fine_tuning_b": ("B params", "fine_tuning.value"),
    "monitoring_level": ("level", "model_monitoring.value: none 0, basic 1, multi 2, full 3"),
}


def attested_values(attested: Attested | None) -> dict[str, float | None]:
    """Every ``ATTESTED_INPUTS`` name → its number (None when not attested)."""
    out: dict[str, float | None] = dict.fromkeys(ATTESTED_INPUTS)
    if attested is None:
        return out
    a = attested
    if a.security:
        out["security_level"] = float(a.security.value.gb_t_22239_level)
        out["security_controls"] = float(len(a.security.value.controls))
    if a.data_privacy:
        out["data_privacy"] = 1.0 if a.data_privacy.value else 0.0
    if a.data_storage_reliability:
        out["data_storage_reliability"] = float(len(a.data_storage_reliability.value))
    if a.data_durability:
        out["data_durability"] = _nines(a.data_durability.value)
    if a.dev_environment:
        out["dev_env_modes"] = float(len(a.dev_environment.value))
    if a.lifecycle_tooling:
        out["lifecycle_tooling"] = float(len(a.lifecycle_tooling.value))
    if a.model_count:
        out["model_count"] = float(a.model_count.value)
    if a.model_categories:
        out["model_categories"] = float(len(a.model_categories.value))
    if a.flops:
        for precision, tflops in a.flops.value.items():
            out[f"flops_{precision}"] = tflops
    if a.co_acceleration:
        out["co_acceleration_ratio"] = a.co_acceleration.value
    if a.hardware_adaptation:
        out["ai_core_utilisation"] = a.hardware_adaptation.value.ai_core_utilisation
        out["special_instruction_share"] = a.hardware_adaptation.value.special_instruction_share
    if a.large_model_compatibility:
        for scale, rate in a.large_model_compatibility.value.items():
            out[f"compat_error_rate_{scale}"] = rate
    if a.resource_elasticity:
        out["resource_elasticity"] = float(len(a.resource_elasticity.value))
    if a.fine_tuning:
        out["max_fine_tuning_b"] = a.fine_tuning.value
    if a.model_monitoring:
        out["monitoring_level"] = float(MONITORING_LEVELS.index(a.model_monitoring.value))
    return out


# --- measured inputs: period values of the contract's objectives, by SLI name ------------------
MEASURED_INPUTS: dict[str, str] = {
    "service_availability": "percent",
    "node_availability": "percent",
    "storage_availability": "percent",
    "network_availability": "percent",
    "mttr": "minutes",
    "mtbf": "hours",
    "failure_count": "count",
    "max_recovery": "minutes",
    "latency": "ms",
    "network_latency": "ms",
    "storage_latency": "ms",
    "error_rate": "percent",
    "pue": "ratio",
    "renewable_ratio": "percent",
    "network_jitter": "ms",
    "network_loss": "percent",
    "network_throughput": "Mbit/s",
    "network_congestion": "percent",
    "storage_read_speed": "MB/s",
    "storage_write_speed": "MB/s",
    "provisioning_time": "seconds",
    "scale_out_time": "seconds",
    "scale_in_time": "seconds",
    "concurrency": "count",
    "stability_interruptions": "count",
    "stability_recovery": "minutes",
    "pool_utilization": "percent",
    "calls": "count",
    "tokens": "count",
}
"""Measured input names and units: the engine's SLI names and units (``engine.core.contract``),
plus ``network_latency`` / ``storage_latency`` for latency objectives with ``source: network`` /
``storage_io``; ``<name>@<objective_id>`` names the period value of one objective."""


def measured_unit(name: str) -> str | None:
    return MEASURED_INPUTS.get(name.split("@", 1)[0])


# --- scoring curves ------------------------------------------------------------------------------
Direction = Literal["higher", "lower"]


def _ascending(xs: list[float], what: str) -> None:
    for a, b in itertools.pairwise(xs):
        if not b > a:
            raise ValueError(f"{what}: x values must strictly ascend ({b:g} after {a:g})")


def _monotone(scores: list[float], direction: Direction, what: str) -> None:
    for a, b in itertools.pairwise(scores):
        if (direction == "higher" and b < a) or (direction == "lower" and b > a):
            trend = "rise" if direction == "higher" else "fall"
            raise ValueError(
                f"{what}: with direction {direction} the scores must {trend} or stay"
                f" ({b:g} after {a:g})"
            )


class LinearCurve(Spec):
    """Piecewise linear through ``points`` (x, score); flat beyond the first and last point."""

    type: Literal["linear"]
    direction: Direction
    points: Annotated[list[tuple[float, Score]], Field(min_length=2)]

    @model_validator(mode="after")
    def _shape(self) -> LinearCurve:
        _ascending([x for x, _ in self.points], "points")
        _monotone([s for _, s in self.points], self.direction, "points")
        return self


class StepCurve(Spec):
    """Steps (bound, score). higher: score of the last bound ≤ x; lower: of the first bound ≥ x.

    Bounds are inclusive; an x past every bound (below the first for ``higher``, above the last
    for ``lower``) scores ``otherwise``.
    """

    type: Literal["step"]
    direction: Direction
    steps: Annotated[list[tuple[float, Score]], Field(min_length=1)]
    otherwise: Score = 0.0

    @model_validator(mode="after")
    def _shape(self) -> StepCurve:
        _ascending([x for x, _ in self.steps], "steps")
        scores = [s for _, s in self.steps]
        if self.direction == "higher":
            _monotone([self.otherwise, *scores], "higher", "steps")
        else:
            _monotone([*scores, self.otherwise], "lower", "steps")
        return self


class BooleanCurve(Spec):
    """A yes/no input (1 or 0)."""

    type: Literal["boolean"]
    if_true: Score = 100.0
    if_false: Score = 0.0

    @model_validator(mode="after")
    def _shape(self) -> BooleanCurve:
        if self.if_false > self.if_true:
            raise ValueError("if_false: must not score above if_true")
        return self


class CountCurve(Spec):
    """higher: 100 × min(x, full_at) / full_at; lower: 100 × max(0, zero_at − x) / zero_at."""

    type: Literal["count"]
    direction: Direction = "higher"
    full_at: Annotated[float, Field(gt=0)] | None = None
    zero_at: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _shape(self) -> CountCurve:
        if self.direction == "higher" and (self.full_at is None or self.zero_at is not None):
            raise ValueError("full_at: a count curve with direction higher needs full_at only")
        if self.direction == "lower" and (self.zero_at is None or self.full_at is not None):
            raise ValueError("zero_at: a count curve with direction lower needs zero_at only")
        return self


Curve = Annotated[LinearCurve | StepCurve | BooleanCurve | CountCurve, Field(discriminator="type")]


# --- Table A.2 scoring ---------------------------------------------------------------------------
class Input(Spec):
    """One input of a second-level metric: a measured period value or an attested number."""

    measure: str | None = Field(default=None, description="SLI name (MEASURED_INPUTS).")
    attested: str | None = Field(default=None, description="ATTESTED_INPUTS name.")
    curve: Curve

    @model_validator(mode="after")
    def _one_source(self) -> Input:
        if (self.measure is None) == (self.attested is None):
            raise ValueError("measure: give exactly one of measure or attested")
        if self.measure is not None and measured_unit(self.measure) is None:
            raise ValueError(
                f"measure: unknown measured input {self.measure!r}"
                f" (known: {', '.join(MEASURED_INPUTS)})"
            )
        if self.attested is not None and self.attested not in ATTESTED_INPUTS:
            raise ValueError(
                f"attested: unknown attested input {self.attested!r}"
                f" (known: {', '.join(ATTESTED_INPUTS)})"
            )
        return self

    @property
    def ref(self) -> str:
        return f"measure:{self.measure}" if self.measure else f"attested:{self.attested}"


class MetricRule(Spec):
    """How one second-level metric is scored: its inputs and how their scores combine."""

    inputs: Annotated[list[Input], Field(min_length=1)]
    combine: Literal["mean", "min"] = Field(
        default="mean", description="Mean or minimum of the input scores."
    )
    missing_parts: Literal["skip", "zero"] = Field(
        default="skip",
        description="An input without a value: left out of the combination, or scored 0.",
    )


class Metric(MetricRule):
    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name: Text
    weight: Weight = Field(description="Weight within its first-level metric, %.")


def _weights_text(items: list[tuple[str, float]]) -> str:
    return " + ".join(f"{key} {weight:g}" for key, weight in items)


def _check_sum(items: list[tuple[str, float]], what: str) -> None:
    total = math.fsum(weight for _, weight in items)
    if not math.isclose(total, 100.0, abs_tol=1e-6):
        raise ValueError(f"{what} sum to {total:g}, not 100 ({_weights_text(items)})")


class Level(Spec):
    """A first-level metric of Table A.2 with its second-level metrics."""

    key: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    name: Text
    weight: Weight = Field(description="First-level weight, % of the total.")
    metrics: Annotated[list[Metric], Field(min_length=1)]

    @model_validator(mode="after")
    def _weights(self) -> Level:
        items = [(m.key, m.weight) for m in self.metrics]
        _check_sum(items, f"metrics: second-level weights of level {self.key!r}")
        return self


class NotApplicable(Spec):
    metric: Text = Field(description="Key of a second-level metric.")
    reason: Text


GradeKey = Literal[2, 3, 4, 5]
GRADE_KEYS: tuple[GradeKey, ...] = (2, 3, 4, 5)
GradeCuts = Annotated[dict[GradeKey, Score], Field(min_length=4, max_length=4)]


def _grade_keys(value: Any) -> Any:
    """YAML keys read as text (the rule loader makes every key a string) → whole numbers."""
    if isinstance(value, dict):
        return {
            int(k) if isinstance(k, str) and k.strip().isdigit() else k: v for k, v in value.items()
        }
    return value


def _check_grades(grades: Mapping[GradeKey, float]) -> None:
    missing = sorted({2, 3, 4, 5} - set(grades))
    if missing:
        raise ValueError(f"grades: cut points missing for grade(s) {missing}")
    for lower, grade in itertools.pairwise(GRADE_KEYS):
        if not grades[grade] > grades[lower]:
            raise ValueError(
                f"grades: cut points must ascend with the grade (grade {grade} at"
                f" {grades[grade]:g} is not above grade {lower} at {grades[lower]:g})"
            )


class Scoring(Spec):
    """Table A.2 scoring: levels with weights and metric curves, grade cut points (§7)."""

    levels: Annotated[list[Level], Field(min_length=1)]
    grades: GradeCuts = Field(description="Lowest total score of grades 2..5 (below: grade 1).")
    not_applicable: list[NotApplicable] = Field(default_factory=list)

    @field_validator("grades", mode="before")
    @classmethod
    def _numbered(cls, value: Any) -> Any:
        return _grade_keys(value)

    @model_validator(mode="after")
    def _consistent(self) -> Scoring:
        keys = [m.key for level in self.levels for m in level.metrics]
        _all(
            lambda: _unique([level.key for level in self.levels], "level key", "levels"),
            lambda: _unique(keys, "metric key", "levels"),
            lambda: _check_sum(
                [(lv.key, lv.weight) for lv in self.levels], "levels: first-level weights"
            ),
            lambda: _check_grades(self.grades),
            lambda: _known(keys, [n.metric for n in self.not_applicable]),
            lambda: _unique([n.metric for n in self.not_applicable], "metric", "not_applicable"),
        )
        if set(keys) <= {n.metric for n in self.not_applicable}:
            raise ValueError("not_applicable: every metric is excluded; nothing left to score")
        return self


def _known(keys: list[str], named: list[str]) -> None:
    unknown = [key for key in named if key not in keys]
    if unknown:
        raise ValueError(f"not_applicable: unknown metric(s) {', '.join(unknown)}")


def _all(*checks: Callable[[], None]) -> None:
    """Run every check; raise one error with all their messages (``; `` between them)."""
    problems: list[str] = []
    for check in checks:
        try:
            check()
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))


class ScoringFile(Scoring):
    """The shipped defaults file: ``version: csla-scoring/v1`` and a full ``Scoring``."""

    version: Literal["csla-scoring/v1"]


class ScoringOverride(Spec):
    """The rule file's ``scoring:`` section: changes to the defaults (see ``merge_scoring``)."""

    weights: dict[str, Weight] | None = Field(
        default=None, description="First-level weights: every level, summing to 100."
    )
    metric_weights: dict[str, dict[str, Weight]] | None = Field(
        default=None, description="Per level: every second-level weight, summing to 100."
    )
    metrics: dict[str, MetricRule] | None = Field(
        default=None, description="Replace inputs, combine and missing_parts of these metrics."
    )
    grades: GradeCuts | None = None
    not_applicable: list[NotApplicable] = Field(default_factory=list)

    @field_validator("grades", mode="before")
    @classmethod
    def _numbered(cls, value: Any) -> Any:
        return _grade_keys(value)

    @model_validator(mode="after")
    def _sums(self) -> ScoringOverride:
        weights, grades = self.weights, self.grades
        _all(
            lambda: (
                None
                if weights is None
                else _check_sum(list(weights.items()), "weights: first-level weights")
            ),
            *(
                partial(
                    _check_sum, list(w.items()), f"metric_weights: second-level weights of {k!r}"
                )
                for k, w in (self.metric_weights or {}).items()
            ),
            lambda: None if grades is None else _check_grades(grades),
            lambda: _unique([n.metric for n in self.not_applicable], "metric", "not_applicable"),
        )
        return self


def merge_scoring(defaults: Scoring, override: ScoringOverride | None) -> Scoring:
    """The defaults with a contract's ``scoring:`` section applied.

    ``weights`` replaces all first-level weights; ``metric_weights`` replaces all second-level
    weights of each level it names; ``metrics`` replaces the inputs/combine/missing_parts of each
    metric it names (key, name and weight stay); ``grades`` replaces the cut points;
    ``not_applicable`` is added to the defaults' list (the override's reason wins). Raises
    ``ValueError`` naming every problem (unknown or missing keys, sums that are off).
    """
    if override is None:
        return defaults
    data = defaults.model_dump()
    problems: list[str] = []
    level_keys = [level["key"] for level in data["levels"]]
    if override.weights is not None:
        _same_keys(level_keys, override.weights, "weights", problems)
        for level in data["levels"]:
            level["weight"] = override.weights.get(level["key"], level["weight"])
    by_level = {level["key"]: level for level in data["levels"]}
    for key, weights in (override.metric_weights or {}).items():
        if key not in by_level:
            problems.append(f"metric_weights: unknown level {key!r} (known: {', '.join(by_level)})")
            continue
        metrics = by_level[key]["metrics"]
        _same_keys([m["key"] for m in metrics], weights, f"metric_weights.{key}", problems)
        for metric in metrics:
            metric["weight"] = weights.get(metric["key"], metric["weight"])
    by_metric = {m["key"]: m for level in data["levels"] for m in level["metrics"]}
    for key, rule in (override.metrics or {}).items():
        if key not in by_metric:
            problems.append(f"metrics: unknown metric {key!r}")
            continue
        by_metric[key].update(rule.model_dump())
    if override.grades is not None:
        data["grades"] = dict(override.grades)
    reasons = {n["metric"]: n["reason"] for n in data["not_applicable"]}
    reasons.update({n.metric: n.reason for n in override.not_applicable})
    data["not_applicable"] = [{"metric": k, "reason": v} for k, v in reasons.items()]
    if problems:
        raise ValueError("; ".join(problems))
    try:
        return Scoring.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_explain(exc)) from None


def _same_keys(known: list[str], given: Mapping[str, float], what: str, out: list[str]) -> None:
    unknown = [k for k in given if k not in known]
    missing = [k for k in known if k not in given]
    if unknown:
        out.append(f"{what}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    if missing:
        out.append(f"{what}: missing key(s) {', '.join(missing)}; give every one, summing to 100")


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        message = str(error.get("ctx", {}).get("error", error["msg"]))
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


class ScoringFileError(ValueError):
    """A scoring defaults file that cannot be read or is invalid; the message lists why."""


def load_scoring_defaults(path: str | Path = DEFAULT_SCORING_PATH) -> Scoring:
    """Read and validate a Table A.2 scoring file (``version: csla-scoring/v1``)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScoringFileError(f"{source}: {exc}") from None
    return load_scoring_text(text, str(source))


_SCORINGS: dict[tuple[str, str], Scoring] = {}


def load_scoring_text(text: str, source: str) -> Scoring:
    """A Table A.2 scoring file's text, validated; parsed once per content (every rule file
    of a directory merges its ``scoring:`` into the same defaults)."""
    key = (source, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
    if (known := _SCORINGS.get(key)) is not None:
        return known
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ScoringFileError(f"{source}: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != SCORING_VERSION:
        raise ScoringFileError(f"{source}: not a scoring file (needs version: {SCORING_VERSION})")
    try:
        spec = ScoringFile.model_validate(data)
    except ValidationError as exc:
        raise ScoringFileError(f"{source}: {_explain(exc)}") from None
    scoring = Scoring.model_validate(spec.model_dump(exclude={"version"}))
    if len(_SCORINGS) > 16:
        _SCORINGS.clear()
    _SCORINGS[key] = scoring
    return scoring
