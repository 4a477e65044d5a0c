"""The worker's dashboard: records the engine publishes reach ``/dashboard.json``.

In process (``Engine._emit`` with a recording send: no broker), and end to end against the
session's real Kafka broker: a ``csla worker`` subprocess evaluates the golden storage day and
its web server serves the page, the breach and the burn-rate warnings it published, behind the
``CSLA_WEB_TOKEN`` of its environment (``/metrics`` and ``/health`` open).
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import shutil
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.core.pipeline import Outputs
from engine.dev.local_broker import LocalKafka

from .conftest import GOLDEN_INPUT, ROOT, breach, metric

AVAILABILITY_BREACH = "breach:storage-001:availability:2026-09-30T16:00:00Z:r1"


def _harness() -> Any:
    name = "csla_test_worker_harness"
    if name not in sys.modules:
        path = ROOT / "tests" / "kafka" / "worker_harness.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_published_records_feed_the_worker_dashboard() -> None:
    from engine.adapters.kafka.app import make_app
    from engine.settings import Settings

    worker_app = make_app(Settings(rules_dir=ROOT / "rules", broker="kafka://127.0.0.1:1"))
    engine = worker_app.csla_engine  # type: ignore[attr-defined]
    sent: list[str] = []

    async def send(topic: str, key: bytes | None, value: bytes, source: Any, *_: Any) -> Any:
        sent.append(topic)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    engine._send = send  # the seam of the Kafka producer: nothing leaves the process

    async def scenario() -> dict[str, Any]:
        out = Outputs(
            metrics=[metric(contract="storage-001")],
            breaches=[breach(contract="storage-001")],
            dead=[{"record": "deadletter", "raw": "x", "error": "not JSON", "origin": "t[0]@1"}],
        )
        await engine._emit(out, ("by-contract", 0))
        client = TestClient(TestServer(worker_app.web.web_app))
        await client.start_server()
        try:
            data: dict[str, Any] = await (await client.get("/dashboard.json")).json()
            return data
        finally:
            await client.close()

    data = asyncio.run(scenario())
    assert len(sent) == 3
    assert data["records"] == {"breach": 1, "deadletter": 1, "metric": 1}
    (contract,) = data["contracts"]
    assert (contract["contract_id"], contract["open_breaches"]) == ("storage-001", 1)
    target = {o["objective_id"]: o for o in contract["objectives"]}["availability"]["target"]
    assert target == "≥ 99 %"  # from the breach record, which outranks the rule file's 99.9


def _key(line: bytes) -> str:
    """The line's contract (the golden input has malformed lines on purpose: no key)."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return ""
    return str(record.get("contract_id") or "") if isinstance(record, dict) else ""


WEB_TOKEN = "e2e-dashboard-token"


def _sample(exposition: bytes, name: str) -> float:
    """One unlabelled sample of a Prometheus text exposition."""
    for line in exposition.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def _get(url: str, token: str | None = WEB_TOKEN) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        body: bytes = r.read()
        return body


@pytest.mark.kafka
def test_worker_serves_the_dashboard_of_what_it_published(
    kafka_broker: LocalKafka, tmp_path: Path
) -> None:
    from confluent_kafka import Producer

    wh = _harness()
    tag = f"dash-{uuid.uuid4().hex[:8]}"
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    env = {
        "CSLA_BROKER": f"kafka://{kafka_broker.bootstrap}",
        "CSLA_APP_ID": f"csla-{tag}",
        "CSLA_DATA_DIR": str(tmp_path / "data"),
        "CSLA_WEB_PORT": str(wh.free_port()),
        "CSLA_WEB_HOST": "127.0.0.1",
        "CSLA_RULES_DIR": str(rules),
        "CSLA_PARTITIONS": "1",
        "CSLA_BATCH_WAIT_SECONDS": "0.1",
        "CSLA_LOG_LEVEL": "INFO",
        "CSLA_WEB_TOKEN": WEB_TOKEN,
        "PYTHONPATH": str(ROOT),  # this checkout's engine, whatever is installed
        **{f"CSLA_TOPIC_{k.upper()}": f"{tag}.{k}" for k in
           ("telemetry", "metrics", "breaches", "compensations", "late", "deadletter", "usage")},
    }  # fmt: skip
    worker = wh.WorkerProcess(env, tmp_path / "w", "worker").start()
    try:
        worker.wait_ready(timeout=90)
        producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
        with gzip.open(GOLDEN_INPUT, "rb") as handle:
            for line in handle:
                producer.produce(f"{tag}.telemetry", value=line.rstrip(b"\n"), key=_key(line))
        assert producer.flush(30) == 0
        base = f"http://127.0.0.1:{worker.port}"
        deadline = time.monotonic() + 60
        while True:
            worker.check_alive()
            data = orjson.loads(_get(base + "/dashboard.json"))
            opened = any(b["breach_id"] == AVAILABILITY_BREACH for b in data["open_breaches"])
            if opened and data["records"].get("warning"):  # burn-rate warnings come too
                break
            assert time.monotonic() < deadline, f"no breach on the dashboard: {data['summary']}"
            time.sleep(0.3)
        (contract,) = [c for c in data["contracts"] if c["contract_id"] == "storage-001"]
        objective = {o["objective_id"]: o for o in contract["objectives"]}["availability"]
        assert objective["target"] == "≥ 99.9 %" and objective["status"] == "breached"
        assert data["records"]["metric"] > 0
        assert b"dashboard.json" in _get(base + "/dashboard")
        for path in ("/dashboard", "/dashboard.json"):  # the token from the environment
            with pytest.raises(urllib.error.HTTPError) as denied:
                _get(base + path, token=None)
            assert denied.value.code == 401
            denied.value.close()
        assert _get(base + "/metrics", token=None) and _get(base + "/health", token=None)
        # Dead letters of every stage: the input's lines without a contract are dead-lettered
        # by the routing stage, and the page counts them as /metrics does.
        while True:
            summary = orjson.loads(_get(base + "/dashboard.json"))["summary"]
            scraped = _sample(_get(base + "/metrics", token=None), "csla_dead_letters_total")
            if summary["dead_letters"] == scraped > 0:
                break
            assert time.monotonic() < deadline + 30, f"dead letters {summary} vs {scraped}"
            time.sleep(0.3)
    finally:
        worker.stop()
    worker.check_log()
