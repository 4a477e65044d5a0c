"""Contract quarantine: when evaluating one contract still raises, only that contract stops.

Its state is dropped, one dead letter says why, later events of it are dead letters with the
reason, and every other contract's outputs equal a run without it.  A change of its rule file
lifts the quarantine.  The fault is injected (no known input makes the core raise: that is the
point of the value bounds), at each phase of a closing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import engine.core.closer as closer
from engine.core.contract import Ruleset
from engine.core.pipeline import Outputs, step
from engine.core.state import EngineState
from engine.ruleset import load_rule_text
from engine.ruleset.compile import build_ruleset

AVAIL = "- {id: avail, sli: service_availability, comparator: '>=', threshold: 90, window: 5m}"
LAT = (
    "- {id: lat, sli: latency, source: probe, percentile: 99, comparator: '<=', threshold: 500,"
    " window: 5m}"
)
TERM = ("2026-03-10T00:00:00+08:00", "2027-01-01T00:00:00+08:00")


def _ruleset(csla: Any, *, threshold: int = 90) -> Ruleset:
    contracts = []
    for cid in ("good", "bad"):
        text = csla.rule_text(AVAIL.replace("90", str(threshold)) + "\n" + LAT, term=TERM)
        result = load_rule_text(text.replace("id: c1", f"id: {cid}"), f"{cid}.yaml")
        assert result.contract is not None, result.issues
        contracts.append(result.contract)
    return build_ruleset(contracts)


def _lines(csla: Any, start: str, minutes: int) -> list[bytes]:
    base = csla.ms(f"2026-03-10T{start}+08:00")
    return [
        csla.probe(base + i * 20_000, i % 7 != 0, contract=cid, latency_ms=10.0 + i)
        for i in range(minutes * 3)
        for cid in ("good", "bad")
    ]


def _run(rules: Ruleset, batches: list[list[bytes]]) -> tuple[EngineState, Outputs]:
    state, out = EngineState.empty(), Outputs()
    for n, batch in enumerate(batches):
        state, got = step(state, batch, lambda i, n=n: f"b{n}:{i}", rules, 10**13)
        out.extend(got)
    return state, out


def _only(records: list[dict[str, Any]], cid: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("contract_id") == cid]


def _raising_for_bad(real: Callable[..., Any], pick: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if pick(*args):
            raise ZeroDivisionError("injected")
        return real(*args, **kwargs)

    return wrapper


PHASES = {
    "control": ("apply_control", lambda cs, contract, *_: contract.id == "bad"),
    "vectorised": ("close_latency", lambda state, ruleset, targets, *_: "bad" in targets),
    "objectives": ("close_range", lambda closing, *_: closing.contract.id == "bad"),
}


@pytest.mark.parametrize("phase", PHASES)
def test_one_contract_raising_is_quarantined_and_the_others_go_on(
    csla: Any, monkeypatch: pytest.MonkeyPatch, phase: str
) -> None:
    rules = _ruleset(csla)
    batches = [_lines(csla, "10:00:00", 20), _lines(csla, "10:20:00", 20)]
    _, clean = _run(rules, batches)
    name, pick = PHASES[phase]
    monkeypatch.setattr(closer, name, _raising_for_bad(getattr(closer, name), pick))
    state, out = _run(rules, batches)
    for kind in ("metrics", "breaches", "compensations", "usage"):
        assert _only(getattr(out, kind), "good") == _only(getattr(clean, kind), "good"), kind
        assert _only(getattr(out, kind), "bad") == [], kind
    assert list(out.quarantined) == ["bad"]
    assert "ZeroDivisionError: injected" in out.quarantined["bad"]
    assert "bad" not in state.contracts and "bad" in state.quarantined
    notice, *later = [d for d in out.dead if "'bad'" in d["error"]]
    assert notice["origin"] == "contract:bad" and "quarantined" in notice["error"]
    # the second batch's 60 lines of "bad" are dead letters with the reason
    assert len(later) == 60 and all("is quarantined" in d["error"] for d in later)
    # the books: every line is accepted, a duplicate, late or a dead letter
    stats = out.stats
    assert stats["events_in"] == (
        stats.get("accepted", 0) + stats.get("duplicates", 0) + stats.get("late", 0)
        + stats.get("dead_letters", 0)
    )  # fmt: skip
    # the quarantine survives a snapshot
    assert EngineState.restore(state.snapshot()).quarantined == state.quarantined


def test_a_changed_rule_file_lifts_the_quarantine(
    csla: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = _ruleset(csla)
    name, pick = PHASES["objectives"]
    with monkeypatch.context() as patch:
        patch.setattr(closer, name, _raising_for_bad(getattr(closer, name), pick))
        state, _ = _run(rules, [_lines(csla, "10:00:00", 20)])
    assert "bad" in state.quarantined
    # the same rules: still quarantined
    state, out = step(state, _lines(csla, "10:20:00", 1), str, rules, 10**13)
    assert "bad" in state.quarantined and len(out.dead) == 3
    # a new rule file for it: evaluated afresh
    state, out = step(
        state, _lines(csla, "10:21:00", 20), str, _ruleset(csla, threshold=80), 10**13
    )
    assert "bad" not in state.quarantined and out.dead == []
    assert _only(out.metrics, "bad")
