"""The report page's sections of one contract: objectives, outages, breaches, burn-rate
warnings, the error budget, compensation (§6.1.16) and the scorecard."""

from __future__ import annotations

import html
from typing import Any

from engine.core.calendar import parse_instant
from engine.report.markup import _SYMBOL, _e, _local, _table, _verdict, fmt
from engine.report.series import AVAILABILITY_SLIS

MAX_OUTAGE_ROWS = 60


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


def _scorecard(card: dict[str, Any], anchor: str, *, fold: bool = False) -> str:
    caps = card.get("caps") or []
    who = card.get("contract_id") or card.get("provider_id") or ""
    out = [
        f'<div id="{anchor}"><p><span class="grade" data-test="{anchor}-grade">'
        f"Grade {_e(card.get('grade'))}</span> &nbsp; score {_e(card.get('total_score'))} / 100"
        f" (grade by score {_e(card.get('grade_by_score'))}) — "
        f"{html.escape(str(card.get('scope')))} {html.escape(str(who))}</p>"
    ]
    if caps:
        # the caps that bind (the lowest grade allowed) first; the others folded away
        lowest = min((c.get("grade") for c in caps if c.get("grade") is not None), default=None)
        binding = [c for c in caps if c.get("grade") == lowest]
        others = [c for c in caps if c.get("grade") != lowest]

        def items(chosen: list[dict[str, Any]]) -> str:
            return "".join(
                f"<li>grade at most {_e(c.get('grade'))}: {html.escape(str(c.get('reason')))}</li>"
                for c in chosen
            )

        out.append(f"<ul>{items(binding)}</ul>")
        if others:
            out.append(
                f"<details><summary>{len(others)} other cap(s)</summary>"
                f"<ul>{items(others)}</ul></details>"
            )
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
            unit = (m.get("unit") or "") if m.get("value") is not None else ""
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
        levels = _table(["level / metric", "weight %", "value", "source", "score"], rows, {1, 4})
        if fold:
            levels = f"<details><summary>levels and metrics (Table A.2)</summary>{levels}</details>"
        out.append(levels)
    out.append("</div>")
    return "\n".join(out)
