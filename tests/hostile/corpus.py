"""Hostile telemetry for the bundled contracts (issue 11): one case per class of attack.

``cases(clean, now_ms)`` reads a clean simulated stream (``csla simulate`` over ``rules/``)
and returns, per class, the hostile lines, where each belongs in the stream (after which clean
line: a line dated "+9 minutes" is only "ahead" next to the lines it runs ahead of) and what
the engine must make of each line (:data:`FATES`). ``mix`` puts them into the stream and says
where every hostile line went, so a test can find its dead letter by origin (``file:line``).

Which outputs a class may change is part of the case: for ``dead`` and ``duplicate`` lines,
none but the dead letters; for lines that are accepted on purpose (``targets``), only the named
contracts' non-money outputs (usage, or a metric's sample count), never a breach or a credit.

Loaded by path (pytest runs with ``--import-mode=importlib``), also by ``benchmarks/soak.py``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from engine.core.calendar import parse_instant, utc_iso
from engine.models.events import EVENT_ADAPTER

MINUTE_MS = 60_000
GPU, MAAS, STORAGE = "gpu-train-001", "maas-api-001", "storage-001"
FATES = ("dead", "duplicate", "accepted", "skipped")
"""What becomes of a hostile line: a dead letter with its reason; a duplicate of the clean
line it copies (counted once, nothing changes); accepted on purpose (counts where its time
says, moves no clock); skipped (a blank line of a file: no record at all)."""


@dataclass(frozen=True)
class Case:
    """One class of attack: ``lines[i]`` goes after clean line ``anchors[i]`` and must meet
    ``fates[i]``; a dead letter's error must contain ``reasons[i]`` (when not empty)."""

    name: str
    lines: tuple[bytes, ...]
    anchors: tuple[int, ...]
    fates: tuple[str, ...]
    reasons: tuple[str, ...]
    targets: frozenset[str] = frozenset()  # contracts whose non-money outputs may change
    note: str = ""

    def __post_init__(self) -> None:
        n = len(self.lines)
        assert n and len(self.anchors) == len(self.fates) == len(self.reasons) == n, self.name
        assert set(self.fates) <= set(FATES), self.name

    def sample(self, k: int, seed: int = 0) -> Case:
        """At most ``k`` of the lines (the same ones for the same seed), for a 1 % mix."""
        if len(self.lines) <= k:
            return self
        keep = sorted(random.Random(f"{seed}:{self.name}").sample(range(len(self.lines)), k))
        return Case(
            self.name,
            tuple(self.lines[i] for i in keep),
            tuple(self.anchors[i] for i in keep),
            tuple(self.fates[i] for i in keep),
            tuple(self.reasons[i] for i in keep),
            self.targets,
            self.note,
        )


@dataclass
class Stream:
    """The clean lines, decoded once, with helpers to find anchors in them."""

    lines: Sequence[bytes]
    events: list[dict[str, Any] | None] = field(init=False)

    def __post_init__(self) -> None:
        self.events = []
        for line in self.lines:  # the simulator's own malformed lines are no anchors
            try:
                EVENT_ADAPTER.validate_json(line)
            except ValidationError:
                self.events.append(None)
            else:
                self.events.append(orjson.loads(line))

    def ms(self, i: int) -> int:
        event = self.events[i]
        assert event is not None
        return parse_instant(event["event_time"])

    def find(
        self, contract: str, kind: str, *, source: str | None = None, frac: float = 0.5,
        where: Any = None,
    ) -> list[int]:  # fmt: skip
        """Indices of valid clean events of ``contract`` and ``kind`` from fraction ``frac``
        of the stream on (``where(event)`` filters further)."""
        start = int(len(self.lines) * frac)
        out = []
        for i in range(start, len(self.lines)):
            e = self.events[i]
            if e is None or e.get("contract_id") != contract or e.get("kind") != kind:
                continue
            if source is not None and e.get("source") != source:
                continue
            if where is not None and not where(e):
                continue
            out.append(i)
        return out

    def event(self, i: int) -> dict[str, Any]:
        event = self.events[i]
        assert event is not None
        return dict(event)


def _dumps(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def _with(event: dict[str, Any], raw: dict[str, bytes]) -> bytes:
    """``event`` as JSON with the fields of ``raw`` spliced in as raw JSON text (for values
    orjson will not write: ``NaN``, ``1e309``, invalid UTF-8, depth beyond its limit)."""
    body = _dumps({k: v for k, v in event.items() if k not in raw})[:-1]
    return body + b"".join(b',"' + k.encode() + b'":' + v for k, v in raw.items()) + b"}"


class _Builder:
    def __init__(self, stream: Stream, name: str, targets: Iterable[str] = (), note: str = ""):
        self.stream, self.name, self.targets, self.note = stream, name, frozenset(targets), note
        self.rows: list[tuple[bytes, int, str, str]] = []
        self.n = 0

    def add(self, line: bytes, anchor: int, fate: str = "dead", reason: str = "") -> None:
        self.rows.append((line, anchor, fate, reason))

    def new_id(self) -> str:
        self.n += 1
        return f"hostile-{self.name}-{self.n}"

    def case(self) -> Case:
        lines, anchors, fates, reasons = zip(*self.rows, strict=True)
        return Case(self.name, lines, anchors, fates, reasons, self.targets, self.note)


def _fresh(b: _Builder, i: int, **changes: Any) -> dict[str, Any]:
    """A copy of clean event ``i`` with a new event id and ``changes``."""
    return {**b.stream.event(i), "event_id": b.new_id(), **changes}


# --------------------------------------------------------------------------- the classes


def non_finite(s: Stream) -> Case:
    """Non-finite numbers in every spelling, in a latency and in gauges, tokens and kWh."""
    b = _Builder(s, "non_finite")
    req = s.find(MAAS, "request")[0]
    spellings: list[bytes] = [
        b'"Infinity"', b'"-Infinity"', b'"inf"', b'"+inf"', b'"-inf"', b'"INF"', b'"NaN"',
        b'"nan"', b'"-nan"', b"1e309", b"-1e309", b"NaN", b"Infinity", b"-Infinity",
        b'"1e309"', b'"infinity"',
    ]  # fmt: skip
    for text in spellings:
        b.add(_with(_fresh(b, req), {"latency_ms": text}), req, reason="latency_ms")
    net = s.find(GPU, "network")[0]
    energy = s.find(GPU, "energy", frac=0.0)[0]
    util = s.find(GPU, "utilization")[0]
    io = s.find(STORAGE, "storage_io")[0]
    for anchor, name in (
        (net, "throughput_mbps"), (net, "jitter_ms"), (net, "loss_ratio"),
        (energy, "total_kwh"), (energy, "it_kwh"), (util, "gpu"), (io, "read_mbps"),
        (req, "tokens_in"),
    ):  # fmt: skip
        for text in (b'"Infinity"', b"NaN", b"1e309", b'"inf"'):
            b.add(_with(_fresh(b, anchor), {name: text}), anchor, reason=name)
    return b.case()


def huge_gauges(s: Stream) -> Case:
    """Gauges far beyond any real value (throughput 1e13, kWh 1e300, counts 1e15)."""
    b = _Builder(s, "huge_gauges")
    net, util = s.find(GPU, "network")[0], s.find(GPU, "utilization")[0]
    energy, io = s.find(GPU, "energy", frac=0.0)[0], s.find(STORAGE, "storage_io")[0]
    for anchor, name, value in (
        (net, "throughput_mbps", 1e13), (net, "jitter_ms", 1e300), (net, "latency_ms", 1e12),
        (energy, "total_kwh", 1e300), (energy, "it_kwh", 1e300), (energy, "renewable_kwh", 1e20),
        (io, "read_mbps", 1e13), (io, "write_mbps", 1.7e308), (util, "tasks", 10**15),
        (util, "users", 2**63 - 1),
    ):  # fmt: skip
        b.add(_dumps(_fresh(b, anchor, **{name: value})), anchor, reason=name)
    return b.case()


def huge_tokens(s: Stream) -> Case:
    """Token counts near 2^63, which wrapped the 64-bit period sum into negative money."""
    b = _Builder(s, "huge_tokens")
    req = s.find(MAAS, "request")[0]
    for tin, tout in ((2**63 - 1, 2**63 - 1), (2**63 - 2, 1), (2**62, 2**62), (10**10, 0)):
        b.add(_dumps(_fresh(b, req, tokens_in=tin, tokens_out=tout)), req, reason="tokens_")
    b.add(_with(_fresh(b, req), {"tokens_in": b"18446744073709551616"}), req, reason="tokens_in")
    return b.case()


def negative(s: Stream) -> Case:
    """Negative latency, durations and quantities."""
    b = _Builder(s, "negative")
    req, io = s.find(MAAS, "request")[0], s.find(STORAGE, "storage_io")[0]
    net, energy = s.find(GPU, "network")[0], s.find(GPU, "energy", frac=0.0)[0]
    for anchor, name, value in (
        (req, "latency_ms", -5.0), (req, "latency_ms", -1e-9), (req, "tokens_in", -1),
        (req, "tokens_out", -(2**62)), (io, "latency_ms", -0.5), (io, "read_mbps", -1.0),
        (net, "jitter_ms", -1.0), (net, "throughput_mbps", -9000.0), (energy, "total_kwh", -1.0),
    ):  # fmt: skip
        b.add(_dumps(_fresh(b, anchor, **{name: value})), anchor, reason=name)
    return b.case()


def ratios(s: Stream) -> Case:
    """Ratios outside 0..1."""
    b = _Builder(s, "ratios")
    util, net = s.find(GPU, "utilization")[0], s.find(GPU, "network")[0]
    for anchor, name, value in (
        (util, "cpu", 1.5), (util, "gpu", 1.0000001), (util, "memory", -0.1),
        (util, "bandwidth", 100.0), (util, "storage", 2.0), (net, "loss_ratio", 2.0),
        (net, "loss_ratio", -0.01),
    ):  # fmt: skip
        b.add(_dumps(_fresh(b, anchor, **{name: value})), anchor, reason=name)
    return b.case()


def _night_requests(s: Stream) -> list[int]:
    """maas-api-001 requests outside its 5×8 service time (metered, never judged): at 03:xx
    local time, else on a weekend (the simulator writes local times with their offset)."""
    weekend = ("2026-10-31", "2026-11-01", "2026-11-07", "2026-11-08")
    night = s.find(MAAS, "request", frac=0.0, where=lambda e: "T03:" in e["event_time"])
    return night or s.find(
        MAAS, "request", frac=0.0, where=lambda e: e["event_time"][:10] in weekend
    )


def many_owners(s: Stream, owners: int = 20_000) -> Case:
    """20,000 distinct tenant/project ids in one period: one huge per-owner usage record.
    Valid requests, at night outside maas-api-001's 5×8 service time (metered, not judged), so
    only its usage may change."""
    b = _Builder(s, "many_owners", targets={MAAS}, note="accepted: metering only")
    anchor = _night_requests(s)[0]
    for k in range(owners):
        event = _fresh(b, anchor, tenant_id=f"t-{k:05d}", project_id=f"p-{k:05d}-hostile")
        b.add(_dumps(event), anchor, "accepted")
    return b.case()


def provider_probes_ahead(s: Stream, minutes: int = 120) -> Case:
    """Provider-sourced probes dated 9 minutes ahead, one a minute for two hours, for every
    contract (probes count from the platform only: dead letters)."""
    b = _Builder(s, "provider_probes_ahead")
    for cid in (GPU, MAAS, STORAGE):
        for i in s.find(cid, "probe", source="platform", frac=0.3)[:minutes]:
            t = utc_iso(s.ms(i) + 9 * MINUTE_MS)
            event = _fresh(b, i, source="provider", ok=True, event_time=t)
            b.add(_dumps(event), i, reason="source 'provider' does not count")
    return b.case()


def provider_io_ahead(s: Stream, samples: int = 60) -> Case:
    """Provider storage_io reports (which storage-001 counts) dated 9 minutes ahead: accepted
    where their time says, but they must not push the watermark (no breach or credit moves)."""
    b = _Builder(s, "provider_io_ahead", targets={STORAGE}, note="accepted, held back")
    for i in s.find(STORAGE, "storage_io", source="provider", frac=0.4)[:samples]:
        t = utc_iso(s.ms(i) + 9 * MINUTE_MS)
        b.add(_dumps(_fresh(b, i, event_time=t)), i, "accepted")
    return b.case()


def platform_probes_ahead(s: Stream, per_contract: int = 20) -> Case:
    """Platform probes (which count) dated 9 minutes ahead, scattered through the stream: a
    platform clock running fast. Accepted where their time says; the watermark moves by at
    most the contract's skew, so no other event becomes late and no money moves."""
    b = _Builder(s, "platform_probes_ahead", note="accepted, held back")
    for cid in (GPU, MAAS, STORAGE):
        found = s.find(cid, "probe", source="platform", frac=0.1)
        for i in found[:: max(1, len(found) // per_contract)][:per_contract]:
            t = utc_iso(s.ms(i) + 9 * MINUTE_MS)
            b.add(_dumps(_fresh(b, i, event_time=t, ok=True)), i, "accepted")
    return b.case()


def dated_now(s: Stream, now_ms: int) -> Case:
    """One platform probe per contract dated "now" (the engine clock) inside the historical
    stream: accepted, but it closes nothing early."""
    b = _Builder(s, "dated_now", targets={GPU, MAAS, STORAGE}, note="accepted, held back")
    for cid in (GPU, MAAS, STORAGE):
        i = s.find(cid, "probe", source="platform", frac=0.5)[0]
        b.add(_dumps(_fresh(b, i, event_time=utc_iso(now_ms))), i, "accepted")
    return b.case()


def customer_nodes(s: Stream) -> Case:
    """A customer inventing failures: node_state down for nodes that do not exist, with
    provider_id "x", and the same with the right provider id (customer node states do not
    count for gpu-train-001)."""
    b = _Builder(s, "customer_nodes")
    i = s.find(GPU, "probe", source="platform", frac=0.4)[0]
    base = {k: v for k, v in s.event(i).items() if k not in ("ok", "latency_ms")}
    for k in range(5):
        for provider, reason in (("x", "provider_id 'x'"), (base["provider_id"], "source")):
            event = {
                **base, "event_id": b.new_id(), "kind": "node_state", "state": "down",
                "source": "customer", "provider_id": provider,
                "resource_id": f"{GPU}/node/ghost-{k}", "reason": "customer says so",
            }  # fmt: skip
            b.add(_dumps(event), i, reason=reason)
    return b.case()


def wrong_provider(s: Stream) -> Case:
    """Valid-looking events of every contract under another provider's id."""
    b = _Builder(s, "wrong_provider")
    for cid in (GPU, MAAS, STORAGE):
        for i in s.find(cid, "probe", source="platform", frac=0.6)[:5]:
            b.add(_dumps(_fresh(b, i, provider_id="acme-cloud")), i, reason="is not the provider")
    return b.case()


def empty_lines(s: Stream) -> Case:
    """null, empty and white-space lines and values that are no event. In a file an empty
    line (and an empty array) is no record (skipped); a line of white space, like everything
    else here, is a dead letter."""
    b = _Builder(s, "empty_lines")
    i = len(s.lines) // 2
    for text in (b"", b"[]"):
        b.add(text, i, "skipped")
    for text in (b"   ", b"\t", b"\r", b" \t \r"):
        b.add(text, i, "dead", "")
    for text, reason in (
        (b"null", "expected a JSON object"), (b'""', "expected a JSON object"),
        (b"0", "expected a JSON object"), (b"true", "expected a JSON object"),
        (b"[null]", "expected a JSON object"), (b"{}", "missing required field"),
        (b'{"schema_version":1}', "missing required field"),
    ):  # fmt: skip
        b.add(text, i, "dead", reason)
    return b.case()


def non_utf8(s: Stream) -> Case:
    """Bytes that are not UTF-8, alone and inside an otherwise valid event; the dead letter
    must keep them (``raw_base64``)."""
    b = _Builder(s, "non_utf8")
    i = s.find(STORAGE, "probe", source="platform", frac=0.5)[0]
    b.add(b"\xff\xfe\x00garbage", i, reason="not valid JSON")
    b.add(_with(_fresh(b, i), {"resource_id": b'"vol\xc3\x28"'}), i)
    b.add(_with(_fresh(b, i), {"event_id": b'"caf\xe9"'}), i)
    b.add(_fresh_bytes(b, i).replace(b'"ok":true', b'"ok":true,"note":"\xed\xa0\x80"'), i)
    return b.case()


def _fresh_bytes(b: _Builder, i: int) -> bytes:
    return _dumps(_fresh(b, i))


def conflicting_duplicates(s: Stream) -> Case:
    """The same event id (same contract, provider, source) with a different payload, right
    after the original: a dead letter naming the first copy; the original counts."""
    b = _Builder(s, "conflicting_duplicates")
    for cid in (GPU, MAAS, STORAGE):
        for i in s.find(cid, "probe", source="platform", frac=0.45)[:4]:
            event = s.event(i)
            b.add(_dumps({**event, "ok": not event["ok"]}), i, reason="different payload")
    for i in s.find(MAAS, "request", frac=0.55)[:4]:
        event = s.event(i)
        b.add(_dumps({**event, "latency_ms": event["latency_ms"] + 1000}), i, reason="first copy")
    return b.case()


def unknown_contracts(s: Stream, ids: int = 2000) -> Case:
    """A flood of events naming contracts no rule file defines (state must not grow)."""
    b = _Builder(s, "unknown_contracts")
    i = s.find(STORAGE, "probe", source="platform", frac=0.5)[0]
    for k in range(ids):
        event = _fresh(b, i, contract_id=f"ghost-{k:05d}")
        b.add(_dumps(event), i, reason="unknown contract")
    return b.case()


def deep_nesting(s: Stream) -> Case:
    """Deeply nested JSON values in typed fields and in an unknown field; one beyond every
    parser's depth limit. A nested value in an unknown field of a copy of a clean line is
    ignored (tolerant reader): the copy is then a plain duplicate."""
    b = _Builder(s, "deep_nesting")
    i = s.find(STORAGE, "probe", source="platform", frac=0.5)[1]
    deep = b"[" * 100_000 + b"]" * 100_000
    b.add(_with(_fresh(b, i), {"latency_ms": deep}), i)
    b.add(_with(_fresh(b, i), {"ok": b'{"a":' * 200 + b"true" + b"}" * 200}), i, reason="ok")
    b.add(_with(_fresh(b, i), {"latency_ms": b"[" * 500 + b"1" + b"]" * 500}), i, reason="latency")
    b.add(_with(_fresh(b, i), {"extra": deep}), i)
    b.add(_with(s.event(i), {"extra": b"[" * 200 + b"]" * 200}), i, "duplicate")
    return b.case()


def long_strings(s: Stream, size: int = 1 << 20) -> Case:
    """Megabyte strings: in typed fields (dead), in unknown fields of a copy (a duplicate)."""
    b = _Builder(s, "long_strings")
    i = s.find(STORAGE, "probe", source="platform", frac=0.5)[2]
    big = "x" * size
    b.add(_dumps(_fresh(b, i, event_time=s.event(i)["event_time"] + big)), i, reason="event_time")
    b.add(_dumps(_fresh(b, i, kind=big)), i, reason="unknown kind")
    b.add(_dumps(_fresh(b, i, source=big)), i, reason="source")
    b.add(_dumps(_fresh(b, i, contract_id=big)), i, reason="contract_id")
    b.add(_dumps(_fresh(b, i, provider_id=big)), i, reason="provider_id")
    b.add(_dumps({**s.event(i), "comment": big}), i, "duplicate")
    return b.case()


def long_ids(s: Stream, size: int = 1 << 20) -> Case:
    """Identifiers longer than the 256 characters the v1 schema allows (``Ident``)."""
    b = _Builder(s, "long_ids")
    i = s.find(STORAGE, "probe", source="platform", frac=0.5)[3]
    req = _night_requests(s)[0]
    big = "y" * size
    b.add(_dumps(_fresh(b, i, event_id=f"long-{big}")), i, reason="event_id")
    b.add(_dumps(_fresh(b, i, resource_id=f"{STORAGE}/{big}")), i, reason="resource_id")
    b.add(_dumps(_fresh(b, req, tenant_id=big)), req, reason="tenant_id")
    b.add(_dumps(_fresh(b, req, project_id="p" * 300)), req, reason="project_id")
    return b.case()


_REQUIRED = ("schema_version", "event_id", "event_time", "provider_id", "contract_id",
             "resource_id", "source", "kind")  # fmt: skip


def wrong_types(s: Stream) -> Case:
    """A wrongly typed JSON value in every typed field of a probe, a request, a storage
    sample, utilisation, network and energy reading (a copy of a clean line with the same id:
    if a wrong value slipped through it would be a duplicate, never counted)."""
    b = _Builder(s, "wrong_types")
    samples = {
        "probe": s.find(STORAGE, "probe", source="platform", frac=0.5)[4],
        "request": s.find(MAAS, "request", frac=0.5)[0],
        "storage_io": s.find(STORAGE, "storage_io", frac=0.5)[0],
        "utilization": s.find(GPU, "utilization", frac=0.5)[0],
        "network": s.find(GPU, "network", frac=0.5)[0],
        "energy": s.find(GPU, "energy", frac=0.0)[0],
    }
    numbers = (b'"fast"', b"true", b"{}", b"[1]", b'"12abc"')
    for kind, i in samples.items():
        event = s.event(i)
        for name, value in event.items():
            if name in _REQUIRED or isinstance(value, str):
                continue
            if isinstance(value, bool):
                values: tuple[bytes, ...] = (b"1", b'"yes"', b"{}", b"[true]", b"null")
            else:
                values = numbers
            for text in values:
                optional = text == b"null" and name != "ok"
                reason = name if not optional else ""
                fate = "duplicate" if optional else "dead"
                if kind == "probe" and text == b"null":
                    reason = "ok"
                b.add(_with(event, {name: text}), i, fate, reason)
        for text in (b'"two"', b"1.5", b"true", b"null", b"[1]"):
            b.add(_with(event, {"schema_version": text}), i, reason="schema_version")
        for text in (b'"2026-13-45T00:00:00Z"', b'"2026-10-30T00:00:00"', b"1761782400000",
                     b'"yesterday"', b"null"):  # fmt: skip
            b.add(_with(event, {"event_time": text}), i, reason="event_time")
        for name in ("kind", "source"):
            for text in (b'"teleport"', b"null", b'""'):
                b.add(_with(event, {name: text}), i, reason=name)
    return b.case()


def wrong_types_in_strings(s: Stream) -> Case:
    """Non-string JSON values (number, boolean, object, array) in the string fields, which
    the v1 schema types as strings (``Ident``, ``str``)."""
    b = _Builder(s, "wrong_types_in_strings")
    i = s.find(STORAGE, "probe", source="platform", frac=0.5)[5]
    req = _night_requests(s)[1]
    for anchor, names in (
        (i, ("event_id", "resource_id")),
        (req, ("tenant_id", "project_id", "model")),
    ):
        for name in names:
            for text in (b"123", b"true", b'{"a":1}', b"[1,2]"):
                b.add(_with(_fresh(b, anchor), {name: text}), anchor, reason=name)
    return b.case()


def cases(clean: Sequence[bytes], now_ms: int, *, big: int = 1 << 20) -> list[Case]:
    """Every class of hostile input against ``clean`` (a stream of ``csla simulate``);
    ``big``: the length of the very long strings."""
    s = Stream(clean)
    return [
        non_finite(s), huge_gauges(s), huge_tokens(s), negative(s), ratios(s), many_owners(s),
        provider_probes_ahead(s), provider_io_ahead(s), platform_probes_ahead(s),
        dated_now(s, now_ms), customer_nodes(s),
        wrong_provider(s), empty_lines(s), non_utf8(s), conflicting_duplicates(s),
        unknown_contracts(s), deep_nesting(s), long_strings(s, big), long_ids(s, big), wrong_types(s),
        wrong_types_in_strings(s),
    ]  # fmt: skip


@dataclass(frozen=True)
class Placed:
    """Where a hostile line went in a mixed stream (0-based index) and what it must meet."""

    case: str
    index: int
    line: bytes
    fate: str
    reason: str


def mix(clean: Sequence[bytes], chosen: Iterable[Case]) -> tuple[list[bytes], list[Placed]]:
    """The clean lines with each case's lines right after their anchor line."""
    after: dict[int, list[tuple[Case, int]]] = {}
    for case in chosen:
        for k, anchor in enumerate(case.anchors):
            after.setdefault(anchor, []).append((case, k))
    out: list[bytes] = []
    placed: list[Placed] = []
    for i, line in enumerate(clean):
        out.append(line)
        for case, k in after.get(i, ()):
            placed.append(
                Placed(case.name, len(out), case.lines[k], case.fates[k], case.reasons[k])
            )
            out.append(case.lines[k])
    return out, placed


def write_ndjson(path: Any, lines: Iterable[bytes]) -> None:
    with open(path, "wb") as handle:
        for line in lines:
            handle.write(line + b"\n")


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


__all__ = ["FATES", "Case", "Placed", "Stream", "cases", "mix", "write_ndjson"]
