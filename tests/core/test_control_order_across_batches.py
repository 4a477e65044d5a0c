"""Regression (was a bug): control events with the same event time are ordered by their index *within their own
batch*, so the outcome depends on how the input was split.

pipeline._close: ``control = closing.filter(kind in CONTROL_KINDS).sort("contract_id",
"event_ms", "seq")`` — ``seq`` is the line index inside the step() call that brought the
event, not a global arrival order.  Two node_state events of one node at the same instant,
"down" (line 3 of batch 1) then "up" (line 0 of batch 2), are applied up-then-down: the node
ends down instead of up.  Expected: ties broken by arrival order across batches (e.g. keep
the buffer's order with a stable sort on event_ms, or an arrival counter in the state).
"""

from typing import Any

T = "2026-03-10T"


def test_same_instant_node_events_keep_arrival_order_across_batches(csla: Any) -> None:
    rules = csla.ruleset(
        "- {id: na, sli: node_availability, comparator: '>=', threshold: 90, window: 1h}",
        assessment="period: rolling_days\ndays: 1",
    )
    lines = [
        csla.node(T + "10:00:00+08:00", "n1", "up"),
        csla.probe(T + "10:00:01+08:00", True),
        csla.probe(T + "10:00:02+08:00", True),
        csla.node(T + "10:20:00+08:00", "n1", "down"),
        csla.node(T + "10:20:00+08:00", "n1", "up"),  # arrives last: the node is up
    ]
    goods = []
    for batches in ([lines], [lines[:4], lines[4:]]):
        _, out = csla.run(rules, [], batches=batches, until=T + "11:00:00+08:00")
        goods.append(csla.metric_at(out, "na", T + "10:00:00+08:00")["good"])
    assert goods == [3_600_000, 3_600_000]  # actual [3600000, 1200000]
