"""The in-memory driver: lines in, ``Outputs`` out; no files, no Kafka (tests, notebooks).

In the spirit of bytewax's ``TestingSource`` / ``TestingSink``: ``run_in_memory(ruleset,
batches)`` feeds batches of lines through the loop ``csla replay`` runs
(``engine.adapters.drive``) and gives back every output, in the order a replay writes them,
with the last state. The semantics are replay's: no engine clock unless ``now_ms`` is given
(the input's own event time is the only clock), ``until_ms`` closes every window up to that
instant at the end (the core adds the grace), the provider scorecards are folded at the end
(``engine.core.finish``), and the books are the same.

A batch is either

* a sequence of lines, read as a replay reads the lines of a file: a line may hold a JSON
  array or be blank, and origins are ``<name>:<line>``, lines counted from 1 across batches
  (so the same lines in the same cut give the same outputs as ``csla replay`` of a file of
  them, chunked there); or
* a ``MemoryBatch``: records, one per line, with an origin each (as the worker's stage 2 gets
  them, ``topic[partition]@offset``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from engine.adapters.drive import Batch, drive, jsonl
from engine.adapters.files import chunk_lines
from engine.adapters.manifest import books
from engine.core.contract import Ruleset
from engine.core.origins import Listed
from engine.core.pipeline import Outputs
from engine.core.records import OUTPUT_KIND
from engine.core.state import EngineState
from engine.models.manifest import Books

__all__ = ["MemoryBatch", "MemoryRun", "run_in_memory"]


@dataclass(frozen=True, slots=True)
class MemoryBatch:
    """Records with their origins, one origin per record (no line splitting, no numbering)."""

    lines: Sequence[bytes]
    origins: Sequence[str]

    def __post_init__(self) -> None:
        if len(self.lines) != len(self.origins):
            raise ValueError(f"{len(self.lines)} lines but {len(self.origins)} origins")


@dataclass
class MemoryRun:
    """What a run gave: every output in the order emitted, each core call's outputs, the
    last state."""

    outputs: Outputs
    state: EngineState
    #: the outputs of each call to the core: one per non-empty batch, then the end of input
    steps: list[Outputs] = field(default_factory=list)

    def jsonl(self, kind: str) -> bytes:
        """The records of output ``kind`` (a name of ``OUTPUT_KINDS``: ``metrics``, ``dead``,
        …) as a replay writes them to that kind's file."""
        return jsonl(getattr(self.outputs, OUTPUT_KIND[kind].name))

    @property
    def books(self) -> Books:
        """The books of the run, as a replay's manifest has them (``UnbalancedBooks`` unless
        they balance)."""
        return books(self.outputs.stats)


def run_in_memory(
    ruleset: Ruleset,
    batches: Iterable[Sequence[bytes] | MemoryBatch],
    *,
    now_ms: int | None = None,
    until_ms: int | None = None,
    state: EngineState | None = None,
    name: str = "memory",
) -> MemoryRun:
    """Run ``batches`` through the core from ``state`` (None: empty) and collect the outputs.

    ``now_ms``: the engine clock (events more than 10 minutes after it are dead letters);
    None, as ``csla replay`` without ``--now``. ``until_ms``: close every window up to this
    instant at the end, as ``--until``. ``name``: the input's name in origins of plain lines.
    A run resumed from ``state`` folds the provider scorecards of its own contract scorecards.
    """
    run = MemoryRun(Outputs(), EngineState.empty())

    def sink(outputs: Outputs) -> None:
        run.steps.append(outputs)
        run.outputs.extend(outputs)

    run.state = drive(
        ruleset,
        _batches(batches, name),
        sink,
        now_ms=now_ms,
        until_ms=until_ms,
        state=state,
    )
    return run


def _batches(batches: Iterable[Sequence[bytes] | MemoryBatch], name: str) -> Iterator[Batch]:
    first_line = 1
    for batch in batches:
        if isinstance(batch, MemoryBatch):
            if batch.lines:
                yield Batch(list(batch.lines), Listed(list(batch.origins)))
            continue
        if not batch:
            continue
        data = b"\n".join(batch)
        lines, origin, block = chunk_lines(data, name, first_line)
        first_line += data.count(b"\n") + 1
        if lines:
            yield Batch(lines, origin, block, None, len(data) + 1)
