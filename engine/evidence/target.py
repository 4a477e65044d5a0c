"""Which record the pack explains: the breach or compensation found in the replay, its contract
revision, objective, assessment period and the range(s) its value was judged over."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.evidence.instants import _need

if TYPE_CHECKING:
    from engine.core.contract import Contract, ObjectiveRule, Ruleset


class EvidenceError(ValueError):
    """The record cannot be explained: unknown id, or its contract revision is not in the rules."""


@dataclass
class _Target:
    kind: str  # "breach" | "compensation"
    records: list[dict[str, Any]]
    contract: Contract
    objective: ObjectiveRule
    period: tuple[int, int]
    ranges: list[tuple[int, int]]  # per record: the range its value was judged over
    spans: list[tuple[int, int]] = field(default_factory=list)  # the ranges merged

    def __post_init__(self) -> None:  # overlapping ranges merge; adjacent windows stay apart
        for start, end in sorted(self.ranges):
            if self.spans and start < self.spans[-1][1]:
                self.spans[-1] = (self.spans[-1][0], max(self.spans[-1][1], end))
            else:
                self.spans.append((start, end))


def _locate(
    ruleset: Ruleset,
    breaches: list[dict[str, Any]],
    comps: list[dict[str, Any]],
    record_id: str,
    input_path: str,
) -> _Target:
    from engine.core.calendar import period_containing

    records = [c for c in comps if c["compensation_id"] == record_id][:1]
    kind = "compensation"
    if not records:
        records, kind = [b for b in breaches if b["breach_id"] == record_id], "breach"
    if not records:
        known = sorted({b["breach_id"] for b in breaches} | {c["compensation_id"] for c in comps})
        close = difflib.get_close_matches(record_id, known, n=3, cutoff=0.6)
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else "ids look like comp:<contract>:<objective>:<period start>:r<revision> or "
            "breach:<contract>:<objective>:<window start>:r<revision>"
        )
        raise EvidenceError(
            f"no breach or compensation with id {record_id!r} in the replay of {input_path} "
            f"({len({b['breach_id'] for b in breaches})} breach ids, {len(comps)} compensation "
            f"ids found); {hint}"
        )
    first = records[0]
    revisions = ruleset.revisions.get(first["contract_id"], ())
    contract = next((r for r in revisions if r.revision == first["contract_version"]), None)
    if contract is None:
        raise EvidenceError(
            f"{record_id}: the rules hold no revision {first['contract_version']} of contract "
            f"{first['contract_id']!r}"
        )
    objective = next((o for o in contract.objectives if o.id == first["objective_id"]), None)
    if objective is None:
        raise EvidenceError(f"{record_id}: objective {first['objective_id']!r} is not in the rules")
    if kind == "compensation":
        period = (_need(first["period_start"]), _need(first["period_end"]))
        ranges = [period]
    else:
        start, end = period_containing(contract.period, _need(first["window_start"]))
        period = (start, min(end, contract.term_end_ms))
        ranges = [(_need(r["window_start"]), _need(r["detected_at"])) for r in records]
    return _Target(kind, records, contract, objective, period, ranges)
