"""The worker's log: one format (text or JSON) for every line, and no harmless ERROR at start."""

from __future__ import annotations

import logging
import logging.config
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from aiokafka.errors import GroupCoordinatorNotAvailableError, KafkaConnectionError

from engine.adapters.kafka.logs import COORDINATOR_LOGGER, CoordinatorWaitFilter, logging_config
from engine.settings import Settings

REPO = Path(__file__).resolve().parents[2]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _record(exc: Exception) -> logging.LogRecord:
    return logging.getLogger(COORDINATOR_LOGGER).makeRecord(
        COORDINATOR_LOGGER,
        logging.ERROR,
        __file__,
        1,
        "Group Coordinator Request failed: %s",
        (exc,),
        None,
    )


def test_coordinator_wait_is_info_for_a_while_then_error() -> None:
    clock = _Clock()
    flt = CoordinatorWaitFilter(grace_seconds=30.0, clock=clock)
    levels = []
    for at in (0.0, 0.1, 12.0, 29.0, 31.0, 50.0):  # one run of retries lasting 50 s
        clock.now = 1000.0 + at
        record = _record(GroupCoordinatorNotAvailableError())
        assert flt.filter(record)
        levels.append(record.levelname)
    assert levels == ["INFO"] * 4 + ["ERROR"] * 2
    clock.now += 31.0  # a new run, after a quiet spell: a new start of the group
    record = _record(GroupCoordinatorNotAvailableError())
    assert flt.filter(record) and record.levelname == "INFO"
    assert "waiting for the group coordinator" in record.getMessage()
    other = _record(KafkaConnectionError("refused"))  # not this: stays an error
    assert flt.filter(other) and other.levelname == "ERROR"


def test_json_format_has_time_level_logger_message() -> None:
    config = logging_config(Settings(log_format="json"))
    formatter = logging.config.DictConfigurator(config).configure_formatter(
        config["formatters"]["json"]
    )
    record = logging.getLogger("csla.worker").makeRecord(
        "csla.worker", logging.WARNING, __file__, 1, "broker %s", ("away",), None
    )
    line = orjson.loads(formatter.format(record))
    assert {k: line[k] for k in ("level", "logger", "message")} == {
        "level": "WARNING",
        "logger": "csla.worker",
        "message": "broker away",
    }
    assert line["time"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return bool(orjson.loads(r.read()).get("ready"))
    except OSError:
        return False


def test_worker_logs_one_json_object_per_line_and_no_error(
    csla_env: dict[str, str], tmp_path: Path
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        **csla_env,
        "CSLA_LOG_FORMAT": "json",
        "CSLA_WEB_PORT": str(port),
        "CSLA_RULES_DIR": str(REPO / "rules"),
        "CSLA_DATA_DIR": str(tmp_path / "data"),
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "worker"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        while not _ready(port):
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    lines: list[dict[str, Any]] = [
        orjson.loads(ln) for ln in log_path.read_bytes().splitlines() if ln.strip()
    ]  # every line is one JSON object: Faust's, aiokafka's and the engine's
    loggers = {x["logger"].split(".")[0] for x in lines}
    assert {"csla", "faust", "aiokafka"} <= loggers
    assert [x for x in lines if x["level"] in ("ERROR", "CRITICAL")] == []
    assert any("rules loaded" in x["message"] for x in lines)
