"""What the telemetry wire allows, without pydantic: the event kinds and the bound of every
numeric value.  The models (``engine.models.events``) carry these limits into the JSON Schema;
the engine's decode (``engine.core.checks``) applies them vectorised and imports only this
module, so a replay does not build the models unless a line needs their message.
"""

from __future__ import annotations

from datetime import UTC, datetime

# --- Bounds of every numeric value (issue 11) -------------------------------------------------
# One place for each limit: the models below carry them (so the exported JSON Schema does),
# ``engine.core.decode`` checks them vectorised, and the README's bounds table lists them
# (a test holds the three together).  A value outside its bound, or not finite in any
# spelling ("Infinity", "inf", "NaN", "1e309", ...), makes its line a dead letter.
#
# Why these limits keep every sum exact (worst case = limit × the most events that can meet in
# one sum).  The engine reads at most ~10⁶ events/s on one core, so one contract sees at most
# 6·10⁷ events a minute and 3.6·10⁹ an hour; a polars frame holds at most 2³² − 1 ≈ 4.3·10⁹
# rows (u32 index), which bounds any single vectorised sum.
# * Tokens (Int64 per minute in the pipeline, per minute then Int128 per hour in usage, Python
#   int per period): one request ≤ 2 × TOKENS_MAX = 2·10⁹; 2·10⁹ × 4.3·10⁹ rows = 8.6·10¹⁸
#   < 2⁶³ − 1 ≈ 9.22·10¹⁸, so no single polars sum can wrap; sums across batches are Int128 or
#   Python int.
# * Gauges are summed as integer micro-units (x · 10⁶, ``engine.core.gauges``): every limit
#   keeps x · 10⁶ ≤ 2·10¹⁵ < 2⁵³, so each event's micro value is exact in float64 and in
#   Int64; sums across events need Int128 (4,612 requests of 2·10⁹ tokens would pass 2⁶³).
# * Utilisation ratios are summed as nano-units (≤ 10⁹ each, ``engine.core.usage``).
# * Instants lie in [2000, 2100): epoch ms ≤ 4.1·10¹², differences ≤ 3.2·10¹², far from 2⁶³
#   in every ms computation, and a duration in seconds stays < 2⁵³ / 10⁶.
LATENCY_MS_MAX = 86_400_000.0
"""``latency_ms`` and ``jitter_ms``: one day.  No request, probe or round trip that takes
longer is a latency (client and load-balancer timeouts are minutes); 8.64·10⁷ · 10⁶ < 2⁵³."""
MBPS_MAX = 10_000_000.0
"""``throughput_mbps`` (Mbit/s), ``read_mbps`` / ``write_mbps`` (MB/s): 10⁷, i.e. 10 Tbit/s or
10 TB/s, over ten times the fastest links and arrays built today."""
KWH_MAX = 1_000_000_000.0
"""Every ``*_kwh`` of one ``energy`` reading: 10⁹ kWh (1 TWh), a year of a 100 MW site."""
TOKENS_MAX = 1_000_000_000
"""``tokens_in`` / ``tokens_out`` of one request."""
COUNT_MAX = 1_000_000_000
"""``tasks`` and ``users`` (concurrent counts)."""
NODES_MAX = 1_000_000
"""``nodes`` of one ``scaling`` event."""
STATUS_MAX = 999
"""``status`` of a ``request``: a protocol status code (HTTP 100–599, gRPC 0–16)."""
PRIORITY_MAX = 4
"""``impact`` and ``urgency`` of an incident: 1..4 (§6.2.2)."""
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""Every instant (``event_time``, ``window_*``, ``period_*``, ``requested_at``,
``completed_at``) is at or after this…"""
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""…and before this."""
EARLIEST_MS = 946_684_800_000
LATEST_MS = 4_102_444_800_000
DURATION_MS_MAX = 366 * 86_400_000
"""A maintenance window, an energy period and a provisioning or scaling time last at most
366 days (a leap year): a longer notice would exempt a whole contract year at once."""

RATIO_FIELDS = ("cpu", "gpu", "memory", "storage", "bandwidth", "loss_ratio")
NUMBER_BOUNDS: dict[str, tuple[float, float]] = {
    "latency_ms": (0.0, LATENCY_MS_MAX),
    "jitter_ms": (0.0, LATENCY_MS_MAX),
    **dict.fromkeys(RATIO_FIELDS, (0.0, 1.0)),
    "throughput_mbps": (0.0, MBPS_MAX),
    "read_mbps": (0.0, MBPS_MAX),
    "write_mbps": (0.0, MBPS_MAX),
    **{
        f"{name}_kwh": (0.0, KWH_MAX)
        for name in ("total", "it", "renewable", "grid", "self", "green")
    },
}
"""Inclusive bounds of every JSON number field (floats)."""
INTEGER_BOUNDS: dict[str, tuple[int, int]] = {
    "tokens_in": (0, TOKENS_MAX),
    "tokens_out": (0, TOKENS_MAX),
    "tasks": (0, COUNT_MAX),
    "users": (0, COUNT_MAX),
    "impact": (1, PRIORITY_MAX),
    "urgency": (1, PRIORITY_MAX),
    "nodes": (1, NODES_MAX),
}
"""Inclusive bounds of every JSON integer field (``status`` of a request: 0..STATUS_MAX)."""

EVENT_KINDS = (
    "probe",
    "request",
    "node_state",
    "utilization",
    "network",
    "storage_io",
    "incident",
    "maintenance",
    "energy",
    "provisioning",
    "scaling",
)
