"""Compiling a rule file into the frozen Contract, and the cross-field checks (§6.1)."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.core.calendar import service_ms_between
from engine.models.contract import RuleFile
from engine.ruleset import RuleFileError, check_rule_file, compile_rule_file, load_rule_file

RULES = Path(__file__).resolve().parents[2] / "rules"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def _spec(name: str) -> RuleFile:
    contract = load_rule_file(RULES / name).contract
    assert contract is not None
    return contract.spec


def _merge(base: Any, changes: Any) -> Any:
    if isinstance(base, dict) and isinstance(changes, dict):
        out = dict(base)
        for key, value in changes.items():
            out[key] = _merge(base.get(key), value) if key in base else value
        return out
    return changes


def make_rule(name: str = "gpu-train-001.yaml", **changes: Any) -> RuleFile:
    """A validated rule file: an example contract with top-level sections deep-merged."""
    data = _spec(name).model_dump(mode="python", exclude_unset=True)
    return RuleFile.model_validate(_merge(copy.deepcopy(data), changes))


def _objective(comparator: str, threshold: float, bounds: list[float]) -> dict[str, Any]:
    return {
        "id": "x",
        "sli": "failure_count",
        "comparator": comparator,
        "threshold": threshold,
        "compensation": [
            {"bound": b, "credit_percent": 10 * (n + 1)} for n, b in enumerate(bounds)
        ],
    }


def _messages(rule: RuleFile, severity: str = "error") -> list[str]:
    return [i.message for i in check_rule_file(rule, "x.yaml") if i.severity == severity]


# --- the compiled contract ---------------------------------------------------------------------
def test_gpu_training_contract_compiles_to_milliseconds_and_decimals() -> None:
    contract = compile_rule_file(_spec("gpu-train-001.yaml"), "rules/gpu-train-001.yaml")

    assert (contract.id, contract.revision, contract.source) == (
        "gpu-train-001",
        1,
        "rules/gpu-train-001.yaml",
    )
    assert contract.term_start_ms == contract.effective_from_ms == 1_767_196_800_000
    assert contract.term_end_ms - contract.term_start_ms == 365 * DAY_MS
    assert contract.grace_ms == 5 * 60_000
    assert contract.maintenance_notice_ms == 72 * HOUR_MS
    assert contract.maintenance_sources == frozenset({"platform", "provider"})
    assert contract.cap_percent == Decimal("100.0")
    assert contract.metering.cards_per_node == 8
    assert contract.tz == "Asia/Shanghai"
    assert contract.period.kind == "calendar_month"
    assert contract.period.anchor_ms == contract.term_start_ms
    assert contract.calendar.weekly == (((0, 1440),),) * 7
    by_id = {o.id: o for o in contract.objectives}
    assert list(by_id) == [
        "node-availability",
        "mttr",
        "failure-count",
        "max-recovery",
        "service-availability",
        "stability-72h",
        "gpu-utilisation",
        "network-latency",
        "network-loss",
        "network-throughput",
        "provisioning",
        "scale-out",
        "pue",
        "renewable",
    ]
    assert (by_id["gpu-utilisation"].field, by_id["gpu-utilisation"].statistic) == ("gpu", "mean")
    assert (by_id["network-throughput"].statistic, by_id["renewable"].param) == ("min", 0.3)
    assert by_id["provisioning"].statistic == "max"  # the default of provisioning_time
    assert contract.scoring is not None and contract.provider_id
    node = by_id["node-availability"]
    assert (node.sli, node.comparator, node.threshold, node.window_ms) == (
        "node_availability",
        ">=",
        99.5,
        HOUR_MS,
    )
    assert [(t.bound, t.credit_percent) for t in node.tiers] == [(99.5, 10), (99.0, 25), (95.0, 50)]
    assert by_id["service-availability"].unavailable_below == 50
    assert by_id["mttr"].unit == "minutes"


def test_maas_contract_business_hours_with_holidays_and_make_up_day() -> None:
    contract = compile_rule_file(_spec("maas-api-001.yaml"), "maas.yaml")
    calendar = contract.calendar

    assert calendar.weekly[0] == ((540, 1020),)
    assert calendar.weekly[5] == calendar.weekly[6] == ()
    assert date(2026, 10, 1) in calendar.holidays and date(2027, 1, 1) in calendar.holidays
    assert calendar.extra_workdays == frozenset({date(2026, 10, 10)})
    october_10_local_midnight = 1_791_561_600_000  # 2026-10-10T00:00:00+08:00, a Saturday
    assert service_ms_between(
        calendar, october_10_local_midnight, october_10_local_midnight + DAY_MS
    ) == (8 * HOUR_MS)
    p99 = contract.objectives[0]
    assert (p99.sli, p99.percentile, p99.source, p99.window_ms, p99.min_requests) == (
        "latency",
        99.0,
        "request",
        5 * 60_000,
        20,
    )
    assert contract.metering.period_fee == Decimal("30000.00")
    assert contract.cap_percent == Decimal("50.0")


def test_storage_contract_7x12() -> None:
    contract = compile_rule_file(_spec("storage-001.yaml"), "storage.yaml")
    assert contract.calendar.weekly == (((480, 1200),),) * 7
    latency = contract.objectives[1]
    assert (latency.percentile, latency.source, latency.window_ms) == (95.0, "storage_io", 900_000)
    assert contract.metering.quantity == Decimal("200")


def test_rolling_days_period_is_anchored_at_term_start() -> None:
    rule = make_rule(assessment={"period": "rolling_days", "days": 30})
    contract = compile_rule_file(rule, "x.yaml")
    assert (contract.period.kind, contract.period.days) == ("rolling_days", 30)
    assert contract.period.anchor_ms == contract.term_start_ms


def test_force_majeure_windows_become_millisecond_tuples() -> None:
    window = {
        "start": "2026-07-01T00:00:00+08:00",
        "end": "2026-07-02T00:00:00+08:00",
        "reason": "typhoon",
    }
    contract = compile_rule_file(make_rule(exemptions={"force_majeure": [window]}), "x.yaml")
    assert contract.force_majeure == ((1_782_835_200_000, 1_782_921_600_000, "typhoon"),)


def test_compile_raises_with_every_error() -> None:
    rule = make_rule(
        contract={"effective_from": "2028-01-01T00:00:00+08:00"},
        objectives=[_objective("<=", 6, [8, 7])],
    )
    with pytest.raises(RuleFileError) as caught:
        compile_rule_file(rule, "x.yaml")
    assert [i.field for i in caught.value.issues] == [
        "contract.effective_from",
        "objectives[0].compensation[1].bound",
    ]
    assert "x.yaml: error: contract.effective_from: effective_from" in str(caught.value)


# --- tiers (§6.1.16) ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("comparator", "threshold", "bounds", "errors"),
    [
        (">=", 99.5, [99.5, 99.0, 95.0], []),
        (">", 99.5, [99.5, 99.0], []),
        ("<=", 60, [60, 120, 240], []),
        ("<", 60, [61], []),
        (">=", 99.5, [], []),
        (">=", 99.5, [99.0, 99.5], ["does not follow 99"]),
        (">=", 99.5, [99.0, 99.0], ["does not follow 99"]),
        (">=", 99.5, [99.9], ["is above the threshold 99.5"]),
        ("<=", 60, [120, 60], ["does not follow 120"]),
        ("<=", 60, [30], ["is below the threshold 60"]),
        (
            "<",
            60,
            [59, 58],
            ["is below the threshold", "is below the threshold", "does not follow"],
        ),
    ],
)
def test_tiers_run_from_least_to_most_severe(
    comparator: str, threshold: float, bounds: list[float], errors: list[str]
) -> None:
    rule = make_rule(objectives=[_objective(comparator, threshold, bounds)])
    messages = _messages(rule)
    assert len(messages) == len(errors), messages
    for expected in errors:
        assert any(expected in m for m in messages), (expected, messages)


def test_more_severe_tier_with_less_credit_is_a_warning() -> None:
    objective = _objective(">=", 99.5, [99.5, 99.0])
    objective["compensation"][1]["credit_percent"] = 5
    rule = make_rule(objectives=[objective])
    assert _messages(rule) == []
    assert _messages(rule, "warning") == [
        "a more severe tier gives less (5% credit, 0 h extension) than the tier before it"
        " (10%, 0 h)"
    ]


def test_a_more_severe_tier_may_trade_credit_for_extension() -> None:
    objective = _objective(">=", 99.5, [99.5, 99.0])
    objective["compensation"][1].update(credit_percent=0, extension_hours=24)
    assert check_rule_file(make_rule(objectives=[objective]), "x.yaml") == []


def test_no_compensation_tiers_at_all_is_a_warning() -> None:
    rule = make_rule(objectives=[_objective("<=", 6, [])])
    issues = check_rule_file(rule, "x.yaml")
    assert [(i.severity, i.field) for i in issues] == [("warning", "objectives")]
    assert "§6.1.16" in issues[0].message


# --- price (§6.1.7) ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("unit_price", "warned"),
    [("6.49", True), ("6.50", False), ("13.00", False), ("19.50", False), ("19.51", True)],
)
def test_price_outside_half_to_one_and_a_half_guide_price_warns(
    unit_price: str, warned: bool
) -> None:
    rule = make_rule(metering={"unit_price": unit_price, "guide_price": "13.00"})
    warnings = _messages(rule, "warning")
    assert _messages(rule) == []
    assert bool(warnings) is warned
    if warned:
        assert warnings[0].endswith("needs platform negotiation (§6.1.7)")
        assert compile_rule_file(rule, "x.yaml").metering.unit_price == Decimal(unit_price)


def test_no_guide_price_no_price_warning() -> None:
    rule = make_rule(metering={"unit_price": "1000.00", "guide_price": None})
    assert check_rule_file(rule, "x.yaml") == []


# --- service time (§6.1.6) ---------------------------------------------------------------------
def _weekly(**days: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "preset": "custom",
        "timezone": "Asia/Shanghai",
        "weekly": {d: [{"start": s, "end": e} for s, e in r] for d, r in days.items()},
    }


def test_custom_calendar_with_touching_ranges_compiles() -> None:
    rule = make_rule(service_time=_weekly(mon=[("13:00", "18:00"), ("09:00", "13:00")]))
    contract = compile_rule_file(rule, "x.yaml")
    assert contract.calendar.weekly[0] == ((540, 1080),)
    assert contract.calendar.weekly[1] == ()


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ([("09:00", "12:00"), ("11:00", "18:00")], "range 11:00-18:00 overlaps 09:00-12:00 on mon"),
        ([("11:00", "18:00"), ("09:00", "12:00")], "range 11:00-18:00 overlaps 09:00-12:00 on mon"),
        ([("00:00", "24:00"), ("08:00", "09:00")], "range 08:00-09:00 overlaps 00:00-24:00"),
        ([("18:00", "09:00")], "ends before it starts"),
    ],
)
def test_custom_calendar_errors(ranges: list[tuple[str, str]], message: str) -> None:
    issues = check_rule_file(make_rule(service_time=_weekly(mon=ranges)), "x.yaml")
    assert len(issues) == 1
    assert message in issues[0].message
    assert issues[0].field.startswith("service_time.weekly.mon[")


def test_zero_length_hours_warn_and_give_no_service_time() -> None:
    rule = make_rule("storage-001.yaml", service_time={"hours": {"start": "08:00", "end": "08:00"}})
    issues = check_rule_file(rule, "x.yaml")
    assert [(i.severity, i.field) for i in issues] == [("warning", "service_time.hours")]
    assert compile_rule_file(rule, "x.yaml").calendar.weekly == ((),) * 7


def test_holiday_outside_the_term_warns() -> None:
    rule = make_rule(
        "maas-api-001.yaml",
        service_time={"holidays": ["2025-12-31", "2026-05-01", "2027-07-01"]},
    )
    issues = check_rule_file(rule, "x.yaml")
    assert [(i.severity, i.field) for i in issues] == [
        ("warning", "service_time.holidays[0]"),
        ("warning", "service_time.holidays[2]"),
    ]
    assert "holiday 2025-12-31 is outside the term" in issues[0].message


def test_a_date_both_holiday_and_extra_workday_is_an_error() -> None:
    rule = make_rule("maas-api-001.yaml", service_time={"extra_workdays": ["2026-10-01"]})
    assert _messages(rule) == ["2026-10-01 is both a holiday and an extra workday"]


# --- term (§6.1.5) -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("effective_from", "inside"),
    [
        ("2026-01-01T00:00:00+08:00", True),
        ("2025-12-31T16:00:00Z", True),
        ("2025-12-31T23:59:59+08:00", False),
        ("2026-12-31T23:59:59+08:00", True),
        ("2027-01-01T00:00:00+08:00", False),
    ],
)
def test_effective_from_must_lie_inside_the_term(effective_from: str, inside: bool) -> None:
    rule = make_rule(contract={"effective_from": effective_from})
    messages = _messages(rule)
    assert (messages == []) is inside
    if not inside:
        assert "is outside the term" in messages[0]
