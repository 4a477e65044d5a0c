"""The report page rendered in headless Chromium: the key numbers are on it, the charts are drawn,
nothing is fetched from anywhere, the HTML parses strictly; a screenshot is kept in
``tests/artifacts/report.png``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine.report.html import fmt

from .conftest import ROOT, cli, load_browser_module

ARTIFACTS = ROOT / "tests" / "artifacts"


def test_report_page_in_chromium(storage_day_scored: Path, tmp_path: Path, browser: Any) -> None:
    cli("report", "--from-outputs", str(storage_day_scored), "--rules", str(ROOT / "rules"),
        "--period", "2026-10", "--out", str(tmp_path))  # fmt: skip
    page_file = tmp_path / "report-2026-10.html"
    text = page_file.read_text()
    load_browser_module().assert_offline_html(text)
    ids = re.findall(r'\bid="([^"]+)"', text)  # inline SVGs share one document: ids prefixed
    assert len(ids) == len(set(ids)) and len(ids) > 10
    cli("report", "--from-outputs", str(storage_day_scored), "--rules", str(ROOT / "rules"),
        "--period", "2026-10", "--out", str(tmp_path / "again"))  # fmt: skip
    assert (tmp_path / "again" / "report-2026-10.html").read_text() == text  # deterministic

    page = browser.new_page()
    page.goto(page_file.as_uri())
    shown = page.text()
    for expected in (
        f"{fmt(650 / 690 * 100, 'percent')}",  # storage-001 October availability: 94.203 %
        "30.0% × 24000.00 = 7200.00 CNY",  # the credit's arithmetic
        "total credit 7200.00 CNY",
        "cap 100% of the fee = 24000.00 CNY",
        "Grade 3",  # the contract scorecard (capped from 4)
        "Grade 4",  # the provider's
        "availability below the industry average",
        "not met",
        "Burn-rate warnings",
    ):
        assert expected in shown, expected
    charts = page.evaluate(
        "[...document.querySelectorAll('svg')].map(s => Math.round(s.getBoundingClientRect().height))"
    )
    assert len(charts) == 4 and min(charts) > 100  # days, latency, outages, budget of storage-001
    assert page.requests() == [page_file.as_uri()]
    assert page.failed_requests() == []
    shot = page.screenshot(ARTIFACTS / "report.png")
    assert shot.stat().st_size > 50_000
