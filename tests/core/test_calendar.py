"""Service time (§6.1.6) and assessment periods: hand-computed tables, then invariants.

Perf sanity (not asserted): service_minutes_mask on 10M minutes takes ~0.8–1 s for
America/New_York or Asia/Shanghai with holidays on 2 busy cores (10–13M minutes/s), ~0.2 s
for UTC; service_ms_between over a year takes ~2 ms.
"""

from __future__ import annotations

import itertools
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.calendar import (
    PeriodSpec,
    ServiceCalendar,
    local_iso,
    parse_instant,
    period_containing,
    periods_between,
    service_intervals,
    service_minutes_mask,
    service_ms_between,
    utc_iso,
)

H = 3_600_000
DAY = 24 * H
SH = "Asia/Shanghai"
NY = "America/New_York"
P = parse_instant

# Example National Day arrangement: Oct 1–7 off; Sun Sep 27 and Sat Oct 10 are make-up days.
NATIONAL_DAY = [date(2026, 10, d) for d in range(1, 8)]
MAKE_UP = [date(2026, 9, 27), date(2026, 10, 10)]
CN_5X8 = ServiceCalendar.preset("5x8", SH, holidays=NATIONAL_DAY, extra_workdays=MAKE_UP)
SH_7X12 = ServiceCalendar.preset("7x12", SH)


def mask_of(cal: ServiceCalendar, *instants: str) -> list[bool | None]:
    return service_minutes_mask(cal, pl.Series([P(s) for s in instants])).to_list()


# ── 5×8 in Asia/Shanghai: weekends, a public holiday, make-up workdays ──────────────────────


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        ("2026-09-25T00:00:00+08:00", "2026-09-26T00:00:00+08:00", 8),  # Friday
        ("2026-09-26T00:00:00+08:00", "2026-09-27T00:00:00+08:00", 0),  # Saturday
        ("2026-09-27T00:00:00+08:00", "2026-09-28T00:00:00+08:00", 8),  # make-up Sunday
        ("2026-09-21T00:00:00+08:00", "2026-09-28T00:00:00+08:00", 48),  # 5 days + make-up
        ("2026-10-01T00:00:00+08:00", "2026-10-02T00:00:00+08:00", 0),  # National Day (Thu)
        ("2026-10-01T00:00:00+08:00", "2026-10-08T00:00:00+08:00", 0),  # the whole holiday
        ("2026-10-08T00:00:00+08:00", "2026-10-09T00:00:00+08:00", 8),  # back to work
        ("2026-10-10T00:00:00+08:00", "2026-10-11T00:00:00+08:00", 8),  # make-up Saturday
        ("2026-10-11T00:00:00+08:00", "2026-10-12T00:00:00+08:00", 0),  # Sunday
        ("2026-10-16T16:30:00+08:00", "2026-10-19T09:30:00+08:00", 1),  # across a weekend
        ("2026-10-01T00:00:00+08:00", "2026-11-01T00:00:00+08:00", 144),  # 22 - 5 + 1 days
        ("2026-10-08T08:59:59.999+08:00", "2026-10-08T09:00:00.001+08:00", 1 / H),  # 1 ms
    ],
)
def test_5x8_shanghai_service_hours(start: str, end: str, hours: float) -> None:
    assert service_ms_between(CN_5X8, P(start), P(end)) == round(hours * H)


def test_5x8_shanghai_minutes() -> None:
    assert mask_of(
        CN_5X8,
        "2026-09-27T09:00:00+08:00",  # make-up Sunday
        "2026-10-01T10:00:00+08:00",  # holiday on a Thursday
        "2026-10-08T08:59:00+08:00",
        "2026-10-08T09:00:00+08:00",
        "2026-10-08T16:59:00+08:00",
        "2026-10-08T17:00:00+08:00",
        "2026-10-10T12:00:00+08:00",  # make-up Saturday
        "2026-10-11T12:00:00+08:00",  # plain Sunday
    ) == [True, False, False, True, True, False, True, False]


def test_5x8_intervals_skip_holiday() -> None:
    got = service_intervals(CN_5X8, P("2026-09-30T00:00:00+08:00"), P("2026-10-09T00:00:00+08:00"))
    assert [(utc_iso(a), utc_iso(b)) for a, b in got] == [
        ("2026-09-30T01:00:00Z", "2026-09-30T09:00:00Z"),
        ("2026-10-08T01:00:00Z", "2026-10-08T09:00:00Z"),
    ]


# ── 7×12 boundaries at 08:00 and 20:00 local ────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("local", "in_service"),
    [
        ("2026-11-01T07:59:00+08:00", False),
        ("2026-11-01T08:00:00+08:00", True),
        ("2026-11-01T19:59:00+08:00", True),
        ("2026-11-01T20:00:00+08:00", False),
        ("2026-11-01T00:00:00+08:00", False),
        ("2026-11-01T23:59:00+08:00", False),
    ],
)
def test_7x12_boundary_minutes(local: str, in_service: bool) -> None:
    assert mask_of(SH_7X12, local) == [in_service]


@pytest.mark.parametrize(
    ("start", "end", "ms"),
    [
        ("2026-11-01T00:00:00+08:00", "2026-11-02T00:00:00+08:00", 12 * H),
        ("2026-11-01T07:59:30+08:00", "2026-11-01T08:00:30+08:00", 30_000),
        ("2026-11-01T19:59:59.500+08:00", "2026-11-01T20:00:00.500+08:00", 500),
        ("2026-11-01T20:00:00+08:00", "2026-11-02T08:00:00+08:00", 0),
        ("2026-11-01T12:00:00+08:00", "2026-11-01T12:00:00+08:00", 0),
    ],
)
def test_7x12_service_ms(start: str, end: str, ms: int) -> None:
    assert service_ms_between(SH_7X12, P(start), P(end)) == ms


def test_7x12_custom_hours_and_intervals() -> None:
    cal = ServiceCalendar.preset("7×12h", SH, hours=(540, 1260))  # 09:00–21:00
    day = P("2026-11-01T00:00:00+08:00")
    assert service_intervals(cal, day, day + DAY) == [
        (P("2026-11-01T09:00:00+08:00"), P("2026-11-01T21:00:00+08:00"))
    ]


def test_7x24_intervals_merge_across_midnight() -> None:
    cal = ServiceCalendar.preset("7x24", SH)
    assert service_intervals(cal, 5, 10 * DAY + 7) == [(5, 10 * DAY + 7)]


def test_empty_series() -> None:
    got = service_minutes_mask(CN_5X8, pl.Series([], dtype=pl.Int64))
    assert got.dtype == pl.Boolean
    assert got.len() == 0


def test_mask_does_not_depend_on_batch_span() -> None:
    # an outlier (bad data) centuries away takes another code path for holidays
    minutes = [P("2026-10-01T10:00:00+08:00"), P("2026-10-10T10:00:00+08:00")]
    far = [P("0001-01-01T00:00:00Z"), P("9999-01-01T00:00:00Z")]
    alone = service_minutes_mask(CN_5X8, pl.Series(minutes))
    mixed = service_minutes_mask(CN_5X8, pl.Series(minutes + far))
    assert alone.to_list() == mixed.to_list()[:2] == [False, True]


def test_null_minutes_stay_null() -> None:
    got = service_minutes_mask(
        SH_7X12, pl.Series([None, P("2026-11-01T12:00:00Z")], dtype=pl.Int64)
    )
    assert got.to_list() == [None, False]
    assert got.dtype == pl.Boolean


# ── DST: America/New_York 2026-03-08 (23 h) and 2026-11-01 (25 h), both Sundays ───────────

SPRING = ("2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00")
AUTUMN = ("2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00")


@pytest.mark.parametrize(
    ("cal", "day", "hours"),
    [
        (ServiceCalendar.preset("7x24", NY), SPRING, 23),
        (ServiceCalendar.preset("7x24", NY), AUTUMN, 25),
        (ServiceCalendar.preset("7x12", NY), SPRING, 12),
        (ServiceCalendar.preset("7x12", NY), AUTUMN, 12),
        (ServiceCalendar.preset("5x8", NY), SPRING, 0),  # a Sunday
        (ServiceCalendar.preset("5x8", NY, extra_workdays=[date(2026, 3, 8)]), SPRING, 8),
        (ServiceCalendar.preset("5x8", NY, extra_workdays=[date(2026, 11, 1)]), AUTUMN, 8),
        (ServiceCalendar.custom(NY, {"sun": [(0, 240)]}), SPRING, 3),  # 02:00–03:00 skipped
        (ServiceCalendar.custom(NY, {"sun": [(0, 240)]}), AUTUMN, 5),  # 01:00–02:00 twice
        (ServiceCalendar.custom(NY, {"sun": [(120, 180)]}), SPRING, 0),
        (ServiceCalendar.custom(NY, {"sun": [(60, 120)]}), AUTUMN, 2),
    ],
)
def test_dst_day_service_hours(cal: ServiceCalendar, day: tuple[str, str], hours: int) -> None:
    start, end = P(day[0]), P(day[1])
    assert service_ms_between(cal, start, end) == hours * H
    minutes = pl.int_range(start, end, 60_000, dtype=pl.Int64, eager=True)
    assert service_minutes_mask(cal, minutes).sum() * 60_000 == hours * H


def test_5x8_dst_week_is_40_hours() -> None:
    cal = ServiceCalendar.preset("5x8", NY)
    assert service_ms_between(
        cal, P("2026-03-02T00:00:00-05:00"), P("2026-03-09T00:00:00-04:00")
    ) == (40 * H)


@pytest.mark.parametrize(
    ("cal", "day", "expected"),
    [
        (
            ServiceCalendar.custom(NY, {"sun": [(0, 240)]}),
            SPRING,
            [("2026-03-08T05:00:00Z", "2026-03-08T08:00:00Z")],
        ),
        (
            ServiceCalendar.custom(NY, {"sun": [(0, 240)]}),
            AUTUMN,
            [("2026-11-01T04:00:00Z", "2026-11-01T09:00:00Z")],
        ),
        (
            ServiceCalendar.custom(NY, {"sun": [(60, 120)]}),
            AUTUMN,
            [("2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z")],
        ),
    ],
)
def test_dst_intervals(
    cal: ServiceCalendar, day: tuple[str, str], expected: list[tuple[str, str]]
) -> None:
    got = service_intervals(cal, P(day[0]), P(day[1]))
    assert [(utc_iso(a), utc_iso(b)) for a, b in got] == expected


def test_dst_repeated_hour_minutes_both_in_service() -> None:
    cal = ServiceCalendar.custom(NY, {"sun": [(60, 120)]})
    assert mask_of(
        cal,
        "2026-11-01T00:59:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ) == [False, True, True, False]


# ── calendar months and rolling periods ─────────────────────────────────────────────────────

SH_MONTH = PeriodSpec("calendar_month", None, SH, 0)


@pytest.mark.parametrize(
    ("spec", "t", "start", "end"),
    [
        (SH_MONTH, "2026-11-15T00:00:00Z", "2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z"),
        (SH_MONTH, "2026-10-31T16:00:00Z", "2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z"),
        (SH_MONTH, "2026-11-30T15:59:59.999Z", "2026-10-31T16:00:00Z", "2026-11-30T16:00:00Z"),
        (SH_MONTH, "2026-11-30T16:00:00Z", "2026-11-30T16:00:00Z", "2026-12-31T16:00:00Z"),
        (SH_MONTH, "2026-12-31T23:59:00+08:00", "2026-11-30T16:00:00Z", "2026-12-31T16:00:00Z"),
        (SH_MONTH, "2027-01-01T00:00:00+08:00", "2026-12-31T16:00:00Z", "2027-01-31T16:00:00Z"),
        (SH_MONTH, "2027-02-15T00:00:00+08:00", "2027-01-31T16:00:00Z", "2027-02-28T16:00:00Z"),
        (SH_MONTH, "2028-02-29T23:59:59+08:00", "2028-01-31T16:00:00Z", "2028-02-29T16:00:00Z"),
        (SH_MONTH, "2028-03-01T00:00:00+08:00", "2028-02-29T16:00:00Z", "2028-03-31T16:00:00Z"),
        (  # DST inside the month: 31 days minus one hour
            PeriodSpec("calendar_month", None, NY, 0),
            "2026-03-20T00:00:00Z",
            "2026-03-01T05:00:00Z",
            "2026-04-01T04:00:00Z",
        ),
        (  # midnight of Oct 1 2023 never happened in Asunción: the month starts at 01:00 -03
            PeriodSpec("calendar_month", None, "America/Asuncion", 0),
            "2023-10-01T04:00:00Z",
            "2023-10-01T04:00:00Z",
            "2023-11-01T03:00:00Z",
        ),
        (
            PeriodSpec("calendar_month", None, "America/Asuncion", 0),
            "2023-10-01T03:59:59.999Z",
            "2023-09-01T04:00:00Z",
            "2023-10-01T04:00:00Z",
        ),
    ],
)
def test_calendar_month(spec: PeriodSpec, t: str, start: str, end: str) -> None:
    assert period_containing(spec, P(t)) == (P(start), P(end))


def test_calendar_month_local_display() -> None:
    start, end = period_containing(SH_MONTH, P("2026-11-15T00:00:00Z"))
    assert (local_iso(start, SH), local_iso(end, SH)) == (
        "2026-11-01T00:00:00+08:00",
        "2026-12-01T00:00:00+08:00",
    )


def test_periods_between_calendar_month_clipped() -> None:
    got = periods_between(SH_MONTH, P("2026-11-15T00:00:00+08:00"), P("2027-01-10T00:00:00+08:00"))
    assert [(local_iso(a, SH), local_iso(b, SH)) for a, b in got] == [
        ("2026-11-15T00:00:00+08:00", "2026-12-01T00:00:00+08:00"),
        ("2026-12-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00"),
        ("2027-01-01T00:00:00+08:00", "2027-01-10T00:00:00+08:00"),
    ]


A = P("2026-01-01T00:00:00Z")
ROLL_30 = PeriodSpec("rolling_days", 30, SH, A)


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (A, (A, A + 30 * DAY)),
        (A + 30 * DAY - 1, (A, A + 30 * DAY)),
        (A + 30 * DAY, (A + 30 * DAY, A + 60 * DAY)),
        (A - 1, (A - 30 * DAY, A)),
        (A + 95 * DAY, (A + 90 * DAY, A + 120 * DAY)),
    ],
)
def test_rolling_days(t: int, expected: tuple[int, int]) -> None:
    assert period_containing(ROLL_30, t) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (
            A + 10 * DAY,
            A + 70 * DAY,
            [
                (A + 10 * DAY, A + 30 * DAY),
                (A + 30 * DAY, A + 60 * DAY),
                (A + 60 * DAY, A + 70 * DAY),
            ],
        ),
        (A, A + 30 * DAY, [(A, A + 30 * DAY)]),
        (A + 5, A + 5, []),
    ],
)
def test_periods_between_rolling(start: int, end: int, expected: list[tuple[int, int]]) -> None:
    assert periods_between(ROLL_30, start, end) == expected


# ── instants as text ────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-10-31T16:00:00Z", 1_793_462_400_000),
        ("2026-11-01T00:00:00+08:00", 1_793_462_400_000),
        ("2026-10-31t16:00:00z", 1_793_462_400_000),
        ("2026-10-31 16:00:00Z", 1_793_462_400_000),
        ("2026-10-31T11:00:00-05:00", 1_793_462_400_000),
        ("2026-10-31T16:00:00.5Z", 1_793_462_400_500),
        ("2026-10-31T16:00:00.123456Z", 1_793_462_400_123),  # sub-ms truncated
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999Z", -1),
    ],
)
def test_parse_instant(text: str, ms: int) -> None:
    assert parse_instant(text) == ms


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-11-01T00:00:00", "no UTC offset"),
        ("2026-11-01T00:00:00.250", "no UTC offset"),
        ("2026-11-01", "not an RFC 3339"),
        ("2026-11-01T00:00+08:00", "not an RFC 3339"),
        ("1793462400000", "not an RFC 3339"),
        ("2026-13-01T00:00:00Z", "not a valid timestamp"),
        ("2026-11-01T00:00:60Z", "not a valid timestamp"),
        ("2026-11-01T00:00:00+24:00", "invalid UTC offset"),
    ],
)
def test_parse_instant_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_instant(text)


@pytest.mark.parametrize(
    ("ms", "utc", "tz", "local"),
    [
        (1_793_462_400_000, "2026-10-31T16:00:00Z", SH, "2026-11-01T00:00:00+08:00"),
        (1_793_462_400_500, "2026-10-31T16:00:00.500Z", SH, "2026-11-01T00:00:00.500+08:00"),
        (-1, "1969-12-31T23:59:59.999Z", "UTC", "1969-12-31T23:59:59.999+00:00"),
        (P("2026-11-01T05:30:00Z"), "2026-11-01T05:30:00Z", NY, "2026-11-01T01:30:00-04:00"),
        (P("2026-11-01T06:30:00Z"), "2026-11-01T06:30:00Z", NY, "2026-11-01T01:30:00-05:00"),
    ],
)
def test_iso_formatting(ms: int, utc: str, tz: str, local: str) -> None:
    assert utc_iso(ms) == utc
    assert local_iso(ms, tz) == local
    assert parse_instant(utc) == parse_instant(local) == ms


# ── validation ──────────────────────────────────────────────────────────────────────────────


def test_calendar_normalises_ranges() -> None:
    cal = ServiceCalendar.custom(SH, {"Mon": [(600, 700), (0, 60), (60, 120), (650, 800)]})
    assert cal.weekly[0] == ((0, 120), (600, 800))
    assert cal.weekly[1:] == ((),) * 6
    assert cal == ServiceCalendar.custom(SH, {"mon": [(0, 120), (600, 800)]})


def test_ranges_on() -> None:
    assert CN_5X8.ranges_on(date(2026, 10, 1)) == ()
    assert CN_5X8.ranges_on(date(2026, 10, 10)) == ((540, 1020),)
    assert CN_5X8.ranges_on(date(2026, 10, 11)) == ()
    assert CN_5X8.ranges_on(date(2026, 10, 12)) == ((540, 1020),)


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: ServiceCalendar.preset("7x24", "Mars/Olympus"), "unknown IANA time zone"),
        (lambda: ServiceCalendar.preset("6x10", SH), "unknown service time preset"),
        (lambda: ServiceCalendar.preset("7x24", SH, hours=(0, 60)), "no hours"),
        (lambda: ServiceCalendar.preset("5x8", SH, hours=(600, 600)), "0 <= start < end"),
        (lambda: ServiceCalendar.custom(SH, {"mon": [(0, 1441)]}), "0 <= start < end"),
        (lambda: ServiceCalendar.custom(SH, {"mon": [(-1, 10)]}), "0 <= start < end"),
        (lambda: ServiceCalendar.custom(SH, {"mon": [(0.5, 10)]}), "two ints"),  # type: ignore[list-item]
        (lambda: ServiceCalendar.custom(SH, {"monday": [(0, 10)]}), "unknown weekday keys"),
        (lambda: ServiceCalendar(SH, ((),) * 6), "7 entries"),
        (
            lambda: ServiceCalendar.preset(
                "5x8", SH, holidays=[date(2026, 10, 1)], extra_workdays=[date(2026, 10, 1)]
            ),
            "both holiday and extra workday",
        ),
        (lambda: PeriodSpec("rolling_days", 0, SH, 0), "days >= 1"),
        (lambda: PeriodSpec("rolling_days", None, SH, 0), "days >= 1"),
        (lambda: PeriodSpec("calendar_month", 30, SH, 0), "take no days"),
        (lambda: PeriodSpec("weekly", None, SH, 0), "unknown period kind"),  # type: ignore[arg-type]
        (lambda: service_ms_between(SH_7X12, 10, 5), "before start_ms"),
    ],
)
def test_rejects(build: object, error: str) -> None:
    assert callable(build)
    with pytest.raises(ValueError, match=error):
        build()


def test_rejects_datetime_as_holiday() -> None:
    from datetime import datetime

    with pytest.raises(TypeError, match=r"not a datetime\.date"):
        ServiceCalendar.preset("5x8", SH, holidays=[datetime(2026, 10, 1, tzinfo=None)])  # noqa: DTZ001


def test_mask_rejects_non_integer_series() -> None:
    with pytest.raises(TypeError, match="integer epoch ms"):
        service_minutes_mask(SH_7X12, pl.Series([1.5]))


# ── invariants (hypothesis) ─────────────────────────────────────────────────────────────────

ZONES = [
    "UTC",
    SH,
    NY,
    "Europe/London",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kathmandu",  # +05:45
    "America/Santiago",  # DST changes at local midnight
    "Pacific/Chatham",  # +12:45 / +13:45
]
MIN = 60_000
WINDOW_START = P("2025-12-01T00:00:00Z") // MIN
WINDOW_MINUTES = 400 * 24 * 60
DST_CHANGES = [
    P(s)
    for s in (
        "2026-03-08T07:00:00Z",  # New York
        "2026-11-01T06:00:00Z",
        "2026-03-29T01:00:00Z",  # London
        "2026-10-25T01:00:00Z",
        "2026-04-04T15:00:00Z",  # Lord Howe
        "2026-10-03T16:00:00Z",
        "2026-04-05T03:00:00Z",  # Santiago
        "2026-09-06T04:00:00Z",
    )
]


@st.composite
def calendars(draw: st.DrawFn) -> ServiceCalendar:
    def day() -> st.SearchStrategy[list[tuple[int, int]]]:
        pair = st.tuples(st.integers(0, 1439), st.integers(1, 1440)).filter(lambda r: r[0] < r[1])
        return st.lists(pair, max_size=3)

    week = tuple(tuple(draw(day())) for _ in range(7))
    dates = st.dates(date(2025, 11, 25), date(2027, 2, 10))
    holidays = draw(st.frozensets(dates, max_size=20))
    extra = draw(st.frozensets(dates, max_size=10)) - holidays
    return ServiceCalendar(draw(st.sampled_from(ZONES)), week, holidays, extra)


@st.composite
def minute_ranges(draw: st.DrawFn) -> tuple[int, int]:
    if draw(st.booleans()):
        start = (draw(st.sampled_from(DST_CHANGES)) // MIN) + draw(st.integers(-4320, 4320))
    else:
        start = WINDOW_START + draw(st.integers(0, WINDOW_MINUTES))
    return start * MIN, (start + draw(st.integers(0, 45 * 24 * 60))) * MIN


def minutes_of(intervals: list[tuple[int, int]]) -> set[int]:
    out: set[int] = set()
    for lo, hi in intervals:
        assert lo % MIN == 0 and hi % MIN == 0
        out.update(range(lo, hi, MIN))
    return out


@settings(max_examples=150, deadline=None)
@given(calendars(), minute_ranges())
def test_mask_agrees_with_day_walk(cal: ServiceCalendar, bounds: tuple[int, int]) -> None:
    start, end = bounds
    minutes = pl.int_range(start, end, MIN, dtype=pl.Int64, eager=True)
    mask = service_minutes_mask(cal, minutes)
    assert len(mask) == len(minutes)
    assert service_ms_between(cal, start, end) == mask.sum() * MIN
    in_service = set(minutes.filter(mask).to_list())
    assert minutes_of(service_intervals(cal, start, end)) == in_service


@settings(max_examples=150, deadline=None)
@given(calendars(), minute_ranges(), st.integers(0, MIN - 1), st.data())
def test_intervals_are_merged_clipped_and_additive(
    cal: ServiceCalendar, bounds: tuple[int, int], jitter: int, data: st.DataObject
) -> None:
    start, end = bounds[0] + jitter, max(bounds[1] - jitter, bounds[0] + jitter)
    got = service_intervals(cal, start, end)
    for lo, hi in got:
        assert start <= lo < hi <= end
    for (_, prev_hi), (next_lo, _) in itertools.pairwise(got):
        assert prev_hi < next_lo
    split = data.draw(st.integers(start, end))
    total = service_ms_between(cal, start, end)
    assert total == sum(hi - lo for lo, hi in got)
    assert total == service_ms_between(cal, start, split) + service_ms_between(cal, split, end)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from([z for z in ZONES if z != "America/Santiago"]),
    st.integers(WINDOW_START * MIN, (WINDOW_START + WINDOW_MINUTES) * MIN),
    st.integers(0, 800 * DAY),
)
def test_calendar_months_tile_and_start_on_local_firsts(tz: str, start: int, length: int) -> None:
    spec = PeriodSpec("calendar_month", None, tz, 0)
    got = periods_between(spec, start, start + length)
    assert [lo for lo, _ in got][:1] == ([start] if length else [])
    for (_, prev_hi), (next_lo, _) in itertools.pairwise(got):
        assert prev_hi == next_lo
        assert local_iso(next_lo, tz)[7:19] == "-01T00:00:00"
    for lo, hi in got:
        assert period_containing(spec, lo)[0] <= lo < hi <= period_containing(spec, lo)[1]
    assert sum(hi - lo for lo, hi in got) == length


@given(st.integers(1, 400), st.integers(-(10**13), 10**13), st.integers(-(10**13), 10**13))
def test_rolling_period_contains_t(days: int, anchor: int, t: int) -> None:
    start, end = period_containing(PeriodSpec("rolling_days", days, "UTC", anchor), t)
    assert start <= t < end
    assert end - start == days * DAY
    assert (start - anchor) % (days * DAY) == 0


@given(st.integers(P("0001-01-02T00:00:00Z"), P("9999-12-30T00:00:00Z")))
def test_utc_iso_round_trip(ms: int) -> None:
    assert parse_instant(utc_iso(ms)) == ms


@given(st.integers(0, P("9999-12-30T00:00:00Z")), st.sampled_from(ZONES))
def test_local_iso_round_trip(ms: int, tz: str) -> None:
    assert parse_instant(local_iso(ms, tz)) == ms


def test_dst_days_are_sundays() -> None:
    assert date(2026, 3, 8).weekday() == date(2026, 11, 1).weekday() == 6
