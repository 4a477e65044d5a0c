"""Admission of a decoded batch: which events count, and every other one as a dead letter or
a late record with its reason.

Refused (dead letters): unknown or quarantined contracts, events outside the term or too far
ahead of the engine clock, another provider's events, sources that do not count for a kind
(§6.1.3), misrouted lines and conflicting duplicates.  Late: an event whose minute its
contract had already closed when it arrived.  Duplicates: counted once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from engine.core.calendar import utc_iso
from engine.core.contract import EVENT_KINDS, SOURCES, Contract, Ruleset
from engine.core.control import at_term_start, before_term
from engine.core.origins import origin_column
from engine.core.outputs import Outputs
from engine.core.state import EngineState
from engine.core.text import text
from engine.core.watermark import arrival_watermarks
from engine.core.wire import raw_fields

DEDUP_KEYS = ["contract_id", "provider_id", "source", "event_id"]
MINUTE_MS = 60_000
MAX_FUTURE_MS = 10 * 60_000


def contract_index(ruleset: Ruleset) -> pl.Expr:
    """``_cidx``: the position of the event's contract in ``ruleset.revisions`` (null for an
    unknown contract), looked up once per batch; :func:`by_contract` gathers by it."""
    return pl.col("contract_id").replace_strict(
        list(ruleset.revisions), list(range(len(ruleset.revisions))), default=None,
        return_dtype=pl.UInt32,
    )  # fmt: skip


def by_contract(
    ruleset: Ruleset, values: dict[str, Any], dtype: pl.DataType | None = None
) -> pl.Expr:
    """A column of per-contract ``values`` (null where absent), gathered by ``_cidx``: a join
    without copying the batch's other columns."""
    column = pl.Series([values.get(c) for c in ruleset.revisions], dtype=dtype or pl.Int64)
    return pl.lit(column).gather(pl.col("_cidx"))


_RULESET_COLUMNS: dict[int, tuple[Ruleset, tuple[pl.Series, ...]]] = {}


def ruleset_columns(ruleset: Ruleset) -> tuple[pl.Series, ...]:
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


def source_kind_bit() -> pl.Expr:
    """``1 << (3 · kind index + source index)``: the event's bit in :func:`_counting_mask`."""
    kind = pl.col("kind").replace_strict(
        EVENT_KINDS, [8**k for k in range(len(EVENT_KINDS))], default=0, return_dtype=pl.Int64
    )
    source = pl.col("source").replace_strict(
        SOURCES, [1 << s for s in range(len(SOURCES))], default=0, return_dtype=pl.Int64
    )
    return kind * source


def drop_duplicates(
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
    first_mask = narrow.select(pl.struct(DEDUP_KEYS).is_first_distinct()).to_series()
    if not first_mask.all():
        keys = narrow.select(*DEDUP_KEYS, "seq")
        repeats = keys.filter(~first_mask)
        # the payload is hashed only where a key repeats: rare, and the bulk goes untouched
        firsts = keys.filter(first_mask).select(*DEDUP_KEYS, _first_seq="seq")
        repeats = repeats.join(firsts, on=DEDUP_KEYS, how="left")
        hashes = _payload_hash(events, payload, pl.concat([repeats["seq"], repeats["_first_seq"]]))
        conflicting = repeats.filter(
            pl.col("seq").replace_strict(hashes) != pl.col("_first_seq").replace_strict(hashes)
        )
        first = origin_column(origin, conflicting.get_column("_first_seq"))
        _conflicts(out, conflicting.with_columns(first), lines, origin, pl.col("_origin"))
        narrow = narrow.filter(first_mask)
    if state.buffer.height:
        seen = state.buffer.join(  # buffered first copies
            narrow.select(*DEDUP_KEYS, _seq="seq"), on=DEDUP_KEYS, how="inner"
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
    dead_letters(out, frame, lines, origin, reason)
    out.count("_conflicts", frame.height)


def dead_letters(
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


def drop_misrouted(
    out: Outputs,
    events: pl.DataFrame,
    lines: Sequence[bytes],
    origin: Callable[[int], str],
    routed_to: Sequence[str],
) -> pl.DataFrame:
    """Events whose ``contract_id`` is not the contract their line was routed to, dead-lettered:
    with keyed input (``CSLA_INPUT_KEYED_BY_CONTRACT``), a message whose key names another
    contract; after the re-key hop, a line that names its contract twice with different
    values, or in escaped and plain spellings, read one way by the router and another here."""
    owner = pl.Series("_owner", routed_to, dtype=pl.String).gather(events.get_column("seq"))
    misrouted = events.get_column("contract_id") != owner
    if not misrouted.any():
        return events
    wrong = events.filter(misrouted).with_columns(owner.filter(misrouted))
    reason = text(
        "contract_id '{}' is not the contract '{}' this line was routed to (by its message "
        "key, or by another spelling of contract_id in the same line); it is not evaluated "
        "where another partition may own that contract",
        "contract_id",
        "_owner",
    )
    dead_letters(out, wrong, lines, origin, reason)
    return events.filter(~misrouted)


def admit(
    out: Outputs,
    state: EngineState,
    events: pl.DataFrame,
    lines: Sequence[bytes],
    origin: Callable[[int], str],
    ruleset: Ruleset,
    now_ms: int | None,
    routed_to: Sequence[str] | None,
) -> tuple[pl.DataFrame, dict[str, dict[str, int]]]:
    """The decoded ``events`` that count, with their ``_origin``; every other one goes to
    ``out`` (a dead letter or a late record, with its reason) and into the books.  Also
    returns each contract's per-source progress after this batch (``engine.core.watermark``),
    which the caller stores once it buffers the events.  Reads ``state``, never changes it."""
    if routed_to is not None and events.height:
        events = drop_misrouted(out, events, lines, origin, routed_to)
    revisions = ruleset.revisions
    latest = {c: r[-1] for c, r in revisions.items()}
    events = events.with_columns(_cidx=contract_index(ruleset)).with_columns(
        pl.lit(column).gather(pl.col("_cidx")) for column in ruleset_columns(ruleset)
    )
    unknown = pl.col("_grace").is_null()
    # a node_state report before the term is the node's state at the term start (control.py)
    outside = ((pl.col("event_ms") < pl.col("_term_start")) & ~before_term()) | (
        pl.col("event_ms") >= pl.col("_term_end")
    )
    future = pl.lit(False) if now_ms is None else pl.col("event_ms") > now_ms + MAX_FUTURE_MS
    stranger = pl.col("provider_id") != pl.col("_provider")
    uncounted = (pl.col("_counting") & source_kind_bit()) == 0
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
        dead_letters(out, events.filter(refused), lines, origin, reason)
    events = at_term_start(events)

    # The checks below read a narrow frame (the keys, row numbers of ``events``); the wide
    # frame of every decoded column is filtered once, at the end, to the accepted rows.
    narrow = events.select(
        *DEDUP_KEYS, "kind", "event_ms", "_reported", "seq", "_cidx", _row=pl.int_range(pl.len())
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
            pl.col("_mark") // MINUTE_MS * MINUTE_MS, by_contract(ruleset, closed_until)
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
    narrow = drop_duplicates(out, state, events, narrow, lines, origin)
    out.count("dead_letters", len(out.dead))
    out.count("accepted", narrow.height)
    rows = narrow.get_column("_row")
    if rows.len() < events.height:
        keep_rows = pl.Series([False] * events.height).scatter(rows, True)
        events = events.filter(keep_rows)
    events = events.with_columns(origin_column(origin, events.get_column("seq")))
    return events, progress
