"""``csla report``: the periodic assessment report of a month, as HTML + JSON files."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from engine.cli._rules import load_rules

__all__ = ["report_command"]


def report_command(
    period: Annotated[
        str, typer.Option(help="The month to report, YYYY-MM (periods that start in it).")
    ],
    out: Annotated[Path, typer.Option(help="Directory for report-<period>.html and .json.")] = Path(
        "out/report"
    ),
    rules: Annotated[Path, typer.Option(help="Rules directory.")] = Path("rules"),
    input: Annotated[
        str | None,
        typer.Option("--input", "-i", help="Telemetry to replay first: JSONL/NDJSON, .gz or -."),
    ] = None,
    from_outputs: Annotated[
        Path | None,
        typer.Option(help="An existing replay output directory (instead of --input)."),
    ] = None,
    contract: Annotated[str | None, typer.Option(help="Report one contract only.")] = None,
    until: Annotated[
        str | None, typer.Option(help="With --input: close every window up to this instant.")
    ] = None,
) -> None:
    """Periodic assessment report (§6.2.7) of one month: per contract the objectives with their
    measured values and verdicts, availability per day, latency over time, outages, error-budget
    burn-down, compensation with its arithmetic, scorecard and grade; one self-contained HTML
    file (no network needed to open it) and a JSON file with the same numbers.

    Exit 1 when there is nothing to report, 2 for bad arguments or rules.
    """
    from engine.adapters.manifest import IncompleteOutputs, require_manifest
    from engine.core.calendar import parse_instant
    from engine.report.build import ReportError, build_report
    from engine.report.records import read_outputs
    from engine.report.write import write_report

    if (input is None) == (from_outputs is None):
        typer.echo("error: give exactly one of --input and --from-outputs", err=True)
        raise typer.Exit(2)
    ruleset = load_rules(rules)
    source: dict[str, Any] = {"rules": str(rules)}
    if from_outputs is not None:
        try:
            require_manifest(from_outputs)
            outputs = read_outputs(from_outputs)
        except (IncompleteOutputs, FileNotFoundError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        source["outputs"] = str(from_outputs)
    else:
        from engine.adapters.files import replay
        from engine.report.progress import Bars

        assert input is not None
        try:
            until_ms = parse_instant(until) if until else None
        except ValueError as exc:
            typer.echo(f"error: --until: {exc}", err=True)
            raise typer.Exit(2) from None
        with tempfile.TemporaryDirectory(prefix="csla-report-") as scratch:
            replayed = Path(scratch) / "replay"
            with Bars() as bars:
                replay(
                    ruleset,
                    input,
                    replayed,
                    None,  # replay's clock: the input's own time
                    until_ms=until_ms,
                    on_chunk=bars.add("replay", input),
                )
            require_manifest(replayed)
            outputs = read_outputs(replayed)
        source["input"] = input
        if until:
            source["until"] = until
    try:
        report = build_report(outputs, period, ruleset=ruleset, contract=contract, source=source)
    except ReportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    json_path, html_path = write_report(report, out)
    s = report["summary"]
    typer.echo(
        f"{s['contracts']} contract(s), {s['objectives_met']}/{s['objectives']} objectives met, "
        f"{s['breaches']} breach(es) → {html_path} and {json_path}"
    )
