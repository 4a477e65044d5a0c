"""One closing of every contract up to its target: the closing events leave the buffer, are
aggregated per minute and contract, then each contract's range is evaluated
(``engine.core.evaluate``).  A contract whose evaluation raises is quarantined; the others
go on.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable
from typing import Any

import polars as pl

from engine.core import intervals as iv
from engine.core.closing import revision_of
from engine.core.contract import Contract, Ruleset
from engine.core.control import apply_control
from engine.core.distributions import close_gauges, close_latency
from engine.core.evaluate import Closing, Emitted, MinuteData, close_range
from engine.core.outputs import Outputs
from engine.core.state import EngineState
from engine.core.usage import usage_step

MINUTE_MS = 60_000


CONTROL_KINDS = ("node_state", "maintenance", "incident")


#: what evaluating one contract may raise and the quarantine catches: any error, and a panic
#: inside polars (a ``BaseException``, not an ``Exception``)
FAULTS = (Exception, pl.exceptions.PanicException)


def close_all(state: EngineState, ruleset: Ruleset, targets: dict[str, int]) -> Outputs:
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
    for cid in targets:  # the contracts this closing changes (the others stay shared)
        state.writable(cid)
    # each contract's revision of this closing, looked up once (a closing never spans a change)
    revisions = {cid: revision_of(ruleset, cid, state.contracts[cid]) for cid in targets}
    tz_of = {cid: contract.tz for cid, contract in revisions.items()}
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
    for cid, rows in _rows_by_contract(probes, "minute", "n", "ok"):
        data[cid].probes = rows
    _selected_probes(revisions, targets, closing, data)
    # requests per minute and owner (tenant, project) in one pass over the events; per minute
    # from those rows
    tokens = pl.col("tokens_in").fill_null(0) + pl.col("tokens_out").fill_null(0)
    per_owner = (
        closing.filter(pl.col("kind") == "request")
        .group_by("contract_id", "minute", "tenant_id", "project_id")
        .agg(n=pl.len(), ok=pl.col("ok").sum(), tokens=tokens.sum())
    )
    requests = (
        per_owner.group_by("contract_id", "minute")
        .agg(pl.col("n").sum(), pl.col("ok").sum(), pl.col("tokens").sum())
        .sort("contract_id", "minute")
    )
    for cid, rows in _rows_by_contract(requests, "minute", "n", "ok", "tokens"):
        data[cid].requests = rows
    by_owner = per_owner.sort(
        "contract_id", "minute", "tenant_id", "project_id", nulls_last=True
    ).with_columns(
        owner=pl.concat_str(_or_dash("tenant_id"), pl.lit("\x1f"), _or_dash("project_id"))
    )
    for cid, rows in _rows_by_contract(by_owner, "minute", "owner", "n", "tokens"):
        data[cid].requests_by_owner = rows
    # ties in event time keep arrival order: the buffer is in arrival order across batches
    control = closing.filter(pl.col("kind").is_in(CONTROL_KINDS)).sort(
        "contract_id", "event_ms", maintain_order=True
    )
    for row in control.iter_rows(named=True):
        data[row["contract_id"]].control.append(row)

    # phase 1: control events, per contract
    segments = {}
    for cid, target in targets.items():
        cs, contract = state.contracts[cid], revisions[cid]
        assert cs.closed_until_ms is not None
        try:
            segments[cid] = apply_control(cs, contract, data[cid], cs.closed_until_ms, target)
        except FAULTS as exc:
            failed[cid] = f"control events: {type(exc).__name__}: {exc}"
    targets = {c: t for c, t in targets.items() if c not in failed}
    # phase 2: latency histograms, vectorised
    evaluated: dict[str, list[iv.Interval]] = {}  # per contract, laid once for both

    def histograms(part: pl.DataFrame, these: dict[str, int]) -> None:
        close_latency(state, revisions, these, part, data, evaluated)
        close_gauges(state, revisions, these, part, data, evaluated)

    targets = _isolated(state, targets, closing, histograms, failed, "latency and gauges")
    # phase 3: objectives, windows, periods
    emitted = Emitted()
    for cid, target in targets.items():
        cs, contract = state.contracts[cid], revisions[cid]
        assert cs.closed_until_ms is not None
        marks = emitted.lengths()
        try:
            close_range(
                Closing(cs, contract, data[cid], segments[cid], emitted),
                cs.closed_until_ms,
                target,
            )
        except FAULTS as exc:
            emitted.truncate(marks)
            failed[cid] = f"objectives: {type(exc).__name__}: {exc}"
            continue
        cs.closed_until_ms = target
    for cid, reason in failed.items():
        quarantine(state, ruleset, out, cid, reason)
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


def _rows_by_contract(frame: pl.DataFrame, *columns: str) -> list[tuple[str, list[Any]]]:
    """Per contract of ``frame`` (sorted by contract first), the rows of ``columns`` as
    tuples: one conversion of the whole frame, cut where the contract changes."""
    if not frame.height:
        return []
    rows = frame.select(columns).rows()
    out, at = [], 0
    runs = frame.get_column("contract_id").rle().struct.unnest()
    for length, cid in runs.iter_rows():
        out.append((cid, rows[at : at + length]))
        at += length
    return out


def _or_dash(name: str) -> pl.Expr:
    """The text column ``name``, with "-" for null or empty (a metering owner key part)."""
    return (
        pl.when(pl.col(name).is_null() | (pl.col(name) == ""))
        .then(pl.lit("-"))
        .otherwise(pl.col(name))
    )


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
    except FAULTS:
        for name, frame in zip(_PARTIAL_FRAMES, saved, strict=True):
            setattr(state, name, frame)
    passed = {}
    for cid, target in targets.items():
        saved = [getattr(state, name) for name in _PARTIAL_FRAMES]
        try:
            run(closing.filter(pl.col("contract_id") == cid), {cid: target})
            passed[cid] = target
        except FAULTS as exc:
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


def quarantine(state: EngineState, ruleset: Ruleset, out: Outputs, cid: str, reason: str) -> None:
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
    revisions: dict[str, Contract],
    targets: dict[str, int],
    closing: pl.DataFrame,
    data: dict[str, MinuteData],
) -> None:
    """Per-minute probe counts of the resources each availability objective selects
    (``resources`` globs, e.g. storage or network endpoints)."""
    specs = [
        (cid, objective.id, "|".join(_glob_regex(g) for g in objective.resources))
        for cid in targets
        for objective in revisions[cid].objectives
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
