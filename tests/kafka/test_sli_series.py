"""The per-objective SLI series of ``/metrics`` (``engine.adapters.kafka.sli``) and the
exposition formats, without a broker: metric records in, Prometheus samples out."""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from engine.adapters.kafka.app import metrics_exposition
from engine.adapters.kafka.metrics import WorkerMetrics
from engine.adapters.kafka.sli import latency_bound, sli_unit
from engine.core import histogram as hist
from engine.ruleset import load_rules_dir

ROOT = Path(__file__).resolve().parents[2]


def _metrics() -> WorkerMetrics:
    report = load_rules_dir(ROOT / "rules")
    assert report.ok
    metrics = WorkerMetrics()
    metrics.set_objectives(report.ruleset)
    return metrics


def _record(cid: str, oid: str, sli: str, end: str, **fields: Any) -> dict[str, Any]:
    return {
        "record": "metric",
        "contract_id": cid,
        "objective_id": oid,
        "sli": sli,
        "window_end": end,
        "value": fields.pop("value", 1.0),
        "good": fields.pop("good", None),
        "total": fields.pop("total", None),
        "compliant": fields.pop("compliant", True),
    }


def _samples(metrics: WorkerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics_exposition(metrics.registry, "", "")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in parse_text(body.decode())
        for s in family.samples
    }


def _value(
    samples: dict[Any, float], name: str, cid: str, oid: str, sli: str, **extra: str
) -> float:
    labels = {"contract_id": cid, "objective_id": oid, "sli": sli, **extra}
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.mark.parametrize(
    ("sli", "unit"),
    [
        ("service_availability", "minutes"),
        ("storage_availability", "minutes"),
        ("network_availability", "minutes"),
        ("node_availability", "node_seconds"),
        ("error_rate", "requests"),
        ("latency", "windows"),
        ("pool_utilization", "windows"),
        ("pue", "windows"),
        ("mttr", None),
        ("failure_count", None),
        ("stability_interruptions", None),
    ],
)
def test_units(sli: str, unit: str | None) -> None:
    assert sli_unit(sli) == unit


def test_series_exist_at_zero_for_every_objective_with_a_unit() -> None:
    samples = _samples(_metrics())
    good = {labels for name, labels in samples if name == "csla_sli_good_total"}
    bad = {labels for name, labels in samples if name == "csla_sli_bad_total"}
    judged = {labels for name, labels in samples if name == "csla_sli_judged_total"}
    assert good == bad == judged
    # 19 objectives in rules/; mttr, failure count, max recovery and stability have none
    assert len(good) == 15
    assert all(samples[("csla_sli_good_total", labels)] == 0 for labels in good)


def test_counts_follow_the_records_once_per_window() -> None:
    metrics = _metrics()
    sli = metrics.sli
    w1, w2 = "2026-10-26T02:00:00Z", "2026-10-26T03:00:00Z"
    sli.count(
        [
            _record("storage-001", "availability", "service_availability", w1, good=58, total=60),
            _record(
                "gpu-train-001",
                "node-availability",
                "node_availability",
                w1,
                good=230_400_000,
                total=230_460_500,
            ),
            _record("maas-api-001", "error-rate", "error_rate", w1, good=29, total=30),
            _record("maas-api-001", "p99-latency", "latency", w1, value=792.4, total=30),
            _record(
                "maas-api-001",
                "p99-latency",
                "latency",
                w2,
                value=1210.0,
                total=30,
                compliant=False,
            ),
            _record("gpu-train-001", "mttr", "mttr", w1, total=2),
        ]
    )
    # the same windows again (re-published after a rebalance): not counted twice
    sli.count([_record("maas-api-001", "error-rate", "error_rate", w1, good=29, total=30)])
    # a window without requests, and a latency window below min_requests (value null)
    sli.count(
        [
            _record("maas-api-001", "error-rate", "error_rate", w2, good=0, total=0, value=None),
            _record(
                "maas-api-001",
                "p99-latency",
                "latency",
                "2026-10-26T04:00:00Z",
                value=None,
                total=3,
                compliant=None,
            ),
        ]
    )
    s = _samples(metrics)
    v = _value
    assert v(s, "csla_sli_good_total", "storage-001", "availability", "service_availability") == 58
    assert v(s, "csla_sli_bad_total", "storage-001", "availability", "service_availability") == 2
    assert (
        v(s, "csla_sli_judged_total", "storage-001", "availability", "service_availability") == 60
    )
    node = ("gpu-train-001", "node-availability", "node_availability")
    assert v(s, "csla_sli_good_total", *node) == pytest.approx(230_400.0)
    assert v(s, "csla_sli_judged_total", *node) == pytest.approx(230_460.5)
    assert v(s, "csla_sli_bad_total", *node) == pytest.approx(60.5)
    assert v(s, "csla_sli_good_total", "maas-api-001", "error-rate", "error_rate") == 29
    assert v(s, "csla_sli_judged_total", "maas-api-001", "error-rate", "error_rate") == 30
    assert v(s, "csla_sli_bad_total", "maas-api-001", "error-rate", "error_rate") == 1
    latency = ("maas-api-001", "p99-latency", "latency")
    assert v(s, "csla_sli_good_total", *latency) == 1  # windows
    assert v(s, "csla_sli_judged_total", *latency) == 2
    assert v(s, "csla_sli_bad_total", *latency) == 1
    bound = latency_bound(800)
    le = str(bound)
    assert v(s, "csla_sli_window_latency_ms_bucket", *latency, le=le) == 1
    assert v(s, "csla_sli_window_latency_ms_bucket", *latency, le="+Inf") == 2
    assert v(s, "csla_sli_window_latency_ms_count", *latency) == 2
    assert v(s, "csla_sli_window_latency_ms_sum", *latency) == pytest.approx(2002.4)
    assert not any(labels and ("objective_id", "mttr") in labels for _, labels in s)


@pytest.mark.parametrize("threshold", [20.0, 40.0, 800.0, 1500.0, 0.5, 3000.0])
@pytest.mark.parametrize("comparator", ["<=", "<"])
def test_latency_bound_separates_the_engines_verdicts(threshold: float, comparator: str) -> None:
    """A window value is a bucket's representative: at or under the bound exactly when the
    engine says it meets the objective."""
    bound = latency_bound(threshold, comparator)
    centre = hist.bucket_index(threshold)
    for i in range(centre - 3, centre + 4):
        value = hist.bucket_value(i)
        meets = value < threshold if comparator == "<" else value <= threshold
        assert (value <= bound) is meets, (i, value, bound)
    # and the bound is an engine bucket bound: latencies just under and just over it fall in
    # neighbouring buckets
    under, over = hist.bucket_index(bound * (1 - 1e-9)), hist.bucket_index(bound * (1 + 1e-9))
    assert over == under + 1


def test_reload_drops_the_series_of_removed_objectives() -> None:
    metrics = _metrics()
    report = load_rules_dir(ROOT / "rules")
    smaller = type(report.ruleset)(
        {c: r for c, r in report.ruleset.revisions.items() if c != "storage-001"},
        *[
            getattr(report.ruleset, f)
            for f in type(report.ruleset).__dataclass_fields__
            if f != "revisions"
        ],
    )
    metrics.set_objectives(smaller)
    assert not any(("contract_id", "storage-001") in labels for _, labels in _samples(metrics))


@pytest.mark.parametrize(
    ("accept", "content_type", "parse"),
    [
        ("", "text/plain; version=0.0.4; charset=utf-8", parse_text),
        ("text/plain", "text/plain; version=0.0.4; charset=utf-8", parse_text),
        (
            "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5",
            "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=underscores",
            parse_om,
        ),
    ],
)
def test_metrics_endpoint_negotiates_the_format(accept: str, content_type: str, parse: Any) -> None:
    """The worker's own ``/metrics`` route, in process (no broker): Prometheus asks for
    OpenMetrics first; a plain client gets the text format; gzip when asked."""
    from engine.adapters.kafka.app import make_app
    from engine.settings import Settings

    app = make_app(Settings(rules_dir=ROOT / "rules", broker="kafka://127.0.0.1:1"))
    app.web.init_server()

    async def get() -> tuple[int, Any, bytes]:
        client = TestClient(TestServer(app.web.web_app))
        await client.start_server()
        try:
            headers = {"Accept": accept, "Accept-Encoding": "gzip"}
            response = await client.get("/metrics", headers=headers, auto_decompress=False)
            return response.status, response.headers, await response.read()
        finally:
            await client.close()

    status, headers, body = asyncio.run(get())
    assert status == 200
    assert headers["Content-Type"] == content_type
    assert headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(body).decode()
    names = {family.name for family in parse(text)}
    assert {
        "csla_sli_good",
        "csla_sli_bad",
        "csla_sli_judged",
        "csla_sli_window_latency_ms",
    } <= names
    assert text.endswith("# EOF\n") is (parse is parse_om)
