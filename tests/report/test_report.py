"""``csla report`` on the golden storage day, with the numbers by hand.

storage-001 (7×12, 08:00-20:00 Asia/Shanghai), October 2026, data only on Monday 10-12:
690 evaluated minutes (720 of service time less the 30 exempt minutes of announced maintenance
14:00-14:30), 650 available: probes fail 10:00-10:30 and 14:30-14:40 (the overrun counts) →
availability 650/690 = 94.2029 % < 99.9 → not met; tier 1 (< 99.0: 30 %) of the fee
200 TB × 120.00 CNY = 24000.00 → 7200.00 CNY; cap 100 % = 24000.00, not reached.
Error budget: 0.1 % of 690 minutes = 0.69 minutes, 40 spent → (1 − 40/0.69) × 100 = −5697.1 %.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.core.calendar import parse_instant
from engine.report import ReportError, build_report, read_outputs, series
from engine.report.build import month_bounds_ms
from engine.ruleset import load_rules_dir

from .conftest import (
    GOLDEN_INPUT,
    ROOT,
    UNTIL,
    cli,
    discrepancy,
    load_browser_module,
    scorecard,
    warning,
    write_jsonl,
)


def _report(outputs: Path, out: Path, *extra: str) -> dict[str, Any]:
    cli("report", "--from-outputs", str(outputs), "--rules", str(ROOT / "rules"), "--period",
        "2026-10", "--out", str(out), *extra)  # fmt: skip
    name = "report-2026-10" + (f"-{extra[-1]}" if "--contract" in extra else "")
    return json.loads((out / f"{name}.json").read_text())


def _storage(report: dict[str, Any]) -> dict[str, Any]:
    (section,) = [c for c in report["contracts"] if c["contract_id"] == "storage-001"]
    return section


def test_objectives_days_outages_by_hand(storage_day: Path, tmp_path: Path) -> None:
    report = _report(storage_day, tmp_path, "--contract", "storage-001")
    c = _storage(report)
    assert (c["period_start"], c["period_end"]) == ("2026-09-30T16:00:00Z", "2026-10-31T16:00:00Z")
    assert c["period_start_local"].startswith("2026-10-01T00:00:00+08:00")
    assert c["closed"] is True and c["timezone"] == "Asia/Shanghai"
    availability = {o["objective_id"]: o for o in c["objectives"]}["availability"]
    assert (availability["good"], availability["total"]) == (650, 690)
    assert availability["value"] == pytest.approx(650 / 690 * 100)
    assert availability["verdict"] == "not met" and availability["final"] is True
    latency = {o["objective_id"]: o for o in c["objectives"]}["storage-latency"]
    assert latency["verdict"] == "met" and latency["value"] < 20
    (daily,) = c["availability_daily"]
    (day,) = [d for d in daily["days"] if d["total"]]
    assert day == {"date": "2026-10-12", "good": 650, "total": 690,
                   "value": round(650 / 690 * 100, 6)}  # fmt: skip
    runs = [(r["start"], r["end"], r["lost"], r["lost_unit"]) for r in c["outages"]]
    # 10:00-10:30 local = 02:00-02:30Z in one 1-hour window; the 14:30-14:40 overrun
    assert [(lost, unit) for *_, lost, unit in runs] == [(30.0, "minutes"), (10.0, "minutes")]
    assert runs[0][0] == "2026-10-12T02:00:00Z"
    (burn,) = c["burn_down"]
    assert (burn["budget"], burn["bad"], burn["unit"]) == (0.69, 40.0, "minutes")
    assert burn["remaining_percent"] == pytest.approx((1 - 40 / 0.69) * 100, abs=1e-3)
    # the availability breach (certain at 10:30 local) and the 16:00 latency window (80 ms)
    assert [b["objective_id"] for b in c["breaches"]] == ["availability", "storage-latency"]


def test_compensation_arithmetic_and_cap(storage_day: Path, tmp_path: Path) -> None:
    comp = _storage(_report(storage_day, tmp_path))["compensation"]
    assert (comp["period_fee"], comp["currency"]) == ("24000.00", "CNY")
    assert (comp["cap_percent"], comp["cap_amount"]) == ("100", "24000.00")
    lines = {line["objective_id"]: line for line in comp["lines"]}
    assert lines["availability"]["arithmetic"] == "30.0% × 24000.00 = 7200.00 CNY"
    assert (
        lines["availability"]["tier"] == 1 and lines["availability"]["credit_amount"] == "7200.00"
    )
    assert lines["storage-latency"]["credit_amount"] == "0.00"
    assert comp["total_credit"] == "7200.00" and comp["capped"] is False


def test_cap_shown_when_it_limits() -> None:
    rules = load_rules_dir(ROOT / "rules").ruleset
    base = {"record": "compensation", "contract_id": "storage-001", "contract_version": 1,
            "sli": "service_availability", "period_start": "2026-09-30T16:00:00Z",
            "period_end": "2026-10-31T16:00:00Z", "threshold": 99.9, "currency": "CNY",
            "extension_hours": 0.0, "period_fee": "100.00", "evidence": {}}  # fmt: skip
    metric = {"record": "metric", "contract_id": "storage-001", "contract_version": 1,
              "objective_id": "availability", "sli": "service_availability", "unit": "percent",
              "window_start": "2026-10-12T00:00:00Z", "window_end": "2026-10-12T01:00:00Z",
              "value": 50.0, "good": 30, "total": 60, "coverage": 1.0,
              "period_start": "2026-09-30T16:00:00Z", "period_end": "2026-10-31T16:00:00Z",
              "period_value": 50.0, "period_good": 30, "period_total": 60,
              "compliant": False}  # fmt: skip
    comps = [
        {**base, "compensation_id": "a", "objective_id": "availability", "observed": 50.0,
         "tier": 1, "credit_percent": 80.0, "credit_amount": "80.00", "capped": False},
        {**base, "compensation_id": "b", "objective_id": "storage-latency", "sli": "latency",
         "observed": 90.0, "tier": 1, "credit_percent": 30.0, "credit_amount": "20.00",
         "capped": True},
    ]  # fmt: skip
    report = build_report({"metrics": [metric], "compensations": comps}, "2026-10", ruleset=rules)
    comp = _storage(report)["compensation"]
    line = {x["objective_id"]: x for x in comp["lines"]}["storage-latency"]
    assert line["arithmetic"] == "30.0% × 100.00 = 30.00 CNY → 20.00 CNY (capped)"
    assert (comp["total_credit"], comp["cap_amount"], comp["capped"]) == ("100.00", "100.00", True)


def test_scorecard_and_warnings_when_present(storage_day_scored: Path, tmp_path: Path) -> None:
    report = _report(storage_day_scored, tmp_path)
    c = _storage(report)
    assert c["scorecard"]["grade"] == 3 and c["summary"]["grade"] == 3
    assert c["scorecard"]["caps"] == scorecard()["caps"]
    (w,) = c["warnings"]  # the fired and the cleared record, one row
    assert (w["severity"], w["fired_at"], w["cleared_at"]) == (
        "page",
        "2026-10-12T02:05:00Z",
        "2026-10-12T02:40:00Z",
    )
    assert [p["grade"] for p in report["provider_scorecards"]] == [4]


def test_discrepancies_of_the_period(storage_day: Path, tmp_path: Path) -> None:
    """The golden day's probe failures have no report: two platform_down_unreported windows
    (10:00 and 14:00 local); a hand-made reported_down_platform_up joins them, and records of
    another contract or another period stay out."""
    outputs = tmp_path / "o"
    shutil.copytree(storage_day, outputs)
    engine_written = (outputs / "discrepancies.jsonl").read_bytes()
    november = discrepancy(window_start="2026-11-02T04:00:00Z", window_end="2026-11-02T05:00:00Z")
    write_jsonl(outputs / "extra.jsonl", [discrepancy(), november, discrepancy(contract_id="x")])
    (outputs / "discrepancies.jsonl").write_bytes(
        engine_written + (outputs / "extra.jsonl").read_bytes()
    )
    report = _report(outputs, tmp_path / "r")
    d = _storage(report)["discrepancies"]
    assert d["objectives_compared"] == ["availability"]
    assert d["by_kind"] == {"platform_down_unreported": 2, "reported_down_platform_up": 1}
    assert report["summary"]["discrepancies"] == 3 == _storage(report)["summary"]["discrepancies"]
    rows = [
        (w["window_start"], w["kind"], w["unavailable_minutes"], w["reported_down_minutes"])
        for w in d["windows"]
    ]
    assert rows == [
        ("2026-10-12T02:00:00Z", "platform_down_unreported", 30, 0.0),
        ("2026-10-12T04:00:00Z", "reported_down_platform_up", 0, 15.5),
        ("2026-10-12T06:00:00Z", "platform_down_unreported", 10, 0.0),
    ]
    assert (d["windows"][1]["nodes_down"], d["windows"][1]["incidents"]) == (["node-7"], ["INC-7"])
    page = (tmp_path / "r" / "report-2026-10.html").read_text()
    load_browser_module().assert_offline_html(page)
    assert "3 window(s): 2 platform_down_unreported, 1 reported_down_platform_up." in page
    assert (
        '<td><span class="nowrap">2026-10-12 12:00 → 13:00</span></td>'
        '<td>reported_down_platform_up</td><td class="n">0</td><td class="n">60</td>'
        '<td>platform</td><td class="n">15.5</td><td>node-7</td><td>INC-7</td>'
    ) in page


def test_no_discrepancies_says_none(storage_day: Path, tmp_path: Path) -> None:
    from engine.report import render_html

    records = read_outputs(storage_day)
    assert len(records["discrepancies"]) == 2
    records["discrepancies"] = []
    rules = load_rules_dir(ROOT / "rules").ruleset
    report = build_report(records, "2026-10", ruleset=rules, contract="storage-001")
    d = _storage(report)["discrepancies"]
    assert (d["count"], d["windows"], d["by_kind"]["platform_down_unreported"]) == (0, [], 0)
    page = render_html(report)
    load_browser_module().assert_offline_html(page)
    assert "None: in no window of this period did the probes and the reports" in page


def test_absent_and_empty_new_files_are_fine(storage_day: Path, tmp_path: Path) -> None:
    write_jsonl(tmp_path / "unused.jsonl", [])
    outputs = tmp_path / "o"
    outputs.mkdir()
    for f in storage_day.iterdir():
        if f.name not in ("scorecards.jsonl", "warnings.jsonl"):  # absent
            (outputs / f.name).write_bytes(f.read_bytes())
    (outputs / "warnings.jsonl").write_bytes(b"")  # empty
    c = _storage(_report(outputs, tmp_path / "r"))
    assert c["warnings"] == [] and c["scorecard"] is None
    assert "No scorecard was written" in (tmp_path / "r" / "report-2026-10.html").read_text()


def test_replaying_input_gives_the_same_report(storage_day: Path, tmp_path: Path) -> None:
    from_outputs = _report(storage_day, tmp_path / "a")
    cli("report", "--input", str(GOLDEN_INPUT), "--until", UNTIL, "--rules", str(ROOT / "rules"),
        "--period", "2026-10", "--out", str(tmp_path / "b"))  # fmt: skip
    replayed = json.loads((tmp_path / "b" / "report-2026-10.json").read_text())
    assert replayed["source"]["input"] == str(GOLDEN_INPUT)
    from_outputs.pop("source"), replayed.pop("source")
    assert replayed == from_outputs


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--period", "2026-13"], 2, "YYYY-MM"),
        (["--period", "2026-09"], 1, "no assessment period starting in 2026-09"),
        (["--period", "2026-10", "--contract", "nope"], 1, "no metric records of contract"),
    ],
)
def test_bad_requests(storage_day: Path, args: list[str], code: int, message: str) -> None:
    result = CliRunner().invoke(
        app, ["report", "--from-outputs", str(storage_day), "--rules", str(ROOT / "rules"), *args]
    )
    assert result.exit_code == code and message in result.output


def test_needs_exactly_one_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["report", "--period", "2026-10", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "exactly one of --input and --from-outputs" in result.output


@pytest.mark.parametrize(
    ("tz", "month", "start", "end"),
    [
        ("Asia/Shanghai", (2026, 10), "2026-09-30T16:00:00Z", "2026-10-31T16:00:00Z"),
        ("UTC", (2026, 12), "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ("Europe/Berlin", (2026, 3), "2026-02-28T23:00:00Z", "2026-03-31T22:00:00Z"),
    ],
)
def test_month_bounds(tz: str, month: tuple[int, int], start: str, end: str) -> None:
    assert month_bounds_ms(*month, tz) == (parse_instant(start), parse_instant(end))


def _window(start: str, end: str, good: int, total: int, pg: int, pt: int) -> dict[str, Any]:
    return {"window_start": start, "window_end": end, "good": good, "total": total,
            "value": good / total * 100 if total else None, "period_good": pg,
            "period_total": pt}  # fmt: skip


def test_outages_merge_adjacent_windows_only() -> None:
    w = [
        _window("2026-10-01T00:00:00Z", "2026-10-01T01:00:00Z", 50, 60, 50, 60),
        _window("2026-10-01T01:00:00Z", "2026-10-01T02:00:00Z", 55, 60, 105, 120),
        _window("2026-10-01T02:00:00Z", "2026-10-01T03:00:00Z", 60, 60, 165, 180),
        _window("2026-10-01T03:00:00Z", "2026-10-01T04:00:00Z", 59, 60, 224, 240),
    ]
    runs = series.outages(w, "service_availability")
    assert [(r["start"], r["end"], r["lost"], r["windows"]) for r in runs] == [
        ("2026-10-01T00:00:00Z", "2026-10-01T02:00:00Z", 15.0, 2),
        ("2026-10-01T03:00:00Z", "2026-10-01T04:00:00Z", 1.0, 1),
    ]
    node = series.outages([_window("2026-10-01T00:00:00Z", "2026-10-01T01:00:00Z",
                                   0, 7_200_000, 0, 7_200_000)], "node_availability")  # fmt: skip
    assert (node[0]["lost"], node[0]["lost_unit"]) == (2.0, "node-hours")


@pytest.mark.parametrize(
    ("sli", "comparator", "threshold", "good", "total", "left"),
    [
        ("service_availability", ">=", 99.0, 990, 1000, 0.0),  # exactly at the objective
        ("service_availability", ">=", 99.0, 995, 1000, 50.0),
        ("node_availability", ">=", 99.5, 9_900, 10_000, -100.0),  # 100 bad of a 50 budget
        ("error_rate", "<=", 1.0, 998, 1000, 80.0),  # 2 failed of 10 allowed
    ],
)
def test_burn_down_ends_at_zero_exactly_at_the_objective(
    sli: str, comparator: str, threshold: float, good: int, total: int, left: float
) -> None:
    w = [_window("2026-10-01T00:00:00Z", "2026-10-01T01:00:00Z", good, total, good, total)]
    curve = series.burn_down(w, sli, comparator, threshold)
    assert curve is not None and curve["remaining_percent"] == pytest.approx(left)
    value = good / total * 100 if sli != "error_rate" else (total - good) / total * 100
    assert (curve["remaining_percent"] >= -1e-9) == series.meets(comparator, threshold, value)


def test_no_budget_for_latency_or_a_perfect_objective() -> None:
    w = [_window("2026-10-01T00:00:00Z", "2026-10-01T01:00:00Z", 60, 60, 60, 60)]
    assert series.burn_down(w, "latency", "<=", 100.0) is None
    assert series.burn_down(w, "service_availability", ">=", 100.0) is None


def test_read_outputs_reports_a_bad_line(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_bytes(b'{"record": "metric"}\nnot json\n')
    with pytest.raises(ValueError, match=r"metrics\.jsonl:2: not JSON"):
        read_outputs(tmp_path)
    with pytest.raises(ReportError, match="YYYY-MM"):
        build_report({}, "October")
    _ = warning  # the fixture factory is shared with the page tests


def test_a_contract_without_rule_file_is_reported_from_its_records(storage_day: Path) -> None:
    report = build_report(read_outputs(storage_day), "2026-10", contract="storage-001")
    c = _storage(report)
    assert (c["timezone"], c["period_start"]) == ("UTC", "2026-09-30T16:00:00Z")
    availability = {o["objective_id"]: o for o in c["objectives"]}["availability"]
    assert (availability["comparator"], availability["threshold"]) == (">=", 99.9)  # breach
    assert availability["verdict"] == "not met"
    assert c["compensation"]["total_credit"] == "7200.00"
    assert c["compensation"]["cap_amount"] is None  # the cap is in the rule file


def test_contract_filter_keeps_only_its_providers_scorecards(storage_day_scored: Path) -> None:
    other = scorecard(scope="provider", contract_id=None, provider_id="someone-else", grade=5)
    records = read_outputs(storage_day_scored)
    records["scorecards"].append(other)
    rules = load_rules_dir(ROOT / "rules").ruleset
    one = build_report(records, "2026-10", ruleset=rules, contract="storage-001")
    every = build_report(records, "2026-10", ruleset=rules)
    assert [p["provider_id"] for p in one["provider_scorecards"]] == ["guizhou-cloud"]
    assert len(every["provider_scorecards"]) == 2


def test_reliability_and_gauge_objectives_get_small_multiples() -> None:
    from engine.report import render_html

    def gauge(hour: int, value: float) -> dict[str, Any]:
        return {"record": "metric", "contract_id": "c9", "contract_version": 1,
                "objective_id": "loss", "sli": "network_loss", "unit": "percent",
                "window_start": f"2026-10-12T{hour:02d}:00:00Z",
                "window_end": f"2026-10-12T{hour + 1:02d}:00:00Z", "value": value, "good": None,
                "total": None, "coverage": 1.0, "period_start": "2026-10-01T00:00:00Z",
                "period_end": "2026-11-01T00:00:00Z", "period_value": None,
                "period_good": None, "period_total": None, "compliant": value <= 0.1}  # fmt: skip

    report = build_report({"metrics": [gauge(1, 0.05), gauge(2, 0.3)]}, "2026-10")
    (c,) = report["contracts"]
    assert c["timezone"] == "UTC" and c["availability_daily"] == [] and c["burn_down"] == []
    (entry,) = c["other_series"]
    assert entry["points"] == [["2026-10-12T02:00:00Z", 0.05], ["2026-10-12T03:00:00Z", 0.3]]
    assert {o["objective_id"]: o["verdict"] for o in c["objectives"]} == {"loss": "not judged"}
    page = render_html(report)
    assert "Other objectives over time" in page
    assert "None: this contract has no probe-availability objective" in page
