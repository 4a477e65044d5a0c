"""Fixtures of the dashboard tests: record factories, the golden storage day replayed, and the
headless Chromium of ``tests/report/browser.py`` (loaded by path)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from engine.cli import app

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_INPUT = ROOT / "tests" / "golden" / "storage-day" / "input.ndjson.gz"
UNTIL = "2026-11-01T00:00:00+08:00"
PERIOD = ("2026-09-30T16:00:00Z", "2026-10-31T16:00:00Z")


def browser_module() -> Any:
    name = "csla_test_browser"
    if name not in sys.modules:
        path = ROOT / "tests" / "report" / "browser.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def metric(objective: str = "availability", *, end: str = "2026-10-12T01:00:00Z",
           good: int = 60, total: int = 60, pgood: int = 995, ptotal: int = 1000,
           contract: str = "c1", sli: str = "service_availability",
           **changes: Any) -> dict[str, Any]:  # fmt: skip
    hour = int(end[11:13])
    record = {
        "record": "metric",
        "metric_id": f"{contract}:{objective}:{end}",
        "contract_id": contract,
        "contract_version": 1,
        "objective_id": objective,
        "sli": sli,
        "unit": "percent" if sli != "latency" else "ms",
        "window_start": f"{end[:11]}{hour - 1:02d}{end[13:]}",
        "window_end": end,
        "value": good / total * 100 if total else None,
        "good": good,
        "total": total,
        "coverage": 1.0,
        "period_start": PERIOD[0],
        "period_end": PERIOD[1],
        "period_value": pgood / ptotal * 100 if ptotal else None,
        "period_good": pgood,
        "period_total": ptotal,
        "compliant": good / total >= 0.99 if total else None,
    }
    record.update(changes)
    return record


def breach(breach_id: str = "breach:c1:availability:1", status: str = "opened", *,
           contract: str = "c1", objective: str = "availability",
           detected: str = "2026-10-12T02:00:00Z", **changes: Any) -> dict[str, Any]:  # fmt: skip
    record = {
        "record": "breach",
        "breach_id": breach_id,
        "status": status,
        "contract_id": contract,
        "contract_version": 1,
        "objective_id": objective,
        "sli": "service_availability",
        "comparator": ">=",
        "threshold": 99.0,
        "observed": 97.5,
        "window_start": PERIOD[0],
        "window_end": PERIOD[1],
        "detected_at": detected,
        "priority": 12,
        "evidence": {},
    }
    record.update(changes)
    return record


def compensation(objective: str = "availability", *, contract: str = "c1",
                 amount: str = "2400.00", **changes: Any) -> dict[str, Any]:  # fmt: skip
    record = {
        "record": "compensation",
        "compensation_id": f"comp:{contract}:{objective}:{PERIOD[0]}:r1",
        "contract_id": contract,
        "contract_version": 1,
        "objective_id": objective,
        "sli": "service_availability",
        "period_start": PERIOD[0],
        "period_end": PERIOD[1],
        "observed": 97.5,
        "threshold": 99.0,
        "tier": 0,
        "credit_percent": 10.0,
        "credit_amount": amount,
        "currency": "CNY",
        "extension_hours": 0.0,
        "period_fee": "24000.00",
        "capped": False,
        "evidence": {},
    }
    record.update(changes)
    return record


def warning(status: str = "fired", *, contract: str = "c1", objective: str = "availability",
            detected: str = "2026-10-12T01:05:00Z", **changes: Any) -> dict[str, Any]:  # fmt: skip
    record = {
        "record": "warning",
        "warning_id": f"warn:{contract}:{objective}:2026-10-12T01:05:00Z:r1:page-14.4x-65m",
        "status": status,
        "contract_id": contract,
        "contract_version": 1,
        "objective_id": objective,
        "sli": "service_availability",
        "severity": "page",
        "long_window": "1h",
        "short_window": "5m",
        "burn_rate_long": 15.0,
        "burn_rate_short": 20.0,
        "threshold_factor": 14.4,
        "budget_remaining": 0.4,
        "detected_at": detected,
    }
    record.update(changes)
    return record


def scorecard(scope: str = "contract", *, grade: int = 4, **changes: Any) -> dict[str, Any]:
    record = {
        "record": "scorecard",
        "scorecard_id": f"score:{scope}",
        "scope": scope,
        "provider_id": "p1",
        "contract_id": "c1" if scope == "contract" else None,
        "contract_version": 1,
        "period_start": PERIOD[0],
        "period_end": PERIOD[1],
        "total_score": 81.5,
        "grade": grade,
        "grade_by_score": grade,
        "caps": [],
        "levels": [],
    }
    record.update(changes)
    return record


@pytest.fixture(scope="module")
def storage_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden storage day replayed up to the end of October."""
    out = tmp_path_factory.mktemp("storage-day")
    result = CliRunner().invoke(
        app,
        ["replay", "--input", str(GOLDEN_INPUT), "--rules", str(ROOT / "rules"), "--out",
         str(out), "--until", UNTIL, "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with browser_module().chromium(tmp_path_factory.mktemp("chromium")) as chromium:
        yield chromium
