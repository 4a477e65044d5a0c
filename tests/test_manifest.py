"""Replay outputs are complete or absent: the manifest, the books, the swap, a real SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from engine.adapters import manifest as mf
from engine.adapters.files import OUTPUT_FILES, replay
from engine.cli import app
from engine.core.calendar import parse_instant
from engine.models.manifest import Manifest, manifest_json_schema
from engine.ruleset import load_rules_dir
from engine.schemas import render

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
GOLDEN = ROOT / "tests" / "golden" / "storage-day" / "input.ndjson.gz"
UNTIL = "2026-11-01T00:00:00+08:00"
NOW_MS = parse_instant("2026-12-01T00:00:00Z")
SCHEMA = ROOT / "schemas" / "replay-manifest.v1.schema.json"


def _replay(out: Path, source: Path = GOLDEN) -> Manifest:
    ruleset = load_rules_dir(RULES).ruleset
    replay(ruleset, str(source), out, NOW_MS, until_ms=parse_instant(UNTIL))
    return mf.require_manifest(out)


def _tree(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def test_manifest_of_the_golden_day(tmp_path: Path) -> None:
    """The books balance on an input with dead letters, duplicates and late events."""
    manifest = _replay(tmp_path / "out")
    books = manifest.books
    assert (books.lines_in, books.accepted, books.duplicates, books.late, books.dead_letters) == (
        1686,
        1681,
        1,
        2,
        2,
    )
    assert set(manifest.outputs) == set(OUTPUT_FILES.values())
    assert manifest.outputs["deadletter.jsonl"].records == books.dead_letters
    assert manifest.outputs["late.jsonl"].records == books.late
    (source,) = manifest.inputs
    assert (source.path, source.bytes) == (str(GOLDEN), GOLDEN.stat().st_size)
    assert source.sha256 == mf.file_sha256(GOLDEN)
    storage = [r for r in manifest.rules if r.contract_id == "storage-001"]
    assert [(r.revision, r.sha256) for r in storage] == [
        (1, mf.file_sha256(RULES / "storage-001.yaml"))
    ]
    # the engine clock passed in shapes the outputs (the future bound): recorded
    assert manifest.arguments == {"until": "2026-10-31T16:00:00Z", "now": "2026-12-01T00:00:00Z"}
    assert mf.check_files(tmp_path / "out", manifest) == []
    assert _leftovers(tmp_path / "out") == []


def test_a_rerun_is_byte_identical(tmp_path: Path) -> None:
    _replay(tmp_path / "a")
    first = _tree(tmp_path / "a")
    _replay(tmp_path / "a")  # over itself
    _replay(tmp_path / "b")
    assert "manifest.json" in first
    assert _tree(tmp_path / "a") == first == _tree(tmp_path / "b")


def test_the_books_must_balance() -> None:
    stats = {"events_in": 10, "accepted": 6, "duplicates": 1, "late": 1, "dead_letters": 2}
    assert mf.books(stats).lines_in == 10
    with pytest.raises(mf.UnbalancedBooks, match="10 lines in != 5 accepted"):
        mf.books({**stats, "accepted": 5})


def test_a_failed_run_leaves_the_previous_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _replay(out)
    before = _tree(out)

    def unbalanced(stats: dict[str, int]) -> None:
        raise mf.UnbalancedBooks("the books do not balance")

    monkeypatch.setattr(mf, "books", unbalanced)
    with pytest.raises(mf.UnbalancedBooks):
        _replay(out)
    assert _tree(out) == before and _leftovers(out) == []


def test_swap_without_renameat2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    _replay(out)
    before = _tree(out)
    monkeypatch.setattr(mf, "_exchange", lambda a, b: False)
    _replay(out)
    assert _tree(out) == before and _leftovers(out) == []


def test_leftovers_of_dead_runs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    dead = tmp_path / ".out.replay-999999999-0000"  # a pid above any pid_max
    running = tmp_path / f".out.replay-{os.getpid()}-0000"  # a run still going: left alone
    retired = tmp_path / ".out.old-999999999-0000"
    for path in (dead, running, retired):
        path.mkdir()
        (path / "metrics.jsonl").write_bytes(b'{"half": ')
    _replay(out)
    assert _leftovers(out) == [running.name]


def test_foreign_files_are_never_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(mf.OutputDirTaken, match=r"notes\.txt"):
        _replay(out)
    assert _tree(out) == {"notes.txt": b"mine"} and _leftovers(out) == []
    result = CliRunner().invoke(
        app, ["replay", "--input", str(GOLDEN), "--rules", str(RULES), "--out", str(out)]
    )
    assert result.exit_code == 2 and "a replay did not write (notes.txt)" in result.output


def test_outputs_of_an_older_engine_are_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.jsonl").write_bytes(b"{}\n")  # no manifest, only output files
    _replay(out)
    assert mf.check_files(out, mf.require_manifest(out)) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "has no manifest.json: it is not a complete replay output (rerun csla replay)"),
        (b"{", "is not a replay manifest"),
        (b'{"format": "csla-replay-manifest/v0"}', "is not a replay manifest (format:"),
    ],
)
def test_readers_refuse_a_directory_without_manifest(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    outputs = tmp_path / "o"
    _replay(outputs)
    (outputs / "manifest.json").unlink()
    if content is not None:
        (outputs / "manifest.json").write_bytes(content)
    runner = CliRunner()
    report = runner.invoke(app, ["report", "--from-outputs", str(outputs), "--period", "2026-10",
                                 "--rules", str(RULES), "--out", str(tmp_path / "r")])  # fmt: skip
    dashboard = runner.invoke(app, ["dashboard", "--outputs", str(outputs), "--rules", str(RULES),
                                    "--static", str(tmp_path / "d.html")])  # fmt: skip
    for result in (report, dashboard):
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "r").exists() and not (tmp_path / "d.html").exists()
    with pytest.raises(mf.IncompleteOutputs, match="rerun csla replay"):
        mf.require_manifest(outputs)


def test_check_files_finds_a_changed_file(tmp_path: Path) -> None:
    manifest = _replay(tmp_path / "o")
    with (tmp_path / "o" / "breaches.jsonl").open("ab") as handle:
        handle.write(b'{"record": "breach"}\n')
    (problem,) = mf.check_files(tmp_path / "o", manifest)
    assert "breaches.jsonl" in problem and "differs from the manifest" in problem


def test_schema_file_matches_the_model() -> None:
    assert SCHEMA.read_bytes() == render(manifest_json_schema()), "stale: export it again"


# --- a real SIGKILL -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three simulated days with faults (~28 MB): more than one 24 MiB replay chunk, so a
    killed run has written part of its outputs."""
    from engine.simulate import simulate

    ruleset = load_rules_dir(RULES).ruleset
    path = tmp_path_factory.mktemp("kill") / "telemetry.ndjson"
    start_ms = parse_instant("2026-10-01T00:00:00+08:00")
    with path.open("wb") as handle:
        for line in simulate(ruleset, start_ms=start_ms, days=3, seed=5, faults=True):
            handle.write(line + b"\n")
    assert path.stat().st_size > 24 << 20
    return path


def _command(source: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "engine", "replay", "--input", str(source), "--out", str(out),
            "--rules", str(RULES), "--quiet"]  # fmt: skip


def _kill_midway(source: Path, out: Path) -> None:
    """Start a replay, SIGKILL it once it has written outputs into its staging directory."""
    process = subprocess.Popen(_command(source, out), cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, "the replay ended before it could be killed"
            staged = list(out.parent.glob(f".{out.name}.replay-{process.pid}-*/metrics.jsonl"))
            if staged and staged[0].stat().st_size > 0:
                break
            time.sleep(0.01)
        else:
            pytest.fail("the replay wrote no outputs in 120 s")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL


def test_a_killed_replay_leaves_nothing_or_the_previous_outputs(
    big_input: Path, tmp_path: Path
) -> None:
    clean, out = tmp_path / "clean", tmp_path / "out"
    subprocess.run(_command(big_input, clean), cwd=ROOT, check=True)
    manifest = mf.require_manifest(clean)
    assert manifest.books.lines_in > 80_000 and manifest.books.duplicates > 0
    assert manifest.books.late > 0 and manifest.books.dead_letters > 0
    expected = _tree(clean)

    _kill_midway(big_input, out)  # the first run: nothing
    assert not out.exists()
    assert len(_leftovers(out)) == 1  # the killed run's staging directory, half written

    shutil.copytree(clean, out)  # the previous complete outputs
    _kill_midway(big_input, out)
    assert _tree(out) == expected
    assert mf.check_files(out, mf.require_manifest(out)) == []

    subprocess.run(_command(big_input, out), cwd=ROOT, check=True)
    assert _tree(out) == expected, "a rerun after a kill equals a clean run, byte for byte"
    assert _leftovers(out) == []
    assert orjson.loads(expected["manifest.json"])["inputs"][0]["path"] == str(big_input)
