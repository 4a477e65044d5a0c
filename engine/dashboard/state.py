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

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from engine.report.series import budget_fraction, meets

if TYPE_CHECKING:
    from engine.core.contract import Ruleset

Record = dict[str, Any]
State = dict[str, Any]
Targets = Mapping[str, Mapping[str, Mapping[str, Any]]]
Quarantined = Mapping[str, str]  # contract id → the reason it was quarantined

log = logging.getLogger(__name__)
RECENT_COMPENSATIONS = 25
_SYMBOL = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}
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


def _objective_view(
    o: dict[str, Any],
    target: Mapping[str, Any] | None,
    last_warning: Record | None,
    firing: list[Record],
    breaches: int,
) -> dict[str, Any]:
    value = o["period_value"]
    comparator = target.get("comparator") if target else None
    threshold = target.get("threshold") if target else None
    period_ok = None
    if value is not None and comparator and threshold is not None:
        period_ok = meets(comparator, float(threshold), float(value))
    budget = None
    share = (
        budget_fraction(o["sli"], comparator, float(threshold))
        if comparator and threshold is not None
        else None
    )
    if share is not None and o.get("period_total"):
        bad = int(o["period_total"]) - int(o.get("period_good") or 0)
        budget = round(1 - bad / (share * int(o["period_total"])), 6)
    elif last_warning is not None and last_warning.get("budget_remaining") is not None:
        budget = float(last_warning["budget_remaining"])
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
        "target": f"{_SYMBOL.get(comparator, comparator)} {threshold:g}"
        if comparator and threshold is not None
        else None,
        "period_value": value,
        "period_start": o["period_start"],
        "period_end": o["period_end"],
        "window_value": o["value"],
        "window_end": o["window_end"],
        "window_compliant": o["compliant"],
        "judged_value": judged["value"] if judged else None,
        "judged_end": judged["window_end"] if judged else None,
        "period_compliant": period_ok,
        "budget_remaining": budget,
        "warning": active,
        "open_breaches": breaches,
        "status": status,
    }


def view(
    state: State, targets: Targets | None = None, quarantined: Quarantined | None = None
) -> dict[str, Any]:
    """What ``/dashboard.json`` serves: contracts, compliance, open breaches, budgets, credits,
    and each contract's quarantine reason (``None`` unless it is quarantined)."""
    targets = targets or {}
    quarantined = {str(k): str(v) for k, v in (quarantined or {}).items()}
    contracts: list[dict[str, Any]] = []
    open_breaches: list[Record] = []
    active_warnings: list[Record] = []
    for cid in sorted(state["contracts"].keys() | quarantined.keys()):
        c = state["contracts"].get(cid) or _empty_contract(cid)
        known = {**targets.get(cid, {}), **c["targets"]}
        objectives = []
        for oid in sorted(c["objectives"]):
            n = sum(1 for b in c["open_breaches"].values() if b["objective_id"] == oid)
            firing = [w for w in c["warnings"].values() if w["objective_id"] == oid]
            objectives.append(
                _objective_view(
                    c["objectives"][oid], known.get(oid), c["last_warning"].get(oid), firing, n
                )
            )
        active_warnings.extend({"contract_id": cid, **w} for w in c["warnings"].values())
        open_breaches.extend(c["open_breaches"].values())
        judged = [o["status"] for o in objectives if o["status"] != "no data"]
        worst = max(judged, key=_RANK.__getitem__, default="no data")
        card = c["scorecard"]
        contracts.append(
            {
                "contract_id": cid,
                "contract_version": c["contract_version"],
                "as_of": c["as_of"],
                "status": worst,
                "open_breaches": len(c["open_breaches"]),
                "breaches_opened": c["breaches_opened"],
                "grade": card["grade"] if card else None,
                "score": card["total_score"] if card else None,
                "quarantined": quarantined.get(cid),
                "objectives": objectives,
            }
        )
    all_objectives = [o for c in contracts for o in c["objectives"]]
    open_breaches.sort(key=lambda b: (str(b.get("detected_at")), b["breach_id"]), reverse=True)
    active_warnings.sort(key=lambda w: (str(w.get("detected_at")), w["warning_id"]), reverse=True)
    return {
        "version": state["version"],
        "records": dict(sorted(state["records"].items())),
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
        },
        "quarantined": dict(sorted(quarantined.items())),
        "contracts": contracts,
        "open_breaches": open_breaches,
        "warnings": active_warnings,
        "compensations": list(state["compensations"]),
        "provider_scorecards": [
            {
                k: s.get(k)
                for k in ("provider_id", "period_start", "period_end", "total_score", "grade")
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
