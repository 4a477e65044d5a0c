"""A rule file's plain document straight from libyaml's event stream, with its positions.

Composing a node graph first costs a Python node, a tag callback and two marks per value,
then a second walk to build the document; libyaml's parse alone is a tenth of that. This
reads the parser's events once: each scalar is typed by the caller's ``plain`` function (the
loader's own YAML 1.1 typing of plain scalars, the same values ``_FastLoader`` builds), and
each collection keeps, beside the document, the events that place its keys and values (the
positions ``_NodePositions`` finds in the node graph).

It handles the usual rule file only: block and flow collections of scalars, at most
``MAX_DEPTH`` deep, no anchor, alias, tag, merge key, duplicate key or collection as a key, one
document. For anything else it raises ``Unusual`` and the caller takes the node-graph path,
which checks the limits and says what is wrong where; a file is never refused or read here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml as libyaml

from engine.ruleset.limits import MAX_DEPTH

__all__ = ["EventPositions", "MapPlaces", "SeqPlaces", "Unusual", "event_document", "places_table"]

_SCALAR = libyaml.ScalarEvent
_MAPPING_START, _MAPPING_END = libyaml.MappingStartEvent, libyaml.MappingEndEvent
_SEQUENCE_START, _SEQUENCE_END = libyaml.SequenceStartEvent, libyaml.SequenceEndEvent
_DOCUMENT_START, _DOCUMENT_END = libyaml.DocumentStartEvent, libyaml.DocumentEndEvent
_STREAM_END = libyaml.StreamEndEvent


class Unusual(Exception):
    """The text is not the usual rule file this reader builds: take the node-graph path."""


class MapPlaces(list[tuple[str, Any, Any]]):
    """A mapping's places: (key text, the event that places it, the value's places or None).

    The placing event is the key's when the value is a collection or empty, else the
    value's (``_NodePositions``: a scalar value at itself, anything else at its key)."""


class SeqPlaces(list[tuple[Any, Any]]):
    """A sequence's places: (the item's first event, the item's places or None)."""


Plain = Callable[[str], Any]


def event_document(parser: Any, plain: Plain) -> tuple[dict[str, Any], MapPlaces]:
    """The document of the one mapping in ``parser``'s stream, and its places.

    ``parser``: a fresh libyaml ``CParser`` (or a loader built on it); ``plain``: the value of
    a plain scalar's text, raising ``Unusual`` for one the caller leaves to the constructors.
    Raises ``Unusual``, or ``yaml.YAMLError`` from the parser."""
    get = parser.get_event
    get()  # the stream start
    if type(get()) is not _DOCUMENT_START:
        raise Unusual  # an empty stream
    start = get()
    if type(start) is not _MAPPING_START or start.anchor is not None or start.tag is not None:
        raise Unusual
    document, places = _mapping(get, plain, 1)
    if type(get()) is not _DOCUMENT_END or type(get()) is not _STREAM_END:
        raise Unusual  # a second document: the composer says so
    return document, places


def _mapping(get: Any, plain: Plain, depth: int) -> tuple[dict[str, Any], MapPlaces]:
    """The mapping whose start event was just read, at nesting ``depth`` (the root is 1)."""
    out: dict[str, Any] = {}
    places = MapPlaces()
    while True:
        key = get()
        kind = type(key)
        if kind is _MAPPING_END:
            return out, places
        if kind is not _SCALAR or key.anchor is not None or key.tag is not None:
            raise Unusual  # a collection or alias as a key, an anchored or tagged key
        text = key.value
        if key.implicit[0]:
            name = plain(text)
            if type(name) is not str:
                name = str(name)
        else:
            name = text
        if name in out:
            raise Unusual  # a duplicate key: the node-graph path places it
        event = get()
        kind = type(event)
        if kind is _SCALAR:
            if event.anchor is not None or event.tag is not None:
                raise Unusual
            if event.implicit[0]:
                value = plain(event.value)
                out[name] = value
                places.append((text, key if value is None else event, None))
            else:
                out[name] = event.value
                places.append((text, event, None))
        else:
            out[name], inner = _collection(get, plain, event, kind, depth)
            places.append((text, key, inner))


def _sequence(get: Any, plain: Plain, depth: int) -> tuple[list[Any], SeqPlaces]:
    """The sequence whose start event was just read, at nesting ``depth``."""
    out: list[Any] = []
    places = SeqPlaces()
    while True:
        event = get()
        kind = type(event)
        if kind is _SCALAR:
            if event.anchor is not None or event.tag is not None:
                raise Unusual
            out.append(plain(event.value) if event.implicit[0] else event.value)
            places.append((event, None))
        elif kind is _SEQUENCE_END:
            return out, places
        else:
            item, inner = _collection(get, plain, event, kind, depth)
            out.append(item)
            places.append((event, inner))


def _collection(get: Any, plain: Plain, event: Any, kind: Any, depth: int) -> tuple[Any, Any]:
    """The collection that ``event`` starts, one level below ``depth``."""
    if event.anchor is not None or event.tag is not None or depth >= MAX_DEPTH:
        raise Unusual  # an alias, anchor or tag, or too deep: the limits say where
    if kind is _MAPPING_START:
        return _mapping(get, plain, depth + 1)
    if kind is _SEQUENCE_START:
        return _sequence(get, plain, depth + 1)
    raise Unusual  # an alias


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
                mark = found[1].start_mark
                places = found[2]
            elif type(places) is SeqPlaces and isinstance(part, int) and part < len(places):
                event, places = places[part]
                mark = event.start_mark
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
            for text, event, inner in reversed(places):
                mark = event.start_mark
                stack.append(((*path, text), inner, mark.line, mark.column))
        elif type(places) is SeqPlaces:
            table[path] = (line, column, 2, len(places))
            for index in range(len(places) - 1, -1, -1):
                event, inner = places[index]
                mark = event.start_mark
                stack.append(((*path, index), inner, mark.line, mark.column))
        else:
            table[path] = (line, column, 0, 0)
    return table
