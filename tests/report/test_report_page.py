"""The report page rendered in headless Chromium: the key numbers are on it, the charts are drawn,
nothing is fetched from anywhere, the HTML parses strictly; a screenshot is kept in
``tests/artifacts/report.png``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

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


CJK_NAME = "服务可用度"  # "service availability", as Table A.2 names it
# Each character of the name drawn alone, in the font the page gives the name's cell: real
# glyphs differ from each other and from an unassigned code point's (.notdef: a box or nothing).
GLYPHS_JS = """(() => {
  const cell = [...document.querySelectorAll('td')].find((td) => td.textContent.includes(NAME));
  if (!cell) return null;
  cell.id = 'cjk-probe';
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 64;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const draw = (ch) => {
    ctx.clearRect(0, 0, 64, 64);
    ctx.font = '40px ' + getComputedStyle(cell).fontFamily;
    ctx.fillText(ch, 4, 48);
    return Array.from(ctx.getImageData(0, 0, 64, 64).data).join(',');
  };
  const shapes = [...NAME].map(draw);
  const notdef = draw(String.fromCodePoint(0x10FFFD));
  return {distinct: new Set(shapes).size, boxes: shapes.filter((s) => s === notdef).length,
    family: getComputedStyle(cell).fontFamily};
})()"""


def _cjk_font() -> bool:
    import shutil
    import subprocess

    if not shutil.which("fc-list"):
        return False
    found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True)
    return bool(found.stdout.strip())


def test_chinese_names_render_as_glyphs_not_boxes(
    storage_day_scored: Path, tmp_path: Path, browser: Any
) -> None:
    if not _cjk_font():
        pytest.skip("no CJK font here (Debian fonts-noto-cjk; scripts/test.sh installs it as root)")
    path = storage_day_scored / "scorecards.jsonl"
    records = [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    for record in records:
        for level in record.get("levels") or []:
            for m in level.get("metrics") or []:
                if m.get("key") == "service_availability":
                    m["name"] = f"Service availability ({CJK_NAME})"
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    cli("report", "--from-outputs", str(storage_day_scored), "--rules", str(ROOT / "rules"),
        "--period", "2026-10", "--out", str(tmp_path))  # fmt: skip
    page_file = tmp_path / "report-2026-10.html"
    assert "Noto Sans CJK SC" in page_file.read_text()  # the font the page asks for
    page = browser.new_page()
    page.goto(page_file.as_uri())
    glyphs = page.evaluate(GLYPHS_JS.replace("NAME", orjson.dumps(CJK_NAME).decode()))
    assert glyphs is not None, "the Chinese name is not on the page"
    assert glyphs == {"distinct": len(CJK_NAME), "boxes": 0, "family": glyphs["family"]}
    # and the browser says which installed font drew the characters
    page.send("DOM.enable")
    page.send("CSS.enable")
    root = page.send("DOM.getDocument")["root"]["nodeId"]
    node = page.send("DOM.querySelector", {"nodeId": root, "selector": "#cjk-probe"})["nodeId"]
    fonts = page.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cjk = [f for f in fonts if "CJK" in f["familyName"]]
    assert cjk and sum(f["glyphCount"] for f in cjk) >= len(CJK_NAME), fonts
