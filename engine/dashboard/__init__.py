"""The live, read-only dashboard: contracts, current compliance, open breaches, error budget
left, burn-rate warnings, recent compensations and grades, redrawn without a reload.

``state`` folds output records into the dashboard's state (pure); ``page`` is the HTML page and
its script; ``routes.register_routes`` serves it from the Kafka worker's web server;
``serve`` serves it over a replay output directory (``csla dashboard``) or writes a snapshot.
"""

from engine.dashboard.page import render_page
from engine.dashboard.routes import register_routes
from engine.dashboard.state import (
    Feed,
    empty_state,
    fold,
    targets_from_ruleset,
    view,
    zones_from_ruleset,
)

__all__ = [
    "Feed",
    "empty_state",
    "fold",
    "register_routes",
    "render_page",
    "targets_from_ruleset",
    "view",
    "zones_from_ruleset",
]
