"""Compensation (§6.1.16): tiers → credit percent, amount and service extension, once a period.

Money is ``Decimal``.  The period fee comes from the metering rule (§6.1.7): a fixed
``period_fee``, or usage × ``unit_price``.  Credits of one period are capped at
``cap_percent`` of the fee, consumed in the rule file's objective order.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, cast

from engine.core.calendar import utc_iso
from engine.core.contract import Contract, ObjectiveRule
from engine.core.records import PeriodUsageRecord
from engine.models.contract import Metering, Tier

if TYPE_CHECKING:
    from engine.core.state import ContractState

_ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}
HOUR_MS = 3_600_000


def quantize(amount: Decimal, metering: Metering) -> Decimal:
    exponent = Decimal(1).scaleb(-metering.minor_units)
    return amount.quantize(exponent, rounding=_ROUNDING[metering.rounding])


def usage_quantity(metering: Metering, usage: dict[str, int]) -> Decimal:
    """The metered quantity of one period from usage counters (§6.1.7)."""
    match metering.unit:
        case "card_hour":
            return Decimal(usage.get("node_up_ms", 0)) * metering.cards_per_node / HOUR_MS
        case "core_hour":
            return Decimal(usage.get("node_up_ms", 0)) * metering.cores_per_node / HOUR_MS
        case "per_call":
            return Decimal(usage.get("requests", 0))
        case "per_1k_tokens":
            return Decimal(usage.get("tokens", 0)) / 1000
        case _:  # node_month, tb_month: a fixed quantity per period
            return metering.quantity or Decimal(1)


def period_fee(metering: Metering, usage: dict[str, int]) -> Decimal:
    if metering.period_fee is not None:
        return quantize(metering.period_fee, metering)
    return quantize(usage_quantity(metering, usage) * metering.unit_price, metering)


def _hours(ms: int) -> str:
    return str(Decimal(ms) / HOUR_MS)


#: Owners per ``period_usage`` record, and about how many bytes of them: a period with more
#: tenants/projects is split into parts, so that no record outgrows a Kafka message (1 MiB by
#: default). 20,000 owners made one 2.7 MB record; 1,000 short ones make about 150 kB.
OWNERS_PER_RECORD = 1_000
OWNER_BYTES_PER_RECORD = 512 * 1024
_OWNER_OVERHEAD_BYTES = 240  # keys, quotes and numbers of one by_owner entry (28-digit decimals)


def _json_bytes(text: str) -> int:
    """An upper bound of ``text``'s size as a JSON string body: a printable text escapes only
    quotes and backslashes; anything else counts 6 bytes a character (``\\u0001``)."""
    if text.isprintable():
        return len(text.encode()) + text.count('"') + text.count("\\")
    return 6 * len(text)


def _owner_bytes(tenant: str, project: str) -> int:
    """An upper bound of the JSON size of one by_owner entry."""
    return _OWNER_OVERHEAD_BYTES + _json_bytes(tenant) + _json_bytes(project)


def _owner_chunks(owners: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``owners`` in order, cut before ``OWNERS_PER_RECORD`` or ``OWNER_BYTES_PER_RECORD``;
    at least one chunk (perhaps empty)."""
    chunks: list[list[dict[str, Any]]] = [[]]
    size = 0
    for owner in owners:
        grows = _owner_bytes(owner["tenant_id"], owner["project_id"])
        current = chunks[-1]
        if current and (len(current) >= OWNERS_PER_RECORD or size + grows > OWNER_BYTES_PER_RECORD):
            chunks.append([])
            size = 0
        chunks[-1].append(owner)
        size += grows
    return chunks


def period_usage(contract: Contract, cs: ContractState, fee: Decimal) -> list[PeriodUsageRecord]:
    """The ``period_usage`` records of the period closing now: what was metered, in all and
    per tenant/project, the quantity billed in the contract's unit and the fee credits are
    taken from.  Per-owner amounts are usage × unit price each, rounded on their own (they may
    not add up to the total by a minor unit); with a fixed period fee they are null.

    One record per ``OWNERS_PER_RECORD`` owners (``part`` 1..``parts``, owners in order):
    part 1 carries the period's totals and fee, the other parts zero totals and only more
    owners, so that a sum over the parts is the period's usage, whichever field is summed.
    Part 1 keeps the ``usage_id`` a single record had; part k > 1 appends ``:p<k>``."""
    metering = contract.metering
    assert cs.period_start_ms is not None and cs.period_end_ms is not None
    owners = []
    for owner, (up_ms, requests, tokens) in sorted(cs.metered.items()):
        tenant, _, project = owner.partition("\x1f")
        quantity = usage_quantity(
            metering, {"node_up_ms": up_ms, "requests": requests, "tokens": tokens}
        )
        owners.append(
            {
                "tenant_id": tenant,
                "project_id": project,
                "node_hours": _hours(up_ms),
                "requests": requests,
                "tokens": tokens,
                "quantity": str(quantity),
                "amount": None
                if metering.period_fee is not None
                else str(quantize(quantity * metering.unit_price, metering)),
            }
        )
    up_ms = cs.usage.get("node_up_ms", 0)
    usage_id = f"usage:{contract.id}:{utc_iso(cs.period_start_ms)}:r{contract.revision}"
    head = {
        "record": "period_usage",
        "usage_id": usage_id,
        "contract_id": contract.id,
        "contract_version": contract.revision,
        "period_start": utc_iso(cs.period_start_ms),
        "period_end": utc_iso(cs.period_end_ms),
        "unit": metering.unit,
        "unit_price": str(metering.unit_price),
        "currency": metering.currency,
    }
    totals = {
        "node_hours": _hours(up_ms),
        "card_hours": _hours(up_ms * metering.cards_per_node),
        "core_hours": _hours(up_ms * metering.cores_per_node),
        "requests": cs.usage.get("requests", 0),
        "tokens": cs.usage.get("tokens", 0),
        "quantity": str(usage_quantity(metering, cs.usage)),
        "fee": str(fee),
    }
    fee_rule = "period_fee" if metering.period_fee is not None else "usage x unit_price"
    chunks = _owner_chunks(owners)
    records: list[PeriodUsageRecord] = []
    for part, chunk in enumerate(chunks, start=1):
        if part == 1:
            record = {**head, **totals}
        else:
            zero = quantize(Decimal(0), metering)
            record = {**head, "usage_id": f"{usage_id}:p{part}"}
            record.update({k: "0" for k in ("node_hours", "card_hours", "core_hours")})
            record.update(requests=0, tokens=0, quantity="0", fee=str(zero))
        record.update(fee_rule=fee_rule, part=part, parts=len(chunks), by_owner=chunk)
        records.append(cast(PeriodUsageRecord, record))
    return records


def applicable_tier(objective: ObjectiveRule, observed: float | None) -> tuple[int, Tier] | None:
    """The most severe tier whose bound ``observed`` is worse than, or None.

    For a ``>=``/``>`` objective a tier applies when observed < bound; for ``<=``/``<`` when
    observed > bound.  Tiers are listed from least to most severe.
    """
    if observed is None:
        return None
    chosen: tuple[int, Tier] | None = None
    for index, tier in enumerate(objective.tiers):
        worse = observed < tier.bound if objective.higher_is_better else observed > tier.bound
        if worse:
            chosen = (index, tier)
    return chosen


def credit(
    fee: Decimal, percent: float, remaining_cap: Decimal, metering: Metering
) -> tuple[Decimal, bool]:
    """Credit of ``percent`` of ``fee``, limited to what the period cap still allows."""
    amount = quantize(fee * Decimal(str(percent)) / 100, metering)
    if amount > remaining_cap:
        return remaining_cap, True
    return amount, False
