"""Evidence packs (§6.2.6): the facts behind a breach or compensation, recomputed by hand.

The golden day ``storage-day`` (see ``tests/golden/storage-day/make_input.py``): storage-001,
7×12 service (08:00-20:00 Asia/Shanghai), Monday 2026-10-12, one probe and one storage I/O
sample per minute 07:00-21:00; probes fail 10:00-10:30 and 14:00-14:40; maintenance 14:00-14:30
announced 2026-10-08 00:00; storage latency 80 ms during 16:00-16:15, else 5 ms.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import html5lib
import orjson
import pytest
import typer
from typer.testing import CliRunner

from engine.adapters.manifest import file_sha256
from engine.cli.evidence import evidence_command
from engine.core.calendar import parse_instant
from engine.core.histogram import exact_nearest_rank
from engine.evidence import EvidenceError, build_evidence, write_pack
from engine.ruleset import load_rules_dir

ROOT = Path(__file__).resolve().parents[1]
INPUT = ROOT / "tests" / "golden" / "storage-day" / "input.ndjson.gz"
UNTIL = "2026-11-01T00:00:00+08:00"
NOW_MS = parse_instant("2026-12-01T00:00:00Z")  # the engine clock, passed in
COMP = "comp:storage-001:availability:2026-09-30T16:00:00Z:r1"
LATENCY = "breach:storage-001:storage-latency:2026-10-12T08:00:00Z:r1"

Pack = tuple[dict[str, Any], Path, Path]


@pytest.fixture(scope="module")
def ruleset() -> Any:
    report = load_rules_dir(ROOT / "rules")
    assert report.ok
    return report.ruleset


def _pack(ruleset: Any, record_id: str, out: Path, input_path: Path = INPUT) -> Pack:
    evidence = build_evidence(ruleset, str(input_path), record_id, NOW_MS, parse_instant(UNTIL))
    json_path, html_path = write_pack(evidence, out)
    return evidence, json_path, html_path


@pytest.fixture(scope="module")
def availability(ruleset: Any, tmp_path_factory: pytest.TempPathFactory) -> Pack:
    return _pack(ruleset, COMP, tmp_path_factory.mktemp("availability"))


@pytest.fixture(scope="module")
def latency(ruleset: Any, tmp_path_factory: pytest.TempPathFactory) -> Pack:
    return _pack(ruleset, LATENCY, tmp_path_factory.mktemp("latency"))


def _failed(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in evidence["recomputation"]["checks"] if not c["matches"]]


def test_compensation_is_recomputed_from_the_minutes(availability: Pack) -> None:
    evidence, _, _ = availability
    assert evidence["kind"] == "compensation"
    [value] = evidence["recomputation"]["values"]
    # 720 service minutes − 30 exempt = 690 judged; unavailable 10:00-10:30 (30) + 14:30-14:40
    # (10) = 40; 650 / 690 = 94.2029 %; the other days of October have no probes (no data)
    assert (value["available_minutes"], value["unavailable_minutes"]) == (650, 40)
    assert (value["good"], value["total"]) == (650, 690)
    assert round(value["value"], 4) == 94.2029
    assert value["exempt_minutes"] == 30
    assert "650 available of 690 judged minutes = 94.2029 %" in value["summary"]
    # < 99.0 → the second tier (index 1), 30 % of 200 TB × 120.00 CNY
    comp = evidence["recomputation"]["compensation"]
    assert comp["period_fee"] == "24000.00"
    assert comp["target"]["tier"] == 1
    assert comp["target"]["credit_percent"] == 30.0
    assert comp["target"]["credit_amount"] == "7200.00"
    assert comp["currency"] == "CNY"
    assert evidence["matches"] is True
    assert _failed(evidence) == []
    checked = {c["quantity"] for c in evidence["recomputation"]["checks"]}
    assert {"observed", "tier", "credit_amount", "period_fee", "evidence.period_good"} <= checked


def test_compensation_cites_contract_period_and_service_time(availability: Pack) -> None:
    evidence, _, _ = availability
    contract = evidence["contract"]
    assert (contract["id"], contract["revision"]) == ("storage-001", 1)
    assert contract["effective_from"] == "2026-01-01T00:00:00+08:00"
    assert contract["rule_file"].endswith("rules/storage-001.yaml")
    assert evidence["input"] == {"path": str(INPUT), "bytes": INPUT.stat().st_size,
                                 "sha256": file_sha256(INPUT), "until": "2026-10-31T16:00:00Z",
                                 "read": evidence["input"]["read"]}  # fmt: skip
    assert evidence["input"]["read"].startswith(f"read 1,686 lines of {INPUT}, kept 1,684: the "
                                                "events of storage-001 that October 2026 needs")  # fmt: skip
    assert evidence["period"]["start_local"] == "2026-10-01T00:00:00+08:00"
    assert evidence["period"]["end_local"] == "2026-11-01T00:00:00+08:00"
    service = evidence["evaluation"]["service_time"]
    assert len(service) == 31 and {s["minutes"] for s in service} == {720}
    assert service[11]["start_local"] == "2026-10-12T08:00:00+08:00"
    # evaluation starts with the contract's first event, the notice of 2026-10-08 00:00
    assert evidence["evaluation"]["observed_from_local"] == "2026-10-08T00:00:00+08:00"


def test_compensation_lists_the_maintenance_and_the_overrun(availability: Pack) -> None:
    evidence, _, _ = availability
    [notice] = evidence["exemptions"]["maintenance"]
    assert notice["maintenance_id"] == "mw-1012"
    assert notice["accepted"] is True
    # announced 2026-10-08 00:00, window from 2026-10-12 14:00 local: 4 days 14 hours
    assert notice["announced_local"] == "2026-10-08T00:00:00+08:00"
    assert notice["notice_hours"] == 110.0
    assert notice["required_notice_hours"] == 72.0
    assert notice["exempt_service_minutes"] == 30
    [span] = evidence["facts"]["spans"]
    runs = {(r["start_local"], r["end_local"]): r for r in span["runs"]}
    assert runs[("2026-10-12 14:00", "2026-10-12 14:30")]["verdict"] == "exempt"
    overrun = runs[("2026-10-12 14:30", "2026-10-12 14:40")]
    assert (overrun["verdict"], overrun["minutes"], overrun["probes_ok"]) == ("unavailable", 10, 0)
    minutes = {m["local"]: m for m in span["minutes"]}
    assert [minutes[f"2026-10-12 14:{m}"]["verdict"] for m in range(30, 40)] == ["unavailable"] * 10
    assert minutes["2026-10-12 14:40"]["verdict"] == "available"
    assert minutes["2026-10-12 07:59"]["verdict"] == "outside service time"
    # the late probe of 09:01 and the late copy of a morning line are shown, not counted
    quality = evidence["input_quality"]
    assert (quality["late"], quality["late_recorded_by_engine"], quality["duplicates"]) == (2, 2, 1)
    assert {e["event_id"] for e in quality["late_events"]} == {"golden-100", "golden-1682"}


def test_latency_breach_recomputes_the_exact_percentile(latency: Pack) -> None:
    evidence, _, _ = latency
    assert evidence["kind"] == "breach"
    opened, resolved = evidence["recomputation"]["values"]
    assert (opened["record"], resolved["record"]) == ("opened", "resolved")
    # 16:00-16:15 local: 15 samples of 80 ms; p95 rank ⌈0.95 × 15⌉ = 15 → 80 ms exactly
    assert (opened["samples"], opened["rank"], opened["value"]) == (15, 15, 80.0)
    assert (opened["start_local"], opened["end_local"]) == (
        "2026-10-12T16:00:00+08:00",
        "2026-10-12T16:15:00+08:00",
    )
    assert (resolved["samples"], resolved["value"]) == (15, 5.0)
    recorded = evidence["records"][0]["observed"]  # a histogram bucket, within 0.5 %
    assert recorded != 80.0 and abs(recorded - 80.0) <= 0.005 * 80.0
    [check] = [c for c in evidence["recomputation"]["checks"] if c["record"] == "opened"][:1]
    assert (check["quantity"], check["tolerance"], check["matches"]) == (
        "observed",
        "0.5% relative",
        True,
    )
    assert evidence["matches"] is True and _failed(evidence) == []
    # the listed samples are the source events; the reference function agrees with them
    window = [s for s in evidence["facts"]["spans"][0]["samples"] if s["counted"]]
    assert len(window) == 15
    assert all("2026-10-12T08:00:00Z" <= s["event_time"] < "2026-10-12T08:15:00Z" for s in window)
    assert exact_nearest_rank([s["latency_ms"] for s in window], 95) == 80.0


def test_availability_breach_explains_when_it_became_certain(ruleset: Any, tmp_path: Path) -> None:
    record_id = "breach:storage-001:availability:2026-09-30T16:00:00Z:r1"
    evidence, _, _ = _pack(ruleset, record_id, tmp_path)
    opened, resolved = evidence["recomputation"]["values"]
    # opened at the end of 10:00-11:00 local: 150 available of 180 judged; even if every
    # remaining evaluated minute of October were available the period stays below 99.9 %
    assert opened["end_local"] == "2026-10-12T11:00:00+08:00"
    assert (opened["good"], opened["total"]) == (150, 180)
    assert opened["best_possible"] == evidence["records"][0]["evidence"]["best_possible"]
    assert opened["best_possible"] < 99.9
    assert (resolved["good"], resolved["total"]) == (650, 690)
    [recorded] = evidence["exemptions"]["recorded_in_engine_evidence"]
    assert (recorded["maintenance_id"], recorded["agrees"]) == ("mw-1012", True)
    assert evidence["matches"] is True and _failed(evidence) == []


@pytest.mark.parametrize("pack", ["availability", "latency"])
def test_html_is_self_contained(pack: str, request: pytest.FixtureRequest) -> None:
    _, _, html_path = request.getfixturevalue(pack)
    page = html_path.read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "http://" not in page and "https://" not in page
    assert not re.search(r"<script|<link|@import|@font-face|<img|<iframe|\bsrc=", page, re.I)
    if pack == "availability":
        for text in ("650", "690", "94.2029", "7200.00", "24000.00", "mw-1012", "110"):
            assert text in page, text
        assert "2026-10-12 14:30</td><td>2026-10-12 14:40</td><td>unavailable" in page
    else:
        for text in ("p95 of 15 samples", "80 ms", "exact nearest rank"):
            assert text in page, text
    assert "matches the recorded value" in page


def test_discrepancies_of_the_span_are_listed(availability: Pack, latency: Pack) -> None:
    """The golden day's probe failures 10:00-10:30 and 14:30-14:40 have no report of a node
    down or an incident: two windows where the platform saw an outage nobody reported."""
    evidence, _, html_path = availability
    found = evidence["discrepancies"]
    assert found["by_kind"] == {"platform_down_unreported": 2, "reported_down_platform_up": 0}
    rows = [
        (r["window_start_local"], r["unavailable_minutes"], r["probe_sources"], r["incidents"])
        for r in found["records"]
    ]
    assert rows == [
        ("2026-10-12T10:00:00+08:00", 30, ["platform"], []),
        ("2026-10-12T14:00:00+08:00", 10, ["platform"], []),
    ]
    page = html_path.read_text("utf-8")
    assert "2026-10-12 10:00 → 11:00</td><td>platform_down_unreported</td>" in page
    # a latency objective has no probe-availability windows: the section says none
    assert latency[0]["discrepancies"]["records"] == []
    assert latency[0]["discrepancies"]["compared"] is False
    assert "None: only probe-availability objectives" in latency[2].read_text("utf-8")


def _reported(n: str, t: str, kind: str, **fields: Any) -> bytes:
    event = {"schema_version": 1, "event_id": n, "event_time": t, "kind": kind,
             "provider_id": "guizhou-cloud", "contract_id": "storage-001",
             "resource_id": "pool-a", "source": "provider", **fields}  # fmt: skip
    return orjson.dumps(event)


def test_reports_of_down_while_probes_saw_up(ruleset: Any, tmp_path: Path) -> None:
    """An incident 12:10-12:25 and a node down 17:05-17:20, while every probe succeeded: two
    windows where a report says down and the platform was up; no number changes."""
    lines = gzip.decompress(INPUT.read_bytes()).splitlines()
    at: dict[str, int] = {}  # local HH:MM → the first line of that minute (its probe)
    for n, line in enumerate(lines[1:-4], 1):  # the notice, the day, not the odd lines at the end
        at.setdefault(orjson.loads(line)["event_time"][11:16], n)
    reports = {
        "12:10": _reported("inc-o", "2026-10-12T12:10:00+08:00", "incident", incident_id="INC-7",
                           status="opened", impact=2, urgency=2),
        "12:25": _reported("inc-r", "2026-10-12T12:25:00+08:00", "incident", incident_id="INC-7",
                           status="resolved"),
        "17:05": _reported("n-d", "2026-10-12T17:05:00+08:00", "node_state",
                           resource_id="node-7", state="down"),
        "17:20": _reported("n-u", "2026-10-12T17:20:00+08:00", "node_state",
                           resource_id="node-7", state="up"),
    }  # fmt: skip
    for hm in sorted(reports, reverse=True):  # before the probe of that minute
        lines.insert(at[hm], reports[hm])
    mixed = tmp_path / "reported.ndjson"
    mixed.write_bytes(b"\n".join(lines) + b"\n")
    evidence, _, html_path = _pack(ruleset, COMP, tmp_path / "pack", mixed)
    [value] = evidence["recomputation"]["values"]
    assert (value["good"], value["total"]) == (650, 690)
    assert evidence["matches"] is True and _failed(evidence) == []
    found = evidence["discrepancies"]
    assert found["by_kind"] == {"platform_down_unreported": 2, "reported_down_platform_up": 2}
    up = [r for r in found["records"] if r["kind"] == "reported_down_platform_up"]
    rows = [
        (r["window_start_local"], r["reported_down_minutes"], r["nodes_down"], r["incidents"])
        for r in up
    ]
    assert rows == [
        ("2026-10-12T12:00:00+08:00", 15.0, [], ["INC-7"]),
        ("2026-10-12T17:00:00+08:00", 15.0, ["node-7"], []),
    ]
    assert {(r["unavailable_minutes"], r["available_minutes"]) for r in up} == {(0, 60)}
    page = html_path.read_text("utf-8")
    html5lib.HTMLParser(strict=True).parse(page)
    assert "<td>reported_down_platform_up</td>" in page and "<td>node-7</td>" in page
    assert "<td>INC-7</td>" in page


def test_json_pack_round_trips(availability: Pack) -> None:
    evidence, json_path, html_path = availability
    assert json_path.name == "comp_storage-001_availability_2026-09-30T16_00_00Z_r1.json"
    assert html_path.suffix == ".html" and html_path.parent == json_path.parent
    assert json.loads(json_path.read_text("utf-8")) == evidence


def test_other_contracts_and_periods_do_not_change_the_answer(ruleset: Any, tmp_path: Path) -> None:
    """Only the contract and period in question are kept; the rest of the input is noise."""
    lines = gzip.decompress(INPUT.read_bytes()).splitlines()
    noise = []
    for n, line in enumerate(lines[1:400]):
        event = orjson.loads(line)
        noise.append(
            orjson.dumps({**event, "event_id": f"maas-{n}", "contract_id": "maas-api-001"})
        )
    mixed = tmp_path / "mixed.ndjson"
    later = orjson.loads(lines[-8])  # a probe of storage-001 a month later, after everything
    later.update(event_id="november", event_time="2026-11-12T10:00:20+08:00", ok=False)
    mixed.write_bytes(b"\n".join([*lines[:400], *noise, *lines[400:], orjson.dumps(later)]) + b"\n")
    evidence, _, _ = _pack(ruleset, COMP, tmp_path / "pack", mixed)
    [value] = evidence["recomputation"]["values"]
    assert (value["good"], value["total"]) == (650, 690)
    assert evidence["matches"] is True and _failed(evidence) == []
    [span] = evidence["facts"]["spans"]
    assert all(m["minute"].startswith("2026-10-") for m in span["minutes"])
    # storage-001's own: the golden lines but the malformed and the nope-001 one; the November
    # probe, a month after the period, is not even read
    assert evidence["input_quality"]["events"] == len(lines) - 2
    assert f"kept {len(lines) - 2:,}:" in evidence["input"]["read"]


def test_unknown_id_is_a_clear_error(ruleset: Any) -> None:
    with pytest.raises(EvidenceError, match="no breach or compensation with id 'comp:nope'"):
        build_evidence(ruleset, str(INPUT), "comp:nope", NOW_MS, parse_instant(UNTIL))
    with pytest.raises(EvidenceError, match=re.escape(f"did you mean {COMP}")):
        build_evidence(ruleset, str(INPUT), COMP[:-1] + "2", NOW_MS, parse_instant(UNTIL))


def _app() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)  # a group, as in ``csla``
    app.command("evidence")(evidence_command)
    return app


def test_command_writes_the_pack_and_rejects_unknown_ids(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--input", str(INPUT), "--rules", str(ROOT / "rules"), "--until", UNTIL]
    result = runner.invoke(_app(), ["evidence", COMP, *args, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "650 available of 690 judged minutes" in result.output
    assert "24000.00 × 30.0% = 7200.00 CNY" in result.output
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".html", ".json"]
    result = runner.invoke(_app(), ["evidence", "breach:missing", *args, "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "error: no breach or compensation with id 'breach:missing'" in result.output


def test_stdin_is_named_by_the_hash_of_what_was_sent(tmp_path: Path) -> None:
    args = ["--input", "-", "--rules", str(ROOT / "rules"), "--until", UNTIL]
    result = CliRunner().invoke(
        _app(), ["evidence", COMP, *args, "--out", str(tmp_path)], input=INPUT.read_bytes()
    )
    assert result.exit_code == 0, result.output
    (pack,) = tmp_path.glob("*.json")
    read = orjson.loads(pack.read_bytes())["input"]
    assert (read["path"], read["sha256"]) == ("-", file_sha256(INPUT))  # gzip, as sent


def test_a_november_breach_shows_only_novembers_windows_and_no_raw_json(
    ruleset: Any, tmp_path: Path
) -> None:
    """The golden October day, then Monday 2 November 09:00-10:00 with probes failing for the
    first 40 minutes: 40 bad minutes of November's 21,600 (7×12) are more than its 0.1 % budget
    (21.6 min), so November's availability breach opens. The record's own evidence lists every
    maintenance notice of the term (October's mw-1012); the pack shows none of it."""
    from engine.adapters.files import replay

    lines = gzip.decompress(INPUT.read_bytes()).splitlines()
    probe = orjson.loads(next(line for line in lines if b'"probe"' in line))
    november = [
        orjson.dumps(
            {
                **probe,
                "event_id": f"nov-{m}",
                "ok": m >= 40,
                "event_time": f"2026-11-02T09:{m:02d}:20+08:00",
            }
        )
        for m in range(60)
    ]
    mixed = tmp_path / "october-november.ndjson"
    mixed.write_bytes(b"\n".join([*lines, *november]) + b"\n")
    until = parse_instant("2026-12-01T00:00:00+08:00")
    result = replay(ruleset, str(mixed), tmp_path / "replay", NOW_MS, until_ms=until)
    [breach_id] = {
        b["breach_id"]
        for b in result.outputs.breaches
        if b["objective_id"] == "availability" and b["window_start"] == "2026-10-31T16:00:00Z"
    }  # November's period breach: its range starts at the period's start
    evidence = build_evidence(ruleset, str(mixed), breach_id, NOW_MS, until)
    assert evidence["period"]["start_local"] == "2026-11-01T00:00:00+08:00"
    issued = evidence["records"][0]["evidence"]["exemptions"]  # as the engine issued it
    assert [x["maintenance_id"] for x in issued if "maintenance_id" in x] == ["mw-1012"]
    exemptions = evidence["exemptions"]
    assert exemptions["maintenance"] == [] and exemptions["recorded_in_engine_evidence"] == []
    assert exemptions["recorded_outside_period"] == 1
    assert evidence["matches"] is True and _failed(evidence) == []
    assert "that November 2026 needs" in evidence["input"]["read"]
    _, html_path = write_pack(evidence, tmp_path / "pack")
    page = html_path.read_text("utf-8")
    assert "mw-1012" not in page  # not in the record's table, not in the exemptions
    assert "exemption(s) of other periods" in page
    assert '{"' not in page and "[{" not in page  # nested values are tables, not JSON
    assert '<table class="nested">' in page


def test_the_service_time_lists_only_the_periods_holidays() -> None:
    from engine.evidence.sections import _service_time_of_period

    p0, p1 = parse_instant("2026-09-30T16:00:00Z"), parse_instant("2026-10-31T16:00:00Z")
    spec = {"preset": "5x8", "holidays": ["2026-10-01", "2026-10-31", "2027-01-01"],
            "extra_workdays": ["2026-10-10"]}  # fmt: skip
    shown = _service_time_of_period(spec, p0, p1, "Asia/Shanghai")
    assert shown == {"preset": "5x8", "holidays": ["2026-10-01", "2026-10-31"],
                     "holidays in other periods": 1, "extra_workdays": ["2026-10-10"]}  # fmt: skip


def test_a_breach_resolved_after_its_period_is_replayed_to_the_end(
    ruleset: Any, tmp_path: Path
) -> None:
    """Storage latency 80 ms on 31 October 19:00-19:15 (a breach), then no sample until
    5 November 10:00, when it is 5 ms again: the breach resolves a week after October. The
    first, narrowed replay stops a day after the period with the breach still open, so the
    evidence replays again to the end of the input and finds the resolution."""
    from engine.adapters.files import replay

    lines = gzip.decompress(INPUT.read_bytes()).splitlines()
    sample = orjson.loads(next(line for line in lines if b'"storage_io"' in line))
    extra = [
        orjson.dumps({**sample, "event_id": f"{day}-{m}", "latency_ms": ms,
                      "event_time": f"2026-{day}T{hour}:{m:02d}:20+08:00"})
        for day, hour, ms in (("10-31", 19, 80.0), ("11-05", 10, 5.0))
        for m in range(15)
    ]  # fmt: skip
    mixed = tmp_path / "late-resolution.ndjson"
    mixed.write_bytes(b"\n".join([*lines, *extra]) + b"\n")
    until = parse_instant("2026-12-01T00:00:00+08:00")
    result = replay(ruleset, str(mixed), tmp_path / "replay", NOW_MS, until_ms=until)
    record_id = "breach:storage-001:storage-latency:2026-10-31T11:00:00Z:r1"
    statuses = [b["status"] for b in result.outputs.breaches if b["breach_id"] == record_id]
    assert statuses == ["opened", "resolved"]
    evidence = build_evidence(ruleset, str(mixed), record_id, NOW_MS, until)
    assert [r["status"] for r in evidence["records"]] == ["opened", "resolved"]
    assert evidence["records"][1]["window_start"].startswith("2026-11-05")
    assert "to the end of the input" in evidence["input"]["read"]
    assert evidence["matches"] is True and _failed(evidence) == []


def test_reading_stops_once_the_contract_is_days_past_the_period(
    ruleset: Any, tmp_path: Path
) -> None:
    """The golden October day, then 1,200 probes of 10-11 November and one more October probe:
    after 1,000 of the contract's lines in a row dated 2 days or more past the period, nothing
    of October could be on time any more (the watermark is 9 days past it), so reading stops;
    the answer is the golden one, and the input is still hashed whole."""
    lines = gzip.decompress(INPUT.read_bytes()).splitlines()
    probe = orjson.loads(next(line for line in lines if b'"probe"' in line))
    november = [
        orjson.dumps({**probe, "event_id": f"nov-{n}",
                      "event_time": f"2026-11-{10 + n // 600}T{8 + n % 600 // 60:02d}:"
                                    f"{n % 60:02d}:20+08:00"})
        for n in range(1200)
    ]  # fmt: skip
    late = orjson.dumps({**probe, "event_id": "late-october", "ok": False})
    mixed = tmp_path / "with-november.ndjson"
    mixed.write_bytes(b"\n".join([*lines, *november, late]) + b"\n")
    evidence, _, _ = _pack(ruleset, COMP, tmp_path / "pack", mixed)
    [value] = evidence["recomputation"]["values"]
    assert (value["good"], value["total"]) == (650, 690)
    assert evidence["matches"] is True and _failed(evidence) == []
    read = evidence["input"]
    assert f"read {len(lines) + 1000:,} lines" in read["read"]
    assert f"stopped reading at {mixed}:{len(lines) + 1000}" in read["read"]
    assert (read["bytes"], read["sha256"]) == (mixed.stat().st_size, file_sha256(mixed))
