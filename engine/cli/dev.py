"""``csla dev …``: tools for developers of the engine, not for running it (``engine.dev``)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from engine.cli._console import console, fail, say

__all__ = ["dev_app"]

dev_app = typer.Typer(
    no_args_is_help=True,
    help="For developers of the engine: a local Kafka broker, rule sets for benchmarks.",
)


@dev_app.command("broker")
def broker(
    port: Annotated[
        int | None, typer.Option(help="PLAINTEXT port on 127.0.0.1 (default: a free one).")
    ] = None,
    controller_port: Annotated[
        int | None, typer.Option(help="KRaft controller port (default: a free one).")
    ] = None,
) -> None:
    """Run a throw-away single-node Apache Kafka (KRaft) on 127.0.0.1 until Ctrl-C; print its
    bootstrap address. Needs Java 17+; the first run downloads its jars with Maven (cached in
    ~/.cache/csla-engine, or CSLA_KAFKA_LIBS). Stopping deletes its data. Exit 1 if the broker
    exits by itself, 2 if it cannot start."""
    from engine.dev.local_broker import KAFKA_VERSION, KafkaUnavailableError, LocalKafka

    def _on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    typer.echo(f"starting Apache Kafka {KAFKA_VERSION} (the first run downloads its jars)")
    try:
        with LocalKafka(port=port, controller_port=controller_port) as kafka:
            typer.echo(
                f"ready in {kafka.startup_s:.1f} s\n"
                f"bootstrap: {kafka.bootstrap}\n"
                f"log: {kafka.log_path}\n"
                "Ctrl-C stops it and deletes its data"
            )
            while kafka.running:
                time.sleep(0.5)
            say(f"the broker exited; last lines of its log:\n{kafka.log_tail()}", style="red")
            raise typer.Exit(1)
    except KeyboardInterrupt:
        typer.echo("stopped")
    except KafkaUnavailableError as exc:
        fail(str(exc))


@dev_app.command("clone-rules")
def clone_rules(
    src: Annotated[Path, typer.Argument(metavar="SRC", help="Directory of rule files to clone.")],
    dst: Annotated[
        Path, typer.Argument(metavar="DST", help="Directory for the clones (made if missing).")
    ],
    copies: Annotated[int, typer.Option(min=1, help="Number of rule files to write.")] = 1000,
) -> None:
    """Write --copies rule files into DST, cloned round-robin from the rule files in SRC, each
    with a new contract id (gpu-train-001-c0001, maas-api-001-c0002, …): rule sets of any size
    for benchmarks."""
    from engine.dev.clone import clone_ruleset_files

    try:
        written = clone_ruleset_files(src, dst, copies)
    except ValueError as exc:  # no rule files, or one without a contract id
        fail(str(exc))
    console.print(f"{len(written):,} rule files → {dst}", markup=False, highlight=False)
