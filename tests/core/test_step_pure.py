"""``step`` and ``advance`` return a new state and leave the one they were given as it was
(issue 12: a caller whose batch fails keeps the state before it, with nothing to undo)."""

from __future__ import annotations

from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import Any

from engine.core.calendar import parse_instant
from engine.core.pipeline import advance, step
from engine.core.state import EngineState
from engine.ruleset import load_rules_dir
from engine.simulate import simulate

RULES = Path(__file__).resolve().parents[2] / "rules"


def _batches(ruleset: Any, size: int, count: int) -> list[list[bytes]]:
    lines = simulate(ruleset, start_ms=parse_instant("2026-10-12T00:00:00+08:00"), days=2, seed=3)
    return [batch for batch in iter(lambda: list(islice(lines, size)), []) if batch][:count]


def _containers(value: Any, seen: dict[int, Any]) -> None:
    """Every list and dict inside ``value``, by id."""
    if isinstance(value, (list, dict)):
        seen[id(value)] = value
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, seen)


def test_step_and_advance_leave_their_input_state_alone() -> None:
    ruleset = load_rules_dir(RULES).ruleset
    state = EngineState.empty()
    closed_something = False
    for number, batch in enumerate(_batches(ruleset, 4_000, 12)):
        before = state.snapshot()
        new, out = step(state, batch, lambda i, n=number: f"b{n}:{i}", ruleset, None)
        assert state.snapshot() == before, f"step changed its input state (batch {number})"
        closed_something |= bool(out.metrics)
        state = new
    assert closed_something and state.contracts
    before = state.snapshot()
    until = max(cs.max_event_ms for cs in state.contracts.values()) + 3_600_000
    new, out = advance(state, ruleset, until_ms=until)
    assert state.snapshot() == before and out.metrics
    new, _ = advance(state, ruleset, {cid: until for cid in state.contracts})
    assert state.snapshot() == before


def test_a_contract_copy_is_equal_and_shares_no_container() -> None:
    ruleset = load_rules_dir(RULES).ruleset
    state = EngineState.empty()
    for number, batch in enumerate(_batches(ruleset, 5_000, 10)):
        state, _ = step(state, batch, lambda i, n=number: f"b{n}:{i}", ruleset, None)
    copy = state.copy()
    for cid in state.contracts:
        copy.writable(cid)
    assert copy.snapshot() == state.snapshot()
    for cid, cs in state.contracts.items():
        assert asdict(copy.contracts[cid]) == asdict(cs)
        mine: dict[int, Any] = {}
        theirs: dict[int, Any] = {}
        _containers(list(vars(cs).values()), mine)
        for objective in cs.objectives.values():
            _containers(list(vars(objective).values()), mine)
        _containers(list(vars(copy.contracts[cid]).values()), theirs)
        for objective in copy.contracts[cid].objectives.values():
            _containers(list(vars(objective).values()), theirs)
        for oid, objective in cs.objectives.items():
            other = copy.contracts[cid].objectives[oid]
            assert other is not objective
            for acc in ("window", "period"):
                assert getattr(objective, acc) is None or getattr(other, acc) is not getattr(
                    objective, acc
                )
        shared = set(mine) & set(theirs)
        assert not shared, [mine[i] for i in shared][:3]


def test_a_step_in_place_gives_the_same_state_and_outputs_without_copying() -> None:
    """``in_place`` (replay's loop): the state is changed where it is, and every output and the
    state after each batch equal those of the copying step."""
    ruleset = load_rules_dir(RULES).ruleset
    copied, taken = EngineState.empty(), EngineState.empty()
    for number, batch in enumerate(_batches(ruleset, 4_000, 8)):
        origin = lambda i, n=number: f"b{n}:{i}"  # noqa: E731
        copied, out = step(copied, batch, origin, ruleset, None)
        same, out_in_place = step(taken, batch, origin, ruleset, None, in_place=True)
        assert same is taken, "an in-place step returns the state it was given"
        assert vars(out_in_place) == vars(out)
        # the same contracts and equal frames (their Arrow bytes, and so the frame sizes in
        # the snapshot's header, may differ in buffer layout)
        assert {k: asdict(v) for k, v in taken.contracts.items()} == {
            k: asdict(v) for k, v in copied.contracts.items()
        }
        for name in ("buffer", "lat_windows", "lat_periods", "usage", "gauge_windows"):
            assert getattr(taken, name).equals(getattr(copied, name)), name
        assert taken.gauge_periods.equals(copied.gauge_periods)
