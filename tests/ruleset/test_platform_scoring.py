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
