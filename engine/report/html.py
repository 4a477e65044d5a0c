"""The report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no link.

Every number on the page is a number of the report dict (``engine.report.build``), formatted by
``fmt``; the charts are drawn from the same dict (``engine.report.plots``). The page opens
without a network and prints on A4 (each contract starts a new page).
"""

from __future__ import annotations

import html
from typing import Any

from engine.core.calendar import local_iso, parse_instant
from engine.report.series import AVAILABILITY_SLIS

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f1f3f5;color:#212529;font:14px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif}
main{max-width:1080px;margin:0 auto;padding:24px 32px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:20px;margin:40px 0 4px;padding-top:16px;
border-top:3px solid #343a40}h3{font-size:15px;margin:22px 0 6px;color:#343a40}
.sub{color:#495057;margin:0 0 12px}.muted{color:#868e96}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #dee2e6;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f1f3f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{flex:1 1 150px;border:1px solid #dee2e6;border-radius:6px;padding:8px 12px}
.card .k{font-size:12px;color:#868e96;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:20px;font-weight:650;font-variant-numeric:tabular-nums}
.met{color:#2b8a3e;font-weight:600}.notmet{color:#c92a2a;font-weight:600}
.nj{color:#868e96}.grade{font-size:34px;font-weight:700;color:#1864ab}
svg{display:block;width:100%;height:auto;margin:4px 0 8px}
details{margin:4px 0 12px}summary{cursor:pointer;color:#1864ab}
.arith{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
@media print{body{background:#fff}main{padding:0}section.contract{break-before:page}}
"""

_SYMBOL = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
_UNIT = {"percent": "%", "ms": "ms", "minutes": "min", "hours": "h", "count": ""}
MAX_OUTAGE_ROWS = 60


def fmt(value: Any, unit: str | None = None) -> str:
    """A number as the page shows it: percents with 3 decimals, ms with 1, others 4 digits."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        match unit:
            case "percent":
                text = f"{value:.3f}"
            case "ms":
                text = f"{value:.1f}"
            case "count":
                text = f"{value:g}"
            case _:
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
        suffix = _UNIT.get(unit or "", unit or "")
        return f"{text} {suffix}".strip()
    return str(value)


def _e(value: Any, unit: str | None = None) -> str:
    return html.escape(fmt(value, unit))


def _local(utc: str | None, tz: str) -> str:
    if not utc:
        return "–"
    return local_iso(parse_instant(utc), tz)[:16].replace("T", " ")


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _card(key: str, value: str, test: str) -> str:
    return (
        f'<div class="card"><div class="k">{html.escape(key)}</div>'
        f'<div class="v" data-test="{test}">{value}</div></div>'
    )


def _verdict(verdict: str) -> str:
    cls = {"met": "met", "not met": "notmet"}.get(verdict, "nj")
    return f'<span class="{cls}">{html.escape(verdict)}</span>'


def render_html(report: dict[str, Any]) -> str:
    """The whole page of a report dict."""
    s = report["summary"]
    credits = ", ".join(f"{v} {c}" for c, v in s["credit_totals"].items()) or "–"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>CSLA assessment report {html.escape(report['period'])}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>CSLA assessment report — {html.escape(report['period'])}</h1>",
        '<p class="sub">Periodic assessment of service levels (§6.2.7): per contract, the '
        "objectives with their measured values and verdicts, availability, latency, outages, "
        "breaches, the error budget, compensation (§6.1.16) and the scorecard. Every number "
        "comes from the engine's output records; the JSON file beside this page holds the same "
        "numbers.</p>",
        '<div class="cards">',
        _card("contracts", str(s["contracts"]), "contracts"),
        _card("objectives met", f"{s['objectives_met']} / {s['objectives']}", "objectives-met"),
        _card("breaches", str(s["breaches"]), "breaches"),
        _card("credits", html.escape(credits), "credit-totals"),
        "</div>",
        _contents(report),
    ]
    for index, section in enumerate(report["contracts"]):
        parts.append(_contract(section, f"c{index}"))
    if report["provider_scorecards"]:
        parts.append("<h2>Provider scorecards</h2>")
        for index, card in enumerate(report["provider_scorecards"]):
            parts.append(_scorecard(card, f"p{index}"))
    src = report.get("source") or {}
    if src:
        rows = [[html.escape(k), html.escape(str(v))] for k, v in src.items()]
        parts.append("<h3>Source</h3>" + _table(["", ""], rows))
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"


def _contents(report: dict[str, Any]) -> str:
    rows = []
    for index, c in enumerate(report["contracts"]):
        sm = c["summary"]
        credit = f"{c['compensation']['total_credit']} {c['compensation']['currency'] or ''}"
        rows.append(
            [
                f'<a href="#c{index}">{html.escape(c["contract_id"])}</a>',
                html.escape(c["title"] or ""),
                f"{sm['met']} / {sm['objectives']}",
                str(sm["breaches"]),
                html.escape(credit.strip()),
                _e(sm["grade"]),
            ]
        )
    headers = ["contract", "title", "objectives met", "breaches", "credit", "grade"]
    return _table(headers, rows, {2, 3, 4, 5})


def _contract(c: dict[str, Any], anchor: str) -> str:
    from engine.report import plots  # matplotlib: loaded when a page is drawn, not with the CLI

    tz = c["timezone"]
    sm = c["summary"]
    comp = c["compensation"]
    status = (
        "closed" if c["closed"] else f"open — evaluated until {_local(c['evaluated_until'], tz)}"
    )
    who = " · ".join(
        html.escape(x)
        for x in (
            f"customer: {c['customer']}" if c["customer"] else "",
            f"provider: {c['provider']}" if c["provider"] else "",
            f"service time {c['service_time']}" if c["service_time"] else "",
            f"revision {', '.join(map(str, c['revisions']))}",
        )
        if x
    )
    out = [
        f'<section class="contract" id="{anchor}">',
        f"<h2>{html.escape(c['contract_id'])}"
        + (f" — {html.escape(c['title'])}" if c["title"] else "")
        + "</h2>",
        f'<p class="sub">{who}<br>period {_local(c["period_start"], tz)} → '
        f"{_local(c['period_end'], tz)} ({html.escape(tz)}), {html.escape(status)}</p>",
        '<div class="cards">',
        _card("objectives met", f"{sm['met']} / {sm['objectives']}", f"{anchor}-met"),
        _card("breaches", str(sm["breaches"]), f"{anchor}-breaches"),
        _card(
            "credit",
            html.escape(f"{sm['credit_total']} {sm['currency'] or ''}".strip()),
            f"{anchor}-credit",
        ),
        _card("grade", _e(sm["grade"]), f"{anchor}-grade"),
        "</div>",
        "<h3>Objectives and verdicts</h3>",
        _objectives(c),
    ]
    if c["availability_daily"]:
        out.append("<h3>Availability per day</h3>")
        for i, entry in enumerate(c["availability_daily"]):
            out.append(plots.daily_availability(f"{anchor}-day{i}", entry))
            rows = [
                [html.escape(d["date"]), _e(d["value"], "percent"), str(d["good"]), str(d["total"])]
                for d in entry["days"]
            ]
            out.append(
                f"<details><summary>{html.escape(entry['objective_id'])}: table per day"
                "</summary>"
                + _table(["local date", "availability", "good", "judged"], rows, {1, 2, 3})
                + "</details>"
            )
    for i, entry in enumerate(c["latency"]):
        if i == 0:
            out.append("<h3>Latency percentiles over time</h3>")
        if entry["points"]:
            out.append(plots.latency(f"{anchor}-lat{i}", entry, tz))
        else:
            out.append(
                f'<p class="muted">{html.escape(entry["objective_id"])}: no window judged.</p>'
            )
    out.append(_outages(c, anchor))
    out.append(_breaches(c))
    if c["warnings"]:
        out.append(_warnings(c))
    out.append(_burn(c, anchor))
    out.append(_compensation(comp))
    out.append("<h3>Scorecard and grade</h3>")
    if c["scorecard"]:
        out.append(_scorecard(c["scorecard"], f"{anchor}-sc"))
    else:
        out.append('<p class="muted">No scorecard was written for this contract and period.</p>')
    out.append("</section>")
    return "\n".join(out)


def _objectives(c: dict[str, Any]) -> str:
    rows = []
    for o in c["objectives"]:
        target = (
            f"{_SYMBOL.get(o['comparator'], o['comparator'])} {_e(o['threshold'], o['unit'])}"
            if o["comparator"]
            else "–"
        )
        name = o["sli"] + (f" p{o['percentile']:g}" if o["percentile"] is not None else "")
        basis = "final" if o["final"] else f"so far ({_local(o['as_of'], c['timezone'])})"
        rows.append(
            [
                html.escape(o["objective_id"]),
                html.escape(name),
                target,
                _e(o["value"], o["unit"]),
                _verdict(o["verdict"]),
                html.escape(basis),
                f"{o['windows_failed']} / {o['windows_judged']}",
                str(o["breaches"]),
            ]
        )
    headers = [
        "objective",
        "SLI",
        "objective value",
        "measured (period)",
        "verdict",
        "value",
        "windows failed / judged",
        "breaches",
    ]
    return _table(headers, rows, {2, 3, 6, 7})


def _outages(c: dict[str, Any], anchor: str) -> str:
    from engine.report import plots

    lanes = [o["objective_id"] for o in c["objectives"] if o["sli"] in AVAILABILITY_SLIS]
    if not lanes:
        return ""
    out = ["<h3>Outage timeline</h3>"]
    out.append(
        plots.outage_timeline(
            f"{anchor}-out",
            lanes,
            c["outages"],
            c["breaches"],
            (c["period_start"], c["period_end"]),
            c["timezone"],
        )
    )
    runs = c["outages"]
    if not runs:
        out.append('<p class="muted">No window lost time in this period.</p>')
        return "\n".join(out)
    shown = sorted(runs, key=lambda r: -r["lost"])[:MAX_OUTAGE_ROWS]
    shown.sort(key=lambda r: (parse_instant(r["start"]), r["objective_id"]))
    rows = [
        [
            html.escape(r["objective_id"]),
            _local(r["start"], c["timezone"]),
            _local(r["end"], c["timezone"]),
            html.escape(f"{r['lost']:g} {r['lost_unit']}"),
            _e(r["worst"], "percent"),
        ]
        for r in shown
    ]
    more = len(runs) - len(shown)
    note = f" ({more} smaller ones in the JSON)" if more > 0 else ""
    out.append(
        f"<details><summary>{len(runs)} outage(s){html.escape(note)}</summary>"
        + _table(["objective", "from", "to", "lost", "worst window"], rows, {3, 4})
        + "</details>"
    )
    return "\n".join(out)


def _breaches(c: dict[str, Any]) -> str:
    tz = c["timezone"]
    if not c["breaches"]:
        return '<h3>Breaches</h3><p class="muted">No breach in this period.</p>'
    rows = [
        [
            html.escape(b["objective_id"]),
            f"{_SYMBOL.get(b['comparator'], b['comparator'])} {_e(b['threshold'])}",
            f"{_local(b['window_start'], tz)} → {_local(b['window_end'], tz)}",
            _local(b["opened_at"], tz),
            _e(b["observed_at_open"]),
            _local(b["resolved_at"], tz) if b["resolved_at"] else "open",
            _e(b["observed_at_resolution"]),
            _e(b["priority"]),
        ]
        for b in c["breaches"]
    ]
    headers = [
        "objective",
        "objective value",
        "window",
        "detected",
        "observed",
        "resolved",
        "final value",
        "priority",
    ]
    return "<h3>Breaches</h3>" + _table(headers, rows, {4, 6, 7})


def _warnings(c: dict[str, Any]) -> str:
    tz = c["timezone"]
    rows = [
        [
            _local(w["fired_at"], tz),
            _local(w["cleared_at"], tz) if w["cleared_at"] else "firing",
            html.escape(str(w["objective_id"])),
            html.escape(str(w["severity"])),
            html.escape(f"{w['long_window']} / {w['short_window']}"),
            f"{_e(w['burn_rate_long'])} / {_e(w['burn_rate_short'])}",
            _e(w["threshold_factor"]),
            _e(None if w["budget_remaining"] is None else w["budget_remaining"] * 100, "percent"),
        ]
        for w in c["warnings"]
    ]
    headers = [
        "fired", "cleared", "objective", "severity", "windows (long / short)",
        "burn rate (long / short)", "factor", "budget left when fired",
    ]  # fmt: skip
    return (
        "<h3>Burn-rate warnings</h3>"
        f"<details><summary>{len(rows)} warning(s)</summary>"
        + _table(headers, rows, {5, 6, 7})
        + "</details>"
    )


def _burn(c: dict[str, Any], anchor: str) -> str:
    from engine.report import plots

    curves = c["burn_down"]
    if not curves:
        return ""
    rows = [
        [
            html.escape(b["objective_id"]),
            _e(b["budget_share_percent"], "percent"),
            html.escape(f"{b['budget']:,.6g} {b['unit']}"),
            html.escape(f"{b['bad']:,.6g} {b['unit']}"),
            _e(b["remaining_percent"], "percent"),
        ]
        for b in curves
    ]
    return (
        "<h3>Error budget burn-down</h3>"
        + plots.burn_down(f"{anchor}-burn", curves, c["timezone"])
        + _table(
            [
                "objective",
                "budget (share of judged units)",
                "budget",
                "spent",
                "budget left at period end",
            ],
            rows,
            {1, 2, 3, 4},
        )
    )


def _compensation(comp: dict[str, Any]) -> str:
    out = ["<h3>Compensation (§6.1.16)</h3>"]
    if not comp["assessed"]:
        out.append(
            '<p class="muted">Not assessed yet: compensation is decided at period close.</p>'
        )
        return "\n".join(out)
    cur = comp["currency"] or ""
    rows = [
        [
            html.escape(line["objective_id"]),
            _e(line["observed"]),
            "–" if line["tier"] is None else str(line["tier"]),
            f'<span class="arith">{html.escape(line["arithmetic"])}</span>',
            html.escape(f"{line['credit_amount']} {cur}"),
            _e(line["extension_hours"]),
        ]
        for line in comp["lines"]
    ]
    out.append(
        _table(
            [
                "objective",
                "observed",
                "tier",
                "credit % × period fee = amount",
                "credit",
                "extension h",
            ],
            rows,
            {1, 2, 4, 5},
        )
    )
    cap = (
        f"cap {comp['cap_percent']}% of the fee = {comp['cap_amount']} {cur}"
        if comp["cap_amount"] is not None
        else "cap unknown (no rule file)"
    )
    capped = "; the cap limited the credit" if comp["capped"] else ""
    out.append(
        f'<p class="key">Period fee <b>{html.escape(str(comp["period_fee"]))} {cur}</b>; '
        f'total credit <b data-test="credit-total">{html.escape(comp["total_credit"])} {cur}</b>'
        f" ({html.escape(cap)}{capped}); service extension "
        f"{_e(comp['total_extension_hours'])} h.</p>"
    )
    rule = next((line["fee_rule"] for line in comp["lines"] if line["fee_rule"]), None)
    if rule:
        out.append(f'<p class="muted">Period fee rule: {html.escape(rule)}.</p>')
    return "\n".join(out)


def _scorecard(card: dict[str, Any], anchor: str) -> str:
    caps = card.get("caps") or []
    who = card.get("contract_id") or card.get("provider_id") or ""
    out = [
        f'<div id="{anchor}"><p><span class="grade" data-test="{anchor}-grade">'
        f"Grade {_e(card.get('grade'))}</span> &nbsp; score {_e(card.get('total_score'))} / 100"
        f" (grade by score {_e(card.get('grade_by_score'))}) — "
        f"{html.escape(str(card.get('scope')))} {html.escape(str(who))}</p>"
    ]
    if caps:
        items = "".join(
            f"<li>grade at most {_e(c.get('grade'))}: {html.escape(str(c.get('reason')))}</li>"
            for c in caps
        )
        out.append(f"<ul>{items}</ul>")
    rows = []
    for level in card.get("levels") or []:
        rows.append(
            [
                f"<b>{html.escape(str(level.get('name')))}</b>",
                _e(level.get("weight")),
                "",
                "",
                f"<b>{_e(level.get('score'))}</b>",
            ]
        )
        for m in level.get("metrics") or []:
            value = fmt(m.get("value"))
            unit = m.get("unit") or ""
            rows.append(
                [
                    "&nbsp;&nbsp;" + html.escape(str(m.get("name"))),
                    _e(m.get("weight")),
                    html.escape(f"{value} {unit}".strip()),
                    html.escape(str(m.get("source"))),
                    _e(m.get("score")),
                ]
            )
    if rows:
        out.append(_table(["level / metric", "weight %", "value", "source", "score"], rows, {1, 4}))
    out.append("</div>")
    return "\n".join(out)
