"""``csla dashboard`` over an output directory: tailing the files, the HTTP server, snapshots;
and the routes on a Faust app, as the worker registers them."""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faust
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from engine.cli import app
from engine.dashboard import empty_state, fold, register_routes, render_page
from engine.dashboard.serve import OutputsFeed, make_server, static_page
from engine.ruleset import load_rules_dir

from .conftest import ROOT, breach, compensation, metric


def _append(path: Path, *records: dict[str, Any], partial: bytes = b"") -> None:
    with path.open("ab") as handle:
        handle.write(b"".join(orjson.dumps(r) + b"\n" for r in records) + partial)


def test_feed_tails_complete_lines_and_restarts_on_a_new_replay(tmp_path: Path) -> None:
    feed = OutputsFeed(tmp_path)
    assert feed.refresh()["contracts"] == {}  # no files yet
    _append(tmp_path / "metrics.jsonl", metric())
    _append(tmp_path / "breaches.jsonl", breach(), partial=b'{"record": "breach", "br')
    s = feed.refresh()
    assert s["records"] == {"metric": 1, "breach": 1}  # the half-written line waits
    with (tmp_path / "breaches.jsonl").open("ab") as handle:
        handle.write(b'each_id": "b9", "status": "resolved", "contract_id": "c9"}\n')
    version = feed.refresh()["version"]
    assert feed.state["records"] == {"metric": 1, "breach": 2}
    assert feed.refresh()["version"] == version  # nothing new: no fold
    (tmp_path / "breaches.jsonl").write_bytes(b"")  # a new replay truncates its files
    s = feed.refresh()
    assert s["records"] == {"metric": 1} and s["contracts"]["c1"]["open_breaches"] == {}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    _append(tmp_path / "metrics.jsonl", metric())
    server = make_server(OutputsFeed(tmp_path), port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}", tmp_path
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers["Content-Type"], response.read()


def test_http_server(served: tuple[str, Path]) -> None:
    base, directory = served
    assert base.startswith("http://127.0.0.1:")
    status, ctype, body = _get(base + "/dashboard")
    assert (status, ctype) == (200, "text/html; charset=utf-8") and b"dashboard.json" in body
    assert _get(base + "/")[2] == body  # redirected
    data = orjson.loads(_get(base + "/dashboard.json")[2])
    assert data["summary"]["open_breaches"] == 0 and data["served_at"].endswith("Z")
    _append(directory / "breaches.jsonl", breach())
    assert orjson.loads(_get(base + "/dashboard.json")[2])["summary"]["open_breaches"] == 1
    with pytest.raises(urllib.error.HTTPError) as missing:
        _get(base + "/etc/passwd")
    assert missing.value.code == 404
    missing.value.close()


def test_static_snapshot_embeds_the_data_safely(tmp_path: Path) -> None:
    _append(tmp_path / "compensations.jsonl", compensation(objective="x</script><b>y"))
    text = static_page(tmp_path)
    assert 'id="csla-data"' in text and "2400.00" in text
    assert "x</script><b>y" not in text and "x\\u003c/script>\\u003cb>y" in text
    assert 'id="csla-data"' not in render_page()  # the live page has no data block


def test_cli_static_and_errors(storage_day: Path, tmp_path: Path) -> None:
    out = tmp_path / "snap" / "dashboard.html"
    result = CliRunner().invoke(
        app, ["dashboard", "--outputs", str(storage_day), "--rules", str(ROOT / "rules"),
              "--static", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "7200.00" in out.read_text()
    result = CliRunner().invoke(app, ["dashboard", "--outputs", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "is not a directory" in result.output


def test_routes_on_a_faust_app() -> None:
    state = {"now": fold(empty_state(), [metric()])}
    ruleset = load_rules_dir(ROOT / "rules").ruleset

    async def scenario() -> list[Any]:
        faust_app = faust.App("csla-dashboard-test", broker="kafka://127.0.0.1:1")
        register_routes(faust_app, lambda: state["now"], lambda: ruleset)
        client = TestClient(TestServer(faust_app.web.web_app))
        await client.start_server()
        try:
            page = await client.get("/dashboard")
            html = await page.text()
            first = await (await client.get("/dashboard.json")).json()
            state["now"] = fold(state["now"], [breach()])
            response = await client.get("/dashboard.json")
            second = await response.json()
            return [page.status, html, first, second, response.headers["Cache-Control"]]
        finally:
            await client.close()

    status, html, first, second, cache = asyncio.run(scenario())
    assert status == 200 and "dashboard.json" in html and cache == "no-store"
    assert (first["summary"]["open_breaches"], second["summary"]["open_breaches"]) == (0, 1)


def test_the_worker_app_serves_the_dashboard(tmp_path: Path) -> None:
    from engine.adapters.kafka.app import make_app
    from engine.settings import Settings

    settings = Settings(rules_dir=ROOT / "rules", broker="kafka://127.0.0.1:1")
    worker_app = make_app(settings)
    paths = {r.resource.canonical for r in worker_app.web.web_app.router.routes() if r.resource}
    assert {"/dashboard", "/dashboard.json", "/metrics", "/health"} <= paths
    engine = worker_app.csla_engine  # type: ignore[attr-defined]
    engine.dashboard.feed([metric(contract="storage-001"), breach(contract="storage-001")])
    assert engine.dashboard.state["contracts"]["storage-001"]["open_breaches"]


def test_feed_reads_a_big_file_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.dashboard.serve as serve

    monkeypatch.setattr(serve, "CHUNK_BYTES", 700)  # a metric line is ~500 bytes
    hours = [f"2026-10-12T{h:02d}:00:00Z" for h in range(1, 10)]
    _append(tmp_path / "metrics.jsonl", *(metric(end=h, pgood=990 + i) for i, h in
                                          enumerate(hours)))  # fmt: skip
    state = OutputsFeed(tmp_path).refresh()
    assert state["records"] == {"metric": 9} and state["version"] == 9
    assert state["contracts"]["c1"]["objectives"]["availability"]["period_good"] == 998
