"""Scoring curves: values at the bounds, between points, beyond the ends; shape checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from engine.core.scoring import curve_score
from engine.models.assessment import Curve

CURVE: TypeAdapter[Any] = TypeAdapter(Curve)
UP = {"type": "linear", "direction": "higher", "points": [[99.0, 0], [99.9, 60], [99.99, 100]]}
DOWN = {"type": "linear", "direction": "lower", "points": [[1, 90], [4, 60], [24, 0]]}
STEP_UP = {"type": "step", "direction": "higher", "steps": [[1, 20], [2, 50], [3, 100]]}
STEP_DOWN = {"type": "step", "direction": "lower", "steps": [[0, 100], [1, 60], [2, 30]]}
COUNT_UP = {"type": "count", "direction": "higher", "full_at": 4}
COUNT_DOWN = {"type": "count", "direction": "lower", "zero_at": 3}
BOOLEAN = {"type": "boolean", "if_true": 100, "if_false": 10}


@pytest.mark.parametrize(
    ("curve", "x", "score"),
    [
        (UP, 98.0, 0.0),  # beyond the first point: flat
        (UP, 99.0, 0.0),  # at the first point
        (UP, 99.45, 30.0),  # half-way 99 → 99.9: 0 + 60 * 0.45 / 0.9
        (UP, 99.9, 60.0),  # at an inner point
        (UP, 99.945, 80.0),  # half-way 99.9 → 99.99: 60 + 40 * 0.5
        (UP, 99.99, 100.0),  # at the last point
        (UP, 100.0, 100.0),  # beyond the last point: flat
        (DOWN, 0.0, 90.0),  # lower is better: below the first point, its score
        (DOWN, 2.5, 75.0),  # 90 - 30 * 1.5 / 3
        (DOWN, 14.0, 30.0),  # 60 - 60 * 10 / 20
        (DOWN, 48.0, 0.0),
        (STEP_UP, 0.5, 0.0),  # below every bound: otherwise
        (STEP_UP, 1.0, 20.0),  # bounds are inclusive
        (STEP_UP, 2.9, 50.0),
        (STEP_UP, 3.0, 100.0),
        (STEP_UP, 5.0, 100.0),
        (STEP_DOWN, 0.0, 100.0),
        (STEP_DOWN, 0.5, 60.0),  # first bound ≥ 0.5 is 1
        (STEP_DOWN, 1.0, 60.0),
        (STEP_DOWN, 2.0, 30.0),
        (STEP_DOWN, 2.1, 0.0),  # above every bound: otherwise
        (COUNT_UP, 0.0, 0.0),
        (COUNT_UP, 3.0, 75.0),
        (COUNT_UP, 4.0, 100.0),
        (COUNT_UP, 9.0, 100.0),  # capped at full_at
        (COUNT_DOWN, 0.0, 100.0),
        (COUNT_DOWN, 1.0, 100 * 2 / 3),
        (COUNT_DOWN, 3.0, 0.0),
        (COUNT_DOWN, 7.0, 0.0),
        (BOOLEAN, 1.0, 100.0),
        (BOOLEAN, 0.0, 10.0),
    ],
)
def test_curve_score(curve: dict[str, Any], x: float, score: float) -> None:
    assert curve_score(CURVE.validate_python(curve), x) == pytest.approx(score)


def test_step_otherwise_can_be_set() -> None:
    curve = CURVE.validate_python({**STEP_UP, "otherwise": 5})
    assert curve_score(curve, -1.0) == 5.0


@pytest.mark.parametrize(
    ("curve", "message"),
    [
        (
            {**UP, "points": [[99.0, 0], [99.0, 60]]},
            "points: x values must strictly ascend (99 after 99)",
        ),
        (
            {**UP, "points": [[99.0, 0], [99.9, 60], [99.99, 50]]},
            "points: with direction higher the scores must rise or stay (50 after 60)",
        ),
        (
            {**DOWN, "points": [[1, 90], [4, 95]]},
            "points: with direction lower the scores must fall or stay (95 after 90)",
        ),
        (
            {**STEP_UP, "otherwise": 30},
            "steps: with direction higher the scores must rise or stay (20 after 30)",
        ),
        (
            {**STEP_DOWN, "otherwise": 40},
            "steps: with direction lower the scores must fall or stay (40 after 30)",
        ),
        ({**BOOLEAN, "if_false": 100, "if_true": 0}, "if_false: must not score above if_true"),
        (
            {"type": "count", "direction": "lower", "full_at": 3},
            "zero_at: a count curve with direction lower needs zero_at only",
        ),
        (
            {"type": "count", "direction": "higher"},
            "full_at: a count curve with direction higher needs full_at only",
        ),
    ],
)
def test_curve_shape_errors(curve: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CURVE.validate_python(curve)
    (error,) = caught.value.errors(include_url=False)
    assert str(error["ctx"]["error"]) == message


def test_scores_stay_within_0_and_100() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        CURVE.validate_python({**UP, "points": [[0, 0], [1, 120]]})
