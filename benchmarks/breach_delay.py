"""Breach delay of one ``csla worker`` (issue 12: "Breach delay p99 ≤ 1 s"), one run.

Starts its own single-node Kafka on 127.0.0.1 (``engine.dev.local_broker``), writes a rule set
of ``delay-NNN`` contracts with one objective each, p99 request latency ≤ 800 ms per 1-minute
window (a window breach opens when a closed window violates it and resolves when a later one
complies, so windows alternating slow/fast give one breach record per window end), starts
``csla worker`` (``python -m engine worker``, as the e2e tests do) and feeds it requests whose
latency alternates slow/fast per window. A separate confluent-kafka consumer (not the worker's
client) reads the worker's breaches topic and stamps every record on arrival. Per breach record
(``opened`` or ``resolved``, keyed by contract and window end) the delay is

    arrival on the reader − the instant the window became certain.

A window ``[s, e)`` of a contract closes once the contract's watermark (its event-time progress
minus the grace) reaches ``e`` (``engine.core.watermark``, ``pipeline._targets``). The worker
moves the watermark in two ways, measured as two scenarios:

``event``  (the default worker: ``CSLA_IDLE_ADVANCE_SECONDS=0``) the watermark moves only with
    events. "Certain" = the wall instant the benchmark calls ``produce()`` for the first event of
    the contract with ``event_time − grace ≥ e`` (the trigger), sent at once (``linger.ms=0``)
    and flushed; the broker's ack follows it by ``trigger_ack_ms`` (reported), so the delay is
    measured from slightly *before* the event is on the broker. Event time is compressed
    (``--event-spacing-ms`` of event time per event and contract, ``--event-rate`` events per
    wall second over all contracts), and each contract's event times are shifted by a fraction
    of a window so that their window ends fall at different wall instants.

``idle``  (``CSLA_IDLE_ADVANCE_SECONDS=S``) contracts send requests only in the first
    ``--burst-s`` seconds of each window, stamped with the wall clock (contract ``c`` runs
    ``c × 60 / n`` seconds behind it, to spread the window ends), then fall silent; as
    ``burst < grace``, no event ever closes a window, only the worker's timer does: every
    ``max(0.5, S/4)`` s it moves a contract idle for ``S`` s to "event time of its last event +
    wall time since that event's batch". "Certain" = the wall instant at which the contract's
    clock passes ``e + grace`` (``e + grace + lag_c``), i.e. when the window would close if event
    time followed the wall clock exactly. That is stricter than the worker's own extrapolation,
    which starts from when it evaluated the last event (later than it was produced, by the
    ingest latency): that latency is inside the measured delay.

Reported per scenario: count, p50, p95, p99 (nearest rank), max, min of the delays, the load
(contracts, events per second, breaches per second), the settings the delay depends on (batch
wait, idle advance and its timer interval, Faust's commit interval, the producers' linger),
records missing, and where the delay goes: certain → stage 1's routed message (its CreateTime,
read from the internal keyed topic), → the worker's send of the breach record (the record's
CreateTime), → the read. Breaches certain in the first ``--warmup-s`` seconds of the feed are
reported apart (the worker restores each partition's checkpoint at its first batch).
Results: ``benchmarks/results/breach_delay.json`` and a markdown table.

    python benchmarks/breach_delay.py                          # both scenarios, ≥ 200 each
    python benchmarks/breach_delay.py --scenarios event --event-breaches 400
    python benchmarks/breach_delay.py --batch-wait 0.2 0.05    # one run per setting
    python benchmarks/breach_delay.py --baseline main --pairs 2  # that worker too, alternating
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's engine, whatever else is installed
    sys.path.insert(0, str(ROOT))
BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import orjson  # noqa: E402

from engine.settings import Settings  # noqa: E402

BATCH_WAIT_S: float = Settings.model_fields["batch_wait_seconds"].default  # the worker's
MINUTE_MS = 60_000
PARTITIONS = 4
SLOW_MS, FAST_MS, THRESHOLD_MS = 1500.0, 100.0, 800
PROVIDER = "bench-provider"

RULE = """\
# breach_delay.py: one p99 request latency objective per 1-minute window, 7x24.
version: csla/v1

contract:
  id: {cid}
  revision: 1
  effective_from: 2026-01-01T00:00:00Z
  title: Breach delay benchmark

parties:
  customer:
    kind: organisation
    name: Benchmark customer
  provider:
    kind: organisation
    id: {provider}
    name: Benchmark provider

service:
  category: Inference API
  mode: Shared endpoint
  functions: [Chat completions]
  delivery: HTTPS API

term:
  start: 2026-01-01T00:00:00Z
  end: 2036-01-01T00:00:00Z

service_time:
  preset: 7x24
  timezone: UTC

assessment:
  period: calendar_month
  grace: {grace_s}s

metering:
  unit: per_1k_tokens
  unit_price: 0.02
  currency: CNY
  rounding: half_up
  minor_units: 2

objectives:
  - id: p99-latency
    sli: latency
    comparator: "<="
    threshold: {threshold}
    percentile: 99
    source: request
    window: 1m
    compensation:
      - {{bound: {threshold}, credit_percent: 5}}

early_warning:
  enabled: false
"""


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- pure helpers


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least ``p`` % of the values at or below it."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(delays: Sequence[float]) -> dict[str, Any]:
    """Count and nearest-rank p50/p95/p99, max and min of ``delays`` (seconds, 3 decimals)."""
    if not delays:
        return {"n": 0, "p50_s": None, "p95_s": None, "p99_s": None, "max_s": None, "min_s": None}
    return {
        "n": len(delays),
        **{f"p{p}_s": round(percentile(delays, p), 3) for p in (50, 95, 99)},
        "max_s": round(max(delays), 3),
        "min_s": round(min(delays), 3),
    }


@dataclass(frozen=True)
class Event:
    """One request of the feed: ``wall_s`` is when it is sent (idle scenario: its event time
    plus the contract's lag; event scenario: ``None``, sent at the feed's pace)."""

    cid: str
    t_ms: int
    slow: bool
    wall_s: float | None = None


def window_end(t_ms: int) -> int:
    return (t_ms // MINUTE_MS + 1) * MINUTE_MS


def expected_records(events: Iterable[Event]) -> dict[tuple[str, int], str]:
    """(contract, window end ms) → ``opened`` / ``resolved``: the breach records the core emits
    for these requests, all windows closed (a window is violated when it holds a slow request:
    p99 of ≤ 100 requests by nearest rank is their maximum; a window without requests is not
    judged and changes nothing)."""
    slow: dict[tuple[str, int], bool] = {}
    for e in events:
        key = (e.cid, window_end(e.t_ms))
        slow[key] = slow.get(key, False) or e.slow
    out: dict[tuple[str, int], str] = {}
    open_: dict[str, bool] = {}
    for (cid, end), bad in sorted(slow.items()):
        if bad and not open_.get(cid, False):
            out[cid, end] = "opened"
        elif not bad and open_.get(cid, False):
            out[cid, end] = "resolved"
        open_[cid] = bad
    return out


def event_triggers(events: Sequence[Event], grace_ms: int) -> dict[tuple[str, int], int]:
    """(contract, window end) → index in ``events`` (in send order) of the contract's first
    event with ``t − grace ≥ end``: the event that makes the window certain. Only windows that
    such an event closes are listed."""
    by_cid: dict[str, list[tuple[int, int]]] = {}
    for i, e in enumerate(events):
        by_cid.setdefault(e.cid, []).append((e.t_ms, i))
    out: dict[tuple[str, int], int] = {}
    for cid, seq in by_cid.items():
        ends = sorted({window_end(t) for t, _ in seq})
        j = 0
        for t, i in seq:  # event times rise per contract
            while j < len(ends) and t - grace_ms >= ends[j]:
                out[cid, ends[j]] = i
                j += 1
    return out


def match_delays(
    certain: dict[tuple[str, int], float],
    arrivals: Iterable[tuple[float, dict[str, Any]]],
    expected: dict[tuple[str, int], str],
) -> tuple[dict[tuple[str, int], float], dict[str, Any]]:
    """Per expected breach record (contract, window end): arrival − certain instant (seconds),
    from its first arrival (a record published twice counts once). Also the checks: records
    missing, unexpected ones (or with another status), duplicates."""
    first: dict[tuple[str, int], tuple[float, str]] = {}
    duplicates = 0
    for arrived, record in arrivals:
        end = parse_ms(record["window_end"])
        key = (record["contract_id"], end)
        if key in first:
            duplicates += 1
            continue
        first[key] = (arrived, record["status"])
    delays = {
        key: first[key][0] - certain[key]
        for key, status in expected.items()
        if key in first and key in certain and first[key][1] == status
    }
    checks = {
        "expected": len(expected),
        "missing": sorted(f"{c}@{iso(e)}" for c, e in expected if (c, e) not in first),
        "unexpected": sorted(
            f"{c}@{iso(e)}:{s}" for (c, e), (_, s) in first.items() if expected.get((c, e)) != s
        ),
        "duplicates": duplicates,
    }
    return delays, checks


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_ms(text: str) -> int:
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def event_feed(
    contracts: Sequence[str], start_ms: int, windows: int, spacing_ms: int, grace_ms: int
) -> list[Event]:
    """Event scenario: per contract, requests every ``spacing_ms`` of event time over
    ``windows`` 1-minute windows (slow in odd windows since midnight) and then ``grace`` and
    one spacing more (so that the last window closes), interleaved round-robin. Contract ``c``
    is shifted by ``c/n`` of a window: the contracts' window ends fall apart in the feed."""
    n = len(contracts)
    per = [
        [
            Event(cid, t, (t // MINUTE_MS) % 2 == 1)
            for t in range(
                start_ms + c * MINUTE_MS // n,
                start_ms + c * MINUTE_MS // n + windows * MINUTE_MS + grace_ms + spacing_ms + 1,
                spacing_ms,
            )
        ]
        for c, cid in enumerate(contracts)
    ]
    return [e for row in zip(*per, strict=False) for e in row]


def idle_feed(
    contracts: Sequence[str], start_s: float, windows: int, burst_s: int
) -> tuple[list[Event], dict[str, float]]:
    """Idle scenario: contract ``c`` keeps a clock ``lag_c = c × 60 / n`` seconds behind the
    wall and sends one request per second in the first ``burst_s`` seconds of each of its
    ``windows`` 1-minute windows (from the first whole minute after ``start_s`` on its clock),
    slow in odd windows; each sent at wall time event time + lag. Returns the events by send
    time and the lags (seconds)."""
    n = len(contracts)
    lags = {cid: c * 60.0 / n for c, cid in enumerate(contracts)}
    events = []
    for cid, lag in lags.items():
        first = (math.floor((start_s - lag) * 1000) // MINUTE_MS + 1) * MINUTE_MS
        for k in range(windows):
            for s in range(burst_s):
                t = first + k * MINUTE_MS + s * 1000
                events.append(Event(cid, t, (t // MINUTE_MS) % 2 == 1, t / 1000 + lag))
    events.sort(key=lambda e: (e.wall_s, e.cid))
    return events, lags


def event_json(e: Event, i: int) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": f"{e.cid}-{i:07d}",
            "event_time": iso(e.t_ms),
            "provider_id": PROVIDER,
            "contract_id": e.cid,
            "resource_id": "endpoint-1",
            "source": "platform",
            "kind": "request",
            "ok": True,
            "latency_ms": SLOW_MS if e.slow else FAST_MS,
            "status": "200",
            "tokens_in": 100,
            "tokens_out": 100,
        }
    )


def write_rules(directory: Path, contracts: Sequence[str], grace_s: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for cid in contracts:
        text = RULE.format(cid=cid, provider=PROVIDER, grace_s=grace_s, threshold=THRESHOLD_MS)
        (directory / f"{cid}.yaml").write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------- Kafka side


class Reader(threading.Thread):
    """A confluent-kafka consumer of its own (no group join: partitions assigned) reading
    ``topic`` from the beginning; ``handle`` gets each message with ``time.time()`` on arrival."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-delay-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,
                "fetch.min.bytes": 1,
            }
        )
        meta = self.consumer.list_topics(topic, timeout=10).topics[topic]
        self.consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(meta.partitions)]
        )
        self.stop_event = threading.Event()
        self.errors: list[str] = []

    def handle(self, arrived: float, msg: Any) -> None:
        raise NotImplementedError

    def run(self) -> None:
        deadline = time.monotonic() + 3600
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            for msg in self.consumer.consume(num_messages=500, timeout=0.02):
                now = time.time()
                if msg.error() is not None:
                    self.errors.append(str(msg.error()))
                    continue
                self.handle(now, msg)
        self.consumer.close()


class BreachReader(Reader):
    """The worker's breaches topic: (arrival, record, the worker's send time) per record (the
    record's CreateTime, set by the worker's producer when the record was sent)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(bootstrap, topic)
        self.arrivals: list[tuple[float, dict[str, Any]]] = []

    def handle(self, arrived: float, msg: Any) -> None:
        record = orjson.loads(msg.value())
        record["_sent_s"] = msg.timestamp()[1] / 1000
        self.arrivals.append((arrived, record))


class RoutedReader(Reader):
    """The worker's internal keyed topic (stage 1's output): per telemetry origin
    (``topic[p]@offset``) the CreateTime of the routed message holding it (stage 1's send)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(bootstrap, topic)
        self.routed_s: dict[str, float] = {}

    def handle(self, arrived: float, msg: Any) -> None:
        from engine.adapters.kafka.routing import decode_routed

        with contextlib.suppress(ValueError, TypeError, KeyError):
            _, runs = decode_routed(msg.value())
            for origin, _ in runs:
                self.routed_s.setdefault(origin, msg.timestamp()[1] / 1000)


@dataclass
class Sender:
    """One confluent-kafka producer (``acks=all``, ``linger.ms=0``), each event flushed at once.
    ``send`` returns (time before ``produce``, time the flush returned, the event's origin as
    the worker names it: ``topic[partition]@offset``)."""

    bootstrap: str
    topic: str
    producer: Any = None
    errors: list[str] = field(default_factory=list)
    _origin: str = ""

    def __post_init__(self) -> None:
        from confluent_kafka import Producer

        self.producer = Producer(
            {"bootstrap.servers": self.bootstrap, "acks": "all", "linger.ms": 0}
        )

    def _cb(self, err: Any, msg: Any) -> None:
        if err is not None:
            if len(self.errors) < 10:
                self.errors.append(str(err))
            return
        self._origin = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"

    def send(self, key: str, value: bytes) -> tuple[float, float, str]:
        sent = time.time()
        self.producer.produce(self.topic, value=value, key=key.encode(), on_delivery=self._cb)
        left = self.producer.flush(10)
        if left:
            raise RuntimeError(f"{left} message(s) not delivered in 10 s")
        return sent, time.time(), self._origin


def start_worker(
    bootstrap: str,
    work: Path,
    label: str,
    rules: Path,
    telemetry: str,
    env_extra: dict[str, str],
    tree: Path = ROOT,
) -> tuple[Any, str, int]:
    """``python -m engine worker`` of ``tree`` on ``rules``; outputs on ``<app_id>.<kind>``."""
    from kafka_bench import Proc, _child_env, free_port

    app_id = f"bench-delay-{label}-{uuid.uuid4().hex[:6]}"
    port = free_port()
    env = {
        "CSLA_BROKER": f"kafka://{bootstrap}",
        "CSLA_APP_ID": app_id,
        "CSLA_DATA_DIR": str(work / label / "data"),
        "CSLA_RULES_DIR": str(rules),
        "CSLA_TOPICS__TELEMETRY": telemetry,
        "CSLA_WEB_HOST": "127.0.0.1",
        "CSLA_WEB_PORT": str(port),
        "CSLA_PARTITIONS": str(PARTITIONS),
        "CSLA_LOG_LEVEL": "INFO",
        **{
            f"CSLA_TOPICS__{kind.upper()}": f"{app_id}.{kind}"
            for kind in ("metrics", "breaches", "compensations", "late", "deadletter", "usage")
        },
        **env_extra,
    }
    child = _child_env(env)
    child["PYTHONPATH"] = str(tree)
    proc = Proc([sys.executable, "-m", "engine", "worker"], child, work / label, label)
    return proc, app_id, port


def wait_ready(proc: Any, port: int, timeout_s: float = 180.0) -> float:
    from kafka_bench import _health

    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        proc.check()
        health = _health(port)
        if health and health.get("ready"):
            return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"worker not ready in {timeout_s:.0f} s:\n{proc.tail()}")


def _wait_for(reader: BreachReader, expected: dict[tuple[str, int], str], timeout_s: float) -> None:
    wanted = set(expected)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = {(r["contract_id"], parse_ms(r["window_end"])) for _, r in list(reader.arrivals)}
        if wanted <= got:
            return
        time.sleep(0.1)


def _pace(events: int, seconds: float) -> float:
    return round(events / seconds, 1) if seconds > 0 else 0.0


def _parts(values: dict[str, list[float]]) -> dict[str, Any]:
    return {name: summary(v) for name, v in values.items()}


def _worker_metrics(port: int) -> dict[str, Any]:
    """Batch counts and seconds of the worker's stages, from its /metrics."""
    from kafka_bench import _metrics

    try:
        m = _metrics(port)
    except (OSError, ValueError) as exc:
        return {"error": repr(exc)}
    out: dict[str, Any] = {"checkpoints": int(m.get("csla_checkpoints_total", 0))}
    for stage in ("route", "evaluate"):
        count = m.get(f'csla_batch_seconds_count{{stage="{stage}"}}', 0.0)
        total = m.get(f'csla_batch_seconds_sum{{stage="{stage}"}}', 0.0)
        out[f"{stage}_batches"] = int(count)
        out[f"{stage}_batch_mean_ms"] = round(1000 * total / count, 1) if count else None
    return out


def _py_spy(pid: int, path: Path) -> subprocess.Popen[bytes]:
    """py-spy on the worker during the feed (raw folded stacks in ``path``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        ["py-spy", "record", "--pid", str(pid), "--rate", "100", "--format", "raw",
         "--output", str(path), "--nonblocking", "--threads"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip


def run_scenario(
    kafka: Any,
    work: Path,
    scenario: str,
    args: argparse.Namespace,
    batch_wait: float,
    side: tuple[str, Path] = ("current", ROOT),
) -> dict[str, Any]:
    """One worker (of ``side``'s tree), one feed, one reader: the delays of one scenario at
    one batch wait."""
    label = f"{scenario}-{str(batch_wait).replace('.', '_')}-{side[0]}-{uuid.uuid4().hex[:4]}"
    n = args.event_contracts if scenario == "event" else args.idle_contracts
    contracts = [f"delay-{scenario[0]}{i:03d}" for i in range(n)]
    grace_ms = args.grace_s * 1000
    rules = work / label / "rules"
    write_rules(rules, contracts, args.grace_s)
    telemetry = f"bench-delay-{label}-{uuid.uuid4().hex[:6]}"
    kafka.create_topic(telemetry, partitions=PARTITIONS)
    idle_s = args.idle_advance_s if scenario == "idle" else 0.0
    settings = {
        "CSLA_BATCH_WAIT_SECONDS": str(batch_wait),
        "CSLA_BATCH_SIZE": str(args.batch_size),
        "CSLA_IDLE_ADVANCE_SECONDS": str(idle_s),
    }
    proc, app_id, port = start_worker(
        kafka.bootstrap, work, label, rules, telemetry, settings, side[1]
    )
    readers: list[Reader] = []
    sends: list[tuple[float, float, str]] = []
    late_sends: list[float] = []
    origin_of: dict[tuple[str, int], str] = {}
    try:
        ready_s = wait_ready(proc, port)
        reader = BreachReader(kafka.bootstrap, f"{app_id}.breaches")
        routed = RoutedReader(kafka.bootstrap, f"{app_id}-csla-by-contract")
        readers = [reader, routed]
        for r in readers:
            r.start()
        sender = Sender(kafka.bootstrap, telemetry)
        spy = (
            _py_spy(proc.proc.pid, args.out.parent / f"breach_delay-{label}.pyspy.txt")
            if (args.profile)
            else None
        )
        if scenario == "event":
            event_s_per_wall_s = args.event_spacing_ms / 1000 * args.event_rate / n
            warm_windows = math.ceil(args.warmup_s * event_s_per_wall_s / 60) + 1
            windows = math.ceil(args.event_breaches / n) + 1 + warm_windows
            now_ms = int(time.time() * 1000)
            # in the past, on an even minute: every run has the same slow/fast windows
            start_ms = (now_ms - 6 * 3_600_000) // (2 * MINUTE_MS) * 2 * MINUTE_MS
            events = event_feed(contracts, start_ms, windows, args.event_spacing_ms, grace_ms)
            trigger_of = {i: key for key, i in event_triggers(events, grace_ms).items()}
            certain: dict[tuple[str, int], float] = {}
            gap = 1.0 / args.event_rate
            t0 = time.time() + 0.5
            for i, e in enumerate(events):
                pause = t0 + i * gap - time.time()
                if pause > 0:
                    time.sleep(pause)
                sends.append(sender.send(e.cid, event_json(e, i)))
                if i in trigger_of:
                    certain[trigger_of[i]] = sends[-1][0]
                    origin_of[trigger_of[i]] = sends[-1][2]
        else:
            windows = math.ceil(args.idle_breaches / n) + 1
            events, lags = idle_feed(contracts, time.time() + 2.0, windows, args.burst_s)
            for i, e in enumerate(events):
                assert e.wall_s is not None
                pause = e.wall_s - time.time()
                if pause > 0:
                    time.sleep(pause)
                else:
                    late_sends.append(-pause)
                sends.append(sender.send(e.cid, event_json(e, i)))
            certain = {
                (e.cid, end): end / 1000 + args.grace_s + lags[e.cid]
                for e in events
                for end in (window_end(e.t_ms),)
            }
            last = max(certain.values())  # wait until the last window is certain
            while time.time() < last:
                proc.check()
                time.sleep(0.2)
        feed_s = sends[-1][0] - sends[0][0]
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        expected = {k: s for k, s in expected_records(events).items() if k in certain}
        _wait_for(reader, expected, args.tail_s)
        stages = _worker_metrics(port)
        crash = proc.crashed()
        slow_batches = proc.log_path.read_text(errors="replace").count("slow batch")
    finally:
        for r in readers:
            r.stop_event.set()
            r.join(timeout=10)
        proc.stop()
    delays, checks = match_delays(certain, reader.arrivals, expected)
    first: dict[tuple[str, int], tuple[float, dict[str, Any]]] = {}
    for arrived, record in reader.arrivals:
        first.setdefault((record["contract_id"], parse_ms(record["window_end"])), (arrived, record))
    first_close = min(certain[k] for k in expected)
    parts: dict[str, list[float]] = {"to_worker_send_s": [], "worker_send_to_read_s": []}
    if scenario == "event":
        parts |= {"to_routed_s": [], "routed_to_worker_send_s": []}
    samples = []
    # Warm-up: the first windows close while the worker still restores each partition's
    # checkpoint and compiles its first closings (once per start or rebalance): apart.
    warm = {k for k in delays if certain[k] < sends[0][0] + args.warmup_s}
    for key, delay in sorted(delays.items(), key=lambda kv: certain[kv[0]]):
        arrived, record = first[key]
        sent = record["_sent_s"]
        sample = {"at_s": round(certain[key] - first_close, 3), "delay_s": round(delay, 3)}
        if key in warm:
            samples.append(sample | {"warmup": True})
            continue
        parts["to_worker_send_s"].append(sent - certain[key])
        parts["worker_send_to_read_s"].append(arrived - sent)
        if scenario == "event" and (r_s := routed.routed_s.get(origin_of[key])) is not None:
            parts["to_routed_s"].append(r_s - certain[key])
            parts["routed_to_worker_send_s"].append(sent - r_s)
            sample["routed_s"] = round(r_s - certain[key], 3)
        sample["worker_send_s"] = round(sent - certain[key], 3)
        samples.append(sample)
    values = [d for k, d in delays.items() if k not in warm]
    last_close = max(certain[k] for k in expected)
    acks = sorted((b - a) * 1000 for a, b, _ in sends)
    if scenario == "event":
        shape = {
            "event_spacing_ms": args.event_spacing_ms,
            "event_s_per_wall_s": round(args.event_spacing_ms / 1000 * args.event_rate / n, 1),
        }
    else:
        late = max(late_sends, default=0.0)
        shape = {
            "burst_s": args.burst_s,
            "late_sends": len(late_sends),
            "latest_send_s": round(late, 3),
        }
    result: dict[str, Any] = {
        "scenario": scenario,
        "engine": side[0],
        "app_id": app_id,
        "settings": {
            "batch_wait_s": batch_wait,
            "batch_size": args.batch_size,
            "idle_advance_s": idle_s,
            "idle_timer_s": max(0.5, idle_s / 4) if idle_s > 0 else None,
            "grace_s": args.grace_s,
            "faust_commit_interval_s": 0.5,
            "output_producer_linger_s": 0.005,
            "router_producer_linger_ms": 5,
        },
        "load": {
            "contracts": n,
            "events": len(events),
            "feed_s": round(feed_s, 1),
            "events_per_s": _pace(len(events), feed_s),
            "breach_records_per_s": _pace(len(expected), last_close - first_close),
            **shape,
        },
        "worker_ready_s": round(ready_s, 1),
        "delay": summary(values),
        "warmup": summary([delays[k] for k in warm]),
        "opened": summary(
            [d for k, d in delays.items() if k not in warm and expected[k] == "opened"]
        ),
        "resolved": summary(
            [d for k, d in delays.items() if k not in warm and expected[k] == "resolved"]
        ),
        "parts": _parts(parts),
        "worker_stages": stages,
        "slow_batches": slow_batches,
        "trigger_ack_ms": {
            "p50": round(percentile(acks, 50), 2),
            "p99": round(percentile(acks, 99), 2),
            "max": round(acks[-1], 2),
        },
        "checks": checks,
        "reader_errors": [e for r in readers for e in r.errors][:5],
        "producer_errors": sender.errors,
        "crash": crash,
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "samples": samples,
    }
    brief = {k: result[k] for k in ("load", "delay", "parts", "worker_stages")}
    log(f"{label}: {json.dumps(brief)}")
    return result


def table(runs: list[dict[str, Any]]) -> str:
    rows = [
        "| engine | scenario | batch wait | idle advance (timer) | contracts | events/s | breach records/s "
        "| breaches | p50 | p95 | p99 | max | missing | warm-up breaches, max |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        s, d, ld = r["settings"], r["delay"], r["load"]
        idle = f"{s['idle_advance_s']} s ({s['idle_timer_s']} s)" if s["idle_timer_s"] else "off"
        rows.append(
            f"| {r['engine']} | {r['scenario']} | {s['batch_wait_s']} s | {idle} | {ld['contracts']} "
            f"| {ld['events_per_s']} | {ld['breach_records_per_s']} | {d['n']} | {d['p50_s']} s "
            f"| {d['p95_s']} s | {d['p99_s']} s | {d['max_s']} s | {len(r['checks']['missing'])} "
            f"| {r['warmup']['n']}, {r['warmup']['max_s']} s |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenarios", nargs="+", default=["event", "idle"], choices=["event", "idle"]
    )
    parser.add_argument(
        "--batch-wait",
        nargs="+",
        type=float,
        default=[BATCH_WAIT_S],
        help="CSLA_BATCH_WAIT_SECONDS (default: the worker's); several: one run each, "
        "alternating (before/after in one run).",
    )
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--grace-s", type=int, default=20, help="The contracts' grace.")
    parser.add_argument("--event-contracts", type=int, default=8)
    parser.add_argument("--event-breaches", type=int, default=400, help="At least, per run.")
    parser.add_argument("--event-spacing-ms", type=int, default=5000)
    parser.add_argument("--event-rate", type=float, default=100.0, help="Events per wall s.")
    parser.add_argument("--idle-contracts", type=int, default=60)
    parser.add_argument("--idle-breaches", type=int, default=240, help="At least, per run.")
    parser.add_argument("--idle-advance-s", type=float, default=2.0)
    parser.add_argument("--burst-s", type=int, default=10, help="< grace.")
    parser.add_argument(
        "--warmup-s",
        type=float,
        default=5.0,
        help="Breaches certain this soon after the first event: apart.",
    )
    parser.add_argument("--tail-s", type=float, default=30.0, help="Wait for stragglers.")
    parser.add_argument("--baseline", help="A commit whose worker runs too, alternating.")
    parser.add_argument("--pairs", type=int, default=1, help="Runs per side and setting.")
    parser.add_argument("--profile", action="store_true", help="py-spy the worker's feed.")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "breach_delay.json")
    args = parser.parse_args()
    if args.burst_s + args.idle_advance_s >= args.grace_s:
        parser.error("--burst-s + --idle-advance-s must be < --grace-s (no event closes a window)")

    from kafka_bench import engine_revision

    from engine.dev.local_broker import KAFKA_VERSION, LocalKafka

    env: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "engine_revision": engine_revision(),
        "kafka": KAFKA_VERSION,
        "cpus": os.cpu_count(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }
    runs: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="csla-delay-")))
        sides = [("current", ROOT)]
        if args.baseline:
            from worktree import baseline_tree

            sides.insert(0, ("baseline", stack.enter_context(baseline_tree(args.baseline))))
            env["baseline"] = args.baseline
        kafka = stack.enter_context(LocalKafka())
        log(f"broker {kafka.bootstrap} ready in {kafka.startup_s:.1f} s")
        for scenario in args.scenarios:
            for wait in args.batch_wait:
                for _ in range(args.pairs):
                    for side in sides:  # alternating: the machine's drift hits both alike
                        runs.append(run_scenario(kafka, tmp, scenario, args, wait, side))
    env["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = table(runs)
    report = {
        "environment": env,
        "args": {k: str(v) for k, v in vars(args).items()},
        "runs": runs,
        "table": text,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
