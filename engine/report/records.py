"""Reading a replay output directory: the JSONL files of ``csla replay`` and the worker.

Metrics, breaches, compensations, discrepancies, and — when another stage wrote them —
burn-rate warnings and scorecards. A file that is absent or empty gives no records;
``read_outputs`` never fails on a missing kind, only on a line that is not JSON (an output file
is ours: a bad line is a bug).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.core.records import (
    BREACHES,
    COMPENSATIONS,
    DISCREPANCIES,
    METRICS,
    SCORECARDS,
    WARNINGS,
)

Record = dict[str, Any]

#: The kinds a report and the dashboard read → their file names (the worker publishes the
#: same records to topics).
OUTPUT_FILES: dict[str, str] = {
    kind.name: kind.file for kind in (METRICS, BREACHES, COMPENSATIONS, WARNINGS, SCORECARDS)
}
#: What a report reads: those and the discrepancy records (§6.2.6), which the dashboard does
#: not show.
REPORT_FILES: dict[str, str] = {**OUTPUT_FILES, DISCREPANCIES.name: DISCREPANCIES.file}


def read_jsonl(path: Path) -> list[Record]:
    """Every record of one JSONL file; ``[]`` when the file is absent."""
    if not path.is_file():
        return []
    records: list[Record] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON: {exc}") from None
            if isinstance(record, dict):
                records.append(record)
    return records


def read_outputs(directory: Path) -> dict[str, list[Record]]:
    """The records of each kind of ``REPORT_FILES`` in ``directory``."""
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory} is not a directory of replay outputs")
    return {kind: read_jsonl(directory / name) for kind, name in REPORT_FILES.items()}
