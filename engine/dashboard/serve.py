"""``csla dashboard``: the live dashboard over a replay output directory, or a static snapshot.

``OutputsFeed`` tails the directory's JSONL files: each ``refresh`` folds the complete lines
written since the last one (a file that shrank means a new replay: the state starts over).
``make_server`` serves the page and its JSON with the standard library's threading HTTP server,
refreshing on every JSON request, so a replay still writing shows up as it goes. With a
``token`` both pages require it exactly as on the worker (``routes.authorized``); the server
keeps no access log, so a token in a URL is never written anywhere by it.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import orjson

from engine.adapters.manifest import MANIFEST_NAME
from engine.core.records import DEAD, LATE
from engine.dashboard.page import render_page
from engine.dashboard.routes import (
    CHALLENGE,
    NO_STORE,
    TOKEN_QUERY,
    UNAUTHORIZED_BODY,
    authorized,
    dashboard_json,
    token_bytes,
)
from engine.dashboard.state import Record, State, Targets, Zones, empty_state, fold, view
from engine.report.records import OUTPUT_FILES

if TYPE_CHECKING:
    from pydantic import SecretStr

CHUNK_BYTES = 8 << 20  # a big output file is folded a chunk at a time


class OutputsFeed:
    """The dashboard state of an output directory, kept up to date by ``refresh``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.state: State = empty_state()
        self._offsets: dict[str, int] = {}
        self._manifest: bytes | None = None
        self._lock = threading.Lock()
        #: the replay's counts of what the dashboard does not read line by line (dead letters,
        #: late events), from its manifest: keyed as the records' kinds
        self.books: dict[str, int] = {}

    def refresh(self) -> State:
        with self._lock:
            try:
                manifest = (self.directory / MANIFEST_NAME).read_bytes()
            except FileNotFoundError:
                manifest = b""
            if manifest != self._manifest:  # a new replay took the directory's place
                self.state, self._offsets, self._manifest = empty_state(), {}, manifest
                self.books = _books(manifest)
            sizes = {}
            for name in OUTPUT_FILES.values():
                try:
                    sizes[name] = (self.directory / name).stat().st_size
                except FileNotFoundError:
                    sizes[name] = 0
            if any(sizes[n] < self._offsets.get(n, 0) for n in sizes):
                self.state, self._offsets = empty_state(), {}
            for name, size in sizes.items():
                while size > self._offsets.get(name, 0):
                    start = self._offsets.get(name, 0)
                    records = self._read(self.directory / name, start, size, name)
                    if records:
                        self.state = fold(self.state, records)
                    if self._offsets.get(name, 0) == start:
                        break  # only a line still being written: the next refresh takes it
            return self.state

    def _read(self, path: Path, start: int, size: int, name: str) -> list[Record]:
        """The complete lines of the next chunk (at most ``CHUNK_BYTES``) from ``start``."""
        with path.open("rb") as handle:
            handle.seek(start)
            data = handle.read(min(size - start, CHUNK_BYTES))
        end = data.rfind(b"\n") + 1
        self._offsets[name] = start + end
        records = []
        for line in data[:end].splitlines():
            if line.strip():
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    records.append(record)
        return records


def _books(manifest: bytes) -> dict[str, int]:
    """Dead letters and late events of every stage of the replay, from its manifest."""
    try:
        books = orjson.loads(manifest).get("books", {}) if manifest else {}
    except (orjson.JSONDecodeError, AttributeError):
        return {}
    if not isinstance(books, dict):
        return {}
    return {
        kind: int(books[key])
        for kind, key in ((DEAD.record, "dead_letters"), (LATE.record, "late"))
        if isinstance(books.get(key), int)
    }


def static_page(directory: Path, targets: Targets | None = None, zones: Zones | None = None) -> str:
    """One self-contained HTML page with the directory's dashboard data embedded."""
    feed = OutputsFeed(directory)
    state = feed.refresh()
    data = view(state, targets, None, zones, feed.books)
    return render_page(data, title="CSLA dashboard (snapshot)")


def make_server(
    feed: OutputsFeed,
    host: str = "127.0.0.1",
    port: int = 8050,
    *,
    targets: Targets | None = None,
    zones: Zones | None = None,
    interval_ms: int = 2000,
    token: SecretStr | str | None = None,
) -> ThreadingHTTPServer:
    """A read-only HTTP server: ``/dashboard``, ``/dashboard.json`` (``/`` redirects); with
    ``token``, both pages answer 401 without it."""
    page = render_page(interval_ms=interval_ms).encode()
    expected = token_bytes(token)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path in ("/", "/index.html"):
                self.send_response(HTTPStatus.FOUND)
                self.send_header("Location", "/dashboard")
                self.end_headers()
            elif path not in ("/dashboard", "/dashboard.json"):
                self.send_error(HTTPStatus.NOT_FOUND)
            elif not self._authorized(path, query):
                self._send(UNAUTHORIZED_BODY, "text/plain", HTTPStatus.UNAUTHORIZED, CHALLENGE)
            elif path == "/dashboard":
                self._send(page, "text/html; charset=utf-8")
            else:
                state = feed.refresh()
                body = dashboard_json(state, targets, None, zones, feed.books)
                self._send(body, "application/json")

        def _authorized(self, path: str, query: str) -> bool:
            given = None
            if path == "/dashboard":  # only the page takes ?access_token= (for a browser)
                values = parse_qs(query).get(TOKEN_QUERY)
                given = values[0] if values else None
            return authorized(expected, self.headers.get("Authorization"), given)

        def _send(
            self,
            body: bytes,
            content_type: str,
            status: HTTPStatus = HTTPStatus.OK,
            headers: dict[str, str] = NO_STORE,
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the page polls every few seconds

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
