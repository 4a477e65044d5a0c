"""Factories for the scoring tests: evidence, attested sections, small scoring specs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.models.assessment import Attested, Scoring, load_scoring_defaults

EVIDENCE = {"report_id": "CT-2026-001", "date": "2026-03-01", "tested_by": "CAICT lab"}
ALL_CATEGORIES = [
    "vision",
    "speech",
    "nlp",
    "time_series",
    "multimodal",
    "llm",
    "text_to_image",
    "remote_sensing",
]


def _grade_5_facts() -> dict[str, Any]:
    """Attested facts meeting every §7 requirement of grade 5."""
    return {
        "fine_tuning": 300,
        "model_categories": list(ALL_CATEGORIES),
        "dev_environment": ["notebook", "ide", "ssh"],
        "model_monitoring": "full",
    }


@pytest.fixture
def attested() -> Callable[..., Attested]:
    """``attested(fine_tuning=120, ...)``: each keyword is a value, evidence is added.

    ``grade_5=True`` starts from facts meeting all of §7's grade 5 requirements; a keyword
    set to None drops that attestation.
    """

    def make(grade_5: bool = False, **values: Any) -> Attested:
        facts = _grade_5_facts() if grade_5 else {}
        facts.update(values)
        section = {
            name: {"value": value, "evidence": EVIDENCE}
            for name, value in facts.items()
            if value is not None
        }
        return Attested.model_validate(section)

    return make


@pytest.fixture(scope="session")
def defaults() -> Scoring:
    return load_scoring_defaults()


def _level(key: str, weight: float, *metrics: dict[str, Any]) -> dict[str, Any]:
    return {"key": key, "name": key.title(), "weight": weight, "metrics": list(metrics)}


def _metric(key: str, weight: float, *inputs: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"key": key, "name": key.title(), "weight": weight, "inputs": list(inputs), **rest}


LINEAR_UP = {"type": "linear", "direction": "higher", "points": [[0, 0], [100, 100]]}


@pytest.fixture
def tiny() -> Callable[..., Scoring]:
    """A two-level spec: a (60) = a1 40 + a2 60 on service_availability and mttr; b (40) =
    b1 on attested data_privacy. ``tiny(not_applicable=[...], grades=...)`` changes parts."""

    def make(**changes: Any) -> Scoring:
        data: dict[str, Any] = {
            "grades": {2: 20, 3: 40, 4: 60, 5: 80},
            "levels": [
                _level(
                    "a",
                    60,
                    _metric("a1", 40, {"measure": "service_availability", "curve": LINEAR_UP}),
                    _metric(
                        "a2",
                        60,
                        {
                            "measure": "mttr",
                            "curve": {"type": "count", "direction": "lower", "zero_at": 10},
                        },
                    ),
                ),
                _level(
                    "b",
                    40,
                    _metric("b1", 100, {"attested": "data_privacy", "curve": {"type": "boolean"}}),
                ),
            ],
        }
        data.update(changes)
        return Scoring.model_validate(data)

    return make
