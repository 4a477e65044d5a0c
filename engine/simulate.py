"""Seeded synthetic telemetry for the contracts of a ruleset (``csla simulate``, issue 2 §5).

``simulate`` yields v1 wire-format events (NDJSON lines, ``engine.models.events``) in roughly
arrival order, one minute of event time after another. What each contract gets follows its
objectives: platform probes for service availability, API calls for latency and error rate,
``storage_io`` samples for storage latency, ``node_state`` changes for node availability, MTTR
and failure counts; every contract also gets utilisation samples, daily energy readings,
incidents around outages and three maintenance notices (§6.1.13): one announced in time, one
announced too late, one that overruns its window. ``scenario`` returns that plan, so the
outcome of a run can be told without replaying it.

With ``faults`` on, service outages and latency spikes are added, and the stream itself is
spoiled at low seeded rates: late lines (10–60 min), lines out of order by two minutes,
duplicates and malformed lines. Pure: time and randomness come from the arguments only.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import NormalDist
from zoneinfo import ZoneInfo

import orjson

from engine.core.calendar import local_iso, service_intervals, utc_iso
from engine.core.contract import Contract, Ruleset
from engine.core.gauges import GAUGES

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
NODE_SLIS = frozenset({"node_availability", "mttr", "mtbf", "failure_count", "max_recovery"})
FAULT_RATES = {"malformed": 50, "duplicate": 500, "late": 200, "out_of_order": 300}  # per 1M
MALFORMED = ("not_json", "wrong_type", "no_offset", "unknown_contract")
CONTROL = ('"kind":"node_state"', '"kind":"maintenance"', '"kind":"incident"', '"kind":"energy"')
MODELS = (("qwen2.5-72b-instruct", 180.0, 17), ("bge-m3", 25.0, 3))  # median latency ms, weight
TABLE = 4096  # quantile tables: per-event randomness is one index draw into a shared table
TENANTS = (("t-retail", "p-chatbot"), ("t-retail", "p-search"), ("t-risk", "p-review"))


@dataclass(frozen=True, slots=True)
class Episode:
    """One planned happening: ``kind`` is maintenance (announced window), outage (probes
    fail), latency_spike, node_down or node_degraded; ``[start_ms, end_ms)``."""

    contract_id: str
    kind: str
    start_ms: int
    end_ms: int
    resource_id: str = ""
    announced_ms: int | None = None
    note: str = ""
    exempt: bool = False


def _shape(contract: Contract) -> tuple[set[str], list[str], list[str]]:
    """(event kinds measured by latency objectives, endpoints probed, nodes) of a contract."""
    slis = {o.sli for o in contract.objectives}
    sources = {o.source for o in contract.objectives if o.sli == "latency"}
    sources |= {"request"} if "error_rate" in slis else set()
    sources |= {GAUGES[s].kind for s in slis if s in GAUGES} & {"network", "storage_io"}
    if slis & NODE_SLIS:
        return sources, ["scheduler", "login"], [f"n{i:02d}" for i in range(1, 9)]
    endpoint = "api" if "request" in sources else "nfs" if "storage_io" in sources else "portal"
    return sources, [endpoint], []


def scenario(
    ruleset: Ruleset, *, start_ms: int, days: float, seed: int = 7, faults: bool = True
) -> list[Episode]:
    """The planned episodes of every contract, sorted by contract and start."""
    start_ms, end_ms = _span(start_ms, days)
    out = [
        e for c in _contracts(ruleset, start_ms) for e in _plan(c, start_ms, end_ms, seed, faults)
    ]
    return sorted(out, key=lambda e: (e.contract_id, e.start_ms, e.kind))


def _span(start_ms: int, days: float) -> tuple[int, int]:
    start_ms -= start_ms % MINUTE_MS
    return start_ms, start_ms + int(days * DAY_MS) // MINUTE_MS * MINUTE_MS


def _contracts(ruleset: Ruleset, t_ms: int) -> list[Contract]:
    found = (ruleset.at(cid, t_ms) or ruleset.latest(cid) for cid in ruleset.contract_ids)
    return [c for c in found if c is not None]


def _plan(contract: Contract, start: int, end: int, seed: int, faults: bool) -> list[Episode]:
    rng = random.Random(f"{seed}:{contract.id}:plan")
    cid, span, svc = contract.id, end - start, f"{contract.id}/service"
    sources, _, nodes = _shape(contract)
    service = service_intervals(contract.calendar, start, end + 30 * DAY_MS)
    eps: list[Episode] = []
    busy: list[tuple[int, int]] = []

    def slot(after: int, duration: int) -> int | None:
        """The first free start in service time at or after ``after`` that fits ``duration``."""
        for lo, hi in service:
            t = -(-max(after, lo + HOUR_MS) // (10 * MINUTE_MS)) * (10 * MINUTE_MS)
            while t + duration + 30 * MINUTE_MS <= hi:
                if not any(t < b + HOUR_MS and a < t + duration + HOUR_MS for a, b in busy):
                    busy.append((t, t + duration))
                    return t
                t += HOUR_MS
        return None

    def at(fraction: float) -> int:
        return start + int(span * fraction) // MINUTE_MS * MINUTE_MS

    # three maintenance notices (§6.1.13): in time, too late, in time but overrunning
    jitter = [int(rng.random() * 120) * MINUTE_MS for _ in range(2)]
    plans = (  # name, announced (None: lead before the window), lead, earliest, minutes, overrun
        ("mw-early", at(0.05) + jitter[0], 96 * HOUR_MS, at(0.25), 60, 0),
        ("mw-late", None, 2 * HOUR_MS, at(0.45), 45, 0),
        ("mw-overrun", at(0.35) + jitter[1], 96 * HOUR_MS, at(0.7), 60, 40),
    )
    for name, announced, lead, earliest, minutes, overrun in plans:
        first = earliest if announced is None else max(earliest, announced + lead)
        t = slot(first + int(rng.random() * 6) * HOUR_MS, (minutes + overrun) * MINUTE_MS)
        if t is None:
            continue
        ann = t - lead if announced is None else announced
        w_end, mid = t + minutes * MINUTE_MS, f"{cid}-{name}"
        eps.append(Episode(cid, "maintenance", t, w_end, svc, ann, mid, announced is not None))
        eps.append(Episode(cid, "outage", t, w_end, svc, None, mid, announced is not None))
        if overrun:
            o_end = w_end + overrun * MINUTE_MS
            eps.append(Episode(cid, "outage", w_end, o_end, svc, None, f"{mid} overrun"))
    if faults:
        count = max(1, round(span / (10 * DAY_MS)))
        for _ in range(count):
            minutes = 8 + int(rng.random() * 23)
            t = slot(at(0.02 + rng.random() * 0.9), minutes * MINUTE_MS)
            if t is not None:
                eps.append(
                    Episode(cid, "outage", t, t + minutes * MINUTE_MS, svc, None, "unplanned")
                )
        if sources & {"request", "storage_io"}:
            for _ in range(count):
                t = slot(at(0.02 + rng.random() * 0.9), 30 * MINUTE_MS)
                if t is not None:
                    eps.append(Episode(cid, "latency_spike", t, t + 30 * MINUTE_MS, svc))
    if nodes:
        down: dict[str, list[tuple[int, int]]] = {}
        kinds = ["node_down"] * max(1, round(span * 4 / (30.5 * DAY_MS)))
        kinds += ["node_degraded"] * (span >= 7 * DAY_MS)
        for kind in kinds:
            for _ in range(20):
                node = nodes[int(rng.random() * len(nodes))]
                t = start + HOUR_MS + int(rng.random() * max(span - 2 * HOUR_MS, 1)) // 1000 * 1000
                mins = 10 + rng.random() * (290 if kind == "node_down" else 50)
                e = t + int(mins * MINUTE_MS) // 1000 * 1000
                if not any(t < b + HOUR_MS and a < e + HOUR_MS for a, b in down.get(node, [])):
                    down.setdefault(node, []).append((t, e))
                    eps.append(Episode(cid, kind, t, e, f"{cid}/node/{node}"))
                    break
    return eps


_ts = local_iso


def _inside(bounds: list[int], t: float) -> bool:
    """Whether ``t`` is in one of the half-open spans ``[b0, b1), [b2, b3), …`` (sorted)."""
    return bisect_right(bounds, t) % 2 == 1


def _bounds(spans: list[tuple[int, int]]) -> list[int]:
    out: list[int] = []
    for a, b in sorted(spans):
        if out and a <= out[-1]:
            out[-1] = max(out[-1], b)
        else:
            out += [a, b]
    return out


class _Tables:
    """Pre-formatted JSON tails from quantile tables, shared by every contract of a run."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(f"{seed}:tables")
        q = [(k + 0.5) / TABLE for k in range(TABLE)]
        z = [NormalDist().inv_cdf(p) for p in q]
        self.gap = [-math.log(1.0 - p) for p in q]  # Exp(1) quantiles: Poisson arrivals
        shuffled = q[:]
        rng.shuffle(shuffled)
        self.request = {
            slow: [
                [
                    f'"ok":true,"status":200,"latency_ms":{median * math.exp(0.4 * zk) * slow:.1f},'
                    f'"tokens_in":{40 + int(u * 1900)},"tokens_out":{int(20 + u * 700) * (median > 100)}}}'
                    for zk, u in zip(z, shuffled, strict=True)
                ]
                for _, median, _ in MODELS
            ]
            for slow in (1.0, 5.0)
        }
        rng.shuffle(shuffled)
        self.io = {
            slow: [
                f'"read_mbps":{800 + 1600 * u:.1f},"write_mbps":{300 + 900 * (1 - u):.1f},'
                f'"latency_ms":{4.0 * math.exp(0.5 * zk) * slow:.2f}}}'
                for zk, u in zip(z, shuffled, strict=True)
            ]
            for slow in (1.0, 6.0)
        }
        self.sec = [f"{s:02d}" for s in range(60)]
        self.secms = [f"{ms // 1000:02d}.{ms % 1000:03d}" for ms in range(MINUTE_MS)]
        self.probe = [f'"ok":true,"latency_ms":{12 + 30 * u:.1f}}}' for u in q[::16]]
        self.down = [f'"ok":false,"status":503,"latency_ms":{2 + 8 * u:.1f}}}' for u in q[::16]]


class _Gen:
    """The event generator of one contract: rare events prepared, telemetry per minute."""

    def __init__(
        self, c: Contract, eps: list[Episode], span: tuple[int, int], seed: int, every_s: int,
        rate: float, tables: _Tables,
    ) -> None:  # fmt: skip
        start, end = span
        self.cid, self.tz, self.tables, cid = c.id, c.tz, tables, c.id
        self.rng = random.Random(f"{seed}:{cid}:data")
        self.pid = pid = c.provider_id
        sources, endpoints, self.nodes = _shape(c)
        self.slis = {o.sli for o in c.objectives}
        self.every_ms = every_s * 1000

        def head(kind: str, source: str, resource: str, extra: str = "") -> str:
            return (
                f'{{"schema_version":1,"kind":"{kind}","provider_id":"{pid}","contract_id":"{cid}",'
                f'"resource_id":"{cid}/{resource}","source":"{source}",{extra}"event_id":"{cid}-'
                f"{kind}-"
            )

        self.probes = [head("probe", "platform", f"endpoint/{name}") for name in endpoints]
        self.probe_at = [start + (7 + 17 * i) % every_s * 1000 for i in range(len(endpoints))]
        self.req_gap = MINUTE_MS / rate if "request" in sources and rate > 0 else 0.0
        self.io_gap = 3 * MINUTE_MS / rate if "storage_io" in sources and rate > 0 else 0.0
        self.req_heads = [  # 3 tenants × (17 chat : 3 embedding calls)
            (head("request", "customer", "endpoint/api",
                  f'"tenant_id":"{t}","project_id":"{p}","model":"{m}",'), i)
            for t, p in TENANTS for i, (m, _, weight) in enumerate(MODELS) for _ in range(weight)
        ]  # fmt: skip
        self.io_heads = [head("storage_io", "provider", f"volume/vol{v}") for v in ("01", "02")]
        self.net = head("network", "platform", "link/wan") if "network" in sources else ""
        nodes = [f"node/{n}" for n in self.nodes] or [f"pool/{endpoints[0]}"]
        self.util = [head("utilization", "platform", r) for r in nodes]
        self.service = _bounds(service_intervals(c.calendar, start, end))
        self.outages = _bounds([(e.start_ms, e.end_ms) for e in eps if e.kind == "outage"])
        self.spikes = _bounds([(e.start_ms, e.end_ms) for e in eps if e.kind == "latency_spike"])
        self.node_down = [
            _bounds([(e.start_ms, e.end_ms) for e in eps
                     if e.kind == "node_down" and e.resource_id == f"{cid}/{r}"])
            for r in nodes
        ]  # fmt: skip
        self.n = self.rare_i = 0
        self.next_req = self.next_io = 0.0
        self.rare = self._rare(eps, start, end)

    def _event(self, kind: str, t: int, resource: str, **fields: object) -> tuple[int, str]:
        self.n += 1
        body = {"schema_version": 1, "event_id": f"{self.cid}-{kind}-{self.n}",
                "event_time": _ts(t, self.tz), "provider_id": self.pid, "contract_id": self.cid,
                "resource_id": resource, "source": "provider", "kind": kind, **fields}  # fmt: skip
        return t, orjson.dumps(body).decode()

    def _rare(self, eps: list[Episode], start: int, end: int) -> list[tuple[int, str]]:
        rng, tz, cid, ev = self.rng, self.tz, self.cid, self._event
        out = [ev("node_state", start, f"{cid}/node/{n}", state="up") for n in self.nodes]
        for e in eps:
            if e.kind == "maintenance":
                assert e.announced_ms is not None
                out.append(ev("maintenance", e.announced_ms, e.resource_id, maintenance_id=e.note,
                              window_start=_ts(e.start_ms, tz), window_end=_ts(e.end_ms, tz)))  # fmt: skip
                continue
            if e.kind in ("node_down", "node_degraded"):
                state, why = ("down", "GPU Xid 79: fallen off the bus") if e.kind == "node_down" else (
                    "degraded", "NVLink errors, running at reduced bandwidth")  # fmt: skip
                out.append(ev("node_state", e.start_ms, e.resource_id, state=state, reason=why))
                out.append(ev("node_state", e.end_ms, e.resource_id, state="up", reason="repaired"))
            if e.kind == "node_down" or (e.kind == "outage" and not e.exempt):
                iid = f"{cid}-INC-{len(out):04d}"
                opened = e.start_ms + (60 + int(rng.random() * 180)) * 1000
                impact, urgency, text = (
                    (2, 3, f"node {e.resource_id} down")
                    if e.kind == "node_down"
                    else (3, 4, "service endpoints unreachable")
                )
                out.append(ev("incident", opened, e.resource_id, incident_id=iid, status="opened",
                              impact=impact, urgency=urgency, summary=text))  # fmt: skip
                closed = e.end_ms + (60 + int(rng.random() * 240)) * 1000
                out.append(ev("incident", closed, e.resource_id, incident_id=iid, status="resolved"))  # fmt: skip
        zone, units = ZoneInfo(tz), max(1, len(self.nodes))
        day = datetime.fromtimestamp(start / 1000, zone).date()
        while True:
            lo = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)
            day += timedelta(days=1)
            hi = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)
            if hi + 5 * MINUTE_MS >= end:
                break
            it = round(units * 9.5 * (hi - lo) / HOUR_MS * (0.8 + 0.2 * rng.random()), 1)
            total = round(it * 1.25, 1)
            out.append(ev("energy", hi + 5 * MINUTE_MS, f"{cid}/site", period_start=_ts(lo, tz),
                          period_end=_ts(hi, tz), total_kwh=total, it_kwh=it,
                          renewable_kwh=round(it * 0.4, 1), grid_kwh=total,
                          self_kwh=round(total * 0.05, 1), green_kwh=round(total * 0.2, 1)))  # fmt: skip
            if "provisioning_time" in self.slis:  # a node requested each morning
                ready = lo + 10 * HOUR_MS + int(rng.random() * HOUR_MS)
                took = (90 + int(rng.random() * 420)) * 1000
                out.append(ev("provisioning", ready, f"{cid}/node/new", ok=True,
                              requested_at=_ts(ready - took, tz), completed_at=_ts(ready, tz)))  # fmt: skip
            for direction, hour in (("out", 14), ("in", 22)):
                if f"scale_{direction}_time" in self.slis:
                    done = lo + hour * HOUR_MS + int(rng.random() * HOUR_MS)
                    took = (120 + int(rng.random() * 600)) * 1000
                    out.append(ev("scaling", done, f"{cid}/pool", direction=direction, nodes=4,
                                  requested_at=_ts(done - took, tz), completed_at=_ts(done, tz)))  # fmt: skip
        return sorted(o for o in out if start <= o[0] < end)

    def minute(self, m: int, out: list[str], utc: str, local: str, off: str) -> None:
        """Append the events of event-time minute ``[m, m + 1 min)``."""
        end, rnd, tables, gap = m + MINUTE_MS, self.rng.random, self.tables, self.tables.gap
        sec, secms, every = tables.sec, tables.secms, self.every_ms
        rare, n = self.rare, self.n
        while self.rare_i < len(rare) and rare[self.rare_i][0] < end:
            out.append(rare[self.rare_i][1])
            self.rare_i += 1
        down, spike = _inside(self.outages, m), _inside(self.spikes, m)
        for j, head in enumerate(self.probes):
            at = self.probe_at[j]
            while at < end:
                n += 1
                ts = f"{utc}{sec[(at - m) // 1000]}Z"
                tail = '"ok":false}' if down else tables.probe[int(rnd() * 256)]
                out.append(f'{head}{n}","event_time":"{ts}",{tail}')
                at += every
            self.probe_at[j] = at
        if self.req_gap:
            mean = self.req_gap * (1.0 if _inside(self.service, m) else 10.0)
            t = self.next_req if self.next_req >= m else m + gap[int(rnd() * TABLE)] * mean
            heads, err = self.req_heads, 0.02 if spike else 0.00005
            req_tails = tables.request[5.0 if spike else 1.0]
            while t < end:
                n += 1
                head, model = heads[int(rnd() * 60)]
                k = int(rnd() * TABLE)
                if down:
                    tail = tables.down[k >> 4]
                else:
                    tail = req_tails[model][k]
                    if rnd() < err:  # 500s, or gateway timeouts in a latency spike
                        tail = tail.replace(
                            'true,"status":200', f'false,"status":{500 + 4 * spike}'
                        )
                out.append(f'{head}{n}","event_time":"{local}{secms[int(t) - m]}{off}",{tail}')
                t += gap[int(rnd() * TABLE)] * mean
            self.next_req = t
        if self.io_gap and not down:
            t = self.next_io if self.next_io >= m else m + gap[int(rnd() * TABLE)] * self.io_gap
            io_heads, tails = self.io_heads, tables.io[6.0 if spike else 1.0]
            while t < end:
                n += 1
                ts = f"{local}{secms[int(t) - m]}{off}"
                out.append(f'{io_heads[rnd() < 0.5]}{n}","event_time":"{ts}",{tails[int(rnd() * TABLE)]}')  # fmt: skip
                t += gap[int(rnd() * TABLE)] * self.io_gap
            self.next_io = t
        if self.net:
            n += 1
            out.append(f'{self.net}{n}","event_time":"{local}30{off}","latency_ms":{18 + 6 * rnd():.1f},"jitter_ms":{rnd():.2f},"loss_ratio":0.0,"throughput_mbps":{9000 + 900 * rnd():.0f}}}')  # fmt: skip
        if m % (5 * MINUTE_MS) == 0:
            for i, head in enumerate(self.util):
                n += 1
                gpu = 0.0 if _inside(self.node_down[i], m) else 0.55 + 0.4 * rnd()
                out.append(f'{head}{n}","event_time":"{local}{sec[40 + i]}{off}","cpu":{0.2 + 0.5 * rnd():.3f},"gpu":{gpu:.3f},"memory":{0.3 + 0.5 * rnd():.3f},"storage":0.610,"bandwidth":{0.1 + 0.5 * rnd():.3f}}}')  # fmt: skip
        self.n = n


class _Faults:
    """Spoils the stream at seeded rates: late, out-of-order, duplicate and malformed lines."""

    def __init__(self, seed: int, gens: list[_Gen]) -> None:
        self.rng, self.gens = random.Random(f"{seed}:faults"), gens
        self.done = dict.fromkeys(FAULT_RATES, 0)
        self.next = {k: self._gap(k) for k in FAULT_RATES}
        self.count = 0

    def _gap(self, kind: str) -> int:
        warm = len(MALFORMED) if kind == "malformed" else 1
        if self.done[kind] < warm:  # the first of each kind come early, so short runs show them
            return 200 + int(self.rng.random() * 3000)
        return int(1e6 / FAULT_RATES[kind] * (0.5 + self.rng.random()))

    def apply(self, fresh: list[str], m: int, pending: dict[int, list[str]]) -> list[str]:
        """Spoil the lines of minute ``m``; moved lines go to ``pending[arrival minute]``."""
        n0, moved, extra = self.count, set[int](), list[str]()
        self.count += len(fresh)
        for kind in FAULT_RATES:
            while self.next[kind] < self.count:
                i = self.next[kind] - n0
                self.done[kind] += 1
                self.next[kind] += self._gap(kind)
                if kind == "malformed":
                    extra.append(self._malformed(m, self.done[kind] - 1))
                    continue
                # only telemetry samples, so that the scenario's control events stay as planned
                while i < len(fresh) and (i in moved or any(c in fresh[i] for c in CONTROL)):
                    i += 1
                if i >= len(fresh):
                    continue
                # arrival: duplicates this minute or the next, out of order +2, late +11…60
                if kind == "duplicate":
                    delay = int(self.rng.random() < 0.5)
                else:
                    moved.add(i)
                    delay = 2 if kind == "out_of_order" else 11 + int(self.rng.random() * 50)
                pending.setdefault(m + delay * MINUTE_MS, []).append(fresh[i])
        if moved:
            fresh = [x for i, x in enumerate(fresh) if i not in moved]
        return fresh + extra if extra else fresh

    def _malformed(self, m: int, k: int) -> str:
        g = self.gens[int(self.rng.random() * len(self.gens))]
        what = MALFORMED[k % len(MALFORMED)]
        t = utc_iso(m + int(self.rng.random() * 59) * 1000)
        ident = f'"schema_version":1,"event_id":"{g.cid}-malformed-{k}","kind":"probe"'
        if what == "not_json":
            return f'{{{ident},"event_time":"{t}","ok":tru'
        cid = "no-such-contract" if what == "unknown_contract" else g.cid
        t = t.removesuffix("Z") if what == "no_offset" else t
        ok = '"yes"' if what == "wrong_type" else "true"
        return (
            f'{{{ident},"event_time":"{t}","provider_id":"{g.pid}","contract_id":"{cid}",'
            f'"resource_id":"{g.cid}/endpoint/probe","source":"platform","ok":{ok}}}'
        )


def simulate(
    ruleset: Ruleset,
    *,
    start_ms: int,
    days: float,
    seed: int = 7,
    probe_every_s: int = 60,
    request_rate_per_min: float = 30.0,
    faults: bool = True,
) -> Iterator[bytes]:
    """NDJSON lines (no trailing newline) of every contract in ``ruleset`` for ``days`` from
    ``start_ms`` (floored to the minute). ``request_rate_per_min`` is the API call rate in
    service time (a tenth of it outside); storage I/O samples come at a third of it."""
    start_ms, end_ms = span = _span(start_ms, days)
    shared = (seed, probe_every_s, request_rate_per_min, _Tables(seed))
    gens = [
        _Gen(c, _plan(c, *span, seed, faults), span, *shared) for c in _contracts(ruleset, start_ms)
    ]
    zones = {tz: ZoneInfo(tz) for tz in {g.tz for g in gens}}
    spoil = _Faults(seed, gens) if faults else None
    pending: dict[int, list[str]] = {}
    for m in range(start_ms, end_ms, MINUTE_MS):
        utc = utc_iso(m)[:17]
        stamps = {}
        for tz, zone in zones.items():
            local = datetime.fromtimestamp(m / 1000, zone).isoformat(timespec="seconds")
            stamps[tz] = (local[:17], local[19:])
        batch: list[str] = []
        for g in gens:
            local, off = stamps[g.tz]
            g.minute(m, batch, utc, local, off)
        if spoil is not None:
            batch = spoil.apply(batch, m, pending)
        batch.extend(pending.pop(m, ()))
        if batch:
            yield from "\n".join(batch).encode().split(b"\n")
    for m in sorted(pending):
        yield from (line.encode() for line in pending[m])


__all__ = ["FAULT_RATES", "Episode", "scenario", "simulate"]
