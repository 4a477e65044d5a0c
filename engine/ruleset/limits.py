"""Limits on a rule file's YAML, checked before anything is built from it.

A rule file comes from whoever can write to the rules directory, and a hot-reloading worker
reads it while it serves telemetry. So a file is refused, with its line, before it can cost
much: more than ``MAX_FILE_BYTES`` (checked before parsing), collections nested deeper than
``MAX_DEPTH`` (a traceback or a stack overflow otherwise), or aliases that would expand to more
than ``MAX_ALIAS_NODES`` nodes or refer to a collection that contains them (the "billion
laughs": 1 KB of YAML that expands to 10⁹ strings).

libyaml's composer shares an aliased node instead of copying it, so a composed document costs
what its text costs; ``check_nodes`` then walks it once, counting each shared node's size at
every reuse. The composer recurses in C, though, so a text that could nest deeper than
``_SAFE_COMPOSE_DEPTH`` is first scanned as a stream of parser events (``check_events``),
which needs no recursion; the same scan guards ruamel's pure-Python loader when libyaml cannot
read the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml as libyaml

from engine.ruleset.compile import RuleIssue

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000
#: libyaml's C composer recurses once per level: far below this it cannot exhaust the stack.
_SAFE_COMPOSE_DEPTH = 2_000

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "LimitExceeded",
    "check_events",
    "check_nodes",
    "compose_checked",
    "compose_checked_node",
    "size_issue",
    "yaml_issue",
]


class LimitExceeded(Exception):
    """A rule file exceeds a limit; ``line`` and ``column`` are 1-based (0: unknown)."""

    def __init__(self, mark: Any, message: str) -> None:
        super().__init__(message)
        self.line = mark.line + 1 if mark is not None else 0
        self.column = mark.column + 1 if mark is not None else 0
        self.message = message

    def issue(self, source: str) -> RuleIssue:
        return RuleIssue(source, self.line, self.column, "", self.message)


def size_issue(source: str, size: int) -> RuleIssue | None:
    """An error when ``size`` (bytes) is over ``MAX_FILE_BYTES``."""
    if size <= MAX_FILE_BYTES:
        return None
    return RuleIssue(
        source,
        0,
        0,
        "",
        f"the file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte (1 MiB) limit of a"
        " rule file; one contract per file is far smaller",
    )


def _too_deep(mark: Any) -> LimitExceeded:
    return LimitExceeded(mark, f"YAML nested more than {MAX_DEPTH} levels deep")


def _too_many(mark: Any) -> LimitExceeded:
    return LimitExceeded(
        mark,
        f"YAML aliases would add more than {MAX_ALIAS_NODES:,} nodes (the value anchored here is"
        " repeated too often); write the values out or use fewer aliases",
    )


def _cycle(mark: Any) -> LimitExceeded:
    return LimitExceeded(mark, "a YAML alias refers to a collection that contains it")


def depth_bound(text: str) -> int:
    """An upper bound of the nesting depth of ``text``.

    Each flow collection opens with ``[`` or ``{``; block collections nested in each other start
    at non-decreasing columns, at most two at one column (a mapping and a sequence as its value),
    and no column is past the longest line.
    """
    longest = max(map(len, text.splitlines()), default=0)
    return text.count("[") + text.count("{") + 2 * (longest + 1)


def check_events(events: Iterable[Any]) -> None:
    """Check a stream of PyYAML or ruamel parser events; raise ``LimitExceeded``.

    Streaming and without recursion, so it stops at the first excess whatever the text.
    """
    done: dict[Any, tuple[int, int]] = {}  # anchor → (expanded size, height)
    stack: list[list[Any]] = []  # [anchor, size, height] of each open collection
    extra = 0
    for event in events:
        name = type(event).__name__
        if name in ("MappingStartEvent", "SequenceStartEvent"):
            if len(stack) >= MAX_DEPTH:
                raise _too_deep(event.start_mark)
            stack.append([event.anchor, 1, 1])
        elif name in ("MappingEndEvent", "SequenceEndEvent"):
            anchor, size, height = stack.pop()
            if anchor is not None:
                done[anchor] = (size, height)
            if stack:
                stack[-1][1] += size
                stack[-1][2] = max(stack[-1][2], height + 1)
        elif name == "ScalarEvent":
            if event.anchor is not None:
                done[event.anchor] = (1, 0)
            if stack:
                stack[-1][1] += 1
        elif name == "AliasEvent":
            if any(frame[0] == event.anchor for frame in stack):
                raise _cycle(event.start_mark)
            size, height = done.get(event.anchor, (1, 0))
            extra += size
            if extra > MAX_ALIAS_NODES:
                raise _too_many(event.start_mark)
            if len(stack) + height > MAX_DEPTH:
                raise _too_deep(event.start_mark)
            if stack:
                stack[-1][1] += size
                stack[-1][2] = max(stack[-1][2], height + 1)


def _children(node: Any) -> list[Any]:
    if isinstance(node, libyaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, libyaml.SequenceNode):
        return list(node.value)
    return []


def _check_depth(root: Any) -> None:
    """Only the depth, for a tree without aliases (no node is shared)."""
    collection, mapping = libyaml.CollectionNode, libyaml.MappingNode
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(node.start_mark)
        for kid in (
            (k for pair in node.value for k in pair) if isinstance(node, mapping) else node.value
        ):
            if isinstance(kid, collection):
                stack.append((kid, depth + 1))


def check_nodes(root: Any, *, aliases: bool = True) -> None:
    """Check a libyaml-composed node graph (aliased nodes shared); raise ``LimitExceeded``.

    ``aliases=False``: the text has no ``&``, so no anchor and no node is shared."""
    if not isinstance(root, libyaml.CollectionNode):
        return
    if not aliases:
        _check_depth(root)
        return
    done: dict[int, tuple[int, int]] = {}  # id(node) → (expanded size, height)
    open_ids = {id(root)}
    stack: list[list[Any]] = [[root, _children(root), 0, 1, 1]]  # node, kids, next, size, height
    extra = 0
    while stack:
        frame = stack[-1]
        node, kids, index = frame[0], frame[1], frame[2]
        if index == len(kids):
            stack.pop()
            open_ids.discard(id(node))
            done[id(node)] = (frame[3], frame[4])
            if stack:
                stack[-1][3] += frame[3]
                stack[-1][4] = max(stack[-1][4], frame[4] + 1)
            continue
        frame[2] = index + 1
        kid = kids[index]
        if id(kid) in open_ids:
            raise _cycle(kid.start_mark)
        if (seen := done.get(id(kid))) is not None:  # a reuse: an alias
            extra += seen[0]
            if extra > MAX_ALIAS_NODES:
                raise _too_many(kid.start_mark)
            if len(stack) + seen[1] > MAX_DEPTH:
                raise _too_deep(kid.start_mark)
            frame[3] += seen[0]
            frame[4] = max(frame[4], seen[1] + 1)
        elif isinstance(kid, libyaml.CollectionNode):
            if len(stack) >= MAX_DEPTH:
                raise _too_deep(kid.start_mark)
            open_ids.add(id(kid))
            stack.append([kid, _children(kid), 0, 1, 1])
        else:
            done[id(kid)] = (1, 0)
            frame[3] += 1


def yaml_issue(text: str, source: str) -> RuleIssue | None:
    """The first limit ``text`` exceeds, as an issue of ``source`` (None: within the limits,
    or not YAML at all, which the file's own reader reports)."""
    if size := size_issue(source, len(text.encode("utf-8", "surrogatepass"))):
        return size
    loader = getattr(libyaml, "CSafeLoader", libyaml.SafeLoader)
    try:
        if depth_bound(text) > _SAFE_COMPOSE_DEPTH:
            check_events(libyaml.parse(text, Loader=loader))
        check_nodes(libyaml.compose(text, Loader=loader))
    except LimitExceeded as exc:
        return exc.issue(source)
    except libyaml.YAMLError:
        return None
    return None


def _may_anchor(text: str) -> bool:
    """Whether ``text`` could hold an anchor: ``&`` and a name, not inside a word (``R&D`` and
    ``a & b`` are text, ``[&a 1]`` is not). A false yes only costs the full walk."""
    at = text.find("&")
    while at != -1:
        before, after = text[at - 1 : at] or " ", text[at + 1 : at + 2]
        if not before.isalnum() and after and after not in " \t\r\n[]{},":
            return True
        at = text.find("&", at + 1)
    return False


def compose_checked(text: str, loader: type[Any]) -> Any:
    """Parse ``text`` with the libyaml ``loader`` class within the limits: the constructed
    document (None for an empty one). Raises ``LimitExceeded`` or ``yaml.YAMLError``."""
    return compose_checked_node(text, loader)[1]


def compose_checked_node(text: str, loader: type[Any]) -> tuple[Any, Any]:
    """:func:`compose_checked`, with the composed node graph (its marks place any field).

    A ``loader`` may offer ``construct_checked(node)``: the document of a graph without
    aliases, checking the depth in its own walk and raising what ``check_nodes`` raises, so
    a good file is walked once, not twice."""
    if depth_bound(text) > _SAFE_COMPOSE_DEPTH:
        check_events(libyaml.parse(text, Loader=loader))
    instance = loader(text)
    try:
        node = instance.get_single_node()
        if node is None:
            return None, None
        aliases = _may_anchor(text)
        construct_checked = getattr(instance, "construct_checked", None)
        if aliases or construct_checked is None:
            check_nodes(node, aliases=aliases)
            return node, instance.construct_document(node)
        return node, construct_checked(node)
    finally:
        instance.dispose()
