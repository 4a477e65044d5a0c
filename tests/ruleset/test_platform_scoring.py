"""The platform's Table A.2 scoring file beside the rule files (rules/.scoring/table-a2.yaml)."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.ruleset import load_rules_dir

ROOT = Path(__file__).resolve().parents[2]


def _rules(tmp_path: Path, scoring_text: str | None) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(ROOT / "rules" / "storage-001.yaml", rules)
    if scoring_text is not None:
        (rules / ".scoring").mkdir()
        (rules / ".scoring" / "table-a2.yaml").write_text(scoring_text)
    return rules


def test_a_rules_directory_without_scoring_file_uses_the_packaged_defaults(tmp_path: Path) -> None:
    report = load_rules_dir(_rules(tmp_path, None))
    contract = report.ruleset.latest("storage-001")
    assert report.ok and contract is not None and contract.scoring is not None
    assert contract.scoring.grades == {2: 40.0, 3: 60.0, 4: 75.0, 5: 90.0}


def test_the_platform_file_beside_the_rules_is_used(tmp_path: Path) -> None:
    text = (ROOT / "rules" / ".scoring" / "table-a2.yaml").read_text()
    assert "\n  2: 40\n" in text or "2: 40" in text
    changed = text.replace("2: 40", "2: 30", 1)
    report = load_rules_dir(_rules(tmp_path, changed))
    contract = report.ruleset.latest("storage-001")
    assert report.ok and contract is not None and contract.scoring is not None
    assert contract.scoring.grades[2] == 30.0


def test_a_broken_platform_file_is_an_error_naming_it(tmp_path: Path) -> None:
    report = load_rules_dir(_rules(tmp_path, "version: csla-scoring/v1\nlevels: []\n"))
    assert not report.ok
    (issue,) = [i for i in report.errors if i.path.endswith(".scoring/table-a2.yaml")]
    assert "table-a2.yaml" in str(issue)


def test_provider_scorecards_use_the_platform_file(tmp_path: Path) -> None:
    """The golden storage day replayed with a platform file whose grade-2 cut point is 0: the
    provider's total 0.0 now reaches grade 2 by score (capped back to 1: storage-001 attests no
    fine-tuning scale, a §7 grade-2 requirement)."""
    from engine.adapters.files import replay
    from engine.core.calendar import parse_instant

    text = (ROOT / "rules" / ".scoring" / "table-a2.yaml").read_text()
    rules = load_rules_dir(_rules(tmp_path, text.replace("2: 40", "2: 0", 1))).ruleset
    assert rules.scoring is not None and rules.scoring.grades[2] == 0.0
    result = replay(
        rules,
        str(ROOT / "tests" / "golden" / "storage-day" / "input.ndjson.gz"),
        tmp_path / "out",
        parse_instant("2026-12-01T00:00:00Z"),
        until_ms=parse_instant("2026-11-01T00:00:00+08:00"),
    )
    (provider,) = [s for s in result.outputs.scorecards if s["scope"] == "provider"]
    assert (provider["total_score"], provider["grade_by_score"], provider["grade"]) == (0.0, 2, 1)
