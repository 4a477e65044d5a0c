"""Hot reload of rule files in process (no broker): off the event loop, every rejection counted,
the previous version kept in force (issue 11)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine.adapters.kafka import engine as engine_module
from engine.adapters.kafka.engine import Engine
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _engine(rules: Path) -> Engine:
    settings = Settings(app_id="csla-test", rules_dir=rules)
    app = SimpleNamespace(in_transaction=False, producer=None, conf=SimpleNamespace(id="t"))
    return Engine(settings, app)  # type: ignore[arg-type]


def _rejected(engine: Engine) -> float:
    return engine.metrics.rule_reloads.labels("rejected")._value.get()


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    stamp = time.time_ns() + 1_000_000_000  # a new mtime even on coarse file systems
    os.utime(path, ns=(stamp, stamp))


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", directory)
    return directory


def test_rejections_are_counted_and_the_previous_version_stays(rules: Path) -> None:
    engine = _engine(rules)
    before = engine.ruleset.revisions["storage-001"]
    good = (rules / "storage-001.yaml").read_text()

    async def run() -> None:
        assert not await engine.reload_rules()  # nothing changed
        _touch(rules / "storage-001.yaml", good.replace("window: 1h", "window: 0m", 1))
        assert await engine.reload_rules()
        assert _rejected(engine) == 1
        assert engine.ruleset.revisions["storage-001"] == before

        _touch(rules / "copy.yaml", good)  # the same (id, revision) twice
        _touch(rules / "storage-001.yaml", good)
        assert await engine.reload_rules()
        assert _rejected(engine) == 2
        assert engine.ruleset.revisions["storage-001"] == before

        laughs = ["version: csla/v1", "a: &a [x, x, x, x, x, x, x, x, x]"]
        laughs += [
            f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ]
        (rules / "copy.yaml").unlink()
        _touch(rules / "laughs.yaml", "\n".join(laughs) + "\n")
        started = time.perf_counter()
        assert await engine.reload_rules()
        assert time.perf_counter() - started < 1.0
        assert _rejected(engine) == 3
        assert set(engine.ruleset.revisions) == {"gpu-train-001", "maas-api-001", "storage-001"}

    asyncio.run(run())


def test_a_load_that_raises_is_counted(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(rules)

    def boom(*_: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(engine_module, "load_ruleset", boom)
    _touch(rules / "storage-001.yaml", (rules / "storage-001.yaml").read_text())
    with pytest.raises(RuntimeError):
        asyncio.run(engine.reload_rules())
    assert _rejected(engine) == 1


def test_parsing_runs_off_the_event_loop(rules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a slow load runs, the loop still answers (a timer ticks)."""
    engine = _engine(rules)
    real = engine_module.load_ruleset

    def slow(*args: object) -> object:
        time.sleep(0.3)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "load_ruleset", slow)
    _touch(rules / "storage-001.yaml", (rules / "storage-001.yaml").read_text())

    async def run() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        assert await engine.reload_rules()
        ticker.cancel()
        return ticks

    assert asyncio.run(run()) >= 10
