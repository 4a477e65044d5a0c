"""Stage 2 straight from the telemetry topic (``CSLA_INPUT_KEYED_BY_CONTRACT=true``).

When producers already key telemetry by ``contract_id`` and partition it with Kafka's default
partitioner (murmur2 of the key, as the Java clients, aiokafka and ``csla produce`` do), every
contract's lines are on one partition already: stage 2 evaluates the telemetry topic itself and
the re-key hop (stage 1 and ``<app_id>-csla-by-contract``) is skipped. Nothing is trusted:

- a message without a key, or whose key belongs to another partition, has every line
  dead-lettered here with the reason (its contract's state may live on another partition);
- a line whose decoded ``contract_id`` is not its message's key is dead-lettered by the core
  (``step(..., routed_to=…)``), never evaluated.

This module is the pure part: Kafka messages → lines, origins, owners and dead letters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka.partitioner import murmur2

from engine.adapters.kafka.delivery import dead_letter
from engine.adapters.kafka.routing import empty_message_error
from engine.core.decode import split_records

__all__ = ["KeyedBatch", "key_partition", "keyed_batch"]


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (murmur2, as the Java client)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class KeyedBatch:
    """A stage-2 batch of telemetry messages: the lines for ``step``, each line's origin and
    owner (its message's key), and the dead letters of what never reaches the core."""

    lines: list[bytes] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    routed_to: list[str] = field(default_factory=list)
    #: one per line refused here, or per message without a line (each counts as a line in)
    dead: list[dict[str, Any]] = field(default_factory=list)
    empty_messages: int = 0


def keyed_batch(messages: Sequence[Any], owner: Callable[[bytes], int]) -> KeyedBatch:
    """Messages (``topic``, ``partition``, ``offset``, ``key``, ``value``) of one partition →
    a ``KeyedBatch``. ``owner(key)`` is the partition the key belongs to."""
    batch = KeyedBatch()
    for msg in messages:
        origin = f"{msg.topic}[{msg.partition}]@{msg.offset}"
        value = msg.value
        if not value or not value.strip():
            batch.empty_messages += 1
            batch.dead.append(dead_letter(origin, empty_message_error(value), value))
            continue
        parts = value.split(b"\n") if b"[" not in value else None
        if parts is None or b"" in parts:
            # An array, a blank line, a trailing newline: as ``split_records`` reads them (it
            # returns any other message's ``split``, without the two searches it needs for that).
            parts = split_records(value)
            if not parts:  # an empty JSON array
                batch.empty_messages += 1
                batch.dead.append(dead_letter(origin, empty_message_error(value), value))
                continue
        error = _misplaced(msg, owner)
        if error is not None:
            batch.dead.extend(dead_letter(origin, error, line) for line in parts)
            continue
        n = len(parts)
        batch.lines.extend(parts)
        batch.origins.extend([origin] * n)
        batch.routed_to.extend([msg.key.decode()] * n)
    return batch


def _misplaced(msg: Any, owner: Callable[[bytes], int]) -> str | None:
    """Why a message's lines may not be evaluated on the partition that holds it, or None."""
    key = msg.key
    if not key:
        return (
            "telemetry message without a key: with CSLA_INPUT_KEYED_BY_CONTRACT=true every "
            "message must be keyed by its contract_id"
        )
    try:
        cid = key.decode()
    except UnicodeDecodeError:
        return "telemetry message key is not UTF-8 text, so it names no contract_id"
    expected = owner(key)
    if expected != msg.partition:
        return (
            f"key '{cid}' belongs to partition {expected} of {msg.topic} (Kafka's default "
            f"partitioner, murmur2), not {msg.partition}: with CSLA_INPUT_KEYED_BY_CONTRACT=true "
            "each contract's telemetry must be on its key's partition"
        )
    return None
