"""The discrepancy records behind a pack (§6.2.6): windows of the objective, within the span the
pack explains, where the platform's probes and the reports (node down, incident open) disagree.

They come from the replay the pack runs (its ``discrepancies.jsonl``), as the engine wrote them;
they change no number of the pack, they say what a dispute about the span is about.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.core.discrepancy import KINDS
from engine.core.discrepancy import MEANING as _MEANING
from engine.evidence.instants import _instant, _local, _need
from engine.evidence.markup import _e, _hm, _table
from engine.evidence.target import _Target
from engine.models.contract import PROBE_AVAILABILITY


def _discrepancies(path: Path, target: _Target) -> list[dict[str, Any]]:
    """The engine's discrepancy records of the target's contract and objective whose window
    overlaps a span the pack explains, in window order."""
    cid, oid = target.contract.id, target.objective.id
    found = []
    needle = cid.encode()
    with open(path, "rb") as handle:
        for line in handle:
            if needle not in line:
                continue
            record = orjson.loads(line)
            if record.get("contract_id") != cid or record.get("objective_id") != oid:
                continue
            lo, hi = _instant(record.get("window_start")), _instant(record.get("window_end"))
            if lo is None or hi is None:
                continue
            if any(lo < end and hi > start for start, end in target.spans):
                found.append(record)
    return sorted(found, key=lambda r: (_instant(r["window_start"]), r["discrepancy_id"]))


def _discrepancy_facts(records: list[dict[str, Any]], target: _Target) -> dict[str, Any]:
    """The pack's ``discrepancies`` section: counts by kind and one row per record."""
    tz = target.contract.tz
    rows = []
    for r in records:
        measured, reported = r["measured"], r["reported"]
        rows.append(
            {
                "discrepancy_id": r["discrepancy_id"],
                "kind": r["kind"],
                "contract_version": r["contract_version"],
                "window_start": r["window_start"],
                "window_end": r["window_end"],
                "window_start_local": _local(_need(r["window_start"]), tz),
                "window_end_local": _local(_need(r["window_end"]), tz),
                "unavailable_minutes": measured["unavailable_minutes"],
                "available_minutes": measured["available_minutes"],
                "probe_sources": measured["sources"],
                "reported_down_minutes": reported["down_minutes"],
                "nodes_down": reported["nodes_down"],
                "incidents": reported["incidents"],
            }
        )
    return {
        "about": "Windows of this objective in the span explained where the platform's probes "
        "and the reports disagree (§6.2.6), as the engine recorded them; they change no number.",
        "compared": target.objective.sli in PROBE_AVAILABILITY,
        "kinds": dict(_MEANING),
        "count": len(rows),
        "by_kind": {kind: sum(1 for r in rows if r["kind"] == kind) for kind in KINDS},
        "records": rows,
    }


def _discrepancies_html(d: dict[str, Any]) -> str:
    parts = ["<h2>Discrepancies: probes and reports disagree (§6.2.6)</h2>"]
    if not d["records"]:
        why = (
            "in the span explained, no window of this objective where the probes and the "
            "reports (a node down, an incident open) disagree"
            if d["compared"]
            else "only probe-availability objectives (service, storage or network availability) "
            "are compared with the reports, and this objective is not one"
        )
        parts.append(f'<p class="muted" data-test="discrepancies">None: {_e(why)}.</p>')
        return "".join(parts)
    counts = "; ".join(f"{kind}: {n}" for kind, n in d["by_kind"].items())
    summary = f"{d['count']} window(s) — {counts}. {d['about']}"
    parts.append(f'<p data-test="discrepancies">{_e(summary)}</p>')
    parts.append(
        "<ul>"
        + "".join(f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in d["kinds"].items())
        + "</ul>"
    )
    rows = [
        [
            _window(_hm(r["window_start_local"]), _hm(r["window_end_local"])),
            r["kind"],
            r["unavailable_minutes"],
            r["available_minutes"],
            ", ".join(r["probe_sources"]) or "–",
            r["reported_down_minutes"],
            ", ".join(r["nodes_down"]) or "–",
            ", ".join(r["incidents"]) or "–",
        ]
        for r in d["records"]
    ]
    headers = [
        "window (local)",
        "kind",
        "unavailable minutes (probes)",
        "available minutes (probes)",
        "whose probes",
        "reported down minutes",
        "nodes down",
        "incidents",
    ]
    parts.append(_table(headers, rows))
    return "".join(parts)


def _window(start: str, end: str) -> str:
    """``2026-10-07 11:00 → 12:00`` within one day, both dates otherwise."""
    return f"{start} → {end[11:] if end[:10] == start[:10] else end}"
