"""Engine state: what the core remembers between batches, and its snapshot to bytes.

State is data, not behaviour: polars frames for the bulk (buffered events, latency histogram
partials) and small JSON-able records per contract.  ``snapshot()`` / ``restore()`` round-trip
exactly, so a worker that restarts, or a partition that moves, resumes where it stopped.
"""

from __future__ import annotations

import io
from array import array
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import polars as pl

from engine.core import gauges
from engine.core.decode import decode
from engine.core.usage import empty_usage

LAT_KEYS = ["contract_id", "objective_id", "window_start", "window_end"]
PERIOD_KEYS = ["contract_id", "objective_id", "period_start"]


@dataclass
class WindowAcc:
    """One objective's accumulators over its open evaluation window (or period)."""

    start: int
    end: int
    good: int = 0  # available minutes / up node-ms / ok requests
    bad: int = 0  # unavailable minutes / down node-ms / failed requests
    evaluated: int = 0  # evaluated minutes / evaluated node-ms (0 for request SLIs)

    def copy(self) -> WindowAcc:
        return WindowAcc(self.start, self.end, self.good, self.bad, self.evaluated)

    def add(self, other: WindowAcc) -> None:
        self.good += other.good
        self.bad += other.bad
        self.evaluated += other.evaluated


@dataclass
class ObjectiveState:
    window: WindowAcc | None = None
    period: WindowAcc | None = None
    breach_id: str | None = None
    breach_kind: str | None = None  # "window" (resolves on a compliant window) or "period"
    breach_revision: int | None = None
    paid_periods: list[int] = field(default_factory=list)
    # early warnings: (bad, total) units per closed 5-minute bucket up to ``burn_end``
    # (arrays of int64: a step copies the states it changes, and an array copies as one block)
    burn_end: int | None = None
    burn_bad: array[int] = field(default_factory=lambda: array("q"))
    burn_total: array[int] = field(default_factory=lambda: array("q"))
    burn_open: list[int] | None = None  # the open bucket: [end, bad, total]
    burn_period: list[int] | None = None  # [period start, bad, total] of the period so far
    warnings: dict[str, str] = field(default_factory=dict)  # burn rule key → firing warning id

    def __post_init__(self) -> None:
        if not isinstance(self.burn_bad, array):  # restored from a snapshot: JSON lists
            self.burn_bad, self.burn_total = array("q", self.burn_bad), array("q", self.burn_total)

    def copy(self) -> ObjectiveState:
        """An independent copy (every container copied; the values are ints and strings)."""
        new = object.__new__(ObjectiveState)
        new.__dict__.update(self.__dict__)  # the scalars; the containers are replaced below
        new.window = self.window.copy() if self.window else None
        new.period = self.period.copy() if self.period else None
        new.paid_periods = self.paid_periods[:]
        new.burn_bad = self.burn_bad[:]
        new.burn_total = self.burn_total[:]
        new.burn_open = self.burn_open[:] if self.burn_open is not None else None
        new.burn_period = self.burn_period[:] if self.burn_period is not None else None
        new.warnings = dict(self.warnings)
        return new


@dataclass
class ContractState:
    max_event_ms: int
    closed_until_ms: int | None = None
    observed_from_ms: int | None = None
    period_start_ms: int | None = None
    period_end_ms: int | None = None
    exemptions: list[list[Any]] = field(default_factory=list)  # [start, end, label]
    maintenance_log: list[dict[str, Any]] = field(default_factory=list)
    nodes: dict[str, list[Any]] = field(default_factory=dict)  # node -> [state, since_ms]
    failures: list[dict[str, Any]] = field(default_factory=list)  # this period's failures
    incidents: dict[str, list[int]] = field(default_factory=dict)  # id -> [priority, start]
    incident_log: list[list[Any]] = field(default_factory=list)  # [id, priority, start, end]
    usage: dict[str, int] = field(default_factory=dict)
    # node → [[since ms, "tenant\x1fproject"], …] in time order: whom its time is billed to
    owners: dict[str, list[list[Any]]] = field(default_factory=dict)
    # this period's metering per "tenant\x1fproject": [node up ms, requests, tokens]
    metered: dict[str, list[int]] = field(default_factory=dict)
    objectives: dict[str, ObjectiveState] = field(default_factory=dict)
    # source → its progress in event time (engine.core.watermark)
    progress: dict[str, int] = field(default_factory=dict)

    def copy(self) -> ContractState:
        """An independent copy, as ``from_dict(asdict(self))`` would make but at C speed: every
        list and dict copied down to its scalars (tests/core/test_step_pure.py)."""
        return ContractState(
            max_event_ms=self.max_event_ms,
            closed_until_ms=self.closed_until_ms,
            observed_from_ms=self.observed_from_ms,
            period_start_ms=self.period_start_ms,
            period_end_ms=self.period_end_ms,
            exemptions=[list(e) for e in self.exemptions],
            maintenance_log=[_deep(entry) for entry in self.maintenance_log],
            nodes={node: list(v) for node, v in self.nodes.items()},
            failures=[dict(f) for f in self.failures],
            incidents={i: list(v) for i, v in self.incidents.items()},
            incident_log=[list(e) for e in self.incident_log],
            usage=dict(self.usage),
            owners={node: [list(h) for h in v] for node, v in self.owners.items()},
            metered={owner: list(v) for owner, v in self.metered.items()},
            objectives={oid: o.copy() for oid, o in self.objectives.items()},
            progress=dict(self.progress),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContractState:
        if "progress" not in data:  # a snapshot from before per-source progress
            data = {**data, "progress": {"platform": data["max_event_ms"]}}
        objectives = {}
        for key, value in data.pop("objectives").items():
            window = WindowAcc(**value["window"]) if value["window"] else None
            period = WindowAcc(**value["period"]) if value["period"] else None
            objectives[key] = ObjectiveState(**{**value, "window": window, "period": period})
        return cls(**data, objectives=objectives)


def _json(value: Any) -> Any:
    """What orjson cannot write itself: the int64 arrays of the burn history, as lists."""
    if isinstance(value, array):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _deep(value: Any) -> Any:
    """A copy of JSON-like ``value`` (dicts and lists of scalars, nested)."""
    if isinstance(value, dict):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v) for v in value]
    return value


# decoded columns the closing never reads: not kept while events wait for their minute to close
_NOT_BUFFERED = (
    "schema_version", "seq", "summary", "reason", "model", "nodes", "period_start_ms",
    "period_end_ms", "status_code",
)  # fmt: skip


def _empty_buffer() -> pl.DataFrame:
    # _origin: where the event came from (a conflicting duplicate names its first copy's)
    return decode([], str).events.drop(_NOT_BUFFERED).with_columns(_origin=pl.lit(None, pl.String))


def _empty_lat() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "contract_id": pl.String,
            "objective_id": pl.String,
            "window_start": pl.Int64,
            "window_end": pl.Int64,
            "bucket": pl.Int32,
            "count": pl.Int64,
        }
    )


def _empty_period() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "contract_id": pl.String,
            "objective_id": pl.String,
            "period_start": pl.Int64,
            "bucket": pl.Int32,
            "count": pl.Int64,
        }
    )


def _empty_gauge_windows() -> pl.DataFrame:
    return gauges.empty(
        {"contract_id": pl.String(), "objective_id": pl.String(), "window_start": pl.Int64(),
         "window_end": pl.Int64()}
    )  # fmt: skip


def _empty_gauge_periods() -> pl.DataFrame:
    return gauges.empty(
        {"contract_id": pl.String(), "objective_id": pl.String(), "period_start": pl.Int64()}
    )


_SNAPSHOT_MAGIC = b"CSLASTATE2\n"
_FRAMES = ("buffer", "lat_windows", "lat_periods", "usage", "gauge_windows", "gauge_periods")


@dataclass
class EngineState:
    """All the core remembers.  One object may hold any subset of contracts."""

    contracts: dict[str, ContractState]
    buffer: pl.DataFrame  # accepted events whose minute has not closed yet
    lat_windows: pl.DataFrame  # latency histogram partials of open windows
    lat_periods: pl.DataFrame  # latency histogram partials of open periods
    usage: pl.DataFrame  # Annex B usage partials of open hourly windows
    gauge_windows: pl.DataFrame = field(default_factory=_empty_gauge_windows)
    gauge_periods: pl.DataFrame = field(default_factory=_empty_gauge_periods)
    # contract → [why, digest of its rules]: evaluating it raised; lifted when its rules change
    quarantined: dict[str, list[str]] = field(default_factory=dict)
    # contracts this object holds its own copy of (see ``copy`` and ``writable``)
    _owned: set[str] = field(default_factory=set, repr=False, compare=False)
    # the rule set under which every contract was last closed as far as its watermark allows:
    # under it, only a contract whose progress or closing moved can have anything to close
    # (``engine.core.pipeline``). Not part of the state's value: a restored state has none.
    settled: object = field(default=None, repr=False, compare=False)

    def copy(self) -> EngineState:
        """A new state equal to this one that can be changed without changing this one: the
        frames are immutable (shared), the quarantine is copied, and each contract's state is
        copied the first time it is written (``writable``), so a step pays only for the
        contracts it touches."""
        return EngineState(
            contracts=dict(self.contracts),
            buffer=self.buffer,
            lat_windows=self.lat_windows,
            lat_periods=self.lat_periods,
            usage=self.usage,
            gauge_windows=self.gauge_windows,
            gauge_periods=self.gauge_periods,
            quarantined={cid: list(v) for cid, v in self.quarantined.items()},
            settled=self.settled,
        )

    def taken(self) -> EngineState:
        """This state, to be changed in place: for a caller that holds no other reference to
        it nor to any state it was made from (replay's loop, after its first batch), so a step
        need not copy the contracts it changes."""
        self._owned.update(self.contracts)
        return self

    def writable(self, cid: str) -> ContractState | None:
        """``cid``'s state, to change: the first time, a copy replaces the shared one."""
        cs = self.contracts.get(cid)
        if cs is not None and cid not in self._owned:
            cs = self.contracts[cid] = cs.copy()
            self._owned.add(cid)
        return cs

    @classmethod
    def empty(cls) -> EngineState:
        return cls({}, _empty_buffer(), _empty_lat(), _empty_period(), empty_usage())

    def snapshot(self) -> bytes:
        """Bytes that ``restore`` turns back into an equal state: a magic line, a JSON line
        (the contracts, the quarantine and each frame's size), then the frames in Arrow IPC,
        one after another (no text encoding of the bulk: a checkpoint per batch stays cheap)."""
        blobs = []
        for name in _FRAMES:
            sink = io.BytesIO()
            getattr(self, name).write_ipc(sink)
            blobs.append(sink.getvalue())
        header = {
            "v": 2,
            "contracts": {k: asdict(v) for k, v in sorted(self.contracts.items())},
            "frames": {name: len(blob) for name, blob in zip(_FRAMES, blobs, strict=True)},
            "quarantined": dict(sorted(self.quarantined.items())),
        }
        return b"".join([_SNAPSHOT_MAGIC, orjson.dumps(header, default=_json), b"\n", *blobs])

    @classmethod
    def restore(cls, data: bytes) -> EngineState:
        if data.startswith(_SNAPSHOT_MAGIC):
            head, _, body = data[len(_SNAPSHOT_MAGIC) :].partition(b"\n")
            payload = orjson.loads(head)
            frames, at = {}, 0
            for name, size in payload["frames"].items():
                frames[name] = pl.read_ipc(io.BytesIO(body[at : at + size]))
                at += size
        else:  # version 1: one JSON document, the frames hex-encoded
            payload = orjson.loads(data)
            if payload.get("v") != 1:
                raise ValueError(f"unsupported state snapshot version {payload.get('v')!r}")
            frames = {
                k: pl.read_ipc(io.BytesIO(bytes.fromhex(v))) for k, v in payload["frames"].items()
            }
        contracts = {k: ContractState.from_dict(v) for k, v in payload["contracts"].items()}
        state = cls.empty()
        state.contracts = contracts
        state.quarantined = payload.get("quarantined", {})
        for name in _FRAMES:
            if name in frames:  # a snapshot of an older engine lacks the newer frames
                setattr(state, name, _conform(frames[name], getattr(state, name)))
        return state


def _conform(frame: pl.DataFrame, like: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with the columns of ``like`` (missing ones null), e.g. a v1 buffer written
    before the wire format gained optional fields."""
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in like.schema.items() if c not in frame]
    return frame.with_columns(missing).select(like.columns)
