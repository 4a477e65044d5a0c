"""Table A.2 scorecards and §7 grades: pure functions of a scoring spec and period values.

``scorecard`` scores one contract's assessment period: every second-level metric maps its
measured or attested input(s) to 0..100 by its curve; metric scores roll up by weight to the
first-level scores and the total; the total maps to a grade by the cut points; §7's hard
requirements cap the grade. ``provider_scorecard`` combines a provider's contract scorecards.
The records carry every input, weight and score, so the total can be recomputed by hand
(docs/scoring.md). No I/O, no clock.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from engine.core.grades import grade_caps, grade_of
from engine.models.assessment import (
    ATTESTED_INPUTS,
    Attested,
    BooleanCurve,
    CountCurve,
    Input,
    LinearCurve,
    Metric,
    Scoring,
    StepCurve,
    attested_values,
    measured_unit,
)
from engine.models.contract import SoftwareSupport

Record = dict[str, Any]
CurveSpec = LinearCurve | StepCurve | BooleanCurve | CountCurve


# --- curves ------------------------------------------------------------------------------------
def curve_score(curve: CurveSpec, x: float) -> float:
    """The 0..100 score of input ``x`` on ``curve`` (see the curve models for the rules)."""
    if isinstance(curve, LinearCurve):
        points = curve.points
        if x <= points[0][0]:
            return points[0][1]
        for (x0, s0), (x1, s1) in itertools.pairwise(points):
            if x <= x1:
                return s0 + (s1 - s0) * (x - x0) / (x1 - x0)
        return points[-1][1]
    if isinstance(curve, StepCurve):
        if curve.direction == "higher":
            score = curve.otherwise
            for bound, step in curve.steps:
                if x >= bound:
                    score = step
            return score
        for bound, step in curve.steps:
            if x <= bound:
                return step
        return curve.otherwise
    if isinstance(curve, BooleanCurve):
        return curve.if_true if x >= 0.5 else curve.if_false
    count = max(x, 0.0)
    if curve.direction == "higher":
        assert curve.full_at is not None
        return 100.0 * min(count, curve.full_at) / curve.full_at
    assert curve.zero_at is not None
    return 100.0 * max(0.0, curve.zero_at - count) / curve.zero_at


def curve_best(curve: CurveSpec) -> float:
    """The highest score ``curve`` gives."""
    if isinstance(curve, LinearCurve):
        return max(score for _, score in curve.points)
    if isinstance(curve, StepCurve):
        return max(curve.otherwise, *(score for _, score in curve.steps))
    if isinstance(curve, BooleanCurve):
        return curve.if_true
    return 100.0


NO_FAILURE_INPUTS = ("mttr", "mtbf")
"""Undefined in a period without failures; with ``failure_count`` 0 they score their best."""


def _no_failures(measured: Mapping[str, float | None]) -> bool:
    count = measured.get("failure_count")
    return count is not None and count == 0


def round_score(value: float) -> float:
    """Two decimals, halves rounded up, on the value as printed (``repr``)."""
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# --- one metric --------------------------------------------------------------------------------
def _value(
    inp: Input, measured: Mapping[str, float | None], attested: Mapping[str, float | None]
) -> float | None:
    raw = measured.get(inp.measure) if inp.measure else attested.get(inp.attested or "")
    if raw is None or math.isnan(raw):
        return None
    return float(raw)


def _unit(inp: Input) -> str | None:
    if inp.measure is not None:
        return measured_unit(inp.measure)
    return ATTESTED_INPUTS[inp.attested or ""][0]


def _metric_record(
    metric: Metric,
    not_applicable: str | None,
    measured: Mapping[str, float | None],
    attested: Mapping[str, float | None],
) -> Record:
    parts: list[Record] = []
    used: list[float] = []
    kinds: set[str] = set()
    no_failures = _no_failures(measured)
    for inp in metric.inputs:
        value = _value(inp, measured, attested)
        score: float | None = None
        part_note: str | None = None
        if not_applicable is None:
            if value is not None:
                score = curve_score(inp.curve, value)
                kinds.add("measured" if inp.measure else "attested")
            elif no_failures and (inp.measure or "").split("@")[0] in NO_FAILURE_INPUTS:
                score = curve_best(inp.curve)
                kinds.add("measured")
                part_note = "no failures in the period (failure_count 0): best score"
            elif metric.missing_parts == "zero":
                score = 0.0
            if score is not None:
                used.append(score)
        parts.append(
            {
                "ref": inp.ref,
                "value": value,
                "unit": _unit(inp),
                "curve": inp.curve.model_dump(mode="json", exclude_none=True),
                "score": score,
                "note": part_note,
            }
        )
    note: str | None = None
    if not_applicable is not None:
        source, total = "not_applicable", None
        note = f"not applicable: {not_applicable}"
    elif not kinds:
        source, total = "missing", 0.0
        note = "missing: no value for " + ", ".join(p["ref"] for p in parts)
    else:
        source = "measured" if "measured" in kinds else "attested"
        total = min(used) if metric.combine == "min" else math.fsum(used) / len(used)
        absent = [p["ref"] for p in parts if p["value"] is None and p["note"] is None]
        if absent:
            scored = "scored 0" if metric.missing_parts == "zero" else "left out"
            note = f"no value for {', '.join(absent)} ({scored})"
    single = parts[0] if len(parts) == 1 else None
    return {
        "key": metric.key,
        "name": metric.name,
        "weight": metric.weight,
        "value": single["value"] if single else None,
        "unit": single["unit"] if single else None,
        "source": source,
        "score": total,
        "input": {
            "declared_weight": metric.weight,
            "combine": metric.combine,
            "missing_parts": metric.missing_parts,
            "parts": parts,
            "note": note,
        },
    }


# --- roll-up -----------------------------------------------------------------------------------
def _renormalised(weights: Sequence[float], applicable: Sequence[bool]) -> list[float]:
    """Weights of the applicable items scaled to sum to 100; 0 for the others."""
    total = math.fsum(w for w, ok in zip(weights, applicable, strict=True) if ok)
    if total <= 0:
        return [0.0 for _ in weights]
    return [w * 100.0 / total if ok else 0.0 for w, ok in zip(weights, applicable, strict=True)]


def _roll_up(spec: Scoring, metrics: Mapping[str, Record]) -> tuple[float, list[Record]]:
    """Effective weights, level scores and the unrounded total; metric records are updated."""
    levels: list[Record] = []
    for level in spec.levels:
        records = [metrics[m.key] for m in level.metrics]
        applicable = [r["source"] != "not_applicable" for r in records]
        weights = _renormalised([m.weight for m in level.metrics], applicable)
        for record, weight in zip(records, weights, strict=True):
            record["weight"] = weight
        scored = any(applicable) and math.fsum(weights) > 0
        score = math.fsum(r["weight"] * r["score"] for r in records if r["score"] is not None)
        levels.append(
            {
                "key": level.key,
                "name": level.name,
                "weight": level.weight,
                "score": score / 100.0 if scored else None,
                "metrics": records,
            }
        )
    level_weights = _renormalised(
        [level.weight for level in spec.levels], [lv["score"] is not None for lv in levels]
    )
    for record, weight in zip(levels, level_weights, strict=True):
        record["weight"] = weight
    total = math.fsum(lv["weight"] * lv["score"] for lv in levels if lv["score"] is not None)
    return min(100.0, max(0.0, total / 100.0)), levels


def _finish(
    spec: Scoring, head: Record, total: float, levels: list[Record], caps: list[Record]
) -> Record:
    total_score = round_score(total)
    by_score = grade_of(total_score, spec.grades)
    grade = min([by_score, *(cap["grade"] for cap in caps)])
    return {
        **head,
        "total_score": total_score,
        "grade": grade,
        "grade_by_score": by_score,
        "caps": caps,
        "levels": levels,
    }


def scorecard(
    spec: Scoring,
    measured: Mapping[str, float | None],
    attested: Attested | None,
    *,
    software_support: SoftwareSupport | None,
    contract_id: str,
    provider_id: str,
    contract_version: int,
    period_start: str,
    period_end: str,
) -> Record:
    """The Table A.2 scorecard of one contract for one assessment period (§7 grade).

    ``software_support``: the contract's §6.1.10 software support (None: none declared),
    which §7.1.4 e) requires for grade 2 and up."""
    values = attested_values(attested)
    excluded = {n.metric: n.reason for n in spec.not_applicable}
    metrics = {
        m.key: _metric_record(m, excluded.get(m.key), measured, values)
        for level in spec.levels
        for m in level.metrics
    }
    total, levels = _roll_up(spec, metrics)
    head: Record = {
        "record": "scorecard",
        "scorecard_id": f"{contract_id}:scorecard:{period_start}:r{contract_version}",
        "scope": "contract",
        "provider_id": provider_id,
        "contract_id": contract_id,
        "contract_version": contract_version,
        "period_start": period_start,
        "period_end": period_end,
    }
    return _finish(spec, head, total, levels, grade_caps(attested, software_support))


# --- provider ----------------------------------------------------------------------------------
def _provider_metric(metric: Metric, reason: str | None, records: Sequence[Record]) -> Record:
    found = [
        (record, m)
        for record in records
        for level in record["levels"]
        for m in level["metrics"]
        if m["key"] == metric.key
    ]
    applicable = [(r, m) for r, m in found if m["source"] != "not_applicable"]
    contracts = [
        {
            "contract_id": r["contract_id"],
            "contract_version": r["contract_version"],
            "source": m["source"],
            "value": m["value"],
            "score": m["score"],
        }
        for r, m in found
    ]
    sources = {m["source"] for _, m in applicable}
    note: str | None = None
    score: float | None
    if reason is not None:
        source, score, note = "not_applicable", None, f"not applicable: {reason}"
    elif found and not applicable:
        source, score, note = "not_applicable", None, "not applicable: in every contract"
    elif not found:
        source, score, note = "missing", 0.0, "missing: in no contract scorecard"
    else:
        source = next((s for s in ("measured", "attested") if s in sources), "missing")
        score = math.fsum(m["score"] for _, m in applicable) / len(applicable)
    units = {m["unit"] for _, m in found}
    return {
        "key": metric.key,
        "name": metric.name,
        "weight": metric.weight,
        "value": None,
        "unit": units.pop() if len(units) == 1 else None,
        "source": source,
        "score": score,
        "input": {
            "declared_weight": metric.weight,
            "combine": "mean of the contracts' scores where applicable (missing counts 0)",
            "contracts": contracts,
            "note": note,
        },
    }


def provider_scorecard(
    spec: Scoring,
    records: Sequence[Mapping[str, Any]],
    *,
    provider_id: str,
    period_start: str,
    period_end: str,
) -> Record:
    """A provider's scorecard from its contracts' scorecards of one period.

    Each second-level metric scores the mean of the contracts' scores for it, over the
    contracts where it applies (a contract's ``missing`` counts 0); the provider's own weights
    and cut points are those of ``spec``; the caps are every contract's caps (reason prefixed
    with the contract id), so the strictest attested facts bind.
    """
    if not records:
        raise ValueError("provider_scorecard needs at least one contract scorecard")
    for record in records:
        if record.get("record") != "scorecard" or record.get("scope") != "contract":
            raise ValueError("provider_scorecard combines contract scorecards only")
        if record.get("provider_id") != provider_id:
            raise ValueError(
                f"scorecard {record.get('scorecard_id')} is of provider"
                f" {record.get('provider_id')!r}, not {provider_id!r}"
            )
    plain = [dict(record) for record in records]
    excluded = {n.metric: n.reason for n in spec.not_applicable}
    metrics = {
        m.key: _provider_metric(m, excluded.get(m.key), plain)
        for level in spec.levels
        for m in level.metrics
    }
    total, levels = _roll_up(spec, metrics)
    caps: list[Record] = []
    for record in plain:
        for cap in record["caps"]:
            entry = {"grade": cap["grade"], "reason": f"{record['contract_id']}: {cap['reason']}"}
            if entry not in caps:
                caps.append(entry)
    head: Record = {
        "record": "scorecard",
        "scorecard_id": f"{provider_id}:scorecard:{period_start}",
        "scope": "provider",
        "provider_id": provider_id,
        "contract_id": None,
        "contract_version": None,
        "period_start": period_start,
        "period_end": period_end,
    }
    return _finish(spec, head, total, levels, caps)


def provider_scorecards(spec: Scoring, records: Sequence[Mapping[str, Any]]) -> list[Record]:
    """One provider scorecard per (provider, period) of the contract scorecards given."""
    groups: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        if record.get("scope") == "contract":
            key = (record["provider_id"], record["period_start"], record["period_end"])
            groups.setdefault(key, []).append(record)
    return [
        provider_scorecard(spec, group, provider_id=p, period_start=start, period_end=end)
        for (p, start, end), group in sorted(groups.items())
    ]
