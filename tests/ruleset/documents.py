"""YAML documents and helpers shared by the rule-loading tests (loaded by file path: the tests
run with ``--import-mode=importlib``)."""

from __future__ import annotations

#: anchors, a merge key, an empty value and nesting: what the fast path must build as ruamel does
MERGED = """version: csla/v1
base: &base
  window: 1h
  empty:
objectives:
  - <<: *base
    id: a
    threshold: 99.5
  - id: b
    nested: {x: [1, 2, {y: null}]}
"""


def paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Every path (keys and list indexes) into a parsed document, the root's ``()`` first."""
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += paths(item, (*prefix, index))
    return out
