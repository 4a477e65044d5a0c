"""The dashboard on the worker's web server: ``/dashboard`` (the page) and ``/dashboard.json``.

``register_routes`` adds both pages to a Faust app. It reads the state through ``get_state``
(the worker keeps a ``Feed`` of the records it publishes) and the objectives' targets through
``get_ruleset`` (the rule set in force, which a reload may replace), so the routes hold no state
of their own. Read-only: both are GET pages, and neither reaches Kafka.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from engine.dashboard.page import render_page
from engine.dashboard.state import State, Targets, targets_from_ruleset, view

if TYPE_CHECKING:
    from engine.core.contract import Ruleset

_NO_STORE = {"Cache-Control": "no-store"}


def utc_now() -> str:
    """Wall time for the ``served_at`` of a response (the shell reads the clock, not the core)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def targets_of(get_ruleset: Callable[[], Ruleset | None] | None) -> Callable[[], Targets | None]:
    """``get_ruleset`` as targets, recomputed only when the rule set object changes."""
    memo: dict[str, Any] = {"ruleset": None, "targets": None}

    def get() -> Targets | None:
        ruleset = get_ruleset() if get_ruleset else None
        if ruleset is None:
            return None
        if memo["ruleset"] is not ruleset:
            memo["ruleset"], memo["targets"] = ruleset, targets_from_ruleset(ruleset)
        targets: Targets = memo["targets"]
        return targets

    return get


def dashboard_json(state: State, targets: Targets | None) -> bytes:
    data = view(state, targets)
    data["served_at"] = utc_now()
    return orjson.dumps(data)


def register_routes(
    app: Any,
    get_state: Callable[[], State],
    get_ruleset: Callable[[], Ruleset | None] | None = None,
    *,
    interval_ms: int = 2000,
) -> None:
    """Add ``/dashboard`` and ``/dashboard.json`` to the Faust ``app``."""
    page = render_page(interval_ms=interval_ms)
    targets = targets_of(get_ruleset)

    @app.page("/dashboard")
    async def dashboard(web: Any, request: Any) -> Any:
        return web.html(page, headers=dict(_NO_STORE))

    @app.page("/dashboard.json")
    async def dashboard_data(web: Any, request: Any) -> Any:
        body = dashboard_json(get_state(), targets())
        return web.bytes(body, content_type="application/json", headers=dict(_NO_STORE))
