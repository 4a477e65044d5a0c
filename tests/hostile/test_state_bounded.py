"""Bounded state (issue 11 §6): what the engine rejects leaves no trace in its state.

The same clean batches are stepped twice, once with every rejected class of the corpus mixed
into them (20,000 unknown contract ids among them); the states after each batch are equal,
and as large, so a flood of poison cannot grow a checkpoint.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

import pytest

from engine.core.pipeline import step
from engine.core.state import EngineState

rh = sys.modules.get("csla_hostile_replay_harness") or pytest.fail("conftest.py not loaded")
corpus = rh.load("corpus")

REJECTED = (
    "non_finite", "huge_gauges", "huge_tokens", "negative", "ratios", "provider_probes_ahead",
    "customer_nodes", "wrong_provider", "empty_lines", "non_utf8", "conflicting_duplicates",
    "unknown_contracts", "deep_nesting", "long_strings", "long_ids", "wrong_types",
    "wrong_types_in_strings",
)  # fmt: skip


def test_rejected_lines_leave_the_state_as_it_was(
    clean_lines: list[bytes], hostile_cases: dict[str, Any], hostile_now_ms: int
) -> None:
    flood = corpus.unknown_contracts(corpus.Stream(clean_lines), ids=20_000)
    cases = [hostile_cases[name] for name in REJECTED] + [flood]
    mixed, placed = corpus.mix(clean_lines, cases)
    hostile = {p.index for p in placed}
    ruleset = rh.ruleset()
    # every line's origin: a clean line's is the same in both runs (the buffer keeps origins)
    origins, k = [], 0
    for i, _line in enumerate(mixed):
        if i in hostile:
            origins.append(f"hostile:{i}")
        else:
            origins.append(f"clean:{k}")
            k += 1
    clean_state, dirty_state = EngineState.empty(), EngineState.empty()
    size, at = 20_000, 0
    for start in range(0, len(clean_lines), size):
        batch = clean_lines[start : start + size]
        clean_state, _ = step(
            clean_state, batch, lambda i, s=start: f"clean:{s + i}", ruleset, hostile_now_ms
        )
        # the mixed stream up to the same clean line, and the hostile lines right after it
        picked: list[int] = []
        taken = 0
        while at < len(mixed) and (taken < len(batch) or at in hostile):
            taken += at not in hostile
            picked.append(at)
            at += 1
        picked = [i for i in picked if mixed[i].strip()]  # a file's empty line is no record
        dirty_state, out = step(
            dirty_state, [mixed[i] for i in picked], lambda j, p=picked: origins[p[j]], ruleset,
            hostile_now_ms,
        )  # fmt: skip
        assert out.stats["events_in"] == sum(
            out.stats.get(k, 0) for k in ("accepted", "duplicates", "late", "dead_letters")
        )
        _assert_same_state(dirty_state, clean_state, f"batch at line {start}")
    assert at == len(mixed)
    assert sorted(dirty_state.contracts) == sorted(clean_state.contracts)


def _assert_same_state(got: EngineState, want: EngineState, where: str) -> None:
    """Equal contents (a frame's chunks may be laid out differently), and a snapshot of about
    the same size."""
    assert {k: asdict(v) for k, v in got.contracts.items()} == {
        k: asdict(v) for k, v in want.contracts.items()
    }, where
    assert got.quarantined == want.quarantined, where
    for name in ("buffer", "lat_windows", "lat_periods", "usage", "gauge_windows",
                 "gauge_periods"):  # fmt: skip
        assert getattr(got, name).equals(getattr(want, name)), f"{where}: {name}"
    assert len(got.snapshot()) <= len(want.snapshot()) * 1.05 + 4096, where
