"""Regression (was a bug): the last assessment period, cut short by the end of the term, never closes.

pipeline._targets caps the closing target at ``contract.term_end_ms``, but
evaluate.close_range closes a period only when ``hi == cs.period_end_ms`` — the period's
natural end (e.g. 1 April), which is never reached.  So for a term ending mid-period:
no compensation is ever decided for that period (§6.1.16), and an opened availability breach
is never resolved; its window_end is reported as the natural period end, after the term.
Expected: the period ends at min(natural end, term end) and closes there.
"""

from typing import Any

OBJ = """- id: a
  sli: service_availability
  comparator: '>='
  threshold: 99.9
  window: 1h
  compensation:
    - {bound: 99.9, credit_percent: 10}
"""


def test_the_period_cut_by_the_term_end_closes_and_pays(csla: Any) -> None:
    rules = csla.ruleset(OBJ, term=("2026-03-01T00:00:00+08:00", "2026-03-10T12:00:00+08:00"))
    lines = csla.probes_every_minute(
        "2026-03-10T10:00:00+08:00", "2026-03-10T12:00:00+08:00", ok=False
    )
    _, out = csla.run(rules, lines, until="2026-04-02T00:00:00+08:00")
    # 120 known minutes, all down → 0% < 99.9 → 10% of 1000.00
    assert [c["credit_amount"] for c in out.compensations] == ["100.00"]  # actual: []
    assert [b["status"] for b in out.breaches] == ["opened", "resolved"]  # actual: opened only
