"""Bytes → a typed polars frame of v1 telemetry events, and dead letters for what is not.

The fast path hands a whole batch to ``pl.read_ndjson`` with a fixed schema and validates it
with vectorised expressions.  A file chunk is parsed once, whole: its suspect lines (cut off,
or maybe of a wrong JSON type) are found first on its lines as one string column, stand aside
for the parse and alone take the text path (issue 12 §1).  A batch polars still cannot parse
is split into slices and only the slices that fail are decoded line by line with the pydantic
models (``engine.models.events``), which also give the reason a dead letter carries.
"""

from __future__ import annotations

import base64
import json
import math
import re
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterator, Sequence, Sized
from dataclasses import dataclass
from functools import cache, lru_cache

import orjson
import polars as pl
from pydantic import ValidationError

from engine.core.lines import BlockLines, line_view
from engine.core.records import DeadLetterRecord, RawFields
from engine.models.events import (
    DURATION_MS_MAX,
    EARLIEST_MS,
    EVENT_ADAPTER,
    EVENT_KINDS,
    INTEGER_BOUNDS,
    LATEST_MS,
    NUMBER_BOUNDS,
    RATIO_FIELDS,
    STATUS_MAX,
)

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
_NOT_A_STRING = r"^(?:-?[0-9][0-9.eE+-]*|true|false|\{.*|\[.*)$"
_INSTANT = "%Y-%m-%dT%H:%M:%S%.f%#z"
_PIECE = 32_768  # lines per polars call: each call costs ~ms of its own, big pieces pay it less
_RETRY_PIECE = 2048  # a refused piece is parsed again in pieces of this size, then halved
_SMALL_PIECE = 128  # a piece polars refuses is halved down to this, then parsed as text


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


def split_records(payload: bytes) -> list[bytes]:
    """One Kafka message or file chunk → one JSON text per event.

    Accepts a single object, NDJSON, or a JSON array of objects (also as NDJSON lines).
    An array that is not valid JSON stays one (bad) record so it is dead-lettered whole.
    """
    lines = payload.split(b"\n")
    if b"[" not in payload:
        return (
            [line for line in lines if line.strip()]
            if b"\n\n" in payload or not lines[-1]
            else lines
        )
    out: list[bytes] = []
    for line in lines:
        stripped = line.strip()
        if not stripped:
            continue
        if stripped[:1] == b"[":
            try:
                items = orjson.loads(stripped)
            except orjson.JSONDecodeError:
                out.append(line)
                continue
            out.extend(orjson.dumps(item) for item in items)
        else:
            out.append(line)
    return out


def decode(
    lines: Sequence[bytes], origin: Callable[[int], str], block: bytes | None = None
) -> Decoded:
    """Decode and validate ``lines`` (one JSON object each); ``origin(i)`` names line ``i``.

    ``block``, if given, is ``b"\\n".join(lines)`` already (a file chunk; ``lines`` may then
    be a :class:`~engine.core.lines.BlockLines` over it): the block is parsed once, whole, see
    :func:`_decode_block`.

    Fast path: a piece is parsed straight into the typed schema.  If polars refuses it (a wrong
    JSON type, a malformed line), the piece is parsed as text and typed row by row — the
    reference path, whose result the fast path equals on every piece it accepts.
    """
    if not lines:
        return Decoded(_empty_frame(), [])
    if block is not None:
        decoded = _decode_block(lines, origin, block)
        if isinstance(lines, BlockLines):
            lines.forget_view()  # the few lines asked for later are cut from the block
        if decoded is not None:
            return decoded
    frames: list[pl.DataFrame] = []
    texts: list[pl.DataFrame] = []
    dead: list[DeadLetter] = []
    screened: list[int] = []  # lines found not to be JSON objects before parsing

    def piece(part: list[bytes], start: int, joined: bytes | None) -> None:
        try:
            frames.append(_read_typed(joined or b"\n".join(part), len(part), start))
            return
        except (pl.exceptions.PolarsError, OSError):
            pass
        if len(part) > _SMALL_PIECE:
            # most often a value of the wrong JSON type: the piece's text form, typed row by
            # row (the reference path below), in one parse instead of many smaller ones
            try:
                text = _read_block(joined or b"\n".join(part), part, start)
            except (pl.exceptions.PolarsError, OSError):
                pass
            else:
                texts.append(text)
                frames.append(_cast(text.with_columns(_tbad=_type_flags())))
                return
        if len(part) > _RETRY_PIECE:  # one bad line costs one big parse, not eight halvings
            for sub in range(0, len(part), _RETRY_PIECE):
                piece(part[sub : sub + _RETRY_PIECE], start + sub, None)
            return
        if len(part) > _SMALL_PIECE:  # narrow down to the small piece holding the problem
            half = len(part) // 2
            piece(part[:half], start, None)
            piece(part[half:], start + half, None)
            return
        parsed: list[pl.DataFrame] = []
        _parse(part, start, parsed, dead, origin)
        for text in parsed:  # text → types; a value of the wrong type is flagged
            texts.append(text)
            frames.append(_cast(text.with_columns(_tbad=_type_flags())))

    for start in range(0, len(lines), _PIECE):
        part = list(lines[start : start + _PIECE])
        joined = block if block is not None and len(part) == len(lines) else None
        # a line that does not end with "}" cannot be a JSON object (a truncated line, most
        # often): it becomes its dead letter here, with the reason the reference path would
        # give, and an empty object holds its place, so that one bad line does not send its
        # whole piece down the slow path; the placeholder's row is dropped below
        for i, line in enumerate(part):
            if line[-1:] != b"}" and not line.rstrip().endswith(b"}"):
                reason = _json_error(line)
                if reason is not None:
                    dead.append(DeadLetter.of(line, reason, origin(start + i)))
                    screened.append(start + i)
                    part[i] = b"{}"
                    joined = None
        piece(part, start, joined)
    frames = [f if "_tbad" in f.columns else f.with_columns(_tbad=pl.lit(False)) for f in frames]
    raw = pl.concat(frames, how="vertical", rechunk=False) if frames else _empty_typed()
    text = pl.concat(texts, how="vertical", rechunk=False) if texts else _empty_raw()
    if screened:
        keep = ~pl.col("seq").is_in(pl.Series(screened, dtype=pl.Int64).implode())
        raw, text = raw.filter(keep), text.filter(keep)
    return _validate(raw, text, lines, origin, dead)


def _decode_block(
    lines: Sequence[bytes], origin: Callable[[int], str], block: bytes
) -> Decoded | None:
    """A block decoded with one typed parse, or None (then :func:`decode`'s pieces decide).

    The lines that would send a piece down the slow path are found first, on the block's
    lines as one string column: those that cannot be JSON objects (the screen of
    :func:`decode`, same dead letters) and those that may hold a value of the wrong JSON type
    (:data:`_WRONG_TYPE`, a cheap over-approximation), or a field that a sample of the lines
    does not hold (:func:`_sampled_fields`: the typed parse reads only the sampled fields, and
    costs with every field it reads).  Each is replaced by ``{}`` and the block parsed typed
    once; the suspects alone are parsed as text and typed as the reference path types them.  Exact by construction: the typed parse must accept every other line, as
    it accepts them in a piece (else None: a suspect was missed, or a line is malformed), and
    the reference path gives the suspects and the other lines the values the pieces give."""
    n = len(lines)
    view = lines.view() if isinstance(lines, BlockLines) else line_view(block, n)
    if view is None:
        return None
    dead: list[DeadLetter] = []
    screened: list[int] = []
    for i in view.str.ends_with("}").fill_null(False).not_().arg_true().to_list():
        line = lines[i]
        if line[-1:] != b"}" and not line.rstrip().endswith(b"}"):
            reason = _json_error(line)
            if reason is not None:
                dead.append(DeadLetter.of(line, reason, origin(i)))
                screened.append(i)
    fields = _sampled_fields(view, block)
    suspects = _suspects(view, fields, screened)
    if fields is not None and len(screened) + len(suspects) > _SPECIAL_MAX:
        fields = None  # many lines with fields the sample missed: read every field
        suspects = _suspects(view, fields, screened)
    special = sorted({*screened, *suspects})
    if len(special) > _SPECIAL_MAX:
        return None  # many bad lines: the pieces narrow them down
    pieces = _pieces(block, view, special)
    if isinstance(lines, BlockLines):
        lines.forget_view()  # not held through the parse: a copy of the block
    del view
    text = _empty_raw()
    try:
        typed = pl.concat(
            [_read_typed(*piece, fields).with_columns(_tbad=pl.lit(False)) for piece in pieces],
            how="vertical",
            rechunk=False,
        )
        if suspects:
            text = _read_block(b"\n".join(lines[i] for i in suspects), suspects, 0)
    except (pl.exceptions.PolarsError, OSError):
        return None
    text = text.with_columns(seq=pl.Series(suspects, dtype=pl.Int64))
    # a text field holding a number, boolean, object or array makes its line a suspect (the
    # pattern's first part) unless a key is written with escapes: only suspects need the check
    strings = None if b"\\" in block else suspects
    retyped = _cast(text.with_columns(_tbad=_type_flags()))
    if retyped.get_column("_tbad").all():
        # every suspect holds a wrong type: a dead letter whose reason comes from its text, so
        # its placeholder row stands in for it (flagged), and no row needs to move
        raw = typed.with_columns(_tbad=pl.col("seq").is_in(suspects)) if suspects else typed
        return _validate(raw, text, lines, origin, dead, skip=screened, strings=strings)
    rows, at, k = [], 0, 0  # the typed rows, each suspect's row in its place, screened dropped
    for i in special:
        rows.append(typed.slice(at, i - at))
        if k < len(suspects) and suspects[k] == i:
            rows.append(retyped.slice(k, 1))
            k += 1
        at = i + 1
    rows.append(typed.slice(at))
    raw = pl.concat(rows, how="vertical", rechunk=False)
    return _validate(raw, text, lines, origin, dead, strings=strings)


def _sampled_fields(view: pl.Series, block: bytes) -> frozenset[str] | None:
    """The wire fields found in ``_SAMPLE`` lines spread over the block, or None (read every
    field): the typed parse then reads only those (issue 12 §1), and a line holding any other
    field is a suspect (:func:`_suspect_pattern`), which the text path reads whole.

    None when a backslash is anywhere in the block (a key written with escapes would escape
    the pattern) or when the sample holds every field."""
    if b"\\" in block:
        return None
    seen: set[str] = set()
    for text in view.gather_every(max(1, view.len() // _SAMPLE)).to_list():
        try:
            obj = orjson.loads(text) if text is not None else None
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            seen.update(obj)
    fields = frozenset(seen.intersection(RAW_SCHEMA))
    return fields if fields and len(fields) < len(RAW_SCHEMA) else None


def _suspects(view: pl.Series, fields: frozenset[str] | None, screened: list[int]) -> list[int]:
    """The lines :func:`_suspect_pattern` matches, less the ``screened`` ones."""
    pattern = _suspect_pattern(None if fields is None else RAW_SCHEMA.keys() - fields)
    suspects = view.str.contains(pattern).fill_null(False).arg_true().to_list()
    if screened and suspects:
        gone = set(screened)
        suspects = [i for i in suspects if i not in gone]
    return suspects


def _suspect_pattern(unread: Collection[str] | None) -> str:
    """:data:`_WRONG_TYPE`, and a key of an ``unread`` field anywhere in the line (at any
    depth: a match only sends the line to the text path)."""
    return _key_pattern(frozenset(unread)) if unread else _WRONG_TYPE


@lru_cache(maxsize=64)
def _key_pattern(unread: frozenset[str]) -> str:
    names = "|".join(re.escape(name) for name in sorted(unread))
    return rf'{_WRONG_TYPE}|"(?:{names})"\s*:'


def _pieces(block: bytes, view: pl.Series, special: list[int]) -> Iterator[tuple[bytes, int, int]]:
    """``block`` in pieces of ``_PIECE`` lines (text, lines, first line), each ``special``
    line replaced by ``{}``. Parsed one by one, as the pieces were: the frames, and their
    string buffers that buffered events keep alive, stay piece-sized. The offsets are taken
    from ``view`` now; each piece is made when it is parsed."""
    n = view.len()
    cuts = list(range(0, n, _PIECE))
    wanted = sorted({*cuts, *special})
    sizes = view.str.len_bytes().fill_null(0).cast(pl.Int64)
    starts = (sizes + 1).cum_sum() - (sizes + 1)
    spans = zip(starts.gather(wanted).to_list(), sizes.gather(wanted).to_list(), strict=True)
    return _cut(memoryview(block), n, special, dict(zip(wanted, spans, strict=True)))


def _cut(
    data: memoryview, n: int, special: list[int], where: dict[int, tuple[int, int]]
) -> Iterator[tuple[bytes, int, int]]:
    for first in range(0, n, _PIECE):
        end = min(first + _PIECE, n)
        at = where[first][0]
        parts: list[bytes | memoryview] = []
        for i in special[bisect_left(special, first) : bisect_left(special, end)]:
            start, size = where[i]
            parts += [data[at:start], b"{}"]
            at = start + size
        parts.append(data[at : where[end][0] - 1 if end < n else len(data)])
        yield b"".join(parts), end - first, first


def _wrong_type_pattern() -> str:
    """A regex matching every line where a number, integer or boolean field holds a value
    polars' typed parse refuses (unless its key is written with escapes): text, object,
    array, a boolean in a number, a fraction or 19+ digits in an integer, a number in a
    boolean; and every line where a text field holds a number, boolean, object or array,
    which that parse reads as its text (:func:`_not_strings` then needs to check only those
    lines).  It may match more (a nested key): a match only sends a line to the text path."""

    def names(dtype: pl.DataType) -> str:
        return "|".join(name for name, t in RAW_SCHEMA.items() if t == dtype)

    ints, numbers, flags = names(pl.Int64()), names(pl.Float64()), names(pl.Boolean())
    key = r'"(?:{})"\s*:\s*'
    return "|".join(
        [
            key.format("|".join(TEXT_FIELDS)) + r'[^"n\s]',
            key.format(f"{ints}|{numbers}") + r"[^-0-9n\s]",
            key.format(ints) + r"-?[0-9]+[.eE]",
            key.format(ints) + r"-?[0-9]{19}",
            key.format(flags) + r"[^tfn\s]",
        ]
    )


_WRONG_TYPE = _wrong_type_pattern()
_SPECIAL_MAX = 256  # suspect or screened lines a block takes in one parse
_SAMPLE = 256  # lines whose fields decide which fields a block's typed parse reads


def decode_frame(
    frame: pl.DataFrame, lines: Sequence[bytes], origin: Callable[[int], str]
) -> Decoded:
    """Typed columns (Parquet) → events, by the same checks as :func:`decode`; ``lines[i]``
    is row ``i`` as a JSON line (read only for the rows that become dead letters).

    Instants may be timestamps (a naive one is UTC) or RFC 3339 text. Any other column is cast
    to its wire type; a value that does not cast is a schema violation of its row, and a text
    field holding a number or boolean is refused as in JSON (the model's rule)."""
    columns, wrong = [], []
    for name, dtype in RAW_SCHEMA.items():
        if name not in frame.columns:
            columns.append(pl.lit(None, dtype=dtype).alias(name))
            continue
        given = frame.schema[name]
        if isinstance(given, pl.Datetime) and name in _INSTANTS:
            utc = (
                pl.col(name).dt.replace_time_zone("UTC")
                if given.time_zone is None
                else pl.col(name).dt.convert_time_zone("UTC")
            )
            columns.append(utc.dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").alias(name))
        elif given == dtype:
            columns.append(pl.col(name))
        else:
            cast = pl.col(name).cast(dtype, strict=False)
            refused = given.is_numeric() or given == pl.Boolean() if dtype == pl.String() else False
            columns.append(cast.alias(name))
            wrong.append(pl.col(name).is_not_null() & (cast.is_null() | refused))
    raw = frame.select(
        *columns,
        seq=pl.int_range(pl.len(), dtype=pl.Int64),
        _tbad=pl.any_horizontal(wrong).fill_null(False) if wrong else pl.lit(False),
    )
    return _validate(raw, _empty_raw(), lines, origin, [])


def _read_typed(
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
    return _read_block(b"\n".join(lines), lines, offset)


def _read_block(block: bytes, lines: Sized, offset: int) -> pl.DataFrame:
    """Parse one piece (``lines``: its lines, or their indices) as text columns (typed later,
    row by row, by ``_validate``)."""
    frame = pl.read_ndjson(block, schema=TEXT_SCHEMA)
    if frame.height != len(lines):  # a blank or whitespace-only line was skipped
        raise pl.exceptions.ComputeError("blank line in batch")
    return frame.with_columns(
        pl.int_range(offset, offset + frame.height, dtype=pl.Int64).alias("seq")
    )


def _parse(
    lines: list[bytes],
    offset: int,
    frames: list[pl.DataFrame],
    dead: list[DeadLetter],
    origin: Callable[[int], str],
    block: bytes | None = None,
) -> None:
    """Parse one piece with polars; if it fails, screen its lines and parse the good ones."""
    try:
        frames.append(_read_block(block, lines, offset) if block else _read(lines, offset))
        return
    except (pl.exceptions.PolarsError, OSError):
        pass
    good: list[int] = []
    for i, line in enumerate(lines):
        reason = _json_error(line)
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


def _json_error(line: bytes) -> str | None:
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
                return f"schema violation: {_finite_message(name, note)}"
            return f"not valid JSON: the number of {name!r} overflows a double"
    return None


def _model_error(line: bytes) -> str | None:
    """The pydantic model's reason a JSON object is not a v1 event, or None."""
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


@cache  # a frame is immutable: one empty frame serves every batch
def _empty_raw() -> pl.DataFrame:
    return pl.DataFrame(schema={**TEXT_SCHEMA, "seq": pl.Int64()})


_TYPE_NAMES = {pl.Int64(): "an integer", pl.Float64(): "a number", pl.Boolean(): "true or false"}


def _range(name: str) -> str:
    """`` between <low> and <high>`` of a bounded field (empty if it has no bound)."""
    bound = NUMBER_BOUNDS.get(name) or INTEGER_BOUNDS.get(name)
    return "" if bound is None else f" between {_number(bound[0])} and {_number(bound[1])}"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _finite_message(name: str, note: str = "not NaN or infinite") -> str:
    return f"{name} must be a finite number{_range(name)} ({note})"


def _cast_expr(name: str, dtype: pl.DataType) -> pl.Expr:
    source = pl.col(name)
    if dtype == pl.Boolean():
        return pl.when(source == "true").then(True).when(source == "false").then(False)
    return source.cast(dtype, strict=False)


def _cast(text: pl.DataFrame) -> pl.DataFrame:
    """Text columns → their types (a value that does not cast becomes null)."""
    return text.with_columns(
        _cast_expr(name, dtype).alias(name)
        for name, dtype in RAW_SCHEMA.items()
        if dtype != pl.String()
    )


def _type_errors(text: pl.DataFrame) -> pl.Expr:
    """Per text row, the first field whose JSON value is not of its type (null if none)."""
    error: pl.Expr = pl.lit(None, dtype=pl.String)
    for name, dtype in reversed(RAW_SCHEMA.items()):
        if dtype == pl.String():
            continue
        bad = pl.col(name).is_not_null() & _cast_expr(name, dtype).is_null()
        message = f"{name} must be {_TYPE_NAMES[dtype]}{_range(name)}"
        error = pl.when(bad).then(pl.lit(message)).otherwise(error)
    return error


def _ts(col: str) -> pl.Expr:
    return (
        pl.col(col)
        .str.to_datetime(_INSTANT, time_unit="ms", time_zone="UTC", strict=False)
        .dt.epoch("ms")
    )


@cache
def _checks() -> tuple[tuple[pl.Expr, str], ...]:
    """Every check of a typed row, in the order its message is chosen (the first that fails).
    Built once: the expressions are immutable, and a small batch would pay ~1 ms for them."""
    return (*_plain_checks(), *_value_checks(), *_instant_checks())


@lru_cache(maxsize=64)
def _flag(empty: frozenset[str] = frozenset()) -> pl.Expr:
    """Whether any of :func:`_checks` fails, cheaper: one range test per bounded field (NaN
    compares above every number in polars, so ``is_between`` is false for it, as for ±inf).

    ``empty``: columns entirely null in the batch. A condition that reads only those has the
    same value on every row (the checks are elementwise), its value on a row of nulls: it is
    left out when that is not true (most fields are absent from most batches)."""
    bounds: dict[str, tuple[float, float]] = {**NUMBER_BOUNDS, **INTEGER_BOUNDS}
    conditions = [
        *(condition for condition, _ in _plain_checks()),
        *(~pl.col(name).is_between(low, high) for name, (low, high) in bounds.items()),
        *(condition for condition, _ in _instant_checks()),
    ]
    if empty:
        nulls = pl.DataFrame(schema=_checked_schema()).clear(1)
        conditions = [
            c
            for c in conditions
            if not set(c.meta.root_names()) <= empty or nulls.select(c.fill_null(False)).item()
        ]
    return pl.any_horizontal([c.fill_null(False) for c in conditions] or [pl.lit(False)])


def _checked_schema() -> dict[str, pl.DataType]:
    """The columns the checks read: the wire fields, each instant in ms, the status code."""
    return {
        **RAW_SCHEMA,
        **{_ms(name): pl.Int64() for name in _INSTANTS},
        "status_code": pl.Int64(),
    }


@cache
def _check_columns() -> tuple[pl.Expr, ...]:
    """One boolean column per check of :func:`_checks`, in order."""
    return tuple(c.fill_null(False).alias(f"_check{i}") for i, (c, _) in enumerate(_checks()))


def _plain_checks() -> list[tuple[pl.Expr, str]]:
    kind = pl.col("kind")
    checks: list[tuple[pl.Expr, str]] = [
        *(
            (
                pl.col(name).str.len_chars() > IDENT_MAX,
                f"{name} is longer than {IDENT_MAX} characters",
            )
            for name in IDENT_FIELDS
        ),
        (pl.col("schema_version").is_null(), "missing required field 'schema_version'"),
        (pl.col("schema_version") != 1, "unsupported schema_version (this engine reads 1)"),
    ]
    for name in ("event_id", "event_time", "provider_id", "contract_id", "resource_id", "source"):
        checks.append((pl.col(name).is_null(), f"missing required field '{name}'"))
        checks.append((pl.col(name).str.len_bytes() == 0, f"field '{name}' is empty"))
    checks += [
        (kind.is_null(), "missing required field 'kind'"),
        (~kind.is_in(EVENT_KINDS), "unknown kind (expected one of " + ", ".join(EVENT_KINDS) + ")"),
        (
            ~pl.col("source").is_in(["platform", "provider", "customer"]),
            "source must be platform, provider or customer",
        ),
        (pl.col("event_ms").is_null(), "event_time is not an RFC 3339 instant with an offset"),
        ((kind == "probe") & pl.col("ok").is_null(), "probe: missing required field 'ok'"),
        ((kind == "request") & pl.col("ok").is_null(), "request: missing required field 'ok'"),
        (
            (kind == "request") & pl.col("latency_ms").is_null(),
            "request: missing required field 'latency_ms'",
        ),
        (
            (kind == "request") & pl.col("status").is_not_null() & pl.col("status_code").is_null(),
            "request: status must be an integer",
        ),
        (
            (kind == "node_state")
            & ~pl.col("state").is_in(["up", "down", "degraded"]).fill_null(False),
            "node_state: state must be up, down or degraded",
        ),
        (
            (kind == "incident") & pl.col("incident_id").is_null(),
            "incident: missing required field 'incident_id'",
        ),
        (
            (kind == "incident") & ~pl.col("status").is_in(["opened", "resolved"]).fill_null(False),
            "incident: status must be opened or resolved",
        ),
        (
            (kind == "maintenance") & pl.col("maintenance_id").is_null(),
            "maintenance: missing required field 'maintenance_id'",
        ),
        (
            (kind == "maintenance")
            & (pl.col("window_start_ms").is_null() | pl.col("window_end_ms").is_null()),
            "maintenance: window_start and window_end must be RFC 3339 instants with an offset",
        ),
        (
            (kind == "maintenance") & (pl.col("window_end_ms") <= pl.col("window_start_ms")),
            "maintenance: window_end must be after window_start",
        ),
        (
            (kind == "energy")
            & (pl.col("period_start_ms").is_null() | pl.col("period_end_ms").is_null()),
            "energy: period_start and period_end must be RFC 3339 instants with an offset",
        ),
        (
            (kind == "energy") & (pl.col("total_kwh").is_null() | pl.col("it_kwh").is_null()),
            "energy: missing required field 'total_kwh' or 'it_kwh'",
        ),
        (
            kind.is_in(["provisioning", "scaling"])
            & (pl.col("requested_at_ms").is_null() | pl.col("completed_at_ms").is_null()),
            "requested_at and completed_at must be RFC 3339 instants with an offset",
        ),
        (
            kind.is_in(["provisioning", "scaling"])
            & (pl.col("completed_at_ms") < pl.col("requested_at_ms")),
            "completed_at must not be before requested_at",
        ),
        (
            (kind == "scaling") & ~pl.col("direction").is_in(["out", "in"]).fill_null(False),
            "scaling: direction must be out or in",
        ),
    ]
    return checks


def _value_checks() -> list[tuple[pl.Expr, str]]:
    """Every numeric value within its bound (``engine.models.events``): a non-finite number
    ("Infinity", "NaN", "1e309" as text) or one out of range rejects its line, whatever its
    kind, before any sum can overflow or any histogram refuse it."""
    checks: list[tuple[pl.Expr, str]] = []
    for name, (low, high) in NUMBER_BOUNDS.items():
        col = pl.col(name)
        checks.append((~col.is_finite(), _finite_message(name)))
        if name in RATIO_FIELDS:
            checks.append((~col.is_between(low, high), f"{name} must be a ratio{_range(name)}"))
        else:
            checks.append((col < low, f"{name} must be ≥ {_number(low)}"))
            checks.append((col > high, f"{name} must be ≤ {_number(high)}"))
    for name, (ilow, ihigh) in INTEGER_BOUNDS.items():
        col = pl.col(name)
        if name in ("impact", "urgency"):
            checks.append((~col.is_between(ilow, ihigh), f"{name} must be{_range(name)}"))
        else:
            checks.append((col < ilow, f"{name} must be ≥ {ilow}"))
            checks.append((col > ihigh, f"{name} must be ≤ {ihigh}"))
    return checks


def _instant_checks() -> list[tuple[pl.Expr, str]]:
    """A request's status code, every instant in [2000, 2100), every duration ≤ 366 days."""
    kind = pl.col("kind")
    checks: list[tuple[pl.Expr, str]] = []
    checks.append(
        (
            (kind == "request") & ~pl.col("status_code").is_between(0, STATUS_MAX),
            f"request: status must be between 0 and {STATUS_MAX}",
        )
    )
    for name in _INSTANTS:
        checks.append(
            (
                ~pl.col(_ms(name)).is_between(EARLIEST_MS, LATEST_MS, closed="left"),
                f"{name} must be from 2000-01-01T00:00:00Z to before 2100-01-01T00:00:00Z",
            )
        )
    days = DURATION_MS_MAX // 86_400_000
    checks += [
        (
            (kind == "maintenance")
            & (pl.col("window_end_ms") - pl.col("window_start_ms") > DURATION_MS_MAX),
            f"maintenance: the window must not last more than {days} days",
        ),
        (
            (kind == "energy") & (pl.col("period_end_ms") <= pl.col("period_start_ms")),
            "energy: period_end must be after period_start",
        ),
        (
            (kind == "energy")
            & (pl.col("period_end_ms") - pl.col("period_start_ms") > DURATION_MS_MAX),
            f"energy: the period must not last more than {days} days",
        ),
        (
            kind.is_in(["provisioning", "scaling"])
            & (pl.col("completed_at_ms") - pl.col("requested_at_ms") > DURATION_MS_MAX),
            f"completed_at must be at most {days} days after requested_at",
        ),
    ]
    return checks


_INSTANTS = (
    "event_time",
    "window_start",
    "window_end",
    "period_start",
    "period_end",
    "requested_at",
    "completed_at",
)


def _ms(instant: str) -> str:
    """The epoch-ms column of an instant field."""
    return "event_ms" if instant == "event_time" else f"{instant}_ms"


@cache
def _type_flags() -> pl.Expr:
    """Per row: does any field hold a JSON value not of its type (cheap booleans)."""
    return pl.any_horizontal(
        [
            pl.col(name).is_not_null() & _cast_expr(name, dtype).is_null()
            for name, dtype in RAW_SCHEMA.items()
            if dtype != pl.String()
        ]
    ).fill_null(False)


def _validate(
    raw: pl.DataFrame,
    text: pl.DataFrame,
    lines: Sequence[bytes],
    origin: Callable[[int], str],
    dead: list[DeadLetter],
    skip: Collection[int] = (),
    strings: Collection[int] | None = None,
) -> Decoded:
    """Check every typed row with boolean flags; only the (rare) rows that fail get their
    message, from the same checks in the same order (first wrongly typed field, then first
    failing check).  ``text``: the text form of the rows that took the text path; ``skip``:
    the ``seq`` of placeholder rows, dropped without a word (their lines are dead already);
    ``strings``: the ``seq`` of the only rows whose text fields may hold a JSON value that is
    not a string (None: any row may, see :func:`_not_strings`)."""
    height = raw.height
    empty = {name for name in RAW_SCHEMA if raw.get_column(name).null_count() == height}
    frame = raw.with_columns(
        *(
            (pl.lit(None, pl.Int64) if name in empty else _ts(name)).alias(_ms(name))
            for name in _INSTANTS
        ),
        status_code=pl.col("status").str.to_integer(strict=False),
    )
    not_strings = _not_strings(
        frame if strings is None else frame.filter(pl.col("seq").is_in(list(strings))),
        lines,
        empty,
    )
    derived = {_ms(name) for name in _INSTANTS if name in empty}
    derived |= {"status_code"} if "status" in empty else set()
    flag = _flag(frozenset(empty | derived))
    failed = frame.select(flag | pl.col("seq").is_in([*not_strings, *skip])).to_series()
    bad_mask = failed | frame.get_column("_tbad")
    if bad_mask.any():
        bad = frame.filter(bad_mask)
        typing = (
            text.join(bad.select("seq"), on="seq").select(
                "seq", _type_errors(text).alias("_type_error")
            )
            if text.height
            else pl.DataFrame(schema={"seq": pl.Int64, "_type_error": pl.String})
        )
        bad = bad.join(typing, on="seq", how="left", maintain_order="left")
        # one flat select of every check, not a when/then chain: a chain of ~80 conditions
        # costs ~15 ms even on a handful of rows
        messages = [message for _, message in _checks()]
        if skip:
            bad = bad.filter(~pl.col("seq").is_in(list(skip)))
        for seq, type_error, *hits in bad.select("seq", "_type_error", *_check_columns()).rows():
            failing = (m for m, hit in zip(messages, hits, strict=True) if hit)
            message = type_error or next(failing, None) or not_strings.get(seq)
            message = message or "a value is out of range"
            dead.append(DeadLetter.of(lines[seq], f"schema violation: {message}", origin(seq)))
        frame = frame.filter(~bad_mask)
    return Decoded(frame.drop("_tbad", *_INSTANTS), dead)


def _not_strings(
    frame: pl.DataFrame, lines: Sequence[bytes], empty: set[str] | frozenset[str] = frozenset()
) -> dict[int, str]:
    """``seq`` → message of the rows where a text field holds a JSON number, boolean, object
    or array (polars reads it as its text; the model refuses it): only rows whose text could
    be one are parsed again, from their raw line. ``empty``: fields null in every row."""
    present = [name for name in TEXT_FIELDS if name in frame.columns and name not in empty]
    if not present:
        return {}
    suspect = frame.select(
        pl.any_horizontal(pl.col(n).str.contains(_NOT_A_STRING).fill_null(False) for n in present)
    ).to_series()
    if not suspect.any():
        return {}
    wrong: dict[int, str] = {}
    for seq in frame.get_column("seq").filter(suspect).to_list():
        try:
            obj = orjson.loads(lines[seq])
        except orjson.JSONDecodeError:
            continue  # the parse that read it decides, not this check
        if isinstance(obj, dict):
            for name in present:
                value = obj.get(name)
                if value is not None and not isinstance(value, str):
                    wrong[seq] = f"{name} must be a string (got {type(value).__name__})"
                    break
    return wrong


@cache
def _empty_typed() -> pl.DataFrame:
    return pl.DataFrame(schema={**RAW_SCHEMA, "seq": pl.Int64(), "_tbad": pl.Boolean()})


def _empty_frame() -> pl.DataFrame:
    return _validate(_empty_typed(), _empty_raw(), [], lambda i: str(i), []).events
