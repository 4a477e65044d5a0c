"""Fixtures of the report tests: the golden storage day replayed, fixture scorecard and warning
records, and a headless Chromium (``browser.py``, loaded by path)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from engine.cli import app

ROOT = Path(__file__).resolve().parents[2]
GOLDEN_INPUT = ROOT / "tests" / "golden" / "storage-day" / "input.ndjson.gz"
UNTIL = "2026-11-01T00:00:00+08:00"
OCTOBER = ("2026-09-30T16:00:00Z", "2026-10-31T16:00:00Z")


def load_browser_module() -> Any:
    name = "csla_test_browser"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("browser.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def scorecard(**changes: Any) -> dict[str, Any]:
    """A contract scorecard of storage-001 for October 2026 (Table A.2 shape)."""
    record: dict[str, Any] = {
        "record": "scorecard",
        "scorecard_id": "score:storage-001:2026-09-30T16:00:00Z:r1",
        "scope": "contract",
        "provider_id": "guizhou-cloud",
        "contract_id": "storage-001",
        "contract_version": 1,
        "period_start": OCTOBER[0],
        "period_end": OCTOBER[1],
        "total_score": 72.35,
        "grade": 3,
        "grade_by_score": 4,
        "caps": [{"grade": 3, "reason": "availability below the industry average"}],
        "levels": [
            {
                "key": "availability",
                "name": "Availability",
                "weight": 20,
                "score": 61.2,
                "metrics": [
                    {"key": "service_availability", "name": "Service availability",
                     "weight": 40, "value": 94.2029, "unit": "percent", "source": "measured",
                     "score": 40.0},
                    {"key": "network_availability", "name": "Network availability",
                     "weight": 30, "value": None, "unit": "percent", "source": "missing",
                     "score": 0.0},
                ],
            },
            {
                "key": "green",
                "name": "Green / low-carbon",
                "weight": 5,
                "score": 88.0,
                "metrics": [
                    {"key": "pue", "name": "PUE", "weight": 80, "value": 1.25, "unit": "",
                     "source": "attested", "score": 90.0},
                ],
            },
        ],
    }  # fmt: skip
    record.update(changes)
    return record


def warning(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "record": "warning",
        "warning_id": "warn:storage-001:availability:page:2026-10-12T02:05:00Z",
        "status": "fired",
        "contract_id": "storage-001",
        "contract_version": 1,
        "objective_id": "availability",
        "sli": "service_availability",
        "severity": "page",
        "long_window": "1h",
        "short_window": "5m",
        "burn_rate_long": 21.7,
        "burn_rate_short": 144.0,
        "threshold_factor": 14.4,
        "budget_remaining": 0.0,
        "detected_at": "2026-10-12T02:05:00Z",
    }
    record.update(changes)
    return record


def discrepancy(**changes: Any) -> dict[str, Any]:
    """A ``reported_down_platform_up`` record of storage-001: an incident and a node down
    during 2026-10-12 12:00-13:00 local while every probe of the hour succeeded."""
    record: dict[str, Any] = {
        "record": "discrepancy",
        "discrepancy_id": "discrepancy:storage-001:availability:2026-10-12T04:00:00Z:r1",
        "contract_id": "storage-001",
        "contract_version": 1,
        "objective_id": "availability",
        "sli": "service_availability",
        "kind": "reported_down_platform_up",
        "window_start": "2026-10-12T04:00:00Z",
        "window_end": "2026-10-12T05:00:00Z",
        "measured": {"sources": ["platform"], "unavailable_minutes": 0, "available_minutes": 60},
        "reported": {"down_minutes": 15.5, "nodes_down": ["node-7"], "incidents": ["INC-7"]},
    }
    record.update(changes)
    return record


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))


def cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def storage_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden storage day replayed up to the end of October (replay outputs only)."""
    out = tmp_path_factory.mktemp("storage-day")
    cli("replay", "--input", str(GOLDEN_INPUT), "--rules", str(ROOT / "rules"), "--out",
        str(out), "--until", UNTIL, "--quiet")  # fmt: skip
    return out


@pytest.fixture
def storage_day_scored(storage_day: Path, tmp_path: Path) -> Path:
    """The same outputs plus a scorecard and a warning file, as the newer stages write them."""
    out = tmp_path / "outputs"
    shutil.copytree(storage_day, out)
    provider = scorecard(scope="provider", contract_id=None, scorecard_id="score:guizhou-cloud",
                         total_score=80.5, grade=4, grade_by_score=4, caps=[])  # fmt: skip
    write_jsonl(out / "scorecards.jsonl", [scorecard(), provider])
    write_jsonl(
        out / "warnings.jsonl",
        [warning(), warning(status="cleared", detected_at="2026-10-12T02:40:00Z")],
    )
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    module = load_browser_module()
    with module.chromium(tmp_path_factory.mktemp("chromium")) as chromium:
        yield chromium
