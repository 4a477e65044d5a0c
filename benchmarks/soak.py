"""Soak run (issue 11): ``csla worker`` on a local broker for N minutes of live telemetry with
1 % hostile lines of every class, watching memory, checkpoints, lag and restarts.

Starts its own single-node Kafka on 127.0.0.1 (``LocalKafka``) and one ``csla worker``, then
produces simulated telemetry of the bundled contracts (``rules/``) *live*: event time follows
the wall clock (the stream starts ``--backlog-minutes`` back and is paced at ``--rate``
lines/s; the simulator's API call rate is calibrated so that one minute of event time holds
about ``60 × rate / --speed`` lines), keyed by contract in NDJSON messages of one contract every
``--tick`` seconds. Every 100th line is hostile, round-robin over the classes of
``tests/hostile/corpus.py`` that must be rejected (non-finite and huge numbers, huge tokens,
negatives, ratios, provider probes dated +9 min, customer node states with provider "x",
wrong provider, empty and non-UTF-8 lines, conflicting duplicates, unknown contracts — a new
id each time —, deep nesting, long strings, wrong types), rebuilt every 30 s from the latest
clean lines so that "ahead" and "duplicate" mean what they say; plus requests of ever new
owners for gpu-train-001 (metered only, never judged).

Every ``--every`` seconds a row: worker RSS (``/proc``), the sum of its last checkpoint per
partition (``csla_checkpoint_bytes``) and its data dir, consumer lag (``csla_consumer_lag``,
and lines produced but not yet read), dead letters, and restarts (the worker's pid and exit
status; a worker that exits is counted and started again, so the run goes on). At the end it
waits until the worker has committed everything, reads its metrics, breaches and compensations
and compares them, per contract and by id, with ``step`` over the clean lines alone. Prints the
table and a JSON summary (also to ``--out``). Acceptance: RSS and checkpoint size flat within
10 % after warm-up (the first ``--warmup`` of the run; compared as the peaks of blocks of one
closing step — the longest of the rule set, an hour of event time for gpu-train-001 — since the
buffer fills and empties once per step), lag bounded, no restart, no crash in the log, outputs
equal to the clean replay. Live (``--speed 1``), 20 minutes are a third of one hour-long step;
event time 9× faster shows three steps in 20 minutes at the same line rate:

    python benchmarks/soak.py --minutes 20 --speed 9 --backlog-minutes 165 --warmup 0.34
    python benchmarks/soak.py                        # 20 live minutes at 2,000 lines/s
    python benchmarks/soak.py --minutes 3 --speed 5 --backlog-minutes 15 --warmup 0.4
                                                     # a short proof: 15 min of event time
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's engine, whatever else is installed
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

PARTITIONS = 4
HOSTILE_EVERY = 100  # 1 %
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\bCRITICAL\b|Agent crashed")
_METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")
KINDS = ("metrics", "breaches", "compensations", "late", "deadletter", "usage", "warnings",
         "scorecards")  # fmt: skip
COMPARED = ("metrics", "breaches", "compensations")
SAMPLES = tuple(f'"kind":"{k}"'.encode() for k in ("probe", "request", "network", "storage_io",
                                                    "utilization"))  # fmt: skip
SOAK_CLASSES = (
    "non_finite", "huge_gauges", "huge_tokens", "negative", "ratios", "provider_probes_ahead",
    "customer_nodes", "wrong_provider", "empty_lines", "non_utf8", "conflicting_duplicates",
    "unknown_contracts", "deep_nesting", "long_strings", "wrong_types",
)  # fmt: skip


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _corpus() -> Any:
    name = "csla_hostile_corpus"
    if name not in sys.modules:
        path = ROOT / "tests" / "hostile" / "corpus.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def now_ms() -> int:
    return time.time_ns() // 1_000_000


# --------------------------------------------------------------------------- telemetry


def _ruleset() -> Any:
    from engine.ruleset import load_rules_dir

    report = load_rules_dir(ROOT / "rules")
    assert report.ok, report.format()
    return report.ruleset


def closing_step_ms(ruleset: Any) -> int:
    """The longest closing step over the contracts: each closes in steps of its shortest
    window, at most an hour (``engine.core.pipeline._targets``)."""
    from engine.core.pipeline import HOUR_MS

    return max(
        min([o.window_ms for o in revisions[-1].objectives] + [HOUR_MS])
        for revisions in ruleset.revisions.values()
    )


def calibrate(ruleset: Any, start_ms: int, rate: float) -> float:
    """The simulator's API call rate (per minute) that gives ~``rate`` lines per second of
    event time from ``start_ms`` on (lines are linear in it: requests, storage I/O)."""
    from engine.simulate import simulate

    def per_minute(r: float) -> float:
        lines = simulate(ruleset, start_ms=start_ms, days=3 / 1440, request_rate_per_min=r,
                         faults=False)  # fmt: skip
        return sum(1 for _ in lines) / 3

    low, high = per_minute(600.0), per_minute(1200.0)
    slope = max((high - low) / 600.0, 1e-6)
    return max(1.0, 600.0 + (rate * 60 - low) / slope)


def clean_stream(ruleset: Any, start_ms: int, minutes: float, call_rate: float) -> Iterator[bytes]:
    from engine.simulate import simulate

    return simulate(ruleset, start_ms=start_ms, days=minutes / 1440, seed=11,
                    request_rate_per_min=call_rate)  # fmt: skip


@dataclass
class Hostile:
    """1 % hostile lines, round-robin over the classes, rebuilt every 30 s from the latest
    clean lines (the last 40 of each contract, kind and source, interleaved so that every
    kind is found wherever in the list a class looks)."""

    corpus: Any
    recent: dict[tuple[str, str, str], deque[bytes]] = field(default_factory=dict)
    menu: dict[str, list[bytes]] = field(default_factory=dict)
    turn: int = 0
    unknown: int = 0
    owners: int = 0
    built_at: float = 0.0
    sent: dict[str, int] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)

    def see(self, line: bytes) -> None:
        try:
            e = orjson.loads(line)
            key = (e["contract_id"], e["kind"], e["source"])
        except (orjson.JSONDecodeError, TypeError, KeyError):
            return
        if isinstance(key[0], str):
            self.recent.setdefault(key, deque(maxlen=40)).append(line)

    def prime(self, ruleset: Any, start_ms: int) -> None:
        """The reports of the day before the run (an energy reading comes once a day), so that
        every class has its anchor from the start. Only reports: a copy of an old sample
        that some class sends as a "duplicate" would be a new event, dated before the run,
        and might be accepted (a contract is evaluated from its earliest event)."""
        from engine.simulate import simulate

        day = 86_400_000
        for line in simulate(ruleset, start_ms=start_ms - day, days=1, seed=3,
                             request_rate_per_min=2.0, faults=False):  # fmt: skip
            if not any(kind in line for kind in SAMPLES):
                self.see(line)

    def rebuild(self) -> None:
        # each queue spread over the whole list, its latest line last: a class that looks
        # from some fraction of the list on finds the latest lines of every kind there
        placed = sorted(
            ((j + 1) / len(q), n, line)
            for n, q in enumerate(self.recent.values())
            for j, line in enumerate(q)
        )
        stream = self.corpus.Stream([line for _, _, line in placed])
        self.skipped = set()
        menu: dict[str, list[bytes]] = {}
        for name in SOAK_CLASSES:
            make = getattr(self.corpus, name)
            try:
                case = make(stream, 100_000) if name == "long_strings" else make(stream)
            except (IndexError, AssertionError, ValueError):  # no anchor yet (energy…)
                self.skipped.add(name)
                continue
            menu[name] = list(case.lines)
        self.menu = menu
        self.built_at = time.monotonic()

    def next(self) -> tuple[str, bytes]:
        if not self.menu or time.monotonic() - self.built_at > 30:
            self.rebuild()
        names = [*self.menu, "many_owners"]
        name = names[self.turn % len(names)]
        self.turn += 1
        self.sent[name] = self.sent.get(name, 0) + 1
        if name == "many_owners":
            return name, self._owner()
        options = self.menu[name]
        line = options[self.turn // len(names) % len(options)]
        if name == "unknown_contracts":  # a new id every time: state must not grow with them
            self.unknown += 1
            line = line.replace(
                b'"contract_id":"ghost-', f'"contract_id":"g{self.unknown}-'.encode()
            )
        return name, line

    def _owner(self) -> bytes:
        """A platform request for gpu-train-001 (metered, judged by no objective) of a new
        tenant, dated at gpu-train-001's latest clean event."""
        latest = [q[-1] for k, q in self.recent.items() if k[0] == "gpu-train-001"]
        if not latest:
            return b"null"
        e = max((orjson.loads(x) for x in latest), key=lambda x: _event_ms(orjson.dumps(x)) or 0)
        self.owners += 1
        return orjson.dumps(
            {k: e[k] for k in ("schema_version", "provider_id", "contract_id", "event_time")}
            | {"event_id": f"soak-owner-{self.owners}", "resource_id": "gpu-train-001/api",
               "source": "platform", "kind": "request", "ok": True, "latency_ms": 12.5,
               "tokens_in": 10, "tokens_out": 20, "tenant_id": f"t-{self.owners}",
               "project_id": f"p-{self.owners}"}
        )  # fmt: skip


def _key(line: bytes) -> bytes | None:
    """The contract id of a plain one-object line, or None (sent alone)."""
    if not line.strip() or not line.startswith(b"{") or b"\n" in line:
        return None
    with contextlib.suppress(orjson.JSONDecodeError):
        value = orjson.loads(line)
        if isinstance(value, dict) and isinstance(value.get("contract_id"), str):
            cid = value["contract_id"]
            if cid in ("gpu-train-001", "maas-api-001", "storage-001"):
                return cid.encode()
    return None


# --------------------------------------------------------------------------- worker


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


@dataclass
class Worker:
    bootstrap: str
    work: Path
    telemetry: str
    app_id: str = field(default_factory=lambda: f"soak-{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    exits: list[int] = field(default_factory=list)

    @property
    def log_path(self) -> Path:
        return self.work / "worker.log"

    @property
    def data_dir(self) -> Path:
        return self.work / "data"

    def topics(self) -> dict[str, str]:
        return {kind: f"{self.app_id}.{kind}" for kind in KINDS}

    def start(self) -> Worker:
        self.work.mkdir(parents=True, exist_ok=True)
        env = {
            "CSLA_BROKER": f"kafka://{self.bootstrap}",
            "CSLA_APP_ID": self.app_id,
            "CSLA_DATA_DIR": str(self.data_dir),
            "CSLA_RULES_DIR": str(ROOT / "rules"),
            "CSLA_TOPICS__TELEMETRY": self.telemetry,
            "CSLA_WEB_HOST": "127.0.0.1",
            "CSLA_WEB_PORT": str(self.port),
            "CSLA_PARTITIONS": str(PARTITIONS),
            "CSLA_LOG_LEVEL": "INFO",
            **{f"CSLA_TOPICS__{k.upper()}": t for k, t in self.topics().items()},
        }
        self.starts += 1
        with self.log_path.open("ab") as handle:
            handle.write(f"\n===== start {self.starts} =====\n".encode())
            handle.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "engine", "worker"], cwd=self.work,
                env=_child_env(env), stdin=subprocess.DEVNULL, stdout=handle,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def restart_if_dead(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            self.exits.append(self.proc.returncode)
            log(f"worker exited {self.proc.returncode}; restarting")
            self.start()
            return True
        return False

    def metrics(self) -> dict[str, float]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            match = _METRIC_LINE.match(line)
            if match and not line.startswith("#"):
                out[match[1] + (match[2] or "")] = float(match[3])
        return out

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                data: dict[str, Any] = orjson.loads(r.read())
                return data
        except (OSError, ValueError):
            return None

    def rss_bytes(self) -> int:
        if self.proc is None:
            return 0
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def crash(self) -> str | None:
        text = self.log_path.read_text(errors="replace")
        match = TRACEBACK.search(text)
        return None if match is None else text[max(0, match.start() - 500) : match.start() + 3000]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


def _sum(metrics: dict[str, float], name: str) -> float:
    return sum(v for k, v in metrics.items() if k == name or k.startswith(name + "{"))


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


# --------------------------------------------------------------------------- producing


@dataclass
class Feed:
    """The producer thread's counters (read by the sampler)."""

    lines: int = 0
    hostile: int = 0
    messages: int = 0
    behind_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    clean_path: Path | None = None  # the clean lines as produced, for the comparison
    clean_lines: int = 0
    last_event_ms: int | None = None


def produce(
    bootstrap: str, topic: str, lines: Iterator[bytes], hostile: Hostile, feed: Feed,
    rate: float, seconds: float, tick: float,
) -> None:  # fmt: skip
    from confluent_kafka import Producer

    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True,
         "message.max.bytes": 1_000_000, "queue.buffering.max.kbytes": 1_048_576}
    )  # fmt: skip

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None and len(feed.errors) < 20:
            feed.errors.append(str(err))

    def send(key: bytes | None, value: bytes) -> None:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=delivered)
                feed.messages += 1
                return
            except BufferError:
                producer.poll(0.05)

    started = time.monotonic()
    per_tick = max(1, round(rate * tick))
    assert feed.clean_path is not None
    clean_file = feed.clean_path.open("wb")
    try:
        while time.monotonic() - started < seconds:
            batches: dict[bytes, list[bytes]] = {}
            for _ in range(per_tick):
                line = next(lines, None)
                if line is None:
                    raise RuntimeError("the simulated stream ran out; raise its span")
                clean_file.write(line + b"\n")
                feed.clean_lines += 1
                hostile.see(line)
                key = _key(line)
                batches.setdefault(key or b"-", []).append(line)
                feed.lines += 1
                if feed.lines % HOSTILE_EVERY == 0:
                    _, bad = hostile.next()
                    feed.lines += 1
                    feed.hostile += 1
                    bad_key = _key(bad)
                    if bad_key is None:
                        send(b"hostile", bad)
                    else:
                        batches.setdefault(bad_key, []).append(bad)
            for key, group in batches.items():
                if key == b"-":  # the simulator's own malformed lines
                    for line in group:
                        send(b"malformed", line)
                else:
                    send(key, b"\n".join(group) + b"\n")
            producer.poll(0)
            # live: never run more than five minutes ahead of the wall clock in event time
            feed.last_event_ms = _event_ms(line) or feed.last_event_ms
            if feed.last_event_ms is not None and feed.last_event_ms > now_ms() + 5 * 60_000:
                time.sleep(1.0)
            due = started + feed.lines / rate
            pause = due - time.monotonic()
            feed.behind_s = max(0.0, -pause)
            if pause > 0:
                time.sleep(pause)
    except Exception as exc:  # reported in the summary, and the run ends
        feed.errors.append(f"producer thread: {exc!r}")
        log(f"producer failed: {exc!r}")
        raise
    finally:
        clean_file.close()
        producer.flush(120)
        feed.done.set()


def _event_ms(line: bytes) -> int | None:
    from engine.core.calendar import parse_instant

    match = re.search(rb'"event_time":"([^"]+)"', line)
    if match is None:
        return None
    with contextlib.suppress(ValueError):
        return parse_instant(match[1].decode())
    return None


# --------------------------------------------------------------------------- the end


def committed_everything(bootstrap: str, worker: Worker, timeout: float) -> bool:
    """Until both consumer groups (routing, evaluation) have committed their topics' ends."""
    from confluent_kafka import Consumer, TopicPartition

    from engine.adapters.kafka.router import route_group

    stages = [
        (route_group(worker.app_id), worker.telemetry),
        (worker.app_id, f"{worker.app_id}-csla-by-contract"),
    ]
    deadline = time.monotonic() + timeout
    for group, topic in stages:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                             "enable.auto.commit": False})  # fmt: skip
        try:
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            ends = {
                p: consumer.get_watermark_offsets(tp, timeout=10)[1] for p, tp in enumerate(tps)
            }
            while True:
                done = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
                if all(end <= 0 or done.get(p, -1) >= end for p, end in ends.items()):
                    break
                if time.monotonic() > deadline:
                    return False
                worker.restart_if_dead()
                time.sleep(1.0)
        finally:
            consumer.close()
    return True


def read_outputs(bootstrap: str, topics: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"soak-read-{uuid.uuid4()}",
                         "enable.auto.commit": False, "enable.partition.eof": True})  # fmt: skip
    out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in topics}
    by_topic = {t: k for k, t in topics.items()}
    try:
        tps = [TopicPartition(t, p, 0) for t in topics.values() for p in range(PARTITIONS)]
        ends = {(tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=10)[1]
                for tp in tps}  # fmt: skip
        todo = {k for k, end in ends.items() if end > 0}
        consumer.assign(tps)
        deadline = time.monotonic() + 300
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=5000, timeout=0.5):
                err = msg.error()
                where = (msg.topic(), msg.partition())
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        todo.discard(where)
                    continue
                out[by_topic[msg.topic()]].append(orjson.loads(msg.value()))
                if msg.offset() + 1 >= ends[where]:
                    todo.discard(where)
    finally:
        consumer.close()
    return out


def record_id(kind: str, r: dict[str, Any]) -> tuple[Any, ...]:
    if kind == "metrics":
        return (r["metric_id"],)
    if kind == "breaches":
        return (r["breach_id"], r["status"])
    return (r["compensation_id"],)


def compare(worker_out: dict[str, list[dict[str, Any]]], clean: Path) -> dict[str, Any]:
    """The worker's metrics, breaches and compensations against ``step`` over the clean lines
    alone (read back in chunks: the core's outputs do not depend on the batching), by id and
    value, per contract."""
    from engine.adapters.files import read_chunks
    from engine.core.pipeline import Outputs, step
    from engine.core.state import EngineState

    ruleset, clock = _ruleset(), now_ms()
    state, out = EngineState.empty(), Outputs()
    with clean.open("rb") as stream:
        for lines, origin, block in read_chunks(stream, "clean", 8 << 20):
            state, got = step(state, lines, origin, ruleset, clock, block)
            out.metrics.extend(got.metrics)
            out.breaches.extend(got.breaches)
            out.compensations.extend(got.compensations)
    result: dict[str, Any] = {}
    for kind in COMPARED:
        want = {record_id(kind, r): r for r in getattr(out, kind)}
        got: dict[tuple[Any, ...], dict[str, Any]] = {}
        conflicts = 0
        for r in worker_out[kind]:
            rid = record_id(kind, r)
            conflicts += rid in got and got[rid] != r
            got[rid] = r
        differ = [rid for rid in want.keys() & got.keys() if want[rid] != got[rid]]
        per_contract: dict[str, dict[str, int]] = {}
        for r in want.values():
            row = per_contract.setdefault(r["contract_id"], {"clean": 0, "worker": 0})
            row["clean"] += 1
        for r in got.values():
            row = per_contract.setdefault(r["contract_id"], {"clean": 0, "worker": 0})
            row["worker"] += 1
        result[kind] = {
            "clean": len(want),
            "worker": len(got),
            "missing": len(want.keys() - got.keys()),
            "extra": len(got.keys() - want.keys()),
            "differ": len(differ),
            "examples": {
                "missing": [want[k] for k in sorted(want.keys() - got.keys())[:3]],
                "extra": [got[k] for k in sorted(got.keys() - want.keys())[:3]],
                "differ": [[want[k], got[k]] for k in sorted(differ)[:2]],
            },
            "conflicting_repeats": int(conflicts),
            "per_contract": per_contract,
            "equal": want == got,
        }
    credits = {}
    for r in out.compensations:
        credits[r["contract_id"]] = credits.get(r["contract_id"], 0.0) + float(r["credit_amount"])
    result["clean_credits"] = credits
    return result


# --------------------------------------------------------------------------- report


def table(samples: list[dict[str, Any]]) -> str:
    head = ("| t (s) | lines produced | hostile | events in | lag | behind (s) | RSS (MiB) | "
            "checkpoints (KiB) | data dir (KiB) | dead letters | pid | restarts |")  # fmt: skip
    rows = [head, "|" + "---|" * 12]
    for s in samples:
        rows.append(
            f"| {s['t_s']:.0f} | {s['produced']:,} | {s['hostile']:,} | {s['events_in']:,.0f} "
            f"| {s['lag']:,.0f} | {s['behind_s']:.1f} | {s['rss_bytes'] / 2**20:.1f} "
            f"| {s['checkpoint_bytes'] / 1024:.1f} | {s['data_dir_bytes'] / 1024:.1f} "
            f"| {s['dead_letters']:,.0f} | {s['pid']} | {s['restarts']} |"
        )
    return "\n".join(rows)


def flatness(samples: list[dict[str, Any]], key: str, warmup: float, block_s: float) -> dict:
    """After warm-up, the peak of each block of ``block_s`` seconds (the state has a sawtooth:
    the buffer fills for one closing step, the shortest window, then empties), and the spread
    of those peaks, (max − min) / first; flat when it is at most 10 %."""
    total = samples[-1]["t_s"] if samples else 0.0
    kept = [(s["t_s"], s[key]) for s in samples if s["t_s"] >= total * warmup and s[key]]
    if not kept:
        return {"samples": 0, "flat": None}
    start = kept[0][0]
    peaks: dict[int, float] = {}
    for t, value in kept:
        block = int((t - start) // block_s)
        peaks[block] = max(peaks.get(block, 0.0), value)
    values = [peaks[b] for b in sorted(peaks)]
    if len(values) < 2:
        return {"samples": len(kept), "block_peaks": values, "flat": None}
    spread = (max(values) - min(values)) / values[0]
    return {"samples": len(kept), "block_s": block_s, "block_peaks": values,
            "spread": round(spread, 4), "flat": spread <= 0.10}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=20.0, help="Length of the run.")
    parser.add_argument("--rate", type=float, default=2000.0, help="Lines per second.")
    parser.add_argument("--every", type=float, default=30.0, help="Seconds between samples.")
    parser.add_argument("--tick", type=float, default=0.25, help="Seconds per produce round.")
    parser.add_argument("--warmup", type=float, default=0.25, help="Share of the run ignored.")
    parser.add_argument(
        "--speed", type=float, default=1.0,
        help="Event time per wall time (1: live). A short run needs more to get past the "
        "5-minute grace, so that windows close and the buffer reaches its steady size.",
    )  # fmt: skip
    parser.add_argument(
        "--backlog-minutes", type=float, default=10.0,
        help="Event time starts this far back (and trails the wall clock by about as much), so "
        "that windows close during a short run.",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "soak.json")
    parser.add_argument("--keep", action="store_true", help="Keep the work dir (worker log).")
    parser.add_argument(
        "--drain-seconds", type=float, default=600.0,
        help="At most this long for the worker to commit everything after the last line.",
    )  # fmt: skip
    args = parser.parse_args()

    from engine.dev.local_broker import LocalKafka

    ruleset = _ruleset()
    start_ms = (now_ms() - round(args.backlog_minutes * 60_000)) // 60_000 * 60_000
    call_rate = calibrate(ruleset, start_ms, args.rate / args.speed)
    log(f"simulator API call rate {call_rate:,.0f}/min: ~{args.rate:,.0f} lines/s at "
        f"{args.speed}× event time")  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="csla-soak-"))
    seconds = args.minutes * 60
    # the state holds up to one closing step of a contract's events (its shortest window, at
    # most an hour: a sawtooth), so blocks are the longest step of the rule set
    step_ms = closing_step_ms(ruleset)
    block_s = max(args.every, step_ms / 1000 / args.speed)
    log(f"longest closing step {step_ms // 60_000} min of event time: blocks of {block_s:.0f} s")
    samples: list[dict[str, Any]] = []
    summary: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items()}}
    worker: Worker | None = None
    try:
        with LocalKafka() as kafka:
            telemetry = f"soak-telemetry-{uuid.uuid4().hex[:6]}"
            kafka.create_topic(telemetry, partitions=PARTITIONS)
            worker = Worker(kafka.bootstrap, work / "worker", telemetry).start()
            deadline = time.monotonic() + 120
            while not ((h := worker.health()) and h.get("ready")):
                if time.monotonic() > deadline or not worker.alive():
                    raise RuntimeError(f"worker not ready:\n{worker.log_path.read_text()[-3000:]}")
                time.sleep(0.5)
            log(f"broker {kafka.bootstrap}, worker pid {worker.proc.pid if worker.proc else '?'}")
            feed = Feed(clean_path=work / "clean.ndjson")
            hostile = Hostile(_corpus())
            hostile.prime(ruleset, start_ms)
            lines = clean_stream(ruleset, start_ms, args.minutes * args.speed + 60, call_rate)
            producer = threading.Thread(
                target=produce,
                args=(kafka.bootstrap, telemetry, lines, hostile, feed, args.rate, seconds,
                      args.tick),
                daemon=True,
            )  # fmt: skip
            t0 = time.monotonic()
            producer.start()
            next_at = t0 + args.every
            while True:
                done = feed.done.wait(timeout=max(0.0, next_at - time.monotonic()))
                if worker.restart_if_dead():
                    pass
                if time.monotonic() >= next_at or done:
                    m = worker.metrics()
                    sample = {
                        "t_s": round(time.monotonic() - t0, 1),
                        "produced": feed.lines,
                        "hostile": feed.hostile,
                        "events_in": _sum(m, "csla_events_in_total"),
                        "lag": _sum(m, "csla_consumer_lag"),
                        "behind_s": round(feed.behind_s, 2),
                        "rss_bytes": worker.rss_bytes(),
                        "checkpoint_bytes": _sum(m, "csla_checkpoint_bytes"),
                        "data_dir_bytes": _dir_bytes(worker.data_dir),
                        "dead_letters": _sum(m, "csla_dead_letters_total"),
                        "pid": worker.proc.pid if worker.proc else None,
                        "restarts": worker.starts - 1,
                    }
                    samples.append(sample)
                    log(json.dumps(sample))
                    next_at += args.every
                if done:
                    break
            producer.join()
            log(f"produced {feed.lines:,} lines ({feed.hostile:,} hostile) in "
                f"{feed.messages:,} messages; waiting for the worker to commit everything")  # fmt: skip
            caught_up = committed_everything(kafka.bootstrap, worker, args.drain_seconds)
            drained_s = round(time.monotonic() - t0 - seconds, 1)
            outputs = read_outputs(kafka.bootstrap, worker.topics())
            m = worker.metrics()
            alive = worker.alive()
            worker.stop()
            crash = worker.crash()
            comparison = compare(outputs, feed.clean_path)  # type: ignore[arg-type]
            summary.update(
                produced=feed.lines,
                hostile=feed.hostile,
                hostile_by_class=hostile.sent,
                clean_lines=feed.clean_lines,
                classes_without_anchor_at_end=sorted(hostile.skipped),
                produce_errors=feed.errors,
                caught_up=caught_up,
                drain_s_after_producing=drained_s,
                worker_alive_at_end=alive,
                worker_starts=worker.starts,
                worker_exits=worker.exits,
                crash_in_log=crash,
                dead_letters=_sum(m, "csla_dead_letters_total"),
                outputs={k: len(v) for k, v in outputs.items()},
                rss=flatness(samples, "rss_bytes", args.warmup, block_s),
                checkpoint=flatness(samples, "checkpoint_bytes", args.warmup, block_s),
                lag_max=max((s["lag"] for s in samples), default=0),
                comparison=comparison,
                samples=samples,
            )
            summary["accepted"] = bool(
                caught_up and alive and worker.starts == 1 and crash is None
                and summary["rss"]["flat"] and summary["checkpoint"]["flat"]
                and all(comparison[k]["equal"] for k in COMPARED)
            )  # fmt: skip
    finally:
        if worker is not None:
            worker.stop()
        if args.keep:
            log(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    summary["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    summary["load_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary["cpus"] = os.cpu_count()
    text = table(samples)
    summary["table"] = text
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(text)
    print(json.dumps({k: v for k, v in summary.items() if k not in ("samples", "table")}, indent=2))


if __name__ == "__main__":
    main()
