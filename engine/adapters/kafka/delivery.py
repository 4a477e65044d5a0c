"""Output records that fit a Kafka message, and what a failed send of one record becomes.

No output record may kill the worker (issue 11): a record larger than the topics'
``max.message.bytes`` (``Settings.max_message_bytes``) is not sent. A dead letter that is too
big (its ``raw`` line is) is sent with ``raw`` cut; any other record becomes a dead letter
naming its topic, key and size, with the start of its JSON. A send that the broker refuses
for that one record (``record_error``: too large, corrupt, not authorised on the topic…) gets
the same treatment. Errors of the connection or of the transaction are not the record's
fault: they are raised as before (the broker being away is handled by retrying and by
``/health``, see ``outage``).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

__all__ = [
    "RECORD_OVERHEAD_BYTES",
    "dead_letter",
    "failed_record_dead_letter",
    "fit_record",
    "record_error",
]

#: Bytes of a Kafka record batch around one value (batch header, record header, key room):
#: a value up to ``max_message_bytes`` minus this always fits the topic.
RECORD_OVERHEAD_BYTES = 4096
#: A dead letter of an output keeps this share of the limit of the record's JSON.
_KEEP_SHARE = 4


def _record_errors() -> tuple[type[BaseException], ...]:
    from aiokafka import errors

    return (
        errors.MessageSizeTooLargeError,
        errors.RecordTooLargeError,
        errors.RecordListTooLargeError,
        errors.CorruptRecordException,
        errors.InvalidTopicError,
        errors.TopicAuthorizationFailedError,
        errors.UnsupportedForMessageFormatError,
    )


def record_error(exc: BaseException) -> bool:
    """True when ``exc`` (or what it wraps: Faust raises ``ProducerSendError`` from the client's
    error) is a refusal of this one record, not of the connection or the transaction."""
    kinds = _record_errors()
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return False
        if isinstance(seen, kinds):
            return True
        seen = seen.__cause__
    return False


def _cut(text: str, limit: int) -> str:
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")


def dead_letter(origin: str, error: str, value: bytes | None) -> dict[str, Any]:
    """A dead letter of a Kafka message the worker cannot read, its bytes kept as the core
    keeps a line's: ``raw`` as text, and ``raw_base64`` when they are not UTF-8."""
    record: dict[str, Any] = {"record": "deadletter"}
    data = value or b""
    try:
        record["raw"] = data.decode()
    except UnicodeDecodeError:
        record["raw"] = data.decode(errors="replace")
        record["raw_base64"] = base64.b64encode(data).decode("ascii")
    record.update(error=error, origin=origin)
    return record


def failed_record_dead_letter(
    topic: str, key: bytes | None, value: bytes, reason: str, max_bytes: int
) -> dict[str, Any]:
    """The dead letter of an output record that was not published: its topic, key, size and
    the reason; ``raw`` is the start of its JSON (a quarter of ``max_bytes`` at most)."""
    keep = max(1024, max_bytes // _KEEP_SHARE)
    raw = value.decode(errors="replace")
    cut = _cut(raw, keep)
    note = "" if cut == raw else f"; raw cut to its first {len(cut.encode())} bytes"
    shown_key = key.decode(errors="replace")[:200] if key is not None else None
    return {
        "record": "deadletter",
        "origin": f"output:{topic}",
        "error": (
            f"output record not published to {topic}: {reason}; key={shown_key!r} "
            f"bytes={len(value)}{note}"
        ),
        "raw": cut,
    }


def fit_record(
    topic: str,
    key: bytes | None,
    record: dict[str, Any],
    max_bytes: int,
    dead_topic: str,
) -> tuple[str, bytes | None, bytes, bool]:
    """(topic, key, value, replaced) to send for ``record``: itself when it fits
    ``max_bytes``; else a dead letter with ``raw`` cut, or the record's own dead letter."""
    value = orjson.dumps(record)
    limit = max_bytes - RECORD_OVERHEAD_BYTES
    if len(value) <= limit:
        return topic, key, value, False
    raw = record.get("raw")
    if record.get("record") == "deadletter" and isinstance(raw, str):
        # raw_base64 (bytes that are not UTF-8) goes: the cut raw says what the line was
        trimmed = {k: v for k, v in record.items() if k != "raw_base64"}
        room = max(0, limit - len(orjson.dumps({**trimmed, "raw": ""})) - 200)
        dropped = ", raw_base64 dropped" if "raw_base64" in record else ""
        while True:  # escapes may make the cut text longer in JSON: halve until it fits
            cut = _cut(raw, room)
            note = f" (raw of {len(raw.encode())} bytes cut to {len(cut.encode())}{dropped})"
            trimmed.update(raw=cut, error=f"{record.get('error', '')}{note}")
            data = orjson.dumps(trimmed)
            if len(data) <= limit or not room:
                return topic, key, data, True
            room //= 2
    reason = f"{len(value)} bytes exceed max.message.bytes {max_bytes}"
    dead = failed_record_dead_letter(topic, key, value, reason, max_bytes)
    return dead_topic, None, orjson.dumps(dead), True
