"""The report page rendered in headless Chromium: the key numbers are on it, the charts are drawn,
nothing is fetched from anywhere, the HTML parses strictly; a screenshot is kept in
``tests/artifacts/report.png``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import html5lib

from engine.report.html import fmt

from .conftest import ROOT, cli

ARTIFACTS = ROOT / "tests" / "artifacts"
# A URL with a scheme or protocol-relative in an attribute that loads something, or in CSS.
REMOTE = re.compile(
    r"""(?:\b(?:src|href|action|poster|data|srcset|formaction)\s*=\s*["']?\s*(?:[a-z]+:)?//)"""
    r"""|url\(\s*["']?\s*(?:[a-z]+:)?//|@import""",
    re.I,
)


def assert_offline_html(text: str) -> None:
    """Strict HTML5 parse, and no reference that would load anything from a network."""
    html5lib.HTMLParser(strict=True).parse(text)
    assert not REMOTE.findall(text)
    assert "<link" not in text.lower()
    assert not re.search(r"<script[^>]*\ssrc=", text, re.I)


def test_report_page_in_chromium(storage_day_scored: Path, tmp_path: Path, browser: Any) -> None:
    cli("report", "--from-outputs", str(storage_day_scored), "--rules", str(ROOT / "rules"),
        "--period", "2026-10", "--out", str(tmp_path))  # fmt: skip
    page_file = tmp_path / "report-2026-10.html"
    text = page_file.read_text()
    assert_offline_html(text)

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
