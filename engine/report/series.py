"""The figures of one contract's assessment period, folded from its metric records (§6.2.7).

Pure: records in, plain values out. Every figure comes from numbers the engine wrote — window
``good``/``total`` and the running ``period_good``/``period_total`` — never from a second
evaluation of the telemetry:

- availability per local day = Σ good / Σ total of the day's windows × 100 (minutes for service
  availability, node-milliseconds for node availability: both add up exactly);
- latency over time = each window's percentile as written, beside the period's percentile;
- outages = runs of consecutive windows that lost units (good < total), merged;
- error-budget burn-down = budget remaining after each window, where the budget is the share
  of the period's judged units the objective allows to be bad ((100 − threshold) % for an
  availability objective, threshold % for an error rate) and the bad units so far are
  ``period_total − period_good``. It ends at or above zero exactly when the period meets the
  objective.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from engine.core.calendar import parse_instant
from engine.report.records import Record

#: available / judged minutes (probes) or up / known node-milliseconds: both add up per day.
AVAILABILITY_SLIS = frozenset(
    {"service_availability", "storage_availability", "network_availability", "node_availability"}
)
#: SLIs whose value is a ratio of bad to judged units, so they have an error budget.
BUDGET_SLIS = AVAILABILITY_SLIS | {"error_rate"}
HOUR_MS = 3_600_000


def meets(comparator: str, threshold: float, value: float) -> bool:
    """Whether ``value`` satisfies ``comparator threshold``."""
    match comparator:
        case ">=":
            return value >= threshold
        case ">":
            return value > threshold
        case "<=":
            return value <= threshold
        case "<":
            return value < threshold
    raise ValueError(f"unknown comparator {comparator!r}")


def local_date(utc: str, tz: str) -> str:
    """The local calendar date (``YYYY-MM-DD``) of a UTC instant in zone ``tz``."""
    ms = parse_instant(utc)
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(ZoneInfo(tz)).date().isoformat()


def by_window(metrics: Iterable[Record]) -> list[Record]:
    """Metric records in window order (a window written twice keeps its last record)."""
    latest: dict[str, Record] = {}
    for m in metrics:
        latest[m["window_start"]] = m
    return [latest[k] for k in sorted(latest, key=parse_instant)]


def daily_availability(windows: Sequence[Record], tz: str) -> list[dict[str, Any]]:
    """Per local day: Σ good, Σ total and their ratio in percent (None when nothing judged)."""
    days: dict[str, list[int]] = {}
    for m in windows:
        day = days.setdefault(local_date(m["window_start"], tz), [0, 0])
        if m.get("good") is not None and m.get("total") is not None:
            day[0] += int(m["good"])
            day[1] += int(m["total"])
    return [
        {
            "date": date,
            "good": good,
            "total": total,
            "value": round(good / total * 100, 6) if total else None,
        }
        for date, (good, total) in sorted(days.items())
    ]


def lost_units(sli: str, bad: float) -> tuple[float, str]:
    """Bad units of an availability SLI in the unit people read: minutes or node-hours."""
    if sli == "node_availability":
        return round(bad / HOUR_MS, 3), "node-hours"
    return round(float(bad), 3), "minutes"


def outages(windows: Sequence[Record], sli: str) -> list[dict[str, Any]]:
    """Runs of adjacent windows that lost units, each with its start, end and units lost."""
    runs: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for m in windows:
        good, total = m.get("good"), m.get("total")
        bad = (total - good) if good is not None and total is not None else 0
        if bad <= 0:
            current = None
            continue
        if current is not None and current["end"] == m["window_start"]:
            current["end"] = m["window_end"]
            current["bad"] += bad
            current["windows"] += 1
            current["worst"] = min(current["worst"], m["value"])
        else:
            current = {
                "start": m["window_start"],
                "end": m["window_end"],
                "bad": bad,
                "windows": 1,
                "worst": m["value"],
            }
            runs.append(current)
    for run in runs:
        run["lost"], run["lost_unit"] = lost_units(sli, run.pop("bad"))
    return runs


def budget_fraction(sli: str, comparator: str, threshold: float) -> float | None:
    """The share of judged units an objective allows to be bad, or None (no budget)."""
    if sli in AVAILABILITY_SLIS and comparator in (">=", ">"):
        share = (100.0 - threshold) / 100.0
    elif sli == "error_rate" and comparator in ("<=", "<"):
        share = threshold / 100.0
    else:
        return None
    return share if share > 0 else None


def budget_left(
    sli: str,
    comparator: str,
    threshold: float,
    good: int | None,
    total: int | None,
    owed: int = 0,
) -> float | None:
    """The error budget left, as a share (1.0 = untouched, 0 = spent, < 0 = overspent).

    The one definition used by the dashboard, the report and the burn-rate warnings:
    ``1 − bad / (b × units)``, where ``b`` is ``budget_fraction``, ``bad = total − good`` are
    the period's bad units so far and ``units = total + owed`` are the units of the whole
    period: those judged so far plus, for availability, the service units still owed until the
    period ends (0 for an error rate, whose future requests are unknown, and for a closed
    period). None when the objective has no budget or nothing is judged or owed yet."""
    share = budget_fraction(sli, comparator, threshold)
    if share is None or good is None or total is None:
        return None
    units = int(total) + max(int(owed), 0)
    if units <= 0:
        return None
    return round(1.0 - (int(total) - int(good)) / (share * units), 6)


def burn_down(
    windows: Sequence[Record], sli: str, comparator: str, threshold: float
) -> dict[str, Any] | None:
    """Error budget remaining (percent of the period's budget) after each window: the budget
    is that of the whole period (its final judged units), as ``budget_left`` defines it."""
    share = budget_fraction(sli, comparator, threshold)
    judged = [m for m in windows if m.get("period_total") is not None]
    if share is None or not judged:
        return None
    final_total = int(judged[-1]["period_total"])
    budget = final_total * share
    if budget <= 0:
        return None
    points = []
    for m in judged:
        total = int(m["period_total"])
        left = budget_left(
            sli, comparator, threshold, int(m["period_good"] or 0), total, final_total - total
        )
        points.append([m["window_end"], None if left is None else round(left * 100, 4)])
    bad_final = final_total - int(judged[-1]["period_good"] or 0)
    if sli in AVAILABILITY_SLIS:
        budget_shown, unit = lost_units(sli, budget)
        bad_shown, _ = lost_units(sli, bad_final)
    else:
        budget_shown, bad_shown, unit = round(budget, 3), float(bad_final), "requests"
    return {
        "budget_share_percent": round(share * 100, 6),
        "period_total": final_total,
        "budget": budget_shown,
        "bad": bad_shown,
        "unit": unit,
        "remaining_percent": points[-1][1],
        "points": points,
    }


def latency_points(windows: Sequence[Record]) -> list[list[Any]]:
    """``[window_end, value]`` of every window with a value (latency, gauges, reliability)."""
    return [[m["window_end"], m["value"]] for m in windows if m.get("value") is not None]
