"""``csla diff``: the same telemetry under two rule sets, and what changes (``engine.whatif``)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from engine.cli._rules import load_rule_sets

__all__ = ["diff_command"]


def diff_command(
    rules_a: Annotated[
        Path, typer.Option("--rules-a", help="Rules directory A: the rules in force.")
    ],
    rules_b: Annotated[
        Path, typer.Option("--rules-b", help="Rules directory B: the candidate rules.")
    ],
    input: Annotated[
        str, typer.Option("--input", "-i", help="JSONL/NDJSON file, .gz, or - for stdin.")
    ],
    until: Annotated[
        str | None, typer.Option(help="Close every window up to this RFC 3339 instant at the end.")
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option(
            "--json", metavar="FILE", help="Also write the diff as JSON (- : stdout only)."
        ),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Keep both replays' outputs in DIR/a and DIR/b (default: a temp dir)."),
    ] = None,
) -> None:
    """Replay the same telemetry under two rule sets and show what changes: breaches,
    compensation per contract and period, totals. Exit 2 if either rule set has errors."""
    from engine.adapters.manifest import IncompleteOutputs, OutputDirTaken
    from engine.core.calendar import parse_instant
    from engine.report.progress import Bars
    from engine.whatif import diff_rulesets

    messages = Console(stderr=True, soft_wrap=True)
    ruleset_a, ruleset_b = load_rule_sets(rules_a, rules_b)
    if input != "-" and not Path(input).is_file():
        raise typer.BadParameter(f"no such file: {input}", param_hint="--input")
    try:
        until_ms = parse_instant(until) if until else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--until") from None
    with tempfile.TemporaryDirectory(prefix="csla-diff-") as scratch:
        base = work_dir or Path(scratch)
        base.mkdir(parents=True, exist_ok=True)
        source = input
        if input == "-":  # replayed twice: keep a copy of stdin
            source = str(base / "input.ndjson")
            with open(source, "wb") as copy:
                shutil.copyfileobj(sys.stdin.buffer, copy)
        try:
            with Bars(console=messages) as bars:
                result = diff_rulesets(ruleset_a, ruleset_b, source, None, until_ms, base, bars)
        except (OutputDirTaken, IncompleteOutputs) as exc:
            messages.print(f"error: {exc}", style="red", markup=False, highlight=False)
            raise typer.Exit(2) from None
    result = replace(result, input=input, label_a=str(rules_a), label_b=str(rules_b))
    data = orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    if json_out is not None and str(json_out) == "-":
        sys.stdout.buffer.write(data + b"\n")
        sys.stdout.flush()
        return
    if json_out is not None:
        json_out.write_bytes(data + b"\n")
    result.render(Console(width=max(Console().width, 150)))
