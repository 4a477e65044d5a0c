"""Stage 1 of the worker: telemetry → the internal topic keyed by contract, on plain aiokafka.

Telemetry may arrive keyed by anything and one Kafka message may hold one event, a JSON array
or an NDJSON batch. Stage 1 finds each line's ``contract_id`` (``engine.adapters.kafka.routing``:
an NDJSON message of one contract is kept whole, anything else is split into one JSON text per
event and read in one vectorised pass) and republishes the lines to
``<app_id>-csla-by-contract``, keyed by contract: one NDJSON message per contract and batch,
whose first line lists the lines' origins (``topic[partition]@offset``), so that stage 2 (the
Faust agent that owns each contract's state) sees all of a contract's events on one partition.
Lines without a usable ``contract_id`` are decoded by the core right here and dead-lettered
with its reason, as ``csla replay`` does.

Why not a Faust agent: stage 1 handles every input message, and a Faust stream pays about
60-110 µs of its own machinery per message (an ``Event``, queue hops, a task pair per message in
the consumer's drain loop, acks), which capped single-event input near 9k events/s. Stage 1 holds
no state, so it runs on a plain ``AIOKafkaConsumer`` in a consumer group of its own,
``<app_id>-route`` (Faust's group uses its own assignor protocol, which plain consumers cannot
join), with ``getmany`` micro-batches and its own idempotent producer.

Delivery: a batch's offsets are committed only after the broker has acknowledged every line it
forwarded (``acks=all``), so nothing is lost. A batch forwarded but not committed (a crash, a
rebalance in between) is forwarded again by the next owner; stage 2 keeps, per contract and
telemetry partition, the last telemetry offset it evaluated (in its checkpoints) and drops lines
it already has. Stage 1 therefore needs no transactions even with ``exactly_once``: stage 2's
transactions make the outputs exactly-once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import polars as pl
from aiokafka import ConsumerRebalanceListener

from engine.adapters.kafka.delivery import RECORD_OVERHEAD_BYTES, dead_letter, fit_record
from engine.adapters.kafka.routing import (
    RoutePlan,
    empty_message_error,
    keyed_messages,
    plan_batch,
)
from engine.core.decode import decode
from engine.core.records import DEAD

__all__ = ["Router", "route_group"]

log = logging.getLogger("csla.worker.route")

_LOGGED_DEAD_PER_BATCH = 5
_RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0)  # then every 10 s, while the broker is away


def route_group(app_id: str) -> str:
    """Stage 1's consumer group (committed telemetry offsets live there)."""
    return f"{app_id}-route"


# --------------------------------------------------------------------------- the loop

Send = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]


class Router:
    """Reads telemetry in ``getmany`` batches, forwards by contract, commits after the acks."""

    def __init__(
        self,
        settings: Any,
        metrics: Any,
        by_contract_topic: str,
        *,
        client_options: dict[str, Any],
        bootstrap: list[str],
        fatal: Callable[[str, BaseException], None],
        on_dead: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> None:
        self.settings = settings
        # told of this stage's dead letters once they are on the broker (the dashboard's count)
        self._on_dead = on_dead
        self.metrics = metrics
        self.by_contract_topic = by_contract_topic
        self.dead_topic: str = settings.topics.output(DEAD)
        self.group_id = route_group(settings.app_id)
        self._options = client_options
        self._bootstrap = bootstrap
        self._fatal = fatal
        self.consumer: Any = None
        self.producer: Any = None
        self.joined = False
        self.committed: dict[Any, int] = {}
        self._stopping = False
        self.max_message_bytes: int = settings.max_message_bytes

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer

        s = self.settings
        await self._start_producer()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level=(
                "read_committed" if s.processing_guarantee == "exactly_once" else "read_uncommitted"
            ),
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
            session_timeout_ms=round(s.session_timeout_seconds * 1000),
            heartbeat_interval_ms=round(s.heartbeat_seconds * 1000),
            **self._options,
        )
        self.consumer.subscribe([s.topics.telemetry], listener=_Listener(self))
        await self.consumer.start()
        log.info("route: group %s reads %s", self.group_id, s.topics.telemetry)

    async def _start_producer(self) -> None:
        from aiokafka import AIOKafkaProducer

        self.producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            acks="all",
            enable_idempotence=True,  # retries never reorder a contract's lines
            linger_ms=5,
            # a batch of small records never outgrows the dead-letter topic's limit
            max_batch_size=min(
                1024 * 1024, self.settings.max_message_bytes - RECORD_OVERHEAD_BYTES
            ),
            max_request_size=16 * 1024 * 1024,
            **self._options,
        )
        await self.producer.start()

    async def run_probe_only(self) -> None:
        """Telemetry keyed by contract already (``input_keyed_by_contract``): no stage 1 to
        run; only the producer is started, the client the broker probe asks for metadata
        (``Engine.probe_broker``). Stopped with the router."""
        if await self._started(self._start_producer, "probe"):
            self.joined = True
            log.info("route: none (CSLA_INPUT_KEYED_BY_CONTRACT): stage 2 reads %s",
                     self.settings.topics.telemetry)  # fmt: skip

    async def _started(self, start: Callable[[], Awaitable[None]], what: str) -> bool:
        """Run ``start`` until it succeeds (True) or the router is stopped (False); while the
        broker is away, wait for it with a doubling pause (at most 30 s), never crash."""
        from aiokafka.errors import KafkaError

        pause = 1.0
        while not self._stopping:
            try:
                await start()
                return True
            except KafkaError as exc:
                log.warning("%s: cannot start (%r); again in %.0f s", what, exc, pause)
                await self._close()
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)
        return False

    async def stop(self) -> None:
        self._stopping = True
        await self._close()

    async def _close(self) -> None:
        if self.consumer is not None:
            consumer, self.consumer = self.consumer, None
            await consumer.stop()  # leaves the group: its partitions move at once
        if self.producer is not None:
            producer, self.producer = self.producer, None
            await producer.stop()

    async def run(self) -> None:
        """Until stopped: fetch, forward, commit. A programmer error ends the process."""
        from aiokafka.errors import KafkaError

        await self._started(self.start, "route")
        try:
            wait_ms = max(1, round(self.settings.batch_wait_seconds * 1000))
            while not self._stopping and self.consumer is not None:
                try:
                    batch = await self.consumer.getmany(
                        timeout_ms=wait_ms, max_records=self.settings.batch_size
                    )
                except KafkaError as exc:  # the broker away: the consumer reconnects itself
                    log.warning("route: fetch failed (%r); again in 1 s", exc)
                    await asyncio.sleep(1.0)
                    continue
                if not batch:
                    continue
                if not await self._route_until_done(batch):
                    break
                await self._commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
        finally:
            await self.stop()

    async def _route_until_done(self, batch: dict[Any, list[Any]]) -> bool:
        """Route ``batch``; while the broker is away (a Kafka error), again after a pause:
        stage 2 drops lines it already has, so a batch routed twice is harmless. False if
        the router stopped meanwhile. Any other exception is a programmer error: fatal."""
        from aiokafka.errors import KafkaError

        attempt = 0
        while not self._stopping:
            try:
                await self.route(batch)
                return True
            except KafkaError as exc:
                pause = _RETRY_SECONDS[min(attempt, len(_RETRY_SECONDS) - 1)]
                attempt += 1
                log.warning("route: batch not forwarded (%r); again in %.1f s", exc, pause)
                await asyncio.sleep(pause)
            except (Exception, pl.exceptions.PanicException) as exc:  # a panic: BaseException
                self._fatal("routing a telemetry batch", exc)
                raise
        return False

    async def _commit(self, offsets: dict[Any, int]) -> None:
        from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # The group moved on (a rebalance): the next owner forwards these lines again
            # and stage 2 drops the copies it already evaluated.
            log.info("route: commit of %s skipped after a rebalance: %r", offsets, exc)
            return
        except KafkaError as exc:
            log.warning("route: commit failed, the batch will be routed again: %r", exc)
            return
        self.committed.update(offsets)

    # -- one batch ------------------------------------------------------------------------

    async def _send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[Any]:
        fut: Awaitable[Any] = await self.producer.send(topic, value=value, key=key)
        return fut

    async def route(self, batch: dict[Any, list[Any]]) -> None:
        """Forward one ``getmany`` batch and wait until the broker has every line."""
        started = time.perf_counter()
        records = [r for rs in batch.values() for r in rs]
        plan = plan_batch(records)
        pending: list[Awaitable[Any]] = []
        dead: list[dict[str, Any]] = []
        if plan.unroutable or plan.empty:
            dead, sends = await self._dead_letter(plan)
            pending.extend(sends)
        for cid, pieces in plan.pieces.items():
            key = cid.encode()
            for value in keyed_messages(pieces):
                pending.append(await self._send(self.by_contract_topic, key, value))
        if pending:
            await asyncio.gather(*pending)
        # Counted once the batch is forwarded (a batch retried after an outage counts once).
        self.metrics.messages_in.labels("route").inc(len(records))
        self.metrics.events_in.inc(plan.events)
        self.metrics.whole_messages.inc(plan.whole_messages)
        self.metrics.dead_letters.inc(len(dead))
        self.metrics.outputs.labels(DEAD.name).inc(len(dead))
        if dead and self._on_dead is not None:
            self._on_dead(dead)
        self.metrics.batch_seconds.labels("route").observe(time.perf_counter() - started)

    async def _dead_letter(
        self, plan: RoutePlan
    ) -> tuple[list[dict[str, Any]], list[Awaitable[Any]]]:
        """Lines without a contract: the core's decoder names the reason (same as replay);
        messages without a line (null, empty): that. (The dead letters, the sends.)"""
        records = [dead_letter(o, empty_message_error(v), v) for o, v in plan.empty]
        index = plan.unroutable
        if index:
            decoded = decode([p[1] for p in index], lambda j: index[j][2])
            # the core's record, field for field (raw_base64: bytes that are not UTF-8)
            records.extend(dead.record() for dead in decoded.dead)
            # Whatever the decoder accepts after all (polars could not read a contract_id
            # that pydantic can) goes on to its contract like any other line.
            for seq, cid in decoded.events.select("seq", "contract_id").iter_rows():
                plan.add(cid, index[seq])
        pending = []
        for logged, record in enumerate(records):
            if logged < _LOGGED_DEAD_PER_BATCH:
                log.warning("deadletter origin=%s error=%s", record["origin"], record["error"])
            topic, _, value, _ = fit_record(
                self.dead_topic, None, record, self.max_message_bytes, self.dead_topic
            )
            pending.append(await self._send(topic, None, value))
        if len(records) > _LOGGED_DEAD_PER_BATCH:
            log.warning(
                "deadletter ... and %d more in this batch", len(records) - _LOGGED_DEAD_PER_BATCH
            )
        return records, pending

    # -- observability --------------------------------------------------------------------

    def assigned(self) -> list[Any]:
        if self.consumer is None:
            return []
        return sorted(self.consumer.assignment())

    def lag(self) -> dict[Any, int]:
        """Per assigned telemetry partition: high-water mark minus committed offset."""
        out: dict[Any, int] = {}
        for tp in self.assigned():
            high, done = self.consumer.highwater(tp), self.committed.get(tp)
            if high is not None and done is not None:  # known from this worker's commits on
                out[tp] = max(0, high - done)
        return out


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's rebalance callbacks: readiness, and no stale committed offsets."""

    def __init__(self, router: Router) -> None:
        self.router = router

    def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        for tp in revoked:
            self.router.committed.pop(tp, None)

    def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        self.router.joined = True
        log.info("route: assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
