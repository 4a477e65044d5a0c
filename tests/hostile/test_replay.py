"""The hostile corpus through ``csla replay`` (issue 11, "Tests and docs").

A clean simulated stream across the end of October is replayed alone, then with hostile
lines mixed in: every class whose lines must all be rejected in one run, and each class whose
lines are accepted on purpose (many owners, reports dated ahead, an event dated "now") in a
run of its own. Each run must exit 0 without a traceback, with books that balance; every
poison line meets its fate (a dead letter with its reason and origin, a duplicate, or a
blank line skipped); breaches, compensations and late events equal the clean run's for every
contract, and all other outputs too, but for the contracts a class is allowed to touch.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

rh = sys.modules.get("csla_hostile_replay_harness") or pytest.fail("conftest.py not loaded")
corpus = rh.load("corpus")

# Classes with lines accepted on purpose: each in a replay of its own
ACCEPTING = ("many_owners", "provider_io_ahead", "platform_probes_ahead", "dated_now")
CLASSES = (
    "non_finite", "huge_gauges", "huge_tokens", "negative", "ratios", "provider_probes_ahead",
    "customer_nodes", "wrong_provider", "empty_lines", "non_utf8", "conflicting_duplicates",
    "unknown_contracts", "deep_nesting", "long_strings", "long_ids", "wrong_types",
    "wrong_types_in_strings",
)  # fmt: skip


@pytest.fixture(scope="module")
def rejecting_run(
    clean_lines: list[bytes], hostile_cases: dict[str, Any], hostile_dir: Path
) -> Iterator[Any]:
    """Every class whose lines are all rejected, in one replay."""
    mixed, placed = corpus.mix(clean_lines, [hostile_cases[name] for name in CLASSES])
    run = rh.replay(mixed, hostile_dir, "rejecting")
    run.placed = placed
    yield run


@pytest.fixture(scope="module")
def accepting_runs(
    clean_lines: list[bytes], hostile_cases: dict[str, Any], hostile_dir: Path
) -> dict[str, Any]:
    runs = {}
    for name in ACCEPTING:
        mixed, placed = corpus.mix(clean_lines, [hostile_cases[name]])
        runs[name] = rh.replay(mixed, hostile_dir, name)
        runs[name].placed = placed
    return runs


# --------------------------------------------------------------------------- clean


def test_every_class_has_a_test(hostile_cases: dict[str, Any]) -> None:
    assert set(hostile_cases) == {*CLASSES, *ACCEPTING}


def test_clean_run_is_complete(clean_run: Any) -> None:
    kept = rh.books(clean_run)
    assert kept["dead_letters"] and kept["late"] and kept["duplicates"]  # the simulator's faults
    assert {r["contract_id"] for r in clean_run.records["compensations"]} == {
        corpus.GPU,
        corpus.MAAS,
        corpus.STORAGE,
    }
    assert any(float(r["credit_amount"]) > 0 for r in clean_run.records["compensations"])
    assert clean_run.records["breaches"]


# --------------------------------------------------------------------------- rejected


def test_rejecting_run_finishes_and_balances(rejecting_run: Any, clean_run: Any) -> None:
    rh.assert_finished(rejecting_run)
    hostile = [p for p in rejecting_run.placed if p.fate != "skipped"]
    got, want = rh.books(rejecting_run), rh.books(clean_run)
    assert got["lines_in"] == want["lines_in"] + len(hostile)
    assert got["accepted"] == want["accepted"]
    assert got["late"] == want["late"]
    dead = sum(p.fate == "dead" for p in hostile)
    assert got["dead_letters"] == want["dead_letters"] + dead
    assert got["duplicates"] == want["duplicates"] + sum(p.fate == "duplicate" for p in hostile)


@pytest.mark.parametrize("name", CLASSES)
def test_each_poison_line_meets_its_fate(rejecting_run: Any, name: str) -> None:
    rh.assert_finished(rejecting_run)
    rh.assert_fates(rejecting_run, rejecting_run.placed, name, keep_bytes=True)


@pytest.mark.parametrize("kind", [k for k in rh.KINDS if k not in ("late", "deadletter")])
def test_rejected_lines_change_no_output(rejecting_run: Any, clean_run: Any, kind: str) -> None:
    """Metrics, breaches, compensations, usage, warnings, scorecards: byte-identical per
    contract; late events identical but for their origin (line numbers moved)."""
    rh.assert_finished(rejecting_run)
    rh.assert_same(rejecting_run, clean_run, kind)
    assert rh.late_key(rejecting_run) == rh.late_key(clean_run)


def test_clean_dead_letters_stay(rejecting_run: Any, clean_run: Any) -> None:
    """The simulator's own malformed lines are still dead letters, with the same reasons."""
    hostile = {rejecting_run.origin(p.index) for p in rejecting_run.placed}
    got = sorted(
        (d["raw"], d["error"])
        for d in rejecting_run.records["deadletter"]
        if d["origin"] not in hostile
    )
    assert got == sorted((d["raw"], d["error"]) for d in clean_run.records["deadletter"])


# --------------------------------------------------------------------------- accepted


@pytest.mark.parametrize("name", ACCEPTING)
def test_accepted_classes_move_no_money(
    accepting_runs: dict[str, Any], clean_run: Any, hostile_cases: dict[str, Any], name: str
) -> None:
    """Accepted on purpose: no breach, compensation or late event changes anywhere; every
    other output changes only for the contracts the class targets."""
    run = accepting_runs[name]
    rh.assert_finished(run)
    rh.assert_fates(run, run.placed, name)
    got, want = rh.books(run), rh.books(clean_run)
    n = len(hostile_cases[name].lines)
    assert (got["lines_in"], got["accepted"]) == (want["lines_in"] + n, want["accepted"] + n)
    targets = hostile_cases[name].targets
    for kind in rh.MONEY:
        rh.assert_same(run, clean_run, kind, skip=targets)
        # the targets' evidence may show the extra usage; the money must not move
        rh.assert_same(run, clean_run, kind, drop=("evidence",))
    assert rh.late_key(run) == rh.late_key(clean_run), "an attack made other events late"
    for kind in ("metrics", "usage", "warnings", "scorecards"):
        rh.assert_same(run, clean_run, kind, skip=targets)


def test_dated_now_closes_nothing_early(accepting_runs: dict[str, Any], clean_run: Any) -> None:
    """One event dated "now" per contract: not one window more is closed, not one metric
    differs (its own minute, a month ahead, never closes in this replay)."""
    run = accepting_runs["dated_now"]
    rh.assert_finished(run)
    for kind in ("metrics", "warnings", "usage", "scorecards"):
        rh.assert_same(run, clean_run, kind)


def test_many_owners_usage_is_split(accepting_runs: dict[str, Any], clean_run: Any) -> None:
    """20,000 owners in one period: period_usage in parts, none over 1 MiB, that add up."""
    run = accepting_runs["many_owners"]
    rh.assert_finished(run)
    usage_file = run.out / "usage.jsonl"
    for line in usage_file.read_bytes().splitlines():
        assert len(line) < 1 << 20, f"a usage record of {len(line):,} bytes"
    parts = [
        r
        for r in run.records["usage"]
        if r.get("record") == "period_usage" and r["contract_id"] == corpus.MAAS
    ]
    clean_parts = [
        r
        for r in clean_run.records["usage"]
        if r.get("record") == "period_usage" and r["contract_id"] == corpus.MAAS
    ]
    owners = {(o["tenant_id"], o["project_id"]) for r in parts for o in r["by_owner"]}
    clean_owners = {(o["tenant_id"], o["project_id"]) for r in clean_parts for o in r["by_owner"]}
    assert len(owners - clean_owners) == 20_000
    assert max(r["parts"] for r in parts) > 1
    by_period: dict[str, int] = {}
    for r in parts:
        by_period[r["period_start"]] = by_period.get(r["period_start"], 0) + r["requests"]
    clean_requests = {r["period_start"]: r["requests"] for r in clean_parts if r["part"] == 1}
    assert sum(by_period.values()) == sum(clean_requests.values()) + 20_000
    fees = [r["fee"] for r in parts if r["part"] == 1]
    assert fees == [r["fee"] for r in clean_parts if r["part"] == 1]  # a fixed period fee
    assert orjson.dumps(sorted(fees))
