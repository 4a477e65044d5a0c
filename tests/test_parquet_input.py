"""Parquet input (issue 12): ``csla replay --input`` reads a Parquet file or a directory of
parts, with ``event_time`` as a UTC timestamp, and gives the same outputs as the NDJSON of the
same events: every record byte for byte, except where a record quotes its input line (the
``raw`` and ``origin`` of dead letters and late records, which name a row, not a line)."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import polars as pl
import pytest
from typer.testing import CliRunner

from engine.adapters.files import OUTPUT_FILES, replay
from engine.adapters.parquet import is_parquet
from engine.cli import app
from engine.core.calendar import parse_instant
from engine.core.decode import RAW_SCHEMA
from engine.ruleset import load_rules_dir

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "storage-day" / "input.ndjson.gz"
UNTIL = parse_instant("2026-11-01T00:00:00+08:00")
INSTANTS = ("event_time", "window_start", "window_end", "period_start", "period_end",
            "requested_at", "completed_at")  # fmt: skip
QUOTING = {"deadletter.jsonl", "late.jsonl"}


def _typed_lines() -> list[bytes]:
    """The golden day's lines that Parquet can hold: JSON objects whose values have the wire
    types (the malformed lines of the fixture have no Parquet form)."""
    kept = []
    for line in gzip.decompress(GOLDEN.read_bytes()).splitlines():
        try:
            pl.read_ndjson(line, schema=RAW_SCHEMA)
        except pl.exceptions.PolarsError:
            continue
        if line.strip():
            kept.append(line)
    return kept


def _to_parquet(lines: list[bytes], target: Path, parts: int = 1) -> None:
    frame = pl.read_ndjson(b"\n".join(lines), schema=RAW_SCHEMA).with_columns(
        pl.col(name).str.to_datetime(time_unit="us", time_zone="UTC", strict=False)
        for name in INSTANTS
    )
    if parts == 1:
        frame.write_parquet(target)
        return
    target.mkdir()
    size = -(-frame.height // parts)
    for i in range(parts):
        frame.slice(i * size, size).write_parquet(target / f"part-{i:03d}.parquet")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("parquet")
    lines = _typed_lines()
    assert len(lines) > 1_000
    (work / "in.ndjson").write_bytes(b"\n".join(lines) + b"\n")
    _to_parquet(lines, work / "in.parquet")
    _to_parquet(lines, work / "parts", parts=3)
    ruleset = load_rules_dir(ROOT / "rules").ruleset
    out = {}
    for name in ("in.ndjson", "in.parquet", "parts"):
        out[name] = work / f"out-{name}"
        replay(ruleset, str(work / name), out[name], None, until_ms=UNTIL)
    return out


def _records(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.mark.parametrize("source", ["in.parquet", "parts"])
def test_parquet_gives_the_outputs_of_the_same_events_in_ndjson(
    runs: dict[str, Path], source: str
) -> None:
    """One file is one batch, as the NDJSON is: the same bytes. Three parts are three batches,
    which may interleave the contracts' records in another order: the same records."""
    want, got = runs["in.ndjson"], runs[source]
    compared = 0
    for name in OUTPUT_FILES.values():
        if name in QUOTING:
            strip = ("raw", "raw_base64", "origin")
            a = [{k: v for k, v in r.items() if k not in strip} for r in _records(want / name)]
            b = [{k: v for k, v in r.items() if k not in strip} for r in _records(got / name)]
            assert a == b, name
        elif source == "in.parquet":
            assert (got / name).read_bytes() == (want / name).read_bytes(), name
            compared += (want / name).stat().st_size > 0
        else:
            a, b = (sorted((d / name).read_bytes().splitlines()) for d in (want, got))
            assert a == b, name
            compared += bool(a)
    assert compared >= 3  # metrics, breaches, compensations at least


def test_the_manifest_names_each_part_with_its_hash(runs: dict[str, Path]) -> None:
    manifest = orjson.loads((runs["parts"] / "manifest.json").read_bytes())
    inputs = manifest["inputs"]
    assert [Path(i["path"]).name for i in inputs] == [f"part-{i:03d}.parquet" for i in range(3)]
    assert all(len(i["sha256"]) == 64 and i["bytes"] > 0 for i in inputs)
    books = manifest["books"]
    assert books["lines_in"] == sum(
        books[k] for k in ("accepted", "duplicates", "late", "dead_letters")
    )


def test_a_row_that_breaks_a_rule_is_a_dead_letter_naming_its_row(tmp_path: Path) -> None:
    """Types and bounds are checked as for JSON: a text field holding a number, an ok that is
    not a boolean and an infinite latency are dead letters with the row's JSON as raw."""
    good = orjson.loads(_typed_lines()[0])
    rows = [
        {**good, "event_id": "fine"},
        {**good, "event_id": "inf", "latency_ms": float("inf")},
    ]
    frame = pl.DataFrame(rows).with_columns(
        pl.col("event_time").str.to_datetime(time_unit="ms", time_zone="UTC")
    )
    frame = frame.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(7).alias("tenant_id"))
    path = tmp_path / "bad.parquet"
    frame.write_parquet(path)
    assert is_parquet(str(path))
    ruleset = load_rules_dir(ROOT / "rules").ruleset
    replay(ruleset, str(path), tmp_path / "out", None)
    dead = _records(tmp_path / "out" / "deadletter.jsonl")
    assert {d["origin"] for d in dead} == {f"{path}:1", f"{path}:2"}
    errors = " | ".join(str(d["error"]) for d in dead)
    assert "tenant_id must be a string" in errors and "latency_ms" in errors
    assert all(orjson.loads(str(d["raw"]))["event_id"] in {"fine", "inf"} for d in dead)


def test_the_cli_replays_parquet(runs: dict[str, Path], tmp_path: Path) -> None:
    source = runs["in.parquet"].parent / "in.parquet"
    result = CliRunner().invoke(
        app,
        ["replay", "--input", str(source), "--rules", str(ROOT / "rules"),
         "--out", str(tmp_path / "o"), "--until", "2026-11-01T00:00:00+08:00", "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for name in ("metrics.jsonl", "compensations.jsonl"):
        assert (tmp_path / "o" / name).read_bytes() == (runs["in.parquet"] / name).read_bytes()
