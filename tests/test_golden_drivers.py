"""Every golden case through the drivers whose input ends: ``csla replay`` and the in-memory
driver (the Kafka worker's run of the same cases: tests/kafka/test_golden_worker.py).

Replay gives the expected records; the in-memory driver, fed the case's lines, gives the files
replay wrote byte for byte, and its books; the lines that close a case on the worker (its
stand-in for ``--until``) give the expected records too, so the worker's test compares the
worker alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.adapters.files import replay
from engine.adapters.inmemory import MemoryBatch, run_in_memory
from engine.adapters.manifest import require_manifest
from engine.core.records import OUTPUT_KINDS
from engine.ruleset import load_rules_dir

ROOT = Path(__file__).resolve().parents[1]


def _ruleset(rules: Path) -> Any:
    report = load_rules_dir(rules)
    assert report.ok, report.format()
    return report.ruleset


def _canonical(records: list[dict[str, Any]]) -> list[bytes]:
    """The records in an order that does not depend on how the input was cut."""
    return sorted(orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records)


@pytest.fixture
def replayed(golden_case: Any, tmp_path: Path) -> Path:
    out = tmp_path / "replay"
    replay(
        _ruleset(ROOT / "rules"), str(golden_case.input), out, None, until_ms=golden_case.until_ms
    )
    return out


def test_replay_gives_the_golden_outputs(golden_case: Any, replayed: Path) -> None:
    for name, expected in golden_case.expected().items():
        path = replayed / next(k.file for k in OUTPUT_KINDS if k.name == name)
        actual = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        assert golden_case.comparable(name, actual) == golden_case.comparable(name, expected)


def test_in_memory_driver_writes_what_replay_writes(golden_case: Any, replayed: Path) -> None:
    """One batch of the case's lines (replay reads the file in one chunk): every output kind's
    bytes as replay wrote them, the same books, and the golden records."""
    run = run_in_memory(
        _ruleset(ROOT / "rules"),
        [golden_case.lines()],
        until_ms=golden_case.until_ms,
        name=str(golden_case.input),
    )
    for kind in OUTPUT_KINDS:
        assert run.jsonl(kind.name) == (replayed / kind.file).read_bytes(), kind.name
    assert run.books == require_manifest(replayed).books
    for name, expected in golden_case.expected().items():
        actual = getattr(run.outputs, name)
        assert golden_case.comparable(name, actual) == golden_case.comparable(name, expected)


@pytest.mark.parametrize("size", [61, 500])
def test_in_memory_driver_any_cut_same_records(golden_case: Any, replayed: Path, size: int) -> None:
    """Cut into batches of ``size`` lines, plain or as records with their origins: the same
    records of every kind as replay's (the order of a file may differ with the cut)."""
    lines = golden_case.lines()
    name = str(golden_case.input)
    plain = [lines[i : i + size] for i in range(0, len(lines), size)]
    listed = [
        MemoryBatch(batch, [f"{name}:{i + n + 1}" for n in range(len(batch))])
        for i, batch in zip(range(0, len(lines), size), plain, strict=True)
    ]
    ruleset = _ruleset(ROOT / "rules")
    for batches in (plain, listed):
        run = run_in_memory(ruleset, batches, until_ms=golden_case.until_ms, name=name)
        for kind in OUTPUT_KINDS:
            want = [orjson.loads(ln) for ln in (replayed / kind.file).read_bytes().splitlines()]
            assert _canonical(getattr(run.outputs, kind.name)) == _canonical(want), kind.name


def test_the_worker_closing_lines_stand_in_for_until(
    golden_case: Any, replayed: Path, tmp_path: Path
) -> None:
    """The case's lines, then the lines that close it on the worker, without ``until``, on
    the worker's rules: every output kind as replay's with ``--until`` (``evidence.rule``
    aside: the worker's rule file differs)."""
    rules = golden_case.worker_rules(tmp_path / "rules")
    run = run_in_memory(
        _ruleset(rules),
        [golden_case.lines(), golden_case.worker_lines()],
        name=str(golden_case.input),
    )
    for kind in OUTPUT_KINDS:
        want = [orjson.loads(ln) for ln in (replayed / kind.file).read_bytes().splitlines()]
        got = getattr(run.outputs, kind.name)
        assert golden_case.comparable(kind.name, got) == golden_case.comparable(kind.name, want)
