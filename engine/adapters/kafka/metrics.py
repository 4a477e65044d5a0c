"""Prometheus metrics of one worker, in a registry of their own (``/metrics``).

Besides the engine's own counters, per-objective SLI series (``engine.adapters.kafka.sli``)
that an alerting stack (Prometheus rules, Sloth, Pyrra) can evaluate.
"""

from __future__ import annotations

from typing import Any

from engine.adapters.kafka.sli import SliSeries
from engine.core.pipeline import Outputs
from engine.core.records import OUTPUT_KINDS

__all__ = ["WorkerMetrics"]


class WorkerMetrics:
    """Prometheus metrics of one worker, in a registry of their own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_in = Counter(
            "csla_messages_in", "Kafka messages read.", ["stage"], registry=r
        )
        self.events_in = Counter("csla_events_in", "Telemetry lines read.", registry=r)
        self.whole_messages = Counter(
            "csla_route_whole_messages",
            "Telemetry messages forwarded whole (NDJSON of one contract: the collectors' fast"
            " path); the other messages are split line by line.",
            registry=r,
        )
        self.dead_letters = Counter("csla_dead_letters", "Dead-lettered lines.", registry=r)
        self.late_events = Counter(
            "csla_late_events", "Events later than the watermark.", registry=r
        )
        self.duplicates = Counter("csla_duplicate_events", "Repeated events dropped.", registry=r)
        self.accepted = Counter(
            "csla_events_accepted", "Events accepted for evaluation (the books).", registry=r
        )
        self.redelivered = Counter(
            "csla_redelivered_lines", "Lines routed twice (stage-1 replay), dropped.", registry=r
        )
        # kind: an output kind's name (engine.core.records.OutputKind), ``dead`` for dead letters
        self.outputs = Counter("csla_outputs", "Records published.", ["kind"], registry=r)
        self.batch_seconds = Histogram(
            "csla_batch_seconds",
            "Time to process one micro-batch, publishing and checkpoint included.",
            ["stage"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.lag = Gauge(
            "csla_consumer_lag",
            "End offset minus committed offset.",
            ["topic", "partition"],
            registry=r,
        )
        self.checkpoints = Counter("csla_checkpoints", "Checkpoints written.", registry=r)
        self.checkpoint_bytes = Gauge(
            "csla_checkpoint_bytes", "Size of the last checkpoint.", ["partition"], registry=r
        )
        self.partitions = Gauge(
            "csla_partitions_assigned", "Stage-2 partitions held by this worker.", registry=r
        )
        self.contracts = Gauge("csla_contracts", "Contracts in the rule set in force.", registry=r)
        self.rule_reloads = Counter(
            "csla_rule_reloads", "Rule directory reloads.", ["result"], registry=r
        )
        self.unpublished = Counter(
            "csla_unpublished_records",
            "Output records not published as they were (larger than max.message.bytes, or"
            " refused by the broker): each became a dead letter.",
            ["reason"],
            registry=r,
        )
        self.empty_messages = Counter(
            "csla_empty_messages",
            "Kafka messages with a null or empty value (dead-lettered).",
            ["stage"],
            registry=r,
        )
        self.broker_reachable = Gauge(
            "csla_broker_reachable",
            "1 while the broker answers metadata requests, 0 after a failed probe.",
            registry=r,
        )
        self.contract_errors = Counter(
            "csla_contract_errors",
            "Batches of one contract whose evaluation raised (quarantined as dead letters).",
            ["contract_id"],
            registry=r,
        )
        self.contracts_quarantined = Gauge(
            "csla_contracts_quarantined",
            "Contracts whose last batch was quarantined (an evaluation error).",
            registry=r,
        )
        self.sli = SliSeries(r)

    def set_objectives(self, ruleset: Any) -> None:
        """The objectives of the rule set in force: their SLI series exist from now on (at 0);
        those of objectives no longer in any rule file are removed."""
        self.sli.configure(ruleset)

    def count_outputs(self, out: Outputs) -> None:
        self.dead_letters.inc(len(out.dead))
        self.late_events.inc(len(out.late))
        self.duplicates.inc(out.stats.get("duplicates", 0))
        self.accepted.inc(out.stats.get("accepted", 0))
        for kind in OUTPUT_KINDS:
            n = len(getattr(out, kind.name))
            if n:
                self.outputs.labels(kind.name).inc(n)
        if out.metrics:
            self.sli.count(out.metrics)
