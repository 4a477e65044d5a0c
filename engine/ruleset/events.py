"""A rule file's plain document straight from libyaml's event stream, and its positions.

Composing a node graph first costs a Python node, a tag callback and two marks per value,
then a second walk to build the document; libyaml's parse alone is a tenth of that. This
reads the parser's events once: each scalar is typed by the caller's ``plain`` function (the
loader's own YAML 1.1 typing of plain scalars, the same values ``_FastLoader`` builds), and,
when asked (``placed``), each collection keeps beside the document the marks that place its
keys and values (the positions ``_NodePositions`` finds in the node graph).

It handles the usual rule file only: one document, a mapping of block and flow collections
of scalars, at most ``MAX_DEPTH`` deep, no anchor, alias, tag, merge key, duplicate key or
collection as a key. For anything else it raises ``Unusual`` and the caller takes the
node-graph path, which checks the limits and says what is wrong where; a file is never
refused here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml as libyaml

from engine.ruleset.limits import MAX_DEPTH, _may_anchor

__all__ = [
    "BlockMemo",
    "EventPositions",
    "MapPlaces",
    "SeqPlaces",
    "Unusual",
    "block_document",
    "event_document",
    "places_table",
    "root_entries",
]

_SCALAR = libyaml.ScalarEvent
_MAPPING_START, _MAPPING_END = libyaml.MappingStartEvent, libyaml.MappingEndEvent
_SEQUENCE_START, _SEQUENCE_END = libyaml.SequenceStartEvent, libyaml.SequenceEndEvent
_DOCUMENT_START, _DOCUMENT_END = libyaml.DocumentStartEvent, libyaml.DocumentEndEvent
_STREAM_END = libyaml.StreamEndEvent


class Unusual(Exception):
    """The text is not the usual rule file this reader builds: take the node-graph path."""


class MapPlaces(list[tuple[str, Any, Any]]):
    """A mapping's places: (key text, the mark that places it, the value's places or None).

    The mark is the key's when the value is a collection or empty, else the value's
    (``_NodePositions``: a scalar value at itself, anything else at its key)."""


class SeqPlaces(list[tuple[Any, Any]]):
    """A sequence's places: (the mark of the item's start, the item's places or None)."""


Plain = Callable[[str], Any]
_MISSING: Any = object()


def event_document(
    text: str,
    parser: Any,
    plain: Plain,
    known: dict[str, Any],
    starts: frozenset[str],
    *,
    placed: bool = True,
) -> tuple[dict[str, Any], MapPlaces | None]:
    """The document of the one mapping in ``text``, and its places (None unless ``placed``:
    most loads never place a field, and a place per value costs a tenth of the walk).

    ``parser``: a fresh libyaml ``CParser`` of ``text`` (or a loader built on it); ``plain``:
    the value of a plain scalar's text, raising ``Unusual`` for one the caller leaves to the
    constructors; ``known``: values ``plain`` gave before, by text (looked up first: most
    texts repeat); ``starts``: the first characters (``""`` for an empty text) of every plain
    text that may be anything but text, so any other is taken as it is, without a look-up.
    Raises ``Unusual``, or ``yaml.YAMLError`` from the parser.

    A text that could hold an anchor or a tag is left to the node graph at once, so no event
    read here has one (an alias, which needs no ``&`` or ``!``, is an event of its own)."""
    if _may_anchor(text) or _may_tag(text):
        raise Unusual
    get = parser.get_event
    get()  # the stream start
    if type(get()) is not _DOCUMENT_START or type(get()) is not _MAPPING_START:
        raise Unusual  # an empty stream, or not a mapping
    document, places = _mapping(get, plain, known.get, starts, placed, 1)
    if type(get()) is not _DOCUMENT_END or type(get()) is not _STREAM_END:
        raise Unusual  # a second document: the composer says so
    return document, places


def root_entries(
    text: str, parser: Any, plain: Plain, known: dict[str, Any], starts: frozenset[str]
) -> list[tuple[str, Any, int]]:
    """The entries of the one mapping in ``text`` as ``event_document`` reads them, each with
    the 0-based line of its key, in the order written (a key given twice is kept twice)."""
    if _may_anchor(text) or _may_tag(text):
        raise Unusual
    get, look = parser.get_event, known.get
    get()  # the stream start
    if type(get()) is not _DOCUMENT_START or type(get()) is not _MAPPING_START:
        raise Unusual
    entries: list[tuple[str, Any, int]] = []
    while True:
        key = get()
        kind = type(key)
        if kind is not _SCALAR:
            if kind is _MAPPING_END:
                break
            raise Unusual  # a collection or an alias as a key
        name = _typed(key, plain, look, starts)
        if type(name) is not str:
            name = str(name)
        event = get()
        kind = type(event)
        value: Any
        if kind is _SCALAR:
            value = _typed(event, plain, look, starts)
        elif kind is _MAPPING_START:
            value = _mapping(get, plain, look, starts, False, 2)[0]
        elif kind is _SEQUENCE_START:
            value = _sequence(get, plain, look, starts, False, 2)[0]
        else:
            raise Unusual  # an alias
        entries.append((name, value, key.start_mark.line))
    if type(get()) is not _DOCUMENT_END or type(get()) is not _STREAM_END:
        raise Unusual
    return entries


def _typed(event: Any, plain: Plain, look: Any, starts: frozenset[str]) -> Any:
    """A scalar event's value, as ``_mapping`` types it."""
    value = event.value
    if event.implicit[0] and value[:1] in starts:
        value = look(value, _MISSING)
        if value is _MISSING:
            value = plain(event.value)
    return value


class BlockMemo(dict[str, dict[str, Any]]):
    """Block text → its entries, for the blocks a load has read; ``chars``: the length of
    all the text kept, so its keeper can bound it; ``fresh``: the blocks added since its
    keeper last emptied it."""

    chars = 0

    def __init__(self) -> None:
        super().__init__()
        self.fresh: list[str] = []

    def __setitem__(self, text: str, entries: dict[str, Any]) -> None:
        self.chars += len(text)
        self.fresh.append(text)
        super().__setitem__(text, entries)

    def clear(self) -> None:
        self.chars = 0
        self.fresh.clear()
        super().clear()


#: A line starting with a letter (a top-level key), or with ``-``, ``.`` or ``%`` (which may
#: be a document marker or a directive), found in one scan.
_LINE_START = re.compile(r"\n(?=[A-Za-z.%-])")
#: Lines that hold no event: blank, or only a comment.
_PREAMBLE = re.compile(r"(?:[ \t\r]*(?:#[^\n]*)?\n)*")


def block_document(
    text: str, read: Callable[[str], list[tuple[str, Any, int]]], memo: BlockMemo
) -> dict[str, Any] | None:
    """The document of ``text`` from the blocks of it already read in this load (``memo``),
    reading only the others (``read``: ``root_entries`` of a text); None when ``text`` is
    not one this can take (the caller reads it whole).

    A block is a top-level key's line (a letter at column 0) and the lines up to the next
    such line. Rule files of one fleet share most blocks (``scoring:``, ``service_time:``,
    whole objectives lists), and a block's entries are the same in any text it is part of:
    at a line starting with a letter at column 0 of a block mapping at column 0, a plain or
    block scalar has ended, and a quoted scalar or a flow collection still open there
    shows, as the next block's first key is then not on that line; a block read alone
    ends where such a line would, at the end of its text. So a run of blocks read
    together is kept per block only when each block's first key is on its first line, and
    the text is taken only without a document marker, directive or other line break than
    ``\n`` (``\r\n`` aside) after its first block, and with only blank or comment lines
    before it. A key in two blocks gives None: the whole reading says what is wrong."""
    if _may_anchor(text) or _may_tag(text):
        return None
    if not text.isascii() and ("\x85" in text or "\u2028" in text or "\u2029" in text):
        return None  # line breaks in YAML 1.1 too
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return None  # a lone \r breaks a line too
    starts = [0] if text[:1].isascii() and text[:1].isalpha() else []
    for match in _LINE_START.finditer(text):
        at = match.end()
        first = text[at]
        if first == "-" or first == "." or first == "%":
            if first == "%" or text.startswith("---", at) or text.startswith("...", at):
                return None  # a directive, or a document's start or end
        else:
            starts.append(at)
    if not starts or (starts[0] and _PREAMBLE.fullmatch(text, 0, starts[0]) is None):
        return None
    ends = [*starts[1:], len(text)]
    blocks = [text[start:end] for start, end in zip(starts, ends, strict=True)]
    document: dict[str, Any] = {}
    entries, at, count = 0, 0, len(blocks)
    while at < count:
        known = memo.get(blocks[at])
        if known is not None:
            document.update(known)
            entries += len(known)
            at += 1
            continue
        until = at + 1
        while until < count and blocks[until] not in memo:
            until += 1
        try:
            read_run = read(text[starts[at] : ends[until - 1]])
        except Unusual:
            return None
        kept = _per_block(text, starts, at, until, read_run)
        if kept is None:
            return None
        for number, block_entries in enumerate(kept, at):
            memo[blocks[number]] = block_entries
            document.update(block_entries)
            entries += len(block_entries)
        at = until
    return document if len(document) == entries else None


def _per_block(
    text: str, starts: list[int], first: int, until: int, read: list[tuple[str, Any, int]]
) -> list[dict[str, Any]] | None:
    """The entries read from blocks ``first`` to ``until`` (excluded) of ``text``, per block;
    None unless each block's first key is on its first line (a 0-based line of the run),
    or with a key twice in a block."""
    out: list[dict[str, Any]] = []
    index, total, line = 0, len(read), 0
    for number in range(first, until):
        if index == total or read[index][2] != line:
            return None
        taken = index
        if number + 1 < until:
            line += text.count("\n", starts[number], starts[number + 1])
            while index < total and read[index][2] < line:
                index += 1
        else:
            index = total
        block = {name: value for name, value, _ in read[taken:index]}
        if len(block) != index - taken:
            return None
        out.append(block)
    return out


def _may_tag(text: str) -> bool:
    """Whether ``text`` could hold a tag: a ``!`` not right after a letter or digit (a token
    starts after a space, a line break or a flow indicator; ``Hi!`` is text). A false yes
    only costs the node-graph path."""
    at = text.find("!")
    while at != -1:
        if at == 0 or not text[at - 1].isalnum():
            return True
        at = text.find("!", at + 1)
    return False


def _unplaced(_: object) -> None:
    """Where a walk that keeps no places sends them (never called: each use is guarded)."""


def _mapping(
    get: Any, plain: Plain, known: Any, starts: frozenset[str], placed: bool, depth: int
) -> tuple[dict[str, Any], MapPlaces | None]:
    """The mapping whose start event was just read, at nesting ``depth`` (the root is 1)."""
    out: dict[str, Any] = {}
    places = MapPlaces() if placed else None
    add = places.append if places is not None else _unplaced
    entries = 0
    inner: MapPlaces | SeqPlaces | None
    while True:
        key = get()
        kind = type(key)
        if kind is not _SCALAR:
            if kind is _MAPPING_END:
                if len(out) != entries:
                    raise Unusual  # a duplicate key: the node-graph path places it
                return out, places
            raise Unusual  # a collection or an alias as a key
        name = text = key.value
        if key.implicit[0] and text[:1] in starts:
            name = known(text, _MISSING)
            if name is _MISSING:
                name = plain(text)
            if type(name) is not str:
                name = str(name)
        entries += 1
        event = get()
        kind = type(event)
        if kind is _SCALAR:
            value = event.value
            if event.implicit[0] and value[:1] in starts:
                value = known(value, _MISSING)
                if value is _MISSING:
                    value = plain(event.value)
                out[name] = value
                if placed:
                    add((text, (key if value is None else event).start_mark, None))
            else:
                out[name] = value
                if placed:
                    add((text, event.start_mark, None))
        elif depth < MAX_DEPTH:
            if kind is _MAPPING_START:
                out[name], inner = _mapping(get, plain, known, starts, placed, depth + 1)
            elif kind is _SEQUENCE_START:
                out[name], inner = _sequence(get, plain, known, starts, placed, depth + 1)
            else:
                raise Unusual  # an alias
            if placed:
                add((text, key.start_mark, inner))
        else:
            raise Unusual  # too deep, or an alias: the limits say where


def _sequence(
    get: Any, plain: Plain, known: Any, starts: frozenset[str], placed: bool, depth: int
) -> tuple[list[Any], SeqPlaces | None]:
    """The sequence whose start event was just read, at nesting ``depth``."""
    out: list[Any] = []
    places = SeqPlaces() if placed else None
    keep, add = out.append, places.append if places is not None else _unplaced
    item: Any
    inner: MapPlaces | SeqPlaces | None
    while True:
        event = get()
        kind = type(event)
        if kind is _SCALAR:
            value = event.value
            if event.implicit[0] and value[:1] in starts:
                value = known(value, _MISSING)
                keep(plain(event.value) if value is _MISSING else value)
            else:
                keep(value)
            if placed:
                add((event.start_mark, None))
        elif kind is _SEQUENCE_END:
            return out, places
        elif depth < MAX_DEPTH:
            if kind is _MAPPING_START:
                item, inner = _mapping(get, plain, known, starts, placed, depth + 1)
            elif kind is _SEQUENCE_START:
                item, inner = _sequence(get, plain, known, starts, placed, depth + 1)
            else:
                raise Unusual  # an alias
            keep(item)
            if placed:
                add((event.start_mark, inner))
        else:
            raise Unusual  # too deep, or an alias: the limits say where


class EventPositions:
    """Line and column of any field path from the places ``event_document`` kept: the same
    answers as ``_NodePositions`` over the node graph of the same text."""

    def __init__(self, root: MapPlaces) -> None:
        self.root = root

    def __call__(self, loc: tuple[str | int, ...]) -> tuple[int, int]:
        places: Any = self.root
        line, column = 0, 0
        for part in loc:
            if type(places) is MapPlaces:
                wanted = str(part)
                found = next((entry for entry in places if entry[0] == wanted), None)
                if found is None:
                    break
                mark = found[1]
                places = found[2]
            elif type(places) is SeqPlaces and isinstance(part, int) and part < len(places):
                mark, places = places[part]
            else:
                break
            line, column = mark.line, mark.column
        return line + 1, column + 1


def places_table(root: MapPlaces) -> dict[tuple[str | int, ...], tuple[int, int, int, int]]:
    """``cache.position_table`` of the node graph, from the places: every field's 0-based
    line and column, kind (0 scalar, 1 mapping, 2 sequence) and number of children."""
    table: dict[tuple[str | int, ...], tuple[int, int, int, int]] = {}
    stack: list[tuple[tuple[str | int, ...], Any, int, int]] = [((), root, 0, 0)]
    while stack:
        path, places, line, column = stack.pop()
        if path in table:  # not met: a duplicate key takes the node-graph path
            continue
        if type(places) is MapPlaces:
            table[path] = (line, column, 1, len(places))
            for text, mark, inner in reversed(places):
                stack.append(((*path, text), inner, mark.line, mark.column))
        elif type(places) is SeqPlaces:
            table[path] = (line, column, 2, len(places))
            for index in range(len(places) - 1, -1, -1):
                mark, inner = places[index]
                stack.append(((*path, index), inner, mark.line, mark.column))
        else:
            table[path] = (line, column, 0, 0)
    return table
