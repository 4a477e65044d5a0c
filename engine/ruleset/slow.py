"""The slow path: a rule file through ruamel's round-trip loader, to place what is wrong.

Taken only for a file the fast path (``fast``) cannot load or explain: a YAML syntax error, a
value the constructors cannot read, a duplicate key, a missing or other version, a document
that does not validate. ruamel keeps the line and column of every key and value
(``_Positions``), so each syntax error (``_syntax_issue``) and each validation error
(``issues``) gets its place; a float keeps its text, so money keeps every digit. ``load``
imports this module only when a file takes this path: loading good files never imports ruamel.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from engine.models.contract import SPEC_VERSION, RuleFile
from engine.ruleset.compile import Loc, RuleIssue
from engine.ruleset.issues import _MISSING, _issues_from, _show
from engine.ruleset.limits import LimitExceeded, check_events
from engine.ruleset.plain import _MAX_INT_TEXT, _UNREADABLE


class _DecimalText(float):
    """A YAML float that remembers its text, so money keeps every digit (``12.50``)."""

    text: str

    def __new__(cls, value: float, text: str) -> _DecimalText:
        self = super().__new__(cls, value)
        self.text = text
        return self


class _Constructor(RoundTripConstructor):
    def construct_yaml_float(self, node: Any) -> Any:
        return _DecimalText(super().construct_yaml_float(node), str(node.value))

    def construct_yaml_int(self, node: Any) -> Any:
        if len(str(node.value)) > _MAX_INT_TEXT:
            return str(node.value)
        return super().construct_yaml_int(node)

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        """Any value the constructors cannot read (``2026-02-30``, ``!!int abc``, ``!!map [1]``)
        becomes a YAML error at its node, not a traceback."""
        try:
            return super().construct_object(node, deep=deep)
        except YAMLError:
            raise
        except _UNREADABLE as exc:
            message = f"cannot read this value ({_short(str(exc), 120)})"
            raise ConstructorError(None, None, message, node.start_mark) from None


_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_yaml_float)
_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _Constructor
    return yaml


def _number(value: _DecimalText) -> Decimal | float:
    try:
        number = Decimal(value.text.replace("_", ""))
    except InvalidOperation:
        return float(value)
    return number if number.is_finite() else float(value)


def _plain(node: Any) -> Any:
    """ruamel round-trip nodes → plain Python (str keys, aware or naive datetimes kept as is)."""
    if isinstance(node, dict):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(value) for value in node]
    if isinstance(node, datetime):
        offset = node.utcoffset()
        return datetime(
            node.year,
            node.month,
            node.day,
            node.hour,
            node.minute,
            node.second,
            node.microsecond,
            tzinfo=None if offset is None else timezone(offset),
        )
    if isinstance(node, date):
        return date(node.year, node.month, node.day)
    if isinstance(node, _DecimalText):
        return _number(node)
    for kind in (bool, int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


class _Positions:
    """Line and column of any field path in the round-trip tree."""

    def __init__(self, root: Any) -> None:
        self.root = root

    def __call__(self, loc: Loc) -> tuple[int, int]:
        line, column = self.find(loc)
        return line + 1, column + 1

    def find(self, loc: Loc, *, key: bool = False) -> tuple[int, int]:
        """0-based position of the deepest node of ``loc`` present in the file.

        A scalar value is pointed at itself; a mapping, sequence or empty value at its key;
        ``key=True`` points the last part at its key in any case.
        """
        node, position = self.root, (0, 0)
        for number, part in enumerate(loc):
            if isinstance(node, CommentedMap):
                found = next((k for k in node if str(k) == str(part)), _MISSING)
                if found is _MISSING:
                    break
                value = node[found]
                at_key = (key and number == len(loc) - 1) or value is None
                at_key = at_key or isinstance(value, CommentedMap | CommentedSeq)
                position = _entry_position(node, found, at_key) or position
                node = value
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                position = node.lc.item(part)
                node = node[part]
            else:
                break
        return position

    def get(self, loc: Loc) -> Any:
        node = self.root
        for part in loc:
            if isinstance(node, dict):
                node = next((v for k, v in node.items() if str(k) == str(part)), _MISSING)
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                return _MISSING
        return node


def _entry_position(node: CommentedMap, key: Any, at_key: bool) -> tuple[int, int] | None:
    """Position of a key (or its value), looking into ``<<`` merged mappings too."""
    if key in node.lc.data:
        line, column = node.lc.key(key) if at_key else node.lc.value(key)
        return line, column
    for source in getattr(node, "merge", None) or ():
        if isinstance(source, CommentedMap) and key in source:
            return _entry_position(source, key, at_key)
    return None


def _syntax_issue(exc: MarkedYAMLError, source: str) -> RuleIssue:
    mark, context = exc.problem_mark or exc.context_mark, exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
    problem, about = _short(exc.problem), _short(exc.context)
    message = f"YAML syntax error: {problem or about}"
    if problem and about:
        started = f" that starts on line {context.line + 1}" if context is not None else ""
        message += f" ({about}{started})"
    for symptom, hint in _SYNTAX_HINTS:
        if symptom in message:
            message += f"; {hint}"
    return RuleIssue(source, line, column, "", message)


def _short(text: str | None, limit: int = 200) -> str | None:
    """A parser's message cut to ``limit`` characters (a duplicate key quotes whole values)."""
    return text if text is None or len(text) <= limit else text[: limit - 3] + "..."


_SYNTAX_HINTS = (
    ("expected <block end>", "check the indentation of this line and the ones above it"),
    (
        "mapping values are not allowed here",
        "quote a value that contains ': ' or check the indentation",
    ),
    ("found character '\\t'", "indent with spaces, not tabs"),
)


def _parse(
    text: str, source: str, *, checked: bool = False
) -> tuple[RuleFile | None, _Positions | None, list[RuleIssue]]:
    """YAML text → validated ``RuleFile`` (or None) with its positions and issues.

    ``checked``: libyaml has already composed ``text`` within the limits (``limits``)."""
    try:
        if not checked:  # libyaml could not read it: scan ruamel's events before composing
            check_events(_yaml().parse(text))
        root = _yaml().load(text)
    except LimitExceeded as exc:
        return None, None, [exc.issue(source)]
    except _UNREADABLE as exc:  # not met so far: construct_object turns these into YAML errors
        return None, None, [RuleIssue(source, 0, 0, "", f"cannot read the YAML ({exc})")]
    except MarkedYAMLError as exc:
        return None, None, [_syntax_issue(exc, source)]
    except YAMLError as exc:
        return None, None, [RuleIssue(source, 0, 0, "", f"YAML syntax error: {exc}")]
    if not isinstance(root, CommentedMap):
        what = "empty" if root is None else f"{_show(_plain(root))}, not a mapping"
        message = f"the file is {what}; a rule file is a mapping starting with version: csla/v1"
        return None, None, [RuleIssue(source, 1, 1, "", message)]
    positions = _Positions(root)
    version = root.get("version", _MISSING)
    if version is _MISSING:
        message = f"missing required field 'version'; this engine reads {SPEC_VERSION}"
        return None, positions, [RuleIssue(source, 1, 1, "version", message)]
    if version != SPEC_VERSION:
        line, column = positions(("version",))
        message = f"unsupported spec version {str(version)!r}; this engine reads {SPEC_VERSION}"
        return None, positions, [RuleIssue(source, line, column, "version", message)]
    try:
        return RuleFile.model_validate(_plain(root)), positions, []
    except ValidationError as exc:
        return None, positions, _issues_from(exc, positions, source)
