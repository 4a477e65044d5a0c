"""The broker away (issue 11): ``/health`` turns not-ready after ``broker_down_seconds`` and
ready again when it answers; the clients' error lines are rate-limited. Clocks are injected."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from engine.adapters.kafka.engine import Engine
from engine.adapters.kafka.outage import BrokerHealth, RepeatFilter, install_repeat_filter
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_broker_health_turns_down_after_the_set_time_and_back_at_once() -> None:
    clock = Clock()
    health = BrokerHealth(30.0, clock)
    assert not health.down and health.down_seconds() == 0
    health.unreachable("KafkaConnectionError")
    clock.now += 29.9
    health.unreachable("KafkaConnectionError")  # still since the first failure
    assert not health.down and health.down_seconds() == pytest.approx(29.9)
    clock.now += 0.1
    assert health.down and health.last_error == "KafkaConnectionError"
    health.reachable()
    assert not health.down and health.down_seconds() == 0
    health.unreachable("again")  # a new outage counts from its own start
    clock.now += 10
    assert not health.down


def _record(msg: str, *args: Any, level: int = logging.ERROR, name: str = "aiokafka") -> Any:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_repeat_filter_lets_one_line_a_template_through_per_interval() -> None:
    clock = Clock()
    flt = RepeatFilter(30.0, clock)
    template = "Unable connect to node with id %s: %s"
    passed = [flt.filter(_record(template, 1, "refused")) for _ in range(3_000)]
    assert passed.count(True) == 1
    assert flt.filter(_record("another error"))  # a distinct message has its own budget
    assert flt.filter(_record(template, level=logging.INFO))  # info is never held back
    clock.now += 30
    record = _record(template, 1, "refused")
    assert flt.filter(record)
    assert record.getMessage().endswith("[2999 similar line(s) suppressed in the last 30 s]")
    assert not flt.filter(_record(template, 1, "refused"))
    assert RepeatFilter(0, clock).filter(_record(template, 1, "x"))  # 0: everything logged


def test_the_filter_reaches_the_kafka_client_loggers(caplog: pytest.LogCaptureFixture) -> None:
    import aiokafka.client
    import aiokafka.conn  # noqa: F401

    flt = RepeatFilter(30.0, Clock())
    install_repeat_filter(flt)
    logger = logging.getLogger("aiokafka")
    try:
        assert flt in logging.getLogger("aiokafka.conn").filters
        assert install_repeat_filter(flt) == 0  # idempotent
        with caplog.at_level(logging.ERROR, logger="aiokafka"):
            for _ in range(100):
                logger.error("Unable connect to node with id %s: %s", 1, "refused")
        assert len(caplog.records) == 1
    finally:
        for name in list(logging.Logger.manager.loggerDict):
            existing = logging.Logger.manager.loggerDict[name]
            if isinstance(existing, logging.Logger) and flt in existing.filters:
                existing.removeFilter(flt)
        for name in ("aiokafka", "faust", "mode", "csla.worker.route"):
            logging.getLogger(name).removeFilter(flt)


class _Client:
    def __init__(self) -> None:
        self.up = True

    async def fetch_all_metadata(self) -> None:
        if not self.up:
            from aiokafka.errors import KafkaConnectionError

            raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9)]")


def test_health_is_not_ready_while_the_broker_is_away() -> None:
    settings = Settings(app_id="csla-test", rules_dir=ROOT / "rules", broker_down_seconds=30)
    consumer = SimpleNamespace(assignment=lambda: set())
    app = SimpleNamespace(in_transaction=False, consumer=consumer, rebalancing=False)
    engine = Engine(settings, app)  # type: ignore[arg-type]
    clock = Clock()
    engine.broker = BrokerHealth(settings.broker_down_seconds, clock)
    client = _Client()
    engine.router.producer = SimpleNamespace(client=client)
    engine.joined = engine.router.joined = True

    assert asyncio.run(engine.probe_broker())
    body, status = engine.health()
    assert (status, body["status"], body["ready"]) == (200, "ok", True)

    client.up = False
    assert not asyncio.run(engine.probe_broker())
    clock.now += 20
    assert engine.health()[1] == 200  # a short blip: still ready
    clock.now += 10
    asyncio.run(engine.probe_broker())
    body, status = engine.health()
    assert (status, body["status"], body["broker_down_seconds"]) == (503, "broker unreachable", 30)
    assert engine.metrics.broker_reachable._value.get() == 0

    client.up = True
    assert asyncio.run(engine.probe_broker())
    body, status = engine.health()
    assert (status, body["ready"], body["broker_down_seconds"]) == (200, True, 0)
    assert engine.metrics.broker_reachable._value.get() == 1
