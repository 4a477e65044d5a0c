"""``csla openslo export|import``: rule files ↔ OpenSLO SLOs (``engine.openslo``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from engine.cli._rules import checked_paths

__all__ = ["openslo_app"]

openslo_app = typer.Typer(
    no_args_is_help=True,
    help="OpenSLO in and out: SLOs for Prometheus, Sloth and Pyrra; SLOs to rule files.",
)


@openslo_app.command("export")
def export_command(
    rules: Annotated[list[Path], typer.Argument(help="Rule files or directories.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Directory for one SLO file per objective; without it, stdout."),
    ] = None,
) -> None:
    """Write an openslo/v1alpha SLO for every objective OpenSLO can express (Sloth reads them:
    `csla openslo export rules/ | sloth generate -i /dev/stdin`). The objectives left out are
    listed on stderr with the reason; the rest of the contract rides in annotations."""
    from engine.openslo.export import export_rule_files, render, specs_of, write

    result = export_rule_files(specs_of(checked_paths(rules)))
    for skipped in result.skipped:
        typer.echo(
            f"not exported: {skipped.contract_id} {skipped.objective_id} ({skipped.sli}): "
            f"{skipped.reason}",
            err=True,
        )
    if out is None:
        sys.stdout.write("".join("---\n" + render(doc) for _, doc in result.documents))
    else:
        written = write(result, out)
        typer.echo(f"{len(written)} SLO file(s) in {out}", err=True)


@openslo_app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="OpenSLO YAML files or directories.")],
    out: Annotated[Path, typer.Option(help="Directory for the csla/v1 rule files.")],
) -> None:
    """Turn OpenSLO SLOs into csla/v1 rule files: objectives, thresholds and the period from
    OpenSLO; FILL-IN placeholders where CSLA needs more (csla validate reports them)."""
    from engine.openslo.importer import FILL_IN, import_documents, read_documents, write

    missing = [str(f) for f in files if not f.exists()]
    if missing:
        typer.echo(f"no such file or directory: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    try:
        imported = import_documents(read_documents(files))
    except (ValueError, OSError) as exc:  # YAML errors are ValueErrors
        typer.echo(f"cannot read the OpenSLO files: {exc}", err=True)
        raise typer.Exit(2) from None
    for note in imported.notes:
        typer.echo(note, err=True)
    if not imported.rules:
        typer.echo("no OpenSLO SLO found", err=True)
        raise typer.Exit(1)
    for path in write(imported, out):
        todo = path.read_text(encoding="utf-8").count(f"{FILL_IN}:")
        typer.echo(f"{path}" + (f": {todo} {FILL_IN} placeholder(s)" if todo else ""), err=True)
