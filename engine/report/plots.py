"""The report's charts, drawn by matplotlib as SVG and inlined in the page (no files, no network).

Figures are built with the object API (``Figure`` + the SVG canvas): no pyplot, no global
state, safe in a server. Text stays text (``svg.fonttype: none``: small, selectable, drawn in
the page's sans-serif font), the date is left out and ids are salted per chart, so the same
report gives the same bytes and several charts can share one HTML document.
"""

from __future__ import annotations

import io
import itertools
import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import matplotlib as mpl
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from engine.core.calendar import parse_instant

_RC: Any = {
    "svg.fonttype": "none",
    "svg.hashsalt": "csla-report",
    "font.family": "sans-serif",
    # Chinese names in titles and legends: Noto CJK (Debian fonts-noto-cjk) when installed
    "font.sans-serif": ["DejaVu Sans", "Noto Sans CJK SC"],
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e4e7eb",
    "grid.linewidth": 0.6,
    "axes.edgecolor": "#9aa5b1",
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
}
GOOD, BAD, LINE, TARGET, MUTED = "#2f9e44", "#e03131", "#1c7ed6", "#c92a2a", "#868e96"
_PALETTE = ("#1c7ed6", "#f08c00", "#7048e8", "#0ca678", "#d6336c", "#495057")


def _dt(utc: str) -> datetime:
    return datetime.fromtimestamp(parse_instant(utc) / 1000, tz=UTC)


def _figure(height: float = 2.6) -> Figure:
    return Figure(figsize=(9.0, height), layout="constrained")


def _date_axis(ax: Any, tz: str, maxticks: int = 10) -> None:
    zone = ZoneInfo(tz)
    locator = AutoDateLocator(tz=zone, minticks=min(4, maxticks), maxticks=maxticks)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(DateFormatter("%m-%d", tz=zone))  # type: ignore[no-untyped-call]


def _legend(ax: Any) -> None:
    """The legend in one row above the plot, right-aligned (the title is on the left)."""
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, ncols=4,
              borderaxespad=0.2)  # fmt: skip


def _with_gaps(points: Sequence[Sequence[Any]]) -> tuple[list[datetime], list[float]]:
    """Times and values, with a break (NaN) where windows are missing, so no line bridges a
    night or a weekend outside service time."""
    times = [_dt(t) for t, _ in points]
    steps = sorted(b - a for a, b in itertools.pairwise(times))
    usual = steps[len(steps) // 4] if steps else None
    xs: list[datetime] = []
    ys: list[float] = []
    for index, (t, (_, v)) in enumerate(zip(times, points, strict=True)):
        if index and usual is not None and t - times[index - 1] > usual * 1.5:
            xs.append(times[index - 1] + usual)
            ys.append(math.nan)
        xs.append(t)
        ys.append(v)
    return xs, ys


def to_svg(fig: Figure, name: str, label: str) -> str:
    """The figure as an inline ``<svg>`` element whose ids are prefixed with ``name``."""
    buffer = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": name}):
        FigureCanvasSVG(fig).print_svg(buffer, metadata={"Date": None})  # type: ignore[no-untyped-call]
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{name}-{m.group(1)}"', text)
    text = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{name}-{m.group(1)})", text)
    text = re.sub(r'xlink:href="#([^"]+)"', lambda m: f'xlink:href="#{name}-{m.group(1)}"', text)
    text = re.sub(r'\swidth="[\d.]+pt"\s+height="[\d.]+pt"', "", text, count=1)
    return text.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def daily_availability(name: str, entry: dict[str, Any]) -> str:
    """Bars of availability per local day, red below the objective, with its threshold."""
    with mpl.rc_context(_RC):
        fig = _figure()
        ax: Any = fig.add_subplot()
        days = [d for d in entry["days"] if d["value"] is not None]
        threshold = entry.get("threshold")
        xs = list(range(len(days)))
        values = [d["value"] for d in days]
        colors = [BAD if threshold is not None and v < threshold else GOOD for v in values]
        ax.bar(xs, values, color=colors, width=0.8)
        low = min([*values, threshold if threshold is not None else 100.0, 100.0])
        ax.set_ylim(max(0.0, low - max(0.2, (100.0 - low) * 0.25)), 100.0 + (100.0 - low) * 0.05)
        if threshold is not None:
            ax.axhline(threshold, color=TARGET, linestyle="--", linewidth=1, label="objective")
            _legend(ax)
        step = max(1, len(days) // 12)
        ax.set_xticks(xs[::step], [d["date"][5:] for d in days][::step])
        ax.set_ylabel("%")
        ax.set_title(f"{entry['objective_id']}: availability per day")
        return to_svg(fig, name, f"{entry['objective_id']} availability per day")


def latency(name: str, entry: dict[str, Any], tz: str) -> str:
    """Each window's latency percentile over time, with the objective and the period value."""
    with mpl.rc_context(_RC):
        fig = _figure()
        ax: Any = fig.add_subplot()
        xs, ys = _with_gaps(entry["points"])
        pct = entry.get("percentile")
        label = f"p{pct:g} per window" if pct is not None else "per window"
        ax.plot(xs, ys, color=LINE, linewidth=0.8, marker=".", markersize=2.5, label=label)
        if entry.get("threshold") is not None:
            ax.axhline(
                entry["threshold"], color=TARGET, linestyle="--", linewidth=1, label="objective"
            )
        if entry.get("period_value") is not None:
            ax.axhline(
                entry["period_value"],
                color=MUTED,
                linestyle=":",
                linewidth=1.2,
                label="period value",
            )
        _date_axis(ax, tz)
        ax.set_ylabel("ms")
        _legend(ax)
        ax.set_title(f"{entry['objective_id']}: latency over time")
        return to_svg(fig, name, f"{entry['objective_id']} latency over time")


def outage_timeline(
    name: str,
    objectives: Sequence[str],
    outages: Sequence[dict[str, Any]],
    breaches: Sequence[dict[str, Any]],
    period: tuple[str, str],
    tz: str,
) -> str:
    """One lane per objective: windows that lost units as bars, breach detections as marks."""
    lanes = list(objectives)
    with mpl.rc_context(_RC):
        fig = _figure(0.9 + 0.45 * max(1, len(lanes)))
        ax: Any = fig.add_subplot()
        for lane, oid in enumerate(lanes):
            spans = [
                (_dt(o["start"]), _dt(o["end"]) - _dt(o["start"]))
                for o in outages
                if o["objective_id"] == oid
            ]
            if spans:
                ax.broken_barh(spans, (lane - 0.3, 0.6), facecolors=BAD)
            marks = [
                _dt(b["opened_at"]) for b in breaches if b["objective_id"] == oid and b["opened_at"]
            ]
            if marks:
                ax.plot(
                    marks,
                    [lane + 0.38] * len(marks),
                    linestyle="none",
                    marker="v",
                    color="#862e9c",
                    markersize=6,
                )
        ax.set_yticks(range(len(lanes)), lanes)
        ax.set_ylim(-0.7, len(lanes) - 0.2)
        ax.set_xlim(_dt(period[0]), _dt(period[1]))
        ax.grid(axis="y", visible=False)
        _date_axis(ax, tz)
        ax.set_title("Outages (red: windows that lost time) and breach detections (▼)")
        return to_svg(fig, name, "outage timeline")


def burn_down(name: str, curves: Sequence[dict[str, Any]], tz: str) -> str:
    """Error budget remaining after each window, one line per objective with a budget."""
    with mpl.rc_context(_RC):
        fig = _figure()
        ax: Any = fig.add_subplot()
        low = 0.0
        for index, curve in enumerate(curves):
            xs = [_dt(t) for t, _ in curve["points"]]
            ys = [v for _, v in curve["points"]]
            low = min(low, *ys)
            ax.step(
                xs,
                ys,
                where="post",
                linewidth=1.2,
                color=_PALETTE[index % len(_PALETTE)],
                label=curve["objective_id"],
            )
        ax.axhline(0, color=TARGET, linewidth=1)
        ax.set_ylim(low - max(5.0, (100.0 - low) * 0.04), 105)
        ax.set_ylabel("budget left, %")
        _date_axis(ax, tz)
        _legend(ax)
        ax.set_title("Error budget burn-down")
        return to_svg(fig, name, "error budget burn-down")


def small_multiples(name: str, entries: Sequence[dict[str, Any]], tz: str) -> str:
    """One small panel per objective: its value per window and its objective line."""
    columns = 3
    rows = (len(entries) + columns - 1) // columns
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(9.0, 1.9 * rows + 0.3), layout="constrained")
        axes = fig.subplots(rows, columns, squeeze=False)
        for index, ax in enumerate(axes.flat):
            if index >= len(entries):
                ax.set_visible(False)
                continue
            entry = entries[index]
            xs, ys = _with_gaps(entry["points"])
            ax.plot(xs, ys, color=LINE, linewidth=0.8, marker=".", markersize=2)
            if entry.get("threshold") is not None:
                ax.axhline(entry["threshold"], color=TARGET, linestyle="--", linewidth=1)
            symbol = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}.get(entry.get("comparator") or "")
            target = f" ({symbol} {entry['threshold']:g})" if symbol else ""
            ax.set_title(f"{entry['objective_id']}{target}", fontsize=8.5)
            ax.set_ylabel(entry.get("unit") or "", fontsize=8)
            ax.tick_params(labelsize=7)
            _date_axis(ax, tz, maxticks=4)
        return to_svg(fig, name, "other objectives over time")
