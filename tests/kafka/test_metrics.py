"""``csla_outputs_total{kind}`` of ``/metrics`` (``engine.adapters.kafka.metrics``), without a
broker: the label is the output kind's name, ``dead`` for dead letters, as scraped today."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families as parse_text

from engine.adapters.kafka.app import metrics_exposition
from engine.adapters.kafka.metrics import WorkerMetrics
from engine.core.pipeline import Outputs
from engine.core.records import OUTPUT_KINDS


def _outputs_total(metrics: WorkerMetrics) -> dict[str, float]:
    body, _ = metrics_exposition(metrics.registry, "", "")
    return {
        s.labels["kind"]: s.value
        for family in parse_text(body.decode())
        for s in family.samples
        if s.name == "csla_outputs_total"
    }


def test_outputs_are_counted_by_kind_name() -> None:
    metrics = WorkerMetrics()
    out = Outputs()
    for n, kind in enumerate(OUTPUT_KINDS, start=1):
        getattr(out, kind.name).extend({"record": kind.record} for _ in range(n))
    metrics.count_outputs(out)
    assert _outputs_total(metrics) == {
        "metrics": 1.0, "breaches": 2.0, "compensations": 3.0, "late": 4.0, "dead": 5.0,
        "usage": 6.0, "warnings": 7.0, "scorecards": 8.0, "discrepancies": 9.0,
    }  # fmt: skip
