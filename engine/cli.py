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
from engine.openslo.command import openslo_app
from engine.report import report_command
from engine.whatif import diff_command

# for users (--help): one line per paragraph, the terminal wraps them
USER_HELP = "\n\n".join(
    (
        "CSLA Engine: checks computing-power services against their SLA contracts.",
        "Each contract is a YAML rule file (CSLA standard). From the services' telemetry the "
        "engine computes every objective's metrics, the breaches, the compensations that "
        "billing pays, and scorecards: offline from a file (replay), or streaming on Kafka "
        "(worker).",
        "Start with: csla init (example rules and a settings file), csla demo (a simulated "
        "month, no broker needed), csla validate rules/. Every command has --help.",
    )
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help=USER_HELP)
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
        str, typer.Option("--input", "-i", help="JSONL/NDJSON file, .gz, - for stdin, or Parquet (a file or a directory of parts).")
    ],
    out: Annotated[Path, typer.Option(help="Directory for the output JSONL files.")] = Path("out"),
    rules: Annotated[Path, typer.Option(help="Rules directory.")] = Path("rules"),
    until: Annotated[
        str | None, typer.Option(help="Close every window up to this RFC 3339 instant at the end.")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar or table.")] = False,
    now: Annotated[
        str | None,
        typer.Option(
            help="The engine clock, an RFC 3339 instant: events more than 10 minutes after it "
            "are dead letters, as on a worker running at that time. Default: no such bound "
            "(the input's own event time is the clock), so a replay gives the same outputs "
            "on any day."
        ),
    ] = None,
) -> None:
    """Replay telemetry through the engine offline; write metrics, breaches, compensations…

    The outputs replace --out all at once, with a manifest.json, when the run completes: a
    failed or killed run leaves --out as it was. The wall clock is never read: the same
    input and rules give the same outputs on any day."""
    from engine.adapters.files import replay as run_replay
    from engine.adapters.manifest import OutputDirTaken

    now_ms = _instant_option("--now", now)
    until_ms = _instant_option("--until", until)
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
                now_ms,
                until_ms=until_ms,
                on_chunk=lambda n: progress.advance(task, n),
            )
        except OutputDirTaken as exc:
            progress.stop()
            console.print(f"error: {exc}", style="red", markup=False, highlight=False)
            raise typer.Exit(2) from None
    elapsed = time.perf_counter() - started
    if not quiet:
        _summary(result, out, elapsed, ruleset)


def _instant_option(name: str, value: str | None) -> int | None:
    """An RFC 3339 option as epoch ms; a bad one is one line and exit 2."""
    from engine.core.calendar import parse_instant

    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        console.print(f"error: {name} {value!r}: {exc}", style="red", markup=False)
        raise typer.Exit(2) from None


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
    rules: Annotated[
        Path | None,
        typer.Option(help="Rules directory. Default: ./rules, else the packaged examples."),
    ] = None,
    days: Annotated[float, typer.Option(help="Days of simulated telemetry.")] = 31.5,
) -> None:
    """Simulate a month of telemetry for the example contracts and replay it (no broker)."""
    if rules is None:
        rules = Path("rules")
        if not rules.is_dir():
            from engine.resources import example_rules_dir

            rules = example_rules_dir()
            console.print(
                f"no rules/ here: using the example contracts that ship with csla ({rules}); "
                "`csla init` copies them here to start from",
                markup=False,
                highlight=False,
            )
    _load_rules(rules)  # every problem now, not after simulating a month
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
    directory: Annotated[
        Path | None,
        typer.Option(help="Directory to compare. Default: the schemas that ship with csla."),
    ] = None,
) -> None:
    """Exit 1 if the schema files differ from the models."""
    from engine.resources import schemas_dir
    from engine.schemas import all_schemas, drift

    directory = schemas_dir() if directory is None else directory
    problems = drift(directory)
    for problem in problems:
        typer.echo(problem)
    if not problems:
        typer.echo(f"{len(all_schemas())} schema files in {directory} match the models")
    raise typer.Exit(1 if problems else 0)


@app.command()
def produce(
    input: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="Telemetry: NDJSON or JSON arrays, .gz or not, or - for stdin."
        ),
    ],
    batch: Annotated[
        int, typer.Option(help="Events per Kafka message (1 = single events).")
    ] = 1000,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Send telemetry to the telemetry topic, keyed by contract (settings from CSLA_* env).

    Reads its input like ``csla replay``: the count sent equals the replay's lines in."""
    import asyncio

    from rich.progress import TextColumn

    from engine.adapters.kafka.produce import Produced, produce_file
    from engine.settings import Settings

    settings = Settings()
    size = os.path.getsize(input) if input != "-" and os.path.isfile(input) else None
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[events]:,} events"),
        console=console,
        disable=quiet,
    )
    task = progress.add_task("produce", total=size, events=0)

    done = Produced()

    def show(now: Produced) -> None:
        nonlocal done
        done = now
        progress.start()  # at the first events sent, not before the input and broker answer
        progress.update(task, completed=now.input_bytes, events=now.events)

    started = time.perf_counter()
    try:
        sent = asyncio.run(produce_file(settings, input, batch_events=batch, on_progress=show))
    finally:
        progress.stop()
    console.print(
        f"{sent:,} events sent to {settings.topics.telemetry} in {done.messages:,} messages "
        f"({time.perf_counter() - started:.1f} s)"
    )


@app.command()
def consume(
    topic: Annotated[str, typer.Argument(help="Topic to read, e.g. csla.compensations.")],
    group: Annotated[
        str | None,
        typer.Option(help="Consumer group: resume from its offsets, commit after printing."),
    ] = None,
    from_beginning: Annotated[
        bool, typer.Option(help="Start at the earliest offset (where the group has none).")
    ] = False,
    until_idle: Annotated[
        float | None, typer.Option(help="Stop after this many seconds without a record.")
    ] = None,
    meta: Annotated[
        bool, typer.Option(help="Print {topic, partition, offset, timestamp, key, value}.")
    ] = False,
) -> None:
    """Print a topic's records as NDJSON on stdout, one value per line (settings from CSLA_*)."""
    import asyncio

    from engine.adapters.kafka.consume import consume as read_topic
    from engine.settings import Settings

    count = asyncio.run(
        read_topic(
            Settings(),
            topic,
            sys.stdout.buffer,
            group=group,
            from_beginning=from_beginning,
            until_idle_seconds=until_idle,
            meta=meta,
        )
    )
    console.print(f"{count:,} records from {topic}")


def _settings_help() -> str:
    """The worker's settings for its --help, from ``engine.settings`` (the one reference)."""
    import textwrap

    from rich.markup import escape

    from engine.settings import setting_docs

    lines = [
        "[bold]Settings[/bold]: environment variables, or NAME=value lines in a file given "
        "with --settings (csla init writes one to start from); the environment wins.",
        "",
    ]
    for doc in setting_docs():
        default = escape(doc.default) if doc.default else "unset"
        lines.append(f"[bold]{doc.env}[/bold]  (default: {default})")
        # wrapped here: help is at least 80 columns wide, and rich would not indent
        lines += textwrap.wrap(
            escape(doc.meaning),
            76,
            initial_indent="    ",
            subsequent_indent="    ",
            break_on_hyphens=False,
        )
    return "\n".join(lines)


@app.command(epilog=_settings_help())
def worker(
    settings: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            help="Settings file: CSLA_NAME=value lines (.env style).",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Run the streaming engine on Kafka: telemetry in, metrics, breaches, compensations out."""
    from engine.adapters.kafka.app import run_worker
    from engine.settings import Settings

    run_worker(Settings(_env_file=settings) if settings else Settings())


SETTINGS_FILE = "csla.env"


def _settings_file_text() -> str:
    """A settings file to start from: every setting commented out at its default."""
    import textwrap

    from engine.settings import setting_docs

    text = [
        "# CSLA Engine settings: NAME=value lines, the names of the environment variables.",
        f"# Use: csla worker --settings {SETTINGS_FILE}   (or: set -a; . ./{SETTINGS_FILE}; "
        "set +a)",
        "# Each setting is commented out at its default: uncomment the ones to change.",
        "# Environment variables win over this file. It may hold a password: keep it private.",
    ]
    for doc in setting_docs():
        text.append("")
        text += textwrap.wrap(
            doc.meaning, 98, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False
        )
        text.append(f"# {doc.env}={doc.default}")
    return "\n".join(text) + "\n"


@app.command()
def init(
    directory: Annotated[
        Path, typer.Argument(help="Where to write rules/ and the settings file.")
    ] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
) -> None:
    """Start here: write the example rule files and a commented settings file to edit."""
    from engine.resources import example_rules_dir

    examples = example_rules_dir()
    files: dict[Path, bytes] = {
        directory / "rules" / path.name: path.read_bytes()
        for path in sorted(examples.glob("*.yaml"))
    }
    files[directory / SETTINGS_FILE] = _settings_file_text().encode()
    taken = [path for path in files if path.exists()]
    if taken and not force:
        for path in taken:
            console.print(f"error: {path} exists", style="red", markup=False, highlight=False)
        console.print("nothing written: use --force to overwrite", markup=False)
        raise typer.Exit(2)
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        typer.echo(str(path))
    (directory / SETTINGS_FILE).chmod(0o600)
    where = "" if directory == Path(".") else f"cd {directory} && "
    typer.echo(
        f"next: {where}csla validate rules/ && csla demo, then edit rules/ and {SETTINGS_FILE}; "
        f"stream with: csla worker --settings {SETTINGS_FILE}"
    )


# short_help: the line of each in the command list (their docstrings are long)
app.command("diff", short_help="What-if: the same telemetry under two rule sets, compared.")(
    diff_command
)
app.command("evidence", short_help="Evidence pack of one breach or compensation (disputes).")(
    evidence_command
)
app.command("report", short_help="Monthly assessment report per contract (HTML + JSON).")(
    report_command
)
app.command("dashboard", short_help="Live dashboard over replay outputs (read-only).")(
    dashboard_command
)
app.add_typer(openslo_app, name="openslo")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"csla-engine {version('csla-engine')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            typer.echo("csla-engine (not installed)")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error, with its locals.")
    ] = False,
) -> None:
    # The app's one callback (a second would replace it). ``--debug`` is read by ``main``,
    # anywhere in the arguments; it is declared here for parsing and for ``csla --help``.
    pass


def main() -> None:
    """``csla``: every error a person can fix is one line and exit 2; ``--debug`` anywhere in
    the arguments shows the traceback, with local variables, instead."""
    import logging

    from engine.errors import explain

    # The Kafka client logs each failed connection; the error that ends a command says it
    # once. (A worker's log configuration still gets these records.)
    logging.getLogger("aiokafka").addHandler(logging.NullHandler())
    args = sys.argv[1:]
    debug = "--debug" in args
    try:
        # standalone: click ends usage errors (exit 2) and a closed stdout (exit 1, quietly)
        app(args=[a for a in args if a != "--debug"], prog_name="csla", standalone_mode=True)
    except Exception as exc:
        if debug:
            console.print_exception(show_locals=True)
        line = explain(exc)
        code = 1 if line is None else 2
        if line is None:  # a programmer error: still loud, its traceback one flag away
            line = f"unexpected error: {exc!r}" + ("" if debug else " (--debug shows where)")
        console.print(f"error: {line}", style="red", markup=False, highlight=False, soft_wrap=True)
        sys.exit(code)
