"""The SLI registry: one family per kind of measurement, each with its partial, window value
and period value (the ``initialize / agg / result`` of a windowed aggregation).

- ``piece``: the partial of ``[lo, hi)`` (good, bad, evaluated units), optionally split into
  5-minute buckets for the early warnings; accumulators add (``WindowAcc.add``).
- ``window``: a closed window's figures (value, good/total, coverage, the period's so far).
- ``period_value``: the period's final value, when it closes.
- ``judge``: the breach rule of the family (and any record a window adds, e.g. discrepancies).
- ``period_evidence``: the counts behind a compensation, in the family's units.

Families: probe availability (``probes``), node availability (``nodes``), error rate
(``requests``), latency percentiles and gauges (``distributions``: their partials are
mergeable histograms and sums kept in columns by ``engine.core.distributions``), service
reliability (``reliability``).  Adding an SLI means adding it to a family here; the closing
(``engine.core.evaluate``, ``window_close``, ``period_close``) does not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from engine.core.sli.base import Family, WindowFigures, bucket_of
from engine.core.sli.distributions import GAUGE_FAMILY, LATENCY
from engine.core.sli.nodes import NODE_AVAILABILITY
from engine.core.sli.probes import PROBE_AVAILABILITY_FAMILY
from engine.core.sli.reliability import RELIABILITY_FAMILY
from engine.core.sli.requests import ERROR_RATE

_FAMILIES: tuple[Family, ...] = (
    PROBE_AVAILABILITY_FAMILY, NODE_AVAILABILITY, ERROR_RATE, LATENCY, GAUGE_FAMILY,
    RELIABILITY_FAMILY,
)  # fmt: skip

#: SLI name → its family
FAMILY: Mapping[str, Family] = MappingProxyType(
    {sli: family for family in _FAMILIES for sli in family.slis}
)


def family(sli: str) -> Family:
    """The family of ``sli`` (every SLI a rule file may name has one: tests/core/test_sli_registry.py)."""
    return FAMILY[sli]


__all__ = ["FAMILY", "Family", "WindowFigures", "bucket_of", "family"]
