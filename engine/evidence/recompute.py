"""The recomputation, SLI by SLI, in plain Python from the facts: minute verdicts, node states
and failures, exact nearest-rank latency, error rate; and an incident's priority (§6.2.2)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from engine.evidence.facts import (
    _JUDGED,
    AVAILABLE,
    EXEMPT,
    NO_DATA,
    NOT_EVALUATED,
    UNAVAILABLE,
    _Facts,
    _Node,
)
from engine.evidence.instants import HOUR_MS, MINUTE_MS, _need, _overlap, _utc

if TYPE_CHECKING:
    from engine.core.contract import ObjectiveRule


def _minute_verdicts(
    facts: _Facts, objective_id: str, lo: int, hi: int
) -> Iterator[tuple[int, str, int, int]]:
    """(minute, verdict, ok probes, probes) for every minute of [lo, hi)."""
    for m in range(lo // MINUTE_MS * MINUTE_MS, hi, MINUTE_MS):
        ok, n = facts.probes.get(m, (0, 0))
        status = facts.minute_status(m)
        objective = facts.objective_at(m, objective_id)
        if objective is None and status == _JUDGED:
            status = NOT_EVALUATED
        if status != _JUDGED or objective is None:
            yield m, status, ok, n
        elif n == 0:
            yield m, NO_DATA, ok, n
        else:
            bad = ok * 100 < objective.unavailable_below * n
            yield m, UNAVAILABLE if bad else AVAILABLE, ok, n


def _service_availability(
    facts: _Facts, objective: ObjectiveRule, lo: int, hi: int
) -> dict[str, Any]:
    counts = Counter(v for _, v, _, _ in _minute_verdicts(facts, objective.id, lo, hi))
    good, bad, no_data = counts[AVAILABLE], counts[UNAVAILABLE], counts[NO_DATA]
    evaluated = good + bad + no_data
    if objective.no_data == "available":
        numerator, total = good + no_data, evaluated
    elif objective.no_data == "unavailable":
        numerator, total = good, evaluated
    else:
        numerator, total = good, good + bad
    value = 100.0 * numerator / total if total else None
    judged = "evaluated" if objective.no_data != "unknown" else "judged"
    return {
        "value": value,
        "available_minutes": good,
        "unavailable_minutes": bad,
        "no_data_minutes": no_data,
        "evaluated_minutes": evaluated,
        "exempt_minutes": counts[EXEMPT],
        "good": numerator,
        "total": total,
        "summary": f"{numerator} available of {total} {judged} minutes = {_pct(value)}"
        + (f" (no-data minutes count as {objective.no_data})" if judged == "evaluated" else ""),
    }


def _segments(facts: _Facts, node: _Node, hi: int) -> list[tuple[int, int, str]]:
    """A node's known states in [period start, hi), in event-time order (ties: arrival)."""
    p0 = facts.period[0]
    state = node.carried[2] if node.carried else None
    cursor = p0
    out: list[tuple[int, int, str]] = []
    for t, _, new, _ in sorted(node.transitions):
        if t >= hi:
            break
        if state is not None and t > cursor:
            out.append((cursor, t, state))
        cursor, state = max(cursor, t), new
    if state is not None and hi > cursor:
        out.append((cursor, hi, state))
    return out


def _node_availability(facts: _Facts, objective: ObjectiveRule, lo: int, hi: int) -> dict[str, Any]:
    evaluated = facts.evaluated(lo, hi)
    up = down = 0
    per_node = []
    for name, node in sorted(facts.nodes.items()):
        node_up = node_down = 0
        for s, e, state in _segments(facts, node, hi):
            piece = sum(_overlap([(s, e)], a, b) for a, b in evaluated)
            if state == "down" or (state == "degraded" and objective.degraded_is_down):
                node_down += piece
            else:
                node_up += piece
        per_node.append({"node": name, "up_ms": node_up, "down_ms": node_down})
        up, down = up + node_up, down + node_down
    value = 100.0 * up / (up + down) if up + down else None
    return {
        "value": value,
        "up_ms": up,
        "down_ms": down,
        "good": up,
        "total": up + down,
        "per_node": per_node,
        "summary": f"{up} up of {up + down} known node-ms in evaluated time = {_pct(value)}",
    }


def _failures(facts: _Facts) -> list[dict[str, Any]]:
    """Down intervals of the period; one that began before it starts at the period start."""
    p0 = facts.period[0]
    out: list[dict[str, Any]] = []
    for name, node in sorted(facts.nodes.items()):
        state = node.carried[2] if node.carried else None
        open_failure = {"node": name, "start": p0, "end": None} if state == "down" else None
        for t, _, new, _ in sorted(node.transitions):
            if new == state:
                continue
            if new == "down":
                open_failure = {"node": name, "start": t, "end": None}
            elif state == "down" and open_failure is not None:
                open_failure["end"] = t
                out.append(open_failure)
                open_failure = None
            state = new
        if open_failure is not None:
            out.append(open_failure)
    kept = [f for f in out if f["end"] is None or f["end"] > p0]
    return sorted(kept, key=lambda f: (f["start"], f["node"]))


def _reliability(facts: _Facts, objective: ObjectiveRule, until: int) -> dict[str, Any]:
    known = [f for f in _failures(facts) if f["start"] < until]
    restored = [f for f in known if f["end"] is not None and f["end"] <= until]
    restoration_ms = sum(f["end"] - f["start"] for f in restored)
    longest_ms = max((min(f["end"] or until, until) - f["start"] for f in known), default=0)
    operating_ms = 0
    for node in facts.nodes.values():
        for s, e, state in _segments(facts, node, until):
            if state != "down":
                operating_ms += e - s
    count = len(known)
    value: float | None
    match objective.sli:
        case "failure_count":
            value, summary = float(count), f"{count} failure(s) of compute nodes"
        case "max_recovery":
            value = longest_ms / MINUTE_MS
            summary = f"longest failure {longest_ms} ms = {value:.4f} min"
        case "mttr":
            value = restoration_ms / len(restored) / MINUTE_MS if restored else None
            summary = (
                f"{restoration_ms} ms of restoration over {len(restored)} restored "
                f"failure(s) = {_num(value)} min"
            )
        case _:  # mtbf
            value = operating_ms / HOUR_MS / count if count else None
            summary = f"{operating_ms} ms of node operation / {count} failure(s) = {_num(value)} h"
    listed = [
        {
            "node": f["node"],
            "start": _utc(f["start"]),
            "end": _utc(f["end"]) if f["end"] is not None and f["end"] <= until else None,
        }
        for f in known
    ]
    return {
        "value": value,
        "failures": count,
        "restored": len(restored),
        "restoration_ms": restoration_ms,
        "longest_ms": longest_ms,
        "operating_ms": operating_ms,
        "failure_list": listed,
        "summary": summary,
    }


def _nearest_rank(counts: Counter[float], q: float) -> tuple[float | None, int, int]:
    """Exact nearest-rank percentile: rank r = max(1, ⌈q·n/100⌉), the r-th smallest sample."""
    n = sum(counts.values())
    if n == 0:
        return None, 0, 0
    rank = max(1, math.ceil(Fraction(repr(float(q))) * n / 100))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value, rank, n
    raise AssertionError("rank beyond the samples")


def _latency(objective: ObjectiveRule, counts: Counter[float]) -> dict[str, Any]:
    q = objective.percentile or 99.0
    value, rank, n = _nearest_rank(counts, q)
    judged = n >= objective.min_requests and value is not None
    summary = (
        f"p{q:g} of {n} samples: rank {rank} = {value:g} ms (exact nearest rank)"
        if value is not None
        else "no samples"
    )
    if not judged and value is not None:
        summary += f"; fewer than min_requests = {objective.min_requests}: not judged"
    return {
        "value": value if judged else None,
        "exact_nearest_rank": value,
        "rank": rank,
        "samples": n,
        "percentile": q,
        "summary": summary,
    }


def _error_rate(facts: _Facts, objective: ObjectiveRule, lo: int, hi: int) -> dict[str, Any]:
    ok = n = 0
    for minute, row in facts.requests.items():
        if lo <= minute < hi and facts.minute_status(minute) == _JUDGED:
            ok, n = ok + row[0], n + row[1]
    value = 100.0 * (n - ok) / n if n and n >= objective.min_requests else None
    return {
        "value": value,
        "ok_requests": ok,
        "failed_requests": n - ok,
        "requests": n,
        "good": ok,
        "total": n,
        "summary": f"{n - ok} failed of {n} requests in evaluated minutes = {_pct(value)}",
    }


def _value(
    facts: _Facts, objective: ObjectiveRule, lo: int, hi: int, counts: Counter[float] | None
) -> dict[str, Any]:
    """The objective's SLI over [lo, hi) (reliability: over [period start, hi))."""
    match objective.sli:
        case "service_availability":
            return _service_availability(facts, objective, lo, hi)
        case "node_availability":
            return _node_availability(facts, objective, lo, hi)
        case "latency":
            return _latency(objective, counts or Counter())
        case "error_rate":
            return _error_rate(facts, objective, lo, hi)
    return _reliability(facts, objective, hi)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f} %"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _priority(facts: _Facts, record: dict[str, Any], lo: int) -> int | None:
    """Highest impact × urgency of incidents overlapping the record's window, as known then."""
    end, detected = _need(record["window_end"]), _need(record["detected_at"])
    best = None
    for incident in facts.incidents.values():
        opened, resolved = incident["opened_ms"], incident["resolved_ms"]
        if opened < min(end, detected) and (resolved is None or resolved > lo):
            best = max(best or 0, incident["priority"])
    return best
