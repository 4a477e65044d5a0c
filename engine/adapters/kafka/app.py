"""The Faust worker: two thin agents around the pure core (``engine.core.pipeline``).

Stage 1, ``engine.adapters.kafka.router``: reads raw telemetry on a plain aiokafka consumer
group of its own (``<app_id>-route``), finds each line's contract (``routing``: an NDJSON
message of one contract stays whole, the rest is split into one JSON text per event) and
republishes the lines to the internal topic ``<app_id>-csla-by-contract``, keyed by contract (one
NDJSON message per contract and batch, first line the lines' origins). See that module for why
it is not a Faust agent.

Stage 2, ``evaluate`` (the state: ``engine``; checkpoints: ``checkpoint``): reads the keyed
topic in micro-batches, keeps one ``EngineState`` per partition, calls ``step`` and publishes
the outputs keyed by contract. After each partition's batch it awaits the delivery of every
output, then writes a checkpoint to the compacted topic
``<app_id>-csla-state`` (in parts, keys ``p<partition>.<slot>.<i>``): the zlib-compressed state snapshot plus the
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

With ``input_keyed_by_contract`` (telemetry keyed by contract and partitioned by Kafka's
default partitioner already) there is no stage 1: ``evaluate`` reads the telemetry topic
itself (``engine.adapters.kafka.keyed``: lines on the wrong partition, or naming another
contract than their key, are dead letters).

Timers: rule hot reload (a file that fails validation is logged, the previous version stays),
``advance`` of idle contracts (``idle_advance_seconds``; with exactly_once it commits its own
transaction, as no consumed offset would), consumer-lag metrics, a broker probe (``outage``:
``/health`` is not ready after ``broker_down_seconds`` without an answer; the clients' error
lines are rate-limited). Web: ``/metrics`` (Prometheus) and ``/health``. A programmer error in
a batch is logged as CRITICAL and ends the process at once, without acking the batch, so that
no offset is committed past it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from engine.adapters.kafka.checkpoint import decode_checkpoint, encode_checkpoint
from engine.adapters.kafka.clients import (
    CHECKPOINT_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES,
    bootstrap_servers,
    client_options,
    ensure_topics,
    faust_credentials,
    internal_topics,
)
from engine.adapters.kafka.delivery import RECORD_OVERHEAD_BYTES
from engine.adapters.kafka.engine import Engine, fatal, load_ruleset
from engine.adapters.kafka.gate import CommitGate
from engine.adapters.kafka.outage import RepeatFilter, install_repeat_filter
from engine.dashboard import register_routes
from engine.dashboard.routes import quarantined_ids
from engine.settings import Settings

if TYPE_CHECKING:
    import faust

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


#: what ends the worker without acking (``fatal``): any error and a panic inside polars; a
#: cancellation (shutdown, rebalance) goes on up as Faust expects
_FATAL = (Exception, pl.exceptions.PanicException)


async def _ack(stream: faust.StreamT[bytes], events: Sequence[Any]) -> None:
    """Ack a batch's messages inside its unit of work, so that the offsets join the commit
    (the transaction) of what the batch sent; ``take_events`` acking them again is a no-op."""
    for event in events:
        await stream.ack(event)


def metrics_exposition(
    registry: Any, accept: str, accept_encoding: str
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of ``/metrics``: OpenMetrics when the scraper asks for it (as
    Prometheus does), else the text format 0.0.4; gzip when accepted. prometheus_client's
    ``choose_encoder`` decides, as its own HTTP handlers do."""
    import gzip

    from prometheus_client.exposition import choose_encoder

    encoder, content_type = choose_encoder(accept)
    body = encoder(registry)
    # (the content type goes in as a header: aiohttp refuses a charset in ``content_type``)
    headers = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
    if "gzip" in accept_encoding:
        body = gzip.compress(body, compresslevel=1)
        headers["Content-Encoding"] = "gzip"
    return body, headers


def make_app(settings: Settings) -> faust.App:
    """Build the Faust app: two agents, three timers, ``/metrics``, ``/health`` and the
    dashboard (behind ``settings.web_token`` when set)."""
    import faust

    app = faust.App(
        settings.app_id,
        broker=settings.broker,
        broker_credentials=faust_credentials(settings),
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
        producer_max_request_size=CHECKPOINT_MESSAGE_BYTES,
        # Outputs come in bursts (a closing period emits thousands of records): big batches,
        # or aiokafka sends 16 KiB per round trip and publishing dominates the batch time.
        # (Never above the output topics' limit: a batch of small records must fit too.)
        producer_max_batch_size=min(
            1024 * 1024, settings.max_message_bytes - RECORD_OVERHEAD_BYTES
        ),
        producer_linger=0.005,
        consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        # Only the routes below: no Faust /router or /table views on the open port.
        web_router_enabled=False,
        web_tables_enabled=False,
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
    # Stage 2 reads stage 1's keyed lines, or the telemetry itself when it is keyed and
    # partitioned by contract already (``input_keyed_by_contract``: no stage 1).
    source = app.topic(engine.source_topic, internal=False)
    size, wait = settings.batch_size, settings.batch_wait_seconds

    @app.task
    async def route() -> None:
        if engine.keyed:
            await engine.router.run_probe_only()
        else:
            await engine.router.run()

    @app.agent(source, name="csla-evaluate")
    async def evaluate(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(size, within=wait):
            try:
                async with engine.gate.unit():
                    await engine.evaluate(events)
                    await _ack(stream, events)
            except _FATAL as exc:  # (a polars panic is a BaseException: exit, never ack)
                fatal("evaluating a batch", exc)

    @app.timer(settings.rules_poll_seconds, name="csla-rules")
    async def rules() -> None:
        try:
            await engine.reload_rules()
        except Exception as exc:  # a rule file must never stop the worker
            log.exception("rules: reload failed, the rule set in force stays: %r", exc)

    if settings.idle_advance_seconds > 0:

        @app.timer(max(0.5, settings.idle_advance_seconds / 4), name="csla-advance")
        async def advance_idle() -> None:
            try:
                await engine.advance_idle()
            except _FATAL as exc:
                fatal("advancing idle contracts", exc)

    @app.timer(5.0, name="csla-lag")
    async def lag() -> None:
        engine.update_lag()

    # The Kafka clients' warnings and errors, rate-limited (loggers of modules imported
    # later get the filter at the next probe).
    repeat_filter = RepeatFilter(settings.log_repeat_seconds)
    install_repeat_filter(repeat_filter)

    @app.timer(5.0, name="csla-broker")
    async def broker() -> None:
        install_repeat_filter(repeat_filter)
        await engine.probe_broker()

    @app.page("/metrics")
    async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        engine.update_lag()
        body, headers = metrics_exposition(
            engine.metrics.registry,
            request.headers.get("Accept", ""),
            request.headers.get("Accept-Encoding", ""),
        )
        return web.bytes(body, headers=headers)

    @app.page("/health")
    async def health(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        body, status = engine.health()
        # Open like /health itself: ids only; the reasons are on the token-guarded dashboard.
        body["quarantined"] = quarantined_ids(lambda: engine.dashboard.quarantined)
        return web.json(body, status=status)

    # The worker reports its quarantine through ``engine.dashboard.set_quarantined``.
    register_routes(
        app,
        lambda: engine.dashboard.state,
        lambda: engine.ruleset,
        token=settings.web_token,
        get_quarantined=lambda: engine.dashboard.quarantined,
    )

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


async def _ensure_topics_patiently(settings: Settings) -> list[str]:
    """``ensure_topics``, waiting for the broker: a worker started before it (or while it is
    away) waits rather than exits (not ready, as its web server is not up yet). A refusal
    that waiting cannot mend (authentication, authorisation) ends the worker."""
    from aiokafka.errors import KafkaError, KafkaTimeoutError

    pause = 1.0
    while True:
        try:
            return await ensure_topics(settings)
        except (KafkaError, OSError) as exc:
            if isinstance(exc, KafkaError) and not (
                exc.retriable or isinstance(exc, KafkaTimeoutError)
            ):
                raise
            log.warning(
                "broker %s unreachable (CSLA_BROKER), topics not checked: %s; again in %.0f s",
                settings.broker,
                exc,
                pause,
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 30.0)


def _check_web_port(settings: Settings) -> None:
    """Fail at once, in one line, when the web port is taken (Faust would end the worker
    with a traceback after connecting). Bound as aiohttp binds it: with SO_REUSEADDR."""
    import socket

    from engine.errors import UserError

    try:
        infos = socket.getaddrinfo(settings.web_host, settings.web_port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UserError(f"CSLA_WEB_HOST={settings.web_host}: {exc.strerror or exc}") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise UserError(
                f"cannot serve /metrics and /health on {settings.web_host}:{settings.web_port}: "
                f"{exc.strerror or exc}; set CSLA_WEB_PORT to a free port "
                "(or CSLA_WEB_HOST to another address)"
            ) from None


def run_worker(settings: Settings) -> None:
    """Create missing topics, then run the worker until SIGTERM/SIGINT (uvloop when present)."""
    from faust.worker import Worker

    from engine.adapters.kafka import logs
    from engine.errors import UserError

    if not settings.rules_dir.is_dir():  # its files may change later; the directory must be
        raise UserError(f"CSLA_RULES_DIR={settings.rules_dir}: no such directory")
    _check_web_port(settings)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    log_config = logs.install(settings)
    created = loop.run_until_complete(_ensure_topics_patiently(settings))
    if created:
        log.info("created topics %s", ", ".join(created))
    app = make_app(settings)
    worker = Worker(app, loop=loop, loglevel=settings.log_level, logging_config=log_config)
    worker.execute_from_commandline()
