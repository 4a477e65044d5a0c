"""``csla openslo import``: OpenSLO ``SLO`` documents → ``csla/v1`` rule files.

Documents written by ``csla openslo export`` come back whole: the contract and the objectives
OpenSLO cannot express from the ``csla.dev/contract`` annotation, each exported objective
from its ``csla.dev/objective`` annotation, with the OpenSLO fields winning where both speak
(``target`` → threshold, ``timeWindows`` → assessment period). Other SLOs become skeletons:
objectives, thresholds and the period from OpenSLO, and a ``FILL-IN: …`` placeholder for each
part CSLA needs that OpenSLO lacks (parties, service content, term, service time, metering,
compensation). A placeholder is a string where CSLA wants an object or a list, so
``csla validate`` reports every one as an error until it is filled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from engine.models.contract import SPEC_VERSION
from engine.openslo import mapping as m

__all__ = ["FILL_IN", "Imported", "import_documents", "read_documents", "write"]

FILL_IN = "FILL-IN"
_PLACEHOLDERS = {
    "customer": "the customer: kind, name and contacts (§6.1.1)",
    "provider": "the provider: id (every event's provider_id), name and contacts (§6.1.2)",
    "service": "the service content: category, functions, delivery, scenario (§6.1.4)",
    "term": "the contract term: start and end instants (§6.1.5)",
    "service_time": "the service time: preset 7x24 | 7x12 | 5x8 | custom, timezone (§6.1.6)",
    "metering": "the metering: unit, unit_price, currency (§6.1.7)",
    "compensation": "compensation tiers: bound, credit_percent and/or extension_hours (§6.1.16)"
    ", or remove this line for none",
}


def _placeholder(what: str) -> str:
    return f"{FILL_IN}: {_PLACEHOLDERS[what]}"


@dataclass
class Imported:
    rules: dict[str, dict[str, Any]] = field(default_factory=dict)  # contract id → rule file
    sources: dict[str, list[str]] = field(default_factory=dict)  # contract id → documents
    notes: list[str] = field(default_factory=list)


def read_documents(paths: Iterable[str | Path]) -> list[tuple[str, dict[str, Any]]]:
    """Every YAML document of ``paths`` (files, or ``*.yaml``/``*.yml`` below directories)."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            files.append(path)
    docs = []
    for path in files:
        for n, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            if isinstance(doc, dict):
                docs.append((f"{path}#{n}" if n else str(path), doc))
    return docs


def _ident(text: str) -> str:
    """A CSLA id from free text (letters, digits and . _ : -, starting with one of the first)."""
    return re.sub(r"[^A-Za-z0-9._:-]+", "-", text).strip("-._:")[:128] or "objective"


@dataclass
class _Contract:
    base: dict[str, Any] | None  # from csla.dev/contract
    exported: dict[int, dict[str, Any]] = field(default_factory=dict)  # index → objective
    foreign: list[dict[str, Any]] = field(default_factory=list)
    period: tuple[str, int | None] | None = None
    start: str | None = None  # the time window's calendar start, local
    timezone: str | None = None


def import_documents(docs: Iterable[tuple[str, dict[str, Any]]]) -> Imported:
    result = Imported()
    contracts: dict[str, _Contract] = {}
    for source, doc in docs:
        if doc.get("apiVersion") not in m.VERSIONS or doc.get("kind") != "SLO":
            result.notes.append(
                f"{source}: skipped: {doc.get('apiVersion')} {doc.get('kind')} is not an "
                f"OpenSLO SLO ({', '.join(m.VERSIONS)})"
            )
            continue
        metadata, spec = doc.get("metadata") or {}, doc.get("spec") or {}
        notes = metadata.get("annotations") or {}
        cid = _ident(str(notes.get(m.CONTRACT_ID) or spec.get("service") or metadata.get("name")))
        held = contracts.get(cid)
        if held is None:
            base = json.loads(notes[m.CONTRACT]) if m.CONTRACT in notes else None
            held = contracts[cid] = _Contract(base)
        result.sources.setdefault(cid, []).append(source)
        windows = spec.get("timeWindows") or spec.get("timeWindow") or []
        period = _period(windows[0], notes, source, result) if windows else None
        if period is not None:
            if held.period is not None and held.period != period:
                result.notes.append(f"{source}: period {period} differs from {held.period}: kept")
            else:
                held.period = period
        calendar = (windows[0].get("calendar") if windows else None) or {}
        held.start = held.start or calendar.get("startTime")
        held.timezone = held.timezone or calendar.get("timeZone")
        objectives = spec.get("objectives") or []
        for n, item in enumerate(objectives):
            single = len(objectives) == 1
            objective = _objective(item, notes if single else {}, spec, metadata, n, result)
            if single and m.OBJECTIVE_INDEX in notes and held.base is not None:
                held.exported[int(notes[m.OBJECTIVE_INDEX])] = objective
            else:
                held.foreign.append(objective)
    for cid, held in contracts.items():
        result.rules[cid] = _rule_file(cid, held)
    return result


def _period(
    window: dict[str, Any], notes: dict[str, Any], source: str, result: Imported
) -> tuple[str, int | None] | None:
    """The assessment period of a time window; the CSLA annotation says which period a
    30-day Sloth window stands for, unless the window was changed since."""
    found = m.period_of(window)
    noted = notes.get(m.PERIOD)
    if noted:
        kind, _, days = str(noted).partition(":")
        annotated = (kind, int(days) if days else None)
        expected = m.time_window(kind, annotated[1], "", "")
        if all(window.get(k) == expected[k] for k in ("count", "unit", "isRolling")):
            return annotated
    if found is None:
        result.notes.append(f"{source}: time window {window} has no CSLA period: set it")
    return found


def _objective(
    item: dict[str, Any],
    notes: dict[str, Any],
    spec: dict[str, Any],
    metadata: dict[str, Any],
    n: int,
    result: Imported,
) -> dict[str, Any]:
    base: dict[str, Any] = json.loads(notes[m.OBJECTIVE]) if m.OBJECTIVE in notes else {}
    sli = str(notes.get(m.SLI) or base.get("sli") or "service_availability")
    if sli not in m.RATIO_SLIS:
        sli = "service_availability"
    objective = dict(base)
    objective.setdefault(
        "id", _ident(str(item.get("displayName") or f"{metadata.get('name', 'slo')}-{n}"))
    )
    objective["sli"] = sli
    objective.setdefault("comparator", "<=" if sli == "error_rate" else ">=")
    target = item.get("target", item.get("targetPercent"))
    if "targetPercent" in item and "target" not in item and target is not None:
        target = float(target) / 100
    if isinstance(target, int | float):
        objective["threshold"] = m.threshold_of(sli, float(target))
    else:
        result.notes.append(f"objective {objective['id']}: no target; threshold left to fill in")
        objective["threshold"] = f"{FILL_IN}: the threshold in percent"
    if not base:
        if spec.get("description"):
            objective["description"] = str(spec["description"])
        objective["compensation"] = _placeholder("compensation")
    return objective


def _rule_file(cid: str, held: _Contract) -> dict[str, Any]:
    if held.base is not None:
        rule = dict(held.base)
        kept = list(rule.get("objectives", []))
        total = len(kept) + len(held.exported)
        objectives = [
            held.exported[i] if i in held.exported else kept.pop(0) if kept else None
            for i in range(total)
        ]
        rule["objectives"] = [o for o in objectives if o is not None] + held.foreign
    else:
        rule = _skeleton(cid, held)
    if held.period is not None:
        period, days = held.period
        assessment = dict(rule.get("assessment") or {})
        assessment["period"] = period
        assessment.pop("days", None)
        if days is not None:
            assessment["days"] = days
        rule["assessment"] = assessment
    return rule


def _skeleton(cid: str, held: _Contract) -> dict[str, Any]:
    start = _instant(held.start, held.timezone)
    return {
        "version": SPEC_VERSION,
        "contract": {
            "id": cid,
            "revision": 1,
            "effective_from": start or f"{FILL_IN}: the instant this revision applies from",
            "title": f"{cid} (imported from OpenSLO)",
        },
        "parties": {
            "customer": _placeholder("customer"),
            "provider": _placeholder("provider"),
        },
        "service": _placeholder("service"),
        "term": _placeholder("term"),
        "service_time": _placeholder("service_time"),
        "metering": _placeholder("metering"),
        "objectives": held.foreign,
    }


def _instant(start: str | None, timezone: str | None) -> str | None:
    """An OpenSLO calendar start (``2026-01-01 00:00:00`` in ``timezone``) as RFC 3339."""
    if not start or not timezone:
        return None
    try:
        local = datetime.strptime(start, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(timezone))
    except (ValueError, ZoneInfoNotFoundError):
        return None
    return local.isoformat()


def write(imported: Imported, out: Path) -> list[Path]:
    """``<contract id>.yaml`` per contract in ``out``, each with a header naming its sources."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for cid, rule in imported.rules.items():
        header = [f"# {cid}: imported from OpenSLO by csla openslo import"]
        header += [f"#   {s}" for s in imported.sources.get(cid, [])]
        if FILL_IN in json.dumps(rule):
            header.append(
                f"# Every {FILL_IN} is a part CSLA needs and OpenSLO has not: fill it in "
                "(csla validate reports each one until then)."
            )
        body = yaml.safe_dump(rule, sort_keys=False, allow_unicode=True, width=100)
        path = out / f"{cid}.yaml"
        path.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
        written.append(path)
    return written
