"""Headless Chromium for the page tests, driven over the DevTools protocol (no browser download).

Loaded by path (pytest runs with ``--import-mode=importlib``) from the report and dashboard
tests. ``Chromium`` starts ``/usr/bin/chromium`` (Debian's package, installed by
``scripts/test.sh``) with a fresh profile and the flags that work on a closed network, and talks
to it through the ``DevToolsActivePort`` it writes; a ``Page`` navigates, evaluates script,
waits for a condition, records every request the page makes, and takes full-page screenshots.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import html5lib
import orjson
import pytest
from websockets.sync.client import ClientConnection, connect

CHROMIUM = os.environ.get("CSLA_CHROMIUM", "/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,900",
    "--remote-debugging-port=0",
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

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


class Chromium:
    """One browser process and its DevTools connection."""

    def __init__(self, profile: Path) -> None:
        if not shutil.which(CHROMIUM):
            raise RuntimeError(f"{CHROMIUM} is missing: scripts/test.sh installs it (apt-get)")
        profile.mkdir(parents=True, exist_ok=True)
        self._log = (profile / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"chromium did not start; see {profile / 'chromium.log'}")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws: ClientConnection = connect(f"ws://127.0.0.1:{port}{path}", max_size=None)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:  # fmt: skip
        """One DevTools command; events that arrive meanwhile are kept in ``events``."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(orjson.dumps(message).decode())
        deadline = time.monotonic() + timeout
        while True:
            reply = orjson.loads(self.ws.recv(timeout=max(0.01, deadline - time.monotonic())))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        for domain in ("Page", "Runtime", "Network"):
            page.send(f"{domain}.enable")
        return page

    def close(self) -> None:
        try:
            if hasattr(self, "ws"):
                self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self._log.close()


class Page:
    def __init__(self, browser: Chromium, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 15.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression!r}")
            time.sleep(0.1)

    def text(self) -> str:
        return str(self.evaluate("document.body.innerText"))

    def requests(self) -> list[str]:
        """The URL of every request this page made so far."""
        return [
            e["params"]["request"]["url"]
            for e in self.browser.events
            if e.get("sessionId") == self.session and e.get("method") == "Network.requestWillBeSent"
        ]

    def failed_requests(self) -> list[dict[str, Any]]:
        return [
            e["params"]
            for e in self.browser.events
            if e.get("sessionId") == self.session and e.get("method") == "Network.loadingFailed"
        ]

    def screenshot(self, path: Path, width: int = 1280, max_height: int = 6000) -> Path:
        """A full-page PNG (up to ``max_height`` CSS pixels)."""
        height = int(self.evaluate("document.documentElement.scrollHeight"))
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": min(height, max_height), "deviceScaleFactor": 1,
             "mobile": False},
        )  # fmt: skip
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


def require_chromium() -> None:
    """Skip, with the reason, where Chromium is missing and this user cannot install it; as
    root (CI) a missing browser stays an error: scripts/test.sh installs it there."""
    if not shutil.which(CHROMIUM) and os.geteuid() != 0:
        pytest.skip(
            f"page test: {CHROMIUM} is missing (install Debian's chromium: scripts/test.sh "
            "does as root; or set CSLA_CHROMIUM to a Chromium binary)"
        )


@contextmanager
def chromium(profile: Path) -> Iterator[Chromium]:
    require_chromium()
    browser = Chromium(profile)
    try:
        yield browser
    finally:
        browser.close()
