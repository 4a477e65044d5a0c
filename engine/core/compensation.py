"""Compensation (§6.1.16): tiers → credit percent, amount and service extension, once a period.

Money is ``Decimal``.  The period fee comes from the metering rule (§6.1.7): a fixed
``period_fee``, or usage × ``unit_price``.  Credits of one period are capped at
``cap_percent`` of the fee, consumed in the rule file's objective order.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from engine.core.calendar import utc_iso
from engine.core.contract import Contract, ObjectiveRule
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


def period_usage(contract: Contract, cs: ContractState, fee: Decimal) -> dict[str, Any]:
    """The ``period_usage`` record of the period closing now: what was metered, in all and per
    tenant/project, the quantity billed in the contract's unit and the fee credits are taken
    from.  Per-owner amounts are usage × unit price each, rounded on their own (they may not
    add up to the total by a minor unit); with a fixed period fee they are null."""
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
    return {
        "record": "period_usage",
        "usage_id": f"usage:{contract.id}:{utc_iso(cs.period_start_ms)}:r{contract.revision}",
        "contract_id": contract.id,
        "contract_version": contract.revision,
        "period_start": utc_iso(cs.period_start_ms),
        "period_end": utc_iso(cs.period_end_ms),
        "unit": metering.unit,
        "unit_price": str(metering.unit_price),
        "currency": metering.currency,
        "node_hours": _hours(up_ms),
        "card_hours": _hours(up_ms * metering.cards_per_node),
        "core_hours": _hours(up_ms * metering.cores_per_node),
        "requests": cs.usage.get("requests", 0),
        "tokens": cs.usage.get("tokens", 0),
        "quantity": str(usage_quantity(metering, cs.usage)),
        "fee": str(fee),
        "fee_rule": "period_fee" if metering.period_fee is not None else "usage x unit_price",
        "by_owner": owners,
    }


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
