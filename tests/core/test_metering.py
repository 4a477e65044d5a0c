"""Metering per period (§6.1.7): usage in all and per tenant/project, and the fee credits use.

Card-hours = node up time × cards per node; a node's time goes to the tenant/project its
``node_state`` events name; requests and tokens to the tenant/project they carry.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from engine.core.compensation import OWNER_BYTES_PER_RECORD
from engine.models.outputs import PeriodUsage

AVAIL = (
    "- id: nodes\n  sli: node_availability\n  comparator: '>='\n  threshold: 99\n  window: 1h\n"
    "  compensation:\n    - {bound: 99, credit_percent: 10}\n"
)
CARD_HOURS = "unit: card_hour\nunit_price: 12.50\ncards_per_node: 8"
ONE_DAY = "period: rolling_days\ndays: 1"


def t(hms: str, day: int = 10) -> str:
    return f"2026-03-{day:02d}T{hms}+08:00"


def test_card_hours_per_tenant_and_the_fee(csla: Any) -> None:
    rules = csla.ruleset(AVAIL, metering=CARD_HOURS, assessment=ONE_DAY)
    lines = [
        csla.node(t("00:00:00"), "n1", "up", tenant_id="acme", project_id="llm"),
        csla.node(t("00:00:00"), "n2", "up", tenant_id="beta"),
        csla.node(t("06:00:00"), "n2", "down"),  # no tenant named: still beta's node
        csla.node(t("08:00:00"), "n2", "up"),
        csla.request(t("09:00:00"), True, 10.0, tokens_in=100, tokens_out=50, tenant_id="acme",
                     project_id="llm"),
        csla.request(t("09:00:01"), True, 10.0, tokens_in=10),  # no tenant: "-"
    ]  # fmt: skip
    _, out = csla.run(rules, lines, until=t("00:00:00", day=11))
    # rolling days from the term start (2026-01-01 +08:00): the period is 03-10 00:00–03-11
    (usage,) = [u for u in out.usage if u["record"] == "period_usage"]
    # n1 up 24 h; n2 up 24 − 2 = 22 h → 46 node-hours × 8 cards = 368 card-hours
    assert (usage["node_hours"], usage["card_hours"], usage["quantity"]) == ("46", "368", "368")
    # fee = 368 × 12.50 = 4600.00; availability (24 + 22) / 48 = 95.83 % < 99 → 10 % = 460.00
    assert usage["fee"] == "4600.00" and usage["fee_rule"] == "usage x unit_price"
    (comp,) = out.compensations
    assert (comp["period_fee"], comp["credit_amount"]) == ("4600.00", "460.00")
    owners = {(o["tenant_id"], o["project_id"]): o for o in usage["by_owner"]}
    assert set(owners) == {("acme", "llm"), ("beta", "-"), ("-", "-")}
    # acme/llm: 24 h × 8 = 192 card-hours = 2400.00; beta: 22 × 8 = 176 = 2200.00
    assert (owners[("acme", "llm")]["quantity"], owners[("acme", "llm")]["amount"]) == (
        "192",
        "2400.00",
    )
    assert owners[("acme", "llm")]["tokens"] == 150 and owners[("acme", "llm")]["requests"] == 1
    assert (owners[("beta", "-")]["node_hours"], owners[("beta", "-")]["amount"]) == (
        "22",
        "2200.00",
    )
    assert (owners[("-", "-")]["requests"], owners[("-", "-")]["tokens"]) == (1, 10)
    assert usage["requests"] == 2 and usage["tokens"] == 160
    assert usage["usage_id"] == "usage:c1:2026-03-09T16:00:00Z:r1"


def test_tokens_metering_with_a_fixed_fee_has_no_owner_amounts(csla: Any) -> None:
    rules = csla.ruleset(
        "- id: err\n  sli: error_rate\n  comparator: '<='\n  threshold: 5\n",
        metering="unit: per_1k_tokens\nunit_price: 0.02\nperiod_fee: 300.00",
        assessment=ONE_DAY,
    )
    lines = [
        csla.request(t("10:00:00"), True, 5.0, tokens_in=1500, tokens_out=1000, tenant_id="a"),
        csla.request(t("10:00:00"), True, 5.0, tokens_in=500, tenant_id="b", project_id="p"),
    ]
    _, out = csla.run(rules, lines, until=t("00:00:00", day=11))
    (usage,) = [u for u in out.usage if u["record"] == "period_usage"]
    # 3000 tokens = 3 (thousand); the fee is the fixed 300.00, not 3 × 0.02
    assert (usage["quantity"], usage["fee"], usage["fee_rule"]) == ("3", "300.00", "period_fee")
    assert [(o["tenant_id"], o["quantity"], o["amount"]) for o in usage["by_owner"]] == [
        ("a", "2.5", None),
        ("b", "0.5", None),
    ]


def test_period_usage_is_the_same_in_any_batch_split(csla: Any) -> None:
    rules = csla.ruleset(AVAIL, metering=CARD_HOURS, assessment=ONE_DAY)
    lines = [
        csla.node(t("00:00:00"), "n1", "up", tenant_id="acme"),
        csla.node(t("03:17:00"), "n1", "down"),
        csla.node(t("05:02:00"), "n1", "up", tenant_id="beta"),
    ] + [
        csla.request(t(f"{h:02d}:30:00"), True, 1.0, tokens_in=h, tenant_id=f"t{h % 3}")
        for h in range(12)
    ]
    _, whole = csla.run(rules, lines, until=t("00:00:00", day=11))
    for size in (1, 3, 4):
        batches = [lines[i : i + size] for i in range(0, len(lines), size)]
        _, split = csla.run(rules, [], batches=batches, until=t("00:00:00", day=11))
        assert split.usage == whole.usage


def test_many_owners_are_split_into_parts_that_sum_to_the_period(csla: Any) -> None:
    """Issue 11: 20,000 tenant/project pairs made one 2.7 MB record, more than a Kafka
    message may hold. Now 1,000 owners a record (about 150 kB); part 1 has the totals, the
    others zeros."""
    rules = csla.ruleset(
        "- id: err\n  sli: error_rate\n  comparator: '<='\n  threshold: 5\n",
        metering="unit: per_1k_tokens\nunit_price: 0.02",
        assessment=ONE_DAY,
    )
    lines = [
        csla.request(
            t(f"{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}"),
            True,
            5.0,
            tokens_in=1000 + i,
            tenant_id=f"tenant-{i:05d}",
            project_id=f"project-{i % 7}",
        )
        for i in range(20_000)
    ]
    _, out = csla.run(rules, lines, until=t("00:00:00", day=11))
    parts = [u for u in out.usage if u["record"] == "period_usage"]
    assert [(p["part"], p["parts"], len(p["by_owner"])) for p in parts] == [
        (k, 20, 1000) for k in range(1, 21)
    ]
    assert [p["usage_id"] for p in parts[:3]] == [
        "usage:c1:2026-03-09T16:00:00Z:r1",
        "usage:c1:2026-03-09T16:00:00Z:r1:p2",
        "usage:c1:2026-03-09T16:00:00Z:r1:p3",
    ]
    tokens = sum(1000 + i for i in range(20_000))
    assert (parts[0]["tokens"], parts[0]["requests"], parts[0]["fee"]) == (
        tokens,
        20_000,
        "4399.80",  # 219,990 thousand tokens × 0.02
    )
    # every field sums over the parts to the period's value
    assert sum(p["tokens"] for p in parts) == tokens
    assert sum(p["requests"] for p in parts) == 20_000
    assert sum(Decimal(p["fee"]) for p in parts) == Decimal(parts[0]["fee"])
    assert sum(Decimal(p["quantity"]) for p in parts) == Decimal(parts[0]["quantity"])
    owners = [o for p in parts for o in p["by_owner"]]
    assert sum(o["tokens"] for o in owners) == tokens
    keys = [(o["tenant_id"], o["project_id"]) for o in owners]
    assert keys == sorted(keys) and len(set(keys)) == 20_000
    for p in parts:
        PeriodUsage.model_validate(p)
        assert len(orjson.dumps(p)) < 300_000


def test_long_owner_ids_cut_parts_by_size(csla: Any) -> None:
    rules = csla.ruleset(
        "- id: err\n  sli: error_rate\n  comparator: '<='\n  threshold: 5\n",
        metering="unit: per_call\nunit_price: 0.01",
        assessment=ONE_DAY,
    )
    # identifiers are at most 256 characters, but a character may take 4 bytes: 400 owners
    # of 2 × 256 four-byte characters are ~800 KB of ids, more than one record's share
    wide = "\U0001f600" * 253
    lines = [
        csla.request(
            t(f"10:{i // 60:02d}:{i % 60:02d}"), True, 5.0, tenant_id=f"{i:03d}" + wide,
            project_id=f"{i:03d}" + wide,
        )
        for i in range(400)
    ]  # fmt: skip
    _, out = csla.run(rules, lines, until=t("00:00:00", day=11))
    parts = [u for u in out.usage if u["record"] == "period_usage"]
    assert len(parts) > 1 and sum(len(p["by_owner"]) for p in parts) == 400
    assert all(len(orjson.dumps(p)) <= OWNER_BYTES_PER_RECORD + 2_000 for p in parts)
