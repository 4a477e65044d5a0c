"""``csla openslo export``: rule files → OpenSLO ``SLO`` documents (``openslo/v1alpha``).

One document per objective OpenSLO can express (``mapping.not_expressible``): a ratio SLI over
the worker's ``csla_sli_good_total`` / ``csla_sli_judged_total`` series, the target from the
threshold, the time window from the assessment period. What OpenSLO has no field for (service
time, exemptions, compensation tiers, the other objectives, the parties…) travels in
``metadata.annotations`` (``csla.dev/…``), so ``csla openslo import`` gives the rule file back.
Sloth reads these documents (it ignores the annotations).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import yaml

from engine.models.contract import Objective, RuleFile
from engine.openslo import mapping as m

if TYPE_CHECKING:
    from engine.ruleset import LoadReport

__all__ = [
    "Export",
    "Skipped",
    "export_rule_files",
    "load_rule_specs",
    "render",
    "specs_of",
    "write",
]


@dataclass(frozen=True)
class Skipped:
    """An objective left out, and why."""

    contract_id: str
    objective_id: str
    sli: str
    reason: str


@dataclass
class Export:
    documents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (file, doc)
    skipped: list[Skipped] = field(default_factory=list)


def load_rule_specs(paths: Iterable[str | Path]) -> tuple[list[tuple[str, RuleFile]], str]:
    """The rule files below ``paths`` as spec models, when every one is valid; else ([],
    the validation report)."""
    from engine.ruleset import validate_paths

    report = validate_paths(paths)
    if not report.ok or not report.files:
        return [], report.format()
    return specs_of(report), ""


def specs_of(report: LoadReport) -> list[tuple[str, RuleFile]]:
    """The spec models of the files of a report without errors (``csla openslo export``
    validates through the CLI's rules loader, then reads them)."""
    specs = []
    for result in report.files:
        data = yaml.safe_load(Path(result.path).read_text(encoding="utf-8"))
        specs.append((result.path, RuleFile.model_validate(data)))
    return specs


def _name(text: str) -> str:
    """A DNS-1123 label-like name (OpenSLO names), ids kept exactly in the annotations."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:253] or "slo"


def _objective_json(objective: Objective) -> dict[str, Any]:
    return objective.model_dump(mode="json", exclude_defaults=True)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _unmapped_aspects(rule: RuleFile, objective: Objective) -> list[str]:
    """What the exported SLO does not say, though the engine's counters honour it."""
    aspects = [
        f"service time {rule.service_time.preset} in {rule.service_time.timezone} "
        "(the counters count service time only)",
        "exemptions: notified maintenance and force majeure leave the counters",
    ]
    if rule.assessment.period == "calendar_month":
        aspects.append(
            f"calendar month in {rule.service_time.timezone}: Sloth's window is "
            f"{m.CALENDAR_MONTH_DAYS} days"
        )
    if objective.compensation:
        aspects.append(f"compensation: {len(objective.compensation)} tier(s)")
    if objective.comparator in (">", "<"):
        aspects.append(f"strict comparator {objective.comparator}")
    return aspects


def export_rule_files(specs: Iterable[tuple[str, RuleFile]]) -> Export:
    """OpenSLO documents of the latest revision of each contract (by ``revision``)."""
    latest: dict[str, tuple[str, RuleFile]] = {}
    for path, rule in specs:
        held = latest.get(rule.contract.id)
        if held is None or rule.contract.revision > held[1].contract.revision:
            latest[rule.contract.id] = (path, rule)
    result = Export()
    for cid in sorted(latest):
        _, rule = latest[cid]
        exported = [o for o in rule.objectives if m.not_expressible(o) is None]
        for o in rule.objectives:
            if (reason := m.not_expressible(o)) is not None:
                result.skipped.append(Skipped(cid, o.id, o.sli, reason))
        if not exported:
            continue
        kept = [_objective_json(o) for o in rule.objectives if o not in exported]
        contract = rule.model_dump(mode="json", exclude={"objectives"}, exclude_none=True)
        contract["objectives"] = kept
        contract_json = _json(contract)
        zone = ZoneInfo(rule.service_time.timezone)
        start = rule.term.start.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        window = m.time_window(
            rule.assessment.period, rule.assessment.days, start, rule.service_time.timezone
        )
        period = rule.assessment.period + (
            f":{rule.assessment.days}" if rule.assessment.days else ""
        )
        for objective in exported:
            index = rule.objectives.index(objective)
            name = _name(f"{cid}-{objective.id}")
            annotations = {
                m.CONTRACT_ID: cid,
                m.REVISION: str(rule.contract.revision),
                m.OBJECTIVE_ID: objective.id,
                m.OBJECTIVE_INDEX: str(index),
                m.SLI: objective.sli,
                m.COMPARATOR: objective.comparator,
                m.THRESHOLD: repr(objective.threshold),
                m.WINDOW: objective.window,
                m.PERIOD: period,
                m.TIMEZONE: rule.service_time.timezone,
                m.SERVICE_TIME: rule.service_time.preset,
                m.NOT_MAPPED: "; ".join(_unmapped_aspects(rule, objective)),
                m.OBJECTIVE: _json(_objective_json(objective)),
                m.CONTRACT: contract_json,
            }
            doc = {
                "apiVersion": m.V1ALPHA,
                "kind": "SLO",
                "metadata": {
                    "name": name,
                    "displayName": f"{cid} {objective.id}"[:63],
                    "annotations": annotations,
                },
                "spec": {
                    "service": cid,
                    "description": (objective.description or f"{objective.sli} of {cid}")[:1050],
                    "budgetingMethod": "Occurrences",
                    "objectives": [
                        {
                            "displayName": objective.id,
                            "target": m.target_of(objective.sli, objective.threshold),
                            "ratioMetrics": {
                                "counter": True,
                                "good": _source(m.good_query(cid, objective.id)),
                                "total": _source(m.total_query(cid, objective.id)),
                            },
                        }
                    ],
                    "timeWindows": [window],
                },
            }
            result.documents.append((f"{name}.yaml", doc))
    return result


def _source(query: str) -> dict[str, str]:
    return {"source": "prometheus", "queryType": "promql", "query": query}


def render(doc: dict[str, Any]) -> str:
    text: str = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)
    return text


def write(export: Export, out: Path) -> list[Path]:
    """One file per document in ``out`` (created); returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, doc in export.documents:
        path = out / filename
        path.write_text(render(doc), encoding="utf-8")
        written.append(path)
    return written
