"""The dashboard's state: output records folded into what an operator looks at now.

Pure functions, the same for the worker and for a replay output directory: ``fold`` takes the
state and a batch of records (metric, breach, compensation, warning, scorecard dicts; any other
kind is only counted) and returns a new state; ``view`` turns a state into the JSON the page
draws. Nothing is read from a clock or a file here. A fold copies only the contracts the batch
touches, so the previous state stays valid (a request being served keeps a consistent view).

What is kept per contract: each objective's latest window (value, verdict) and its period so
far (``period_value``, ``period_good``/``period_total``), the breaches opened and not yet
resolved, the burn-rate warnings fired and not yet cleared (a fired and its cleared record share
a ``warning_id``) and the latest one per objective, the latest scorecard, and the targets
(comparator, threshold) seen on breach, compensation and warning records. Recent compensations
are kept across contracts, newest first.

Quarantined contracts (issue 11: evaluating the contract raised, so its batch was dead-lettered
and it is set aside) are not records: the worker hands the dashboard its current map contract
id → reason through ``Feed.set_quarantined`` (the hook), and ``view`` flags each such contract,
listing it even when it has published nothing yet.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from engine.core.calendar import ServiceCalendar, parse_instant, service_ms_between
from engine.core.records import DEAD, LATE
from engine.report.display import local_time, period_label, target_text
from engine.report.series import budget_left, meets

if TYPE_CHECKING:
    from engine.core.contract import Ruleset

Record = dict[str, Any]
State = dict[str, Any]
Targets = Mapping[str, Mapping[str, Mapping[str, Any]]]
Quarantined = Mapping[str, str]  # contract id → the reason it was quarantined
#: contract id → {"tz": IANA zone, "calendar": its ServiceCalendar}: what the rules say about
#: reading a contract's times (without it, times are UTC and service is owed around the clock)
Zones = Mapping[str, Mapping[str, Any]]
MINUTE_MS = 60_000

log = logging.getLogger(__name__)
RECENT_COMPENSATIONS = 25
_RANK = {"breached": 4, "failing": 3, "at risk": 2, "no data": 1, "ok": 0}


def empty_state() -> State:
    return {
        "version": 0,
        "records": {},
        "contracts": {},
        "compensations": [],
        "provider_scorecards": {},
    }


def _empty_contract(cid: str) -> dict[str, Any]:
    return {
        "contract_id": cid,
        "contract_version": None,
        "as_of": None,
        "objectives": {},
        "open_breaches": {},
        "breaches_opened": 0,
        "warnings": {},
        "last_warning": {},
        "targets": {},
        "scorecard": None,
        "previous": {},
    }


def _later(a: str | None, b: str | None) -> str | None:
    """The later of two RFC 3339 UTC instants written by the engine (same format: text order)."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def fold(state: State, records: Iterable[Record]) -> State:
    """A new state with ``records`` applied in order; ``state`` itself is left unchanged."""
    new = {
        **state,
        "records": dict(state["records"]),
        "contracts": dict(state["contracts"]),
        "compensations": list(state["compensations"]),
        "provider_scorecards": dict(state["provider_scorecards"]),
    }
    touched: set[str] = set()
    contracts = new["contracts"]

    def contract(cid: str) -> dict[str, Any]:
        if cid not in touched:
            old = contracts.get(cid) or _empty_contract(cid)
            contracts[cid] = {
                **old,
                "objectives": dict(old["objectives"]),
                "open_breaches": dict(old["open_breaches"]),
                "warnings": dict(old["warnings"]),
                "last_warning": dict(old["last_warning"]),
                "targets": dict(old["targets"]),
                "previous": dict(old.get("previous", {})),
            }
            touched.add(cid)
        entry: dict[str, Any] = contracts[cid]
        return entry

    counts = new["records"]
    for r in records:
        kind = str(r.get("record", "unknown"))
        counts[kind] = counts.get(kind, 0) + 1
        cid = r.get("contract_id")
        if kind == "scorecard" and r.get("scope") == "provider":
            new["provider_scorecards"][str(r.get("provider_id"))] = r
            continue
        if not isinstance(cid, str) or kind not in _APPLY:
            continue
        _APPLY[kind](contract(cid), r, new)
    new["version"] = state["version"] + 1
    return new


def _metric(c: dict[str, Any], m: Record, _: State) -> None:
    oid = m["objective_id"]
    old = c["objectives"].get(oid)
    if old is not None and m["window_end"] < old["window_end"]:
        return  # an older window, re-published: the newer one stays
    entry = {
        k: m.get(k)
        for k in (
            "objective_id", "sli", "unit", "window_start", "window_end", "value", "compliant",
            "period_start", "period_end", "period_value", "period_good", "period_total",
        )
    }  # fmt: skip
    if old is not None and old["period_start"] != m.get("period_start"):
        # A new period: the last window of the one before keeps its final figures.
        c["previous"][oid] = old
    if m.get("compliant") is not None:
        entry["judged"] = {k: m.get(k) for k in ("window_end", "value", "compliant")}
    elif old is not None and old["period_start"] == m.get("period_start"):
        entry["judged"] = old.get("judged")  # the last window that was judged, this period
    c["objectives"][oid] = entry
    c["contract_version"] = m.get("contract_version")
    c["as_of"] = _later(c["as_of"], m["window_end"])


def _target(c: dict[str, Any], r: Record) -> None:
    if r.get("threshold") is not None and r.get("comparator"):
        c["targets"][r["objective_id"]] = {
            "comparator": r["comparator"],
            "threshold": r["threshold"],
        }


def _breach(c: dict[str, Any], b: Record, _: State) -> None:
    _target(c, b)
    if b["status"] == "opened":
        if b["breach_id"] not in c["open_breaches"]:
            c["breaches_opened"] += 1
        c["open_breaches"][b["breach_id"]] = {
            k: b.get(k)
            for k in (
                "breach_id", "contract_id", "contract_version", "objective_id", "sli",
                "comparator", "threshold", "observed", "window_start", "window_end",
                "detected_at", "priority",
            )
        }  # fmt: skip
    else:
        c["open_breaches"].pop(b["breach_id"], None)


def _compensation(c: dict[str, Any], r: Record, state: State) -> None:
    keep = {
        k: r.get(k)
        for k in (
            "compensation_id", "contract_id", "objective_id", "period_start", "period_end",
            "observed", "threshold", "tier", "credit_percent", "credit_amount", "currency",
            "extension_hours", "period_fee", "capped",
        )
    }  # fmt: skip
    recent = [x for x in state["compensations"] if x["compensation_id"] != r["compensation_id"]]
    state["compensations"] = [keep, *recent][:RECENT_COMPENSATIONS]


def _warning(c: dict[str, Any], w: Record, _: State) -> None:
    oid, wid = str(w.get("objective_id")), str(w["warning_id"])
    if w.get("status") == "cleared":
        c["warnings"].pop(wid, None)
    else:
        c["warnings"][wid] = _warning_fields(w)
    old = c["last_warning"].get(oid)
    if old is None or str(w.get("detected_at")) >= str(old.get("detected_at")):
        c["last_warning"][oid] = _warning_fields(w)


def _warning_fields(w: Record) -> dict[str, Any]:
    return {
        k: w.get(k)
        for k in (
            "warning_id", "status", "objective_id", "severity", "burn_rate_long",
            "burn_rate_short", "long_window", "short_window", "budget_remaining", "detected_at",
        )
    }  # fmt: skip


def _scorecard(c: dict[str, Any], s: Record, _: State) -> None:
    old = c["scorecard"]
    if old is None or str(s.get("period_end")) >= str(old.get("period_end")):
        c["scorecard"] = {
            k: s.get(k)
            for k in ("scorecard_id", "period_start", "period_end", "total_score", "grade")
        }


_APPLY = {
    "metric": _metric,
    "breach": _breach,
    "compensation": _compensation,
    "warning": _warning,
    "scorecard": _scorecard,
}


def targets_from_ruleset(ruleset: Ruleset) -> dict[str, dict[str, dict[str, Any]]]:
    """Each contract's objectives' comparator and threshold (latest revision)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for cid in ruleset.contract_ids:
        contract = ruleset.latest(cid)
        if contract is not None:
            out[cid] = {
                o.id: {"comparator": str(o.comparator), "threshold": float(o.threshold)}
                for o in contract.objectives
            }
    return out


def zones_from_ruleset(ruleset: Ruleset) -> dict[str, dict[str, Any]]:
    """Each contract's time zone and service calendar (latest revision)."""
    out: dict[str, dict[str, Any]] = {}
    for cid in ruleset.contract_ids:
        contract = ruleset.latest(cid)
        if contract is not None:
            out[cid] = {
                "tz": contract.tz,
                "calendar": contract.calendar,
                "provider_id": contract.provider_id,
            }
    return out


# Every poll of the page asks again for the same (calendar, window end, period end): a view of
# many contracts must not lay a month of service intervals per objective each time.
_service_ms = functools.lru_cache(maxsize=1 << 14)(service_ms_between)


def _owed_units(o: Mapping[str, Any], calendar: ServiceCalendar | None) -> int:
    """The availability units still owed from the objective's last window to its period's end:
    service minutes (node-ms: times the nodes of the last window); 0 for other SLIs."""
    sli = o.get("sli")
    if (
        sli
        not in (
            "service_availability",
            "storage_availability",
            "network_availability",
            "node_availability",
        )
        or not o.get("period_end")
        or not o.get("window_end")
    ):
        return 0  # fmt: skip
    start, end = parse_instant(o["window_end"]), parse_instant(o["period_end"])
    if end <= start:
        return 0
    owed_ms = _service_ms(calendar, start, end) if calendar is not None else end - start
    if sli != "node_availability":
        return owed_ms // MINUTE_MS
    window_ms = parse_instant(o["window_end"]) - parse_instant(o["window_start"])
    nodes = round(int(o.get("total") or 0) / window_ms) if window_ms > 0 else 0
    return owed_ms * max(nodes, 1)


def _budget(
    o: Mapping[str, Any], target: Mapping[str, Any] | None, calendar: ServiceCalendar | None
) -> float | None:
    """``budget_left`` (the one definition, ``engine.report.series``) of an objective's period
    so far, counting the service still owed until the period ends."""
    if not target or target.get("threshold") is None or not target.get("comparator"):
        return None
    return budget_left(
        o["sli"],
        str(target["comparator"]),
        float(target["threshold"]),
        o.get("period_good"),
        o.get("period_total"),
        _owed_units(o, calendar),
    )


def _objective_view(
    o: dict[str, Any],
    target: Mapping[str, Any] | None,
    firing: list[Record],
    breaches: int,
    zone: Mapping[str, Any],
) -> dict[str, Any]:
    value = o["period_value"]
    comparator = target.get("comparator") if target else None
    threshold = target.get("threshold") if target else None
    period_ok = None
    if value is not None and comparator and threshold is not None:
        period_ok = meets(comparator, float(threshold), float(value))
    tz = str(zone.get("tz") or "UTC")
    budget = _budget(o, target, zone.get("calendar"))
    severities = {w.get("severity") for w in firing}
    active = "page" if "page" in severities else ("ticket" if severities else None)
    judged = o.get("judged")
    if period_ok is None and value is None and judged is not None:
        period_ok = judged["compliant"]  # a latency or error rate: its last judged window
    if breaches:
        status = "breached"
    elif period_ok is False:
        status = "failing"
    elif active is not None:
        status = "at risk"
    elif period_ok is None and value is None:
        status = "no data"
    else:
        status = "ok"
    return {
        "objective_id": o["objective_id"],
        "sli": o["sli"],
        "unit": o["unit"],
        "target": target_text(comparator, threshold, o["unit"]),
        "period_value": value,
        "period_start": o["period_start"],
        "period_end": o["period_end"],
        "period": period_label(o["period_start"], o["period_end"], tz),
        "window_value": o["value"],
        "window_end": o["window_end"],
        "window_end_local": local_time(o["window_end"], tz),
        "window_compliant": o["compliant"],
        "judged_value": judged["value"] if judged else None,
        "judged_end": judged["window_end"] if judged else None,
        "judged_end_local": local_time(judged["window_end"], tz) if judged else None,
        "period_compliant": period_ok,
        "budget_remaining": budget,
        "warning": active,
        "open_breaches": breaches,
        "status": status,
    }


def _previous_view(
    c: Mapping[str, Any], known: Mapping[str, Any], zone: Mapping[str, Any], state: State
) -> dict[str, Any] | None:
    """The period before the current one, as its last windows left it: each objective's final
    value, verdict, budget left and credit. None before a contract has closed a period."""
    previous = c.get("previous") or {}
    if not previous:
        return None
    tz = str(zone.get("tz") or "UTC")
    latest = max(o["period_start"] for o in previous.values())
    credits = {
        x["objective_id"]: x
        for x in state["compensations"]
        if x["contract_id"] == c["contract_id"] and x["period_start"] == latest
    }
    rows = []
    for oid in sorted(previous):
        o = previous[oid]
        if o["period_start"] != latest:
            continue
        target = known.get(oid)
        comp = credits.get(oid)
        value = comp["observed"] if comp and o["period_value"] is None else o["period_value"]
        ok = None
        if value is not None and target and target.get("threshold") is not None:
            ok = meets(str(target["comparator"]), float(target["threshold"]), float(value))
        rows.append(
            {
                "objective_id": oid,
                "sli": o["sli"],
                "unit": o["unit"],
                "target": target_text(
                    target.get("comparator") if target else None,
                    target.get("threshold") if target else None,
                    o["unit"],
                ),
                "period_value": value,
                "period_compliant": ok,
                "budget_remaining": _budget({**o, "window_end": o["period_end"]}, target, None),
                "credit": f"{comp['credit_amount']} {comp['currency']}" if comp else None,
            }
        )
    end = max(o["period_end"] for o in previous.values() if o["period_start"] == latest)
    return {
        "period_start": latest,
        "period_end": end,
        "period": period_label(latest, end, tz),
        "objectives": rows,
    }


def view(
    state: State,
    targets: Targets | None = None,
    quarantined: Quarantined | None = None,
    zones: Zones | None = None,
    books: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """What ``/dashboard.json`` serves: contracts, compliance, open breaches, budgets, credits,
    each contract's quarantine reason (``None`` unless it is quarantined) and the period before
    the current one; times also in each contract's zone (``zones``, else UTC). ``books`` are
    counts of the stages that write no records here (the replay's manifest): each is added to
    the counts of the records folded."""
    targets = targets or {}
    zones = zones or {}
    quarantined = {str(k): str(v) for k, v in (quarantined or {}).items()}
    contracts: list[dict[str, Any]] = []
    open_breaches: list[Record] = []
    active_warnings: list[Record] = []
    for cid in sorted(state["contracts"].keys() | quarantined.keys()):
        c = state["contracts"].get(cid) or _empty_contract(cid)
        zone = zones.get(cid, {})
        tz = str(zone.get("tz") or "UTC")
        known = {**targets.get(cid, {}), **c["targets"]}
        objectives = []
        for oid in sorted(c["objectives"]):
            n = sum(1 for b in c["open_breaches"].values() if b["objective_id"] == oid)
            firing = [w for w in c["warnings"].values() if w["objective_id"] == oid]
            objectives.append(
                _objective_view(c["objectives"][oid], known.get(oid), firing, n, zone)
            )
        budgets = {o["objective_id"]: o["budget_remaining"] for o in objectives}
        active_warnings.extend(
            {
                "contract_id": cid,
                **w,
                "detected_local": local_time(w.get("detected_at"), tz),
                # the objective's budget now, by the same definition as its row
                "budget_remaining": budgets.get(str(w.get("objective_id"))),
            }
            for w in c["warnings"].values()
        )
        open_breaches.extend(
            {
                **b,
                "window_start_local": local_time(b.get("window_start"), tz),
                "window_end_local": local_time(b.get("window_end"), tz),
                "detected_local": local_time(b.get("detected_at"), tz),
            }
            for b in c["open_breaches"].values()
        )
        judged = [o["status"] for o in objectives if o["status"] != "no data"]
        worst = max(judged, key=_RANK.__getitem__, default="no data")
        card = c["scorecard"]
        current = max((o for o in objectives if o["period"]), key=lambda o: o["period_start"],
                      default=None)  # fmt: skip
        contracts.append(
            {
                "contract_id": cid,
                "contract_version": c["contract_version"],
                "timezone": tz,
                "period": current["period"] if current else None,
                "as_of": c["as_of"],
                "as_of_local": local_time(c["as_of"], tz),
                "status": worst,
                "open_breaches": len(c["open_breaches"]),
                "breaches_opened": c["breaches_opened"],
                "grade": card["grade"] if card else None,
                "score": card["total_score"] if card else None,
                "quarantined": quarantined.get(cid),
                "objectives": objectives,
                "previous": _previous_view(c, known, zone, state),
            }
        )
    all_objectives = [o for c in contracts for o in c["objectives"]]
    open_breaches.sort(key=lambda b: (str(b.get("detected_at")), b["breach_id"]), reverse=True)
    active_warnings.sort(key=lambda w: (str(w.get("detected_at")), w["warning_id"]), reverse=True)
    records = dict(state["records"])
    for kind, n in (books or {}).items():
        records[kind] = records.get(kind, 0) + int(n)
    tz_of = {c["contract_id"]: c["timezone"] for c in contracts}
    provider_tz = {
        str(z.get("provider_id")): str(z.get("tz")) for _, z in sorted(zones.items(), reverse=True)
    }  # a provider's scorecard in the zone of its (first) contract
    return {
        "version": state["version"],
        "records": dict(sorted(records.items())),
        "summary": {
            "contracts": len(contracts),
            "objectives": len(all_objectives),
            "ok": sum(1 for o in all_objectives if o["status"] == "ok"),
            "at_risk": sum(1 for o in all_objectives if o["status"] in ("at risk", "failing")),
            "breached": sum(1 for o in all_objectives if o["status"] == "breached"),
            "open_breaches": len(open_breaches),
            "active_warnings": len(active_warnings),
            "compensations": len(state["compensations"]),
            "quarantined": len(quarantined),
            "dead_letters": records.get(DEAD.record, 0),
            "late_events": records.get(LATE.record, 0),
        },
        "quarantined": dict(sorted(quarantined.items())),
        "contracts": contracts,
        "open_breaches": open_breaches,
        "warnings": active_warnings,
        "compensations": [
            {
                **x,
                "period": period_label(
                    x["period_start"], x["period_end"], tz_of.get(x["contract_id"], "UTC")
                ),
            }
            for x in state["compensations"]
        ],
        "provider_scorecards": [
            {
                **{
                    k: s.get(k)
                    for k in ("provider_id", "period_start", "period_end", "total_score", "grade")
                },
                "period": period_label(
                    s.get("period_start"),
                    s.get("period_end"),
                    provider_tz.get(str(s.get("provider_id")), "UTC"),
                ),
            }
            for _, s in sorted(state["provider_scorecards"].items())
        ],
    }


class Feed:
    """The current state behind a live dashboard: ``feed`` folds each published batch, and
    ``quarantined`` is the worker's current quarantine (contract id → reason), set through
    ``set_quarantined``: the hook by which the worker reports it to ``/dashboard.json`` and
    ``/health`` (the dashboard never reads engine state itself)."""

    def __init__(self) -> None:
        self.state: State = empty_state()
        self.quarantined: Quarantined = {}

    def set_quarantined(self, quarantined: Quarantined) -> None:
        """Replace the quarantine map with a copy of ``quarantined`` (the caller may keep
        changing its own); an empty map lifts every flag."""
        self.quarantined = {str(k): str(v) for k, v in quarantined.items()}

    def feed(self, records: Iterable[Record]) -> None:
        """Fold one batch; a record the fold cannot read is logged, never raised (the worker
        calls this after publishing, and a dashboard must not stop it)."""
        try:
            self.state = fold(self.state, records)
        except Exception:
            log.exception("dashboard: a batch of records could not be folded; state kept")
