"""The pure helpers of ``benchmarks/breach_delay.py``: the percentile, the matching of breach
records to the instants their windows became certain, and the feeds' expected records, checked
against the pure core (so the benchmark measures from the event that really closes a window)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from engine.core.pipeline import advance, step
from engine.core.state import EngineState
from engine.ruleset import load_rules_dir

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "breach_delay.py"
START_MS = 1_780_272_000_000  # 2026-06-01T00:00:00Z: inside the rules' term, in the past


@pytest.fixture(scope="module")
def bd() -> ModuleType:
    spec = importlib.util.spec_from_file_location("breach_delay", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["breach_delay"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([3.0], 99, 3.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.0),
        ([1.0, 2.0, 3.0, 4.0], 51, 3.0),
        (list(range(1, 201)), 99, 198),
        (list(range(1, 201)), 100, 200),
        ([5.0, 1.0, 4.0], 0, 1.0),
    ],
)
def test_percentile_is_nearest_rank(
    bd: Any, values: list[float], p: float, expected: float
) -> None:
    assert bd.percentile(values, p) == expected


def test_summary_of_nothing(bd: Any) -> None:
    assert bd.summary([])["n"] == 0
    assert bd.summary([0.5, 0.25])["p99_s"] == 0.5


def test_match_delays_first_arrival_and_checks(bd: Any) -> None:
    end1, end2, end3 = 120_000, 180_000, 240_000
    expected = {("a", end1): "opened", ("a", end2): "resolved", ("a", end3): "opened"}
    certain = {("a", end1): 10.0, ("a", end2): 11.0, ("a", end3): 12.0}

    def rec(end: int, status: str) -> dict[str, Any]:
        return {"contract_id": "a", "window_end": bd.iso(end), "status": status}

    arrivals = [
        (10.25, rec(end1, "opened")),
        (10.75, rec(end1, "opened")),  # published again: the first arrival counts
        (11.5, rec(end2, "opened")),  # not what the core should say
        (13.0, {"contract_id": "b", "window_end": bd.iso(end1), "status": "opened"}),
    ]
    delays, checks = bd.match_delays(certain, arrivals, expected)
    assert delays == {("a", end1): 0.25}
    assert checks["duplicates"] == 1
    assert checks["missing"] == [f"a@{bd.iso(end3)}"]
    assert checks["unexpected"] == [f"a@{bd.iso(end2)}:opened", f"b@{bd.iso(end1)}:opened"]


def test_event_feed_triggers_are_the_events_that_close_the_windows(bd: Any, tmp_path: Path) -> None:
    contracts = ["delay-e000", "delay-e001"]
    bd.write_rules(tmp_path, contracts, 20)
    ruleset = load_rules_dir(tmp_path).ruleset
    events = bd.event_feed(contracts, START_MS, 5, 5000, 20_000)
    triggers = bd.event_triggers(events, 20_000)
    expected = {k: s for k, s in bd.expected_records(events).items() if k in triggers}
    assert len(expected) >= 8
    state, got = EngineState.empty(), {}
    for i, e in enumerate(events):
        state, out = step(state, [bd.event_json(e, i)], lambda _, i=i: f"t[0]@{i}", ruleset, None)
        assert not out.dead
        for b in out.breaches:
            got[b["contract_id"], bd.parse_ms(b["window_end"])] = (b["status"], i)
    assert got == {k: (status, triggers[k]) for k, status in expected.items()}


def test_idle_feed_windows_close_only_by_advance(bd: Any, tmp_path: Path) -> None:
    """In wall order: no event closes a window (the burst is shorter than the grace); moving
    the idle contract's event time to ``end + grace`` on its clock (the wall instant ``end +
    grace + lag``) closes it, a millisecond before does not."""
    contracts = ["delay-i000", "delay-i001", "delay-i002"]
    bd.write_rules(tmp_path, contracts, 20)
    ruleset = load_rules_dir(tmp_path).ruleset
    events, lags = bd.idle_feed(contracts, START_MS / 1000, 4, 10)
    expected = bd.expected_records(events)
    assert len(expected) >= 9  # 3 or 4 window ends per contract give a record
    actions: list[tuple[float, int, Any]] = [(e.wall_s, 0, (i, e)) for i, e in enumerate(events)]
    actions += [((end + 20_000) / 1000 + lags[k[0]], 1, k) for k in expected for end in (k[1],)]
    state, seen = EngineState.empty(), {}
    for _, what, item in sorted(actions, key=lambda a: (a[0], a[1])):
        if what == 0:
            i, e = item
            state, out = step(
                state, [bd.event_json(e, i)], lambda _, i=i: f"t[0]@{i}", ruleset, None
            )
            assert not out.breaches and not out.late
            continue
        cid, end = item
        state, out = advance(state, ruleset, {cid: end + 20_000 - 1})
        assert not out.breaches
        state, out = advance(state, ruleset, {cid: end + 20_000})
        seen[cid, end] = [b["status"] for b in out.breaches if bd.parse_ms(b["window_end"]) == end]
    assert seen == {k: [status] for k, status in expected.items()}
