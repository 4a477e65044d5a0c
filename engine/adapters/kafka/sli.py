"""Per-objective SLI series on the worker's ``/metrics``, for an outside alerting stack.

Made from the metric records the core publishes (one per objective and closed window), so
they move in event time: a counter grows when a window closes, by that window's units.

``csla_sli_good_total`` / ``csla_sli_bad_total`` / ``csla_sli_judged_total`` (good + bad)
``{contract_id, objective_id, sli}``:

* probe availability (service, storage, network): minutes — available / judged minutes of
  service time (the objective's ``no_data`` rule decides which minutes are judged);
* ``node_availability``: node-seconds — up / known node time (time-weighted);
* ``error_rate``: requests — succeeded / all requests;
* ``latency`` and the gauge SLIs (speeds, utilisation, PUE…): judged windows — windows whose
  value met the objective / windows with a value.

The reliability SLIs (MTTR, MTBF, failure count, max recovery, stability) are period-to-date
figures, not sums of windows: they get no counters.

``csla_sli_window_latency_ms`` ``{contract_id, objective_id, sli, le}``: a histogram of the
latency objectives' window percentiles, one observation per judged window. Every ``le`` is
an upper bound of one of the engine's log buckets (``engine.core.histogram``), so a window's
value (a bucket's representative) never falls on a bound, and each latency objective's
threshold has its own ``le``: ``_bucket{le=<that bound>}`` counts exactly the windows that
met the objective.

A record is counted once per process: one whose window does not end after the last window
counted for its objective (re-published after a rebalance, from a checkpoint) is skipped.
Label cardinality: one series (per name) per objective of the rule files.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from engine.core import histogram as hist
from engine.models.contract import PROBE_AVAILABILITY

__all__ = [
    "BAD",
    "GOOD",
    "JUDGED",
    "LABELS",
    "LATENCY_LADDER_MS",
    "WINDOW_LATENCY",
    "SliSeries",
    "latency_bound",
    "sli_unit",
]

GOOD = "csla_sli_good"
BAD = "csla_sli_bad"
JUDGED = "csla_sli_judged"
WINDOW_LATENCY = "csla_sli_window_latency_ms"
LABELS = ("contract_id", "objective_id", "sli")
#: The histogram's bounds besides the thresholds: the engine bucket bound at or below each.
LATENCY_LADDER_MS = (1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 60_000)
_WINDOWED = frozenset(
    {
        "latency", "storage_read_speed", "storage_write_speed", "network_jitter",
        "network_loss", "network_throughput", "network_congestion", "pool_utilization",
        "concurrency", "provisioning_time", "scale_out_time", "scale_in_time", "calls",
        "tokens", "pue", "renewable_ratio",
    }
)  # fmt: skip


_UNITS: dict[str, str] = {
    **dict.fromkeys(PROBE_AVAILABILITY, "minutes"),
    "node_availability": "node_seconds",
    "error_rate": "requests",
    **dict.fromkeys(_WINDOWED, "windows"),
}


def sli_unit(sli: str) -> str | None:
    """The unit the good/bad/judged counters of ``sli`` count in; None: no counters."""
    return _UNITS.get(sli)


def latency_bound(threshold_ms: float, comparator: str = "<=") -> float:
    """The engine bucket upper bound ``GAMMA**k`` below which a window's percentile meets
    ``comparator threshold_ms`` (``<=`` or ``<``): bucket ``k`` is the last whose
    representative value meets it."""
    strict = comparator == "<"

    def meets(i: int) -> bool:
        value = hist.bucket_value(i)
        return value < threshold_ms if strict else value <= threshold_ms

    k = math.floor(math.log(threshold_ms / hist.REPRESENTATIVE_FACTOR) * hist.INV_LOG_GAMMA)
    while meets(k + 1):
        k += 1
    while not meets(k):
        k -= 1
    return float(hist.GAMMA**k)


class _WindowHistogram:
    """Cumulative-at-collect histogram of one series (bounds ascending, +Inf implied)."""

    __slots__ = ("bounds", "counts", "sum", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break
        self.total += 1
        self.sum += value


class SliSeries:
    """The SLI counters and the latency window histogram, in ``registry``."""

    def __init__(self, registry: Any) -> None:
        from prometheus_client import Counter

        self.good = Counter(
            GOOD,
            "Good units of an objective's closed windows (minutes, node-seconds, requests or "
            "judged windows, by sli; README 'With Prometheus, Sloth and Pyrra').",
            list(LABELS),
            registry=registry,
        )
        self.bad = Counter(
            BAD,
            "Units of an objective's closed windows that were not good (judged minus good): "
            "the errors of a Pyrra ratio.",
            list(LABELS),
            registry=registry,
        )
        self.judged = Counter(
            JUDGED,
            "Judged units of an objective's closed windows, in the unit of csla_sli_good.",
            list(LABELS),
            registry=registry,
        )
        self._lock = threading.Lock()
        # (contract, objective) → (sli, scale, good child, bad child, judged child)
        self._series: dict[tuple[str, str], tuple[str, float, Any, Any, Any]] = {}
        self._last_end: dict[tuple[str, str], str] = {}
        self._latency: dict[tuple[str, str], _WindowHistogram] = {}
        self._thresholds: dict[tuple[str, str], float] = {}
        registry.register(_LatencyCollector(self))

    def configure(self, ruleset: Any) -> None:
        """Create the series of every objective of the latest revisions; drop the others."""
        wanted: dict[tuple[str, str], str] = {}
        thresholds: dict[tuple[str, str], float] = {}
        for cid in ruleset.revisions:
            contract = ruleset.latest(cid)
            for objective in contract.objectives:
                if sli_unit(objective.sli) is None:
                    continue
                wanted[(cid, objective.id)] = objective.sli
                if objective.sli == "latency" and objective.comparator in ("<=", "<"):
                    bound = latency_bound(objective.threshold, objective.comparator)
                    thresholds[(cid, objective.id)] = bound
        with self._lock:
            for key in list(self._series):
                if wanted.get(key) != self._series[key][0]:
                    self._drop(key)
            for key in list(self._latency):
                if thresholds.get(key) != self._thresholds.get(key):
                    del self._latency[key]
            self._thresholds = thresholds
            for (cid, oid), sli in wanted.items():
                self._child(cid, oid, sli)
                if sli == "latency":
                    self._latency_of((cid, oid))

    def _drop(self, key: tuple[str, str]) -> None:
        sli = self._series.pop(key)[0]
        for counter in (self.good, self.bad, self.judged):
            counter.remove(*key, sli)
        self._latency.pop(key, None)

    def _child(self, cid: str, oid: str, sli: str) -> tuple[str, float, Any, Any, Any]:
        series = self._series.get((cid, oid))
        if series is None or series[0] != sli:
            if series is not None:
                self._drop((cid, oid))
            scale = 0.001 if sli == "node_availability" else 1.0  # node-ms → node-seconds
            series = (
                sli,
                scale,
                self.good.labels(cid, oid, sli),
                self.bad.labels(cid, oid, sli),
                self.judged.labels(cid, oid, sli),
            )
            self._series[(cid, oid)] = series
        return series

    def count(self, metrics: Iterable[Mapping[str, Any]]) -> None:
        """Add the units of each metric record (a closed window) to its objective's series:
        summed per objective first, so a batch of many windows costs one ``inc`` per series."""
        sums: dict[tuple[str, str], list[Any]] = {}  # key → [sli, good, bad, judged]
        with self._lock:
            for record in metrics:
                sli = record.get("sli")
                unit = _UNITS.get(sli) if isinstance(sli, str) else None
                cid, oid, end = (
                    record.get(k) for k in ("contract_id", "objective_id", "window_end")
                )
                if unit is None or not all(isinstance(v, str) for v in (cid, oid, end)):
                    continue  # not a window's metric record: counters are never a reason to stop
                key = (str(cid), str(oid))
                # windows are whole minutes: their ends share one RFC 3339 layout, and the
                # strings order like the instants
                last = self._last_end.get(key)
                if last is not None and str(end) <= last:
                    continue
                self._last_end[key] = str(end)
                acc = sums.get(key)
                if acc is None or acc[0] != sli:
                    if acc is not None:
                        self._add(key, acc)
                    acc = sums[key] = [sli, 0, 0, 0]
                if unit == "windows":
                    value = record.get("value")
                    if value is None:
                        continue
                    acc[1 if record.get("compliant") else 2] += 1
                    acc[3] += 1
                    if sli == "latency":
                        self._observe_latency(key, float(value))
                    continue
                total = record.get("total")
                if total:
                    ok = record.get("good") or 0
                    acc[1] += ok
                    acc[2] += total - ok
                    acc[3] += total
            for key, acc in sums.items():
                self._add(key, acc)

    def _add(self, key: tuple[str, str], acc: list[Any]) -> None:
        sli, good_units, bad_units, judged_units = acc
        _, scale, good, bad, judged = self._child(*key, sli)
        if judged_units:
            good.inc(good_units * scale)
            bad.inc(bad_units * scale)
            judged.inc(judged_units * scale)

    def _latency_of(self, key: tuple[str, str]) -> _WindowHistogram:
        series = self._latency.get(key)
        if series is None:
            bounds = {latency_bound(x) for x in LATENCY_LADDER_MS}
            if key in self._thresholds:
                bounds.add(self._thresholds[key])
            series = self._latency[key] = _WindowHistogram(tuple(sorted(bounds)))
        return series

    def _observe_latency(self, key: tuple[str, str], value: float) -> None:
        self._latency_of(key).observe(value)

    def latency_snapshot(self) -> list[tuple[list[str], list[tuple[str, int]], float]]:
        """(labels, cumulative buckets with +Inf, sum) of every latency objective, as of now."""
        from prometheus_client.utils import floatToGoString

        out = []
        with self._lock:
            for (cid, oid), h in self._latency.items():
                cumulative, buckets = 0, []
                for bound, n in zip(h.bounds, h.counts, strict=True):
                    cumulative += n
                    buckets.append((str(floatToGoString(bound)), cumulative))  # type: ignore[no-untyped-call]
                buckets.append(("+Inf", h.total))
                out.append(([cid, oid, "latency"], buckets, h.sum))
        return out


class _LatencyCollector:
    """Exposes ``csla_sli_window_latency_ms``: bounds differ per objective (its threshold)."""

    def __init__(self, series: SliSeries) -> None:
        self.series = series

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import HistogramMetricFamily

        family = HistogramMetricFamily(
            WINDOW_LATENCY,
            "Window percentiles of latency objectives (ms), one per judged window; every le "
            "is an engine bucket bound, the objective's threshold among them.",
            labels=list(LABELS),
        )
        for labels, buckets, total in self.series.latency_snapshot():
            family.add_metric(labels, buckets, total)
        yield family
