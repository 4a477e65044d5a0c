"""Node availability (Table A.1): node up-time over evaluated time, from node_state reports
and failures (``engine.core.control``).  Units: node-milliseconds."""

from __future__ import annotations

from engine.core import burn
from engine.core import intervals as iv
from engine.core.closing import Closing
from engine.core.contract import ObjectiveRule
from engine.core.reliability import node_piece
from engine.core.sli.base import bucket_of
from engine.core.sli.probes import Availability
from engine.core.state import WindowAcc


class NodeAvailability(Availability):
    slis = ("node_availability",)

    def piece(
        self,
        objective: ObjectiveRule,
        closing: Closing,
        lo: int,
        hi: int,
        buckets: dict[int, WindowAcc] | None = None,
    ) -> WindowAcc:
        acc = WindowAcc(lo, hi)
        segments = closing.segments
        evaluated = iv.clip(closing.evaluated, lo, hi)
        acc.good, acc.bad = node_piece(segments, evaluated, objective.degraded_is_down)
        acc.evaluated = acc.good + acc.bad
        if buckets is not None and acc.evaluated:
            for t in range(lo, hi, burn.BUCKET_MS):
                part = bucket_of(buckets, t)
                up, down = node_piece(
                    segments, iv.clip(evaluated, t, min(hi, part.end)), objective.degraded_is_down
                )
                part.good += up
                part.bad += down
                part.evaluated += up + down
        return acc


NODE_AVAILABILITY = NodeAvailability()
