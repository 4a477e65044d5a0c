"""``csla init``: the example rule files and a commented settings file to start from."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli._console import console

__all__ = ["SETTINGS_FILE", "init", "settings_file_text"]

SETTINGS_FILE = "csla.env"


def settings_file_text() -> str:
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
    files[directory / SETTINGS_FILE] = settings_file_text().encode()
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
