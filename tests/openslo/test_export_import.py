"""``csla openslo export`` and ``import``: what maps, what does not, and the round trip."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from engine.cli import app
from engine.models.contract import RuleFile
from engine.openslo import mapping as m
from engine.openslo.export import Export, export_rule_files, load_rule_specs, render
from engine.openslo.importer import FILL_IN, import_documents, read_documents, write

from .conftest import ROOT

runner = CliRunner()


def _docs(export: Export) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for _, doc in export.documents:
        notes = doc["metadata"]["annotations"]
        out[(notes[m.CONTRACT_ID], notes[m.OBJECTIVE_ID])] = doc
    return out


def _rules(tmp_path: Path, edit: dict[str, str] | None = None) -> Path:
    """A copy of rules/, with text replacements in storage-001.yaml."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in (ROOT / "rules").glob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        if path.name == "storage-001.yaml":
            for old, new in (edit or {}).items():
                assert old in text
                text = text.replace(old, new)
        (rules / path.name).write_text(text, encoding="utf-8")
    return rules


def test_ratio_objectives_are_exported_the_others_listed_with_the_reason(exported: Export) -> None:
    docs = _docs(exported)
    assert set(docs) == {
        ("gpu-train-001", "node-availability"),
        ("gpu-train-001", "service-availability"),
        ("maas-api-001", "error-rate"),
        ("maas-api-001", "availability"),
        ("storage-001", "availability"),
    }
    skipped = {(s.contract_id, s.objective_id): s.reason for s in exported.skipped}
    assert len(skipped) == 14  # 19 objectives in rules/
    assert "percentile" in skipped[("maas-api-001", "p99-latency")]
    assert "mean of repair times" in skipped[("gpu-train-001", "mttr")]
    assert "statistic" in skipped[("gpu-train-001", "gpu-utilisation")]


@pytest.mark.parametrize(
    ("key", "target"),
    [
        (("gpu-train-001", "node-availability"), 0.995),
        (("gpu-train-001", "service-availability"), 0.999),
        (("maas-api-001", "error-rate"), 0.99),  # ≤ 1.0 % failed: ≥ 99 % good requests
        (("maas-api-001", "availability"), 0.995),
    ],
)
def test_targets_queries_and_windows(exported: Export, key: tuple[str, str], target: float) -> None:
    doc = _docs(exported)[key]
    assert doc["apiVersion"] == "openslo/v1alpha" and doc["kind"] == "SLO"
    spec = doc["spec"]
    assert spec["service"] == key[0] and spec["budgetingMethod"] == "Occurrences"
    (objective,) = spec["objectives"]
    assert objective["target"] == target
    selector = f'{{contract_id="{key[0]}",objective_id="{key[1]}"}}'
    ratio = objective["ratioMetrics"]
    assert ratio["good"]["query"] == f"sum(rate(csla_sli_good_total{selector}[{{{{.window}}}}]))"
    assert ratio["total"]["query"] == f"sum(rate(csla_sli_judged_total{selector}[{{{{.window}}}}]))"
    assert ratio["good"]["source"] == "prometheus" and ratio["good"]["queryType"] == "promql"
    # calendar month in Asia/Shanghai from the term start; Sloth's window is 30 days
    assert spec["timeWindows"] == [
        {
            "count": 30,
            "unit": "Day",
            "isRolling": False,
            "calendar": {"startTime": "2026-01-01 00:00:00", "timeZone": "Asia/Shanghai"},
        }
    ]
    notes = doc["metadata"]["annotations"]
    assert notes[m.PERIOD] == "calendar_month"
    assert all(isinstance(v, str) for v in notes.values())  # OpenSLO annotations are strings
    assert "service time" in notes[m.NOT_MAPPED] and "exemptions" in notes[m.NOT_MAPPED]


def test_rolling_days_and_no_budget(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        {
            "  maintenance_notice_hours: 72\n": "  maintenance_notice_hours: 72\n\n"
            "assessment:\n  period: rolling_days\n  days: 28\n",
            "threshold: 99.9\n    window: 1h": "threshold: 100\n    window: 1h",
        },
    )
    specs, problems = load_rule_specs([rules])
    assert specs, problems
    result = export_rule_files(specs)
    assert ("storage-001", "availability") not in _docs(result)
    reasons = {(s.contract_id, s.objective_id): s.reason for s in result.skipped}
    assert "no error budget" in reasons[("storage-001", "availability")]
    # another contract of the same files keeps its calendar month
    maas = _docs(result)[("maas-api-001", "availability")]
    assert maas["spec"]["timeWindows"][0]["count"] == 30


def _round_trip(rules: Path, tmp_path: Path) -> tuple[dict[str, RuleFile], dict[str, RuleFile]]:
    specs, problems = load_rule_specs([rules])
    assert specs, problems
    out = tmp_path / "exported"
    result = export_rule_files(specs)
    out.mkdir()
    for name, doc in result.documents:
        (out / name).write_text(render(doc), encoding="utf-8")
    imported = import_documents(read_documents([out]))
    assert imported.notes == []
    written = write(imported, tmp_path / "imported")
    back = {}
    for path in written:
        rule = RuleFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        back[rule.contract.id] = rule
    return {r.contract.id: r for _, r in specs}, back


def test_round_trip_gives_back_the_rule_files(tmp_path: Path) -> None:
    original, back = _round_trip(ROOT / "rules", tmp_path)
    assert back == original  # objectives, thresholds, periods and everything else


def test_round_trip_of_a_rolling_period(tmp_path: Path) -> None:
    rules = _rules(
        tmp_path,
        {
            "  maintenance_notice_hours: 72\n": "  maintenance_notice_hours: 72\n\n"
            "assessment:\n  period: rolling_days\n  days: 7\n",
            "threshold: 99.9\n    window: 1h": "threshold: 99.95\n    window: 1h",
        },
    )
    original, back = _round_trip(rules, tmp_path)
    assert back == original
    storage = back["storage-001"]
    assert (storage.assessment.period, storage.assessment.days) == ("rolling_days", 7)
    assert storage.objectives[0].threshold == 99.95


def test_openslo_fields_win_over_the_annotations(exported_dir: Path, tmp_path: Path) -> None:
    path = exported_dir / "storage-001-availability.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["spec"]["objectives"][0]["target"] = 0.98
    doc["spec"]["timeWindows"] = [{"count": 14, "unit": "Day", "isRolling": True}]
    path.write_text(render(doc), encoding="utf-8")
    imported = import_documents(read_documents([path]))
    rule = RuleFile.model_validate(imported.rules["storage-001"])
    assert rule.objectives[0].threshold == 98.0
    assert (rule.assessment.period, rule.assessment.days) == ("rolling_days", 14)
    # the objective OpenSLO cannot express came back from the contract annotation
    assert [o.id for o in rule.objectives] == ["availability", "storage-latency"]


SLOTH_EXAMPLE = """\
apiVersion: openslo/v1alpha
kind: SLO
metadata:
  name: sloth-slo-my-service
  displayName: Requests Availability
spec:
  service: my-service
  description: "Common SLO based on availability for HTTP request responses."
  budgetingMethod: Occurrences
  objectives:
    - ratioMetrics:
        good:
          source: prometheus
          queryType: promql
          query: sum(rate(http_request_duration_seconds_count{code!~"(5..|429)"}[{{.window}}]))
        total:
          source: prometheus
          queryType: promql
          query: sum(rate(http_request_duration_seconds_count[{{.window}}]))
      target: 0.999
  timeWindows:
    - count: 30
      unit: Day
      isRolling: true
"""


def test_a_foreign_slo_becomes_a_skeleton_that_validate_rejects(tmp_path: Path) -> None:
    source = tmp_path / "slo.yaml"
    source.write_text(SLOTH_EXAMPLE, encoding="utf-8")
    result = runner.invoke(app, ["openslo", "import", str(source), "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    written = tmp_path / "r" / "my-service.yaml"
    rule = yaml.safe_load(written.read_text(encoding="utf-8"))
    (objective,) = rule["objectives"]
    assert objective["sli"] == "service_availability"
    assert (objective["comparator"], objective["threshold"]) == (">=", 99.9)
    assert rule["assessment"] == {"period": "rolling_days", "days": 30}
    checked = runner.invoke(app, ["validate", str(written)])
    assert checked.exit_code == 1
    errors = [line for line in checked.output.splitlines() if ": error: " in line]
    fields = {re.split(r": error: ", line)[1].split(":")[0] for line in errors}
    assert fields == {
        "contract.effective_from",  # a rolling window has no calendar start
        "parties.customer",
        "parties.provider",
        "service",
        "term",
        "service_time",
        "metering",
        "objectives[0].compensation",
    }
    assert all(FILL_IN in line for line in errors)


def test_export_cli_stdout_and_out(tmp_path: Path) -> None:
    result = runner.invoke(app, ["openslo", "export", str(ROOT / "rules")])
    assert result.exit_code == 0
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert len(docs) == 5
    assert "not exported: maas-api-001 p99-latency (latency)" in result.stderr
    result = runner.invoke(app, ["openslo", "export", str(ROOT / "rules"), "--out", str(tmp_path)])
    assert result.exit_code == 0
    assert len(list(tmp_path.glob("*.yaml"))) == 5


def test_export_refuses_invalid_rules(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: csla/v1\ncontract: {id: x}\n", encoding="utf-8")
    result = runner.invoke(app, ["openslo", "export", str(bad)])
    assert result.exit_code == 2
    assert "fix them first" in result.stderr


@pytest.mark.parametrize(
    ("window", "period"),
    [
        ({"count": 28, "unit": "Day", "isRolling": True}, ("rolling_days", 28)),
        ({"count": 2, "unit": "Week", "isRolling": True}, ("rolling_days", 14)),
        ({"count": 1, "unit": "Month", "isRolling": False}, ("calendar_month", None)),
        ({"duration": "1M", "isRolling": False}, ("calendar_month", None)),  # openslo/v1
        ({"duration": "30d", "isRolling": True}, ("rolling_days", 30)),
        ({"duration": "1w", "isRolling": True}, ("rolling_days", 7)),
        ({"count": 1, "unit": "Quarter", "isRolling": False}, None),
        ({"count": 400, "unit": "Day", "isRolling": True}, None),
    ],
)
def test_time_windows_to_periods(window: dict[str, Any], period: tuple[str, int | None]) -> None:
    assert m.period_of(window) == period
