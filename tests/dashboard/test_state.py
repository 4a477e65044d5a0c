"""The dashboard's fold and view: pure, order-preserving, and the numbers an operator reads."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest

from engine.dashboard import Feed, empty_state, fold, targets_from_ruleset, view
from engine.dashboard.state import RECENT_COMPENSATIONS
from engine.ruleset import load_rules_dir

from .conftest import PERIOD, ROOT, breach, compensation, metric, scorecard, warning

TARGETS = {"c1": {"availability": {"comparator": ">=", "threshold": 99.0}}}


def _objective(v: dict[str, Any], contract: str = "c1", oid: str = "availability") -> Any:
    (c,) = [c for c in v["contracts"] if c["contract_id"] == contract]
    return {o["objective_id"]: o for o in c["objectives"]}[oid]


def test_fold_leaves_the_old_state_unchanged() -> None:
    s1 = fold(empty_state(), [metric(), breach(), warning(), scorecard()])
    frozen = copy.deepcopy(s1)
    s2 = fold(s1, [metric(end="2026-10-12T02:00:00Z", pgood=900), breach(status="resolved"),
                   compensation(), warning("cleared", detected="2026-10-12T03:00:00Z")])  # fmt: skip
    assert s1 == frozen
    assert (s1["version"], s2["version"]) == (1, 2)
    assert view(s1)["summary"]["open_breaches"] == 1
    assert view(s2)["summary"]["open_breaches"] == 0


def test_any_batching_gives_the_same_view() -> None:
    records = [
        metric(), breach(), warning(), metric(end="2026-10-12T02:00:00Z", pgood=980),
        compensation(), breach(status="resolved"), breach("b2", detected="2026-10-13T00:00:00Z"),
        scorecard(), scorecard("provider", grade=3), {"record": "late", "contract_id": "c1"},
        warning("cleared", detected="2026-10-12T05:00:00Z"), metric("lat", sli="latency"),
    ]  # fmt: skip
    whole = view(fold(empty_state(), records), TARGETS)
    assert whole.pop("version") == 1
    for cut in range(1, len(records)):
        state = fold(fold(empty_state(), records[:cut]), records[cut:])
        split = view(state, TARGETS)
        assert split.pop("version") == 2
        assert split == whole


@pytest.mark.parametrize(
    ("pgood", "budget", "status"),
    [
        (1000, 1.0, "ok"),
        (995, 0.5, "ok"),  # 5 bad minutes of a 10-minute budget (1 % of 1000)
        (990, 0.0, "ok"),  # exactly at the objective
        (985, -0.5, "failing"),
    ],
)
def test_budget_left_and_status(pgood: int, budget: float, status: str) -> None:
    # the last window of the period: nothing is owed any more, the budget is 1 % of 1000 min
    v = view(fold(empty_state(), [metric(pgood=pgood, end=PERIOD[1])]), TARGETS)
    o = _objective(v)
    assert o["budget_remaining"] == pytest.approx(budget)
    assert (o["status"], o["target"]) == (status, "≥ 99 %")
    assert o["period_value"] == pytest.approx(pgood / 10)


def test_targets_are_learned_from_breaches_without_rules() -> None:
    v = view(fold(empty_state(), [metric(pgood=980, end=PERIOD[1]), breach()]))
    o = _objective(v)
    assert (o["target"], o["status"], o["open_breaches"]) == ("≥ 99 %", "breached", 1)
    assert o["budget_remaining"] == pytest.approx(-1.0)
    assert v["contracts"][0]["status"] == "breached"


def test_warning_puts_an_objective_at_risk_until_cleared() -> None:
    s = fold(empty_state(), [metric(), warning()])
    o = _objective(view(s, TARGETS))
    assert (o["status"], o["warning"]) == ("at risk", "page")
    assert view(s, TARGETS)["summary"]["active_warnings"] == 1
    ticket = {"warning_id": "warn:c1:availability:2026-10-12T01:05:00Z:r1:ticket-1x-4465m",
              "severity": "ticket", "budget_remaining": 0.3}  # fmt: skip
    s = fold(s, [warning(**ticket)])
    assert _objective(view(s, TARGETS))["warning"] == "page"  # the most severe one firing
    s = fold(s, [warning("cleared", detected="2026-10-12T02:00:00Z")])  # the page one clears
    assert _objective(view(s, TARGETS))["warning"] == "ticket"
    s = fold(s, [warning("cleared", detected="2026-10-12T03:00:00Z", **ticket)])
    o = _objective(view(s, TARGETS))
    assert (o["status"], o["warning"]) == ("ok", None)
    assert view(s, TARGETS)["warnings"] == []


def test_no_budget_for_a_latency_even_with_a_warning() -> None:
    s = fold(empty_state(), [metric("lat", sli="latency"), warning(objective="lat")])
    o = _objective(view(s, {"c1": {"lat": {"comparator": "<=", "threshold": 800}}}), oid="lat")
    assert o["budget_remaining"] is None  # one definition: a latency has no error budget


def test_budget_counts_the_service_still_owed_and_agrees_with_the_warnings_table() -> None:
    # 995 good of 1000 judged minutes, last window ends 2026-10-31 15:00Z: 60 minutes of a
    # round-the-clock service still owed → units 1060, budget 1 % = 10.6 min, 5 spent:
    # 1 − 5 / 10.6 = 0.528302 (rounded to 6 places).
    records = [metric(pgood=995, end="2026-10-31T15:00:00Z"), warning()]
    v = view(fold(empty_state(), records), TARGETS)
    assert _objective(v)["budget_remaining"] == 0.528302
    (w,) = v["warnings"]
    assert w["budget_remaining"] == 0.528302  # the objective's figure, not the record's 0.4
    # With the contract's calendar (weekdays only), Saturday 31 Oct owes nothing: 1 − 5/10
    zones = {"c1": {"tz": "Asia/Shanghai", "calendar": _weekdays("Asia/Shanghai")}}
    assert (
        _objective(view(fold(empty_state(), records), TARGETS, zones=zones))["budget_remaining"]
        == 0.5
    )


def test_an_objective_without_data_in_a_new_period_has_a_whole_budget() -> None:
    # A warning of October is not November's budget (it showed −299 %): nothing judged yet
    # and the whole month owed leaves the budget untouched.
    october = warning("cleared", budget_remaining=-2.99061)
    november = metric(pgood=0, ptotal=0, good=0, total=0, end="2026-11-01T01:00:00Z",
                      period_start=PERIOD[1], period_end="2026-11-30T16:00:00Z")  # fmt: skip
    o = _objective(view(fold(empty_state(), [october, november]), TARGETS))
    assert o["budget_remaining"] == 1.0 and o["status"] == "no data"


def _weekdays(tz: str) -> Any:
    from engine.core.calendar import ServiceCalendar

    return ServiceCalendar.preset("5x8", tz=tz)


def test_an_older_window_does_not_replace_a_newer_one() -> None:
    s = fold(empty_state(), [metric(end="2026-10-12T05:00:00Z", pgood=999)])
    s = fold(s, [metric(end="2026-10-12T03:00:00Z", pgood=100)])
    o = _objective(view(s, TARGETS))
    assert o["window_end"] == "2026-10-12T05:00:00Z" and o["period_value"] == 99.9


def test_recent_compensations_newest_first_deduplicated_and_bounded() -> None:
    s = fold(empty_state(), [compensation(), compensation(amount="2400.00")])
    assert [c["credit_amount"] for c in view(s)["compensations"]] == ["2400.00"]
    many = [compensation(f"o{i}", amount=f"{i}.00") for i in range(RECENT_COMPENSATIONS + 5)]
    v = view(fold(s, many))
    assert len(v["compensations"]) == RECENT_COMPENSATIONS
    assert v["compensations"][0]["credit_amount"] == f"{RECENT_COMPENSATIONS + 4}.00"


def test_scorecards_and_other_records() -> None:
    s = fold(empty_state(), [metric(), scorecard(grade=4), scorecard("provider", grade=3),
                             {"record": "deadletter", "raw": "x", "error": "e", "origin": "f:1"},
                             {"record": "usage", "contract_id": "c1"}])  # fmt: skip
    v = view(s)
    assert (v["contracts"][0]["grade"], v["contracts"][0]["score"]) == (4, 81.5)
    assert v["provider_scorecards"] == [
        {"provider_id": "p1", "period_start": "2026-09-30T16:00:00Z",
         "period_end": "2026-10-31T16:00:00Z", "total_score": 81.5, "grade": 3,
         "period": "2026-09-30 – 2026-10-31"}  # no rules: UTC, and in UTC not one month
    ]  # fmt: skip
    assert v["records"] == {"deadletter": 1, "metric": 1, "scorecard": 2, "usage": 1}
    assert [c["contract_id"] for c in v["contracts"]] == ["c1"]


def test_contract_status_is_its_worst_judged_objective() -> None:
    s = fold(empty_state(), [metric(), metric("lat", sli="latency", total=0, good=0, ptotal=0)])
    v = view(s, TARGETS)
    assert _objective(v, oid="lat")["status"] == "no data"
    assert v["contracts"][0]["status"] == "ok"


def test_targets_of_the_bundled_rules() -> None:
    targets = targets_from_ruleset(load_rules_dir(ROOT / "rules").ruleset)
    assert targets["storage-001"]["availability"] == {"comparator": ">=", "threshold": 99.9}


def test_feed_keeps_its_state_on_a_bad_record(caplog: pytest.LogCaptureFixture) -> None:
    feed = Feed()
    feed.feed([metric()])
    before = feed.state
    with caplog.at_level(logging.ERROR):
        feed.feed([{"record": "breach", "contract_id": "c1"}])  # no breach_id, no status
    assert feed.state is before
    assert "could not be folded" in caplog.text


def test_a_latency_objective_is_judged_by_its_last_judged_window() -> None:
    def lat(end: str, value: float | None, compliant: bool | None) -> dict[str, Any]:
        return metric("lat", sli="latency", end=end, value=value, compliant=compliant,
                      period_value=None, period_good=None, period_total=None)  # fmt: skip

    targets = {"c1": {"lat": {"comparator": "<=", "threshold": 20.0}}}
    s = fold(empty_state(), [lat("2026-10-12T01:00:00Z", 5.0, True)])
    s = fold(s, [lat("2026-10-12T02:00:00Z", None, None)])  # outside service time
    o = _objective(view(s, targets), oid="lat")
    assert (o["status"], o["judged_value"], o["judged_end"]) == ("ok", 5.0, "2026-10-12T01:00:00Z")
    s = fold(s, [lat("2026-10-12T03:00:00Z", 80.0, False)])
    assert _objective(view(s, targets), oid="lat")["status"] == "failing"


def test_the_previous_period_stays_visible_beside_the_new_one() -> None:
    november = ("2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z")
    records = [
        metric(pgood=985, end=PERIOD[1]),  # October's last window: 98.5 % of ≥ 99 %
        compensation(amount="2400.00"),
        metric(pgood=60, ptotal=60, end="2026-10-31T17:00:00Z", period_start=november[0],
               period_end=november[1]),
    ]  # fmt: skip
    zones = {"c1": {"tz": "Asia/Shanghai"}}
    v = view(fold(empty_state(), records), TARGETS, zones=zones)
    (c,) = v["contracts"]
    assert (c["period"], c["timezone"]) == ("November 2026", "Asia/Shanghai")
    assert c["as_of_local"] == "2026-11-01 01:00 +08:00"
    assert _objective(v)["period"] == "November 2026"
    previous = c["previous"]
    assert (previous["period"], previous["period_start"]) == ("October 2026", PERIOD[0])
    (o,) = previous["objectives"]
    assert (o["objective_id"], o["period_value"], o["period_compliant"]) == (
        "availability",
        98.5,
        False,
    )
    # closed: nothing owed, 15 bad of a 10-minute budget (1 % of 1000) → 1 − 15/10 = −0.5
    assert o["budget_remaining"] == -0.5
    assert o["credit"] == "2400.00 CNY" and o["target"] == "≥ 99 %"
    assert v["compensations"][0]["period"] == "October 2026"


def test_a_contract_without_a_closed_period_has_no_previous_section() -> None:
    (c,) = view(fold(empty_state(), [metric()]), TARGETS)["contracts"]
    assert c["previous"] is None and c["timezone"] == "UTC"
    assert c["period"] == "2026-09-30 – 2026-10-31"  # in UTC it is not one calendar month
