"""Access to the dashboard (issue 11 point 9, SECURITY.md) and its quarantine flag.

With ``CSLA_WEB_TOKEN`` set, ``/dashboard`` and ``/dashboard.json`` answer 401 with
``WWW-Authenticate: Bearer`` unless the request carries the token, on the worker's web server
and on ``csla dashboard``'s; ``/metrics`` and ``/health`` stay open. The quarantine reaches the
JSON, the page and ``/health`` through ``Feed.set_quarantined``, fed here by a fake source.
"""

from __future__ import annotations

import asyncio
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr

from engine.dashboard import Feed, empty_state, fold, render_page, view
from engine.dashboard.routes import authorized, quarantined_ids, token_bytes
from engine.dashboard.serve import OutputsFeed, make_server

from .conftest import ROOT, breach, browser_module, metric

TOKEN = "tok-9f2c_Zx~long.enough"  # as from secrets.token_urlsafe: safe in a URL
GOOD = {"Authorization": f"Bearer {TOKEN}"}
WRONG = {"Authorization": "Bearer not-the-token"}
QUARANTINE = {"storage-001": "evaluating raised InvalidOperation at period close"}

# (path, headers, status with the token set); the same table for both servers.
CASES: list[tuple[str, dict[str, str], int]] = [
    ("/dashboard", {}, 401),
    ("/dashboard", WRONG, 401),
    ("/dashboard", {"Authorization": f"Basic {TOKEN}"}, 401),
    ("/dashboard", {"Authorization": "Bearer"}, 401),
    ("/dashboard", GOOD, 200),
    ("/dashboard", {"Authorization": f"bearer   {TOKEN}"}, 200),
    ("/dashboard?access_token=not-the-token", {}, 401),
    (f"/dashboard?access_token={TOKEN}", {}, 200),
    ("/dashboard.json", {}, 401),
    ("/dashboard.json", WRONG, 401),
    ("/dashboard.json", GOOD, 200),
    (f"/dashboard.json?access_token={TOKEN}", {}, 401),  # the JSON takes the header only
]


@pytest.mark.parametrize(
    ("expected", "header", "query", "ok"),
    [
        (None, None, None, True),  # no token configured: open
        (b"t", None, None, False),
        (b"t", "Bearer t", None, True),
        (b"t", "BEARER t", None, True),
        (b"t", "Bearer t ", None, True),
        (b"t", "Bearer tt", None, False),
        (b"t", "Bearer ", None, False),
        (b"t", "Token t", None, False),
        (b"t", None, "t", True),
        (b"t", None, "", False),
        (b"t", "Bearer x", "t", False),  # a header that is wrong is not rescued by the query
        ("é".encode(), "Bearer é", None, True),
        (b"e", "Bearer é", None, False),
    ],
)
def test_authorized(
    expected: bytes | None, header: str | None, query: str | None, ok: bool
) -> None:
    assert authorized(expected, header, query) is ok


def test_token_bytes_blank_is_unset() -> None:
    assert token_bytes(None) is None
    assert token_bytes("") is None
    assert token_bytes(SecretStr("  ")) is None
    assert token_bytes(SecretStr(TOKEN)) == TOKEN.encode()


def test_the_token_is_a_secret_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.settings import Settings

    monkeypatch.setenv("CSLA_WEB_TOKEN", TOKEN)
    settings = Settings()
    assert settings.web_token is not None
    assert settings.web_token.get_secret_value() == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


def _assert_denied(status: int, headers: Any, body: bytes) -> None:
    assert status == 401
    assert headers["WWW-Authenticate"] == "Bearer"
    assert headers["Cache-Control"] == "no-store"
    assert body == b"401 Unauthorized\n", "no details"


# --- the worker's web server ------------------------------------------------------------------
@pytest.fixture
def worker_app() -> Any:
    """A fresh app per test: an aiohttp application is bound to the first loop serving it."""
    from engine.adapters.kafka.app import make_app
    from engine.settings import Settings

    settings = Settings(
        rules_dir=ROOT / "rules", broker="kafka://127.0.0.1:1", web_token=SecretStr(TOKEN)
    )
    app = make_app(settings)
    app.web.init_server()  # Faust's own blueprints too, as a running worker has them
    return app


Call = tuple[str, dict[str, str]] | Callable[[], None]


def _requests(app: Any, calls: list[Call]) -> list[tuple[int, Any, bytes]]:
    """GET each (path, headers) in one server's life; a callable is run in between."""

    async def scenario() -> list[tuple[int, Any, bytes]]:
        client = TestClient(TestServer(app.web.web_app))
        await client.start_server()
        try:
            out = []
            for call in calls:
                if callable(call):
                    call()
                    continue
                path, headers = call
                response = await client.get(path, headers=headers)
                out.append((response.status, response.headers, await response.read()))
            return out
        finally:
            await client.close()

    return asyncio.run(scenario())


def test_worker_routes_require_the_token(worker_app: Any) -> None:
    results = _requests(worker_app, [(path, headers) for path, headers, _ in CASES])
    for (path, headers, expected), (status, response_headers, body) in zip(
        CASES, results, strict=True
    ):
        assert status == expected, (path, headers)
        if status == 401:
            _assert_denied(status, response_headers, body)
        else:
            assert response_headers["Referrer-Policy"] == "no-referrer"


def test_worker_metrics_and_health_stay_open(worker_app: Any) -> None:
    results = _requests(worker_app, [("/metrics", {}), ("/health", {}), ("/health", WRONG)])
    metrics, health, health_wrong = results
    assert metrics[0] == 200 and b"csla_" in metrics[2]
    for status, _, body in (health, health_wrong):
        assert status in (200, 503)  # not ready: no broker here; never 401
        assert "ready" in orjson.loads(body)


def test_worker_serves_only_its_own_routes(worker_app: Any) -> None:
    paths = {r.resource.canonical for r in worker_app.web.web_app.router.routes() if r.resource}
    assert paths == {"/", "/metrics", "/health", "/dashboard", "/dashboard.json"}


def test_worker_quarantine_reaches_health_and_the_dashboard(worker_app: Any) -> None:
    feed: Feed = worker_app.csla_engine.dashboard
    feed.feed([metric(contract="maas-api-001")])
    source = dict(QUARANTINE)  # the fake source: the worker calls the hook with its own map
    feed.set_quarantined(source)
    source["maas-api-001"] = "changed afterwards"  # a copy was taken
    health, data, lifted = _requests(
        worker_app,
        [("/health", {}), ("/dashboard.json", GOOD), lambda: feed.set_quarantined({}),
         ("/health", {})],
    )  # fmt: skip
    body = orjson.loads(health[2])
    assert body["quarantined"] == ["storage-001"], "ids only on the open endpoint"
    assert QUARANTINE["storage-001"] not in health[2].decode()
    view_ = orjson.loads(data[2])
    assert view_["quarantined"] == QUARANTINE
    assert view_["summary"]["quarantined"] == 1
    flags = {c["contract_id"]: c["quarantined"] for c in view_["contracts"]}
    assert flags == {"maas-api-001": None, **QUARANTINE}
    assert orjson.loads(lifted[2])["quarantined"] == []


def test_quarantined_ids() -> None:
    assert quarantined_ids(None) == []
    assert quarantined_ids(lambda: {"b": "x", "a": "y"}) == ["a", "b"]


# --- csla dashboard's server ------------------------------------------------------------------
@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "metrics.jsonl").write_bytes(orjson.dumps(metric()) + b"\n")
    server = make_server(OutputsFeed(tmp_path), port=0, token=SecretStr(TOKEN))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _get(url: str, headers: dict[str, str]) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, error.read()


def test_offline_server_requires_the_token(served: str) -> None:
    for path, headers, expected in CASES:
        status, response_headers, body = _get(served + path, headers)
        assert status == expected, (path, headers)
        if status == 401:
            _assert_denied(status, response_headers, body)
    assert _get(served + "/nothing", GOOD)[0] == 404


def test_offline_server_without_a_token_is_open(tmp_path: Path) -> None:
    server = make_server(OutputsFeed(tmp_path), port=0, token=SecretStr(""))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        assert _get(f"http://127.0.0.1:{server.server_address[1]}/dashboard.json", {})[0] == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- the quarantine in the view ---------------------------------------------------------------
def test_view_flags_quarantined_contracts() -> None:
    state = fold(empty_state(), [metric(), breach()])
    plain = view(state)
    assert plain["quarantined"] == {} and plain["summary"]["quarantined"] == 0
    assert [c["quarantined"] for c in plain["contracts"]] == [None]
    flagged = view(state, None, {"c1": "boom", "c9": "never published"})
    by_id = {c["contract_id"]: c for c in flagged["contracts"]}
    assert by_id["c1"]["quarantined"] == "boom" and by_id["c1"]["open_breaches"] == 1
    assert by_id["c9"]["quarantined"] == "never published"  # listed though it has no records
    assert by_id["c9"]["objectives"] == [] and by_id["c9"]["status"] == "no data"
    assert flagged["summary"]["quarantined"] == 2 and flagged["summary"]["contracts"] == 2
    assert state == fold(empty_state(), [metric(), breach()]), "view reads, never writes"


# --- in a browser -----------------------------------------------------------------------------
def test_browser_with_a_token_and_a_quarantine(served: str, browser: Any, tmp_path: Path) -> None:
    page = browser.new_page()
    page.goto(f"{served}/dashboard?access_token={TOKEN}")
    page.wait_for("document.getElementById('conn').textContent === 'live'")
    assert page.evaluate("window.location.href") == served + "/dashboard"  # token taken out
    assert "c1" in page.text()
    sent = [
        e["params"]["request"]
        for e in browser.events
        if e.get("sessionId") == page.session and e.get("method") == "Network.requestWillBeSent"
    ]
    data = [r for r in sent if r["url"] == served + "/dashboard.json"]
    assert data and all(r["headers"].get("Authorization") == GOOD["Authorization"] for r in data)
    assert all("access_token" not in r["url"] for r in data)

    snapshot = tmp_path / "quarantined.html"
    state = fold(empty_state(), [metric(contract="storage-001")])
    snapshot.write_text(render_page(view(state, None, QUARANTINE)), encoding="utf-8")
    browser_module().assert_offline_html(snapshot.read_text(encoding="utf-8"))
    page = browser.new_page()
    page.goto(snapshot.as_uri())
    page.wait_for("document.getElementById('conn').textContent === 'snapshot'")
    flag = page.evaluate(
        "document.querySelector('[data-quarantined=\"storage-001\"]')?.textContent"
    )
    assert flag == "⚠ quarantined"
    color = page.evaluate(
        "getComputedStyle(document.querySelector('[data-quarantined]')).backgroundColor"
    )
    assert color == "rgb(201, 42, 42)"  # red
    assert QUARANTINE["storage-001"] in page.text()
    assert page.evaluate("document.querySelector('[data-test=\"quarantined\"]').textContent") == "1"
