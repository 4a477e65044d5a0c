"""Hostile YAML is refused quickly, with its line: size, depth, alias expansion (issue 11)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.ruleset import load_rule_file, load_rule_text, validate_paths
from engine.ruleset.limits import MAX_ALIAS_NODES, MAX_DEPTH, MAX_FILE_BYTES

RULES = Path(__file__).resolve().parents[2] / "rules"


def _laughs(levels: int = 9) -> str:
    lines = ["version: csla/v1", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for name in "bcdefghijklm"[: levels - 1]:
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
        previous = name
    lines.append(f"monitoring: *{previous}")
    return "\n".join(lines) + "\n"


def _only_error(text: str) -> str:
    started = time.perf_counter()
    result = load_rule_text(text, "hostile.yaml")
    assert time.perf_counter() - started < 1.0
    assert result.contract is None
    [issue] = result.issues
    assert issue.is_error and issue.path == "hostile.yaml"
    return str(issue)


def test_billion_laughs_is_refused_in_well_under_a_second() -> None:
    text = _laughs()
    assert len(text) < 1024
    message = _only_error(text)
    assert message.startswith("hostile.yaml:5:4: error: YAML aliases would add more than")


def test_a_few_aliases_are_fine() -> None:
    small = _laughs(levels=3)  # 9 + 81 + 729 nodes: well inside the limit
    result = load_rule_text(small, "small.yaml")
    assert all("alias" not in issue.message for issue in result.issues)


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    message = _only_error("version: csla/v1\na: &a [1, *a]\n")
    assert message == (
        "hostile.yaml:2:4: error: a YAML alias refers to a collection that contains it"
    )


@pytest.mark.parametrize(
    "body",
    [
        "x: " + "[" * 20_000 + "]" * 20_000,
        "x: " + "[" * 400_000 + "]" * 400_000,  # would overflow libyaml's C stack
        "x: " + "{a: " * 5_000 + "1" + "}" * 5_000,
        "x: " + "[" * 20_000,  # unclosed: refused before the syntax error
        "monitoring:\n" + "".join(" " * n + "-\n" for n in range(1, 100)) + " " * 100 + "- x",
    ],
    ids=["flow-20k", "flow-400k", "mapping-5k", "unclosed", "block-100"],
)
def test_deep_nesting_is_an_error_not_a_traceback(body: str) -> None:
    message = _only_error("version: csla/v1\n" + body + "\n")
    assert f"YAML nested more than {MAX_DEPTH} levels deep" in message


def test_aliases_count_their_depth() -> None:
    nested = "[" * 40 + "1" + "]" * 40
    text = f"version: csla/v1\na: &a {nested}\nb: [{nested.replace('1', '*a')}]\n"
    assert "nested more than" in _only_error(text)


def test_alias_limit_counts_nodes_not_aliases() -> None:
    big = "[" + ", ".join(["x"] * 2_000) + "]"
    refs = ", ".join(["*a"] * (MAX_ALIAS_NODES // 2_000 + 1))
    assert "aliases would add" in _only_error(f"version: csla/v1\na: &a {big}\nb: [{refs}]\n")


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    good = (RULES / "gpu-train-001.yaml").read_text()
    path.write_text(good + "#" * (25 * MAX_FILE_BYTES))  # 25 MiB, otherwise valid
    started = time.perf_counter()
    result = load_rule_file(path)
    assert time.perf_counter() - started < 0.5
    [issue] = result.issues
    assert str(issue).startswith(f"{path}: error: the file is ")
    assert "1 MiB" in issue.message


def test_an_oversized_text_is_refused() -> None:
    message = _only_error("version: csla/v1\n" + "#" * MAX_FILE_BYTES)
    assert "over the 1,048,576-byte (1 MiB) limit" in message


def test_multibyte_text_counts_bytes(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_text("version: csla/v1\n# " + "é" * (MAX_FILE_BYTES // 2 + 1), encoding="utf-8")
    [issue] = load_rule_file(path).issues
    assert "limit" in issue.message


@pytest.mark.parametrize("path", sorted(RULES.glob("*.yaml")), ids=lambda p: p.name)
def test_bundled_rule_files_pass_the_limits(path: Path) -> None:
    result = load_rule_file(path)
    assert result.contract is not None, result.issues


def test_the_platform_scoring_file_has_the_same_limits(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / ".scoring").mkdir(parents=True)
    (rules / ".scoring" / "table-a2.yaml").write_text(_laughs())
    (rules / "storage.yaml").write_text((RULES / "storage-001.yaml").read_text())
    started = time.perf_counter()
    report = validate_paths([rules])
    assert time.perf_counter() - started < 2.0
    [error] = report.errors
    assert error.path.endswith("table-a2.yaml") and "aliases would add" in error.message
    assert report.ruleset.contract_ids == ["storage-001"]  # the rule files are still read


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01T25:00:00+08:00", "cannot read this value (hour must be in 0..23)"),
        ("2026-02-30", "cannot read this value (day is out of range for month)"),
        ("!!int abc", "cannot read this value (invalid literal for int()"),
        ("!!bool maybe", "cannot read this value ('maybe')"),
        ("!!map [1]", "expected a mapping node, but found sequence"),
    ],
)
def test_values_the_yaml_constructors_cannot_read_are_placed_errors(
    value: str, expected: str
) -> None:
    text = (RULES / "maas-api-001.yaml").read_text()
    old = "  effective_from: 2026-01-01T00:00:00+08:00"
    assert old in text
    message = _only_error(text.replace(old, f"  effective_from: {value}", 1))
    assert message.startswith("hostile.yaml:7:19: error: YAML syntax error: ")
    assert expected in message


@pytest.mark.parametrize(
    ("text", "anchor"),
    [
        ("R&D", False),
        ("capacity & elasticity", False),
        ("a: &x 1", True),
        ('{"a":&x 1}', True),
        ("- &a 1", True),
        ("a: !!str &a x", True),
    ],
)
def test_texts_that_may_hold_an_anchor_get_the_full_walk(text: str, anchor: bool) -> None:
    from engine.ruleset.limits import _may_anchor

    assert _may_anchor(text) is anchor
