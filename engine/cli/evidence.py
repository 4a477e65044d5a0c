"""``csla evidence``: the evidence pack of one breach or compensation, for a dispute."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli._rules import load_rules

__all__ = ["evidence_command"]


def evidence_command(
    record_id: Annotated[
        str, typer.Argument(metavar="ID", help="Breach id (breach:…) or compensation id (comp:…).")
    ],
    input: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="The telemetry replayed: JSONL/NDJSON, .gz, or - for stdin."
        ),
    ],
    rules: Annotated[Path, typer.Option(help="Rules directory.")] = Path("rules"),
    until: Annotated[
        str | None,
        typer.Option(help="Close every window up to this RFC 3339 instant, as replay --until did."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Directory for the pack (<id>.json and <id>.html).")
    ] = Path("out/evidence"),
) -> None:
    """Evidence pack for a dispute (§6.2.6): the facts behind a breach or compensation and a
    recomputation of its value, as self-contained JSON + HTML.

    Exit 1 for an unknown id, 2 for bad rules or --until, 3 when the recomputation does not
    match the recorded value (the pack is written all the same).
    """
    from engine.core.calendar import parse_instant
    from engine.evidence import EvidenceError, build_evidence, write_pack
    from engine.report.progress import Bars

    ruleset = load_rules(rules)
    try:
        until_ms = parse_instant(until) if until else None
    except ValueError as exc:
        typer.echo(f"error: --until: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        with Bars() as bars:
            evidence = build_evidence(
                ruleset,
                input,
                record_id,
                None,  # replay's clock: the input's own time (README: Replay's clock)
                until_ms=until_ms,
                bars=bars,
            )
    except (EvidenceError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    json_path, html_path = write_pack(evidence, out)
    typer.echo(f"input: {evidence['input']['read']}", err=True)
    verdict = "matches" if evidence["matches"] else "DOES NOT MATCH"
    for value in evidence["recomputation"]["values"]:
        typer.echo(f"{value['record']}: {value['summary']}")
    comp = evidence["recomputation"]["compensation"]
    if comp:
        typer.echo(f"compensation: {comp['arithmetic']}")
    typer.echo(f"recomputation {verdict} the recorded value → {json_path}, {html_path}")
    if not evidence["matches"]:
        raise typer.Exit(3)
