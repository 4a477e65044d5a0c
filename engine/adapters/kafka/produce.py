"""Send telemetry to the telemetry topic in batches (``csla produce``).

The input is read by the replay's own reader (``engine.adapters.files``): a file or stdin
(``-``), gzip or not, NDJSON or JSON arrays, so an input gives ``csla produce`` exactly the
events it gives ``csla replay`` (the count sent equals the replay's ``lines_in``).
Events are taken in chunks of ``batch_events``; each chunk becomes one NDJSON message per
contract, keyed by ``contract_id``, so one contract's events stay in one partition and in input
order (the engine decides lateness in arrival order). Events without a readable
``contract_id`` are sent unkeyed; the worker dead-letters them with their reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.adapters.files import open_input_counted, read_chunks
from engine.adapters.kafka.app import bootstrap_servers, client_options, ensure_topics
from engine.adapters.kafka.routing import route_lines
from engine.settings import Settings

__all__ = ["MAX_MESSAGE_BYTES", "Produced", "produce_file"]

#: Stay well below the broker's default ``message.max.bytes`` (1 MiB).
MAX_MESSAGE_BYTES = 900 * 1024
#: Bytes of input read at a time: small enough for a live progress bar and little memory.
READ_BYTES = 1 << 20
#: Sends in flight before waiting for their acknowledgements.
IN_FLIGHT = 1000


@dataclass
class Produced:
    """What a ``produce_file`` run has done so far (passed to its progress callback)."""

    events: int = 0  # records read and sent: a JSON array counts each item
    messages: int = 0
    input_bytes: int = 0  # of the input as stored (compressed, for a .gz)


def _batches(lines: list[bytes], size: int) -> Iterator[list[bytes]]:
    for start in range(0, len(lines), size):
        yield lines[start : start + size]


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


async def produce_file(
    settings: Settings,
    path: Path | str,
    batch_events: int = 1000,
    on_progress: Callable[[Produced], None] | None = None,
) -> int:
    """Send the events of ``path`` (a file, ``.gz`` or not, or ``-`` for stdin); return how
    many were sent, once the broker has acknowledged every one."""
    from aiokafka import AIOKafkaProducer

    if batch_events < 1:
        raise ValueError("batch_events must be at least 1")
    name = "stdin" if str(path) == "-" else str(path)
    with open_input_counted(str(path)) as (stream, stored_bytes):  # a missing file: no broker
        await ensure_topics(settings)
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers(settings),
            acks="all",
            linger_ms=5,
            max_request_size=MAX_MESSAGE_BYTES + 64 * 1024,
            **client_options(settings),
        )
        done = Produced()
        try:
            await producer.start()
            pending: list[asyncio.Future[Any]] = []
            for lines, _origin, _block in read_chunks(stream, name, READ_BYTES):
                for batch in _batches(lines, batch_events):
                    for key, value in _messages(batch):
                        pending.append(
                            await producer.send(settings.topics.telemetry, value=value, key=key)
                        )
                        done.messages += 1
                    if len(pending) >= IN_FLIGHT:
                        await asyncio.gather(*pending)
                        pending.clear()
                    done.events += len(batch)
                done.input_bytes = stored_bytes()
                if on_progress is not None:
                    on_progress(done)
            await asyncio.gather(*pending)
        finally:
            await producer.stop()
    return done.events
