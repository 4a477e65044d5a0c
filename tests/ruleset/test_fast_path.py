"""Good files load through libyaml; the result equals the ruamel path that keeps positions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.ruleset import fast as fast_module
from engine.ruleset import load as load_module
from engine.ruleset import plain as plain_module
from engine.ruleset import slow as slow_module
from engine.ruleset.compile import compile_checked

documents = sys.modules.get("csla_ruleset_documents") or pytest.fail("conftest.py not loaded")
MERGED, _paths = documents.MERGED, documents.paths

RULES = sorted((Path(__file__).resolve().parents[2] / "rules").glob("*.yaml"))


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_fast_and_positioned_paths_agree(path: Path) -> None:
    text = path.read_text()
    fast = fast_module._load_fast(text, str(path))
    assert fast[0].contract is not None
    rule, positions, issues = slow_module._parse(text, str(path))
    assert rule is not None and not issues
    slow, _ = compile_checked(rule, str(path), positions)
    assert slow is not None
    assert fast[0].contract == slow
    assert fast[0].contract.spec == slow.spec


def test_duplicate_keys_take_the_positioned_path() -> None:
    text = RULES[0].read_text().replace("version: csla/v1", "version: csla/v1\nversion: csla/v1", 1)
    with pytest.raises(fast_module._SlowPath):
        fast_module._load_fast(text, "dup.yaml")
    result = load_module.load_rule_text(text, "dup.yaml")
    assert result.contract is None
    assert any(
        "version" in issue.message or "duplicate" in issue.message for issue in result.issues
    )


@pytest.mark.parametrize(
    "text", [*(p.read_text() for p in RULES), MERGED], ids=[*(p.name for p in RULES), "merge"]
)
def test_positions_from_the_fast_parse_equal_ruamels(text: str) -> None:
    """A warning or error of a good file is placed from libyaml's node marks (no second
    parse); every field path, and paths one step past the file's fields, lands where ruamel's
    round-trip tree places it."""
    from engine.ruleset.limits import compose_checked_node

    node, document = compose_checked_node(text, plain_module._FastLoader)
    fast = fast_module._NodePositions(node)
    slow = slow_module._Positions(slow_module._yaml().load(text))
    for path in _paths(document):
        for loc in (path, (*path, "missing"), (*path, 99)):
            assert fast(loc) == slow(loc), loc


_RAW_VALUES = [
    "9" * 5_000, "-" + "9" * 50, "1e999999", ".nan", "0x7fffffffffffffffff",
    "1_000_000_000_000_000_000_000", "!!python/object:os.system ls", "2026-01-01T25:00:00+08:00",
    "&x [1, *x]", "[" * 100 + "]" * 100, "!!omap [a: 1]", "12:30:45", "9999-12-31T23:59:59-12:00",
    "0001-01-01",
]  # fmt: skip
ODD_DOCUMENTS = [
    "a: yes\nb: no\nc: on\nd: ~\ne: null\nf: 0x1F\ng: 0o17\nh: 1_000\ni: 190:20:30\n",
    "a: .inf\nb: -.Inf\nc: .nan\nd: 1e3\ne: 12.50\nf: 1_0.5_0\ng: 685.230_15e+03\n",
    "a: 2026-01-01\nb: 2026-01-01T00:00:00+08:00\nc: 2026-01-01 10:00:00\nd: 2026-1-1T1:2:3Z\n",
    "a: '2026-01-01'\nb: \"yes\"\nc: !!str 12\nd: !!int '7'\ne: !!float '1.5'\nf: =\n",
    "1: a\n0x1: b\n",
    "true: a\nnull: b\n1.50: c\n2026-01-01: d\n",
    "a: &x {b: 1}\nc: *x\nd: {<<: *x, e: 2}\n",
    "a: {<<: {b: 1}, c: 2}\n",
    "a: !!binary aGVsbG8=\n",
    "a: !!set {x, y}\n",
    "? [1, 2]\n: a\n",
    "a: [1, {b: [2, 3, {c: d}]}, '', \"\"]\nb: |\n  block\n  text\nc: >\n  folded\n  text\n",
    "a: 1\na: 2\n",
    "a: 12345678901234567890123456789012345678901234567890\n",
    "a: 2026-02-30\n",
    "- 1\n- 2\n",
    "just text\n",
    "",
    *(f"a: {raw}\nb: [{raw}]\n" for raw in _RAW_VALUES),
]


@pytest.mark.parametrize(
    "text",
    [*(p.read_text() for p in RULES), MERGED, *ODD_DOCUMENTS],
    ids=[*(p.name for p in RULES), "merge", *(f"odd{n}" for n in range(len(ODD_DOCUMENTS)))],
)
def test_one_walk_builds_what_the_constructors_build(text: str) -> None:
    """``_FastLoader`` builds a document in one walk; the value (or the exception) is the
    one PyYAML's constructors give with the same registered functions."""
    import yaml

    def built(fast: bool) -> object:
        loader = plain_module._FastLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if fast:
                return loader.construct_document(node)
            return super(plain_module._FastLoader, loader).construct_document(node)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            return type(exc)
        finally:
            loader.dispose()

    fast, slow = built(True), built(False)
    assert fast == slow  # PyYAML's NaN is one object, so a document holding it equals itself
    assert repr(fast) == repr(slow)


_DEEP = "[" * 70 + "]" * 70
DEEP_DOCUMENTS = [
    f"a: {_DEEP}\n",
    f"a: [{_DEEP}, {_DEEP.replace('[]', '[1]')}]\n",  # two too-deep branches
    f"a: [!!set {{x}}, {_DEEP}]\n",  # an unusual node before the deep one
    f"a: 1\na: {_DEEP}\n",  # a duplicate key before it
    f"? [1]\n: {_DEEP}\n",  # a collection as a key
    "a:\n" + "".join("  " * n + "- b:\n" for n in range(1, 70)),
]


@pytest.mark.parametrize(
    "text",
    [*(p.read_text() for p in RULES), *ODD_DOCUMENTS, *DEEP_DOCUMENTS],
    ids=[
        *(p.name for p in RULES),
        *(f"odd{n}" for n in range(len(ODD_DOCUMENTS))),
        *(f"deep{n}" for n in range(len(DEEP_DOCUMENTS))),
    ],
)
def test_one_checked_walk_equals_the_check_then_the_walk(text: str) -> None:
    """A document without anchors is built and depth-checked in one walk
    (``construct_checked``): the same document, or the same ``LimitExceeded`` at the same
    mark, as ``check_nodes`` followed by ``construct_document``."""
    import yaml

    from engine.ruleset.limits import LimitExceeded, check_nodes

    def built(one_walk: bool) -> object:
        loader = plain_module._FastLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if one_walk:
                return loader.construct_checked(node)
            check_nodes(node, aliases=False)
            return loader.construct_document(node)
        except LimitExceeded as exc:
            return ("limit", exc.line, exc.column, exc.message)
        except (yaml.YAMLError, ValueError, TypeError) as exc:
            return type(exc)
        finally:
            loader.dispose()

    one, two = built(True), built(False)
    assert repr(one) == repr(two)
    if text in DEEP_DOCUMENTS:
        assert isinstance(one, tuple) and one[0] == "limit"


def test_the_node_tags_are_pyyamls() -> None:
    """The loader's own resolve (and its no-op path callbacks) tag every node as PyYAML's
    safe loader does."""
    import yaml

    def tags(node: Any) -> list[str]:
        out: list[str] = [node.tag]
        if isinstance(node.value, list):
            for item in node.value:
                for part in item if isinstance(item, tuple) else (item,):
                    out += tags(part)
        return out

    for text in [*(p.read_text() for p in RULES), *ODD_DOCUMENTS, MERGED]:
        if not text:
            continue
        try:
            safe = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            continue
        assert tags(yaml.compose(text, Loader=plain_module._FastLoader)) == tags(safe)


def test_a_load_leaves_the_collector_as_it_found_it() -> None:
    """The collector is paused while files load and enabled again after; what the load kept
    goes to the oldest generation unless the process has frozen objects, which stay frozen."""
    import gc

    rules = Path(__file__).resolve().parents[2] / "rules"
    assert gc.isenabled()
    report = load_module.load_rules_dir(rules)
    assert report.ok and gc.isenabled()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        load_module.load_rules_dir(rules)
        assert gc.get_freeze_count() == frozen and gc.isenabled()
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        load_module.load_rules_dir(rules)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_good_files_load_without_ruamel() -> None:
    """ruamel (the slow path) is imported only when a file takes that path: a load of the
    bundled rules leaves it out; a file with a syntax error brings it in and gets its line."""
    probe = (
        "import json, sys\n"
        "from engine.ruleset import load_rule_text, load_rules_dir\n"
        "ok = load_rules_dir(sys.argv[1]).ok\n"
        "after_good = 'ruamel.yaml' in sys.modules\n"
        "bad = load_rule_text('version: csla/v1\\nid: [a, b\\nname: x\\n', 'bad.yaml')\n"
        "issues = [(i.line, i.column, i.message) for i in bad.issues]\n"
        "print(json.dumps([ok, after_good, 'ruamel.yaml' in sys.modules, issues]))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", probe, str(root / "rules")],
        capture_output=True, text=True, cwd=root, check=True,
    )  # fmt: skip
    ok, after_good, after_bad, issues = json.loads(done.stdout.strip().splitlines()[-1])
    assert ok and not after_good and after_bad, done.stdout + done.stderr
    assert len(issues) == 1 and issues[0][0] > 0, issues
    assert issues[0][2].startswith("YAML syntax error: "), issues
