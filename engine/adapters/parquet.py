"""Parquet input for ``csla replay``: telemetry already in a data lake, replayed without JSON.

A Parquet file, or a directory of them (``*.parquet`` below it, sorted by path), with the
telemetry v1 fields as columns (README "Parquet input"): instants (``event_time``,
``window_start`` …) as timestamps (UTC; a timestamp without a time zone is read as UTC) or as
RFC 3339 text, the other fields in their JSON types. Columns the format does not name are
ignored; a missing column is null in every row. Rows are read in slices of ``rows``, in file
order, and handed to the core as typed columns (``engine.core.decode.decode_frame``): the
same checks as a JSON line, without writing or parsing JSON. Only a row that becomes a dead
letter or a late record is turned into a JSON line (its ``raw``). A row is named
``<file>:<row>`` (1-based), as a line of a text file is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import overload

import orjson
import polars as pl

from engine.core.origins import FileLines

__all__ = ["RowLines", "is_parquet", "parquet_files", "read_parquet"]

_MAGIC = b"PAR1"


def is_parquet(path: str) -> bool:
    """A Parquet file (by its magic bytes), or a directory holding ``*.parquet`` files."""
    given = Path(path)
    if given.is_dir():
        return any(given.rglob("*.parquet"))
    if path == "-" or not given.is_file():
        return False
    with given.open("rb") as handle:
        return handle.read(4) == _MAGIC


def parquet_files(path: str) -> list[Path]:
    given = Path(path)
    return sorted(given.rglob("*.parquet")) if given.is_dir() else [given]


class RowLines(Sequence[bytes]):
    """The rows of a frame as JSON lines, built only for the rows someone reads (the raw of
    a dead letter or a late record)."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame

    def __len__(self) -> int:
        return self.frame.height

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = self.frame.row(index, named=True)
        return orjson.dumps(
            {k: v for k, v in row.items() if v is not None}, option=orjson.OPT_NAIVE_UTC
        )


def read_parquet(
    path: str, rows: int = 65_536
) -> Iterator[tuple[pl.DataFrame, FileLines, int]]:
    """(slice of rows, origin of its rows, bytes of the file it stands for) per slice."""
    for part in parquet_files(path):
        scan = pl.scan_parquet(part)
        total = scan.select(pl.len()).collect().item()
        size = part.stat().st_size
        for start in range(0, total, rows):
            frame = scan.slice(start, rows).collect()
            share = size * frame.height // total if total else 0
            yield frame, FileLines(str(part), start + 1), share
