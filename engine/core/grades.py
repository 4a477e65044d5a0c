"""§7 grades: the hard requirements that cap a grade whatever the score (§7.1.1–7.1.5), and
the grade a total score reaches by the cut points.  Pure functions; ``engine.core.scoring``
applies them to a scorecard.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from engine.models.assessment import (
    GRADE_KEYS,
    MODEL_CATEGORIES,
    MONITORING_LEVELS,
    Attested,
    GradeKey,
)
from engine.models.contract import SoftwareSupport

Record = dict[str, Any]


_GRADE_3_CATEGORIES = ("vision", "speech", "time_series", "multimodal")
_GRADE_4_CATEGORIES = ("vision", "speech", "nlp", "time_series", "multimodal", "llm")


def _fine_tuning(attested: Attested | None, minimum: float) -> str | None:
    fine = attested.fine_tuning if attested else None
    if fine is None:
        return "not attested"
    return None if fine.value >= minimum else f"attested {fine.value:g}B"


def _categories(attested: Attested | None, needed: Sequence[str]) -> str | None:
    categories = attested.model_categories if attested else None
    if categories is None:
        return "not attested"
    missing = [c for c in needed if c not in categories.value]
    return f"missing {', '.join(missing)}" if missing else None


def _modes(attested: Attested | None, minimum: int) -> str | None:
    env = attested.dev_environment if attested else None
    if env is None:
        return "not attested"
    return None if len(env.value) >= minimum else f"attested {len(env.value)} mode(s)"


def _monitoring(attested: Attested | None, minimum: str) -> str | None:
    monitoring = attested.model_monitoring if attested else None
    if monitoring is None:
        return "not attested"
    level = MONITORING_LEVELS.index(monitoring.value)
    return None if level >= MONITORING_LEVELS.index(minimum) else f"attested {monitoring.value}"


Check = Callable[[Attested | None], str | None]
GRADE_REQUIREMENTS: tuple[tuple[int, str, Check], ...] = (
    (5, "fine-tuning of models of 300B parameters or more", lambda a: _fine_tuning(a, 300)),
    (
        5,
        f"built-in models in all 8 categories ({', '.join(MODEL_CATEGORIES)})",
        lambda a: _categories(a, MODEL_CATEGORIES),
    ),
    (5, "at least 3 online development environment modes", lambda a: _modes(a, 3)),
    (5, "full multi-dimensional monitoring", lambda a: _monitoring(a, "full")),
    (4, "fine-tuning of models of 100B parameters or more", lambda a: _fine_tuning(a, 100)),
    (
        4,
        f"built-in models in the 6 categories {', '.join(_GRADE_4_CATEGORIES)}",
        lambda a: _categories(a, _GRADE_4_CATEGORIES),
    ),
    (4, "at least 2 online development environment modes", lambda a: _modes(a, 2)),
    (4, "multi-metric monitoring", lambda a: _monitoring(a, "multi")),
    (3, "fine-tuning of models of 50B parameters or more", lambda a: _fine_tuning(a, 50)),
    (
        3,
        f"built-in models in the 4 categories {', '.join(_GRADE_3_CATEGORIES)}",
        lambda a: _categories(a, _GRADE_3_CATEGORIES),
    ),
    (3, "at least 1 online development environment mode", lambda a: _modes(a, 1)),
    (3, "basic monitoring", lambda a: _monitoring(a, "basic")),
    (2, "fine-tuning of models of 10B parameters or more", lambda a: _fine_tuning(a, 10)),
)
"""§7.1.1–7.1.4: (grade, what it needs, check giving the shortfall or None)."""


SOFTWARE_ITEMS = (
    "frameworks", "acceleration_libraries", "dev_tools", "pretrained_models",
    "automated_deployment",
)  # fmt: skip
"""§6.1.10 a)–e): the items of software service support, as ``software_support`` names them."""
SOFTWARE_NEEDS = (
    "at least 1 item of software service support (§7.1.4 e; §6.1.10: frameworks, "
    "acceleration libraries, dev tools, pre-trained models, automated deployment)"
)


def software_items(support: SoftwareSupport | None) -> list[str]:
    """The §6.1.10 items a contract's ``software_support`` provides (a non-empty list, or
    ``automated_deployment: true``)."""
    if support is None:
        return []
    return [item for item in SOFTWARE_ITEMS if getattr(support, item)]


def grade_caps(
    attested: Attested | None, software_support: SoftwareSupport | None = None
) -> list[Record]:
    """Every §7 requirement missed: ``{grade: highest grade allowed, reason}``, grade 5 first.

    Besides the attested facts, grade 2 needs at least one item of software service support
    (§7.1.4 e; grade 1 has none, §7.1.5 e).  Grades 3–5 ask for "some", "a certain amount"
    and "complete" support (§7.1.3–7.1.1 f) without a number, so only that floor binds."""
    caps: list[Record] = []
    for grade, needs, check in GRADE_REQUIREMENTS:
        shortfall = check(attested)
        if shortfall is not None:
            caps.append({"grade": grade - 1, "reason": f"grade {grade} needs {needs}; {shortfall}"})
    if not software_items(software_support):
        caps.append({"grade": 1, "reason": f"grade 2 needs {SOFTWARE_NEEDS}; none declared"})
    return caps


def grade_of(total_score: float, cuts: Mapping[GradeKey, float]) -> int:
    """The highest grade whose cut point the total reaches; grade 1 below every cut point."""
    grade = 1
    for candidate in GRADE_KEYS:
        if total_score >= cuts[candidate]:
            grade = candidate
    return grade
