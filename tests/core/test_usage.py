"""Annex B usage figures per tenant and project per local hour: tables, then invariants."""

from __future__ import annotations

import io
import itertools
from datetime import datetime
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core import usage as u
from engine.core.calendar import parse_instant, utc_iso
from engine.core.decode import decode

MINUTE = 60_000
HOUR = 3_600_000
METRICS = ("cpu", "gpu", "memory", "storage", "bandwidth")
CLOSING_SCHEMA: dict[str, Any] = {
    "contract_id": pl.String,
    "kind": pl.String,
    "tenant_id": pl.String,
    "project_id": pl.String,
    "ok": pl.Boolean,
    "tokens_in": pl.Int64,
    "tokens_out": pl.Int64,
    **{m: pl.Float64 for m in METRICS},
    "event_ms": pl.Int64,
    "minute": pl.Int64,
}


def ms(text: str) -> int:
    return parse_instant(text)


def request(
    t: str | int,
    ok: bool = True,
    *,
    contract: str = "c1",
    tenant: str | None = "t1",
    project: str | None = "p1",
    tokens_in: int | None = None,
    tokens_out: int | None = None,
) -> dict[str, Any]:
    at = t if isinstance(t, int) else ms(t)
    return {
        "contract_id": contract,
        "kind": "request",
        "tenant_id": tenant,
        "project_id": project,
        "ok": ok,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "event_ms": at,
    }


def utilization(
    t: str | int,
    *,
    contract: str = "c1",
    tenant: str | None = "t1",
    project: str | None = "p1",
    **ratios: float | None,
) -> dict[str, Any]:
    at = t if isinstance(t, int) else ms(t)
    return {
        "contract_id": contract,
        "kind": "utilization",
        "tenant_id": tenant,
        "project_id": project,
        "event_ms": at,
        **ratios,
    }


def closing(events: list[dict[str, Any]]) -> pl.DataFrame:
    """A ``closing`` frame as ``pipeline._close`` builds it (the columns usage reads)."""
    rows = [{**e, "minute": e["event_ms"] // MINUTE * MINUTE} for e in events]
    return pl.DataFrame(rows, schema=CLOSING_SCHEMA)


def run(
    events: list[dict[str, Any]], until: str | int, tz: str = "UTC"
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    target = until if isinstance(until, int) else ms(until)
    contracts = {e["contract_id"] for e in events} | {"c1"}
    return u.usage_step(
        u.empty_usage(),
        closing(events),
        dict.fromkeys(contracts, target),
        dict.fromkeys(contracts, tz),
    )


def no_utilisation() -> dict[str, Any]:
    return {f"{m}_{s}": None for m in METRICS for s in ("mean", "max")}


# --- hand-computed tables ----------------------------------------------------------------------


def test_calls_in_three_of_sixty_minutes() -> None:
    events = [
        request("2026-03-01T10:05:10Z", tokens_in=10, tokens_out=20),
        request("2026-03-01T10:05:50Z", ok=False, tokens_in=5),
        *(request(f"2026-03-01T10:17:0{s}Z") for s in range(5)),
        request("2026-03-01T10:59:59.999Z"),
    ]
    parts, records = run(events, "2026-03-01T11:00:00Z")
    assert parts.height == 0
    assert records == [
        {
            "record": "usage",
            "usage_id": "usage:c1:t1:p1:2026-03-01T10:00:00Z",
            "contract_id": "c1",
            "tenant_id": "t1",
            "project_id": "p1",
            "window_start": "2026-03-01T10:00:00Z",
            "window_end": "2026-03-01T11:00:00Z",
            "calls": 8,
            "calls_per_minute_max": 5,  # 10:17
            "calls_per_minute_min": 0,  # 57 minutes without calls
            "calls_per_minute_mean": 8 / 60,
            "errors": 1,
            "tokens_in": 15,
            "tokens_out": 20,
            "tokens_per_request": 17.5,  # (15 + 20) / 2 calls that reported tokens
            **no_utilisation(),
        }
    ]
    orjson.dumps(records)  # orjson-ready


def test_every_minute_with_calls_gives_the_smallest_count_as_min() -> None:
    start = ms("2026-03-01T10:00:00Z")
    events = [request(start + i * MINUTE + 1_000) for i in range(60)]
    events += [request(start + 30 * MINUTE + 2_000), request(start + 30 * MINUTE + 3_000)]
    _, (record,) = run(events, start + HOUR)
    assert record["calls"] == 62
    assert record["calls_per_minute_max"] == 3
    assert record["calls_per_minute_min"] == 1
    assert record["calls_per_minute_mean"] == 62 / 60
    assert record["tokens_per_request"] is None  # no call reported tokens


def test_utilisation_means_and_maxima() -> None:
    events = [
        utilization("2026-03-01T10:00:00Z", cpu=0.1, gpu=0.5, storage=0.0),
        utilization("2026-03-01T10:20:00Z", cpu=0.2, gpu=None, bandwidth=1.0),
        utilization("2026-03-01T10:40:00Z", cpu=0.6, gpu=0.25),
    ]
    _, (record,) = run(events, "2026-03-01T11:00:00Z")
    assert {k: v for k, v in record.items() if k.startswith(METRICS)} == {
        "cpu_mean": 0.3,  # (0.1 + 0.2 + 0.6) / 3, summed exactly in nano-units
        "cpu_max": 0.6,
        "gpu_mean": 0.375,  # (0.5 + 0.25) / 2: a missing sample is not a 0
        "gpu_max": 0.5,
        "memory_mean": None,
        "memory_max": None,
        "storage_mean": 0.0,
        "storage_max": 0.0,
        "bandwidth_mean": 1.0,
        "bandwidth_max": 1.0,
    }
    assert record["calls"] == 0
    assert record["calls_per_minute_max"] == record["calls_per_minute_min"] == 0
    assert record["calls_per_minute_mean"] == 0.0
    assert record["tokens_per_request"] is None


def test_calls_and_utilisation_of_one_project_share_a_record() -> None:
    events = [
        request("2026-03-01T10:01:00Z", tokens_in=3, tokens_out=4),
        utilization("2026-03-01T10:02:00Z", cpu=0.5),
    ]
    _, (record,) = run(events, "2026-03-01T11:00:00Z")
    assert record["calls"] == 1 and record["tokens_per_request"] == 7.0
    assert record["cpu_mean"] == record["cpu_max"] == 0.5


def test_null_tenant_and_project_are_dashes_and_records_are_sorted() -> None:
    events = [
        request("2026-03-01T11:10:00Z", tenant="t2", project="p1"),
        request("2026-03-01T10:10:00Z", tenant="t2", project=None),
        request("2026-03-01T10:10:00Z", tenant=None, project=None),
        request("2026-03-01T10:20:00Z", tenant=None, project=None),
        utilization("2026-03-01T10:30:00Z", tenant=None, project="p9", cpu=0.4),
        request("2026-03-01T10:10:00Z", contract="c0", tenant="t1"),
    ]
    _, records = run(events, "2026-03-01T12:00:00Z")
    assert [(r["usage_id"], r["calls"]) for r in records] == [
        ("usage:c0:t1:p1:2026-03-01T10:00:00Z", 1),
        ("usage:c1:-:-:2026-03-01T10:00:00Z", 2),
        ("usage:c1:-:p9:2026-03-01T10:00:00Z", 0),
        ("usage:c1:t2:-:2026-03-01T10:00:00Z", 1),
        ("usage:c1:t2:p1:2026-03-01T11:00:00Z", 1),
    ]
    assert [(r["tenant_id"], r["project_id"]) for r in records[1:3]] == [("-", "-"), ("-", "p9")]


def test_window_edge_at_a_local_hour_in_shanghai() -> None:
    events = [
        request("2026-03-01T09:59:59.999+08:00"),
        request("2026-03-01T10:00:00+08:00"),
        request("2026-03-01T10:00:30+08:00"),
    ]
    _, records = run(events, "2026-03-01T11:00:00+08:00", tz="Asia/Shanghai")
    assert [(r["window_start"], r["window_end"], r["calls"]) for r in records] == [
        ("2026-03-01T01:00:00Z", "2026-03-01T02:00:00Z", 1),  # 09:00–10:00 local
        ("2026-03-01T02:00:00Z", "2026-03-01T03:00:00Z", 2),  # 10:00–11:00 local
    ]


def test_half_hour_zone_has_windows_on_its_local_hours() -> None:
    events = [request("2026-03-01T10:29:00Z"), request("2026-03-01T10:30:00Z")]
    _, records = run(events, "2026-03-01T11:30:00Z", tz="Asia/Kolkata")  # +05:30
    assert [(r["window_start"], r["calls"]) for r in records] == [
        ("2026-03-01T09:30:00Z", 1),
        ("2026-03-01T10:30:00Z", 1),
    ]


def test_a_window_is_emitted_once_across_closings() -> None:
    targets, tz = {"c1": ms("2026-03-01T10:30:00Z")}, {"c1": "UTC"}
    first = [request("2026-03-01T10:05:00Z"), request("2026-03-01T10:29:59Z")]
    parts, records = u.usage_step(u.empty_usage(), closing(first), targets, tz)
    assert records == [] and parts.height == 1  # 10:00–11:00 still open

    second = [request("2026-03-01T10:30:00Z"), request("2026-03-01T11:05:00Z")]
    targets = {"c1": ms("2026-03-01T11:10:00Z")}
    parts, records = u.usage_step(parts, closing(second), targets, tz)
    assert [(r["window_start"], r["calls"], r["calls_per_minute_max"]) for r in records] == [
        ("2026-03-01T10:00:00Z", 3, 1)
    ]
    assert parts.get_column("window_start").to_list() == [ms("2026-03-01T11:00:00Z")]

    targets = {"c1": ms("2026-03-01T12:00:00Z")}
    parts, records = u.usage_step(parts, closing([]), targets, tz)
    assert [(r["window_start"], r["calls"]) for r in records] == [("2026-03-01T11:00:00Z", 1)]
    assert parts.height == 0
    parts, records = u.usage_step(parts, closing([]), targets, tz)
    assert records == [] and parts.height == 0


def test_contracts_without_a_target_keep_their_windows() -> None:
    events = [request("2026-03-01T10:05:00Z"), request("2026-03-01T10:05:00Z", contract="c2")]
    parts, records = u.usage_step(
        u.empty_usage(),
        closing(events),
        {"c1": ms("2026-03-01T11:00:00Z")},
        {"c1": "UTC", "c2": "UTC"},
    )
    assert [r["contract_id"] for r in records] == ["c1"]
    assert parts.get_column("contract_id").to_list() == ["c2"]
    assert parts.schema == u.empty_usage().schema


def test_other_event_kinds_are_ignored() -> None:
    frame = closing([request("2026-03-01T10:05:00Z")]).with_columns(kind=pl.lit("probe"))
    parts, records = u.usage_step(
        u.empty_usage(), frame, {"c1": ms("2026-03-01T11:00:00Z")}, {"c1": "UTC"}
    )
    assert records == [] and parts.height == 0


def test_reads_the_frame_the_decoder_makes() -> None:
    def line(**fields: Any) -> bytes:
        return orjson.dumps(
            {
                "schema_version": 1,
                "event_id": f"e{len(fields)}{fields['event_time']}",
                "provider_id": "prov",
                "contract_id": "c1",
                "resource_id": "svc",
                "source": "platform",
                **fields,
            }
        )

    lines = [
        line(
            kind="request",
            event_time="2026-03-01T10:05:00+08:00",
            ok=True,
            latency_ms=12.5,
            tenant_id="acme",
            tokens_in=100,
            tokens_out=50,
        ),
        line(kind="utilization", event_time="2026-03-01T10:06:00+08:00", cpu=0.75),
    ]
    decoded = decode(lines, lambda i: f"test:{i}")
    assert not decoded.dead
    frame = decoded.events.with_columns(minute=pl.col("event_ms") // MINUTE * MINUTE)
    _, records = u.usage_step(
        u.empty_usage(),
        frame,
        {"c1": ms("2026-03-01T11:00:00+08:00")},
        {"c1": "Asia/Shanghai"},
    )
    assert [
        (r["usage_id"], r["calls"], r["tokens_per_request"], r["cpu_mean"]) for r in records
    ] == [
        ("usage:c1:-:-:2026-03-01T02:00:00Z", 0, None, 0.75),  # the sample named no tenant
        ("usage:c1:acme:-:2026-03-01T02:00:00Z", 1, 150.0, None),
    ]


def test_usage_ids_are_unique_and_times_are_utc() -> None:
    events = [request("2026-03-01T10:05:00Z", tenant=t) for t in ("a", "b", None)]
    _, records = run(events, "2026-03-01T11:00:00Z")
    assert len({r["usage_id"] for r in records}) == 3
    for r in records:
        assert r["window_start"] == utc_iso(ms(r["window_start"]))
        assert datetime.fromisoformat(r["window_end"]).utcoffset() is not None


# --- invariants (hypothesis) -------------------------------------------------------------------

BASE = ms("2026-03-01T09:00:00Z")
SPAN_MINUTES = 200
ZONES = {"c1": "UTC", "c2": "Asia/Kolkata"}
ratios = st.one_of(st.none(), st.floats(0.0, 1.0))
tokens = st.one_of(st.none(), st.integers(0, 10**6))


@st.composite
def an_event(draw: st.DrawFn) -> dict[str, Any]:
    t = BASE + draw(st.integers(0, SPAN_MINUTES * MINUTE - 1))
    who = {
        "contract": draw(st.sampled_from(sorted(ZONES))),
        "tenant": draw(st.sampled_from([None, "t1", "t2"])),
        "project": draw(st.sampled_from([None, "p1"])),
    }
    if draw(st.booleans()):
        return request(
            t, draw(st.booleans()), tokens_in=draw(tokens), tokens_out=draw(tokens), **who
        )
    return utilization(t, **who, **{m: draw(ratios) for m in METRICS})


def _key(record: dict[str, Any]) -> tuple[str, ...]:
    return (
        record["contract_id"],
        record["window_start"],
        record["tenant_id"],
        record["project_id"],
    )


@st.composite
def a_busy_hour(draw: st.DrawFn) -> list[dict[str, Any]]:
    """c1/t1/p1 calls in every minute of 10:00–11:00 UTC (1–3 each) and ≥ 20 cpu samples."""
    start = BASE + HOUR
    out = []
    for minute in range(60):
        for k in range(draw(st.integers(1, 3))):
            out.append(request(start + minute * MINUTE + k, tokens_in=draw(tokens)))
    offsets = draw(st.lists(st.integers(0, HOUR - 1), min_size=20, max_size=40))
    out += [utilization(start + o, cpu=draw(st.floats(0.0, 1.0))) for o in offsets]
    return out


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(an_event(), max_size=120),
    busy=st.one_of(st.just([]), a_busy_hour()),
    cuts=st.sets(st.integers(1, SPAN_MINUTES - 1), max_size=12),
    data=st.data(),
)
def test_any_split_by_minute_gives_identical_records(
    events: list[dict[str, Any]],
    busy: list[dict[str, Any]],
    cuts: set[int],
    data: st.DataObject,
) -> None:
    events = events + busy
    end = BASE + (SPAN_MINUTES + 60) * MINUTE
    whole_parts, whole = u.usage_step(
        u.empty_usage(), closing(events), dict.fromkeys(ZONES, end), ZONES
    )
    assert whole_parts.height == 0
    assert whole == sorted(whole, key=_key)

    parts, pieces = u.usage_step(u.empty_usage(), closing([]), {}, ZONES)
    assert pieces == []
    bounds = [BASE, *(BASE + c * MINUTE for c in sorted(cuts)), end]
    for lo, hi in itertools.pairwise(bounds):
        batch = [e for e in events if lo <= e["event_ms"] < hi]
        batch = data.draw(st.permutations(batch))  # order within a closing does not matter
        parts, got = u.usage_step(parts, closing(batch), dict.fromkeys(ZONES, hi), ZONES)
        assert got == sorted(got, key=_key)
        pieces += got
    assert parts.height == 0
    assert sorted(pieces, key=_key) == whole


def test_utilisation_means_do_not_depend_on_the_split() -> None:
    samples = [
        utilization("2026-03-01T10:00:00Z", cpu=0.1),
        utilization("2026-03-01T10:01:00Z", cpu=0.2),
        utilization("2026-03-01T10:02:00Z", cpu=0.3),
    ]
    # as floats (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3); as nano-units both are 6·10⁸
    _, (whole,) = run(samples, "2026-03-01T11:00:00Z")
    tz = {"c1": "UTC"}
    parts, _ = u.usage_step(
        u.empty_usage(), closing(samples[:1]), {"c1": ms("2026-03-01T10:01:00Z")}, tz
    )
    _, (split,) = u.usage_step(parts, closing(samples[1:]), {"c1": ms("2026-03-01T11:00:00Z")}, tz)
    assert whole == split
    assert whole["cpu_mean"] == 0.2


@pytest.mark.parametrize("value", [0.1, 0.2, 1 / 3, 5e-324, 0.999999999, 1.0])
def test_utilisation_mean_of_one_sample_is_the_sample_to_a_nano(value: float) -> None:
    _, (record,) = run([utilization("2026-03-01T10:00:00Z", cpu=value)], "2026-03-01T11:00:00Z")
    assert record["cpu_max"] == value
    assert abs(record["cpu_mean"] - value) <= 0.5e-9


def test_partials_round_trip_through_ipc() -> None:
    events = [request("2026-03-01T10:05:00Z"), utilization("2026-03-01T10:06:00Z", cpu=0.5)]
    parts, _ = run(events, "2026-03-01T10:10:00Z")
    sink = io.BytesIO()
    parts.write_ipc(sink)
    restored = pl.read_ipc(io.BytesIO(sink.getvalue()))
    assert restored.equals(parts) and restored.schema == u.empty_usage().schema
    _, (record,) = u.usage_step(
        restored, closing([]), {"c1": ms("2026-03-01T11:00:00Z")}, {"c1": "UTC"}
    )
    assert (record["calls"], record["cpu_mean"]) == (1, 0.5)
