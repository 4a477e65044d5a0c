"""Every error a person can fix is one line on stderr and exit 2; ``--debug`` shows where.

``engine.cli.main`` as the ``csla`` script runs it (one test in a real process), no broker: a
port nothing listens on stands for an unreachable broker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def csla(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    """``csla(*args, **env) -> (exit code, stdout, stderr)`` of ``main()`` in this process."""
    from engine.cli import main

    def run(*args: str, **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "argv", ["csla", *args])
        with pytest.raises(SystemExit) as exit_:
            main()
        out, err = capfd.readouterr()
        return int(exit_.value.code or 0), out, err

    return run


def _one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_produce_without_a_broker(closed_port: int, tmp_path: Path) -> None:
    data = tmp_path / "t.ndjson"
    data.write_text('{"contract_id": "x"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "engine", "produce", "--input", str(data)],
        capture_output=True,
        text=True,
        env={**os.environ, "CSLA_BROKER": f"kafka://127.0.0.1:{closed_port}"},
        timeout=120,
    )
    rc, err = proc.returncode, proc.stderr
    assert rc == 2
    line = _one_error_line(err)
    assert "broker unreachable" in line and "CSLA_BROKER" in line


def test_consume_without_a_broker(
    closed_port: int, csla: Callable[..., tuple[int, str, str]]
) -> None:
    rc, out, err = csla("consume", "t", CSLA_BROKER=f"kafka://127.0.0.1:{closed_port}")
    assert (rc, out) == (2, "")
    assert "broker unreachable" in _one_error_line(err)


def test_debug_shows_the_traceback(
    closed_port: int, tmp_path: Path, csla: Callable[..., tuple[int, str, str]]
) -> None:
    data = tmp_path / "t.ndjson"
    data.write_text("{}\n")
    broker = f"kafka://127.0.0.1:{closed_port}"
    rc, _, err = csla("--debug", "produce", "--input", str(data), CSLA_BROKER=broker)
    assert rc == 2
    assert "Traceback" in err and "KafkaConnectionError" in err
    assert err.strip().splitlines()[-1].startswith("error: Kafka broker unreachable")


def test_worker_web_port_in_use(
    busy_port: int, closed_port: int, csla: Callable[..., tuple[int, str, str]]
) -> None:
    rc, _, err = csla(
        "worker",
        CSLA_WEB_PORT=str(busy_port),
        CSLA_WEB_HOST="127.0.0.1",
        CSLA_BROKER=f"kafka://127.0.0.1:{closed_port}",
    )
    assert rc == 2
    line = _one_error_line(err)
    assert f"127.0.0.1:{busy_port}" in line and "CSLA_WEB_PORT" in line


@pytest.mark.parametrize("command", [["worker"], ["produce", "--input", "-"], ["consume", "t"]])
def test_bad_settings(command: list[str], csla: Callable[..., tuple[int, str, str]]) -> None:
    rc, _, err = csla(*command, CSLA_WEB_PORT="70000", CSLA_PROCESSING_GUARANTEE="twice")
    assert rc == 2
    line = _one_error_line(err)
    assert line.startswith("error: bad setting ")
    assert "CSLA_WEB_PORT=70000: Input should be less than or equal to 65535" in line
    assert "CSLA_PROCESSING_GUARANTEE=twice: " in line


def test_produce_missing_input(tmp_path: Path, csla: Callable[..., tuple[int, str, str]]) -> None:
    rc, _, err = csla("produce", "--input", str(tmp_path / "nope.ndjson.gz"))
    assert rc == 2
    assert _one_error_line(err) == f"error: no such file: {tmp_path / 'nope.ndjson.gz'}"


def test_worker_without_its_rules_directory(
    tmp_path: Path, csla: Callable[..., tuple[int, str, str]]
) -> None:
    rc, _, err = csla("worker", CSLA_RULES_DIR=str(tmp_path / "nope"))
    assert rc == 2
    assert _one_error_line(err) == f"error: CSLA_RULES_DIR={tmp_path / 'nope'}: no such directory"
