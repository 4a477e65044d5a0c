"""Progress bars for the commands that read a whole telemetry file (report, evidence, diff).

``Bars`` shows one bar per pass over the input on stderr, in bytes of decompressed input. The
total is the file's size, or for a gzip file the size its trailer records (ISIZE: exact for a
single-member file under 4 GiB, which is what ``csla simulate`` writes); stdin or anything else
shows a count without a total. Shown only on a terminal: in a pipe or a log the commands stay
as quiet as before.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def input_bytes(path: str) -> int | None:
    """The decompressed size of ``path`` if it can be known cheaply, else None."""
    if path == "-" or not os.path.isfile(path):
        return None
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if handle.read(2) != b"\x1f\x8b":
            return size
        if size < 18:
            return None
        handle.seek(-4, os.SEEK_END)
        (isize,) = struct.unpack("<I", handle.read(4))
    # ISIZE is the last member's size mod 2**32: only plausible when not smaller than the file
    return isize if isize >= size else None


class Bars:
    """``with Bars(quiet) as bars: replay(..., on_chunk=bars.add("replay", path))``."""

    def __init__(self, quiet: bool = False, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            disable=quiet or not self.console.is_terminal,
            transient=False,
        )

    def __enter__(self) -> Bars:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def add(self, description: str, path: str, total: int | None = None) -> Callable[[int], None]:
        """A new bar; the callback advances it by a number of input bytes."""
        task = self.progress.add_task(
            description, total=total if total is not None else input_bytes(path)
        )

        def advance(n: int) -> None:
            self.progress.advance(task, n)

        return advance
