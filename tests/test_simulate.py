"""engine.simulate: seeded, valid telemetry with the planned scenario and stream faults."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from engine.core.calendar import parse_instant
from engine.dev.clone import clone_ruleset_files
from engine.models.events import EVENT_ADAPTER
from engine.ruleset import load_rules_dir
from engine.simulate import scenario, simulate

RULES = Path(__file__).resolve().parents[1] / "rules"
START = parse_instant("2026-10-12T00:00:00+08:00")  # a Monday: every service calendar is open
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


@pytest.fixture(scope="module")
def ruleset():
    report = load_rules_dir(RULES)
    assert report.ok, report.format()
    return report.ruleset


@pytest.fixture(scope="module")
def spoiled(ruleset):
    return list(simulate(ruleset, start_ms=START, days=2, seed=7, faults=True))


@pytest.fixture(scope="module")
def clean(ruleset):
    return list(simulate(ruleset, start_ms=START, days=2, seed=7, faults=False))


def _classify(lines: list[bytes], contracts: set[str]) -> dict[str, list[bytes]]:
    """Each line as valid or as the kind of malformed line it is."""
    out: dict[str, list[bytes]] = {
        k: [] for k in ("valid", "not_json", "wrong_type", "no_offset", "unknown")
    }
    for line in lines:
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError:
            out["not_json"].append(line)
            continue
        if isinstance(raw.get("ok"), str):  # pydantic's lax mode would take "yes"; polars not
            out["wrong_type"].append(line)
            continue
        try:
            EVENT_ADAPTER.validate_json(line)
        except ValidationError as exc:
            assert "timezone" in str(exc), exc
            out["no_offset"].append(line)
            continue
        out["valid" if raw["contract_id"] in contracts else "unknown"].append(line)
    return out


def _lags(lines: list[bytes]) -> list[tuple[bytes, int]]:
    """(line, how far its event time is behind the latest earlier one of its contract)."""
    latest: dict[str, int] = {}
    out = []
    for line in lines:
        try:
            event = orjson.loads(line)
            t = parse_instant(event["event_time"])
        except (orjson.JSONDecodeError, ValueError):
            continue
        cid = event["contract_id"]
        out.append((line, latest.get(cid, t) - t))
        latest[cid] = max(latest.get(cid, t), t)
    return out


def test_same_seed_same_bytes(ruleset):
    def run(seed: int) -> list[bytes]:
        return list(simulate(ruleset, start_ms=START, days=0.5, seed=seed))

    first = run(7)
    assert first == run(7)
    assert first != run(8)
    assert all(b"\n" not in line for line in first)


def test_every_line_but_the_malformed_ones_is_a_valid_event(ruleset, spoiled, clean):
    contracts = set(ruleset.contract_ids)
    for lines in (spoiled, clean):
        kinds = _classify(lines, contracts)
        for kind, bad in kinds.items():
            if kind != "valid":
                assert all(b"-malformed-" in line for line in bad), bad[:3]
        assert not any(b"-malformed-" in line for line in kinds["valid"])
    assert all(not v for k, v in _classify(clean, contracts).items() if k != "valid")


def test_kinds_follow_the_objectives(clean):
    kinds = Counter()
    for line in clean:
        event = orjson.loads(line)
        kinds[event["contract_id"], event["kind"]] += 1
    assert kinds["gpu-train-001", "probe"] == 2 * 2 * 1440  # two endpoints, every minute
    assert kinds["gpu-train-001", "utilization"] == 8 * 2 * 288  # eight nodes, every 5 min
    assert kinds["gpu-train-001", "node_state"] >= 8 + 2
    assert kinds["gpu-train-001", "request"] == 0
    assert kinds["maas-api-001", "request"] > 20_000
    assert kinds["storage-001", "storage_io"] > 10_000
    assert kinds["storage-001", "node_state"] == 0
    for cid in ("gpu-train-001", "maas-api-001", "storage-001"):
        assert kinds[cid, "energy"] == 1  # the first day's reading; the second comes after
        assert kinds[cid, "maintenance"] >= 2


def test_each_fault_is_present_with_faults_and_absent_without(ruleset, spoiled, clean):
    contracts = set(ruleset.contract_ids)
    malformed = _classify(spoiled, contracts)
    for kind in ("not_json", "wrong_type", "no_offset", "unknown"):
        assert malformed[kind], kind
    dupes = [line for line, n in Counter(spoiled).items() if n > 1]
    assert dupes
    assert max(Counter(clean).values()) == 1
    ids = Counter((orjson.loads(x)["contract_id"], orjson.loads(x)["event_id"]) for x in clean)
    assert max(ids.values()) == 1
    lags = [lag for _, lag in _lags(spoiled)]
    assert any(lag >= 10 * MINUTE_MS for lag in lags)  # late
    assert any(MINUTE_MS <= lag < 10 * MINUTE_MS for lag in lags)  # out of order
    assert max(lag for _, lag in _lags(clean)) < MINUTE_MS
    assert len(spoiled) / len(clean) == pytest.approx(1.0, abs=0.01)

    def failed_probes(lines):
        return {
            parse_instant(e["event_time"]) // MINUTE_MS * MINUTE_MS
            for x in lines
            if b'"kind":"probe"' in x and b"-malformed-" not in x
            for e in [orjson.loads(x)]
            if e["ok"] is False
        }

    planned = scenario(ruleset, start_ms=START, days=2, faults=False)
    unplanned = [
        e
        for e in scenario(ruleset, start_ms=START, days=2, faults=True)
        if e.kind == "outage" and e.note == "unplanned" and e.start_ms < START + 48 * HOUR_MS
    ]
    assert unplanned
    assert all(e.note != "unplanned" and e.kind != "latency_spike" for e in planned)
    in_planned = [
        (e.start_ms, e.end_ms) for e in planned if e.kind == "outage" and e.end_ms > START
    ]
    assert all(any(a <= t < b for a, b in in_planned) for t in failed_probes(clean))
    assert any(e.start_ms in failed_probes(spoiled) for e in unplanned)

    def slow(lines):
        return [
            x
            for x in lines
            if (b'"kind":"request"' in x and orjson.loads(x)["latency_ms"] > 800)
            or (b'"kind":"storage_io"' in x and orjson.loads(x)["latency_ms"] > 30)
        ]

    assert slow(spoiled)  # latency spikes
    assert not slow(clean)


def test_maintenance_notices_have_their_lead_times(ruleset):
    lines = list(simulate(ruleset, start_ms=START, days=12, request_rate_per_min=2, faults=False))
    notices = [orjson.loads(x) for x in lines if b'"kind":"maintenance"' in x]
    failed = {
        (e["contract_id"], parse_instant(e["event_time"]) // MINUTE_MS * MINUTE_MS)
        for e in map(orjson.loads, (x for x in lines if b'"kind":"probe"' in x))
        if e["ok"] is False
    }
    assert {n["contract_id"] for n in notices} == set(ruleset.contract_ids)
    assert len(notices) == 3 * len(ruleset.contract_ids)
    for notice in notices:
        announced = parse_instant(notice["event_time"])
        start, end = parse_instant(notice["window_start"]), parse_instant(notice["window_end"])
        lead_h = (start - announced) / HOUR_MS
        cid, name = (
            notice["contract_id"],
            notice["maintenance_id"].removeprefix(notice["contract_id"] + "-"),
        )
        if name == "mw-late":
            assert lead_h == 2
        else:
            assert name in ("mw-early", "mw-overrun")
            assert lead_h >= 72
        assert (cid, start) in failed and (cid, end - MINUTE_MS) in failed  # down throughout
        overran = (cid, end) in failed and (cid, end + 39 * MINUTE_MS) in failed
        assert overran == (name == "mw-overrun")
        assert (cid, end + 40 * MINUTE_MS) not in failed


def test_clone_ruleset_files_validate_with_new_ids(tmp_path):
    paths = clone_ruleset_files(RULES, tmp_path, 5)
    assert [p.name for p in paths] == [
        "gpu-train-001-c0001.yaml",
        "maas-api-001-c0002.yaml",
        "storage-001-c0003.yaml",
        "gpu-train-001-c0004.yaml",
        "maas-api-001-c0005.yaml",
    ]
    report = load_rules_dir(tmp_path)
    assert report.ok, report.format()
    assert report.ruleset.contract_ids == sorted(p.stem for p in paths)
    lines = list(simulate(report.ruleset, start_ms=START, days=0.1, faults=False))
    assert {orjson.loads(x)["contract_id"] for x in lines} == set(report.ruleset.contract_ids)
