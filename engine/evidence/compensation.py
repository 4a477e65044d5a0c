"""Compensation recomputed (§6.1.16, fee §6.1.7): usage, period fee, tier, credit and cap, in
``Decimal``."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from engine.evidence.facts import _Facts
from engine.evidence.instants import HOUR_MS
from engine.evidence.recompute import _segments, _value

if TYPE_CHECKING:
    from engine.core.contract import Contract

_ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}


def _quantize(amount: Decimal, contract: Contract) -> Decimal:
    metering = contract.metering
    return amount.quantize(
        Decimal(1).scaleb(-metering.minor_units), rounding=_ROUNDING[metering.rounding]
    )


def _usage(facts: _Facts) -> dict[str, int]:
    p1 = facts.period[1]
    node_up_ms = sum(
        e - s
        for node in facts.nodes.values()
        for s, e, st in _segments(facts, node, p1)
        if st != "down"
    )
    return {
        "node_up_ms": node_up_ms,
        "requests": sum(r[1] for r in facts.requests.values()),
        "tokens": sum(r[2] for r in facts.requests.values()),
    }


def _fee(contract: Contract, usage: dict[str, int]) -> tuple[Decimal, str]:
    metering = contract.metering
    currency = metering.currency
    if metering.period_fee is not None:
        fee = _quantize(metering.period_fee, contract)
        return fee, f"fixed period fee {fee} {currency}"
    unit = metering.unit
    if unit in ("card_hour", "core_hour"):
        per_node = metering.cards_per_node if unit == "card_hour" else metering.cores_per_node
        quantity = Decimal(usage["node_up_ms"]) * per_node / HOUR_MS
        what = f"{usage['node_up_ms']} node-up ms × {per_node} / 3600000 = {quantity} {unit}s"
    elif unit == "per_call":
        quantity, what = Decimal(usage["requests"]), f"{usage['requests']} calls"
    elif unit == "per_1k_tokens":
        quantity = Decimal(usage["tokens"]) / 1000
        what = f"{usage['tokens']} tokens / 1000 = {quantity} × 1k tokens"
    else:
        quantity = metering.quantity or Decimal(1)
        what = f"{quantity} {unit.replace('_', '-')}"
    fee = _quantize(quantity * metering.unit_price, contract)
    return fee, f"{what} × {metering.unit_price} {currency} = {fee} {currency}"


def _compensation(facts: _Facts) -> dict[str, Any]:
    """Every tiered objective of the period in rule-file order: tier, credit, cap (§6.1.16)."""
    contract = facts.target.contract
    usage = _usage(facts)
    fee, fee_rule = _fee(contract, usage)
    cap = _quantize(fee * contract.cap_percent / 100, contract)
    remaining = cap
    chain = []
    p0, p1 = facts.period
    for objective in contract.objectives:
        if not objective.tiers:
            continue
        value = _value(facts, objective, p0, p1, facts.period_counts.get(objective.id))["value"]
        tier_index, tier = None, None
        for index, candidate in enumerate(objective.tiers):
            if value is not None and (
                value < candidate.bound if objective.higher_is_better else value > candidate.bound
            ):
                tier_index, tier = index, candidate
        percent = tier.credit_percent if tier else 0.0
        amount = _quantize(fee * Decimal(str(percent)) / 100, contract)
        capped = amount > remaining
        if capped:
            amount = remaining
        remaining -= amount
        chain.append(
            {
                "objective_id": objective.id,
                "sli": objective.sli,
                "value": value,
                "tier": tier_index,
                "bound": tier.bound if tier else None,
                "credit_percent": percent,
                "extension_hours": tier.extension_hours if tier else 0.0,
                "credit_amount": str(amount),
                "capped": capped,
                "cap_remaining_after": str(remaining),
            }
        )
    return {
        "usage": usage,
        "period_fee": str(fee),
        "fee_rule": fee_rule,
        "cap_percent": str(contract.cap_percent),
        "cap_amount": str(cap),
        "currency": contract.metering.currency,
        "objectives": chain,
    }
