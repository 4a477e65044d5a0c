"""Mergeable partials (STYLE.md): any split of the same lines into batches gives the same
outputs, and so does a state snapshot/restore between batches (a worker restart).

The input is one realistic, messy stream: probes with an outage, requests with latencies,
errors and tokens, node failures (one across the period edge), a maintenance notice, an
incident, duplicates, events late beyond grace, malformed lines and an unknown contract,
over a period edge (rolling days, Asia/Shanghai midnight).  Outputs are compared as lists
sorted by id (metrics, breaches, compensations, usage) or by origin (late, dead letters).

Every SLI kind is in, MTBF included.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.core.state import EngineState

OBJECTIVES = """
- id: avail
  sli: service_availability
  comparator: '>='
  threshold: 99.0
  window: 5m
  compensation:
    - {bound: 99.0, credit_percent: 10}
    - {bound: 95.0, credit_percent: 30}
- {id: err, sli: error_rate, comparator: '<=', threshold: 2.0, window: 5m, min_requests: 5,
   compensation: [{bound: 2.0, credit_percent: 5}]}
- {id: lat, sli: latency, comparator: '<=', threshold: 400, percentile: 95, window: 15m,
   min_requests: 5, compensation: [{bound: 400, credit_percent: 5}]}
- {id: na, sli: node_availability, comparator: '>=', threshold: 99.5, window: 1h}
- {id: fc, sli: failure_count, comparator: '<=', threshold: 1, window: 1h}
- {id: mttr, sli: mttr, comparator: '<=', threshold: 5, window: 1h}
- {id: mtbf, sli: mtbf, comparator: '>=', threshold: 2, window: 1h}
- {id: maxrec, sli: max_recovery, comparator: '<=', threshold: 15, window: 15m}
- {id: stab, sli: stability_interruptions, comparator: '<=', threshold: 1, window: 15m}
- {id: calls, sli: calls, comparator: '>=', threshold: 10, window: 5m}
- {id: util, sli: pool_utilization, field: cpu, comparator: '>=', threshold: 30, window: 15m}
- {id: pue, sli: pue, comparator: '<=', threshold: 1.3, window: 1h}
- {id: sto, sli: storage_availability, resources: ['vol-*'], comparator: '>=', threshold: 99,
   window: 5m}
"""
RULE = {
    "assessment": "period: rolling_days\ndays: 1",
    "metering": "unit: per_1k_tokens\nunit_price: 0.8",
    "compensation": "cap_percent: 50",
    "exemptions": "maintenance_notice_hours: 12",
    "term": ("2026-03-10T00:00:00+08:00", "2027-01-01T00:00:00+08:00"),
}
START, END = "2026-03-10T22:30:00+08:00", "2026-03-11T01:30:00+08:00"
UNTIL = "2026-03-11T02:00:00+08:00"


def stream(csla: Any) -> list[bytes]:
    """The test input, in arrival order (deterministic)."""
    rng = random.Random(2026)

    def at(local: str) -> int:  # "23:20" → that minute of the evening, or of the next day
        day = "2026-03-10" if local >= "12" else "2026-03-11"
        return int(csla.ms(f"{day}T{local}:00+08:00"))

    timed: list[tuple[int, bytes]] = []
    # planned maintenance 00:40–00:50, announced 15 h 40 min ahead (≥ 12 h: exempt)
    notice = csla.maintenance("2026-03-10T09:00:00+08:00", at("00:40"), at("00:50"))
    timed.append((csla.ms(START), notice))
    for m in range(csla.ms(START), csla.ms(END), 60_000):
        down = at("23:20") <= m < at("23:27") or at("00:40") <= m < at("00:50")
        timed.append((m + 20_000, csla.probe(m + 20_000, not down)))
    for r in range(csla.ms(START) + 3_000, csla.ms(END), 25_000):
        mean_ms = 900 if at("00:05") <= r < at("00:20") else 120  # a latency spike
        request = csla.request(
            r,
            rng.random() > 0.03,
            round(rng.expovariate(1 / mean_ms), 2),
            tokens_in=rng.randint(10, 900),
            tokens_out=rng.randint(0, 400),
            tenant_id="t1",
        )
        timed.append((r, request))
    for local, node, state in [
        ("22:30:00", "n1", "up"),
        ("22:30:00", "n2", "up"),
        ("23:10:00", "n1", "down"),
        ("23:13:30", "n1", "up"),
        ("23:50:00", "n2", "down"),
        ("00:12:00", "n2", "up"),  # a failure across the period edge
        ("00:30:00", "n1", "degraded"),
        ("00:35:00", "n1", "up"),
    ]:
        t = at(local[:5]) + int(local[6:]) * 1000
        timed.append((t, csla.node(t, node, state)))
    for local, node, tenant in [("22:30", "n1", "t1"), ("23:00", "n2", "t2"), ("00:05", "n2", "t3")]:
        t = at(local) + 7_000  # a node changes hands: metering per tenant follows
        timed.append((t, csla.node(t, node, "up", tenant_id=tenant, project_id="p")))
    for m in range(csla.ms(START) + 45_000, csla.ms(END), 180_000):
        cpu = round(rng.random(), 3)
        timed.append((m, csla.event("utilization", m, cpu=cpu, tasks=rng.randint(0, 9))))
        timed.append((m, csla.probe(m, rng.random() > 0.1, resource="vol-1")))
    for m in range(csla.ms(START) + 50_000, csla.ms(END), 1_200_000):
        energy = csla.event(
            "energy", m, period_start=csla.iso(m - 600_000), period_end=csla.iso(m),
            total_kwh=round(rng.uniform(12, 16), 3), it_kwh=round(rng.uniform(10, 11), 3),
        )  # fmt: skip
        timed.append((m, energy))
    opened, resolved = at("23:10") + 5_000, at("23:40")
    timed.append((opened, csla.incident(opened, "INC-1", "opened", impact=3, urgency=2)))
    timed.append((resolved, csla.incident(resolved, "INC-1", "resolved")))
    timed.sort(key=lambda e: e[0])
    lines = [line for _, line in timed]
    # stream faults: duplicates right after the original, a straggler sent about half an
    # hour after its event time (late beyond grace), malformed lines, an unknown contract
    lines.insert(40, lines[38])
    lines.insert(300, lines[299])
    lines.insert(200, csla.probe("2026-03-10T23:01:10+08:00", False, eid="straggler"))
    lines.insert(120, b'{"schema_version": 1, "kind": "probe"')
    lines.insert(250, b"[1, 2, 3]")
    lines.insert(260, csla.probe("2026-03-10T23:30:00+08:00", True, contract="nobody"))
    return lines


def run_split(csla: Any, rules: Any, lines: list[bytes], cuts: list[int], restore: list[bool]):
    """Feed ``lines`` cut at ``cuts``; snapshot and restore the state where ``restore`` says."""
    bounds = [0, *cuts, len(lines)]
    state = EngineState.empty()
    outs = []
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        state, out = csla.run(rules, lines[lo:hi], state=state, first_line=lo)
        outs.append(out)
        if restore[i % len(restore)]:
            state = EngineState.restore(state.snapshot())
    state, out = csla.run(rules, [], state=state, until=UNTIL)
    outs.append(out)
    merged = outs[0]
    for out in outs[1:]:
        merged.extend(out)
    return csla.canonical(merged)


def test_the_stream_exercises_every_path(csla: Any) -> None:
    rules = csla.ruleset(OBJECTIVES, **RULE)
    lines = stream(csla)
    got = run_split(csla, rules, lines, [], [False])
    assert got["stats"]["duplicates"] == 2
    assert [r["event_id"] for r in got["late"]] == ["straggler"]
    assert len(got["dead"]) == 3  # truncated JSON, an array of numbers, an unknown contract
    assert {b["objective_id"] for b in got["breaches"]} >= {"avail", "fc", "na"}
    assert {w["status"] for w in got["warnings"]} == {"fired", "cleared"}
    assert len(got["scorecards"]) == 1
    assert {d["kind"] for d in got["discrepancies"]} >= {"platform_down_unreported"}
    (period,) = [u for u in got["usage"] if u["record"] == "period_usage"]
    assert {o["tenant_id"] for o in period["by_owner"]} >= {"t1", "t2"}  # t3: next period
    gauges = {m["objective_id"] for m in got["metrics"] if m["value"] is not None}
    assert gauges >= {"calls", "util", "pue", "sto", "stab"}
    assert {c["period_start"] for c in got["compensations"]} == {"2026-03-09T16:00:00Z"}
    assert got["usage"]
    # the maintenance 00:40–00:50 was announced 15 h 40 min ahead (≥ 12 h): exempt
    exempt = [m for m in got["metrics"] if m["metric_id"] == "c1:avail:2026-03-10T16:40:00Z:r1"]
    assert exempt[0]["total"] == 0


def test_any_split_into_batches_gives_identical_outputs(csla: Any) -> None:
    rules = csla.ruleset(OBJECTIVES, **RULE)
    lines = stream(csla)
    expected = run_split(csla, rules, lines, [], [False])

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.integers(1, len(lines) - 1), max_size=10, unique=True))
    @example([len(lines) // 2])
    @example(list(range(25, len(lines), 25)))
    def check(cuts: list[int]) -> None:
        csla.assert_same(run_split(csla, rules, lines, sorted(cuts), [False]), expected)

    check()


def test_snapshot_and_restore_between_batches_gives_identical_outputs(csla: Any) -> None:
    rules = csla.ruleset(OBJECTIVES, **RULE)
    lines = stream(csla)
    expected = run_split(csla, rules, lines, [], [False])

    @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(st.integers(1, len(lines) - 1), min_size=1, max_size=8, unique=True),
        st.lists(st.booleans(), min_size=1, max_size=8),
    )
    @example(list(range(40, len(lines), 40)), [True])
    def check(cuts: list[int], restore: list[bool]) -> None:
        csla.assert_same(run_split(csla, rules, lines, sorted(cuts), restore), expected)

    check()
