"""``examples/billing_consumer.py`` against the real broker: each credit stored exactly once.

Compensation records (valid against the output model) are produced with confluent-kafka,
keyed by contract like the worker's, with redeliveries (the same record again, as a worker
restarted mid-batch publishes it). The consumer is killed after storing a batch and before
committing its offsets, then restarted: every ``compensation_id`` is stored once, and the
stored credits add up to the credits produced.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from engine.dev.local_broker import LocalKafka
from engine.models.outputs import Compensation

REPO = Path(__file__).resolve().parents[2]
CONSUMER = REPO / "examples" / "billing_consumer.py"
CONTRACTS = ("maas-api-001", "storage-001", "gpu-train-001")
OBJECTIVES = ("availability", "error-rate", "latency-p99", "mttr")


def _compensations(rng: random.Random) -> list[dict[str, Any]]:
    """3 contracts x 4 objectives x 20 monthly periods, credits from 0.00 to 9,999.99."""
    out = []
    for cid in CONTRACTS:
        for objective in OBJECTIVES:
            for month in range(20):
                year, mon = 2025 + month // 12, month % 12 + 1
                start = f"{year}-{mon:02d}-01T00:00:00Z"
                end_year, end_mon = (year, mon + 1) if mon < 12 else (year + 1, 1)
                amount = Decimal(rng.randrange(0, 1_000_000)) / 100
                record = {
                    "record": "compensation",
                    "compensation_id": f"comp:{cid}:{objective}:{start}:r1",
                    "contract_id": cid,
                    "contract_version": 1,
                    "objective_id": objective,
                    "sli": "service_availability",
                    "period_start": start,
                    "period_end": f"{end_year}-{end_mon:02d}-01T00:00:00Z",
                    "observed": 99.0,
                    "threshold": 99.9,
                    "tier": 0 if amount else None,
                    "credit_percent": 10.0 if amount else 0.0,
                    "credit_amount": f"{amount:.2f}",
                    "currency": "CNY",
                    "extension_hours": 0.0,
                    "period_fee": "100000.00",
                    "capped": False,
                    "evidence": {"arithmetic": "as produced by the test"},
                }
                Compensation.model_validate(record)  # the wire format billing gets
                out.append(record)
    return out


def _produce(bootstrap: str, topic: str, records: list[dict[str, Any]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for record in records:
        producer.produce(topic, key=record["contract_id"].encode(), value=orjson.dumps(record))
    producer.produce(topic, key=b"storage-001", value=b"not json")  # skipped, logged
    assert producer.flush(30) == 0


def _run(bootstrap: str, topic: str, group: str, db: Path, *extra: str) -> tuple[int, str]:
    proc = subprocess.run(
        [
            sys.executable,
            str(CONSUMER),
            f"--bootstrap={bootstrap}",
            f"--topic={topic}",
            f"--group={group}",
            f"--db={db}",
            "--max-records=40",
            "--session-timeout-ms=6000",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _counts(output: str, word: str) -> tuple[int, int, int]:
    line = next(ln for ln in output.splitlines() if ln.startswith(word + ":"))
    read, new, dup = (int(part.split()[0]) for part in line.split(":", 1)[1].split(","))
    return read, new, dup


def _committed(bootstrap: str, topic: str, group: str, partitions: int) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], 10)
        return sum(max(tp.offset, 0) for tp in tps)
    finally:
        consumer.close()


def test_each_credit_is_stored_once_across_a_crash(
    kafka_broker: LocalKafka, kafka_topic_factory: Any, tmp_path: Path
) -> None:
    bootstrap = kafka_broker.bootstrap
    topic = kafka_topic_factory("billing", partitions=3)
    group = f"billing-{uuid.uuid4().hex[:8]}"
    db = tmp_path / "billing.sqlite"
    rng = random.Random(13)
    records = _compensations(rng)
    redelivered = rng.sample(records, 40)  # a restarted worker publishes these again
    _produce(bootstrap, topic, records + redelivered)
    produced = len(records) + len(redelivered) + 1

    rc, out = _run(bootstrap, topic, group, db, "--crash-after=100")
    assert rc == 3, out
    read1, new1, _ = _counts(out, "crash")
    stored_before_restart = sqlite3.connect(db).execute("SELECT count(*) FROM compensation")
    assert stored_before_restart.fetchone()[0] == new1 > 0
    # killed between its database commit and its Kafka commit: the last batch is stored,
    # not committed
    assert _committed(bootstrap, topic, group, 3) < read1

    rc, out = _run(bootstrap, topic, group, db, "--until-idle=2")
    assert rc == 0, out
    read2, new2, _ = _counts(out, "done")
    assert "not a compensation record" in out
    assert read1 + read2 > produced  # the uncommitted batch was read twice …
    assert new1 + new2 == len(records)  # … and every credit stored once
    assert _committed(bootstrap, topic, group, 3) == produced

    rows = sqlite3.connect(db).execute("SELECT compensation_id, credit_amount FROM compensation")
    stored = dict(rows.fetchall())
    assert sorted(stored) == sorted(r["compensation_id"] for r in records)
    assert sum(map(Decimal, stored.values())) == sum(Decimal(r["credit_amount"]) for r in records)
