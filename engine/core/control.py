"""Control events of a closing range: planned maintenance and force majeure (§6.1.13),
incidents (§6.2.2) and node state, and the evaluated time they leave (§6.1.5, §6.1.6)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl

from engine.core import intervals as iv
from engine.core.calendar import service_intervals, utc_iso
from engine.core.contract import Contract
from engine.core.state import ContractState, EngineState

if TYPE_CHECKING:
    from engine.core.evaluate import MinuteData

HOUR_MS = 3_600_000


def apply_control(
    cs: ContractState, contract: Contract, data: MinuteData, a: int, b: int
) -> dict[str, list[tuple[int, int, str]]]:
    """Apply maintenance, incident and node-state events; return node segments in [a, b).

    Segments: node → [(start, end, state)] where state is up/down/degraded, for the time the
    node's state is known.  Events are in event-time order (ties: arrival order).
    """
    transitions: dict[str, list[tuple[int, str]]] = {}
    # the first closing of the contract: cs.nodes holds only states reported before the term
    first = a == cs.observed_from_ms
    for row in data.control:
        kind, t = row["kind"], row["event_ms"]
        if kind == "maintenance":
            maintenance(cs, contract, row)
        elif kind == "incident":
            priority = (row["impact"] or 1) * (row["urgency"] or 1)
            if row["status"] == "opened":
                cs.incidents.setdefault(row["incident_id"], [priority, t])
            elif row["incident_id"] in cs.incidents:
                prio, start = cs.incidents.pop(row["incident_id"])
                cs.incident_log.append([row["incident_id"], prio, start, t])
        elif kind == "node_state":
            transitions.setdefault(row["resource_id"], []).append((t, row["state"]))
            if row["tenant_id"] is not None or row["project_id"] is not None:
                # metering (§6.1.7): the node's time from now on is billed to this owner
                owner = f"{row['tenant_id'] or '-'}\x1f{row['project_id'] or '-'}"
                history = cs.owners.setdefault(row["resource_id"], [])
                if not history or history[-1][1] != owner:
                    history.append([t, owner])
    segments: dict[str, list[tuple[int, int, str]]] = {}
    for node in sorted(set(cs.nodes) | set(transitions)):
        segs: list[tuple[int, int, str]] = []
        current = cs.nodes.get(node)
        cursor = a
        if first and current is not None:
            moves = transitions.get(node)
            if moves and moves[0][0] == a:
                current = None  # a report at the start of evaluation supersedes the earlier one
            elif current[0] == "down":
                failure_edge(cs, node, None, "down", a)  # down since before the term
        for t, state in transitions.get(node, []):
            if current is not None and t > cursor:
                segs.append((cursor, t, current[0]))
            cursor = max(cursor, t)
            if current is None or current[0] != state:
                failure_edge(cs, node, current[0] if current else None, state, t)
                current = [state, t]
        if current is not None and b > cursor:
            segs.append((cursor, b, current[0]))
        if current is not None:
            cs.nodes[node] = current
        segments[node] = segs
    # failures in time order (then node), however the range was cut into closings
    cs.failures.sort(key=lambda f: (f["start"], f["node"]))
    return segments


def maintenance(cs: ContractState, contract: Contract, row: dict[str, Any]) -> None:
    start, end, announced = row["window_start_ms"], row["window_end_ms"], row["event_ms"]
    notice_ms = start - announced
    entry = {
        "maintenance_id": row["maintenance_id"],
        "window_start": utc_iso(start),
        "window_end": utc_iso(end),
        "announced": utc_iso(announced),
        "notice_hours": round(notice_ms / HOUR_MS, 3),
        "source": row["source"],
    }
    if row["source"] not in contract.maintenance_sources:
        entry["exempt"] = False
        entry["reason"] = f"announced by {row['source']}, not an allowed source"
    elif notice_ms < contract.maintenance_notice_ms:
        entry["exempt"] = False
        entry["reason"] = (
            f"announced {notice_ms / HOUR_MS:.2f} h ahead; the contract requires "
            f"{contract.maintenance_notice_ms / HOUR_MS:g} h (§6.1.13)"
        )
    else:
        entry["exempt"] = True
        entry["reason"] = "planned downtime announced in time (§6.1.13)"
        cs.exemptions.append([start, end, f"maintenance {row['maintenance_id']}"])
    cs.maintenance_log.append(entry)


def failure_edge(cs: ContractState, node: str, old: str | None, new: str, t: int) -> None:
    if new == "down" and old != "down":
        cs.failures.append({"node": node, "start": t, "end": None})
    elif old == "down" and new != "down":
        for failure in reversed(cs.failures):
            if failure["node"] == node and failure["end"] is None:
                failure["end"] = t
                break


def exempt_intervals(cs: ContractState, contract: Contract) -> list[iv.Interval]:
    spans = [(s, e) for s, e, _ in cs.exemptions] + [(s, e) for s, e, _ in contract.force_majeure]
    return iv.normalise(spans)


def evaluated_intervals(
    cs: ContractState, contract: Contract, lo: int, hi: int, *, exemptions: bool = True
) -> list[iv.Interval]:
    """Service time ∩ term ∩ observed − exemptions, in [lo, hi) (§6.1.5, §6.1.6, §6.1.13).

    ``exemptions=False`` leaves exemptions in: the time that could still be owed, as used to
    judge whether a breach is already certain (an exemption can only make it more so).
    """
    lo = max(lo, contract.term_start_ms, cs.observed_from_ms or lo)
    hi = min(hi, contract.term_end_ms)
    if hi <= lo:
        return []
    service = service_intervals(contract.calendar, lo, hi)
    if not exemptions:
        return service
    exempt = [iv.inner_minutes(span) for span in exempt_intervals(cs, contract)]
    return iv.subtract(service, exempt)


def split_failures(cs: ContractState, period_start: int) -> None:
    """A new period keeps failures that reach into it; one spanning the edge is split at it."""
    carried = []
    for failure in cs.failures:
        if failure["start"] >= period_start:
            carried.append(failure)
        elif failure["end"] is None or failure["end"] > period_start:
            carried.append({**failure, "start": period_start})
    cs.failures = carried


# --- node states reported before the term (Table A.1: node online time / total time) ----------
def before_term() -> pl.Expr:
    """A ``node_state`` event dated before its contract's term (``_term_start``): not outside
    the term like other events, but the node's state at the term start."""
    return (pl.col("kind") == "node_state") & (pl.col("event_ms") < pl.col("_term_start"))


def at_term_start(events: pl.DataFrame) -> pl.DataFrame:
    """Events before the term (:func:`before_term`) are judged at the term start: their time
    is kept in ``_reported`` and ``event_ms`` becomes the term start, so such a report is late
    once the term's first minute has closed (it cannot change a closed minute), and moves a
    watermark no earlier than the term."""
    early = before_term()
    return events.with_columns(
        _reported=pl.when(early).then(pl.col("event_ms")),
        event_ms=pl.when(early).then(pl.col("_term_start")).otherwise(pl.col("event_ms")),
    )


def fold_term_start(state: EngineState, events: pl.DataFrame) -> pl.DataFrame:
    """Take the accepted reports from before the term out of ``events`` and keep, per node,
    the latest (event time; ties: the later arrival) as its state at the term start
    (``cs.nodes``), with the owner the latest of them names (§6.1.7).  Only possible before
    the contract's first closing (later they are late), so it changes no closed minute and
    opens nothing before the term; evaluation then starts at the term start (pipeline
    ``_targets``) and a node down at it has a failure from there (:func:`apply_control`)."""
    reported = events.get_column("_reported").is_not_null()
    if not reported.any():
        return events.drop("_reported")
    rows = events.filter(reported).select(
        "contract_id", "resource_id", "state", "_reported", "tenant_id", "project_id"
    )
    for cid, node, node_state, t, tenant, project in rows.iter_rows():
        cs = state.writable(cid)
        if cs is None:
            cs = state.contracts[cid] = ContractState(max_event_ms=t)
        cs.max_event_ms = max(cs.max_event_ms, t)
        known = cs.nodes.get(node)
        if known is None or t >= known[1]:
            cs.nodes[node] = [node_state, t]
        if tenant is not None or project is not None:
            history = cs.owners.get(node)
            if not history or t >= history[-1][0]:
                cs.owners[node] = [[t, f"{tenant or '-'}\x1f{project or '-'}"]]
    return events.filter(~reported).drop("_reported")
