"""Request SLIs (Table A.1 service response performance, model service monitoring).

Latency percentiles come from a mergeable log-bucket histogram and must lie within 1% of the
exact nearest-rank percentile (rank ⌈q/100 · n⌉ of the sorted samples, computed here
independently of the engine).  Error rate = failed / all requests of a window, in percent.
A window with fewer than ``min_requests`` requests is not judged (value null).  A breach
opens when a closed window violates the objective and resolves on a later compliant window,
under one id.  Instants are written in +08:00.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from typing import Any

import pytest

SECOND = 1000


def t(hms: str) -> str:
    return f"2026-03-10T{hms}+08:00"


def nearest_rank(samples: list[float], q: float) -> float:
    """Exact nearest-rank percentile: the ⌈q/100 · n⌉-th smallest sample."""
    ordered = sorted(samples)
    rank = math.ceil(Fraction(str(q)) / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def latency_rule(q: float, threshold: float = 800, min_requests: int = 1, tiers: str = "") -> str:
    return (
        "- id: lat\n  sli: latency\n  comparator: '<='\n"
        f"  threshold: {threshold}\n  percentile: {q}\n  window: 5m\n"
        f"  min_requests: {min_requests}\n" + tiers
    )


def spread(csla: Any, start: str, samples: list[float], ok: bool = True) -> list[bytes]:
    """Requests with these latencies, spread one per 250 ms from ``start``."""
    base = csla.ms(start)
    return [csla.request(base + i * 250, ok, v) for i, v in enumerate(samples)]


def _samples(kind: str, n: int) -> list[float]:
    rng = random.Random(f"{kind}-{n}")
    match kind:
        case "lognormal":
            return [round(rng.lognormvariate(5.0, 1.0), 3) for _ in range(n)]
        case "uniform":
            return [round(rng.uniform(1, 5000), 3) for _ in range(n)]
        case "bimodal":  # fast cache hits and slow cold starts
            return [
                round(rng.gauss(20, 2) if rng.random() < 0.9 else rng.gauss(2500, 300), 3)
                for _ in range(n)
            ]
        case "constant":
            return [123.456] * n
        case "tiny":  # sub-millisecond, including exact zeros
            return [round(rng.choice([0.0, 0.0005, 0.002, 0.3, 0.7]), 4) for _ in range(n)]
    raise AssertionError(kind)


@pytest.mark.parametrize("q", [50, 90, 95, 99, 99.9])
@pytest.mark.parametrize(
    ("kind", "n"),
    [("lognormal", 1000), ("uniform", 1000), ("bimodal", 1000), ("constant", 7), ("tiny", 200)],
)
def test_latency_percentile_within_one_percent_of_exact_nearest_rank(
    csla: Any, q: float, kind: str, n: int
) -> None:
    samples = _samples(kind, n)
    rules = csla.ruleset(latency_rule(q, threshold=10_000))
    # n ≤ 1000 requests 250 ms apart: all inside 10:00:00–10:04:10, one 5-minute window
    _, out = csla.run(rules, spread(csla, t("10:00:00"), samples), until=t("10:05:00"))
    metric = csla.metric_at(out, "lat", t("10:00:00"))
    exact = nearest_rank(samples, q)
    assert metric["total"] == n and metric["good"] is None
    if exact < 0.001:  # below the smallest log bucket: reported as 0
        assert metric["value"] == 0.0
    else:
        assert metric["value"] == pytest.approx(exact, rel=0.01)


def test_latency_of_the_period_merges_its_windows(csla: Any) -> None:
    """The period p99 (what compensation is decided on) is over all the period's samples."""
    tiers = "  compensation:\n    - {bound: 800, credit_percent: 5}\n"
    rules = csla.ruleset(latency_rule(99, tiers=tiers), assessment="period: rolling_days\ndays: 1")
    fast, slow = _samples("lognormal", 600), _samples("bimodal", 900)
    lines = spread(csla, t("10:00:00"), fast) + spread(csla, t("10:05:00"), slow)
    _, out = csla.run(rules, lines, until="2026-03-11T00:00:00+08:00")
    comp = csla.compensation(out, "lat")
    exact = nearest_rank(fast + slow, 99)  # rank ⌈0.99 · 1500⌉ = 1485
    assert comp["observed"] == pytest.approx(exact, rel=0.01)
    # each window on its own samples
    assert csla.metric_at(out, "lat", t("10:00:00"))["value"] == pytest.approx(
        nearest_rank(fast, 99), rel=0.01
    )
    assert csla.metric_at(out, "lat", t("10:05:00"))["value"] == pytest.approx(
        nearest_rank(slow, 99), rel=0.01
    )


def test_latency_breach_opens_on_a_violating_window_and_resolves_on_a_compliant_one(
    csla: Any,
) -> None:
    rules = csla.ruleset(latency_rule(99, threshold=800, min_requests=20))
    lines = (
        # 10:00–10:05: 100 requests, 2 of them at 2000 ms → rank ⌈99⌉ = 99th = 2000 > 800
        spread(csla, t("10:00:00"), [100.0] * 98 + [2000.0] * 2)
        # 10:05–10:10: 10 requests, all slow, but fewer than min_requests 20 → not judged
        + spread(csla, t("10:05:00"), [5000.0] * 10)
        # 10:10–10:15: 100 requests, one slow → the 99th of 100 is 100 ms ≤ 800: compliant
        + spread(csla, t("10:10:00"), [100.0] * 99 + [5000.0])
    )
    _, out = csla.run(rules, lines, until=t("10:15:00"))
    assert csla.metric_at(out, "lat", t("10:00:00"))["value"] == pytest.approx(2000, rel=0.01)
    skipped = csla.metric_at(out, "lat", t("10:05:00"))
    assert (skipped["value"], skipped["total"], skipped["compliant"]) == (None, 10, None)
    assert csla.metric_at(out, "lat", t("10:10:00"))["value"] == pytest.approx(100, rel=0.01)
    opened, resolved = out.breaches
    breach_id = "breach:c1:lat:2026-03-10T02:00:00Z:r1"  # the window it opened in, in UTC
    assert (opened["status"], opened["breach_id"]) == ("opened", breach_id)
    assert opened["detected_at"] == csla.iso(t("10:05:00"))
    assert opened["observed"] == pytest.approx(2000, rel=0.01)
    assert (resolved["status"], resolved["breach_id"]) == ("resolved", breach_id)
    assert resolved["detected_at"] == csla.iso(t("10:15:00"))


# ── error rate ──────────────────────────────────────────────────────────────────────────────
ERROR_RULE = (
    "- id: err\n  sli: error_rate\n  comparator: '<='\n  threshold: 1.0\n"
    "  window: 5m\n  min_requests: 20\n"
)


def requests(csla: Any, start: str, n: int, failed: int) -> list[bytes]:
    """``n`` requests 1 s apart from ``start``; the first ``failed`` of them fail."""
    base = csla.ms(start)
    return [csla.request(base + i * SECOND, i >= failed, 50.0) for i in range(n)]


def _error_run(csla: Any) -> Any:
    rules = csla.ruleset(ERROR_RULE)
    lines = (
        requests(csla, t("10:00:00"), 40, 2)  # 2 / 40 = 5% > 1 → violating
        + requests(csla, t("10:05:00"), 10, 5)  # 10 < min_requests 20 → not judged
        + requests(csla, t("10:10:00"), 40, 0)  # 0% → compliant
        + requests(csla, t("10:15:00"), 40, 1)  # 1 / 40 = 2.5% → violating again
        # 10:20–10:25: no request at all → not judged
    )
    return csla.run(rules, lines, until=t("10:25:00"))[1]


@pytest.mark.parametrize(
    ("start", "good", "total", "value", "compliant"),
    [
        ("10:00:00", 38, 40, 5.0, False),  # 2 / 40 = 5%
        ("10:05:00", 5, 10, None, None),  # 5 / 10 = 50% measured, but 10 < 20: not judged
        ("10:10:00", 40, 40, 0.0, True),
        ("10:15:00", 39, 40, 2.5, False),  # 1 / 40 = 2.5%
        ("10:20:00", 0, 0, None, None),  # no requests
    ],
)
def test_error_rate_per_window(
    csla: Any, start: str, good: int, total: int, value: float | None, compliant: bool | None
) -> None:
    metric = csla.metric_at(_error_run(csla), "err", t(start))
    assert (metric["good"], metric["total"]) == (good, total)
    assert metric["value"] == (pytest.approx(value) if value is not None else None)
    assert metric["compliant"] is compliant
    assert metric["metric_id"] == f"c1:err:{csla.iso(t(start))}:r1"


def test_error_rate_of_the_period_so_far(csla: Any) -> None:
    last = csla.metric_at(_error_run(csla), "err", t("10:20:00"))
    # every window counts toward the period, the unjudged one too:
    # failed 2 + 5 + 0 + 1 = 8 of 40 + 10 + 40 + 40 = 130 → 6.1538…%
    assert (last["period_good"], last["period_total"]) == (122, 130)
    assert last["period_value"] == pytest.approx(100 * 8 / 130)


def test_error_rate_breaches_open_and_resolve_with_stable_ids(csla: Any) -> None:
    out = _error_run(csla)
    first = "breach:c1:err:2026-03-10T02:00:00Z:r1"  # opened in window 10:00+08 = 02:00Z
    second = "breach:c1:err:2026-03-10T02:15:00Z:r1"  # opened in window 10:15+08
    assert [(b["breach_id"], b["status"], b["detected_at"]) for b in out.breaches] == [
        (first, "opened", csla.iso(t("10:05:00"))),
        # 10:05–10:10 is not judged: the breach stays open through it
        (first, "resolved", csla.iso(t("10:15:00"))),
        # the same objective breaches again: a new breach, a new id
        (second, "opened", csla.iso(t("10:20:00"))),
        # 10:20–10:25 has no requests: nothing resolves
    ]
    assert [b["observed"] for b in out.breaches] == [5.0, 0.0, 2.5]
    assert out.breaches[0]["evidence"]["window_bad"] == 2
    # the same input through a fresh state gives the same ids and records
    again = _error_run(csla)
    assert again.breaches == out.breaches
    assert again.metrics == out.metrics


def test_requests_outside_service_time_are_not_judged(csla: Any) -> None:
    """5×8 (Mon–Fri 09:00–17:00): Fri 2026-06-19 16:00–17:00 is judged, 17:00–18:00 is not."""
    rules = csla.ruleset(
        ERROR_RULE.replace("5m", "1h").replace("20", "1")
        + "- {id: lat, sli: latency, comparator: '<=', threshold: 100, percentile: 50,"
        " window: 1h}",
        service_time="preset: 5x8",
        term=("2026-06-19T00:00:00+08:00", "2027-01-01T00:00:00+08:00"),
    )
    base = csla.ms("2026-06-19T16:00:00+08:00")
    # one request a minute: 16:00–16:59 ok at 50 ms, 17:00–17:59 failed at 500 ms
    lines = [csla.request(base + i * 60_000, i < 60, 50.0 if i < 60 else 500.0) for i in range(120)]
    _, out = csla.run(rules, lines, until="2026-06-19T18:00:00+08:00")
    in_service = csla.metric_at(out, "err", "2026-06-19T16:00:00+08:00")
    assert (in_service["good"], in_service["total"], in_service["value"]) == (60, 60, 0.0)
    assert csla.metric_at(out, "lat", "2026-06-19T16:00:00+08:00")["value"] == pytest.approx(
        50, rel=0.01
    )
    # after 17:00 the 60 failed requests count for nothing: no value, no breach
    after = csla.metric_at(out, "err", "2026-06-19T17:00:00+08:00")
    assert (after["good"], after["total"], after["value"]) == (0, 0, None)
    assert csla.metric_at(out, "lat", "2026-06-19T17:00:00+08:00")["total"] == 0
    assert out.breaches == []
