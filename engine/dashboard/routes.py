"""The dashboard on the worker's web server: ``/dashboard`` (the page) and ``/dashboard.json``.

``register_routes`` adds both pages to a Faust app. It reads the state through ``get_state``
(the worker keeps a ``Feed`` of the records it publishes), the objectives' targets through
``get_ruleset`` (the rule set in force, which a reload may replace) and the quarantined
contracts through ``get_quarantined`` (contract id → reason), so the routes hold no state of
their own. Read-only: both are GET pages, and neither reaches Kafka.

Access (``CSLA_WEB_TOKEN``, SECURITY.md): with a token set, both pages answer 401 with
``WWW-Authenticate: Bearer`` and no body details unless the request carries
``Authorization: Bearer <token>``; the page, and only the page, also takes the token once as
``?access_token=`` (RFC 6750 §2.3) so that a browser can open it, and its script then sends the
header. Tokens are compared in constant time and never logged (neither web server here keeps an
access log). ``/metrics`` and ``/health`` are not behind the token: scrapers and probes must
reach them, and they carry counts and contract ids, never telemetry or money.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from engine.dashboard.page import render_page
from engine.dashboard.state import (
    Quarantined,
    State,
    Targets,
    Zones,
    targets_from_ruleset,
    view,
    zones_from_ruleset,
)

if TYPE_CHECKING:
    from pydantic import SecretStr

    from engine.core.contract import Ruleset

# The token may sit in the page's URL: never cached, never sent on as a Referer.
NO_STORE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
CHALLENGE = {"WWW-Authenticate": "Bearer", **NO_STORE}
UNAUTHORIZED_BODY = b"401 Unauthorized\n"
TOKEN_QUERY = "access_token"


def token_bytes(token: SecretStr | str | None) -> bytes | None:
    """The expected token as bytes; ``None`` (no protection) when unset or blank."""
    if token is None:
        return None
    text = token if isinstance(token, str) else token.get_secret_value()
    return text.encode() if text.strip() else None


def authorized(
    expected: bytes | None, authorization: str | None, query_token: str | None = None
) -> bool:
    """Whether a request may see the dashboard: no token configured, or ``Authorization:
    Bearer <token>`` (scheme case-insensitive, RFC 6750 §2.1), or else ``query_token`` (the
    page's ``?access_token=``), equal to ``expected``; compared in constant time."""
    if expected is None:
        return True
    given: str | None = None
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            given = credentials.strip()
    if given is None:
        given = query_token
    if not given:
        return False
    # Digests first, so that not even the token's length shows in the time taken.
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected).digest()
    )


def utc_now() -> str:
    """Wall time for the ``served_at`` of a response (the shell reads the clock, not the core)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def targets_of(
    get_ruleset: Callable[[], Ruleset | None] | None,
) -> Callable[[], tuple[Targets | None, Zones | None]]:
    """``get_ruleset`` as (targets, zones), recomputed only when the rule set object changes."""
    memo: dict[str, Any] = {"ruleset": None, "targets": None, "zones": None}

    def get() -> tuple[Targets | None, Zones | None]:
        ruleset = get_ruleset() if get_ruleset else None
        if ruleset is None:
            return None, None
        if memo["ruleset"] is not ruleset:
            memo.update(
                ruleset=ruleset,
                targets=targets_from_ruleset(ruleset),
                zones=zones_from_ruleset(ruleset),
            )
        return memo["targets"], memo["zones"]

    return get


def dashboard_json(
    state: State,
    targets: Targets | None,
    quarantined: Quarantined | None = None,
    zones: Zones | None = None,
    books: dict[str, int] | None = None,
) -> bytes:
    data = view(state, targets, quarantined, zones, books)
    data["served_at"] = utc_now()
    return orjson.dumps(data)


def quarantined_ids(get_quarantined: Callable[[], Quarantined] | None) -> list[str]:
    """The quarantined contracts' ids, sorted, for ``/health`` (open: ids only, no reasons)."""
    return sorted(get_quarantined() if get_quarantined else ())


def register_routes(
    app: Any,
    get_state: Callable[[], State],
    get_ruleset: Callable[[], Ruleset | None] | None = None,
    *,
    interval_ms: int = 2000,
    token: SecretStr | str | None = None,
    get_quarantined: Callable[[], Quarantined] | None = None,
) -> None:
    """Add ``/dashboard`` and ``/dashboard.json`` to the Faust ``app``; with ``token``, both
    require it (see the module docstring)."""
    page = render_page(interval_ms=interval_ms)
    targets = targets_of(get_ruleset)
    expected = token_bytes(token)

    def denied(web: Any) -> Any:
        return web.bytes(
            UNAUTHORIZED_BODY, content_type="text/plain", status=401, headers=dict(CHALLENGE)
        )

    @app.page("/dashboard")
    async def dashboard(web: Any, request: Any) -> Any:
        query = request.query.get(TOKEN_QUERY)
        if not authorized(expected, request.headers.get("Authorization"), query):
            return denied(web)
        return web.html(page, headers=dict(NO_STORE))

    @app.page("/dashboard.json")
    async def dashboard_data(web: Any, request: Any) -> Any:
        if not authorized(expected, request.headers.get("Authorization")):
            return denied(web)
        quarantined = get_quarantined() if get_quarantined else None
        known, zones = targets()
        body = dashboard_json(get_state(), known, quarantined, zones)
        return web.bytes(body, content_type="application/json", headers=dict(NO_STORE))
