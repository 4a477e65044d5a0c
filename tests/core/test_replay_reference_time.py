"""A replay's clock is its input (README, "Event time, watermark, lateness").

``csla replay`` never reads the wall clock: without ``--now`` no event is "ahead of the engine
clock", so the same input and rules give the same outputs on any day, even for input dated
after today (a simulation of next month, a fixture of 2098).  ``--now T`` judges the input as
a worker running at T would: events more than 10 minutes after T are dead letters.  The
worker keeps its wall-clock bound (``step`` with ``now_ms``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.core.pipeline import MAX_FUTURE_MS
from engine.core.state import EngineState

TERM = ("2098-01-01T00:00:00+08:00", "2099-01-01T00:00:00+08:00")  # long after any run
AHEAD = "event_time is more than 10 minutes ahead of the engine clock"


def t(hms: str) -> str:
    return f"2098-03-10T{hms}+08:00"


@pytest.fixture
def future(csla: Any, tmp_path: Path) -> tuple[Path, Path]:
    """A rules directory and an input dated in 2098: probes every minute 10:00–11:00, one
    unavailable minute (10:30)."""
    rules = tmp_path / "rules"
    rules.mkdir()
    objective = (
        "- id: avail\n  sli: service_availability\n  comparator: '>='\n  threshold: 99\n"
        "  window: 1h\n"
    )
    (rules / "c1.yaml").write_text(csla.rule_text(objective, term=TERM))
    lines = [csla.probe(csla.ms(t("10:00:30")) + i * 60_000, i != 30) for i in range(60)]
    source = tmp_path / "future.ndjson"
    source.write_bytes(b"\n".join(lines) + b"\n")
    return rules, source


def _replay(rules: Path, source: Path, out: Path, *extra: str) -> dict[str, bytes]:
    args = ["replay", "--input", str(source), "--rules", str(rules), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--until", t("11:00:00"), "--quiet", *extra])
    assert result.exit_code == 0, result.output
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def _records(files: dict[str, bytes], name: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in files[name].splitlines() if line.strip()]


def test_input_dated_in_the_future_is_replayed_in_full(
    future: tuple[Path, Path], tmp_path: Path
) -> None:
    rules, source = future
    files = _replay(rules, source, tmp_path / "a")
    assert _records(files, "deadletter.jsonl") == []
    (metric,) = _records(files, "metrics.jsonl")
    # 59 available minutes of 60 → 98.333…% < 99
    assert (metric["good"], metric["total"]) == (59, 60)
    assert metric["compliant"] is False
    manifest = orjson.loads(files["manifest.json"])
    assert manifest["arguments"] == {"until": "2098-03-10T03:00:00Z"}
    assert manifest["books"]["accepted"] == 60


def test_same_input_and_rules_give_the_same_bytes(
    future: tuple[Path, Path], tmp_path: Path
) -> None:
    rules, source = future
    first = _replay(rules, source, tmp_path / "a")
    second = _replay(rules, source, tmp_path / "b")
    assert first == second


def test_now_judges_the_input_as_a_worker_at_that_instant(
    future: tuple[Path, Path], tmp_path: Path
) -> None:
    """--now 10:20: events up to 10:30:00 (exactly 10 min ahead) count; 10:30:30 and later
    are dead letters, named as the worker names them."""
    rules, source = future
    files = _replay(rules, source, tmp_path / "a", "--now", t("10:20:00"))
    dead = _records(files, "deadletter.jsonl")
    assert len(dead) == 30  # 10:30:30 … 10:59:30
    assert {d["error"] for d in dead} == {AHEAD}
    (metric,) = _records(files, "metrics.jsonl")
    assert (metric["good"], metric["total"]) == (30, 30)  # 10:00–10:30, all available
    assert orjson.loads(files["manifest.json"])["arguments"]["now"] == "2098-03-10T02:20:00Z"


def test_a_bad_now_is_one_line_and_exit_2(future: tuple[Path, Path], tmp_path: Path) -> None:
    rules, source = future
    args = ["replay", "--input", str(source), "--rules", str(rules), "--out", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, "--now", "tomorrow"])
    assert result.exit_code == 2
    assert "--now 'tomorrow'" in result.output


@pytest.mark.parametrize(("ahead_ms", "dead"), [(MAX_FUTURE_MS, False), (MAX_FUTURE_MS + 1, True)])
def test_the_core_bounds_only_with_a_clock(csla: Any, ahead_ms: int, dead: bool) -> None:
    """``step`` with ``now_ms`` (the worker): the 10-minute bound, to the millisecond; with
    None (a replay): none."""
    rules = csla.ruleset(
        "- id: avail\n  sli: service_availability\n  comparator: '>='\n  threshold: 99\n"
    )
    now_ms = csla.ms("2026-03-10T10:00:00+08:00")
    line = csla.probe(now_ms + ahead_ms, True)
    _, bounded = csla.run(rules, [line], now_ms=now_ms)
    assert [d["error"] for d in bounded.dead] == ([AHEAD] if dead else [])
    _, unbounded = csla.run(rules, [line], state=EngineState.empty(), now_ms=None)
    assert unbounded.dead == []
