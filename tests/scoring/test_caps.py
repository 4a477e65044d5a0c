"""§7 hard requirements cap the grade whatever the score; each cap names what was missed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine.core.grades import GRADE_REQUIREMENTS, grade_caps, grade_of
from engine.core.scoring import scorecard
from engine.models.assessment import Attested, Scoring
from engine.models.contract import SoftwareSupport

SUPPORT = SoftwareSupport(frameworks=["PyTorch 2.5"])  # §6.1.10: one item, grade 2 and up

NEEDS = {
    (5, "tuning"): "grade 5 needs fine-tuning of models of 300B parameters or more",
    (5, "categories"): "grade 5 needs built-in models in all 8 categories (vision, speech, nlp,"
    " time_series, multimodal, llm, text_to_image, remote_sensing)",
    (5, "modes"): "grade 5 needs at least 3 online development environment modes",
    (5, "monitoring"): "grade 5 needs full multi-dimensional monitoring",
    (4, "tuning"): "grade 4 needs fine-tuning of models of 100B parameters or more",
    (4, "categories"): "grade 4 needs built-in models in the 6 categories vision, speech, nlp,"
    " time_series, multimodal, llm",
    (4, "modes"): "grade 4 needs at least 2 online development environment modes",
    (4, "monitoring"): "grade 4 needs multi-metric monitoring",
    (3, "tuning"): "grade 3 needs fine-tuning of models of 50B parameters or more",
    (3, "categories"): "grade 3 needs built-in models in the 4 categories vision, speech,"
    " time_series, multimodal",
    (3, "modes"): "grade 3 needs at least 1 online development environment mode",
    (3, "monitoring"): "grade 3 needs basic monitoring",
    (2, "tuning"): "grade 2 needs fine-tuning of models of 10B parameters or more",
}


def cap(grade: int, what: str, shortfall: str) -> dict[str, Any]:
    return {"grade": grade - 1, "reason": f"{NEEDS[grade, what]}; {shortfall}"}


G5 = ["vision", "speech", "nlp", "time_series", "multimodal", "llm", "text_to_image"]


@pytest.mark.parametrize(
    ("change", "caps"),
    [
        ({}, []),
        ({"fine_tuning": 299.9}, [cap(5, "tuning", "attested 299.9B")]),
        ({"fine_tuning": 100}, [cap(5, "tuning", "attested 100B")]),  # 100B meets grade 4
        (
            {"fine_tuning": 99},
            [cap(5, "tuning", "attested 99B"), cap(4, "tuning", "attested 99B")],
        ),
        (
            {"fine_tuning": 50},
            [cap(5, "tuning", "attested 50B"), cap(4, "tuning", "attested 50B")],
        ),
        (
            {"fine_tuning": 10},
            [cap(g, "tuning", "attested 10B") for g in (5, 4, 3)],
        ),
        (
            {"fine_tuning": 7},
            [cap(g, "tuning", "attested 7B") for g in (5, 4, 3, 2)],
        ),
        (
            {"fine_tuning": None},
            [cap(g, "tuning", "not attested") for g in (5, 4, 3, 2)],
        ),
        ({"model_categories": G5}, [cap(5, "categories", "missing remote_sensing")]),
        (
            {"model_categories": ["vision", "speech", "time_series", "multimodal", "llm"]},
            [
                cap(5, "categories", "missing nlp, text_to_image, remote_sensing"),
                cap(4, "categories", "missing nlp"),
            ],
        ),
        (
            {"model_categories": ["vision", "speech", "nlp", "llm", "text_to_image"]},
            [
                cap(5, "categories", "missing time_series, multimodal, remote_sensing"),
                cap(4, "categories", "missing time_series, multimodal"),
                cap(3, "categories", "missing time_series, multimodal"),
            ],
        ),
        (
            {"model_categories": None},
            [cap(g, "categories", "not attested") for g in (5, 4, 3)],
        ),
        ({"dev_environment": ["notebook", "ide"]}, [cap(5, "modes", "attested 2 mode(s)")]),
        (
            {"dev_environment": ["notebook"]},
            [cap(5, "modes", "attested 1 mode(s)"), cap(4, "modes", "attested 1 mode(s)")],
        ),
        (
            {"dev_environment": None},
            [cap(g, "modes", "not attested") for g in (5, 4, 3)],
        ),
        ({"model_monitoring": "multi"}, [cap(5, "monitoring", "attested multi")]),
        (
            {"model_monitoring": "basic"},
            [cap(5, "monitoring", "attested basic"), cap(4, "monitoring", "attested basic")],
        ),
        (
            {"model_monitoring": "none"},
            [cap(g, "monitoring", "attested none") for g in (5, 4, 3)],
        ),
    ],
)
def test_every_requirement_of_section_7(
    attested: Callable[..., Attested], change: dict[str, Any], caps: list[dict[str, Any]]
) -> None:
    order = list(NEEDS)
    expected = sorted(caps, key=lambda c: order.index((c["grade"] + 1, _what(c["reason"]))))
    assert grade_caps(attested(grade_5=True, **change), SUPPORT) == expected


def _what(reason: str) -> str:
    return next(w for (g, w), text in NEEDS.items() if reason.startswith(text))


def test_nothing_attested_caps_at_grade_1() -> None:
    caps = grade_caps(None, SUPPORT)
    assert len(caps) == len(GRADE_REQUIREMENTS) == 13
    assert min(c["grade"] for c in caps) == 1
    assert all(c["reason"].endswith("; not attested") for c in caps)


# §7.1.4 e) grade 2: 配备至少1项软件服务支持; §7.1.5 e) grade 1: 没有软件服务支持
NO_SOFTWARE = {
    "grade": 1,
    "reason": "grade 2 needs at least 1 item of software service support (§7.1.4 e; §6.1.10:"
    " frameworks, acceleration libraries, dev tools, pre-trained models, automated"
    " deployment); none declared",
}


@pytest.mark.parametrize(
    ("support", "capped"),
    [
        (None, True),  # not declared at all
        ({}, True),  # the section's defaults: empty lists, automated_deployment false
        ({"frameworks": [], "dev_tools": [], "automated_deployment": False}, True),
        ({"automated_deployment": True}, False),  # item e) alone
        ({"pretrained_models": ["Qwen2.5-72B"]}, False),  # item d) alone
        ({"frameworks": ["PyTorch 2.5"], "acceleration_libraries": ["NCCL"]}, False),
    ],
)
def test_grade_2_needs_one_item_of_software_support(
    attested: Callable[..., Attested], support: dict[str, Any] | None, capped: bool
) -> None:
    software = None if support is None else SoftwareSupport.model_validate(support)
    caps = grade_caps(attested(grade_5=True), software)
    assert caps == ([NO_SOFTWARE] if capped else [])


def test_no_software_support_caps_a_perfect_score_at_grade_1(
    tiny: Callable[..., Scoring], attested: Callable[..., Attested]
) -> None:
    card = scorecard(
        tiny(),
        {"service_availability": 100.0, "mttr": 0.0},
        attested(grade_5=True, data_privacy=True),
        software_support=SoftwareSupport(),
        contract_id="c",
        provider_id="p",
        contract_version=1,
        period_start="s",
        period_end="e",
    )
    assert (card["total_score"], card["grade_by_score"], card["grade"]) == (100.0, 5, 1)
    assert card["caps"] == [NO_SOFTWARE]


@pytest.mark.parametrize(
    ("total", "grade"),
    [(0.0, 1), (19.99, 1), (20.0, 2), (39.99, 2), (40.0, 3), (60.0, 4), (79.99, 4), (80.0, 5)],
)
def test_grade_by_score_at_the_cut_points(
    tiny: Callable[..., Scoring], total: float, grade: int
) -> None:
    assert grade_of(total, tiny().grades) == grade


@pytest.mark.parametrize(("fine_tuning", "grade"), [(300, 5), (150, 4), (60, 3), (20, 2), (5, 1)])
def test_cap_binds_whatever_the_score(
    tiny: Callable[..., Scoring], attested: Callable[..., Attested], fine_tuning: float, grade: int
) -> None:
    facts = attested(grade_5=True, fine_tuning=fine_tuning, data_privacy=True)
    # a1 100 % → 100, a2 mttr 0 → 100, b1 true → 100: total 100, grade 5 by score
    card = scorecard(
        tiny(),
        {"service_availability": 100.0, "mttr": 0.0},
        facts,
        software_support=SUPPORT,
        contract_id="c",
        provider_id="p",
        contract_version=1,
        period_start="s",
        period_end="e",
    )
    assert (card["total_score"], card["grade_by_score"], card["grade"]) == (100.0, 5, grade)
    assert min([5, *(c["grade"] for c in card["caps"])]) == grade
