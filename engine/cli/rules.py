"""``csla validate``: every problem of every rule file, then one exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["validate"]


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
