"""The one "load the rules or exit 2" of every command that reads rule files.

Every issue of every file goes to stderr (errors red, warnings yellow), as ``csla validate``
words it (``file:line:col: severity: field: message``); with any error, one more line says
where and what to do, and the command exits 2 before doing any work.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from engine.cli._console import say

if TYPE_CHECKING:
    from engine.core.contract import Ruleset
    from engine.ruleset import LoadReport

__all__ = ["checked_paths", "load_rule_sets", "load_rules"]


def _shown(report: LoadReport, where: str) -> bool:
    """Print the report's issues; True when the rules have no errors."""
    for issue in report.issues:
        say(str(issue), style="red" if issue.severity == "error" else "yellow")
    if not report.ok:
        say(f"rules in {where} have errors; fix them first (csla validate)", style="red")
    return report.ok


def load_rules(rules: Path) -> Ruleset:
    """The rule set of the directory ``rules``, or exit 2 after saying every problem."""
    return load_rule_sets(rules)[0]


def load_rule_sets(*directories: Path) -> list[Ruleset]:
    """One rule set per directory; with errors in any, every directory's problems are said
    before the exit (``csla diff`` compares two)."""
    from engine.ruleset import ParseCache, load_rules_dir

    cache_dir = _rules_cache_dir()
    cache = ParseCache(cache_dir) if cache_dir else None
    ok = True
    rulesets = []
    for directory in directories:
        report = load_rules_dir(directory, cache=cache)
        ok = _shown(report, str(directory)) and ok
        rulesets.append(report.ruleset)
    if not ok:
        raise typer.Exit(2)
    from engine.adapters.memory import freeze_heap

    freeze_heap()  # the rules and the modules live as long as the command
    return rulesets


def _rules_cache_dir() -> Path | None:
    """``CSLA_RULES_CACHE_DIR`` as the worker reads it (unset: no cache).  The settings are
    imported only when it is set: pydantic-settings costs every command ~70 ms to import."""
    if not any(name.upper() == "CSLA_RULES_CACHE_DIR" for name in os.environ):
        return None
    from pydantic import ValidationError

    from engine.settings import Settings

    try:
        return Settings().rules_cache_dir
    except ValidationError:  # another CSLA_* setting is wrong: the worker's to report
        return None


def checked_paths(paths: Sequence[Path]) -> LoadReport:
    """The report of rule files and directories that must hold at least one file and no
    errors (a command that works on the files themselves, e.g. ``csla openslo export``)."""
    from engine.ruleset import validate_paths

    where = ", ".join(str(path) for path in paths)
    report = validate_paths(paths)
    if not _shown(report, where):
        raise typer.Exit(2)
    if not report.files:
        say(f"no rule files in {where}; nothing to do", style="red")
        raise typer.Exit(2)
    return report
