"""A load reads each block of text once (``events.block_document``) and keeps the models
its values validated to (``fast._LoadMemo``): documents, rule files, contracts and issues
equal those of each file read whole, and a text the whole reading leaves to the node graph
is never taken from blocks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.ruleset import fast as fast_module
from engine.ruleset import load_rule_file, load_rules_dir
from engine.ruleset.events import BlockMemo, block_document

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted((ROOT / "rules").glob("*.yaml"))
INVALID = sorted((Path(__file__).resolve().parent / "invalid").rglob("*.y*ml"))


def _whole(text: str) -> dict[str, Any] | None:
    read = fast_module._read_events(text, placed=False)
    return None if read is None else read[0]


def _blocks(text: str, memo: BlockMemo) -> dict[str, Any] | None:
    return block_document(text, fast_module._run_entries, memo)


def _agree(text: str, memo: BlockMemo) -> dict[str, Any] | None:
    """The block reading of ``text`` with ``memo``: None, or the whole reading's document."""
    got = _blocks(text, memo)
    if got is not None:
        whole = _whole(text)
        assert whole is not None, "blocks read a text the whole reading leaves to the graph"
        assert repr(got) == repr(whole)
    return got


@pytest.mark.parametrize("path", RULES, ids=lambda p: p.name)
def test_a_bundled_file_reads_alike_from_blocks_new_and_known(path: Path) -> None:
    text = path.read_text()
    memo = BlockMemo()
    assert _agree(text, memo) is not None
    assert len(memo) > 10  # one entry per top-level key
    assert _agree(text, memo) is not None  # every block known
    changed = text.replace("revision: 1", "revision: 2", 1)
    assert changed != text
    assert _agree(changed, memo) is not None


@pytest.mark.parametrize("path", INVALID, ids=lambda p: str(p.relative_to(ROOT)))
def test_invalid_files_read_alike_from_blocks(path: Path) -> None:
    memo = BlockMemo()
    for rule in RULES:
        _agree(rule.read_text(), memo)
    _agree(path.read_text(), memo)


@pytest.mark.parametrize(
    "text",
    [
        'a: "two\nb: lines"\n',  # a quoted scalar over a key-like line
        "a: 'two\nb: lines'\n",
        "a: [1,\nb, 2]\n",  # a flow collection over a key-like line
        "a: 1\n---\nb: 2\n",
        "a: 1\n...\n",
        "%YAML 1.1\n---\na: 1\n",
        "---\na: 1\n",
        "  a: 1\nb: 2\n",  # an indented first key: not a mapping at column 0
        "a: 1\nb\n",
        "a: 1\rb: 2\n",
        "a: 1\na: 2\n",
        "a: 1\n'a': 2\n",
        "a: &x 1\nb: *x\n",
        "a: !!str 1\n",
        "- a\n",
        "",
        "# only a comment\n",
    ],
)
def test_texts_blocks_cannot_take_are_read_whole(text: str) -> None:
    assert _agree(text, BlockMemo()) is None


def test_a_known_block_never_hides_what_follows_it() -> None:
    """A block learnt in one text is taken in another only as a whole block: what comes
    after it there is read, and an error there is still found."""
    memo = BlockMemo()
    assert _agree('a: "x"\nb: 1\n', memo) == {"a": "x", "b": 1}
    assert _agree('a: "x"\nb: 1\nc: [2,\n', memo) is None
    assert _agree('a: "x"\nb: 1\nb: 2\n', memo) is None
    assert _agree('a: "x"\nb: 1\nc: |+\n  keep\n\n', memo) == {
        "a": "x",
        "b": 1,
        "c": "keep\n\n",
    }


_SNIPPETS = [
    "version: csla/v1\n", "a: 1\n", "a: 2\n", "b: \"two\n  lines\"\n", "c: \"open\n",
    "d: close\"\n", "e: [1,\n", "f: 2]\n", "  , 3]\n", "g: |+\n  keep\n\n", "h: >\n  fold\n  it\n",
    "i:\n- x\n- y\n", "# comment\n", "\n", "j: plain\n  more\n", "k:\n  l: {m: n}\n",
    "just text\n", "'q': quoted\n", "? [1]\n: x\n", "o: 'it''s\n", "p: |\n  text\n", "r: \t\n",
    "s: x\r\n", "t: y\rz\n", "---\n", "...\n", "u: &a 1\n", "1: one\n", "yes: y\n",
    "v: 2026-01-01\n", "w: 0x1F\n", "x:\n", "y: [a, {b: c}]\n", "z: 'a\n\n  b'\n", "%TAG\n",
    "ab: \"x\\\n  y\"\n", "cd: {e: [f,\n  g]}\n", "\tq: 1\n", "é: 1\n",
]  # fmt: skip
texts = st.lists(st.sampled_from(_SNIPPETS), min_size=1, max_size=8).map("".join)


@given(batch=st.lists(texts, min_size=1, max_size=4))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_texts_of_shared_blocks_read_alike(batch: list[str]) -> None:
    """Texts made of odd and usual blocks, read one after the other with one memo: each is
    read as the whole reading reads it, or left to it."""
    memo = BlockMemo()
    for text in batch:
        _agree(text, memo)
    for text in batch:  # again, every block known
        _agree(text, memo)


def _variants(tmp_path: Path) -> Path:
    """The bundled files, clones that differ in one block each, and files with errors and
    warnings written from them, in one directory."""
    where = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", where)
    gpu = (ROOT / "rules" / "gpu-train-001.yaml").read_text()
    api = (ROOT / "rules" / "maas-api-001.yaml").read_text()
    edits = {
        "id-only": [("id: gpu-train-001", "id: gpu-train-001-x")],
        "revision": [("id: gpu-train-001", "id: gpu-train-001"), ("revision: 1", "revision: 2")],
        "threshold": [("id: gpu-train-001", "id: gpu-train-001-t"), ("old: 99.5", "old: 99.6")],
        "warning": [("id: gpu-train-001", "id: gpu-train-001-w"), ("percent: 25}", "percent: 5}")],
        "error": [("id: gpu-train-001", "id: gpu-train-001-e"), ("window: 1h", "window: 7m")],
        "unknown": [("id: gpu-train-001", "id: gpu-train-001-u"), ("window: 1h", "windw: 1h")],
    }  # fmt: skip
    for name, pairs in edits.items():
        text = gpu
        for old, new in pairs:
            text = text.replace(old, new, 1)
        (where / f"gpu-{name}.yaml").write_text(text)
    (where / "api-copy.yaml").write_text(api.replace("id: maas-api-001", "id: maas-api-001-c", 1))
    (where / "api-duplicate.yaml").write_text(api)  # the same revision twice: across files
    return where


def test_a_directory_loads_as_its_files_load_alone(tmp_path: Path) -> None:
    where = _variants(tmp_path)
    report = load_rules_dir(where)
    assert len(report.files) == 11
    assert any(not f.ok for f in report.files) and report.warnings
    for result in report.files:
        alone = load_rule_file(result.path)
        across = [i for i in result.issues if i not in alone.issues]
        assert [i for i in result.issues if i not in across] == list(alone.issues)
        assert all(i.field in ("contract.revision", "contract.effective_from") for i in across)
        if result.contract is not None and result.ok:
            assert alone.contract is not None
            assert result.contract == alone.contract
            assert result.contract.spec.model_dump() == alone.contract.spec.model_dump()


def test_a_load_keeps_a_bounded_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its size the memo starts again: files still read alike, from blocks or whole."""
    monkeypatch.setattr(fast_module, "_MEMO_TEXT", 4000)
    memo = fast_module._LoadMemo()
    texts = [path.read_text() for path in RULES] * 3
    for text in texts:
        got = memo.read(text)
        assert got is not None and repr(got) == repr(_whole(text))
        assert memo.blocks.chars <= 4000 + len(text)
    assert memo.blocks.chars == sum(map(len, memo.blocks))
