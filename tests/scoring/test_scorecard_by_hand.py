"""A scorecard on the shipped Table A.2 defaults, recomputed by hand (docs/scoring.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from engine.core.scoring import scorecard
from engine.models.assessment import (
    LIFECYCLE_STAGES,
    SECURITY_CONTROLS,
    STORAGE_FEATURES,
    Attested,
    Scoring,
    ScoringOverride,
    merge_scoring,
)
from engine.models.contract import SoftwareSupport

SUPPORT = SoftwareSupport(frameworks=["PyTorch 2.5"])  # §6.1.10: one item, grade 2 and up

MEASURED: dict[str, float | None] = {
    "service_availability": 99.95,
    "node_availability": 99.5,
    "storage_availability": 99.0,  # given, but the contract declares storage not applicable
    "network_availability": 99.7,
    "mtbf": 720.0,
    "mttr": 60.0,  # minutes, as the engine reports it
    "pue": 1.3,
    "renewable_ratio": 50.0,
    "stability_interruptions": 1.0,
    "concurrency": 100.0,
    "scale_out_time": None,  # not measurable this period: left out (missing_parts: skip)
    "network_latency": 5.0,
    "network_loss": 0.1,
    "latency": 300.0,
    "provisioning_time": 1800.0,
    "failure_count": 1.0,  # not used by the defaults
}


@pytest.fixture
def card(defaults: Scoring, attested: Callable[..., Attested]) -> dict[str, Any]:
    facts = attested(
        security={"gb_t_22239_level": 2, "controls": list(SECURITY_CONTROLS)},  # all 7
        data_privacy=True,
        data_storage_reliability=list(STORAGE_FEATURES[:6]),  # 6 of 9
        data_durability="99.999999999",
        dev_environment=["notebook", "ide"],
        lifecycle_tooling=list(LIFECYCLE_STAGES),  # all 7
        model_count=50,
        model_categories=["vision", "speech", "nlp", "time_series", "multimodal", "llm"],
        flops={"fp16": 300, "fp32": 19.5},
        co_acceleration=1.5,
        hardware_adaptation={"ai_core_utilisation": 50, "special_instruction_share": 30},
        large_model_compatibility={"10b": 0, "50b": 1, "100b": 5},  # 300b not tested
        resource_elasticity=["dynamic_scaling", "load_balancing", "containerisation"],
        fine_tuning=80,
        model_monitoring="multi",
    )
    override = ScoringOverride.model_validate(
        {"not_applicable": [{"metric": "storage_availability", "reason": "no storage sold"}]}
    )
    return scorecard(
        merge_scoring(defaults, override),
        MEASURED,
        facts,
        software_support=SUPPORT,
        contract_id="gpu-train-001",
        provider_id="acme-compute",
        contract_version=3,
        period_start="2026-03-01T00:00:00+08:00",
        period_end="2026-04-01T00:00:00+08:00",
    )


def _metrics(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["key"]: m for level in card["levels"] for m in level["metrics"]}


def test_metric_scores_by_hand(card: dict[str, Any]) -> None:
    m = {key: (metric["score"], metric["source"]) for key, metric in _metrics(card).items()}
    expected = {
        # availability
        "service_availability": (90.0, "measured"),  # 99.95 is a point: 90
        "node_availability": (75.0, "measured"),  # 99.5 is a point: 75
        "storage_availability": (None, "not_applicable"),
        "network_availability": (57.5, "measured"),  # 40 + (75-40)*(99.7-99.5)/(99.9-99.5)
        # reliability
        "data_storage_reliability": (100 * 6 / 9, "attested"),  # 6 of 9 features: 66.67
        "data_durability": (100.0, "attested"),  # 99.999999999 % = 11 nines: 100
        "data_privacy": (100.0, "attested"),  # true
        "service_reliability": (82.5, "measured"),  # mean(mtbf 720 h: 75, mttr 60 min: 90)
        # service security
        "service_security": (75.0, "attested"),  # mean(level 2: 50, 7 of 7 controls: 100)
        # green
        "pue": (65.0, "measured"),  # 1.3 is a point: 65
        "renewable_ratio": (75.0, "measured"),  # 50 % is a point: 75
        # content service
        "model_count": (75.0, "attested"),  # 50 models: 75
        "model_type_coverage": (75.0, "attested"),  # 6 categories: 75
        "model_service_monitoring": (75.0, "attested"),  # multi = 2: step 75
        "dev_env_diversity": (75.0, "attested"),  # 2 modes: step 75
        "lifecycle_tooling": (100.0, "attested"),  # 7 of 7 stages
        # co-acceleration
        "co_acceleration_ratio": (75.0, "attested"),  # 1.5x: 75
        "hardware_adaptation": (75.0, "attested"),  # mean(50 %: 75, 30 %: 75)
        "large_model_compatibility": (55.0, "attested"),  # mean(0 %: 100, 1 %: 80, 5 %: 40,
        #                                                   300b untested: 0) = 220 / 4
        "domestic_stability": (60.0, "measured"),  # 1 interruption: step 60
        # other
        "capacity_elasticity": (75.0, "measured"),  # concurrency 100: 75; scale-out left out
        "flops": (75.0, "attested"),  # 300 TFLOPS fp16: 75
        "network_transport": (67.5, "measured"),  # mean(5 ms: 75, 0.1 %: 60); no jitter
        "service_response": (57.5, "measured"),  # mean(300 ms: 75, 1800 s: 40)
        "resource_elasticity": (75.0, "attested"),  # 3 of 4 features
    }
    assert m.keys() == expected.keys()
    for key, (score, source) in expected.items():
        assert m[key][1] == source, key
        assert m[key][0] == (None if score is None else pytest.approx(score)), key


def test_levels_total_grade_and_caps_by_hand(card: dict[str, Any]) -> None:
    levels = {level["key"]: level for level in card["levels"]}
    # availability: storage (10) not applicable → 40, 20, 30 renormalised over 90:
    #   (40*90 + 20*75 + 30*57.5) / 90 = (3600 + 1500 + 1725) / 90 = 6825 / 90 = 75.8333
    weights = {m["key"]: m["weight"] for m in levels["availability"]["metrics"]}
    assert weights == pytest.approx(
        {
            "service_availability": 4000 / 90,
            "node_availability": 2000 / 90,
            "storage_availability": 0.0,
            "network_availability": 3000 / 90,
        }
    )
    assert levels["availability"]["score"] == pytest.approx(6825 / 90)
    # reliability: 25 each: (66.667 + 100 + 100 + 82.5) / 4 = 349.1667 / 4 = 87.2917
    assert levels["reliability"]["score"] == pytest.approx((200 / 3 + 282.5) / 4)
    # service security: 100 % of 75 = 75
    assert levels["service_security"]["score"] == pytest.approx(75.0)
    # green: 0.8 * 65 + 0.2 * 75 = 52 + 15 = 67
    assert levels["green"]["score"] == pytest.approx(67.0)
    # content service: 20 each: (75 + 75 + 75 + 75 + 100) / 5 = 80
    assert levels["content_service"]["score"] == pytest.approx(80.0)
    # co-acceleration: 25 each: (75 + 75 + 55 + 60) / 4 = 66.25
    assert levels["co_acceleration"]["score"] == pytest.approx(66.25)
    # other: 20 each: (75 + 75 + 67.5 + 57.5 + 75) / 5 = 70
    assert levels["other"]["score"] == pytest.approx(70.0)
    # first-level weights unchanged (no level wholly not applicable)
    assert [lv["weight"] for lv in card["levels"]] == [20, 15, 5, 5, 25, 10, 20]
    # total = (20*75.8333 + 15*87.2917 + 5*75 + 5*67 + 25*80 + 10*66.25 + 20*70) / 100
    #       = (1516.667 + 1309.375 + 375 + 335 + 2000 + 662.5 + 1400) / 100
    #       = 7598.5417 / 100 = 75.985 → 75.99
    assert card["total_score"] == 75.99
    # cut points 40 / 60 / 75 / 90: 75.99 ≥ 75 → grade 4 by score
    assert card["grade_by_score"] == 4
    # §7 caps: 80B fine-tuning misses 300B (grade 5) and 100B (grade 4); 6 categories, 2 modes
    # and multi-metric monitoring miss grade 5 only → the strictest cap is grade 3.
    assert card["caps"] == [
        {
            "grade": 4,
            "reason": "grade 5 needs fine-tuning of models of 300B parameters or more;"
            " attested 80B",
        },
        {
            "grade": 4,
            "reason": "grade 5 needs built-in models in all 8 categories (vision, speech, nlp,"
            " time_series, multimodal, llm, text_to_image, remote_sensing);"
            " missing text_to_image, remote_sensing",
        },
        {
            "grade": 4,
            "reason": "grade 5 needs at least 3 online development environment modes;"
            " attested 2 mode(s)",
        },
        {"grade": 4, "reason": "grade 5 needs full multi-dimensional monitoring; attested multi"},
        {
            "grade": 3,
            "reason": "grade 4 needs fine-tuning of models of 100B parameters or more;"
            " attested 80B",
        },
    ]
    assert card["grade"] == 3


def test_record_shape_and_audit_trail(card: dict[str, Any]) -> None:
    assert list(card) == [
        "record", "scorecard_id", "scope", "provider_id", "contract_id", "contract_version",
        "period_start", "period_end", "total_score", "grade", "grade_by_score", "caps", "levels",
    ]  # fmt: skip
    assert card["record"] == "scorecard"
    assert card["scope"] == "contract"
    assert card["scorecard_id"] == "gpu-train-001:scorecard:2026-03-01T00:00:00+08:00:r3"
    json.dumps(card, allow_nan=False)  # plain JSON, no NaN or infinity
    for level in card["levels"]:
        assert list(level) == ["key", "name", "weight", "score", "metrics"]
        for metric in level["metrics"]:
            assert list(metric) == [
                "key", "name", "weight", "value", "unit", "source", "score", "input",
            ]  # fmt: skip
    metrics = _metrics(card)
    # one input: its value and unit on the metric
    assert (metrics["data_durability"]["value"], metrics["data_durability"]["unit"]) == (
        pytest.approx(11.0),
        "nines",
    )
    # several inputs: each value, unit, curve and score in input.parts
    transport = metrics["network_transport"]
    assert transport["value"] is None
    assert [(p["ref"], p["value"], p["unit"], p["score"]) for p in transport["input"]["parts"]] == [
        ("measure:network_latency", 5.0, "ms", pytest.approx(75.0)),
        ("measure:network_loss", 0.1, "percent", pytest.approx(60.0)),
        ("measure:network_jitter", None, "ms", None),
    ]
    assert transport["input"]["note"] == "no value for measure:network_jitter (left out)"
    assert transport["input"]["parts"][0]["curve"] == {
        "type": "linear",
        "direction": "lower",
        "points": [[1.0, 100.0], [5.0, 75.0], [20.0, 40.0], [100.0, 0.0]],
    }
    compat = metrics["large_model_compatibility"]["input"]
    assert compat["parts"][-1]["score"] == 0.0
    assert compat["note"] == "no value for attested:compat_error_rate_300b (scored 0)"
    storage = metrics["storage_availability"]
    assert storage["input"]["note"] == "not applicable: no storage sold"
    assert storage["input"]["declared_weight"] == 10


def test_record_fits_the_scorecard_output_model(card: dict[str, Any]) -> None:
    from engine.models.outputs import Scorecard

    assert Scorecard.model_validate(card).model_dump()["levels"][0]["metrics"][0]["key"] == (
        "service_availability"
    )
