"""``requests: all | successful`` of latency objectives (README, Latency percentiles).

``all`` (the default, the engine's behaviour before the option existed): every request (or
probe) with a ``latency_ms`` is a sample, a failed one at its latency.  ``successful``: only
``ok: true`` samples.  Values are nearest-rank (rank ⌈q·n/100⌉ of the sorted samples) within
the histogram's 0.5 %; instants in +08:00.
"""

from __future__ import annotations

from typing import Any

import pytest

from engine.ruleset import load_rule_text

REL = 0.005  # the histogram's bound on the distance to the exact nearest-rank value


def t(hms: str) -> str:
    return f"2026-03-10T{hms}+08:00"


def rule(requests: str | None, source: str = "request") -> str:
    return (
        "- id: lat\n  sli: latency\n  comparator: '<='\n  threshold: 500\n  percentile: 50\n"
        f"  window: 5m\n  source: {source}\n"
        + (f"  requests: {requests}\n" if requests is not None else "")
    )


def _mixed(csla: Any) -> list[bytes]:
    # ok 10 ms, 20 ms; failed 1000, 2000, 3000 ms (timeouts) in the window 10:00–10:05
    return [
        csla.request(t("10:00:01"), True, 10.0),
        csla.request(t("10:00:02"), False, 1000.0),
        csla.request(t("10:00:03"), True, 20.0),
        csla.request(t("10:00:04"), False, 2000.0),
        csla.request(t("10:00:05"), False, 3000.0),
    ]


def test_only_failed_requests_and_successful_leaves_the_window_unjudged(csla: Any) -> None:
    rules = csla.ruleset(rule("successful"))
    lines = [csla.request(t("10:00:01"), False, 900.0), csla.request(t("10:00:02"), False, 800.0)]
    _, out = csla.run(rules, lines, until=t("10:05:00"))
    metric = csla.metric_at(out, "lat", t("10:00:00"))
    # no sample left: fewer than min_requests (1) → not judged, no breach
    assert (metric["value"], metric["total"], metric["compliant"]) == (None, 0, None)
    assert out.breaches == []


@pytest.mark.parametrize(
    ("requests", "value", "samples", "compliant"),
    [
        # all: n = 5, rank ⌈0.5·5⌉ = 3 → 10, 20, [1000], 2000, 3000 → 1000 ms > 500: breach
        (None, 1000.0, 5, False),
        ("all", 1000.0, 5, False),
        # successful: n = 2, rank ⌈0.5·2⌉ = 1 → [10], 20 → 10 ms ≤ 500
        ("successful", 10.0, 2, True),
    ],
)
def test_which_requests_the_percentile_reads(
    csla: Any, requests: str | None, value: float, samples: int, compliant: bool
) -> None:
    rules = csla.ruleset(rule(requests))
    _, out = csla.run(rules, _mixed(csla), until=t("10:05:00"))
    metric = csla.metric_at(out, "lat", t("10:00:00"))
    assert metric["value"] == pytest.approx(value, rel=REL)
    assert (metric["total"], metric["compliant"]) == (samples, compliant)


def test_default_is_all_and_changes_nothing(csla: Any) -> None:
    """No ``requests`` gives the same outputs, byte for byte, as ``requests: all``."""
    lines = _mixed(csla)
    _, implicit = csla.run(csla.ruleset(rule(None)), lines, until=t("10:10:00"))
    _, explicit = csla.run(csla.ruleset(rule("all")), lines, until=t("10:10:00"))
    csla.assert_same(csla.canonical(implicit), csla.canonical(explicit))


def test_successful_probes(csla: Any) -> None:
    rules = csla.ruleset(rule("successful", source="probe"))
    lines = [
        csla.probe(t("10:00:01"), True, latency_ms=30.0),
        csla.probe(t("10:00:02"), False, latency_ms=5000.0),
        csla.probe(t("10:00:03"), True, latency_ms=40.0),
    ]
    _, out = csla.run(rules, lines, until=t("10:05:00"))
    metric = csla.metric_at(out, "lat", t("10:00:00"))
    # n = 2 ok probes, rank ⌈0.5·2⌉ = 1 → 30 ms
    assert metric["value"] == pytest.approx(30.0, rel=REL)
    assert metric["total"] == 2


@pytest.mark.parametrize(
    ("objective", "message"),
    [
        (
            "- id: err\n  sli: error_rate\n  comparator: '<='\n  threshold: 1\n"
            "  requests: successful\n",
            "requests does not apply to sli: error_rate",
        ),
        (rule("successful", source="network"), "requests: successful needs source request or"),
        (rule("successful", source="storage_io"), "storage_io samples carry no ok"),
        (rule("sometimes"), "objectives[0].requests"),
    ],
)
def test_requests_is_validated(csla: Any, objective: str, message: str) -> None:
    result = load_rule_text(csla.rule_text(objective), "c1.yaml")
    errors = [str(issue) for issue in result.issues if issue.is_error]
    assert any(message in error for error in errors), errors


def test_requests_all_is_allowed_on_any_latency_source(csla: Any) -> None:
    for source in ("request", "probe", "storage_io", "network"):
        csla.ruleset(rule("all", source=source))  # fails the test on any issue
