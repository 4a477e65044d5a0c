"""The in-memory driver reads lines as ``csla replay`` reads a file's lines (JSON arrays, blank
lines, line numbers across batches), with replay's clock and books; no files, no Kafka."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.adapters.files import replay
from engine.adapters.inmemory import MemoryBatch, run_in_memory
from engine.adapters.manifest import require_manifest
from engine.core.calendar import parse_instant
from engine.core.records import OUTPUT_KINDS
from engine.ruleset import load_rules_dir

RULES = Path(__file__).resolve().parents[2] / "rules"


def _probe(n: int, t: str, **fields: object) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": f"p{n}",
            "event_time": t,
            "provider_id": "guizhou-cloud",
            "contract_id": "storage-001",
            "resource_id": "pool-a",
            "source": "platform",
            "kind": "probe",
            "ok": True,
            **fields,
        }
    )


def _lines() -> list[bytes]:
    """Twenty minutes of probes, then a JSON array (a probe and a dead letter), a blank line,
    bad JSON, a late probe and a copy of an early one (its minute closed: late)."""
    lines = [_probe(n, f"2026-10-12T09:{n:02d}:20+08:00") for n in range(20)]
    array = b"[" + _probe(20, "2026-10-12T09:20:20+08:00") + b", 7]"
    late = _probe(21, "2026-10-12T09:01:00+08:00", ok=False)
    return [*lines, array, b"", b'{"schema_version": 1', late, lines[3]]


def test_the_lines_of_a_file_in_any_cut_as_replay_reads_the_file(tmp_path: Path) -> None:
    ruleset = load_rules_dir(RULES).ruleset
    lines = _lines()
    path = tmp_path / "in.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    until = parse_instant("2026-10-12T10:00:00+08:00")
    replay(ruleset, str(path), tmp_path / "out", None, until_ms=until)
    books = require_manifest(tmp_path / "out").books
    assert (books.dead_letters, books.late, books.duplicates) == (2, 2, 0)
    for cut in (len(lines), 1, 7):
        batches = [lines[i : i + cut] for i in range(0, len(lines), cut)]
        run = run_in_memory(ruleset, batches, until_ms=until, name=str(path))
        for kind in ("late", "dead", "breaches", "compensations"):
            file = next(k.file for k in OUTPUT_KINDS if k.name == kind)
            assert run.jsonl(kind) == (tmp_path / "out" / file).read_bytes(), (cut, kind)
        assert run.books == books
        assert len(run.steps) == len([b for b in batches if any(b)]) + 1  # + the end


def test_records_with_their_own_origins() -> None:
    ruleset = load_rules_dir(RULES).ruleset
    lines = [_probe(1, "2026-10-12T09:00:20+08:00"), b"not json"]
    run = run_in_memory(ruleset, [MemoryBatch(lines, ["t[0]@7", "t[0]@8"])])
    assert [d["origin"] for d in run.outputs.dead] == ["t[0]@8"]
    with pytest.raises(ValueError, match="2 lines but 1 origins"):
        MemoryBatch(lines, ["t[0]@7"])


def test_the_engine_clock_only_when_given() -> None:
    """As replay: no ``now_ms``, no bound on event time; with it, an event more than 10
    minutes ahead of it is a dead letter."""
    ruleset = load_rules_dir(RULES).ruleset
    lines = [_probe(1, "2026-10-12T09:00:20+08:00")]
    assert run_in_memory(ruleset, [lines]).outputs.dead == []
    now = parse_instant("2026-10-12T08:00:00+08:00")
    (dead,) = run_in_memory(ruleset, [lines], now_ms=now).outputs.dead
    assert dead["origin"] == "memory:1"
