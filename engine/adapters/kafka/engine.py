"""Stage 2 of the worker: the per-partition core state around the Faust app.

``Engine.evaluate`` takes a micro-batch of keyed messages (``engine.adapters.kafka.routing``)
and, per partition, drops lines already evaluated (by telemetry origin offset), calls the
core's ``step`` and sends the outputs keyed by contract; then it waits for the broker to have
every partition's outputs and writes the partitions' checkpoints
(``engine.adapters.kafka.checkpoint``); only then are the messages acked. Timers call
``advance_idle`` (windows of idle contracts close on wall time) and ``reload_rules`` (a file
that fails validation is logged, the previous version stays).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from engine.adapters.kafka.checkpoint import (
    CheckpointReader,
    PartitionState,
    checkpoint_parts,
    encode_checkpoint,
)
from engine.adapters.kafka.clients import (
    bootstrap_servers,
    client_options,
    internal_topics,
)
from engine.adapters.kafka.delivery import (
    dead_letter,
    failed_record_dead_letter,
    fit_record,
    record_error,
)
from engine.adapters.kafka.gate import CommitGate
from engine.adapters.kafka.keyed import key_partition, keyed_batch
from engine.adapters.kafka.metrics import WorkerMetrics
from engine.adapters.kafka.outage import BrokerHealth
from engine.adapters.kafka.router import Router
from engine.adapters.kafka.routing import decode_routed, empty_message_error, split_origin
from engine.adapters.memory import HeapTrimmer
from engine.core.contract import Ruleset
from engine.core.origins import Listed
from engine.core.pipeline import Outputs, advance, step
from engine.core.records import DEAD, OUTPUT_KINDS
from engine.core.state import EngineState
from engine.dashboard import Feed
from engine.ruleset import ParseCache, load_rules_dir, merge_with_previous
from engine.settings import Settings

if TYPE_CHECKING:
    import faust
    from faust.types import EventT

__all__ = ["Engine", "fatal", "load_ruleset"]

log = logging.getLogger("csla.worker")

_T = TypeVar("_T")
_FATAL_EXIT = 70
_LOGGED_DEAD_PER_BATCH = 5
_BROKER_PROBE_SECONDS = 5.0

Send = tuple[str, bytes | None, bytes]  # topic, key, value
Source = tuple[str, int]  # the topic and partition a batch came from


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def load_ruleset(settings: Settings, previous: Ruleset | None = None) -> tuple[Ruleset, Any]:
    """The rules of ``settings.rules_dir`` (keeping ``previous`` versions of broken files)."""
    cache = ParseCache(settings.rules_cache_dir) if settings.rules_cache_dir else None
    report = load_rules_dir(settings.rules_dir, cache=cache)
    ruleset = report.ruleset if previous is None else merge_with_previous(previous, report)
    return ruleset, report


def _checkpoint_bytes(ps: PartitionState) -> bytes:
    return encode_checkpoint(ps.next_offset, ps.sources, ps.state.snapshot())


def _checkpoints_bytes(states: Sequence[PartitionState]) -> list[bytes]:
    return [_checkpoint_bytes(ps) for ps in states]


@dataclass
class _Sent:
    """Sends handed to the producer and not yet waited for, and the outputs they carry."""

    futures: list[tuple[Send, Source, Awaitable[Any]]] = field(default_factory=list)
    failed: list[tuple[Send, Source, Exception]] = field(default_factory=list)
    outputs: list[Outputs] = field(default_factory=list)


@dataclass
class _Stepped:
    """One partition of a stage-2 batch, stepped but not yet published nor checkpointed."""

    partition: int
    ps: PartitionState
    fresh: list[Any]
    state: EngineState
    out: Outputs
    source: Source
    now: int
    lines: int
    invalid: int
    started: float
    step_seconds: float


def fatal(what: str, exc: BaseException) -> None:
    """A programmer error: log it and end the process before Faust acks or commits anything."""
    log.critical("%s failed; exiting without committing: %r", what, exc, exc_info=exc)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    os._exit(_FATAL_EXIT)


class Engine:
    """The worker's state around the Faust app: rules, per-partition core state, metrics."""

    def __init__(self, settings: Settings, app: faust.App) -> None:
        self.settings = settings
        self.app = app
        self.by_contract_topic, self.state_topic = internal_topics(settings)
        # What stage 2 reads: the keyed lines of stage 1, or the telemetry itself when it is
        # keyed and partitioned by contract already (``keyed``: no stage 1).
        self.keyed = settings.input_keyed_by_contract
        self.source_topic = settings.topics.telemetry if self.keyed else self.by_contract_topic
        self._owners: dict[tuple[str, bytes], int] = {}
        self.ruleset, report = load_ruleset(settings)
        self._log_report(report, initial=True)
        self._rules_fingerprint = self._fingerprint()
        self.partitions: dict[int, PartitionState] = {}
        self.lock = asyncio.Lock()
        self.gate = CommitGate()
        self.metrics = WorkerMetrics()
        self.metrics.rule_reloads.labels("ok" if report.ok else "rejected").inc()
        self.metrics.contracts.set(len(self.ruleset.revisions))
        self.metrics.set_objectives(self.ruleset)
        self.dashboard = Feed()  # what this worker published, for /dashboard
        self.checkpoints = CheckpointReader(settings, self.state_topic)
        self.broker = BrokerHealth(settings.broker_down_seconds)
        self.heap = HeapTrimmer()
        # The core's step and the checkpoint's snapshot run beside the event loop: polars and
        # zlib release the GIL, so stage 1 and the Kafka clients go on meanwhile (+17 % batched
        # events/s in an alternating A/B run). One thread: batches stay in order, and the
        # caller holds ``self.lock``, so no two calls ever touch a partition's state at once.
        self._core = ThreadPoolExecutor(1, thread_name_prefix="csla-core")
        self.joined = False
        self.router = Router(
            settings,
            self.metrics,
            self.by_contract_topic,
            client_options=client_options(settings),
            bootstrap=bootstrap_servers(settings),
            fatal=fatal,
            on_dead=self.dashboard.feed,  # routing-stage dead letters count on /dashboard too
        )
        self.output_topics = {kind.name: settings.topics.output(kind) for kind in OUTPUT_KINDS}

    # -- sending ------------------------------------------------------------------------

    async def _send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        source: Source,
        partition: int | None = None,
    ) -> Awaitable[Any]:
        """Schedule one record; in a transaction, that of the source partition."""
        app = self.app
        if app.in_transaction:
            return await app.producer.send(
                topic,
                key,
                value,
                partition,
                None,
                None,
                transactional_id=self._transactional_id(source),
            )
        return await app.producer.send(topic, key, value, partition, None, None)

    async def _publish(
        self, sends: Sequence[tuple[Send, Source]]
    ) -> list[tuple[Send, Source, Exception]]:
        """Send all, wait for all; return the sends the broker refused as records (logged).
        Any other error (the connection, the transaction) is raised, as before. Each send
        goes with its source partition (its transaction, with ``exactly_once``)."""
        sent = _Sent()
        await self._start(sends, sent)
        return await self._settled(sent)

    async def _start(self, sends: Sequence[tuple[Send, Source]], sent: _Sent) -> None:
        """Hand every send to the producer, without waiting for the broker (``_settled``)."""
        for send, source in sends:
            try:
                sent.futures.append((send, source, await self._send(*send, source)))
            except Exception as exc:
                if not record_error(exc):
                    raise
                sent.failed.append((send, source, exc))

    async def _settled(self, sent: _Sent) -> list[tuple[Send, Source, Exception]]:
        """Wait for every send ``_start`` handed over; the refused ones, logged."""
        failed = sent.failed
        results = await asyncio.gather(*(f for _, _, f in sent.futures), return_exceptions=True)
        for (send, source, _), result in zip(sent.futures, results, strict=True):
            if isinstance(result, Exception) and record_error(result):
                failed.append((send, source, result))
            elif isinstance(result, BaseException):
                raise result
        for (topic, key, value), _, error in failed:
            self.metrics.unpublished.labels("refused").inc()
            log.error(
                "output to %s key=%r (%d bytes) refused: %r; dead-lettered",
                topic,
                key,
                len(value),
                error,
            )
        return failed

    def _transactional_id(self, source: Source) -> str:
        """The producer (transaction) Faust commits the offsets of ``source`` with."""
        group = self.app.assignor.group_for_topic(source[0])
        return f"{self.app.conf.id}-{group}-{source[1]}"

    async def _emit(self, out: Outputs, source: Source) -> None:
        """Publish every output of ``out`` and wait until the broker has them all."""
        sent = _Sent()
        await self._start_outputs(out, source, sent)
        await self._settle_outputs(sent)

    async def _start_outputs(self, out: Outputs, source: Source, sent: _Sent) -> None:
        """Hand every output of ``out`` to the producer; ``_settle_outputs`` waits for them
        (a stage-2 batch sends each partition's outputs as soon as it is stepped, and waits
        for the broker once, for all).

        No record outgrows ``max_message_bytes`` (``fit_record``), and a record the broker
        refuses (``record_error``) is dead-lettered instead: one record never stops the worker.
        """
        limit, dead_topic = self.settings.max_message_bytes, self.output_topics[DEAD.name]
        sends: list[tuple[Send, Source]] = []
        for kind, topic in self.output_topics.items():
            for record in getattr(out, kind):
                cid = record.get("contract_id")
                key = cid.encode() if isinstance(cid, str) else None
                to, to_key, value, replaced = fit_record(topic, key, record, limit, dead_topic)
                if replaced:
                    self.metrics.unpublished.labels("too_large").inc()
                    log.error(
                        "output to %s key=%r is larger than max.message.bytes %d: sent %s",
                        topic,
                        key,
                        limit,
                        "with raw cut" if to == topic else "as a dead letter",
                    )
                sends.append(((to, to_key, value), source))
        await self._start(sends, sent)
        sent.outputs.append(out)

    async def _settle_outputs(self, sent: _Sent) -> None:
        """Wait until the broker has every output handed over; dead-letter refused ones."""
        failed = await self._settled(sent)
        if failed:
            limit, dead_topic = self.settings.max_message_bytes, self.output_topics[DEAD.name]
            dead = [
                (
                    (
                        dead_topic,
                        None,
                        orjson.dumps(failed_record_dead_letter(*send, repr(e), limit)),
                    ),
                    source,
                )
                for send, source, e in failed
            ]
            still = await self._publish(dead)
            if still:  # the dead-letter topic refuses them too: not one record's fault
                raise still[0][2]
        for out in sent.outputs:
            self.metrics.count_outputs(out)
            for cid in out.quarantined:
                self.metrics.contract_errors.labels(cid).inc()
            if out.quarantined:
                log.error("contracts quarantined (evaluating them raised): %s", out.quarantined)
            self.dashboard.feed(r for kind in self.output_topics for r in getattr(out, kind))

    # -- stage 2 ------------------------------------------------------------------------

    async def evaluate(self, events: Sequence[EventT[Any]]) -> None:
        started = time.perf_counter()
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for event in events:
            by_partition[event.message.partition].append(event.message)
        self.metrics.messages_in.labels("evaluate").inc(len(events))
        async with self.lock:
            await self._evaluate_partitions(by_partition)
        self.metrics.batch_seconds.labels("evaluate").observe(time.perf_counter() - started)

    async def _evaluate_partition(self, partition: int, messages: list[Any]) -> None:
        await self._evaluate_partitions({partition: messages})

    async def _evaluate_partitions(self, by_partition: dict[int, list[Any]]) -> None:
        """Step every partition of the batch in turn, sending its outputs as soon as it is
        stepped; wait for the broker to have all of them once, then write all the partitions'
        checkpoints and wait once: each partition's checkpoint still follows its outputs, but
        the batch pays two rounds of acks, not two per partition. A failure drops the in-memory
        state of every partition of the batch (``_forget``): none of them is acked, and their
        next batch restores the checkpoint (outputs already sent are sent again then, as after
        a crash: at least once, each record with its deterministic id)."""
        stepped: list[_Stepped] = []
        sent = _Sent()
        try:
            for partition, messages in by_partition.items():
                done = await self._step_partition(partition, messages)
                if done is not None:
                    stepped.append(done)
                    await self._start_outputs(done.out, done.source, sent)
            if not stepped:
                return
            t1 = time.perf_counter()
            await self._settle_outputs(sent)
            for s in stepped:
                ps = s.ps
                for cid in {m.key.decode(errors="replace") for m in s.fresh if m.key}:
                    cs = s.state.contracts.get(cid)
                    if cs is not None:
                        ps.last_seen[cid] = (s.now, cs.max_event_ms)
                ps.state, ps.next_offset, ps.restored = s.state, s.fresh[-1].offset + 1, True
            self._show_quarantine()
            t2 = time.perf_counter()
            await self._checkpoint_all([(s.partition, s.ps, s.source) for s in stepped])
            self.heap.maybe()  # the batch's big buffers are freed: give the pages back
            t3 = time.perf_counter()
        except BaseException:
            for partition in by_partition:
                self._forget(partition)
            raise
        for s in stepped:
            if self.keyed:  # (stage 1 counts the lines it forwards; here there is none)
                self.metrics.events_in.inc(s.lines + s.invalid)
            self._log_batch(s.partition, s.fresh, s.out)
        if t3 - stepped[0].started > 1.0:
            log.info(
                "slow batch partitions=%s lines=%d step=%.2fs publish=%.2fs checkpoint=%.2fs",
                [s.partition for s in stepped],
                sum(s.lines for s in stepped),
                sum(s.step_seconds for s in stepped),
                t2 - t1,
                t3 - t2,
            )

    async def _step_partition(self, partition: int, messages: list[Any]) -> _Stepped | None:
        """The core's step on the partition's fresh messages (None: nothing fresh); the
        partition's state is not replaced yet (that waits for the outputs' acks)."""
        started = time.perf_counter()
        ps = self.partitions.get(partition)
        if ps is None:
            ps = self.partitions[partition] = await self.checkpoints.restore(partition, _wall_ms())
            # (a checkpoint of an older version may hold marks of unknown contracts: not kept)
            ps.sources = {c: s for c, s in ps.sources.items() if c in self.ruleset.revisions}
        fresh = [m for m in messages if m.offset >= ps.next_offset]
        if not fresh:
            return None
        # (With exactly_once, offsets of transaction markers and aborted records are gaps.)
        if ps.restored and fresh[0].offset > ps.next_offset and not self.app.in_transaction:
            log.error(
                "partition=%d offsets %d..%d were committed but are not in the checkpoint",
                partition,
                ps.next_offset,
                fresh[0].offset - 1,
            )
        if self.keyed:
            batch = keyed_batch(fresh, functools.partial(self._owner, fresh[0].topic))
            lines, origins, routed_to, invalid = (
                batch.lines,
                batch.origins,
                batch.routed_to,
                batch.dead,
            )
            redelivered = 0  # (Faust's offsets and the checkpoint's ``next_offset`` suffice)
            if batch.empty_messages:
                self.metrics.empty_messages.labels("evaluate").inc(batch.empty_messages)
        else:
            lines, origins, routed_to, invalid, redelivered = self._unrouted(ps, fresh)
        if redelivered:
            self.metrics.redelivered.inc(redelivered)
            log.info("partition=%d dropped %d line(s) routed twice", partition, redelivered)
        now = _wall_ms()
        t0 = time.perf_counter()
        step_routed = functools.partial(step, routed_to=routed_to)
        state, out = await self._in_core_thread(
            step_routed, ps.state, lines, Listed(origins), self.ruleset, now
        )
        if invalid:
            out.dead.extend(invalid)
            out.count("events_in", len(invalid))
            out.count("dead_letters", len(invalid))
        return _Stepped(
            partition,
            ps,
            fresh,
            state,
            out,
            (self.source_topic, partition),
            now,
            len(lines),
            len(invalid),
            started,
            time.perf_counter() - t0,
        )

    def _owner(self, topic: str, key: bytes) -> int:
        """The partition of ``topic`` that ``key`` belongs to (Kafka's default partitioner)."""
        owner = self._owners.get((topic, key))
        if owner is None:
            partitions = self.app.consumer.topic_partitions(topic)
            if not partitions:  # the consumer reads the topic: its metadata must be known
                raise RuntimeError(f"partition count of {topic} unknown")
            owner = self._owners[topic, key] = key_partition(key, partitions)
        return owner

    def _unrouted(
        self, ps: PartitionState, fresh: list[Any]
    ) -> tuple[list[bytes], list[str], list[str], list[dict[str, Any]], int]:
        """Stage 1's keyed messages → (lines, origins, owners, dead letters, lines dropped as
        routed twice)."""
        lines: list[bytes] = []
        origins: list[str] = []
        routed_to: list[str] = []
        redelivered = 0
        invalid: list[dict[str, Any]] = []
        known = self.ruleset.revisions
        for msg in fresh:
            routed = self._routed(msg, invalid)
            if routed is None:
                continue
            cid, msg_lines, runs = routed
            # Only contracts of the rules are remembered: a flood of unknown ids (each a dead
            # letter) must not grow the partition's state and its checkpoint (issue 11).
            seen = ps.sources.setdefault(cid, {}) if cid in known else {}
            start = 0
            for origin, count in runs:
                telemetry, offset = split_origin(origin)
                if offset > seen.get(telemetry, -1):
                    lines.extend(msg_lines[start : start + count])
                    origins.extend([origin] * count)
                    routed_to.extend([cid] * count)
                    seen[telemetry] = offset
                else:
                    redelivered += count
                start += count
        return lines, origins, routed_to, invalid, redelivered

    def _routed(
        self, msg: Any, invalid: list[dict[str, Any]]
    ) -> tuple[str, list[bytes], list[tuple[str, int]]] | None:
        """(contract, lines, origin runs) of a keyed message; None, with its dead letter
        appended to ``invalid``, when it is not one (a null or empty value, no key: anything
        else may write to the topic too)."""
        origin = f"{msg.topic}[{msg.partition}]@{msg.offset}"
        value = msg.value
        if not value or not value.strip():
            self.metrics.empty_messages.labels("evaluate").inc()
            error = empty_message_error(value)
        elif not msg.key:
            error = "keyed message without a contract key"
        else:
            try:
                lines, runs = decode_routed(value)
                return msg.key.decode(), lines, runs
            except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
                error = f"not a routed message: {exc}"
        invalid.append(dead_letter(origin, error, value))
        return None

    def _log_batch(self, partition: int, messages: list[Any], out: Outputs) -> None:
        first, last = messages[0].offset, messages[-1].offset
        for b in out.breaches:
            log.info(
                "breach %s contract=%s objective=%s window=%s..%s observed=%s partition=%d offsets=%d..%d",
                b["status"],
                b["contract_id"],
                b["objective_id"],
                b["window_start"],
                b["window_end"],
                b["observed"],
                partition,
                first,
                last,
            )
        for c in out.compensations:
            log.info(
                "compensation contract=%s objective=%s period=%s..%s credit=%s %s partition=%d offsets=%d..%d",
                c["contract_id"],
                c["objective_id"],
                c["period_start"],
                c["period_end"],
                c["credit_amount"],
                c["currency"],
                partition,
                first,
                last,
            )
        for logged, dead in enumerate(out.dead):
            if logged < _LOGGED_DEAD_PER_BATCH:
                log.warning("deadletter origin=%s error=%s", dead["origin"], dead["error"])
        log.debug(
            "evaluated partition=%d offsets=%d..%d stats=%s metrics=%d late=%d",
            partition,
            first,
            last,
            out.stats,
            len(out.metrics),
            len(out.late),
        )

    async def _checkpoint(self, partition: int, ps: PartitionState, source: Source) -> None:
        """Write the partition's checkpoint, in parts, to the slot not holding the last one."""
        await self._checkpoint_all([(partition, ps, source)])

    async def _checkpoint_all(self, batch: Sequence[tuple[int, PartitionState, Source]]) -> None:
        """Write the checkpoint of every partition of ``batch`` (snapshots taken in one call
        of the core thread), then wait once for the broker to have them all."""
        data = await self._in_core_thread(_checkpoints_bytes, [ps for _, ps, _ in batch])
        written = []
        for (partition, ps, source), blob in zip(batch, data, strict=True):
            slot = 1 - ps.slot
            parts = checkpoint_parts(partition, slot, time.time_ns(), blob)
            futures = [
                await self._send(
                    self.state_topic,
                    key,
                    value,
                    source,
                    partition=partition % (self.checkpoints.partitions or 1),
                )
                for key, value in parts
            ]
            written.append((partition, ps, slot, len(blob), futures))
        for partition, ps, slot, size, futures in written:
            for fut in futures:
                await fut
            ps.slot = slot
            self.metrics.checkpoints.inc()
            self.metrics.checkpoint_bytes.labels(str(partition)).set(size)

    def _forget(self, partition: int) -> None:
        """An interrupted batch (cancelled at shutdown, or failed) may leave the partition's
        in-memory state ahead of what was published: drop it, so that the partition's next
        batch restores the last checkpoint, which matches the committed offsets."""
        if self.partitions.pop(partition, None) is not None:
            log.warning("partition=%d state dropped after an interrupted batch", partition)

    async def _in_core_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._core, fn, *args)

    async def close(self) -> None:
        # The core thread is left to the interpreter's exit: Faust may still hand the agent a
        # batch after ``on_before_shutdown``, and an executor shut down would refuse it.
        await self.checkpoints.close()

    def on_revoked(self, revoked: Iterable[Any]) -> None:
        """Forget the state of partitions that left: a later assignment restores it anew."""
        for tp in revoked:
            if tp.topic == self.source_topic and self.partitions.pop(tp.partition, None):
                log.info("partition=%d revoked", tp.partition)
        self._show_quarantine()

    def _show_quarantine(self) -> None:
        """The contracts quarantined in this worker's partitions, on the gauge, /health and
        the dashboard."""
        held = {
            cid: why
            for ps in self.partitions.values()
            for cid, (why, _) in ps.state.quarantined.items()
        }
        self.metrics.contracts_quarantined.set(len(held))
        self.dashboard.set_quarantined(held)

    def assigned(self) -> list[int]:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:  # not started yet
            return []
        return sorted(tp.partition for tp in assignment if tp.topic == self.source_topic)

    # -- timers -------------------------------------------------------------------------

    async def advance_idle(self) -> None:
        """Move idle contracts' event time on by the wall time since their last event."""
        idle_ms = round(self.settings.idle_advance_seconds * 1000)
        if idle_ms <= 0:
            return
        advanced: list[str] = []
        async with self.gate.unit(), self.lock:
            now = _wall_ms()
            assigned = set(self.assigned())
            for partition, ps in list(self.partitions.items()):
                if partition not in assigned:
                    continue
                to_ms = {
                    cid: event_ms + (now - wall_ms)
                    for cid, (wall_ms, event_ms) in ps.last_seen.items()
                    if now - wall_ms >= idle_ms
                }
                if not to_ms:
                    continue
                state, out = advance(ps.state, self.ruleset, to_ms)
                ps.state = state
                if out.metrics or out.breaches or out.compensations:
                    source = (self.source_topic, partition)
                    try:
                        await self._emit(out, source)
                        await self._checkpoint(partition, ps, source)
                    except BaseException:
                        self._forget(partition)
                        raise
                    advanced.append(self._transactional_id(source))
                    log.info(
                        "advanced idle contracts=%s partition=%d metrics=%d breaches=%d",
                        sorted(to_ms),
                        partition,
                        len(out.metrics),
                        len(out.breaches),
                    )
        if advanced and self.app.in_transaction:
            await self._commit_transactions(advanced)

    async def _commit_transactions(self, transactional_ids: list[str]) -> None:
        """Commit what an ``advance`` sent: Faust only commits the transactions of partitions
        whose consumed offsets moved, and an idle partition's would stay open until the
        broker aborts it (``transaction.timeout.ms``), fencing its producer."""
        async with self.gate.exclusive():
            if self.gate.broken:
                return
            if self.gate.commit_unguarded is not None:
                # First the offsets acked so far, with the units that consumed them.
                await self.gate.commit_unguarded()
            producer = self.app.producer  # logs (and swallows) errors: the next send fails
            for transactional_id in transactional_ids:
                await producer.commit_transaction(transactional_id)
                await producer.maybe_begin_transaction(transactional_id)

    def _fingerprint(self) -> tuple[tuple[str, int, int], ...]:
        root = Path(self.settings.rules_dir)
        entries = []
        for path in sorted(root.rglob("*")) if root.is_dir() else []:
            if path.suffix in (".yaml", ".yml") and path.is_file():
                stat = path.stat()
                entries.append((str(path), stat.st_mtime_ns, stat.st_size))
        return tuple(entries)

    async def reload_rules(self) -> bool:
        """Reload the rules directory if a file changed; True if it was read.

        Listing and parsing run in a worker thread, so even a slow file never stalls the event
        loop (``/health``, the consumers, the group's heartbeats). Every rejected reload counts
        in ``csla_rule_reloads_total{result="rejected"}``: one with a file in error (unreadable,
        over a limit, invalid, or clashing with another file) and one that raised.
        """
        fingerprint = await asyncio.to_thread(self._fingerprint)
        if fingerprint == self._rules_fingerprint:
            return False
        self._rules_fingerprint = fingerprint  # a file that raises is not retried until it changes
        try:
            ruleset, report = await asyncio.to_thread(load_ruleset, self.settings, self.ruleset)
        except Exception:
            self.metrics.rule_reloads.labels("rejected").inc()
            raise
        self._log_report(report, initial=False)
        self.metrics.rule_reloads.labels("ok" if report.ok else "rejected").inc()
        self.ruleset = ruleset
        self.metrics.contracts.set(len(ruleset.revisions))
        self.metrics.set_objectives(ruleset)
        return True

    def _log_report(self, report: Any, *, initial: bool) -> None:
        for issue in report.issues:
            (log.error if issue.is_error else log.warning)("rules: %s", issue)
        for path in report.failed_paths:
            log.error(
                "rules: %s rejected; %s",
                path,
                "it is left out" if initial else "the previous version stays in force",
            )
        log.info(
            "rules %s: %d contract(s) from %s",
            "loaded" if initial else "reloaded",
            len(report.ruleset.revisions),
            self.settings.rules_dir,
        )

    def update_lag(self) -> None:
        monitor = self.app.monitor
        ends = monitor.tp_end_offsets or {}
        committed = monitor.tp_committed_offsets or {}
        for tp, end in ends.items():
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(
                max(0, end - committed.get(tp, 0))
            )
        for tp, lag in self.router.lag().items():
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)
        self.metrics.partitions.set(len(self.assigned()))

    async def probe_broker(self) -> bool:
        """Ask the broker for metadata (the router's producer); note the answer in
        ``self.broker`` (``/health``). True if it answered."""
        producer = self.router.producer
        if producer is None:  # not started yet, or stopping
            return True
        try:
            await asyncio.wait_for(producer.client.fetch_all_metadata(), _BROKER_PROBE_SECONDS)
        except Exception as exc:  # any failure of the probe is an unreachable broker
            self.broker.unreachable(repr(exc) if str(exc) else type(exc).__name__)
            self.metrics.broker_reachable.set(0)
            return False
        self.broker.reachable()
        self.metrics.broker_reachable.set(1)
        return True

    def health(self) -> tuple[dict[str, Any], int]:
        partitions = self.assigned()
        # Ready once the group has assigned partitions to this worker (perhaps none of the
        # keyed topic, with more workers than partitions) and no rebalance is under way.
        # Stage 1 likewise in its own group. Not ready while the broker has been unreachable
        # for ``broker_down_seconds``.
        joined = self.joined and self.router.joined and not getattr(self.app, "rebalancing", False)
        ready = joined and not self.broker.down
        body = {
            "status": "ok" if ready else ("broker unreachable" if joined else "starting"),
            "ready": ready,
            "broker_down_seconds": round(self.broker.down_seconds(), 1),
            "partitions": partitions,
            "telemetry_partitions": (
                partitions if self.keyed else [tp.partition for tp in self.router.assigned()]
            ),
            "contracts": len(self.ruleset.revisions),
            "app_id": self.settings.app_id,
        }
        return body, 200 if ready else 503
