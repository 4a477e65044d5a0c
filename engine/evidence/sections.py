"""The pack's descriptive sections: contract, objective, evaluated time, exemptions and the
source events behind the SLI, as JSON-ready dicts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.evidence.facts import _JUDGED, LIST_LIMIT, _Facts
from engine.evidence.instants import (
    HOUR_MS,
    MINUTE_MS,
    _local,
    _show,
    _span,
    _utc,
    _whole_minutes,
)
from engine.evidence.recompute import _minute_verdicts, _segments

if TYPE_CHECKING:
    from engine.core.contract import Contract, ObjectiveRule


def _contract_facts(facts: _Facts, contract: Contract) -> dict[str, Any]:
    spec = contract.spec
    tz = contract.tz
    p0, p1 = facts.period
    in_force = []
    for index, revision in enumerate(facts.revisions):
        later = facts.revisions[index + 1 :]
        if revision.effective_from_ms < p1 and (not later or later[0].effective_from_ms > p0):
            in_force.append(revision)
    return {
        "id": contract.id,
        "revision": contract.revision,
        "effective_from": _local(contract.effective_from_ms, tz),
        "rule_file": contract.source,
        "title": spec.contract.title,
        "customer": spec.parties.customer.name,
        "provider": spec.parties.provider.name,
        "service": spec.service.category,
        "term": _span(contract.term_start_ms, contract.term_end_ms, tz),
        "service_time": _service_time_of_period(
            spec.service_time.model_dump(mode="json", exclude_none=True), p0, p1, tz
        ),
        "metering": spec.metering.model_dump(mode="json", exclude_none=True),
        "cap_percent": str(contract.cap_percent),
        "maintenance_notice_hours": contract.maintenance_notice_ms / HOUR_MS,
        "maintenance_sources": sorted(contract.maintenance_sources),
        "revisions_in_period": [
            {
                "revision": r.revision,
                "rule_file": r.source,
                "effective_from": _local(r.effective_from_ms, tz),
            }
            for r in in_force
        ],
    }


def _service_time_of_period(
    service_time: dict[str, Any], p0: int, p1: int, tz: str
) -> dict[str, Any]:
    """The rule file's service time with only the holidays and extra workdays that fall in the
    period (local dates); how many others the file lists is said, not shown."""
    first, last = _local(p0, tz)[:10], _local(p1 - 1, tz)[:10]
    out = dict(service_time)
    for key in ("holidays", "extra_workdays"):
        days = out.get(key)
        if isinstance(days, list):
            inside = [d for d in days if isinstance(d, str) and first <= d[:10] <= last]
            out[key] = inside
            if len(inside) < len(days):
                out[f"{key} in other periods"] = len(days) - len(inside)
    return out


def _objective_facts(objective: ObjectiveRule) -> dict[str, Any]:
    return {
        "id": objective.id,
        "sli": objective.sli,
        "unit": objective.unit,
        "comparator": objective.comparator,
        "threshold": objective.threshold,
        "window_minutes": objective.window_ms // MINUTE_MS,
        "percentile": objective.percentile,
        "source": objective.source if objective.sli == "latency" else None,
        "unavailable_below": objective.unavailable_below,
        "no_data": objective.no_data,
        "degraded_is_down": objective.degraded_is_down,
        "min_requests": objective.min_requests,
        "tiers": [
            {
                "index": i,
                "bound": t.bound,
                "credit_percent": t.credit_percent,
                "extension_hours": t.extension_hours,
            }
            for i, t in enumerate(objective.tiers)
        ],
    }


def _evaluation_facts(facts: _Facts) -> dict[str, Any]:
    tz = facts.target.contract.tz
    first = facts.observed_from
    return {
        "observed_from": _utc(first) if first is not None else None,
        "observed_from_local": _local(first, tz) if first is not None else None,
        "service_time": [
            {**_span(s, e, tz), "minutes": (e - s) // MINUTE_MS} for s, e in facts.service
        ],
        "service_minutes": sum(e - s for s, e in facts.service) // MINUTE_MS,
        "evaluated_minutes": sum(e - s for s, e in facts.evaluated(*facts.period)) // MINUTE_MS,
    }


def _exemption_facts(facts: _Facts) -> dict[str, Any]:
    tz = facts.target.contract.tz
    p0, p1 = facts.period
    maintenance = []
    for n in facts.notices:
        if n["end_ms"] <= p0 or n["start_ms"] >= p1:
            continue
        s, e = _whole_minutes(n["start_ms"], n["end_ms"])
        service = [(max(a, s), min(b, e)) for a, b in facts.service if a < e and b > s]
        maintenance.append(
            {
                "maintenance_id": n["maintenance_id"],
                "source": n["source"],
                "announced": _utc(n["announced_ms"]),
                "announced_local": _local(n["announced_ms"], tz),
                "window_start": _utc(n["start_ms"]),
                "window_end": _utc(n["end_ms"]),
                "window_start_local": _local(n["start_ms"], tz),
                "window_end_local": _local(n["end_ms"], tz),
                "notice_hours": round(n["notice_ms"] / HOUR_MS, 3),
                "required_notice_hours": n["required_ms"] / HOUR_MS,
                "accepted": n["exempt"],
                "reason": n["reason"],
                "origin": n["origin"],
                "exempt_service_minutes": sum(b - a for a, b in service) // MINUTE_MS
                if n["exempt"]
                else 0,
            }
        )
    recorded = []
    outside = 0
    compared = ("window_start", "window_end", "notice_hours")
    for record in facts.target.records:
        for entry in record.get("evidence", {}).get("exemptions", []):
            if not _overlaps(entry, p0, p1):
                outside += 1  # the engine logs every notice of the term: not this period's
                continue
            if "maintenance_id" in entry:
                mine = next(
                    (m for m in maintenance if m["maintenance_id"] == entry["maintenance_id"]), None
                )
                theirs = {"exempt": entry["exempt"], **{k: entry[k] for k in compared}}
                ours = mine and {"exempt": mine["accepted"], **{k: mine[k] for k in compared}}
                recorded.append(
                    {
                        **entry,
                        "record": record["status"],
                        "recorded": theirs,
                        "recomputed": ours,
                        "agrees": theirs == ours,
                    }
                )
    force_majeure = [
        {"reason": r, **_span(s, e, tz)}
        for s, e, r in facts.target.contract.force_majeure
        if s < p1 and e > p0
    ]
    return {
        "maintenance": maintenance,
        "force_majeure": force_majeure,
        "recorded_in_engine_evidence": recorded,
        "recorded_outside_period": outside,
    }


def _overlaps(entry: dict[str, Any], p0: int, p1: int) -> bool:
    """Whether an exemption of a record's evidence (a maintenance window, ``window_start`` /
    ``window_end``, or force majeure, ``start`` / ``end``) overlaps [p0, p1); an entry
    without readable times is kept."""
    from engine.evidence.instants import _instant

    start = _instant(entry.get("window_start", entry.get("start")))
    end = _instant(entry.get("window_end", entry.get("end")))
    if start is None or end is None:
        return True
    return start < p1 and end > p0


def _sli_facts(facts: _Facts) -> dict[str, Any]:
    objective = facts.target.objective
    tz = facts.target.contract.tz
    spans = []
    for index, (lo, hi) in enumerate(facts.target.spans):
        span: dict[str, Any] = _span(lo, hi, tz)
        if objective.sli == "service_availability":
            span.update(_minute_facts(facts, objective, lo, hi))
        elif objective.sli == "latency":
            span["samples"] = facts.samples[index]
            span["samples_listed_limit"] = LIST_LIMIT
        elif objective.sli == "error_rate":
            span["minutes"] = [
                {
                    "minute": _utc(m),
                    "local": _show(m, tz),
                    "ok": r[0],
                    "requests": r[1],
                    "counted": facts.minute_status(m) == _JUDGED,
                }
                for m, r in sorted(facts.requests.items())
                if lo <= m < hi
            ][:LIST_LIMIT]
        spans.append(span)
    out: dict[str, Any] = {"sli": objective.sli, "spans": spans}
    if objective.sli in ("node_availability", "mttr", "mtbf", "failure_count", "max_recovery"):
        out["nodes"] = _node_facts(facts)
    if facts.incidents:
        out["incidents"] = [
            {
                **{k: v for k, v in i.items() if not k.endswith("_ms")},
                "opened": _utc(i["opened_ms"]),
                "resolved": _utc(i["resolved_ms"]) if i["resolved_ms"] is not None else None,
            }
            for i in facts.incidents.values()
            if (i["resolved_ms"] is None or i["resolved_ms"] > facts.period[0])
            and i["opened_ms"] < facts.period[1]
        ]
    return out


def _minute_facts(facts: _Facts, objective: ObjectiveRule, lo: int, hi: int) -> dict[str, Any]:
    tz = facts.target.contract.tz
    runs: list[dict[str, Any]] = []
    minutes: list[dict[str, Any]] = []
    for m, verdict, ok, n in _minute_verdicts(facts, objective.id, lo, hi):
        if n and len(minutes) < LIST_LIMIT:
            minutes.append(
                {
                    "minute": _utc(m),
                    "local": _show(m, tz),
                    "ok": ok,
                    "probes": n,
                    "verdict": verdict,
                }
            )
        if runs and runs[-1]["verdict"] == verdict and runs[-1]["_end"] == m:
            run = runs[-1]
            run["_end"], run["minutes"] = m + MINUTE_MS, run["minutes"] + 1
            run["probes_ok"], run["probes"] = run["probes_ok"] + ok, run["probes"] + n
        else:
            runs.append(
                {
                    "_start": m,
                    "_end": m + MINUTE_MS,
                    "verdict": verdict,
                    "minutes": 1,
                    "probes_ok": ok,
                    "probes": n,
                }
            )
    for run in runs:
        start, end = run.pop("_start"), run.pop("_end")
        run.update(
            {
                "start": _utc(start),
                "end": _utc(end),
                "start_local": _show(start, tz),
                "end_local": _show(end, tz),
            }
        )
    return {"runs": runs, "minutes": minutes}


def _node_facts(facts: _Facts) -> list[dict[str, Any]]:
    tz = facts.target.contract.tz
    out = []
    for name, node in sorted(facts.nodes.items()):
        out.append(
            {
                "node": name,
                "state_at_period_start": node.carried[2] if node.carried else None,
                "transitions": [
                    {"time": _utc(t), "local": _show(t, tz), "state": s, "origin": o}
                    for t, _, s, o in sorted(node.transitions)
                    if facts.period[0] <= t < facts.period[1]
                ],
                "segments": [
                    {"start": _utc(s), "end": _utc(e), "state": st}
                    for s, e, st in _segments(facts, node, facts.period[1])
                ],
            }
        )
    return out
