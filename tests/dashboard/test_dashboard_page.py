"""The dashboard in headless Chromium: served over a replay output directory it shows the key
numbers, and when the files grow the new numbers appear without a reload; it asks nothing of
any host but its own; the static snapshot shows the same numbers from a file. Screenshots are
kept in ``tests/artifacts/``."""

from __future__ import annotations

import shutil
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.dashboard.serve import OutputsFeed, make_server, static_page
from engine.dashboard.state import targets_from_ruleset, zones_from_ruleset
from engine.ruleset import load_rules_dir

from .conftest import ROOT, breach, browser_module, compensation

ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture
def served(storage_day: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    outputs = tmp_path / "outputs"
    shutil.copytree(storage_day, outputs)
    targets = targets_from_ruleset(load_rules_dir(ROOT / "rules").ruleset)
    server = make_server(OutputsFeed(outputs), port=0, targets=targets, interval_ms=300)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}", outputs
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _card(page: Any, name: str) -> str:
    return str(page.evaluate(f"document.querySelector('[data-test=\"{name}\"]')?.textContent"))


def test_live_dashboard_updates_without_reload(served: tuple[str, Path], browser: Any) -> None:
    base, outputs = served
    with urllib.request.urlopen(base + "/dashboard", timeout=5) as response:
        browser_module().assert_offline_html(response.read().decode())
    page = browser.new_page()
    page.goto(base + "/dashboard")
    page.wait_for("document.getElementById('conn').textContent === 'live'")
    text = page.text()
    assert "storage-001" in text
    assert "94.203 %" in text  # October availability so far: 650 / 690 minutes
    assert "7200.00 CNY (30 %)" in text  # the October credit
    assert _card(page, "open-breaches") == "0"
    page.evaluate("window.__sameDocument = 42")

    with (outputs / "breaches.jsonl").open("ab") as handle:
        handle.write(orjson.dumps(breach("breach:storage-001:availability:new",
                                         contract="storage-001", threshold=99.9)) + b"\n")  # fmt: skip
    november = {"period_start": "2026-10-31T16:00:00Z", "period_end": "2026-11-30T16:00:00Z",
                "compensation_id": "comp:storage-001:availability:2026-10-31T16:00:00Z:r1"}  # fmt: skip
    with (outputs / "compensations.jsonl").open("ab") as handle:
        handle.write(orjson.dumps(compensation(contract="storage-001", amount="1234.56",
                                               **november)) + b"\n")  # fmt: skip
    page.wait_for(
        "document.querySelector('[data-breach=\"breach:storage-001:availability:new\"]') !== null"
    )
    page.wait_for("document.body.innerText.includes('1234.56 CNY')")
    assert "7200.00 CNY (30 %)" in page.text()  # October's is still listed
    assert _card(page, "open-breaches") == "1"
    assert page.evaluate("window.__sameDocument") == 42  # the same document: no reload
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

    requests = page.requests()
    assert all(url.startswith(base + "/") for url in requests), requests
    assert sum(url == base + "/dashboard.json" for url in requests) >= 2
    assert page.failed_requests() == []
    assert page.screenshot(ARTIFACTS / "dashboard.png").stat().st_size > 20_000


def test_static_snapshot(storage_day: Path, tmp_path: Path, browser: Any) -> None:
    ruleset = load_rules_dir(ROOT / "rules").ruleset
    targets = targets_from_ruleset(ruleset)
    snapshot = tmp_path / "dashboard.html"
    snapshot.write_text(static_page(storage_day, targets, zones_from_ruleset(ruleset)))
    browser_module().assert_offline_html(snapshot.read_text())
    page = browser.new_page()
    page.goto(snapshot.as_uri())
    page.wait_for("document.getElementById('conn').textContent === 'snapshot'")
    text = page.text()
    assert "94.203 %" in text and "7200.00 CNY (30 %)" in text
    # in the contract's zone, the period by its name; counts of every stage; no jargon
    assert "October 2026 · revision 1" in text and "(Asia/Shanghai)" in text
    assert "2026-09-30" not in text and "+08:00" in text
    books = orjson.loads((storage_day / "manifest.json").read_bytes())["books"]
    shown = page.evaluate(
        "[...document.querySelectorAll('[data-test]')].map(e => [e.dataset.test, e.textContent])"
    )
    cards = dict(shown)
    assert (cards["dead-letters"], cards["late-events"]) == (
        str(books["dead_letters"]),
        str(books["late"]),
    )
    assert books["dead_letters"] > 0 and "updates received" in text and "state " not in text
    assert page.requests() == [snapshot.as_uri()]
    page.screenshot(ARTIFACTS / "dashboard-static.png")
