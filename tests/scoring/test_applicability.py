"""Not applicable: excluded, weights renormalised in the level. Missing: scores 0."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from engine.core.scoring import scorecard
from engine.models.assessment import Attested, Scoring
from engine.models.contract import SoftwareSupport

SUPPORT = SoftwareSupport(frameworks=["PyTorch 2.5"])  # §6.1.10: one item, grade 2 and up

Card = Callable[..., dict[str, Any]]


@pytest.fixture
def card(attested: Callable[..., Attested]) -> Card:
    def make(spec: Scoring, measured: dict[str, float | None], **facts: Any) -> dict[str, Any]:
        return scorecard(
            spec,
            measured,
            attested(**facts) if facts else None,
            software_support=SUPPORT,
            contract_id="c",
            provider_id="p",
            contract_version=1,
            period_start="2026-03-01T00:00:00Z",
            period_end="2026-04-01T00:00:00Z",
        )

    return make


def _by_key(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["key"]: m for level in card["levels"] for m in level["metrics"]}


def test_everything_present(tiny: Callable[..., Scoring], card: Card) -> None:
    got = card(tiny(), {"service_availability": 50.0, "mttr": 4.0}, data_privacy=True)
    # a1 = 50; a2 = 100 * (10 - 4) / 10 = 60; a = (40*50 + 60*60) / 100 = 56; b = 100
    # total = (60*56 + 40*100) / 100 = 73.6
    assert [lv["score"] for lv in got["levels"]] == pytest.approx([56.0, 100.0])
    assert got["total_score"] == 73.6
    assert got["grade_by_score"] == 4


def test_missing_scores_zero_and_is_reported(tiny: Callable[..., Scoring], card: Card) -> None:
    got = card(tiny(), {"service_availability": 50.0, "mttr": None}, data_privacy=True)
    a2 = _by_key(got)["a2"]
    assert (a2["source"], a2["score"], a2["value"]) == ("missing", 0.0, None)
    assert a2["input"]["note"] == "missing: no value for measure:mttr"
    assert a2["weight"] == 60  # still counted: no renormalisation for missing
    # a = (40*50 + 60*0) / 100 = 20; total = (60*20 + 40*100) / 100 = 52
    assert got["total_score"] == 52.0


def test_absent_key_and_nan_are_missing_too(tiny: Callable[..., Scoring], card: Card) -> None:
    got = card(tiny(), {"mttr": float("nan")}, data_privacy=True)
    metrics = _by_key(got)
    assert metrics["a1"]["source"] == metrics["a2"]["source"] == "missing"
    assert got["total_score"] == 40.0  # only b: 40 * 100 / 100


def test_no_attested_section_is_missing(tiny: Callable[..., Scoring], card: Card) -> None:
    got = card(tiny(), {"service_availability": 100.0, "mttr": 0.0})
    assert _by_key(got)["b1"]["source"] == "missing"
    assert got["total_score"] == 60.0
    assert got["grade"] == 1  # nothing attested: every §7 requirement missed


def test_not_applicable_renormalises_within_the_level(
    tiny: Callable[..., Scoring], card: Card
) -> None:
    spec = tiny(not_applicable=[{"metric": "a1", "reason": "no probes in this contract"}])
    got = card(spec, {"service_availability": 0.0, "mttr": 4.0}, data_privacy=True)
    a1, a2 = got["levels"][0]["metrics"]
    assert (a1["source"], a1["score"], a1["weight"]) == ("not_applicable", None, 0.0)
    assert a1["input"]["note"] == "not applicable: no probes in this contract"
    assert a1["input"]["declared_weight"] == 40
    # a2 alone carries level a: 60 / 60 * 100 = 100 %; a = 60; total = (60*60 + 40*100) / 100
    assert a2["weight"] == 100.0
    assert got["levels"][0]["score"] == pytest.approx(60.0)
    assert got["total_score"] == 76.0


def test_whole_level_not_applicable_renormalises_the_levels(
    tiny: Callable[..., Scoring], card: Card
) -> None:
    spec = tiny(not_applicable=[{"metric": "b1", "reason": "privacy audited elsewhere"}])
    got = card(spec, {"service_availability": 50.0, "mttr": 4.0})
    a, b = got["levels"]
    assert (b["score"], b["weight"]) == (None, 0.0)
    assert a["weight"] == 100.0
    assert got["total_score"] == 56.0  # level a alone: 56


def test_not_applicable_must_name_a_metric_and_leave_one(tiny: Callable[..., Scoring]) -> None:
    with pytest.raises(ValidationError, match=r"not_applicable: unknown metric\(s\) zz"):
        tiny(not_applicable=[{"metric": "zz", "reason": "x"}])
    with pytest.raises(ValidationError, match="every metric is excluded"):
        tiny(not_applicable=[{"metric": key, "reason": "x"} for key in ("a1", "a2", "b1")])
    with pytest.raises(ValidationError, match="reason"):
        tiny(not_applicable=[{"metric": "a1"}])


def test_combined_inputs_mean_min_skip_zero(tiny: Callable[..., Scoring], card: Card) -> None:
    up = {"type": "linear", "direction": "higher", "points": [[0, 0], [100, 100]]}
    inputs = [
        {"measure": "service_availability", "curve": up},
        {"measure": "node_availability", "curve": up},
        {"measure": "network_availability", "curve": up},
    ]

    def spec(**rule: Any) -> Scoring:
        return tiny(
            levels=[
                {
                    "key": "a",
                    "name": "A",
                    "weight": 100,
                    "metrics": [{"key": "m", "name": "M", "weight": 100, "inputs": inputs, **rule}],
                }
            ]
        )

    measured = {"service_availability": 90.0, "node_availability": 60.0}
    assert card(spec(), measured)["total_score"] == 75.0  # mean(90, 60); network left out
    assert card(spec(combine="min"), measured)["total_score"] == 60.0
    assert card(spec(missing_parts="zero"), measured)["total_score"] == 50.0  # (90+60+0)/3
    assert card(spec(combine="min", missing_parts="zero"), measured)["total_score"] == 0.0
    got = card(spec(missing_parts="zero"), {})
    assert (got["levels"][0]["metrics"][0]["source"], got["total_score"]) == ("missing", 0.0)


def test_no_failures_score_mttr_and_mtbf_at_their_best(defaults: Scoring, card: Card) -> None:
    got = card(defaults, {"failure_count": 0.0, "mttr": None})
    reliability = next(
        m for level in got["levels"] for m in level["metrics"] if m["key"] == "service_reliability"
    )
    assert (reliability["source"], reliability["score"]) == ("measured", 100.0)
    notes = [(p["ref"], p["value"], p["score"], p["note"]) for p in reliability["input"]["parts"]]
    best = "no failures in the period (failure_count 0): best score"
    assert notes == [("measure:mtbf", None, 100.0, best), ("measure:mttr", None, 100.0, best)]
    assert reliability["input"]["note"] is None
    # with failures, a missing MTTR is missing as usual
    got = card(defaults, {"failure_count": 2.0, "mtbf": 168.0})
    reliability = next(
        m for level in got["levels"] for m in level["metrics"] if m["key"] == "service_reliability"
    )
    assert reliability["score"] == 40.0  # mtbf 168 h: 40; mttr left out
    assert reliability["input"]["note"] == "no value for measure:mttr (left out)"
