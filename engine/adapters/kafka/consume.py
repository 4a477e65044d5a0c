"""Read a topic and print its records as NDJSON (``csla consume``).

Each record is one line: its value as JSON (a value that is not one JSON text is printed as a
JSON string), or with ``meta`` an object ``{topic, partition, offset, timestamp, key, value}``.
With a consumer group the offsets are committed after the records are written and flushed
(at-least-once: a record printed is committed at the earliest after it is out); without one
nothing is committed. ``from_beginning`` starts at the earliest offset where the group has
no committed offset yet (without a group: always), else at the end, like Kafka's console
consumer. ``until_idle_seconds`` stops once no record has come for that long.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import IO, Any

import orjson

from engine.adapters.kafka.clients import MAX_MESSAGE_BYTES, bootstrap_servers, client_options
from engine.errors import UserError
from engine.settings import Settings

__all__ = ["consume", "render"]

#: How long one fetch waits for records before the idle clock is looked at again.
POLL_MS = 200


def _json_or_text(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return orjson.Fragment(orjson.dumps(orjson.loads(data)))
    except orjson.JSONDecodeError:
        return data.decode("utf-8", "replace")


def render(records: Iterable[Any], *, meta: bool) -> bytes:
    """NDJSON lines of aiokafka ``ConsumerRecord``s (``value`` as JSON, or a string)."""
    out = []
    for r in records:
        value = _json_or_text(r.value)
        if meta:
            key = None if r.key is None else r.key.decode("utf-8", "replace")
            line = orjson.dumps(
                {
                    "topic": r.topic,
                    "partition": r.partition,
                    "offset": r.offset,
                    "timestamp": r.timestamp,
                    "key": key,
                    "value": value,
                }
            )
        else:
            line = orjson.dumps(value)
        out.append(line + b"\n")
    return b"".join(out)


async def consume(
    settings: Settings,
    topic: str,
    out: IO[bytes],
    *,
    group: str | None = None,
    from_beginning: bool = False,
    until_idle_seconds: float | None = None,
    meta: bool = False,
) -> int:
    """Write the records of ``topic`` to ``out`` until idle (or forever); return the count."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
        fetch_max_bytes=MAX_MESSAGE_BYTES,
        **client_options(settings),
    )
    count = 0
    try:
        await consumer.start()
        if topic not in await consumer.topics():
            raise UserError(f"no topic {topic!r} on {settings.broker}")
        consumer.subscribe([topic])
        last = time.monotonic()
        while until_idle_seconds is None or time.monotonic() - last < until_idle_seconds:
            batches = await consumer.getmany(timeout_ms=POLL_MS)
            records = [r for part in batches.values() for r in part]
            if not records:
                if not consumer.assignment():  # joining the group is not being idle
                    last = time.monotonic()
                continue
            out.write(render(records, meta=meta))
            out.flush()
            count += len(records)
            last = time.monotonic()
            if group is not None:
                await consumer.commit()
    finally:
        await consumer.stop()
    return count
