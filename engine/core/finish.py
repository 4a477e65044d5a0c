"""The end of a bounded input: what a driver emits last (``csla replay``, the in-memory driver).

Two things become certain only when an input ends:

* with ``until``: every window up to that instant closes (``advance``, which adds each
  contract's grace itself);
* the provider scorecards (Table A.2 per provider and period, §7): a fold of the contract
  scorecards the run emitted across all of a provider's contracts (``provider_scorecards``).

The Kafka worker has no end of input and calls neither: it publishes each contract scorecard
on ``csla.scorecards`` at its period close and no provider scorecard, since one partition
holds only some of a provider's contracts and a fold across workers would need a reader of
the whole topic, which the engine does not have. Provider scorecards come from ``csla replay``
(and ``csla report --input``, which replays). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from engine.core.contract import Ruleset
from engine.core.outputs import Outputs
from engine.core.pipeline import advance
from engine.core.records import ScorecardRecord
from engine.core.scoring import provider_scorecards
from engine.core.state import EngineState
from engine.models.assessment import Scoring

__all__ = ["finish"]


def finish(
    state: EngineState,
    ruleset: Ruleset,
    scorecards: Sequence[ScorecardRecord],
    scoring: Scoring,
    *,
    until_ms: int | None = None,
) -> tuple[EngineState, Outputs]:
    """The input has ended: close up to ``until_ms`` (if given), then fold the provider
    scorecards; returns the new state and these last outputs (``state`` is left as it was).

    ``scorecards``: the contract scorecards the run emitted so far (those of the closing up
    to ``until_ms`` are added here); one provider scorecard per provider and period of them.
    ``scoring``: the platform's Table A.2 scoring, ``ruleset.scoring`` or, for a rule set
    without a scoring file of its own, the packaged defaults (reading them is the driver's).
    """
    out = Outputs()
    if until_ms is not None:
        state, out = advance(state, ruleset, until_ms=until_ms)
    providers = provider_scorecards(scoring, [*scorecards, *out.scorecards])
    out.scorecards.extend(cast(list[ScorecardRecord], providers))
    return state, out
