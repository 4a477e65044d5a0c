"""Fixtures of the OpenSLO tests: the example rules exported, and the pinned Sloth binary.

Sloth (``github.com/slok/sloth/cmd/sloth`` v0.16.0) is built by ``scripts/test.sh`` into
``~/.cache/csla/go/bin`` when Go is on the machine; a test that needs it skips with the reason
where it is not there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from engine.openslo.export import Export, export_rule_files, load_rule_specs, write

ROOT = Path(__file__).resolve().parents[2]
SLOTH_VERSION = "v0.16.0"
SLOTH_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "csla/go/bin"


def find_sloth() -> tuple[str | None, str]:
    """(path of Sloth v0.16.0, or None and why not)."""
    for candidate in (SLOTH_CACHE / "sloth", shutil.which("sloth")):
        if candidate is None or not Path(candidate).is_file():
            continue
        done = subprocess.run(
            [str(candidate), "version"], capture_output=True, text=True, timeout=30
        )
        if SLOTH_VERSION in done.stdout + done.stderr:
            return str(candidate), ""
    if shutil.which("go") is None:
        return None, "Go is not installed, so scripts/test.sh could not build Sloth"
    return None, f"Sloth {SLOTH_VERSION} is not in {SLOTH_CACHE} or on PATH (run scripts/test.sh)"


@pytest.fixture(scope="session")
def sloth() -> str:
    path, why = find_sloth()
    if path is None:
        pytest.skip(why)
    return path


@pytest.fixture(scope="session")
def exported() -> Export:
    specs, problems = load_rule_specs([ROOT / "rules"])
    assert specs, problems
    return export_rule_files(specs)


@pytest.fixture
def exported_dir(exported: Export, tmp_path: Path) -> Path:
    out = tmp_path / "openslo"
    write(exported, out)
    return out
