"""The local broker is a real Kafka: one client writes, a different one reads."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka import KafkaError, Message, Producer

from engine.dev.local_broker import KAFKA_VERSION, LocalKafka

REPO_ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 1_000
PARTITIONS = 4

TopicFactory = Callable[..., str]


def test_kafka_version_matches_the_pom() -> None:
    pom = (REPO_ROOT / "deploy" / "kafka" / "pom.xml").read_text(encoding="utf-8")
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert match is not None
    assert match.group(1) == KAFKA_VERSION


@pytest.mark.kafka
def test_broker_listens_on_loopback_only(kafka_broker: LocalKafka) -> None:
    props = kafka_broker.properties
    for key in ("listeners", "advertised.listeners", "controller.quorum.bootstrap.servers"):
        hosts = re.findall(r"(?:://)?([^:/,]+):\d+", props[key])
        assert hosts, key
        assert set(hosts) == {"127.0.0.1"}, (key, props[key])
    assert kafka_broker.bootstrap == f"127.0.0.1:{kafka_broker.port}"


@pytest.mark.kafka
def test_confluent_producer_to_aiokafka_consumer(
    kafka_broker: LocalKafka, kafka_topic_factory: TopicFactory
) -> None:
    topic = kafka_topic_factory(partitions=PARTITIONS)
    expected = [f"value-{i:04d}".encode() for i in range(MESSAGES)]

    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            errors.append(err)

    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap, "linger.ms": 5})
    for i, value in enumerate(expected):
        producer.produce(topic, key=f"key-{i}".encode(), value=value, on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []

    received = asyncio.run(_consume(kafka_broker.bootstrap, topic, MESSAGES))

    values = [value for _partition, value in received]
    assert len(values) == MESSAGES
    assert sorted(values) == expected  # every value, exactly once
    assert {partition for partition, _value in received} == set(range(PARTITIONS))


async def _consume(bootstrap: str, topic: str, count: int) -> list[tuple[int, bytes]]:
    # A consumer group (classic protocol) and a commit: what Faust's workers rely on.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}-readers",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[int, bytes]] = []
    try:
        deadline = time.monotonic() + 60
        while len(received) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            for tp, records in batches.items():
                received.extend((tp.partition, record.value) for record in records)
        # Anything beyond `count` would be a duplicate: give it a moment to show up.
        for tp, records in (await consumer.getmany(timeout_ms=500)).items():
            received.extend((tp.partition, record.value) for record in records)
        await consumer.commit()
        committed = {tp: await consumer.committed(tp) for tp in consumer.assignment()}
        assert sum(offset or 0 for offset in committed.values()) == len(received)
    finally:
        await consumer.stop()
    return received
