"""Periodic assessment reports (§6.2.7): a month of output records, per contract, as one
self-contained HTML page with matplotlib charts and a JSON file with the same numbers.

``build_report`` folds records (as ``read_outputs`` reads them from a replay output directory)
into the report dict; ``render_html`` draws the page; ``write_report`` writes both files
(``csla report`` is ``engine.cli.report``).
"""

from engine.report.build import ReportError, build_report
from engine.report.html import render_html
from engine.report.records import read_outputs
from engine.report.write import write_report

__all__ = [
    "ReportError",
    "build_report",
    "read_outputs",
    "render_html",
    "write_report",
]
