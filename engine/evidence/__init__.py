"""Evidence packs for disputes (§6.2.6): the facts behind one breach or compensation record,
and a recomputation of its value from those facts, as a self-contained JSON + HTML pack.

``build_evidence`` replays the input through the engine to find the record, then reads the
input once more, keeping only the events of that contract and assessment period, and
recomputes the value with plain Python: each minute's probes and verdict, node-state
transitions and failures, the latency samples and their exact nearest-rank percentile, the
requests of the window, and for a compensation the fee, tier, credit and cap in ``Decimal``.
None of the engine's accumulators are read.  Two of the engine's decisions about the input are
taken as facts and shown: which lines were dead letters (their ``origin``), and — recomputed
here and compared — which events were late.  The pack also lists the engine's discrepancy
records of the objective in that span (windows where the probes and the reports disagree).
"""

from engine.evidence.html import render_html
from engine.evidence.pack import build_evidence, write_pack
from engine.evidence.target import EvidenceError

__all__ = ["EvidenceError", "build_evidence", "render_html", "write_pack"]
