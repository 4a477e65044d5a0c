"""``period_good`` / ``period_total`` of metrics and the period counts in compensation evidence
are in the SLI's own units (README, Outputs): reliability –/failures, error rate ok/all
requests over evaluated minutes, latency –/samples.  Hand-computed; instants in +08:00.
"""

from __future__ import annotations

from typing import Any

DAY = "period: rolling_days\ndays: 1"  # one local day per period, from the term start
TERM = ("2026-03-10T00:00:00+08:00", "2027-03-10T00:00:00+08:00")


def t(hms: str, day: str = "2026-03-10") -> str:
    return f"{day}T{hms}+08:00"


def objective(oid: str, sli: str, comparator: str, threshold: float, extra: str = "") -> str:
    return (
        f"- id: {oid}\n  sli: {sli}\n  comparator: '{comparator}'\n"
        f"  threshold: {threshold}\n  window: 1h\n" + extra
    )


TIERS = "  compensation:\n    - {bound: %s, credit_percent: 10}\n"


def test_reliability_period_counts_are_none_over_failures(csla: Any) -> None:
    """Edge first: before any failure the period total is 0 failures (not null); then it
    counts the failures of the period so far, like the window's total."""
    rules = csla.ruleset(
        objective("fc", "failure_count", "<=", 5) + objective("mttr", "mttr", "<=", 60),
        assessment=DAY,
        term=TERM,
    )
    lines = [
        csla.node(t("09:00:00"), "n1", "up"),
        csla.node(t("10:15:00"), "n1", "down"),  # F1 10:15–10:20
        csla.node(t("10:20:00"), "n1", "up"),
        csla.node(t("11:30:00"), "n1", "down"),  # F2 11:30–11:40
        csla.node(t("11:40:00"), "n1", "up"),
    ]
    _, out = csla.run(rules, lines, until=t("12:00:00"))
    for oid in ("fc", "mttr"):
        counts = [
            (m["window_start"], m["good"], m["total"], m["period_good"], m["period_total"])
            for m in csla.metrics(out, oid)
        ]
        assert counts == [
            (csla.iso(t("09:00:00")), None, 0, None, 0),
            (csla.iso(t("10:00:00")), None, 1, None, 1),
            (csla.iso(t("11:00:00")), None, 2, None, 2),
        ]
    # MTTR at 12:00: (5 + 10) min / 2 = 7.5 min
    assert csla.metric_at(out, "mttr", t("11:00:00"))["period_value"] == 7.5


def test_reliability_compensation_evidence_lists_the_failures(csla: Any) -> None:
    rules = csla.ruleset(objective("mttr", "mttr", "<=", 4, TIERS % 4), assessment=DAY, term=TERM)
    lines = [
        csla.node(t("09:00:00"), "n1", "up"),
        csla.node(t("10:15:00"), "n1", "down"),
        csla.node(t("10:20:00"), "n1", "up"),
    ]
    _, out = csla.run(rules, lines, until=t("00:00:00", "2026-03-11"))
    comp = csla.compensation(out, "mttr")
    assert comp["observed"] == 5.0  # one failure of 5 min > 4 → the 10 % tier
    assert (comp["tier"], comp["credit_percent"]) == (0, 10.0)
    evidence = comp["evidence"]
    assert "period_good" not in evidence and "period_evaluated" not in evidence
    assert evidence["failures"] == [
        {"node": "n1", "start": csla.iso(t("10:15:00")), "end": csla.iso(t("10:20:00"))}
    ]


def test_error_rate_compensation_evidence_counts_requests_and_evaluated_minutes(
    csla: Any,
) -> None:
    rules = csla.ruleset(
        objective("err", "error_rate", "<=", 1.0, TIERS % 1.0), assessment=DAY, term=TERM
    )
    lines = [
        csla.request(t("10:00:10"), True, 50),
        csla.request(t("10:00:20"), True, 50),
        csla.request(t("10:30:00"), True, 50),
        csla.request(t("23:59:00"), False, 50),
    ]
    _, out = csla.run(rules, lines, until=t("00:00:00", "2026-03-11"))
    comp = csla.compensation(out, "err")
    # 1 failed of 4 = 25 % > 1 % → the 10 % tier
    assert comp["observed"] == 25.0
    evidence = comp["evidence"]
    # evaluation starts at the first event's minute (10:00); the period ends at 24:00:
    # 14 h = 840 evaluated minutes
    assert (evidence["period_good"], evidence["period_bad"]) == (3, 1)
    assert evidence["period_evaluated"] == 840
    last = csla.last_metric_of_period(out, "err", t("00:00:00"))
    assert (last["period_good"], last["period_total"]) == (3, 4)


def test_latency_compensation_evidence_counts_the_period_samples(csla: Any) -> None:
    rules = csla.ruleset(
        "- id: lat\n  sli: latency\n  comparator: '<='\n  threshold: 100\n  percentile: 50\n"
        "  window: 1h\n" + TIERS % 200,
        assessment=DAY,
        term=TERM,
    )
    lines = [csla.request(t(f"10:0{i}:00"), True, 50.0) for i in range(3)]
    _, out = csla.run(rules, lines, until=t("00:00:00", "2026-03-11"))
    evidence = csla.compensation(out, "lat")["evidence"]
    assert evidence["period_samples"] == 3
    assert "period_good" not in evidence
    last = csla.last_metric_of_period(out, "lat", t("00:00:00"))
    assert (last["period_good"], last["period_total"]) == (None, None)
