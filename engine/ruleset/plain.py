"""libyaml's loader for rule files, and the plain Python value of each node and scalar.

``_FastLoader`` is PyYAML's C loader with each plain scalar's tag and value remembered per
text, and a one-walk construction (``_plain_value``) of the usual document: text keys, text,
whole numbers, ``Decimal`` for a float (money keeps every digit), dates, booleans, None. Any
other node (a merge key, another tag, a duplicate key) is left to PyYAML's constructors. The
fast path (``fast``) reads files with it; ``events`` types scalars with its ``plain``.
"""

from __future__ import annotations

import operator
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import yaml as libyaml

from engine.ruleset.events import Unusual
from engine.ruleset.limits import MAX_DEPTH, check_nodes

#: A plain scalar's text not remembered yet (``_FastLoader.plain``).
_MISSING: Any = object()


#: What PyYAML's and ruamel's constructors raise on a value they cannot read.
_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)
#: A YAML integer longer than this stays text (Python refuses ints over 4,300 digits, and no
#: field wants one): validation then says "must be a whole number".
_MAX_INT_TEXT = 40


class _FastLoader(getattr(libyaml, "CSafeLoader", libyaml.SafeLoader)):  # type: ignore[misc]
    """libyaml's C parser for the common case of a good file; no positions kept.

    The C composer calls back into Python for every node: ``resolve`` for its tag and
    ``descend_resolver``/``ascend_resolver`` around it. Those two only follow path resolvers,
    which this loader has none of (its own empty table: one added to PyYAML's loaders elsewhere
    does not reach it), so they are C callables that ignore their arguments."""

    yaml_path_resolvers: ClassVar[dict[Any, Any]] = {}
    descend_resolver = operator.is_  # (parent, index) -> a bool nobody reads
    ascend_resolver = tuple  # () -> ()

    def resolve(
        self, kind: Any, value: Any, implicit: Any, _scalar: Any = libyaml.ScalarNode
    ) -> Any:
        """PyYAML's tag of a node. A plain scalar's is remembered per text: the resolver tries
        up to a dozen regular expressions per scalar, and rule files repeat the same few
        hundred words (a tag depends on the text alone); only short texts are kept. Without
        path resolvers any other node gets its kind's default tag, as in ``BaseResolver``.
        (Called for every node: ``_scalar`` saves a global lookup.)"""
        if kind is _scalar:
            if implicit[0]:
                tag = _PLAIN_TAGS.get(value)
                if tag is None:
                    tag = super().resolve(kind, value, implicit)
                    if len(value) <= _PLAIN_TAG_TEXT:
                        if len(_PLAIN_TAGS) >= _PLAIN_TAGS_KEPT:
                            _PLAIN_TAGS.clear()
                        _PLAIN_TAGS[value] = tag
                return tag
            return _STR
        return _MAP if kind is _MAPPING_NODE else _SEQ

    def construct_document(self, node: Any) -> Any:
        """``_plain_value`` for the usual document, PyYAML's constructors for anything else
        (merge keys, other tags, a duplicate key, a value they cannot read)."""
        try:
            return _plain_value(self, node, _UNBOUNDED)
        except (_Unusual, _DuplicateKey, *_UNREADABLE):
            return super().construct_document(node)

    def plain(self, text: str) -> Any:
        """The value of a plain scalar's text, as ``_plain_value`` builds it from its node
        (``events.event_document``'s typing); ``Unusual`` for one it leaves to PyYAML's
        constructors or cannot read. Remembered per short text, like its tag."""
        value = _PLAIN_VALUES.get(text, _MISSING)
        if value is _MISSING:
            resolvers = self.yaml_implicit_resolvers
            if text and text[0] not in resolvers and None not in resolvers:
                return text  # no implicit tag starts so: text (most long texts)
            node = _SCALAR_NODE(self.resolve(_SCALAR_NODE, text, (True, False)), text)
            try:
                value = _plain_scalar(self, node)
            except (_Unusual, *_UNREADABLE):
                raise Unusual from None
            if len(text) <= _PLAIN_TAG_TEXT:
                if len(_PLAIN_VALUES) >= _PLAIN_TAGS_KEPT:
                    _PLAIN_VALUES.clear()
                _PLAIN_VALUES[text] = value
        return value

    def construct_checked(self, node: Any) -> Any:
        """:meth:`construct_document` for a graph without aliases, with the depth limit
        checked in the same walk (``limits.compose_checked_node``). A document the walk
        does not finish is checked as before (``check_nodes``, which raises the same
        ``LimitExceeded``), then left to PyYAML's constructors."""
        try:
            return _plain_value(self, node, 1)
        except (_Unusual, _DuplicateKey, _TooDeep, *_UNREADABLE):
            check_nodes(node, aliases=False)
            return super().construct_document(node)


_SCALAR_NODE, _MAPPING_NODE, _SEQUENCE_NODE = (
    libyaml.ScalarNode,
    libyaml.MappingNode,
    libyaml.SequenceNode,
)
_PLAIN_TAGS: dict[str, str] = {}
#: plain scalar text → its value (all immutable: text, numbers, dates, None)
_PLAIN_VALUES: dict[str, Any] = {}
_PLAIN_TAGS_KEPT = 4096
_PLAIN_TAG_TEXT = 64


def _fast_float(loader: Any, node: Any) -> Decimal | float:
    try:
        number = Decimal(str(node.value).replace("_", ""))
    except InvalidOperation:
        return float(loader.construct_yaml_float(node))
    return number if number.is_finite() else float(loader.construct_yaml_float(node))


class _DuplicateKey(libyaml.YAMLError):  # type: ignore[misc]
    """A key twice in one mapping (found once the YAML passed the limits)."""


def _fast_mapping(loader: Any, node: Any) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    keys = [loader.construct_object(key) for key, _ in node.value]
    if len(set(map(str, keys))) != len(keys):
        raise _DuplicateKey("duplicate key")  # the slow path explains it with its line
    return {
        str(k): loader.construct_object(v, deep=True)
        for k, (_, v) in zip(keys, node.value, strict=True)
    }


def _fast_int(loader: Any, node: Any) -> int | str:
    text = str(node.value)
    if len(text) > _MAX_INT_TEXT:
        return text
    if text.isascii() and text.isdigit() and (text[0] != "0" or text == "0"):
        return int(text)  # what construct_yaml_int makes of plain decimal digits
    return int(loader.construct_yaml_int(node))


class _Unusual(Exception):
    """A node ``_plain_value`` leaves to PyYAML's constructors."""


class _TooDeep(Exception):
    """A collection nested deeper than ``MAX_DEPTH`` (``check_nodes`` says where)."""


_STR, _INT, _FLOAT = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_BOOL, _TIMESTAMP = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp"
_SEQ, _MAP = "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
#: A depth that never reaches ``MAX_DEPTH`` (the limits were checked before the walk).
_UNBOUNDED = -(1 << 62)


def _plain_value(loader: Any, node: Any, depth: int) -> Any:
    """A node → what ``_FastLoader``'s registered constructors build from it, in one walk.

    PyYAML's ``construct_object`` costs about 10 µs a node (a generator per collection, a
    bookkeeping dict); this handles the standard tags of a rule file and raises ``_Unusual``
    for any other node, so the constructors decide. Keys are plain scalars, as text.
    ``depth``: the nesting depth of ``node`` if it is a collection; past ``MAX_DEPTH``,
    ``_TooDeep``. Text values, most of a file, are taken without a call."""
    kind = type(node)
    if kind is _SCALAR_NODE:
        return _plain_scalar(loader, node)
    if depth > MAX_DEPTH:
        raise _TooDeep
    depth += 1
    if kind is _MAPPING_NODE and node.tag == _MAP:
        out: dict[str, Any] = {}
        for key, value in node.value:
            if type(key) is not _SCALAR_NODE:
                raise _Unusual  # a collection as a key
            name = key.value if key.tag == _STR else str(_plain_scalar(loader, key))
            if name in out:
                raise _DuplicateKey("duplicate key")
            if type(value) is _SCALAR_NODE and value.tag == _STR:
                out[name] = value.value
            else:
                out[name] = _plain_value(loader, value, depth)
        return out
    if kind is _SEQUENCE_NODE and node.tag == _SEQ:
        return [
            item.value
            if type(item) is _SCALAR_NODE and item.tag == _STR
            else _plain_value(loader, item, depth)
            for item in node.value
        ]
    raise _Unusual


def _plain_scalar(loader: Any, node: Any) -> Any:
    tag = node.tag
    if tag == _STR:
        return node.value
    if tag == _INT:
        return _fast_int(loader, node)
    if tag == _FLOAT:
        return _fast_float(loader, node)
    if tag == _NULL_TAG:
        return None
    if tag == _BOOL:
        return loader.construct_yaml_bool(node)
    if tag == _TIMESTAMP:
        return loader.construct_yaml_timestamp(node)
    raise _Unusual


_FastLoader.add_constructor("tag:yaml.org,2002:float", _fast_float)
_FastLoader.add_constructor("tag:yaml.org,2002:int", _fast_int)
_FastLoader.add_constructor("tag:yaml.org,2002:map", _fast_mapping)


_NULL_TAG = "tag:yaml.org,2002:null"


def _typed_starts(loader: Any) -> frozenset[str]:
    """The first characters of a plain scalar that PyYAML's implicit resolvers may tag other
    than text (``""``: the empty scalar); any character when one of them matches any text."""
    resolvers = loader.yaml_implicit_resolvers
    if None in resolvers:
        return _ANY_START
    return frozenset(("", *(first for first in resolvers if first is not None)))


class _AnyStart(frozenset[str]):
    """Contains every text: each plain scalar is typed."""

    def __contains__(self, item: object) -> bool:
        return True


_ANY_START = _AnyStart()
