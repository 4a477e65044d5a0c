"""Invariants: the total stays in [0, 100]; a monotone curve makes the total monotone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.scoring import scorecard
from engine.models.assessment import (
    MEASURED_INPUTS,
    Attested,
    Scoring,
    load_scoring_defaults,
)
from engine.models.contract import SoftwareSupport

SUPPORT = SoftwareSupport(frameworks=["PyTorch 2.5"])  # §6.1.10: one item, grade 2 and up

DEFAULTS = load_scoring_defaults()
EVIDENCE = {"report_id": "R", "date": "2026-01-05", "tested_by": "lab"}
VALUE = st.one_of(
    st.none(),
    st.floats(min_value=-1e6, max_value=1e9, allow_nan=False, allow_infinity=False),
)
MEASURED = st.dictionaries(st.sampled_from(sorted(MEASURED_INPUTS)), VALUE)
ATTESTED = st.builds(
    lambda tuning, level, modes, count, rate: Attested.model_validate(
        {
            "fine_tuning": {"value": tuning, "evidence": EVIDENCE},
            "model_monitoring": {"value": level, "evidence": EVIDENCE},
            "dev_environment": {"value": [f"m{i}" for i in range(modes)], "evidence": EVIDENCE},
            "model_count": {"value": count, "evidence": EVIDENCE},
            "large_model_compatibility": {"value": {"10b": rate}, "evidence": EVIDENCE},
        }
    ),
    st.floats(min_value=0.1, max_value=1000),
    st.sampled_from(["none", "basic", "multi", "full"]),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=0, max_value=100),
)


def _card(
    spec: Scoring, measured: dict[str, float | None], attested: Attested | None
) -> dict[str, Any]:
    return scorecard(
        spec,
        measured,
        attested,
        software_support=SUPPORT,
        contract_id="c",
        provider_id="p",
        contract_version=1,
        period_start="s",
        period_end="e",
    )


@settings(max_examples=150, deadline=None)
@given(MEASURED, st.one_of(st.none(), ATTESTED))
def test_total_and_every_score_within_0_and_100(
    measured: dict[str, float | None], attested: Attested | None
) -> None:
    card = _card(DEFAULTS, measured, attested)
    assert 0.0 <= card["total_score"] <= 100.0
    assert 1 <= card["grade"] <= card["grade_by_score"] <= 5
    for level in card["levels"]:
        assert level["score"] is None or -1e-9 <= level["score"] <= 100 + 1e-9
        for metric in level["metrics"]:
            assert metric["score"] is None or 0.0 <= metric["score"] <= 100.0


def _monotone(key: str, sign: int) -> Callable[[dict[str, float | None], float, float], None]:
    @settings(max_examples=100, deadline=None)
    @given(
        MEASURED,
        st.floats(min_value=-1e4, max_value=1e5, allow_nan=False),
        st.floats(min_value=-1e4, max_value=1e5, allow_nan=False),
    )
    def check(measured: dict[str, float | None], a: float, b: float) -> None:
        low, high = sorted((a, b))
        worse = _card(DEFAULTS, {**measured, key: low}, None)
        better = _card(DEFAULTS, {**measured, key: high}, None)
        if sign > 0:
            assert better["total_score"] >= worse["total_score"]
        else:
            assert better["total_score"] <= worse["total_score"]

    return check


test_monotone_in_service_availability = _monotone("service_availability", +1)
test_monotone_in_mtbf = _monotone("mtbf", +1)
test_antitone_in_mttr = _monotone("mttr", -1)
test_antitone_in_pue = _monotone("pue", -1)
test_antitone_in_stability_interruptions = _monotone("stability_interruptions", -1)
