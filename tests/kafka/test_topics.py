"""The topics the engine creates carry an explicit ``max.message.bytes`` (issue 11), and what
the real broker answers to a larger record is an error ``delivery`` treats as the record's."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka.admin import AdminClient, ConfigResource

from engine.adapters.kafka.clients import (
    CHECKPOINT_MESSAGE_BYTES,
    MAX_MESSAGE_BYTES,
    ensure_topics,
    internal_topics,
)
from engine.adapters.kafka.delivery import record_error
from engine.dev.local_broker import LocalKafka
from engine.settings import Settings, Topics

LIMIT = 131_072


def _settings(broker: LocalKafka) -> Settings:
    run = uuid.uuid4().hex[:10]
    names = {name: f"t{run}.{name}" for name in Topics.model_fields}
    return Settings(
        broker=f"kafka://{broker.bootstrap}",
        app_id=f"topics-{run}",
        topics=Topics(**names),
        partitions=1,
        max_message_bytes=LIMIT,
    )


def _max_message_bytes(broker: LocalKafka, topics: list[str]) -> dict[str, int]:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
    out = {}
    for resource, future in admin.describe_configs(resources).items():
        out[resource.name] = int(future.result(timeout=30)["max.message.bytes"].value)
    return out


def test_created_topics_have_an_explicit_limit_and_refuse_larger_records(
    kafka_broker: LocalKafka,
) -> None:
    settings = _settings(kafka_broker)
    created = asyncio.run(ensure_topics(settings))
    by_contract, state = internal_topics(settings)
    t = settings.topics
    outputs = [t.telemetry, t.metrics, t.usage, t.deadletter, t.scorecards]
    limits = _max_message_bytes(kafka_broker, [*outputs, by_contract, state])
    assert set(outputs) <= set(created)
    assert {limits[name] for name in outputs} == {LIMIT}
    assert limits[by_contract] == MAX_MESSAGE_BYTES
    assert limits[state] == CHECKPOINT_MESSAGE_BYTES

    async def send_too_big() -> BaseException | None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
        await producer.start()
        try:
            fut = await producer.send(t.usage, b"x" * (LIMIT + 10_000), key=b"c1")
            await fut
        except Exception as exc:
            return exc
        finally:
            await producer.stop()
        return None

    error = asyncio.run(send_too_big())
    assert error is not None and record_error(error), repr(error)


@pytest.mark.parametrize("value", [1024, 9 * 1_048_576])
def test_the_limit_is_bounded(value: int) -> None:
    with pytest.raises(ValueError):
        Settings(max_message_bytes=value)
