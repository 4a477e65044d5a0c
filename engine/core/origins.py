"""Where each line of a batch came from (``file:line`` or ``topic[partition]@offset``).

The core takes any ``origin(i) -> str``; these two also give a whole column at once, which the
core keeps beside buffered events (a conflicting duplicate names its first copy's origin)
without a Python call per event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from engine.core.text import text

Origin = Callable[[int], str]


@dataclass(frozen=True, slots=True)
class FileLines:
    """Line ``i`` of a chunk is ``name:first_line + i``, or ``name:where[i]`` when a chunk's
    lines are not its physical lines (JSON arrays, blank lines)."""

    name: str
    first_line: int
    where: Sequence[int] | None = None

    def __call__(self, i: int) -> str:
        return f"{self.name}:{self.where[i] if self.where is not None else self.first_line + i}"

    def column(self, seq: pl.Series) -> pl.Series:
        if self.where is not None:
            numbers = pl.Series(self.where, dtype=pl.Int64).gather(seq)
        else:
            numbers = seq.cast(pl.Int64) + self.first_line
        return pl.select(text("{}:{}", pl.lit(self.name), pl.lit(numbers))).to_series()


@dataclass(frozen=True, slots=True)
class Listed:
    """Each line's origin given in a list."""

    origins: Sequence[str]

    def __call__(self, i: int) -> str:
        return self.origins[i]

    def column(self, seq: pl.Series) -> pl.Series:
        return pl.Series(self.origins, dtype=pl.String).gather(seq)


def origin_column(origin: Origin, seq: pl.Series) -> pl.Series:
    """``origin`` of every index in ``seq`` as a string column."""
    column = getattr(origin, "column", None)
    if column is not None:
        return column(seq).alias("_origin")  # type: ignore[no-any-return]
    return pl.Series("_origin", [origin(i) for i in seq.to_list()], dtype=pl.String)
