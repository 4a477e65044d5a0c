"""Shared by every test directory: the golden in/out cases under tests/golden/, and the one
real Kafka broker of the session.

A test with a ``golden_case`` argument runs once per case: a directory of tests/golden/ with
an ``input.ndjson.gz``, a ``case.json`` (``until``: replay's ``--until``; ``worker``: what the
Kafka worker, which has no ``--until``, is given instead) and ``<file>.expected.jsonl`` files:
the outputs every driver must give (``csla replay``, the in-memory driver, the worker).
"""

from __future__ import annotations

import copy
import gzip
import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.core.calendar import parse_instant
from engine.core.records import OUTPUT_KINDS
from engine.dev.local_broker import KafkaUnavailableError, LocalKafka, find_java

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"


def _line_number(origin: str) -> str:
    """``path:line`` (replay, the in-memory driver) → ``line``."""
    return origin.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class GoldenCase:
    """One case directory of tests/golden/."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def input(self) -> Path:
        return self.root / "input.ndjson.gz"

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = json.loads((self.root / "case.json").read_text())
        return spec

    @property
    def until_ms(self) -> int | None:
        until = self.spec.get("until")
        return None if until is None else parse_instant(until)

    def lines(self) -> list[bytes]:
        """The input's lines, one per line of the file (line ``n`` at index ``n - 1``)."""
        data = gzip.decompress(self.input.read_bytes())
        return data.removesuffix(b"\n").split(b"\n")

    def expected(self) -> dict[str, list[dict[str, Any]]]:
        """Output kind name (``OUTPUT_KINDS``) → its expected records, for every kind the case
        has a file of."""
        found = {}
        for kind in OUTPUT_KINDS:
            path = self.root / kind.file.replace(".jsonl", ".expected.jsonl")
            if path.exists():
                found[kind.name] = [orjson.loads(ln) for ln in path.read_bytes().splitlines()]
        assert found, f"golden case {self.name} has no *.expected.jsonl"
        return found

    def worker_lines(self) -> list[bytes]:
        """The lines that close the case on the worker, sent after the input (``case.json``
        ``worker.closing``: the worker's stand-in for ``until``)."""
        closing = self.spec.get("worker", {}).get("closing")
        return (self.root / closing).read_bytes().splitlines() if closing else []

    def worker_rules(self, directory: Path) -> Path:
        """A copy of rules/ in ``directory`` with the case's ``worker.append_rules`` added."""
        shutil.copytree(ROOT / "rules", directory)
        for name, text in self.spec.get("worker", {}).get("append_rules", {}).items():
            path = directory / name
            path.write_text(path.read_text() + text)
        return directory

    @staticmethod
    def comparable(
        kind: str,
        records: Iterable[Mapping[str, Any]],
        line_of: Callable[[str], str] = _line_number,
    ) -> list[dict[str, Any]]:
        """Records as the golden files are compared: an origin by its line of the input
        (``line_of``), ``evidence.rule`` (the rule file's path and hash) left out."""
        out = []
        for record in records:
            record = copy.deepcopy(dict(record))
            if "origin" in record and kind in ("late", "dead"):
                record["origin"] = line_of(record["origin"])
            if "evidence" in record:
                record["evidence"].pop("rule", None)
            out.append(record)
        return out


def golden_cases() -> list[GoldenCase]:
    return [GoldenCase(p.parent) for p in sorted(GOLDEN.glob("*/input.ndjson.gz"))]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "golden_case" in metafunc.fixturenames:
        metafunc.parametrize("golden_case", golden_cases(), ids=lambda case: case.name)


# --------------------------------------------------------------------------- the real broker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the broker is marked ``kafka``: ``-m "not kafka"`` leaves it out."""
    for item in items:
        if "kafka_broker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.kafka)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalKafka]:
    """One started single-node broker (KRaft, 127.0.0.1 only) for the whole session, shared by
    tests/kafka, tests/hostile and tests/dashboard (a start costs 30-60 s); stopped and deleted
    at the end. Tests keep apart by unique topic names and app ids; none stops this broker (a
    test that must stop or kill one starts its own ``LocalKafka``). A machine without Java 17+
    or Maven fails these tests rather than skipping them: CI must not pass by skipping."""
    try:
        find_java()
        started = time.monotonic()
        broker = LocalKafka().start()
    except KafkaUnavailableError as exc:
        pytest.fail(
            f"the real Kafka broker for the 'kafka' tests is unavailable: {exc}", pytrace=False
        )
    print(f"\nKafka broker on {broker.bootstrap}, ready {time.monotonic() - started:.1f} s")
    try:
        yield broker
    finally:
        broker.stop()
