"""``csla dashboard``: serve the live dashboard over a replay output directory, or snapshot it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli._rules import load_rules

__all__ = ["dashboard_command"]


def dashboard_command(
    outputs: Annotated[
        Path, typer.Option(help="A replay output directory (metrics.jsonl, breaches.jsonl…).")
    ],
    host: Annotated[str, typer.Option(help="Address to bind (local only by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8050,
    rules: Annotated[
        Path, typer.Option(help="Rules directory for the objectives' targets (if it exists).")
    ] = Path("rules"),
    static: Annotated[
        Path | None,
        typer.Option(help="Write one self-contained HTML snapshot to this file and exit."),
    ] = None,
    interval: Annotated[float, typer.Option(help="Seconds between the page's updates.")] = 2.0,
) -> None:
    """Live read-only dashboard over replay outputs: contracts, current compliance, open
    breaches, budget left, recent compensations; the page updates itself without a reload.
    The directory must hold a complete replay (its manifest.json); a new replay into it
    shows up as soon as it completes."""
    from engine.adapters.manifest import IncompleteOutputs, require_manifest
    from engine.dashboard.serve import OutputsFeed, make_server, static_page
    from engine.dashboard.state import targets_from_ruleset, zones_from_ruleset

    if not outputs.is_dir():
        typer.echo(f"error: {outputs} is not a directory", err=True)
        raise typer.Exit(2)
    try:
        require_manifest(outputs)
    except IncompleteOutputs as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    targets = zones = None
    if rules.is_dir():
        ruleset = load_rules(rules)
        targets = targets_from_ruleset(ruleset)
        zones = zones_from_ruleset(ruleset)
    if static is not None:
        static.parent.mkdir(parents=True, exist_ok=True)
        static.write_text(static_page(outputs, targets, zones), encoding="utf-8")
        typer.echo(f"dashboard snapshot of {outputs} → {static}")
        return
    from engine.settings import Settings

    server = make_server(
        OutputsFeed(outputs),
        host,
        port,
        targets=targets,
        zones=zones,
        interval_ms=round(interval * 1000),
        token=Settings().web_token,  # CSLA_WEB_TOKEN, as on the worker
    )
    bound_host, bound_port = str(server.server_address[0]), server.server_address[1]
    typer.echo(
        f"dashboard of {outputs} on http://{bound_host}:{bound_port}/dashboard (Ctrl-C stops)"
    )
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
