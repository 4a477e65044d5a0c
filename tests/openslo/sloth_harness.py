"""Sloth for the tests: find the pinned binary, run it, read the rules it generates.

Loaded by ``tests/openslo/conftest.py`` and, by path, by the live-worker test in
``tests/kafka`` (which needs the broker fixture there).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

SLOTH_VERSION = "v0.16.0"
SLOTH_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "csla/go/bin"
_SELECTOR = re.compile(r"\b(csla_[a-z_]+)\{([^}]*)\}")
_MATCHER = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


def _module_version(binary: str) -> str | None:
    """The sloth module version a Go binary was built from (``go install`` stamps it; the
    binary's own ``sloth version`` says ``dev`` then)."""
    go = shutil.which("go")
    if go is None:
        return None
    done = subprocess.run([go, "version", "-m", binary], capture_output=True, text=True, timeout=60)
    for line in done.stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["mod", "github.com/slok/sloth"] and len(parts) > 2:
            return parts[2]
    return None


def find_sloth() -> tuple[str | None, str]:
    """(path of Sloth v0.16.0, or None and why not)."""
    for candidate in (SLOTH_CACHE / "sloth", shutil.which("sloth")):
        if candidate is None or not Path(candidate).is_file():
            continue
        if _module_version(str(candidate)) == SLOTH_VERSION:
            return str(candidate), ""
    if shutil.which("go") is None:
        return None, "Go is not installed, so scripts/test.sh could not build Sloth"
    return None, f"Sloth {SLOTH_VERSION} is not in {SLOTH_CACHE} or on PATH (run scripts/test.sh)"


def run(sloth: str, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sloth, *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )


def rules_of(texts: list[str]) -> list[dict[str, Any]]:
    """Every rule (recording and alerting) of Prometheus rule files' texts."""
    rules = []
    for text in texts:
        for doc in yaml.safe_load_all(text):
            for group in (doc or {}).get("groups", []):
                rules += group.get("rules", [])
    return rules


def selectors(rules: list[dict[str, Any]]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """(metric name, equality matchers) of every ``csla_*`` series the rules' expressions read."""
    found = set()
    for rule in rules:
        for name, body in _SELECTOR.findall(rule["expr"]):
            found.add((name, tuple(sorted(_MATCHER.findall(body)))))
    return found
