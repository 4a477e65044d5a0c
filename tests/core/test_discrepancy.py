"""Discrepancy records (engine.core.discrepancy): windows where the platform's probes and the
reports (node down, incident open) disagree.  Hourly windows of service availability, probes
every minute at second 30; instants in +08:00.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.models.outputs import Discrepancy

AVAIL = "- {id: avail, sli: service_availability, comparator: '>=', threshold: 90, window: 1h}"
TERM = ("2026-03-10T00:00:00+08:00", "2027-01-01T00:00:00+08:00")


def t(hms: str) -> str:
    return f"2026-03-10T{hms}+08:00"


def _probes(csla: Any, down: tuple[str, str] | None = None) -> list[bytes]:
    """Probes 10:00–13:00, failing in ``down`` = [start, end)."""
    lo, hi = (csla.ms(t(down[0])), csla.ms(t(down[1]))) if down else (0, 0)
    return [
        csla.probe(m, not lo <= m < hi)
        for m in range(csla.ms(t("10:00:30")), csla.ms(t("13:00:00")), 60_000)
    ]


def test_an_outage_nobody_reported(csla: Any) -> None:
    """Probes fail 11:10–11:25 (15 minutes), no report: one record for window 11:00–12:00."""
    rules = csla.ruleset(AVAIL, term=TERM)
    _, out = csla.run(rules, _probes(csla, ("11:10:00", "11:25:00")), until=t("13:00:00"))
    [record] = out.discrepancies
    Discrepancy.model_validate(record)
    assert record["kind"] == "platform_down_unreported"
    assert (record["window_start"], record["window_end"]) == (
        "2026-03-10T03:00:00Z",
        "2026-03-10T04:00:00Z",
    )
    assert record["measured"] == {
        "sources": ["platform"],
        "unavailable_minutes": 15,
        "available_minutes": 45,
    }
    assert record["reported"] == {"down_minutes": 0.0, "nodes_down": [], "incidents": []}


def test_a_reported_outage_is_no_discrepancy(csla: Any) -> None:
    """The provider opens an incident at 11:12 (inside the window) and resolves it at 11:30."""
    rules = csla.ruleset(AVAIL, term=TERM)
    lines = [
        *_probes(csla, ("11:10:00", "11:25:00")),
        csla.incident(t("11:12:00"), "INC-1", "opened", source="provider"),
        csla.incident(t("11:30:00"), "INC-1", "resolved", source="provider"),
    ]
    _, out = csla.run(rules, sorted(lines, key=_time), until=t("13:00:00"))
    assert out.discrepancies == []


def test_a_reported_outage_the_probes_did_not_see(csla: Any) -> None:
    """Node n1 reported down 12:05–12:35 (30 minutes) while every probe succeeded."""
    rules = csla.ruleset(AVAIL, term=TERM)
    lines = [
        *_probes(csla),
        csla.node(t("10:00:00"), "n1", "up", source="provider"),
        csla.node(t("12:05:00"), "n1", "down", source="provider"),
        csla.node(t("12:35:00"), "n1", "up", source="provider"),
    ]
    _, out = csla.run(rules, sorted(lines, key=_time), until=t("13:00:00"))
    [record] = out.discrepancies
    assert record["kind"] == "reported_down_platform_up"
    assert record["window_start"] == "2026-03-10T04:00:00Z"
    assert record["reported"] == {"down_minutes": 30.0, "nodes_down": ["n1"], "incidents": []}


def _time(line: bytes) -> str:
    return str(orjson.loads(line)["event_time"])
