"""The SLI registry (``engine.core.sli``): every SLI a rule file may name has exactly one
family, and the families' figures are the ones the closing reports."""

from __future__ import annotations

from typing import get_args

from engine.core.sli import FAMILY, family
from engine.core.sli.base import Family
from engine.models.contract import SliKind


def test_every_sli_of_the_rule_file_model_has_one_family() -> None:
    slis = set(get_args(SliKind))
    assert set(FAMILY) == slis
    claimed = [sli for fam in {id(f): f for f in FAMILY.values()}.values() for sli in fam.slis]
    assert sorted(claimed) == sorted(slis), "an SLI claimed by two families"


def test_budgeted_families_count_units() -> None:
    from engine.core.burn import budget

    for sli, fam in FAMILY.items():
        overrides_units = type(fam).units is not Family.units
        assert overrides_units == (budget(sli, 99.0) is not None), sli
    assert family("error_rate") is FAMILY["error_rate"]
