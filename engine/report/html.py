"""The report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no link.

Every number on the page is a number of the report dict (``engine.report.build``), formatted by
``fmt``; the charts are drawn from the same dict (``engine.report.plots``). The page opens
without a network and prints on A4 (each contract starts a new page).
"""

from __future__ import annotations

import html
from typing import Any

from engine.report.discrepancies import discrepancies_html
from engine.report.markup import _card, _e, _local, _table, fmt
from engine.report.sections import (
    _breaches,
    _burn,
    _compensation,
    _objectives,
    _outages,
    _scorecard,
    _warnings,
)

__all__ = ["fmt", "render_html"]

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f1f3f5;color:#212529;font:14px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif}
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
.nowrap{white-space:nowrap}
.arith{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
@media print{body{background:#fff}main{padding:0}section.contract{break-before:page}}
"""


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
        "breaches, discrepancies between probes and reports (§6.2.6), the error budget, "
        "compensation (§6.1.16) and the scorecard. Every number "
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
            parts.append(_scorecard(card, f"p{index}", fold=True))
    src = report.get("source") or {}
    if src:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in src.items()
        )
        parts.append(f"<h3>Source</h3><table><tbody>{rows}</tbody></table>")
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
                str(sm["discrepancies"]),
                html.escape(credit.strip()),
                _e(sm["grade"]),
            ]
        )
    headers = [
        "contract",
        "title",
        "objectives met",
        "breaches",
        "discrepancies",
        "credit",
        "grade",
    ]
    return _table(headers, rows, {2, 3, 4, 5, 6})


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
    if c.get("other_series"):
        out.append("<h3>Other objectives over time (value per window; dashed: objective)</h3>")
        out.append(plots.small_multiples(f"{anchor}-other", c["other_series"], tz))
    out.append(_outages(c, anchor))
    out.append(_breaches(c))
    if c["warnings"]:
        out.append(_warnings(c))
    out.append(discrepancies_html(c))
    out.append(_burn(c, anchor))
    out.append(_compensation(comp))
    out.append("<h3>Scorecard and grade</h3>")
    if c["scorecard"]:
        out.append(_scorecard(c["scorecard"], f"{anchor}-sc"))
    else:
        out.append('<p class="muted">No scorecard was written for this contract and period.</p>')
    out.append("</section>")
    return "\n".join(out)
