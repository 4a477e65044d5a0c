"""Building blocks of the report page: number formats, escaped cells, tables, local times."""

from __future__ import annotations

import html
from typing import Any

from engine.core.calendar import local_iso, parse_instant

_SYMBOL = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
_UNIT = {"percent": "%", "ms": "ms", "minutes": "min", "hours": "h", "count": ""}


def fmt(value: Any, unit: str | None = None) -> str:
    """A number as the page shows it: percents with 3 decimals, ms with 1, others 4 digits."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        match unit:
            case "percent":
                text = f"{value:.3f}"
            case "ms":
                text = f"{value:.1f}"
            case "count":
                text = f"{value:g}"
            case _:
                text = f"{value:.4g}" if isinstance(value, float) else str(value)
        suffix = _UNIT.get(unit or "", unit or "")
        return f"{text} {suffix}".strip()
    return str(value)


def _e(value: Any, unit: str | None = None) -> str:
    return html.escape(fmt(value, unit))


def _local(utc: str | None, tz: str) -> str:
    if not utc:
        return "–"
    return local_iso(parse_instant(utc), tz)[:16].replace("T", " ")


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{cell}</td>' if i in numeric else f"<td>{cell}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _card(key: str, value: str, test: str) -> str:
    return (
        f'<div class="card"><div class="k">{html.escape(key)}</div>'
        f'<div class="v" data-test="{test}">{value}</div></div>'
    )


def _verdict(verdict: str) -> str:
    cls = {"met": "met", "not met": "notmet"}.get(verdict, "nj")
    return f'<span class="{cls}">{html.escape(verdict)}</span>'
