"""The pack: ``build_evidence`` (replay, locate, the facts, the recomputation, assembled),
``write_pack`` (JSON + HTML on disk); ``csla evidence`` is ``engine.cli.evidence``."""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from engine.core.records import DEAD, DISCREPANCIES, LATE
from engine.evidence.checks import _best_possible, _check, _record_checks
from engine.evidence.compensation import _compensation
from engine.evidence.discrepancies import _discrepancies, _discrepancy_facts
from engine.evidence.facts import _Facts
from engine.evidence.html import render_html
from engine.evidence.instants import _span, _utc
from engine.evidence.narrow import Narrowed, narrow
from engine.evidence.recompute import _priority, _value
from engine.evidence.sections import (
    _contract_facts,
    _evaluation_facts,
    _exemption_facts,
    _objective_facts,
    _sli_facts,
)
from engine.evidence.target import _locate, _Target

if TYPE_CHECKING:
    from engine.core.contract import Ruleset
    from engine.report.progress import Bars


def build_evidence(
    ruleset: Ruleset,
    input_path: str,
    record_id: str,
    now_ms: int | None,
    until_ms: int | None = None,
    bars: Bars | None = None,
) -> dict[str, Any]:
    """The facts behind breach or compensation ``record_id`` and their recomputation.

    Only the part of the input the record's period needs is replayed and read
    (``engine.evidence.narrow``); a breach still open at the end of that part is replayed again
    with everything after its period, in case it was resolved later."""
    from engine.adapters.files import open_input, read_chunks, replay
    from engine.adapters.manifest import require_manifest

    with tempfile.TemporaryDirectory(prefix="csla-evidence-") as tmp:
        source = input_path
        if input_path == "-":  # read twice: keep a copy of stdin, as sent (gzip or not)
            source = str(Path(tmp) / "stdin.ndjson")
            with open(source, "wb") as copy:
                shutil.copyfileobj(sys.stdin.buffer, copy)

        def select(to_the_end: bool) -> Narrowed | None:
            on_chunk = bars.add("select the period's lines", source) if bars else None
            return narrow(ruleset, source, record_id, Path(tmp), to_the_end=to_the_end,
                          now_ms=now_ms, on_chunk=on_chunk)  # fmt: skip

        def run(path: str, name: str) -> Any:
            on_chunk = bars.add("replay", path) if bars else None
            return replay(ruleset, path, Path(tmp) / name, now_ms, until_ms=until_ms,
                          on_chunk=on_chunk)  # fmt: skip

        narrowed = select(False)
        replayed = str(narrowed.path) if narrowed else source
        out = Path(tmp) / "replay"
        result = run(replayed, "replay")
        target = _locate(
            ruleset, result.outputs.breaches, result.outputs.compensations, record_id, input_path
        )
        if (
            narrowed is not None
            and narrowed.cut_after
            and target.kind == "breach"
            and all(r.get("status") == "opened" for r in target.records)
        ):
            narrowed = select(True)  # still open: perhaps resolved after the period
            assert narrowed is not None
            out = Path(tmp) / "replay-to-the-end"
            result = run(str(narrowed.path), out.name)
            target = _locate(
                ruleset,
                result.outputs.breaches,
                result.outputs.compensations,
                record_id,
                input_path,
            )
        (stored,) = require_manifest(out).inputs  # the input as the replay hashed it
        dead = _dead_letters(out / DEAD.file, target.contract.id)
        engine_late = _count_late(out / LATE.file, target.contract.id)
        disputed = _discrepancies(out / DISCREPANCIES.file, target)
        facts = _Facts(ruleset, target, now_ms, dead)
        read_path = str(narrowed.path) if narrowed else source
        on_chunk = bars.add("read the facts", read_path) if bars else None
        number = 0
        with open_input(read_path) as stream:
            for lines, origin, _ in read_chunks(stream, read_path):
                if on_chunk is not None:
                    on_chunk(sum(len(line) + 1 for line in lines))
                for index, line in enumerate(lines):
                    where = origin(index)
                    number += 1
                    shown = narrowed.origins[number - 1] if narrowed else None
                    if input_path == "-":
                        shown = "stdin" + (shown or where)[len(source) :]
                    facts.feed(line, where, shown)
        facts.finish()
    if narrowed is not None:
        read = {"path": input_path, "bytes": narrowed.bytes, "sha256": narrowed.sha256,
                "read": narrowed.note}  # fmt: skip
    else:
        read = {"path": input_path, "bytes": stored.bytes, "sha256": stored.sha256,
                "read": "the whole input"}  # fmt: skip
    disagreements = _discrepancy_facts(disputed, target)
    return _assemble(facts, target, record_id, read, until_ms, engine_late, disagreements)


def _dead_letters(path: Path, cid: str) -> dict[tuple[str, str], str]:
    """The engine's dead letters of one contract: (origin, raw line) → reason."""
    dead: dict[tuple[str, str], str] = {}
    needle = cid.encode()
    with open(path, "rb") as handle:
        for line in handle:
            if needle not in line:
                continue
            record = orjson.loads(line)
            try:
                event = orjson.loads(record["raw"])
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and event.get("contract_id") == cid:
                dead[(record["origin"], record["raw"])] = record["error"]
    return dead


def _count_late(path: Path, cid: str) -> int:
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            if orjson.loads(line).get("contract_id") == cid:
                count += 1
    return count


def _assemble(
    facts: _Facts,
    target: _Target,
    record_id: str,
    read: dict[str, Any],
    until_ms: int | None,
    engine_late: int,
    discrepancies: dict[str, Any],
) -> dict[str, Any]:
    contract, objective = target.contract, target.objective
    tz = contract.tz
    values, checks = [], []
    for index, (record, (lo, hi)) in enumerate(zip(target.records, target.ranges, strict=True)):
        label = record.get("status", "compensation")
        counts = facts.range_counts[index] if objective.sli == "latency" else None
        if target.kind == "compensation" and objective.sli == "latency":
            counts = facts.period_counts.get(objective.id, counts)
        result = _value(facts, objective, lo, hi, counts)
        checks += _record_checks(record, result, objective, label)
        if objective.sli == "latency" and result["value"] is not None:
            result["summary"] += f"; recorded {record['observed']:.4f} ms (histogram bucket)"
        evidence = record.get("evidence", {})
        if (
            label == "opened"
            and "best_possible" in evidence
            and objective.sli == "service_availability"
        ):
            remaining, best = _best_possible(facts, objective, result, hi)
            result["remaining_minutes"], result["best_possible"] = remaining, best
            checks.append(
                _check(
                    label,
                    "best possible % (rounded to 6 places)",
                    evidence["best_possible"],
                    best,
                    "exact",
                )
            )
        if result["value"] is not None:
            result["meets_objective"] = objective.meets(result["value"])
        values.append({"record": label, **_span(lo, hi, tz), **result})
        if target.kind == "compensation":
            continue
        priority = _priority(facts, record, lo)
        quantity = "priority (impact × urgency, §6.2.2)"
        checks.append(_check(label, quantity, record.get("priority"), priority, "exact", True))
    exemptions = _exemption_facts(facts)
    for entry in exemptions["recorded_in_engine_evidence"]:
        quantity = f"evidence.exemptions: {entry['maintenance_id']}"
        checks.append(
            _check(entry["record"], quantity, entry["recorded"], entry["recomputed"], "exact")
        )
    compensation = None
    if target.kind == "compensation":
        compensation = _compensation(facts)
        record = target.records[0]
        mine = next(c for c in compensation["objectives"] if c["objective_id"] == objective.id)
        compensation["target"] = mine
        compensation["arithmetic"] = (
            f"{compensation['period_fee']} × {mine['credit_percent']}% = {mine['credit_amount']}"
            f" {compensation['currency']}" + (" (capped)" if mine["capped"] else "")
        )
        for quantity, recorded, recomputed in (
            ("tier", record["tier"], mine["tier"]),
            ("credit_percent", record["credit_percent"], mine["credit_percent"]),
            ("extension_hours", record["extension_hours"], mine["extension_hours"]),
            ("period_fee", record["period_fee"], compensation["period_fee"]),
            ("credit_amount", record["credit_amount"], mine["credit_amount"]),
            ("capped", record["capped"], mine["capped"]),
        ):
            checks.append(_check("compensation", quantity, recorded, recomputed, "exact"))
    quantity = "late events of the contract (engine vs here)"
    checks.append(_check("input", quantity, engine_late, facts.stats["late"], "exact", True))
    matches = all(c["matches"] for c in checks if not c["informational"])
    return {
        "evidence_version": 1,
        "id": record_id,
        "kind": target.kind,
        "about": "Evidence for a dispute (CSLA §6.2.6): the facts behind one record and an "
        "independent recomputation of its value from the source events.",
        "input": {**read, "until": _utc(until_ms) if until_ms is not None else None},
        "records": target.records,
        "contract": _contract_facts(facts, contract),
        "objective": _objective_facts(objective),
        "period": _span(*target.period, tz),
        "ranges": [
            {"record": r.get("status", "compensation"), **_span(lo, hi, tz)}
            for r, (lo, hi) in zip(target.records, target.ranges, strict=True)
        ],
        "evaluation": _evaluation_facts(facts),
        "exemptions": exemptions,
        "facts": _sli_facts(facts),
        "discrepancies": discrepancies,
        "input_quality": {
            **{k: facts.stats[k] for k in _QUALITY},
            "late_recorded_by_engine": engine_late,
            "late_events": facts.late,
            "duplicate_events": facts.duplicates,
            "dead_letter_events": facts.dead_seen,
        },
        "recomputation": {"values": values, "compensation": compensation, "checks": checks},
        "matches": matches,
    }


_QUALITY = (
    "events",
    "accepted",
    "late",
    "late_in_period",
    "late_in_ranges",
    "duplicates",
    "duplicates_in_ranges",
    "dead_letters",
)


def write_pack(evidence: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``<id>.json`` and ``<id>.html`` (self-contained: inline CSS, no scripts, no fetches)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", evidence["id"]).strip("_") or "evidence"
    json_path, html_path = out_dir / f"{stem}.json", out_dir / f"{stem}.html"
    json_path.write_text(json.dumps(evidence, indent=2, ensure_ascii=False) + "\n", "utf-8")
    html_path.write_text(render_html(evidence), "utf-8")
    return json_path, html_path
