"""Per-contract evaluation of a closing range ``[A, B)`` of event time: the window walk.

Called by ``pipeline`` after the vectorised part has aggregated the closing events per minute
and applied control events (maintenance §6.1.13, node state, incidents §6.2.2).  Walks each
objective's evaluation windows piece by piece (``_piece``: a piece's good/bad/evaluated units),
closes windows (``window_close``), feeds early warnings (``early_warnings``), meters usage
and closes periods with their compensation (``period_close``).  Pure: no I/O, no clock.
"""

from __future__ import annotations

import bisect
import itertools

from engine.core import burn
from engine.core import intervals as iv
from engine.core.calendar import period_containing
from engine.core.closing import (
    Closing,
    Emitted,
    MinuteData,
    first_field,
    minutes_in,
)
from engine.core.contract import ObjectiveRule
from engine.core.control import evaluated_intervals, split_failures
from engine.core.early_warnings import burn_range
from engine.core.period_close import close_period
from engine.core.reliability import node_piece
from engine.core.sli import family
from engine.core.state import ObjectiveState, WindowAcc
from engine.core.window_close import close_window
from engine.core.windows import window_bounds

__all__ = ["Closing", "Emitted", "MinuteData", "close_range"]


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
                    node: h[max(bisect.bisect_right(h, start, key=first_field) - 1, 0) :]
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
            close_period(closing)
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
                index = bisect.bisect_right(history, lo, key=first_field) - 1
                owner = history[index][1] if index >= 0 else "-\x1f-"
                cs.metered.setdefault(owner, [0, 0, 0])[0] += up
    rows = minutes_in(closing.data.requests, a, b)
    usage["node_up_ms"] = usage.get("node_up_ms", 0) + total_up
    usage["requests"] = usage.get("requests", 0) + sum(r[1] for r in rows)
    usage["tokens"] = usage.get("tokens", 0) + sum(r[3] for r in rows)
    for _, owner, n, tokens in minutes_in(closing.data.requests_by_owner, a, b):
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
    sli = family(objective.sli)
    cursor = lo
    while cursor < hi:
        if state.window is None or cursor >= state.window.end:
            ws, we = window_bounds(cursor, contract.tz, objective.window_ms)
            state.window = WindowAcc(max(ws, cs.period_start_ms), min(we, cs.period_end_ms))
        piece_hi = min(hi, state.window.end)
        if budget is None:
            state.window.add(sli.piece(objective, closing, cursor, piece_hi))
        else:  # early warnings need the counts per 5-minute bucket
            buckets: dict[int, WindowAcc] = {}
            state.window.add(sli.piece(objective, closing, cursor, piece_hi, buckets))
            burn_range(closing, objective, state, buckets, cursor, piece_hi, budget)
        if piece_hi == state.window.end:
            close_window(closing, objective, state, state.window)
            state.window = None
        cursor = piece_hi
