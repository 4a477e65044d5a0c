"""Table A.2 weights as data: sums of 100 at each level, errors naming the level."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from engine.models.assessment import Scoring, ScoringOverride, merge_scoring

TABLE_A2 = {
    "availability": (20, {"service_availability": 40, "node_availability": 20,
                          "storage_availability": 10, "network_availability": 30}),
    "reliability": (15, {"data_storage_reliability": 25, "data_durability": 25,
                         "data_privacy": 25, "service_reliability": 25}),
    "service_security": (5, {"service_security": 100}),
    "green": (5, {"pue": 80, "renewable_ratio": 20}),
    "content_service": (25, {"model_count": 20, "model_type_coverage": 20,
                             "model_service_monitoring": 20, "dev_env_diversity": 20,
                             "lifecycle_tooling": 20}),
    "co_acceleration": (10, {"co_acceleration_ratio": 25, "hardware_adaptation": 25,
                             "large_model_compatibility": 25, "domestic_stability": 25}),
    "other": (20, {"capacity_elasticity": 20, "flops": 20, "network_transport": 20,
                   "service_response": 20, "resource_elasticity": 20}),
}  # fmt: skip


def test_shipped_defaults_are_table_a2(defaults: Scoring) -> None:
    shipped = {
        level.key: (level.weight, {m.key: m.weight for m in level.metrics})
        for level in defaults.levels
    }
    assert shipped == TABLE_A2
    assert defaults.grades == {2: 40, 3: 60, 4: 75, 5: 90}
    assert defaults.not_applicable == []


def _data(defaults: Scoring) -> dict[str, Any]:
    return copy.deepcopy(defaults.model_dump())


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        Scoring.model_validate(data)
    (error,) = caught.value.errors(include_url=False)
    return str(error["ctx"]["error"])


def test_first_level_not_100(defaults: Scoring) -> None:
    data = _data(defaults)
    data["levels"][0]["weight"] = 15
    assert _error(data) == (
        "levels: first-level weights sum to 95, not 100 (availability 15 + reliability 15"
        " + service_security 5 + green 5 + content_service 25 + co_acceleration 10 + other 20)"
    )


def test_second_level_not_100_names_the_level(defaults: Scoring) -> None:
    data = _data(defaults)
    data["levels"][3]["metrics"][1]["weight"] = 30
    assert _error(data) == (
        "metrics: second-level weights of level 'green' sum to 110, not 100"
        " (pue 80 + renewable_ratio 30)"
    )


def test_fractional_weights_that_sum_to_100_are_accepted(defaults: Scoring) -> None:
    data = _data(defaults)
    for metric, weight in zip(data["levels"][1]["metrics"], (33.3, 33.3, 33.4, 0), strict=True):
        metric["weight"] = weight
    Scoring.model_validate(data)


def test_cut_points_ascending(defaults: Scoring) -> None:
    data = _data(defaults)
    data["grades"] = {2: 40, 3: 80, 4: 75, 5: 90}
    assert _error(data) == (
        "grades: cut points must ascend with the grade (grade 4 at 75 is not above grade 3 at 80)"
    )


def test_every_problem_is_reported_at_once(defaults: Scoring) -> None:
    data = _data(defaults)
    data["levels"][0]["weight"] = 25
    data["grades"] = {2: "40", "3": 30, 4: 75, 5: 90}  # keys as the rule loader gives them
    assert _error(data) == (
        "levels: first-level weights sum to 105, not 100 (availability 25 + reliability 15"
        " + service_security 5 + green 5 + content_service 25 + co_acceleration 10 + other 20);"
        " grades: cut points must ascend with the grade (grade 3 at 30 is not above grade 2"
        " at 40)"
    )


def test_metric_key_twice(defaults: Scoring) -> None:
    data = _data(defaults)
    data["levels"][2]["metrics"][0]["key"] = "pue"
    assert _error(data) == "levels: metric key listed twice: pue"


def test_override_weights_checked_on_their_own() -> None:
    with pytest.raises(ValidationError) as caught:
        ScoringOverride.model_validate(
            {"weights": {"availability": 50, "other": 40}, "metric_weights": {"green": {"pue": 10}}}
        )
    messages = [str(e["ctx"]["error"]) for e in caught.value.errors(include_url=False)]
    assert messages == [  # every problem, in one message
        "weights: first-level weights sum to 90, not 100 (availability 50 + other 40);"
        " metric_weights: second-level weights of 'green' sum to 10, not 100 (pue 10)"
    ]
    with pytest.raises(ValidationError, match=r"second-level weights of 'green' sum to 10, not"):
        ScoringOverride.model_validate({"metric_weights": {"green": {"pue": 10}}})


def test_override_must_name_every_level(defaults: Scoring) -> None:
    override = ScoringOverride.model_validate(
        {"weights": {"availability": 50, "reliability": 50, "security": 0}}
    )
    with pytest.raises(ValueError) as caught:
        merge_scoring(defaults, override)
    assert str(caught.value) == (
        "weights: unknown key(s) security (known: availability, reliability, service_security,"
        " green, content_service, co_acceleration, other); weights: missing key(s)"
        " service_security, green, content_service, co_acceleration, other; give every one,"
        " summing to 100"
    )


def test_override_metric_weights_of_one_level(defaults: Scoring) -> None:
    override = ScoringOverride.model_validate(
        {"metric_weights": {"green": {"pue": 50, "renewable_ratio": 50}}}
    )
    merged = merge_scoring(defaults, override)
    assert [m.weight for m in merged.levels[3].metrics] == [50, 50]
    assert merged.levels[0] == defaults.levels[0]
    bad = ScoringOverride.model_validate({"metric_weights": {"greenery": {"pue": 100}}})
    with pytest.raises(ValueError, match=r"metric_weights: unknown level 'greenery'"):
        merge_scoring(defaults, bad)
    partial = ScoringOverride.model_validate({"metric_weights": {"green": {"pue": 100}}})
    with pytest.raises(ValueError, match=r"metric_weights.green: missing key\(s\) renewable_"):
        merge_scoring(defaults, partial)
