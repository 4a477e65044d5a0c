"""Every number of a rule file is bounded; an out-of-bounds one is an error at its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.ruleset import load_rule_text

RULES = Path(__file__).resolve().parents[2] / "rules"
MAAS = (RULES / "maas-api-001.yaml").read_text()
STORAGE = (RULES / "storage-001.yaml").read_text()


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def _errors(text: str) -> list[str]:
    result = load_rule_text(text, "bounds.yaml")
    errors = [str(issue) for issue in result.issues if issue.is_error]
    assert (result.contract is None) == bool(errors)
    return errors


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("window: 5m", "window: 0m", "objectives[0].window: window must be whole minutes"),
        ("window: 5m", "window: 7m", "objectives[0].window: window must be whole minutes"),
        ("window: 5m", "window: 99999999999999999999d", "longer than 3660d"),
        ("threshold: 800", "threshold: -20", "objectives[0].threshold: must be at least 0"),
        ("threshold: 800", "threshold: 0", "threshold of latency must be more than 0 ms"),
        ("threshold: 800", "threshold: .inf", "must be a finite number (got inf)"),
        ("threshold: 800", "threshold: .nan", "must be a finite number (got nan)"),
        ("threshold: 800", "threshold: 1e13", "must be at most 1000000000000"),
        ("percentile: 99", "percentile: 100", "objectives[0].percentile: must be less than 100"),
        ("percentile: 99", "percentile: 0", "objectives[0].percentile: must be greater than 0"),
        ("unit_price: 0.02", "unit_price: 1e300", "metering.unit_price: must have at most 18"),
        ("unit_price: 0.02", "unit_price: -1", "metering.unit_price: must be at least 0"),
        ("unit_price: 0.02", "unit_price: .inf", "metering.unit_price"),
        ("unit_price: 0.02", "unit_price: 1000000000000", "at most 12 digits before the point"),
        ("revision: 1", "revision: " + "9" * 5000, "contract.revision: must be a whole number"),
        ("revision: 1", "revision: 10000000", "contract.revision: must be at most 1000000"),
    ],
)
def test_out_of_bounds_numbers_are_errors(old: str, new: str, expected: str) -> None:
    errors = _errors(_edit(MAAS, old, new))
    assert any(expected in error for error in errors), errors
    assert all(error.startswith("bounds.yaml:") and error.split(":")[1] != "0" for error in errors)


@pytest.mark.parametrize(
    ("addition", "expected"),
    [
        ("  quantity: 1e300", "metering.quantity: must have at most 18 digits"),
        ("  quantity: 2000000000", "metering.quantity: must be at most 1000000000"),
        ("  quantity: 0", "metering.quantity: must be greater than 0"),
        ("  cards_per_node: 100000000", "metering.cards_per_node: must be at most 1000000"),
    ],
)
def test_metering_quantities_are_bounded(addition: str, expected: str) -> None:
    text = _edit(MAAS, "  unit_price: 0.02", "  unit_price: 0.02\n" + addition)
    assert any(expected in error for error in _errors(text))


def test_the_largest_money_and_quantity_still_compute_a_fee() -> None:
    """12 + 6 digits of price times 10⁹ fits Decimal's 28 digits when rounded to cents."""
    from decimal import Decimal

    from engine.core.compensation import quantize

    text = _edit(STORAGE, "unit_price:", "unit_price: 999999999999.999999 #")
    result = load_rule_text(text, "bounds.yaml")
    assert result.contract is not None, result.issues
    metering = result.contract.metering.model_copy(update={"quantity": Decimal(1_000_000_000)})
    assert quantize(metering.quantity * metering.unit_price, metering) > 0


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("threshold: 99.5", "threshold: 100.5", "threshold of service_availability is a percent"),
        ("grace: 2m", "grace: 30d", "assessment.grace: '30d' is longer than 7d"),
        ("maintenance_notice_hours: 72", "maintenance_notice_hours: 9000", "at most 8784"),
        ("maintenance_notice_hours: 72", "maintenance_notice_hours: -1", "at least 0"),
    ],
)
def test_percentages_grace_and_hours_are_bounded(old: str, new: str, expected: str) -> None:
    assert any(expected in error for error in _errors(_edit(MAAS, old, new)))


def test_a_timezone_too_long_for_a_file_name_is_an_error() -> None:
    text = _edit(MAAS, "timezone: Asia/Shanghai", "timezone: " + "x" * 300)
    [error] = _errors(text)
    assert "service_time.timezone: 'xxx" in error and "is not an IANA time zone" in error


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    - 2026-10-01\n",
            "    - 9999-12-31\n",
            "service_time.holidays: date 9999-12-31 is not",
        ),
        (
            "  start: 2026-01-01T00:00:00+08:00",
            "  start: 0001-01-01T00:00:00+14:00",
            "term.start: start 0001-01-01T00:00:00+14:00 is not between 1970-01-02",
        ),
    ],
)
def test_dates_stay_where_date_arithmetic_works(old: str, new: str, expected: str) -> None:
    assert any(expected in error for error in _errors(_edit(MAAS, old, new)))
