"""The fast path: a rule file through libyaml, validated and compiled, placed when asked.

The usual good file is read from libyaml's event stream (``events``, ``_read_events``) or from
the blocks of text that earlier files of the same load read (``_LoadMemo``); any other text is
composed as a node graph within the limits (``plain._FastLoader``). Positions come from that
same parse (``EventPositions``, ``_NodePositions``, ``_ReadAgain``), so a warning is placed
without a second parse. For a file it cannot tell what is wrong with, ``_load_fast`` raises
``_SlowPath`` and ``load`` takes the slow path (``slow``). ``_load_cached`` loads a file from
its cached parse (``cache``) the same way.
"""

from __future__ import annotations

from typing import Any, get_args, get_origin

import yaml as libyaml
from pydantic import ValidationError

from engine.models.contract import SPEC_VERSION, RuleFile
from engine.ruleset.cache import ParseCache, position_table
from engine.ruleset.compile import Loc, Locator, ScoringSource, compile_checked
from engine.ruleset.events import (
    BlockMemo,
    EventPositions,
    MapPlaces,
    Unusual,
    block_document,
    event_document,
    places_table,
    root_entries,
)
from engine.ruleset.issues import _leaves, _models
from engine.ruleset.limits import LimitExceeded, compose_checked_node
from engine.ruleset.plain import (
    _NULL_TAG,
    _PLAIN_VALUES,
    _UNREADABLE,
    _DuplicateKey,
    _FastLoader,
    _typed_starts,
)
from engine.ruleset.result import FileResult, _sorted


class _NodePositions:
    """Line and column of any field path, from the libyaml node graph the fast path composed
    (so a warning is placed without parsing the file again); the same answers as
    ``slow._Positions`` over ruamel's tree."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def __call__(self, loc: Loc) -> tuple[int, int]:
        node, position = self.root, (0, 0)
        for part in loc:
            if isinstance(node, libyaml.MappingNode):
                found = next((pair for pair in node.value if str(pair[0].value) == str(part)), None)
                if found is None:
                    break
                key, value = found
                at_key = isinstance(value, libyaml.CollectionNode) or value.tag == _NULL_TAG
                mark = (key if at_key else value).start_mark
                position = (mark.line, mark.column)
                node = value
            elif (
                isinstance(node, libyaml.SequenceNode)
                and isinstance(part, int)
                and part < len(node.value)
            ):
                node = node.value[part]
                position = (node.start_mark.line, node.start_mark.column)
            else:
                break
        return position[0] + 1, position[1] + 1


class _SlowPath(Exception):
    """The fast path cannot tell what is wrong; ``checked``: the YAML is within the limits."""

    def __init__(self, checked: bool) -> None:
        self.checked = checked


class _LoadMemo:
    """The blocks of text one load has read (``events.block_document``), for the files after.

    Once a file validates, each spec-model value of its new blocks is replaced by the model
    it validated to (``settle``): pydantic takes a validated model as it is, so a file that
    shares the block skips its validation, and the raw document is not kept alive. Entries
    are never changed otherwise (documents are only read, spec models are frozen). At most
    ``_MEMO_TEXT`` characters of blocks are kept (then it starts again)."""

    __slots__ = ("blocks",)

    def __init__(self) -> None:
        self.blocks = BlockMemo()

    def read(self, text: str) -> dict[str, Any] | None:
        """The usual rule file's document from the blocks of text the load has read; None
        for a text that is read whole."""
        if self.blocks.chars > _MEMO_TEXT:
            self.blocks.clear()
        self.blocks.fresh.clear()
        return block_document(text, _run_entries, self.blocks)

    def settle(self, rule: RuleFile) -> None:
        """The file just read validated to ``rule``: its new blocks keep its models."""
        blocks = self.blocks
        for text in blocks.fresh:
            entries = blocks[text]
            for name, value in entries.items():
                if name in _MODEL_FIELDS and type(value) in (dict, list):
                    entries[name] = getattr(rule, name)
        blocks.fresh.clear()


#: Characters of block text a load's memo keeps (about 15 times that in Python objects).
_MEMO_TEXT = 1 << 20


def _load_fast(
    text: str,
    source: str,
    scoring: ScoringSource = None,
    cache: ParseCache | None = None,
    memo: _LoadMemo | None = None,
) -> tuple[FileResult, Locator | None]:
    """A file through libyaml (fast); raises ``_SlowPath`` to take ruamel for the messages.

    ``cache``: keeps the parse of a file that gets this far (its spec validates);
    ``memo``: what the files before in the same load read and validated."""
    if cache is None and memo is not None and (root := memo.read(text)) is not None:
        read: tuple[dict[str, Any], MapPlaces | None] | None = (root, None)
    else:
        read, memo = _read_events(text, placed=cache is not None), None  # nothing to share
    if read is not None:
        root, places = read
        if root.get("version") != SPEC_VERSION:
            raise _SlowPath(checked=True)  # within the limits: no anchor, not too deep
        try:
            rule = RuleFile.model_validate(root)
        except ValidationError:
            raise _SlowPath(checked=True) from None
        if memo is not None:
            memo.settle(rule)
        located: Locator
        if places is not None:
            if cache is not None:
                cache.put(text, root, places_table(places))
            located = EventPositions(places)
        else:
            located = _ReadAgain(text)
        contract, issues = compile_checked(rule, source, located, scoring)
        return FileResult(source, contract, _sorted(issues)), located
    try:
        node, root = compose_checked_node(text, _FastLoader)
    except LimitExceeded as exc:
        return FileResult(source, None, (exc.issue(source),)), None
    except (_DuplicateKey, *_UNREADABLE):
        raise _SlowPath(checked=True) from None  # ruamel says where
    except libyaml.YAMLError:
        raise _SlowPath(checked=False) from None
    if not isinstance(root, dict) or root.get("version") != SPEC_VERSION:
        raise _SlowPath(checked=True)
    try:
        rule = RuleFile.model_validate(root)
    except ValidationError:
        raise _SlowPath(checked=True) from None
    if cache is not None:
        cache.put(text, root, position_table(node))
    positions = _NodePositions(node)
    contract, issues = compile_checked(rule, source, positions, scoring)
    return FileResult(source, contract, _sorted(issues)), positions


def _read_events(
    text: str, *, placed: bool = True
) -> tuple[dict[str, Any], MapPlaces | None] | None:
    """The usual rule file's document and places (``placed``) from libyaml's events
    (``events``); None for any other text, which the node graph reads (limits checked,
    errors placed)."""
    try:
        loader = _FastLoader(text)
    except _UNREADABLE:
        return None
    try:
        return event_document(
            text, loader, loader.plain, _PLAIN_VALUES, _typed_starts(loader), placed=placed
        )
    except (Unusual, libyaml.YAMLError, *_UNREADABLE):
        return None
    finally:
        loader.dispose()


def _run_entries(text: str) -> list[tuple[str, Any, int]]:
    """``events.root_entries`` of a run of blocks; ``Unusual`` for anything it cannot read."""
    try:
        loader = _FastLoader(text)
    except _UNREADABLE:
        raise Unusual from None
    try:
        return root_entries(text, loader, loader.plain, _PLAIN_VALUES, _typed_starts(loader))
    except (libyaml.YAMLError, *_UNREADABLE):
        raise Unusual from None
    finally:
        loader.dispose()


def _model_fields() -> frozenset[str]:
    """``RuleFile``'s fields whose value is a spec model or a list of them: the values a
    load's memo keeps validated."""
    out: set[str] = set()
    for name, info in RuleFile.model_fields.items():
        leaves = _leaves(info.annotation)
        if len(leaves) == 1 and (
            _models(leaves)
            or (get_origin(leaves[0]) is list and _models(list(get_args(leaves[0]))))
        ):
            out.add(name)
    return frozenset(out)


_MODEL_FIELDS = _model_fields()


class _ReadAgain:
    """Positions of a file whose document was read without places: at the first question
    its text is read again with them (the same events, so the same places), as most files
    are never asked (no warning, no clash with another file)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.positions: Locator | None = None

    def __call__(self, loc: Loc) -> tuple[int, int]:
        if self.positions is None:
            read = _read_events(self.text)
            if read is not None and read[1] is not None:
                self.positions = EventPositions(read[1])
            else:  # not met: a text reads the same each time
                self.positions = _NodePositions(compose_checked_node(self.text, _FastLoader)[0])
        return self.positions(loc)


def _load_cached(
    text: str, source: str, scoring: ScoringSource, cache: ParseCache
) -> tuple[FileResult, Locator | None] | None:
    """A file from its cached parse, as ``_load_fast`` loads it; None without a usable entry.

    The document is validated and compiled as a parsed one is: only the YAML is skipped."""
    entry = cache.get(text)
    if entry is None:
        return None
    document, positions = entry
    if document.get("version") != SPEC_VERSION:
        return None
    try:
        rule = RuleFile.model_validate(document)
    except ValidationError:
        return None  # not what a parse of a file that validated gives: parse it
    contract, issues = compile_checked(rule, source, positions, scoring)
    return FileResult(source, contract, _sorted(issues)), positions
