"""Fixtures of the OpenSLO tests: the example rules exported, and the pinned Sloth binary.

Sloth (``github.com/slok/sloth/cmd/sloth`` v0.16.0) is built by ``scripts/test.sh`` into
``~/.cache/csla/go/bin`` when Go is on the machine; a test that needs it skips with the reason
where it is not there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.openslo.export import Export, export_rule_files, load_rule_specs, write

from .sloth_harness import find_sloth

ROOT = Path(__file__).resolve().parents[2]


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
