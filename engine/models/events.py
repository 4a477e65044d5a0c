"""Telemetry wire format v1: one flat JSON object per event.

Producers (providers, the monitoring platform, customers) write these; the JSON Schema in
``schemas/telemetry.v1.schema.json`` is exported from this module.  The engine's hot path
decodes batches with polars (``engine.core.decode``) and applies the same rules as these models
in vectorised form; these models are the reference and give the per-line error messages.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from engine.models.limits import (  # the bounds live there (no pydantic); re-exported
    COUNT_MAX,
    DURATION_MS_MAX,
    EARLIEST,
    EARLIEST_MS,
    EVENT_KINDS,
    INTEGER_BOUNDS,
    KWH_MAX,
    LATENCY_MS_MAX,
    LATEST,
    LATEST_MS,
    MBPS_MAX,
    NODES_MAX,
    NUMBER_BOUNDS,
    PRIORITY_MAX,
    RATIO_FIELDS,
    STATUS_MAX,
    TOKENS_MAX,
)


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
