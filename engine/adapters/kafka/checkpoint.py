"""Stage 2's checkpoints: each partition's core state in the compacted topic
``<app_id>-csla-state`` (key ``p<partition>``).

A checkpoint is the zlib-compressed state snapshot plus the offset of the first keyed message
the state does not hold and, per contract and telemetry partition, the last telemetry offset
evaluated. The worker writes one after each batch's outputs are acknowledged and before the
batch's offsets are committed; a worker that restarts or takes a partition over reads the most
advanced one back (``CheckpointReader``).

A checkpoint is written in parts of at most :data:`PART_BYTES` (``checkpoint_parts``), so no
state is too large for a message: part ``i`` of a partition's checkpoint has the key
``p<partition>.<slot>.<i>``, and successive checkpoints alternate between two slots. Log
compaction keeps the latest record per key, so the previous checkpoint stays whole in its slot
while the next one is being written: a worker killed half-way through writing the parts of one
leaves the other complete (``best_checkpoint`` takes the most advanced complete one).
"""

from __future__ import annotations

import logging
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.adapters.kafka.clients import (
    CHECKPOINT_MESSAGE_BYTES,
    bootstrap_servers,
    client_options,
)
from engine.core.state import EngineState
from engine.settings import Settings

__all__ = [
    "CheckpointPicker",
    "CheckpointReader",
    "PartitionState",
    "checkpoint_parts",
    "decode_checkpoint",
    "encode_checkpoint",
]

log = logging.getLogger("csla.worker")

_CHECKPOINT_MAGIC = b"CSLACK2\n"
_PART_MAGIC = b"CSLACKP\n"
#: the largest part of a checkpoint, well under any topic's max.message.bytes
PART_BYTES = 4 * 1024 * 1024


def encode_checkpoint(
    next_offset: int, sources: dict[str, dict[str, int]], snapshot: bytes
) -> bytes:
    """Magic, then zlib of: a JSON header line (offset, sources) and the state snapshot."""
    head = orjson.dumps({"next_offset": next_offset, "sources": sources})
    return _CHECKPOINT_MAGIC + zlib.compress(head + b"\n" + snapshot, 1)


def decode_checkpoint(data: bytes) -> tuple[int, dict[str, dict[str, int]], bytes]:
    """(first offset not in the state, per-contract source high-water marks, snapshot)."""
    if not data.startswith(_CHECKPOINT_MAGIC):
        raise ValueError("not a CSLA checkpoint")
    head, _, snapshot = zlib.decompress(data[len(_CHECKPOINT_MAGIC) :]).partition(b"\n")
    header = orjson.loads(head)
    return int(header["next_offset"]), header["sources"], snapshot


def checkpoint_parts(
    partition: int, slot: int, generation: int, data: bytes, part_bytes: int = PART_BYTES
) -> list[tuple[bytes, bytes]]:
    """``data`` (an :func:`encode_checkpoint`) as (key, value) records of at most
    ``part_bytes`` of it each, for ``slot`` (0 or 1) of ``partition``'s checkpoints.

    Each value is a magic line, a JSON header line (generation, part index, part count, total
    size) and the part's bytes. ``generation`` orders checkpoints; the reader needs every part
    of one generation to use it."""
    chunks = [data[i : i + part_bytes] for i in range(0, len(data), part_bytes)] or [b""]
    records = []
    for index, chunk in enumerate(chunks):
        head = orjson.dumps({"g": generation, "i": index, "n": len(chunks), "size": len(data)})
        key = f"p{partition}.{slot}.{index}".encode()
        records.append((key, _PART_MAGIC + head + b"\n" + chunk))
    return records


def parse_part(value: bytes) -> tuple[int, int, int, bytes]:
    """(generation, part index, part count, bytes) of one part record."""
    if not value.startswith(_PART_MAGIC):
        raise ValueError("not a CSLA checkpoint part")
    head, _, chunk = value[len(_PART_MAGIC) :].partition(b"\n")
    header = orjson.loads(head)
    return int(header["g"]), int(header["i"]), int(header["n"]), chunk


@dataclass
class _Assembly:
    count: int
    slot: int
    parts: dict[int, bytes] = field(default_factory=dict)


class CheckpointPicker:
    """Feed it a partition's checkpoint records in log order (``add``); ``best`` is then the
    most advanced complete checkpoint: the greatest first offset not in the state, and of
    equal ones the latest written. Parts of a checkpoint that was never finished are ignored;
    a checkpoint of one record (the format before parts) is read as well."""

    def __init__(self, partition: int) -> None:
        self.prefix = f"p{partition}."
        self.legacy = f"p{partition}".encode()
        self.best: tuple[int, dict[str, dict[str, int]], bytes] | None = None
        self.best_order: tuple[int, int] | None = None
        self.slot: int | None = None  # the slot the best came from
        self._open: dict[int, _Assembly] = {}

    def add(self, key: bytes | None, value: bytes | None) -> None:
        if key is None or not value:
            return
        if key == self.legacy:
            self._offer(decode_checkpoint(value), -1, None)
            return
        name = key.decode("utf-8", "replace")
        if not name.startswith(self.prefix):
            return
        generation, index, count, chunk = parse_part(value)
        assembly = self._open.setdefault(generation, _Assembly(count, int(name.split(".")[1])))
        assembly.parts[index] = chunk
        if len(assembly.parts) == assembly.count:
            del self._open[generation]
            data = b"".join(assembly.parts[i] for i in range(assembly.count))
            self._offer(decode_checkpoint(data), generation, assembly.slot)
            # older unfinished checkpoints can no longer win: forget their parts
            self._open = {g: a for g, a in self._open.items() if g > generation}

    def _offer(
        self,
        checkpoint: tuple[int, dict[str, dict[str, int]], bytes],
        generation: int,
        slot: int | None,
    ) -> None:
        order = (checkpoint[0], generation)
        if self.best_order is None or order >= self.best_order:
            self.best, self.best_order, self.slot = checkpoint, order, slot


@dataclass
class PartitionState:
    """One stage-2 partition: the core state, the first offset it does not hold, and for each
    contract and telemetry partition the last telemetry offset evaluated (``sources``): stage 1
    is at-least-once, and a line it routes again after a restart is dropped here, not evaluated
    twice (the core would call an old event late, not a duplicate, once its minute closed)."""

    state: EngineState
    next_offset: int
    restored: bool
    sources: dict[str, dict[str, int]] = field(default_factory=dict)
    last_seen: dict[str, tuple[int, int]] = field(default_factory=dict)  # wall ms, event ms
    # the checkpoint slot written last (the next checkpoint goes to the other one)
    slot: int = 1


class CheckpointReader:
    """Reads checkpoints back from the state topic, on a consumer of its own (no group)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.partitions: int | None = None  # the state topic's, known from the first restore
        self._reader: Any = None

    async def restore(self, partition: int, now_ms: int) -> PartitionState:
        """The most advanced checkpoint of ``partition`` in the state topic, or an empty state."""
        from aiokafka import TopicPartition

        started = time.perf_counter()
        reader = await self._consumer()
        if self.partitions is None:
            self.partitions = await self._partition_count(self.topic)
        tp = TopicPartition(self.topic, partition % self.partitions)
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        end = (await reader.end_offsets([tp]))[tp]
        picker = CheckpointPicker(partition)
        deadline = time.monotonic() + 120
        while await reader.position(tp) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading checkpoints of partition {partition} took too long")
            for record in (await reader.getmany(tp, timeout_ms=1000)).get(tp, []):
                picker.add(record.key, record.value)
        best = picker.best
        if best is None:
            log.info("partition=%d no checkpoint: starting empty", partition)
            return PartitionState(EngineState.empty(), 0, restored=False)
        state = EngineState.restore(best[2])
        last_seen = {cid: (now_ms, cs.max_event_ms) for cid, cs in state.contracts.items()}
        log.info(
            "partition=%d restored checkpoint next_offset=%d contracts=%d in %.3f s",
            partition,
            best[0],
            len(state.contracts),
            time.perf_counter() - started,
        )
        slot = 1 if picker.slot is None else picker.slot
        return PartitionState(
            state, best[0], True, sources=best[1], last_seen=last_seen, slot=slot
        )

    async def _partition_count(self, topic: str) -> int:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers(self.settings), **client_options(self.settings)
        )
        await admin.start()
        try:
            (description,) = await admin.describe_topics([topic])
        finally:
            await admin.close()
        count = len(description.get("partitions") or [])
        if description.get("error_code") or not count:
            raise RuntimeError(f"cannot describe topic {topic!r}: {description}")
        return count

    async def _consumer(self) -> Any:
        if self._reader is None:
            from aiokafka import AIOKafkaConsumer

            self._reader = AIOKafkaConsumer(
                bootstrap_servers=bootstrap_servers(self.settings),
                group_id=None,
                enable_auto_commit=False,
                isolation_level=(
                    "read_committed"
                    if self.settings.processing_guarantee == "exactly_once"
                    else "read_uncommitted"
                ),
                max_partition_fetch_bytes=CHECKPOINT_MESSAGE_BYTES * 2,
                fetch_max_bytes=CHECKPOINT_MESSAGE_BYTES * 4,
                **client_options(self.settings),
            )
            await self._reader.start()
        return self._reader

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None
