"""A real Apache Kafka broker for the tests under tests/kafka/.

``kafka_broker`` starts one single-node broker (KRaft, 127.0.0.1 only) per test session;
``kafka_topic_factory`` makes fresh, uniquely named topics on it. Tests that use the broker
are marked ``kafka`` automatically, so ``-m "not kafka"`` leaves them out. A machine without
Java 17+ or Maven fails these tests rather than skipping them: CI must not pass by skipping.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Mapping

import pytest

from engine.dev.local_broker import KafkaUnavailableError, LocalKafka, find_java

TopicFactory = Callable[..., str]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "kafka_broker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalKafka]:
    """One started broker for the whole session; stopped and deleted at the end."""
    try:
        find_java()
        started = time.monotonic()
        broker = LocalKafka().start()
    except KafkaUnavailableError as exc:
        pytest.fail(
            f"the real Kafka broker for the 'kafka' tests is unavailable: {exc}", pytrace=False
        )
    print(f"\nKafka broker on {broker.bootstrap}, ready {time.monotonic() - started:.1f} s")
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka_topic_factory(kafka_broker: LocalKafka, request: pytest.FixtureRequest) -> TopicFactory:
    """``make(prefix=None, partitions=1, config=None) -> name``: create a never-used topic."""
    default_prefix = request.node.name.split("[")[0].replace("_", "-")[:40]

    def make(
        prefix: str | None = None,
        partitions: int = 1,
        config: Mapping[str, str] | None = None,
    ) -> str:
        if not kafka_broker.running:
            pytest.fail(f"the Kafka broker has died; its log ends:\n{kafka_broker.log_tail()}")
        name = f"{prefix or default_prefix}-{uuid.uuid4().hex[:12]}"
        kafka_broker.create_topic(name, partitions=partitions, config=config)
        return name

    return make


@pytest.fixture
def csla_env(kafka_broker: LocalKafka) -> dict[str, str]:
    """``CSLA_*`` settings for a ``csla`` subprocess on the session broker: a fresh app id and
    fresh names for every topic the engine would create, so that nothing is shared."""
    from engine.settings import Topics

    run = uuid.uuid4().hex[:12]
    env = {
        "CSLA_BROKER": f"kafka://{kafka_broker.bootstrap}",
        "CSLA_APP_ID": f"csla-{run}",
        "CSLA_PARTITIONS": "2",
    }
    for kind in Topics.model_fields:
        env[f"CSLA_TOPIC_{kind.upper()}"] = f"csla-{run}.{kind}"
    return env
