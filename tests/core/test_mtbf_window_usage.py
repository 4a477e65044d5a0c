"""Regression (was a bug): a window's MTBF uses operating time up to the end of the *closing range*, not the window.

evaluate.close_range calls ``_usage(closing, cursor, hi)`` for the whole range [cursor, hi)
*before* ``_objective_range`` walks the windows, and ``reliability_value`` (case "mtbf") reads
``cs.usage["node_up_ms"]`` without limiting it to ``until`` (= the window end).  So every
window that closes in a range sees the up time of the whole range: the value is wrong, and
depends on how the input was cut into batches (the batch-split property fails for mtbf).
Period-close MTBF is right (the range then ends at the period end).
"""

from typing import Any

T = "2026-03-10T"


def _run(csla: Any, split: bool) -> float:
    rules = csla.ruleset(
        "- {id: mtbf, sli: mtbf, comparator: '>=', threshold: 10, window: 1h}",
        assessment="period: rolling_days\ndays: 1",
    )
    lines = [
        csla.node(T + "10:00:00+08:00", "n1", "up"),
        csla.node(T + "10:15:20+08:00", "n1", "down"),
        csla.node(T + "10:17:50+08:00", "n1", "up"),
        csla.node(T + "11:10:00+08:00", "n1", "up"),
        csla.node(T + "13:00:00+08:00", "n1", "up"),
    ]
    batches = [lines[:4], lines[4:]] if split else [lines]
    _, out = csla.run(rules, lines, batches=batches, until=T + "13:00:00+08:00")
    return csla.metric_at(out, "mtbf", T + "10:00:00+08:00")["value"]


def test_mtbf_of_a_window_counts_operating_time_up_to_the_window_end(csla: Any) -> None:
    # window 10:00–11:00: n1 up 10:00–10:15:20 (920 s) + 10:17:50–11:00 (2530 s) = 3450 s
    # = 0.958333 h; one failure → MTBF 0.958333 h
    expected = 3450 / 3600
    assert _run(csla, split=False) == expected  # actual 2.875 (up time to 12:55)
    assert _run(csla, split=True) == expected  # actual 1.0416… (up time to 11:05)
