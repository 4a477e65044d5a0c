"""The facts: one more pass over the input, keeping only the events of one contract and period,
with lateness and duplicates decided here again (``_Facts``)."""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from engine.evidence.instants import (
    HOUR_MS,
    MINUTE_MS,
    _instant,
    _merge,
    _minus,
    _utc,
    _whole_minutes,
)
from engine.evidence.target import _Target

if TYPE_CHECKING:
    from engine.core.contract import Contract, ObjectiveRule, Ruleset

MAX_FUTURE_MS = 10 * MINUTE_MS
LIST_LIMIT = 20_000  # samples / minutes listed per span; every count stays complete
SHORT_LIST = 200  # late, duplicate and dead-letter events listed
AVAILABLE, UNAVAILABLE, NO_DATA = "available", "unavailable", "no data"
EXEMPT, OUTSIDE, NOT_EVALUATED = "exempt", "outside service time", "not evaluated"
_JUDGED = "judged"


@dataclass
class _Node:
    """One compute node: its last state before the period, and its transitions in it."""

    carried: tuple[int, int, str] | None = None  # (t, arrival, state)
    transitions: list[tuple[int, int, str, str]] = field(default_factory=list)  # + origin


class _Facts:
    """The events of one contract and period, with lateness and duplicates decided here again."""

    def __init__(
        self,
        ruleset: Ruleset,
        target: _Target,
        now_ms: int | None,
        dead: dict[tuple[str, str], str],
    ) -> None:
        from engine.core.calendar import service_intervals

        self.target = target
        self.cid = target.contract.id
        self._cid_bytes = orjson.dumps(self.cid)
        self.revisions = ruleset.revisions[self.cid]
        self._starts = [r.effective_from_ms for r in self.revisions]
        self.grace_ms = self.revisions[-1].grace_ms
        self.term = (self.revisions[0].term_start_ms, self.revisions[-1].term_end_ms)
        self.now_ms = now_ms
        self.dead = dead
        self.period = target.period
        p0, p1 = self.period
        cuts = sorted({p0, p1, *(s for s in self._starts if p0 < s < p1)})
        self.service: list[tuple[int, int]] = []
        for lo, hi in itertools.pairwise(cuts):
            revision = self.rev_at(lo)
            if revision is not None:
                self.service += service_intervals(revision.calendar, lo, hi)
        self.service = _merge(self.service)
        # Minutes are judged over the period and over any judged range beyond it (a breach
        # resolved in the next period): ``service`` stays the period's, for its figures.
        judged = list(self.service)
        lo = min([p0, *(a for a, _ in target.spans)])
        hi = max([p1, *(b for _, b in target.spans)])
        for a, b in ((lo, p0), (p1, hi)):
            edges = sorted({a, b, *(x for x in self._starts if a < x < b)})
            for x, y in itertools.pairwise(edges) if a < b else ():
                revision = self.rev_at(x)
                if revision is not None:
                    judged += service_intervals(revision.calendar, x, y)
        self._judged_service = _merge(judged)
        self._service_starts = [s for s, _ in self._judged_service]
        # streaming state
        self.max_seen: int | None = None
        self.first_ms: int | None = None
        self.seq = 0
        self._open: dict[tuple[Any, Any, Any], int] = {}  # dedup key -> minute (still open)
        self._open_by_minute: dict[int, list[tuple[Any, Any, Any]]] = {}
        self._pending: dict[int, list[tuple[int, str, float, str, str]]] = {}
        # facts
        self.probes: dict[int, list[int]] = {}  # minute -> [ok, n]
        self.requests: dict[int, list[int]] = {}  # minute -> [ok, n, tokens]
        self.nodes: dict[str, _Node] = {}
        self.notices: list[dict[str, Any]] = []
        self._exempt_spans: list[tuple[int, int, int]] = []  # start, end, announced
        self._exempt_cache: dict[tuple[int, int, int | None], list[tuple[int, int]]] = {}
        self.incidents: dict[str, dict[str, Any]] = {}
        self.stats: Counter[str] = Counter()
        self.late: list[dict[str, Any]] = []
        self.duplicates: list[dict[str, Any]] = []
        self.dead_seen: list[dict[str, Any]] = []
        # latency: samples listed per span; counters per record range and per period objective
        objective = target.objective
        self.latency_kind = objective.source if objective.sli == "latency" else None
        self.samples: list[list[dict[str, Any]]] = [[] for _ in target.spans]
        self.range_counts: list[Counter[float]] = [Counter() for _ in target.ranges]
        self.period_counts: dict[str, Counter[float]] = {}
        if target.kind == "compensation":
            for o in target.contract.objectives:
                if o.sli == "latency" and o.tiers:
                    self.period_counts[o.id] = Counter()
        self._kinds = {o.source for o in target.contract.objectives if o.id in self.period_counts}
        if self.latency_kind:
            self._kinds.add(self.latency_kind)

    # -- revisions, service time, exemptions

    def rev_at(self, t: int) -> Contract | None:
        index = bisect.bisect_right(self._starts, t) - 1
        return self.revisions[index] if index >= 0 else None

    def objective_at(self, t: int, objective_id: str) -> ObjectiveRule | None:
        revision = self.rev_at(t)
        if revision is None:
            return None
        return next((o for o in revision.objectives if o.id == objective_id), None)

    @property
    def observed_from(self) -> int | None:
        """Evaluation starts at the minute of the contract's earliest accepted event (README)."""
        if self.first_ms is None:
            return None
        return max(self.first_ms, self.term[0]) // MINUTE_MS * MINUTE_MS

    def exempt_spans(self, revision: Contract, as_of: int | None = None) -> list[tuple[int, int]]:
        """Whole exempt minutes; ``as_of``: only notices announced before that instant."""
        key = (revision.revision, len(self._exempt_spans), as_of)
        cached = self._exempt_cache.get(key)
        if cached is None:
            spans = [(s, e) for s, e, a in self._exempt_spans if as_of is None or a < as_of]
            spans += [(s, e) for s, e, _ in revision.force_majeure]
            cached = self._exempt_cache[key] = [_whole_minutes(s, e) for s, e in _merge(spans)]
        return cached

    def minute_status(self, m: int, as_of: int | None = None) -> str:
        revision = self.rev_at(m)
        first = self.observed_from
        if revision is None or first is None or m < first:
            return NOT_EVALUATED
        if not revision.term_start_ms <= m < revision.term_end_ms:
            return NOT_EVALUATED
        index = bisect.bisect_right(self._service_starts, m) - 1
        if index < 0 or m >= self._judged_service[index][1]:
            return OUTSIDE
        if any(s <= m < e for s, e in self.exempt_spans(revision, as_of)):
            return EXEMPT
        return _JUDGED

    def evaluated(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """Service time ∩ term ∩ observed − exemptions within [lo, hi), to the millisecond."""
        first = self.observed_from
        if first is None:
            return []
        out: list[tuple[int, int]] = []
        cuts = sorted({lo, hi, *(s for s in self._starts if lo < s < hi)})
        for a, b in itertools.pairwise(cuts):
            revision = self.rev_at(a)
            if revision is None:
                continue
            a2, b2 = max(a, first, revision.term_start_ms), min(b, revision.term_end_ms)
            if a2 >= b2:
                continue
            service = [(max(s, a2), min(e, b2)) for s, e in self.service if s < b2 and e > a2]
            out += _minus(service, self.exempt_spans(revision))
        return _merge(out)

    # -- the stream

    def feed(self, record: bytes, origin: str, shown: str | None = None) -> None:
        """One record in arrival order; ``origin`` as the replay named it, ``shown`` for people."""
        if self._cid_bytes not in record:
            return
        try:
            event = orjson.loads(record)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict) or event.get("contract_id") != self.cid:
            return
        self.stats["events"] += 1
        t = _instant(event.get("event_time"))
        reason = self.dead.get((origin, record.decode("utf-8", "replace")))
        origin = shown or origin
        if reason is None and t is None:
            reason = "event_time is not an RFC 3339 instant with an offset"
        # a node's last report before the term sets its state at the term start (README
        # "Nodes before the term"); any other event outside the term is a dead letter
        before_term = event.get("kind") == "node_state" and t is not None and t < self.term[0]
        outside = t is not None and not before_term and not self.term[0] <= t < self.term[1]
        if reason is None and outside:
            reason = "event_time is outside the contract term (§6.1.5)"
        ahead = t is not None and self.now_ms is not None and t > self.now_ms + MAX_FUTURE_MS
        if reason is None and ahead:
            reason = "event_time is more than 10 minutes ahead of the engine clock"
        if reason is not None or t is None:
            self.stats["dead_letters"] += 1
            if len(self.dead_seen) < SHORT_LIST:
                self.dead_seen.append(
                    {"origin": origin, "error": reason, "event_id": event.get("event_id")}
                )
            return
        minute = max(t, self.term[0]) // MINUTE_MS * MINUTE_MS  # (a report before the term)
        kind = event.get("kind")
        watermark = self.watermark()
        if watermark is not None and minute + MINUTE_MS <= watermark:
            self.stats["late"] += 1
            if self.period[0] <= t < self.period[1]:
                self.stats["late_in_period"] += 1
            if self._in_spans(t):
                self.stats["late_in_ranges"] += 1
                if len(self.late) < SHORT_LIST:
                    self.late.append(
                        {
                            "origin": origin,
                            "kind": kind,
                            "event_id": event.get("event_id"),
                            "event_time": _utc(t),
                            "watermark": _utc(watermark),
                            "lateness_ms": watermark - t,
                        }
                    )
            return
        key = (event.get("provider_id"), event.get("source"), event.get("event_id"))
        if key in self._open:
            self.stats["duplicates"] += 1
            if self._in_spans(t):
                self.stats["duplicates_in_ranges"] += 1
            if self._in_spans(t) and len(self.duplicates) < SHORT_LIST:
                self.duplicates.append(
                    {
                        "origin": origin,
                        "kind": kind,
                        "event_id": event.get("event_id"),
                        "event_time": _utc(t),
                    }
                )
            return
        self.stats["accepted"] += 1
        self.seq += 1
        self._open[key] = minute
        self._open_by_minute.setdefault(minute, []).append(key)
        self.first_ms = t if self.first_ms is None else min(self.first_ms, t)
        self.max_seen = t if self.max_seen is None else max(self.max_seen, t)
        self._accept(event, kind, t, minute, origin)
        new_watermark = self.watermark()
        if new_watermark is not None and new_watermark != watermark:
            self._close(new_watermark)

    def _in_spans(self, t: int) -> bool:
        return any(lo <= t < hi for lo, hi in self.target.spans)

    def watermark(self) -> int | None:
        if self.max_seen is None:
            return None
        return (self.max_seen - self.grace_ms) // MINUTE_MS * MINUTE_MS

    def _accept(self, event: dict[str, Any], kind: Any, t: int, minute: int, origin: str) -> None:
        p0, p1 = self.period
        in_period = p0 <= t < p1
        if kind == "probe" and in_period:
            row = self.probes.setdefault(minute, [0, 0])
            row[0] += _flag(event.get("ok"))
            row[1] += 1
        elif kind == "request" and in_period:
            row = self.requests.setdefault(minute, [0, 0, 0])
            row[0] += _flag(event.get("ok"))
            row[1] += 1
            row[2] += _int(event.get("tokens_in")) + _int(event.get("tokens_out"))
        elif kind == "node_state" and t < p1:
            node = self.nodes.setdefault(str(event.get("resource_id")), _Node())
            state = str(event.get("state"))
            if t < p0:
                if node.carried is None or (t, self.seq) > node.carried[:2]:
                    node.carried = (t, self.seq, state)
            else:
                node.transitions.append((t, self.seq, state, origin))
        elif kind == "maintenance":
            self._notice(event, t, origin)
        elif kind == "incident" and t < p1:
            self._incident(event, t)
        judged = in_period or self._in_spans(t)  # a range may reach past the period
        if judged and kind in self._kinds and event.get("latency_ms") is not None:
            latency = float(event["latency_ms"])
            ok = event.get("ok") is True or event.get("ok") == "true"
            item = (t, str(kind), latency, str(event.get("event_id")), origin, ok)
            self._pending.setdefault(minute, []).append(item)

    def _notice(self, event: dict[str, Any], t: int, origin: str) -> None:
        start, end = _instant(event.get("window_start")), _instant(event.get("window_end"))
        if start is None or end is None:
            return
        revision = self.rev_at(t) or self.revisions[0]
        notice_ms, required_ms = start - t, revision.maintenance_notice_ms
        source = event.get("source")
        if source not in revision.maintenance_sources:
            exempt = False
            reason = f"announced by {source}, not an allowed source"
        elif notice_ms < required_ms:
            exempt = False
            reason = (
                f"announced {notice_ms / HOUR_MS:.2f} h ahead; the contract requires "
                f"{required_ms / HOUR_MS:g} h (§6.1.13)"
            )
        else:
            exempt, reason = True, "planned downtime announced in time (§6.1.13)"
            self._exempt_spans.append((start, end, t))
        self.notices.append(
            {
                "maintenance_id": event.get("maintenance_id"),
                "source": source,
                "announced_ms": t,
                "start_ms": start,
                "end_ms": end,
                "notice_ms": notice_ms,
                "required_ms": required_ms,
                "exempt": exempt,
                "reason": reason,
                "origin": origin,
            }
        )

    def _incident(self, event: dict[str, Any], t: int) -> None:
        incident_id = str(event.get("incident_id"))
        if event.get("status") == "opened" and incident_id not in self.incidents:
            priority = (_int(event.get("impact")) or 1) * (_int(event.get("urgency")) or 1)
            self.incidents[incident_id] = {
                "incident_id": incident_id,
                "priority": priority,
                "opened_ms": t,
                "resolved_ms": None,
                "summary": event.get("summary"),
            }
        elif event.get("status") == "resolved" and incident_id in self.incidents:
            entry = self.incidents[incident_id]
            if entry["resolved_ms"] is None:
                entry["resolved_ms"] = t
            if t <= self.period[0]:  # over before the period: nothing to show or weigh
                del self.incidents[incident_id]

    def _close(self, watermark: int) -> None:
        """Minutes the watermark passed: forget their dedup keys, judge their latency samples."""
        for minute in [m for m in self._open_by_minute if m + MINUTE_MS <= watermark]:
            for key in self._open_by_minute.pop(minute):
                if self._open.get(key) == minute:
                    del self._open[key]
        for minute in sorted(m for m in self._pending if m + MINUTE_MS <= watermark):
            self._fold(minute, self._pending.pop(minute))

    def finish(self) -> None:
        for minute in sorted(self._pending):
            self._fold(minute, self._pending.pop(minute))

    def _fold(self, minute: int, items: list[tuple[int, str, float, str, str, bool]]) -> None:
        status = self.minute_status(minute)
        judged = status == _JUDGED
        target = self.target
        only_ok = target.objective.successful_only
        for t, kind, latency, event_id, origin, ok in items:
            # ``requests: successful``: a failed sample leaves the objective's percentile
            counted = judged and (ok or not only_ok)
            if kind == self.latency_kind:
                for index, (lo, hi) in enumerate(target.spans):
                    if lo <= minute < hi and len(self.samples[index]) < LIST_LIMIT:
                        self.samples[index].append(
                            {
                                "event_id": event_id,
                                "event_time": _utc(t),
                                "latency_ms": latency,
                                "counted": counted,
                                "minute_status": status,
                                "origin": origin,
                            }
                        )
                if counted:
                    for index, (lo, hi) in enumerate(target.ranges):
                        if lo <= minute < hi:
                            self.range_counts[index][latency] += 1
            if judged and self.period[0] <= minute < self.period[1]:
                for objective in target.contract.objectives:
                    counts = objective.id in self.period_counts and objective.source == kind
                    if counts and (ok or not objective.successful_only):
                        self.period_counts[objective.id][latency] += 1


def _flag(value: Any) -> int:
    return 1 if value is True or value == "true" else 0


def _int(value: Any) -> int:
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0
