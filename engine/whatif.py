"""What-if: the same telemetry under two rule sets, and what changes (``csla diff``).

An operator tuning a rule file replays history under the current rules (A) and the candidate
(B) and sees, before it ships: breaches opened under A only, B only or both; compensation per
contract, objective and period (§6.1.16) with A's and B's tier, credit and extension; credit
totals per contract and currency; each period's value and verdict under both.

Records are matched by meaning, never by id alone: a breach by (contract, objective,
window_start), a compensation or period by (contract, objective, period_start), since ids name
the revision and a candidate usually bumps it. Money is ``Decimal`` and leaves as strings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from rich.console import Console
from rich.table import Table

from engine.core.records import BREACHES, COMPENSATIONS, METRICS, SCORECARDS
from engine.report.progress import Bars

if TYPE_CHECKING:
    from engine.core.contract import ObjectiveRule, Ruleset

Key = tuple[str, str, str]  # contract_id, objective_id, window_start or period_start
Record = dict[str, Any]

_COMP_FIELDS = ("tier", "credit_percent", "credit_amount", "currency", "extension_hours")
_COMP_EXTRA = ("observed", "threshold", "period_fee", "capped", "contract_version")
_BREACH_FIELDS = (
    "breach_id", "contract_version", "comparator", "threshold", "observed", "window_end",
    "detected_at", "priority",
)  # fmt: skip
_SYMBOL = {">=": "≥", ">": ">", "<=": "≤", "<": "<"}


@dataclass(frozen=True, slots=True)
class _Side:
    """What one replay produced, keyed for matching."""

    opened: dict[Key, list[Record]]
    resolved: dict[str, Record]  # breach_id → its resolved record
    compensations: dict[Key, Record]
    last_metrics: dict[Key, Record]  # the metric with the latest window_end of each period
    counts: dict[str, int]
    scorecards: dict[Key, Record] = field(default_factory=dict)  # (scope, id, period start)


@dataclass(frozen=True)
class WhatIf:
    """The differences between two replays of one input; ``to_json`` is stable and sorted."""

    input: str
    until: str | None
    breaches_a_only: list[Record]
    breaches_b_only: list[Record]
    breaches_both: list[Record]
    compensations: list[Record]
    periods: list[Record]
    totals: list[Record]
    outputs: dict[str, dict[str, int]] = field(default_factory=dict)
    grades: list[Record] = field(default_factory=list)
    label_a: str = "A"
    label_b: str = "B"

    @property
    def summary(self) -> dict[str, int]:
        return {
            "breaches_a_only": len(self.breaches_a_only),
            "breaches_b_only": len(self.breaches_b_only),
            "breaches_both": len(self.breaches_both),
            "breaches_changed": sum(e["changed"] for e in self.breaches_both),
            "compensations_changed": sum(r["changed"] for r in self.compensations),
            "periods_changed": sum(r["changed"] for r in self.periods),
            "grades_changed": sum(r["changed"] for r in self.grades),
        }

    @property
    def empty(self) -> bool:
        """No breach, compensation or period value differs (ids and revisions aside)."""
        return not any(v for k, v in self.summary.items() if k != "breaches_both")

    def to_json(self) -> dict[str, Any]:
        data = {
            "rules": {"a": self.label_a, "b": self.label_b},
            "input": self.input,
            "until": self.until,
            "empty": self.empty,
            "summary": self.summary,
            "breaches": {
                "a_only": self.breaches_a_only,
                "b_only": self.breaches_b_only,
                "both": self.breaches_both,
            },
            "compensations": self.compensations,
            "periods": self.periods,
            "totals": self.totals,
            "grades": self.grades,
            "outputs": self.outputs,
        }
        result: dict[str, Any] = orjson.loads(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
        return result

    def render(self, console: Console) -> None:
        """Rich tables: breach changes, compensation changes, period verdicts, totals."""
        until = f", closed up to {self.until}" if self.until else ""
        console.print(f"[bold]A[/bold] = {self.label_a}   [bold]B[/bold] = {self.label_b}")
        console.print(f"input {self.input}{until}", markup=False)
        if self.empty:
            console.print(
                "[green]no differences[/green]: the same breaches, compensation and period "
                "values under both rule sets"
            )
        else:
            _render_breaches(self, console)
            _render_compensations(self, console)
            _render_periods(self, console)
            _render_grades(self, console)
        _render_totals(self, console)


def diff_rulesets(
    rules_a: Ruleset,
    rules_b: Ruleset,
    input_path: str,
    now_ms: int | None,
    until_ms: int | None,
    work_dir: Path,
    bars: Bars | None = None,
) -> WhatIf:
    """Replay ``input_path`` under both rule sets (into ``work_dir/a`` and ``/b``) and compare;
    with ``bars``, one progress bar per replay."""
    from engine.adapters.files import replay
    from engine.core.calendar import utc_iso

    for side, rules in (("a", rules_a), ("b", rules_b)):
        on_chunk = bars.add(f"replay under {side.upper()}", input_path) if bars else None
        replay(rules, input_path, work_dir / side, now_ms, until_ms=until_ms, on_chunk=on_chunk)
    side_a, side_b = _read_side(work_dir / "a"), _read_side(work_dir / "b")
    a_only, b_only, both = _diff_breaches(side_a, side_b)
    return WhatIf(
        input=input_path,
        until=None if until_ms is None else utc_iso(until_ms),
        breaches_a_only=a_only,
        breaches_b_only=b_only,
        breaches_both=both,
        compensations=_diff_compensations(side_a, side_b),
        periods=_diff_periods(side_a, side_b, rules_a, rules_b),
        totals=_totals(side_a, side_b),
        grades=_diff_grades(side_a, side_b),
        outputs={
            "a": dict(sorted(side_a.counts.items())),
            "b": dict(sorted(side_b.counts.items())),
        },
    )


# --- reading and matching -------------------------------------------------------------------


def _records(path: Path) -> Iterator[Record]:
    if path.exists():
        with path.open("rb") as handle:
            for line in handle:
                if line.strip():
                    yield orjson.loads(line)


def _read_side(out_dir: Path) -> _Side:
    """One replay's records, from a complete output directory (``IncompleteOutputs`` else)."""
    from engine.adapters.manifest import require_manifest

    counts = {f.kind: f.records for f in require_manifest(out_dir).outputs.values()}
    opened: dict[Key, list[Record]] = {}
    resolved: dict[str, Record] = {}
    for b in _records(out_dir / BREACHES.file):
        if b["status"] == "opened":
            key = (b["contract_id"], b["objective_id"], b["window_start"])
            opened.setdefault(key, []).append(b)
        else:
            resolved[b["breach_id"]] = b
    compensations = {
        (c["contract_id"], c["objective_id"], c["period_start"]): c
        for c in _records(out_dir / COMPENSATIONS.file)
    }
    last: dict[Key, Record] = {}
    for m in _records(out_dir / METRICS.file):
        key = (m["contract_id"], m["objective_id"], m["period_start"])
        if key not in last or m["window_end"] >= last[key]["window_end"]:
            last[key] = m
    scorecards = {
        (s["scope"], s["contract_id"] or s["provider_id"], s["period_start"]): s
        for s in _records(out_dir / SCORECARDS.file)
    }
    return _Side(opened, resolved, compensations, last, counts, scorecards)


def _breach_view(side: _Side, b: Record) -> Record:
    closed = side.resolved.get(b["breach_id"]) or {}
    view = {k: b[k] for k in _BREACH_FIELDS}
    return {
        **view,
        "resolved_at": closed.get("detected_at"),
        "resolved_observed": closed.get("observed"),
    }


def _same_breach(a: Record, b: Record) -> bool:
    ignore = ("breach_id", "contract_version")
    return {k: v for k, v in a.items() if k not in ignore} == {
        k: v for k, v in b.items() if k not in ignore
    }


def _diff_breaches(a: _Side, b: _Side) -> tuple[list[Record], list[Record], list[Record]]:
    a_only: list[Record] = []
    b_only: list[Record] = []
    both: list[Record] = []
    for key in sorted(a.opened.keys() | b.opened.keys()):
        left, right = a.opened.get(key, []), b.opened.get(key, [])
        for index in range(max(len(left), len(right))):
            rec_a = left[index] if index < len(left) else None
            rec_b = right[index] if index < len(right) else None
            sample = rec_a or rec_b
            assert sample is not None
            view_a = _breach_view(a, rec_a) if rec_a else None
            view_b = _breach_view(b, rec_b) if rec_b else None
            entry = {
                "contract_id": key[0],
                "objective_id": key[1],
                "window_start": key[2],
                "sli": sample["sli"],
                "a": view_a,
                "b": view_b,
            }
            if view_a and view_b:
                both.append({**entry, "changed": not _same_breach(view_a, view_b)})
            else:
                (a_only if view_a else b_only).append(entry)
    return a_only, b_only, both


def _comp_view(c: Record | None) -> Record | None:
    return None if c is None else {k: c[k] for k in (*_COMP_FIELDS, *_COMP_EXTRA)}


def _diff_compensations(a: _Side, b: _Side) -> list[Record]:
    rows = []
    for key in sorted(a.compensations.keys() | b.compensations.keys()):
        rec_a, rec_b = a.compensations.get(key), b.compensations.get(key)
        sample = rec_a or rec_b
        assert sample is not None
        same_currency = rec_a is None or rec_b is None or rec_a["currency"] == rec_b["currency"]
        compared = ("observed", *_COMP_FIELDS)
        rows.append(
            {
                "contract_id": key[0],
                "objective_id": key[1],
                "period_start": key[2],
                "period_end": sample["period_end"],
                "sli": sample["sli"],
                "a": _comp_view(rec_a),
                "b": _comp_view(rec_b),
                "difference": {
                    "credit_percent": _fdiff(
                        _num(rec_a, "credit_percent"), _num(rec_b, "credit_percent")
                    ),
                    "credit_amount": _money(_amount(rec_b) - _amount(rec_a))
                    if same_currency
                    else None,
                    "extension_hours": _fdiff(
                        _num(rec_a, "extension_hours"), _num(rec_b, "extension_hours")
                    ),
                },
                "changed": rec_a is None
                or rec_b is None
                or any(rec_a[k] != rec_b[k] for k in compared),
            }
        )
    return rows


def _period_view(side: _Side, rules: Ruleset, key: Key) -> Record | None:
    comp, metric = side.compensations.get(key), side.last_metrics.get(key)
    record = comp or metric
    if record is None:
        return None
    value = comp["observed"] if comp else metric["period_value"] if metric else None
    objective = _objective(rules, key[0], record["contract_version"], key[1])
    return {
        "value": value,
        "source": "compensation" if comp else "metric",
        "contract_version": record["contract_version"],
        "comparator": objective.comparator if objective else None,
        "threshold": objective.threshold if objective else None,
        "met": objective.meets(value) if objective and value is not None else None,
    }


def _diff_periods(a: _Side, b: _Side, rules_a: Ruleset, rules_b: Ruleset) -> list[Record]:
    from engine.core.contract import SLI_UNITS

    keys = a.compensations.keys() | a.last_metrics.keys()
    keys |= b.compensations.keys() | b.last_metrics.keys()
    rows = []
    for key in sorted(keys):
        view_a, view_b = _period_view(a, rules_a, key), _period_view(b, rules_b, key)
        sample = next(
            s.compensations.get(key) or s.last_metrics[key]
            for s in (a, b)
            if key in s.compensations or key in s.last_metrics
        )
        compared = ("value", "comparator", "threshold", "met")
        rows.append(
            {
                "contract_id": key[0],
                "objective_id": key[1],
                "period_start": key[2],
                "period_end": sample["period_end"],
                "unit": SLI_UNITS.get(sample["sli"]),
                "a": view_a,
                "b": view_b,
                "difference": _fdiff(_get(view_a, "value"), _get(view_b, "value")),
                "changed": view_a is None
                or view_b is None
                or any(view_a[k] != view_b[k] for k in compared),
            }
        )
    return rows


def _totals(a: _Side, b: _Side) -> list[Record]:
    sums: dict[tuple[str, str], dict[str, Any]] = {}
    for name, side in (("a", a), ("b", b)):
        for c in side.compensations.values():
            group = sums.setdefault(
                (c["contract_id"], c["currency"]),
                {"a": Decimal(0), "b": Decimal(0), "ha": Decimal(0), "hb": Decimal(0), "exp": 0},
            )
            amount = Decimal(c["credit_amount"])
            group[name] += amount
            group["h" + name] += Decimal(repr(c["extension_hours"]))
            group["exp"] = min(group["exp"], _exponent(amount))
    rows = []
    for (contract_id, currency), g in sorted(sums.items()):
        quantum = Decimal(1).scaleb(g["exp"])
        rows.append(
            {
                "contract_id": contract_id,
                "currency": currency,
                "credit_amount": {
                    "a": _money(g["a"].quantize(quantum)),
                    "b": _money(g["b"].quantize(quantum)),
                    "difference": _money((g["b"] - g["a"]).quantize(quantum)),
                },
                "extension_hours": {
                    "a": float(g["ha"]),
                    "b": float(g["hb"]),
                    "difference": float(g["hb"] - g["ha"]),
                },
            }
        )
    return rows


def _diff_grades(a: _Side, b: _Side) -> list[Record]:
    """Table A.2 total and §7 grade of each contract and provider scorecard, A against B."""
    rows = []
    for key in sorted(a.scorecards.keys() | b.scorecards.keys()):
        sa, sb = a.scorecards.get(key), b.scorecards.get(key)
        view_a = None if sa is None else {"total_score": sa["total_score"], "grade": sa["grade"]}
        view_b = None if sb is None else {"total_score": sb["total_score"], "grade": sb["grade"]}
        scope, name, period_start = key
        rows.append(
            {"scope": scope, "id": name, "period_start": period_start, "a": view_a, "b": view_b,
             "changed": view_a != view_b}
        )  # fmt: skip
    return rows


def _objective(
    rules: Ruleset, contract_id: str, revision: int, objective_id: str
) -> ObjectiveRule | None:
    for contract in rules.revisions.get(contract_id, ()):
        if contract.revision == revision:
            return next((o for o in contract.objectives if o.id == objective_id), None)
    return None


def _get(record: Record | None, name: str) -> Any:
    return None if record is None else record[name]


def _num(record: Record | None, name: str) -> float:
    """A credit figure of a record; no record (no tiers, no period close) gives nothing."""
    return 0.0 if record is None else float(record[name])


def _amount(record: Record | None) -> Decimal:
    return Decimal(0) if record is None else Decimal(record["credit_amount"])


def _exponent(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    return exponent if isinstance(exponent, int) else 0


def _money(amount: Decimal) -> str:
    return format(abs(amount) if amount == 0 else amount, "f")


def _fdiff(a: float | None, b: float | None) -> float | None:
    """``b − a`` without binary noise (30.0 → 50.0 is 20.0, 0.1 → 0.3 is 0.2)."""
    if a is None or b is None:
        return None
    return float(Decimal(repr(b)) - Decimal(repr(a)))


# --- rendering ------------------------------------------------------------------------------


def _num_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _arrow(a: Any, b: Any) -> str:
    a_text, b_text = ("-" if v is None else str(v) for v in (a, b))
    return a_text if a_text == b_text else f"{a_text} → {b_text}"


def _signed(amount: str | None) -> str:
    if amount is None:
        return "n/a"
    return amount if amount.startswith("-") or Decimal(amount) == 0 else "+" + amount


def _minute(instant: str | None) -> str:
    """``2026-09-30T16:00:00Z`` → ``2026-09-30T16:00Z`` (table width)."""
    return "-" if instant is None else instant[:16] + "Z"


def _table(title: str, columns: str, rows: list[list[str]], caption: str) -> Table:
    """A table of ``|``-separated ``columns``; names of money columns are right-aligned."""
    table = Table(title=title, caption=caption)
    for column in columns.split("|"):
        right = column.startswith(("credit ", "Δ", "total", "extension h "))
        table.add_column(column, justify="right" if right else "left")
    for row in rows:
        table.add_row(*row)
    return table


def _render_breaches(w: WhatIf, console: Console) -> None:
    shown = [("A only", e) for e in w.breaches_a_only] + [("B only", e) for e in w.breaches_b_only]
    shown += [("changed", e) for e in w.breaches_both if e["changed"]]
    rows = []
    for change, e in shown:
        a, b = e["a"] or {}, e["b"] or {}
        rows.append(
            [change, e["contract_id"], e["objective_id"], _minute(e["window_start"])]
            + [_objective_text(s.get("comparator"), s.get("threshold")) for s in (a, b)]
            + [_num_text(s.get("observed")) for s in (a, b)]
            + [_minute(s.get("detected_at")) for s in (a, b)]
        )
    alike = len(w.breaches_both) - sum(e["changed"] for e in w.breaches_both)
    note = f"{alike} breach(es) opened alike under both"
    if not rows:
        console.print(f"breaches: none opened or removed; {note}")
        return
    columns = "change|contract|objective|window start|objective A|objective B|observed A"
    columns += "|observed B|detected A|detected B"
    title = "Breaches opened (matched by contract, objective and window start)"
    console.print(_table(title, columns, rows, note))


def _render_compensations(w: WhatIf, console: Console) -> None:
    rows = []
    for r in (r for r in w.compensations if r["changed"]):
        a, b = r["a"] or {}, r["b"] or {}
        currency = b.get("currency") or a.get("currency") or ""
        rows.append(
            [r["contract_id"], r["objective_id"], _minute(r["period_start"])]
            + [_num_text(s.get("observed")) for s in (a, b)]
            + [_arrow(a.get(k), b.get(k)) for k in ("tier", "credit_percent")]
            + [s.get("credit_amount", "-") for s in (a, b)]
            + [f"{_signed(r['difference']['credit_amount'])} {currency}"]
            + [_arrow(a.get("extension_hours"), b.get("extension_hours"))]
        )
    unchanged = len(w.compensations) - len(rows)
    if not rows:
        console.print(f"compensation: {unchanged} record(s), none changed")
        return
    columns = "contract|objective|period start|value A|value B|tier|credit %|credit A|credit B"
    columns += "|Δ credit|extension h"
    caption = f"{unchanged} unchanged; tier = index in the rule file, 0 = first"
    console.print(_table("Compensation (§6.1.16)", columns, rows, caption))


def _render_periods(w: WhatIf, console: Console) -> None:
    rows = []
    for r in (r for r in w.periods if r["changed"]):
        a, b = r["a"] or {}, r["b"] or {}
        head = [r["contract_id"], r["objective_id"], _minute(r["period_start"])]
        values = [_verdict(a), _num_text(a.get("value")), _verdict(b), _num_text(b.get("value"))]
        rows.append(head + values)
    if rows:
        columns = "contract|objective|period start|A|value A|B|value B"
        caption = f"{len(w.periods) - len(rows)} unchanged"
        console.print(_table("Period values and verdicts", columns, rows, caption))


def _render_grades(w: WhatIf, console: Console) -> None:
    rows = []
    for r in (r for r in w.grades if r["changed"]):
        a, b = r["a"] or {}, r["b"] or {}
        rows.append(
            [r["scope"], r["id"], _minute(r["period_start"]), _num_text(a.get("total_score")),
             str(a.get("grade", "-")), _num_text(b.get("total_score")), str(b.get("grade", "-"))]
        )  # fmt: skip
    if rows:
        columns = "scope|contract / provider|period start|score A|grade A|score B|grade B"
        caption = f"{len(w.grades) - len(rows)} unchanged"
        console.print(_table("Scorecards and grades (Table A.2, §7)", columns, rows, caption))


def _render_totals(w: WhatIf, console: Console) -> None:
    rows = []
    for t in w.totals:
        credit, hours = t["credit_amount"], t["extension_hours"]
        head = [t["contract_id"], t["currency"], credit["a"], credit["b"]]
        rows.append(
            [*head, _signed(credit["difference"]), _num_text(hours["a"]), _num_text(hours["b"])]
        )
    columns = "contract|currency|total A|total B|Δ total|extension h A|extension h B"
    console.print(_table("Credit totals per contract and currency", columns, rows, ""))


def _objective_text(comparator: str | None, threshold: float | None) -> str:
    return "-" if comparator is None else f"{_SYMBOL.get(comparator, comparator)} {threshold:g}"


def _verdict(view: Record) -> str:
    if not view:
        return "-"
    met = {True: "met", False: "missed", None: "unjudged"}[view.get("met")]
    return f"{_objective_text(view.get('comparator'), view.get('threshold'))}: {met}"
