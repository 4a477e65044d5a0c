"""The one place where CSLA objectives and OpenSLO fields meet (both directions).

| CSLA (``csla/v1``) | OpenSLO |
|---|---|
| contract id | ``spec.service`` |
| objective (one per document) | ``kind: SLO``, ``metadata.name`` = ``<contract>.<objective>`` |
| ``description`` | ``spec.description`` |
| SLI (probe/node availability, error rate) | ratio SLI over ``csla_sli_good_total`` / ``csla_sli_judged_total`` |
| ``threshold`` | ``target``: ``threshold/100``; error rate: ``1 - threshold/100`` |
| ``assessment.period`` | ``timeWindows``: calendar month (Sloth: 30 days) or rolling N days |
| everything else | ``metadata.annotations`` under ``csla.dev/`` |
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from engine.adapters.kafka.sli import GOOD, JUDGED
from engine.models.contract import PROBE_AVAILABILITY, Objective

V1ALPHA = "openslo/v1alpha"
V1 = "openslo/v1"
VERSIONS = (V1ALPHA, V1)
PREFIX = "csla.dev/"
#: Annotation keys (values are strings, as OpenSLO wants).
CONTRACT_ID = PREFIX + "contract-id"
REVISION = PREFIX + "revision"
OBJECTIVE_ID = PREFIX + "objective-id"
OBJECTIVE_INDEX = PREFIX + "objective-index"
SLI = PREFIX + "sli"
COMPARATOR = PREFIX + "comparator"
THRESHOLD = PREFIX + "threshold"
WINDOW = PREFIX + "window"
PERIOD = PREFIX + "period"
TIMEZONE = PREFIX + "timezone"
SERVICE_TIME = PREFIX + "service-time"
OBJECTIVE = PREFIX + "objective"  # the whole objective, JSON
CONTRACT = PREFIX + "contract"  # the rule file without its exported objectives, JSON
NOT_MAPPED = PREFIX + "not-mapped"  # what OpenSLO cannot say about this objective

#: SLIs with a ratio of counters on the worker's /metrics that OpenSLO can express.
RATIO_SLIS = (*PROBE_AVAILABILITY, "node_availability", "error_rate")
#: Why the other SLIs are not exported.
NOT_EXPRESSIBLE: dict[str, str] = {
    "latency": "a nearest-rank percentile judged per window; OpenSLO ratio SLIs count good "
    "events, and the engine publishes window percentiles (csla_sli_window_latency_ms), not "
    "per-request buckets",
    "mttr": "a mean of repair times over the period, not a ratio of good to total events",
    "mtbf": "operating time per failure over the period, not a ratio of events",
    "failure_count": "a count of failures per period, not a ratio of events",
    "max_recovery": "the longest single recovery, not a ratio of events",
    "stability_interruptions": "interruptions in any 72 h of training, not a ratio of events",
    "stability_recovery": "a recovery time, not a ratio of events",
}
_GAUGE_REASON = (
    "a statistic (mean, max, min, sum or ratio) of samples per window, not a ratio of good to "
    "total events"
)


def not_expressible(objective: Objective) -> str | None:
    """Why OpenSLO cannot express ``objective`` (None: it can)."""
    if objective.sli not in RATIO_SLIS:
        return NOT_EXPRESSIBLE.get(objective.sli, _GAUGE_REASON)
    higher = objective.comparator in (">=", ">")
    if (objective.sli == "error_rate") == higher:
        return f"comparator {objective.comparator} on {objective.sli} leaves no error budget"
    target = target_of(objective.sli, objective.threshold)
    if not 0 < target < 1:
        return f"threshold {objective.threshold} % gives a target of {target}: no error budget"
    return None


def target_of(sli: str, threshold: float) -> float:
    """OpenSLO ``target`` (share of good units) of a CSLA threshold in percent."""
    share = Decimal(str(threshold)) / 100
    return float(1 - share if sli == "error_rate" else share)


def threshold_of(sli: str, target: float) -> float:
    """The CSLA threshold (percent) of an OpenSLO ``target``."""
    share = Decimal(str(target))
    return float((1 - share if sli == "error_rate" else share) * 100)


def _selector(contract_id: str, objective_id: str) -> str:
    return f'contract_id="{contract_id}",objective_id="{objective_id}"'


def good_query(contract_id: str, objective_id: str) -> str:
    """PromQL of the good units per second over Sloth's ``{{.window}}``."""
    return f"sum(rate({GOOD}_total{{{_selector(contract_id, objective_id)}}}[{{{{.window}}}}]))"


def total_query(contract_id: str, objective_id: str) -> str:
    return f"sum(rate({JUDGED}_total{{{_selector(contract_id, objective_id)}}}[{{{{.window}}}}]))"


#: Sloth's burn-rate windows are for a 30-day period: a calendar month is given as 30 days.
CALENDAR_MONTH_DAYS = 30


def time_window(period: str, days: int | None, start: str, timezone: str) -> dict[str, Any]:
    """The ``timeWindows`` item of an assessment period (``start``: the term start in the
    contract's zone, ``YYYY-MM-DD HH:MM:SS``)."""
    if period == "rolling_days":
        return {"count": days, "unit": "Day", "isRolling": True}
    return {
        "count": CALENDAR_MONTH_DAYS,
        "unit": "Day",
        "isRolling": False,
        "calendar": {"startTime": start, "timeZone": timezone},
    }


_V1_UNITS = {"d": "day", "w": "week", "M": "month"}


def period_of(window: dict[str, Any]) -> tuple[str, int | None] | None:
    """(period, days) of a time window written without CSLA annotations (v1alpha ``count`` and
    ``unit``, or v1 ``duration`` such as ``28d``, ``1w``, ``1M``); None: no CSLA period fits."""
    unit, count = str(window.get("unit", "")).lower(), window.get("count")
    if "duration" in window:
        match = re.fullmatch(r"(\d+)([dwM])", str(window["duration"]))
        unit, count = (_V1_UNITS[match.group(2)], int(match.group(1))) if match else ("", None)
    rolling = bool(window.get("isRolling", False))
    if not isinstance(count, int) or count <= 0:
        return None
    if unit == "month" and count == 1 and not rolling:
        return "calendar_month", None
    if not rolling and window.get("calendar") and unit == "day" and 28 <= count <= 31:
        return "calendar_month", None
    days = {"day": 1, "week": 7}.get(unit)
    if days is not None and count * days <= 366:
        return "rolling_days", count * days
    return None
