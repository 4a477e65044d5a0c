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


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


MERGED = """version: csla/v1
base: &base
  window: 1h
  empty:
objectives:
  - <<: *base
    id: a
    threshold: 99.5
  - id: b
    nested: {x: [1, 2, {y: null}]}
"""


@pytest.mark.parametrize(
    "text", [*(p.read_text() for p in RULES), MERGED], ids=[*(p.name for p in RULES), "merge"]
)
def test_positions_from_the_fast_parse_equal_ruamels(text: str) -> None:
    """A warning or error of a good file is placed from libyaml's node marks (no second
    parse); every field path, and paths one step past the file's fields, lands where ruamel's
    round-trip tree places it."""
    from engine.ruleset.limits import compose_checked_node

    node, document = compose_checked_node(text, load_module._FastLoader)
    fast = load_module._NodePositions(node)
    slow = load_module._Positions(load_module._yaml().load(text))
    for path in _paths(document):
        for loc in (path, (*path, "missing"), (*path, 99)):
            assert fast(loc) == slow(loc), loc
