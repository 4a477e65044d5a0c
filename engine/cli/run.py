"""``csla replay``, ``csla simulate`` and ``csla demo``: the engine offline, no broker."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from engine.cli._console import console, fail, instant_option
from engine.cli._rules import load_rules
from engine.cli.summary import print_summary

__all__ = ["DEFAULT_START", "demo", "replay", "simulate"]

DEFAULT_START = "2026-10-01T00:00:00+08:00"


def replay(
    input: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="JSONL/NDJSON file, .gz, - for stdin, or Parquet (a file or a directory of parts).",
        ),
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

    now_ms = instant_option("--now", now)
    until_ms = instant_option("--until", until)
    ruleset = load_rules(rules)
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
            fail(str(exc))
    elapsed = time.perf_counter() - started
    if not quiet:
        print_summary(result, out, elapsed, ruleset)


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

    ruleset = load_rules(rules)
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
    load_rules(rules)  # every problem now, not after simulating a month
    # beside the outputs, not in them: a replay replaces its whole output directory
    telemetry = out.parent / f"{out.name}-telemetry.ndjson.gz"
    out.parent.mkdir(parents=True, exist_ok=True)
    (out / "telemetry.ndjson.gz").unlink(missing_ok=True)  # where earlier demos put it
    console.print(f"[bold]1/2 simulate[/bold] {days} days from {DEFAULT_START} → {telemetry}")
    simulate(out=str(telemetry), rules=rules, start=DEFAULT_START, days=days, seed=7, faults=True)
    console.print(f"[bold]2/2 replay[/bold] {telemetry} → {out}/")
    replay(input=str(telemetry), out=out, rules=rules, until=None, quiet=False)
