"""Evidence packs for disputes (§6.2.6): the facts behind one breach or compensation record,
and a recomputation of its value from those facts, as a self-contained JSON + HTML pack.

``build_evidence`` replays the input through the engine to find the record, then reads the
input once more, keeping only the events of that contract and assessment period, and
recomputes the value with plain Python: each minute's probes and verdict, node-state
transitions and failures, the latency samples and their exact nearest-rank percentile, the
requests of the window, and for a compensation the fee, tier, credit and cap in ``Decimal``.
None of the engine's accumulators are read.  Two of the engine's decisions about the input are
taken as facts and shown: which lines were dead letters (their ``origin``), and — recomputed
here and compared — which events were late.
"""

from __future__ import annotations

import bisect
import difflib
import html
import itertools
import json
import math
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import orjson
import typer

if TYPE_CHECKING:
    from engine.core.contract import Contract, ObjectiveRule, Ruleset

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
MAX_FUTURE_MS = 10 * MINUTE_MS
LATENCY_REL_TOLERANCE = 0.005  # the engine reports histogram buckets (README, latency)
FLOAT_REL_TOLERANCE = 1e-9  # same formula on the same integers: equal up to float noise
LIST_LIMIT = 20_000  # samples / minutes listed per span; every count stays complete
SHORT_LIST = 200  # late, duplicate and dead-letter events listed
AVAILABLE, UNAVAILABLE, NO_DATA = "available", "unavailable", "no data"
EXEMPT, OUTSIDE, NOT_EVALUATED = "exempt", "outside service time", "not evaluated"
_JUDGED = "judged"
_ROUNDING = {"half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "down": ROUND_DOWN}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EvidenceError(ValueError):
    """The record cannot be explained: unknown id, or its contract revision is not in the rules."""


# --- time ----------------------------------------------------------------------------------------


def _utc(ms: int) -> str:
    """``2026-10-12T06:30:00Z``, with milliseconds only when there are some (as the engine)."""
    instant = _EPOCH + timedelta(milliseconds=ms)
    text = instant.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.removesuffix("+00:00") + "Z"


def _local(ms: int, tz: str) -> str:
    local = (_EPOCH + timedelta(milliseconds=ms)).astimezone(ZoneInfo(tz))
    return local.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")


def _show(ms: int, tz: str) -> str:
    """Short local wall time for people: ``2026-10-12 14:30`` (seconds only when not zero)."""
    local = (_EPOCH + timedelta(milliseconds=ms)).astimezone(ZoneInfo(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S" if local.second else "%Y-%m-%d %H:%M")


def _instant(value: Any) -> int | None:
    """RFC 3339 with an offset → epoch ms, or None."""
    from engine.core.calendar import parse_instant

    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            return None
        return (parsed - _EPOCH) // timedelta(milliseconds=1)


def _span(lo: int, hi: int, tz: str) -> dict[str, Any]:
    return {
        "start": _utc(lo),
        "end": _utc(hi),
        "start_local": _local(lo, tz),
        "end_local": _local(hi, tz),
    }


# --- interval arithmetic (half-open [start, end) ms) ---------------------------------------------


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _minus(base: list[tuple[int, int]], cuts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in base:
        pieces = [(start, end)]
        for cut_start, cut_end in cuts:
            pieces = [
                piece
                for s, e in pieces
                for piece in ((s, min(e, cut_start)), (max(s, cut_end), e))
                if piece[1] > piece[0]
            ]
        out.extend(pieces)
    return out


def _overlap(spans: list[tuple[int, int]], lo: int, hi: int) -> int:
    return sum(max(0, min(e, hi) - max(s, lo)) for s, e in spans)


def _whole_minutes(start: int, end: int) -> tuple[int, int]:
    """An exemption covers only the minutes inside it entirely (README, evaluated time)."""
    return (-(-start // MINUTE_MS) * MINUTE_MS, end // MINUTE_MS * MINUTE_MS)


# --- which record ------------------------------------------------------------------------------


@dataclass
class _Target:
    kind: str  # "breach" | "compensation"
    records: list[dict[str, Any]]
    contract: Contract
    objective: ObjectiveRule
    period: tuple[int, int]
    ranges: list[tuple[int, int]]  # per record: the range its value was judged over
    spans: list[tuple[int, int]] = field(default_factory=list)  # the ranges merged

    def __post_init__(self) -> None:  # overlapping ranges merge; adjacent windows stay apart
        for start, end in sorted(self.ranges):
            if self.spans and start < self.spans[-1][1]:
                self.spans[-1] = (self.spans[-1][0], max(self.spans[-1][1], end))
            else:
                self.spans.append((start, end))


def _locate(
    ruleset: Ruleset,
    breaches: list[dict[str, Any]],
    comps: list[dict[str, Any]],
    record_id: str,
    input_path: str,
) -> _Target:
    from engine.core.calendar import period_containing

    records = [c for c in comps if c["compensation_id"] == record_id][:1]
    kind = "compensation"
    if not records:
        records, kind = [b for b in breaches if b["breach_id"] == record_id], "breach"
    if not records:
        known = sorted({b["breach_id"] for b in breaches} | {c["compensation_id"] for c in comps})
        close = difflib.get_close_matches(record_id, known, n=3, cutoff=0.6)
        hint = (
            f"did you mean {', '.join(close)}?"
            if close
            else "ids look like comp:<contract>:<objective>:<period start>:r<revision> or "
            "breach:<contract>:<objective>:<window start>:r<revision>"
        )
        raise EvidenceError(
            f"no breach or compensation with id {record_id!r} in the replay of {input_path} "
            f"({len({b['breach_id'] for b in breaches})} breach ids, {len(comps)} compensation "
            f"ids found); {hint}"
        )
    first = records[0]
    revisions = ruleset.revisions.get(first["contract_id"], ())
    contract = next((r for r in revisions if r.revision == first["contract_version"]), None)
    if contract is None:
        raise EvidenceError(
            f"{record_id}: the rules hold no revision {first['contract_version']} of contract "
            f"{first['contract_id']!r}"
        )
    objective = next((o for o in contract.objectives if o.id == first["objective_id"]), None)
    if objective is None:
        raise EvidenceError(f"{record_id}: objective {first['objective_id']!r} is not in the rules")
    if kind == "compensation":
        period = (_need(first["period_start"]), _need(first["period_end"]))
        ranges = [period]
    else:
        start, end = period_containing(contract.period, _need(first["window_start"]))
        period = (start, min(end, contract.term_end_ms))
        ranges = [(_need(r["window_start"]), _need(r["detected_at"])) for r in records]
    return _Target(kind, records, contract, objective, period, ranges)


def _need(text: str) -> int:
    value = _instant(text)
    assert value is not None, text
    return value


# --- the facts: one more pass over the input ------------------------------------------------------


@dataclass
class _Node:
    """One compute node: its last state before the period, and its transitions in it."""

    carried: tuple[int, int, str] | None = None  # (t, arrival, state)
    transitions: list[tuple[int, int, str, str]] = field(default_factory=list)  # + origin


class _Facts:
    """The events of one contract and period, with lateness and duplicates decided here again."""

    def __init__(
        self, ruleset: Ruleset, target: _Target, now_ms: int, dead: dict[tuple[str, str], str]
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
        self._service_starts = [s for s, _ in self.service]
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
        if index < 0 or m >= self.service[index][1]:
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
        if reason is None and t is not None and not self.term[0] <= t < self.term[1]:
            reason = "event_time is outside the contract term (§6.1.5)"
        if reason is None and t is not None and t > self.now_ms + MAX_FUTURE_MS:
            reason = "event_time is more than 10 minutes ahead of the engine clock"
        if reason is not None or t is None:
            self.stats["dead_letters"] += 1
            if len(self.dead_seen) < SHORT_LIST:
                self.dead_seen.append(
                    {"origin": origin, "error": reason, "event_id": event.get("event_id")}
                )
            return
        minute = t // MINUTE_MS * MINUTE_MS
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
        if in_period and kind in self._kinds and event.get("latency_ms") is not None:
            latency = float(event["latency_ms"])
            item = (t, str(kind), latency, str(event.get("event_id")), origin)
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

    def _fold(self, minute: int, items: list[tuple[int, str, float, str, str]]) -> None:
        status = self.minute_status(minute)
        counted = status == _JUDGED
        target = self.target
        for t, kind, latency, event_id, origin in items:
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
            if counted:
                for objective in target.contract.objectives:
                    if objective.id in self.period_counts and objective.source == kind:
                        self.period_counts[objective.id][latency] += 1


def _flag(value: Any) -> int:
    return 1 if value is True or value == "true" else 0


def _int(value: Any) -> int:
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


# --- the recomputation, SLI by SLI -------------------------------------------------------------


def _minute_verdicts(
    facts: _Facts, objective_id: str, lo: int, hi: int
) -> Iterator[tuple[int, str, int, int]]:
    """(minute, verdict, ok probes, probes) for every minute of [lo, hi)."""
    for m in range(lo // MINUTE_MS * MINUTE_MS, hi, MINUTE_MS):
        ok, n = facts.probes.get(m, (0, 0))
        status = facts.minute_status(m)
        objective = facts.objective_at(m, objective_id)
        if objective is None and status == _JUDGED:
            status = NOT_EVALUATED
        if status != _JUDGED or objective is None:
            yield m, status, ok, n
        elif n == 0:
            yield m, NO_DATA, ok, n
        else:
            bad = ok * 100 < objective.unavailable_below * n
            yield m, UNAVAILABLE if bad else AVAILABLE, ok, n


def _service_availability(
    facts: _Facts, objective: ObjectiveRule, lo: int, hi: int
) -> dict[str, Any]:
    counts = Counter(v for _, v, _, _ in _minute_verdicts(facts, objective.id, lo, hi))
    good, bad, no_data = counts[AVAILABLE], counts[UNAVAILABLE], counts[NO_DATA]
    evaluated = good + bad + no_data
    if objective.no_data == "available":
        numerator, total = good + no_data, evaluated
    elif objective.no_data == "unavailable":
        numerator, total = good, evaluated
    else:
        numerator, total = good, good + bad
    value = 100.0 * numerator / total if total else None
    judged = "evaluated" if objective.no_data != "unknown" else "judged"
    return {
        "value": value,
        "available_minutes": good,
        "unavailable_minutes": bad,
        "no_data_minutes": no_data,
        "evaluated_minutes": evaluated,
        "exempt_minutes": counts[EXEMPT],
        "good": numerator,
        "total": total,
        "summary": f"{numerator} available of {total} {judged} minutes = {_pct(value)}"
        + (f" (no-data minutes count as {objective.no_data})" if judged == "evaluated" else ""),
    }


def _segments(facts: _Facts, node: _Node, hi: int) -> list[tuple[int, int, str]]:
    """A node's known states in [period start, hi), in event-time order (ties: arrival)."""
    p0 = facts.period[0]
    state = node.carried[2] if node.carried else None
    cursor = p0
    out: list[tuple[int, int, str]] = []
    for t, _, new, _ in sorted(node.transitions):
        if t >= hi:
            break
        if state is not None and t > cursor:
            out.append((cursor, t, state))
        cursor, state = max(cursor, t), new
    if state is not None and hi > cursor:
        out.append((cursor, hi, state))
    return out


def _node_availability(facts: _Facts, objective: ObjectiveRule, lo: int, hi: int) -> dict[str, Any]:
    evaluated = facts.evaluated(lo, hi)
    up = down = 0
    per_node = []
    for name, node in sorted(facts.nodes.items()):
        node_up = node_down = 0
        for s, e, state in _segments(facts, node, hi):
            piece = sum(_overlap([(s, e)], a, b) for a, b in evaluated)
            if state == "down" or (state == "degraded" and objective.degraded_is_down):
                node_down += piece
            else:
                node_up += piece
        per_node.append({"node": name, "up_ms": node_up, "down_ms": node_down})
        up, down = up + node_up, down + node_down
    value = 100.0 * up / (up + down) if up + down else None
    return {
        "value": value,
        "up_ms": up,
        "down_ms": down,
        "good": up,
        "total": up + down,
        "per_node": per_node,
        "summary": f"{up} up of {up + down} known node-ms in evaluated time = {_pct(value)}",
    }


def _failures(facts: _Facts) -> list[dict[str, Any]]:
    """Down intervals of the period; one that began before it starts at the period start."""
    p0 = facts.period[0]
    out: list[dict[str, Any]] = []
    for name, node in sorted(facts.nodes.items()):
        state = node.carried[2] if node.carried else None
        open_failure = {"node": name, "start": p0, "end": None} if state == "down" else None
        for t, _, new, _ in sorted(node.transitions):
            if new == state:
                continue
            if new == "down":
                open_failure = {"node": name, "start": t, "end": None}
            elif state == "down" and open_failure is not None:
                open_failure["end"] = t
                out.append(open_failure)
                open_failure = None
            state = new
        if open_failure is not None:
            out.append(open_failure)
    kept = [f for f in out if f["end"] is None or f["end"] > p0]
    return sorted(kept, key=lambda f: (f["start"], f["node"]))


def _reliability(facts: _Facts, objective: ObjectiveRule, until: int) -> dict[str, Any]:
    known = [f for f in _failures(facts) if f["start"] < until]
    restored = [f for f in known if f["end"] is not None and f["end"] <= until]
    restoration_ms = sum(f["end"] - f["start"] for f in restored)
    longest_ms = max((min(f["end"] or until, until) - f["start"] for f in known), default=0)
    operating_ms = 0
    for node in facts.nodes.values():
        for s, e, state in _segments(facts, node, until):
            if state != "down":
                operating_ms += e - s
    count = len(known)
    value: float | None
    match objective.sli:
        case "failure_count":
            value, summary = float(count), f"{count} failure(s) of compute nodes"
        case "max_recovery":
            value = longest_ms / MINUTE_MS
            summary = f"longest failure {longest_ms} ms = {value:.4f} min"
        case "mttr":
            value = restoration_ms / len(restored) / MINUTE_MS if restored else None
            summary = (
                f"{restoration_ms} ms of restoration over {len(restored)} restored "
                f"failure(s) = {_num(value)} min"
            )
        case _:  # mtbf
            value = operating_ms / HOUR_MS / count if count else None
            summary = f"{operating_ms} ms of node operation / {count} failure(s) = {_num(value)} h"
    listed = [
        {
            "node": f["node"],
            "start": _utc(f["start"]),
            "end": _utc(f["end"]) if f["end"] is not None and f["end"] <= until else None,
        }
        for f in known
    ]
    return {
        "value": value,
        "failures": count,
        "restored": len(restored),
        "restoration_ms": restoration_ms,
        "longest_ms": longest_ms,
        "operating_ms": operating_ms,
        "failure_list": listed,
        "summary": summary,
    }


def _nearest_rank(counts: Counter[float], q: float) -> tuple[float | None, int, int]:
    """Exact nearest-rank percentile: rank r = max(1, ⌈q·n/100⌉), the r-th smallest sample."""
    n = sum(counts.values())
    if n == 0:
        return None, 0, 0
    rank = max(1, math.ceil(Fraction(repr(float(q))) * n / 100))
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value, rank, n
    raise AssertionError("rank beyond the samples")


def _latency(objective: ObjectiveRule, counts: Counter[float]) -> dict[str, Any]:
    q = objective.percentile or 99.0
    value, rank, n = _nearest_rank(counts, q)
    judged = n >= objective.min_requests and value is not None
    summary = (
        f"p{q:g} of {n} samples: rank {rank} = {value:g} ms (exact nearest rank)"
        if value is not None
        else "no samples"
    )
    if not judged and value is not None:
        summary += f"; fewer than min_requests = {objective.min_requests}: not judged"
    return {
        "value": value if judged else None,
        "exact_nearest_rank": value,
        "rank": rank,
        "samples": n,
        "percentile": q,
        "summary": summary,
    }


def _error_rate(facts: _Facts, objective: ObjectiveRule, lo: int, hi: int) -> dict[str, Any]:
    ok = n = 0
    for minute, row in facts.requests.items():
        if lo <= minute < hi and facts.minute_status(minute) == _JUDGED:
            ok, n = ok + row[0], n + row[1]
    value = 100.0 * (n - ok) / n if n and n >= objective.min_requests else None
    return {
        "value": value,
        "ok_requests": ok,
        "failed_requests": n - ok,
        "requests": n,
        "good": ok,
        "total": n,
        "summary": f"{n - ok} failed of {n} requests in evaluated minutes = {_pct(value)}",
    }


def _value(
    facts: _Facts, objective: ObjectiveRule, lo: int, hi: int, counts: Counter[float] | None
) -> dict[str, Any]:
    """The objective's SLI over [lo, hi) (reliability: over [period start, hi))."""
    match objective.sli:
        case "service_availability":
            return _service_availability(facts, objective, lo, hi)
        case "node_availability":
            return _node_availability(facts, objective, lo, hi)
        case "latency":
            return _latency(objective, counts or Counter())
        case "error_rate":
            return _error_rate(facts, objective, lo, hi)
    return _reliability(facts, objective, hi)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f} %"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


# --- compensation (§6.1.16, fee §6.1.7) --------------------------------------------------------


def _quantize(amount: Decimal, contract: Contract) -> Decimal:
    metering = contract.metering
    return amount.quantize(
        Decimal(1).scaleb(-metering.minor_units), rounding=_ROUNDING[metering.rounding]
    )


def _usage(facts: _Facts) -> dict[str, int]:
    p1 = facts.period[1]
    node_up_ms = sum(
        e - s
        for node in facts.nodes.values()
        for s, e, st in _segments(facts, node, p1)
        if st != "down"
    )
    return {
        "node_up_ms": node_up_ms,
        "requests": sum(r[1] for r in facts.requests.values()),
        "tokens": sum(r[2] for r in facts.requests.values()),
    }


def _fee(contract: Contract, usage: dict[str, int]) -> tuple[Decimal, str]:
    metering = contract.metering
    currency = metering.currency
    if metering.period_fee is not None:
        fee = _quantize(metering.period_fee, contract)
        return fee, f"fixed period fee {fee} {currency}"
    unit = metering.unit
    if unit in ("card_hour", "core_hour"):
        per_node = metering.cards_per_node if unit == "card_hour" else metering.cores_per_node
        quantity = Decimal(usage["node_up_ms"]) * per_node / HOUR_MS
        what = f"{usage['node_up_ms']} node-up ms × {per_node} / 3600000 = {quantity} {unit}s"
    elif unit == "per_call":
        quantity, what = Decimal(usage["requests"]), f"{usage['requests']} calls"
    elif unit == "per_1k_tokens":
        quantity = Decimal(usage["tokens"]) / 1000
        what = f"{usage['tokens']} tokens / 1000 = {quantity} × 1k tokens"
    else:
        quantity = metering.quantity or Decimal(1)
        what = f"{quantity} {unit.replace('_', '-')}"
    fee = _quantize(quantity * metering.unit_price, contract)
    return fee, f"{what} × {metering.unit_price} {currency} = {fee} {currency}"


def _compensation(facts: _Facts) -> dict[str, Any]:
    """Every tiered objective of the period in rule-file order: tier, credit, cap (§6.1.16)."""
    contract = facts.target.contract
    usage = _usage(facts)
    fee, fee_rule = _fee(contract, usage)
    cap = _quantize(fee * contract.cap_percent / 100, contract)
    remaining = cap
    chain = []
    p0, p1 = facts.period
    for objective in contract.objectives:
        if not objective.tiers:
            continue
        value = _value(facts, objective, p0, p1, facts.period_counts.get(objective.id))["value"]
        tier_index, tier = None, None
        for index, candidate in enumerate(objective.tiers):
            if value is not None and (
                value < candidate.bound if objective.higher_is_better else value > candidate.bound
            ):
                tier_index, tier = index, candidate
        percent = tier.credit_percent if tier else 0.0
        amount = _quantize(fee * Decimal(str(percent)) / 100, contract)
        capped = amount > remaining
        if capped:
            amount = remaining
        remaining -= amount
        chain.append(
            {
                "objective_id": objective.id,
                "sli": objective.sli,
                "value": value,
                "tier": tier_index,
                "bound": tier.bound if tier else None,
                "credit_percent": percent,
                "extension_hours": tier.extension_hours if tier else 0.0,
                "credit_amount": str(amount),
                "capped": capped,
                "cap_remaining_after": str(remaining),
            }
        )
    return {
        "usage": usage,
        "period_fee": str(fee),
        "fee_rule": fee_rule,
        "cap_percent": str(contract.cap_percent),
        "cap_amount": str(cap),
        "currency": contract.metering.currency,
        "objectives": chain,
    }


# --- checks -------------------------------------------------------------------------------------


def _check(
    record: str,
    quantity: str,
    recorded: Any,
    recomputed: Any,
    tolerance: str,
    informational: bool = False,
) -> dict[str, Any]:
    """One comparison; an informational one is shown but does not decide ``matches``."""
    if recorded is None or recomputed is None:
        matches = recorded is None and recomputed is None
    elif tolerance == "exact":
        matches = recorded == recomputed
    elif tolerance == "0.5% relative":
        matches = abs(recorded - recomputed) <= LATENCY_REL_TOLERANCE * abs(recomputed) + 1e-12
    else:
        matches = math.isclose(recorded, recomputed, rel_tol=FLOAT_REL_TOLERANCE, abs_tol=1e-12)
    return {
        "record": record,
        "quantity": quantity,
        "recorded": recorded,
        "recomputed": recomputed,
        "tolerance": tolerance,
        "matches": matches,
        "informational": informational,
    }


_COUNTS = {  # SLI → the recomputed facts behind the engine's good / bad accumulators
    "service_availability": ("available_minutes", "unavailable_minutes"),
    "node_availability": ("up_ms", "down_ms"),
    "error_rate": ("ok_requests", "failed_requests"),
}


def _record_checks(
    record: dict[str, Any], result: dict[str, Any], objective: ObjectiveRule, label: str
) -> list[dict[str, Any]]:
    """The record's value and the counts in its evidence against the recomputation."""
    sli = objective.sli
    tolerance = "0.5% relative" if sli == "latency" else "1e-9 relative"
    checks = [_check(label, "observed", record["observed"], result["value"], tolerance)]
    evidence = record.get("evidence", {})
    expected: list[tuple[str, Any]] = []
    if sli in _COUNTS:
        good_key, bad_key = _COUNTS[sli]
        bad = result[bad_key]
        if (
            label == "opened"
            and sli == "service_availability"
            and objective.no_data == "unavailable"
        ):
            bad = result["evaluated_minutes"] - result["available_minutes"]
        for prefix in ("period", "window"):
            if f"{prefix}_good" in evidence:
                expected += [(f"{prefix}_good", result[good_key]), (f"{prefix}_bad", bad)]
        if sli == "service_availability" and "period_evaluated" in evidence:
            expected.append(("period_evaluated", result["evaluated_minutes"]))
    if "failures" in evidence and "failure_list" in result:
        expected.append(("failures", result["failure_list"]))
    for key, value in expected:
        checks.append(_check(label, f"evidence.{key}", evidence[key], value, "exact"))
    return checks


def _best_possible(
    facts: _Facts, objective: ObjectiveRule, result: dict[str, Any], detected: int
) -> tuple[int, float | None]:
    """Service availability: the best the period could still reach at ``detected`` (README)."""
    remaining = sum(  # service minutes ahead; exemptions ahead are not counted (README)
        1
        for m in range(detected, facts.period[1], MINUTE_MS)
        if facts.minute_status(m, as_of=detected) in (_JUDGED, EXEMPT)
    )
    if objective.no_data == "unknown":
        total = result["available_minutes"] + result["unavailable_minutes"] + remaining
        bad = result["unavailable_minutes"]
    else:
        total = result["evaluated_minutes"] + remaining
        bad = result["unavailable_minutes"]
        if objective.no_data == "unavailable":
            bad = result["evaluated_minutes"] - result["available_minutes"]
    best = round(100.0 * (total - bad) / total, 6) if total > 0 else None
    return remaining, best


# --- assembling the pack -----------------------------------------------------------------------


def build_evidence(
    ruleset: Ruleset, input_path: str, record_id: str, now_ms: int, until_ms: int | None = None
) -> dict[str, Any]:
    """The facts behind breach or compensation ``record_id`` and their recomputation."""
    from engine.adapters.files import open_input, read_chunks, replay

    with tempfile.TemporaryDirectory(prefix="csla-evidence-") as tmp:
        source = input_path
        if input_path == "-":  # read twice: keep a copy of stdin
            source = str(Path(tmp) / "stdin.ndjson")
            with open_input("-") as stream, open(source, "wb") as copy:
                shutil.copyfileobj(stream, copy)
        out = Path(tmp) / "replay"
        result = replay(ruleset, source, out, now_ms, until_ms=until_ms)
        target = _locate(
            ruleset, result.outputs.breaches, result.outputs.compensations, record_id, input_path
        )
        dead = _dead_letters(out / "deadletter.jsonl", target.contract.id)
        engine_late = _count_late(out / "late.jsonl", target.contract.id)
        facts = _Facts(ruleset, target, now_ms, dead)
        with open_input(source) as stream:
            for lines, origin, _ in read_chunks(stream, source):
                for index, line in enumerate(lines):
                    where = origin(index)
                    shown = "stdin" + where[len(source) :] if input_path == "-" else None
                    facts.feed(line, where, shown)
        facts.finish()
    return _assemble(facts, target, record_id, input_path, until_ms, engine_late)


def _dead_letters(path: Path, cid: str) -> dict[tuple[str, str], str]:
    """The engine's dead letters of one contract: (origin, raw line) → reason."""
    dead: dict[tuple[str, str], str] = {}
    needle = cid.encode()
    with open(path, "rb") as handle:
        for line in handle:
            if needle not in line:
                continue
            record = orjson.loads(line)
            try:
                event = orjson.loads(record["raw"])
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and event.get("contract_id") == cid:
                dead[(record["origin"], record["raw"])] = record["error"]
    return dead


def _count_late(path: Path, cid: str) -> int:
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            if orjson.loads(line).get("contract_id") == cid:
                count += 1
    return count


def _assemble(
    facts: _Facts,
    target: _Target,
    record_id: str,
    input_path: str,
    until_ms: int | None,
    engine_late: int,
) -> dict[str, Any]:
    contract, objective = target.contract, target.objective
    tz = contract.tz
    values, checks = [], []
    for index, (record, (lo, hi)) in enumerate(zip(target.records, target.ranges, strict=True)):
        label = record.get("status", "compensation")
        counts = facts.range_counts[index] if objective.sli == "latency" else None
        if target.kind == "compensation" and objective.sli == "latency":
            counts = facts.period_counts.get(objective.id, counts)
        result = _value(facts, objective, lo, hi, counts)
        checks += _record_checks(record, result, objective, label)
        if objective.sli == "latency" and result["value"] is not None:
            result["summary"] += f"; recorded {record['observed']:.4f} ms (histogram bucket)"
        evidence = record.get("evidence", {})
        if (
            label == "opened"
            and "best_possible" in evidence
            and objective.sli == "service_availability"
        ):
            remaining, best = _best_possible(facts, objective, result, hi)
            result["remaining_minutes"], result["best_possible"] = remaining, best
            checks.append(
                _check(
                    label,
                    "best possible % (rounded to 6 places)",
                    evidence["best_possible"],
                    best,
                    "exact",
                )
            )
        if result["value"] is not None:
            result["meets_objective"] = objective.meets(result["value"])
        values.append({"record": label, **_span(lo, hi, tz), **result})
        if target.kind == "compensation":
            continue
        priority = _priority(facts, record, lo)
        quantity = "priority (impact × urgency, §6.2.2)"
        checks.append(_check(label, quantity, record.get("priority"), priority, "exact", True))
    exemptions = _exemption_facts(facts)
    for entry in exemptions["recorded_in_engine_evidence"]:
        quantity = f"evidence.exemptions: {entry['maintenance_id']}"
        checks.append(
            _check(entry["record"], quantity, entry["recorded"], entry["recomputed"], "exact")
        )
    compensation = None
    if target.kind == "compensation":
        compensation = _compensation(facts)
        record = target.records[0]
        mine = next(c for c in compensation["objectives"] if c["objective_id"] == objective.id)
        compensation["target"] = mine
        compensation["arithmetic"] = (
            f"{compensation['period_fee']} × {mine['credit_percent']}% = {mine['credit_amount']}"
            f" {compensation['currency']}" + (" (capped)" if mine["capped"] else "")
        )
        for quantity, recorded, recomputed in (
            ("tier", record["tier"], mine["tier"]),
            ("credit_percent", record["credit_percent"], mine["credit_percent"]),
            ("extension_hours", record["extension_hours"], mine["extension_hours"]),
            ("period_fee", record["period_fee"], compensation["period_fee"]),
            ("credit_amount", record["credit_amount"], mine["credit_amount"]),
            ("capped", record["capped"], mine["capped"]),
        ):
            checks.append(_check("compensation", quantity, recorded, recomputed, "exact"))
    quantity = "late events of the contract (engine vs here)"
    checks.append(_check("input", quantity, engine_late, facts.stats["late"], "exact", True))
    matches = all(c["matches"] for c in checks if not c["informational"])
    return {
        "evidence_version": 1,
        "id": record_id,
        "kind": target.kind,
        "about": "Evidence for a dispute (CSLA §6.2.6): the facts behind one record and an "
        "independent recomputation of its value from the source events.",
        "input": {"path": input_path, "until": _utc(until_ms) if until_ms is not None else None},
        "records": target.records,
        "contract": _contract_facts(facts, contract),
        "objective": _objective_facts(objective),
        "period": _span(*target.period, tz),
        "ranges": [
            {"record": r.get("status", "compensation"), **_span(lo, hi, tz)}
            for r, (lo, hi) in zip(target.records, target.ranges, strict=True)
        ],
        "evaluation": _evaluation_facts(facts),
        "exemptions": exemptions,
        "facts": _sli_facts(facts),
        "input_quality": {
            **{k: facts.stats[k] for k in _QUALITY},
            "late_recorded_by_engine": engine_late,
            "late_events": facts.late,
            "duplicate_events": facts.duplicates,
            "dead_letter_events": facts.dead_seen,
        },
        "recomputation": {"values": values, "compensation": compensation, "checks": checks},
        "matches": matches,
    }


_QUALITY = (
    "events",
    "accepted",
    "late",
    "late_in_period",
    "late_in_ranges",
    "duplicates",
    "duplicates_in_ranges",
    "dead_letters",
)


def _priority(facts: _Facts, record: dict[str, Any], lo: int) -> int | None:
    """Highest impact × urgency of incidents overlapping the record's window, as known then."""
    end, detected = _need(record["window_end"]), _need(record["detected_at"])
    best = None
    for incident in facts.incidents.values():
        opened, resolved = incident["opened_ms"], incident["resolved_ms"]
        if opened < min(end, detected) and (resolved is None or resolved > lo):
            best = max(best or 0, incident["priority"])
    return best


def _contract_facts(facts: _Facts, contract: Contract) -> dict[str, Any]:
    spec = contract.spec
    tz = contract.tz
    p0, p1 = facts.period
    in_force = []
    for index, revision in enumerate(facts.revisions):
        later = facts.revisions[index + 1 :]
        if revision.effective_from_ms < p1 and (not later or later[0].effective_from_ms > p0):
            in_force.append(revision)
    return {
        "id": contract.id,
        "revision": contract.revision,
        "effective_from": _local(contract.effective_from_ms, tz),
        "rule_file": contract.source,
        "title": spec.contract.title,
        "customer": spec.parties.customer.name,
        "provider": spec.parties.provider.name,
        "service": spec.service.category,
        "term": _span(contract.term_start_ms, contract.term_end_ms, tz),
        "service_time": spec.service_time.model_dump(mode="json", exclude_none=True),
        "metering": spec.metering.model_dump(mode="json", exclude_none=True),
        "cap_percent": str(contract.cap_percent),
        "maintenance_notice_hours": contract.maintenance_notice_ms / HOUR_MS,
        "maintenance_sources": sorted(contract.maintenance_sources),
        "revisions_in_period": [
            {
                "revision": r.revision,
                "rule_file": r.source,
                "effective_from": _local(r.effective_from_ms, tz),
            }
            for r in in_force
        ],
    }


def _objective_facts(objective: ObjectiveRule) -> dict[str, Any]:
    return {
        "id": objective.id,
        "sli": objective.sli,
        "unit": objective.unit,
        "comparator": objective.comparator,
        "threshold": objective.threshold,
        "window_minutes": objective.window_ms // MINUTE_MS,
        "percentile": objective.percentile,
        "source": objective.source if objective.sli == "latency" else None,
        "unavailable_below": objective.unavailable_below,
        "no_data": objective.no_data,
        "degraded_is_down": objective.degraded_is_down,
        "min_requests": objective.min_requests,
        "tiers": [
            {
                "index": i,
                "bound": t.bound,
                "credit_percent": t.credit_percent,
                "extension_hours": t.extension_hours,
            }
            for i, t in enumerate(objective.tiers)
        ],
    }


def _evaluation_facts(facts: _Facts) -> dict[str, Any]:
    tz = facts.target.contract.tz
    first = facts.observed_from
    return {
        "observed_from": _utc(first) if first is not None else None,
        "observed_from_local": _local(first, tz) if first is not None else None,
        "service_time": [
            {**_span(s, e, tz), "minutes": (e - s) // MINUTE_MS} for s, e in facts.service
        ],
        "service_minutes": sum(e - s for s, e in facts.service) // MINUTE_MS,
        "evaluated_minutes": sum(e - s for s, e in facts.evaluated(*facts.period)) // MINUTE_MS,
    }


def _exemption_facts(facts: _Facts) -> dict[str, Any]:
    tz = facts.target.contract.tz
    p0, p1 = facts.period
    maintenance = []
    for n in facts.notices:
        if n["end_ms"] <= p0 or n["start_ms"] >= p1:
            continue
        s, e = _whole_minutes(n["start_ms"], n["end_ms"])
        service = [(max(a, s), min(b, e)) for a, b in facts.service if a < e and b > s]
        maintenance.append(
            {
                "maintenance_id": n["maintenance_id"],
                "source": n["source"],
                "announced": _utc(n["announced_ms"]),
                "announced_local": _local(n["announced_ms"], tz),
                "window_start": _utc(n["start_ms"]),
                "window_end": _utc(n["end_ms"]),
                "window_start_local": _local(n["start_ms"], tz),
                "window_end_local": _local(n["end_ms"], tz),
                "notice_hours": round(n["notice_ms"] / HOUR_MS, 3),
                "required_notice_hours": n["required_ms"] / HOUR_MS,
                "accepted": n["exempt"],
                "reason": n["reason"],
                "origin": n["origin"],
                "exempt_service_minutes": sum(b - a for a, b in service) // MINUTE_MS
                if n["exempt"]
                else 0,
            }
        )
    recorded = []
    compared = ("window_start", "window_end", "notice_hours")
    for record in facts.target.records:
        for entry in record.get("evidence", {}).get("exemptions", []):
            if "maintenance_id" in entry:
                mine = next(
                    (m for m in maintenance if m["maintenance_id"] == entry["maintenance_id"]), None
                )
                theirs = {"exempt": entry["exempt"], **{k: entry[k] for k in compared}}
                ours = mine and {"exempt": mine["accepted"], **{k: mine[k] for k in compared}}
                recorded.append(
                    {
                        **entry,
                        "record": record["status"],
                        "recorded": theirs,
                        "recomputed": ours,
                        "agrees": theirs == ours,
                    }
                )
    force_majeure = [
        {"reason": r, **_span(s, e, tz)}
        for s, e, r in facts.target.contract.force_majeure
        if s < p1 and e > p0
    ]
    return {
        "maintenance": maintenance,
        "force_majeure": force_majeure,
        "recorded_in_engine_evidence": recorded,
    }


def _sli_facts(facts: _Facts) -> dict[str, Any]:
    objective = facts.target.objective
    tz = facts.target.contract.tz
    spans = []
    for index, (lo, hi) in enumerate(facts.target.spans):
        span: dict[str, Any] = _span(lo, hi, tz)
        if objective.sli == "service_availability":
            span.update(_minute_facts(facts, objective, lo, hi))
        elif objective.sli == "latency":
            span["samples"] = facts.samples[index]
            span["samples_listed_limit"] = LIST_LIMIT
        elif objective.sli == "error_rate":
            span["minutes"] = [
                {
                    "minute": _utc(m),
                    "local": _show(m, tz),
                    "ok": r[0],
                    "requests": r[1],
                    "counted": facts.minute_status(m) == _JUDGED,
                }
                for m, r in sorted(facts.requests.items())
                if lo <= m < hi
            ][:LIST_LIMIT]
        spans.append(span)
    out: dict[str, Any] = {"sli": objective.sli, "spans": spans}
    if objective.sli in ("node_availability", "mttr", "mtbf", "failure_count", "max_recovery"):
        out["nodes"] = _node_facts(facts)
    if facts.incidents:
        out["incidents"] = [
            {
                **{k: v for k, v in i.items() if not k.endswith("_ms")},
                "opened": _utc(i["opened_ms"]),
                "resolved": _utc(i["resolved_ms"]) if i["resolved_ms"] is not None else None,
            }
            for i in facts.incidents.values()
            if i["resolved_ms"] is None or i["resolved_ms"] > facts.period[0]
        ]
    return out


def _minute_facts(facts: _Facts, objective: ObjectiveRule, lo: int, hi: int) -> dict[str, Any]:
    tz = facts.target.contract.tz
    runs: list[dict[str, Any]] = []
    minutes: list[dict[str, Any]] = []
    for m, verdict, ok, n in _minute_verdicts(facts, objective.id, lo, hi):
        if n and len(minutes) < LIST_LIMIT:
            minutes.append(
                {
                    "minute": _utc(m),
                    "local": _show(m, tz),
                    "ok": ok,
                    "probes": n,
                    "verdict": verdict,
                }
            )
        if runs and runs[-1]["verdict"] == verdict and runs[-1]["_end"] == m:
            run = runs[-1]
            run["_end"], run["minutes"] = m + MINUTE_MS, run["minutes"] + 1
            run["probes_ok"], run["probes"] = run["probes_ok"] + ok, run["probes"] + n
        else:
            runs.append(
                {
                    "_start": m,
                    "_end": m + MINUTE_MS,
                    "verdict": verdict,
                    "minutes": 1,
                    "probes_ok": ok,
                    "probes": n,
                }
            )
    for run in runs:
        start, end = run.pop("_start"), run.pop("_end")
        run.update(
            {
                "start": _utc(start),
                "end": _utc(end),
                "start_local": _show(start, tz),
                "end_local": _show(end, tz),
            }
        )
    return {"runs": runs, "minutes": minutes}


def _node_facts(facts: _Facts) -> list[dict[str, Any]]:
    tz = facts.target.contract.tz
    out = []
    for name, node in sorted(facts.nodes.items()):
        out.append(
            {
                "node": name,
                "state_at_period_start": node.carried[2] if node.carried else None,
                "transitions": [
                    {"time": _utc(t), "local": _show(t, tz), "state": s, "origin": o}
                    for t, _, s, o in sorted(node.transitions)
                ],
                "segments": [
                    {"start": _utc(s), "end": _utc(e), "state": st}
                    for s, e, st in _segments(facts, node, facts.period[1])
                ],
            }
        )
    return out


# --- the pack on disk ----------------------------------------------------------------------------


def write_pack(evidence: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``<id>.json`` and ``<id>.html`` (self-contained: inline CSS, no scripts, no fetches)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", evidence["id"]).strip("_") or "evidence"
    json_path, html_path = out_dir / f"{stem}.json", out_dir / f"{stem}.html"
    json_path.write_text(json.dumps(evidence, indent=2, ensure_ascii=False) + "\n", "utf-8")
    html_path.write_text(render_html(evidence), "utf-8")
    return json_path, html_path


_CSS = """
body{margin:0;background:#f4f6f8;color:#1f2933;font:15px/1.5 system-ui,-apple-system,"Segoe UI",
Roboto,"Noto Sans","PingFang SC","Microsoft YaHei",sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;padding-bottom:4px;
border-bottom:2px solid #d9e2ec}h3{font-size:15px;margin:18px 0 6px}
.sub{color:#52606d;margin:0 0 16px}code{font:12px ui-monospace,Menlo,Consolas,monospace}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d9e2ec;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f4f8;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.verdict{padding:12px 16px;border-radius:6px;font-weight:600;margin:12px 0}
.good{background:#e3f9e5;border:1px solid #31b237}.bad{background:#ffe3e3;border:1px solid #e12d39}
.key{font-size:17px;margin:4px 0}.muted{color:#7b8794}
tr.available td:first-child{border-left:4px solid #31b237}
tr.unavailable td:first-child{border-left:4px solid #e12d39}
tr.exempt td:first-child{border-left:4px solid #4c63b6}
tr.nodata td:first-child{border-left:4px solid #f0b429}
details{margin:6px 0}summary{cursor:pointer;color:#334e68}
@media print{body{background:#fff}main{padding:0}details{display:block}}
"""


def _e(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.10g}" if abs(value) < 1e9 else f"{value:.1f}"
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for index, row in enumerate(rows):
        cls = f' class="{classes[index]}"' if classes else ""
        cells = "".join(
            f'<td class="n">{_e(c)}</td>'
            if isinstance(c, int | float) and not isinstance(c, bool)
            else f"<td>{_e(c)}</td>"
            for c in row
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _pairs(items: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
    return f"<table><tbody>{rows}</tbody></table>"


def render_html(ev: dict[str, Any]) -> str:
    """The pack as one HTML page a customer can open offline."""
    c, o, rec = ev["contract"], ev["objective"], ev["recomputation"]
    parts = [
        f"<h1>Evidence pack: {html.escape(ev['id'])}</h1>",
        f'<p class="sub">{_e(c["title"])} — contract {_e(c["id"])} revision '
        f"{c['revision']} between {_e(c['customer'])} (customer) and {_e(c['provider'])} "
        f"(provider). {html.escape(ev['about'])}</p>",
    ]
    ok = ev["matches"]
    parts.append(
        f'<div class="verdict {"good" if ok else "bad"}">'
        + (
            "The recomputation from the source events matches the recorded value."
            if ok
            else "The recomputation does NOT match the recorded value: see the checks."
        )
        + "</div>"
    )
    unit = "%" if o["unit"] == "percent" else o["unit"]
    parts.append(
        f'<p class="key">Objective <b>{_e(o["id"])}</b> ({_e(o["sli"])}): '
        f"{_e(o['comparator'])} {_e(o['threshold'])} {_e(unit)}</p>"
    )
    for value in rec["values"]:
        verdict = value.get("meets_objective")
        met = (
            ""
            if verdict is None
            else (" — meets the objective" if verdict else " — does not meet the objective")
        )
        parts.append(f'<p class="key">{_e(value["record"])}: {_e(value["summary"])}{met}</p>')
    comp = rec["compensation"]
    if comp:
        mine = comp["target"]
        tier = (
            "no tier applies"
            if mine["tier"] is None
            else f"tier {mine['tier']} (number {mine['tier'] + 1} in the rule file: the period "
            f"value is worse than {_e(mine['bound'])}) gives {_e(mine['credit_percent'])} % of "
            "the period fee"
        )
        parts.append(
            f'<p class="key">Compensation: {tier}; {_e(comp["arithmetic"])} '
            f"(period fee {_e(comp['period_fee'])} {_e(comp['currency'])}: "
            f"{_e(comp['fee_rule'])})</p>"
        )
    parts.append("<h2>The record(s) as issued by the engine</h2>")
    for record in ev["records"]:
        items = [(k, v) for k, v in record.items() if k != "evidence"]
        items.append(("evidence", json.dumps(record.get("evidence", {}), ensure_ascii=False)))
        parts.append(_pairs(items))
    parts.append("<h2>Contract</h2>")
    parts.append(
        _pairs(
            [
                ("rule file", c["rule_file"]),
                ("revision", c["revision"]),
                ("effective from", c["effective_from"]),
                ("service", c["service"]),
                ("term", f"{c['term']['start_local']} → {c['term']['end_local']}"),
                ("service time (§6.1.6)", json.dumps(c["service_time"], ensure_ascii=False)),
                ("metering (§6.1.7)", json.dumps(c["metering"], ensure_ascii=False)),
                ("credit cap", f"{c['cap_percent']} % of the period fee"),
                (
                    "planned maintenance (§6.1.13)",
                    f"announced ≥ {c['maintenance_notice_hours']:g} h ahead by "
                    + ", ".join(c["maintenance_sources"]),
                ),
                (
                    "revisions in force in the period",
                    "; ".join(
                        f"r{r['revision']} from {r['effective_from']} ({r['rule_file']})"
                        for r in c["revisions_in_period"]
                    ),
                ),
            ]
        )
    )
    parts.append("<h3>Objective and compensation tiers (§6.1.16)</h3>")
    parts.append(_pairs([(k, v) for k, v in o.items() if k != "tiers"]))
    parts.append(
        _table(
            ["tier", "applies when worse than", "credit %", "extension h"],
            [
                [t["index"], t["bound"], t["credit_percent"], t["extension_hours"]]
                for t in o["tiers"]
            ],
        )
    )
    ev_facts = ev["evaluation"]
    parts.append("<h2>Period and evaluated time</h2>")
    parts.append(
        _pairs(
            [
                (
                    "assessment period",
                    f"{ev['period']['start_local']} → {ev['period']['end_local']}",
                ),
                *[
                    (f"judged range ({r['record']})", f"{r['start_local']} → {r['end_local']}")
                    for r in ev["ranges"]
                ],
                (
                    "evaluation starts (first event of the contract)",
                    ev_facts["observed_from_local"],
                ),
                ("service-time minutes in the period", ev_facts["service_minutes"]),
                (
                    "evaluated minutes (service time ∩ term ∩ observed − exemptions)",
                    ev_facts["evaluated_minutes"],
                ),
            ]
        )
    )
    parts.append(
        "<details><summary>Service-time intervals in the period "
        f"({len(ev_facts['service_time'])})</summary>"
        + _table(
            ["start (local)", "end (local)", "minutes"],
            [[s["start_local"], s["end_local"], s["minutes"]] for s in ev_facts["service_time"]],
        )
        + "</details>"
    )
    parts.append(_exemptions_html(ev["exemptions"]))
    parts.append(_facts_html(ev))
    parts.append("<h2>Recomputation checks</h2>")
    parts.append(
        _table(
            ["record", "quantity", "recorded", "recomputed", "tolerance", "matches"],
            [
                [
                    ch["record"],
                    ch["quantity"] + (" (informational)" if ch["informational"] else ""),
                    _short(ch["recorded"]),
                    _short(ch["recomputed"]),
                    ch["tolerance"],
                    "✓" if ch["matches"] else "✗",
                ]
                for ch in rec["checks"]
            ],
        )
    )
    if comp:
        parts.append("<h3>Credits of the period in rule-file order, against the cap</h3>")
        parts.append(
            f"<p>Usage: {_e(json.dumps(comp['usage']))}. Fee: {_e(comp['fee_rule'])}. "
            f"Cap {_e(comp['cap_percent'])} % = {_e(comp['cap_amount'])} "
            f"{_e(comp['currency'])}.</p>"
        )
        parts.append(
            _table(
                ["objective", "period value", "tier", "credit %", "credit", "capped", "cap left"],
                [
                    [
                        x["objective_id"],
                        x["value"],
                        x["tier"],
                        x["credit_percent"],
                        x["credit_amount"],
                        x["capped"],
                        x["cap_remaining_after"],
                    ]
                    for x in comp["objectives"]
                ],
            )
        )
    parts.append(_input_html(ev["input_quality"]))
    parts.append(_DEFINITIONS)
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Evidence {html.escape(ev['id'])}</title><style>{_CSS}</style></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )


def _input_html(q: dict[str, Any]) -> str:
    parts = ["<h2>Input of this contract</h2>"]
    parts.append(
        _pairs(
            [
                ("events of the contract in the input", q["events"]),
                ("accepted (valid, on time, first copy)", q["accepted"]),
                ("late: arrived after their minute had closed; never counted", q["late"]),
                ("… of them in the assessment period", q["late_in_period"]),
                ("… of them in the judged range(s)", q["late_in_ranges"]),
                ("late, as recorded by the engine (whole input)", q["late_recorded_by_engine"]),
                ("duplicates: counted once", q["duplicates"]),
                ("… of them in the judged range(s)", q["duplicates_in_ranges"]),
                ("dead letters: invalid, rejected", q["dead_letters"]),
            ]
        )
    )
    if q["late_events"]:
        parts.append("<h3>Late events in the judged range(s), not counted</h3>")
        rows = [
            [x["origin"], x["kind"], x["event_id"], x["event_time"], x["watermark"]]
            for x in q["late_events"]
        ]
        parts.append(_table(["origin", "kind", "event id", "event time", "watermark"], rows))
    if q["duplicate_events"]:
        parts.append("<h3>Duplicates in the judged range(s), counted once</h3>")
        rows = [
            [x["origin"], x["kind"], x["event_id"], x["event_time"]] for x in q["duplicate_events"]
        ]
        parts.append(_table(["origin", "kind", "event id", "event time"], rows))
    return "".join(parts)


def _short(value: Any) -> Any:
    if isinstance(value, list | dict):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) < 300 else text[:297] + "…"
    return value


def _exemptions_html(ex: dict[str, Any]) -> str:
    parts = ["<h2>Exemptions applied (§6.1.13)</h2>"]
    if ex["maintenance"]:
        parts.append(
            _table(
                [
                    "maintenance",
                    "announced (local)",
                    "window (local)",
                    "notice h",
                    "required h",
                    "source",
                    "accepted",
                    "why",
                    "exempt service minutes",
                ],
                [
                    [
                        m["maintenance_id"],
                        _hm(m["announced_local"]),
                        f"{_hm(m['window_start_local'])} → {_hm(m['window_end_local'])}",
                        m["notice_hours"],
                        m["required_notice_hours"],
                        m["source"],
                        m["accepted"],
                        m["reason"],
                        m["exempt_service_minutes"],
                    ]
                    for m in ex["maintenance"]
                ],
            )
        )
        parts.append(
            '<p class="muted">Only the announced window is exempt; a minute is exempt '
            "only when the window covers it entirely; an overrun is not exempt.</p>"
        )
    else:
        parts.append("<p>No maintenance notice covers this period.</p>")
    if ex["force_majeure"]:
        parts.append(
            _table(
                ["force majeure (rule file)", "start (local)", "end (local)"],
                [[f["reason"], f["start_local"], f["end_local"]] for f in ex["force_majeure"]],
            )
        )
    else:
        parts.append("<p>No force-majeure interval in the rule file overlaps this period.</p>")
    if ex["recorded_in_engine_evidence"]:
        parts.append(
            _table(
                ["recorded by the engine", "exempt", "agrees with the input"],
                [
                    [r["maintenance_id"], r["exempt"], r["agrees"]]
                    for r in ex["recorded_in_engine_evidence"]
                ],
            )
        )
    return "".join(parts)


def _hm(local_iso: str) -> str:
    return local_iso[:16].replace("T", " ")


_ROW_CLASS = {
    AVAILABLE: "available",
    UNAVAILABLE: "unavailable",
    EXEMPT: "exempt",
    NO_DATA: "nodata",
}


def _at(utc: str | None, tz: str) -> str | None:
    """A UTC instant of the JSON as local wall time for the page."""
    ms = _instant(utc) if utc else None
    return _show(ms, tz) if ms is not None else None


def _facts_html(ev: dict[str, Any]) -> str:
    tz = ev["contract"]["service_time"]["timezone"]
    facts = ev["facts"]
    sli = facts["sli"]
    parts = ["<h2>Source events</h2>"]
    for span in facts["spans"]:
        parts.append(f"<h3>{_hm(span['start_local'])} → {_hm(span['end_local'])} (local)</h3>")
        if sli == "service_availability":
            parts.append(
                "<p>Each minute of service time is judged on its probes: unavailable "
                "when the share of successful probes is below the objective's "
                "<code>unavailable_below</code>.</p>"
            )
            runs = span["runs"]
            parts.append(
                _table(
                    ["from (local)", "to (local)", "verdict", "minutes", "probes ok", "probes"],
                    [
                        [
                            r["start_local"],
                            r["end_local"],
                            r["verdict"],
                            r["minutes"],
                            r["probes_ok"],
                            r["probes"],
                        ]
                        for r in runs
                    ],
                    [_ROW_CLASS.get(r["verdict"], "") for r in runs],
                )
            )
            minutes = [m for m in span["minutes"] if m["verdict"] != OUTSIDE]
            shown = minutes[:3000]
            parts.append(
                f"<details><summary>Minutes with probes in service time ({len(minutes)}"
                + (", first 3000 shown; all in the JSON" if len(minutes) > 3000 else "")
                + ")</summary>"
                + _table(
                    ["minute (local)", "ok", "probes", "verdict"],
                    [[m["local"], m["ok"], m["probes"], m["verdict"]] for m in shown],
                    [_ROW_CLASS.get(m["verdict"], "") for m in shown],
                )
                + "</details>"
            )
        elif sli == "latency":
            samples = span["samples"]
            shown = samples[:3000]
            parts.append(f"<p>{len(samples)} sample(s) in this range.</p>")
            parts.append(
                _table(
                    ["event id", "event time (UTC)", "latency ms", "counted", "origin"],
                    [
                        [
                            s["event_id"],
                            s["event_time"],
                            s["latency_ms"],
                            s["counted"] or s["minute_status"],
                            s["origin"],
                        ]
                        for s in shown
                    ],
                )
            )
        elif sli == "error_rate":
            minutes = span["minutes"][:3000]
            parts.append(
                _table(
                    ["minute (local)", "ok", "requests", "counted"],
                    [[m["local"], m["ok"], m["requests"], m["counted"]] for m in minutes],
                )
            )
    for node in facts.get("nodes", []):
        parts.append(
            f"<h3>Node {_e(node['node'])} (state at period start: "
            f"{_e(node['state_at_period_start'] or 'not reported yet')})</h3>"
        )
        parts.append(
            _table(
                ["time (local)", "state", "origin"],
                [[t["local"], t["state"], t["origin"]] for t in node["transitions"]],
            )
        )
    for value in ev["recomputation"]["values"]:
        if value.get("failure_list"):
            parts.append("<h3>Failures (down intervals) in the period</h3>")
            parts.append(
                _table(
                    ["node", "down from (local)", "restored (local)"],
                    [
                        [f["node"], _at(f["start"], tz), _at(f["end"], tz) or "not restored"]
                        for f in value["failure_list"]
                    ],
                )
            )
            break
    if facts.get("incidents"):
        parts.append("<h3>Incidents (priority = impact × urgency, §6.2.2)</h3>")
        parts.append(
            _table(
                ["incident", "priority", "opened (local)", "resolved (local)", "summary"],
                [
                    [
                        i["incident_id"],
                        i["priority"],
                        _at(i["opened"], tz),
                        _at(i["resolved"], tz),
                        i["summary"],
                    ]
                    for i in facts["incidents"]
                ],
            )
        )
    return "".join(parts)


_DEFINITIONS = """
<h2>How the numbers are defined</h2>
<ul>
<li><b>Evaluated time</b> = service time (§6.1.6) ∩ contract term (§6.1.5), from the first event
the engine received for the contract, minus exemptions (§6.1.13): planned maintenance announced
by an allowed source at least the agreed notice ahead (only its announced window), and
force-majeure intervals of the rule file. Exempt time leaves numerator and denominator.</li>
<li><b>Service availability</b>: per one-minute timeslice, unavailable when the share of
successful probes is below the objective's bound, available otherwise, no data without probes;
availability = available minutes / judged minutes × 100.</li>
<li><b>Latency</b>: exact nearest-rank percentile, rank r = max(1, ⌈q·n/100⌉), the r-th smallest
sample. The engine reports the value of a fixed logarithmic histogram bucket, within 0.5 % of it.
</li>
<li><b>Late events</b> (arrived after their minute had closed) and <b>duplicates</b> are never
counted; <b>dead letters</b> (invalid lines) are rejected.</li>
<li><b>Compensation</b> (§6.1.16): the most severe tier whose bound the period value is worse
than gives its credit percent of the period fee (§6.1.7), rounded to the currency's minor units;
the credits of one period are capped, consumed in rule-file order.</li>
</ul>
"""


# --- command line ------------------------------------------------------------------------------


def evidence_command(
    record_id: Annotated[
        str, typer.Argument(metavar="ID", help="Breach id (breach:…) or compensation id (comp:…).")
    ],
    input: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="The telemetry replayed: JSONL/NDJSON, .gz, or - for stdin."
        ),
    ],
    rules: Annotated[Path, typer.Option(help="Rules directory.")] = Path("rules"),
    until: Annotated[
        str | None,
        typer.Option(help="Close every window up to this RFC 3339 instant, as replay --until did."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Directory for the pack (<id>.json and <id>.html).")
    ] = Path("out/evidence"),
) -> None:
    """Evidence pack for a dispute (§6.2.6): the facts behind a breach or compensation and a
    recomputation of its value, as self-contained JSON + HTML.

    Exit 1 for an unknown id, 2 for bad rules or --until, 3 when the recomputation does not
    match the recorded value (the pack is written all the same).
    """
    import time

    from engine.core.calendar import parse_instant
    from engine.ruleset import load_rules_dir

    report = load_rules_dir(rules)
    for issue in report.issues:
        typer.echo(str(issue), err=True)
    if not report.ok:
        typer.echo(f"rules in {rules} have errors; fix them first (csla validate)", err=True)
        raise typer.Exit(2)
    try:
        until_ms = parse_instant(until) if until else None
    except ValueError as exc:
        typer.echo(f"error: --until: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        evidence = build_evidence(
            report.ruleset, input, record_id, time.time_ns() // 1_000_000, until_ms=until_ms
        )
    except (EvidenceError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    json_path, html_path = write_pack(evidence, out)
    verdict = "matches" if evidence["matches"] else "DOES NOT MATCH"
    for value in evidence["recomputation"]["values"]:
        typer.echo(f"{value['record']}: {value['summary']}")
    comp = evidence["recomputation"]["compensation"]
    if comp:
        typer.echo(f"compensation: {comp['arithmetic']}")
    typer.echo(f"recomputation {verdict} the recorded value → {json_path}, {html_path}")
    if not evidence["matches"]:
        raise typer.Exit(3)
