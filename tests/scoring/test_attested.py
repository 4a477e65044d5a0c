"""The ``attested:`` section: typed values, required evidence, known categories and ranges."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from engine.models.assessment import ATTESTED_INPUTS, Attested, attested_values

EVIDENCE = {"report_id": "R-7", "date": "2026-02-01", "tested_by": "platform lab"}


def _one(name: str, value: Any, evidence: Any = EVIDENCE) -> Attested:
    return Attested.model_validate({name: {"value": value, "evidence": evidence}})


def _errors(name: str, value: Any, evidence: Any = EVIDENCE) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        _one(name, value, evidence)
    return [
        f"{'.'.join(map(str, e['loc']))}: {e.get('ctx', {}).get('error', e['msg'])}"
        for e in caught.value.errors(include_url=False)
    ]


FULL: dict[str, Any] = {
    "security": {"gb_t_22239_level": 3, "controls": ["patching", "firewall_linkage"]},
    "data_privacy": True,
    "data_storage_reliability": ["consistency", "encryption", "redundancy"],
    "data_durability": "99.9999999",
    "dev_environment": ["notebook", "ide", "ssh", "container"],
    "lifecycle_tooling": ["training", "deployment"],
    "model_count": 120,
    "model_categories": ["vision", "speech", "remote_sensing"],
    "flops": {"fp64": 9.7, "fp32": 19.5, "fp16": 312, "fp8": 624},
    "co_acceleration": 1.35,
    "hardware_adaptation": {"ai_core_utilisation": 42.5, "special_instruction_share": 18},
    "large_model_compatibility": {"10b": 0, "50b": 0.5, "100b": 2, "300b": 7.5},
    "resource_elasticity": ["dynamic_scaling", "automated_operations"],
    "fine_tuning": 175,
    "model_monitoring": "basic",
}


def test_every_attested_input_is_derived() -> None:
    section = {name: {"value": value, "evidence": EVIDENCE} for name, value in FULL.items()}
    values = attested_values(Attested.model_validate(section))
    assert values.keys() == ATTESTED_INPUTS.keys()
    assert values == {
        "security_level": 3.0,
        "security_controls": 2.0,
        "data_privacy": 1.0,
        "data_storage_reliability": 3.0,
        "data_durability": pytest.approx(9.0),  # 99.9999999 %: loss 1e-9 → 9 nines
        "dev_env_modes": 4.0,
        "lifecycle_tooling": 2.0,
        "model_count": 120.0,
        "model_categories": 3.0,
        "flops_fp64": 9.7,
        "flops_fp32": 19.5,
        "flops_fp16": 312.0,
        "flops_fp8": 624.0,
        "co_acceleration_ratio": 1.35,
        "ai_core_utilisation": 42.5,
        "special_instruction_share": 18.0,
        "compat_error_rate_10b": 0.0,
        "compat_error_rate_50b": 0.5,
        "compat_error_rate_100b": 2.0,
        "compat_error_rate_300b": 7.5,
        "resource_elasticity": 2.0,
        "max_fine_tuning_b": 175.0,
        "monitoring_level": 1.0,
    }
    assert attested_values(None) == dict.fromkeys(ATTESTED_INPUTS)
    assert attested_values(_one("model_monitoring", "none"))["monitoring_level"] == 0.0
    assert attested_values(_one("data_privacy", False))["data_privacy"] == 0.0


@pytest.mark.parametrize(
    ("durability", "nines"),
    [("99.999999999", 11.0), ("99.9", 3.0), ("100", 20.0), (99.99, 4.0)],
)
def test_durability_in_nines(durability: Any, nines: float) -> None:
    value = attested_values(_one("data_durability", durability))["data_durability"]
    assert value == pytest.approx(nines)


def test_evidence_is_required() -> None:
    with pytest.raises(ValidationError) as caught:
        Attested.model_validate({"fine_tuning": {"value": 100}})
    ((loc, kind),) = [(e["loc"], e["type"]) for e in caught.value.errors()]
    assert (loc, kind) == (("fine_tuning", "evidence"), "missing")
    assert _errors("fine_tuning", 100, {"report_id": "", "date": "2026-02-01", "tested_by": "x"})
    assert _errors("fine_tuning", 100, {"report_id": "R", "date": "yesterday", "tested_by": "x"})
    assert _errors("fine_tuning", 100, {**EVIDENCE, "signed": True}) == [
        "fine_tuning.evidence.signed: Extra inputs are not permitted"
    ]


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("model_categories", ["vision", "robotics"], "model_categories.value.1: Input should be"),
        ("model_categories", ["vision", "vision"], "value: category listed twice: vision"),
        ("security", {"gb_t_22239_level": 6}, "less than or equal to 5"),
        ("security", {"gb_t_22239_level": 3, "controls": ["moat"]}, "Input should be"),
        ("data_durability", "100.5", "less than or equal to 100"),
        ("data_durability", 0, "greater than 0"),
        ("dev_environment", [], "at least 1 item"),
        ("dev_environment", ["ide", "ide"], "value: mode listed twice: ide"),
        ("flops", {"fp4": 2000}, "Input should be 'fp64', 'fp32', 'fp16' or 'fp8'"),
        ("flops", {"fp16": 0}, "greater than 0"),
        ("flops", {}, "at least 1 item"),
        ("large_model_compatibility", {"10b": 101}, "less than or equal to 100"),
        ("large_model_compatibility", {"1t": 1}, "Input should be"),
        ("hardware_adaptation", {"ai_core_utilisation": 50}, "Field required"),
        ("model_monitoring", "partial", "'none', 'basic', 'multi' or 'full'"),
        ("fine_tuning", -3, "greater than 0"),
        ("model_count", 2.5, "valid integer"),
        ("data_privacy", "maybe", "valid boolean"),
        ("resource_elasticity", ["autoscaling"], "Input should be"),
        ("lifecycle_tooling", ["training", "training"], "value: stage listed twice"),
    ],
)
def test_bad_values(name: str, value: Any, fragment: str) -> None:
    assert any(fragment in error for error in _errors(name, value)), _errors(name, value)


def test_model_count_covers_its_categories() -> None:
    section = {
        "model_count": {"value": 2, "evidence": EVIDENCE},
        "model_categories": {"value": ["vision", "speech", "nlp"], "evidence": EVIDENCE},
    }
    with pytest.raises(ValidationError, match=r"2 built-in model\(s\) cannot cover 3 categories"):
        Attested.model_validate(section)


def test_unknown_attestation_is_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Attested.model_validate({"quantum_volume": {"value": 64, "evidence": EVIDENCE}})
