"""Provider scorecards: contracts' metric scores averaged, the strictest caps bind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.core.scoring import provider_scorecard, scorecard
from engine.models.assessment import Attested, Scoring
from engine.models.contract import SoftwareSupport

SUPPORT = SoftwareSupport(frameworks=["PyTorch 2.5"])  # §6.1.10: one item, grade 2 and up

START, END = "2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"


@pytest.fixture
def records(
    tiny: Callable[..., Scoring], attested: Callable[..., Attested]
) -> list[dict[str, Any]]:
    one = scorecard(
        tiny(),
        {"service_availability": 50.0, "mttr": 4.0},  # a1 50, a2 60
        attested(grade_5=True, data_privacy=True),  # b1 100; no caps
        software_support=SUPPORT,
        contract_id="c1",
        provider_id="acme",
        contract_version=2,
        period_start=START,
        period_end=END,
    )
    two = scorecard(
        tiny(not_applicable=[{"metric": "b1", "reason": "no tenant data"}]),
        {"service_availability": 90.0},  # a1 90, a2 missing → 0
        attested(grade_5=True, fine_tuning=60),  # caps 4 (300B) and 3 (100B)
        software_support=SUPPORT,
        contract_id="c2",
        provider_id="acme",
        contract_version=1,
        period_start=START,
        period_end=END,
    )
    return [one, two]


def test_provider_scorecard_by_hand(tiny: Callable[..., Scoring], records: list[Any]) -> None:
    card = provider_scorecard(
        tiny(), records, provider_id="acme", period_start=START, period_end=END
    )
    assert card["scorecard_id"] == "acme:scorecard:2026-03-01T00:00:00Z"
    assert (card["scope"], card["contract_id"], card["contract_version"]) == (
        "provider",
        None,
        None,
    )
    metrics = {m["key"]: m for level in card["levels"] for m in level["metrics"]}
    # a1 = mean(50, 90) = 70; a2 = mean(60, 0 missing) = 30; b1 = c1 only (c2: n/a) = 100
    assert metrics["a1"]["score"] == pytest.approx(70.0)
    assert metrics["a2"]["score"] == pytest.approx(30.0)
    assert metrics["b1"]["score"] == pytest.approx(100.0)
    assert [c["score"] for c in metrics["a2"]["input"]["contracts"]] == [60.0, 0.0]
    assert [c["source"] for c in metrics["b1"]["input"]["contracts"]] == [
        "attested",
        "not_applicable",
    ]
    # a = (40*70 + 60*30) / 100 = 46; b = 100; total = (60*46 + 40*100) / 100 = 67.6
    assert card["total_score"] == 67.6
    assert card["grade_by_score"] == 4  # tiny cut points 20 / 40 / 60 / 80
    assert card["caps"] == [
        {
            "grade": 4,
            "reason": "c2: grade 5 needs fine-tuning of models of 300B parameters or more;"
            " attested 60B",
        },
        {
            "grade": 3,
            "reason": "c2: grade 4 needs fine-tuning of models of 100B parameters or more;"
            " attested 60B",
        },
    ]
    assert card["grade"] == 3


def test_metric_not_applicable_in_every_contract(
    tiny: Callable[..., Scoring], records: list[Any]
) -> None:
    card = provider_scorecard(
        tiny(), records[1:], provider_id="acme", period_start=START, period_end=END
    )
    b1 = card["levels"][1]["metrics"][0]
    assert (b1["source"], b1["score"]) == ("not_applicable", None)
    assert card["levels"][1]["weight"] == 0.0
    assert card["total_score"] == 36.0  # level a alone: (40*90 + 60*0) / 100


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"provider_id": "other"}, "is of provider 'other', not 'acme'"),
        ({"scope": "provider"}, "combines contract scorecards only"),
    ],
)
def test_wrong_records_are_refused(
    tiny: Callable[..., Scoring], records: list[Any], change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        provider_scorecard(
            tiny(), [records[0], {**records[1], **change}], provider_id="acme", period_start=START,
            period_end=END,
        )  # fmt: skip
    with pytest.raises(ValueError, match="at least one"):
        provider_scorecard(tiny(), [], provider_id="acme", period_start=START, period_end=END)


def test_a_contract_without_software_support_caps_its_provider(
    tiny: Callable[..., Scoring], attested: Callable[..., Attested]
) -> None:
    """§7.1.4 e): one contract with no software service support caps the provider at 1."""
    cards = [
        scorecard(
            tiny(),
            {"service_availability": 100.0, "mttr": 0.0},
            attested(grade_5=True, data_privacy=True),
            software_support=support,
            contract_id=cid,
            provider_id="acme",
            contract_version=1,
            period_start=START,
            period_end=END,
        )
        for cid, support in (("c1", SUPPORT), ("c2", SoftwareSupport()))
    ]
    assert [(c["grade_by_score"], c["grade"]) for c in cards] == [(5, 5), (5, 1)]
    card = provider_scorecard(tiny(), cards, provider_id="acme", period_start=START, period_end=END)
    assert (card["total_score"], card["grade_by_score"], card["grade"]) == (100.0, 5, 1)
    assert [c["grade"] for c in card["caps"]] == [1]
    assert card["caps"][0]["reason"].startswith(
        "c2: grade 2 needs at least 1 item of software service support"
    )
