"""The compliance table ``csla replay`` and ``csla demo`` print after a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from engine.cli._console import console

__all__ = ["print_summary"]


def print_summary(result: Any, out: Path, elapsed: float, ruleset: Any = None) -> None:
    """The replay's books and one row per contract, objective and period: the period named in
    the contract's time zone (``October 2026``), the target as written (``≥ 99.5 %``)."""
    from engine.report.display import period_label, quantity, target_text

    stats = result.stats
    console.print(
        f"{stats.get('events_in', 0):,} lines in {elapsed:.1f} s: {stats.get('accepted', 0):,} accepted, "
        f"{stats.get('duplicates', 0):,} duplicates, {stats.get('late', 0):,} late, "
        f"{stats.get('dead_letters', 0):,} dead letters → {out}/"
    )
    table = Table(title="Compliance per contract, objective and closed period")
    for col in ("contract", "objective", "period", "observed", "target", "breaches", "credit"):
        table.add_column(col)
    breaches: dict[tuple[str, str], int] = {}
    for b in result.outputs.breaches:
        if b["status"] == "opened":
            key = (b["contract_id"], b["objective_id"])
            breaches[key] = breaches.get(key, 0) + 1
    comps = {
        (c["contract_id"], c["objective_id"], c["period_start"]): c
        for c in result.outputs.compensations
    }
    for m in result.outputs.metrics:
        key = (m["contract_id"], m["objective_id"])
        comp = comps.get((*key, m["period_start"]))
        value = comp["observed"] if comp else m["period_value"]
        credit = f"{comp['credit_amount']} {comp['currency']}" if comp else "-"
        contract = ruleset.latest(m["contract_id"]) if ruleset is not None else None
        tz = contract.tz if contract is not None else "UTC"
        objective = next(
            (o for o in (contract.objectives if contract else ()) if o.id == m["objective_id"]),
            None,
        )
        target = (
            target_text(str(objective.comparator), float(objective.threshold), m["unit"])
            if objective is not None
            else None
        )
        table.add_row(
            m["contract_id"],
            m["objective_id"],
            period_label(m["period_start"], m["period_end"], tz) or m["period_start"][:10],
            quantity(value, m["unit"]),
            target or m["sli"],
            str(breaches.get(key, 0)),
            credit,
        )
    Console(width=max(Console().width, 150)).print(table)
