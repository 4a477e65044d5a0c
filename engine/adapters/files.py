"""Files in, files out: the offline driver around the pure core (``csla replay``).

Reads JSONL / NDJSON (optionally gzip, or stdin) in chunks of lines, calls ``step`` per chunk
and appends every output kind to its own JSONL file.  Memory is bounded by the chunk size and
the open windows, not by the input length.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from engine.core.contract import Ruleset
from engine.core.pipeline import Outputs, advance, step
from engine.core.scoring import provider_scorecards
from engine.core.state import EngineState
from engine.ruleset.compile import default_scoring

OUTPUT_FILES = {
    "metrics": "metrics.jsonl",
    "breaches": "breaches.jsonl",
    "compensations": "compensations.jsonl",
    "late": "late.jsonl",
    "dead": "deadletter.jsonl",
    "usage": "usage.jsonl",
    "warnings": "warnings.jsonl",
    "scorecards": "scorecards.jsonl",
}


def open_input(path: str) -> IO[bytes]:
    """A byte stream of a file or stdin (``-``), gunzipped when it is gzip."""
    if path == "-":
        stdin = sys.stdin.buffer
        head = stdin.peek(2)[:2] if isinstance(stdin, io.BufferedReader) else b""
        return gzip.GzipFile(fileobj=stdin) if head == b"\x1f\x8b" else stdin  # type: ignore[return-value]
    with open(path, "rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # type: ignore[return-value]


def read_chunks(
    stream: IO[bytes], name: str, chunk_bytes: int = 24 << 20
) -> Iterator[tuple[list[bytes], Callable[[int], str], bytes | None]]:
    """Chunks of whole lines with an origin function ``i -> "name:line"``."""
    carry = b""
    first_line = 1
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            break
        data = carry + block
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1 :]
        yield _chunk(data[:cut], name, first_line)
        first_line += data.count(b"\n", 0, cut) + 1
    if carry.strip():
        yield _chunk(carry, name, first_line)


def _chunk(
    data: bytes, name: str, first_line: int
) -> tuple[list[bytes], Callable[[int], str], bytes | None]:
    from engine.core.decode import split_records

    raw_lines = data.split(b"\n")
    if (
        b"[" not in data
        and b"\n\n" not in data
        and not any(not ln.strip() for ln in raw_lines[-1:])
    ):
        return raw_lines, lambda i: f"{name}:{first_line + i}", data
    lines: list[bytes] = []
    where: list[int] = []
    for number, raw in enumerate(raw_lines):
        for record in split_records(raw):
            lines.append(record)
            where.append(first_line + number)
    return lines, lambda i: f"{name}:{where[i]}", None


@dataclass
class OutputWriter:
    out_dir: Path
    counts: dict[str, int] = field(default_factory=dict)
    _files: dict[str, IO[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for kind, filename in OUTPUT_FILES.items():
            self._files[kind] = open(self.out_dir / filename, "wb")  # noqa: SIM115
            self.counts[kind] = 0

    def write(self, outputs: Outputs) -> None:
        for kind in OUTPUT_FILES:
            records: list[dict[str, Any]] = getattr(outputs, kind)
            if records:
                self._files[kind].write(b"".join(orjson.dumps(r) + b"\n" for r in records))
                self.counts[kind] += len(records)

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()


@dataclass
class ReplayResult:
    outputs: Outputs  # breaches and compensations kept for the summary; metrics only counted
    counts: dict[str, int]
    stats: dict[str, int]
    state: EngineState


def replay(
    ruleset: Ruleset,
    input_path: str,
    out_dir: Path,
    now_ms: int,
    *,
    until_ms: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    chunk_bytes: int = 24 << 20,
) -> ReplayResult:
    """Run the core over a file and write its outputs; ``until_ms`` closes up to that time."""
    state = EngineState.empty()
    writer = OutputWriter(out_dir)
    kept = Outputs()
    stats: dict[str, int] = {}
    name = "stdin" if input_path == "-" else input_path
    try:
        with open_input(input_path) as stream:
            for lines, origin, block in read_chunks(stream, name, chunk_bytes):
                state, outputs = step(state, lines, origin, ruleset, now_ms, block)
                _collect(writer, kept, stats, outputs)
                if on_chunk:
                    on_chunk(sum(len(line) + 1 for line in lines))
        if until_ms is not None:
            targets = {}
            for cid in state.contracts:
                contract = ruleset.latest(cid)
                if contract is not None:  # the watermark reaches ``until`` itself
                    targets[cid] = until_ms + contract.grace_ms
            state, outputs = advance(state, ruleset, targets)
            _collect(writer, kept, stats, outputs)
        # Table A.2 per provider across its contracts, for every period closed in this run
        providers = provider_scorecards(ruleset.scoring or default_scoring(), kept.scorecards)
        writer.write(Outputs(scorecards=providers))
        kept.scorecards.extend(providers)
    finally:
        writer.close()
    return ReplayResult(kept, dict(writer.counts), stats, state)


def _collect(writer: OutputWriter, kept: Outputs, stats: dict[str, int], outputs: Outputs) -> None:
    writer.write(outputs)
    kept.breaches.extend(outputs.breaches)
    kept.compensations.extend(outputs.compensations)
    kept.scorecards.extend(outputs.scorecards)
    for key, value in outputs.stats.items():
        stats[key] = stats.get(key, 0) + value
    kept.metrics.extend(m for m in outputs.metrics if m["window_end"] == m["period_end"])
