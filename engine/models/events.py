"""Telemetry wire format v1: one flat JSON object per event.

Producers (providers, the monitoring platform, customers) write these; the JSON Schema in
``schemas/telemetry.v1.schema.json`` is exported from this module.  The engine's hot path
decodes batches with polars (``engine.core.decode``) and applies the same rules as these models
in vectorised form; these models are the reference and give the per-line error messages.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Ident = Annotated[str, Field(min_length=1, max_length=256)]

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
    event_time: AwareDatetime = Field(
        description="When it happened: RFC 3339 with an offset or Z (naive times are rejected)."
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
    ok: bool
    latency_ms: NonNegative | None = None


class Request(_EventBase):
    """One API or MaaS call (Table A.1 response performance, model service monitoring)."""

    kind: Literal["request"]
    ok: bool
    latency_ms: NonNegative
    status: int | None = None
    model: Ident | None = None
    tokens_in: Annotated[int, Field(ge=0)] | None = None
    tokens_out: Annotated[int, Field(ge=0)] | None = None


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
    tasks: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Concurrent tasks running (Table A.1 capacity & elasticity)."
    )
    users: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Concurrent users (Table A.1 capacity & elasticity)."
    )


class Network(_EventBase):
    """Network transport sample (Table A.1 network transport)."""

    kind: Literal["network"]
    latency_ms: NonNegative | None = None
    jitter_ms: NonNegative | None = None
    loss_ratio: Ratio | None = None
    throughput_mbps: NonNegative | None = None


class StorageIO(_EventBase):
    """Storage I/O sample (Table A.1 storage availability: read/write speed)."""

    kind: Literal["storage_io"]
    read_mbps: NonNegative | None = None
    write_mbps: NonNegative | None = None
    latency_ms: NonNegative | None = None


class Incident(_EventBase):
    """An incident opened or resolved; priority = impact × urgency (§6.2.2)."""

    kind: Literal["incident"]
    incident_id: Ident
    status: Literal["opened", "resolved"]
    impact: Annotated[int, Field(ge=1, le=4)] | None = None
    urgency: Annotated[int, Field(ge=1, le=4)] | None = None
    summary: str | None = None


class Maintenance(_EventBase):
    """A planned-downtime notice (§6.1.13); ``event_time`` is when it was announced."""

    kind: Literal["maintenance"]
    maintenance_id: Ident
    window_start: AwareDatetime
    window_end: AwareDatetime


class Energy(_EventBase):
    """Energy reading over a period (Table A.1 PUE and renewable ratio)."""

    kind: Literal["energy"]
    period_start: AwareDatetime
    period_end: AwareDatetime
    total_kwh: NonNegative
    it_kwh: NonNegative
    renewable_kwh: NonNegative | None = Field(
        default=None, description="E_R: renewable energy used, not counting the grid's share."
    )
    grid_kwh: NonNegative | None = Field(
        default=None, description="E_elec: electricity used in all (default: total_kwh)."
    )
    self_kwh: NonNegative | None = Field(
        default=None, description="E_self: own distributed renewables, self-consumed."
    )
    green_kwh: NonNegative | None = Field(
        default=None, description="E_green: electricity bought through green-power trading."
    )


class Provisioning(_EventBase):
    """A resource was provisioned (Table A.1 service response performance: access speed).

    ``event_time`` is normally ``completed_at``; the SLI is ``completed_at - requested_at``.
    """

    kind: Literal["provisioning"]
    requested_at: AwareDatetime
    completed_at: AwareDatetime
    ok: bool | None = None


class Scaling(_EventBase):
    """A scale-out or scale-in finished (Table A.1 capacity & elasticity: scaling time)."""

    kind: Literal["scaling"]
    direction: Literal["out", "in"]
    requested_at: AwareDatetime
    completed_at: AwareDatetime
    nodes: Annotated[int, Field(ge=1)] | None = None


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
    "EVENT_ADAPTER",
    "EVENT_KINDS",
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
