"""Shared by every test directory: the golden in/out cases under tests/golden/.

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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from engine.core.calendar import parse_instant
from engine.core.records import OUTPUT_KINDS

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
