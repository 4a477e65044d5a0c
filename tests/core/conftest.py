"""Factories for the core SLI tests: a one-contract ruleset, telemetry events, a runner.

Fixtures are factories (STYLE.md habit 8).  ``csla`` gives:

- ``csla.ruleset(objectives_yaml, ...)`` — a ``Ruleset`` of one contract ``c1`` compiled from a
  compact rule file (minimal parties, 7×24 Asia/Shanghai, calendar months, grace 5m by
  default); any section can be replaced by YAML text;
- ``csla.probe / request / node / maintenance / incident`` — one v1 telemetry event as JSON
  bytes (times as RFC 3339 text or epoch ms; ``event_id`` from a counter unless given);
- ``csla.run(ruleset, lines, ...)`` — feed lines through ``step`` in batches with a fixed
  ``now_ms``, then optionally ``advance`` the contract so every minute before ``until``
  closes; returns ``(state, Outputs)`` with all outputs of all calls.

Instants in the tests are written in Asia/Shanghai (+08:00) so the edges are easy to read.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import pytest

from engine.core.calendar import parse_instant, utc_iso
from engine.core.contract import Ruleset
from engine.core.pipeline import Outputs, advance, step
from engine.core.state import EngineState
from engine.ruleset import load_rule_text
from engine.ruleset.compile import build_ruleset

Instant = str | int
CONTRACT = "c1"
# the engine clock: far enough after every test event that none is "in the future"
NOW_MS = parse_instant("2027-12-01T00:00:00+08:00")


def ms(t: Instant) -> int:
    """RFC 3339 text (or epoch ms) → epoch ms."""
    return t if isinstance(t, int) else parse_instant(t)


def _block(text: str, indent: int) -> str:
    return textwrap.indent(textwrap.dedent(text).strip("\n"), " " * indent)


class Csla:
    """The factories handed out by the ``csla`` fixture."""

    contract_id = CONTRACT
    now_ms = NOW_MS

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    # --- rules -------------------------------------------------------------------------------
    def rule_text(
        self,
        objectives: str,
        *,
        service_time: str = "preset: 7x24",
        assessment: str = "period: calendar_month",
        metering: str = "unit: node_month\nunit_price: 1000\nperiod_fee: 1000.00",
        exemptions: str | None = None,
        compensation: str | None = None,
        term: tuple[str, str] = ("2026-01-01T00:00:00+08:00", "2028-01-01T00:00:00+08:00"),
        revision: int = 1,
        effective_from: str | None = None,
    ) -> str:
        parts = [
            "version: csla/v1",
            "contract:",
            f"  id: {self.contract_id}",
            f"  revision: {revision}",
            f"  effective_from: {effective_from or term[0]}",
            "parties:",
            "  customer: {kind: organisation, name: Customer Co}",
            "  provider: {name: Provider Co, id: prov}",
            "service: {category: test service}",
            "term:",
            f"  start: {term[0]}",
            f"  end: {term[1]}",
            "service_time:",
            _block(service_time, 2),
            "assessment:",
            _block(assessment, 2),
            "metering:",
            _block(metering, 2),
            "objectives:",
            _block(objectives, 2),
        ]
        if exemptions is not None:
            parts += ["exemptions:", _block(exemptions, 2)]
        if compensation is not None:
            parts += ["compensation:", _block(compensation, 2)]
        return "\n".join(parts) + "\n"

    def ruleset(self, objectives: str, **sections: Any) -> Ruleset:
        """A one-contract ruleset; fails the test with every issue if the rule is invalid."""
        result = load_rule_text(self.rule_text(objectives, **sections), "c1.yaml")
        errors = [str(issue) for issue in result.issues if issue.is_error]
        assert result.contract is not None and not errors, "\n".join(errors)
        return build_ruleset([result.contract])

    # --- events ------------------------------------------------------------------------------
    def event(
        self,
        kind: str,
        t: Instant,
        *,
        eid: str | None = None,
        resource: str = "svc",
        source: str = "platform",
        contract: str | None = None,
        **fields: Any,
    ) -> bytes:
        body = {
            "schema_version": 1,
            "event_id": eid or f"e{next(self._ids)}",
            "event_time": utc_iso(ms(t)),
            "provider_id": "prov",
            "contract_id": contract or self.contract_id,
            "resource_id": resource,
            "source": source,
            "kind": kind,
            **{k: v for k, v in fields.items() if v is not None},
        }
        return orjson.dumps(body)

    def probe(self, t: Instant, ok: bool, **kw: Any) -> bytes:
        return self.event("probe", t, ok=ok, **kw)

    def request(
        self,
        t: Instant,
        ok: bool,
        latency_ms: float,
        *,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        **kw: Any,
    ) -> bytes:
        return self.event(
            "request",
            t,
            ok=ok,
            latency_ms=latency_ms,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            **kw,
        )

    def node(self, t: Instant, node: str, state: str, **kw: Any) -> bytes:
        return self.event("node_state", t, resource=node, state=state, **kw)

    def maintenance(
        self,
        announced: Instant,
        start: Instant,
        end: Instant,
        *,
        mid: str = "mw1",
        source: str = "provider",
        **kw: Any,
    ) -> bytes:
        return self.event(
            "maintenance",
            announced,
            maintenance_id=mid,
            window_start=utc_iso(ms(start)),
            window_end=utc_iso(ms(end)),
            source=source,
            **kw,
        )

    def incident(
        self,
        t: Instant,
        incident_id: str,
        status: str,
        *,
        impact: int | None = None,
        urgency: int | None = None,
        **kw: Any,
    ) -> bytes:
        return self.event(
            "incident",
            t,
            incident_id=incident_id,
            status=status,
            impact=impact,
            urgency=urgency,
            **kw,
        )

    def probes_every_minute(
        self, start: Instant, end: Instant, ok: bool = True, **kw: Any
    ) -> list[bytes]:
        """One probe at second 30 of every minute in [start, end)."""
        return [self.probe(m + 30_000, ok, **kw) for m in range(ms(start), ms(end), 60_000)]

    # --- running -----------------------------------------------------------------------------
    def run(
        self,
        ruleset: Ruleset,
        lines: Sequence[bytes],
        *,
        batches: Iterable[Sequence[bytes]] | None = None,
        until: Instant | None = None,
        state: EngineState | None = None,
        now_ms: int | None = NOW_MS,
        first_line: int = 0,
    ) -> tuple[EngineState, Outputs]:
        """Step ``lines`` (one batch, or the given ``batches``), then close up to ``until``.

        ``until``: advance the contract's event time to ``until + grace`` so that every
        minute before ``until`` closes (the watermark is event time − grace).
        ``first_line``: the input position of ``lines[0]``, for ``origin`` (``test:<n>``).
        """
        state = state or EngineState.empty()
        out = Outputs()
        # origins name the line's position in the whole input (``first_line`` + index),
        # whatever the split
        offset = first_line
        for batch in [list(lines)] if batches is None else batches:
            batch = list(batch)
            state, got = step(state, batch, lambda i, o=offset: f"test:{o + i}", ruleset, now_ms)
            out.extend(got)
            offset += len(batch)
        if until is not None:
            state, got = advance(state, ruleset, until_ms=ms(until))
            out.extend(got)
        return state, out

    # --- reading outputs ---------------------------------------------------------------------
    @staticmethod
    def metrics(out: Outputs, objective: str) -> list[dict[str, Any]]:
        return [m for m in out.metrics if m["objective_id"] == objective]

    @staticmethod
    def metric_at(out: Outputs, objective: str, window_start: Instant) -> dict[str, Any]:
        start = utc_iso(ms(window_start))
        found = [
            m for m in out.metrics if m["objective_id"] == objective and m["window_start"] == start
        ]
        assert len(found) == 1, f"{len(found)} metrics of {objective} at {start}"
        return found[0]

    @staticmethod
    def last_metric_of_period(
        out: Outputs, objective: str, period_start: Instant
    ) -> dict[str, Any]:
        start = utc_iso(ms(period_start))
        found = [
            m for m in out.metrics if m["objective_id"] == objective and m["period_start"] == start
        ]
        assert found, f"no metric of {objective} in the period starting {start}"
        return max(found, key=lambda m: m["window_end"])

    @staticmethod
    def compensation(out: Outputs, objective: str) -> dict[str, Any]:
        found = [c for c in out.compensations if c["objective_id"] == objective]
        assert len(found) == 1, f"{len(found)} compensations of {objective}"
        return found[0]

    @staticmethod
    def canonical(out: Outputs) -> dict[str, Any]:
        """The outputs in an order independent of batching: each list sorted by its id."""
        return {
            "metrics": sorted(out.metrics, key=lambda r: r["metric_id"]),
            "breaches": sorted(out.breaches, key=lambda r: (r["breach_id"], r["status"])),
            "compensations": sorted(out.compensations, key=lambda r: r["compensation_id"]),
            "late": sorted(out.late, key=lambda r: (r["origin"], r["event_id"])),
            "dead": sorted(out.dead, key=lambda r: r["origin"]),
            "usage": sorted(out.usage, key=lambda r: r["usage_id"]),
            "warnings": sorted(out.warnings, key=lambda r: (r["warning_id"], r["status"])),
            "scorecards": sorted(out.scorecards, key=lambda r: r["scorecard_id"]),
            "discrepancies": sorted(out.discrepancies, key=lambda r: r["discrepancy_id"]),
            "stats": dict(sorted(out.stats.items())),
        }

    @staticmethod
    def assert_same(got: dict[str, Any], want: dict[str, Any]) -> None:
        """Two ``canonical`` outputs are equal; on failure, name the first differing record."""
        for name in want:
            if name == "stats":
                assert got[name] == want[name], name
                continue
            assert len(got[name]) == len(want[name]), f"{name}: count differs"
            for mine, theirs in zip(got[name], want[name], strict=True):
                assert mine == theirs, f"{name} differ"

    @staticmethod
    def iso(t: Instant) -> str:
        return utc_iso(ms(t))

    @staticmethod
    def ms(t: Instant) -> int:
        return ms(t)


@pytest.fixture
def csla() -> Csla:
    """Factories for rules, events and runs (fresh event-id counter per test)."""
    return Csla()
