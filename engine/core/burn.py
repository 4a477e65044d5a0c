"""Multi-window, multi-burn-rate early warnings on budgeted objectives (SRE workbook ch. 5).

An objective "availability ≥ T %" (or "error rate ≤ T %") has an error budget
``b = 1 − T/100`` (or ``T/100``) of its units: minutes, node-milliseconds or requests.  Over a
window W the burn rate is ``(bad units in W / units in W) / b``: 1 spends exactly the budget by
the end of the period, 14.4 spends 2 % of a 30-day budget in one hour.  A rule fires when the
burn rate is at least its factor over BOTH its long and its short window (the short one makes
it clear quickly once the burning stops) and clears when that no longer holds.

The defaults are the workbook's for a 30-day budget: page at 14.4× over 1 h and 5 min, page at
6× over 6 h and 30 min, ticket at 1× over 3 days and 6 h.  With ``scale_to_period`` each window
is scaled by (period length / 30 days) so that a rule spends the same share of the contract's
own budget; windows are then rounded up to whole 5-minute buckets.  Buckets are aligned to the
UTC clock, which is the local one in every zone whose offset is a whole number of 5 minutes
(every current IANA zone).

State per objective: the (bad, total) units of each 5-minute bucket, oldest first, trimmed to
the longest window (small integers: a few kB per objective).  Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

BUCKET_MS = 5 * 60_000
DAY_MS = 86_400_000
BUDGET_DAYS = 30


@dataclass(frozen=True, slots=True)
class BurnRule:
    severity: str  # "page" or "ticket"
    factor: float
    long_ms: int
    short_ms: int

    @property
    def key(self) -> str:
        return f"{self.severity}-{self.factor:g}x-{self.long_ms // 60_000}m"


@functools.lru_cache(maxsize=256)
def scaled(rules: tuple[BurnRule, ...], period_ms: int, scale: bool) -> tuple[BurnRule, ...]:
    """The rules with windows scaled to a period of ``period_ms`` and rounded up to buckets."""
    out = []
    for rule in rules:
        factor = period_ms / (BUDGET_DAYS * DAY_MS) if scale else 1.0
        long_ms = _buckets(rule.long_ms * factor) * BUCKET_MS
        short_ms = _buckets(rule.short_ms * factor) * BUCKET_MS
        out.append(BurnRule(rule.severity, rule.factor, long_ms, min(short_ms, long_ms)))
    return tuple(out)


def _buckets(ms: float) -> int:
    return max(1, -int(-ms // BUCKET_MS))


def bucket_end(t: int) -> int:
    """End of the 5-minute bucket holding ``t``."""
    return (t // BUCKET_MS + 1) * BUCKET_MS


def budget(sli: str, threshold: float) -> float | None:
    """The error budget as a fraction of units, or None for objectives without one."""
    if sli in ("service_availability", "storage_availability", "network_availability",
               "node_availability"):  # fmt: skip
        return 1.0 - threshold / 100.0
    if sli == "error_rate":
        return threshold / 100.0
    return None


def rate(
    bads: Sequence[int], totals: Sequence[int], n: int, budget_fraction: float
) -> float | None:
    """Burn rate over the last ``n`` buckets; None without units in them (no data)."""
    total = sum(totals[-n:])
    if total <= 0 or budget_fraction <= 0:
        return None
    return (sum(bads[-n:]) / total) / budget_fraction


def evaluate(
    bads: Sequence[int],
    totals: Sequence[int],
    rules: tuple[BurnRule, ...],
    budget_fraction: float,
    active: dict[str, str],
    make_id: Any,
) -> list[dict[str, Any]]:
    """Fire or clear each rule at the end of the last bucket of ``bads``/``totals`` (one entry
    per 5-minute bucket, oldest first, at least the longest window); ``active`` maps rule key →
    warning id and is updated in place.  Returns partial warning records."""
    if not active and not any(bads[-max(r.long_ms for r in rules) // BUCKET_MS :]):
        return []  # nothing burnt in the longest window and nothing firing: no change
    out = []
    for rule in rules:
        long_rate = rate(bads, totals, rule.long_ms // BUCKET_MS, budget_fraction)
        short_rate = rate(bads, totals, rule.short_ms // BUCKET_MS, budget_fraction)
        firing = (
            long_rate is not None
            and short_rate is not None
            and long_rate >= rule.factor
            and short_rate >= rule.factor
        )
        warning_id = active.get(rule.key)
        if firing and warning_id is None:
            warning_id = active[rule.key] = make_id(rule)
            status = "fired"
        elif not firing and warning_id is not None:
            del active[rule.key]
            status = "cleared"
        else:
            continue
        out.append(
            {
                "warning_id": warning_id,
                "status": status,
                "severity": rule.severity,
                "threshold_factor": rule.factor,
                "long_window": _duration(rule.long_ms),
                "short_window": _duration(rule.short_ms),
                "burn_rate_long": None if long_rate is None else round(long_rate, 6),
                "burn_rate_short": None if short_rate is None else round(short_rate, 6),
            }
        )
    return out


def _duration(ms: int) -> str:
    minutes = ms // 60_000
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"
