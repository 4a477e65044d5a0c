"""A step looks for minutes to close only at the contracts its batch moved, once every contract
was settled under the same rule set (``engine.core.pipeline._close``): the outputs of every
step, and the states, equal those of a step that looks at every contract."""

from __future__ import annotations

import shutil
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from engine.core.calendar import parse_instant
from engine.core.pipeline import Outputs, step
from engine.core.state import _FRAMES, EngineState
from engine.ruleset import load_rules_dir
from engine.simulate import simulate

RULES = Path(__file__).resolve().parents[2] / "rules"


def _lines(ruleset: Any, count: int) -> list[bytes]:
    start = parse_instant("2026-10-12T00:00:00+08:00")
    return list(islice(simulate(ruleset, start_ms=start, days=1, seed=7), count))


def _as_bytes(out: Outputs) -> bytes:
    """Every record of a step's outputs, in the order it made them."""
    return orjson.dumps([out.metrics, out.breaches, out.compensations, out.late, out.dead,
                         out.usage, out.warnings, out.discrepancies, out.stats])  # fmt: skip


def _run(batches: list[tuple[Any, list[bytes]]], everyone: bool) -> list[bytes]:
    """Each step's outputs, then the last state; ``everyone``: every step looks at every
    contract (the state is never settled), the reference."""
    state, got = EngineState.empty(), []
    for number, (ruleset, batch) in enumerate(batches):
        if everyone:
            state.settled = None
        state, out = step(state, batch, lambda i, n=number: f"b{n}:{i}", ruleset, None)
        got.append(_as_bytes(out))
    return [*got, state.snapshot()]


def _state(snapshot: bytes) -> tuple[Any, ...]:
    """What a state holds: its contracts and quarantine as values (a source's progress may
    be listed in another order: polars groups without order), and each frame's rows (the
    bytes of a frame may differ with how its string buffers were built)."""
    state = EngineState.restore(snapshot)
    frames = [getattr(state, name).rows() for name in _FRAMES]
    return (orjson.loads(state.snapshot().split(b"\n", 2)[1]), *map(repr, frames))


def _contract(line: bytes) -> str:
    """The line's contract ("" for a line the simulator garbled on purpose)."""
    try:
        return str(orjson.loads(line).get("contract_id", ""))
    except (orjson.JSONDecodeError, AttributeError):
        return ""


def test_small_batches_of_one_contract_close_as_a_full_look_does() -> None:
    ruleset = load_rules_dir(RULES).ruleset
    lines = _lines(ruleset, 40_000)
    first, rest = lines[:10_000], lines[10_000:]
    # after a batch of every contract, batches of one contract each, in turn
    by_contract: dict[str, list[bytes]] = {}
    for line in rest:
        by_contract.setdefault(_contract(line), []).append(line)
    batches = [(ruleset, first)]
    for cid in sorted(by_contract):
        own = by_contract[cid]
        batches += [(ruleset, own[at : at + 1_500]) for at in range(0, len(own), 1_500)]
    fast, full = _run(batches, everyone=False), _run(batches, everyone=True)
    assert sum(b"metric" in out for out in fast[1:-1]) > 3  # later small steps close minutes
    assert fast[:-1] == full[:-1]
    assert _state(fast[-1]) == _state(full[-1])


def test_a_new_rule_set_closes_contracts_the_batch_does_not_carry(tmp_path: Path) -> None:
    """A reload that gives maas-api-001 1-minute windows (so it closes minute by minute, not
    in 5-minute steps) and a shorter grace: the next step closes its minutes, though the
    batch holds none of its events."""
    ruleset = load_rules_dir(RULES).ruleset
    changed = tmp_path / "rules"
    shutil.copytree(RULES, changed)
    maas = changed / "maas-api-001.yaml"
    text = maas.read_text()
    assert "window: 5m" in text and "grace: 2m" in text
    maas.write_text(text.replace("window: 5m", "window: 1m").replace("grace: 2m", "grace: 1m"))
    reloaded = load_rules_dir(changed).ruleset
    lines = _lines(ruleset, 12_000)
    one = sorted({_contract(line) for line in lines} - {""})[0]
    only_one = [line for line in lines[10_000:] if _contract(line) == one][:50]
    batches = [(ruleset, lines[:10_000]), (reloaded, only_one)]
    fast, full = _run(batches, everyone=False), _run(batches, everyone=True)
    assert one == "gpu-train-001"
    closed = {m["contract_id"] for m in orjson.loads(fast[1])[0]}
    assert "maas-api-001" in closed  # a contract not in the batch: closed by the reload
    assert fast[:-1] == full[:-1]
    assert _state(fast[-1]) == _state(full[-1])
