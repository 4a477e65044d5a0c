"""Shared by the hostile replay tests: a clean simulated stream, ``csla replay`` in a
subprocess (exit code and stderr are part of what is judged), and output comparison.

Loaded by path (``--import-mode=importlib``), like ``tests/kafka/worker_harness.py``.
"""

from __future__ import annotations

import base64
import importlib.util
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson

from engine.core.calendar import parse_instant
from engine.ruleset import load_rules_dir
from engine.simulate import simulate

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES = REPO_ROOT / "rules"
# 2.2 days across the end of October (Asia/Shanghai): the October period closes, so every
# contract has breaches, compensations, usage and scorecards; ~75,000 lines, ~3 s a replay
START = "2026-10-30T00:00:00+08:00"
DAYS = 2.2
KINDS = ("metrics", "breaches", "compensations", "late", "deadletter", "usage", "warnings",
         "scorecards")  # fmt: skip
MONEY = ("breaches", "compensations")


def load(name: str) -> ModuleType:
    """A sibling module by path (registered, so its dataclasses work)."""
    full = f"csla_hostile_{name}"
    if full in sys.modules:
        return sys.modules[full]
    spec = importlib.util.spec_from_file_location(full, Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[full] = module
    spec.loader.exec_module(module)
    return module


def ruleset(rules: Path = RULES) -> Any:
    report = load_rules_dir(rules)
    assert report.ok, report.format()
    return report.ruleset


def clean_lines(*, start: str = START, days: float = DAYS, seed: int = 7) -> list[bytes]:
    """Seeded telemetry of the bundled contracts, with the simulator's own faults (late,
    duplicate and malformed lines): what a real feed looks like before anyone attacks it."""
    return list(simulate(ruleset(), start_ms=parse_instant(start), days=days, seed=seed))


@dataclass
class Run:
    """One finished ``csla replay``: exit code, stderr, manifest and every output record."""

    input: Path
    out: Path
    code: int
    stderr: str
    manifest: dict[str, Any] | None
    records: dict[str, list[dict[str, Any]]]

    def origin(self, index: int) -> str:
        """The dead-letter / late origin of 0-based input line ``index``."""
        return f"{self.input}:{index + 1}"

    def by_origin(self, kind: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for record in self.records[kind]:
            out.setdefault(record["origin"], []).append(record)
        return out


def replay(lines: Iterable[bytes], root: Path, name: str) -> Run:
    """Write ``lines`` as NDJSON and replay them with ``python -m engine replay``."""
    root.mkdir(parents=True, exist_ok=True)
    path, out = root / f"{name}.ndjson", root / f"{name}-out"
    with open(path, "wb") as handle:
        for line in lines:
            handle.write(line + b"\n")
    done = subprocess.run(
        [sys.executable, "-m", "engine", "replay", "--quiet", "--rules", str(RULES),
         "--input", str(path), "--out", str(out)],
        cwd=root, capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    manifest_path = out / "manifest.json"
    manifest = orjson.loads(manifest_path.read_bytes()) if manifest_path.exists() else None
    records: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for kind in KINDS:
        file = out / f"{kind}.jsonl"
        if file.exists():
            records[kind] = [orjson.loads(x) for x in file.read_bytes().splitlines() if x]
    return Run(path, out, done.returncode, done.stderr.decode(errors="replace"), manifest, records)


def books(run: Run) -> dict[str, int]:
    """The manifest's books; the test fails unless they exist and balance."""
    assert run.manifest is not None, f"no manifest.json in {run.out}"
    kept: dict[str, int] = run.manifest["books"]
    assert kept["lines_in"] == (
        kept["accepted"] + kept["duplicates"] + kept["late"] + kept["dead_letters"]
    ), kept
    return kept


def assert_finished(run: Run) -> None:
    assert run.code == 0, f"csla replay exited {run.code}:\n{run.stderr[-4000:]}"
    assert "Traceback" not in run.stderr, run.stderr[-4000:]
    books(run)
    assert len(run.records["deadletter"]) == run.manifest["books"]["dead_letters"]  # type: ignore[index]
    assert len(run.records["late"]) == run.manifest["books"]["late"]  # type: ignore[index]


def _canon(record: Mapping[str, Any], drop: tuple[str, ...] = ()) -> bytes:
    return orjson.dumps(
        {k: v for k, v in record.items() if k not in drop}, option=orjson.OPT_SORT_KEYS
    )


def per_contract(run: Run, kind: str, drop: tuple[str, ...] = ()) -> dict[str, list[bytes]]:
    """Records of ``kind`` per contract, canonical and sorted (order-insensitive)."""
    out: dict[str, list[bytes]] = {}
    for record in run.records[kind]:
        out.setdefault(str(record.get("contract_id")), []).append(_canon(record, drop))
    return {cid: sorted(rows) for cid, rows in out.items()}


def assert_same(
    got: Run, want: Run, kind: str, *, skip: Iterable[str] = (), drop: tuple[str, ...] = ()
) -> None:
    """``kind`` equal per contract (order-insensitive), but for the contracts in ``skip``."""
    mine, theirs = per_contract(got, kind, drop), per_contract(want, kind, drop)
    skip = set(skip)
    for cid in sorted((mine.keys() | theirs.keys()) - skip):
        a, b = mine.get(cid, []), theirs.get(cid, [])
        if a != b:
            extra = sorted(set(a) - set(b))[:2]
            missing = sorted(set(b) - set(a))[:2]
            raise AssertionError(
                f"{kind} of {cid} differ from the clean run ({len(a)} vs {len(b)} records)\n"
                f"only hostile: {[x[:600] for x in extra]}\nonly clean: {[x[:600] for x in missing]}"
            )


def late_key(run: Run) -> list[bytes]:
    """Late records without their origin (hostile lines shift the line numbers)."""
    return sorted(_canon(r, ("origin",)) for r in run.records["late"])


def assert_fates(run: Any, placed: list[Any], name: str, *, keep_bytes: bool = False) -> None:
    """Each hostile line of class ``name`` met its fate, found by its origin; a dead letter
    keeps the line (``raw``; with ``keep_bytes``, non-UTF-8 bytes in ``raw_base64``)."""
    dead, late = run.by_origin("deadletter"), run.by_origin("late")
    mine = [p for p in placed if p.case == name]
    assert mine
    for p in mine:
        origin = run.origin(p.index)
        got_dead, got_late = dead.get(origin, []), late.get(origin, [])
        where = f"{name}: line {p.index + 1} ({p.line[:160]!r})"
        if p.fate == "dead":
            assert len(got_dead) == 1 and not got_late, f"{where}: not one dead letter: {got_dead}"
            assert p.reason in got_dead[0]["error"], f"{where}: {got_dead[0]['error']!r}"
            raw = got_dead[0].get("raw_base64")
            if raw is not None:
                assert base64.b64decode(raw) == p.line, where
            elif not p.line.startswith(b"["):  # an array's items are dead-lettered one by one
                try:
                    text = p.line.decode("utf-8")
                except UnicodeDecodeError:
                    assert not keep_bytes, f"{where}: the dead letter lost the bytes"
                else:
                    assert got_dead[0]["raw"] == text, where
        else:  # duplicate, accepted, skipped: no record of its own
            assert not got_dead and not got_late, f"{where} ({p.fate}): {got_dead or got_late}"
