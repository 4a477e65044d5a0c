"""Regression (was a bug): with a rolling_days period anchored at a term start that is not local midnight, the
first (clipped) window of each period loses its latency samples.

evaluate._objective_range clips a window to the period: [max(ws, period_start), ...), but
pipeline._latency keys the histogram partials by the *unclipped* window_bounds() start.
_close_window then looks up ``latency_windows[(objective, acc.start)]`` with the clipped
start (10:30) and finds nothing → value None, total 0; the samples are merged into the
period containing the unclipped start (10:00, the previous period) and never count.
Error rate in the same window counts the 30 requests.  (windows.py's docstring assumes
periods start at local midnight; rolling periods anchored at the term start need not.)
"""

from typing import Any


def test_clipped_first_window_keeps_its_latency_samples(csla: Any) -> None:
    rules = csla.ruleset(
        "- {id: lat, sli: latency, comparator: '<=', threshold: 100, percentile: 50,"
        " window: 1h, compensation: [{bound: 100, credit_percent: 5}]}\n"
        "- {id: err, sli: error_rate, comparator: '<=', threshold: 1, window: 1h}",
        assessment="period: rolling_days\ndays: 1",
        term=("2026-03-10T10:30:00+08:00", "2027-01-01T00:00:00+08:00"),
    )
    base = csla.ms("2026-03-10T10:30:00+08:00")
    lines = [csla.request(base + i * 60_000, True, 50.0) for i in range(90)]
    _, out = csla.run(rules, lines, until="2026-03-11T10:30:00+08:00")
    first = "2026-03-10T10:30:00+08:00"  # the window [10:30, 11:00), clipped by the period
    assert csla.metric_at(out, "err", first)["total"] == 30
    assert csla.metric_at(out, "lat", first)["total"] == 30  # actual 0 (value None)
    # the period's p50 is decided on all 90 samples
    (comp,) = out.compensations
    assert comp["observed"] is not None
