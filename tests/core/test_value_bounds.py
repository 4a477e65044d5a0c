"""No event value can stop the engine or bend a sum (issue 11).

Every number and instant of a telemetry line has a documented bound
(``engine.models.events``, the README's bounds table, ``schemas/telemetry.v1.schema.json``);
a value past it, or not finite in any spelling, makes its own line a dead letter naming the
field and the bound, and leaves every other line alone.  Dead letters keep the exact bytes of
a line that is not UTF-8.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.core import usage
from engine.core.decode import RAW_SCHEMA, DeadLetter, decode, raw_fields
from engine.core.pipeline import Outputs
from engine.models import events as ev
from engine.models.events import event_json_schema
from engine.models.outputs import DeadLetter as DeadLetterModel

ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 86_400_000
T0 = "2026-03-10T02:00:00Z"

# one valid event of each kind, the value under test added to it
BASE: dict[str, dict[str, Any]] = {
    "probe": {"ok": True},
    "request": {"ok": True, "latency_ms": 5},
    "network": {},
    "utilization": {},
    "storage_io": {},
    "incident": {"incident_id": "i1", "status": "opened"},
    "scaling": {
        "direction": "out",
        "requested_at": "2026-03-10T01:00:00Z",
        "completed_at": "2026-03-10T01:05:00Z",
    },
    "provisioning": {
        "requested_at": "2026-03-10T01:00:00Z",
        "completed_at": "2026-03-10T01:05:00Z",
    },
    "maintenance": {
        "maintenance_id": "m1",
        "window_start": "2026-03-11T00:00:00Z",
        "window_end": "2026-03-11T02:00:00Z",
    },
    "energy": {
        "period_start": "2026-03-09T02:00:00Z",
        "period_end": "2026-03-10T02:00:00Z",
        "total_kwh": 10,
        "it_kwh": 8,
    },
}
KIND_OF = {
    "latency_ms": "request",
    "jitter_ms": "network",
    "loss_ratio": "network",
    "throughput_mbps": "network",
    "read_mbps": "storage_io",
    "write_mbps": "storage_io",
    "cpu": "utilization",
    "gpu": "utilization",
    "memory": "utilization",
    "storage": "utilization",
    "bandwidth": "utilization",
    "tasks": "utilization",
    "users": "utilization",
    "tokens_in": "request",
    "tokens_out": "request",
    "impact": "incident",
    "urgency": "incident",
    "nodes": "scaling",
    "status": "request",
    **{f"{n}_kwh": "energy" for n in ("total", "it", "renewable", "grid", "self", "green")},
}


def line(kind: str, **fields: Any) -> bytes:
    body = {
        "schema_version": 1,
        "event_id": "e1",
        "event_time": T0,
        "provider_id": "p",
        "contract_id": "c1",
        "resource_id": "r",
        "source": "platform",
        "kind": kind,
        **BASE[kind],
        **fields,
    }
    return json.dumps(body).encode()


def error_of(raw: bytes) -> str | None:
    """The dead-letter reason of one line decoded alone (None if it is an event)."""
    decoded = decode([raw], str)
    assert decoded.events.height + len(decoded.dead) == 1
    return decoded.dead[0].error if decoded.dead else None


# ── every bound, at the edge and just past it (hand-checked values) ──────────────────────────
RATIO = "must be a ratio between 0 and 1"
# field, minimum, maximum (both accepted), just below, just above (both refused)
TABLE: list[tuple[str, float, float, float, float]] = [
    ("latency_ms", 0, 86_400_000, -0.000001, 86_400_000.000001),
    ("jitter_ms", 0, 86_400_000.0, -1, 86_400_001),
    ("throughput_mbps", 0, 10_000_000, -0.001, 10_000_000.5),
    ("read_mbps", 0.0, 10_000_000, -1, 10_000_001),
    ("write_mbps", 0, 10_000_000.0, -0.5, 10_000_000.001),
    ("total_kwh", 0, 1_000_000_000, -1, 1_000_000_000.001),
    ("it_kwh", 0, 1_000_000_000, -1, 1_000_000_000.001),
    ("renewable_kwh", 0, 1_000_000_000, -0.1, 1_000_000_001),
    ("grid_kwh", 0, 1_000_000_000, -1e-9, 2e9),
    ("self_kwh", 0, 1_000_000_000, -1, 1e10),
    ("green_kwh", 0, 1_000_000_000, -1e-9, 1_000_000_000.5),
    ("cpu", 0, 1, -0.000001, 1.000001),
    ("gpu", 0.0, 1.0, -0.000001, 1.000001),
    ("memory", 0, 1, -1, 2),
    ("storage", 0, 1.0, -0.5, 1.5),
    ("bandwidth", 0, 1, -0.01, 1.01),
    ("loss_ratio", 0, 1, -0.01, 1.01),
    ("tokens_in", 0, 1_000_000_000, -1, 1_000_000_001),
    ("tokens_out", 0, 1_000_000_000, -1, 1_000_000_001),
    ("tasks", 0, 1_000_000_000, -1, 1_000_000_001),
    ("users", 0, 1_000_000_000, -1, 1_000_000_001),
    ("nodes", 1, 1_000_000, 0, 1_000_001),
    ("impact", 1, 4, 0, 5),
    ("urgency", 1, 4, 0, 5),
    ("status", 0, 999, -1, 1000),
]


def _messages(field: str, low: float, high: float) -> tuple[str, str]:
    if field in ev.RATIO_FIELDS:
        return RATIO, RATIO
    if field in ("impact", "urgency"):
        return f"{field} must be between 1 and 4", f"{field} must be between 1 and 4"
    if field == "status":
        return (
            "request: status must be between 0 and 999",
            "request: status must be between 0 and 999",
        )
    return f"{field} must be ≥ {low:.0f}", f"{field} must be ≤ {high:.0f}"


EDGES: list[tuple[str, Any, str | None]] = [
    edge
    for field, low, high, below, above in TABLE
    for edge in [
        (field, low, None),
        (field, high, None),
        (field, below, _messages(field, low, high)[0]),
        (field, above, _messages(field, low, high)[1]),
    ]
] + [
    ("throughput_mbps", 1e13, "throughput_mbps must be ≤ 10000000"),  # the gauge
    ("total_kwh", 1e300, "total_kwh must be ≤ 1000000000"),  # the energy reading
    ("tokens_in", 9_223_372_036_854_775_000, "tokens_in must be ≤ 1000000000"),  # the issue
    ("tokens_in", 2**64, "tokens_in must be an integer between 0 and 1000000000"),
    ("tokens_out", 1e300, "tokens_out must be an integer between 0 and 1000000000"),
    ("latency_ms", 1.7976931348623157e308, "latency_ms must be ≤ 86400000"),
    ("latency_ms", -0.0, None),
]


@pytest.mark.parametrize(("field", "value", "error"), EDGES)
def test_each_bound_accepts_its_edge_and_refuses_past_it(
    field: str, value: Any, error: str | None
) -> None:
    got = error_of(line(KIND_OF[field], **{field: value}))
    if error is None:
        assert got is None
    else:
        assert got is not None and got.startswith("schema violation: ")
        assert error in got and field in got


def test_the_table_holds_the_bounds_of_the_models() -> None:
    table = {field: (low, high) for field, low, high, _, _ in TABLE}
    assert table == {**ev.NUMBER_BOUNDS, **ev.INTEGER_BOUNDS, "status": (0, ev.STATUS_MAX)}


# ── non-finite numbers, in every spelling ────────────────────────────────────────────────────
SPELLINGS = ["Infinity", "inf", "-inf", "+inf", "INF", "infinity", "NaN", "nan", "1e309", "-1e400"]


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("field", ["latency_ms", "throughput_mbps", "total_kwh", "cpu"])
def test_a_non_finite_string_is_refused_naming_its_field(field: str, spelling: str) -> None:
    got = error_of(line(KIND_OF[field], **{field: spelling}))
    assert got is not None and f"{field} must be a finite number" in got


@pytest.mark.parametrize("number", [b"1e309", b"-1e309", b"1E999"])
def test_a_json_number_that_overflows_a_double_is_refused_naming_its_field(number: bytes) -> None:
    raw = line("request", latency_ms=123456.0).replace(b"123456.0", number)
    assert error_of(raw) == (
        "schema violation: latency_ms must be a finite number between 0 and 86400000 "
        "(this one overflows a double)"
    )


def test_an_overflowing_number_in_an_unknown_field_is_still_a_dead_letter() -> None:
    raw = line("probe", extra=123.0).replace(b"123.0", b"1e309")
    assert error_of(raw) == "not valid JSON: the number of 'extra' overflows a double"


# ── instants and durations ──────────────────────────────────────────────────────────────────
INSTANT = "must be from 2000-01-01T00:00:00Z to before 2100-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2000-01-01T00:00:00Z", True),
        ("2000-01-01T08:00:00+08:00", True),
        ("1999-12-31T23:59:59.999Z", False),
        ("2000-01-01T07:59:59.999+08:00", False),
        ("2099-12-31T23:59:59.999Z", True),
        ("2100-01-01T00:00:00Z", False),
        ("2100-01-01T07:59:59+08:00", True),
        ("2100-01-01T08:00:00+08:00", False),
        ("9999-12-31T23:59:59Z", False),
        ("0001-01-01T00:00:00Z", False),
    ],
)
def test_event_time_lies_in_2000_to_2100(value: str, ok: bool) -> None:
    got = error_of(line("probe", event_time=value))
    assert got is None if ok else got == f"schema violation: event_time {INSTANT}"


@pytest.mark.parametrize(
    ("kind", "start", "end"),
    [
        ("maintenance", "window_start", "window_end"),
        ("energy", "period_start", "period_end"),
        ("provisioning", "requested_at", "completed_at"),
        ("scaling", "requested_at", "completed_at"),
    ],
)
def test_every_other_instant_lies_in_2000_to_2100(kind: str, start: str, end: str) -> None:
    def err(a: str, b: str) -> str | None:
        return error_of(line(kind, **{start: a, end: b}))

    assert err("2000-01-01T00:00:00Z", "2000-01-01T01:00:00Z") is None
    assert err("2099-12-31T23:00:00Z", "2099-12-31T23:59:59.999Z") is None
    assert (
        err("1999-12-31T23:00:00Z", "2000-01-01T01:00:00Z")
        == f"schema violation: {start} {INSTANT}"
    )
    assert (
        err("2099-12-31T23:00:00Z", "2100-01-01T00:00:00Z") == f"schema violation: {end} {INSTANT}"
    )


def _iso(ms: int) -> str:
    return pl.Series([ms]).cast(pl.Datetime("ms", "UTC")).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")[0]


START_MS = 1_773_100_800_000  # 2026-03-10T00:00:00Z


@pytest.mark.parametrize(
    ("kind", "start", "end", "length_ms", "error"),
    [
        ("maintenance", "window_start", "window_end", 366 * DAY_MS, None),
        (
            "maintenance",
            "window_start",
            "window_end",
            366 * DAY_MS + 1,
            "maintenance: the window must not last more than 366 days",
        ),
        ("energy", "period_start", "period_end", 366 * DAY_MS, None),
        (
            "energy",
            "period_start",
            "period_end",
            366 * DAY_MS + 1,
            "energy: the period must not last more than 366 days",
        ),
        (
            "energy",
            "period_start",
            "period_end",
            0,
            "energy: period_end must be after period_start",
        ),
        ("provisioning", "requested_at", "completed_at", 366 * DAY_MS, None),
        (
            "provisioning",
            "requested_at",
            "completed_at",
            366 * DAY_MS + 1,
            "completed_at must be at most 366 days after requested_at",
        ),
        ("scaling", "requested_at", "completed_at", 0, None),
        (
            "scaling",
            "requested_at",
            "completed_at",
            400 * DAY_MS,
            "completed_at must be at most 366 days after requested_at",
        ),
    ],
)
def test_durations_are_at_most_366_days(
    kind: str, start: str, end: str, length_ms: int, error: str | None
) -> None:
    fields = {start: _iso(START_MS), end: _iso(START_MS + length_ms)}
    got = error_of(line(kind, event_time=_iso(START_MS), **fields))
    assert got == (None if error is None else f"schema violation: {error}")


def test_bound_constants_agree() -> None:
    assert int(ev.EARLIEST.timestamp() * 1000) == ev.EARLIEST_MS
    assert int(ev.LATEST.timestamp() * 1000) == ev.LATEST_MS
    assert ev.DURATION_MS_MAX == 366 * DAY_MS


# ── booleans: true / false, and the exact strings "true" / "false" ─────────────────────────
@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (True, True),
        (False, True),
        ("true", True),
        ("false", True),
        ("True", False),
        ("FALSE", False),
        ("yes", False),
        ("1", False),
        (1, False),
        (0, False),
        ([], False),
    ],
)
def test_ok_is_a_boolean_or_its_exact_string(value: Any, ok: bool) -> None:
    decoded = decode([line("probe", ok=value)], str)
    if ok:
        assert decoded.events.get_column("ok").to_list() == [value in (True, "true")]
    else:
        assert [d.error for d in decoded.dead] == ["schema violation: ok must be true or false"]


def test_the_readme_says_what_the_code_does_for_booleans() -> None:
    readme = (ROOT / "README.md").read_text()
    assert (
        '`ok` must be `true`/`false` (the exact strings `"true"` and `"false"` are read' in readme
    )


# ── one place for each bound: models, exported schema, README ─────────────────────────────────
def _schema_bounds() -> dict[str, tuple[float, float]]:
    found: dict[str, set[tuple[float, float]]] = {}
    for model in event_json_schema()["$defs"].values():  # type: ignore[attr-defined]
        for name, prop in model["properties"].items():
            for option in prop.get("anyOf", [prop]):
                if "maximum" in option:
                    found.setdefault(name, set()).add((option["minimum"], option["maximum"]))
    assert all(len(b) == 1 for b in found.values()), found
    return {name: next(iter(b)) for name, b in found.items()}


def test_the_exported_schema_carries_every_bound() -> None:
    bounds = _schema_bounds()
    for name, (low, high) in {**ev.NUMBER_BOUNDS, **ev.INTEGER_BOUNDS}.items():
        assert bounds[name] == (low, high), name
    assert bounds["status"] == (0, ev.STATUS_MAX)
    committed = json.loads((ROOT / "schemas" / "telemetry.v1.schema.json").read_text())
    assert committed == json.loads(json.dumps(event_json_schema()))


def test_the_readme_table_lists_every_bound() -> None:
    section = (ROOT / "README.md").read_text().split("## Telemetry", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for row in re.findall(r"^\| (.+?) \| (.+?) \|$", section, re.M):
        for name in re.findall(r"`(\w+)`", row[0]):
            rows[name] = row[1].replace(",", "")
    for name, (low, high) in {**ev.NUMBER_BOUNDS, **ev.INTEGER_BOUNDS}.items():
        assert f"{low:g} .. {high:.0f}" in rows[name] or f"{low:g} .. {high:g}" in rows[name], (
            name,
            rows.get(name),
        )


# ── dead letters keep the bytes ────────────────────────────────────────────────────────────
def test_raw_fields_of_utf8_is_the_text_alone() -> None:
    assert raw_fields('{"a": "é ✓"}'.encode()) == {"raw": '{"a": "é ✓"}'}


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe{}", b'{"event_id": "\xc3"}', b"\xed\xa0\x80", line("probe") + b"\x80"],
)
def test_a_line_that_is_not_utf8_keeps_its_bytes_in_base64(raw: bytes) -> None:
    fields = raw_fields(raw)
    assert base64.b64decode(fields["raw_base64"], validate=True) == raw
    assert fields["raw"] == raw.decode("utf-8", "replace")
    (dead,) = decode([raw], lambda i: f"f:{i + 1}").dead
    record = dead.record()
    assert list(record) == ["record", "raw", "raw_base64", "error", "origin"]
    assert base64.b64decode(record["raw_base64"]) == raw
    assert record["origin"] == "f:1"
    DeadLetterModel.model_validate(record)


def test_a_utf8_dead_letter_has_no_base64() -> None:
    (dead,) = decode([line("probe", ok="yes")], str).dead
    assert dead.raw_base64 is None
    assert dead.record() == {
        "record": "deadletter",
        "raw": line("probe", ok="yes").decode(),
        "error": "schema violation: ok must be true or false",
        "origin": "0",
    }
    DeadLetterModel.model_validate(dead.record())
    assert DeadLetter.of(b"x", "e", "o") == DeadLetter("x", "e", "o")


# ── usage sums across closings cannot wrap ─────────────────────────────────────────────────
def _part(tokens: int, nano: int) -> pl.DataFrame:
    row: dict[str, Any] = {c: 0 for c in usage.SCHEMA}
    row |= {"contract_id": "c1", "tenant_id": "t", "project_id": "p"}
    row |= {"window_start": 0, "window_end": 3_600_000, "calls": 1, "call_minutes": 1}
    row |= {"tokens_in": tokens, "tokens_out": tokens, "cpu_n": 1, "cpu_nano": nano}
    row |= {"calls_minute_max": 1, "calls_minute_min": 1}
    row |= {f"{m}_max": None for m in usage.METRICS}
    return pl.DataFrame([row], schema=usage.SCHEMA)


def test_usage_partials_add_past_2_to_the_63_without_wrapping() -> None:
    half = 2**62
    merged = usage._merge(_part(half, half), _part(half, half), _part(half, half))
    row = merged.row(0, named=True)
    assert row["tokens_in"] == 3 * half  # > 2**63 - 1: an Int64 sum would be negative
    assert row["cpu_nano"] == 3 * half


def test_an_old_snapshot_with_int64_usage_sums_still_merges() -> None:
    old = _part(5, 7).cast({"tokens_in": pl.Int64, "tokens_out": pl.Int64, "cpu_nano": pl.Int64})
    merged = usage._merge(old, _part(1, 1))
    assert merged.schema == pl.Schema(usage.SCHEMA)
    assert merged.row(0, named=True)["tokens_in"] == 6


# ── through the pipeline: the poison goes, the books balance ───────────────────────────────
OBJECTIVES = """
- {id: lat, sli: latency, comparator: '<=', threshold: 400, percentile: 95, window: 5m}
- {id: avail, sli: service_availability, comparator: '>=', threshold: 99.0, window: 5m}
- {id: err, sli: error_rate, comparator: '<=', threshold: 2.0, window: 5m}
- {id: tok, sli: tokens, comparator: '<=', threshold: 1000000000000, window: 5m}
- {id: thr, sli: network_throughput, comparator: '>=', threshold: 100, window: 5m}
- {id: util, sli: pool_utilization, field: cpu, comparator: '<=', threshold: 90, window: 5m}
- {id: pue, sli: pue, comparator: '<=', threshold: 1.5, window: 1h}
"""
RULE = {"metering": "unit: per_1k_tokens\nunit_price: 0.02"}
DAY = "2026-03-10T{}+08:00"


def balanced(out: Outputs) -> None:
    s = out.stats
    assert s["events_in"] == (
        s.get("accepted", 0) + s.get("duplicates", 0) + s.get("late", 0) + s.get("dead_letters", 0)
    ), s


def good_lines(csla: Any) -> list[bytes]:
    lines = []
    for minute in range(0, 10):
        at = csla.ms(DAY.format(f"10:{minute:02d}:10"))
        lines.append(csla.probe(at, True))
        lines.append(csla.request(at + 1000, True, 100.0 + minute, tokens_in=900, tokens_out=100))
        lines.append(csla.event("network", at + 2000, throughput_mbps=9000.0, latency_ms=20.0))
        lines.append(csla.event("utilization", at + 3000, cpu=0.5, tasks=3))
    at = csla.ms(DAY.format("10:00:40"))
    energy = {"period_start": csla.iso(at - 3_600_000), "period_end": csla.iso(at)}
    lines.append(csla.event("energy", at, total_kwh=120.0, it_kwh=100.0, **energy))
    return lines


def poison(csla: Any) -> list[bytes]:
    at = csla.ms(DAY.format("10:03:30"))
    near_wrap = 9_223_372_036_854_775_000
    energy = {"period_start": csla.iso(at - 3_600_000), "period_end": csla.iso(at)}
    return [
        csla.request(at, True, 1.0).replace(b'"latency_ms":1.0', b'"latency_ms":"Infinity"'),
        csla.request(at, True, 1.0).replace(b'"latency_ms":1.0', b'"latency_ms":"inf"'),
        csla.request(at, True, 1.0).replace(b'"latency_ms":1.0', b'"latency_ms":"NaN"'),
        csla.request(at, True, 1.0).replace(b'"latency_ms":1.0', b'"latency_ms":1e309'),
        csla.event("network", at, throughput_mbps=1e13),
        csla.event("energy", at, total_kwh=1e300, it_kwh=1.0, **energy),
        csla.request(at, True, 1.0, tokens_in=near_wrap, tokens_out=0),
        csla.request(at, True, 1.0, tokens_in=near_wrap, tokens_out=near_wrap),
        b"\xff" + csla.probe(at, True),
    ]


def test_poisoned_lines_among_good_ones_are_dead_lettered_alone(csla: Any) -> None:
    rules = csla.ruleset(OBJECTIVES, **RULE)
    good, bad = good_lines(csla), poison(csla)
    lines = good[:20] + bad + good[20:]
    _, clean = csla.run(rules, good, until=DAY.format("11:00:00"))
    state, out = csla.run(rules, lines, until=DAY.format("11:00:00"))
    assert sorted(d["origin"] for d in out.dead) == [f"test:{20 + i}" for i in range(len(bad))]
    for d in out.dead:
        assert d["error"].startswith(("schema violation:", "not valid JSON"))
    balanced(out)
    assert out.stats["dead_letters"] == len(bad)
    # the good lines give exactly the outputs of the clean run: nothing was bent
    assert out.metrics == clean.metrics
    assert out.usage == clean.usage
    assert out.compensations == clean.compensations
    tokens = [u["tokens_in"] for u in out.usage if u.get("record") == "usage"]
    assert tokens and all(t >= 0 for t in tokens)
    assert state.contracts["c1"].usage.get("tokens") == 10 * 1000


def test_token_sums_at_the_limit_are_exact(csla: Any) -> None:
    """1,000 requests of 10⁹ + 10⁹ tokens in one minute: 2·10¹² tokens, exactly."""
    rules = csla.ruleset(OBJECTIVES, **RULE)
    at = csla.ms(DAY.format("10:00:00"))
    lines = [
        csla.request(at + i, True, 10.0, tokens_in=ev.TOKENS_MAX, tokens_out=ev.TOKENS_MAX)
        for i in range(1000)
    ]
    state, out = csla.run(rules, lines, until=DAY.format("11:00:00"))
    assert not out.dead
    balanced(out)
    (hour,) = [u for u in out.usage if u.get("record") == "usage" and u["calls"]]
    assert hour["tokens_in"] == hour["tokens_out"] == 1000 * 10**9
    assert state.contracts["c1"].usage["tokens"] == 2 * 10**12
    tok = csla.metric_at(out, "tok", DAY.format("10:00:00"))
    assert tok["value"] == 2 * 10**12


def test_the_tokens_gauge_sums_past_2_to_the_63(csla: Any) -> None:
    """5,000 requests of 10⁹ + 10⁹ tokens: 10¹³ tokens, 10¹⁹ micro-units (> 2⁶³ − 1)."""
    rules = csla.ruleset(OBJECTIVES, **RULE)
    at = csla.ms(DAY.format("10:00:00"))
    lines = [
        csla.request(at + i, True, 10.0, tokens_in=ev.TOKENS_MAX, tokens_out=ev.TOKENS_MAX)
        for i in range(5000)
    ]
    state, out = csla.run(rules, lines, until=DAY.format("11:00:00"))
    assert state.contracts["c1"].usage["tokens"] == 10**13
    assert csla.metric_at(out, "tok", DAY.format("10:00:00"))["value"] == 10**13


# ── any JSON value in any field never makes step raise ────────────────────────────────────
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["inf", "-Infinity", "NaN", "1e309", "true", "2100-01-01T00:00:00Z", "", "1"])
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
HOSTILE = st.sampled_from(
    [
        "inf",
        "-Infinity",
        "NaN",
        "1e309",
        1e300,
        1e13,
        -1,
        2**63 - 1,
        9_223_372_036_854_775_000,
        2**64,
        float("inf"),
        float("nan"),
        "2100-01-01T00:00:00Z",
        "true",
    ]
)
# the fields each kind's SLIs read (hit often), then any field at all
READ = {
    "probe": ["ok", "latency_ms", "event_time"],
    "request": ["ok", "latency_ms", "tokens_in", "tokens_out", "status", "event_time"],
    "network": ["latency_ms", "jitter_ms", "loss_ratio", "throughput_mbps"],
    "utilization": ["cpu", "gpu", "tasks", "users"],
    "energy": [f"{n}_kwh" for n in ("total", "it", "renewable", "grid", "self", "green")]
    + ["period_start", "period_end"],
}
KINDS = list(READ)
CHANGE = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from(sorted({f for fields in READ.values() for f in fields})),
    HOSTILE,
) | st.tuples(st.sampled_from(KINDS), st.sampled_from([*RAW_SCHEMA, "extra"]), JSON_VALUES)


def _dumps(value: dict[str, Any]) -> bytes:
    """JSON text; NaN and ±Infinity as the bare tokens ``NaN`` / ``Infinity`` (invalid JSON)."""
    return json.dumps(value, allow_nan=True).encode()


def test_any_json_value_in_any_field_never_makes_step_raise(csla: Any) -> None:
    rules = csla.ruleset(OBJECTIVES, **RULE)
    good = good_lines(csla)
    templates = {}
    for raw in good:
        body = orjson.loads(raw)
        templates.setdefault(body["kind"], body)
    assert set(templates) == set(KINDS)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(CHANGE, min_size=1, max_size=6))
    @example([("request", "latency_ms", "Infinity")])
    @example([("network", "throughput_mbps", 1e13)])
    @example([("energy", "total_kwh", 1e300)])
    @example([("request", "tokens_in", 9_223_372_036_854_775_000)] * 2)
    def check(changes: list[tuple[str, str, Any]]) -> None:
        bad = []
        for i, (kind, name, value) in enumerate(changes):
            body = {**templates[kind], "event_id": f"h{i}", name: value}
            bad.append(_dumps(body))
        lines = good[:20] + bad + good[20:]
        _, out = csla.run(rules, lines, until=DAY.format("11:00:00"))
        balanced(out)
        for record in out.usage:
            for key in ("tokens_in", "tokens_out", "calls"):
                assert record.get(key) is None or record[key] >= 0

    check()


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("event_id", "e" * 257, "event_id is longer than 256 characters"),
        ("resource_id", "r" * 300, "resource_id is longer than 256 characters"),
        ("event_id", 123, "event_id must be a string (got int)"),
        ("resource_id", True, "resource_id must be a string (got bool)"),
        ("tenant_id", {"a": 1}, "tenant_id must be a string (got dict)"),
        ("project_id", [1, 2], "project_id must be a string (got list)"),
    ],
)
def test_identifiers_are_strings_of_at_most_256_characters(
    csla: Any, field: str, value: Any, reason: str
) -> None:
    """The typed fast path agrees with the model (``Ident``): a JSON number, boolean, object or
    array in a string field, or an identifier over 256 characters, is a dead letter; a
    numeric-looking *string* and exactly 256 characters are fine."""
    rules = csla.ruleset(OBJECTIVES, **RULE)
    at = csla.ms(DAY.format("10:00:00"))
    good = [
        csla.request(at, True, 10.0, eid="e" * 256),
        csla.request(at + 1, True, 10.0, eid="123", tenant_id="true"),
    ]
    body = orjson.loads(csla.request(at + 2, True, 10.0))
    body[field] = value
    _, out = csla.run(rules, [*good, orjson.dumps(body)])
    assert [d["error"] for d in out.dead] == [f"schema violation: {reason}"]
    assert out.stats["accepted"] == 2
