"""The periodic assessment report (§6.2.7) as one JSON-ready dict: content, criteria, results.

``build_report`` selects, per contract, the assessment periods that start in the calendar month
asked for (in the contract's time zone; a calendar-month contract has exactly one; without a
rule file, those whose middle falls in the month, in UTC) and folds
that period's records into: the objectives with their measured period value and verdict,
availability per day, latency over time, outages, breaches, burn-rate warnings, the error-budget
burn-down, the compensation with its arithmetic and cap (§6.1.16), the windows where probes and
reports disagree (§6.2.6), and the scorecard and grade when one was written. The HTML page
(``engine.report.html``) shows exactly these numbers.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from engine.core.calendar import local_iso, parse_instant
from engine.report import series
from engine.report.contracts import ContractInfo, ObjectiveInfo, contract_info
from engine.report.discrepancies import discrepancy_section
from engine.report.records import Record

if TYPE_CHECKING:
    from engine.core.contract import Ruleset

REPORT_VERSION = 1
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}


class ReportError(ValueError):
    """A request the report cannot answer: a bad argument (``exit_code`` 2) or nothing to
    report (1)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def parse_month(period: str) -> tuple[int, int]:
    match = _MONTH.match(period)
    if not match:
        raise ReportError(f"--period must be YYYY-MM, got {period!r}", exit_code=2)
    return int(match.group(1)), int(match.group(2))


def month_bounds_ms(year: int, month: int, tz: str) -> tuple[int, int]:
    """Local midnight of the month's first day and of the next month's, as epoch ms."""
    zone = ZoneInfo(tz)
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def build_report(
    outputs: Mapping[str, list[Record]],
    period: str,
    *,
    ruleset: Ruleset | None = None,
    contract: str | None = None,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report of month ``period`` (``YYYY-MM``) over output records grouped by kind."""
    year, month = parse_month(period)
    metrics_by_contract: dict[str, list[Record]] = defaultdict(list)
    for m in outputs.get("metrics", []):
        if contract is None or m.get("contract_id") == contract:
            metrics_by_contract[m["contract_id"]].append(m)
    if contract is not None and contract not in metrics_by_contract:
        raise ReportError(f"no metric records of contract {contract!r} in the outputs")
    sections = []
    for cid in sorted(metrics_by_contract):
        by_period: dict[str, list[Record]] = defaultdict(list)
        for m in metrics_by_contract[cid]:
            by_period[m["period_start"]].append(m)
        for period_start in sorted(by_period, key=parse_instant):
            start_ms = parse_instant(period_start)
            info = contract_info(ruleset, cid, start_ms)
            lo, hi = month_bounds_ms(year, month, info.tz)
            if info.contract is None:  # no rule file, no time zone: the period's middle
                start_ms = (start_ms + parse_instant(by_period[period_start][0]["period_end"])) // 2
            if lo <= start_ms < hi:
                sections.append(_contract_section(info, by_period[period_start], outputs))
    if not sections:
        raise ReportError(
            f"no assessment period starting in {period} in the outputs"
            + (f" for contract {contract!r}" if contract else "")
        )
    starts = [parse_instant(s["period_start"]) for s in sections]
    ends = [parse_instant(s["period_end"]) for s in sections]
    # with --contract, only the scorecards of that contract's provider
    mine = {s["scorecard"]["provider_id"] for s in sections if s["scorecard"]}
    providers = [
        _scorecard(s)
        for s in _overlapping(outputs.get("scorecards", []), min(starts), max(ends))
        if s.get("scope") == "provider" and (contract is None or s.get("provider_id") in mine)
    ]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for s in sections:
        comp = s["compensation"]
        if comp["currency"]:
            totals[comp["currency"]] += Decimal(comp["total_credit"])
    return {
        "report": "csla-assessment",
        "report_version": REPORT_VERSION,
        "period": period,
        "contract_filter": contract,
        "source": dict(source or {}),
        "summary": {
            "contracts": len({s["contract_id"] for s in sections}),
            "objectives": sum(len(s["objectives"]) for s in sections),
            "objectives_met": sum(s["summary"]["met"] for s in sections),
            "objectives_not_met": sum(s["summary"]["not_met"] for s in sections),
            "breaches": sum(len(s["breaches"]) for s in sections),
            "discrepancies": sum(s["discrepancies"]["count"] for s in sections),
            "credit_totals": {c: str(v) for c, v in sorted(totals.items())},
        },
        "contracts": sections,
        "provider_scorecards": providers,
    }


def _overlapping(records: Iterable[Record], start_ms: int, end_ms: int) -> list[Record]:
    out = []
    for r in records:
        try:
            lo, hi = parse_instant(r["period_start"]), parse_instant(r["period_end"])
        except (KeyError, TypeError, ValueError):
            continue
        if lo < end_ms and hi > start_ms:
            out.append(r)
    return out


def _target(info: ContractInfo, oid: str, records: Iterable[Record]) -> ObjectiveInfo | None:
    """The objective's target from the rule file, else from a breach or compensation record."""
    if oid in info.objectives:
        return info.objectives[oid]
    for r in records:
        if r.get("objective_id") == oid and r.get("threshold") is not None:
            comparator = r.get("comparator") or (
                "<=" if r.get("sli") in ("latency", "error_rate") else ">="
            )
            return ObjectiveInfo(oid, r["sli"], comparator, float(r["threshold"]))
    return None


def _contract_section(
    info: ContractInfo, metrics: list[Record], outputs: Mapping[str, list[Record]]
) -> dict[str, Any]:
    cid, tz = info.id, info.tz
    first = metrics[0]
    period_start, period_end = first["period_start"], first["period_end"]
    start_ms, end_ms = parse_instant(period_start), parse_instant(period_end)

    def of_period(kind: str, key: str) -> list[Record]:
        return [
            r
            for r in outputs.get(kind, [])
            if r.get("contract_id") == cid and r.get(key) == period_start
        ]

    compensations = {c["objective_id"]: c for c in of_period("compensations", "period_start")}
    breach_records = [
        b
        for b in outputs.get("breaches", [])
        if b.get("contract_id") == cid and start_ms <= parse_instant(b["window_start"]) < end_ms
    ]
    contract_warnings = [
        w
        for w in outputs.get("warnings", [])
        if w.get("contract_id") == cid and isinstance(w.get("detected_at"), str)
    ]
    fired_here = {
        w.get("warning_id")
        for w in contract_warnings
        if w.get("status") != "cleared" and start_ms <= parse_instant(w["detected_at"]) < end_ms
    }
    warnings = _warning_rows([w for w in contract_warnings if w.get("warning_id") in fired_here])
    per_objective: dict[str, list[Record]] = defaultdict(list)
    for m in metrics:
        per_objective[m["objective_id"]].append(m)
    order = [o for o in info.objectives if o in per_objective]
    order += sorted(o for o in per_objective if o not in info.objectives)

    objectives: list[dict[str, Any]] = []
    daily: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    outage_rows: list[dict[str, Any]] = []
    burn: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []  # reliability and gauge objectives: values per window
    evaluated_until = max(m["window_end"] for m in metrics)
    for oid in order:
        windows = series.by_window(per_objective[oid])
        last = windows[-1]
        sli = last["sli"]
        target = _target(info, oid, [*breach_records, *compensations.values()])
        comp = compensations.get(oid)
        value = comp["observed"] if comp is not None else last.get("period_value")
        if value is None or target is None:
            verdict = "not judged"
        else:
            verdict = (
                "met" if series.meets(target.comparator, target.threshold, value) else "not met"
            )
        objectives.append(
            {
                "objective_id": oid,
                "sli": sli,
                "unit": last["unit"],
                "comparator": target.comparator if target else None,
                "threshold": target.threshold if target else None,
                "percentile": target.percentile if target else None,
                "window_minutes": target.window_minutes if target else None,
                "value": value,
                "good": last.get("period_good"),
                "total": last.get("period_total"),
                "verdict": verdict,
                "final": comp is not None,
                "as_of": last["window_end"],
                "windows": len(windows),
                "windows_judged": sum(1 for m in windows if m.get("compliant") is not None),
                "windows_failed": sum(1 for m in windows if m.get("compliant") is False),
                "breaches": len(
                    {
                        b["breach_id"]
                        for b in breach_records
                        if b["objective_id"] == oid and b["status"] == "opened"
                    }
                ),
                "contract_version": last["contract_version"],
            }
        )
        if sli in series.AVAILABILITY_SLIS:
            daily.append(
                {
                    "objective_id": oid,
                    "sli": sli,
                    "threshold": target.threshold if target else None,
                    "days": series.daily_availability(windows, tz),
                }
            )
            outage_rows.extend(
                {"objective_id": oid, "sli": sli, **run} for run in series.outages(windows, sli)
            )
        if sli == "latency":
            latency.append(
                {
                    "objective_id": oid,
                    "percentile": target.percentile if target else None,
                    "threshold": target.threshold if target else None,
                    "period_value": value,
                    "points": series.latency_points(windows),
                }
            )
        elif sli not in series.AVAILABILITY_SLIS and sli != "error_rate":
            points = series.latency_points(windows)  # judged windows' values
            if points:
                others.append(
                    {
                        "objective_id": oid,
                        "sli": sli,
                        "unit": last["unit"],
                        "comparator": target.comparator if target else None,
                        "threshold": target.threshold if target else None,
                        "points": points,
                    }
                )
        if target is not None:
            curve = series.burn_down(windows, sli, target.comparator, target.threshold)
            if curve is not None:
                burn.append({"objective_id": oid, "sli": sli, **curve})

    met = sum(1 for o in objectives if o["verdict"] == "met")
    not_met = sum(1 for o in objectives if o["verdict"] == "not met")
    ordered = [o for o in order if o in compensations]
    ordered += sorted(o for o in compensations if o not in order)
    compensation = _compensation(info, [compensations[o] for o in ordered])
    scorecards = [
        s
        for s in _overlapping(outputs.get("scorecards", []), start_ms, end_ms)
        if s.get("scope") == "contract" and s.get("contract_id") == cid
    ]
    scorecard = _scorecard(scorecards[-1]) if scorecards else None
    breaches = _breach_rows(breach_records)
    disagreements = discrepancy_section(
        outputs.get("discrepancies", []), cid, start_ms, end_ms, objectives
    )
    return {
        "contract_id": cid,
        "title": info.title,
        "customer": info.customer,
        "provider": info.provider,
        "timezone": tz,
        "service_time": info.service_time,
        "rule": info.rule,
        "revisions": sorted({m["contract_version"] for m in metrics}),
        "period_start": period_start,
        "period_end": period_end,
        "period_start_local": local_iso(start_ms, tz),
        "period_end_local": local_iso(end_ms, tz),
        "evaluated_until": evaluated_until,
        "closed": bool(compensations) or parse_instant(evaluated_until) >= end_ms,
        "summary": {
            "objectives": len(objectives),
            "met": met,
            "not_met": not_met,
            "not_judged": len(objectives) - met - not_met,
            "breaches": len(breaches),
            "warnings": len(warnings),
            "discrepancies": disagreements["count"],
            "credit_total": compensation["total_credit"],
            "currency": compensation["currency"],
            "extension_hours": compensation["total_extension_hours"],
            "grade": scorecard["grade"] if scorecard else None,
            "score": scorecard["total_score"] if scorecard else None,
        },
        "objectives": objectives,
        "availability_daily": daily,
        "latency": latency,
        "other_series": others,
        "outages": outage_rows,
        "breaches": breaches,
        "warnings": warnings,
        "discrepancies": disagreements,
        "burn_down": burn,
        "compensation": compensation,
        "scorecard": scorecard,
    }


def _breach_rows(records: list[Record]) -> list[dict[str, Any]]:
    """One row per breach: the opened record, and the resolution when it came."""
    rows: dict[str, dict[str, Any]] = {}
    for b in records:
        row = rows.setdefault(
            b["breach_id"],
            {
                "breach_id": b["breach_id"],
                "objective_id": b["objective_id"],
                "sli": b["sli"],
                "comparator": b["comparator"],
                "threshold": b["threshold"],
                "window_start": b["window_start"],
                "window_end": b["window_end"],
                "opened_at": None,
                "observed_at_open": None,
                "resolved_at": None,
                "observed_at_resolution": None,
                "priority": b.get("priority"),
            },
        )
        if b["status"] == "opened":
            row["opened_at"], row["observed_at_open"] = b["detected_at"], b["observed"]
        else:
            row["resolved_at"], row["observed_at_resolution"] = b["detected_at"], b["observed"]
    return sorted(rows.values(), key=lambda r: r["opened_at"] or r["resolved_at"] or "")


def _quantum(fee: str) -> Decimal:
    exponent = Decimal(fee).as_tuple().exponent
    return Decimal(1).scaleb(exponent if isinstance(exponent, int) else 0)


def _compensation(info: ContractInfo, records: list[Record]) -> dict[str, Any]:
    """Per objective: credit % × period fee = amount, the amount after the cap; the totals."""
    rounding = _ROUNDING.get(info.rounding or "half_up", ROUND_HALF_UP)
    lines = []
    fee_text = records[0]["period_fee"] if records else None
    currency = records[0]["currency"] if records else info.currency
    total = Decimal(0)
    extension = 0.0
    for c in records:
        fee = Decimal(c["period_fee"])
        percent = Decimal(str(c["credit_percent"]))
        computed = (fee * percent / 100).quantize(_quantum(c["period_fee"]), rounding=rounding)
        amount = Decimal(c["credit_amount"])
        total += amount
        extension += float(c.get("extension_hours") or 0.0)
        lines.append(
            {
                "compensation_id": c["compensation_id"],
                "objective_id": c["objective_id"],
                "sli": c["sli"],
                "observed": c["observed"],
                "threshold": c["threshold"],
                "tier": c["tier"],
                "credit_percent": c["credit_percent"],
                "period_fee": c["period_fee"],
                "computed_amount": str(computed),
                "credit_amount": c["credit_amount"],
                "currency": c["currency"],
                "extension_hours": c.get("extension_hours", 0.0),
                "capped": bool(c["capped"]),
                "arithmetic": f"{percent}% × {c['period_fee']} = {computed} {c['currency']}"
                + (f" → {amount} {c['currency']} (capped)" if c["capped"] else ""),
                "fee_rule": (c.get("evidence") or {}).get("fee_rule"),
            }
        )
    cap_amount = None
    if fee_text is not None and info.cap_percent is not None:
        cap_amount = str(
            (Decimal(fee_text) * Decimal(info.cap_percent) / 100).quantize(
                _quantum(fee_text), rounding=rounding
            )
        )
    zero = str(Decimal(0).quantize(_quantum(fee_text))) if fee_text else "0"
    return {
        "period_fee": fee_text,
        "currency": currency,
        "cap_percent": info.cap_percent,
        "cap_amount": cap_amount,
        "lines": lines,
        "total_credit": str(total) if records else zero,
        "total_extension_hours": extension,
        "capped": any(line["capped"] for line in lines),
        "assessed": bool(records),
    }


def _warning_rows(records: list[Record]) -> list[dict[str, Any]]:
    """One row per burn-rate warning: when it fired (with its burn rates and budget left then)
    and when it cleared (a fired and its cleared record share the ``warning_id``)."""
    keys = (
        "warning_id", "objective_id", "sli", "severity", "long_window", "short_window",
        "threshold_factor", "burn_rate_long", "burn_rate_short", "budget_remaining",
    )  # fmt: skip
    rows: dict[str, dict[str, Any]] = {}
    for w in records:
        row = rows.setdefault(
            w["warning_id"], {**{k: w.get(k) for k in keys}, "fired_at": None, "cleared_at": None}
        )
        if w.get("status") == "cleared":
            row["cleared_at"] = w["detected_at"]
        else:
            row.update({k: w.get(k) for k in keys}, fired_at=w["detected_at"])
    return sorted(rows.values(), key=lambda r: (r["fired_at"] or "", r["warning_id"]))


def _scorecard(s: Record) -> dict[str, Any]:
    keys = (
        "scorecard_id",
        "scope",
        "provider_id",
        "contract_id",
        "contract_version",
        "period_start",
        "period_end",
        "total_score",
        "grade",
        "grade_by_score",
        "caps",
        "levels",
    )
    return {k: s.get(k) for k in keys}
