"""Fixtures over the session's real Kafka broker (``kafka_broker``, in tests/conftest.py).

``kafka_topic_factory`` makes fresh, uniquely named topics on it; ``csla_env`` gives a ``csla``
subprocess fresh topic names and app id on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping

import pytest

from engine.dev.local_broker import LocalKafka

TopicFactory = Callable[..., str]


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
