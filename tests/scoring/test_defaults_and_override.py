"""The shipped defaults file, loading errors, and a contract's ``scoring:`` override."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.models.assessment import (
    DEFAULT_SCORING_PATH,
    Attested,
    Input,
    Scoring,
    ScoringFileError,
    ScoringOverride,
    load_scoring_defaults,
    merge_scoring,
)


def test_defaults_file_is_shipped_under_rules_and_packaged() -> None:
    """rules/.scoring/table-a2.yaml is the data, the one copy: a checkout reads it there, a
    wheel carries it as package data (tests/test_wheel.py installs one)."""
    shipped = Path(__file__).resolve().parents[2] / "rules" / ".scoring" / "table-a2.yaml"
    assert DEFAULT_SCORING_PATH.is_file() and shipped.is_file()
    assert DEFAULT_SCORING_PATH.samefile(shipped)
    assert load_scoring_defaults(DEFAULT_SCORING_PATH) == load_scoring_defaults()


def test_every_default_metric_says_why() -> None:
    """Each second-level metric's block in the defaults file carries a comment."""
    text = DEFAULT_SCORING_PATH.read_text(encoding="utf-8")
    blocks = text.split("\n      - key: ")[1:]
    assert len(blocks) == 25
    for block in blocks:
        assert "\n          #" in block.split("\n  - key: ")[0], block.splitlines()[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("levels: []\n", "not a scoring file (needs version: csla-scoring/v1)"),
        ("version: csla/v1\n", "not a scoring file"),
        ("version: csla-scoring/v1\nlevels: [\n", "while parsing"),
        (
            "version: csla-scoring/v1\ngrades: {2: 40, 3: 60, 4: 75, 5: 90}\nlevels:\n"
            "  - {key: a, name: A, weight: 90, metrics: [{key: m, name: M, weight: 100,"
            " inputs: [{measure: pue, curve: {type: count, full_at: 1}}]}]}\n",
            "levels: first-level weights sum to 90, not 100 (a 90)",
        ),
    ],
)
def test_bad_defaults_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "table.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScoringFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_scoring_defaults(path)
    with pytest.raises(ScoringFileError, match="No such file"):
        load_scoring_defaults(tmp_path / "absent.yaml")


def test_override_replaces_parts_only(defaults: Scoring) -> None:
    override = ScoringOverride.model_validate(
        {
            "weights": {
                "availability": 30, "reliability": 15, "service_security": 5, "green": 5,
                "content_service": 15, "co_acceleration": 10, "other": 20,
            },
            "metrics": {
                "service_reliability": {
                    "inputs": [
                        {
                            "measure": "failure_count",
                            "curve": {"type": "count", "direction": "lower", "zero_at": 5},
                        }
                    ]
                },
                "service_response": {
                    "combine": "min",
                    "inputs": [
                        {
                            "measure": "latency@api-p99",
                            "curve": {"type": "step", "direction": "lower",
                                      "steps": [[200, 100], [800, 50]]},
                        }
                    ],
                },
            },
            "grades": {2: 30, 3: 50, 4: 70, 5: 85},
            "not_applicable": [{"metric": "pue", "reason": "colocation: PUE not reported"}],
        }
    )  # fmt: skip
    merged = merge_scoring(defaults, override)
    assert [lv.weight for lv in merged.levels] == [30, 15, 5, 5, 15, 10, 20]
    metrics = {m.key: m for lv in merged.levels for m in lv.metrics}
    reliability = metrics["service_reliability"]
    assert (reliability.name, reliability.weight) == ("Service reliability (服务的可靠性)", 25)
    assert [i.ref for i in reliability.inputs] == ["measure:failure_count"]
    assert reliability.combine == "mean"  # replaced as a whole: the rule's own default
    assert metrics["service_response"].combine == "min"
    assert metrics["pue"] == next(m for lv in defaults.levels for m in lv.metrics if m.key == "pue")
    assert merged.grades == {2: 30, 3: 50, 4: 70, 5: 85}
    assert [(n.metric, n.reason) for n in merged.not_applicable] == [
        ("pue", "colocation: PUE not reported")
    ]
    assert merge_scoring(defaults, None) is defaults


def test_override_errors_are_collected(defaults: Scoring) -> None:
    override = ScoringOverride.model_validate(
        {
            "metrics": {"uptime": {"inputs": [{"measure": "mttr", "curve": {"type": "boolean"}}]}},
            "not_applicable": [{"metric": "uptime", "reason": "x"}],
        }
    )
    with pytest.raises(ValueError) as caught:
        merge_scoring(defaults, override)
    assert str(caught.value) == "metrics: unknown metric 'uptime'"
    only_na = ScoringOverride.model_validate({"not_applicable": [{"metric": "upt", "reason": "x"}]})
    with pytest.raises(ValueError, match=r"not_applicable: unknown metric\(s\) upt"):
        merge_scoring(defaults, only_na)


def test_override_grades_checked_on_their_own() -> None:
    with pytest.raises(ValidationError, match="grade 3 at 40 is not above grade 2 at 40"):
        ScoringOverride.model_validate({"grades": {2: 40, 3: 40, 4: 75, 5: 90}})
    with pytest.raises(ValidationError):
        ScoringOverride.model_validate({"grades": {1: 10, 2: 40, 3: 60, 4: 75}})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"curve": {"type": "boolean"}}, "measure: give exactly one of measure or attested"),
        (
            {"measure": "mttr", "attested": "data_privacy", "curve": {"type": "boolean"}},
            "measure: give exactly one of measure or attested",
        ),
        ({"measure": "uptime", "curve": {"type": "boolean"}}, "unknown measured input 'uptime'"),
        ({"attested": "iso_27001", "curve": {"type": "boolean"}}, "unknown attested input"),
    ],
)
def test_input_refs(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Input.model_validate(data)


def test_rule_loader_numbers_as_decimals_are_accepted() -> None:
    """engine.ruleset reads YAML floats as Decimal; the sections take them."""
    override = ScoringOverride.model_validate(
        {"metric_weights": {"green": {"pue": Decimal("62.5"), "renewable_ratio": Decimal("37.5")}}}
    )
    assert override.metric_weights == {"green": {"pue": 62.5, "renewable_ratio": 37.5}}
    evidence = {"report_id": "R", "date": "2026-01-05", "tested_by": "lab"}
    section = Attested.model_validate(
        {
            "fine_tuning": {"value": Decimal("175.5"), "evidence": evidence},
            "data_durability": {"value": Decimal("99.999999999"), "evidence": evidence},
        }
    )
    assert section.fine_tuning is not None and section.fine_tuning.value == 175.5
