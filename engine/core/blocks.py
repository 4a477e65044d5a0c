"""A file chunk decoded with one typed parse (issue 12 §1).

The lines that would make polars refuse the chunk, or that hold a field the parse does not
read, are found first on the chunk's lines as one string column (``engine.core.lines``), set
aside as ``{}`` and alone parsed as text; the rest is parsed typed once, reading only the
fields a sample of its lines holds.  The result equals the pieces' of ``engine.core.decode``
line for line, or :func:`decode_block` gives None and the pieces decide.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterator, Sequence
from functools import lru_cache

import orjson
import polars as pl

from engine.core import parse
from engine.core.checks import cast, type_flags, validate
from engine.core.lines import BlockLines, line_view
from engine.core.parse import PIECE
from engine.core.wire import RAW_SCHEMA, TEXT_FIELDS, DeadLetter, Decoded, empty_text

_SPECIAL_MAX = 256  # suspect or screened lines a block takes in one parse


_SAMPLE = 256  # lines whose fields decide which fields a block's typed parse reads


def decode_block(
    lines: Sequence[bytes], origin: Callable[[int], str], block: bytes
) -> Decoded | None:
    """A block decoded with one typed parse, or None (then :func:`decode`'s pieces decide).

    The lines that would send a piece down the slow path are found first, on the block's
    lines as one string column: those that cannot be JSON objects (the screen of
    :func:`engine.core.decode.decode`, same dead letters) and those that may hold a value of
    the wrong JSON type (:data:`_WRONG_TYPE`, a cheap over-approximation), or a field that a
    sample of the lines does not hold (:func:`_sampled_fields`: the typed parse reads only the
    sampled fields, and costs with every field it reads).  Each is replaced by ``{}`` and the
    block parsed typed once; the suspects alone are parsed as text and typed as the reference
    path types them.  Exact by construction: the typed parse must accept every other line, as
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
            reason = parse.json_error(line)
            if reason is not None:
                dead.append(DeadLetter.of(line, reason, origin(i)))
                screened.append(i)
    # a key written with escapes hides from the line pattern: then every field is read and
    # every row's text fields are checked, as before the pattern knew them
    escaped = b"\\" in block
    fields = None if escaped else _sampled_fields(view)
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
    text = empty_text()
    try:
        typed = pl.concat(
            [
                parse.read_typed(*piece, fields).with_columns(_tbad=pl.lit(False))
                for piece in pieces
            ],
            how="vertical",
            rechunk=False,
        )
        if suspects:
            text = parse.read_text(b"\n".join(lines[i] for i in suspects), suspects, 0)
    except (pl.exceptions.PolarsError, OSError):
        return None
    text = text.with_columns(seq=pl.Series(suspects, dtype=pl.Int64))
    # a text field holding a number, boolean, object or array makes its line a suspect (the
    # pattern's first part): unless a key is escaped, only suspects need the check
    strings = None if escaped else suspects
    retyped = cast(text.with_columns(_tbad=type_flags()))
    if retyped.get_column("_tbad").all():
        # every suspect holds a wrong type: a dead letter whose reason comes from its text, so
        # its placeholder row stands in for it (flagged), and no row needs to move
        raw = typed.with_columns(_tbad=pl.col("seq").is_in(suspects)) if suspects else typed
        return validate(raw, text, lines, origin, dead, skip=screened, strings=strings)
    rows, at, k = [], 0, 0  # the typed rows, each suspect's row in its place, screened dropped
    for i in special:
        rows.append(typed.slice(at, i - at))
        if k < len(suspects) and suspects[k] == i:
            rows.append(retyped.slice(k, 1))
            k += 1
        at = i + 1
    rows.append(typed.slice(at))
    raw = pl.concat(rows, how="vertical", rechunk=False)
    return validate(raw, text, lines, origin, dead, strings=strings)


def _sampled_fields(view: pl.Series) -> frozenset[str] | None:
    """The wire fields found in ``_SAMPLE`` lines spread over the block, or None (read every
    field): the typed parse then reads only those (issue 12 §1), and a line holding any other
    field is a suspect (:func:`_suspect_pattern`), which the text path reads whole.  None
    when the sample holds every field (or none)."""
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
    """``block`` in pieces of ``PIECE`` lines (text, lines, first line), each ``special``
    line replaced by ``{}``. Parsed one by one, as the pieces were: the frames, and their
    string buffers that buffered events keep alive, stay piece-sized. The offsets are taken
    from ``view`` now; each piece is made when it is parsed."""
    n = view.len()
    cuts = list(range(0, n, PIECE))
    wanted = sorted({*cuts, *special})
    sizes = view.str.len_bytes().fill_null(0).cast(pl.Int64)
    starts = (sizes + 1).cum_sum() - (sizes + 1)
    spans = zip(starts.gather(wanted).to_list(), sizes.gather(wanted).to_list(), strict=True)
    return _cut(memoryview(block), n, special, dict(zip(wanted, spans, strict=True)))


def _cut(
    data: memoryview, n: int, special: list[int], where: dict[int, tuple[int, int]]
) -> Iterator[tuple[bytes, int, int]]:
    for first in range(0, n, PIECE):
        end = min(first + PIECE, n)
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
    which that parse reads as its text (:func:`not_strings` then needs to check only those
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
