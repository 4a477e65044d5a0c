"""Hypothesis fuzzing of telemetry lines through the pure core (issue 11, "Tests and docs").

Any JSON value in any field of an otherwise valid line of the bundled contracts, and lines of
arbitrary bytes, go through ``engine.core.pipeline.step`` and then ``advance`` (so the windows
they fall in are evaluated, where a bad value used to raise): nothing raises, the books balance
(``events_in == accepted + duplicates + late + dead_letters``), and no output holds negative
money, negative tokens or a non-finite number.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core.calendar import parse_instant
from engine.core.decode import RAW_SCHEMA
from engine.core.pipeline import Outputs, advance, step
from engine.core.state import EngineState
from engine.ruleset import load_rules_dir
from engine.simulate import simulate

RULES = Path(__file__).resolve().parents[2] / "rules"
START = "2026-10-30T09:00:00+08:00"
NOW_MS = parse_instant("2027-06-01T00:00:00Z")
FIELDS = [*sorted(RAW_SCHEMA), "extra", ""]
SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@cache
def _ruleset() -> Any:
    report = load_rules_dir(RULES)
    assert report.ok, report.format()
    return report.ruleset


@cache
def _pool() -> tuple[tuple[bytes, ...], tuple[dict[str, Any], ...]]:
    """Valid lines of every kind the simulator makes (an hour and a half, no faults), and the
    same as objects: one of each (contract, kind, source) to mutate."""
    lines = list(simulate(_ruleset(), start_ms=parse_instant(START), days=1.5 / 24, faults=False))
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for line in lines:
        event = orjson.loads(line)
        seen.setdefault((event["contract_id"], event["kind"], event["source"]), event)
    return tuple(lines), tuple(seen.values())


SPECIAL_TEXT = st.sampled_from(
    ["Infinity", "-Infinity", "inf", "NaN", "nan", "1e309", "-0", "3.5", "true", "false", "",
     " ", "null", "2026-10-30T01:00:00Z", "2026-10-30T01:00:00", "9223372036854775808",
     "\u0000", "\ud7ff\ue000", "x" * 300]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), 2**64, 10**10, 10**15])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([1e13, 1e300, -1e-9, 1.0000001, 5e-324, 1.7976931348623157e308])
    | st.text(max_size=40)
    | SPECIAL_TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def _dumps(event: dict[str, Any]) -> bytes:
    """JSON text, with NaN / Infinity written as the bare tokens a careless producer sends."""
    return json.dumps(event, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


@st.composite
def mutated_lines(draw: st.DrawFn) -> list[bytes]:
    """1–4 lines: copies of valid events, each with one to three fields set to any JSON value
    (or removed), sometimes with the same event id as the original (a duplicate attempt)."""
    _, events = _pool()
    out = []
    for _ in range(draw(st.integers(1, 4))):
        event = dict(draw(st.sampled_from(events)))
        if draw(st.booleans()):
            event["event_id"] = f"fuzz-{draw(st.integers(0, 10**6))}"
        for _ in range(draw(st.integers(1, 3))):
            name = draw(st.sampled_from(FIELDS))
            if draw(st.integers(0, 9)) == 0:
                event.pop(name, None)
            else:
                event[name] = draw(JSON_VALUES)
        out.append(_dumps(event))
    return out


@st.composite
def byte_lines(draw: st.DrawFn) -> list[bytes]:
    """Arbitrary bytes, and valid lines with bytes overwritten, cut or inserted."""
    lines, _ = _pool()
    out = []
    for _ in range(draw(st.integers(1, 4))):
        if draw(st.booleans()):
            out.append(draw(st.binary(max_size=120)).replace(b"\n", b" "))
            continue
        line = bytearray(draw(st.sampled_from(lines)))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(line)))
            match draw(st.integers(0, 2)):
                case 0:
                    line[at : at + 1] = bytes([draw(st.integers(0, 255))])
                case 1:
                    del line[at:]
                case _:
                    line[at:at] = draw(st.binary(min_size=1, max_size=8))
        out.append(bytes(line).replace(b"\n", b" "))
    return out


def _run(hostile: list[bytes]) -> tuple[Outputs, Outputs]:
    """A few clean lines, the hostile ones among them, then every contract advanced by two
    hours so that their windows are evaluated."""
    lines, _ = _pool()
    batch = [*lines[:200], *hostile, *lines[200:400]]
    state = EngineState.empty()
    state, out = step(state, batch, lambda i: f"fuzz:{i + 1}", _ruleset(), NOW_MS)
    targets = {cid: cs.max_event_ms + 2 * 3_600_000 for cid, cs in state.contracts.items()}
    state, closed = advance(state, _ruleset(), targets)
    return out, closed


def _check(out: Outputs, closed: Outputs, n: int) -> None:
    stats = out.stats
    assert stats["events_in"] == n
    assert stats["events_in"] == (
        stats.get("accepted", 0)
        + stats.get("duplicates", 0)
        + stats.get("late", 0)
        + stats.get("dead_letters", 0)
    ), stats
    assert stats.get("dead_letters", 0) == len(out.dead)
    for record in out.dead:
        assert record["error"] and record["origin"].startswith("fuzz:")
    everything = Outputs()
    everything.extend(out)
    everything.extend(closed)
    for comp in everything.compensations:
        assert Decimal(comp["credit_amount"]) >= 0, comp
    for usage in everything.usage:
        for key in ("tokens", "tokens_in", "tokens_out", "requests", "calls"):
            assert usage.get(key) is None or usage[key] >= 0, usage
        if usage.get("fee") is not None:
            assert Decimal(usage["fee"]) >= 0, usage
    for metric in everything.metrics:
        for key in ("value", "period_value"):
            value = metric.get(key)
            assert value is None or math.isfinite(value), metric


@SETTINGS
@given(mutated_lines())
def test_any_json_value_in_any_field(hostile: list[bytes]) -> None:
    out, closed = _run(hostile)
    _check(out, closed, 400 + len(hostile))


@settings(SETTINGS, max_examples=40)
@given(byte_lines())
def test_arbitrary_bytes(hostile: list[bytes]) -> None:
    out, closed = _run(hostile)
    _check(out, closed, 400 + len(hostile))
