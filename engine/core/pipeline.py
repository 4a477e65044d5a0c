"""The engine's two verbs: ``step(state, lines)`` and ``advance(state)``.

``step`` decodes a batch, routes events to contracts, drops duplicates, marks events later
than their contract's watermark as late, buffers the rest, then closes every minute the
watermark has passed.  Lateness is decided per event in arrival order, so the outputs do not
depend on how the input was cut into batches.  Pure: the caller passes the time.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from engine.core import gauges
from engine.core import histogram as hist
from engine.core import intervals as iv
from engine.core.calendar import PeriodSpec, period_containing, utc_iso
from engine.core.contract import EVENT_KINDS, SOURCES, Contract, Ruleset
from engine.core.control import (
    apply_control,
    at_term_start,
    before_term,
    evaluated_intervals,
    fold_term_start,
)
from engine.core.decode import decode, decode_frame, raw_fields
from engine.core.evaluate import Closing, Emitted, MinuteData, close_range
from engine.core.origins import origin_column
from engine.core.records import OUTPUT_KINDS
from engine.core.state import ContractState, EngineState
from engine.core.text import text
from engine.core.usage import usage_step
from engine.core.watermark import arrival_watermarks, watermark
from engine.core.windows import window_bounds

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
MAX_FUTURE_MS = 10 * 60_000
LATENCY_SOURCES = ("request", "probe", "storage_io", "network")
CONTROL_KINDS = ("node_state", "maintenance", "incident")
_DEDUP = ["contract_id", "provider_id", "source", "event_id"]
#: what evaluating one contract may raise and the quarantine catches: any error, and a panic
#: inside polars (a ``BaseException``, not an ``Exception``)
_FAULTS = (Exception, pl.exceptions.PanicException)


#: the record lists of ``Outputs``, in the fixed order of ``engine.core.records.OUTPUT_KINDS``
OUTPUT_NAMES = tuple(kind.name for kind in OUTPUT_KINDS)


@dataclass
class Outputs:
    metrics: list[dict[str, Any]] = field(default_factory=list)
    breaches: list[dict[str, Any]] = field(default_factory=list)
    compensations: list[dict[str, Any]] = field(default_factory=list)
    late: list[dict[str, Any]] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)
    usage: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    scorecards: list[dict[str, Any]] = field(default_factory=list)
    discrepancies: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=dict)
    # contracts quarantined in this step → why (engine.core.pipeline._quarantine)
    quarantined: dict[str, str] = field(default_factory=dict)

    def extend(self, other: Outputs) -> None:
        for name in OUTPUT_NAMES:
            getattr(self, name).extend(getattr(other, name))
        self.quarantined.update(other.quarantined)
        for key, value in other.stats.items():
            self.stats[key] = self.stats.get(key, 0) + value

    def count(self, key: str, n: int) -> None:
        if n:
            self.stats[key] = self.stats.get(key, 0) + n


def _contract_index(ruleset: Ruleset) -> pl.Expr:
    """``_cidx``: the position of the event's contract in ``ruleset.revisions`` (null for an
    unknown contract), looked up once per batch; :func:`_by_contract` gathers by it."""
    return pl.col("contract_id").replace_strict(
        list(ruleset.revisions), list(range(len(ruleset.revisions))), default=None,
        return_dtype=pl.UInt32,
    )  # fmt: skip


def _by_contract(
    ruleset: Ruleset, values: dict[str, Any], dtype: pl.DataType | None = None
) -> pl.Expr:
    """A column of per-contract ``values`` (null where absent), gathered by ``_cidx``: a join
    without copying the batch's other columns."""
    column = pl.Series([values.get(c) for c in ruleset.revisions], dtype=dtype or pl.Int64)
    return pl.lit(column).gather(pl.col("_cidx"))


_RULESET_COLUMNS: dict[int, tuple[Ruleset, tuple[pl.Series, ...]]] = {}


def _ruleset_columns(ruleset: Ruleset) -> tuple[pl.Series, ...]:
    """Per contract of ``ruleset`` (in ``revisions`` order): grace, term start and end,
    provider id and counting mask — the admission checks' inputs, built once per rule set
    (a worker keeps a handful of rule sets in its life; the cache holds the last four)."""
    cached = _RULESET_COLUMNS.get(id(ruleset))
    if cached is not None and cached[0] is ruleset:
        return cached[1]
    revisions = ruleset.revisions
    latest = [r[-1] for r in revisions.values()]
    columns = (
        pl.Series("_grace", [c.grace_ms for c in latest], dtype=pl.Int64),
        pl.Series("_term_start", [r[0].term_start_ms for r in revisions.values()], pl.Int64),
        pl.Series("_term_end", [c.term_end_ms for c in latest], dtype=pl.Int64),
        pl.Series("_provider", [c.provider_id for c in latest], dtype=pl.String),
        pl.Series("_counting", [_counting_mask(c) for c in latest], dtype=pl.Int64),
    )
    if len(_RULESET_COLUMNS) >= 4:
        _RULESET_COLUMNS.pop(next(iter(_RULESET_COLUMNS)))
    _RULESET_COLUMNS[id(ruleset)] = (ruleset, columns)
    return columns


def _counting_mask(contract: Contract) -> int:
    """Bit ``3 · kind index + source index`` set where the contract counts that pair."""
    return sum(
        1 << (3 * k + s)
        for k, kind in enumerate(EVENT_KINDS)
        for s, source in enumerate(SOURCES)
        if contract.counts(kind, source)
    )


def _source_kind_bit() -> pl.Expr:
    """``1 << (3 · kind index + source index)``: the event's bit in :func:`_counting_mask`."""
    kind = pl.col("kind").replace_strict(
        EVENT_KINDS, [8**k for k in range(len(EVENT_KINDS))], default=0, return_dtype=pl.Int64
    )
    source = pl.col("source").replace_strict(
        SOURCES, [1 << s for s in range(len(SOURCES))], default=0, return_dtype=pl.Int64
    )
    return kind * source


def _dedup(
    out: Outputs,
    state: EngineState,
    events: pl.DataFrame,
    narrow: pl.DataFrame,
    lines: Sequence[bytes],
    origin: Callable[[int], str],
) -> pl.DataFrame:
    """Duplicates, after lateness so a late copy is late whatever the batching: a repeated
    (contract, producer, source, event_id) is counted once, buffered or in this batch.  A
    repeat whose payload differs from the first copy's is a dead letter naming where the first
    copy came from (it is not the same event: someone reused an id).

    ``narrow`` holds the keys and ``seq`` of the candidates; ``events`` the decoded rows, read
    only to hash the payload of the rare repeats.  Returns ``narrow`` without the repeats."""
    payload = [c for c in state.buffer.columns if c != "_origin"]
    before = narrow.height
    first_mask = narrow.select(pl.struct(_DEDUP).is_first_distinct()).to_series()
    if not first_mask.all():
        keys = narrow.select(*_DEDUP, "seq")
        repeats = keys.filter(~first_mask)
        # the payload is hashed only where a key repeats: rare, and the bulk goes untouched
        firsts = keys.filter(first_mask).select(*_DEDUP, _first_seq="seq")
        repeats = repeats.join(firsts, on=_DEDUP, how="left")
        hashes = _payload_hash(events, payload, pl.concat([repeats["seq"], repeats["_first_seq"]]))
        conflicting = repeats.filter(
            pl.col("seq").replace_strict(hashes) != pl.col("_first_seq").replace_strict(hashes)
        )
        first = origin_column(origin, conflicting.get_column("_first_seq"))
        _conflicts(out, conflicting.with_columns(first), lines, origin, pl.col("_origin"))
        narrow = narrow.filter(first_mask)
    if state.buffer.height:
        seen = state.buffer.join(  # buffered first copies
            narrow.select(*_DEDUP, _seq="seq"), on=_DEDUP, how="inner"
        )
        if seen.height:
            mine = _payload_hash(events, payload, seen["_seq"])
            theirs = seen.select(
                "_seq", "_origin", "event_id", _first_hash=pl.struct(payload).hash()
            )
            conflicting = theirs.filter(
                pl.col("_seq").replace_strict(mine) != pl.col("_first_hash")
            )
            _conflicts(out, conflicting.rename({"_seq": "seq"}), lines, origin, pl.col("_origin"))
            narrow = narrow.filter(~pl.col("seq").is_in(seen["_seq"].implode()))
    out.count("duplicates", before - narrow.height - out.stats.get("_conflicts", 0))
    out.stats.pop("_conflicts", None)
    return narrow


def _payload_hash(events: pl.DataFrame, payload: list[str], seqs: pl.Series) -> dict[int, int]:
    """``seq`` → hash of the decoded payload, for the rows ``seqs`` of ``events``."""
    rows = events.filter(pl.col("seq").is_in(seqs.implode()))
    return dict(rows.select("seq", pl.struct(payload).hash()).iter_rows())


def _conflicts(
    out: Outputs,
    frame: pl.DataFrame,
    lines: Sequence[bytes],
    origin: Callable[[int], str],
    first: pl.Expr,
) -> None:
    if not frame.height:
        return
    reason = text(
        "event_id '{}' repeats an event of the same contract, provider and source with a "
        "different payload (first copy: {}); the first copy counts",
        "event_id",
        first.fill_null("unknown"),
    )
    _dead(out, frame, lines, origin, reason)
    out.count("_conflicts", frame.height)


def _dead(
    out: Outputs,
    frame: pl.DataFrame,
    lines: Sequence[bytes],
    origin: Callable[[int], str],
    reason: pl.Expr,
) -> None:
    for seq, message in frame.select("seq", reason.alias("r")).iter_rows():
        out.dead.append(
            {
                "record": "deadletter",
                **raw_fields(lines[seq]),
                "error": message,
                "origin": origin(seq),
            }
        )


def _drop_misrouted(
    out: Outputs,
    events: pl.DataFrame,
    lines: Sequence[bytes],
    origin: Callable[[int], str],
    routed_to: Sequence[str],
) -> pl.DataFrame:
    """Events whose ``contract_id`` is not the contract their line was routed to, dead-lettered
    (a line that names its contract twice with different values, or in escaped and plain
    spellings, can be read one way by the router and another way here)."""
    owner = pl.Series("_owner", routed_to, dtype=pl.String).gather(events.get_column("seq"))
    misrouted = events.get_column("contract_id") != owner
    if not misrouted.any():
        return events
    wrong = events.filter(misrouted).with_columns(owner.filter(misrouted))
    reason = text(
        "contract_id '{}' is not the contract '{}' this line was routed to: the line names "
        "its contract more than once, differently",
        "contract_id",
        "_owner",
    )
    _dead(out, wrong, lines, origin, reason)
    return events.filter(~misrouted)


def step(
    state: EngineState,
    lines: Sequence[bytes],
    origin: Callable[[int], str],
    ruleset: Ruleset,
    now_ms: int | None,
    block: bytes | None = None,
    routed_to: Sequence[str] | None = None,
    frame: pl.DataFrame | None = None,
) -> tuple[EngineState, Outputs]:
    """Take one batch of JSON lines; return the new state and what became certain.

    ``now_ms``: the engine clock; an event more than 10 minutes after it is a dead letter.
    None (an offline replay without ``--now``): no such bound, the input's own event time
    is the only clock, so the outputs do not depend on the day of the run.

    ``block`` may carry the same lines already joined by newlines (a file chunk); ``frame``
    the batch as typed columns instead (Parquet: ``decode_frame``), ``lines[i]`` then being
    row ``i`` as JSON, read only for dead letters and late records.
    ``routed_to`` (the Kafka worker's stage 2) names the contract each line was routed to: a
    line that decodes to another contract is dead-lettered, never evaluated where another
    partition may own that contract's state.
    """
    out = Outputs()
    for cid, (_, fingerprint) in list(state.quarantined.items()):
        if rules_fingerprint(ruleset, cid) != fingerprint:
            del state.quarantined[cid]  # its rules changed: evaluate it afresh
    decoded = decode(lines, origin, block) if frame is None else decode_frame(frame, lines, origin)
    out.dead.extend(d.record() for d in decoded.dead)
    out.count("events_in", len(lines))
    events = decoded.events
    if routed_to is not None and events.height:
        events = _drop_misrouted(out, events, lines, origin, routed_to)
    revisions = ruleset.revisions
    latest = {c: r[-1] for c, r in revisions.items()}
    events = events.with_columns(_cidx=_contract_index(ruleset)).with_columns(
        pl.lit(column).gather(pl.col("_cidx")) for column in _ruleset_columns(ruleset)
    )
    unknown = pl.col("_grace").is_null()
    # a node_state report before the term is the node's state at the term start (control.py)
    outside = ((pl.col("event_ms") < pl.col("_term_start")) & ~before_term()) | (
        pl.col("event_ms") >= pl.col("_term_end")
    )
    future = pl.lit(False) if now_ms is None else pl.col("event_ms") > now_ms + MAX_FUTURE_MS
    stranger = pl.col("provider_id") != pl.col("_provider")
    uncounted = (pl.col("_counting") & _source_kind_bit()) == 0
    held = pl.col("contract_id").is_in(list(state.quarantined))
    refused = events.select(
        (unknown | held | outside | future | stranger | uncounted).fill_null(True)
    ).to_series()
    if refused.any():
        reason = (
            pl.when(unknown)
            .then(text("unknown contract '{}': no rule file defines it", "contract_id"))
            .when(held)
            .then(
                text(
                    "contract '{}' is quarantined (evaluating it raised); its events are dead "
                    "letters until its rule file changes",
                    "contract_id",
                )
            )
            .when(future)
            .then(pl.lit("event_time is more than 10 minutes ahead of the engine clock"))
            .when(outside)
            .then(pl.lit("event_time is outside the contract term (§6.1.5)"))
            .when(stranger)
            .then(
                text(
                    "provider_id '{}' is not the provider of contract '{}' (parties.provider.id"
                    " is '{}')",
                    "provider_id",
                    "contract_id",
                    "_provider",
                )
            )
            .otherwise(
                text(
                    "source '{}' does not count for {} events of contract '{}' (the objectives'"
                    " sources, §6.1.3)",
                    "source",
                    "kind",
                    "contract_id",
                )
            )
        )
        _dead(out, events.filter(refused), lines, origin, reason)
    events = at_term_start(events)

    # The checks below read a narrow frame (the keys, row numbers of ``events``); the wide
    # frame of every decoded column is filtered once, at the end, to the accepted rows.
    narrow = events.select(
        *_DEDUP, "kind", "event_ms", "_reported", "seq", "_cidx", _row=pl.int_range(pl.len())
    )
    if refused.any():
        narrow = narrow.filter(~refused)
    # lateness, per contract in arrival order: late if its minute closed before it arrived
    contracts = state.contracts
    marks, progress = arrival_watermarks(
        narrow, latest, {cid: cs.progress for cid, cs in contracts.items()}
    )
    closed_until = {cid: cs.closed_until_ms for cid, cs in contracts.items()}
    narrow = narrow.with_columns(_mark=marks).with_columns(
        _wm=pl.max_horizontal(
            pl.col("_mark") // MINUTE_MS * MINUTE_MS, _by_contract(ruleset, closed_until)
        )
    )
    is_late = ((pl.col("event_ms") // MINUTE_MS + 1) * MINUTE_MS <= pl.col("_wm")).fill_null(False)
    late_mask = narrow.select(is_late).to_series()
    if late_mask.any():
        late = narrow.filter(late_mask)
        reported = pl.coalesce("_reported", "event_ms")  # before the term: its own time
        for seq, cid, eid, kind, t, wm in late.select(
            "seq", "contract_id", "event_id", "kind", reported, "_wm"
        ).iter_rows():
            out.late.append(
                {
                    "record": "late",
                    "origin": origin(seq),
                    "contract_id": cid,
                    "event_id": eid,
                    "kind": kind,
                    "event_time": utc_iso(t),
                    "watermark": utc_iso(wm),
                    "lateness_ms": wm - t,
                    **raw_fields(lines[seq]),
                }
            )
        narrow = narrow.filter(~late_mask)
    out.count("late", int(late_mask.sum()))
    narrow = _dedup(out, state, events, narrow, lines, origin)
    out.count("dead_letters", len(out.dead))
    out.count("accepted", narrow.height)
    rows = narrow.get_column("_row")
    if rows.len() < events.height:
        keep_rows = pl.Series([False] * events.height).scatter(rows, True)
        events = events.filter(keep_rows)
    events = events.with_columns(origin_column(origin, events.get_column("seq")))
    events = fold_term_start(state, events)

    for cid, max_ms in (
        events.group_by("contract_id", maintain_order=True)
        .agg(pl.col("event_ms").max())
        .iter_rows()
    ):
        cs = state.contracts.get(cid)
        if cs is None:
            state.contracts[cid] = ContractState(max_event_ms=max_ms)
        else:
            cs.max_event_ms = max(cs.max_event_ms, max_ms)
    for cid, moved in progress.items():
        if cid in state.contracts:
            state.contracts[cid].progress = moved
    keep = state.buffer.columns
    state.buffer = pl.concat([state.buffer, events.select(keep)], how="vertical")
    closed = _close(state, ruleset)
    out.extend(closed)
    return state, out


def advance(
    state: EngineState, ruleset: Ruleset, to_ms: dict[str, int]
) -> tuple[EngineState, Outputs]:
    """Move contracts' event time on to ``to_ms[contract]`` (never back) and close windows.

    Used for idle contracts (the worker extrapolates event time by the wall time elapsed since
    a contract's last event) and at the end of a replay with ``--until``.
    """
    for cid, t in to_ms.items():
        cs = state.contracts.get(cid)
        if cs is not None and t > cs.max_event_ms:
            cs.max_event_ms = t
        if cs is not None:
            # the driver's word (the worker's wall clock, replay's --until): every source
            cs.progress = {s: max(p, t) for s, p in cs.progress.items()} or {"platform": t}
    return state, _close(state, ruleset)


def _targets(state: EngineState, ruleset: Ruleset) -> dict[str, int]:
    targets: dict[str, int] = {}
    first_event: dict[str, int] = {}
    if any(cs.closed_until_ms is None for cs in state.contracts.values()):
        first_event = dict(
            state.buffer.group_by("contract_id").agg(pl.col("event_ms").min()).iter_rows()
        )
    for cid, cs in state.contracts.items():
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
                cs.closed_until_ms = cs.observed_from_ms = closed
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
                period_end = _period_end(current, closed)
            target = period_end if aligned < period_end <= target else aligned
        # a closing never spans a revision change: each range is judged under one revision
        revision_starts = [r.effective_from_ms for r in ruleset.revisions[cid]]
        next_revision = next((t for t in revision_starts if t > closed), None)
        if next_revision is not None:
            target = min(target, next_revision)
        if target > closed:
            targets[cid] = target
    return targets


def _close(state: EngineState, ruleset: Ruleset) -> Outputs:
    """Close every contract up to its watermark, one revision's range at a time."""
    out = Outputs()
    while targets := _targets(state, ruleset):
        out.extend(_close_once(state, ruleset, targets))
    return out


def _close_once(state: EngineState, ruleset: Ruleset, targets: dict[str, int]) -> Outputs:
    out = Outputs()
    # one boolean column, not a joined copy of the buffer: the buffer is the bulk of memory
    target_of = pl.col("contract_id").replace_strict(
        list(targets), list(targets.values()), default=-(2**62), return_dtype=pl.Int64
    )
    closing_mask = state.buffer.select(pl.col("event_ms") < target_of).to_series()
    closing = state.buffer.filter(closing_mask).with_columns(
        minute=pl.col("event_ms") // MINUTE_MS * MINUTE_MS
    )
    state.buffer = state.buffer.filter(~closing_mask)
    tz_of = {cid: _revision(ruleset, cid, state.contracts[cid]).tz for cid in targets}
    failed: dict[str, str] = {}

    def annex_b(part: pl.DataFrame, these: dict[str, int]) -> None:
        state.usage, usage = usage_step(state.usage, part, these, tz_of)
        out.usage.extend(usage)

    targets = _isolated(state, targets, closing, annex_b, failed, "Annex B usage")

    data: dict[str, MinuteData] = {cid: MinuteData() for cid in targets}
    probes = (
        closing.filter(pl.col("kind") == "probe")
        .group_by("contract_id", "minute")
        .agg(n=pl.len(), ok=pl.col("ok").sum())
        .sort("contract_id", "minute")
    )
    for cid, minute, n, ok in probes.iter_rows():
        data[cid].probes.append((minute, n, ok))
    _selected_probes(state, ruleset, targets, closing, data)
    requests = (
        closing.filter(pl.col("kind") == "request")
        .group_by("contract_id", "minute")
        .agg(
            n=pl.len(),
            ok=pl.col("ok").sum(),
            tokens=(pl.col("tokens_in").fill_null(0) + pl.col("tokens_out").fill_null(0)).sum(),
        )
        .sort("contract_id", "minute")
    )
    for cid, minute, n, ok, tok in requests.iter_rows():
        data[cid].requests.append((minute, n, ok, tok))
    by_owner = (
        closing.filter(pl.col("kind") == "request")
        .group_by("contract_id", "minute", "tenant_id", "project_id")
        .agg(
            n=pl.len(),
            tokens=(pl.col("tokens_in").fill_null(0) + pl.col("tokens_out").fill_null(0)).sum(),
        )
        .sort("contract_id", "minute", "tenant_id", "project_id", nulls_last=True)
    )
    for cid, minute, tenant, project, n, tok in by_owner.iter_rows():
        data[cid].requests_by_owner.append((minute, f"{tenant or '-'}\x1f{project or '-'}", n, tok))
    # ties in event time keep arrival order: the buffer is in arrival order across batches
    control = closing.filter(pl.col("kind").is_in(CONTROL_KINDS)).sort(
        "contract_id", "event_ms", maintain_order=True
    )
    for row in control.iter_rows(named=True):
        data[row["contract_id"]].control.append(row)

    # phase 1: control events, per contract
    segments = {}
    for cid, target in targets.items():
        cs, contract = state.contracts[cid], _revision(ruleset, cid, state.contracts[cid])
        assert cs.closed_until_ms is not None
        try:
            segments[cid] = apply_control(cs, contract, data[cid], cs.closed_until_ms, target)
        except _FAULTS as exc:
            failed[cid] = f"control events: {type(exc).__name__}: {exc}"
    targets = {c: t for c, t in targets.items() if c not in failed}
    # phase 2: latency histograms, vectorised
    evaluated: dict[str, list[iv.Interval]] = {}  # per contract, laid once for both

    def histograms(part: pl.DataFrame, these: dict[str, int]) -> None:
        _latency(state, ruleset, these, part, data, evaluated)
        _gauges(state, ruleset, these, part, data, evaluated)

    targets = _isolated(state, targets, closing, histograms, failed, "latency and gauges")
    # phase 3: objectives, windows, periods
    emitted = Emitted()
    for cid, target in targets.items():
        cs = state.contracts[cid]
        contract = _revision(ruleset, cid, cs)
        assert cs.closed_until_ms is not None
        marks = emitted.lengths()
        try:
            close_range(
                Closing(cs, contract, data[cid], segments[cid], emitted),
                cs.closed_until_ms,
                target,
            )
        except _FAULTS as exc:
            emitted.truncate(marks)
            failed[cid] = f"objectives: {type(exc).__name__}: {exc}"
            continue
        cs.closed_until_ms = target
    for cid, reason in failed.items():
        _quarantine(state, ruleset, out, cid, reason)
    out.metrics, out.breaches, out.compensations = (
        emitted.metrics,
        emitted.breaches,
        emitted.compensations,
    )
    out.warnings = emitted.warnings
    out.usage.extend(emitted.usage)
    out.scorecards = emitted.scorecards
    out.discrepancies = emitted.discrepancies
    return out


_PARTIAL_FRAMES = ("usage", "lat_windows", "lat_periods", "gauge_windows", "gauge_periods")


def _isolated(
    state: EngineState,
    targets: dict[str, int],
    closing: pl.DataFrame,
    run: Callable[[pl.DataFrame, dict[str, int]], None],
    failed: dict[str, str],
    what: str,
) -> dict[str, int]:
    """Run a vectorised phase over all ``targets``; if it raises, put the partial frames back
    and run it contract by contract, so only the contracts that raise fail (into ``failed``).
    Returns the targets that went through."""
    if failed:
        closing = closing.filter(pl.col("contract_id").is_in(list(targets)))
    saved = [getattr(state, name) for name in _PARTIAL_FRAMES]
    try:
        run(closing, targets)
        return targets
    except _FAULTS:
        for name, frame in zip(_PARTIAL_FRAMES, saved, strict=True):
            setattr(state, name, frame)
    passed = {}
    for cid, target in targets.items():
        saved = [getattr(state, name) for name in _PARTIAL_FRAMES]
        try:
            run(closing.filter(pl.col("contract_id") == cid), {cid: target})
            passed[cid] = target
        except _FAULTS as exc:
            for name, frame in zip(_PARTIAL_FRAMES, saved, strict=True):
                setattr(state, name, frame)
            failed[cid] = f"{what}: {type(exc).__name__}: {exc}"
    return passed


def rules_fingerprint(ruleset: Ruleset, cid: str) -> str:
    """What the rules of ``cid`` say, as a digest: a quarantine lasts until it changes."""
    digest = hashlib.sha256()
    for revision in ruleset.revisions.get(cid, ()):
        digest.update(revision.spec.model_dump_json().encode())
    return digest.hexdigest()[:16]


def _quarantine(state: EngineState, ruleset: Ruleset, out: Outputs, cid: str, reason: str) -> None:
    """Evaluating ``cid`` raised: keep nothing of it, dead-letter its events from now on
    until its rule file changes, and say so once (a dead letter and ``out.quarantined``)."""
    held = state.buffer.filter(pl.col("contract_id") == cid).height
    state.contracts.pop(cid, None)
    state.buffer = state.buffer.filter(pl.col("contract_id") != cid)
    for name in _PARTIAL_FRAMES:
        frame = getattr(state, name)
        setattr(state, name, frame.filter(pl.col("contract_id") != cid))
    state.quarantined[cid] = [reason, rules_fingerprint(ruleset, cid)]
    out.quarantined[cid] = reason
    out.dead.append(
        {
            "record": "deadletter",
            "raw": "",
            "error": f"contract '{cid}' quarantined: evaluating it raised ({reason}); its "
            f"state and {held} buffered event(s) are dropped, and its events are dead letters "
            "until its rule file changes",
            "origin": f"contract:{cid}",
        }
    )
    out.count("quarantined", 1)


def _selected_probes(
    state: EngineState,
    ruleset: Ruleset,
    targets: dict[str, int],
    closing: pl.DataFrame,
    data: dict[str, MinuteData],
) -> None:
    """Per-minute probe counts of the resources each availability objective selects
    (``resources`` globs, e.g. storage or network endpoints)."""
    specs = [
        (cid, objective.id, "|".join(_glob_regex(g) for g in objective.resources))
        for cid in targets
        for objective in _revision(ruleset, cid, state.contracts[cid]).objectives
        if objective.resources is not None
    ]
    if not specs:
        return
    probes = closing.filter(pl.col("kind") == "probe")
    for cid, oid, pattern in specs:
        data[cid].probes_for[oid] = [
            (minute, n, ok)
            for minute, n, ok in probes.filter(
                (pl.col("contract_id") == cid) & pl.col("resource_id").str.contains(pattern)
            )
            .group_by("minute")
            .agg(n=pl.len(), ok=pl.col("ok").sum())
            .sort("minute")
            .iter_rows()
        ]


def _glob_regex(glob: str) -> str:
    """A shell glob as a regex polars (Rust) accepts: Python's ``\\Z`` is Rust's ``\\z``."""
    return fnmatch.translate(glob).replace("\\Z", "\\z")


def _clipped_window(contract: Contract, t: int, window_ms: int) -> tuple[int, int]:
    """The evaluation window holding ``t``, cut to its period (as ``evaluate`` lays them)."""
    start, end = window_bounds(t, contract.tz, window_ms)
    period_start, period_end = period_containing(contract.period, t)
    return max(start, period_start), min(end, period_end, contract.term_end_ms)


def _revision(ruleset: Ruleset, cid: str, cs: ContractState) -> Contract:
    contract = ruleset.at(cid, cs.closed_until_ms or 0) or ruleset.latest(cid)
    assert contract is not None
    return contract


def _percentiles(
    parts: pl.DataFrame, start: str, percentiles: dict[tuple[str, str], float]
) -> dict[tuple[str, str, int], tuple[float | None, int]]:
    """(contract, objective, start) → (its objective's percentile, sample count)."""
    qs = sorted(set(percentiles.values()))
    values = hist.quantiles(parts, ["contract_id", "objective_id", start], qs)
    out: dict[tuple[str, str, int], tuple[float | None, int]] = {}
    for row in values.iter_rows(named=True):
        cid, oid = row["contract_id"], row["objective_id"]
        q = percentiles.get((cid, oid), qs[0])
        out[(cid, oid, row[start])] = (row[hist.quantile_name(q)], row["count"])
    return out


def _period_end(contract: Contract, t: int) -> int:
    """End of the period holding ``t`` (the term's last period ends with the term)."""
    return min(period_containing(contract.period, t)[1], contract.term_end_ms)


def _latency(
    state: EngineState,
    ruleset: Ruleset,
    targets: dict[str, int],
    closing: pl.DataFrame,
    data: dict[str, MinuteData],
    evaluated: dict[str, list[iv.Interval]],
) -> None:
    """Latency objectives, vectorised across contracts: bucket the closing events into their
    (period-clipped) windows, then finish the windows and periods this closing completes."""
    specs: list[tuple[str, str, str, int, bool]] = []
    percentiles: dict[tuple[str, str], float] = {}
    contracts: dict[str, Contract] = {}
    layouts: dict[
        tuple[PeriodSpec, str, int, int], int
    ] = {}  # same calendar, period and window → same windows
    for cid in targets:
        contract = contracts[cid] = _revision(ruleset, cid, state.contracts[cid])
        for objective in contract.objectives:
            if objective.sli == "latency":
                key = (contract.period, contract.tz, contract.term_end_ms, objective.window_ms)
                layout = layouts.setdefault(key, len(layouts))
                specs.append(
                    (cid, objective.id, objective.source, layout, objective.successful_only)
                )
                percentiles[(cid, objective.id)] = objective.percentile or 99.0
    if not specs:
        return
    keys = ["contract_id", "objective_id", "window_start", "window_end"]
    spec_frame = pl.DataFrame(
        specs,
        schema={"contract_id": pl.String, "objective_id": pl.String, "kind": pl.String,
                "_layout": pl.Int64, "_successful": pl.Boolean},
        orient="row",
    )  # fmt: skip
    rows = (
        closing.filter(pl.col("latency_ms").is_not_null())
        .select("contract_id", "kind", "minute", "latency_ms", "ok")
        .join(spec_frame, on=["contract_id", "kind"])
        # ``requests: successful``: failed samples leave the percentile
        .filter(~pl.col("_successful") | pl.col("ok").fill_null(False))
        .drop("ok", "_successful")
    )
    if rows.height:
        rows = _in_windows(_eligible(rows, state, contracts, targets, evaluated), layouts)
        part = hist.partials(rows, keys)
        state.lat_windows = hist.merge(state.lat_windows, part, keys)

    closed, state.lat_windows = _split_closed(state.lat_windows, targets)
    if closed.height:
        for (cid, oid, start), value in _percentiles(closed, "window_start", percentiles).items():
            data[cid].latency_windows[(oid, start)] = value
        # windows feed their period's histogram
        period_rows = [
            (cid, oid, ws, period_containing(contracts[cid].period, ws)[0])
            for cid, oid, ws in closed.select("contract_id", "objective_id", "window_start")
            .unique()
            .iter_rows()
        ]
        period_map = pl.DataFrame(
            period_rows,
            schema={"contract_id": pl.String, "objective_id": pl.String,
                    "window_start": pl.Int64, "period_start": pl.Int64},
            orient="row",
        )  # fmt: skip
        add = closed.join(period_map, on=["contract_id", "objective_id", "window_start"]).select(
            "contract_id", "objective_id", "period_start", "bucket", "count"
        )
        state.lat_periods = hist.merge(
            state.lat_periods, add, ["contract_id", "objective_id", "period_start"]
        )
    # periods that end inside this closing: their percentile, then drop them
    finished = [
        (cid, period_start)
        for cid, period_start in state.lat_periods.select("contract_id", "period_start")
        .unique()
        .iter_rows()
        if cid in targets and _period_end(contracts[cid], period_start) <= targets[cid]
    ]
    if finished:
        fin = pl.DataFrame(
            finished, schema={"contract_id": pl.String, "period_start": pl.Int64}, orient="row"
        )
        closed_periods = state.lat_periods.join(fin, on=["contract_id", "period_start"])
        for (cid, oid, start), value in _percentiles(
            closed_periods, "period_start", percentiles
        ).items():
            data[cid].latency_periods[(oid, start)] = value
        state.lat_periods = state.lat_periods.join(
            fin, on=["contract_id", "period_start"], how="anti"
        )


def _split_closed(
    windows: pl.DataFrame, targets: dict[str, int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(windows this closing completes, windows still open): a window is complete when its
    end is at or before its contract's closing target."""
    target_of = pl.col("contract_id").replace_strict(
        list(targets), list(targets.values()), default=-(2**62), return_dtype=pl.Int64
    )
    done = windows.select(pl.col("window_end") <= target_of).to_series()
    return windows.filter(done), windows.filter(~done)


def _eligible(
    rows: pl.DataFrame,
    state: EngineState,
    contracts: dict[str, Contract],
    targets: dict[str, int],
    evaluated: dict[str, list[iv.Interval]],
) -> pl.DataFrame:
    """The rows whose minute is evaluated (service time, term, exemptions); ``evaluated``
    caches each contract's evaluated time of this closing."""
    pairs = rows.select("contract_id", "minute").unique()
    for cid in pairs.get_column("contract_id").unique().to_list():
        if cid not in evaluated:
            cs = state.contracts[cid]
            evaluated[cid] = evaluated_intervals(
                cs, contracts[cid], cs.closed_until_ms or 0, targets[cid]
            )
    eligible = pairs.filter(
        pl.Series([iv.contains(evaluated[c], m) for c, m in pairs.iter_rows()], dtype=pl.Boolean)
    )
    return rows.join(eligible, on=["contract_id", "minute"])


def _in_windows(
    rows: pl.DataFrame, layouts: dict[tuple[PeriodSpec, str, int, int], int]
) -> pl.DataFrame:
    """Rows with ``_layout`` and ``minute`` → with their (period-clipped) window bounds."""
    by_layout = {index: key for key, index in layouts.items()}
    windows = []
    for layout, minute in rows.select("_layout", "minute").unique().iter_rows():
        period, tz, term_end, window_ms = by_layout[layout]
        start, end = window_bounds(minute, tz, window_ms)
        period_start, period_end = period_containing(period, minute)
        windows.append((layout, minute, max(start, period_start), min(end, period_end, term_end)))
    window_frame = pl.DataFrame(
        windows,
        schema={"_layout": pl.Int64, "minute": pl.Int64, "window_start": pl.Int64,
                "window_end": pl.Int64},
        orient="row",
    )  # fmt: skip
    return rows.join(window_frame, on=["_layout", "minute"])


def _gauges(
    state: EngineState,
    ruleset: Ruleset,
    targets: dict[str, int],
    closing: pl.DataFrame,
    data: dict[str, MinuteData],
    evaluated: dict[str, list[iv.Interval]],
) -> None:
    """Gauge objectives (``engine.core.gauges``), vectorised across contracts like latency:
    per-window partials merged into state, finished windows and periods handed to evaluate."""
    contracts: dict[str, Contract] = {}
    layouts: dict[tuple[PeriodSpec, str, int, int], int] = {}
    specs: dict[str, list[tuple[str, str, int, str, float]]] = {}
    statistic: dict[tuple[str, str], str] = {}
    for cid in targets:
        contract = contracts[cid] = _revision(ruleset, cid, state.contracts[cid])
        for objective in contract.objectives:
            if objective.sli in gauges.GAUGES:
                key = (contract.period, contract.tz, contract.term_end_ms, objective.window_ms)
                layout = layouts.setdefault(key, len(layouts))
                specs.setdefault(objective.sli, []).append(
                    (cid, objective.id, layout, objective.field or "", objective.param)
                )
                statistic[(cid, objective.id)] = objective.statistic or "mean"
    if not specs:
        return
    keys = ["contract_id", "objective_id", "window_start", "window_end"]
    parts = []
    for sli, sli_specs in specs.items():
        definition = gauges.GAUGES[sli]
        spec_frame = pl.DataFrame(
            sli_specs,
            schema={"contract_id": pl.String, "objective_id": pl.String, "_layout": pl.Int64,
                    "_field": pl.String, "_param": pl.Float64},
            orient="row",
        )  # fmt: skip
        x, y = gauges.values(sli)
        rows = (
            closing.filter(pl.col("kind") == definition.kind)
            .join(spec_frame, on="contract_id")
            .with_columns(x=x, y=y if y is not None else pl.lit(None, dtype=pl.Float64))
            .select("contract_id", "objective_id", "_layout", "minute", "x", "y")
        )
        if not rows.height:
            continue
        if definition.in_service_time:
            rows = _eligible(rows, state, contracts, targets, evaluated)
        parts.append(gauges.partials(_in_windows(rows, layouts), keys))
    for part in parts:
        state.gauge_windows = gauges.merge(state.gauge_windows, part, keys)

    closed, state.gauge_windows = _split_closed(state.gauge_windows, targets)
    period_keys = ["contract_id", "objective_id", "period_start"]
    if closed.height:
        for cid, oid, start, _, n, sx, sy, mn, mx in closed.iter_rows():
            value = gauges.value(statistic[(cid, oid)], n, sx, sy, mn, mx)
            data[cid].gauge_windows[(oid, start)] = (value, n)
        with_period = closed.with_columns(
            period_start=pl.Series(
                [
                    period_containing(contracts[cid].period, ws)[0]
                    for cid, ws in closed.select("contract_id", "window_start").iter_rows()
                ],
                dtype=pl.Int64,
            )
        )
        state.gauge_periods = gauges.merge(
            state.gauge_periods,
            with_period.select(*period_keys, *gauges.PARTIAL_SCHEMA),
            period_keys,
        )
    finished = [
        (cid, oid, start, n, sx, sy, mn, mx)
        for cid, oid, start, n, sx, sy, mn, mx in state.gauge_periods.iter_rows()
        if cid in targets and _period_end(contracts[cid], start) <= targets[cid]
    ]
    for cid, oid, start, n, sx, sy, mn, mx in finished:
        stat = statistic.get((cid, oid), "mean")
        data[cid].gauge_periods[(oid, start)] = (gauges.value(stat, n, sx, sy, mn, mx), n)
    if finished:
        fin = pl.DataFrame(
            [(cid, start) for cid, _, start, *_ in finished],
            schema={"contract_id": pl.String, "period_start": pl.Int64},
            orient="row",
        ).unique()
        state.gauge_periods = state.gauge_periods.join(
            fin, on=["contract_id", "period_start"], how="anti"
        )
