"""Helpers for the end-to-end worker tests: telemetry, a ``csla worker`` subprocess, clients.

Loaded by path from ``test_worker_e2e.py`` (pytest runs with ``--import-mode=importlib``).
Producing and consuming use confluent-kafka, a different client from the engine's aiokafka.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    ConsumerGroupTopicPartitions,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, OffsetSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
CST = timezone(timedelta(hours=8))
OUTPUT_KINDS = ("metrics", "breaches", "compensations", "late", "deadletter")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\bCRITICAL\b|Agent crashed")


# --------------------------------------------------------------------------- telemetry


#: Each example contract's ``parties.provider.id``: the only ``provider_id`` it accepts.
PROVIDERS = {
    "maas-api-001": "beijing-zhiyuan-model-cloud-technology-co-ltd",
    "storage-001": "guizhou-cloud",
    "gpu-train-001": "ningxia-western-cloud-computility-co-ltd",
}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Telemetry:
    """Deterministic simulated telemetry for the example contracts in ``rules/``.

    Each contract's events are in event-time order. ``until`` bounds the event times (minus
    the closing events of ``close_october``, which move every contract into November so the
    October assessment period closes and compensations are emitted).
    """

    seed: int = 7
    start: datetime = datetime(2026, 10, 26, 9, 0, tzinfo=CST)  # a Monday, in service time
    minutes: int = 120
    request_every_s: int = 10
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def build(self, *, close_october: bool = True) -> Telemetry:
        rng = random.Random(self.seed)
        self.events = {"maas-api-001": [], "storage-001": [], "gpu-train-001": []}
        n = 0

        def add(cid: str, t: datetime, kind: str, **fields: Any) -> None:
            nonlocal n
            n += 1
            self.events[cid].append(
                {
                    "schema_version": 1,
                    "event_id": f"{cid}-{n:07d}",
                    "event_time": _iso(t),
                    "provider_id": PROVIDERS[cid],
                    "contract_id": cid,
                    "resource_id": fields.pop("resource_id", "endpoint-1"),
                    "source": "platform",
                    "kind": kind,
                    **fields,
                }
            )

        seconds = self.minutes * 60
        bad_errors = range(20 * 60, 35 * 60)  # an error burst: error-rate breach
        bad_latency = range(50 * 60, 65 * 60)  # slow calls: p99 latency breach
        outage = range(80 * 60, 95 * 60)  # probes fail: availability breaches
        for s in range(0, seconds, 1):
            t = self.start + timedelta(seconds=s)
            if s % self.request_every_s == 0:
                fails = s in bad_errors and rng.random() < 0.3
                slow = s in bad_latency and rng.random() < 0.2
                latency = rng.uniform(900, 2500) if slow else rng.uniform(40, 400)
                add(
                    "maas-api-001",
                    t,
                    "request",
                    ok=not fails,
                    latency_ms=round(latency, 1),
                    status="500" if fails else "200",
                    tokens_in=rng.randint(10, 500),
                    tokens_out=rng.randint(10, 900),
                )
            if s % 30 == 0:
                down = s in outage
                for cid in ("maas-api-001", "storage-001", "gpu-train-001"):
                    add(cid, t, "probe", ok=not down or rng.random() < 0.2, resource_id="api")
            if s % 60 == 0:
                add(
                    "storage-001",
                    t,
                    "storage_io",
                    read_mbps=round(rng.uniform(200, 900), 1),
                    write_mbps=round(rng.uniform(100, 500), 1),
                    latency_ms=round(rng.uniform(2, 40 if s in outage else 12), 2),
                    resource_id="vol-1",
                )
            if s in (30 * 60, 70 * 60):
                add("gpu-train-001", t, "node_state", state="down", resource_id="node-07")
            if s in (45 * 60, 118 * 60):
                add("gpu-train-001", t, "node_state", state="up", resource_id="node-07")
        if close_october:
            # Into November: one event moves a contract's clock by at most max_skew (2 min,
            # README "The watermark"), so the platform's probes walk there every 115 s.
            closing = datetime(2026, 11, 2, 10, 0, tzinfo=CST)
            t = self.start + timedelta(seconds=seconds)
            while t < closing:
                for cid in sorted(self.events):
                    add(cid, t, "probe", ok=True, resource_id="api")
                t += timedelta(seconds=115)
            for i, cid in enumerate(sorted(self.events)):
                add(cid, closing + timedelta(seconds=i), "probe", ok=True, resource_id="api")
        return self

    def lines(self, cid: str) -> list[bytes]:
        return [orjson.dumps(e) for e in self.events[cid]]

    @property
    def contract_ids(self) -> list[str]:
        return sorted(self.events)


# --------------------------------------------------------------------------- produce / consume


@dataclass(frozen=True)
class Sent:
    """One produced message: its payload lines and where the broker put it."""

    lines: tuple[bytes, ...]
    topic: str
    partition: int
    offset: int

    @property
    def origin(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class Sender:
    """One confluent-kafka producer for many sends: ``send(topic, messages)`` returns them with
    their offsets, in the order given. ``murmur2``: partitioned as Kafka's Java client does
    (librdkafka's default is CRC32). A producer per send would cost a connection and an
    idempotent producer id each time."""

    def __init__(self, bootstrap: str, *, murmur2: bool = False) -> None:
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5,
            "enable.idempotence": True,
        }
        if murmur2:
            config["partitioner"] = "murmur2_random"
        self.producer = Producer(config)

    def send(
        self,
        topic: str,
        messages: Iterable[tuple[bytes | None, bytes, Sequence[bytes]]],
        *,
        partition: int | None = None,
    ) -> list[Sent]:
        """Send ``(key, value, lines)`` messages, all to ``partition`` if given (whatever their
        keys); wait until each is acknowledged."""
        sent: dict[int, Sent] = {}
        errors: list[KafkaError] = []
        where = {} if partition is None else {"partition": partition}

        def deliver(n: int, lines: Sequence[bytes]) -> Callable[[KafkaError | None, Message], None]:
            def on_delivery(err: KafkaError | None, msg: Message) -> None:
                if err is not None:
                    errors.append(err)
                else:
                    sent[n] = Sent(tuple(lines), msg.topic(), msg.partition(), msg.offset())

            return on_delivery

        for n, (key, value, lines) in enumerate(messages):
            self.producer.produce(
                topic, key=key, value=value, on_delivery=deliver(n, lines), **where
            )
            self.producer.poll(0)
        assert self.producer.flush(60) == 0
        assert errors == [], errors
        return [sent[n] for n in sorted(sent)]


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes, Sequence[bytes]]],
    *,
    murmur2: bool = False,
    partition: int | None = None,
) -> list[Sent]:
    """Send ``(key, value, lines)`` messages with a producer of their own (``Sender``); return
    them with offsets, in the order given."""
    return Sender(bootstrap, murmur2=murmur2).send(topic, messages, partition=partition)


def batched(
    lines: Sequence[bytes], size: int, key: bytes | None
) -> list[tuple[bytes | None, bytes, Sequence[bytes]]]:
    """NDJSON messages of ``size`` lines each."""
    return [
        (key, b"\n".join(lines[i : i + size]) + b"\n", lines[i : i + size])
        for i in range(0, len(lines), size)
    ]


class OutputReader:
    """Reads every output topic from the beginning with confluent-kafka (read_committed).

    With exactly_once, outputs become visible in bursts, when the worker commits a transaction
    (Faust's commit interval, seconds under load): "nothing new for a while" never means "all
    read". Tests wait with :func:`wait_caught_up` until the worker has committed all its input,
    then :meth:`read_to_end` reads up to the end (the last stable offset) of every partition.
    """

    def __init__(self, bootstrap: str, topics: Mapping[str, str]) -> None:
        self.bootstrap = bootstrap
        self.topics = dict(topics)
        self.by_topic = {v: k for k, v in self.topics.items()}
        self.records: dict[str, list[tuple[bytes | None, dict[str, Any]]]] = {
            kind: [] for kind in self.topics
        }
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"reader-{os.getpid()}-{time.monotonic_ns()}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            }
        )
        self.consumer.subscribe(list(self.topics.values()))

    def poll(self, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        got = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            for msg in self.consumer.consume(num_messages=1000, timeout=min(left, 0.2)):
                if msg.error() is not None:
                    if msg.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(msg.error())
                kind = self.by_topic[msg.topic()]
                self.records[kind].append((msg.key(), orjson.loads(msg.value())))
                got += 1

    def until(
        self,
        done: Callable[[OutputReader], bool],
        timeout: float,
        check: Callable[[], None] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout
        while not done(self):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out; have { {k: len(v) for k, v in self.records.items()} }"
                )
            self.poll(0.5)
            if check is not None:
                check()

    def read_to_end(self, partitions: int, timeout: float = 60.0) -> None:
        """Read every output partition up to its end as of now: for a read_committed reader the
        last stable offset, so everything committed before this call is read."""
        tps = [TopicPartition(t, p) for t in self.topics.values() for p in range(partitions)]
        # One ListOffsets request for all of them (a get_watermark_offsets per partition took
        # ~0.6 s each); read_committed, as the reader: the last stable offsets.
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        latest = admin.list_offsets(
            {tp: OffsetSpec.latest() for tp in tps},
            isolation_level=IsolationLevel.READ_COMMITTED,
            request_timeout=10,
        )
        ends = {(tp.topic, tp.partition): done.result().offset for tp, done in latest.items()}
        deadline = time.monotonic() + timeout
        while True:
            assigned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
            behind = {}
            if assigned >= ends.keys():
                for tp in self.consumer.position(tps):
                    end = ends[(tp.topic, tp.partition)]
                    if end > 0 and tp.offset < end:  # offset < 0: nothing fetched yet
                        behind[(tp.topic, tp.partition)] = (tp.offset, end)
                if not behind:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"outputs not read to the end: {behind or assigned}")
            self.poll(0.2)

    def close(self) -> None:
        self.consumer.close()


def unconsumed(bootstrap: str, group: str, topics: Sequence[str], partitions: int) -> int:
    """How many records of ``topics`` a read_committed reader sees at or after the offsets the
    consumer group ``group`` has committed (stable offsets only; -1 while one is pending)."""
    tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    request = [ConsumerGroupTopicPartitions(group, tps)]
    try:
        result = admin.list_consumer_group_offsets(request, require_stable=True)[group].result()
    except KafkaException:  # e.g. UNSTABLE_OFFSET_COMMIT: a transaction is committing offsets
        return -1
    starts = []
    for tp in result.topic_partitions:
        if tp.error is not None:
            return -1
        starts.append(TopicPartition(tp.topic, tp.partition, max(tp.offset, OFFSET_BEGINNING)))
    probe = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"probe-{os.getpid()}-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }
    )
    try:
        probe.assign(starts)
        at_end: set[tuple[str, int]] = set()
        records = 0
        deadline = time.monotonic() + 30
        while len(at_end) < len(starts):
            if time.monotonic() > deadline:
                raise AssertionError(f"probe did not reach the end of {topics}")
            for msg in probe.consume(num_messages=1000, timeout=0.2):
                err = msg.error()
                if err is None:
                    records += 1
                elif err.code() == KafkaError._PARTITION_EOF:
                    at_end.add((msg.topic(), msg.partition()))
                else:
                    raise AssertionError(err)
        return records
    finally:
        probe.close()


def wait_caught_up(
    bootstrap: str,
    stages: Sequence[tuple[str, Sequence[str]]],
    partitions: int,
    timeout: float = 120.0,
    check: Callable[[], None] | None = None,
) -> None:
    """Until each stage's consumer group has committed everything in its topics, stage after
    stage (``(group, topics)``: the worker's routing group on telemetry, then its Faust group
    on the keyed topic).

    Whatever a worker produced from a record is committed (visible to read_committed readers)
    no later than the record's offset: then every output of the input is readable.
    """
    deadline = time.monotonic() + timeout
    for group, topics in stages:
        while (left := unconsumed(bootstrap, group, topics, partitions)) != 0:
            if check is not None:
                check()
            if time.monotonic() > deadline:
                raise AssertionError(f"{group} has not consumed {topics}: {left} record(s) left")
            time.sleep(0.3)


def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "offsets-probe"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        }
    finally:
        consumer.close()


# --------------------------------------------------------------------------- comparison


def record_id(kind: str, record: Mapping[str, Any]) -> tuple[Any, ...]:
    """The de-duplication identity of an output record."""
    if kind == "metrics":
        return (record["metric_id"],)
    if kind == "breaches":
        return (record["breach_id"], record["status"])
    if kind == "compensations":
        return (record["compensation_id"],)
    if kind == "late":
        return (record["origin"], record["event_id"], record["contract_id"])
    if kind == "usage":
        return (record["usage_id"],)
    if kind == "warnings":
        return (record["warning_id"], record["status"])
    if kind == "scorecards":
        return (record["scorecard_id"],)
    return (record["origin"], record["raw"], record["error"])


def dedup(
    kind: str, records: Iterable[Mapping[str, Any]]
) -> dict[tuple[Any, ...], Mapping[str, Any]]:
    """By id; two records with one id and different values fail the test."""
    out: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for record in records:
        rid = record_id(kind, record)
        if rid in out:
            assert out[rid] == record, f"same id, different values: {out[rid]} vs {record}"
        out[rid] = record
    return out


# --------------------------------------------------------------------------- worker process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WorkerProcess:
    """``csla worker`` in a subprocess with its own data dir, web port and log file."""

    def __init__(self, env: Mapping[str, str], workdir: Path, name: str) -> None:
        self.env = {**os.environ, **env}
        self.workdir = workdir
        self.name = name
        self.port = int(env["CSLA_WEB_PORT"])
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> WorkerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start {self.starts} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from engine.cli import main; main()", "worker"],
            cwd=self.workdir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                data: dict[str, Any] = orjson.loads(r.read())
                return data
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text: str = r.read().decode()
            return text

    def wait_ready(self, timeout: float = 60.0, min_partitions: int = 1) -> float:
        """Until /health says the worker evaluates at least ``min_partitions``; seconds taken."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            self.check_alive()
            health = self.health()
            if (
                health
                and health.get("ready")
                and len(health.get("partitions", [])) >= min_partitions
            ):
                return time.monotonic() - started
            time.sleep(0.2)
        raise AssertionError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited ({self.proc.returncode}):\n{self.log_tail()}")
        self.check_log()

    def check_log(self) -> None:
        text = self.log_path.read_text(errors="replace")
        match = TRACEBACK.search(text)
        if match is not None:
            start = max(0, match.start() - 2000)
            raise AssertionError(
                f"{self.name} logged a crash:\n{text[start : match.start() + 4000]}"
            )

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
