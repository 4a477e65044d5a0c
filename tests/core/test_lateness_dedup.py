"""Event time, lateness and duplicates (issue §3): never dropped silently.

Watermark = the contract's event time seen − grace (default 5 min), floored to the minute (with
one source, the max event time; engine.core.watermark holds back a source that runs ahead: see
tests/core/test_watermark.py); a minute closes when the watermark reaches its end.  An event whose minute had closed when it
arrived is *late*: written to ``Outputs.late`` with ``lateness_ms`` = watermark − event time,
counted in ``stats["late"]``, and not evaluated.  A repeated (contract, provider, source,
event_id) is counted once (the first copy wins).  Instants are written in +08:00.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

AVAIL = "- {id: avail, sli: service_availability, comparator: '>=', threshold: 90, window: 1h}"
ERRORS = "- {id: err, sli: error_rate, comparator: '<=', threshold: 1.0, window: 5m}"
# the term starts on the test day, so evaluation starts there rather than at March 1
TERM = ("2026-03-10T00:00:00+08:00", "2027-01-01T00:00:00+08:00")
# jumps of the tests below are far beyond the default max_skew (2 min): allow them, so the
# watermark is the plain max event time − grace
JUMPS = "period: calendar_month\nmax_skew: 1h\nsource_idle: 2h"


def t(hms: str) -> str:
    return f"2026-03-10T{hms}+08:00"


# ── late within grace (accepted) and beyond it (late output) ────────────────────────────────
@pytest.mark.parametrize("split", [False, True], ids=["one-batch", "two-batches"])
@pytest.mark.parametrize(
    ("grace", "seen", "event", "lateness_ms"),
    [
        # seen 10:05:59.999 → watermark ⌊10:00:59.999⌋ = 10:00:00 < 10:01 (end of minute 10:00)
        pytest.param("5m", "10:05:59.999", "10:00:30", None, id="just-within-grace"),
        # seen 10:06:00 → watermark 10:01:00 ≥ 10:01 → late by 10:01:00 − 10:00:30 = 30 s
        pytest.param("5m", "10:06:00", "10:00:30", 30_000, id="just-beyond-grace"),
        # the last millisecond of the closed minute: late by 1 ms
        pytest.param("5m", "10:06:00", "10:00:59.999", 1, id="last-ms-of-closed-minute"),
        # the next minute is still open at watermark 10:01 (it ends at 10:02)
        pytest.param("5m", "10:06:00", "10:01:00", None, id="next-minute-open"),
        # seen 12:00 → watermark 11:55 → late by 1 h 54 min 30 s = 6 870 000 ms
        pytest.param("5m", "12:00:00", "10:00:30", 6_870_000, id="far-beyond-grace"),
        # grace 2m: seen 10:03:00 → watermark 10:01:00 → late by 30 s
        pytest.param("2m", "10:03:00", "10:00:30", 30_000, id="grace-2m-late"),
        # grace 2m: seen 10:02:59 → watermark ⌊10:00:59⌋ = 10:00 → accepted
        pytest.param("2m", "10:02:59", "10:00:30", None, id="grace-2m-within"),
    ],
)
def test_late_within_and_beyond_grace(
    csla: Any, grace: str, seen: str, event: str, lateness_ms: int | None, split: bool
) -> None:
    rules = csla.ruleset(AVAIL, assessment=f"grace: {grace}", term=TERM)
    first = csla.probe(t(seen), True)  # pushes event time (and the watermark) forward
    straggler = csla.probe(t(event), False, eid="straggler")  # a failed probe, sent after it
    batches = [[first], [straggler]] if split else [[first, straggler]]
    _, out = csla.run(rules, [], batches=batches, until=t("13:00:00"))
    last = csla.metric_at(out, "avail", t("12:00:00"))
    if lateness_ms is None:
        assert out.late == []
        assert out.stats == {"events_in": 2, "accepted": 2}
        # both probes counted: the straggler's minute is unavailable → 1 good of 2 known
        assert (last["period_good"], last["period_total"]) == (1, 2)
        return
    (late,) = out.late
    watermark = csla.ms(t(event)) + lateness_ms
    assert late["event_id"] == "straggler" and late["kind"] == "probe"
    assert late["event_time"] == csla.iso(t(event))
    assert late["watermark"] == csla.iso(watermark)
    assert watermark % 60_000 == 0  # the watermark is a whole minute
    assert late["lateness_ms"] == lateness_ms
    assert late["contract_id"] == "c1" and b'"straggler"' in late["raw"].encode()
    assert out.stats == {"events_in": 2, "accepted": 1, "late": 1}
    # only the first probe counts: 1 good of 1
    assert (last["period_good"], last["period_total"]) == (1, 1)


def test_lateness_is_decided_per_event_in_arrival_order(csla: Any) -> None:
    """An early event that arrives after a much later one in the same batch is late."""
    rules = csla.ruleset(AVAIL, term=TERM, assessment=JUMPS)
    lines = [
        csla.probe(t("10:00:30"), True, eid="a"),  # accepted (nothing seen yet)
        csla.probe(t("10:20:00"), True, eid="b"),  # watermark → 10:15
        csla.probe(t("10:00:40"), True, eid="c"),  # minute 10:00 closed by then: late
        csla.probe(t("10:16:00"), True, eid="d"),  # minute 10:16 is open: accepted
    ]
    _, out = csla.run(rules, lines, until=t("11:00:00"))
    assert [(r["event_id"], r["lateness_ms"]) for r in out.late] == [("c", 14 * 60_000 + 20_000)]
    # a, b, d counted: three available minutes
    assert csla.metric_at(out, "avail", t("10:00:00"))["good"] == 3


# ── duplicates ──────────────────────────────────────────────────────────────────────────────
def _requests(csla: Any, n: int, failed: int, start: str = "10:00:00") -> list[bytes]:
    base = csla.ms(t(start))
    return [csla.request(base + i * 1000, i >= failed, 40.0, eid=f"r{i}") for i in range(n)]


@pytest.mark.parametrize("split", [False, True], ids=["same-batch", "next-batch"])
def test_duplicates_are_counted_once(csla: Any, split: bool) -> None:
    rules = csla.ruleset(ERRORS, term=TERM)
    lines = _requests(csla, 30, 5)  # r0..r4 fail
    repeats = [lines[0], lines[3], lines[20]]  # two failed and one ok request, sent again
    batches = [lines, repeats] if split else [lines + repeats]
    _, out = csla.run(rules, [], batches=batches, until=t("10:05:00"))
    metric = csla.metric_at(out, "err", t("10:00:00"))
    # 30 distinct requests, 5 failed → 5 / 30 = 16.666…% (not 7 / 33)
    assert (metric["good"], metric["total"]) == (25, 30)
    assert metric["value"] == pytest.approx(100 * 5 / 30)
    assert out.stats == {"events_in": 33, "duplicates": 3, "accepted": 30}


@pytest.mark.parametrize("split", [False, True], ids=["same-batch", "next-batch"])
def test_a_conflicting_repeat_is_a_dead_letter_naming_the_first_copy(
    csla: Any, split: bool
) -> None:
    """Same (contract, provider, source, event_id), other payload: not the same event. The
    first copy counts; the repeat is a dead letter that names where the first copy came from."""
    rules = csla.ruleset(AVAIL, term=TERM)
    first = csla.probe(t("10:00:10"), False, eid="p1")
    repeat = csla.probe(t("10:00:10"), True, eid="p1")  # same id, other payload
    batches = [[first], [repeat]] if split else [[first, repeat]]
    _, out = csla.run(rules, [], batches=batches, until=t("11:00:00"))
    metric = csla.metric_at(out, "avail", t("10:00:00"))
    assert (metric["good"], metric["period_total"]) == (0, 1)
    assert "duplicates" not in out.stats
    [dead] = out.dead
    assert dead["origin"] == "test:1"
    assert "different payload (first copy: test:0)" in dead["error"]
    assert out.stats["events_in"] == out.stats["accepted"] + out.stats["dead_letters"]


def test_the_same_event_id_from_another_source_is_not_a_duplicate(csla: Any) -> None:
    rules = csla.ruleset(ERRORS.replace("5m}", "5m, sources: [platform, customer]}"), term=TERM)
    lines = [
        csla.request(t("10:00:10"), False, 40.0, eid="x"),
        csla.request(t("10:00:20"), True, 40.0, eid="x", source="customer"),
    ]
    _, out = csla.run(rules, lines, until=t("10:05:00"))
    assert csla.metric_at(out, "err", t("10:00:00"))["total"] == 2
    assert "duplicates" not in out.stats


def test_a_repeat_after_its_minute_closed_is_late_not_a_duplicate(csla: Any) -> None:
    """Dedup looks at buffered events only; once the minute closed the repeat is late."""
    rules = csla.ruleset(ERRORS, term=TERM, assessment=JUMPS)
    original = csla.request(t("10:00:10"), False, 40.0, eid="x")
    _, out = csla.run(
        rules,
        [],
        batches=[[original, csla.request(t("10:10:00"), True, 40.0)], [original]],
        until=t("10:15:00"),
    )
    assert [r["event_id"] for r in out.late] == ["x"]
    assert "duplicates" not in out.stats
    # counted once: 1 failed of 1 in 10:00–10:05
    assert csla.metric_at(out, "err", t("10:00:00"))["total"] == 1


# ── out of order within grace ───────────────────────────────────────────────────────────────
MIXED = "\n".join(
    [
        AVAIL,
        ERRORS,
        "- {id: lat, sli: latency, comparator: '<=', threshold: 300, percentile: 95, window: 5m}",
        "- {id: na, sli: node_availability, comparator: '>=', threshold: 99, window: 5m}",
    ]
)


def _mixed_events(csla: Any) -> list[tuple[int, bytes]]:
    """30 minutes of probes, requests and node states with outages: (event ms, line)."""
    rng = random.Random(7)
    base = csla.ms(t("10:00:00"))
    events = []
    for s in range(0, 30 * 60, 15):
        ms = base + s * 1000
        events.append((ms, csla.probe(ms, not 600 <= s < 780)))  # down 10:10–10:13
        events.append(
            (ms + 7000, csla.request(ms + 7000, rng.random() > 0.05, rng.expovariate(0.01)))
        )
    for ms, state in [(0, "up"), (1_000_000, "down"), (1_075_500, "up")]:
        events.append((base + ms, csla.node(base + ms, "n1", state)))
    return sorted(events, key=lambda e: e[0])


def test_out_of_order_within_grace_gives_the_same_result_as_in_order(csla: Any) -> None:
    rules = csla.ruleset(MIXED, term=TERM)
    events = _mixed_events(csla)
    in_order = [line for _, line in events]
    # each event arrives up to 4 min after events later than it (grace is 5 min): shuffled,
    # but none is late — arrival key = event time + U(0, 240 s)
    rng = random.Random(11)
    shuffled = [line for _, line in sorted(events, key=lambda e: e[0] + rng.uniform(0, 240_000))]
    assert shuffled != in_order
    _, expected = csla.run(rules, in_order, until=t("11:00:00"))
    for batch_size in (len(shuffled), 37):
        batches = [shuffled[i : i + batch_size] for i in range(0, len(shuffled), batch_size)]
        _, got = csla.run(rules, [], batches=batches, until=t("11:00:00"))
        assert got.late == []
        # the same records (listed in another order: sorted by id they are equal)
        csla.assert_same(csla.canonical(got), csla.canonical(expected))
    # the scenario is not trivial: the outage and the node failure show up
    # 30 probed minutes 10:00–10:29, of which 10:10, 10:11, 10:12 down → 27 good
    assert csla.metric_at(expected, "avail", t("10:00:00"))["good"] == 27
    assert csla.metric_at(expected, "na", t("10:15:00"))["good"] == 300_000 - 75_500


# ── events from the future ──────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("ahead_ms", "dead"),
    [
        (600_000, False),  # exactly 10 minutes ahead of the engine clock: accepted
        (600_001, True),  # 1 ms more: a dead letter (a producer clock is wrong), not late
    ],
)
def test_events_too_far_ahead_of_the_engine_clock_are_dead_letters(
    csla: Any, ahead_ms: int, dead: bool
) -> None:
    rules = csla.ruleset(AVAIL, term=TERM)
    now_ms = csla.ms(t("10:00:00"))
    line = csla.probe(now_ms + ahead_ms, True)
    _, out = csla.run(rules, [line], now_ms=now_ms)
    assert out.late == []
    if dead:
        (letter,) = out.dead
        assert letter["error"] == "event_time is more than 10 minutes ahead of the engine clock"
        assert letter["origin"] == "test:0" and letter["raw"] == line.decode()
        assert out.stats == {"events_in": 1, "dead_letters": 1}
    else:
        assert out.dead == [] and out.stats == {"events_in": 1, "accepted": 1}


# ── lines routed to another contract's partition (the Kafka worker's stage 2) ───────────────
def test_a_line_decoding_to_another_contract_than_its_route_is_dead_lettered(csla: Any) -> None:
    """``step(routed_to=…)``: stage 2 names the contract each line was routed to. A line whose
    ``contract_id`` decodes to another contract (it named its contract twice, differently)
    is dead-lettered with both names and its origin, never evaluated where another
    partition may own that contract's state; the others are evaluated as without the check."""
    from engine.core.pipeline import step
    from engine.core.state import EngineState

    rules = csla.ruleset(AVAIL, term=TERM)
    good = csla.probe(t("10:00:10"), True, eid="good")
    stray = csla.probe(t("10:00:20"), False, eid="stray")
    origin = ["t[0]@1", "t[0]@2"].__getitem__
    empty = EngineState.empty()
    _, checked = step(empty, [good, stray], origin, rules, csla.now_ms, None, ["c1", "c9"])
    _, alone = step(EngineState.empty(), [good], origin, rules, csla.now_ms)
    (dead,) = checked.dead
    assert dead["origin"] == "t[0]@2" and dead["raw"] == stray.decode()
    assert "contract_id 'c1' is not the contract 'c9' this line was routed to" in dead["error"]
    assert checked.stats == {**alone.stats, "events_in": 2, "dead_letters": 1}
    _, unchecked = step(EngineState.empty(), [good, stray], origin, rules, csla.now_ms)
    assert unchecked.dead == [] and unchecked.stats["accepted"] == 2
