"""Fixtures of the hostile corpus tests, shared by the replay tests (session scope: the clean
stream is simulated and replayed once). tests/test_broker.py runs on the session's broker
(``kafka_broker``, tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import pytest

_NAME = "csla_hostile_replay_harness"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        _NAME, Path(__file__).with_name("replay_harness.py")
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _module
    _spec.loader.exec_module(_module)
rh = sys.modules[_NAME]


@pytest.fixture(scope="session")
def hostile_now_ms() -> int:
    """The engine clock of the replays (csla replay reads the wall clock too)."""
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="session")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="session")
def clean_lines() -> list[bytes]:
    return rh.clean_lines()


@pytest.fixture(scope="session")
def hostile_cases(clean_lines: list[bytes], hostile_now_ms: int) -> dict[str, Any]:
    return {case.name: case for case in rh.load("corpus").cases(clean_lines, hostile_now_ms)}


@pytest.fixture(scope="session")
def clean_run(clean_lines: list[bytes], hostile_dir: Path) -> Any:
    run = rh.replay(clean_lines, hostile_dir, "clean")
    rh.assert_finished(run)
    return run
