"""Files in, files out: the offline driver around the pure core (``csla replay``).

Reads JSONL / NDJSON (optionally gzip, or stdin) or Parquet in chunks of lines, runs them
through the loop it shares with the in-memory driver (``engine.adapters.drive``: ``step`` per
chunk, the core's ``finish`` at the end) and appends every output kind to its own JSONL file.
Memory is bounded by the chunk size and the open windows, not by the input length.  The files
go to a staging directory beside the output directory, which takes their place, with a
manifest, only when the run completes (``engine.adapters.manifest``).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.adapters import manifest as mf
from engine.adapters.drive import Batch, drive, jsonl
from engine.adapters.parquet import RowLines, is_parquet, parquet_files, read_parquet
from engine.core.calendar import utc_iso
from engine.core.contract import Ruleset
from engine.core.pipeline import Outputs
from engine.core.records import OUTPUT_KINDS
from engine.core.state import EngineState
from engine.models.manifest import InputFile, Manifest, OutputFile

#: output kind name → its file in an output directory, in the order of
#: ``engine.core.records.OUTPUT_KINDS`` (the order the files are written in)
OUTPUT_FILES = {kind.name: kind.file for kind in OUTPUT_KINDS}


@contextlib.contextmanager
def open_input(path: str) -> Iterator[IO[bytes]]:
    """A byte stream of a file or stdin (``-``), gunzipped when it is gzip."""
    with _tallied_input(path) as (stream, _):
        yield stream


@contextlib.contextmanager
def open_input_counted(path: str) -> Iterator[tuple[IO[bytes], Callable[[], int]]]:
    """Like ``open_input``, with a function giving how many bytes of the input as stored
    (compressed, for a ``.gz``) were read so far: the progress of a reader of the stream."""
    with _tallied_input(path) as (stream, tally):
        yield stream, lambda: tally.size


class _Tally:
    """The bytes of an input as stored, counted and hashed as they are read through it (the
    manifest's size and sha256, without reading a file twice or needing stdin again)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw, self.size, self.digest = raw, 0, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.size += len(data)
        self.digest.update(data)
        return data

    def drain(self) -> None:
        """Read to the end: bytes after a gzip stream's end are part of the input too."""
        while self.read(1 << 20):
            pass


@contextlib.contextmanager
def _tallied_input(path: str) -> Iterator[tuple[IO[bytes], _Tally]]:
    """Like ``open_input``, with the stored bytes tallied."""
    with contextlib.ExitStack() as stack:
        raw: IO[bytes] = sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb"))
        # peeked, not read: a pipe (stdin, /dev/fd/N) cannot seek back
        head = raw.peek(2)[:2] if isinstance(raw, io.BufferedReader) else b""
        tally = _Tally(raw)
        stream: Any = gzip.GzipFile(fileobj=tally) if head == b"\x1f\x8b" else tally  # type: ignore[call-overload]
        yield stream, tally


def read_chunks(
    stream: IO[bytes], name: str, chunk_bytes: int = 24 << 20
) -> Iterator[tuple[Sequence[bytes], Callable[[int], str], bytes | None]]:
    """Chunks of whole lines with an origin function ``i -> "name:line"``."""
    carry = b""
    first_line = 1
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            break
        cut = block.rfind(b"\n")  # (``carry`` holds no newline: the last one is here)
        if cut < 0:
            carry += block
            continue
        # the chunk's lines in one copy: the carried start of a line, the block to its last
        # newline (joined through a view, not sliced first)
        data = b"".join((carry, memoryview(block)[:cut]))
        carry = block[cut + 1 :]
        del block  # not held while the chunk is decoded
        count = data.count(b"\n") + 1
        chunk = chunk_lines(data, name, first_line, count)
        del data
        yield chunk
        first_line += count
    if carry.strip():
        yield chunk_lines(carry, name, first_line)


def chunk_lines(
    data: bytes, name: str, first_line: int, count: int | None = None
) -> tuple[Sequence[bytes], Callable[[int], str], bytes | None]:
    """The records of ``data`` (whole lines, the first of them line ``first_line`` of ``name``;
    a line may hold a JSON array, or be blank), their origin and, when they are its lines
    as they stand, ``data`` itself (the lines are then split only if asked for: the core
    parses the block whole). ``count``: the number of lines of ``data``, if known."""
    from engine.core.decode import split_records
    from engine.core.lines import BlockLines
    from engine.core.origins import FileLines

    # blank lines are skipped: a chunk may also begin with one (a file's "\n\n" cut between)
    end = data.find(b"\n")
    first, last = data[: len(data) if end < 0 else end], data[data.rfind(b"\n") + 1 :]
    if b"[" not in data and first.strip() and last.strip():
        block = BlockLines(data, count)
        view = block.view()  # kept for the core's decode; an empty line is null in it
        if (view.null_count() == 0) if view is not None else b"\n\n" not in data:
            return block, FileLines(name, first_line), data
    lines: list[bytes] = []
    where: list[int] = []
    for number, raw in enumerate(data.split(b"\n")):
        for record in split_records(raw):
            lines.append(record)
            where.append(first_line + number)
    return lines, FileLines(name, first_line, where), None


@dataclass
class OutputWriter:
    out_dir: Path
    counts: dict[str, int] = field(default_factory=dict)
    _files: dict[str, IO[bytes]] = field(default_factory=dict)
    _sizes: dict[str, int] = field(default_factory=dict)
    _digests: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for kind, filename in OUTPUT_FILES.items():
            self._files[kind] = open(self.out_dir / filename, "wb")  # noqa: SIM115
            self.counts[kind], self._sizes[kind] = 0, 0
            self._digests[kind] = hashlib.sha256()

    def write(self, outputs: Outputs) -> None:
        for kind in OUTPUT_FILES:
            records: list[dict[str, Any]] = getattr(outputs, kind)
            if records:
                data = jsonl(records)
                self._files[kind].write(data)
                self.counts[kind] += len(records)
                self._sizes[kind] += len(data)
                self._digests[kind].update(data)

    def files(self) -> dict[str, OutputFile]:
        """File name → kind, records, bytes and sha256 of everything written so far."""
        return {
            OUTPUT_FILES[kind]: OutputFile(
                kind=kind,
                records=self.counts[kind],
                bytes=self._sizes[kind],
                sha256=self._digests[kind].hexdigest(),
            )
            for kind in OUTPUT_FILES
        }

    def close(self, *, durable: bool = False) -> None:
        for handle in self._files.values():
            if durable and not handle.closed:
                handle.flush()
                os.fsync(handle.fileno())
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
    now_ms: int | None,
    *,
    until_ms: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    chunk_bytes: int = 24 << 20,
) -> ReplayResult:
    """Run the core over a file and write its outputs; ``until_ms`` closes up to that time.

    ``now_ms``: the engine clock that bounds how far ahead an event may be (None: no bound;
    the outputs then depend only on the input and the rules, not on the day of the run).

    The outputs appear in ``out_dir`` all at once with their ``manifest.json`` when the run
    completes; until then (and if it fails or is killed) ``out_dir`` is left as it was.
    Raises ``OutputDirTaken`` when ``out_dir`` holds files that are not replay outputs.
    """
    rules = mf.rule_files(ruleset)  # hashed before the run: the files it was loaded from
    staging = mf.staging_dir(out_dir, OUTPUT_FILES.values())
    try:
        if is_parquet(input_path):
            result, writer = _run(
                ruleset, _parquet_batches(input_path), staging, now_ms, until_ms, on_chunk
            )
            inputs = [
                InputFile(path=str(f), bytes=f.stat().st_size, sha256=mf.file_sha256(f))
                for f in parquet_files(input_path)
            ]
        else:
            with _tallied_input(input_path) as (stream, tally):
                name = "stdin" if input_path == "-" else input_path
                batches = _text_batches(stream, name, chunk_bytes)
                result, writer = _run(ruleset, batches, staging, now_ms, until_ms, on_chunk)
                tally.drain()
            inputs = [InputFile(path=input_path, bytes=tally.size, sha256=tally.digest.hexdigest())]
        manifest = Manifest(
            engine_version=mf.engine_version(),
            arguments={
                "until": None if until_ms is None else utc_iso(until_ms),
                **({} if now_ms is None else {"now": utc_iso(now_ms)}),
            },
            inputs=inputs,
            rules=rules,
            books=mf.books(result.stats),
            outputs=writer.files(),
        )
        mf.write_manifest(staging, manifest)
        mf.publish(staging, out_dir)
    except BaseException:
        mf.discard(staging)
        raise
    return result


def _text_batches(stream: IO[bytes], name: str, chunk_bytes: int) -> Iterator[Batch]:
    for lines, origin, block in read_chunks(stream, name, chunk_bytes):
        size = len(block) + 1 if block is not None else sum(len(line) + 1 for line in lines)
        yield Batch(lines, origin, block, None, size)


def _parquet_batches(path: str) -> Iterator[Batch]:
    for frame, origin, size in read_parquet(path):
        yield Batch(RowLines(frame), origin, None, frame, size)


def _run(
    ruleset: Ruleset,
    batches: Iterator[Batch],
    out_dir: Path,
    now_ms: int | None,
    until_ms: int | None,
    on_chunk: Callable[[int], None] | None,
) -> tuple[ReplayResult, OutputWriter]:
    writer = OutputWriter(out_dir)
    kept = Outputs()
    stats: dict[str, int] = {}
    durable = False
    try:
        state = drive(
            ruleset,
            batches,
            lambda outputs: _collect(writer, kept, stats, outputs),
            now_ms=now_ms,
            until_ms=until_ms,
            on_batch=on_chunk,
        )
        durable = True
    finally:
        writer.close(durable=durable)
    return ReplayResult(kept, dict(writer.counts), stats, state), writer


def _collect(writer: OutputWriter, kept: Outputs, stats: dict[str, int], outputs: Outputs) -> None:
    writer.write(outputs)
    kept.breaches.extend(outputs.breaches)
    kept.compensations.extend(outputs.compensations)
    kept.scorecards.extend(outputs.scorecards)
    for key, value in outputs.stats.items():
        stats[key] = stats.get(key, 0) + value
    kept.metrics.extend(m for m in outputs.metrics if m["window_end"] == m["period_end"])
