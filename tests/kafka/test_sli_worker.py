"""A live ``csla worker`` serves the series that Sloth's rules read, with the right values.

One worker, 70 minutes of simulated telemetry (about 1,200 events: the first hourly windows
close). The SLI counters on ``/metrics`` must equal the sums of the metric records the worker
published (read with confluent-kafka), and every series that ``sloth generate`` made rules
over, from ``csla openslo export``, must be on ``/metrics`` with those labels.
"""

from __future__ import annotations

import importlib.util
import sys
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from engine.adapters.kafka.sli import sli_unit
from engine.dev.local_broker import LocalKafka
from engine.openslo.export import export_rule_files, load_rule_specs, write

pytestmark = pytest.mark.kafka
HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


e2e = _load("csla_worker_e2e", HERE / "test_worker_e2e.py")
wh = e2e.wh
sh = _load("csla_sloth_harness", HERE.parent / "openslo" / "sloth_harness.py")


def _expected(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[float]]:
    """(contract, objective, sli) → [good, judged] from the published metric records."""
    sums: dict[tuple[str, str, str], list[float]] = {}
    for r in records:
        unit = sli_unit(r["sli"])
        if unit is None:
            continue
        acc = sums.setdefault((r["contract_id"], r["objective_id"], r["sli"]), [0.0, 0.0])
        if unit == "windows":
            if r["value"] is not None:
                acc[0] += 1 if r["compliant"] else 0
                acc[1] += 1
        elif r["total"]:
            scale = 0.001 if unit == "node_seconds" else 1
            acc[0] += (r["good"] or 0) * scale
            acc[1] += r["total"] * scale
    return sums


def test_sloth_rules_read_series_that_a_live_worker_serves(
    kafka_broker: LocalKafka, tmp_path: Path
) -> None:
    sloth, why = sh.find_sloth()
    if sloth is None:
        pytest.skip(why)
    dep = e2e._deployment(kafka_broker, tmp_path, "sli-series")
    worker = dep.worker("w1").start()
    try:
        worker.wait_ready(min_partitions=e2e.PARTITIONS)
        telemetry = wh.Telemetry(minutes=70).build(close_october=False)
        wh.produce(
            kafka_broker.bootstrap, dep.topics["telemetry"], e2e.telemetry_messages(telemetry)
        )
        reader = dep.reader()
        dep.read_all(reader, [worker])
        records = [r for _, r in reader.records["metrics"]]
        reader.close()
        text = worker.metrics_text()
        request = urllib.request.Request(
            f"http://127.0.0.1:{worker.port}/metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.headers["Content-Type"].startswith("application/openmetrics-text")
            openmetrics = response.read().decode()
    finally:
        worker.stop()
    worker.check_log()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse_text(text)
        for s in family.samples
    }
    # the counters are the sums of the published records (each window once)
    want = _expected(wh.dedup("metrics", records).values())
    assert want, "no metric record with SLI units was published"
    for (cid, oid, sli), (good, judged) in want.items():
        labels = tuple(sorted({"contract_id": cid, "objective_id": oid, "sli": sli}.items()))
        assert samples[("csla_sli_good_total", labels)] == pytest.approx(good), (cid, oid)
        assert samples[("csla_sli_judged_total", labels)] == pytest.approx(judged), (cid, oid)
        bad = samples[("csla_sli_bad_total", labels)]
        assert bad == pytest.approx(judged - good), (cid, oid)
    moved = {key[:2] for key, (_, judged) in want.items() if judged > 0}
    assert {
        ("maas-api-001", "error-rate"),
        ("maas-api-001", "p99-latency"),
        ("gpu-train-001", "node-availability"),
        ("gpu-train-001", "service-availability"),
    } <= moved

    # Sloth's rules, from the export of the worker's own rule files, read only served series
    specs, problems = load_rule_specs([dep.rules_dir])
    assert specs, problems
    out = tmp_path / "openslo"
    write(export_rule_files(specs), out)
    generated = tmp_path / "prometheus"
    generated.mkdir()
    done = sh.run(sloth, "generate", "-i", str(out), "-o", str(generated))
    assert done.returncode == 0, done.stdout + done.stderr
    rules = sh.rules_of([p.read_text(encoding="utf-8") for p in sorted(generated.rglob("*.yaml"))])
    wanted = sh.selectors(rules)
    assert wanted
    served = [(name, dict(labels)) for name, labels in samples]
    for name, matchers in wanted:
        assert any(
            served_name == name and all(labels.get(k) == v for k, v in matchers)
            for served_name, labels in served
        ), (name, matchers)
    # and the same series in OpenMetrics, as Prometheus scrapes them
    names = {s.name for family in parse_om(openmetrics) for s in family.samples}
    assert {name for name, _ in wanted} <= names
