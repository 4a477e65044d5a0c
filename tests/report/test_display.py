"""How figures read for an operator: times and periods in the contract's zone, targets as
written, the one definition of budget left, and what a progress bar can know of an input."""

from __future__ import annotations

import gzip
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from engine.report.display import local_time, period_label, quantity, target_text
from engine.report.progress import Bars, input_bytes
from engine.report.series import budget_left

from .conftest import ROOT


@pytest.mark.parametrize(
    ("start", "end", "tz", "label"),
    [
        ("2026-09-30T16:00:00Z", "2026-10-31T16:00:00Z", "Asia/Shanghai", "October 2026"),
        ("2026-09-30T16:00:00Z", "2026-10-31T16:00:00Z", "UTC", "2026-09-30 – 2026-10-31"),
        ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z", "UTC", "December 2026"),
        # New York: EDT until 1 November, EST after; still one local month
        ("2026-10-01T04:00:00Z", "2026-11-01T04:00:00Z", "America/New_York", "October 2026"),
        ("2026-10-01T04:00:00Z", "2026-10-31T04:00:00Z", "America/New_York",
         "2026-10-01 – 2026-10-30"),  # a 30-day rolling period
    ],
)  # fmt: skip
def test_period_label(start: str, end: str, tz: str, label: str) -> None:
    assert period_label(start, end, tz) == label


def test_local_time_and_targets() -> None:
    assert local_time("2026-09-30T16:00:00Z", "Asia/Shanghai") == "2026-10-01 00:00 +08:00"
    assert local_time("2026-10-12T01:05:30Z", "UTC") == "2026-10-12 01:05:30 +00:00"
    assert local_time(None, "UTC") is None and period_label(None, "x", "UTC") is None
    assert target_text(">=", 99.5, "percent") == "≥ 99.5 %"
    assert target_text("<=", 800.0, "ms") == "≤ 800 ms"
    assert target_text("<=", 6, "count") == "≤ 6"
    assert target_text(None, 1.0, "ms") is None
    assert quantity(99.8712, "percent") == "99.87 %" and quantity(None, "ms") == "n/a"


@pytest.mark.parametrize(
    ("sli", "comparator", "threshold", "good", "total", "owed", "left"),
    [
        # availability ≥ 99.5 %: b = 0.5 %; 995 of 1000 minutes so far, period closed:
        # budget 5 min, 5 spent → 0
        ("service_availability", ">=", 99.5, 995, 1000, 0, 0.0),
        # the same with 9000 minutes still owed: budget 0.5 % × 10 000 = 50, 5 spent → 0.9
        ("service_availability", ">=", 99.5, 995, 1000, 9000, 0.9),
        # 20 bad minutes of a 5-minute budget: 1 − 20/5 = −3 (−300 %)
        ("service_availability", ">=", 99.5, 980, 1000, 0, -3.0),
        # error rate ≤ 1 %: b = 1 % of 2000 requests = 20, 5 failed → 0.75
        ("error_rate", "<=", 1.0, 1995, 2000, 0, 0.75),
        # nothing judged and nothing owed: no figure; the whole period owed: untouched
        ("error_rate", "<=", 1.0, 0, 0, 0, None),
        ("service_availability", ">=", 99.5, 0, 0, 43200, 1.0),
        # no budget: latency, or a 100 % objective
        ("latency", "<=", 800.0, 10, 10, 0, None),
        ("service_availability", ">=", 100.0, 10, 10, 0, None),
        # unknown good units (a record without them) are not "all bad"
        ("service_availability", ">=", 99.5, None, 1000, 0, None),
    ],
)
def test_budget_left_by_hand(
    sli: str, comparator: str, threshold: float, good: int | None, total: int, owed: int,
    left: float | None,
) -> None:  # fmt: skip
    assert budget_left(sli, comparator, threshold, good, total, owed) == left


def test_input_bytes_of_plain_and_gzip_files(tmp_path: Path) -> None:
    plain = tmp_path / "t.ndjson"
    plain.write_bytes(b'{"a":1}\n' * 1000)
    packed = tmp_path / "t.ndjson.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert input_bytes(str(plain)) == input_bytes(str(packed)) == 8000  # the gzip trailer
    assert input_bytes("-") is None and input_bytes(str(tmp_path / "nope")) is None


def test_bars_stay_quiet_off_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    with Bars() as bars:
        bars.add("replay", str(ROOT / "tests" / "golden" / "storage-day" / "input.ndjson.gz"))(10)
    assert capsys.readouterr() == ("", "")


def test_demo_table_names_the_period_and_the_target(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.summary import print_summary
    from engine.ruleset import load_rules_dir

    ruleset = load_rules_dir(ROOT / "rules").ruleset
    metric: dict[str, Any] = {
        "contract_id": "gpu-train-001", "objective_id": "node-availability", "unit": "percent",
        "sli": "node_availability", "period_start": "2026-09-30T16:00:00Z",
        "period_end": "2026-10-31T16:00:00Z", "period_value": 99.87,
    }  # fmt: skip
    result = SimpleNamespace(
        stats={"events_in": 1},
        outputs=SimpleNamespace(metrics=[metric], breaches=[], compensations=[]),
    )
    print_summary(result, Path("out"), 1.0, ruleset)
    shown = capsys.readouterr().out
    assert "October 2026" in shown and "≥ 99.5 %" in shown and "99.87 %" in shown
    assert "2026-09-30" not in shown and "node_availability" not in shown
