"""The page's sections on exemptions (§6.1.13) and on the source events behind the value."""

from __future__ import annotations

from typing import Any

from engine.evidence.facts import AVAILABLE, EXEMPT, NO_DATA, OUTSIDE, UNAVAILABLE
from engine.evidence.markup import _at, _e, _hm, _table


def _exemptions_html(ex: dict[str, Any]) -> str:
    parts = ["<h2>Exemptions applied (§6.1.13)</h2>"]
    if ex["maintenance"]:
        parts.append(
            _table(
                [
                    "maintenance",
                    "announced (local)",
                    "window (local)",
                    "notice h",
                    "required h",
                    "source",
                    "accepted",
                    "why",
                    "exempt service minutes",
                ],
                [
                    [
                        m["maintenance_id"],
                        _hm(m["announced_local"]),
                        f"{_hm(m['window_start_local'])} → {_hm(m['window_end_local'])}",
                        m["notice_hours"],
                        m["required_notice_hours"],
                        m["source"],
                        m["accepted"],
                        m["reason"],
                        m["exempt_service_minutes"],
                    ]
                    for m in ex["maintenance"]
                ],
            )
        )
        parts.append(
            '<p class="muted">Only the announced window is exempt; a minute is exempt '
            "only when the window covers it entirely; an overrun is not exempt.</p>"
        )
    else:
        parts.append("<p>No maintenance notice covers this period.</p>")
    if ex["force_majeure"]:
        parts.append(
            _table(
                ["force majeure (rule file)", "start (local)", "end (local)"],
                [[f["reason"], f["start_local"], f["end_local"]] for f in ex["force_majeure"]],
            )
        )
    else:
        parts.append("<p>No force-majeure interval in the rule file overlaps this period.</p>")
    if ex.get("recorded_outside_period"):
        parts.append(
            f'<p class="muted">The record\'s own evidence also lists '
            f"{ex['recorded_outside_period']} exemption(s) of other periods (the engine logs "
            "every notice of the term); they do not touch this period and are left out.</p>"
        )
    if ex["recorded_in_engine_evidence"]:
        parts.append(
            _table(
                ["recorded by the engine", "exempt", "agrees with the input"],
                [
                    [r["maintenance_id"], r["exempt"], r["agrees"]]
                    for r in ex["recorded_in_engine_evidence"]
                ],
            )
        )
    return "".join(parts)


_ROW_CLASS = {
    AVAILABLE: "available",
    UNAVAILABLE: "unavailable",
    EXEMPT: "exempt",
    NO_DATA: "nodata",
}


def _facts_html(ev: dict[str, Any]) -> str:
    tz = ev["contract"]["service_time"]["timezone"]
    facts = ev["facts"]
    sli = facts["sli"]
    parts = ["<h2>Source events</h2>"]
    for span in facts["spans"]:
        parts.append(f"<h3>{_hm(span['start_local'])} → {_hm(span['end_local'])} (local)</h3>")
        if sli == "service_availability":
            parts.append(
                "<p>Each minute of service time is judged on its probes: unavailable "
                "when the share of successful probes is below the objective's "
                "<code>unavailable_below</code>.</p>"
            )
            runs = span["runs"]
            parts.append(
                _table(
                    ["from (local)", "to (local)", "verdict", "minutes", "probes ok", "probes"],
                    [
                        [
                            r["start_local"],
                            r["end_local"],
                            r["verdict"],
                            r["minutes"],
                            r["probes_ok"],
                            r["probes"],
                        ]
                        for r in runs
                    ],
                    [_ROW_CLASS.get(r["verdict"], "") for r in runs],
                )
            )
            minutes = [m for m in span["minutes"] if m["verdict"] != OUTSIDE]
            shown = minutes[:3000]
            parts.append(
                f"<details><summary>Minutes with probes in service time ({len(minutes)}"
                + (", first 3000 shown; all in the JSON" if len(minutes) > 3000 else "")
                + ")</summary>"
                + _table(
                    ["minute (local)", "ok", "probes", "verdict"],
                    [[m["local"], m["ok"], m["probes"], m["verdict"]] for m in shown],
                    [_ROW_CLASS.get(m["verdict"], "") for m in shown],
                )
                + "</details>"
            )
        elif sli == "latency":
            samples = span["samples"]
            shown = samples[:3000]
            parts.append(f"<p>{len(samples)} sample(s) in this range.</p>")
            parts.append(
                _table(
                    ["event id", "event time (UTC)", "latency ms", "counted", "origin"],
                    [
                        [
                            s["event_id"],
                            s["event_time"],
                            s["latency_ms"],
                            s["counted"] or s["minute_status"],
                            s["origin"],
                        ]
                        for s in shown
                    ],
                )
            )
        elif sli == "error_rate":
            minutes = span["minutes"][:3000]
            parts.append(
                _table(
                    ["minute (local)", "ok", "requests", "counted"],
                    [[m["local"], m["ok"], m["requests"], m["counted"]] for m in minutes],
                )
            )
    for node in facts.get("nodes", []):
        parts.append(
            f"<h3>Node {_e(node['node'])} (state at period start: "
            f"{_e(node['state_at_period_start'] or 'not reported yet')})</h3>"
        )
        parts.append(
            _table(
                ["time (local)", "state", "origin"],
                [[t["local"], t["state"], t["origin"]] for t in node["transitions"]],
            )
        )
    for value in ev["recomputation"]["values"]:
        if value.get("failure_list"):
            parts.append("<h3>Failures (down intervals) in the period</h3>")
            parts.append(
                _table(
                    ["node", "down from (local)", "restored (local)"],
                    [
                        [f["node"], _at(f["start"], tz), _at(f["end"], tz) or "not restored"]
                        for f in value["failure_list"]
                    ],
                )
            )
            break
    if facts.get("incidents"):
        parts.append("<h3>Incidents (priority = impact × urgency, §6.2.2)</h3>")
        parts.append(
            _table(
                ["incident", "priority", "opened (local)", "resolved (local)", "summary"],
                [
                    [
                        i["incident_id"],
                        i["priority"],
                        _at(i["opened"], tz),
                        _at(i["resolved"], tz),
                        i["summary"],
                    ]
                    for i in facts["incidents"]
                ],
            )
        )
    return "".join(parts)
