"""What-if diffs (``csla diff``) on the golden storage day, with the differences by hand.

storage-001, October 2026 (Asia/Shanghai): 650 available of 690 evaluated minutes →
availability 94.2029 %; fee 200 TB x 120.00 CNY = 24000.00 CNY. Under the bundled rules
(threshold 99.9, tiers {99.9: 10 %, 99.0: 30 %}) the availability breach opens and the credit
is tier 1 = 30 % = 7200.00 CNY; storage latency (p95 5 ms ≤ 20 ms) owes nothing.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from engine.cli.diff import diff_command
from engine.core.calendar import parse_instant
from engine.core.contract import Ruleset
from engine.ruleset import load_rules_dir
from engine.whatif import WhatIf, diff_rulesets

ROOT = Path(__file__).resolve().parents[1]
INPUT = ROOT / "tests" / "golden" / "storage-day" / "input.ndjson.gz"
UNTIL = "2026-11-01T00:00:00+08:00"
NOW_MS = parse_instant("2026-12-01T00:00:00Z")
OCTOBER = "2026-09-30T16:00:00Z"
AVAILABILITY = ("storage-001", "availability", OCTOBER)

TIERS = """    compensation:
      - {bound: 99.9, credit_percent: 10}
      - {bound: 99.0, credit_percent: 30}
"""
# lenient: 94.2029 ≥ 94.0 → met, no breach ever, no tier → 0.00; Δ = 0.00 − 7200.00
LENIENT = [
    ("threshold: 99.9", "threshold: 94.0"),
    (TIERS, TIERS.replace("99.9", "94.0").replace("99.0", "90.0")),
]
# harsher: 94.2029 < 99.0 → tier 1 now 50 %: 24000.00 x 50 % = 12000.00; Δ = +4800.00.
# Revision 2: the ids end in :r2, yet the breach is matched (contract, objective, window).
HARSHER = [
    ("credit_percent: 30}", "credit_percent: 50}"),
    ("revision: 1", "revision: 2"),
]
# no tiers: no compensation record under B; the period value comes from the last metric
UNTIERED = [(TIERS, "")]

Edits = list[tuple[str, str]]


def _write_rules(tmp_path: Path, edits: Edits) -> Path:
    """A copy of rules/ with ``edits`` applied to storage-001.yaml."""
    target = tmp_path / "rules-b"
    shutil.copytree(ROOT / "rules", target)
    path = target / "storage-001.yaml"
    text = path.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return target


def _rules(tmp_path: Path, edits: Edits) -> Ruleset:
    report = load_rules_dir(_write_rules(tmp_path, edits))
    assert report.ok, [str(issue) for issue in report.issues]
    return report.ruleset


@pytest.fixture(scope="module")
def rules_a() -> Ruleset:
    report = load_rules_dir(ROOT / "rules")
    assert report.ok
    return report.ruleset


@pytest.fixture
def diff(rules_a: Ruleset, tmp_path: Path) -> Callable[[Edits], WhatIf]:
    def run(edits: Edits) -> WhatIf:
        rules_b = _rules(tmp_path, edits) if edits else load_rules_dir(ROOT / "rules").ruleset
        until_ms = parse_instant(UNTIL)
        return diff_rulesets(rules_a, rules_b, str(INPUT), NOW_MS, until_ms, tmp_path / "work")

    return run


def _by_key(rows: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(r["contract_id"], r["objective_id"], r["period_start"]): r for r in rows}


def test_identical_rules_give_an_empty_diff(diff: Callable[[Edits], WhatIf]) -> None:
    result = diff([])
    assert result.empty
    assert (result.breaches_a_only, result.breaches_b_only) == ([], [])
    assert len(result.breaches_both) == 2  # availability and storage latency, alike
    assert not any(r["changed"] for r in result.compensations + result.periods)
    assert result.totals == [
        {
            "contract_id": "storage-001",
            "currency": "CNY",
            "credit_amount": {"a": "7200.00", "b": "7200.00", "difference": "0.00"},
            "extension_hours": {"a": 0.0, "b": 0.0, "difference": 0.0},
        }
    ]
    out = io.StringIO()
    result.render(Console(file=out, width=160))
    assert "no differences" in out.getvalue()


def test_lenient_threshold_removes_the_breach_and_the_credit(
    diff: Callable[[Edits], WhatIf],
) -> None:
    result = diff(LENIENT)
    assert [(e["objective_id"], e["window_start"]) for e in result.breaches_a_only] == [
        ("availability", OCTOBER)
    ]
    assert result.breaches_a_only[0]["a"]["detected_at"] == "2026-10-12T03:00:00Z"
    assert result.breaches_a_only[0]["b"] is None
    assert result.breaches_b_only == []
    assert [e["objective_id"] for e in result.breaches_both] == ["storage-latency"]
    row = _by_key(result.compensations)[AVAILABILITY]
    assert (row["a"]["tier"], row["a"]["credit_amount"]) == (1, "7200.00")
    assert (row["b"]["tier"], row["b"]["credit_amount"]) == (None, "0.00")
    assert row["difference"] == {
        "credit_percent": -30.0,
        "credit_amount": "-7200.00",
        "extension_hours": 0.0,
    }
    period = _by_key(result.periods)[AVAILABILITY]
    assert period["a"]["value"] == period["b"]["value"] == pytest.approx(100 * 650 / 690)
    assert (period["a"]["met"], period["b"]["met"]) == (False, True)
    assert (period["a"]["threshold"], period["b"]["threshold"]) == (99.9, 94.0)
    assert period["changed"] and period["difference"] == 0.0
    assert result.totals[0]["credit_amount"] == {
        "a": "7200.00",
        "b": "0.00",
        "difference": "-7200.00",
    }
    assert result.summary == {
        "breaches_a_only": 1,
        "breaches_b_only": 0,
        "breaches_both": 1,
        "breaches_changed": 0,
        "compensations_changed": 1,
        "periods_changed": 1,
        "grades_changed": 0,
    }
    out = io.StringIO()
    result.render(Console(file=out, width=200))
    text = out.getvalue()
    assert "A only" in text and "-7200.00" in text and "≥ 94: met" in text


def test_harsher_tier_raises_the_credit_and_matches_across_revisions(
    diff: Callable[[Edits], WhatIf],
) -> None:
    result = diff(HARSHER)
    assert (result.breaches_a_only, result.breaches_b_only) == ([], [])
    both = {e["objective_id"]: e for e in result.breaches_both}
    availability = both["availability"]
    assert availability["a"]["breach_id"].endswith(":r1")
    assert availability["b"]["breach_id"].endswith(":r2")
    assert not availability["changed"]  # only the revision differs
    row = _by_key(result.compensations)[AVAILABILITY]
    assert (row["a"]["credit_percent"], row["b"]["credit_percent"]) == (30.0, 50.0)
    assert (row["a"]["credit_amount"], row["b"]["credit_amount"]) == ("7200.00", "12000.00")
    assert row["difference"]["credit_amount"] == "4800.00"
    assert row["difference"]["credit_percent"] == 20.0
    latency = _by_key(result.compensations)[("storage-001", "storage-latency", OCTOBER)]
    assert not latency["changed"] and latency["difference"]["credit_amount"] == "0.00"
    assert result.totals[0]["credit_amount"] == {
        "a": "7200.00",
        "b": "12000.00",
        "difference": "4800.00",
    }
    assert not result.empty


def test_objective_without_tiers_takes_the_period_value_from_the_last_metric(
    diff: Callable[[Edits], WhatIf],
) -> None:
    result = diff(UNTIERED)
    row = _by_key(result.compensations)[AVAILABILITY]
    assert row["b"] is None and row["changed"]
    assert row["difference"]["credit_amount"] == "-7200.00"  # no tiers: nothing owed
    period = _by_key(result.periods)[AVAILABILITY]
    assert (period["a"]["source"], period["b"]["source"]) == ("compensation", "metric")
    assert period["b"]["value"] == pytest.approx(100 * 650 / 690)
    assert period["b"]["met"] is False
    assert not period["changed"]  # same value, same verdict
    assert [e["objective_id"] for e in result.breaches_both] == [
        "availability",
        "storage-latency",
    ]


def test_json_is_stable_sorted_and_serialisable(diff: Callable[[Edits], WhatIf]) -> None:
    data = diff(LENIENT).to_json()
    assert list(data) == sorted(data)
    assert set(data) == {
        "breaches",
        "compensations",
        "empty",
        "grades",
        "input",
        "outputs",
        "periods",
        "rules",
        "summary",
        "totals",
        "until",
    }
    assert set(data["breaches"]) == {"a_only", "b_only", "both"}
    assert data["until"] == "2026-10-31T16:00:00Z"
    assert data["empty"] is False
    assert set(data["compensations"][0]) == {
        "a",
        "b",
        "changed",
        "contract_id",
        "difference",
        "objective_id",
        "period_end",
        "period_start",
        "sli",
    }
    assert set(data["periods"][0]["a"]) == {
        "comparator",
        "contract_version",
        "met",
        "source",
        "threshold",
        "value",
    }
    assert data["outputs"]["a"]["compensations"] == 2
    assert json.loads(json.dumps(data)) == data


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("diff")(diff_command)

    @app.callback()
    def main() -> None:
        """A stand-in for ``csla``."""

    return app


def test_command_prints_tables_and_writes_json(tmp_path: Path) -> None:
    rules_b = _write_rules(tmp_path, HARSHER)
    out = tmp_path / "diff.json"
    args = ["diff", "--rules-a", str(ROOT / "rules"), "--rules-b", str(rules_b)]
    args += ["--input", str(INPUT), "--until", UNTIL, "--json", str(out)]
    args += ["--work-dir", str(tmp_path / "work")]
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 0, result.output
    assert "12000.00" in result.stdout and "+4800.00" in result.stdout
    data = json.loads(out.read_text())
    assert data["totals"][0]["credit_amount"]["difference"] == "4800.00"
    assert data["rules"] == {"a": str(ROOT / "rules"), "b": str(rules_b)}
    assert (tmp_path / "work" / "b" / "compensations.jsonl").exists()
    assert (tmp_path / "work" / "b" / "manifest.json").exists()  # both sides complete


def test_command_refuses_a_work_dir_it_would_clobber(tmp_path: Path) -> None:
    (tmp_path / "work" / "a").mkdir(parents=True)
    (tmp_path / "work" / "a" / "notes.txt").write_text("mine")
    args = ["diff", "--rules-a", str(ROOT / "rules"), "--rules-b", str(ROOT / "rules")]
    args += ["--input", str(INPUT), "--work-dir", str(tmp_path / "work")]
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 2 and "a replay did not write (notes.txt)" in result.output
    assert (tmp_path / "work" / "a" / "notes.txt").read_text() == "mine"


def test_command_json_to_stdout(tmp_path: Path) -> None:
    args = ["diff", "--rules-a", str(ROOT / "rules"), "--rules-b", str(ROOT / "rules")]
    args += ["--input", str(INPUT), "--until", UNTIL, "--json", "-"]
    result = CliRunner().invoke(_cli(), args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["empty"] is True


def test_command_exits_2_on_rule_errors(tmp_path: Path) -> None:
    rules_b = _write_rules(tmp_path, [("threshold: 99.9", "threshold: 199.9")])
    args = ["diff", "--rules-a", str(ROOT / "rules"), "--rules-b", str(rules_b)]
    result = CliRunner().invoke(_cli(), [*args, "--input", str(INPUT)])
    assert result.exit_code == 2
    assert "storage-001.yaml:" in result.output and "have errors" in result.output


def test_command_rejects_a_missing_input(tmp_path: Path) -> None:
    args = ["diff", "--rules-a", str(ROOT / "rules"), "--rules-b", str(ROOT / "rules")]
    result = CliRunner().invoke(_cli(), [*args, "--input", str(tmp_path / "nothing.ndjson")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_a_grade_change_is_shown(rules_a: Ruleset, tmp_path: Path) -> None:
    """B lowers the grade-2 cut point to 0, attests 20B fine-tuning and declares one item of
    software support (§7's grade-2 requirements): storage-001's total stays 0.0 (availability 94.2 % is below the curve's 99 %
    floor, nothing else scores) but its grade goes 1 → 2. Its provider's grade stays 1: the
    provider is graded by the platform's cut points (40 for grade 2), not the contract's."""
    target = _write_rules(tmp_path, [])
    with (target / "storage-001.yaml").open("a") as handle:
        handle.write(
            "\nscoring: {grades: {2: 0, 3: 60, 4: 75, 5: 90}}\n"
            "attested:\n  fine_tuning: {value: 20, evidence: "
            "{report_id: T-1, date: 2026-09-01, tested_by: lab}}\n"
            "software_support: {automated_deployment: true}\n"
        )
    report = load_rules_dir(target)
    assert report.ok, [str(issue) for issue in report.issues]
    result = diff_rulesets(
        rules_a, report.ruleset, str(INPUT), NOW_MS, parse_instant(UNTIL), tmp_path / "work"
    )
    changed = {(r["scope"], r["id"]): r for r in result.grades if r["changed"]}
    contract = changed[("contract", "storage-001")]
    assert contract["a"] == {"total_score": 0.0, "grade": 1}
    assert contract["b"] == {"total_score": 0.0, "grade": 2}
    assert list(changed) == [("contract", "storage-001")]
    assert result.summary["grades_changed"] == 1 and not result.empty
    out = io.StringIO()
    result.render(Console(file=out, width=200))
    assert "Scorecards and grades" in out.getvalue()
