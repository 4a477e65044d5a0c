"""Kafka benchmark (issue 3): events/s through one ``csla worker`` and breach delay, one run.

Starts its own single-node Kafka on 127.0.0.1 (``LocalKafka``), then:

1. produces seeded simulated telemetry of the bundled contracts (``rules/``) with
   confluent-kafka to two 4-partition topics keyed by ``contract_id``: ``--events``
   single-event messages, and ``--batched-events`` events as NDJSON messages of
   ``--per-message`` events of one contract each;
2. measures, on each topic read from the beginning,
   (a) the ceiling: a plain aiokafka ``getmany`` loop + decode (``orjson.loads`` per event,
       and ``pl.read_ndjson`` of each fetch with the engine's fixed schema);
   (b) a naive Faust agent (``benchmarks/naive_agent.py``: one event at a time, a Table
       updated per event), on the single-event topic, for at most ``--naive-seconds``;
   (c) ``csla worker`` in a subprocess: from the first event it counts (``csla_events_in``
       on /metrics > 0) until its consumer group has committed every input offset and every
       offset of its internal keyed topic (polled with ``Consumer.committed``), i.e. every
       event routed, evaluated, published and checkpointed. That end includes a fixed tail
       (the last batch's wait, Faust's 0.5 s commit interval), hence runs of 1M+ events
       (over 10 s): with 200k single events it was about a fifth of a 4 s run;
   (c') the same with two ``csla worker`` processes in one group (scale-out on this host;
       informative, the issue's targets are per worker);
   (d) the breach delay: a fresh worker, and probes for ``maas-api-001`` produced in real time
       (event time compressed) whose error rate alternates bad/good per 5-minute window; for
       each bad window, the wall time from producing the first event whose event time minus
       the contract's grace reaches the window end (the watermark passes it) to the
       ``opened`` breach record being read from ``csla.breaches``;
3. prints a markdown table with the issue's targets and writes benchmarks/results/kafka.json.

Waits (at most ``--max-wait``) for the 1-minute load average to drop below ``--quiet-load``
first. Every loop is bounded in count and time; the broker and workers are stopped at the end.

    python benchmarks/kafka_bench.py                      # 1M single, 2M batched events
    python benchmarks/kafka_bench.py --events 50000 --batched-events 300000 --cycles 20
    python benchmarks/kafka_bench.py --profile            # + py-spy of the batched worker run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's engine, whatever else is installed
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
import polars as pl  # noqa: E402
from breach_delay import (  # noqa: E402  (a confluent-kafka reader of one topic)
    BATCH_WAIT_S,
    Reader,
)

PARTITIONS = 4
MIB = 1024 * 1024
TARGETS = {
    "batched_events_per_s": 500_000,
    "batched_share_of_plain": 0.5,
    "single_events_per_s": 30_000,
    "single_vs_naive": 10.0,
    "breach_p99_s": 1.0,
}
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\bCRITICAL\b|Agent crashed")
_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load1() -> float:
    return os.getloadavg()[0]


def wait_quiet(threshold: float, max_wait_s: float) -> dict[str, Any]:
    """Sleep until the 1-minute load average is below ``threshold`` (at most ``max_wait_s``)."""
    first = os.getloadavg()
    started = time.monotonic()
    while load1() >= threshold and time.monotonic() - started < max_wait_s:
        time.sleep(5)
    waited = time.monotonic() - started
    now = os.getloadavg()
    if now[0] >= threshold:
        log(f"load average still {now[0]:.2f} after {waited:.0f} s: measuring anyway")
    return {
        "load_before_wait": [round(x, 2) for x in first],
        "waited_s": round(waited, 1),
        "load_at_start": [round(x, 2) for x in now],
        "quiet": now[0] < threshold,
    }


def engine_revision() -> str:
    """The checkout's commit, flagging uncommitted changes under engine/ (others may be mid-edit)."""

    def git(*cmd: str) -> str:
        proc = subprocess.run(
            ["git", "-C", str(ROOT), *cmd], capture_output=True, text=True, timeout=10, check=False
        )
        return proc.stdout.strip() if proc.returncode == 0 else ""

    rev = git("rev-parse", "--short", "HEAD")
    if not rev:
        return "unknown (not a git checkout)"
    return rev + (
        " + uncommitted engine/ changes" if git("status", "--porcelain", "engine") else ""
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --------------------------------------------------------------------------- producing


def _contract_of(line: bytes) -> bytes:
    """``contract_id`` of a simulator line (fixed layout: ``"contract_id":"…"``)."""
    i = line.find(b'"contract_id":"')
    if i < 0:
        return b""
    i += 15
    return line[i : line.index(b'"', i)]


def _producer(bootstrap: str, linger_ms: int, murmur2: bool = False) -> Any:
    """``murmur2``: partition as Kafka's Java client does (librdkafka's default is CRC32),
    which ``CSLA_INPUT_KEYED_BY_CONTRACT`` requires."""
    from confluent_kafka import Producer

    return Producer(
        {
            **({"partitioner": "murmur2_random"} if murmur2 else {}),
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": linger_ms,
            "batch.size": MIB,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 1_000_000,
            "queue.buffering.max.kbytes": 1024 * 1024,
            "message.max.bytes": 2 * MIB,
            "compression.type": "none",
        }
    )


class _Delivery:
    def __init__(self) -> None:
        self.ok = 0
        self.errors: list[str] = []

    def __call__(self, err: Any, msg: Any) -> None:
        if err is None:
            self.ok += 1
        elif len(self.errors) < 10:
            self.errors.append(str(err))
        else:
            self.errors.append("…")


def _produce(producer: Any, topic: str, key: bytes, value: bytes, cb: _Delivery) -> None:
    for _ in range(10_000):  # bounded: the local queue drains in well under that many polls
        try:
            producer.produce(topic, value=value, key=key, on_delivery=cb)
            break
        except BufferError:
            producer.poll(0.05)
    else:
        raise RuntimeError("producer queue stayed full")
    producer.poll(0)


def simulated_lines(seed: int, limit: int) -> Iterator[bytes]:
    """Up to ``limit`` simulated lines of the bundled contracts, from a Monday 3 weeks ago
    (so that no event time is ahead of the clock), without faults."""
    from engine.core.calendar import parse_instant
    from engine.ruleset import load_rules_dir
    from engine.simulate import simulate

    ruleset = load_rules_dir(ROOT / "rules").ruleset
    cst = datetime.now(UTC) + timedelta(hours=8)
    monday = (cst - timedelta(days=21 + cst.weekday())).date()
    start = parse_instant(f"{monday.isoformat()}T00:00:00+08:00")
    lines = simulate(
        ruleset, start_ms=start, days=20, seed=seed, request_rate_per_min=600, faults=False
    )
    for n, line in enumerate(lines):
        if n >= limit:
            return
        yield line


def produce_telemetry(
    bootstrap: str,
    single: str,
    batched: str,
    n_single: int,
    n_batched: int,
    per_msg: int,
    seed: int,
    murmur2: bool = False,
) -> dict[str, Any]:
    """Single-event messages (the first ``n_single`` lines) and NDJSON messages of
    ``per_msg`` lines of one contract (``n_batched`` lines), keyed by contract."""
    started = time.perf_counter()
    producer = _producer(bootstrap, linger_ms=20, murmur2=murmur2)
    cb = _Delivery()
    buffers: dict[bytes, list[bytes]] = {}
    counts = Counter[str]()
    sizes = 0
    single_msgs = batched_msgs = 0
    for n, line in enumerate(simulated_lines(seed, max(n_single, n_batched))):
        cid = _contract_of(line)
        sizes += len(line)
        counts[cid.decode()] += 1
        if n < n_single:
            _produce(producer, single, cid, line, cb)
            single_msgs += 1
        if n < n_batched:
            buf = buffers.setdefault(cid, [])
            buf.append(line)
            if len(buf) >= per_msg:
                _produce(producer, batched, cid, b"\n".join(buf), cb)
                batched_msgs += 1
                buf.clear()
    for cid, buf in buffers.items():
        if buf:
            _produce(producer, batched, cid, b"\n".join(buf), cb)
            batched_msgs += 1
    left = producer.flush(300)
    elapsed = time.perf_counter() - started
    if left or cb.errors or cb.ok != single_msgs + batched_msgs:
        raise RuntimeError(f"produce failed: {left} left, errors {cb.errors[:5]}")
    total = sum(counts.values())
    return {
        "single_messages": single_msgs,
        "batched_messages": batched_msgs,
        "lines_generated": total,
        "mean_event_bytes": round(sizes / max(total, 1), 1),
        "events_by_contract": dict(counts),
        "generate_and_produce_s": round(elapsed, 1),
    }


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in sorted(meta.partitions)
        }
    finally:
        consumer.close()


# --------------------------------------------------------------------------- (a) ceiling


async def _plain_loop(
    bootstrap: str, topic: str, decoder: str, batched: bool, messages: int, timeout_s: float
) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer

    from engine.core.decode import RAW_SCHEMA

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * MIB,
        fetch_max_bytes=64 * MIB,
    )
    await consumer.start()
    loads = orjson.loads
    got = events = 0
    # from the moment the consumer is started (fetching begins) to the last event decoded
    first = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    try:
        while got < messages and time.monotonic() < deadline:
            fetched = await consumer.getmany(timeout_ms=500)
            for records in fetched.values():
                got += len(records)
                if decoder == "polars":
                    block = b"\n".join([r.value for r in records])
                    events += pl.read_ndjson(block, schema=RAW_SCHEMA).height
                elif batched:
                    for r in records:
                        for line in r.value.split(b"\n"):
                            loads(line)
                            events += 1
                else:
                    for r in records:
                        loads(r.value)
                    events += len(records)
        elapsed = time.perf_counter() - first
    finally:
        await consumer.stop()
    return {
        "messages": got,
        "events": events,
        "seconds": round(elapsed, 3),
        "events_per_s": round(events / elapsed) if elapsed > 0 else None,
        "complete": got >= messages,
    }


def plain_loop(
    bootstrap: str, topic: str, decoder: str, batched: bool, messages: int
) -> dict[str, Any]:
    import uvloop

    loop = uvloop.new_event_loop()
    try:
        result = loop.run_until_complete(
            _plain_loop(bootstrap, topic, decoder, batched, messages, timeout_s=120)
        )
    finally:
        loop.close()
    log(f"plain loop {topic} {decoder}: {result}")
    return result


# --------------------------------------------------------------------------- processes


class Proc:
    """A child process with its log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, cmd: list[str], env: dict[str, str], workdir: Path, name: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = workdir / f"{name}.log"
        with self.log_path.open("wb") as handle:
            self.proc = subprocess.Popen(
                cmd,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        if not self.alive():
            raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")

    def crashed(self) -> str | None:
        text = self.log_path.read_text(errors="replace")
        match = TRACEBACK.search(text)
        return None if match is None else text[max(0, match.start() - 500) : match.start() + 3000]

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["BROKER_COMMIT_INTERVAL"] = "0.5"  # Faust's own env setting: commit twice a second
    env.update(extra)
    return env


class Committed:
    """Reads a consumer group's committed offsets (OffsetFetch; never joins the group)."""

    def __init__(self, bootstrap: str, group: str) -> None:
        from confluent_kafka import Consumer

        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
        )

    def __call__(self, topic: str, partitions: int) -> dict[int, int]:
        from confluent_kafka import TopicPartition

        tps = [TopicPartition(topic, p) for p in range(partitions)]
        return {tp.partition: max(tp.offset, 0) for tp in self.consumer.committed(tps, timeout=5)}

    def close(self) -> None:
        self.consumer.close()


def _reached(committed: dict[int, int], ends: dict[int, int]) -> bool:
    return all(committed.get(p, 0) >= end for p, end in ends.items())


# --------------------------------------------------------------------------- (b) naive agent


def naive_agent(bootstrap: str, topic: str, work: Path, messages: int, max_s: float) -> dict:
    app_id = f"bench-naive-{uuid.uuid4().hex[:8]}"
    first_file = work / "naive" / "first"
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "naive_agent.py"),
        "--broker", bootstrap,
        "--topic", topic,
        "--app-id", app_id,
        "--data-dir", str(work / "naive" / "data"),
        "--first-file", str(first_file),
        "--web-port", str(free_port()),
        "--partitions", str(PARTITIONS),
    ]  # fmt: skip
    proc = Proc(cmd, _child_env({}), work / "naive", "naive")
    committed = Committed(bootstrap, app_id)
    samples: list[tuple[float, int]] = []
    try:
        deadline = time.monotonic() + 90
        while not first_file.exists() and time.monotonic() < deadline:
            proc.check()
            time.sleep(0.02)
        if not first_file.exists():
            raise RuntimeError(f"the naive agent consumed nothing in 90 s:\n{proc.tail()}")
        t0 = float(first_file.read_text())
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            proc.check()
            done = sum(committed(topic, PARTITIONS).values())
            samples.append((time.time(), done))
            if done >= messages:
                break
            time.sleep(0.25)
        crash = proc.crashed()
    finally:
        committed.close()
        proc.stop()
    t_last, done = samples[-1]
    rate = done / (t_last - t0) if t_last > t0 else 0.0
    warnings = proc.log_path.read_text(errors="replace").count("buffer full")
    result = {
        "app_id": app_id,
        "events": done,
        "of": messages,
        "seconds": round(t_last - t0, 2),
        "events_per_s": round(rate),
        "subset": done < messages,
        "producer_buffer_full_warnings": warnings,
        "crash": crash,
    }
    log(f"naive agent: {result}")
    return result


# --------------------------------------------------------------------------- (c) the worker


def _metrics(port: int) -> dict[str, float]:
    """Prometheus text of the worker's /metrics → ``{"name{labels}": value}``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        match = _METRIC_LINE.match(line)
        if match and not line.startswith("#"):
            out[match[1] + (match[2] or "")] = float(match[3])
    return out


def _health(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            data: dict[str, Any] = orjson.loads(response.read())
            return data
    except (OSError, ValueError):
        return None


@dataclass
class Worker:
    bootstrap: str
    work: Path
    label: str
    telemetry: str
    batch_size: int
    batch_wait: float
    default_outputs: bool = False
    app_id: str = ""  # unique per start: the app id is the consumer group
    keyed: bool = False  # CSLA_INPUT_KEYED_BY_CONTRACT: no re-key hop
    port: int = field(default_factory=free_port)
    proc: Proc | None = None

    def start(self) -> Worker:
        self.app_id = self.app_id or f"bench-{self.label}-{uuid.uuid4().hex[:8]}"
        env = {
            "CSLA_BROKER": f"kafka://{self.bootstrap}",
            "CSLA_APP_ID": self.app_id,
            "CSLA_DATA_DIR": str(self.work / self.label / "data"),
            "CSLA_RULES_DIR": str(ROOT / "rules"),
            "CSLA_TOPICS__TELEMETRY": self.telemetry,
            "CSLA_WEB_HOST": "127.0.0.1",
            "CSLA_WEB_PORT": str(self.port),
            "CSLA_BATCH_SIZE": str(self.batch_size),
            "CSLA_BATCH_WAIT_SECONDS": str(self.batch_wait),
            "CSLA_PARTITIONS": str(PARTITIONS),
            "CSLA_LOG_LEVEL": "INFO",
            "CSLA_INPUT_KEYED_BY_CONTRACT": str(self.keyed).lower(),
        }
        if not self.default_outputs:  # throughput runs keep csla.* for the breach run
            for kind in ("metrics", "breaches", "compensations", "late", "deadletter", "usage"):
                env[f"CSLA_TOPICS__{kind.upper()}"] = f"{self.app_id}.{kind}"
        cmd = [sys.executable, "-m", "engine", "worker"]
        self.proc = Proc(cmd, _child_env(env), self.work / self.label, self.label)
        return self

    @property
    def by_contract(self) -> str:
        return f"{self.app_id}-csla-by-contract"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


def worker_throughput(
    bootstrap: str,
    work: Path,
    label: str,
    topic: str,
    events: int,
    batch_size: int,
    batch_wait: float,
    timeout_s: float,
    profile: Path | None,
    processes: int = 1,
    keyed: bool = False,
) -> dict[str, Any]:
    """Events/s of ``processes`` workers in one group (one app id), started together;
    ``keyed``: reading the telemetry topic directly (``CSLA_INPUT_KEYED_BY_CONTRACT``)."""
    from engine.adapters.kafka.router import route_group

    ends = end_offsets(bootstrap, topic)
    app_id = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    workers = [
        Worker(
            bootstrap, work, label if processes == 1 else f"{label}-{i}", topic, batch_size,
            batch_wait, app_id=app_id, keyed=keyed,
        ).start()
        for i in range(processes)
    ]  # fmt: skip
    worker = workers[0]
    assert worker.proc is not None
    committed = Committed(bootstrap, worker.app_id)  # stage 2: the Faust group
    routed = Committed(bootstrap, route_group(worker.app_id))  # stage 1: telemetry
    spy: subprocess.Popen[bytes] | None = None
    result: dict[str, Any] = {"app_id": worker.app_id, "processes": processes, "keyed": keyed}
    result["batch_size"] = batch_size
    result["batch_wait_s"] = batch_wait
    try:
        started, wall_started = time.monotonic(), time.time()
        t0 = None
        while time.monotonic() - started < 120 and t0 is None:  # group join, topics, rules
            for w in workers:
                assert w.proc is not None
                w.proc.check()
                with contextlib.suppress(OSError, ValueError):
                    if _metrics(w.port).get("csla_events_in_total", 0) > 0:
                        t0 = time.time()
            time.sleep(0.02)
        if t0 is None:
            raise RuntimeError(f"{label}: no event counted in 120 s:\n{worker.proc.tail()}")
        result["startup_s"] = round(t0 - wall_started, 2)
        if profile is not None and shutil.which("py-spy"):
            spy = subprocess.Popen(
                ["py-spy", "record", "--pid", str(worker.proc.proc.pid), "--rate", "100",
                 "--format", "raw", "--output", str(profile), "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            )  # fmt: skip
        t_stage1 = t_done = None
        by_ends: dict[int, int] | None = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for w in workers:
                assert w.proc is not None
                w.proc.check()
            now = time.time()
            if keyed:  # one stage: the Faust group commits the telemetry offsets
                if _reached(committed(topic, PARTITIONS), ends):
                    t_stage1 = t_done = now
                    break
            elif t_stage1 is None and _reached(routed(topic, PARTITIONS), ends):
                t_stage1 = now
                by_ends = end_offsets(bootstrap, worker.by_contract)
            if by_ends is not None and _reached(committed(worker.by_contract, PARTITIONS), by_ends):
                t_done = now
                break
            time.sleep(0.1)
        metrics: dict[str, float] = {}
        for w in workers:
            for name, value in _metrics(w.port).items():
                metrics[name] = metrics.get(name, 0.0) + value
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(timeout=10)
        crash = next((c for w in workers if w.proc and (c := w.proc.crashed())), None)
    finally:
        committed.close()
        routed.close()
        for w in workers:
            w.stop()
    counted = int(metrics.get("csla_events_in_total", 0))
    end = t_done or time.time()
    result.update(
        {
            "events": events,
            "events_counted": counted,
            "complete": t_done is not None,
            "stage1_committed_s": round(t_stage1 - t0, 2) if t_stage1 else None,
            "seconds": round(end - t0, 2),
            "events_per_s": round((events if t_done else counted) / (end - t0)),
            "keyed_messages": sum((by_ends or {}).values()),
            "route_batches": int(metrics.get('csla_batch_seconds_count{stage="route"}', 0)),
            "route_batch_s_sum": round(metrics.get('csla_batch_seconds_sum{stage="route"}', 0), 2),
            "evaluate_batches": int(metrics.get('csla_batch_seconds_count{stage="evaluate"}', 0)),
            "evaluate_batch_s_sum": round(
                metrics.get('csla_batch_seconds_sum{stage="evaluate"}', 0), 2
            ),
            "checkpoints": int(metrics.get("csla_checkpoints_total", 0)),
            "outputs": {
                k.split('"')[1]: int(v)
                for k, v in metrics.items()
                if k.startswith("csla_outputs_total{")
            },
            "dead_letters": int(metrics.get("csla_dead_letters_total", 0)),
            "late_events": int(metrics.get("csla_late_events_total", 0)),
            "crash": crash,
            "slow_batches": sum(
                w.proc.log_path.read_text(errors="replace").count("slow batch")
                for w in workers
                if w.proc is not None
            ),
        }
    )
    if profile is not None:
        result["profile"] = str(profile) if profile.exists() else "py-spy unavailable or failed"
    log(f"worker {label}: {result}")
    return result


# --------------------------------------------------------------------------- (e) core alone


def core_step(seed: int, events: int, chunk: int) -> dict[str, Any]:
    """The pure core's ``step`` over the first ``events`` simulated lines (the batched topic's),
    ``chunk`` lines per call, in this process: what the worker could reach without Kafka."""
    from engine.core.pipeline import step
    from engine.core.state import EngineState
    from engine.ruleset import load_rules_dir

    ruleset = load_rules_dir(ROOT / "rules").ruleset
    lines = list(simulated_lines(seed, events))
    state = EngineState.empty()
    now = int(time.time() * 1000)
    outputs = 0
    started = time.perf_counter()
    for i in range(0, len(lines), chunk):
        part = lines[i : i + chunk]
        state, out = step(state, part, lambda j, i=i: f"bench[0]@{i + j}", ruleset, now)
        outputs += len(out.metrics) + len(out.breaches) + len(out.compensations)
    elapsed = time.perf_counter() - started
    result = {
        "events": len(lines),
        "chunk": chunk,
        "seconds": round(elapsed, 2),
        "events_per_s": round(len(lines) / elapsed),
        "outputs": outputs,
    }
    log(f"core step: {result}")
    return result


# --------------------------------------------------------------------------- (d) breach delay


def _service_start(contract: Any, need_ms: int) -> int:
    """Start of a service-time stretch of ``need_ms`` in the last two weeks, before today."""
    from engine.core.calendar import service_intervals

    now = int(time.time() * 1000)
    day = 86_400_000
    spans = service_intervals(contract.calendar, now - 14 * day, now - day)
    for lo, hi in reversed(spans):
        if hi - lo >= need_ms and lo % 300_000 == 0:
            return lo
    raise RuntimeError("no service-time stretch long enough in the last two weeks")


class BreachReader(Reader):
    """Reads ``csla.breaches`` from the beginning; each record with its arrival (monotonic)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(bootstrap, topic)
        self.arrivals: list[tuple[float, dict[str, Any]]] = []

    def handle(self, arrived: float, msg: Any) -> None:
        self.arrivals.append((time.monotonic(), orjson.loads(msg.value())))


def breach_delay(
    bootstrap: str, work: Path, cycles: int, batch_size: int, batch_wait: float, topic: str
) -> dict[str, Any]:
    from engine.core.calendar import utc_iso
    from engine.ruleset import load_rules_dir

    cid = "maas-api-001"
    contract = load_rules_dir(ROOT / "rules").ruleset.latest(cid)
    objective = next(o for o in contract.objectives if o.sli == "error_rate")
    window, grace = objective.window_ms, contract.grace_ms
    spacing_ms, wall_gap = 10_000, 0.025  # one request per 10 s of event time, 40 per second
    per_window = window // spacing_ms
    if per_window < objective.min_requests:
        raise RuntimeError("too few requests per window for the error-rate objective")
    windows = 1 + 2 * cycles  # a good warm-up window, then bad/good pairs
    start = _service_start(contract, windows * window + grace + window)
    worker = Worker(bootstrap, work, "breaches", topic, batch_size, batch_wait, True).start()
    assert worker.proc is not None
    producer = _producer(bootstrap, linger_ms=0)
    cb = _Delivery()
    triggers: dict[str, float] = {}  # window end (utc) → wall time the trigger was produced
    reader: BreachReader | None = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            worker.proc.check()
            health = _health(worker.port)
            if health and health.get("ready"):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"breach worker not ready in 120 s:\n{worker.proc.tail()}")
        reader = BreachReader(bootstrap, "csla.breaches")
        reader.start()
        bad_ends = [start + (2 * k + 2) * window for k in range(cycles)]  # ends of bad windows
        pending = list(bad_ends)
        total = windows * per_window + (grace + window) // spacing_ms
        t_begin = time.monotonic()
        for i in range(total):
            t = start + i * spacing_ms
            bad = ((t - start) // window) % 2 == 1 and (t - start) // window < windows
            fails = bad and i % 3 == 0
            event = {
                "schema_version": 1,
                "event_id": f"bench-{i:06d}",
                "event_time": utc_iso(t),
                "provider_id": contract.provider_id,  # another provider's are dead letters
                "contract_id": cid,
                "resource_id": "endpoint-1",
                "source": "platform",
                "kind": "request",
                "ok": not fails,
                "latency_ms": 100.0,
                "status": "500" if fails else "200",
                "tokens_in": 100,
                "tokens_out": 100,
            }
            delay = t_begin + i * wall_gap - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            is_trigger = bool(pending) and t - grace >= pending[0]
            stamp = time.monotonic()
            _produce(producer, topic, cid.encode(), orjson.dumps(event), cb)
            producer.flush(5)
            if is_trigger:
                triggers[utc_iso(pending.pop(0))] = stamp
            worker.proc.check()
        producer.flush(30)
        wanted = set(triggers)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            got = {
                r["window_end"]
                for _, r in list(reader.arrivals)
                if r.get("objective_id") == objective.id and r.get("status") == "opened"
            }
            if wanted <= got:
                break
            time.sleep(0.1)
        crash = worker.proc.crashed()
    finally:
        if reader is not None:
            reader.stop_event.set()
            reader.join(timeout=10)
        worker.stop()
    opened = {}
    for arrived, record in reader.arrivals if reader else []:
        if record.get("objective_id") == objective.id and record.get("status") == "opened":
            opened.setdefault(record["window_end"], arrived)
    delays = [opened[end] - stamp for end, stamp in triggers.items() if end in opened]
    result = {
        "contract": cid,
        "objective": objective.id,
        "window_s": window / 1000,
        "grace_s": grace / 1000,
        "event_time_from": utc_iso(start),
        "event_seconds_per_wall_second": round(spacing_ms / 1000 / wall_gap),
        "batch_size": batch_size,
        "batch_wait_s": batch_wait,
        "bad_windows": cycles,
        "breaches_measured": len(delays),
        "missing": sorted(set(triggers) - set(opened)),
        "p50_s": round(percentile(delays, 50), 3) if delays else None,
        "p99_s": round(percentile(delays, 99), 3) if delays else None,
        "max_s": round(max(delays), 3) if delays else None,
        "min_s": round(min(delays), 3) if delays else None,
        "delays_s": [round(d, 3) for d in delays],
        "breach_records_read": len(reader.arrivals) if reader else 0,
        "delivery_errors": cb.errors,
        "crash": crash,
    }
    log(f"breach delay: {result}")
    return result


# --------------------------------------------------------------------------- profile


def _frame(frame: str) -> str:
    """``func (path/to/file.py:12)`` → ``func (file.py)``, site-packages and repo prefixes cut."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if match is None:
        return frame
    path = re.sub(r".*/site-packages/", "", match[2]).replace(f"{ROOT}/", "")
    return f"{match[1]} ({path})"


#: Where a sample's time goes: the first bucket whose frame is on its stack (order matters).
PROFILE_BUCKETS = (
    ("core step (decode, lateness, windows, evaluation)", "step (engine/core/pipeline.py)"),
    ("evaluate: split routed messages", "decode_routed (engine/adapters/kafka/routing.py)"),
    ("evaluate: split keyed telemetry", "keyed_batch (engine/adapters/kafka/keyed.py)"),
    ("evaluate: publish outputs", "Engine._emit (engine/adapters/kafka/engine.py)"),
    ("evaluate: checkpoint", "Engine._checkpoint (engine/adapters/kafka/engine.py)"),
    ("evaluate: other", "Engine._evaluate_partition (engine/adapters/kafka/engine.py)"),
    ("route: contract_id per line (polars)", "route_lines (engine/adapters/kafka/routing.py)"),
    ("route: whole-message check", "whole_message_contract (engine/adapters/kafka/routing.py)"),
    ("route: split messages into lines", "split_records (engine/core/decode.py)"),
    ("route: other (origins, encode, send)", "Router.route (engine/adapters/kafka/router.py)"),
    ("aiokafka consumer thread (fetch, unpack)", "ServiceThread._start_thread (mode/threads.py)"),
    ("producer (aiokafka send/batches)", "(aiokafka/producer/"),
    ("Faust streams, events, acks, take buffers", "(faust/"),
)


def summarize_profile(path: Path, top: int = 20) -> dict[str, Any]:
    """py-spy ``raw`` (collapsed stacks) → share of samples per bucket and per function."""
    buckets, own = Counter[str](), Counter[str]()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame(f) for f in stack.split(";")]
        n = int(count)
        total += n
        own[frames[-1]] += n
        joined = ";".join(frames)
        label = next((lb for lb, key in PROFILE_BUCKETS if key in joined), None)
        buckets[label or "event loop, asyncio, other"] += n
    if not total:
        return {}
    return {
        "samples": total,
        "buckets": [(name, round(n / total, 3)) for name, n in buckets.most_common()],
        "self": [(name, round(n / total, 3)) for name, n in own.most_common(top)],
    }


# --------------------------------------------------------------------------- report


def _fmt(n: float | None) -> str:
    return "n/a" if n is None else f"{n:,.0f}"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def _keyed_rows(
    w: dict[str, Any], single_plain: float, batched_plain: float
) -> list[tuple[str, str, str, str]]:
    """Rows of the keyed runs (``--keyed``), if any."""
    t, rows = TARGETS, []
    ks, kb = w.get("single-keyed"), w.get("batched-keyed")
    if ks and ks.get("events"):
        rate = ks["events_per_s"]
        rows.append(
            (f"`csla worker` keyed input (`CSLA_INPUT_KEYED_BY_CONTRACT`), single-event "
             f"messages ({ks['events']:,} events)", _fmt(rate),
             f"≥ {t['single_events_per_s']:,}", _met(rate >= t["single_events_per_s"]))
        )  # fmt: skip
        rows.append(("keyed single-event ÷ best plain loop", f"{rate / single_plain:.1%}", "", ""))
    if kb and kb.get("events"):
        rate = kb["events_per_s"]
        share = rate / batched_plain if batched_plain else None
        rows.append(
            (f"`csla worker` keyed input, batched messages ({kb['events']:,} events)",
             _fmt(rate), f"≥ {t['batched_events_per_s']:,}",
             _met(rate >= t["batched_events_per_s"]))
        )  # fmt: skip
        rows.append(
            ("keyed batched ÷ best plain loop, batched topic",
             f"{share:.1%}" if share is not None else "n/a",
             f"≥ {t['batched_share_of_plain']:.0%}",
             _met(share >= t["batched_share_of_plain"] if share is not None else None))
        )  # fmt: skip
    return rows


def table(r: dict[str, Any]) -> str:
    p, w, n, b = r["plain"], r["worker"], r["naive"], r["breach"]
    single_plain = max(p["single_orjson"]["events_per_s"], p["single_polars"]["events_per_s"])
    batched_plain = max(p["batched_polars"]["events_per_s"], p["batched_orjson"]["events_per_s"])
    ws, wb = w["single"]["events_per_s"], w["batched"]["events_per_s"]
    vs_naive = ws / n["events_per_s"] if n["events_per_s"] else None
    share = wb / batched_plain if batched_plain else None
    t = TARGETS
    naive_note = f"{n['events']:,} of {n['of']:,} events" + (
        f" (subset, {n['seconds']} s cap)" if n["subset"] else ""
    )
    rows = [
        ("plain aiokafka `getmany` + `orjson.loads` per event, single-event topic",
         _fmt(p["single_orjson"]["events_per_s"]), "ceiling", ""),
        ("plain aiokafka `getmany` + `pl.read_ndjson` per fetch, single-event topic",
         _fmt(p["single_polars"]["events_per_s"]), "ceiling", ""),
        ("plain aiokafka `getmany` + `pl.read_ndjson` per fetch, batched topic",
         _fmt(p["batched_polars"]["events_per_s"]), "ceiling", ""),
        ("plain aiokafka `getmany` + `orjson.loads` per event, batched topic",
         _fmt(p["batched_orjson"]["events_per_s"]), "ceiling", ""),
        (f"naive Faust agent, Table update per event, single-event topic ({naive_note})",
         _fmt(n["events_per_s"]), "baseline", ""),
        (f"`csla worker`, single-event messages ({w['single']['events']:,} events)",
         _fmt(ws), f"≥ {t['single_events_per_s']:,}", _met(ws >= t["single_events_per_s"])),
        ("`csla worker` single-event ÷ naive agent",
         f"{vs_naive:.1f}×" if vs_naive else "n/a", f"≥ {t['single_vs_naive']:.0f}×",
         _met(vs_naive >= t["single_vs_naive"] if vs_naive else None)),
        ("`csla worker` batched ÷ naive agent (informative)",
         f"{wb / n['events_per_s']:.1f}×" if n["events_per_s"] else "n/a", "", ""),
        ("`csla worker` single-event ÷ best plain loop, single-event topic",
         f"{ws / single_plain:.1%}", "", ""),
        (f"`csla worker`, batched messages of 1,000 events ({w['batched']['events']:,} events)",
         _fmt(wb), f"≥ {t['batched_events_per_s']:,}", _met(wb >= t["batched_events_per_s"])),
        ("`csla worker` batched ÷ best plain loop, batched topic",
         f"{share:.1%}" if share is not None else "n/a", f"≥ {t['batched_share_of_plain']:.0%}",
         _met(share >= t["batched_share_of_plain"] if share is not None else None)),
        *_keyed_rows(w, single_plain, batched_plain),
        (f"two `csla worker` processes in one group on this host, batched messages "
         f"({w['batched-2']['events']:,} events; informative: scale-out)",
         _fmt(w["batched-2"]["events_per_s"]), "", ""),
        (f"pure core `step` alone, in-process, {r['core']['events']:,} events of the batched "
         f"stream, {r['core']['chunk']:,} per call (no Kafka; what the worker could reach)",
         _fmt(r["core"]["events_per_s"]), "", ""),
        (f"breach delay p50, watermark past window → record on `csla.breaches` "
         f"({b['breaches_measured']} breaches)",
         f"{b['p50_s']} s", "", ""),
        ("breach delay p99 (nearest rank)", f"{b['p99_s']} s", f"≤ {t['breach_p99_s']} s",
         _met(b["p99_s"] <= t["breach_p99_s"] if b["p99_s"] is not None else None)),
    ]  # fmt: skip
    lines = ["| measure | figure (events/s unless stated) | target | result |", "|---|---|---|---|"]
    lines += [f"| {a} | {b_} | {c} | {d} |" for a, b_, c, d in rows]
    env = r["environment"]
    lines.append("")
    lines.append(
        f"Load average (1/5/15 min): at start {env['load_at_start']}, at end {env['load_at_end']}"
        f" (before waiting {env['load_before_wait']}, waited {env['waited_s']} s); "
        f"{env['cpus']} CPUs; Kafka {env['kafka']} on 127.0.0.1; engine {env['engine_revision']};"
        f" run took {env['run_s']} s."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="Single-event messages.")
    parser.add_argument("--batched-events", type=int, default=2_000_000)
    parser.add_argument("--per-message", type=int, default=1000, help="Events per batched msg.")
    parser.add_argument("--naive-seconds", type=float, default=20.0, help="Naive agent cap.")
    parser.add_argument("--cycles", type=int, default=24, help="Bad windows (breaches) for (d).")
    parser.add_argument("--single-batch-size", type=int, default=10_000)
    parser.add_argument("--single-batch-wait", type=float, default=BATCH_WAIT_S)
    parser.add_argument("--batched-batch-size", type=int, default=100)
    parser.add_argument("--batched-batch-wait", type=float, default=BATCH_WAIT_S)
    parser.add_argument("--breach-batch-wait", type=float, default=BATCH_WAIT_S)
    parser.add_argument("--core-events", type=int, default=500_000, help="For (e).")
    parser.add_argument("--core-chunk", type=int, default=50_000, help="Lines per step call.")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--quiet-load", type=float, default=1.5)
    parser.add_argument("--max-wait", type=float, default=600.0, help="Seconds to wait for it.")
    parser.add_argument("--revision", help="Label of the engine measured (default: git HEAD).")
    parser.add_argument("--profile", action="store_true", help="py-spy the batched worker run.")
    parser.add_argument(
        "--keyed",
        action="store_true",
        help="Also run the worker with CSLA_INPUT_KEYED_BY_CONTRACT=true (no re-key hop) on "
        "both topics, produced with Kafka's default partitioner (murmur2) for all runs.",
    )
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=["naive", "single", "batched", "batched-2", "single-keyed", "batched-keyed"],
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "kafka.json")
    args = parser.parse_args()

    from engine.dev.local_broker import KAFKA_VERSION, LocalKafka

    env = wait_quiet(args.quiet_load, args.max_wait)
    log(f"load average {env['load_at_start']} (waited {env['waited_s']} s)")
    run_started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="csla-kafka-bench-"))
    report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    try:
        with LocalKafka() as kafka:
            bootstrap = kafka.bootstrap
            log(f"broker {bootstrap} ready in {kafka.startup_s:.1f} s")
            tag = uuid.uuid4().hex[:6]
            single, batched = f"bench-single-{tag}", f"bench-batched-{tag}"
            probes = f"bench-probes-{tag}"
            for name in (single, batched, probes):
                kafka.create_topic(name, partitions=PARTITIONS)
            produced = produce_telemetry(
                bootstrap,
                single,
                batched,
                args.events,
                args.batched_events,
                args.per_message,
                args.seed,
                murmur2=args.keyed,
            )
            log(f"produced {produced}")
            report["produced"] = produced
            n_single, n_batched = produced["single_messages"], produced["batched_messages"]
            report["plain"] = {
                "single_orjson": plain_loop(bootstrap, single, "orjson", False, n_single),
                "single_polars": plain_loop(bootstrap, single, "polars", False, n_single),
                "batched_polars": plain_loop(bootstrap, batched, "polars", True, n_batched),
                "batched_orjson": plain_loop(bootstrap, batched, "orjson", True, n_batched),
            }
            report["naive"] = (
                naive_agent(bootstrap, single, work, n_single, args.naive_seconds)
                if "naive" not in args.skip
                else {"events_per_s": 0, "events": 0, "of": 0, "subset": False, "seconds": 0}
            )
            report["worker"] = {}
            runs = [
                ("single", single, args.events, args.single_batch_size, args.single_batch_wait,
                 1),
                ("batched", batched, args.batched_events, args.batched_batch_size,
                 args.batched_batch_wait, 1),
                ("batched-2", batched, args.batched_events, args.batched_batch_size,
                 args.batched_batch_wait, 2),
            ]  # fmt: skip
            if args.keyed:
                runs += [
                    ("single-keyed", single, args.events, args.single_batch_size,
                     args.single_batch_wait, 1),
                    ("batched-keyed", batched, args.batched_events, args.batched_batch_size,
                     args.batched_batch_wait, 1),
                ]  # fmt: skip
            for label, topic, events, size, wait, processes in runs:
                if label in args.skip or (label.endswith("-keyed") and not args.keyed):
                    report["worker"][label] = {"events_per_s": 0, "events": 0}
                    continue
                profile = work / f"{label}.pyspy.txt" if args.profile and processes == 1 else None
                report["worker"][label] = worker_throughput(
                    bootstrap, work, label, topic, events, size, wait, 300, profile, processes,
                    keyed=label.endswith("-keyed"),
                )  # fmt: skip
                if profile is not None and profile.exists():
                    kept = args.out.parent / f"kafka-{label}.pyspy.txt"
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(profile, kept)
                    report["worker"][label]["profile"] = str(kept)
                    report["worker"][label]["profile_summary"] = summarize_profile(kept)
            report["core"] = core_step(args.seed, args.core_events, args.core_chunk)
            report["breach"] = breach_delay(
                bootstrap, work, args.cycles, args.single_batch_size, args.breach_batch_wait, probes
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    env["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    env["cpus"] = os.cpu_count()
    env["kafka"] = KAFKA_VERSION
    env["run_s"] = round(time.monotonic() - run_started, 1)
    env["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    env["engine_revision"] = args.revision or engine_revision()
    report["environment"] = env
    text = table(report)
    report["table"] = text
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
