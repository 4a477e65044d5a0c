"""A report on disk: ``report-<period>[-<contract>].json`` and ``.html``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.report.html import render_html


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``report-<period>[-<contract>].json`` and ``.html`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"report-{report['period']}"
    if report.get("contract_filter"):
        stem += f"-{report['contract_filter']}"
    json_path, html_path = out / f"{stem}.json", out / f"{stem}.html"
    json_path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
