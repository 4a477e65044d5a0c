"""The README's commands work: demo end to end (small), replay from stdin, simulate to a file."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from engine.cli import app

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "storage-day" / "input.ndjson.gz"


def _lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app, ["demo", "--out", str(out), "--rules", str(ROOT / "rules"), "--days", "1.5"]
    )
    assert result.exit_code == 0, result.output
    for name in ("metrics", "breaches", "late", "deadletter", "usage"):
        assert (out / f"{name}.jsonl").exists()
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    telemetry = tmp_path / "demo-telemetry.ndjson.gz"  # beside the outputs, not inside
    assert manifest["inputs"][0]["path"] == str(telemetry) and telemetry.is_file()
    assert _lines(out / "metrics.jsonl"), "a day and a half closes many windows"
    assert _lines(out / "deadletter.jsonl"), "the simulator injects malformed lines"


def test_replay_reads_stdin_like_a_file(tmp_path: Path) -> None:
    text = gzip.decompress(GOLDEN.read_bytes())
    plain = tmp_path / "input.ndjson"
    plain.write_bytes(text)
    common = ["--rules", str(ROOT / "rules"), "--until", "2026-11-01T00:00:00+08:00", "--quiet"]
    runner = CliRunner()
    from_file = runner.invoke(
        app, ["replay", "--input", str(plain), "--out", str(tmp_path / "f"), *common]
    )
    from_stdin = runner.invoke(
        app, ["replay", "--input", "-", "--out", str(tmp_path / "s"), *common], input=text
    )
    assert from_file.exit_code == 0 and from_stdin.exit_code == 0, from_stdin.output
    for name in ("breaches", "compensations", "metrics", "usage"):
        assert _lines(tmp_path / "f" / f"{name}.jsonl") == _lines(tmp_path / "s" / f"{name}.jsonl")


def test_simulate_is_seeded(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["simulate", "--rules", str(ROOT / "rules"), "--days", "0.2", "--seed", "3"]
    runner.invoke(app, [*args, "--out", str(tmp_path / "a.ndjson")])
    runner.invoke(app, [*args, "--out", str(tmp_path / "b.ndjson")])
    assert (tmp_path / "a.ndjson").read_bytes() == (tmp_path / "b.ndjson").read_bytes()
    assert (tmp_path / "a.ndjson").stat().st_size > 0


def test_replay_refuses_broken_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bad.yaml").write_text("version: csla/v1\ncontract: {id: x}\n")
    result = CliRunner().invoke(
        app, ["replay", "--input", str(GOLDEN), "--rules", str(rules), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2


def test_replay_with_the_rules_cache_gives_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``CSLA_RULES_CACHE_DIR``: the first replay fills the cache, the second reads it; the
    outputs of both equal those of a replay without it, byte for byte."""
    common = ["replay", "--input", str(GOLDEN), "--rules", str(ROOT / "rules"), "--quiet",
              "--until", "2026-11-01T00:00:00+08:00"]  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(app, [*common, "--out", str(tmp_path / "plain")]).exit_code == 0
    cache = tmp_path / "cache"
    monkeypatch.setenv("CSLA_RULES_CACHE_DIR", str(cache))
    for name in ("fill", "warm"):
        result = runner.invoke(app, [*common, "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert any(p.is_file() for p in cache.rglob("*")), "the cache holds the parsed files"
        for file in sorted((tmp_path / "plain").iterdir()):
            assert (tmp_path / name / file.name).read_bytes() == file.read_bytes(), file.name
