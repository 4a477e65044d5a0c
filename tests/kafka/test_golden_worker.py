"""Every golden case through ``csla worker`` on a real Kafka: the golden records, read back with
confluent-kafka (another client than the worker's aiokafka).

The worker has no ``--until``: after the case's lines it gets the case's closing lines, with its
rules as ``case.json`` says (tests/test_golden_drivers.py shows those give replay's outputs in
the in-memory driver). Where the worker legitimately differs, the comparison says so:

* records are compared as sets per output kind, as the other worker tests compare them: the
  order across partitions is not kept, and at-least-once may publish a record twice (same
  id, same value);
* an origin is ``topic[partition]@offset``, compared by the line of the case it carries;
* the worker publishes contract scorecards only: a provider's scorecard is a fold across
  contracts other workers may own (``engine.core.finish``); none is on the topic.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.adapters.inmemory import MemoryBatch, run_in_memory
from engine.adapters.kafka.router import route_group
from engine.core.records import OUTPUT_KINDS
from engine.dev.local_broker import LocalKafka
from engine.ruleset import load_rules_dir

pytestmark = pytest.mark.kafka


def _harness() -> Any:
    name = "csla_worker_harness"  # the name tests/kafka/test_worker_e2e.py registers it under
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("worker_harness.py")
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


wh = _harness()


def _as_set(records: list[dict[str, Any]]) -> set[bytes]:
    return {orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records}


def test_golden_case_through_the_worker(
    golden_case: Any, kafka_broker: LocalKafka, csla_env: dict[str, str], tmp_path: Path
) -> None:
    rules = golden_case.worker_rules(tmp_path / "rules")
    partitions = int(csla_env["CSLA_PARTITIONS"])
    env = {
        **csla_env,
        "CSLA_DATA_DIR": str(tmp_path / "data"),
        "CSLA_WEB_PORT": str(wh.free_port()),
        "CSLA_WEB_HOST": "127.0.0.1",
        "CSLA_RULES_DIR": str(rules),
        "CSLA_BATCH_WAIT_SECONDS": "0.1",
        "CSLA_LOG_LEVEL": "INFO",
    }
    app_id, telemetry = env["CSLA_APP_ID"], env["CSLA_TOPIC_TELEMETRY"]
    topics = {kind.name: env[f"CSLA_TOPIC_{kind.setting.upper()}"] for kind in OUTPUT_KINDS}
    lines = golden_case.lines() + golden_case.worker_lines()
    worker = wh.WorkerProcess(env, tmp_path / "worker", "worker").start()
    try:
        worker.wait_ready(timeout=120, min_partitions=partitions)
        # one key: every line in one partition, in the order of the case
        sent = wh.produce(
            kafka_broker.bootstrap, telemetry, [(b"golden", ln, [ln]) for ln in lines]
        )
        reader = wh.OutputReader(kafka_broker.bootstrap, topics)
        try:
            wh.wait_caught_up(
                kafka_broker.bootstrap,
                [(route_group(app_id), [telemetry]), (app_id, [f"{app_id}-csla-by-contract"])],
                partitions,
                check=worker.check_alive,
            )
            reader.read_to_end(partitions)
        finally:
            reader.close()
    finally:
        worker.stop()
    worker.check_log()
    got = {kind: [r for _key, r in reader.records[kind]] for kind in topics}
    line_of = {s.origin: str(n) for n, s in enumerate(sent, 1)}.__getitem__

    for name, expected in golden_case.expected().items():
        actual = golden_case.comparable(name, got[name], line_of)
        assert _as_set(actual) == _as_set(golden_case.comparable(name, expected)), name

    # every other kind as the in-memory driver gives it for the same lines and origins
    report = load_rules_dir(rules)
    assert report.ok, report.format()
    memory = run_in_memory(report.ruleset, [MemoryBatch(lines, [s.origin for s in sent])])
    for kind in topics:
        want = getattr(memory.outputs, kind)
        if kind == "scorecards":
            assert [r for r in want if r["scope"] == "provider"], "the fold gave no provider"
            want = [r for r in want if r["scope"] == "contract"]
        assert _as_set(got[kind]) == _as_set(want), kind
