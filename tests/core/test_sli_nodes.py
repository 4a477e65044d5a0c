"""Compute node availability and service reliability (Table A.1): hand-computed to the ms.

Node availability = node up time / node time known, summed over nodes, from ``node_state``
intervals (a node's state is unknown before its first event and counts for nothing).  A
failure is a node going ``down`` until it leaves ``down``; failure count, MTTR (restoration
time / restored failures, minutes), MTBF (operating time / failures, hours) and max recovery
(longest failure so far, minutes; an ongoing one counts up to the window end).  An outage
across a period edge is split at the edge: each period sees its own piece.

``good`` / ``total`` of a node metric are node-milliseconds.  Instants are written in +08:00.
"""

from __future__ import annotations

from typing import Any

import pytest

S = 1000  # ms per second
DAY = "period: rolling_days\ndays: 1"  # one local day per period (anchored at the term start)


def objective(oid: str, sli: str, comparator: str, threshold: float, extra: str = "") -> str:
    return (
        f"- id: {oid}\n  sli: {sli}\n  comparator: '{comparator}'\n"
        f"  threshold: {threshold}\n  window: 1h\n" + extra
    )


def t(hms: str, day: str = "2026-03-10") -> str:
    return f"{day}T{hms}+08:00"


# ── node availability to the millisecond, window 10:00–11:00 ────────────────────────────────
NODE_CASES = [
    pytest.param(
        [("10:00:00", "n1", "up"), ("10:15:20", "n1", "down"), ("10:17:50", "n1", "up")],
        False,
        # down 10:15:20–10:17:50 = 150 s → up 3600 − 150 = 3450 s of 3600 → 95.8333…%
        (3450 * S, 3600 * S),
        id="one-outage",
    ),
    pytest.param(
        [("10:00:00", "n1", "up"), ("10:15:20.500", "n1", "down"), ("10:15:21.250", "n1", "up")],
        False,
        # down 750 ms → 3 599 250 ms of 3 600 000
        (3600 * S - 750, 3600 * S),
        id="sub-second-outage",
    ),
    pytest.param(
        [
            ("10:00:00", "n1", "up"),
            ("10:00:00", "n2", "up"),  # sent in event-time order, else it would be late
            ("10:15:20", "n1", "down"),
            ("10:17:50", "n1", "up"),
        ],
        False,
        # n1 3450 s + n2 3600 s = 7050 s of 7200 s → 97.9166…%
        (7050 * S, 7200 * S),
        id="two-nodes",
    ),
    pytest.param(
        [("10:30:00", "n1", "up"), ("10:40:00", "n1", "down")],
        False,
        # unknown before 10:30: known 10:30–11:00 = 1800 s, down 10:40–11:00 = 1200 s
        # → 600 s up of 1800 s = 33.33…%; the down state carries to the window end
        (600 * S, 1800 * S),
        id="unknown-before-first-event",
    ),
    pytest.param(
        [("10:00:00", "n1", "up"), ("10:10:00", "n1", "degraded"), ("10:20:00", "n1", "up")],
        False,
        # degraded counts as up unless degraded_is_down → 3600 of 3600
        (3600 * S, 3600 * S),
        id="degraded-is-up",
    ),
    pytest.param(
        [("10:00:00", "n1", "up"), ("10:10:00", "n1", "degraded"), ("10:20:00", "n1", "up")],
        True,
        # degraded 10:10–10:20 = 600 s down → 3000 / 3600 = 83.33…%
        (3000 * S, 3600 * S),
        id="degraded-is-down",
    ),
    pytest.param(
        [("10:00:00", "n1", "down"), ("10:20:00", "n1", "down"), ("10:30:00", "n1", "up")],
        False,
        # a repeated "down" changes nothing: down 10:00–10:30 = 1800 s → 50%
        (1800 * S, 3600 * S),
        id="repeated-state",
    ),
]


@pytest.mark.parametrize(("events", "degraded_is_down", "expected"), NODE_CASES)
def test_node_availability_to_the_millisecond(
    csla: Any,
    events: list[tuple[str, str, str]],
    degraded_is_down: bool,
    expected: tuple[int, int],
) -> None:
    extra = f"  degraded_is_down: {str(degraded_is_down).lower()}\n"
    rules = csla.ruleset(objective("na", "node_availability", ">=", 99.0, extra), assessment=DAY)
    lines = [csla.node(t(hms), node, state) for hms, node, state in events]
    _, out = csla.run(rules, lines, until=t("11:00:00"))
    assert out.late == []
    metric = csla.metric_at(out, "na", t("10:00:00"))
    good, total = expected
    assert (metric["good"], metric["total"]) == (good, total)
    assert metric["value"] == pytest.approx(100 * good / total)
    assert metric["coverage"] == 1.0


# ── reliability: failures, MTTR, MTBF, failure count, max recovery ──────────────────────────
# Nodes n1 and n2 come up at 00:00 of Tue 2026-03-10 (a rolling 1-day period):
#   F1 n1 down 10:15:20 → up 10:17:50 (150 s = 2.5 min)
#   F2 n2 down 10:30:00 → up 10:40:00 (600 s = 10 min)
#   F3 n1 down 11:00:00 → up 11:01:00 (60 s = 1 min)
RELIABILITY = "\n".join(
    [
        objective("na", "node_availability", ">=", 99.0),
        objective("fc", "failure_count", "<=", 2),
        objective("mttr", "mttr", "<=", 5),
        objective("mtbf", "mtbf", ">=", 20),
        objective("maxrec", "max_recovery", "<=", 5),
    ]
)


def _reliability_lines(csla: Any) -> list[bytes]:
    return [
        csla.node(t("00:00:00"), "n1", "up"),
        csla.node(t("00:00:00"), "n2", "up"),
        csla.node(t("10:15:20"), "n1", "down"),
        csla.node(t("10:17:50"), "n1", "up"),
        csla.node(t("10:30:00"), "n2", "down"),
        csla.node(t("10:40:00"), "n2", "up"),
        csla.node(t("11:00:00"), "n1", "down"),
        csla.node(t("11:01:00"), "n1", "up"),
    ]


@pytest.mark.parametrize(
    ("oid", "hour", "value"),
    [
        # by 11:00: F1, F2 (F3 starts at 11:00, not before it)
        ("fc", "10:00:00", 2.0),
        ("fc", "11:00:00", 3.0),  # F1, F2, F3
        ("mttr", "10:00:00", 6.25),  # (150 + 600) s / 2 = 375 s = 6.25 min
        ("mttr", "11:00:00", 4.5),  # (150 + 600 + 60) s / 3 = 270 s = 4.5 min
        ("maxrec", "09:00:00", 0.0),  # no failure yet
        ("maxrec", "10:00:00", 10.0),  # F2 = 10 min
        ("maxrec", "11:00:00", 10.0),
        ("mttr", "09:00:00", None),  # nothing restored yet: no value
        # node availability 10–11: n1 down 150 s, n2 down 600 s → 6450 / 7200 = 89.583…%
        ("na", "10:00:00", 100 * 6450 / 7200),
        # 11–12: n1 down 60 s → 7140 / 7200 = 99.166…%
        ("na", "11:00:00", 100 * 7140 / 7200),
    ],
)
def test_reliability_per_window(csla: Any, oid: str, hour: str, value: float | None) -> None:
    rules = csla.ruleset(RELIABILITY, assessment=DAY)
    _, out = csla.run(rules, _reliability_lines(csla), until=t("12:00:00"))
    metric = csla.metric_at(out, oid, t(hour))
    if value is None:
        assert metric["value"] is None
    else:
        assert metric["value"] == pytest.approx(value)


def test_reliability_at_period_close_and_its_breaches(csla: Any) -> None:
    rules = csla.ruleset(RELIABILITY, assessment=DAY)
    _, out = csla.run(rules, _reliability_lines(csla), until=t("00:00:00", "2026-03-11"))
    breaches = {(b["objective_id"], b["status"]): b for b in out.breaches}
    period = ("2026-03-09T16:00:00Z", "2026-03-10T16:00:00Z")  # 03-10 00:00+08 → 03-11 00:00+08

    # failure count ≤ 2: the third failure (11:00) makes it certain at the end of 11–12
    fc = breaches[("fc", "opened")]
    assert (fc["detected_at"], fc["observed"]) == (csla.iso(t("12:00:00")), 3.0)
    assert (fc["window_start"], fc["window_end"]) == period
    assert [f["node"] for f in fc["evidence"]["failures"]] == ["n1", "n2", "n1"]
    # max recovery ≤ 5 min: F2 (10 min) is known when 10–11 closes
    maxrec = breaches[("maxrec", "opened")]
    assert (maxrec["detected_at"], maxrec["observed"]) == (csla.iso(t("11:00:00")), 10.0)

    # MTBF: operating time = n1 (86 400 − 150 − 60 s) + n2 (86 400 − 600 s) = 171 990 s
    # = 47.775 h over 3 failures = 15.925 h < 20 → breach decided at period close
    mtbf = breaches[("mtbf", "opened")]
    assert mtbf["observed"] == pytest.approx(171_990 / 3600 / 3)
    assert mtbf["detected_at"] == period[1]
    # MTTR 4.5 min ≤ 5 → no breach
    assert ("mttr", "opened") not in breaches
    # every period breach resolves at the period close, with the final value
    for oid in ("fc", "maxrec", "mtbf"):
        resolved = breaches[(oid, "resolved")]
        assert resolved["breach_id"] == breaches[(oid, "opened")]["breach_id"]
        assert resolved["detected_at"] == period[1]
    assert breaches[("fc", "resolved")]["observed"] == 3.0

    # the period's node availability: 171 990 s up of 2 × 86 400 s = 99.53125%
    last = csla.last_metric_of_period(out, "na", t("00:00:00"))
    assert (last["period_good"], last["period_total"]) == (171_990 * S, 172_800 * S)
    assert last["period_value"] == pytest.approx(99.53125)


def test_ongoing_failure_counts_toward_max_recovery_at_each_window_end(csla: Any) -> None:
    rules = csla.ruleset(
        objective("maxrec", "max_recovery", "<=", 5).replace("1h", "5m"), assessment=DAY
    )
    lines = [
        csla.node(t("10:00:00"), "n1", "up"),
        csla.node(t("10:50:00"), "n1", "down"),
        csla.node(t("11:20:00"), "n1", "up"),
    ]
    _, out = csla.run(rules, lines, until=t("11:30:00"))
    # still down at 10:55: 5 min so far, ≤ 5 → compliant
    assert csla.metric_at(out, "maxrec", t("10:50:00"))["value"] == 5.0
    # at 11:00: 10 min so far > 5 → the breach opens now, not when the node comes back
    assert csla.metric_at(out, "maxrec", t("10:55:00"))["value"] == 10.0
    opened = out.breaches[0]
    assert (opened["status"], opened["detected_at"]) == ("opened", csla.iso(t("11:00:00")))
    # restored at 11:20 → 30 min in the window 11:20–11:25
    assert csla.metric_at(out, "maxrec", t("11:20:00"))["value"] == 30.0


# ── an outage across the period edge (calendar month, Asia/Shanghai) ────────────────────────
def test_outage_across_the_month_edge_is_split_at_the_edge(csla: Any) -> None:
    tiers = "  compensation:\n    - {bound: 99.0, credit_percent: 10}\n"
    rules = csla.ruleset(
        "\n".join(
            [
                objective("na", "node_availability", ">=", 99.0, tiers),
                objective("fc", "failure_count", "<=", 5),
                objective("mttr", "mttr", "<=", 60),
                objective("maxrec", "max_recovery", "<=", 60),
            ]
        )
    )
    lines = [
        csla.node("2026-10-31T23:00:00+08:00", "n1", "up"),
        csla.node("2026-10-31T23:50:00+08:00", "n1", "down"),
        csla.node("2026-11-01T00:10:00+08:00", "n1", "up"),
    ]
    _, out = csla.run(rules, lines, until="2026-11-01T01:00:00+08:00")
    october, november = "2026-10-31T23:00:00+08:00", "2026-11-01T00:00:00+08:00"

    # October's last hour: up 23:00–23:50 = 3000 s of 3600 s → 83.33…%
    na_oct = csla.metric_at(out, "na", october)
    assert (na_oct["good"], na_oct["total"]) == (3000 * S, 3600 * S)
    assert na_oct["period_end"] == "2026-10-31T16:00:00Z"
    # the October piece: one failure, 10 min long at the edge, not restored in October
    assert csla.metric_at(out, "fc", october)["value"] == 1.0
    assert csla.metric_at(out, "maxrec", october)["value"] == 10.0
    assert csla.metric_at(out, "mttr", october)["value"] is None
    comp = csla.compensation(out, "na")  # October closes: 3000 / 3600 = 83.33% < 99 → 10%
    assert comp["period_end"] == "2026-10-31T16:00:00Z"
    assert comp["observed"] == pytest.approx(100 * 3000 / 3600)
    assert comp["credit_amount"] == "100.00"

    # November's first hour: down 00:00–00:10 = 600 s → 3000 / 3600
    na_nov = csla.metric_at(out, "na", november)
    assert (na_nov["good"], na_nov["total"]) == (3000 * S, 3600 * S)
    assert na_nov["period_start"] == "2026-10-31T16:00:00Z"
    # the November piece starts at the edge: 00:00 → 00:10 = 10 min, restored in November
    assert csla.metric_at(out, "fc", november)["value"] == 1.0
    assert csla.metric_at(out, "maxrec", november)["value"] == 10.0
    assert csla.metric_at(out, "mttr", november)["value"] == 10.0
