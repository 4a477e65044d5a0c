"""HTML building blocks of the pack's page: the inline CSS, escaped cells, tables, times."""

from __future__ import annotations

import html
from typing import Any

from engine.evidence.instants import _instant, _show

_CSS = """
body{margin:0;background:#f4f6f8;color:#1f2933;font:15px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;
border-bottom:2px solid #d9e2ec}h3{font-size:15px;margin:18px 0 6px}
.sub{color:#52606d;margin:0 0 16px}code{font:12px ui-monospace,Menlo,Consolas,monospace}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d9e2ec;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f8;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{padding:12px 16px;border-radius:6px;font-weight:600;margin:12px 0}
.good{background:#e3f9e5;border:1px solid #31b237}.bad{background:#ffe3e3;border:1px solid #e12d39}
.key{font-size:17px;margin:4px 0}.muted{color:#7b8794}
tr.available td:first-child{border-left:4px solid #31b237}
tr.unavailable td:first-child{border-left:4px solid #e12d39}
tr.exempt td:first-child{border-left:4px solid #4c63b6}
tr.nodata td:first-child{border-left:4px solid #f0b429}
table.nested{margin:0;font-size:12px}table.nested th{background:#f7f9fb}
details{margin:6px 0}summary{cursor:pointer;color:#334e68}
@media print{body{background:#fff}main{padding:0}details{display:block}}
"""


def _e(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.10g}" if abs(value) < 1e9 else f"{value:.1f}"
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(rows):
        cls = f' class="{classes[index]}"' if classes else ""
        cells = "".join(
            f'<td class="n">{_e(c)}</td>'
            if isinstance(c, int | float) and not isinstance(c, bool)
            else f"<td>{_nested(c)}</td>"
            for c in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _pairs(items: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_nested(v)}</td></tr>" for k, v in items)
    return f"<table><tbody>{rows}</tbody></table>"


def _nested(value: Any) -> str:
    """A value as HTML for a person: a mapping as a table of its fields, a list of mappings as
    a table with a column per field, a list of plain values joined; never raw JSON."""
    if isinstance(value, dict):
        if not value:
            return "–"
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_nested(v)}</td></tr>"
            for k, v in value.items()
        )
        return f'<table class="nested"><tbody>{rows}</tbody></table>'
    if isinstance(value, list | tuple):
        if not value:
            return "none"
        if all(isinstance(v, dict) for v in value):
            columns: list[str] = []
            for v in value:
                columns += [k for k in v if k not in columns]
            rows = [[v.get(k) for k in columns] for v in value]
            return _table(columns, rows).replace("<table>", '<table class="nested">', 1)
        return ", ".join(_nested(v) for v in value)
    return _e(value)


def _hm(local_iso: str) -> str:
    return local_iso[:16].replace("T", " ")


def _at(utc: str | None, tz: str) -> str | None:
    """A UTC instant of the JSON as local wall time for the page."""
    ms = _instant(utc) if utc else None
    return _show(ms, tz) if ms is not None else None
