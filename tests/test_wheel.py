"""The wheel is a complete product: built from the sdist, installed into a fresh venv, and run
in an empty directory far from the checkout, it has its example rules, Table A.2, schemas and
Kafka pom, and `csla demo`, `csla schema check` and `csla init` work.

The venv has ``--system-site-packages`` (the dependencies are not downloaded again) but no
PYTHONPATH, and runs in an empty directory: the test checks that ``engine`` comes from the
venv, not from the checkout (an editable install's finder comes after the venv's own path).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RULES = sorted(p.name for p in (ROOT / "rules").glob("*.yaml"))
SCHEMAS = sorted(p.name for p in (ROOT / "schemas").glob("*.schema.json"))


# every command runs without PYTHONPATH (nor a virtualenv's variables): nothing sees the checkout
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}


def _run(cmd: list[str], cwd: Path, env: dict[str, str] = CLEAN_ENV) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (
        f"{cmd}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout + result.stderr


def _build(step: str, source: Path, dist: Path) -> Path:
    """``build_sdist`` or ``build_wheel`` of setuptools (>= 77: the [test] extra) run in
    ``source``, as a build frontend would call it, without an isolated environment to
    download."""
    code = f"import sys; from setuptools import build_meta as b; b.{step}(sys.argv[1])"
    _run([sys.executable, "-c", code, str(dist)], cwd=source)
    (built,) = dist.glob("*.tar.gz" if step == "build_sdist" else "*.whl")
    return built


def _check_sdist(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        top, *names = tar.getnames()
    files = {name.removeprefix(f"{top}/") for name in names}
    assert {f"rules/{name}" for name in RULES} <= files
    assert "rules/.scoring/table-a2.yaml" in files
    assert {f"schemas/{name}" for name in SCHEMAS} <= files
    assert {"deploy/kafka/pom.xml", "deploy/kafka/log4j2.properties"} <= files
    assert {"LICENSE", "engine/py.typed", "setup.py", "pyproject.toml"} <= files


def _check_wheel(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
        (meta_name,) = [n for n in files if n.endswith(".dist-info/METADATA")]
        meta = Parser().parsestr(archive.read(meta_name).decode())
    assert "engine/py.typed" in files
    assert {f"engine/_data/rules/{name}" for name in RULES} <= files
    assert "engine/_data/rules/.scoring/table-a2.yaml" in files
    assert {f"engine/_data/schemas/{name}" for name in SCHEMAS} <= files
    assert "engine/_data/kafka/pom.xml" in files
    assert not any(name.startswith("engine/data/") for name in files), "one copy: rules/.scoring"
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in files)
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["Author"] == "CSLA Engine developers"
    classifiers = meta.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers


def test_wheel_installs_into_a_fresh_venv_and_runs_in_an_empty_directory(
    tmp_path: Path,
) -> None:
    dist = tmp_path / "dist"
    egg_info = ROOT / "csla_engine.egg-info"  # setuptools writes it beside pyproject.toml
    had_egg_info = egg_info.exists()
    try:
        sdist = _build("build_sdist", ROOT, dist)
    finally:
        if not had_egg_info:
            shutil.rmtree(egg_info, ignore_errors=True)
    _check_sdist(sdist)
    with tarfile.open(sdist) as tar:  # the wheel is built from the sdist, as pip would
        tar.extractall(tmp_path / "src", filter="data")
    wheel = _build("build_wheel", tmp_path / "src" / sdist.name.removesuffix(".tar.gz"), dist)
    _check_wheel(wheel)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
         cwd=tmp_path)  # fmt: skip
    python, csla = venv / "bin" / "python", venv / "bin" / "csla"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
         "--ignore-installed",  # the checkout may be installed (editable) in the system site
         "--no-index", "--disable-pip-version-check", str(wheel)],
        cwd=tmp_path,
    )  # fmt: skip

    env = CLEAN_ENV | {"PATH": f"{venv / 'bin'}{os.pathsep}{CLEAN_ENV.get('PATH', '')}"}
    env["COLUMNS"] = "200"
    empty = tmp_path / "empty"
    empty.mkdir()

    where = _run(
        [str(python), "-c",
         "import engine, engine.resources as r; from importlib.metadata import version; "
         "from engine.models.assessment import DEFAULT_SCORING_PATH; "
         "from engine.dev.local_broker import _pom_path; "
         "print(engine.__file__, r.checkout_root(), DEFAULT_SCORING_PATH.is_file(), "
         "_pom_path().is_file(), version('csla-engine'), sep='|')"],
        cwd=empty, env=env,
    )  # fmt: skip
    engine_file, *found = where.strip().split("|")
    assert Path(engine_file).is_relative_to(venv), f"engine imported from {engine_file}"
    assert found == ["None", "True", "True", "0.1.0"]  # no checkout; scoring, pom; metadata

    output = _run([str(csla), "demo", "--days", "1"], cwd=empty, env=env)
    assert "using the example contracts that ship with csla" in output
    metrics = (empty / "out" / "demo" / "metrics.jsonl").read_bytes()
    assert metrics.count(b"\n") > 0, "a day of telemetry closes windows"

    output = _run([str(csla), "schema", "check"], cwd=empty, env=env)
    assert f"{len(SCHEMAS)} schema files in {venv}" in output and "match the models" in output

    start = tmp_path / "start"
    _run([str(csla), "init", str(start)], cwd=empty, env=env)
    for name in RULES:
        assert (start / "rules" / name).read_bytes() == (ROOT / "rules" / name).read_bytes()
    assert "# CSLA_BROKER=kafka://127.0.0.1:9092" in (start / "csla.env").read_text()


@pytest.mark.parametrize("name", ["rules", "schemas", "deploy/kafka"])
def test_packaged_data_is_found_in_the_checkout(name: str) -> None:
    """From a checkout the repository's own directories are the data (the one copy)."""
    from engine import resources

    found = {
        "rules": resources.example_rules_dir(),
        "schemas": resources.schemas_dir(),
        "deploy/kafka": resources.kafka_pom().parent,
    }[name]
    assert found == ROOT / name
