"""``csla worker`` against a real Kafka: same answers as the pure core, scale-out, restarts.

Telemetry is produced and outputs are consumed with confluent-kafka (the engine uses aiokafka);
the expected outputs come from running ``engine.core.pipeline.step`` offline over the same
lines, in one go, with the origins the broker gave them. Records are compared by id and value.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from engine.adapters.kafka.router import route_group
from engine.core.pipeline import step
from engine.core.state import EngineState
from engine.dev.local_broker import LocalKafka
from engine.ruleset import load_rules_dir

_spec = importlib.util.spec_from_file_location(
    "csla_worker_harness", Path(__file__).with_name("worker_harness.py")
)
assert _spec is not None and _spec.loader is not None
wh = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = wh
_spec.loader.exec_module(wh)

pytestmark = pytest.mark.kafka

PARTITIONS = 4
KINDS = (
    "metrics", "breaches", "compensations", "late", "deadletter", "usage", "warnings", "scorecards"
)  # fmt: skip
OUT_ATTR = {
    "metrics": "metrics",
    "breaches": "breaches",
    "compensations": "compensations",
    "late": "late",
    "deadletter": "dead",
    "usage": "usage",
    "warnings": "warnings",
    "scorecards": "scorecards",
}


# --------------------------------------------------------------------------- fixtures


@dataclass
class Deployment:
    """Unique topics, app id and rules for one test; workers started from it."""

    broker: LocalKafka
    root: Path
    rules_dir: Path
    topics: dict[str, str]
    app_id: str
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: list[Any] = field(default_factory=list)

    def env(self, name: str) -> dict[str, str]:
        env = {
            "CSLA_BROKER": f"kafka://{self.broker.bootstrap}",
            "CSLA_APP_ID": self.app_id,
            "CSLA_DATA_DIR": str(self.root / name / "data"),
            "CSLA_WEB_PORT": str(wh.free_port()),
            "CSLA_WEB_HOST": "127.0.0.1",
            "CSLA_RULES_DIR": str(self.rules_dir),
            "CSLA_RULES_POLL_SECONDS": "0.5",
            "CSLA_PARTITIONS": str(PARTITIONS),
            "CSLA_BATCH_WAIT_SECONDS": "0.1",
            "CSLA_SESSION_TIMEOUT_SECONDS": "6",
            "CSLA_HEARTBEAT_SECONDS": "0.5",
            "CSLA_LOG_LEVEL": "INFO",
            "CSLA_TOPIC_TELEMETRY": self.topics["telemetry"],
            "CSLA_TOPIC_METRICS": self.topics["metrics"],
            "CSLA_TOPIC_BREACHES": self.topics["breaches"],
            "CSLA_TOPIC_COMPENSATIONS": self.topics["compensations"],
            "CSLA_TOPIC_LATE": self.topics["late"],
            "CSLA_TOPIC_DEADLETTER": self.topics["deadletter"],
            "CSLA_TOPIC_USAGE": self.topics["usage"],
            "CSLA_TOPIC_WARNINGS": self.topics["warnings"],
            "CSLA_TOPIC_SCORECARDS": self.topics["scorecards"],
        }
        return {**env, **self.extra_env}

    def worker(self, name: str) -> Any:
        worker = wh.WorkerProcess(self.env(name), self.root / name, name)
        self.workers.append(worker)
        return worker

    def reader(self) -> Any:
        return wh.OutputReader(self.broker.bootstrap, {k: self.topics[k] for k in KINDS})

    def read_all(self, reader: Any, workers: Sequence[Any]) -> None:
        """Once the workers have committed all their input (telemetry, then the keyed topic),
        everything they published from it is committed: read it all (no quiet-period guess)."""
        keyed = self.extra_env.get("CSLA_INPUT_KEYED_BY_CONTRACT") == "true"
        wh.wait_caught_up(
            self.broker.bootstrap,
            [(self.app_id, [self.topics["telemetry"]])]  # no stage 1
            if keyed
            else [
                (route_group(self.app_id), [self.topics["telemetry"]]),
                (self.app_id, [f"{self.app_id}-csla-by-contract"]),
            ],
            PARTITIONS,
            check=lambda: [w.check_alive() for w in workers],
        )
        reader.read_to_end(PARTITIONS)

    def ruleset(self) -> Any:
        report = load_rules_dir(self.rules_dir)
        assert report.ok, report.format()
        return report.ruleset


def _deployment(broker: LocalKafka, root: Path, label: str) -> Deployment:
    tag = f"{label}-{uuid.uuid4().hex[:8]}"
    rules = root / "rules"
    shutil.copytree(wh.REPO_ROOT / "rules", rules)
    topics = {kind: f"{tag}.{kind}" for kind in ("telemetry", *KINDS)}
    return Deployment(broker, root, rules, topics, app_id=f"csla-{tag}")


@pytest.fixture
def deployment(
    kafka_broker: LocalKafka, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    dep = _deployment(kafka_broker, tmp_path, request.node.name[5:25].replace("_", "-"))
    yield dep
    for worker in dep.workers:
        worker.stop()
    for worker in dep.workers:
        worker.check_log()


# --------------------------------------------------------------------------- expectations


def telemetry_messages(
    t: Any, *, batch: int = 40
) -> list[tuple[bytes | None, bytes, Sequence[bytes]]]:
    """Each contract keyed by its id (so its order survives), in NDJSON batches, JSON arrays
    and single events."""
    messages: list[tuple[bytes | None, bytes, Sequence[bytes]]] = []
    for cid in t.contract_ids:
        lines = t.lines(cid)
        key = cid.encode()
        for n, i in enumerate(range(0, len(lines), batch)):
            chunk = lines[i : i + batch]
            if n % 5 == 1:  # a JSON array
                messages.append((key, b"[" + b",".join(chunk) + b"]", chunk))
            elif n % 5 == 2:  # single events
                messages.extend((key, line, [line]) for line in chunk)
            else:
                messages.append((key, b"\n".join(chunk) + b"\n", chunk))
    return messages


def offline(*phases: Sequence[Any], ruleset: Any) -> dict[str, dict[tuple[Any, ...], Any]]:
    """What the pure core says about the same lines: one ``step`` per phase of input.

    Phases are for input sent only after the worker had evaluated what came before (a replayed
    event whose minute has closed is late then; in the same ``step`` it is a duplicate).
    """
    state = EngineState.empty()
    records: dict[str, list[Any]] = {kind: [] for kind in KINDS}
    for sent in phases:
        lines: list[bytes] = []
        origins: list[str] = []
        for s in sorted(sent, key=lambda s: (s.partition, s.offset)):
            lines.extend(s.lines)
            origins.extend([s.origin] * len(s.lines))
        now_ms = int(time.time() * 1000)
        state, out = step(state, lines, origins.__getitem__, ruleset, now_ms)
        for kind in KINDS:
            records[kind].extend(getattr(out, OUT_ATTR[kind]))
    return {kind: wh.dedup(kind, records[kind]) for kind in KINDS}


def observed(reader: Any) -> dict[str, dict[tuple[Any, ...], Any]]:
    return {kind: wh.dedup(kind, [r for _k, r in reader.records[kind]]) for kind in KINDS}


def assert_same(
    got: dict[str, dict[tuple[Any, ...], Any]], want: dict[str, dict[tuple[Any, ...], Any]]
) -> None:
    for kind in KINDS:
        missing = want[kind].keys() - got[kind].keys()
        extra = got[kind].keys() - want[kind].keys()
        assert not missing and not extra, (kind, sorted(missing)[:5], sorted(extra)[:5])
        for rid, record in want[kind].items():
            assert got[kind][rid] == record, (kind, rid)


def expected_total(want: dict[str, dict[tuple[Any, ...], Any]]) -> Callable[[Any], bool]:
    def done(reader: Any) -> bool:
        got = observed(reader)
        return all(len(got[k]) >= len(want[k]) for k in KINDS)

    return done


def bad_messages(t: Any) -> list[tuple[str, bytes, str]]:
    """(label, message, expected error fragment): one of every kind of bad input."""
    good = t.events["maas-api-001"][100]

    def event(**changes: Any) -> bytes:
        e = {**good, "event_id": f"bad-{uuid.uuid4().hex[:8]}", **changes}
        return orjson.dumps({k: v for k, v in e.items() if v is not None})

    no_contract = {**good, "event_id": "bad-nocontract"}
    del no_contract["contract_id"]
    return [
        ("not-json", b"this is not json", "not valid JSON"),
        ("bad-array", b'[{"broken": ', "not valid JSON"),
        ("not-utf8", b"\xff\xfe\x00garbage", "not valid JSON"),
        ("not-object", b"42", "expected a JSON object"),
        ("no-contract", orjson.dumps(no_contract), "contract_id"),
        ("negative-latency", event(latency_ms=-5.0), "latency_ms"),
        ("wrong-type", event(ok="yes"), "ok"),
        ("bad-kind", event(kind="teleport"), "kind"),
        ("bad-version", event(schema_version=2), "schema_version"),
        ("naive-time", event(event_time="2026-10-26T09:00:00"), "event_time"),
        ("unknown-contract", event(contract_id="nope-999"), "unknown contract"),
        (
            "outside-term",
            event(contract_id="storage-001", event_time="2025-06-01T00:00:00Z"),
            "outside the contract term",
        ),
        ("future", event(event_time="2026-12-31T00:00:00Z"), "ahead of the engine clock"),
    ]


# --------------------------------------------------------------------------- tests


def test_one_worker_matches_the_pure_core(deployment: Deployment) -> None:
    """Good, bad, duplicate and late input through one worker = ``step`` offline, by id and
    value; every kind of bad message is dead-lettered with its reason and origin."""
    t0 = time.monotonic()
    worker = deployment.worker("w1").start()
    ready_s = worker.wait_ready(min_partitions=PARTITIONS)
    admin = AdminClient({"bootstrap.servers": deployment.broker.bootstrap})
    meta = admin.list_topics(timeout=10).topics
    for kind in ("telemetry", *KINDS):
        assert len(meta[deployment.topics[kind]].partitions) == PARTITIONS, kind
    configs = admin.describe_configs([ConfigResource("topic", deployment.topics["breaches"])])
    retention = next(iter(configs.values())).result()["retention.ms"].value
    assert retention == str(168 * 3_600_000)
    del admin

    t = wh.Telemetry().build()
    bootstrap = deployment.broker.bootstrap
    telemetry = deployment.topics["telemetry"]
    messages = telemetry_messages(t)
    sent = wh.produce(bootstrap, telemetry, messages)
    bad = bad_messages(t)
    mixed_line = orjson.dumps({**t.events["maas-api-001"][5], "event_id": "mixed-ok"})
    # One contract's NDJSON with a bad line: stage 1 forwards it whole (no parsing), and
    # stage 2's decoder dead-letters the bad line with its origin.
    whole_ok = orjson.dumps({**t.events["maas-api-001"][6], "event_id": "whole-ok"})
    whole_bad = orjson.dumps({**t.events["maas-api-001"][7], "event_id": "whole-bad", "ok": "yes"})
    sent_bad = wh.produce(
        bootstrap,
        telemetry,
        [(None, value, [value]) for _label, value, _err in bad]
        # keyed like the rest of its contract's events, so it is evaluated after them
        + [(b"maas-api-001", b"[" + mixed_line + b", 7]", [mixed_line, b"7"])]
        + [(b"maas-api-001", whole_ok + b"\n" + whole_bad, [whole_ok, whole_bad])],
    )
    # Messages without an event (issue 11): dead letters with their origin, never skipped.
    sent_empty = wh.produce(bootstrap, telemetry, [(None, None, []), (None, b"", [])])  # type: ignore[list-item]
    empties = {
        (s.origin, "", error): {
            "record": "deadletter",
            "origin": s.origin,
            "error": error,
            "raw": "",
        }
        for s, error in zip(sent_empty, ("null message value", "empty message value"), strict=True)
    }
    reader = deployment.reader()
    want1 = offline(sent + sent_bad, ruleset=deployment.ruleset())
    want1["deadletter"].update(empties)
    assert len(want1["breaches"]) >= 4 and len(want1["compensations"]) >= 3
    assert len(want1["scorecards"]) == 3 and want1["usage"]  # October closed for each contract
    reader.until(expected_total(want1), timeout=180, check=worker.check_alive)
    first_output_s = time.monotonic() - t0

    # phase 2, after the watermark moved on: a late event, a replayed old event, a duplicate
    late = orjson.dumps({**t.events["maas-api-001"][50], "event_id": "late-1"})
    replayed = orjson.dumps(t.events["storage-001"][10])
    duplicate = orjson.dumps(t.events["gpu-train-001"][-1])
    sent_late = wh.produce(
        bootstrap,
        telemetry,
        [
            (b"maas-api-001", late, [late]),
            (b"storage-001", replayed, [replayed]),
            (b"gpu-train-001", duplicate, [duplicate]),
        ],
    )
    want = offline(sent + sent_bad, sent_late, ruleset=deployment.ruleset())
    want["deadletter"].update(empties)
    late_ids = {rid[1] for rid in want["late"]}
    assert {"late-1", "mixed-ok", "whole-ok", t.events["storage-001"][10]["event_id"]} == late_ids
    reader.until(expected_total(want), timeout=120, check=worker.check_alive)
    deployment.read_all(reader, [worker])
    got = observed(reader)
    assert_same(got, want)

    # each kind of bad message: dead-lettered once, with its origin and reason
    dead = list(got["deadletter"].values())
    for (label, _value, fragment), s in zip(bad, sent_bad[: len(bad)], strict=True):
        hits = [d for d in dead if d["origin"] == s.origin]
        assert len(hits) == 1, (label, hits)
        assert fragment in hits[0]["error"], (label, hits[0])
    mixed = [d for d in dead if d["origin"] == sent_bad[-2].origin]
    assert [d["raw"] for d in mixed] == ["7"]
    whole = [d for d in dead if d["origin"] == sent_bad[-1].origin]
    assert [d["raw"] for d in whole] == [whole_bad.decode()] and "ok" in whole[0]["error"]

    # no duplicates at all in a clean run; outputs keyed by contract
    for kind in ("metrics", "breaches", "compensations", "late", "usage", "warnings", "scorecards"):
        assert len(reader.records[kind]) == len(got[kind]), kind
        for key, record in reader.records[kind]:
            assert key == record["contract_id"].encode()

    text = worker.metrics_text()
    assert "csla_events_in_total" in text and "csla_consumer_lag" in text
    # every NDJSON message of one contract took the fast path, the bad one included
    whole = sum(1 for _key, value, _lines in messages if value.endswith(b"\n")) + 1
    assert f"csla_route_whole_messages_total {float(whole)}" in text
    assert f"csla_dead_letters_total {float(len(want['deadletter']))}" in text
    health = worker.health()
    assert health is not None and health["ready"] and health["partitions"] == [0, 1, 2, 3]
    assert health["broker_down_seconds"] == 0 and "csla_broker_reachable 1.0" in text
    reader.close()
    print(
        f"\nworker ready {ready_s:.1f} s; all phase-1 outputs {first_output_s:.1f} s after start; "
        f"{sum(len(s.lines) for s in sent)} events in {len(sent)} messages"
    )


def _wait_split(workers: Sequence[Any], timeout: float = 60.0) -> list[list[int]]:
    """Until the workers hold disjoint, non-empty sets of partitions covering all of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for worker in workers:
            worker.check_alive()
        health = [worker.health() for worker in workers]
        if all(h and h["ready"] for h in health):
            parts = [h["partitions"] for h in health if h]
            flat = [p for ps in parts for p in ps]
            if sorted(flat) == list(range(PARTITIONS)) and all(parts):
                return parts
        time.sleep(0.3)
    raise AssertionError(f"no stable split: {[w.health() for w in workers]}")


def test_two_workers_give_the_outputs_of_one(deployment: Deployment) -> None:
    """Two workers in one group on 4 partitions: each evaluates a share, together they give
    exactly what one worker (= the pure core) gives."""
    w1 = deployment.worker("w1").start()
    w2 = deployment.worker("w2").start()
    w1.wait_ready()
    split = _wait_split([w1, w2])
    t = wh.Telemetry(seed=11).build()
    sent = wh.produce(
        deployment.broker.bootstrap, deployment.topics["telemetry"], telemetry_messages(t)
    )
    want = offline(sent, ruleset=deployment.ruleset())
    reader = deployment.reader()
    try:
        reader.until(
            expected_total(want), timeout=180, check=lambda: [w.check_alive() for w in (w1, w2)]
        )
        deployment.read_all(reader, [w1, w2])
        got = observed(reader)
        assert_same(got, want)
        for kind in KINDS:  # a stable group publishes each record once
            assert len(reader.records[kind]) == len(got[kind]), kind
    finally:
        reader.close()
    print(f"\npartitions per worker: {split}")


@pytest.mark.parametrize(
    ("guarantee", "keyed"),
    [("at_least_once", False), ("exactly_once", False), ("exactly_once", True)],
    # keyed input once, under the stronger guarantee: each run feeds for ~3 minutes
    ids=["at_least_once-rekey", "exactly_once-rekey", "exactly_once-keyed"],
)
def test_sigkill_mid_stream_and_restart(
    deployment: Deployment, guarantee: str, keyed: bool
) -> None:
    """SIGKILL while telemetry flows, restart: nothing lost, nothing different after
    de-duplication by id (a record published twice has the same value both times); with
    exactly_once, a read_committed reader sees nothing twice. ``keyed``: the same with
    ``CSLA_INPUT_KEYED_BY_CONTRACT`` (no re-key hop) on murmur2-partitioned telemetry."""
    deployment.extra_env["CSLA_PROCESSING_GUARANTEE"] = guarantee
    if keyed:
        deployment.extra_env["CSLA_INPUT_KEYED_BY_CONTRACT"] = "true"
    w1 = deployment.worker("w1").start()
    w1.wait_ready(min_partitions=PARTITIONS)
    t = wh.Telemetry(seed=23).build()
    messages = telemetry_messages(t, batch=10)
    sent: list[Any] = []
    restarted = threading.Event()

    def feed() -> None:
        # One producer, 20 messages a send. Paced (the whole feed would take > 60 s, the wait
        # for the kill below) until the worker is back after the kill, so telemetry flows
        # before, during and after it; then the rest at once.
        sender = wh.Sender(deployment.broker.bootstrap, murmur2=keyed)
        for i in range(0, len(messages), 20):
            sent.extend(sender.send(deployment.topics["telemetry"], messages[i : i + 20]))
            if not restarted.is_set():
                time.sleep(0.25)

    feeder = threading.Thread(target=feed)
    reader = deployment.reader()
    try:
        feeder.start()
        deadline = time.monotonic() + 60
        while _checkpoints(w1) < 3:
            assert time.monotonic() < deadline, w1.log_tail()
            time.sleep(0.1)
        assert feeder.is_alive(), "the feed ended before the kill: make it longer"
        w1.kill()
        killed_at = time.monotonic()
        reader.poll(0.5)
        w1.start()
        restart_s = w1.wait_ready(min_partitions=PARTITIONS)
        restarted.set()
        feeder.join(timeout=300)
        assert not feeder.is_alive(), "the feed did not end: want would miss its tail"
        want = offline(sent, ruleset=deployment.ruleset())
        reader.until(expected_total(want), timeout=180, check=w1.check_alive)
        deployment.read_all(reader, [w1])
        got = observed(reader)
        assert_same(got, want)
        duplicates = sum(len(reader.records[k]) - len(got[k]) for k in KINDS)
    finally:
        reader.close()
    log = w1.log_path.read_text()
    if guarantee == "exactly_once":
        assert duplicates == 0
    else:  # with exactly_once the kill may come before the first transaction commits
        assert "restored checkpoint" in log
    print(
        f"\nrestart ready {restart_s:.1f} s after start ({time.monotonic() - killed_at:.1f} s "
        f"after the kill to the end); {duplicates} records published twice"
    )


def _checkpoints(worker: Any) -> float:
    for line in worker.metrics_text().splitlines():
        if line.startswith("csla_checkpoints_total "):
            return float(line.split()[1])
    return 0.0


def _storage_lines(t: Any, lo: int, hi: int) -> list[tuple[bytes | None, bytes, Sequence[bytes]]]:
    lines = t.lines("storage-001")[lo:hi]
    return wh.batched(lines, 20, b"storage-001")


def _wait_log(worker: Any, text: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.log_path.read_text(errors="replace"):
        worker.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} not logged:\n{worker.log_tail()}")
        time.sleep(0.2)


def test_rule_hot_reload_keeps_the_last_good_version(deployment: Deployment) -> None:
    storage_rule = deployment.rules_dir / "storage-001.yaml"
    good_text = storage_rule.read_text()
    storage_rule.unlink()
    w1 = deployment.worker("w1").start()
    w1.wait_ready()
    t = wh.Telemetry(seed=5, minutes=90).build(close_october=False)
    bootstrap, topic = deployment.broker.bootstrap, deployment.topics["telemetry"]
    n = len(t.events["storage-001"])
    reader = deployment.reader()
    try:
        # 1. no rule file yet: unknown contract
        wh.produce(bootstrap, topic, _storage_lines(t, 0, 20))
        reader.until(lambda r: len(r.records["deadletter"]) >= 20, timeout=60, check=w1.check_alive)
        assert all("unknown contract" in r["error"] for _k, r in reader.records["deadletter"])

        # 2. the file appears: evaluated from then on
        storage_rule.write_text(good_text)
        _wait_log(w1, "rules reloaded: 3 contract(s)")
        wh.produce(bootstrap, topic, _storage_lines(t, 20, n // 2))
        reader.until(
            lambda r: any(m["contract_id"] == "storage-001" for _k, m in r.records["metrics"]),
            timeout=60,
            check=w1.check_alive,
        )

        # 3. a broken edit is rejected; the previous version stays in force
        storage_rule.write_text(good_text.replace("version: csla/v1", "version: csla/v9"))
        _wait_log(w1, "the previous version stays in force")
        before = len(reader.records["metrics"])
        wh.produce(bootstrap, topic, _storage_lines(t, n // 2, n))
        reader.until(lambda r: len(r.records["metrics"]) > before, timeout=60, check=w1.check_alive)
        deployment.read_all(reader, [w1])
        assert len(reader.records["deadletter"]) == 20  # nothing more was rejected
        text = w1.metrics_text()
        assert 'csla_rule_reloads_total{result="rejected"} 1.0' in text
        assert "csla_contracts 3.0" in text
    finally:
        reader.close()


def test_produce_file_keys_batches_by_contract(deployment: Deployment, tmp_path: Path) -> None:
    from engine.adapters.kafka.produce import produce_file
    from engine.settings import Settings

    t = wh.Telemetry(seed=3, minutes=20).build(close_october=False)
    lines = [line for cid in t.contract_ids for line in t.lines(cid)] + [b"not json"]
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    env = deployment.env("producer")
    settings = Settings(
        broker=env["CSLA_BROKER"],
        app_id=deployment.app_id,
        topics={"telemetry": deployment.topics["telemetry"]},
    )
    assert asyncio.run(produce_file(settings, path, batch_events=100)) == len(lines)
    consumer = wh.Consumer(
        {
            "bootstrap.servers": deployment.broker.bootstrap,
            "group.id": "check-produce",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        consumer.subscribe([deployment.topics["telemetry"]])
        got: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + 30
        while sum(v.count(b"\n") + 1 for _k, v in got) < len(lines) and time.monotonic() < deadline:
            got.extend(
                (m.key(), m.value()) for m in consumer.consume(100, timeout=0.5) if not m.error()
            )
    finally:
        consumer.close()
    received = [line for _k, v in got for line in v.split(b"\n")]
    assert sorted(received) == sorted(lines)
    for key, value in got:
        cids = {
            orjson.loads(line)["contract_id"] for line in value.split(b"\n") if line != b"not json"
        }
        assert (key is None and value == b"not json") or cids == {key.decode()}


def test_exactly_once_gives_the_same_answers(deployment: Deployment) -> None:
    """``processing_guarantee=exactly_once``: outputs, routed lines and checkpoints join the
    transaction of their source partition; a read_committed reader sees each record once."""
    deployment.extra_env["CSLA_PROCESSING_GUARANTEE"] = "exactly_once"
    w1 = deployment.worker("w1").start()
    w1.wait_ready(min_partitions=PARTITIONS)
    t = wh.Telemetry(seed=31).build()
    sent = wh.produce(
        deployment.broker.bootstrap, deployment.topics["telemetry"], telemetry_messages(t)
    )
    want = offline(sent, ruleset=deployment.ruleset())
    reader = deployment.reader()
    try:
        reader.until(expected_total(want), timeout=180, check=w1.check_alive)
        deployment.read_all(reader, [w1])
        got = observed(reader)
        assert_same(got, want)
        for kind in KINDS:
            assert len(reader.records[kind]) == len(got[kind]), kind
    finally:
        reader.close()


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_idle_contract_windows_close_on_wall_time(deployment: Deployment, guarantee: str) -> None:
    """``idle_advance_seconds``: a contract that goes quiet has its event time moved on by the
    wall time elapsed, so its last window closes without further events; the values are the
    core's ``advance`` on the same state. With exactly_once the advance's outputs are committed
    although no input arrives any more (no consumed offset carries them)."""
    from engine.adapters.kafka.app import load_ruleset
    from engine.core.pipeline import advance
    from engine.settings import Settings

    # no grace, in the contract's own rule file (a worker takes no override of it)
    rule = deployment.rules_dir / "maas-api-001.yaml"
    rule.write_text(rule.read_text().replace("grace: 2m", "grace: 0m"))
    deployment.extra_env.update(
        {
            "CSLA_IDLE_ADVANCE_SECONDS": "1",
            "CSLA_PROCESSING_GUARANTEE": guarantee,
        }
    )
    w1 = deployment.worker("w1").start()
    w1.wait_ready(min_partitions=PARTITIONS)
    start = wh.Telemetry().start + timedelta(seconds=9)
    events = [
        {
            **wh.Telemetry().build(close_october=False).events["maas-api-001"][0],
            "event_id": f"idle-{i}",
            "event_time": wh._iso(start + timedelta(seconds=10 * i)),
            "ok": i % 7 != 0,
            "latency_ms": 100.0 + i,
        }
        for i in range(30)
    ]  # 09:00:09 .. 09:04:59 +08:00, then silence
    lines = [orjson.dumps(e) for e in events]
    sent = wh.produce(
        deployment.broker.bootstrap,
        deployment.topics["telemetry"],
        wh.batched(lines, 10, b"maas-api-001"),
    )
    window_end = "2026-10-26T01:05:00Z"
    reader = deployment.reader()
    try:
        reader.until(
            lambda r: sum(m["window_end"] == window_end for _k, m in r.records["metrics"]) >= 2,
            timeout=60,
            check=w1.check_alive,
        )
    finally:
        reader.close()
    got = {
        m["metric_id"]: m for _k, m in reader.records["metrics"] if m["window_end"] == window_end
    }

    ruleset, _report = load_ruleset(Settings(rules_dir=deployment.rules_dir))
    origins = [s.origin for s in sent for _line in s.lines]
    state, _out = step(
        EngineState.empty(), lines, origins.__getitem__, ruleset, int(time.time() * 1000)
    )
    to_ms = int(datetime(2026, 10, 26, 1, 5, tzinfo=UTC).timestamp() * 1000)
    _state, out = advance(state, ruleset, {"maas-api-001": to_ms})
    want = {m["metric_id"]: m for m in out.metrics if m["window_end"] == window_end}
    assert want and got == want
    assert "advanced idle contracts=['maas-api-001']" in w1.log_path.read_text()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return 0.0


def test_keyed_input_skips_the_rekey_hop_and_dead_letters_misrouted_lines(
    deployment: Deployment, tmp_path: Path
) -> None:
    """``CSLA_INPUT_KEYED_BY_CONTRACT=true`` on telemetry keyed by contract and partitioned by
    murmur2: the same records as a re-keying worker reading the same topic (and as the pure
    core); then a line on another partition than its key's, a line without a key and a line
    naming another contract than its key are dead letters with their reason, never
    evaluated, and the books balance."""
    from engine.adapters.kafka.keyed import key_partition

    deployment.extra_env["CSLA_INPUT_KEYED_BY_CONTRACT"] = "true"
    rekey = _deployment(deployment.broker, tmp_path / "rekey", "rekey")
    rekey.topics["telemetry"] = deployment.topics["telemetry"]
    rekey.rules_dir = deployment.rules_dir  # (records cite their rule file's path)
    keyed_worker = deployment.worker("keyed").start()
    keyed_worker.wait_ready(min_partitions=PARTITIONS)  # (it creates the telemetry topic)
    rekey_worker = rekey.worker("rekey").start()
    deployment.workers.append(rekey_worker)  # (stopped and its log checked at the end)
    rekey_worker.wait_ready(min_partitions=PARTITIONS)
    t = wh.Telemetry(seed=31).build()
    bootstrap, telemetry = deployment.broker.bootstrap, deployment.topics["telemetry"]
    messages = telemetry_messages(t)
    sent = wh.produce(bootstrap, telemetry, messages, murmur2=True)
    for (key, _value, _lines), s in zip(messages, sent, strict=True):
        assert key is not None and s.partition == key_partition(key, PARTITIONS)
    want = offline(sent, ruleset=deployment.ruleset())
    readers = [deployment.reader(), rekey.reader()]
    try:
        for reader, dep, worker in zip(
            readers, (deployment, rekey), (keyed_worker, rekey_worker), strict=True
        ):
            reader.until(expected_total(want), timeout=180, check=worker.check_alive)
            dep.read_all(reader, [worker])
        got_keyed, got_rekey = observed(readers[0]), observed(readers[1])
        assert_same(got_keyed, got_rekey)
        assert_same(got_keyed, want)
        for kind in KINDS:  # each record published once, keyed by contract
            assert len(readers[0].records[kind]) == len(got_keyed[kind]), kind
            for key, record in readers[0].records[kind]:
                assert kind == "deadletter" or key == record["contract_id"].encode()
        rekey_worker.stop()

        storage = orjson.dumps({**t.events["storage-001"][3], "event_id": "misplaced"})
        keyless = orjson.dumps({**t.events["storage-001"][4], "event_id": "keyless"})
        misnamed = orjson.dumps({**t.events["storage-001"][5], "event_id": "misnamed"})
        home = key_partition(b"storage-001", PARTITIONS)
        away = (home + 1) % PARTITIONS
        bad = wh.produce(
            bootstrap, telemetry, [(b"storage-001", storage, [storage])], partition=away
        )
        bad += wh.produce(
            bootstrap,
            telemetry,
            [(None, keyless, [keyless]), (b"maas-api-001", misnamed, [misnamed])],
            murmur2=True,
        )
        errors = {
            bad[0].origin: f"belongs to partition {home} of {telemetry}",
            bad[1].origin: "without a key",
            bad[2].origin: "is not the contract 'maas-api-001'",
        }
        readers[0].until(
            lambda r: sum(1 for _k, d in r.records["deadletter"] if d["origin"] in errors) >= 3,
            timeout=120,
            check=keyed_worker.check_alive,
        )
        deployment.read_all(readers[0], [keyed_worker])
        dead = [d for _k, d in readers[0].records["deadletter"] if d["origin"] in errors]
        assert len(dead) == 3, dead
        for d in dead:
            assert errors[d["origin"]] in d["error"], d
        got = observed(readers[0])
        for kind in KINDS:  # nothing else came of them
            if kind != "deadletter":
                assert got[kind].keys() == want[kind].keys(), kind
    finally:
        for reader in readers:
            reader.close()
    text = keyed_worker.metrics_text()
    lines_in = _metric(text, "csla_events_in_total")
    assert lines_in == sum(len(s.lines) for s in sent) + 3
    assert lines_in == sum(
        _metric(text, name)
        for name in (
            "csla_events_accepted_total",
            "csla_duplicate_events_total",
            "csla_late_events_total",
            "csla_dead_letters_total",
        )
    )
    assert _metric(text, "csla_route_whole_messages_total") == 0  # no stage 1 ran
    assert keyed_worker.health()["telemetry_partitions"] == list(range(PARTITIONS))


def test_commit_gate_keeps_commits_between_units() -> None:
    """Faust's commits (exactly_once: commit the transaction, begin the next) wait for the
    units of work under way, and hold back new ones; after an interrupted unit, none runs."""
    from engine.adapters.kafka.app import CommitGate

    async def scenario() -> list[str]:
        gate, trace = CommitGate(), []

        class Consumer:
            async def commit(self) -> bool:
                trace.append("commit")
                await asyncio.sleep(0.01)
                return True

        consumer = gate.guard(Consumer())

        async def unit(name: str, sends: int) -> None:
            async with gate.unit():
                for n in range(sends):
                    trace.append(f"{name}{n}")
                    await asyncio.sleep(0.01)

        first = asyncio.create_task(unit("a", 3))
        await asyncio.sleep(0.005)  # a is under way
        commit = asyncio.create_task(consumer.commit())
        await asyncio.sleep(0.005)
        second = asyncio.create_task(unit("b", 2))  # arrives while the commit waits
        assert await commit
        await asyncio.gather(first, second)

        cancelled = asyncio.create_task(unit("c", 5))
        await asyncio.sleep(0.015)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert gate.broken
        assert not await consumer.commit()  # c's half must not be committed
        return trace

    trace = asyncio.run(scenario())
    assert trace[:6] == ["a0", "a1", "a2", "commit", "b0", "b1"]
    assert trace[6:] and all(step.startswith("c") for step in trace[6:])
