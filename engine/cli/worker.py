"""``csla worker``: the streaming engine on Kafka; its --help lists every ``CSLA_*`` setting."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand

__all__ = ["WorkerCommand", "settings_help", "worker"]


class WorkerCommand(TyperCommand):
    """The worker command, whose epilog (the settings) is written only when its help is: the
    settings import pydantic-settings and asyncio (~70 ms), which no other command needs."""

    @property  # type: ignore[override]
    def epilog(self) -> str:
        return settings_help()

    @epilog.setter
    def epilog(self, value: str | None) -> None:
        """(Click sets it when the command is made: the settings above stand instead.)"""


def settings_help() -> str:
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
    from engine.adapters.memory import freeze_heap
    from engine.settings import Settings

    freeze_heap()  # the modules live as long as the worker
    run_worker(Settings(_env_file=settings) if settings else Settings())
