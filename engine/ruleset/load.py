"""Load rule files: YAML with line numbers → ``RuleFile`` (spec ``csla/v1``) → ``Contract``.

Every problem of every file is collected as a ``RuleIssue`` with file, line, column, field path
and a sentence a person understands; nothing stops at the first error. A file whose ``version``
is not ``csla/v1`` is rejected outright, never reinterpreted.
"""

from __future__ import annotations

import difflib
import gc
import hashlib
import operator
import os
import re
import zoneinfo
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import yaml as libyaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from engine.core.contract import Contract, Ruleset
from engine.models.assessment import PLATFORM_SCORING_FILE, Scoring, load_scoring_text
from engine.models.contract import SPEC_VERSION, RuleFile
from engine.ruleset.cache import ParseCache, position_table
from engine.ruleset.compile import (
    ACROSS_FILE_LOCS,
    Loc,
    Locator,
    RuleIssue,
    ScoringSource,
    build_ruleset,
    check_across_files,
    compile_checked,
    default_scoring,
    field_path,
)
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
from engine.ruleset.limits import (
    MAX_DEPTH,
    MAX_FILE_BYTES,
    LimitExceeded,
    check_events,
    check_nodes,
    compose_checked_node,
    size_issue,
    yaml_issue,
)

RULE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome of one rule file: its contract when it has no errors, and all its issues."""

    path: str
    contract: Contract | None
    issues: tuple[RuleIssue, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(issue.is_error for issue in self.issues)


@dataclass(frozen=True, slots=True)
class LoadReport:
    """Every file read, the ruleset of the files without errors, and every issue found."""

    files: tuple[FileResult, ...]
    ruleset: Ruleset
    extra_issues: tuple[RuleIssue, ...] = field(default=())
    #: Contract ids that files clash over (the same revision or instant in two files).
    contested: frozenset[str] = frozenset()

    @property
    def issues(self) -> list[RuleIssue]:
        return [*self.extra_issues, *(i for f in self.files for i in f.issues)]

    @property
    def errors(self) -> list[RuleIssue]:
        return [issue for issue in self.issues if issue.is_error]

    @property
    def warnings(self) -> list[RuleIssue]:
        return [issue for issue in self.issues if not issue.is_error]

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    @property
    def failed_paths(self) -> list[str]:
        return [f.path for f in self.files if not f.ok]

    def file(self, path: str | Path) -> FileResult | None:
        return next((f for f in self.files if f.path == str(path)), None)

    def format(self) -> str:
        """One line per issue, then a summary line."""
        lines = [str(issue) for issue in self.issues]
        errors, warnings = len(self.errors), len(self.warnings)
        lines.append(
            f"{len(self.files)} file(s), {errors} error(s), {warnings} warning(s)"
            f"{'' if errors else ': ok'}"
        )
        return "\n".join(lines)


# --- YAML --------------------------------------------------------------------------------------
class _DecimalText(float):
    """A YAML float that remembers its text, so money keeps every digit (``12.50``)."""

    text: str

    def __new__(cls, value: float, text: str) -> _DecimalText:
        self = super().__new__(cls, value)
        self.text = text
        return self


#: What PyYAML's and ruamel's constructors raise on a value they cannot read.
_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError)
#: A YAML integer longer than this stays text (Python refuses ints over 4,300 digits, and no
#: field wants one): validation then says "must be a whole number".
_MAX_INT_TEXT = 40


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


_MISSING: Any = object()


def _entry_position(node: CommentedMap, key: Any, at_key: bool) -> tuple[int, int] | None:
    """Position of a key (or its value), looking into ``<<`` merged mappings too."""
    if key in node.lc.data:
        line, column = node.lc.key(key) if at_key else node.lc.value(key)
        return line, column
    for source in getattr(node, "merge", None) or ():
        if isinstance(source, CommentedMap) and key in source:
            return _entry_position(source, key, at_key)
    return None


# --- pydantic errors → issues ------------------------------------------------------------------
def _leaves(tp: Any) -> list[Any]:
    origin = get_origin(tp)
    if origin is Annotated:
        return _leaves(get_args(tp)[0])
    if origin in (Union, UnionType):
        return [leaf for arg in get_args(tp) for leaf in _leaves(arg)]
    return [] if tp is NoneType else [tp]


def _models(types: list[Any]) -> list[type[BaseModel]]:
    return [t for t in types if isinstance(t, type) and issubclass(t, BaseModel)]


def _has_literal(model: type[BaseModel], value: str) -> bool:
    for info in model.model_fields.values():
        for leaf in _leaves(info.annotation):
            if get_origin(leaf) is Literal and value in get_args(leaf):
                return True
    return False


def _resolve(loc: Loc) -> tuple[Loc, list[Any]]:
    """Strip pydantic's union tags from ``loc``; return it with the types found at its end."""
    kept: list[str | int] = []
    types: list[Any] = [RuleFile]
    for part in loc:
        if part == "[key]":  # the key itself of a dict entry is wrong: not a field
            continue
        leaves = [leaf for tp in types for leaf in _leaves(tp)]
        models = _models(leaves)
        if isinstance(part, int):
            types = [get_args(t)[0] for t in leaves if get_origin(t) in (list, tuple, set)]
            kept.append(part)
        elif fields := [m.model_fields[part].annotation for m in models if part in m.model_fields]:
            types = fields
            kept.append(part)
        elif dicts := [t for t in leaves if get_origin(t) is dict]:
            types = [get_args(t)[1] for t in dicts]
            kept.append(part)
        elif tagged := [m for m in models if _has_literal(m, part)]:
            types = list(tagged)  # a discriminated union's tag: not a field of the file
        else:
            kept.append(part)  # an unknown key: keep it for the message, nothing below it
            types = []
    return tuple(kept), types


_PATTERNS = {
    "^([01]\\d|2[0-3]):[0-5]\\d$|^24:00$": "a time of day like 09:00, 17:30 or 24:00",
    "^[A-Za-z0-9][A-Za-z0-9._:-]*$": (
        "an id of letters, digits and . _ : - starting with a letter or digit"
    ),
    "^[A-Z]{3}$": "a three-letter ISO 4217 currency code like CNY",
}
_FIRST_WORD = re.compile(r"^([a-z_][a-z_.]*)\b")
_DUPLICATE_OBJECTIVE = re.compile(r"objective id '(.+)' is used twice")


def _show(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _message(error: ErrorDetails, allowed: Sequence[str]) -> str:
    """A sentence for one pydantic error."""
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    name = str(error["loc"][-1]) if error["loc"] else ""
    got = f" (got {_show(value)})"
    match kind:
        case "missing":
            return f"missing required field {name!r}"
        case "extra_forbidden":
            hint = difflib.get_close_matches(name, allowed, n=1)
            did_you_mean = f"did you mean {hint[0]!r}? " if hint else ""
            return f"unknown field {name!r} ({did_you_mean}allowed here: {', '.join(allowed)})"
        case "literal_error" if error["loc"] and error["loc"][-1] == "[key]":
            key = error["loc"][-2] if len(error["loc"]) > 1 else value
            return f"key {str(key)!r} is not allowed here: use one of {ctx.get('expected')}"
        case "literal_error":
            return f"must be one of {ctx.get('expected')}{got}"
        case "value_error" | "assertion_error":
            zone_hint = _zone_hint(value) if name == "timezone" else ""
            return f"{ctx.get('error', error['msg'])}{zone_hint}"
        case "string_pattern_mismatch":
            pattern = str(ctx.get("pattern", ""))
            return f"must be {_PATTERNS.get(pattern, 'text matching ' + pattern)}{got}"
        case "timezone_aware":
            return (
                f"timestamp {_show(value)} has no UTC offset; write it with one, e.g."
                " 2026-01-01T00:00:00+08:00"
            )
        case "datetime_type" | "datetime_parsing" | "datetime_from_date_parsing":
            return f"must be a timestamp with UTC offset like 2026-01-01T00:00:00+08:00{got}"
        case (
            "date_type"
            | "date_parsing"
            | "date_from_datetime_inexact"
            | "date_from_datetime_parsing"
        ):
            return f"must be a date like 2026-10-01{got}"
        case "greater_than_equal":
            return f"must be at least {ctx.get('ge')}{got}"
        case "greater_than":
            return f"must be greater than {ctx.get('gt')}{got}"
        case "less_than_equal":
            return f"must be at most {ctx.get('le')}{got}"
        case "less_than":
            return f"must be less than {ctx.get('lt')}{got}"
        case "string_too_short":
            return "must not be empty" if ctx.get("min_length") == 1 else error["msg"]
        case "string_too_long":
            return f"must be at most {ctx.get('max_length')} characters long"
        case "too_short":
            return f"needs at least {ctx.get('min_length')} item(s)"
        case "string_type":
            return f"must be text{got}"
        case "int_type" | "int_parsing" | "int_from_float" | "int_parsing_size":
            return f"must be a whole number{got}"
        case "float_type" | "float_parsing" | "decimal_type" | "decimal_parsing":
            return f"must be a number{got}"
        case "finite_number":
            return f"must be a finite number{got}"
        case "decimal_max_places":
            return f"must have at most {ctx.get('decimal_places')} decimal places{got}"
        case "decimal_whole_digits":
            return f"must have at most {ctx.get('whole_digits')} digits before the point{got}"
        case "decimal_max_digits":
            return f"must have at most {ctx.get('max_digits')} digits{got}"
        case "bool_type" | "bool_parsing":
            return f"must be true or false{got}"
        case "list_type" | "tuple_type" | "set_type":
            return f"must be a list (a YAML sequence){got}"
        case "dict_type" | "model_type" | "model_attributes_type":
            return f"must be a mapping of fields (key: value){got}"
        case "union_tag_invalid":
            return f"must be one of {ctx.get('expected_tags')} (got {ctx.get('tag')!r})"
        case "union_tag_not_found":
            return f"missing required field {str(ctx.get('discriminator')).strip(chr(39))!r}"
    return str(error["msg"])


def _issues_from(exc: ValidationError, positions: _Positions, source: str) -> list[RuleIssue]:
    out: list[RuleIssue] = []
    for error in exc.errors(include_url=False):
        loc, types = _resolve(tuple(error["loc"]))
        kind = error["type"]
        allowed: list[str] = []
        if kind == "extra_forbidden":
            _, parent = _resolve(tuple(error["loc"])[:-1])
            for model in _models([leaf for tp in parent for leaf in _leaves(tp)]):
                allowed += [name for name in model.model_fields if name not in allowed]
        elif kind in ("union_tag_not_found", "union_tag_invalid"):
            loc = (*loc, str(error.get("ctx", {}).get("discriminator", "kind")).strip("'"))
        message = _message(error, allowed)
        if kind in ("value_error", "assertion_error"):
            loc = _refine(loc, types, message, positions)
        line, column = positions.find(loc, key=kind == "extra_forbidden")
        out.append(RuleIssue(source, line + 1, column + 1, field_path(loc), message))
    return out


def _refine(loc: Loc, types: list[Any], message: str, positions: _Positions) -> Loc:
    """Point a model-level check at the field its message names (``threshold of …``)."""
    if match := _DUPLICATE_OBJECTIVE.search(message):
        ids = positions.get(("objectives",))
        if isinstance(ids, list):
            seen = 0
            for number, item in enumerate(ids):
                if isinstance(item, dict) and str(item.get("id")) == match.group(1):
                    seen += 1
                    if seen == 2:
                        return ("objectives", number, "id")
        return loc
    if match := _FIRST_WORD.match(message):
        name = match.group(1).rsplit(".", 1)[-1]
        models = _models([leaf for tp in types for leaf in _leaves(tp)])
        if any(name in m.model_fields for m in models) and positions.get((*loc, name)) is not (
            _MISSING
        ):
            return (*loc, name)
    return loc


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


def _zone_hint(value: object) -> str:
    if not isinstance(value, str):
        return ""
    hint = difflib.get_close_matches(value, sorted(zoneinfo.available_timezones()), n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


# --- one file ----------------------------------------------------------------------------------
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


class _NodePositions:
    """Line and column of any field path, from the libyaml node graph the fast path composed
    (so a warning is placed without parsing the file again); the same answers as
    :class:`_Positions` over ruamel's tree."""

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


_NULL_TAG = "tag:yaml.org,2002:null"


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


def _sorted(issues: Iterable[RuleIssue]) -> tuple[RuleIssue, ...]:
    return tuple(sorted(issues, key=lambda i: (i.line, i.column, i.field, i.message)))


def _load(
    text: str,
    source: str,
    scoring: ScoringSource = None,
    cache: ParseCache | None = None,
    memo: _LoadMemo | None = None,
) -> tuple[FileResult, Locator | None]:
    if len(text) > MAX_FILE_BYTES // 4 and (
        too_big := size_issue(source, len(text.encode("utf-8", "surrogatepass")))
    ):
        return FileResult(source, None, (too_big,)), None
    if cache is not None and (cached := _load_cached(text, source, scoring, cache)) is not None:
        return cached
    try:
        return _load_fast(text, source, scoring, cache, memo)
    except _SlowPath as slow:
        checked = slow.checked
    rule, positions, issues = _parse(text, source, checked=checked)
    if rule is None or positions is None:
        return FileResult(source, None, _sorted(issues)), positions
    contract, issues = compile_checked(rule, source, positions, scoring)
    return FileResult(source, contract, _sorted(issues)), positions


def _read(path: Path) -> tuple[str | None, RuleIssue | None]:
    """The text of ``path``, or the issue why not; never more than the size limit is read."""
    try:
        if too_big := size_issue(str(path), path.stat().st_size):
            return None, too_big
        with path.open(encoding="utf-8") as handle:
            text = handle.read(MAX_FILE_BYTES + 1)  # characters: at least as many bytes
        if len(text) > MAX_FILE_BYTES // 4 and (  # at most 4 bytes a character
            too_big := size_issue(str(path), len(text.encode("utf-8", "surrogatepass")))
        ):
            return None, too_big  # grew since stat, or multi-byte characters
        return text, None
    except UnicodeDecodeError as exc:
        return None, RuleIssue(str(path), 0, 0, "", f"not UTF-8 text: {exc.reason}")
    except OSError as exc:
        return None, RuleIssue(str(path), 0, 0, "", f"cannot read the file: {exc.strerror}")


def load_rule_text(text: str, source: str = "<string>") -> FileResult:
    """Load one rule file from text (no checks across files)."""
    return _load(text, source)[0]


def load_rule_file(path: str | Path) -> FileResult:
    """Load one rule file (no checks across files); ``result.contract`` is None on errors."""
    text, problem = _read(Path(path))
    if text is None:
        return FileResult(str(path), None, (problem,) if problem else ())
    return load_rule_text(text, str(path))


# --- many files --------------------------------------------------------------------------------
def _rule_files(directory: Path) -> list[Path]:
    """The rule files below ``directory``, sorted as paths: what ``rglob("*")`` finds with a
    rule suffix that is a file, outside hidden folders (symbolic links to folders are not
    followed, as by ``rglob``), found with ``os.walk`` (a tenth of the cost)."""
    found: list[Path] = []
    for folder, folders, names in os.walk(directory):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in names:
            if name.endswith(RULE_SUFFIXES) and not name.startswith("."):
                path = os.path.join(folder, name)
                if os.path.isfile(path):
                    found.append(Path(path))
    return sorted(found)


#: (path, SHA-256 of the text) → (why the scoring file cannot be used, or its table)
_SCORING_CHECKED: dict[tuple[str, str], tuple[RuleIssue | None, Scoring | None]] = {}


def _platform_scoring(platform: Path) -> tuple[RuleIssue | None, Scoring | None]:
    """Why the platform's own Table A.2 scoring file beside the rule files cannot be used,
    or its table. Checked once per content: the same limits as a rule file, then the
    scoring model (a big file that every load would otherwise parse again); read once."""
    text, problem = _read(platform)  # the same limits as a rule file
    if problem is not None or text is None:
        return problem, None
    key = (str(platform), hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
    if key not in _SCORING_CHECKED:
        problem, table = yaml_issue(text, str(platform)), None
        if problem is None:
            try:
                table = load_scoring_text(text, str(platform))
            except ValueError as exc:
                problem = RuleIssue(str(platform), 0, 0, "", str(exc))
        if len(_SCORING_CHECKED) > 64:
            _SCORING_CHECKED.clear()
        _SCORING_CHECKED[key] = (problem, table)
    return _SCORING_CHECKED[key]


def validate_paths(paths: Iterable[str | Path], *, cache: ParseCache | None = None) -> LoadReport:
    """Load files and directories (``*.yaml``/``*.yml`` below them, recursively, sorted).

    Every file is read and checked, then the checks across files run over all files that
    compiled; ``report.ruleset`` holds the contracts of the files without errors.

    ``cache``: parses of files kept from earlier loads (``ParseCache``); the report is the same
    with or without it.
    """
    with _collector_paused():
        return _validate_paths(paths, cache)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while files load, then back as it was.

    A file allocates thousands of short-lived nodes and no reference cycles, and each
    collection walks every contract loaded so far: with it on, loading 100 files costs about
    twice what it costs with it off, 1,000 files four times."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _promote_survivors()
            gc.enable()


def _promote_survivors() -> None:
    """Move what the load left alive to the oldest generation, without walking it.

    With the collector paused, everything the load allocated and kept (about 220 objects a
    file: the contracts and their spec models) is still in the youngest generation, so the
    first allocation after ``gc.enable()`` would walk all of it once (about 0.1 ms a file),
    and then again when it is promoted. It is long-lived by construction; ``freeze`` and
    ``unfreeze`` move it straight to the oldest generation, collected with the next full
    collection as before. Skipped when the process has frozen objects of its own
    (``unfreeze`` would release them)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def _validate_paths(paths: Iterable[str | Path], cache: ParseCache | None) -> LoadReport:
    extra: list[RuleIssue] = []
    files: list[Path] = []
    scoring: str | None = None
    platform_table: Scoring | None = None
    for given in paths:
        path = Path(given)
        if path.is_dir():
            platform = path / PLATFORM_SCORING_FILE
            if scoring is None and platform.is_file():
                problem, platform_table = _platform_scoring(platform)
                if problem is not None:
                    extra.append(problem)
                else:
                    scoring = str(platform)
            found = _rule_files(path)
            if not found:
                extra.append(RuleIssue(str(path), 0, 0, "", "no rule files found", "warning"))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            extra.append(RuleIssue(str(path), 0, 0, "", "no such file or directory"))
    results: list[FileResult] = []
    compiled: list[tuple[Contract, Locator]] = []
    scoring_table: ScoringSource = scoring if platform_table is None else platform_table
    if platform_table is None:
        with suppress(ValueError):  # unreadable: each file says why
            scoring_table = default_scoring(scoring)  # read once, merged into by every file
    memo = _LoadMemo()
    for path in dict.fromkeys(files):
        text, problem = _read(path)
        if text is None:
            results.append(FileResult(str(path), None, (problem,) if problem else ()))
            continue
        result, locate = _load(text, str(path), scoring_table, cache, memo)
        results.append(result)
        if result.contract is None or locate is None:
            continue
        if isinstance(locate, _ReadAgain) and locate.positions is None:
            compiled.append((result.contract, locate))  # its text only, read if asked
        else:
            # the few positions the checks across files may ask for, taken now: the file's
            # parse (a node per value) is freed here, not kept until every file is loaded
            pinned = {loc: locate(loc) for loc in ACROSS_FILE_LOCS}
            compiled.append((result.contract, pinned.__getitem__))
    across: dict[str, list[RuleIssue]] = {}
    for issue in check_across_files(compiled):
        across.setdefault(issue.path, []).append(issue)
    contested = frozenset(contract.id for contract, _ in compiled if contract.source in across)
    final = [
        FileResult(r.path, None, _sorted([*r.issues, *across[r.path]])) if r.path in across else r
        for r in results
    ]
    ruleset = build_ruleset(
        (r.contract for r in final if r.contract is not None and r.ok),
        default_scoring(scoring_table) if scoring else None,
    )
    return LoadReport(tuple(final), ruleset, tuple(extra), contested)


def load_rules_dir(path: str | Path, *, cache: ParseCache | None = None) -> LoadReport:
    """All rule files below ``path`` (recursive, sorted); see ``validate_paths``."""
    return validate_paths([path], cache=cache)


def merge_with_previous(previous: Ruleset, report: LoadReport) -> Ruleset:
    """The new ruleset, plus the previous revisions of every file that now fails to load.

    A hot reloader keeps serving the last good version of a broken file: a previous contract
    whose ``source`` is a failing file of ``report``, or whose id files now clash over (two
    files with its id and one revision: both fail, whichever file it came from), is kept unless
    a good file now defines the same (id, revision) or the same (id, effective_from). Other
    contracts of files that are gone from the report (deleted) are dropped.
    """
    failed = set(report.failed_paths)
    current = [c for revisions in report.ruleset.revisions.values() for c in revisions]
    revisions_taken = {(c.id, c.revision) for c in current}
    instants_taken = {(c.id, c.effective_from_ms) for c in current}
    kept = [
        c
        for revisions in previous.revisions.values()
        for c in revisions
        if (c.source in failed or c.id in report.contested)
        and (c.id, c.revision) not in revisions_taken
        and (c.id, c.effective_from_ms) not in instants_taken
    ]
    return build_ruleset([*current, *kept], report.ruleset.scoring or previous.scoring)
