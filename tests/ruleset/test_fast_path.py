"""Good files load through libyaml; the result equals the ruamel path that keeps positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.ruleset import load as load_module
from engine.ruleset.compile import compile_checked

RULES = sorted((Path(__file__).resolve().parents[2] / "rules").glob("*.yaml"))


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_fast_and_positioned_paths_agree(path: Path) -> None:
    text = path.read_text()
    fast = load_module._load_fast(text, str(path))
    assert fast[0].contract is not None
    rule, positions, issues = load_module._parse(text, str(path))
    assert rule is not None and not issues
    slow, _ = compile_checked(rule, str(path), positions)
    assert slow is not None
    assert fast[0].contract == slow
    assert fast[0].contract.spec == slow.spec


def test_duplicate_keys_take_the_positioned_path() -> None:
    text = RULES[0].read_text().replace("version: csla/v1", "version: csla/v1\nversion: csla/v1", 1)
    with pytest.raises(load_module._SlowPath):
        load_module._load_fast(text, "dup.yaml")
    result = load_module.load_rule_text(text, "dup.yaml")
    assert result.contract is None
    assert any(
        "version" in issue.message or "duplicate" in issue.message for issue in result.issues
    )
