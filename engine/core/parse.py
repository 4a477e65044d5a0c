"""Lines → polars frames: the typed parse, the text parse, and the reason a line that
neither accepts is not a v1 event (orjson for JSON, the pydantic model for the rest).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sized
from functools import lru_cache

import orjson
import polars as pl
from pydantic import ValidationError

from engine.core.checks import finite_message
from engine.core.wire import RAW_SCHEMA, TEXT_SCHEMA, DeadLetter

PIECE = 32_768  # lines per polars call: each call costs ~ms of its own, big pieces pay it less


def read_typed(
    block: bytes, n: int, offset: int, fields: frozenset[str] | None = None
) -> pl.DataFrame:
    """``block`` parsed into :data:`RAW_SCHEMA`; ``fields``: read only these (the lines hold
    no other), the other columns are null."""
    frame = pl.read_ndjson(block, schema=_schema(fields))
    if frame.height != n:  # a blank or whitespace-only line was skipped
        raise pl.exceptions.ComputeError("blank line in batch")
    seq = pl.int_range(offset, offset + n, dtype=pl.Int64).alias("seq")
    if fields is None:
        return frame.with_columns(seq)
    return frame.select(*_widened(fields), seq)


@lru_cache(maxsize=64)
def _schema(fields: frozenset[str] | None) -> dict[str, pl.DataType]:
    if fields is None:
        return RAW_SCHEMA
    return {name: dtype for name, dtype in RAW_SCHEMA.items() if name in fields}


@lru_cache(maxsize=64)
def _widened(fields: frozenset[str]) -> tuple[pl.Expr, ...]:
    """Every column of :data:`RAW_SCHEMA`, in order: those not in ``fields`` as nulls."""
    return tuple(
        pl.col(name) if name in fields else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in RAW_SCHEMA.items()
    )


def _read(lines: list[bytes], offset: int) -> pl.DataFrame:
    return read_text(b"\n".join(lines), lines, offset)


def read_text(block: bytes, lines: Sized, offset: int) -> pl.DataFrame:
    """Parse one piece (``lines``: its lines, or their indices) as text columns (typed later,
    row by row, by ``validate``)."""
    frame = pl.read_ndjson(block, schema=TEXT_SCHEMA)
    if frame.height != len(lines):  # a blank or whitespace-only line was skipped
        raise pl.exceptions.ComputeError("blank line in batch")
    return frame.with_columns(
        pl.int_range(offset, offset + frame.height, dtype=pl.Int64).alias("seq")
    )


def parse_piece(
    lines: list[bytes],
    offset: int,
    frames: list[pl.DataFrame],
    dead: list[DeadLetter],
    origin: Callable[[int], str],
    block: bytes | None = None,
) -> None:
    """Parse one piece with polars; if it fails, screen its lines and parse the good ones."""
    try:
        frames.append(read_text(block, lines, offset) if block else _read(lines, offset))
        return
    except (pl.exceptions.PolarsError, OSError):
        pass
    good: list[int] = []
    for i, line in enumerate(lines):
        reason = json_error(line)
        if reason is None:
            good.append(i)
        else:
            dead.append(DeadLetter.of(line, reason, origin(offset + i)))
    _parse_typed(lines, good, offset, frames, dead, origin)


def _parse_typed(
    lines: list[bytes],
    picked: list[int],
    offset: int,
    frames: list[pl.DataFrame],
    dead: list[DeadLetter],
    origin: Callable[[int], str],
) -> None:
    """Parse JSON objects with polars, halving on failure down to the line of a wrong type.

    A line's fate does not depend on its batch: whatever polars can parse is validated by the
    same vectorised checks; only a line polars cannot type is explained here.
    """
    if not picked:
        return
    try:
        frame = pl.read_ndjson(b"\n".join(lines[i] for i in picked), schema=TEXT_SCHEMA)
    except pl.exceptions.PolarsError as exc:
        if len(picked) > 1:
            half = len(picked) // 2
            _parse_typed(lines, picked[:half], offset, frames, dead, origin)
            _parse_typed(lines, picked[half:], offset, frames, dead, origin)
        else:
            line = lines[picked[0]]
            reason = _model_error(line) or f"could not be parsed: {exc}"
            dead.append(DeadLetter.of(line, reason, origin(offset + picked[0])))
        return
    seq = pl.Series("seq", [offset + i for i in picked], dtype=pl.Int64)
    frames.append(frame.with_columns(seq))


def json_error(line: bytes) -> str | None:
    """Why one line is not a JSON object, or None."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return _overflow_error(line) or f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        return f"expected a JSON object, got {type(value).__name__}"
    return None


def _overflow_error(line: bytes) -> str | None:
    """For a JSON object with a number too large for a double (``1e309``), which orjson and
    polars refuse as a whole: the schema violation naming the field and its bound."""
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    for name, item in value.items():
        if isinstance(item, float) and not math.isfinite(item):
            if name in RAW_SCHEMA and RAW_SCHEMA[name] in (pl.Float64(), pl.Int64()):
                note = "this one overflows a double"
                return f"schema violation: {finite_message(name, note)}"
            return f"not valid JSON: the number of {name!r} overflows a double"
    return None


def _model_error(line: bytes) -> str | None:
    """The pydantic model's reason a JSON object is not a v1 event, or None."""
    # imported on the first such line: building the models costs a replay of clean lines ~20 ms
    from engine.models.events import EVENT_ADAPTER

    try:
        EVENT_ADAPTER.validate_json(line)
    except ValidationError as exc:
        return _pydantic_reason(exc)
    return None


def _pydantic_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        loc = ".".join(str(p) for p in error["loc"][1:] or error["loc"])
        parts.append(f"{loc}: {error['msg']}")
    return "schema violation: " + "; ".join(parts)
