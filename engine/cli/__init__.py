"""``csla``: the command line. Thin: parses arguments, builds settings, calls adapters.

One module per command family; ``app`` puts them together and ``main`` is the console script
(``csla``, ``python -m engine``). Every command that reads a rules directory loads it through
``engine.cli._rules``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from engine.cli._console import console
from engine.cli.dashboard import dashboard_command
from engine.cli.dev import dev_app
from engine.cli.diff import diff_command
from engine.cli.evidence import evidence_command
from engine.cli.init import init
from engine.cli.openslo import openslo_app
from engine.cli.report import report_command
from engine.cli.rules import validate
from engine.cli.run import demo, replay, simulate
from engine.cli.wire import consume, produce, schema_app
from engine.cli.worker import WorkerCommand, worker

__all__ = ["USER_HELP", "app", "main"]

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
app.add_typer(schema_app, name="schema")
app.command()(validate)
app.command()(replay)
app.command()(simulate)
app.command()(demo)
app.command()(produce)
app.command()(consume)
app.command(cls=WorkerCommand)(worker)
app.command()(init)
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
# last, in a panel of its own: users can pass it by
app.add_typer(dev_app, name="dev", rich_help_panel="For developers")


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
