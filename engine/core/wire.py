"""The v1 telemetry wire format as the decoder sees it, and what decoding gives.

``RAW_SCHEMA`` is every wire field with its polars type; ``TEXT_SCHEMA`` the same fields read
as text (the reference path types them afterwards, see ``engine.core.checks``).  A decode
gives :class:`Decoded`: the valid events and a :class:`DeadLetter` for every other line.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cache

import polars as pl

from engine.core.records import DeadLetterRecord, RawFields

RAW_SCHEMA: dict[str, pl.DataType] = {
    "schema_version": pl.Int64(),
    "event_id": pl.String(),
    "event_time": pl.String(),
    "provider_id": pl.String(),
    "contract_id": pl.String(),
    "resource_id": pl.String(),
    "source": pl.String(),
    "tenant_id": pl.String(),
    "project_id": pl.String(),
    "kind": pl.String(),
    "ok": pl.Boolean(),
    "latency_ms": pl.Float64(),
    "status": pl.String(),
    "model": pl.String(),
    "tokens_in": pl.Int64(),
    "tokens_out": pl.Int64(),
    "state": pl.String(),
    "reason": pl.String(),
    "cpu": pl.Float64(),
    "gpu": pl.Float64(),
    "memory": pl.Float64(),
    "storage": pl.Float64(),
    "bandwidth": pl.Float64(),
    "tasks": pl.Int64(),
    "users": pl.Int64(),
    "jitter_ms": pl.Float64(),
    "loss_ratio": pl.Float64(),
    "throughput_mbps": pl.Float64(),
    "read_mbps": pl.Float64(),
    "write_mbps": pl.Float64(),
    "incident_id": pl.String(),
    "impact": pl.Int64(),
    "urgency": pl.Int64(),
    "summary": pl.String(),
    "maintenance_id": pl.String(),
    "window_start": pl.String(),
    "window_end": pl.String(),
    "period_start": pl.String(),
    "period_end": pl.String(),
    "total_kwh": pl.Float64(),
    "it_kwh": pl.Float64(),
    "renewable_kwh": pl.Float64(),
    "grid_kwh": pl.Float64(),
    "self_kwh": pl.Float64(),
    "green_kwh": pl.Float64(),
    "direction": pl.String(),
    "requested_at": pl.String(),
    "completed_at": pl.String(),
    "nodes": pl.Int64(),
}


# Parsed as text, typed afterwards by vectorised casts: a wrong JSON type then fails one row,
# not the whole batch, and the same checks judge every line whatever batch it came in.
TEXT_SCHEMA = dict.fromkeys(RAW_SCHEMA, pl.String())


IDENT_FIELDS = (
    "event_id", "provider_id", "contract_id", "resource_id", "tenant_id", "project_id", "model",
    "incident_id", "maintenance_id",
)  # fmt: skip
"""Identifiers: at most ``IDENT_MAX`` characters (``Ident`` of engine.models.events)."""


IDENT_MAX = 256


TEXT_FIELDS = (
    "event_id", "resource_id", "tenant_id", "project_id", "model", "incident_id",
    "maintenance_id", "reason", "summary",
)  # fmt: skip
"""Free-form strings: polars reads a JSON number, boolean, object or array in them as its text,
which the model refuses; rows whose text could be one are checked against the raw line.
(``provider_id`` and ``contract_id`` are left out: each must equal its rule file's id, which
refuses any other value; the enumerations are checked against their values.)"""


INSTANTS = (
    "event_time",
    "window_start",
    "window_end",
    "period_start",
    "period_end",
    "requested_at",
    "completed_at",
)


def ms_column(instant: str) -> str:
    """The epoch-ms column of an instant field."""
    return "event_ms" if instant == "event_time" else f"{instant}_ms"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A line that is not a valid event: ``raw`` (and ``raw_base64``, see :func:`raw_fields`),
    the reason and where the line came from."""

    raw: str
    error: str
    origin: str
    raw_base64: str | None = None

    @classmethod
    def of(cls, line: bytes, error: str, origin: str) -> DeadLetter:
        raw = raw_fields(line)
        return cls(raw["raw"], error, origin, raw.get("raw_base64"))

    def record(self) -> DeadLetterRecord:
        """The ``deadletter`` output record (``engine.models.outputs.DeadLetter``)."""
        out: DeadLetterRecord = {
            "record": "deadletter", "raw": self.raw, "error": self.error, "origin": self.origin
        }  # fmt: skip
        if self.raw_base64 is not None:
            out = {"record": "deadletter", "raw": self.raw, "raw_base64": self.raw_base64,
                   "error": self.error, "origin": self.origin}  # fmt: skip
        return out


def raw_fields(line: bytes) -> RawFields:
    """The fields of a dead letter that keep its bytes: ``raw``, the line as text; when the
    bytes are not valid UTF-8, ``raw`` is a lossy rendering (U+FFFD for each invalid sequence)
    and ``raw_base64`` holds the exact bytes (standard base64 with padding, RFC 4648 §4)."""
    try:
        return {"raw": line.decode("utf-8")}
    except UnicodeDecodeError:
        return {
            "raw": line.decode("utf-8", "replace"),
            "raw_base64": base64.b64encode(line).decode("ascii"),
        }


@dataclass(frozen=True, slots=True)
class Decoded:
    """Valid events (``seq`` = index of the line in the batch) and the dead letters."""

    events: pl.DataFrame
    dead: list[DeadLetter]


@cache  # a frame is immutable: one empty frame serves every batch
def empty_text() -> pl.DataFrame:
    return pl.DataFrame(schema={**TEXT_SCHEMA, "seq": pl.Int64()})


@cache
def empty_typed() -> pl.DataFrame:
    return pl.DataFrame(schema={**RAW_SCHEMA, "seq": pl.Int64(), "_tbad": pl.Boolean()})
