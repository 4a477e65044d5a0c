"""The loop of a driver whose input ends: ``csla replay`` (files) and the in-memory driver.

``drive`` calls the core's ``step`` once per batch, hands every batch's outputs to a sink, and
at the end of the input calls the core's ``finish`` (the closing up to ``until`` and the
provider scorecards). The drivers differ only in where batches come from and where outputs
go: the same batches give the same outputs, in the same order, through either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl

from engine.core.contract import Ruleset
from engine.core.finish import finish
from engine.core.origins import Origin
from engine.core.pipeline import Outputs, step
from engine.core.records import ScorecardRecord
from engine.core.state import EngineState
from engine.ruleset.compile import default_scoring

__all__ = ["Batch", "drive", "jsonl"]


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of input as ``step`` takes it: its lines and their origin, the lines joined
    by newlines (a text chunk) or the batch as typed columns (Parquet), and how many bytes
    of the input it stands for (progress)."""

    lines: Sequence[bytes]
    origin: Origin
    block: bytes | None = None
    frame: pl.DataFrame | None = None
    size: int = 0


def drive(
    ruleset: Ruleset,
    batches: Iterable[Batch],
    sink: Callable[[Outputs], None],
    *,
    now_ms: int | None,
    until_ms: int | None = None,
    state: EngineState | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> EngineState:
    """Run ``batches`` through the core from ``state`` (None: empty); return the last state.

    ``sink`` gets the outputs of every batch, then those of the end of the input
    (``engine.core.finish``). ``now_ms``: the engine clock (None: no bound on event time, as
    in a replay without ``--now``). ``on_batch`` gets each batch's ``size`` once it is done.
    """
    mine = state is None  # a state of its own: changed in place; the caller's: copied once
    state = EngineState.empty() if state is None else state
    scorecards: list[ScorecardRecord] = []  # the contract scorecards, for the provider fold
    for batch in batches:
        state, outputs = step(
            state, batch.lines, batch.origin, ruleset, now_ms, batch.block, frame=batch.frame,
            in_place=mine,
        )  # fmt: skip
        mine = True  # every later state is one this loop made and nobody else holds
        scorecards.extend(outputs.scorecards)
        sink(outputs)
        if on_batch is not None:
            on_batch(batch.size)
    scoring = ruleset.scoring or default_scoring()  # Table A.2 of the platform, else packaged
    state, outputs = finish(state, ruleset, scorecards, scoring, until_ms=until_ms)
    sink(outputs)
    return state


def jsonl(records: Iterable[Mapping[str, Any]]) -> bytes:
    """Records as JSON lines, as a replay writes them to its files."""
    return b"".join(orjson.dumps(r) + b"\n" for r in records)
