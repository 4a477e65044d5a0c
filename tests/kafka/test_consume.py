"""``csla consume TOPIC`` prints a topic's records as NDJSON (records from confluent-kafka)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import orjson
from confluent_kafka import Producer


def _produce(bootstrap: str, topic: str, values: list[tuple[bytes | None, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for key, value in values:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def _consume(env: dict[str, str], *args: str) -> tuple[int, list[Any], str]:
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "consume", *args, "--until-idle", "1.5"],
        capture_output=True,
        env={**os.environ, **env},
        timeout=120,
    )
    lines = [orjson.loads(ln) for ln in proc.stdout.splitlines()]
    return proc.returncode, lines, proc.stderr.decode()


def test_consume_prints_ndjson_and_resumes_with_a_group(
    csla_env: dict[str, str], kafka_broker: Any, kafka_topic_factory: Any
) -> None:
    topic = kafka_topic_factory("consume", partitions=1)
    records = [{"compensation_id": f"comp:{i}", "credit_amount": f"{i}.50"} for i in range(5)]
    _produce(
        kafka_broker.bootstrap,
        topic,
        [(b"maas-api-001", orjson.dumps(r)) for r in records] + [(None, b"not json\nat all")],
    )

    rc, lines, err = _consume(csla_env, topic, "--from-beginning")
    assert rc == 0, err
    assert lines == [*records, "not json\nat all"]  # a value that is not JSON: a string

    group = f"g-{uuid.uuid4().hex[:8]}"
    rc, lines, err = _consume(csla_env, topic, "--group", group, "--from-beginning", "--meta")
    assert (rc, len(lines)) == (0, 6), err
    assert [(x["partition"], x["offset"], x["key"]) for x in lines[:2]] == [
        (0, 0, "maas-api-001"),
        (0, 1, "maas-api-001"),
    ]
    assert lines[-1]["key"] is None and lines[0]["value"] == records[0]
    _produce(kafka_broker.bootstrap, topic, [(None, b'{"n": 6}')])
    rc, lines, err = _consume(csla_env, topic, "--group", group, "--from-beginning")
    assert (rc, lines) == (0, [{"n": 6}]), err  # committed: resumes after what it printed


def test_consume_unknown_topic_is_one_line(csla_env: dict[str, str]) -> None:
    rc, lines, err = _consume(csla_env, "no-such-topic-here")
    assert (rc, lines) == (2, [])
    assert err.strip().splitlines() == [
        f"error: no topic 'no-such-topic-here' on {csla_env['CSLA_BROKER']}"
    ]
