"""The worker's log: one format for Faust's lines and the engine's, as text or as JSON
(``CSLA_LOG_FORMAT``), and the Kafka client's start-up noise at its true level.

Faust's worker (``mode``) configures logging itself when it starts, in a format of its own;
``logging_config`` is handed to it (and applied before it starts, for the lines logged while
the topics are checked), so every line of the process has the same shape.
"""

from __future__ import annotations

import logging
import logging.config
import time
from collections.abc import Callable
from typing import Any

from engine.settings import Settings

__all__ = ["TEXT_FORMAT", "CoordinatorWaitFilter", "install", "logging_config"]

#: The text format of every line: time, level, logger, message.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
#: The logger of aiokafka's consumer group coordination.
COORDINATOR_LOGGER = "aiokafka.consumer.group_coordinator"


def logging_config(settings: Settings) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the worker: one handler on stderr, root level
    ``settings.log_level``, text or JSON (one object per line: time, level, logger, message,
    and ``exc_info`` with a traceback)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"format": TEXT_FORMAT},
            "json": {
                "()": "pythonjsonlogger.orjson.OrjsonFormatter",
                "fmt": TEXT_FORMAT,
                "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
            },
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": settings.log_format,
                "level": settings.log_level,
            }
        },
        "root": {"level": settings.log_level, "handlers": ["default"]},
    }


class CoordinatorWaitFilter(logging.Filter):
    """aiokafka logs ``Group Coordinator Request failed: [Error 15]
    GroupCoordinatorNotAvailableError`` as ERROR while a group's coordinator is not known yet
    (at every start on a broker that is creating its offsets topic or electing a coordinator)
    and retries by itself. Such lines (errors 14, 15, 16: retriable) are INFO for the first
    ``grace_seconds`` of a run of them; a run that lasts longer is a real problem, and its
    lines stay ERROR. A run ends after ``grace_seconds`` without such a line."""

    def __init__(self, grace_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        from aiokafka import errors

        self.grace_seconds = grace_seconds
        self._clock = clock
        self._since: float | None = None
        self._last = 0.0
        self._transient = (
            errors.GroupCoordinatorNotAvailableError,
            errors.GroupLoadInProgressError,
            errors.NotCoordinatorForGroupError,
        )

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if record.levelno != logging.ERROR or not any(isinstance(a, self._transient) for a in args):
            return True
        now = self._clock()
        if self._since is None or now - self._last > self.grace_seconds:
            self._since = now
        self._last = now
        if now - self._since < self.grace_seconds:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.msg = f"{record.msg} (waiting for the group coordinator; retrying)"
        return True


def install(settings: Settings) -> dict[str, Any]:
    """Configure logging for the worker now; return the config to hand to Faust's worker."""
    config = logging_config(settings)
    logging.config.dictConfig(config)
    coordinator = logging.getLogger(COORDINATOR_LOGGER)
    if not any(isinstance(f, CoordinatorWaitFilter) for f in coordinator.filters):
        coordinator.addFilter(CoordinatorWaitFilter())
    return config
