"""The lines of a block of NDJSON (a file chunk), split only when someone asks for them.

A replay chunk is ~24 MiB, ~70k lines, and polars parses it as one block: the lines as Python
objects are needed only for the few that become dead letters or late records. ``BlockLines``
is the ``Sequence[bytes]`` the core takes, over the block itself; ``view()`` gives the lines
as one polars string column (for vectorised screening), built in Rust rather than as 70k
Python objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import polars as pl

# a byte no JSON text holds raw (a control character): the lines, read as a one-column
# "CSV", are never cut inside; a line holding it anyway makes the read fail (no view)
_NO_SEPARATOR = "\x1f"


class BlockLines(Sequence[bytes]):
    """Line ``i`` of ``block`` (lines joined by ``\\n``; ``count`` of them, if known).

    The split into Python objects and the polars view are each made once, on first use, from
    the immutable block: a value computed lazily, not state."""

    __slots__ = ("_count", "_split", "_starts", "_view", "block")

    def __init__(self, block: bytes, count: int | None = None) -> None:
        self.block = block
        self._count = count
        self._split: list[bytes] | None = None
        self._view: pl.Series | bool | None = False  # False: not tried yet
        self._starts: pl.Series | None = None  # where each line begins, once the view is gone

    def __len__(self) -> int:
        if self._count is None:
            self._count = self.block.count(b"\n") + 1
        return self._count

    @overload
    def __getitem__(self, i: int) -> bytes: ...
    @overload
    def __getitem__(self, i: slice) -> list[bytes]: ...
    def __getitem__(self, i: int | slice) -> bytes | list[bytes]:
        if isinstance(i, slice) or self._split is not None:
            return self.lines()[i]
        if self._starts is not None:
            starts, n = self._starts, len(self)
            if not -n <= i < n:
                raise IndexError(i)
            i %= n
            end = starts[i + 1] - 1 if i + 1 < n else len(self.block)
            return self.block[starts[i] : end]
        view = self._view
        if isinstance(view, pl.Series):
            if not -len(self) <= i < len(self):
                raise IndexError(i)
            text = view[i]
            return b"" if text is None else text.encode("utf-8")
        return self.lines()[i]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.lines())

    def lines(self) -> list[bytes]:
        """Every line as bytes (split once)."""
        if self._split is None:
            self._split = self.block.split(b"\n")
            self._count = len(self._split)
        return self._split

    def forget_view(self) -> None:
        """Let the view go (its memory is a copy of the block's) once the lines' offsets are
        kept: line ``i`` is then cut from the block."""
        view = self._view
        if isinstance(view, pl.Series):
            sizes = view.str.len_bytes().fill_null(0).cast(pl.Int64)
            self._starts = (sizes + 1).cum_sum() - (sizes + 1)
            self._view = None

    def view(self) -> pl.Series | None:
        """The lines as a polars string column, or None when the block is not UTF-8 (or a line
        holds a raw ``\\x1f``, or ``\\r``): then only :meth:`lines` gives them."""
        if self._view is False:
            self._view = line_view(self.block, len(self))
        return self._view if isinstance(self._view, pl.Series) else None


def line_view(block: bytes, count: int) -> pl.Series | None:
    """``block``'s ``count`` lines as a string column (an empty line is null), or None.

    Checked, not trusted: the column must have ``count`` values whose bytes and separators add
    up to the block's length, so a reader that dropped or merged anything is never used."""
    try:
        view = pl.read_csv(
            block,
            has_header=False,
            separator=_NO_SEPARATOR,
            quote_char=None,
            schema={"line": pl.String()},
        ).get_column("line")
    except (pl.exceptions.PolarsError, OSError):
        return None
    if view.len() != count or view.str.len_bytes().sum() + count - 1 != len(block):
        return None
    return view
