"""The wire: ``csla produce`` and ``csla consume`` on Kafka topics, ``csla schema`` of the
formats (settings from ``CSLA_*``)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from engine.cli._console import console

__all__ = ["consume", "produce", "schema_app"]

schema_app = typer.Typer(no_args_is_help=True, help="JSON Schema files of the wire formats.")


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
