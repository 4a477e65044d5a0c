"""The report's discrepancies (§6.2.6): the windows of a contract's period where the platform's
probes and the reports (a node down, an incident open) disagree, as the engine recorded them.

``discrepancy_section`` folds the discrepancy records into the contract section's
``discrepancies`` (counts by kind, one row per window); ``discrepancies_html`` draws it. They
change no number of the report: they are what a dispute about the period would be about.
"""

from __future__ import annotations

import html
from typing import Any

from engine.core.calendar import parse_instant
from engine.core.discrepancy import KINDS
from engine.core.discrepancy import MEANING as MEANING
from engine.models.contract import PROBE_AVAILABILITY
from engine.report.markup import _local, _table, fmt
from engine.report.records import Record

MAX_ROWS = 60


def discrepancy_section(
    records: list[Record], cid: str, start_ms: int, end_ms: int, objectives: list[dict[str, Any]]
) -> dict[str, Any]:
    """The discrepancy records of contract ``cid`` whose window lies in [start_ms, end_ms);
    ``objectives`` (the section's rows) tell which objectives are compared at all."""
    rows = []
    for r in records:
        if r.get("contract_id") != cid or not isinstance(r.get("window_start"), str):
            continue
        if not start_ms <= parse_instant(r["window_start"]) < end_ms:
            continue
        measured, reported = r.get("measured") or {}, r.get("reported") or {}
        rows.append(
            {
                "discrepancy_id": r.get("discrepancy_id"),
                "objective_id": r.get("objective_id"),
                "sli": r.get("sli"),
                "kind": r.get("kind"),
                "window_start": r["window_start"],
                "window_end": r.get("window_end"),
                "unavailable_minutes": measured.get("unavailable_minutes"),
                "available_minutes": measured.get("available_minutes"),
                "probe_sources": measured.get("sources") or [],
                "reported_down_minutes": reported.get("down_minutes"),
                "nodes_down": reported.get("nodes_down") or [],
                "incidents": reported.get("incidents") or [],
                "contract_version": r.get("contract_version"),
            }
        )
    rows.sort(key=lambda r: (parse_instant(r["window_start"]), str(r["objective_id"])))
    return {
        "objectives_compared": [
            o["objective_id"] for o in objectives if o["sli"] in PROBE_AVAILABILITY
        ],
        "count": len(rows),
        "by_kind": {kind: sum(1 for r in rows if r["kind"] == kind) for kind in KINDS},
        "windows": rows,
    }


def discrepancies_html(c: dict[str, Any]) -> str:
    """The section of one contract: counts by kind and the table of windows, or "none"."""
    d, tz = c["discrepancies"], c["timezone"]
    out = ["<h3>Discrepancies: probes and reports disagree (§6.2.6)</h3>"]
    if not d["windows"]:
        why = (
            "in no window of this period did the probes and the reports (a node down, an "
            "incident open) disagree"
            if d["objectives_compared"]
            else "this contract has no probe-availability objective (service, storage or "
            "network availability) to compare with the reports"
        )
        out.append(f'<p class="muted" data-test="discrepancies">None: {why}.</p>')
        return "\n".join(out)
    counts = ", ".join(f"{n} {kind}" for kind, n in d["by_kind"].items())
    out.append(
        f'<p data-test="discrepancies">{d["count"]} window(s): {html.escape(counts)}. '
        "Evidence for the parties; they change no number of this report.</p>"
    )
    out.append(
        "<ul>"
        + "".join(f"<li><b>{k}</b>: {html.escape(v)}</li>" for k, v in MEANING.items())
        + "</ul>"
    )
    shown = d["windows"][:MAX_ROWS]
    rows = [
        [
            html.escape(str(r["objective_id"])),
            _window(r["window_start"], r["window_end"], tz),
            html.escape(str(r["kind"])),
            html.escape(fmt(r["unavailable_minutes"])),
            html.escape(fmt(r["available_minutes"])),
            html.escape(", ".join(r["probe_sources"]) or "–"),
            html.escape(fmt(r["reported_down_minutes"], "count")),
            html.escape(", ".join(r["nodes_down"]) or "–"),
            html.escape(", ".join(r["incidents"]) or "–"),
        ]
        for r in shown
    ]
    headers = [
        "objective",
        "window",
        "kind",
        "probes: down min",
        "probes: up min",
        "whose probes",
        "reports: down min",
        "nodes down",
        "incidents",
    ]
    out.append(_table(headers, rows, {3, 4, 6}))
    if len(d["windows"]) > len(shown):
        out.append(
            f'<p class="muted">{len(d["windows"]) - len(shown)} more window(s) in the JSON.</p>'
        )
    return "\n".join(out)


def _window(start_utc: str, end_utc: str, tz: str) -> str:
    """``2026-10-07 11:00 → 12:00`` (local) within one day, both dates otherwise; unbroken."""
    start, end = _local(start_utc, tz), _local(end_utc, tz)
    return f'<span class="nowrap">{start} → {end[11:] if end[:10] == start[:10] else end}</span>'
