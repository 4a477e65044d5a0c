"""Compensation (§6.1.16), decided once at period close: tiers, cap, fee, rounding, once only.

A tier applies when the period value is worse than its bound (``<`` bound for ``>=``/``>``
objectives, ``>`` bound for ``<=``/``<``); the most severe applicable tier wins.  Credit =
percent × the period fee (a fixed ``period_fee``, or usage × ``unit_price``, §6.1.7), rounded
to ``minor_units`` by ``rounding``; all credits of a period together are capped at
``cap_percent`` of the fee, consumed in the rule file's objective order.  Money is a decimal
string.  Periods here are rolling days (local midnight to midnight, Asia/Shanghai) so a whole
period is 1440 minutes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from engine.core.state import EngineState

DAY = "period: rolling_days\ndays: 1"
D0, D1, D2 = "2026-03-10T00:00:00+08:00", "2026-03-11T00:00:00+08:00", "2026-03-12T00:00:00+08:00"
PERIOD = ("2026-03-09T16:00:00Z", "2026-03-10T16:00:00Z")  # D0 → D1 in UTC
MINUTE = 60_000
TIERS = (
    "  compensation:\n"
    "    - {bound: 99.9, credit_percent: 10}\n"
    "    - {bound: 99.0, credit_percent: 25}\n"
    "    - {bound: 95.0, credit_percent: 100}\n"
)


def avail(oid: str = "avail", tiers: str = TIERS, window: str = "1h") -> str:
    return (
        f"- id: {oid}\n  sli: service_availability\n  comparator: '>='\n"
        f"  threshold: 99.9\n  window: {window}\n" + tiers
    )


def day_of_probes(csla: Any, bad: int, day: str = D0) -> list[bytes]:
    """A probe every minute of one day; the ``bad`` minutes from 10:00 fail."""
    start = csla.ms(day)
    down_from = start + 600 * MINUTE
    return [
        csla.probe(m + 30_000, not down_from <= m < down_from + bad * MINUTE)
        for m in range(start, start + 1440 * MINUTE, MINUTE)
    ]


# ── tier selection ──────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("bad", "tier", "percent", "amount"),
    [
        (0, None, 0.0, "0.00"),  # 100% meets 99.9: a record with no credit
        (1, None, 0.0, "0.00"),  # 1439/1440 = 99.9306% ≥ 99.9
        (2, 0, 10.0, "100.00"),  # 1438/1440 = 99.8611% < 99.9 → 10% of 1000.00
        (14, 0, 10.0, "100.00"),  # 1426/1440 = 99.0278%: not < 99
        (15, 1, 25.0, "250.00"),  # 1425/1440 = 98.9583% < 99 → 25%
        (72, 1, 25.0, "250.00"),  # 1368/1440 = 95.0% exactly: not < 95
        (73, 2, 100.0, "1000.00"),  # 1367/1440 = 94.9306% < 95 → 100%
    ],
)
def test_tier_selection(csla: Any, bad: int, tier: int | None, percent: float, amount: str) -> None:
    rules = csla.ruleset(avail(), assessment=DAY)
    _, out = csla.run(rules, day_of_probes(csla, bad), until=D1)
    comp = csla.compensation(out, "avail")
    assert comp["compensation_id"] == "comp:c1:avail:2026-03-09T16:00:00Z:r1"
    assert (comp["period_start"], comp["period_end"]) == PERIOD
    assert comp["observed"] == pytest.approx(100 * (1440 - bad) / 1440)
    assert (comp["tier"], comp["credit_percent"], comp["credit_amount"]) == (tier, percent, amount)
    assert (comp["period_fee"], comp["currency"], comp["capped"]) == ("1000.00", "CNY", False)
    assert comp["evidence"]["fee_rule"] == "period_fee"
    assert (comp["evidence"]["period_good"], comp["evidence"]["period_bad"]) == (1440 - bad, bad)


def test_extension_hours_of_the_chosen_tier(csla: Any) -> None:
    tiers = (
        "  compensation:\n"
        "    - {bound: 99.9, credit_percent: 10}\n"
        "    - {bound: 99.0, credit_percent: 25, extension_hours: 48}\n"
    )
    rules = csla.ruleset(avail(tiers=tiers), assessment=DAY)
    _, out = csla.run(rules, day_of_probes(csla, 20), until=D1)  # 1420/1440 = 98.61% < 99
    comp = csla.compensation(out, "avail")
    assert (comp["tier"], comp["credit_amount"], comp["extension_hours"]) == (1, "250.00", 48.0)


# ── the cap on all credits of a period ──────────────────────────────────────────────────────
@pytest.mark.parametrize(
    ("cap", "first", "second"),
    [
        # 15 bad: both objectives at 1425/1440 = 98.96%.  a → tier 1 = 25% = 250.00,
        # b → its only tier = 25% = 250.00; the fee is 1000.00
        (100, ("250.00", False), ("250.00", False)),  # cap 1000.00: both fit
        (50, ("250.00", False), ("250.00", False)),  # cap 500.00: exactly used up, not cut
        (40, ("250.00", False), ("150.00", True)),  # cap 400.00: b gets the 150.00 left
        (20, ("200.00", True), ("0.00", True)),  # cap 200.00: a is cut, nothing for b
        (0, ("0.00", True), ("0.00", True)),  # no credit at all
    ],
)
def test_cap_is_consumed_in_objective_order(
    csla: Any, cap: int, first: tuple[str, bool], second: tuple[str, bool]
) -> None:
    b_tiers = "  compensation:\n    - {bound: 99.9, credit_percent: 25}\n"
    rules = csla.ruleset(
        avail("a") + avail("b", b_tiers),
        assessment=DAY,
        compensation=f"cap_percent: {cap}",
    )
    _, out = csla.run(rules, day_of_probes(csla, 15), until=D1)
    a, b = csla.compensation(out, "a"), csla.compensation(out, "b")
    # compared as amounts (Decimal): the cap arithmetic; the text of uncapped amounts is
    # checked digit for digit elsewhere
    assert (Decimal(a["credit_amount"]), a["capped"]) == (Decimal(first[0]), first[1])
    assert (Decimal(b["credit_amount"]), b["capped"]) == (Decimal(second[0]), second[1])
    assert (a["credit_percent"], b["credit_percent"]) == (25.0, 25.0)  # the tiers', uncapped


# ── the fee: fixed, or from usage; rounding ─────────────────────────────────────────────────
ERRORS = (
    "- id: err\n  sli: error_rate\n  comparator: '<='\n  threshold: 1.0\n  window: 5m\n"
    "  compensation:\n    - {bound: 1.0, credit_percent: 10}\n"
    "    - {bound: 5.0, credit_percent: 25}\n"
)


def hundred_requests(csla: Any, tokens: int) -> list[bytes]:
    """100 requests 1 s apart from 10:00, 6 failing (6% > 5 → tier 1, 25%), ``tokens`` in all."""
    per, extra = divmod(tokens, 100)
    base = csla.ms("2026-03-10T10:00:00+08:00")
    return [
        csla.request(
            base + i * 1000, i >= 6, 80.0, tokens_in=per, tokens_out=extra if i == 0 else None
        )
        for i in range(100)
    ]


@pytest.mark.parametrize(
    ("metering", "tokens", "fee", "credit"),
    [
        # per 1k tokens at 1.00: 61 700 tokens → 61.70; 25% → 15.425
        ("per_1k_tokens\nunit_price: 1.00\nrounding: half_up", 61_700, "61.70", "15.43"),
        ("per_1k_tokens\nunit_price: 1.00\nrounding: half_even", 61_700, "61.70", "15.42"),
        ("per_1k_tokens\nunit_price: 1.00\nrounding: down", 61_700, "61.70", "15.42"),
        # 61 740 tokens → 61.74; 25% → 15.435 (half_even rounds to the even 4)
        ("per_1k_tokens\nunit_price: 1.00\nrounding: half_up", 61_740, "61.74", "15.44"),
        ("per_1k_tokens\nunit_price: 1.00\nrounding: half_even", 61_740, "61.74", "15.44"),
        ("per_1k_tokens\nunit_price: 1.00\nrounding: down", 61_740, "61.74", "15.43"),
        # the fee itself is rounded first: 12 345 tokens → 12.345
        # half_up: 12.35 → 25% = 3.0875 → 3.09
        ("per_1k_tokens\nunit_price: 1.00\nrounding: half_up", 12_345, "12.35", "3.09"),
        # half_even: 12.34 → 3.085 → 3.08 (8 is even)
        ("per_1k_tokens\nunit_price: 1.00\nrounding: half_even", 12_345, "12.34", "3.08"),
        # down: 12.34 → 3.085 → 3.08
        ("per_1k_tokens\nunit_price: 1.00\nrounding: down", 12_345, "12.34", "3.08"),
        # minor_units 0 (whole yuan): 61.70 → 62 (half_up); 25% of 62 = 15.5 → 16
        ("per_1k_tokens\nunit_price: 1.00\nminor_units: 0", 61_700, "62", "16"),
        # per call at 0.05: 100 requests → 5.00; 25% → 1.25 (tokens do not matter)
        ("per_call\nunit_price: 0.05", 1_000, "5.00", "1.25"),
        # a fixed period fee wins over usage
        ("per_call\nunit_price: 0.05\nperiod_fee: 800.00", 1_000, "800.00", "200.00"),
    ],
)
def test_fee_from_usage_and_rounding(
    csla: Any, metering: str, tokens: int, fee: str, credit: str
) -> None:
    rules = csla.ruleset(ERRORS, assessment=DAY, metering=f"unit: {metering}")
    _, out = csla.run(rules, hundred_requests(csla, tokens), until=D1)
    comp = csla.compensation(out, "err")
    assert comp["observed"] == pytest.approx(6.0)  # 6 of 100 failed
    assert (comp["tier"], comp["credit_percent"]) == (1, 25.0)
    assert (comp["period_fee"], comp["credit_amount"]) == (fee, credit)
    usage = comp["evidence"]["usage"]
    assert (usage["requests"], usage["tokens"]) == (100, tokens)


def test_fee_in_card_hours_from_node_up_time(csla: Any) -> None:
    node_avail = (
        "- id: na\n  sli: node_availability\n  comparator: '>='\n  threshold: 99.9\n"
        "  window: 1h\n" + TIERS
    )
    metering = "unit: card_hour\nunit_price: 2.5\ncards_per_node: 8"
    rules = csla.ruleset(node_avail, assessment=DAY, metering=metering)
    lines = [
        csla.node("2026-03-10T00:00:00+08:00", "n1", "up"),
        csla.node("2026-03-10T10:00:00+08:00", "n1", "down"),
        csla.node("2026-03-10T11:00:00+08:00", "n1", "up"),
    ]
    _, out = csla.run(rules, lines, until=D1)
    comp = csla.compensation(out, "na")
    # up 23 h of 24 → 95.8333% < 99 (not < 95) → tier 1, 25%
    assert comp["observed"] == pytest.approx(100 * 23 / 24)
    assert comp["tier"] == 1
    # fee = 23 h × 8 cards × 2.5 = 460.00; 25% → 115.00
    assert (comp["period_fee"], comp["credit_amount"]) == ("460.00", "115.00")
    assert comp["evidence"]["usage"]["node_up_ms"] == 23 * 3_600_000
    assert comp["evidence"]["fee_rule"] == "usage x unit_price (card_hour)"


# ── one payout per objective and period ─────────────────────────────────────────────────────
def test_one_payout_per_objective_and_period(csla: Any) -> None:
    rules = csla.ruleset(avail(), assessment=DAY)
    state, first = csla.run(rules, day_of_probes(csla, 20), until=D1)
    (day1,) = first.compensations
    assert (day1["compensation_id"], day1["credit_amount"]) == (
        "comp:c1:avail:2026-03-09T16:00:00Z:r1",
        "250.00",  # 1420/1440 = 98.61% → 25%
    )
    # more data: a late failing probe of day 1, then all of day 2 (all good), then advancing
    # again to a time already reached
    late = csla.probe("2026-03-10T12:00:30+08:00", False)
    state, more = csla.run(rules, [late, *day_of_probes(csla, 0, D1)], state=state, until=D2)
    state, again = csla.run(rules, [], state=state, until=D2)
    assert [r["event_time"] for r in more.late] == ["2026-03-10T04:00:30Z"]  # not counted
    assert again.metrics == again.compensations == again.breaches == []
    # day 2 has its own record; day 1 is never paid again
    (day2,) = more.compensations
    assert day2["compensation_id"] == "comp:c1:avail:2026-03-10T16:00:00Z:r1"
    assert (day2["tier"], day2["credit_amount"]) == (None, "0.00")


def test_the_same_input_through_a_fresh_state_gives_the_same_records(csla: Any) -> None:
    rules = csla.ruleset(avail(window="5m"), assessment=DAY)
    lines = day_of_probes(csla, 20)
    _, one = csla.run(rules, lines, until=D1)
    _, two = csla.run(rules, lines, until=D1)
    assert csla.canonical(one) == csla.canonical(two)
    assert [c["compensation_id"] for c in two.compensations] == [
        "comp:c1:avail:2026-03-09T16:00:00Z:r1"
    ]


def test_restarting_from_a_snapshot_before_the_close_pays_the_same(csla: Any) -> None:
    rules = csla.ruleset(avail(), assessment=DAY)
    # the whole day sent, but the watermark (23:59:30 − 5 min → 23:54) has not closed it
    state, before = csla.run(rules, day_of_probes(csla, 20))
    assert before.compensations == []
    snapshot = state.snapshot()
    # A: the contract goes idle; advance closes the day
    _, a = csla.run(rules, [], state=EngineState.restore(snapshot), until=D1)
    # B: the next day's data closes it, and much more is processed after
    _, b = csla.run(
        rules, day_of_probes(csla, 0, D1), state=EngineState.restore(snapshot), until=D2
    )
    day1_a = [c for c in a.compensations if c["period_start"] == PERIOD[0]]
    day1_b = [c for c in b.compensations if c["period_start"] == PERIOD[0]]
    assert day1_a == day1_b
    assert len(day1_a) == 1 and day1_a[0]["credit_amount"] == "250.00"
