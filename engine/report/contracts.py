"""What the report needs to know of a contract beyond its output records, from its rule file.

The records carry the numbers; the rule file names the parties, the time zone the periods and
days are laid in, each objective's target and tiers, and the compensation cap (§6.1.16). A
contract whose rule file is gone is still reported, from its records alone, in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.core.contract import Contract, Ruleset


@dataclass(frozen=True, slots=True)
class ObjectiveInfo:
    id: str
    sli: str
    comparator: str
    threshold: float
    window_minutes: int | None = None
    percentile: float | None = None
    tiers: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ContractInfo:
    id: str
    tz: str = "UTC"
    revision: int | None = None
    title: str | None = None
    customer: str | None = None
    provider: str | None = None
    service_time: str | None = None
    metering_unit: str | None = None
    currency: str | None = None
    cap_percent: str | None = None
    rounding: str | None = None
    rule: str | None = None
    objectives: dict[str, ObjectiveInfo] = field(default_factory=dict)
    contract: Contract | None = field(default=None, repr=False, compare=False)


def contract_info(ruleset: Ruleset | None, contract_id: str, at_ms: int) -> ContractInfo:
    """The revision of ``contract_id`` in force at ``at_ms`` (else its latest), as report facts."""
    contract = None
    if ruleset is not None:
        contract = ruleset.at(contract_id, at_ms) or ruleset.latest(contract_id)
    if contract is None:
        return ContractInfo(id=contract_id)
    spec = contract.spec
    objectives = {
        o.id: ObjectiveInfo(
            id=o.id,
            sli=str(o.sli),
            comparator=str(o.comparator),
            threshold=float(o.threshold),
            window_minutes=o.window_ms // 60_000,
            percentile=o.percentile,
            tiers=tuple(t.model_dump(mode="json") for t in o.tiers),
        )
        for o in contract.objectives
    }
    return ContractInfo(
        id=contract.id,
        tz=contract.tz,
        revision=contract.revision,
        title=spec.contract.title,
        customer=spec.parties.customer.name,
        provider=spec.parties.provider.name,
        service_time=str(spec.service_time.preset),
        metering_unit=str(contract.metering.unit),
        currency=contract.metering.currency,
        cap_percent=f"{contract.cap_percent.normalize():f}",
        rounding=str(contract.metering.rounding),
        rule=contract.source or None,
        objectives=objectives,
        contract=contract,
    )
