"""``csla``: the command line. Thin: parses arguments, builds settings, calls adapters."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


@app.command()
def worker() -> None:
    """Run the streaming engine as a Faust worker on Kafka (settings from CSLA_* env)."""
    from engine.adapters.kafka.app import run_worker
    from engine.settings import Settings

    run_worker(Settings())


def main() -> None:
    app()
