"""A node's last ``node_state`` report before the contract term is its state at the term start
(Table A.1: node availability = online time / total time; README, Compute node availability).

Only the latest report per node before the term counts (event time; ties: the later arrival);
evaluation then starts at the term start; a node down at it has a failure from the term start;
a report from before the term that arrives after the term's first minute has closed is late
(it changes no closed minute); any other kind of event before the term is still a dead letter.
Hand-computed, to the millisecond; instants in +08:00, the term starts 2026-03-10 00:00.
"""

from __future__ import annotations

from typing import Any

import pytest

S = 1000
HOUR = 3600 * S
DAY = "period: rolling_days\ndays: 1"  # one local day per period, from the term start
TERM = ("2026-03-10T00:00:00+08:00", "2027-03-10T00:00:00+08:00")
TERM_START_UTC = "2026-03-09T16:00:00Z"


def t(hms: str, day: str = "2026-03-10") -> str:
    return f"{day}T{hms}+08:00"


def before(hms: str) -> str:
    return t(hms, "2026-03-09")


def objective(oid: str, sli: str, comparator: str, threshold: float) -> str:
    return (
        f"- id: {oid}\n  sli: {sli}\n  comparator: '{comparator}'\n"
        f"  threshold: {threshold}\n  window: 1h\n"
    )


NODES = "".join(
    [
        objective("na", "node_availability", ">=", 99.0),
        objective("fc", "failure_count", "<=", 5),
        objective("mttr", "mttr", "<=", 60),
        objective("mtbf", "mtbf", ">=", 1),
    ]
)


@pytest.fixture
def rules(csla: Any) -> Any:
    return csla.ruleset(NODES, assessment=DAY, term=TERM)


def test_a_node_up_since_before_the_term_with_no_report_in_it(csla: Any, rules: Any) -> None:
    """The edge: the only report is from the day before; the node counts from the term start
    (before: it was a dead letter and the node did not count at all)."""
    _, out = csla.run(rules, [csla.node(before("12:00:00"), "n1", "up")], until=t("02:00:00"))
    assert out.dead == [] and out.late == []
    windows = [(m["window_start"], m["good"], m["total"]) for m in csla.metrics(out, "na")]
    assert windows == [
        (TERM_START_UTC, HOUR, HOUR),  # 00:00–01:00: up 3 600 000 ms of 3 600 000
        ("2026-03-09T17:00:00Z", HOUR, HOUR),
    ]


def test_the_latest_report_before_the_term_wins_whatever_the_arrival_order(
    csla: Any, rules: Any
) -> None:
    lines = [
        csla.node(before("20:00:00"), "n1", "up"),  # the latest before the term
        csla.node(before("10:00:00"), "n1", "down"),  # older, arriving later: superseded
        csla.node(t("00:30:00"), "n1", "down"),
        csla.node(t("00:40:00"), "n1", "up"),
    ]
    _, out = csla.run(rules, lines, until=t("01:00:00"))
    metric = csla.metric_at(out, "na", t("00:00:00"))
    # up 00:00–00:30 and 00:40–01:00 = 3000 s of 3600 s
    assert (metric["good"], metric["total"]) == (3000 * S, HOUR)
    assert csla.metric_at(out, "fc", t("00:00:00"))["value"] == 1.0  # only 00:30–00:40
    assert csla.metric_at(out, "mttr", t("00:00:00"))["value"] == 10.0


def test_a_node_down_since_before_the_term_fails_from_the_term_start(csla: Any, rules: Any) -> None:
    lines = [csla.node(before("23:00:00"), "n1", "down"), csla.node(t("00:20:00"), "n1", "up")]
    _, out = csla.run(rules, lines, until=t("01:00:00"))
    metric = csla.metric_at(out, "na", t("00:00:00"))
    # down 00:00–00:20 = 1200 s (the hour before the term is not the contract's) → 2400 s up
    assert (metric["good"], metric["total"]) == (2400 * S, HOUR)
    assert csla.metric_at(out, "fc", t("00:00:00"))["value"] == 1.0
    assert csla.metric_at(out, "mttr", t("00:00:00"))["value"] == 20.0
    # availability: 1200 s down of the day's 86 400 s → at best 98.61 % < 99: the breach opens
    # at 01:00, its period starting at the term start, never before
    (breach,) = out.breaches
    assert (breach["objective_id"], breach["window_start"]) == ("na", TERM_START_UTC)
    assert breach["detected_at"] == "2026-03-09T17:00:00Z"


def test_a_report_at_the_term_start_supersedes_the_one_before(csla: Any, rules: Any) -> None:
    lines = [csla.node(before("23:00:00"), "n1", "down"), csla.node(t("00:00:00"), "n1", "up")]
    _, out = csla.run(rules, lines, until=t("01:00:00"))
    metric = csla.metric_at(out, "na", t("00:00:00"))
    assert (metric["good"], metric["total"]) == (HOUR, HOUR)
    assert csla.metric_at(out, "fc", t("00:00:00"))["value"] == 0.0  # no zero-length failure


def test_mtbf_counts_the_operating_time_from_the_term_start(csla: Any, rules: Any) -> None:
    lines = [
        csla.node(before("08:00:00"), "n1", "up"),
        csla.node(t("12:00:00"), "n1", "down"),
        csla.node(t("13:00:00"), "n1", "up"),
    ]
    _, out = csla.run(rules, lines, until=t("00:00:00", "2026-03-11"))
    last = csla.last_metric_of_period(out, "mtbf", t("00:00:00"))
    # up 00:00–12:00 and 13:00–24:00 = 23 h over 1 failure = 23 h (from 12:00 only: 11 h)
    assert last["period_value"] == pytest.approx(23.0)
    na = csla.last_metric_of_period(out, "na", t("00:00:00"))
    assert (na["period_good"], na["period_total"]) == (23 * HOUR, 24 * HOUR)


def _late_case(csla: Any) -> list[bytes]:
    # n1 every 2 minutes 00:00 … 01:10 (one event moves progress by max_skew = 2 min at most):
    # progress 01:10 → watermark 01:05; then n2's report from before the term
    n1 = [csla.node(csla.ms(t("00:00:00")) + k * 120 * S, "n1", "up") for k in range(36)]
    return [*n1, csla.node(before("12:00:00"), "n2", "up")]


@pytest.mark.parametrize("split", [False, True])
def test_a_report_before_the_term_arriving_after_its_first_minute_closed_is_late(
    csla: Any, rules: Any, split: bool
) -> None:
    lines = _late_case(csla)
    batches = [lines[:-1], lines[-1:]] if split else None
    _, out = csla.run(rules, lines, batches=batches, until=t("02:00:00"))
    (late,) = out.late
    assert late["event_time"] == "2026-03-09T04:00:00Z"  # its own time, not the term start
    assert late["watermark"] == "2026-03-09T17:05:00Z"  # 01:05 local, however it was cut
    assert late["lateness_ms"] == 13 * HOUR + 5 * 60 * S  # 12:00 the day before → 01:05
    metric = csla.metric_at(out, "na", t("00:00:00"))
    assert (metric["good"], metric["total"]) == (HOUR, HOUR)  # n1 only: nothing changed


def test_the_same_outputs_however_the_input_is_cut(csla: Any, rules: Any) -> None:
    lines = [
        csla.node(before("20:00:00"), "n1", "up"),
        csla.node(before("21:00:00"), "n2", "down"),
        csla.node(before("10:00:00"), "n1", "down"),
        csla.node(t("00:05:00"), "n3", "up"),
        csla.node(before("22:00:00"), "n2", "up"),
        csla.node(t("00:30:00"), "n1", "down"),
        csla.node(t("01:30:00"), "n1", "up"),
        # n3's report from before the term comes after the watermark passed 00:01 (progress
        # 00:06: each event moves it by max_skew = 2 min at most): late, it changes nothing
        csla.node(before("23:00:00"), "n3", "down"),
        csla.node(t("02:30:00"), "n2", "down"),
    ]
    _, whole = csla.run(rules, lines, until=t("03:00:00"))
    for cut in range(1, len(lines)):
        _, parts = csla.run(rules, lines, batches=[lines[:cut], lines[cut:]], until=t("03:00:00"))
        csla.assert_same(csla.canonical(parts), csla.canonical(whole))
    # n1 up 00:00–00:30, n2 up (22:00 wins over 21:00), n3 up from 00:05 (first report)
    metric = csla.metric_at(out := whole, "na", t("00:00:00"))
    assert (metric["good"], metric["total"]) == ((1800 + 3600 + 3300) * S, (3600 * 2 + 3300) * S)
    assert [(r["event_id"], r["event_time"]) for r in out.late] == [("e8", "2026-03-09T15:00:00Z")]


def test_other_events_before_the_term_are_still_dead_letters(csla: Any) -> None:
    rules = csla.ruleset(
        NODES + objective("sa", "service_availability", ">=", 99.0), assessment=DAY, term=TERM
    )
    lines = [csla.probe(before("23:59:30"), True), csla.node(before("23:00:00"), "n1", "up")]
    _, out = csla.run(rules, lines, until=t("01:00:00"))
    assert [d["error"] for d in out.dead] == ["event_time is outside the contract term (§6.1.5)"]
    metric = csla.metric_at(out, "na", t("00:00:00"))
    assert (metric["good"], metric["total"]) == (HOUR, HOUR)


def test_the_owner_named_before_the_term_is_billed_from_the_term_start(csla: Any) -> None:
    """§6.1.7: a node's time goes to the tenant/project its reports name; the latest report
    before the term that names one holds at the term start (a later one naming none keeps it)."""
    rules = csla.ruleset(
        objective("na", "node_availability", ">=", 99.0),
        metering="unit: card_hour\nunit_price: 10.00\ncards_per_node: 2",
        assessment=DAY,
        term=TERM,
    )
    lines = [
        csla.node(before("08:00:00"), "n1", "up", tenant_id="old"),
        csla.node(before("09:00:00"), "n1", "up", tenant_id="acme", project_id="llm"),
        csla.node(before("10:00:00"), "n1", "up"),  # names no owner: acme/llm stays
        csla.node(t("18:00:00"), "n1", "up", tenant_id="beta"),
    ]
    _, out = csla.run(rules, lines, until=t("00:00:00", "2026-03-11"))
    (usage,) = [u for u in out.usage if u["record"] == "period_usage"]
    # up 24 h from the term start × 2 cards = 48 card-hours = 480.00
    assert (usage["node_hours"], usage["card_hours"], usage["fee"]) == ("24", "48", "480.00")
    owners = {(o["tenant_id"], o["project_id"]): o["node_hours"] for o in usage["by_owner"]}
    assert owners == {("acme", "llm"): "18", ("beta", "-"): "6"}  # 00:00–18:00, 18:00–24:00
