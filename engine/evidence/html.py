"""The pack as one self-contained HTML page (inline CSS, no scripts, no fetches)."""

from __future__ import annotations

import html
from typing import Any

from engine.evidence.discrepancies import _discrepancies_html
from engine.evidence.html_facts import _exemptions_html, _facts_html
from engine.evidence.instants import _instant
from engine.evidence.markup import _CSS, _e, _nested, _pairs, _table
from engine.evidence.sections import _overlaps


def render_html(ev: dict[str, Any]) -> str:
    """The pack as one HTML page a customer can open offline."""
    c, o, rec = ev["contract"], ev["objective"], ev["recomputation"]
    parts = [
        f"<h1>Evidence pack: {html.escape(ev['id'])}</h1>",
        f'<p class="sub">{_e(c["title"])} — contract {_e(c["id"])} revision '
        f"{c['revision']} between {_e(c['customer'])} (customer) and {_e(c['provider'])} "
        f"(provider). {html.escape(ev['about'])}</p>",
    ]
    ok = ev["matches"]
    parts.append(
        f'<div class="verdict {"good" if ok else "bad"}">'
        + (
            "The recomputation from the source events matches the recorded value."
            if ok
            else "The recomputation does NOT match the recorded value: see the checks."
        )
        + "</div>"
    )
    unit = "%" if o["unit"] == "percent" else o["unit"]
    parts.append(
        f'<p class="key">Objective <b>{_e(o["id"])}</b> ({_e(o["sli"])}): '
        f"{_e(o['comparator'])} {_e(o['threshold'])} {_e(unit)}</p>"
    )
    for value in rec["values"]:
        verdict = value.get("meets_objective")
        met = (
            ""
            if verdict is None
            else (" — meets the objective" if verdict else " — does not meet the objective")
        )
        parts.append(f'<p class="key">{_e(value["record"])}: {_e(value["summary"])}{met}</p>')
    comp = rec["compensation"]
    if comp:
        mine = comp["target"]
        tier = (
            "no tier applies"
            if mine["tier"] is None
            else f"tier {mine['tier']} (number {mine['tier'] + 1} in the rule file: the period "
            f"value is worse than {_e(mine['bound'])}) gives {_e(mine['credit_percent'])} % of "
            "the period fee"
        )
        parts.append(
            f'<p class="key">Compensation: {tier}; {_e(comp["arithmetic"])} '
            f"(period fee {_e(comp['period_fee'])} {_e(comp['currency'])}: "
            f"{_e(comp['fee_rule'])})</p>"
        )
    parts.append("<h2>The record(s) as issued by the engine</h2>")
    p0, p1 = _instant(ev["period"]["start"]), _instant(ev["period"]["end"])
    for record in ev["records"]:
        items = [(k, v) for k, v in record.items() if k != "evidence"]
        evidence = dict(record.get("evidence", {}))
        if "exemptions" in evidence and p0 is not None and p1 is not None:
            kept = [x for x in evidence["exemptions"] if _overlaps(x, p0, p1)]
            left_out = len(evidence["exemptions"]) - len(kept)
            evidence["exemptions"] = kept
            if left_out:
                evidence["exemptions outside the period"] = (
                    f"{left_out} not shown (in the JSON pack's record)"
                )
        items.append(("evidence", evidence))
        parts.append(_pairs(items))
    parts.append("<h2>Contract</h2>")
    parts.append(
        _pairs(
            [
                ("rule file", c["rule_file"]),
                ("revision", c["revision"]),
                ("effective from", c["effective_from"]),
                ("service", c["service"]),
                ("term", f"{c['term']['start_local']} → {c['term']['end_local']}"),
                ("service time (§6.1.6)", c["service_time"]),
                ("metering (§6.1.7)", c["metering"]),
                ("credit cap", f"{c['cap_percent']} % of the period fee"),
                (
                    "planned maintenance (§6.1.13)",
                    f"announced ≥ {c['maintenance_notice_hours']:g} h ahead by "
                    + ", ".join(c["maintenance_sources"]),
                ),
                (
                    "revisions in force in the period",
                    "; ".join(
                        f"r{r['revision']} from {r['effective_from']} ({r['rule_file']})"
                        for r in c["revisions_in_period"]
                    ),
                ),
            ]
        )
    )
    parts.append("<h3>Objective and compensation tiers (§6.1.16)</h3>")
    parts.append(_pairs([(k, v) for k, v in o.items() if k != "tiers"]))
    parts.append(
        _table(
            ["tier", "applies when worse than", "credit %", "extension h"],
            [
                [t["index"], t["bound"], t["credit_percent"], t["extension_hours"]]
                for t in o["tiers"]
            ],
        )
    )
    ev_facts = ev["evaluation"]
    parts.append("<h2>Period and evaluated time</h2>")
    parts.append(
        _pairs(
            [
                (
                    "assessment period",
                    f"{ev['period']['start_local']} → {ev['period']['end_local']}",
                ),
                *[
                    (f"judged range ({r['record']})", f"{r['start_local']} → {r['end_local']}")
                    for r in ev["ranges"]
                ],
                (
                    "evaluation starts (first event of the contract)",
                    ev_facts["observed_from_local"],
                ),
                ("service-time minutes in the period", ev_facts["service_minutes"]),
                (
                    "evaluated minutes (service time ∩ term ∩ observed − exemptions)",
                    ev_facts["evaluated_minutes"],
                ),
            ]
        )
    )
    parts.append(
        "<details><summary>Service-time intervals in the period "
        f"({len(ev_facts['service_time'])})</summary>"
        + _table(
            ["start (local)", "end (local)", "minutes"],
            [[s["start_local"], s["end_local"], s["minutes"]] for s in ev_facts["service_time"]],
        )
        + "</details>"
    )
    parts.append(_exemptions_html(ev["exemptions"]))
    parts.append(_facts_html(ev))
    parts.append(_discrepancies_html(ev["discrepancies"]))
    parts.append("<h2>Recomputation checks</h2>")
    parts.append(
        _table(
            ["record", "quantity", "recorded", "recomputed", "tolerance", "matches"],
            [
                [
                    ch["record"],
                    ch["quantity"] + (" (informational)" if ch["informational"] else ""),
                    ch["recorded"],
                    ch["recomputed"],
                    ch["tolerance"],
                    "✓" if ch["matches"] else "✗",
                ]
                for ch in rec["checks"]
            ],
        )
    )
    if comp:
        parts.append("<h3>Credits of the period in rule-file order, against the cap</h3>")
        parts.append(
            f"<p>Fee: {_e(comp['fee_rule'])}. Cap {_e(comp['cap_percent'])} % = "
            f"{_e(comp['cap_amount'])} {_e(comp['currency'])}. Usage:</p>" + _nested(comp["usage"])
        )
        parts.append(
            _table(
                ["objective", "period value", "tier", "credit %", "credit", "capped", "cap left"],
                [
                    [
                        x["objective_id"],
                        x["value"],
                        x["tier"],
                        x["credit_percent"],
                        x["credit_amount"],
                        x["capped"],
                        x["cap_remaining_after"],
                    ]
                    for x in comp["objectives"]
                ],
            )
        )
    parts.append(_input_html(ev["input"], ev["input_quality"]))
    parts.append(_DEFINITIONS)
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Evidence {html.escape(ev['id'])}</title><style>{_CSS}</style></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def _input_html(read: dict[str, Any], q: dict[str, Any]) -> str:
    parts = ["<h2>Input of this contract</h2>"]
    parts.append(
        _pairs(
            [
                ("input replayed", f"{read['path']}: {read['bytes']:,} bytes"),
                ("… its sha256", read["sha256"]),
                ("… what was read", read.get("read", "the whole input")),
                ("events of the contract in the input", q["events"]),
                ("accepted (valid, on time, first copy)", q["accepted"]),
                ("late: arrived after their minute had closed; never counted", q["late"]),
                ("… of them in the assessment period", q["late_in_period"]),
                ("… of them in the judged range(s)", q["late_in_ranges"]),
                ("late, as recorded by the engine (whole input)", q["late_recorded_by_engine"]),
                ("duplicates: counted once", q["duplicates"]),
                ("… of them in the judged range(s)", q["duplicates_in_ranges"]),
                ("dead letters: invalid, rejected", q["dead_letters"]),
            ]
        )
    )
    if q["late_events"]:
        parts.append("<h3>Late events in the judged range(s), not counted</h3>")
        rows = [
            [x["origin"], x["kind"], x["event_id"], x["event_time"], x["watermark"]]
            for x in q["late_events"]
        ]
        parts.append(_table(["origin", "kind", "event id", "event time", "watermark"], rows))
    if q["duplicate_events"]:
        parts.append("<h3>Duplicates in the judged range(s), counted once</h3>")
        rows = [
            [x["origin"], x["kind"], x["event_id"], x["event_time"]] for x in q["duplicate_events"]
        ]
        parts.append(_table(["origin", "kind", "event id", "event time"], rows))
    return "".join(parts)


_DEFINITIONS = """
<h2>How the numbers are defined</h2>
<ul>
<li><b>Evaluated time</b> = service time (§6.1.6) ∩ contract term (§6.1.5), from the first event
the engine received for the contract, minus exemptions (§6.1.13): planned maintenance announced
by an allowed source at least the agreed notice ahead (only its announced window), and
force-majeure intervals of the rule file. Exempt time leaves numerator and denominator.</li>
<li><b>Service availability</b>: per one-minute timeslice, unavailable when the share of
successful probes is below the objective's bound, available otherwise, no data without probes;
availability = available minutes / judged minutes × 100.</li>
<li><b>Latency</b>: exact nearest-rank percentile, rank r = max(1, ⌈q·n/100⌉), the r-th smallest
sample. The engine reports the value of a fixed logarithmic histogram bucket, within 0.5 % of it.
</li>
<li><b>Late events</b> (arrived after their minute had closed) and <b>duplicates</b> are never
counted; <b>dead letters</b> (invalid lines) are rejected.</li>
<li><b>Compensation</b> (§6.1.16): the most severe tier whose bound the period value is worse
than gives its credit percent of the period fee (§6.1.7), rounded to the currency's minor units;
the credits of one period are capped, consumed in rule-file order.</li>
</ul>
"""
