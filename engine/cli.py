"""``csla``: the command line. Thin: parses arguments, builds settings, calls adapters."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from engine.dashboard.command import dashboard_command
from engine.evidence import evidence_command
from engine.report import report_command
from engine.whatif import diff_command

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
schema_app = typer.Typer(no_args_is_help=True, help="JSON Schema files of the wire formats.")
app.add_typer(schema_app, name="schema")
console = Console(stderr=True)
DEFAULT_START = "2026-10-01T00:00:00+08:00"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _load_rules(rules: Path) -> Any:
    from engine.ruleset import load_rules_dir

    report = load_rules_dir(rules)
    for issue in report.issues:
        console.print(
            str(issue), style="red" if issue.severity == "error" else "yellow", markup=False
        )
    if not report.ok:
        console.print(f"[red]rules in {rules} have errors; fix them first (csla validate)[/red]")
        raise typer.Exit(2)
    return report.ruleset


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Rule files or directories.")],
) -> None:
    """Check rule files: every problem of every file, with file:line:column. Exit 1 on errors."""
    from engine.ruleset import validate_paths

    report = validate_paths(paths)
    errors = [i for i in report.issues if i.severity == "error"]
    warnings = [i for i in report.issues if i.severity != "error"]
    for issue in errors:
        typer.echo(str(issue))
    for issue in warnings:
        typer.echo(str(issue))
    typer.echo(f"{len(errors)} error(s), {len(warnings)} warning(s)")
    raise typer.Exit(1 if errors else 0)


@app.command()
def replay(
    input: Annotated[
        str, typer.Option("--input", "-i", help="JSONL/NDJSON file, .gz, or - for stdin.")
    ],
    out: Annotated[Path, typer.Option(help="Directory for the output JSONL files.")] = Path("out"),
    rules: Annotated[Path, typer.Option(help="Rules directory.")] = Path("rules"),
    until: Annotated[
        str | None, typer.Option(help="Close every window up to this RFC 3339 instant at the end.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar or table.")] = False,
) -> None:
    """Replay telemetry through the engine offline; write metrics, breaches, compensations…

    The outputs replace --out all at once, with a manifest.json, when the run completes: a
    failed or killed run leaves --out as it was."""
    from engine.adapters.files import replay as run_replay
    from engine.adapters.manifest import OutputDirTaken
    from engine.core.calendar import parse_instant

    ruleset = _load_rules(rules)
    plain = input != "-" and os.path.exists(input) and not input.endswith(".gz")
    size = os.path.getsize(input) if plain else None
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        disable=quiet,
    )
    started = time.perf_counter()
    with progress:
        task = progress.add_task("replay", total=size)
        try:
            result = run_replay(
                ruleset,
                input,
                out,
                _now_ms(),
                until_ms=parse_instant(until) if until else None,
                on_chunk=lambda n: progress.advance(task, n),
            )
        except OutputDirTaken as exc:
            progress.stop()
            console.print(f"error: {exc}", style="red", markup=False, highlight=False)
            raise typer.Exit(2) from None
    elapsed = time.perf_counter() - started
    if not quiet:
        _summary(result, out, elapsed, ruleset)


def _summary(result: Any, out: Path, elapsed: float, ruleset: Any = None) -> None:
    """The replay's books and one row per contract, objective and period: the period named in
    the contract's time zone (``October 2026``), the target as written (``≥ 99.5 %``)."""
    from engine.report.display import period_label, quantity, target_text

    stats = result.stats
    console.print(
        f"{stats.get('events_in', 0):,} lines in {elapsed:.1f} s: {stats.get('accepted', 0):,} accepted, "
        f"{stats.get('duplicates', 0):,} duplicates, {stats.get('late', 0):,} late, "
        f"{stats.get('dead_letters', 0):,} dead letters → {out}/"
    )
    table = Table(title="Compliance per contract, objective and closed period")
    for col in ("contract", "objective", "period", "observed", "target", "breaches", "credit"):
        table.add_column(col)
    breaches: dict[tuple[str, str], int] = {}
    for b in result.outputs.breaches:
        if b["status"] == "opened":
            key = (b["contract_id"], b["objective_id"])
            breaches[key] = breaches.get(key, 0) + 1
    comps = {
        (c["contract_id"], c["objective_id"], c["period_start"]): c
        for c in result.outputs.compensations
    }
    for m in result.outputs.metrics:
        key = (m["contract_id"], m["objective_id"])
        comp = comps.get((*key, m["period_start"]))
        value = comp["observed"] if comp else m["period_value"]
        credit = f"{comp['credit_amount']} {comp['currency']}" if comp else "-"
        contract = ruleset.latest(m["contract_id"]) if ruleset is not None else None
        tz = contract.tz if contract is not None else "UTC"
        objective = next(
            (o for o in (contract.objectives if contract else ()) if o.id == m["objective_id"]),
            None,
        )
        target = (
            target_text(str(objective.comparator), float(objective.threshold), m["unit"])
            if objective is not None
            else None
        )
        table.add_row(
            m["contract_id"],
            m["objective_id"],
            period_label(m["period_start"], m["period_end"], tz) or m["period_start"][:10],
            quantity(value, m["unit"]),
            target or m["sli"],
            str(breaches.get(key, 0)),
            credit,
        )
    Console(width=max(Console().width, 150)).print(table)


@app.command()
def simulate(
    out: Annotated[str, typer.Option(help="Output file (.ndjson or .gz) or - for stdout.")] = "-",
    rules: Annotated[Path, typer.Option(help="Rules directory.")] = Path("rules"),
    start: Annotated[str, typer.Option(help="First event time (RFC 3339).")] = DEFAULT_START,
    days: Annotated[float, typer.Option(help="Days of telemetry.")] = 31.5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    faults: Annotated[
        bool, typer.Option(help="Inject outages, late, duplicate, bad lines.")
    ] = True,
) -> None:
    """Realistic seeded telemetry for the contracts in the rules directory."""
    import gzip

    from engine.core.calendar import parse_instant
    from engine.simulate import simulate as generate

    ruleset = _load_rules(rules)
    lines = generate(ruleset, start_ms=parse_instant(start), days=days, seed=seed, faults=faults)
    if out == "-":
        sink = sys.stdout.buffer
        for line in lines:
            sink.write(line + b"\n")
        sink.flush()
        return
    opener = gzip.open if out.endswith(".gz") else open
    count = 0
    with opener(out, "wb") as handle:  # type: ignore[operator]
        for line in lines:
            handle.write(line + b"\n")
            count += 1
    console.print(f"{count:,} lines → {out}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Directory for the outputs.")] = Path("out/demo"),
    rules: Annotated[Path, typer.Option(help="Rules directory.")] = Path("rules"),
    days: Annotated[float, typer.Option(help="Days of simulated telemetry.")] = 31.5,
) -> None:
    """Simulate a month of telemetry for the bundled contracts and replay it (no broker)."""
    # beside the outputs, not in them: a replay replaces its whole output directory
    telemetry = out.parent / f"{out.name}-telemetry.ndjson.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    (out / "telemetry.ndjson.gz").unlink(missing_ok=True)  # where earlier demos put it
    console.print(f"[bold]1/2 simulate[/bold] {days} days from {DEFAULT_START} → {telemetry}")
    simulate(out=str(telemetry), rules=rules, start=DEFAULT_START, days=days, seed=7, faults=True)
    console.print(f"[bold]2/2 replay[/bold] {telemetry} → {out}/")
    replay(input=str(telemetry), out=out, rules=rules, until=None, quiet=False)


@schema_app.command("export")
def schema_export(
    directory: Annotated[Path, typer.Option(help="Target directory.")] = Path("schemas"),
) -> None:
    """Write the JSON Schema files from the models."""
    from engine.schemas import export

    for path in export(directory):
        typer.echo(str(path))


@schema_app.command("check")
def schema_check(
    directory: Annotated[Path, typer.Option(help="Directory to compare.")] = Path("schemas"),
) -> None:
    """Exit 1 if the committed schema files differ from the models."""
    from engine.schemas import drift

    problems = drift(directory)
    for problem in problems:
        typer.echo(problem)
    raise typer.Exit(1 if problems else 0)


@app.command()
def produce(
    input: Annotated[Path, typer.Option("--input", "-i", help="NDJSON file to send.")],
    batch: Annotated[
        int, typer.Option(help="Events per Kafka message (1 = single events).")
    ] = 1000,
) -> None:
    """Send an NDJSON file to the telemetry topic (settings from CSLA_* env)."""
    import asyncio

    from engine.adapters.kafka.produce import produce_file
    from engine.settings import Settings

    sent = asyncio.run(produce_file(Settings(), input, batch_events=batch))
    console.print(f"{sent:,} events sent")


@app.command()
def worker() -> None:
    """Run the streaming engine as a Faust worker on Kafka (settings from CSLA_* env)."""
    from engine.adapters.kafka.app import run_worker
    from engine.settings import Settings

    run_worker(Settings())


app.command("diff")(diff_command)
app.command("evidence")(evidence_command)
app.command("report")(report_command)
app.command("dashboard")(dashboard_command)


def main() -> None:
    app()
