"""Bytes → a typed polars frame of v1 telemetry events, and dead letters for what is not.

The fast path hands a whole batch to ``pl.read_ndjson`` with a fixed schema
(``engine.core.parse``) and validates it with vectorised expressions (``engine.core.checks``).
A file chunk is parsed once, whole (``engine.core.blocks``): its suspect lines (cut off, maybe
of a wrong JSON type, or holding a field the parse does not read) are found first, stand aside
for the parse and alone take the text path (issue 12 §1).  A batch polars still cannot parse
is split into slices and only the slices that fail are decoded line by line with the pydantic
models (``engine.models.events``), which also give the reason a dead letter carries.

Where things are: the wire schema and the results (:class:`~engine.core.wire.Decoded`,
:class:`~engine.core.wire.DeadLetter`) in ``engine.core.wire``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import orjson
import polars as pl

from engine.core import blocks, parse
from engine.core.checks import cast, type_flags, validate
from engine.core.lines import BlockLines
from engine.core.parse import PIECE
from engine.core.wire import (
    INSTANTS,
    RAW_SCHEMA,
    TEXT_SCHEMA,
    DeadLetter,
    Decoded,
    empty_text,
    empty_typed,
    raw_fields,
)

# the front door of decoding: the wire names its callers use come from here too
__all__ = [
    "RAW_SCHEMA",
    "TEXT_SCHEMA",
    "DeadLetter",
    "Decoded",
    "decode",
    "decode_frame",
    "raw_fields",
    "split_records",
]

_RETRY_PIECE = 2048  # a refused piece is parsed again in pieces of this size, then halved
_SMALL_PIECE = 128  # a piece polars refuses is halved down to this, then parsed as text


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
    :func:`engine.core.blocks.decode_block`.

    Fast path: a piece is parsed straight into the typed schema.  If polars refuses it (a wrong
    JSON type, a malformed line), the piece is parsed as text and typed row by row — the
    reference path, whose result the fast path equals on every piece it accepts.
    """
    if not lines:
        return Decoded(_empty_frame(), [])
    if block is not None:
        decoded = blocks.decode_block(lines, origin, block)
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
            frames.append(parse.read_typed(joined or b"\n".join(part), len(part), start))
            return
        except (pl.exceptions.PolarsError, OSError):
            pass
        if len(part) > _SMALL_PIECE:
            # most often a value of the wrong JSON type: the piece's text form, typed row by
            # row (the reference path below), in one parse instead of many smaller ones
            try:
                text = parse.read_text(joined or b"\n".join(part), part, start)
            except (pl.exceptions.PolarsError, OSError):
                pass
            else:
                texts.append(text)
                frames.append(cast(text.with_columns(_tbad=type_flags())))
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
        parse.parse_piece(part, start, parsed, dead, origin)
        for text in parsed:  # text → types; a value of the wrong type is flagged
            texts.append(text)
            frames.append(cast(text.with_columns(_tbad=type_flags())))

    for start in range(0, len(lines), PIECE):
        part = list(lines[start : start + PIECE])
        joined = block if block is not None and len(part) == len(lines) else None
        # a line that does not end with "}" cannot be a JSON object (a truncated line, most
        # often): it becomes its dead letter here, with the reason the reference path would
        # give, and an empty object holds its place, so that one bad line does not send its
        # whole piece down the slow path; the placeholder's row is dropped below
        for i, line in enumerate(part):
            if line[-1:] != b"}" and not line.rstrip().endswith(b"}"):
                reason = parse.json_error(line)
                if reason is not None:
                    dead.append(DeadLetter.of(line, reason, origin(start + i)))
                    screened.append(start + i)
                    part[i] = b"{}"
                    joined = None
        piece(part, start, joined)
    frames = [f if "_tbad" in f.columns else f.with_columns(_tbad=pl.lit(False)) for f in frames]
    raw = pl.concat(frames, how="vertical", rechunk=False) if frames else empty_typed()
    text = pl.concat(texts, how="vertical", rechunk=False) if texts else empty_text()
    if screened:
        keep = ~pl.col("seq").is_in(pl.Series(screened, dtype=pl.Int64).implode())
        raw, text = raw.filter(keep), text.filter(keep)
    return validate(raw, text, lines, origin, dead)


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
        if isinstance(given, pl.Datetime) and name in INSTANTS:
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
    return validate(raw, empty_text(), lines, origin, [])


def _empty_frame() -> pl.DataFrame:
    return validate(empty_typed(), empty_text(), [], lambda i: str(i), []).events
