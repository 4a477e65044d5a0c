"""``csla validate`` never prints a traceback, whatever a rule file holds (issue 11).

Hypothesis mutates the bundled rule files: deletes keys, puts any JSON-ish value, huge,
negative or non-finite numbers, odd strings and nested structures in their place, duplicates
lines (duplicate keys), nests deeply and adds aliases. ``validate`` must exit 0 (valid) or 1
(errors found), print issues and no traceback.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from engine.cli import app

RULES = sorted((Path(__file__).resolve().parents[2] / "rules").glob("*.yaml"))
DOCS = [yaml.safe_load(path.read_text()) for path in RULES]
RAW = "__raw__"  # a string replaced by raw YAML text after dumping

_ODD_TEXT = [
    "0m", "-5m", "1e300", "99999999999999999999d", "", " ", "NaN", ".inf", "-.inf", "24:00",
    "25:61", "Not/AZone", "2026-13-45", "csla/v2", "x" * 300, "7x24", "\u0000", "☃",
]  # fmt: skip
_RAW_YAML = [
    "9" * 5_000, "-" + "9" * 50, "1e999999", "-1e300", ".nan", "0x7fffffffffffffffff",
    "0o777777777777777777777777", "1_000_000_000_000_000_000_000", "!!binary aGVsbG8=",
    "!!python/object:os.system ls", "2026-02-30", "2026-01-01T25:00:00+08:00", "~", "{}", "[]",
    "&x [1, *x]", "[" * 100 + "]" * 100, "!!set {a, b}", "!!omap [a: 1]", "12:30:45",
    "9999-12-31", "0001-01-01", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0, -1, -20, 1e300, -1e300, 2**63, 2**64, 10**18, 0.5, 100, 101])
    | st.text(max_size=12)
    | st.sampled_from(_ODD_TEXT)
    | st.sampled_from(_RAW_YAML).map(lambda raw: f"{RAW}{_RAW_YAML.index(raw)}__")
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


@st.composite
def mutated(draw: st.DrawFn) -> str:
    doc = yaml.safe_load(yaml.safe_dump(draw(st.sampled_from(DOCS))))  # a deep copy
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, last = _parent(doc, path), path[-1]
        action = draw(st.sampled_from(["delete", "replace", "replace", "rename", "nest"]))
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(values)
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["bogus", "id", "version", "threshold"]))] = parent.pop(
                last
            )
        elif action == "nest":
            value = parent[last]
            for _ in range(draw(st.integers(1, 80))):
                value = [value]
            parent[last] = value
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=10_000)
    for number, raw in enumerate(_RAW_YAML):
        text = text.replace(f"'{RAW}{number}__'", raw).replace(f"{RAW}{number}__", raw)
    lines = text.splitlines()
    if lines and draw(st.booleans()):  # a duplicated line: duplicate keys, odd indentation
        at = draw(st.integers(0, len(lines) - 1))
        lines.insert(at, lines[at])
    if draw(st.integers(0, 9)) == 0:  # aliases: a billion laughs beside the contract
        lines.append('zz_0: &zz_0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]')
        for level in range(1, 8):
            lines.append(f"zz_{level}: &zz_{level} [{', '.join([f'*zz_{level - 1}'] * 8)}]")
    if draw(st.integers(0, 19)) == 0:
        lines = lines[: draw(st.integers(0, len(lines)))]  # truncated
    return "\n".join(lines) + "\n"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(mutated())
def test_validate_reports_and_never_crashes(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzzed.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), text
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    assert result.output.rstrip().splitlines()[-1].endswith("warning(s)")
    if result.exit_code == 1:
        assert f"{path}" in result.output
