"""Discrepancies: windows where the platform's measurement and the reports disagree (§6.1.3,
§6.2.6: what a dispute is about).

For every closed window of a probe-availability objective (service, storage or network
availability, measured by the counting sources' probes; by default the platform's):

* ``platform_down_unreported``: the probes saw unavailable minutes, and no counted report (a
  node down, an incident open) overlaps the window — an outage nobody reported;
* ``reported_down_platform_up``: a counted report says down (a node down, an incident open)
  for part of the window, yet every judged minute of it was available to the probes.

A discrepancy changes no number: it is evidence for the parties, kept beside the metrics.
Reports are the contract's node-state and incident events (by default from the platform and
the provider); a node or incident still open counts as down up to the window's end.  Pure.
"""

from __future__ import annotations

from typing import cast

from engine.core import intervals as iv
from engine.core.calendar import utc_iso
from engine.core.contract import Contract, ObjectiveRule
from engine.core.records import DiscrepancyRecord
from engine.core.state import ContractState, WindowAcc

MINUTE_MS = 60_000
MEANING = {
    "platform_down_unreported": "the probes saw unavailable minutes; no report of a node down "
    "or an incident open overlaps the window",
    "reported_down_platform_up": "a report says down for part of the window; every judged "
    "minute was available to the probes",
}
"""Each kind of discrepancy, in a sentence (evidence packs and reports show it)."""
KINDS = tuple(MEANING)


def reported_down(cs: ContractState, start: int, end: int) -> tuple[int, list[str], list[str]]:
    """Milliseconds of [start, end) that a counted report says down, and the nodes and
    incidents that say so."""
    if not (cs.failures or cs.incident_log or cs.incidents):  # no report says down
        return 0, [], []
    spans: list[iv.Interval] = []
    nodes, incidents = set(), set()
    for failure in cs.failures:
        lo, hi = failure["start"], failure["end"] if failure["end"] is not None else end
        if lo < end and hi > start:
            spans.append((max(lo, start), min(hi, end)))
            nodes.add(failure["node"])
    logged = [(i, s, e) for i, _, s, e in cs.incident_log]
    opened = [(i, s, end) for i, (_, s) in cs.incidents.items()]
    for incident, lo, hi in logged + opened:
        if lo < end and hi > start:
            spans.append((max(lo, start), min(hi, end)))
            incidents.add(incident)
    return iv.total(iv.normalise(spans)), sorted(nodes), sorted(incidents)


def window_discrepancy(
    contract: Contract, objective: ObjectiveRule, cs: ContractState, acc: WindowAcc
) -> DiscrepancyRecord | None:
    """The discrepancy record of a closed probe-availability window, or None."""
    down_ms, nodes, incidents = reported_down(cs, acc.start, acc.end)
    if acc.bad > 0 and down_ms == 0:
        kind = "platform_down_unreported"
    elif down_ms > 0 and acc.bad == 0 and acc.good > 0:
        kind = "reported_down_platform_up"
    else:
        return None
    sources = sorted(contract.counting.get("probe", ()))
    return cast(
        DiscrepancyRecord,
        {
            "record": "discrepancy",
            "discrepancy_id": f"discrepancy:{contract.id}:{objective.id}:{utc_iso(acc.start)}"
            f":r{contract.revision}",
            "contract_id": contract.id,
            "contract_version": contract.revision,
            "objective_id": objective.id,
            "sli": objective.sli,
            "kind": kind,
            "window_start": utc_iso(acc.start),
            "window_end": utc_iso(acc.end),
            "measured": {
                "sources": sources,
                "unavailable_minutes": acc.bad,
                "available_minutes": acc.good,
            },
            "reported": {
                "down_minutes": round(down_ms / MINUTE_MS, 3),
                "nodes_down": nodes,
                "incidents": incidents,
            },
        },
    )
