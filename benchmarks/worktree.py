"""A detached ``git worktree`` of a baseline commit for A/B benchmarks, removed afterwards."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def baseline_tree(revision: str) -> Iterator[Path]:
    """The tree of ``revision``, checked out in a temporary directory while in use."""
    with tempfile.TemporaryDirectory(prefix="csla-baseline-") as tmp:
        where = Path(tmp) / "tree"
        yield from _checked_out(revision, where)


def _checked_out(revision: str, where: Path) -> Iterator[Path]:
    subprocess.run(["git", "worktree", "add", "--detach", str(where), revision],
                   cwd=ROOT, check=True, capture_output=True)  # fmt: skip
    try:
        yield where
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=ROOT,
                       check=False, capture_output=True)  # fmt: skip
