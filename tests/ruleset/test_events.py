"""A usual file's document is read from libyaml's events (``events.event_document``): it, its
positions and its cache table equal what the node graph gives, and any other text is left to
the node graph."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ruleset import fast as fast_module
from engine.ruleset import plain as plain_module
from engine.ruleset.cache import position_table
from engine.ruleset.events import EventPositions, places_table
from engine.ruleset.limits import LimitExceeded, compose_checked_node

documents = sys.modules.get("csla_ruleset_documents") or pytest.fail("conftest.py not loaded")
MERGED, _paths = documents.MERGED, documents.paths

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "rules").glob("*.yaml"))
INVALID = sorted((Path(__file__).resolve().parent / "invalid").rglob("*.y*ml"))


def _node_graph(text: str) -> tuple[Any, Any] | None:
    """What the node-graph path reads: (node, document), or None where it fails."""
    try:
        return compose_checked_node(text, plain_module._FastLoader)
    except (LimitExceeded, yaml.YAMLError, ValueError, TypeError):
        return None


def _same(text: str) -> bool:
    """The event reading of ``text`` equals the node graph's; True when it read the text."""
    read = fast_module._read_events(text)
    if read is None:
        return False
    document, places = read
    graph = _node_graph(text)
    assert graph is not None, "the events read a text the node graph refuses"
    node, expected = graph
    assert repr(document) == repr(expected)
    assert document == expected
    assert places_table(places) == position_table(node)
    unplaced = fast_module._read_events(text, placed=False)
    assert unplaced is not None and unplaced[1] is None and repr(unplaced[0]) == repr(document)
    by_events, by_nodes = EventPositions(places), fast_module._NodePositions(node)
    again = fast_module._ReadAgain(text)
    for path in _paths(document):
        for loc in (path, (*path, "missing"), (*path, 99), (*path, -1), (*path, 0)):
            assert _outcome(by_events, loc) == _outcome(by_nodes, loc), loc
            assert _outcome(again, loc) == _outcome(by_nodes, loc), loc
    return True


def _outcome(locate: Any, loc: tuple[Any, ...]) -> object:
    try:
        return locate(loc)
    except IndexError:  # -1 into an empty sequence: both fail alike
        return IndexError


ODD = [
    "a: yes\nb: no\nc: on\nd: ~\ne: null\nf: 0x1F\ng: 0o17\nh: 1_000\ni: 190:20:30\n",
    "a: .inf\nb: -.Inf\nc: .nan\nd: 1e3\ne: 12.50\nf: 1_0.5_0\ng: 685.230_15e+03\n",
    "a: 2026-01-01\nb: 2026-01-01T00:00:00+08:00\nc: 2026-01-01 10:00:00\nd: 2026-1-1T1:2:3Z\n",
    "a: '2026-01-01'\nb: \"yes\"\nc: ''\nd: \"\"\ne:\nf: [~, '', null, {}]\n",
    "1: a\n0x1: b\n",
    "1: a\n'1': b\n",
    "true: a\nnull: b\n1.50: c\n2026-01-01: d\n~: e\n'': f\n",
    "a: [1, {b: [2, 3, {c: d}]}, '', \"\"]\nb: |\n  block\n  text\nc: >\n  folded\n  text\n",
    "a: 1\na: 2\n",
    "a: {b: 1, b: 2}\n",
    "a: 12345678901234567890123456789012345678901234567890\n",
    "a: 2026-02-30\n",
    "a: <<\n",
    "<<: {a: 1}\n",
    "a: =\n",
    "a: Hi! there\nb: R&D & more\nc: '!'\n",
    "a: !!str 12\n",
    "a: ! 12\n",
    "a: &x 1\nb: *x\n",
    "a: *x\n",
    "? [1, 2]\n: a\n",
    "? a\n: b\n",
    "- 1\n- 2\n",
    "just text\n",
    "",
    "# only a comment\n",
    "a: 1\n---\nb: 2\n",
    "--- \na: 1\n...\n",
    "%YAML 1.1\n---\na: 1\n",
    "a: [1, 2\n",
    "a: b: c\n",
    "a:\n\t- 1\n",
    "a: '\ud800'\n",
    "{a: 1, b: [x, y], c: {d: e}}\n",
    "a:\n- b\n- c: d\n  e: f\n- - g\n  - h\n",
    'a: multi\n  line\n  plain\nb: "double\\ttab \\u263a"\n',
    "a: [" * 63 + "]" * 63 + "\n",
    "a: [" * 64 + "]" * 64 + "\n",
    "a:\n" + "".join("  " * n + "- b:\n" for n in range(1, 70)),
    "[" * 100 + "]" * 100,
]


@pytest.mark.parametrize(
    "text",
    [*(p.read_text() for p in RULES), MERGED, *ODD, *(p.read_text() for p in INVALID)],
    ids=[
        *(p.name for p in RULES),
        "merge",
        *(f"odd{n}" for n in range(len(ODD))),
        *(str(p.relative_to(ROOT)) for p in INVALID),
    ],
)
def test_events_read_what_the_node_graph_reads(text: str) -> None:
    _same(text)


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_the_bundled_files_are_read_from_events(path: Path) -> None:
    assert _same(path.read_text())


@pytest.mark.parametrize(
    "text",
    [
        MERGED,  # an anchor, an alias and a merge key
        "a: !!str 12\n",
        "a: &x 1\nb: 2\n",
        "a: *x\n",
        "a: 1\na: 2\n",
        "1: a\n0x1: b\n",
        "a: <<\n",
        "a: 2026-02-30\n",
        "? [1]\n: a\n",
        "a: 1\n---\nb: 2\n",
        "- 1\n",
        "",
        "a: [" * 64 + "]" * 64 + "\n",
        "a: [1, 2\n",
    ],
)
def test_anything_unusual_is_left_to_the_node_graph(text: str) -> None:
    assert fast_module._read_events(text) is None
    assert fast_module._read_events(text, placed=False) is None


_WORDS = [
    "yes", "No", "on", "OFF", "~", "null", "", " ", "1", "01", "0x1F", "0o17", "-0", "+1",
    "1_000", "1.50", "1e3", "1.0e+3", ".inf", "-.Inf", ".NaN", "12:30:45", "190:20:30",
    "2026-01-01", "2026-1-1", "2026-01-01T00:00:00+08:00", "2026-01-01 10:00:00", "2026-02-30",
    "<<", "=", "a: b", "a #b", "#", "-", "- a", "?", ":", "[x]", "{y}", "'", '"', "!x", "&a",
    "*a", "|", ">", "%", "@", "`", "Hi!", "R&D", "a\nb", "\t", "☃", "x" * 80, "9" * 60,
]  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=False)
    | st.sampled_from(_WORDS)
    | st.text(max_size=8)
)
keys = st.sampled_from(_WORDS) | st.text(max_size=6) | st.integers(-5, 5) | st.booleans()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


@given(
    document=st.dictionaries(keys, values, min_size=1, max_size=5),
    flow=st.sampled_from([None, True, False]),
    width=st.sampled_from([20, 80]),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_generated_documents_read_alike(
    document: dict[Any, Any], flow: bool | None, width: int
) -> None:
    """Documents PyYAML writes (block, flow and mixed styles, plain, quoted and folded
    scalars, YAML 1.1 look-alikes as text and as values): the events give the node graph's
    document and positions, or leave the text to it."""
    text = yaml.safe_dump(document, default_flow_style=flow, width=width, allow_unicode=True)
    _same(text)


@given(text=st.sampled_from(_WORDS) | st.text(max_size=12) | st.from_regex(r"[-+0-9.:_eE]{1,10}"))
@settings(max_examples=300, deadline=None)
def test_a_text_outside_the_typed_starts_is_text(text: str) -> None:
    """A plain scalar whose first character starts no implicit tag is taken as text without
    a look-up: PyYAML's resolver tags every such text as a string."""
    loader = plain_module._FastLoader("")
    try:
        starts = plain_module._typed_starts(loader)
        tag = yaml.SafeLoader.resolve(loader, yaml.ScalarNode, text, (True, False))
        if text[:1] not in starts:
            assert tag == "tag:yaml.org,2002:str"
    finally:
        loader.dispose()


def test_a_resolver_for_any_start_types_every_text() -> None:
    class Loader(plain_module._FastLoader):  # type: ignore[misc,name-defined]
        pass

    Loader.add_implicit_resolver("tag:example,2026:x", re.compile("^x"), None)
    loader = Loader("")
    try:
        starts = plain_module._typed_starts(loader)
        assert "a" in starts and "" in starts and "☃" in starts
    finally:
        loader.dispose()
