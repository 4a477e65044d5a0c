"""Stage 2's checkpoints: each partition's core state in the compacted topic
``<app_id>-csla-state`` (key ``p<partition>``).

A checkpoint is the zlib-compressed state snapshot plus the offset of the first keyed message
the state does not hold and, per contract and telemetry partition, the last telemetry offset
evaluated. The worker writes one after each batch's outputs are acknowledged and before the
batch's offsets are committed; a worker that restarts or takes a partition over reads the most
advanced one back (``CheckpointReader``).
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

__all__ = ["CheckpointReader", "PartitionState", "decode_checkpoint", "encode_checkpoint"]

log = logging.getLogger("csla.worker")

_CHECKPOINT_MAGIC = b"CSLACK2\n"


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
        key = f"p{partition}".encode()
        best: tuple[int, dict[str, dict[str, int]], bytes] | None = None
        deadline = time.monotonic() + 120
        while await reader.position(tp) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading checkpoints of partition {partition} took too long")
            for record in (await reader.getmany(tp, timeout_ms=1000)).get(tp, []):
                if record.key == key and record.value:
                    checkpoint = decode_checkpoint(record.value)
                    if best is None or checkpoint[0] >= best[0]:
                        best = checkpoint
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
        return PartitionState(state, best[0], True, sources=best[1], last_seen=last_seen)

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
