"""Give freed heap memory back to the operating system (glibc ``malloc_trim``).

A worker allocates and frees large buffers every batch (decoded frames, the state snapshot of
each checkpoint). glibc keeps freed memory in its arenas (one per thread that allocated), so
the resident size creeps up with fragmentation although the live data is flat. Calling
``malloc_trim(0)`` now and then returns those pages. A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time
from collections.abc import Callable
from functools import cache

__all__ = ["HeapTrimmer", "freeze_heap"]


def freeze_heap() -> None:
    """Move every object alive now (the loaded modules, the rule set) out of reach of the
    cyclic garbage collector (``gc.freeze``): they live as long as the process, and a full
    collection would walk them again and again while a replay allocates its small state
    objects (a replay of 1,000 contracts spent ~10 % of its CPU there). Reference counting
    still frees them; only cycles among them would stay, and there are none to speak of."""
    gc.freeze()


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim  # type: ignore[no-any-return]


class HeapTrimmer:
    """``maybe()`` trims the heap at most once every ``every_s`` seconds."""

    def __init__(self, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.every_s, self.clock = every_s, clock
        self.last = clock()
        self.trims = 0

    def maybe(self) -> bool:
        now = self.clock()
        if now - self.last < self.every_s:
            return False
        self.last = now
        trim = _malloc_trim()
        if trim is None:
            return False
        trim(0)
        self.trims += 1
        return True
