"""Per-contract evaluation of a closing range ``[A, B)`` of event time.

Called by ``pipeline`` after the vectorised part has aggregated the closing events per minute.
Applies control events (maintenance §6.1.13, node state, incidents §6.2.2), walks each
objective's evaluation windows, emits metrics and breaches, and closes periods with their
compensation (§6.1.16).  Pure: no I/O, no clock.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from engine.core import burn
from engine.core import intervals as iv
from engine.core.calendar import period_containing, utc_iso
from engine.core.compensation import (
    applicable_tier,
    credit,
    period_fee,
    period_usage,
    quantize,
)
from engine.core.contract import Contract, ObjectiveRule
from engine.core.control import evaluated_intervals, split_failures
from engine.core.discrepancy import window_discrepancy
from engine.core.gauges import GAUGES
from engine.core.reliability import failure_stats, failures_as_of, node_piece, reliability_value
from engine.core.scoring import scorecard
from engine.core.state import ContractState, ObjectiveState, WindowAcc
from engine.core.windows import window_bounds
from engine.models.contract import PROBE_AVAILABILITY

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
AVAILABILITY = (*PROBE_AVAILABILITY, "node_availability")
# the scorecard's name of a latency objective's period value, by the events it reads
MEASURE_KEYS = {
    ("latency", "network"): "network_latency",
    ("latency", "storage_io"): "storage_latency",
}
# reliability SLIs that can only get worse as the period goes on: breach as soon as they fail
# the failure-interval SLIs (Table A.1 service reliability)
RELIABILITY = ("mttr", "mtbf", "failure_count", "max_recovery", "stability_interruptions",
               "stability_recovery")  # fmt: skip
MONOTONE_RELIABILITY = (
    "failure_count", "max_recovery", "stability_interruptions", "stability_recovery"
)  # fmt: skip


@dataclass
class Emitted:
    metrics: list[dict[str, Any]] = field(default_factory=list)
    breaches: list[dict[str, Any]] = field(default_factory=list)
    compensations: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)  # period usage (§6.1.7)
    scorecards: list[dict[str, Any]] = field(default_factory=list)  # Table A.2, §7
    discrepancies: list[dict[str, Any]] = field(default_factory=list)  # §6.2.6 evidence

    def lengths(self) -> tuple[int, ...]:
        return tuple(len(getattr(self, name)) for name in _EMITTED)

    def truncate(self, lengths: tuple[int, ...]) -> None:
        """Forget what was emitted after :meth:`lengths` (a contract whose closing raised)."""
        for name, n in zip(_EMITTED, lengths, strict=True):
            del getattr(self, name)[n:]


_EMITTED = (
    "metrics", "breaches", "compensations", "warnings", "usage", "scorecards", "discrepancies"
)  # fmt: skip


@dataclass
class MinuteData:
    """The closing events of one contract, aggregated per minute (sorted by minute)."""

    probes: list[tuple[int, int, int]] = field(default_factory=list)  # minute, n, ok
    requests: list[tuple[int, int, int, int]] = field(default_factory=list)  # minute, n, ok, tokens
    control: list[dict[str, Any]] = field(default_factory=list)  # rows in event-time order
    # (objective_id, window_start) -> (value, count) of latency windows closed in this range
    latency_windows: dict[tuple[str, int], tuple[float | None, int]] = field(default_factory=dict)
    # (objective_id, period_start) -> (value, count) of latency periods closed in this range
    latency_periods: dict[tuple[str, int], tuple[float | None, int]] = field(default_factory=dict)
    # the same for gauge objectives (``engine.core.gauges``)
    gauge_windows: dict[tuple[str, int], tuple[float | None, int]] = field(default_factory=dict)
    gauge_periods: dict[tuple[str, int], tuple[float | None, int]] = field(default_factory=dict)
    # probes of the resources an availability objective selects: objective_id -> rows
    probes_for: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    # requests per minute and owner: minute, "tenant\x1fproject", n, tokens (sorted by minute)
    requests_by_owner: list[tuple[int, str, int, int]] = field(default_factory=list)


def _minutes_in(rows: list[Any], lo: int, hi: int) -> list[Any]:
    """The rows (sorted by minute, their first field) with lo <= minute < hi."""
    start = bisect.bisect_left(rows, lo, key=_first)
    return rows[start : bisect.bisect_left(rows, hi, lo=start, key=_first)]


def _first(row: Any) -> int:
    return int(row[0])


def _piece(
    objective: ObjectiveRule,
    closing: Closing,
    lo: int,
    hi: int,
    buckets: dict[int, WindowAcc] | None = None,
) -> WindowAcc:
    """The contribution of ``[lo, hi)`` to one objective's window; with ``buckets``, also
    its split into 5-minute buckets (bucket end → accumulator) for the early warnings."""
    acc = WindowAcc(lo, hi)
    sli = objective.sli
    if sli not in (*PROBE_AVAILABILITY, "node_availability", "error_rate"):
        return acc
    data, segments = closing.data, closing.segments
    evaluated = iv.clip(closing.evaluated, lo, hi)

    def bucket(t: int) -> WindowAcc:
        assert buckets is not None
        end = burn.bucket_end(t)
        found = buckets.get(end)
        if found is None:
            found = buckets[end] = WindowAcc(end - burn.BUCKET_MS, end)
        return found

    if sli in PROBE_AVAILABILITY:
        acc.evaluated = iv.total(evaluated) // MINUTE_MS
        if buckets is not None and objective.no_data != "unknown":
            for start, end in evaluated:
                # the minutes start, start + 1 min, … before end, counted per bucket
                t = start
                while t < end:
                    part = bucket(t)
                    upto = min(part.end, end)
                    part.evaluated += -((start - upto) // MINUTE_MS) + ((start - t) // MINUTE_MS)
                    t = part.end
        probes = data.probes_for.get(objective.id, data.probes)
        for minute, n, ok in _minutes_in(probes, lo, hi):
            if iv.contains(evaluated, minute):
                if ok * 100 < objective.unavailable_below * n:
                    acc.bad += 1
                    if buckets is not None:
                        bucket(minute).bad += 1
                else:
                    acc.good += 1
                    if buckets is not None:
                        bucket(minute).good += 1
    elif sli == "node_availability":
        acc.good, acc.bad = node_piece(segments, evaluated, objective.degraded_is_down)
        acc.evaluated = acc.good + acc.bad
        if buckets is not None and acc.evaluated:
            for t in range(lo, hi, burn.BUCKET_MS):
                part = bucket(t)
                up, down = node_piece(
                    segments, iv.clip(evaluated, t, min(hi, part.end)), objective.degraded_is_down
                )
                part.good += up
                part.bad += down
                part.evaluated += up + down
    elif sli == "error_rate":
        # evaluated minutes: the time the requests counted were taken from (evidence only)
        acc.evaluated = iv.total(evaluated) // MINUTE_MS
        for minute, n, ok, _ in _minutes_in(data.requests, lo, hi):
            if iv.contains(evaluated, minute):
                acc.good += ok
                acc.bad += n - ok
                if buckets is not None:
                    part = bucket(minute)
                    part.good += ok
                    part.bad += n - ok
    return acc


def availability_counts(objective: ObjectiveRule, acc: WindowAcc) -> tuple[int, int]:
    """(good, total): the numerator and denominator of availability, per the no-data rule."""
    known = acc.good + acc.bad
    if objective.sli == "node_availability" or objective.no_data == "unknown":
        return acc.good, known
    unknown = max(acc.evaluated - known, 0)
    if objective.no_data == "available":
        return acc.good + unknown, acc.evaluated
    return acc.good, acc.evaluated


def availability_value(
    objective: ObjectiveRule, acc: WindowAcc
) -> tuple[float | None, float | None]:
    """(value %, coverage) of an availability accumulator: value = 100 × good / total."""
    good, total = availability_counts(objective, acc)
    value = 100.0 * good / total if total else None
    if objective.sli == "node_availability":
        return value, (1.0 if total else None)
    known = acc.good + acc.bad
    return value, (known / acc.evaluated if acc.evaluated else None)


def _ids(contract: Contract, objective: ObjectiveRule, start: int) -> str:
    return f"{contract.id}:{objective.id}:{utc_iso(start)}:r{contract.revision}"


def _request_value(objective: ObjectiveRule, acc: WindowAcc) -> float | None:
    total = acc.good + acc.bad
    return 100.0 * acc.bad / total if total else None


@dataclass
class Closing:
    cs: ContractState
    contract: Contract
    data: MinuteData
    segments: dict[str, list[tuple[int, int, str]]]
    out: Emitted
    up_base_ms: int = 0  # period node up-time before ``piece_start``
    piece_start: int = 0
    piece_end: int = 0
    evaluated: list[iv.Interval] = field(default_factory=list)  # of [piece_start, piece_end)
    owed: list[iv.Interval] = field(default_factory=list)  # piece time ignoring exemptions
    owed_after_ms: int = 0  # that time from piece_end to the period's end
    _burn_rules: tuple[int, tuple[burn.BurnRule, ...], int] | None = None

    def burn_rules(self) -> tuple[tuple[burn.BurnRule, ...], int]:
        """The warning rules scaled to the current period, and how many buckets to keep: the
        longest window and a little more for a longer next period (31 vs 30 days)."""
        cs, contract = self.cs, self.contract
        assert cs.period_start_ms is not None and cs.period_end_ms is not None
        period_ms = cs.period_end_ms - cs.period_start_ms
        if self._burn_rules is None or self._burn_rules[0] != period_ms:
            rules = burn.scaled(contract.warning_rules, period_ms, contract.warning_scale)
            keep = max(rule.long_ms for rule in rules) * 32 // 30 // burn.BUCKET_MS + 1
            self._burn_rules = (period_ms, rules, keep)
        return self._burn_rules[1], self._burn_rules[2]

    def operating_ms(self, until: int) -> int:
        """Node up-time of the current period up to ``until`` (MTBF's operating time)."""
        up, _ = node_piece(self.segments, [(self.piece_start, until)], degraded_is_down=False)
        return self.up_base_ms + up


def close_range(closing: Closing, a: int, b: int) -> None:
    """Evaluate every objective of the contract on [a, b), closing windows and periods."""
    cs, contract = closing.cs, closing.contract
    cursor = a
    while cursor < b:
        if cs.period_start_ms is None or cursor >= (cs.period_end_ms or 0):
            rolled = cs.period_start_ms is not None
            start, end = period_containing(contract.period, cursor)
            # the last period of the term ends with the term (§6.1.5)
            cs.period_start_ms, cs.period_end_ms = start, min(end, contract.term_end_ms)
            if rolled:
                split_failures(cs, cs.period_start_ms)
                cs.usage = {}
                cs.metered = {}
                # owners: the one in force at the period start and any later changes
                cs.owners = {
                    node: h[max(bisect.bisect_right(h, start, key=_first) - 1, 0) :]
                    for node, h in cs.owners.items()
                }
        period_end = cs.period_end_ms or b
        hi = min(b, period_end)
        closing.up_base_ms, closing.piece_start = cs.usage.get("node_up_ms", 0), cursor
        # evaluated time is laid once per piece (exemptions are fixed while it is closed)
        closing.piece_end = hi
        closing.evaluated = evaluated_intervals(cs, contract, cursor, hi)
        closing.owed = evaluated_intervals(cs, contract, cursor, hi, exemptions=False)
        closing.owed_after_ms = iv.total(
            evaluated_intervals(cs, contract, hi, period_end, exemptions=False)
        )
        for objective in contract.objectives:
            _objective_range(closing, objective, cursor, hi)
        _usage(closing, cursor, hi)
        if hi == period_end:
            _close_period(closing)
        cursor = hi


def _usage(closing: Closing, a: int, b: int) -> None:
    """Metering counters (§6.1.7) of [a, b): node up time, requests, tokens; in all and per
    tenant/project (a node's time goes to the tenant/project its node_state events name)."""
    cs = closing.cs
    usage = cs.usage
    total_up = 0
    unowned = {n: segs for n, segs in closing.segments.items() if n not in cs.owners}
    if unowned:  # nodes no event has named an owner of: one sum
        up, _ = node_piece(unowned, [(a, b)], degraded_is_down=False)
        if up:
            total_up += up
            cs.metered.setdefault("-\x1f-", [0, 0, 0])[0] += up
    for node, segs in closing.segments.items():
        if node in unowned:
            continue
        history = cs.owners[node]
        starts = [a] + [max(t, a) for t, _ in history if a < t < b] + [b]
        for lo, hi in itertools.pairwise(starts):
            up, _ = node_piece({node: segs}, [(lo, hi)], degraded_is_down=False)
            if up:
                total_up += up
                index = bisect.bisect_right(history, lo, key=_first) - 1
                owner = history[index][1] if index >= 0 else "-\x1f-"
                cs.metered.setdefault(owner, [0, 0, 0])[0] += up
    rows = _minutes_in(closing.data.requests, a, b)
    usage["node_up_ms"] = usage.get("node_up_ms", 0) + total_up
    usage["requests"] = usage.get("requests", 0) + sum(r[1] for r in rows)
    usage["tokens"] = usage.get("tokens", 0) + sum(r[3] for r in rows)
    for _, owner, n, tokens in _minutes_in(closing.data.requests_by_owner, a, b):
        counters = cs.metered.setdefault(owner, [0, 0, 0])
        counters[1] += n
        counters[2] += tokens


def _objective_range(closing: Closing, objective: ObjectiveRule, lo: int, hi: int) -> None:
    cs, contract = closing.cs, closing.contract
    state = cs.objectives.setdefault(objective.id, ObjectiveState())
    assert cs.period_start_ms is not None and cs.period_end_ms is not None
    if state.period is None or state.period.start != cs.period_start_ms:
        state.period = WindowAcc(cs.period_start_ms, cs.period_end_ms)
    budget = burn.budget(objective.sli, objective.threshold) if contract.warning_rules else None
    cursor = lo
    while cursor < hi:
        if state.window is None or cursor >= state.window.end:
            ws, we = window_bounds(cursor, contract.tz, objective.window_ms)
            state.window = WindowAcc(max(ws, cs.period_start_ms), min(we, cs.period_end_ms))
        piece_hi = min(hi, state.window.end)
        if budget is None:
            state.window.add(_piece(objective, closing, cursor, piece_hi))
        else:  # early warnings need the counts per 5-minute bucket
            buckets: dict[int, WindowAcc] = {}
            state.window.add(_piece(objective, closing, cursor, piece_hi, buckets))
            _burn(closing, objective, state, buckets, cursor, piece_hi, budget)
        if piece_hi == state.window.end:
            _close_window(closing, objective, state, state.window)
            state.window = None
        cursor = piece_hi


def _units(objective: ObjectiveRule, acc: WindowAcc) -> tuple[int, int]:
    """(bad, total) units of a budgeted objective's accumulator."""
    if objective.sli == "error_rate":
        return acc.bad, acc.good + acc.bad
    good, total = availability_counts(objective, acc)
    return total - good, total


def _burn(
    closing: Closing,
    objective: ObjectiveRule,
    state: ObjectiveState,
    buckets: dict[int, WindowAcc],
    lo: int,
    hi: int,
    budget: float,
) -> None:
    """Add the buckets of ``[lo, hi)`` to the history; at each bucket end, fire or clear."""
    t = lo
    while t < hi:
        end = burn.bucket_end(t)
        if state.burn_open is None or state.burn_open[0] != end:
            state.burn_open = [end, 0, 0]
        part = buckets.get(end)
        if part is not None:
            bad, total = _units(objective, part)
            state.burn_open[1] += bad
            state.burn_open[2] += total
        if end <= hi:
            _end_bucket(closing, objective, state, budget)
        t = end


def _end_bucket(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState, budget: float
) -> None:
    cs, contract = closing.cs, closing.contract
    assert cs.period_start_ms is not None and cs.period_end_ms is not None
    assert state.burn_open is not None
    end, bad, total = state.burn_open
    state.burn_open = None
    state.burn_end = end
    state.burn_bad.append(bad)
    state.burn_total.append(total)
    if state.burn_period is None or state.burn_period[0] != cs.period_start_ms:
        state.burn_period = [cs.period_start_ms, 0, 0]
    state.burn_period[1] += bad
    state.burn_period[2] += total
    rules, keep = closing.burn_rules()
    if len(state.burn_bad) > keep:
        del state.burn_bad[: len(state.burn_bad) - keep]
        del state.burn_total[: len(state.burn_total) - keep]

    def make_id(rule: burn.BurnRule) -> str:
        return f"warn:{_ids(contract, objective, end)}:{rule.key}"

    changes = burn.evaluate(
        state.burn_bad, state.burn_total, rules, budget, state.warnings, make_id
    )
    if not changes:
        return
    remaining = _budget_remaining(closing, objective, state, end, budget)
    for change in changes:
        closing.out.warnings.append(
            {
                "record": "warning",
                **change,
                "contract_id": contract.id,
                "contract_version": contract.revision,
                "objective_id": objective.id,
                "sli": objective.sli,
                "budget_remaining": remaining,
                "period_start": utc_iso(cs.period_start_ms),
                "period_end": utc_iso(cs.period_end_ms),
                "detected_at": utc_iso(end),
            }
        )


def _budget_remaining(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState, at: int, budget: float
) -> float | None:
    """Share of the period's error budget not yet spent at ``at``: 1 − bad / (b × units), the
    units being those of the period so far plus, for availability, the service time to come."""
    assert state.burn_period is not None
    _, bad, total = state.burn_period
    if objective.sli != "error_rate":
        remaining_ms = iv.overlap(closing.owed, at, closing.piece_end) + closing.owed_after_ms
        if objective.sli == "node_availability":
            nodes = sum(1 for segs in closing.segments.values() if segs and segs[0][0] < at)
            total += remaining_ms * max(nodes, 1)
        else:
            total += remaining_ms // MINUTE_MS
    if total <= 0 or budget <= 0:
        return None
    return round(1.0 - bad / (budget * total), 6)


def _close_window(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState, acc: WindowAcc
) -> None:
    cs, contract = closing.cs, closing.contract
    period = state.period
    assert period is not None
    period.add(acc)
    sli = objective.sli
    good: int | None = acc.good
    total: int | None = acc.good + acc.bad
    coverage: float | None = None
    period_value: float | None
    if sli in AVAILABILITY:
        value, coverage = availability_value(objective, acc)
        period_value, _ = availability_value(objective, period)
        good, total = availability_counts(objective, acc)
    elif sli == "error_rate":
        value, period_value = _request_value(objective, acc), _request_value(objective, period)
        coverage = 1.0 if total else None
        if total is not None and total < objective.min_requests:
            value = None
    elif sli == "latency" or sli in GAUGES:
        windows = closing.data.latency_windows if sli == "latency" else closing.data.gauge_windows
        value, count = windows.get((objective.id, acc.start), (None, 0))
        good, total = None, count
        coverage = 1.0 if count else None
        if count < objective.min_requests:
            value = None
        # known only once the period is complete: on its last window
        period_value = _period_value(closing, objective, state) if acc.end == period.end else None
    else:
        value = period_value = reliability_value(
            objective, cs, acc.end, closing.operating_ms(acc.end)
        )
        good, total = None, failure_stats(cs, acc.end)["failures"]
    # reliability (Table A.1): –/failures, the period's so far as the window's total is
    period_good, period_total = (
        (None, total) if sli in RELIABILITY else _period_counts(objective, period)
    )
    compliant = objective.meets(value) if value is not None else None
    metric = {
        "record": "metric",
        "metric_id": _ids(contract, objective, acc.start),
        "contract_id": contract.id,
        "contract_version": contract.revision,
        "objective_id": objective.id,
        "sli": sli,
        "unit": objective.unit,
        "window_start": utc_iso(acc.start),
        "window_end": utc_iso(acc.end),
        "value": value,
        "good": good,
        "total": total,
        "coverage": coverage,
        "period_start": utc_iso(period.start),
        "period_end": utc_iso(period.end),
        "period_value": period_value,
        "period_good": period_good,
        "period_total": period_total,
        "compliant": compliant,
    }
    closing.out.metrics.append(metric)
    if sli in ("latency", "error_rate") or sli in GAUGES:
        _window_breach(closing, objective, state, acc, value, compliant)
    elif sli in AVAILABILITY:
        _availability_breach(closing, objective, state, acc)
    elif sli in MONOTONE_RELIABILITY and compliant is False:
        _open_period_breach(
            closing, objective, state, value, acc.end, {"failures": failures_as_of(cs, acc.end)}
        )
    if sli in PROBE_AVAILABILITY and (found := window_discrepancy(contract, objective, cs, acc)):
        closing.out.discrepancies.append(found)


def _period_counts(objective: ObjectiveRule, period: WindowAcc) -> tuple[int | None, int | None]:
    """The period's good and total, in the same units as the window's (reliability SLIs: the
    caller's failure count)."""
    if objective.sli == "latency" or objective.sli in GAUGES:
        return None, None
    if objective.sli in AVAILABILITY:
        return availability_counts(objective, period)
    return period.good, period.good + period.bad


def _priority(cs: ContractState, start: int, end: int) -> int | None:
    """Highest priority (impact × urgency, §6.2.2) of incidents overlapping [start, end)."""
    best = None
    for _, prio, s, e in cs.incident_log:
        if s < end and e > start:
            best = max(best or 0, prio)
    for prio, s in cs.incidents.values():
        if s < end:
            best = max(best or 0, prio)
    return best


def _breach(
    closing: Closing,
    objective: ObjectiveRule,
    breach_id: str,
    status: str,
    observed: float | None,
    start: int,
    end: int,
    detected: int,
    evidence: dict[str, Any],
) -> None:
    closing.out.breaches.append(
        {
            "record": "breach",
            "breach_id": breach_id,
            "status": status,
            "contract_id": closing.contract.id,
            "contract_version": closing.contract.revision,
            "objective_id": objective.id,
            "sli": objective.sli,
            "comparator": objective.comparator,
            "threshold": objective.threshold,
            "observed": observed,
            "window_start": utc_iso(start),
            "window_end": utc_iso(end),
            "detected_at": utc_iso(detected),
            "priority": _priority(closing.cs, start, min(end, detected)),
            "evidence": evidence,
        }
    )


def _window_breach(
    closing: Closing,
    objective: ObjectiveRule,
    state: ObjectiveState,
    acc: WindowAcc,
    value: float | None,
    compliant: bool | None,
) -> None:
    evidence = {"window_good": acc.good, "window_bad": acc.bad, "rule": closing.contract.source}
    if compliant is False and state.breach_id is None:
        state.breach_id = "breach:" + _ids(closing.contract, objective, acc.start)
        state.breach_kind = "window"
        _breach(
            closing,
            objective,
            state.breach_id,
            "opened",
            value,
            acc.start,
            acc.end,
            acc.end,
            evidence,
        )
    elif compliant is True and state.breach_id is not None and state.breach_kind == "window":
        _breach(
            closing,
            objective,
            state.breach_id,
            "resolved",
            value,
            acc.start,
            acc.end,
            acc.end,
            evidence,
        )
        state.breach_id = None
        state.breach_kind = None


def _availability_breach(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState, acc: WindowAcc
) -> None:
    """Open a period breach once the period can no longer meet the objective."""
    if state.breach_id is not None:
        return
    cs, contract = closing.cs, closing.contract
    period = state.period
    assert period is not None and cs.period_end_ms is not None
    # the best the rest of the period can do, from what is known at this window's end: every
    # remaining service minute perfect; exemptions not yet applied (they could only lower it),
    # and nodes counted only if they had reported by then — so batching cannot change it
    remaining_ms = iv.overlap(closing.owed, acc.end, closing.piece_end) + closing.owed_after_ms
    if objective.sli in PROBE_AVAILABILITY:
        remaining_units = remaining_ms // MINUTE_MS
        if objective.no_data == "unknown":
            best_total = period.good + period.bad + remaining_units
        else:
            best_total = period.evaluated + remaining_units
        bad = period.bad if objective.no_data != "unavailable" else period.evaluated - period.good
    else:
        nodes = max(
            sum(1 for segs in closing.segments.values() if segs and segs[0][0] < acc.end), 1
        )
        best_total = period.good + period.bad + remaining_ms * nodes
        bad = period.bad
    if best_total <= 0:
        return
    best = 100.0 * (best_total - bad) / best_total
    if not objective.meets(best):
        observed, _ = availability_value(objective, period)
        evidence = {
            "period_good": period.good,
            "period_bad": bad,
            "remaining_units": best_total - period.good - period.bad,
            "best_possible": round(best, 6),
            "exemptions": [e for e in cs.maintenance_log]
            + [
                {"force_majeure": r, "start": utc_iso(s), "end": utc_iso(e)}
                for s, e, r in contract.force_majeure
            ],
            "rule": contract.source,
        }
        _open_period_breach(closing, objective, state, observed, acc.end, evidence)


def _open_period_breach(
    closing: Closing,
    objective: ObjectiveRule,
    state: ObjectiveState,
    observed: float | None,
    detected: int,
    evidence: dict[str, Any],
) -> None:
    if state.breach_id is not None:
        return
    cs = closing.cs
    assert cs.period_start_ms is not None and cs.period_end_ms is not None
    state.breach_id = "breach:" + _ids(closing.contract, objective, cs.period_start_ms)
    state.breach_kind = "period"
    _breach(
        closing,
        objective,
        state.breach_id,
        "opened",
        observed,
        cs.period_start_ms,
        cs.period_end_ms,
        detected,
        evidence,
    )


def _period_value(
    closing: Closing, objective: ObjectiveRule, state: ObjectiveState
) -> float | None:
    period = state.period
    assert period is not None
    if objective.sli in AVAILABILITY:
        return availability_value(objective, period)[0]
    if objective.sli == "error_rate":
        total = period.good + period.bad
        return _request_value(objective, period) if total >= objective.min_requests else None
    if objective.sli == "latency" or objective.sli in GAUGES:
        periods = (
            closing.data.latency_periods
            if objective.sli == "latency"
            else closing.data.gauge_periods
        )
        value, count = periods.get((objective.id, period.start), (None, 0))
        return value if count >= objective.min_requests else None
    return reliability_value(objective, closing.cs, period.end, closing.operating_ms(period.end))


def _close_period(closing: Closing) -> None:
    """Period close: final value, period breaches, compensation once (§6.1.16)."""
    cs, contract = closing.cs, closing.contract
    assert cs.period_start_ms is not None and cs.period_end_ms is not None
    fee = period_fee(contract.metering, cs.usage)
    closing.out.usage.extend(period_usage(contract, cs, fee))
    remaining_cap = quantize(fee * contract.cap_percent / 100, contract.metering)
    measured: dict[str, float | None] = {}
    if cs.nodes:  # failures are tracked: a period without any scores reliability at its best
        measured["failure_count"] = float(failure_stats(cs, cs.period_end_ms)["failures"])
    for objective in contract.objectives:
        state = cs.objectives.setdefault(objective.id, ObjectiveState())
        if state.period is None:
            state.period = WindowAcc(cs.period_start_ms, cs.period_end_ms)
        observed = _period_value(closing, objective, state)
        key = MEASURE_KEYS.get((objective.sli, objective.source), objective.sli)
        measured.setdefault(key, observed)
        measured[f"{key}@{objective.id}"] = observed
        if (
            objective.sli in ("mttr", "mtbf")
            and observed is not None
            and not objective.meets(observed)
        ):
            _open_period_breach(
                closing,
                objective,
                state,
                observed,
                cs.period_end_ms,
                {"failures": failures_as_of(cs, cs.period_end_ms)},
            )
        if state.breach_id is not None and state.breach_kind == "period":
            _breach(
                closing,
                objective,
                state.breach_id,
                "resolved",
                observed,
                cs.period_start_ms,
                cs.period_end_ms,
                cs.period_end_ms,
                {"reason": "period closed", "final": observed},
            )
            state.breach_id = None
            state.breach_kind = None
        if objective.tiers and cs.period_start_ms not in state.paid_periods:
            remaining_cap = _compensate(closing, objective, state, observed, fee, remaining_cap)
            state.paid_periods = [*state.paid_periods[-11:], cs.period_start_ms]
        state.period = None
        state.window = None
    if contract.scoring is not None:
        closing.out.scorecards.append(
            scorecard(
                contract.scoring,
                measured,
                contract.spec.attested,
                software_support=contract.spec.software_support,
                contract_id=contract.id,
                provider_id=contract.provider_id,
                contract_version=contract.revision,
                period_start=utc_iso(cs.period_start_ms),
                period_end=utc_iso(cs.period_end_ms),
            )
        )


def _compensate(
    closing: Closing,
    objective: ObjectiveRule,
    state: ObjectiveState,
    observed: float | None,
    fee: Decimal,
    remaining_cap: Decimal,
) -> Decimal:
    cs, contract = closing.cs, closing.contract
    assert (
        cs.period_start_ms is not None and cs.period_end_ms is not None and state.period is not None
    )
    chosen = applicable_tier(objective, observed)
    percent = chosen[1].credit_percent if chosen else 0.0
    hours = chosen[1].extension_hours if chosen else 0.0
    amount, capped = credit(fee, percent, remaining_cap, contract.metering)
    closing.out.compensations.append(
        {
            "record": "compensation",
            "compensation_id": "comp:" + _ids(contract, objective, cs.period_start_ms),
            "contract_id": contract.id,
            "contract_version": contract.revision,
            "objective_id": objective.id,
            "sli": objective.sli,
            "period_start": utc_iso(cs.period_start_ms),
            "period_end": utc_iso(cs.period_end_ms),
            "observed": observed,
            "threshold": objective.threshold,
            "tier": chosen[0] if chosen else None,
            "credit_percent": percent,
            "credit_amount": str(amount),
            "currency": contract.metering.currency,
            "extension_hours": hours,
            "period_fee": str(fee),
            "capped": capped,
            "evidence": {
                **_period_evidence(closing, objective, state.period),
                "usage": dict(cs.usage),
                "fee_rule": "period_fee"
                if contract.metering.period_fee is not None
                else f"usage x unit_price ({contract.metering.unit})",
                "arithmetic": f"{fee} x {percent}% = {amount}" + (" (capped)" if capped else ""),
                "rule": contract.source,
            },
        }
    )
    return remaining_cap - amount


def _period_evidence(
    closing: Closing, objective: ObjectiveRule, period: WindowAcc
) -> dict[str, Any]:
    """The period counts behind a compensation, in the SLI's own units (README, Outputs):
    good/bad/evaluated minutes, node-ms or requests; the samples of a latency or gauge
    period; the period's failures for the reliability SLIs."""
    if objective.sli in RELIABILITY:
        return {"failures": failures_as_of(closing.cs, period.end)}
    if objective.sli == "latency" or objective.sli in GAUGES:
        data = closing.data
        periods = data.latency_periods if objective.sli == "latency" else data.gauge_periods
        return {"period_samples": periods.get((objective.id, period.start), (None, 0))[1]}
    return {"period_good": period.good, "period_bad": period.bad,
            "period_evaluated": period.evaluated}  # fmt: skip
