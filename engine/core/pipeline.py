"""The engine's two verbs: ``step(state, lines)`` and ``advance(state)``.

``step`` decodes a batch, routes events to contracts, drops duplicates, marks events later
than their contract's watermark as late, buffers the rest, then closes every minute the
watermark has passed.  Lateness is decided per event in arrival order, so the outputs do not
depend on how the input was cut into batches.  Pure: the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

from engine.core.admission import MAX_FUTURE_MS, admit
from engine.core.closer import close_all, rules_fingerprint
from engine.core.closing import period_end_of
from engine.core.contract import Ruleset
from engine.core.control import fold_term_start
from engine.core.decode import decode, decode_frame
from engine.core.outputs import OUTPUT_NAMES, Outputs
from engine.core.state import ContractState, EngineState
from engine.core.watermark import watermark
from engine.core.windows import window_bounds

__all__ = ["MAX_FUTURE_MS", "OUTPUT_NAMES", "Outputs", "advance", "step"]

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def step(
    state: EngineState,
    lines: Sequence[bytes],
    origin: Callable[[int], str],
    ruleset: Ruleset,
    now_ms: int | None,
    block: bytes | None = None,
    routed_to: Sequence[str] | None = None,
    frame: pl.DataFrame | None = None,
    *,
    in_place: bool = False,
) -> tuple[EngineState, Outputs]:
    """Take one batch of JSON lines; return the new state and what became certain.  ``state``
    itself is left as it was: a caller whose batch fails keeps the state before it.

    ``now_ms``: the engine clock; an event more than 10 minutes after it is a dead letter.
    None (an offline replay without ``--now``): no such bound, the input's own event time
    is the only clock, so the outputs do not depend on the day of the run.

    ``block`` may carry the same lines already joined by newlines (a file chunk); ``frame``
    the batch as typed columns instead (Parquet: ``decode_frame``), ``lines[i]`` then being
    row ``i`` as JSON, read only for dead letters and late records.
    ``in_place``: the caller gives ``state`` up (``EngineState.taken``): it is changed where
    it is and returned, without a copy of each contract the batch changes.
    ``routed_to`` (the Kafka worker's stage 2) names the contract each line was routed to: a
    line that decodes to another contract is dead-lettered, never evaluated where another
    partition may own that contract's state.
    """
    # the caller's state stays as it was (a failed batch is undone), unless it gives it up
    state = state.taken() if in_place else state.copy()
    out = Outputs()
    for cid, (_, fingerprint) in list(state.quarantined.items()):
        if rules_fingerprint(ruleset, cid) != fingerprint:
            del state.quarantined[cid]  # its rules changed: evaluate it afresh
    decoded = decode(lines, origin, block) if frame is None else decode_frame(frame, lines, origin)
    out.dead.extend(d.record() for d in decoded.dead)
    out.count("events_in", len(lines))
    events = decoded.events
    events, progress = admit(out, state, events, lines, origin, ruleset, now_ms, routed_to)
    # the contracts this batch moves: only they can have a minute to close now (``_close``)
    touched = {*events.get_column("contract_id").unique(), *progress}
    events = fold_term_start(state, events)

    for cid, max_ms in (
        events.group_by("contract_id", maintain_order=True)
        .agg(pl.col("event_ms").max())
        .iter_rows()
    ):
        cs = state.writable(cid)
        if cs is None:
            state.contracts[cid] = ContractState(max_event_ms=max_ms)
        else:
            cs.max_event_ms = max(cs.max_event_ms, max_ms)
    for cid, moved in progress.items():
        if (cs := state.writable(cid)) is not None:
            cs.progress = moved
    keep = state.buffer.columns
    state.buffer = pl.concat([state.buffer, events.select(keep)], how="vertical")
    closed = _close(state, ruleset, touched)
    out.extend(closed)
    return state, out


def advance(
    state: EngineState,
    ruleset: Ruleset,
    to_ms: dict[str, int] | None = None,
    *,
    until_ms: int | None = None,
) -> tuple[EngineState, Outputs]:
    """Move event time on (never back) and close the windows that become certain; like
    ``step``, returns a new state and leaves ``state`` as it was.

    ``to_ms``: contract → its event time now, for idle contracts (the worker extrapolates by
    the wall time since a contract's last event); its watermark follows with the contract's
    grace, as it would for an event.  ``until_ms``: every contract's watermark reaches this
    instant itself (replay's ``--until``: close every window up to it); the grace is added
    here, not by the driver.
    """
    state = state.copy()
    to_ms = dict(to_ms or {})
    if until_ms is not None:
        for cid in state.contracts:
            contract = ruleset.latest(cid)
            if contract is not None:
                to_ms[cid] = max(to_ms.get(cid, until_ms), until_ms + contract.grace_ms)
    for cid, t in to_ms.items():
        cs = state.writable(cid)
        if cs is not None and t > cs.max_event_ms:
            cs.max_event_ms = t
        if cs is not None:
            # the driver's word (the worker's wall clock, replay's --until): every source
            cs.progress = {s: max(p, t) for s, p in cs.progress.items()} or {"platform": t}
    return state, _close(state, ruleset, None if until_ms is not None else set(to_ms))


def _targets(state: EngineState, ruleset: Ruleset, only: set[str] | None = None) -> dict[str, int]:
    """Contract → the instant it closes to now (only those with something to close), in the
    order of ``state.contracts``; ``only``: look at these contracts alone (the others have
    nothing to close)."""
    targets: dict[str, int] = {}
    first_event: dict[str, int] = {}
    contracts = state.contracts
    cids = list(contracts) if only is None else [cid for cid in contracts if cid in only]
    if any(contracts[cid].closed_until_ms is None for cid in cids):
        first_event = dict(
            state.buffer.group_by("contract_id").agg(pl.col("event_ms").min()).iter_rows()
        )
    for cid in cids:
        cs = contracts[cid]
        contract = ruleset.latest(cid)
        if contract is None:
            continue
        mark = watermark(contract, cs.progress)
        if mark is None:
            continue
        target = min(mark // MINUTE_MS * MINUTE_MS, contract.term_end_ms)
        closed = cs.closed_until_ms
        if closed is None:
            # evaluation starts at the minute of the earliest event (never before the term);
            # decided once the watermark has passed it, so no batching can make an earlier
            # event late
            first_ms = first_event.get(cid, cs.max_event_ms)
            if cs.nodes:  # node states reported before the term: judged from the term start
                first_ms = min(first_ms, ruleset.revisions[cid][0].term_start_ms)
            start = max(first_ms, ruleset.revisions[cid][0].term_start_ms)
            closed = start // MINUTE_MS * MINUTE_MS
            if target > closed:
                cs = state.writable(cid) or cs
                cs.closed_until_ms = cs.observed_from_ms = closed
        if target <= closed:
            continue  # nothing to close: every step below only lowers the target
        if target < contract.term_end_ms:
            # close whole steps only (the shortest window, at most an hour): every window and
            # usage hour still closes as soon as the watermark passes its end, and the fixed
            # cost of a closing is paid once per step, not once per batch
            current = ruleset.at(cid, closed) or contract
            step_ms = min([o.window_ms for o in current.objectives] + [HOUR_MS])
            aligned = window_bounds(target, contract.tz, step_ms)[0]
            # a period always closes at its end
            if cs.period_start_ms is not None and cs.period_start_ms <= closed < (
                cs.period_end_ms or 0
            ):
                period_end = cs.period_end_ms or 0
            else:
                period_end = period_end_of(current, closed)
            target = period_end if aligned < period_end <= target else aligned
        # a closing never spans a revision change: each range is judged under one revision
        revision_starts = [r.effective_from_ms for r in ruleset.revisions[cid]]
        next_revision = next((t for t in revision_starts if t > closed), None)
        if next_revision is not None:
            target = min(target, next_revision)
        if target > closed:
            targets[cid] = target
    return targets


def _close(state: EngineState, ruleset: Ruleset, moved: set[str] | None) -> Outputs:
    """Close every contract up to its watermark, one revision's range at a time.

    ``moved``: the contracts whose progress this call's caller moved (None: any may have).
    A contract's target depends only on its progress, its closing and the rules, so once a
    ``_close`` under ``ruleset`` has ended (every contract closed as far as it can:
    ``state.settled``), the next one under the same rules looks at the moved contracts
    alone: a small batch costs what its contracts cost, not what the state holds."""
    only = moved if moved is not None and state.settled is ruleset else None
    out = Outputs()
    while targets := _targets(state, ruleset, only):
        out.extend(close_all(state, ruleset, targets))
    state.settled = ruleset
    return out
