"""Regression (was a bug): a closing range is evaluated under one revision, so a new revision's effective time is
honoured only at batch boundaries; metric ids/versions depend on how the input was batched.

pipeline._close picks ``contract = _revision(ruleset, cid, cs)`` = the revision in force at
``cs.closed_until_ms`` (the *start* of the closing range) and evaluates the whole range
[closed_until, target) with it (apply_control, _latency and close_range alike).  Expected:
split the range at every ``effective_from`` inside it (close_range per revision piece).
"""

from typing import Any

from engine.ruleset import load_rule_text
from engine.ruleset.compile import build_ruleset

OBJ = "- {id: avail, sli: service_availability, comparator: '>=', threshold: 90, window: 1h}"


def test_window_after_effective_from_is_computed_under_the_new_revision(csla: Any) -> None:
    r1 = load_rule_text(csla.rule_text(OBJ), "r1.yaml").contract
    r2 = load_rule_text(
        csla.rule_text(
            OBJ.replace("90", "95"), revision=2, effective_from="2026-03-10T12:00:00+08:00"
        ),
        "r2.yaml",
    ).contract
    rules = build_ruleset([r1, r2])
    lines = csla.probes_every_minute("2026-03-10T10:00:00+08:00", "2026-03-10T14:00:00+08:00")
    for batches in ([lines], [[line] for line in lines]):
        _, out = csla.run(rules, [], batches=batches, until="2026-03-10T14:00:00+08:00")
        # window 12:00–13:00+08 (04:00Z) starts when revision 2 is in force
        metric = csla.metric_at(out, "avail", "2026-03-10T12:00:00+08:00")
        assert metric["contract_version"] == 2  # actual: 1 when sent as one batch
        assert metric["metric_id"] == "c1:avail:2026-03-10T04:00:00Z:r2"
