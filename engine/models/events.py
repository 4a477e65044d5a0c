"""Telemetry wire format v1: one flat JSON object per event.

Producers (providers, the monitoring platform, customers) write these; the JSON Schema in
``schemas/telemetry.v1.schema.json`` is exported from this module.  The engine's hot path
decodes batches with polars (``engine.core.decode``) and applies the same rules as these models
in vectorised form; these models are the reference and give the per-line error messages.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

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


def _number(name: str) -> Any:
    low, high = NUMBER_BOUNDS[name]
    return Field(ge=low, le=high, allow_inf_nan=False)


def _integer(name: str) -> Any:
    low, high = INTEGER_BOUNDS[name]
    return Field(ge=low, le=high)


Ratio = Annotated[float, _number("cpu")]
LatencyMs = Annotated[float, _number("latency_ms")]
Mbps = Annotated[float, _number("throughput_mbps")]
Kwh = Annotated[float, _number("total_kwh")]
Tokens = Annotated[int, _integer("tokens_in")]
Count = Annotated[int, _integer("tasks")]
Priority = Annotated[int, _integer("impact")]
Ident = Annotated[str, Field(min_length=1, max_length=256)]
Ok = Annotated[
    bool,
    Field(
        description=(
            'JSON true or false.  The engine also reads the exact strings "true" and '
            '"false" (as it reads numeric strings); any other value ("True", "yes", 1) '
            "rejects the line."
        )
    ),
]
Instant = Annotated[
    AwareDatetime,
    Field(
        ge=EARLIEST,
        lt=LATEST,
        json_schema_extra={
            "formatMinimum": "2000-01-01T00:00:00Z",
            "formatExclusiveMaximum": "2100-01-01T00:00:00Z",
        },
    ),
]

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


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: Literal[1] = Field(description="Wire format version; always 1 for v1.")
    event_id: Ident = Field(description="Unique per producer; a repeated id is counted once.")
    event_time: Instant = Field(
        description=(
            "When it happened: RFC 3339 with an offset or Z (naive times are rejected), "
            "in [2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z)."
        )
    )
    provider_id: Ident
    contract_id: Ident
    resource_id: Ident = Field(description="Node, endpoint, volume or other resource measured.")
    source: Literal["platform", "provider", "customer"]
    tenant_id: Ident | None = None
    project_id: Ident | None = None


class Probe(_EventBase):
    """A reachability check of the service (Table A.1 service availability)."""

    kind: Literal["probe"]
    ok: Ok
    latency_ms: LatencyMs | None = None


class Request(_EventBase):
    """One API or MaaS call (Table A.1 response performance, model service monitoring)."""

    kind: Literal["request"]
    ok: Ok
    latency_ms: LatencyMs
    status: Annotated[int, Field(ge=0, le=STATUS_MAX)] | None = None
    model: Ident | None = None
    tokens_in: Tokens | None = None
    tokens_out: Tokens | None = None


class NodeState(_EventBase):
    """A compute node changed state (Table A.1 compute node availability, reliability)."""

    kind: Literal["node_state"]
    state: Literal["up", "down", "degraded"]
    reason: str | None = None


class Utilization(_EventBase):
    """Resource utilisation ratios (Annex B Table B.1)."""

    kind: Literal["utilization"]
    cpu: Ratio | None = None
    gpu: Ratio | None = None
    memory: Ratio | None = None
    storage: Ratio | None = None
    bandwidth: Ratio | None = None
    tasks: Count | None = Field(
        default=None, description="Concurrent tasks running (Table A.1 capacity & elasticity)."
    )
    users: Count | None = Field(
        default=None, description="Concurrent users (Table A.1 capacity & elasticity)."
    )


class Network(_EventBase):
    """Network transport sample (Table A.1 network transport)."""

    kind: Literal["network"]
    latency_ms: LatencyMs | None = None
    jitter_ms: LatencyMs | None = None
    loss_ratio: Ratio | None = None
    throughput_mbps: Mbps | None = None


class StorageIO(_EventBase):
    """Storage I/O sample (Table A.1 storage availability: read/write speed)."""

    kind: Literal["storage_io"]
    read_mbps: Mbps | None = None
    write_mbps: Mbps | None = None
    latency_ms: LatencyMs | None = None


class Incident(_EventBase):
    """An incident opened or resolved; priority = impact × urgency (§6.2.2)."""

    kind: Literal["incident"]
    incident_id: Ident
    status: Literal["opened", "resolved"]
    impact: Priority | None = None
    urgency: Priority | None = None
    summary: str | None = None


class Maintenance(_EventBase):
    """A planned-downtime notice (§6.1.13); ``event_time`` is when it was announced."""

    kind: Literal["maintenance"]
    maintenance_id: Ident
    window_start: Instant
    window_end: Instant = Field(
        description="After window_start, at most 366 days later (DURATION_MS_MAX)."
    )


class Energy(_EventBase):
    """Energy reading over a period (Table A.1 PUE and renewable ratio)."""

    kind: Literal["energy"]
    period_start: Instant
    period_end: Instant = Field(
        description="After period_start, at most 366 days later (DURATION_MS_MAX)."
    )
    total_kwh: Kwh
    it_kwh: Kwh
    renewable_kwh: Kwh | None = Field(
        default=None, description="E_R: renewable energy used, not counting the grid's share."
    )
    grid_kwh: Kwh | None = Field(
        default=None, description="E_elec: electricity used in all (default: total_kwh)."
    )
    self_kwh: Kwh | None = Field(
        default=None, description="E_self: own distributed renewables, self-consumed."
    )
    green_kwh: Kwh | None = Field(
        default=None, description="E_green: electricity bought through green-power trading."
    )


class Provisioning(_EventBase):
    """A resource was provisioned (Table A.1 service response performance: access speed).

    ``event_time`` is normally ``completed_at``; the SLI is ``completed_at - requested_at``.
    """

    kind: Literal["provisioning"]
    requested_at: Instant
    completed_at: Instant = Field(
        description="Not before requested_at, at most 366 days later (DURATION_MS_MAX)."
    )
    ok: Ok | None = None


class Scaling(_EventBase):
    """A scale-out or scale-in finished (Table A.1 capacity & elasticity: scaling time)."""

    kind: Literal["scaling"]
    direction: Literal["out", "in"]
    requested_at: Instant
    completed_at: Instant = Field(
        description="Not before requested_at, at most 366 days later (DURATION_MS_MAX)."
    )
    nodes: Annotated[int, _integer("nodes")] | None = None


TelemetryEvent = Annotated[
    Probe
    | Request
    | NodeState
    | Utilization
    | Network
    | StorageIO
    | Incident
    | Maintenance
    | Energy
    | Provisioning
    | Scaling,
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[TelemetryEvent] = TypeAdapter(TelemetryEvent)


def event_json_schema() -> dict[str, object]:
    """The JSON Schema of one v1 telemetry event."""
    schema = EVENT_ADAPTER.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://csla-engine.dev/schemas/telemetry.v1.schema.json"
    schema["title"] = "CSLA telemetry event v1"
    return schema


__all__ = [
    "COUNT_MAX",
    "DURATION_MS_MAX",
    "EARLIEST",
    "EARLIEST_MS",
    "EVENT_ADAPTER",
    "EVENT_KINDS",
    "INTEGER_BOUNDS",
    "KWH_MAX",
    "LATENCY_MS_MAX",
    "LATEST",
    "LATEST_MS",
    "MBPS_MAX",
    "NODES_MAX",
    "NUMBER_BOUNDS",
    "PRIORITY_MAX",
    "RATIO_FIELDS",
    "STATUS_MAX",
    "TOKENS_MAX",
    "Energy",
    "Incident",
    "Maintenance",
    "Network",
    "NodeState",
    "Probe",
    "Provisioning",
    "Request",
    "Scaling",
    "StorageIO",
    "TelemetryEvent",
    "Utilization",
    "event_json_schema",
]
