"""The per-source watermark (engine.core.watermark; README "The watermark").

Progress of a source = the latest event time it has shown, held back to ``max_skew`` (2 min
by default) ahead of the platform's progress (or, for the platform and contracts without
platform events, of the contract's own progress).  Watermark = min progress over the sources
within ``source_idle`` (10 min) of the reference, minus grace (5 min), floored to the minute.
Instants are written in +08:00.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import watermark
from engine.core.watermark import arrival_watermarks, scan

TERM = ("2026-03-10T00:00:00+08:00", "2027-01-01T00:00:00+08:00")
AVAIL = "- {id: avail, sli: service_availability, comparator: '>=', threshold: 90, window: 1m}"
# availability from platform probes, and a latency objective that also counts the provider's
# probes: both parties' probes count, so both hold the watermark
BOTH = (
    AVAIL + "\n- {id: lat, sli: latency, source: probe, percentile: 99, comparator: '<=',"
    " threshold: 500, window: 1m, sources: [platform, provider]}"
).replace("window: 1m}", "window: 1m, sources: [platform, provider]}", 1)


def t(hms: str) -> str:
    return f"2026-03-10T{hms}+08:00"


def _probes(csla: Any, start: str, minutes: int, *, source: str = "platform") -> list[bytes]:
    base = csla.ms(t(start))
    return [
        csla.probe(base + i * 10_000, True, source=source, latency_ms=20.0)
        for i in range(minutes * 6)
    ]


def _windows(out: Any) -> list[str]:
    return [m["window_start"] for m in out.metrics if m["objective_id"] == "avail"]


def test_one_source_watermark_is_max_event_time_minus_grace(csla: Any) -> None:
    """Probes every 10 s from 10:00 to 10:19:50: watermark ⌊10:19:50 − 5 min⌋ = 10:14, so
    the 1-minute windows 10:00 … 10:13 are closed and 10:14 is not."""
    rules = csla.ruleset(AVAIL, term=TERM)
    _, out = csla.run(rules, _probes(csla, "10:00:00", 20))
    assert len(_windows(out)) == 14
    assert _windows(out)[-1] == "2026-03-10T02:13:00Z"


def test_a_single_event_dated_now_moves_progress_by_max_skew_only(csla: Any) -> None:
    """A historical stream (10:00–10:20) with one event dated months later in the middle:
    it is held back to 2 min ahead, so it closes nothing early and makes nothing late."""
    rules = csla.ruleset(AVAIL, term=TERM)
    lines = _probes(csla, "10:00:00", 10)
    lines.append(csla.probe("2026-09-01T10:00:00+08:00", True, eid="now"))
    lines += _probes(csla, "10:10:00", 10)
    _, out = csla.run(rules, lines)
    assert out.late == []
    # as without the stray event: windows up to 10:13 closed; with it counted as progress
    # they would have closed through the end of August
    assert _windows(out)[-1] == "2026-03-10T02:13:00Z"


def test_a_provider_ahead_by_nine_minutes_cannot_make_platform_events_late(csla: Any) -> None:
    """Both parties' probes count.  The provider dates its probes 9 min ahead: its progress is
    held to the platform's + 2 min, the watermark stays the platform's − 5 min, and every
    platform probe is on time."""
    rules = csla.ruleset(BOTH, term=TERM)
    platform = _probes(csla, "10:00:00", 20)
    provider = _probes(csla, "10:09:00", 20, source="provider")
    lines = [line for pair in zip(platform, provider, strict=True) for line in pair]
    _, out = csla.run(rules, lines)
    assert out.late == []
    # the platform's clock decides: its last probe 10:19:50 → watermark 10:14, as alone
    assert _windows(out)[-1] == "2026-03-10T02:13:00Z"


def test_a_source_behind_by_more_than_source_idle_stops_holding_back(csla: Any) -> None:
    """The provider's last probe is at 10:00:50; the platform goes on to 10:29:50.  Within
    10 min the provider holds the watermark back; beyond, the platform alone decides."""
    rules = csla.ruleset(BOTH, term=TERM)
    lines = _probes(csla, "10:00:00", 1, source="provider") + _probes(csla, "10:00:00", 30)
    _, out = csla.run(rules, lines)
    assert _windows(out)[-1] == "2026-03-10T02:23:00Z"  # ⌊10:29:50 − 5 min⌋ = 10:24


def test_a_lagging_source_within_source_idle_holds_the_watermark(csla: Any) -> None:
    """The provider's probes trail by 8 min (< 10 min idle): the watermark waits for them, so
    none of them is late.  (A source is waited for once it has been heard: the provider's
    first probe comes first.)"""
    rules = csla.ruleset(BOTH, term=TERM)
    platform = _probes(csla, "10:08:00", 20)
    provider = _probes(csla, "10:00:00", 20, source="provider")
    lines = [line for pair in zip(provider, platform, strict=True) for line in pair]
    _, out = csla.run(rules, lines)
    assert out.late == []
    # provider's last 10:19:50 → watermark ⌊10:14:50⌋ = 10:14
    assert _windows(out)[-1] == "2026-03-10T02:13:00Z"


def test_events_from_a_source_that_does_not_count_never_move_the_watermark(csla: Any) -> None:
    """Availability counts platform probes only: the provider's probes are dead letters with
    the reason, whatever their time."""
    rules = csla.ruleset(AVAIL, term=TERM)
    lines = _probes(csla, "10:00:00", 20) + _probes(csla, "11:00:00", 1, source="provider")
    _, out = csla.run(rules, lines)
    assert _windows(out)[-1] == "2026-03-10T02:13:00Z"
    assert len(out.dead) == 6
    assert "source 'provider' does not count for probe events" in out.dead[0]["error"]


# ── the vectorised path equals the event-by-event reference ────────────────────────────────
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["platform", "provider", "customer"]),
            st.integers(min_value=0, max_value=40 * 60_000),
            st.sampled_from(["probe", "request", "node_state"]),
        ),
        max_size=40,
    ),
    st.sampled_from(["none", "platform"]),
)
def test_vectorised_watermarks_equal_the_reference_scan(
    csla: Any, rows: list[tuple[str, int, str]], prior: str
) -> None:
    rules = csla.ruleset(
        BOTH.replace("sources: [platform, provider]", "sources: [platform, provider, customer]"),
        term=TERM,
    )
    contract = rules.latest(csla.contract_id)
    assert contract is not None
    base = csla.ms(t("10:00:00"))
    events = pl.DataFrame(
        {
            "contract_id": [csla.contract_id] * len(rows),
            "source": [s for s, _, _ in rows],
            "kind": [k for _, _, k in rows],
            "event_ms": [base + dt for _, dt, _ in rows],
        },
        schema={"contract_id": pl.String, "source": pl.String, "kind": pl.String,
                "event_ms": pl.Int64},
    )  # fmt: skip
    start = {"platform": base + 5 * 60_000} if prior == "platform" else {}
    progress = dict(start)
    expected = scan(
        contract,
        progress,
        [(s, base + dt, k in contract.progress_kinds) for s, dt, k in rows],
    )
    for scan_rows in (0, watermark._SCAN_ROWS):  # the vectorised plan; a small batch's scan
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(watermark, "_SCAN_ROWS", scan_rows)
            marks, after = arrival_watermarks(
                events, {csla.contract_id: contract}, {csla.contract_id: start}
            )
        assert marks.to_list() == expected
        assert after.get(csla.contract_id, start) == progress  # contracts of the batch only
