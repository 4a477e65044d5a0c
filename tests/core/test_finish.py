"""``finish``: the end of a bounded input closes up to ``until`` and folds the provider
scorecards (Table A.2 per provider and period) in the core, not in a driver (issue 12)."""

from __future__ import annotations

from typing import Any

from engine.core.finish import finish
from engine.core.pipeline import step
from engine.core.scoring import provider_scorecards
from engine.core.state import EngineState
from engine.ruleset.compile import build_ruleset, default_scoring

OBJECTIVE = "- id: avail\n  sli: service_availability\n  comparator: '>='\n  threshold: 99.0\n  window: 1h\n"
UNTIL = "2026-11-01T00:00:00+08:00"


def _two_contracts(csla: Any) -> tuple[Any, list[bytes]]:
    """Contracts c1 and c2 of one provider, probes of both on the last hour of October."""
    lines: list[bytes] = []
    contracts = []
    for cid in ("c1", "c2"):
        csla.contract_id = cid
        contracts.extend(csla.ruleset(OBJECTIVE).revisions[cid])
        lines += csla.probes_every_minute("2026-10-31T23:00:00+08:00", "2026-11-01T00:00:00+08:00")
    return build_ruleset(contracts), lines


def test_finish_closes_to_until_and_folds_one_provider_scorecard(csla: Any) -> None:
    ruleset, lines = _two_contracts(csla)
    state, out = step(EngineState.empty(), lines, str, ruleset, None)
    assert out.scorecards == []  # October has not closed yet
    before = state.snapshot()

    new, last = finish(state, ruleset, [], default_scoring(), until_ms=csla.ms(UNTIL))

    assert state.snapshot() == before, "finish changed its input state"
    contract = [s for s in last.scorecards if s["scope"] == "contract"]
    provider = [s for s in last.scorecards if s["scope"] == "provider"]
    assert sorted(s["contract_id"] for s in contract) == ["c1", "c2"]
    assert provider == provider_scorecards(default_scoring(), contract)
    (card,) = provider
    assert (card["provider_id"], card["period_start"]) == ("prov", "2026-09-30T16:00:00Z")
    assert last.scorecards == [*contract, *provider]  # the fold comes last
    assert last.metrics and new.contracts["c1"].closed_until_ms == csla.ms(UNTIL)


def test_without_until_finish_only_folds_what_the_run_emitted(csla: Any) -> None:
    ruleset, lines = _two_contracts(csla)
    state, _ = step(EngineState.empty(), lines, str, ruleset, None)
    state, closed = finish(state, ruleset, [], default_scoring(), until_ms=csla.ms(UNTIL))
    contract = [s for s in closed.scorecards if s["scope"] == "contract"]

    same, out = finish(state, ruleset, contract, default_scoring())

    assert same is state and out.metrics == [] and out.breaches == []
    assert out.scorecards == provider_scorecards(default_scoring(), contract)
    assert finish(state, ruleset, [], default_scoring())[1].scorecards == []
