"""Regression: a capped credit is rounded to the currency's minor units.

evaluate._close_period: ``remaining_cap = fee * contract.cap_percent / 100`` is never
quantized, and compensation.credit returns ``remaining_cap`` as is when the tier's amount
exceeds it.  So credit_amount comes out as "150.000" (cap 40% of 1000.00, after 250.00) or
"333.3000" (cap 33.33%); with a usage fee it can carry sub-cent digits (e.g. 61.70 x 33.33%
= "20.564610").  Expected: amounts with exactly ``minor_units`` decimals (rounded so that the
cap is never exceeded, i.e. ROUND_DOWN of the cap, or the metering rounding).
"""

from typing import Any

import pytest

DAY = "period: rolling_days\ndays: 1"


def _obj(oid: str, percent: int) -> str:
    return (
        f"- id: {oid}\n  sli: service_availability\n  comparator: '>='\n  threshold: 99.9\n"
        f"  window: 1h\n  compensation:\n    - {{bound: 99.9, credit_percent: {percent}}}\n"
    )


@pytest.mark.parametrize(
    ("cap", "objectives", "expected"),
    [
        ("40", _obj("a", 25) + _obj("b", 25), {"a": "250.00", "b": "150.00"}),  # b: "150.000"
        ("20", _obj("a", 25) + _obj("b", 25), {"a": "200.00", "b": "0.00"}),  # "200.000"
        ("33.33", _obj("a", 100), {"a": "333.30"}),  # 1000.00 x 33.33 % = 333.30
    ],
)
def test_capped_credit_has_the_currency_minor_units(
    csla: Any, cap: str, objectives: str, expected: dict[str, str]
) -> None:
    rules = csla.ruleset(objectives, assessment=DAY, compensation=f"cap_percent: {cap}")
    start = csla.ms("2026-03-10T00:00:00+08:00")
    bad = range(start + 600 * 60_000, start + 615 * 60_000)  # 15 bad minutes → 98.96%
    lines = [
        csla.probe(m + 30_000, m not in bad) for m in range(start, start + 1440 * 60_000, 60_000)
    ]
    _, out = csla.run(rules, lines, until="2026-03-11T00:00:00+08:00")
    got = {c["objective_id"]: c["credit_amount"] for c in out.compensations}
    assert got == expected
