"""Compile a validated rule file (``RuleFile``, spec ``csla/v1``) into the frozen ``Contract``.

The pydantic model checks each field on its own; this module checks what spans fields and files:
the revision takes effect inside the term (§6.1.5), compensation tiers run from least to most
severe in the objective's direction (§6.1.16), a custom weekly calendar has no overlapping
ranges (§6.1.6), the unit price lies within 50–150% of the platform guide price (§6.1.7), and
each (contract id, revision) is defined once across all files.

Pure: no I/O. Issues carry a line and column through a ``Locator`` the loader supplies.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from engine.core.burn import BurnRule
from engine.core.calendar import PeriodSpec, ServiceCalendar
from engine.core.contract import (
    EVENT_KINDS,
    MEASURED_KINDS,
    Contract,
    ObjectiveRule,
    Ruleset,
    default_sources,
    objective_kind,
)
from engine.core.gauges import GAUGES
from engine.models.assessment import (
    Scoring,
    ScoringOverride,
    load_scoring_defaults,
    merge_scoring,
)
from engine.models.contract import HoursRange, RuleFile, ServiceTime, Tier, duration_ms

Loc = tuple[str | int, ...]
Severity = Literal["error", "warning"]
#: Maps a field path of the rule file to a 1-based (line, column); (0, 0) when unknown.
Locator = Callable[[Loc], tuple[int, int]]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_GUIDE_LOW, _GUIDE_HIGH = Decimal("0.5"), Decimal("1.5")


def _nowhere(loc: Loc) -> tuple[int, int]:
    return 0, 0


def field_path(loc: Loc) -> str:
    """``("objectives", 2, "threshold")`` → ``"objectives[2].threshold"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass(frozen=True, slots=True)
class RuleIssue:
    """One problem of one rule file; ``str()`` gives ``path:line:col: severity: field: message``.

    ``line`` and ``column`` are 1-based; 0 means the position is unknown (e.g. unreadable file).
    """

    path: str
    line: int
    column: int
    field: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}" if self.line else self.path
        field = f"{self.field}: " if self.field else ""
        return f"{where}: {self.severity}: {field}{self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class RuleFileError(ValueError):
    """A rule file failed the cross-field checks; ``issues`` holds every problem found."""

    def __init__(self, issues: Sequence[RuleIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class _Issues:
    def __init__(self, source: str, locate: Locator) -> None:
        self.source, self.locate, self.items = source, locate, list[RuleIssue]()

    def add(self, loc: Loc, message: str, severity: Severity = "error") -> None:
        line, column = self.locate(loc)
        self.items.append(RuleIssue(self.source, line, column, field_path(loc), message, severity))


# --- per-file checks ---------------------------------------------------------------------------
#: The platform's Table A.2 scoring: a scoring file's path, the parsed table, or None for the
#: packaged defaults.
ScoringSource = str | Scoring | None


def check_rule_file(
    rule: RuleFile, source: str, locate: Locator | None = None, scoring: ScoringSource = None
) -> list[RuleIssue]:
    """Every cross-field problem of one validated rule file, errors and warnings."""
    return _checked(rule, source, locate, scoring)[0]


def _checked(
    rule: RuleFile, source: str, locate: Locator | None, scoring: ScoringSource
) -> tuple[list[RuleIssue], Scoring | None]:
    """The issues of ``rule``, and its merged scoring (see ``_check_scoring``)."""
    issues = _Issues(source, locate or _nowhere)
    _check_effective_from(rule, issues)
    _check_tiers(rule, issues)
    _check_service_time(rule, issues)
    _check_price(rule, issues)
    merged = _check_scoring(rule, issues, scoring)
    _check_sources(rule, issues)
    return sorted(issues.items, key=lambda i: (i.line, i.column)), merged


def _iso(value: datetime) -> str:
    return value.isoformat()


def default_scoring(path: ScoringSource = None) -> Scoring:
    """The platform's Table A.2 scoring: ``path`` (a rules directory's .scoring/table-a2.yaml)
    or the packaged defaults; parsed once per content (a changed file is read again). An
    already parsed ``Scoring`` is returned as it is (a loader reads the file once per load)."""
    if isinstance(path, Scoring):
        return path
    return load_scoring_defaults(path) if path else load_scoring_defaults()


def _check_scoring(rule: RuleFile, issues: _Issues, scoring: ScoringSource) -> Scoring | None:
    """The defaults merged with the file's ``scoring:`` section; None when it has none, or
    after adding the reason it cannot be merged (an error)."""
    if rule.scoring is None:
        return None
    try:
        return _merged(default_scoring(scoring), rule.scoring)
    except ValueError as exc:
        issues.add(("scoring",), str(exc))
        return None


#: (id of the defaults, the override as JSON) → (those defaults, the merged scoring): a
#: directory's files tend to carry the same few ``scoring:`` sections.
_MERGES: dict[tuple[int, str], tuple[Scoring, Scoring]] = {}
_MERGES_KEPT = 256
_MERGE_TEXT = 8192


def _merged(defaults: Scoring, override: ScoringOverride) -> Scoring:
    """``merge_scoring``, remembered per defaults object and override content (a merge dumps
    and validates the whole Table A.2, about 0.4 ms)."""
    text = override.model_dump_json()
    if len(text) > _MERGE_TEXT:  # not worth keeping: merge it
        return merge_scoring(defaults, override)
    key = (id(defaults), text)
    known = _MERGES.get(key)
    if known is not None and known[0] is defaults:  # the id is not reused while kept here
        return known[1]
    merged = merge_scoring(defaults, override)
    if len(_MERGES) >= _MERGES_KEPT:
        _MERGES.clear()
    _MERGES[key] = (defaults, merged)
    return merged


def counting_sources(rule: RuleFile) -> dict[str, frozenset[str]]:
    """Event kind → the sources that count (§6.1.3, §8.4 c): an objective's ``sources``, else
    the kind's default; maintenance notices per ``exemptions.maintenance_sources``."""
    counting = {kind: default_sources(kind) for kind in EVENT_KINDS}
    for o in rule.objectives:
        if o.sources is not None:
            counting[objective_kind(o.sli, o.source)] = frozenset(o.sources)
    counting["maintenance"] = frozenset(rule.exemptions.maintenance_sources)
    return counting


def _progress_kinds(objectives: tuple[ObjectiveRule, ...]) -> frozenset[str]:
    """The measurement kinds the objectives read move the watermark; if they read none, every
    kind does (engine.core.watermark)."""
    read = {objective_kind(o.sli, o.source) for o in objectives} & MEASURED_KINDS
    return frozenset(read) if read else frozenset(EVENT_KINDS)


def _check_sources(rule: RuleFile, issues: _Issues) -> None:
    """Objectives that read the same event kind count the same sources: one contract has one
    answer to "whose probes (requests, …) count"."""
    seen: dict[str, tuple[str, frozenset[str]]] = {}
    for i, o in enumerate(rule.objectives):
        kind = objective_kind(o.sli, o.source)
        mine = frozenset(o.sources) if o.sources is not None else default_sources(kind)
        if kind in seen and seen[kind][1] != mine:
            other, theirs = seen[kind]
            issues.add(
                ("objectives", i, "sources"),
                f"objective {o.id} counts {kind} events from {', '.join(sorted(mine))} but "
                f"objective {other} counts them from {', '.join(sorted(theirs))}; objectives "
                "that read the same events must count the same sources",
            )
        seen.setdefault(kind, (o.id, mine))


def _check_effective_from(rule: RuleFile, issues: _Issues) -> None:
    start, end, effective = rule.term.start, rule.term.end, rule.contract.effective_from
    if not start <= effective < end:
        issues.add(
            ("contract", "effective_from"),
            f"effective_from {_iso(effective)} is outside the term "
            f"[{_iso(start)}, {_iso(end)}) (§6.1.5); a revision must take effect inside it",
        )


def _fmt(value: float) -> str:
    return f"{value:g}"


def _check_tiers(rule: RuleFile, issues: _Issues) -> None:
    """§6.1.16: tiers from least to most severe, on the failing side of the threshold."""
    for index, objective in enumerate(rule.objectives):
        unbounded = [
            (("objectives", index, "threshold"), objective.threshold),
            *(
                (("objectives", index, "compensation", n, "bound"), tier.bound)
                for n, tier in enumerate(objective.compensation)
            ),
        ]
        if bad := [(where, value) for where, value in unbounded if not math.isfinite(value)]:
            for where, value in bad:
                issues.add(where, f"must be a finite number (got {value})")
            continue
        higher_is_better = objective.comparator in (">=", ">")
        side, order = ("below", "decreasing") if higher_is_better else ("above", "increasing")
        previous: float | None = None
        previous_credit, previous_extension = 0.0, 0.0
        for number, tier in enumerate(objective.compensation):
            loc: Loc = ("objectives", index, "compensation", number, "bound")
            if higher_is_better:
                wrong_side = tier.bound > objective.threshold
            else:
                wrong_side = tier.bound < objective.threshold
            if wrong_side:
                issues.add(
                    loc,
                    f"tier bound {_fmt(tier.bound)} is {'above' if higher_is_better else 'below'}"
                    f" the threshold {_fmt(objective.threshold)}; the tiers of a"
                    f" '{objective.comparator}' objective must lie {side} it (or at it)",
                )
            if previous is not None:
                ordered = tier.bound < previous if higher_is_better else tier.bound > previous
                if not ordered:
                    issues.add(
                        loc,
                        f"tier bound {_fmt(tier.bound)} does not follow {_fmt(previous)}: list"
                        f" tiers from least to most severe, bounds strictly {order} for a"
                        f" '{objective.comparator}' objective",
                    )
                elif _gives_less(tier, previous_credit, previous_extension):
                    issues.add(
                        ("objectives", index, "compensation", number),
                        f"a more severe tier gives less ({_fmt(tier.credit_percent)}% credit,"
                        f" {_fmt(tier.extension_hours)} h extension) than the tier before it"
                        f" ({_fmt(previous_credit)}%, {_fmt(previous_extension)} h)",
                        "warning",
                    )
            previous = tier.bound
            previous_credit, previous_extension = tier.credit_percent, tier.extension_hours
    if not any(objective.compensation for objective in rule.objectives):
        issues.add(
            ("objectives",),
            "no objective has compensation tiers: a missed service level gives the customer"
            " nothing (§6.1.16)",
            "warning",
        )


def _gives_less(tier: Tier, credit: float, extension: float) -> bool:
    """Whether ``tier`` gives less than a tier of ``credit`` % and ``extension`` hours."""
    no_more = tier.credit_percent <= credit and tier.extension_hours <= extension
    return no_more and (tier.credit_percent, tier.extension_hours) != (credit, extension)


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _check_range(issues: _Issues, loc: Loc, rng: HoursRange) -> bool:
    """Whether ``rng`` is a usable range; zero length warns, a reversed one is an error."""
    start, end = _minutes(rng.start), _minutes(rng.end)
    if start == end:
        issues.add(
            loc,
            f"range {rng.start}-{rng.end} has zero length: it adds no service time",
            "warning",
        )
        return False
    if end < start:
        issues.add(
            loc,
            f"range {rng.start}-{rng.end} ends before it starts; write a range over midnight"
            " as two ranges of preset: custom, one ending at 24:00 and one from 00:00",
        )
        return False
    return True


def _check_service_time(rule: RuleFile, issues: _Issues) -> None:
    """§6.1.6: usable ranges, no overlaps, holidays inside the term."""
    st = rule.service_time
    if st.hours is not None:
        _check_range(issues, ("service_time", "hours"), st.hours)
    for day, ranges in (st.weekly or {}).items():
        usable = [
            (_minutes(r.start), _minutes(r.end), n, r)
            for n, r in enumerate(ranges)
            if _check_range(issues, ("service_time", "weekly", day, n), r)
        ]
        usable.sort()
        for (_, prev_end, prev_n, prev), (start, _, n, rng) in itertools.pairwise(usable):
            if start < prev_end:
                issues.add(
                    ("service_time", "weekly", day, max(n, prev_n)),
                    f"range {rng.start}-{rng.end} overlaps {prev.start}-{prev.end} on {day}",
                )
    both = set(st.holidays) & set(st.extra_workdays)
    for number, day_ in enumerate(st.extra_workdays):
        if day_ in both:
            issues.add(
                ("service_time", "extra_workdays", number),
                f"{day_.isoformat()} is both a holiday and an extra workday",
            )
    zone = ZoneInfo(st.timezone)
    for number, holiday in enumerate(st.holidays):
        day_start = datetime(holiday.year, holiday.month, holiday.day, tzinfo=zone)
        if day_start + timedelta(days=1) <= rule.term.start or day_start >= rule.term.end:
            issues.add(
                ("service_time", "holidays", number),
                f"holiday {holiday.isoformat()} is outside the term"
                f" [{_iso(rule.term.start)}, {_iso(rule.term.end)})",
                "warning",
            )


def _check_price(rule: RuleFile, issues: _Issues) -> None:
    """§6.1.7: a price below 50% or above 150% of the guide price needs platform negotiation."""
    metering = rule.metering
    guide = metering.guide_price
    if guide is None or guide == 0:
        return
    ratio = metering.unit_price / guide
    if not _GUIDE_LOW <= ratio <= _GUIDE_HIGH:
        issues.add(
            ("metering", "unit_price"),
            f"unit price {metering.unit_price} {metering.currency} is"
            f" {(ratio * 100).quantize(Decimal('1'))}% of the guide price {guide}, outside"
            " 50–150%: needs platform negotiation (§6.1.7)",
            "warning",
        )


# --- compile -----------------------------------------------------------------------------------
def epoch_ms(value: datetime) -> int:
    """An aware datetime → epoch milliseconds (exact integer arithmetic)."""
    if value.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return (value - _EPOCH) // _ONE_MS


def _day_range(rng: HoursRange) -> tuple[int, int] | None:
    start, end = _minutes(rng.start), _minutes(rng.end)
    return (start, end) if start < end else None


def compile_calendar(st: ServiceTime) -> ServiceCalendar:
    """§6.1.6: the service calendar of a rule file (zero-length ranges add nothing)."""
    if st.preset == "custom":
        weekly: dict[str, list[tuple[int, int]]] = {
            day: [r for r in map(_day_range, ranges) if r is not None]
            for day, ranges in (st.weekly or {}).items()
        }
        return ServiceCalendar.custom(st.timezone, weekly, st.holidays, st.extra_workdays)
    hours = None
    if st.hours is not None:
        hours = _day_range(st.hours)
        if hours is None:  # zero length (a warning): no service time at all
            return ServiceCalendar.custom(st.timezone, {}, st.holidays, st.extra_workdays)
    return ServiceCalendar.preset(
        st.preset, st.timezone, st.holidays, st.extra_workdays, hours=hours
    )


def _build(rule: RuleFile, source: str, scoring: Scoring) -> Contract:
    """The contract of a checked ``rule``; ``scoring``: its merged Table A.2 scoring."""
    term_start_ms = epoch_ms(rule.term.start)
    tz = rule.service_time.timezone
    objectives = tuple(
        ObjectiveRule(
            id=o.id,
            sli=o.sli,
            comparator=o.comparator,
            threshold=o.threshold,
            window_ms=duration_ms(o.window),
            percentile=o.percentile,
            source=o.source,
            successful_only=o.requests == "successful",
            unavailable_below=o.unavailable_below,
            no_data=o.no_data,
            degraded_is_down=o.degraded_is_down,
            min_requests=o.min_requests,
            tiers=tuple(o.compensation),
            resources=tuple(o.resources) if o.resources is not None else None,
            statistic=(o.statistic or GAUGES[o.sli].statistic) if o.sli in GAUGES else None,
            field=o.field or {"pool_utilization": "gpu", "concurrency": "tasks"}.get(o.sli),
            param=(
                o.congestion_loss
                if o.sli == "network_congestion"
                else (o.grid_renewable_share or 0.0)
            ),
        )
        for o in rule.objectives
    )
    return Contract(
        id=rule.contract.id,
        revision=rule.contract.revision,
        effective_from_ms=epoch_ms(rule.contract.effective_from),
        term_start_ms=term_start_ms,
        term_end_ms=epoch_ms(rule.term.end),
        calendar=compile_calendar(rule.service_time),
        period=PeriodSpec(rule.assessment.period, rule.assessment.days, tz, term_start_ms),
        grace_ms=duration_ms(rule.assessment.grace),
        objectives=objectives,
        maintenance_notice_ms=round(rule.exemptions.maintenance_notice_hours * 3_600_000),
        maintenance_sources=frozenset(rule.exemptions.maintenance_sources),
        force_majeure=tuple(
            (epoch_ms(f.start), epoch_ms(f.end), f.reason) for f in rule.exemptions.force_majeure
        ),
        metering=rule.metering,
        cap_percent=Decimal(str(rule.compensation.cap_percent)),
        warning_rules=tuple(
            BurnRule(r.severity, r.burn_rate, duration_ms(r.long), duration_ms(r.short))
            for r in rule.early_warning.rules
        )
        if rule.early_warning.enabled
        else (),
        warning_scale=rule.early_warning.scale_to_period,
        scoring=scoring,
        provider_id=rule.parties.provider.id,
        counting=counting_sources(rule),
        progress_kinds=_progress_kinds(objectives),
        max_skew_ms=duration_ms(rule.assessment.max_skew),
        source_idle_ms=duration_ms(rule.assessment.source_idle),
        spec=rule,
        source=source,
    )


def compile_checked(
    rule: RuleFile, source: str, locate: Locator | None = None, scoring: ScoringSource = None
) -> tuple[Contract | None, list[RuleIssue]]:
    """Check, then compile when there are no errors: ``(contract or None, issues)``.

    ``scoring``: the platform's Table A.2 scoring file or table (None: the packaged defaults);
    merged with the file's ``scoring:`` section once, for the check and the contract."""
    issues, merged = _checked(rule, source, locate, scoring)
    if any(issue.is_error for issue in issues):
        return None, issues
    try:
        if merged is None:  # the file has no scoring: section
            merged = default_scoring(scoring)
        return _build(rule, source, merged), issues
    except ValueError as exc:  # a check above should have caught it; still report, not crash
        issues.append(RuleIssue(source, *(locate or _nowhere)(()), "", str(exc)))
        return None, issues


def compile_rule_file(rule: RuleFile, source: str, *, locate: Locator | None = None) -> Contract:
    """``RuleFile`` → frozen ``Contract``; raises ``RuleFileError`` when a check finds an error.

    Warnings do not raise; use ``check_rule_file`` to see them.
    """
    contract, issues = compile_checked(rule, source, locate)
    if contract is None:
        raise RuleFileError([issue for issue in issues if issue.is_error])
    return contract


# --- across files ------------------------------------------------------------------------------
_REVISION: Loc = ("contract", "revision")
_EFFECTIVE_FROM: Loc = ("contract", "effective_from")
#: The only fields ``check_across_files`` places an issue at.
ACROSS_FILE_LOCS = (_REVISION, _EFFECTIVE_FROM)


def check_across_files(entries: Sequence[tuple[Contract, Locator]]) -> list[RuleIssue]:
    """Errors between files: a (contract id, revision) defined twice, two revisions of one
    contract taking effect at the same instant, or a later revision taking effect earlier.

    Each problem is reported in every file involved, naming the other file; each locator is
    asked only for ``ACROSS_FILE_LOCS``.
    """
    out: list[RuleIssue] = []

    def add(contract: Contract, locate: Locator, loc: Loc, message: str) -> None:
        out.append(RuleIssue(contract.source, *locate(loc), field_path(loc), message))

    by_id: dict[str, list[tuple[Contract, Locator]]] = defaultdict(list)
    for entry in entries:
        by_id[entry[0].id].append(entry)
    for contract_id, group in by_id.items():
        for i, (a, locate_a) in enumerate(group):
            for b, locate_b in group[i + 1 :]:
                pairs = ((a, locate_a, b), (b, locate_b, a))
                if a.revision == b.revision:
                    for this, locate, other in pairs:
                        add(
                            this,
                            locate,
                            _REVISION,
                            f"contract {contract_id} revision {this.revision} is defined twice:"
                            f" in {this.source} and in {other.source}",
                        )
                elif a.effective_from_ms == b.effective_from_ms:
                    for this, locate, other in pairs:
                        add(
                            this,
                            locate,
                            _EFFECTIVE_FROM,
                            f"revisions {this.revision} ({this.source}) and {other.revision}"
                            f" ({other.source}) of contract {contract_id} take effect at the"
                            " same instant; each revision needs its own effective_from",
                        )
                elif (a.revision < b.revision) != (a.effective_from_ms < b.effective_from_ms):
                    if b.revision > a.revision:
                        later, locate, earlier = b, locate_b, a
                    else:
                        later, locate, earlier = a, locate_a, b
                    add(
                        later,
                        locate,
                        _EFFECTIVE_FROM,
                        f"revision {later.revision} of contract {contract_id} takes effect"
                        f" before revision {earlier.revision} ({earlier.source}); a higher"
                        " revision must take effect later",
                    )
    return out


def build_ruleset(contracts: Iterable[Contract], scoring: Scoring | None = None) -> Ruleset:
    """A ``Ruleset`` of checked contracts, each contract's revisions ordered by effective_from;
    ``scoring``: the platform's Table A.2 scoring, if it has its own."""
    grouped: dict[str, list[Contract]] = defaultdict(list)
    for contract in contracts:
        grouped[contract.id].append(contract)
    return Ruleset(
        {
            cid: tuple(sorted(group, key=lambda c: (c.effective_from_ms, c.revision)))
            for cid, group in sorted(grouped.items())
        },
        scoring,
    )


__all__ = [
    "ACROSS_FILE_LOCS",
    "Loc",
    "Locator",
    "RuleFileError",
    "RuleIssue",
    "build_ruleset",
    "check_across_files",
    "check_rule_file",
    "compile_calendar",
    "compile_checked",
    "compile_rule_file",
    "epoch_ms",
    "field_path",
]
