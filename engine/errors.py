"""Errors a person can fix, as one line each (``csla`` exits 2 with it; ``--debug`` shows the
traceback instead).

``UserError`` is raised where the program knows what went wrong and what to change (a busy
port, a missing topic). ``explain`` turns the libraries' own exceptions for the same kinds of
trouble (settings that fail validation, a broker that does not answer, a file that is not
there) into such a line; anything else is a programmer error and is not explained away.
"""

from __future__ import annotations

import errno
from typing import Any

__all__ = ["UserError", "explain", "settings_error_line"]


class UserError(Exception):
    """A problem of the input, the settings or the environment, said as one line."""


def explain(exc: BaseException) -> str | None:
    """One line for a problem the user can fix, or None for an unexpected error."""
    from pydantic import ValidationError

    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, ValidationError):
        return settings_error_line(exc)
    kafka = _kafka_line(exc)
    if kafka is not None:
        return kafka
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename or exc}"
    if isinstance(exc, IsADirectoryError | PermissionError | NotADirectoryError):
        return f"cannot open {exc.filename}: {exc.strerror}"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"{exc.strerror or exc}: set CSLA_WEB_PORT to a free port"
    return None


def settings_error_line(exc: Any) -> str:
    """``pydantic.ValidationError`` of ``Settings`` → ``bad setting CSLA_X=value: reason; …``."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = [str(p) for p in error.get("loc", ())]
        name = "CSLA_" + "__".join(loc).upper() if loc else exc.title
        shown = error.get("input")
        value = "" if shown is None or isinstance(shown, dict) else f"={shown!s:.60}"
        parts.append(f"{name}{value}: {error.get('msg', 'invalid')}")
    return "bad setting " + "; ".join(parts)


def _kafka_line(exc: BaseException) -> str | None:
    from aiokafka import errors as kafka_errors

    authentication = (
        kafka_errors.AuthenticationFailedError,
        kafka_errors.SaslAuthenticationFailed,
        kafka_errors.UnsupportedSaslMechanismError,
        kafka_errors.IllegalSaslStateError,
    )
    authorization = (
        kafka_errors.TopicAuthorizationFailedError,
        kafka_errors.GroupAuthorizationFailedError,
        kafka_errors.ClusterAuthorizationFailedError,
    )
    if isinstance(exc, kafka_errors.KafkaConnectionError):
        return f"Kafka broker unreachable ({exc}); check CSLA_BROKER and that the broker is up"
    if isinstance(exc, kafka_errors.KafkaTimeoutError):
        return "Kafka broker did not answer in time; check CSLA_BROKER and that the broker is up"
    if isinstance(exc, authentication):
        return f"Kafka authentication failed ({exc}); check CSLA_SASL_* and CSLA_SECURITY_PROTOCOL"
    if isinstance(exc, authorization):
        return f"Kafka refused access ({exc!r}); check the ACLs of the CSLA_SASL_USERNAME user"
    if isinstance(exc, kafka_errors.KafkaError):
        return f"Kafka error: {exc!r}"
    return None
