"""The commands' stderr console and the small helpers every command shares."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

__all__ = ["console", "fail", "instant_option", "say"]

# stderr: stdout stays for what a command is asked to print (NDJSON, SLO files, JSON)
console = Console(stderr=True)


def say(line: str, style: str | None = None) -> None:
    """One line on stderr as written: no markup, no emoji codes, not wrapped (so that a
    ``file:line:col`` stays on one line)."""
    console.print(line, style=style, markup=False, emoji=False, highlight=False, soft_wrap=True)


def fail(line: str, code: int = 2) -> NoReturn:
    """``error: <line>`` on stderr and exit ``code`` (2: the user can fix it)."""
    say(f"error: {line}", style="red")
    raise typer.Exit(code)


def instant_option(name: str, value: str | None) -> int | None:
    """An RFC 3339 option as epoch ms; a bad one is one line and exit 2."""
    from engine.core.calendar import parse_instant

    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        fail(f"{name} {value!r}: {exc}")
