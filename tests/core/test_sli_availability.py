"""Service availability (Table A.1; §6.1.6 service time, §6.1.13 exemptions): hand-computed.

A minute (timeslice, aligned in Asia/Shanghai) is *unavailable* when its probe success % is
below ``unavailable_below`` (default 100: any failed probe); availability = available minutes
/ evaluated minutes.  Minutes outside service time, or exempt, are not evaluated.  Minutes
with no probe are ``unknown`` by default: out of the denominator, reported as coverage < 1.

A window metric carries ``good`` = available minutes and ``total`` = evaluated minutes (with or
without data); ``period_good`` / ``period_total`` count the minutes *with data* of the period
so far.  Every expected number is worked out beside it.  Instants are written in +08:00;
outputs carry UTC (``23:00+08:00`` = ``15:00Z``).
"""

from __future__ import annotations

from typing import Any

import pytest

MINUTE_MS = 60_000


def avail(threshold: float = 90.0, window: str = "1h", extra: str = "") -> str:
    """One service-availability objective ``avail`` (YAML)."""
    return (
        "- id: avail\n"
        "  sli: service_availability\n"
        '  comparator: ">="\n'
        f"  threshold: {threshold}\n"
        f"  window: {window}\n" + extra
    )


def probes(
    csla: Any, start: str, end: str, every_s: int, down: tuple[str, str] | None = None
) -> list[bytes]:
    """A probe every ``every_s`` seconds in [start, end); those inside ``down`` = [s, e) fail."""
    lo, hi = (csla.ms(down[0]), csla.ms(down[1])) if down else (0, 0)
    return [
        csla.probe(t, not lo <= t < hi) for t in range(csla.ms(start), csla.ms(end), every_s * 1000)
    ]


def check(metric: dict[str, Any], good: int, total: int, value: float | None) -> None:
    assert (metric["good"], metric["total"]) == (good, total), metric
    if value is None:
        assert metric["value"] is None, metric
    else:
        assert metric["value"] == pytest.approx(value, abs=1e-9), metric


# ── outages across a minute, hour, day and month edge (Asia/Shanghai, 1h windows) ───────────
# Probes every 10 s from one hour before the edge hour to one hour after; a minute with one
# failed probe is unavailable.  Each row: data span, outage [s, e), then per window
# (window start, good, total, value %).
EDGES = [
    pytest.param(
        ("2026-03-10T10:00:00+08:00", "2026-03-10T12:00:00+08:00"),
        ("2026-03-10T10:29:45+08:00", "2026-03-10T10:30:15+08:00"),
        [
            # failed probes 10:29:50 | 10:30:00, 10:30:10 → minutes 10:29 and 10:30 are bad:
            # 60 − 2 = 58 good of 60 → 96.666…%
            ("2026-03-10T10:00:00+08:00", 58, 60, 100 * 58 / 60),
            ("2026-03-10T11:00:00+08:00", 60, 60, 100.0),
        ],
        id="minute-edge",
    ),
    pytest.param(
        ("2026-03-10T10:00:00+08:00", "2026-03-10T12:00:00+08:00"),
        ("2026-03-10T10:58:30+08:00", "2026-03-10T11:02:30+08:00"),
        [
            # 10:58, 10:59 bad → 58/60 = 96.666…%
            ("2026-03-10T10:00:00+08:00", 58, 60, 100 * 58 / 60),
            # 11:00, 11:01, 11:02 bad (11:02:00, :10, :20 fail) → 57/60 = 95%
            ("2026-03-10T11:00:00+08:00", 57, 60, 95.0),
        ],
        id="hour-edge",
    ),
    pytest.param(
        ("2026-03-10T23:00:00+08:00", "2026-03-11T01:00:00+08:00"),
        ("2026-03-10T23:58:30+08:00", "2026-03-11T00:02:30+08:00"),
        [
            # local 23:00–24:00 = 15:00Z–16:00Z: 23:58, 23:59 bad → 58/60
            ("2026-03-10T23:00:00+08:00", 58, 60, 100 * 58 / 60),
            # the next local day's first hour: 00:00, 00:01, 00:02 bad → 57/60 = 95%
            ("2026-03-11T00:00:00+08:00", 57, 60, 95.0),
        ],
        id="day-edge",
    ),
    pytest.param(
        ("2026-10-31T23:00:00+08:00", "2026-11-01T01:00:00+08:00"),
        ("2026-10-31T23:58:30+08:00", "2026-11-01T00:02:30+08:00"),
        [
            # last hour of the October period: 58/60
            ("2026-10-31T23:00:00+08:00", 58, 60, 100 * 58 / 60),
            # first hour of the November period: 57/60 = 95%
            ("2026-11-01T00:00:00+08:00", 57, 60, 95.0),
        ],
        id="month-edge",
    ),
]


@pytest.mark.parametrize(("span", "down", "windows"), EDGES)
def test_outage_across_an_edge_is_split_by_minute_window_and_period(
    csla: Any,
    span: tuple[str, str],
    down: tuple[str, str],
    windows: list[tuple[str, int, int, float]],
) -> None:
    rules = csla.ruleset(avail())
    _, out = csla.run(rules, probes(csla, *span, 10, down), until=span[1])
    for start, good, total, value in windows:
        metric = csla.metric_at(out, "avail", start)
        check(metric, good, total, value)
        assert metric["coverage"] == 1.0
    assert out.late == [] and out.dead == []


def test_month_edge_outage_is_split_between_the_october_and_november_periods(csla: Any) -> None:
    rules = csla.ruleset(
        avail(99.0, extra="  compensation:\n    - {bound: 99.0, credit_percent: 10}\n"),
    )
    down = ("2026-10-31T23:58:30+08:00", "2026-11-01T00:02:30+08:00")
    lines = probes(csla, "2026-10-31T23:00:00+08:00", "2026-11-01T01:00:00+08:00", 10, down)
    _, out = csla.run(rules, lines, until="2026-11-01T01:00:00+08:00")

    # October = [2026-10-01T00:00+08:00, 2026-11-01T00:00+08:00) = [09-30T16:00Z, 10-31T16:00Z)
    last_october = csla.metric_at(out, "avail", "2026-10-31T23:00:00+08:00")
    assert (last_october["period_start"], last_october["period_end"]) == (
        "2026-09-30T16:00:00Z",
        "2026-10-31T16:00:00Z",
    )
    # the October minutes before 23:00 had no data (unknown, out of the denominator):
    # period = 58 good of 60 known minutes = 96.666…%
    assert (last_october["period_good"], last_october["period_total"]) == (58, 60)
    assert last_october["period_value"] == pytest.approx(100 * 58 / 60)

    # October closes once, with its own value; 96.67 < 99 → tier 0 (10% of the 1000.00 fee)
    comp = csla.compensation(out, "avail")
    assert (comp["period_start"], comp["period_end"]) == (
        "2026-09-30T16:00:00Z",
        "2026-10-31T16:00:00Z",
    )
    assert comp["observed"] == pytest.approx(100 * 58 / 60)
    assert (comp["tier"], comp["credit_amount"]) == (0, "100.00")

    # November starts from scratch: 57 good of 60 = 95%
    first_november = csla.metric_at(out, "avail", "2026-11-01T00:00:00+08:00")
    assert first_november["period_start"] == "2026-10-31T16:00:00Z"
    assert (first_november["period_good"], first_november["period_total"]) == (57, 60)
    assert first_november["period_value"] == pytest.approx(95.0)


# ── 5×8 across a weekend and a public holiday ───────────────────────────────────────────────
# 5×8 = Mon–Fri 09:00–17:00 Asia/Shanghai.  Thu 2026-06-18 is a workday, Fri 06-19 a holiday
# (Dragon Boat Festival), Sat 20 and Sun 21 the weekend, Mon 22 a workday.  One probe a
# minute from Thu 00:00 to Tue 00:00; the service is down from Thu 16:30 to Mon 09:30.
def _five_by_eight(extra_workdays: str) -> str:
    return (
        "preset: 5x8\n"
        "timezone: Asia/Shanghai\n"
        "holidays: [2026-06-19]\n"
        f"extra_workdays: [{extra_workdays}]\n"
    )


@pytest.mark.parametrize(
    ("extra_workdays", "saturday", "period"),
    [
        pytest.param(
            "",
            (0, 0, None),  # Saturday is outside service time: not evaluated, no value
            # Thu 450 good + Mon 450 good of 480 + 480 → 900/960 = 93.75%
            (900, 960, 93.75),
            id="weekend-and-holiday-not-evaluated",
        ),
        pytest.param(
            "2026-06-20",
            # a make-up Saturday takes Monday's hours 09:00–17:00: 480 minutes, all down
            (0, 480, 0.0),
            # 900 good of 960 + 480 = 1440 → 62.5%
            (900, 1440, 62.5),
            id="make-up-saturday-is-evaluated",
        ),
    ],
)
def test_five_by_eight_across_a_weekend_and_a_holiday(
    csla: Any,
    extra_workdays: str,
    saturday: tuple[int, int, float | None],
    period: tuple[int, int, float],
) -> None:
    rules = csla.ruleset(avail(window="1d"), service_time=_five_by_eight(extra_workdays))
    start, end = "2026-06-18T00:00:00+08:00", "2026-06-23T00:00:00+08:00"
    down = ("2026-06-18T16:30:00+08:00", "2026-06-22T09:30:00+08:00")
    _, out = csla.run(rules, probes(csla, start, end, 60, down), until=end)

    # Thu: evaluated 09:00–17:00 = 480 minutes; 16:30–16:59 down = 30 → 450/480 = 93.75%
    check(csla.metric_at(out, "avail", "2026-06-18T00:00:00+08:00"), 450, 480, 93.75)
    # Fri: a holiday — nothing evaluated although every probe failed
    holiday = csla.metric_at(out, "avail", "2026-06-19T00:00:00+08:00")
    check(holiday, 0, 0, None)
    assert holiday["coverage"] is None and holiday["compliant"] is None
    check(csla.metric_at(out, "avail", "2026-06-20T00:00:00+08:00"), *saturday)
    # Sun: weekend
    check(csla.metric_at(out, "avail", "2026-06-21T00:00:00+08:00"), 0, 0, None)
    # Mon: 09:00–09:29 down = 30 → 450/480 = 93.75%
    monday = csla.metric_at(out, "avail", "2026-06-22T00:00:00+08:00")
    check(monday, 450, 480, 93.75)
    # June before Thu had no probes (unknown), so the period so far is the days above
    assert (monday["period_good"], monday["period_total"]) == period[:2]
    assert monday["period_value"] == pytest.approx(period[2])


# ── planned maintenance (§6.1.13): notice, source, overrun, partial minutes ─────────────────
# One probe a minute 10:00–13:00 on Tue 2026-03-10; notice required: 72 h (the default),
# allowed sources: platform and provider (the default).  The notice is the first line sent.
MAINTENANCE = [
    pytest.param(
        "2026-03-07T11:00:00+08:00",  # exactly 72 h before the window: in time
        ("2026-03-10T11:00:00+08:00", "2026-03-10T12:00:00+08:00"),
        "provider",
        ("2026-03-10T11:00:00+08:00", "2026-03-10T12:00:00+08:00"),
        # the hour 11–12 is exempt: out of numerator and denominator
        (0, 0, None),
        # period: 10–11 and 12–13 → 120 good of 120
        (120, 120, 100.0),
        id="announced-in-time",
    ),
    pytest.param(
        "2026-03-07T11:01:00+08:00",  # 71 h 59 min ahead: too late, not exempt
        ("2026-03-10T11:00:00+08:00", "2026-03-10T12:00:00+08:00"),
        "provider",
        ("2026-03-10T11:00:00+08:00", "2026-03-10T12:00:00+08:00"),
        (0, 60, 0.0),  # 60 bad minutes count
        (120, 180, 100 * 120 / 180),  # 66.666…%
        id="announced-too-late",
    ),
    pytest.param(
        "2026-03-01T09:00:00+08:00",
        ("2026-03-10T11:00:00+08:00", "2026-03-10T12:00:00+08:00"),
        "customer",  # not an allowed maintenance source: not exempt
        ("2026-03-10T11:00:00+08:00", "2026-03-10T12:00:00+08:00"),
        (0, 60, 0.0),
        (120, 180, 100 * 120 / 180),
        id="wrong-source",
    ),
    pytest.param(
        "2026-03-01T09:00:00+08:00",
        ("2026-03-10T11:00:00+08:00", "2026-03-10T11:30:00+08:00"),
        "platform",
        ("2026-03-10T11:00:00+08:00", "2026-03-10T12:00:00+08:00"),
        # 11:00–11:29 exempt; the overrun 11:30–11:59 counts: 0 good of 30
        (0, 30, 0.0),
        (120, 150, 80.0),  # 120 / 150
        id="overrun-past-the-announced-end",
    ),
    pytest.param(
        "2026-03-01T09:00:00+08:00",
        ("2026-03-10T11:00:30+08:00", "2026-03-10T12:00:00+08:00"),
        "provider",
        ("2026-03-10T11:00:00+08:00", "2026-03-10T12:00:00+08:00"),
        # only whole minutes inside the window are exempt: 11:01–11:59; minute 11:00 is
        # evaluated and down → 0 good of 1
        (0, 1, 0.0),
        (120, 121, 100 * 120 / 121),
        id="partial-minute-not-exempt",
    ),
]


@pytest.mark.parametrize(("announced", "window", "source", "down", "hour", "period"), MAINTENANCE)
def test_planned_maintenance(
    csla: Any,
    announced: str,
    window: tuple[str, str],
    source: str,
    down: tuple[str, str],
    hour: tuple[int, int, float | None],
    period: tuple[int, int, float],
) -> None:
    rules = csla.ruleset(avail())
    notice = csla.maintenance(announced, *window, source=source)
    lines = probes(csla, "2026-03-10T10:00:00+08:00", "2026-03-10T13:00:00+08:00", 60, down)
    _, out = csla.run(rules, [notice, *lines], until="2026-03-10T13:00:00+08:00")
    check(csla.metric_at(out, "avail", "2026-03-10T10:00:00+08:00"), 60, 60, 100.0)
    check(csla.metric_at(out, "avail", "2026-03-10T11:00:00+08:00"), *hour)
    last = csla.metric_at(out, "avail", "2026-03-10T12:00:00+08:00")
    check(last, 60, 60, 100.0)
    assert (last["period_good"], last["period_total"]) == period[:2]
    assert last["period_value"] == pytest.approx(period[2])


def test_force_majeure_declared_in_the_rule_file_is_exempt(csla: Any) -> None:
    exemptions = (
        "force_majeure:\n"
        "  - {start: 2026-03-10T11:00:00+08:00, end: 2026-03-10T11:30:00+08:00,"
        " reason: typhoon}\n"
    )
    rules = csla.ruleset(
        avail(99.9), exemptions=exemptions, assessment="period: rolling_days\ndays: 1"
    )
    down = ("2026-03-10T11:00:00+08:00", "2026-03-10T12:00:00+08:00")
    lines = probes(csla, "2026-03-10T10:00:00+08:00", "2026-03-10T13:00:00+08:00", 60, down)
    _, out = csla.run(rules, lines, until="2026-03-10T13:00:00+08:00")
    # 11:00–11:29 exempt; 11:30–11:59 down → 0 good of 30 evaluated
    check(csla.metric_at(out, "avail", "2026-03-10T11:00:00+08:00"), 0, 30, 0.0)
    # at 12:00 the day can reach at best (60 + 720 good) / (90 known + 720 to come) = 96.3%
    # < 99.9 → a breach opens; its evidence names the exemption
    (opened,) = [b for b in out.breaches if b["status"] == "opened"]
    assert opened["detected_at"] == "2026-03-10T04:00:00Z"  # 12:00+08
    assert {
        "force_majeure": "typhoon",
        "start": "2026-03-10T03:00:00Z",
        "end": "2026-03-10T03:30:00Z",
    } in opened["evidence"]["exemptions"]


# ── no-data minutes ─────────────────────────────────────────────────────────────────────────
# Window 10:00–11:00: probes only for 10:00–10:44 (45 minutes), 10:40–10:44 failing (5 bad,
# 40 good); 10:45–10:59 have no data (15 unknown minutes).  Coverage = 45 / 60 = 0.75.
@pytest.mark.parametrize(
    ("no_data", "good", "total", "value"),
    [
        ("unknown", 40, 45, 100 * 40 / 45),  # out of the denominator: 40 / 45 = 88.888…%
        ("available", 55, 60, 100 * 55 / 60),  # counted good: (40 + 15) / 60 = 91.666…%
        ("unavailable", 40, 60, 100 * 40 / 60),  # counted bad: 40 / 60 = 66.666…%
    ],
)
def test_no_data_minutes(csla: Any, no_data: str, good: int, total: int, value: float) -> None:
    rules = csla.ruleset(avail(extra=f"  no_data: {no_data}\n"))
    down = ("2026-03-10T10:40:00+08:00", "2026-03-10T10:45:00+08:00")
    lines = probes(csla, "2026-03-10T10:00:00+08:00", "2026-03-10T10:45:00+08:00", 60, down)
    _, out = csla.run(rules, lines, until="2026-03-10T11:00:00+08:00")
    metric = csla.metric_at(out, "avail", "2026-03-10T10:00:00+08:00")
    check(metric, good, total, value)  # good / total: the numerator and denominator of value
    assert metric["coverage"] == 0.75


def test_window_without_any_data_has_no_value_and_zero_coverage(csla: Any) -> None:
    rules = csla.ruleset(avail())
    lines = probes(csla, "2026-03-10T10:00:00+08:00", "2026-03-10T11:00:00+08:00", 60)
    _, out = csla.run(rules, lines, until="2026-03-10T12:00:00+08:00")
    metric = csla.metric_at(out, "avail", "2026-03-10T11:00:00+08:00")
    check(metric, 0, 0, None)  # 60 evaluated minutes, none known: nothing judged
    assert (metric["coverage"], metric["compliant"]) == (0.0, None)
    # the period keeps the hour before: 60 of 60
    assert (metric["period_good"], metric["period_total"], metric["period_value"]) == (
        60,
        60,
        100.0,
    )
    assert out.breaches == []


# ── unavailable_below: a minute's probe success % against the threshold ─────────────────────
# Four probes in minute 10:00 (at :00, :15, :30, :45), ``ok`` of them succeed; 1-minute window.
@pytest.mark.parametrize(
    ("below", "ok", "good"),
    [
        (100.0, 4, 1),  # 100% is not < 100 → available
        (100.0, 3, 0),  # 75% < 100 → unavailable
        (75.0, 3, 1),  # 75% is not < 75 → available (the bound itself is available)
        (75.0, 2, 0),  # 50% < 75 → unavailable
        (50.0, 2, 1),  # 50% is not < 50 → available
        (50.0, 1, 0),  # 25% < 50 → unavailable
        (0.0, 0, 1),  # 0% is not < 0 → even all-failed is available with unavailable_below 0
    ],
)
def test_unavailable_below_threshold(csla: Any, below: float, ok: int, good: int) -> None:
    rules = csla.ruleset(
        avail(window="1m", extra=f"  unavailable_below: {below}\n"),
        # the term starts at 10:00, so evaluation starts there (not at the month's start)
        term=("2026-03-10T10:00:00+08:00", "2027-01-01T00:00:00+08:00"),
    )
    start = csla.ms("2026-03-10T10:00:00+08:00")
    lines = [csla.probe(start + i * 15_000, i < ok) for i in range(4)]
    _, out = csla.run(rules, lines, until="2026-03-10T10:01:00+08:00")
    check(csla.metric_at(out, "avail", start), good, 1, 100.0 * good)


# ── the certain-breach rule ─────────────────────────────────────────────────────────────────
# A rolling 1-day period (anchored at the term start, local midnight) = 1440 minutes, every
# minute probed; ``bad`` minutes down from 10:00.  The breach opens at the end of the first
# window after which even an all-good rest of the period cannot meet the objective.
@pytest.mark.parametrize(
    ("threshold", "comparator", "bad", "window", "detected"),
    [
        # ≥ 99: 14 bad → 1426/1440 = 99.03% still possible; the 15th bad minute (10:14)
        # makes the best 1425/1440 = 98.96% → certain at the end of window 10:10–10:15
        pytest.param(99.0, ">=", 20, "5m", "10:15", id="99-5m"),
        # the same outage judged on hourly windows: certain only when 10:00–11:00 closes
        pytest.param(99.0, ">=", 20, "1h", "11:00", id="99-1h"),
        # 14 bad: best and final 1426/1440 = 99.03% ≥ 99 → never a breach
        pytest.param(99.0, ">=", 14, "5m", None, id="99-14-bad"),
        # 99.375% of 1440 = 1431: 9 bad gives exactly 1431/1440 = 99.375% → meets ≥
        pytest.param(99.375, ">=", 9, "5m", None, id="exactly-at-threshold"),
        # 10 bad: the 10th (10:09) makes 1430/1440 = 99.31% → end of window 10:05–10:10
        pytest.param(99.375, ">=", 10, "5m", "10:10", id="one-past-threshold"),
        # > 99.375: the 9th bad minute (10:08) makes exactly 99.375%, not > → 10:10
        pytest.param(99.375, ">", 9, "5m", "10:10", id="strict-comparator"),
        # > 99.375 with 8 bad: 1432/1440 = 99.44% → never
        pytest.param(99.375, ">", 8, "5m", None, id="strict-comparator-ok"),
    ],
)
def test_breach_opens_when_certain_and_not_before(
    csla: Any, threshold: float, comparator: str, bad: int, window: str, detected: str | None
) -> None:
    objective = avail(threshold, window).replace('">="', f'"{comparator}"')
    rules = csla.ruleset(objective, assessment="period: rolling_days\ndays: 1")
    day, next_day = "2026-03-10T00:00:00+08:00", "2026-03-11T00:00:00+08:00"
    outage_end = csla.ms("2026-03-10T10:00:00+08:00") + bad * MINUTE_MS
    lines = probes(csla, day, next_day, 60, ("2026-03-10T10:00:00+08:00", outage_end))
    _, out = csla.run(rules, lines, until=next_day)
    final = 100 * (1440 - bad) / 1440
    breach_id = "breach:c1:avail:2026-03-09T16:00:00Z:r1"  # the period starts 03-10 00:00+08
    if detected is None:
        assert out.breaches == []
        return
    opened, resolved = out.breaches
    assert (opened["status"], opened["breach_id"]) == ("opened", breach_id)
    assert opened["detected_at"] == csla.iso(f"2026-03-10T{detected}:00+08:00")
    assert (opened["window_start"], opened["window_end"]) == (
        "2026-03-09T16:00:00Z",
        "2026-03-10T16:00:00Z",
    )
    # observed = the period so far: every minute from 00:00 to the detection is known; of
    # those after 10:00 (the first 600 are good) up to ``bad`` are down
    known = (csla.ms(opened["detected_at"]) - csla.ms(day)) // MINUTE_MS
    down_so_far = min(bad, known - 600)  # 600 = minutes 00:00–09:59
    assert opened["observed"] == pytest.approx(100 * (known - down_so_far) / known)
    # the period closes at 03-11 00:00+08: the same breach resolves with the final value
    assert (resolved["status"], resolved["breach_id"]) == ("resolved", breach_id)
    assert resolved["detected_at"] == "2026-03-10T16:00:00Z"
    assert resolved["observed"] == pytest.approx(final)


def test_breach_detected_in_the_window_where_it_became_certain_for_the_1h_case(
    csla: Any,
) -> None:
    """The 99-1h row in detail: observed and evidence at detection."""
    rules = csla.ruleset(avail(99.0, "1h"), assessment="period: rolling_days\ndays: 1")
    day, next_day = "2026-03-10T00:00:00+08:00", "2026-03-11T00:00:00+08:00"
    down = ("2026-03-10T10:00:00+08:00", "2026-03-10T10:20:00+08:00")
    _, out = csla.run(rules, probes(csla, day, next_day, 60, down), until=next_day)
    opened = out.breaches[0]
    # at 11:00: 660 known minutes, 20 bad → observed 640/660 = 96.9697%
    assert opened["observed"] == pytest.approx(100 * 640 / 660)
    evidence = opened["evidence"]
    # best possible: the remaining 780 minutes all good → (1440 − 20) / 1440 = 98.611111%
    assert (evidence["period_good"], evidence["period_bad"]) == (640, 20)
    assert evidence["remaining_units"] == 780
    assert evidence["best_possible"] == pytest.approx(round(100 * 1420 / 1440, 6))
