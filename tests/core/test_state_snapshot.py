"""State snapshots: version 2 (frames as raw Arrow IPC after a JSON header) round-trips, and a
version-1 snapshot (one JSON document, frames hex-encoded) written by an older worker still
restores to the same state."""

from __future__ import annotations

import io
from dataclasses import asdict

import orjson

from engine.core.state import _FRAMES, EngineState


def _v1(state: EngineState) -> bytes:
    frames = {}
    for name in _FRAMES:
        sink = io.BytesIO()
        getattr(state, name).write_ipc(sink)
        frames[name] = sink.getvalue().hex()
    return orjson.dumps(
        {
            "v": 1,
            "contracts": {k: asdict(v) for k, v in sorted(state.contracts.items())},
            "frames": frames,
            "quarantined": dict(sorted(state.quarantined.items())),
        },
        default=lambda value: value.tolist(),  # the burn history's int64 arrays, as v1 lists
    )


AVAIL = "- {id: avail, sli: service_availability, comparator: '>=', threshold: 90, window: 5m}"


def _state(csla) -> EngineState:  # type: ignore[no-untyped-def]
    rules = csla.ruleset(AVAIL)
    lines = csla.probes_every_minute("2026-10-12T09:00:00+08:00", "2026-10-12T09:20:00+08:00")
    state, _ = csla.run(rules, lines)
    return state


def _same(a: EngineState, b: EngineState) -> None:
    assert a.contracts == b.contracts and a.quarantined == b.quarantined
    for name in _FRAMES:
        assert getattr(a, name).equals(getattr(b, name)), name


def test_a_snapshot_round_trips(csla) -> None:  # type: ignore[no-untyped-def]
    state = _state(csla)
    assert state.buffer.height  # events still waiting: the bulk of a snapshot
    data = state.snapshot()
    assert data.startswith(b"CSLASTATE2\n")
    _same(EngineState.restore(data), state)
    assert EngineState.restore(data).snapshot() == data


def test_a_version_1_snapshot_restores(csla) -> None:  # type: ignore[no-untyped-def]
    state = _state(csla)
    old = _v1(state)
    _same(EngineState.restore(old), state)
    assert len(state.snapshot()) < len(old) * 0.6  # no hex: about half the bytes
