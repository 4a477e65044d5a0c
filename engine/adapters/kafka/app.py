"""The Faust worker: two thin agents around the pure core (``engine.core.pipeline``).

Stage 1, ``engine.adapters.kafka.router``: reads raw telemetry on a plain aiokafka consumer
group of its own (``<app_id>-route``), splits each message into one JSON text per event and
republishes the lines to the internal topic ``<app_id>-csla-by-contract``, keyed by contract (one
NDJSON message per contract and batch, first line the lines' origins). See that module for why
it is not a Faust agent.

Stage 2, ``evaluate``: reads the keyed topic in micro-batches, keeps one ``EngineState`` per
partition, calls ``step`` and publishes the outputs keyed by contract. After each partition's
batch it awaits the delivery of every output, then writes a checkpoint to the compacted topic
``<app_id>-csla-state`` (key ``p<partition>``): the zlib-compressed state snapshot plus the
offset of the first message the state does not hold. Only after that does the agent ack the
batch's messages (which Faust commits later).
So a committed offset is never ahead of a checkpoint, and on a restart or a rebalance the new
owner restores the checkpoint, skips messages below its offset and evaluates the rest again:
nothing is lost, and whatever is produced twice is produced by the same deterministic core
from the same state and lines, with the same ids (§ at-least-once + de-duplication by id).
With ``processing_guarantee=exactly_once`` every send of a batch (outputs, repartitioned
lines, checkpoint) joins the Kafka transaction of the source partition that Faust commits
with the consumed offsets, and a ``CommitGate`` keeps Faust's commits between batches, never
inside one: a transaction holds whole batches (outputs with their checkpoint) and their offsets.

Timers: rule hot reload (a file that fails validation is logged, the previous version stays),
``advance`` of idle contracts (``idle_advance_seconds``; with exactly_once it commits its own
transaction, as no consumed offset would), consumer-lag metrics. Web: ``/metrics``
(Prometheus) and ``/health``. A programmer error in a batch is logged as CRITICAL and ends the
process at once, without acking the batch, so that no offset is committed past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
import zlib
from collections import defaultdict
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from engine.adapters.kafka.gate import CommitGate
from engine.adapters.kafka.metrics import WorkerMetrics
from engine.adapters.kafka.router import Router
from engine.adapters.kafka.routing import decode_routed, split_origin
from engine.core.contract import Ruleset
from engine.core.pipeline import Outputs, advance, step
from engine.core.state import EngineState
from engine.dashboard import Feed, register_routes
from engine.ruleset import load_rules_dir, merge_with_previous
from engine.settings import Settings

if TYPE_CHECKING:
    import faust
    from faust.types import EventT

__all__ = [
    "CommitGate",
    "bootstrap_servers",
    "client_options",
    "decode_checkpoint",
    "encode_checkpoint",
    "ensure_topics",
    "internal_topics",
    "load_ruleset",
    "make_app",
    "run_worker",
]

log = logging.getLogger("csla.worker")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
_CHECKPOINT_MAGIC = b"CSLACK2\n"
_FATAL_EXIT = 70
_PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4"  # aiohttp sets the charset
_LOGGED_DEAD_PER_BATCH = 5


# --------------------------------------------------------------------------- settings → clients


def bootstrap_servers(settings: Settings) -> list[str]:
    """``kafka://h1:9092;kafka://h2:9092`` (or comma-separated) → ``["h1:9092", "h2:9092"]``."""
    hosts = settings.broker.replace(";", ",").split(",")
    return [h.strip().removeprefix("kafka://") for h in hosts if h.strip()]


def _ssl_context(settings: Settings) -> Any:
    from aiokafka.helpers import create_ssl_context

    return create_ssl_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
        certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
    )


def client_options(settings: Settings) -> dict[str, Any]:
    """Security options for aiokafka clients (producer, admin, consumer)."""
    protocol = settings.security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(settings)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        options["sasl_mechanism"] = settings.sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.sasl_username
        password = settings.sasl_password
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


def _faust_credentials(settings: Settings) -> Any:
    import faust

    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(_ssl_context(settings))
    password = settings.sasl_password
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=password.get_secret_value() if password else None,
        ssl_context=_ssl_context(settings) if protocol == "SASL_SSL" else None,
        mechanism=settings.sasl_mechanism or "PLAIN",
    )


# --------------------------------------------------------------------------- topics


def internal_topics(settings: Settings) -> tuple[str, str]:
    """(keyed lines, state checkpoints): private to the consumer group ``app_id``."""
    return f"{settings.app_id}-csla-by-contract", f"{settings.app_id}-csla-state"


def _topic_specs(settings: Settings) -> dict[str, dict[str, str]]:
    retention = {"retention.ms": str(settings.retention_hours * 3_600_000)}
    t = settings.topics
    specs = {
        name: dict(retention)
        for name in (
            t.telemetry,
            t.metrics,
            t.breaches,
            t.compensations,
            t.late,
            t.deadletter,
            t.usage,
            t.warnings,
            t.scorecards,
        )
    }
    by_contract, state = internal_topics(settings)
    specs[by_contract] = {**retention, "max.message.bytes": str(MAX_MESSAGE_BYTES)}
    specs[state] = {
        "cleanup.policy": "compact",
        "max.message.bytes": str(MAX_MESSAGE_BYTES),
        "segment.ms": str(15 * 60_000),
        "min.cleanable.dirty.ratio": "0.2",
    }
    return specs


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the engine's topics that do not exist yet; return the names created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers(settings), **client_options(settings)
    )
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        for name, config in _topic_specs(settings).items():
            if name in existing:
                continue
            topic = NewTopic(
                name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=config,
            )
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                response = await admin.create_topics([topic])
                for _name, code, *_rest in getattr(response, "topic_errors", []):
                    if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS
                        raise RuntimeError(f"cannot create topic {name!r}: error code {code}")
                created.append(name)
        return created
    finally:
        await admin.close()


# --------------------------------------------------------------------------- checkpoints


def encode_checkpoint(
    next_offset: int, sources: dict[str, dict[str, int]], snapshot: bytes
) -> bytes:
    """Magic, then zlib of: a JSON header line (offset, sources) and the state snapshot."""
    head = orjson.dumps({"next_offset": next_offset, "sources": sources})
    return _CHECKPOINT_MAGIC + zlib.compress(head + b"\n" + snapshot, 1)


def decode_checkpoint(data: bytes) -> tuple[int, dict[str, dict[str, int]], bytes]:
    """(first offset not in the state, per-contract source high-water marks, snapshot)."""
    if not data.startswith(_CHECKPOINT_MAGIC):
        raise ValueError("not a CSLA checkpoint")
    head, _, snapshot = zlib.decompress(data[len(_CHECKPOINT_MAGIC) :]).partition(b"\n")
    header = orjson.loads(head)
    return int(header["next_offset"]), header["sources"], snapshot


@dataclass
class PartitionState:
    """One stage-2 partition: the core state, the first offset it does not hold, and for each
    contract and telemetry partition the last telemetry offset evaluated (``sources``): stage 1
    is at-least-once, and a line it routes again after a restart is dropped here, not evaluated
    twice (the core would call an old event late, not a duplicate, once its minute closed)."""

    state: EngineState
    next_offset: int
    restored: bool
    sources: dict[str, dict[str, int]] = field(default_factory=dict)
    last_seen: dict[str, tuple[int, int]] = field(default_factory=dict)  # wall ms, event ms


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


def _with_grace(ruleset: Ruleset, grace_seconds: float | None) -> Ruleset:
    if grace_seconds is None:
        return ruleset
    grace_ms = round(grace_seconds * 1000)
    return Ruleset(
        {
            cid: tuple(dataclasses.replace(c, grace_ms=grace_ms) for c in revisions)
            for cid, revisions in ruleset.revisions.items()
        }
    )


def load_ruleset(settings: Settings, previous: Ruleset | None = None) -> tuple[Ruleset, Any]:
    """The rules of ``settings.rules_dir`` (keeping ``previous`` versions of broken files)."""
    report = load_rules_dir(settings.rules_dir)
    ruleset = report.ruleset if previous is None else merge_with_previous(previous, report)
    return _with_grace(ruleset, settings.grace_seconds), report


# --------------------------------------------------------------------------- the engine


def _fatal(what: str, exc: BaseException) -> None:
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
        self.ruleset, report = load_ruleset(settings)
        self._log_report(report, initial=True)
        self._rules_fingerprint = self._fingerprint()
        self.partitions: dict[int, PartitionState] = {}
        self.lock = asyncio.Lock()
        self.gate = CommitGate()
        self.metrics = WorkerMetrics()
        self.metrics.contracts.set(len(self.ruleset.revisions))
        self.dashboard = Feed()  # what this worker published, for /dashboard
        self._reader: Any = None
        self.joined = False
        self._state_partitions: int | None = None  # known from the first restore on
        self.router = Router(
            settings,
            self.metrics,
            self.by_contract_topic,
            client_options=client_options(settings),
            bootstrap=bootstrap_servers(settings),
            fatal=_fatal,
        )
        t = settings.topics
        self.output_topics = {
            "metrics": t.metrics,
            "breaches": t.breaches,
            "compensations": t.compensations,
            "late": t.late,
            "dead": t.deadletter,
            "usage": t.usage,
            "warnings": t.warnings,
            "scorecards": t.scorecards,
        }

    # -- sending ------------------------------------------------------------------------

    async def _send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        source: tuple[str, int],
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

    def _transactional_id(self, source: tuple[str, int]) -> str:
        """The producer (transaction) Faust commits the offsets of ``source`` with."""
        group = self.app.assignor.group_for_topic(source[0])
        return f"{self.app.conf.id}-{group}-{source[1]}"

    async def _emit(self, out: Outputs, source: tuple[str, int]) -> None:
        """Publish every output of ``out`` and wait until the broker has them all."""
        pending = []
        for kind, topic in self.output_topics.items():
            for record in getattr(out, kind):
                cid = record.get("contract_id")
                key = cid.encode() if isinstance(cid, str) else None
                pending.append(await self._send(topic, key, orjson.dumps(record), source))
        if pending:
            await asyncio.gather(*pending)
        self.metrics.count_outputs(out)
        self.dashboard.feed(r for kind in self.output_topics for r in getattr(out, kind))

    # -- stage 2 ------------------------------------------------------------------------

    async def evaluate(self, events: Sequence[EventT]) -> None:
        started = time.perf_counter()
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for event in events:
            by_partition[event.message.partition].append(event.message)
        self.metrics.messages_in.labels("evaluate").inc(len(events))
        async with self.lock:
            for partition, messages in by_partition.items():
                await self._evaluate_partition(partition, messages)
        self.metrics.batch_seconds.labels("evaluate").observe(time.perf_counter() - started)

    async def _evaluate_partition(self, partition: int, messages: list[Any]) -> None:
        ps = self.partitions.get(partition)
        if ps is None:
            ps = self.partitions[partition] = await self._restore(partition)
        fresh = [m for m in messages if m.offset >= ps.next_offset]
        if not fresh:
            return
        # (With exactly_once, offsets of transaction markers and aborted records are gaps.)
        if ps.restored and fresh[0].offset > ps.next_offset and not self.app.in_transaction:
            log.error(
                "partition=%d offsets %d..%d were committed but are not in the checkpoint",
                partition,
                ps.next_offset,
                fresh[0].offset - 1,
            )
        lines: list[bytes] = []
        origins: list[str] = []
        redelivered = 0
        for msg in fresh:
            seen = ps.sources.setdefault(msg.key.decode(), {})
            msg_lines, runs = decode_routed(msg.value)
            start = 0
            for origin, count in runs:
                source, offset = split_origin(origin)
                if offset > seen.get(source, -1):
                    lines.extend(msg_lines[start : start + count])
                    origins.extend([origin] * count)
                    seen[source] = offset
                else:
                    redelivered += count
                start += count
        if redelivered:
            self.metrics.redelivered.inc(redelivered)
            log.info("partition=%d dropped %d line(s) routed twice", partition, redelivered)
        now = _wall_ms()
        t0 = time.perf_counter()
        state, out = step(ps.state, lines, origins.__getitem__, self.ruleset, now)
        t1 = time.perf_counter()
        source = (self.by_contract_topic, partition)
        await self._emit(out, source)
        for cid in {m.key.decode() for m in fresh if m.key}:
            cs = state.contracts.get(cid)
            if cs is not None:
                ps.last_seen[cid] = (now, cs.max_event_ms)
        ps.state, ps.next_offset, ps.restored = state, fresh[-1].offset + 1, True
        t2 = time.perf_counter()
        await self._checkpoint(partition, ps, source)
        t3 = time.perf_counter()
        self._log_batch(partition, fresh, out)
        if t3 - t0 > 1.0:
            log.info(
                "slow batch partition=%d lines=%d step=%.2fs publish=%.2fs checkpoint=%.2fs",
                partition,
                len(lines),
                t1 - t0,
                t2 - t1,
                t3 - t2,
            )

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

    async def _checkpoint(
        self, partition: int, ps: PartitionState, source: tuple[str, int]
    ) -> None:
        data = encode_checkpoint(ps.next_offset, ps.sources, ps.state.snapshot())
        fut = await self._send(
            self.state_topic,
            f"p{partition}".encode(),
            data,
            source,
            partition=partition % (self._state_partitions or 1),
        )
        await fut
        self.metrics.checkpoints.inc()
        self.metrics.checkpoint_bytes.labels(str(partition)).set(len(data))

    async def _restore(self, partition: int) -> PartitionState:
        """The most advanced checkpoint of ``partition`` in the state topic, or an empty state."""
        from aiokafka import TopicPartition

        started = time.perf_counter()
        reader = await self._state_reader()
        if self._state_partitions is None:
            self._state_partitions = await self._partition_count(self.state_topic)
        tp = TopicPartition(self.state_topic, partition % self._state_partitions)
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        end = (await reader.end_offsets([tp]))[tp]
        key = f"p{partition}".encode()
        best: tuple[int, dict[str, dict[str, int]], bytes] | None = None
        deadline = time.monotonic() + 120
        while await reader.position(tp) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading checkpoints of partition {partition} took too long")
            for record in (await reader.getmany(tp, timeout_ms=1000)).get(tp, []):
                if record.key == key and record.value:
                    checkpoint = decode_checkpoint(record.value)
                    if best is None or checkpoint[0] >= best[0]:
                        best = checkpoint
        if best is None:
            log.info("partition=%d no checkpoint: starting empty", partition)
            return PartitionState(EngineState.empty(), 0, restored=False)
        state = EngineState.restore(best[2])
        now = _wall_ms()
        last_seen = {cid: (now, cs.max_event_ms) for cid, cs in state.contracts.items()}
        log.info(
            "partition=%d restored checkpoint next_offset=%d contracts=%d in %.3f s",
            partition,
            best[0],
            len(state.contracts),
            time.perf_counter() - started,
        )
        return PartitionState(state, best[0], True, sources=best[1], last_seen=last_seen)

    async def _partition_count(self, topic: str) -> int:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers(self.settings), **client_options(self.settings)
        )
        await admin.start()
        try:
            (description,) = await admin.describe_topics([topic])
        finally:
            await admin.close()
        count = len(description.get("partitions") or [])
        if description.get("error_code") or not count:
            raise RuntimeError(f"cannot describe topic {topic!r}: {description}")
        return count

    async def _state_reader(self) -> Any:
        if self._reader is None:
            from aiokafka import AIOKafkaConsumer

            self._reader = AIOKafkaConsumer(
                bootstrap_servers=bootstrap_servers(self.settings),
                group_id=None,
                enable_auto_commit=False,
                isolation_level=(
                    "read_committed"
                    if self.settings.processing_guarantee == "exactly_once"
                    else "read_uncommitted"
                ),
                max_partition_fetch_bytes=MAX_MESSAGE_BYTES * 2,
                fetch_max_bytes=MAX_MESSAGE_BYTES * 4,
                **client_options(self.settings),
            )
            await self._reader.start()
        return self._reader

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None

    def on_revoked(self, revoked: Iterable[Any]) -> None:
        """Forget the state of partitions that left: a later assignment restores it anew."""
        for tp in revoked:
            if tp.topic == self.by_contract_topic and self.partitions.pop(tp.partition, None):
                log.info("partition=%d revoked", tp.partition)

    def assigned(self) -> list[int]:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:  # not started yet
            return []
        return sorted(tp.partition for tp in assignment if tp.topic == self.by_contract_topic)

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
                    source = (self.by_contract_topic, partition)
                    await self._emit(out, source)
                    await self._checkpoint(partition, ps, source)
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

    def reload_rules(self) -> bool:
        """Reload the rules directory if a file changed; True if it was read."""
        fingerprint = self._fingerprint()
        if fingerprint == self._rules_fingerprint:
            return False
        self._rules_fingerprint = fingerprint
        ruleset, report = load_ruleset(self.settings, self.ruleset)
        self._log_report(report, initial=False)
        self.metrics.rule_reloads.labels("ok" if report.ok else "rejected").inc()
        self.ruleset = ruleset
        self.metrics.contracts.set(len(ruleset.revisions))
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

    def health(self) -> tuple[dict[str, Any], int]:
        partitions = self.assigned()
        # Ready once the group has assigned partitions to this worker (perhaps none of the
        # keyed topic, with more workers than partitions) and no rebalance is under way.
        # Stage 1 likewise in its own group.
        ready = self.joined and self.router.joined and not getattr(self.app, "rebalancing", False)
        body = {
            "status": "ok" if ready else "starting",
            "ready": ready,
            "partitions": partitions,
            "telemetry_partitions": [tp.partition for tp in self.router.assigned()],
            "contracts": len(self.ruleset.revisions),
            "app_id": self.settings.app_id,
        }
        return body, 200 if ready else 503


# --------------------------------------------------------------------------- app and worker


async def _ack(stream: faust.StreamT[bytes], events: Sequence[Any]) -> None:
    """Ack a batch's messages inside its unit of work, so that the offsets join the commit
    (the transaction) of what the batch sent; ``take_events`` acking them again is a no-op."""
    for event in events:
        await stream.ack(event)


def make_app(settings: Settings) -> faust.App:
    """Build the Faust app: two agents, three timers, ``/metrics`` and ``/health``."""
    import faust

    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=_faust_credentials(settings),
        processing_guarantee=settings.processing_guarantee,
        key_serializer="raw",
        value_serializer="raw",
        store="memory://",
        datadir=str(settings.data_dir),
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=float(getattr(settings, "session_timeout_seconds", 10.0)),
        broker_heartbeat_interval=float(getattr(settings, "heartbeat_seconds", 1.0)),
        producer_max_request_size=MAX_MESSAGE_BYTES,
        # Outputs come in bursts (a closing period emits thousands of records): big batches,
        # or aiokafka sends 16 KiB per round trip and publishing dominates the batch time.
        producer_max_batch_size=1024 * 1024,
        producer_linger=0.005,
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
    )
    engine = Engine(settings, app)
    app.csla_engine = engine  # type: ignore[attr-defined]
    if settings.processing_guarantee == "exactly_once":
        # The consumer is made when the worker starts (``app.in_transaction`` is only true
        # then): guard its commits as it is made.
        new_consumer = app._new_consumer

        def _new_consumer() -> Any:
            return engine.gate.guard(new_consumer())

        app._new_consumer = _new_consumer  # type: ignore[method-assign]
    by_contract = app.topic(engine.by_contract_topic, internal=False)
    size, wait = settings.batch_size, settings.batch_wait_seconds

    @app.task
    async def route() -> None:
        await engine.router.run()

    @app.agent(by_contract, name="csla-evaluate")
    async def evaluate(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(size, within=wait):
            try:
                async with engine.gate.unit():
                    await engine.evaluate(events)
                    await _ack(stream, events)
            except Exception as exc:
                _fatal("evaluating a batch", exc)

    @app.timer(settings.rules_poll_seconds, name="csla-rules")
    async def rules() -> None:
        try:
            engine.reload_rules()
        except Exception as exc:  # a rule file must never stop the worker
            log.exception("rules: reload failed, the rule set in force stays: %r", exc)

    if settings.idle_advance_seconds > 0:

        @app.timer(max(0.5, settings.idle_advance_seconds / 4), name="csla-advance")
        async def advance_idle() -> None:
            try:
                await engine.advance_idle()
            except Exception as exc:
                _fatal("advancing idle contracts", exc)

    @app.timer(5.0, name="csla-lag")
    async def lag() -> None:
        engine.update_lag()

    @app.page("/metrics")
    async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        from prometheus_client import generate_latest

        engine.update_lag()
        return web.bytes(
            generate_latest(engine.metrics.registry), content_type=_PROMETHEUS_CONTENT_TYPE
        )

    @app.page("/health")
    async def health(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        body, status = engine.health()
        return web.json(body, status=status)

    register_routes(app, lambda: engine.dashboard.state, lambda: engine.ruleset)

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        # Faust has waited for the agents' batches; an ``advance`` may still be sending, and
        # with exactly_once the producers of revoked partitions are stopped next.
        async with engine.gate.exclusive():
            engine.on_revoked(revoked)

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, assigned: Any, **kwargs: Any) -> None:
        engine.joined = True

    @app.on_before_shutdown.connect
    async def on_shutdown(sender: Any, **kwargs: Any) -> None:
        await engine.router.stop()
        await engine.close()

    return app


def run_worker(settings: Settings) -> None:
    """Create missing topics, then run the worker until SIGTERM/SIGINT (uvloop when present)."""
    from faust.worker import Worker

    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    created = loop.run_until_complete(ensure_topics(settings))
    if created:
        log.info("created topics %s", ", ".join(created))
    app = make_app(settings)
    worker = Worker(app, loop=loop, loglevel=settings.log_level)
    worker.execute_from_commandline()
