"""The core is pure: no Faust, asyncio, I/O or clock; only stdlib, polars, orjson, models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "engine" / "core"
FORBIDDEN_MODULES = {"faust", "aiokafka", "asyncio", "mode", "socket", "subprocess", "time", "os"}
FORBIDDEN_CALLS = {"open", "print", "input"}
FORBIDDEN_ATTRS = {"now", "utcnow", "today", "time_ns", "perf_counter", "monotonic"}


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_core_module_is_pure(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]]
            if names[0] == "engine":
                assert (node.module or "").startswith(("engine.core", "engine.models")), node.module
        else:
            names = []
        assert not set(names) & FORBIDDEN_MODULES, f"{path.name} imports {names}"
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                assert func.id not in FORBIDDEN_CALLS, f"{path.name}:{node.lineno} calls {func.id}"
            if isinstance(func, ast.Attribute):
                assert func.attr not in FORBIDDEN_ATTRS, f"{path.name}:{node.lineno} reads the clock"
