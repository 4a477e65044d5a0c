"""Multi-window multi-burn-rate early warnings, hand-computed on constructed telemetry.

Budget b of "availability ≥ 99.9 %" is 0.001 of the minutes; burn rate over a window =
(unavailable / known minutes in it) / b.  Buckets are 5 minutes; a window (end − W, end] holds
the buckets ending in it.  Instants are written in +08:00.
"""

from __future__ import annotations

from typing import Any

import pytest

AVAIL = (
    "- id: avail\n  sli: service_availability\n  comparator: '>='\n  threshold: 99.9\n"
    "  window: 1h\n"
)
THIRTY_DAYS = "period: rolling_days\ndays: 30"  # scale factor 1: the workbook's own windows


def t(hms: str, day: int = 10) -> str:
    return f"2026-03-{day:02d}T{hms}+08:00"


def outage_day(csla: Any) -> list[bytes]:
    """Probes every minute of 03-10 00:00–18:00, failing 10:00–10:05 (5 bad minutes)."""
    lines = csla.probes_every_minute(t("00:00:00"), t("10:00:00"))
    lines += csla.probes_every_minute(t("10:00:00"), t("10:05:00"), ok=False)
    lines += csla.probes_every_minute(t("10:05:00"), t("18:00:00"))
    return lines


def by_key(out: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(w["warning_id"].rsplit(":", 1)[1], w["status"]): w for w in out.warnings}


def test_workbook_rules_fire_on_an_outage_and_clear_in_order(csla: Any) -> None:
    rules = csla.ruleset(AVAIL, assessment=THIRTY_DAYS)
    _, out = csla.run(rules, outage_day(csla), until=t("18:00:00"))
    got = by_key(out)
    # at 10:05: 5m 5/5 → 1000×; 1h 5/60 → 83.33×; 30m 5/30 → 166.67×; 6h 5/360 → 13.89×;
    # 3d: all 605 minutes seen so far, 5/605 → 8.264×.  All three rules fire.
    page1 = got[("page-14.4x-60m", "fired")]
    assert page1["detected_at"] == csla.iso(t("10:05:00"))
    assert page1["burn_rate_short"] == 1000.0
    assert page1["burn_rate_long"] == pytest.approx(1000 * 5 / 60, abs=1e-6)
    assert (page1["long_window"], page1["short_window"], page1["severity"]) == ("1h", "5m", "page")
    page6 = got[("page-6x-360m", "fired")]
    assert page6["burn_rate_long"] == pytest.approx(1000 * 5 / 360, abs=1e-6)
    ticket = got[("ticket-1x-4320m", "fired")]
    assert ticket["burn_rate_long"] == pytest.approx(1000 * 5 / 605, abs=1e-6)
    assert ticket["severity"] == "ticket" and ticket["long_window"] == "3d"
    # budget remaining at 10:05: 605 minutes seen + the period's rest (to 04-01 00:00:
    # 21 days 13 h 55 min = 31,075 minutes) = 31,680 units; b × units = 31.68 minutes of
    # budget, 5 spent → 1 − 5/31.68 = 0.842172
    assert page1["budget_remaining"] == pytest.approx(1 - 5 / 31.68, abs=1e-6)
    # cleared when the short window no longer burns: 5m at 10:10, 30m at 10:35, 6h at 16:05
    assert got[("page-14.4x-60m", "cleared")]["detected_at"] == csla.iso(t("10:10:00"))
    assert got[("page-6x-360m", "cleared")]["detected_at"] == csla.iso(t("10:35:00"))
    assert got[("ticket-1x-4320m", "cleared")]["detected_at"] == csla.iso(t("16:05:00"))
    # one id per warning on both its records
    assert got[("page-6x-360m", "fired")]["warning_id"] == got[("page-6x-360m", "cleared")][
        "warning_id"
    ]
    assert len(out.warnings) == 6


def test_a_slow_burn_fires_only_the_ticket(csla: Any) -> None:
    """One bad minute an hour: 1h → 16.7× but 5m windows mostly 0 → no fast page; the 3 d
    and 6 h windows burn at 1/60 / 0.001 = 16.7× ≥ 1 → ticket; 6h/30m: 30m holds a bad minute
    only half of the time, so the 6× page flaps with it."""
    lines = []
    for hour in range(8):
        start = csla.ms(t(f"{hour:02d}:00:00"))
        lines += csla.probes_every_minute(start, start + 59 * 60_000)
        lines += csla.probes_every_minute(start + 59 * 60_000, start + 60 * 60_000, ok=False)
    rules = csla.ruleset(AVAIL, assessment=THIRTY_DAYS)
    _, out = csla.run(rules, lines, until=t("08:00:00"))
    fired = [w for w in out.warnings if w["status"] == "fired"]
    assert any(w["severity"] == "ticket" for w in fired)
    # the fast page needs 5m ≥ 14.4×: the bucket 00:55–01:00 has 1 bad of 5 → 200×, and 1h
    # has 1/60 → 16.7× ≥ 14.4 → it does fire at 01:00, and clears at 01:05
    fast = [w for w in out.warnings if w["warning_id"].endswith("page-14.4x-60m")]
    assert [(w["status"], w["detected_at"]) for w in fast[:2]] == [
        ("fired", csla.iso(t("01:00:00"))),
        ("cleared", csla.iso(t("01:05:00"))),
    ]


def test_windows_scale_with_the_period_and_round_up_to_buckets(csla: Any) -> None:
    # March has 31 days: × 31/30 → 1 h = 62 min → 65 min; 5 min → 5.17 → 10 min
    rules = csla.ruleset(AVAIL)
    _, out = csla.run(rules, outage_day(csla), until=t("18:00:00"))
    page = next(w for w in out.warnings if w["severity"] == "page")
    assert (page["long_window"], page["short_window"]) == ("65m", "10m")


def test_no_warnings_when_disabled_or_without_a_budget(csla: Any) -> None:
    rules = csla.ruleset(AVAIL, assessment=THIRTY_DAYS)
    text = csla.rule_text(AVAIL, assessment=THIRTY_DAYS) + "early_warning: {enabled: false}\n"
    from engine.ruleset import load_rule_text
    from engine.ruleset.compile import build_ruleset

    result = load_rule_text(text, "c1.yaml")
    assert result.contract is not None
    _, out = csla.run(build_ruleset([result.contract]), outage_day(csla), until=t("18:00:00"))
    assert out.warnings == []
    latency = "- id: lat\n  sli: latency\n  comparator: '<='\n  threshold: 5\n  percentile: 99\n"
    lines = [csla.request(t("10:00:00"), False, 900.0)]
    _, out = csla.run(csla.ruleset(latency), lines, until=t("11:00:00"))
    assert out.warnings == []
    assert rules  # the enabled ruleset compiles too


def test_error_rate_budget_custom_rule(csla: Any) -> None:
    objective = (
        "- id: err\n  sli: error_rate\n  comparator: '<='\n  threshold: 2\n  window: 5m\n"
    )
    text = csla.rule_text(objective, assessment=THIRTY_DAYS) + (
        "early_warning:\n  scale_to_period: false\n"
        "  rules: [{severity: page, burn_rate: 10, long: 30m, short: 5m}]\n"
    )
    from engine.ruleset import load_rule_text
    from engine.ruleset.compile import build_ruleset

    result = load_rule_text(text, "c1.yaml")
    assert result.contract is not None
    lines = []
    for minute in range(30):  # 10 requests a minute; in 10:25–10:30 half of them fail
        at = csla.ms(t("10:00:00")) + minute * 60_000
        lines += [csla.request(at + i * 1000, not (minute >= 25 and i % 2), 10.0) for i in range(10)]
    _, out = csla.run(build_ruleset([result.contract]), lines, until=t("10:30:00"))
    # at 10:30: 5m 25/50 = 50 % / 2 % = 25×; 30m 25/300 = 8.33 % / 2 % = 4.17× < 10 → no fire
    assert out.warnings == []
    lines += [csla.request(csla.ms(t("10:30:00")) + i * 1000, False, 10.0) for i in range(60)]
    _, out = csla.run(build_ruleset([result.contract]), lines, until=t("10:35:00"))
    # at 10:35: 5m 60/60 → 50×; 30m = buckets 10:05–10:35: minutes 5–29 hold 250 requests
    # (25 failed) plus the 60 failed at 10:30 → 85 / 310 = 27.4 % → 13.71× ≥ 10 → fires
    (warning,) = out.warnings
    assert warning["burn_rate_long"] == pytest.approx((85 / 310) / 0.02, abs=1e-6)
    assert warning["burn_rate_short"] == 50.0
    # error rate: budget remaining over the requests seen: 1 − 85 / (0.02 × 360) (all 360
    # requests of the period so far, not only the window) = −10.81: overspent
    assert warning["budget_remaining"] == pytest.approx(1 - 85 / (0.02 * 360), abs=1e-6)


def test_burn_rule_with_short_not_below_long_is_rejected(csla: Any) -> None:
    from engine.ruleset import load_rule_text

    text = csla.rule_text(AVAIL) + (
        "early_warning:\n  rules: [{severity: page, burn_rate: 2, long: 5m, short: 1h}]\n"
    )
    result = load_rule_text(text, "c1.yaml")
    messages = [str(i) for i in result.issues if i.is_error]
    assert any("short window must be shorter than long window" in m for m in messages), messages
    assert any(":" in m.split("error")[0] for m in messages)  # file:line:col
