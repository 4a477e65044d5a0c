"""pydantic's ``ValidationError`` → ``RuleIssue``: one placed sentence per error (slow path).

Each error of a file that does not validate becomes an issue with its field path (pydantic's
union tags stripped, ``_resolve``), the line and column of the deepest part of that path in
the file, and a sentence a person understands (``_message``: the allowed fields and a "did you
mean", the expected format, the bound). ``slow`` calls it with the positions of ruamel's tree;
no YAML here. The spec model's types (``_leaves``, ``_models``) serve ``fast`` too.
"""

from __future__ import annotations

import difflib
import re
import zoneinfo
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Protocol, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from engine.models.contract import RuleFile
from engine.ruleset.compile import Loc, RuleIssue, field_path

#: What ``_Tree.get`` gives for a field path that is not in the file.
_MISSING: Any = object()


class _Tree(Protocol):
    """Where a field path is in a file, and its value there (``slow._Positions``)."""

    def find(self, loc: Loc, *, key: bool = False) -> tuple[int, int]: ...

    def get(self, loc: Loc) -> Any: ...


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


def _issues_from(exc: ValidationError, positions: _Tree, source: str) -> list[RuleIssue]:
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


def _refine(loc: Loc, types: list[Any], message: str, positions: _Tree) -> Loc:
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


def _zone_hint(value: object) -> str:
    if not isinstance(value, str):
        return ""
    hint = difflib.get_close_matches(value, sorted(zoneinfo.available_timezones()), n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""
