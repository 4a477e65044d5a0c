"""The broker being away: readiness on ``/health`` and a log that does not flood.

``BrokerHealth`` is fed by a timer that asks the broker for metadata: after
``broker_down_seconds`` without an answer the worker reports not-ready (a load balancer or
Kubernetes stops counting on it), and ready again at the first answer. Nothing else changes:
the clients keep retrying, and the work resumes where it stopped.

``RepeatFilter`` rate-limits what the Kafka clients log meanwhile (aiokafka logs every failed
connection attempt of every client: 3,000 lines in 40 s with the broker down): per logger and
message template, one line per ``log_repeat_seconds``; the next line that passes says how many
were suppressed. Both take the clock as an argument, for tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["BrokerHealth", "RepeatFilter", "install_repeat_filter"]

log = logging.getLogger("csla.worker")

Clock = Callable[[], float]

#: Loggers whose warnings and errors are rate-limited: the Kafka clients and Faust's runtime.
CLIENT_LOGGERS = ("aiokafka", "faust", "mode", "csla.worker.route")


class BrokerHealth:
    """Unreachable since when, and whether that has lasted ``down_after_seconds``."""

    def __init__(self, down_after_seconds: float, clock: Clock = time.monotonic) -> None:
        self.down_after_seconds = down_after_seconds
        self._clock = clock
        self.unreachable_since: float | None = None
        self.last_error = ""

    def reachable(self) -> None:
        if self.unreachable_since is not None:
            log.warning(
                "broker reachable again after %.1f s",
                self._clock() - self.unreachable_since,
            )
        self.unreachable_since = None
        self.last_error = ""

    def unreachable(self, error: str) -> None:
        if self.unreachable_since is None:
            self.unreachable_since = self._clock()
            log.warning("broker unreachable: %s", error)
        self.last_error = error

    def down_seconds(self) -> float:
        """How long the broker has been unreachable (0 when it answers)."""
        if self.unreachable_since is None:
            return 0.0
        return self._clock() - self.unreachable_since

    @property
    def down(self) -> bool:
        """Unreachable for ``down_after_seconds`` or longer: not ready."""
        return self.unreachable_since is not None and (
            self.down_seconds() >= self.down_after_seconds
        )


class RepeatFilter(logging.Filter):
    """One record per (logger, level, template) every ``interval_seconds``; INFO and below
    pass. The record that passes after a quiet spell says how many were suppressed."""

    def __init__(self, interval_seconds: float, clock: Clock = time.monotonic) -> None:
        super().__init__()
        self.interval_seconds = interval_seconds
        self._clock = clock
        self._last: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or self.interval_seconds <= 0:
            return True
        key = (record.name, record.levelno, str(record.msg)[:200])
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last[0] < self.interval_seconds:
            self._last[key] = (last[0], last[1] + 1)
            return False
        if len(self._last) > 10_000:  # templates are few; a flood of distinct ones is not kept
            self._last.clear()
        self._last[key] = (now, 0)
        if last is not None and last[1]:
            record.msg = (
                f"{record.msg} [{last[1]} similar line(s) suppressed in the last "
                f"{now - last[0]:.0f} s]"
            )
        return True


def install_repeat_filter(flt: RepeatFilter, prefixes: tuple[str, ...] = CLIENT_LOGGERS) -> int:
    """Attach ``flt`` to every logger under ``prefixes`` that exists now (a logger's filters
    see only its own records, so each module's logger gets it); return how many got it.
    Call again after more modules are imported: loggers that have it are skipped."""
    manager = logging.Logger.manager
    names = [
        name
        for name in list(manager.loggerDict)
        if any(name == p or name.startswith(p + ".") for p in prefixes)
    ]
    count = 0
    for name in [*prefixes, *names]:
        logger = logging.getLogger(name)
        if flt not in logger.filters:
            logger.addFilter(flt)
            count += 1
    return count
