"""Send an NDJSON telemetry file to the telemetry topic in batches (``csla produce``).

Lines are read in chunks of ``batch_events``; each chunk becomes one NDJSON message per
contract, keyed by ``contract_id``, so one contract's events stay in one partition and in file
order (the engine decides lateness in arrival order). Lines without a readable
``contract_id`` are sent unkeyed; the worker dead-letters them with their reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from engine.adapters.kafka.app import bootstrap_servers, client_options, ensure_topics
from engine.adapters.kafka.routing import route_lines
from engine.settings import Settings

__all__ = ["produce_file"]

#: Stay well below the broker's default ``message.max.bytes`` (1 MiB).
MAX_MESSAGE_BYTES = 900 * 1024


def _chunks(handle: IO[bytes], size: int) -> Iterator[list[bytes]]:
    chunk: list[bytes] = []
    for raw in handle:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _messages(lines: list[bytes]) -> list[tuple[bytes | None, bytes]]:
    """One NDJSON value per contract (split when over ``MAX_MESSAGE_BYTES``), keyed by it."""
    groups: dict[str | None, list[bytes]] = {}
    for line, cid in zip(lines, route_lines(lines), strict=True):
        groups.setdefault(cid, []).append(line)
    out: list[tuple[bytes | None, bytes]] = []
    for cid, group in groups.items():
        key = cid.encode() if cid is not None else None
        start, size = 0, 0
        for i, line in enumerate(group):
            if size and size + len(line) + 1 > MAX_MESSAGE_BYTES:
                out.append((key, b"\n".join(group[start:i])))
                start, size = i, 0
            size += len(line) + 1
        out.append((key, b"\n".join(group[start:])))
    return out


async def produce_file(settings: Settings, path: Path | str, batch_events: int = 1000) -> int:
    """Send the events of the NDJSON file ``path``; return how many lines were sent."""
    from aiokafka import AIOKafkaProducer

    if batch_events < 1:
        raise ValueError("batch_events must be at least 1")
    await ensure_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers(settings),
        acks="all",
        linger_ms=5,
        max_request_size=MAX_MESSAGE_BYTES + 64 * 1024,
        **client_options(settings),
    )
    await producer.start()
    sent = 0
    try:
        pending: list[asyncio.Future[Any]] = []
        with Path(path).open("rb") as handle:
            for lines in _chunks(handle, batch_events):
                for key, value in _messages(lines):
                    pending.append(
                        await producer.send(settings.topics.telemetry, value=value, key=key)
                    )
                sent += len(lines)
                if len(pending) >= 1000:
                    await asyncio.gather(*pending)
                    pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent
