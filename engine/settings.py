"""Settings for the worker and the CLI, from ``CSLA_*`` environment variables or a file.

Nothing reads these at import time: ``Settings()`` is built by the CLI and passed down. Every
field has a ``description``: ``csla worker --help`` and the settings file that ``csla init``
writes are rendered from them (``setting_docs``), so this module is the one reference.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.core import records


class Topics(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSLA_TOPIC_", extra="forbid")

    telemetry: str = Field(
        default="csla.telemetry", description="Input: telemetry events (csla produce writes here)."
    )
    metrics: str = Field(
        default=records.METRICS.topic, description="Output: SLI metrics per window."
    )
    breaches: str = Field(
        default=records.BREACHES.topic, description="Output: breaches, opened and resolved."
    )
    compensations: str = Field(
        default=records.COMPENSATIONS.topic,
        description="Output: compensations (service credits) for billing, one per contract, "
        "objective and period.",
    )
    late: str = Field(
        default=records.LATE.topic, description="Output: events later than the watermark."
    )
    deadletter: str = Field(
        default=records.DEAD.topic,
        description="Output: dead letters (input that could not be read, records that could "
        "not be published).",
    )
    usage: str = Field(
        default=records.USAGE.topic,
        description="Output: Annex B usage per hour, metering per period.",
    )
    warnings: str = Field(default=records.WARNINGS.topic, description="Output: burn-rate warnings.")
    scorecards: str = Field(
        default=records.SCORECARDS.topic,
        description="Output: Table A.2 scorecards per contract/period.",
    )
    discrepancies: str = Field(
        default=records.DISCREPANCIES.topic,
        description="Output: windows where the platform's probes and the reports disagree.",
    )
    contracts: str = Field(
        default="csla.contracts",
        description="Reserved for rule files on a compacted topic; not read yet (rules come "
        "from CSLA_RULES_DIR).",
    )

    def output(self, kind: str | records.OutputKind) -> str:
        """The topic of an output kind (``engine.core.records.OUTPUT_KINDS``, or its name)."""
        if isinstance(kind, str):
            kind = records.OUTPUT_KIND[kind]
        return str(getattr(self, kind.setting))


class Settings(BaseSettings):
    """Every setting of ``csla worker``; env ``CSLA_<NAME>`` or ``--settings FILE`` (.env)."""

    model_config = SettingsConfigDict(
        env_prefix="CSLA_", env_nested_delimiter="__", extra="ignore", allow_inf_nan=False
    )

    broker: str = Field(
        default="kafka://127.0.0.1:9092",
        description="Kafka bootstrap servers: kafka://host:port, several separated by ';' or ','.",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How to reach the brokers: TLS (SSL, SASL_SSL) and/or SASL login "
        "(SASL_PLAINTEXT, SASL_SSL).",
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism (SASL_* protocols); unset means PLAIN."
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (never logged or shown)."
    )
    ssl_cafile: Path | None = Field(
        default=None,
        description="CA certificates (PEM) that sign the brokers' certificates (SSL, SASL_SSL); "
        "unset means the system's CAs.",
    )
    ssl_certfile: Path | None = Field(
        default=None, description="Client certificate (PEM), when the brokers require mutual TLS."
    )
    ssl_keyfile: Path | None = Field(
        default=None, description="Private key (PEM) of the client certificate."
    )
    app_id: str = Field(
        default="csla-engine",
        description="Application id: the consumer group, and the prefix of the internal topics.",
    )
    topics: Topics = Field(
        default_factory=Topics, description="Topic names: CSLA_TOPICS__<NAME> each (below)."
    )
    partitions: int = Field(
        default=4,
        ge=1,
        description="Partitions of the topics the engine creates (the worker creates the "
        "missing ones).",
    )
    replication_factor: int = Field(
        default=1, ge=1, description="Replication factor of topics the engine creates."
    )
    retention_hours: int = Field(
        default=168,
        ge=1,
        description="Retention (hours) of the telemetry, output and keyed-line topics the "
        "engine creates.",
    )
    rules_dir: Path = Field(
        default=Path("rules"), description="Directory of rule files (csla init writes one)."
    )
    rules_cache_dir: Path | None = Field(
        default=None,
        description="A directory for parsed rule files, keyed by each file's bytes (loads a "
        "known file in ~0.7 ms instead of ~1.5 ms; validation still runs on every load, so "
        "results never depend on it; a damaged entry is ignored and rewritten). Unset: no "
        "cache. Also read by the csla commands that load rules.",
    )
    rules_poll_seconds: float = Field(
        default=5.0, gt=0, description="How often the rules directory is checked for changes."
    )
    idle_advance_seconds: float = Field(
        default=0.0,
        ge=0,
        description="If > 0: a contract idle this long (wall clock) has its event time advanced "
        "by the wall time elapsed, so its windows still close. 0 disables.",
    )
    input_keyed_by_contract: bool = Field(
        default=False,
        description="true: the telemetry topic is already keyed by contract_id and "
        "partitioned by Kafka's default partitioner (murmur2, as Java clients, aiokafka and "
        "csla produce do; librdkafka clients need partitioner=murmur2_random), so the worker "
        "evaluates it directly, without re-keying it to <app_id>-csla-by-contract. A line "
        "whose contract_id is not its message's key, or whose key belongs to another "
        "partition, is a dead letter. Pays off for NDJSON messages of one contract; Faust's "
        "cost per message makes single-event messages slower this way.",
    )
    batch_size: int = Field(default=10_000, ge=1, description="Most messages per micro-batch.")
    batch_wait_seconds: float = Field(
        default=0.05,
        gt=0,
        description="Longest wait (seconds) to fill a micro-batch; stage 2 waits it after "
        "every batch, so it adds to the breach delay (README: breach delay).",
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        default="at_least_once",
        description="exactly_once publishes outputs and offsets in Kafka transactions; "
        "at_least_once may publish a record again after a restart (same id, same value).",
    )
    web_host: str = Field(
        default="127.0.0.1",
        description="Bind address of /metrics, /health and the dashboard (0.0.0.0: every "
        "interface).",
    )
    web_port: int = Field(
        default=6066, ge=0, le=65535, description="Port of /metrics, /health and the dashboard."
    )
    web_token: SecretStr | None = Field(
        default=None,
        description="If set (non-empty): /dashboard and /dashboard.json require "
        "'Authorization: Bearer <token>'; /metrics and /health stay open. See SECURITY.md.",
    )
    data_dir: Path = Field(
        default=Path(".csla-data"), description="The worker's local state directory."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Least severe log level printed."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="The worker's log lines: text (time level logger message) or json (one "
        "object per line: time, level, logger, message).",
    )
    session_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Kafka consumer group session timeout (seconds)."
    )
    heartbeat_seconds: float = Field(
        default=1.0, gt=0, description="Kafka consumer group heartbeat interval (seconds)."
    )
    max_message_bytes: int = Field(
        default=1_048_576,
        ge=65_536,
        le=8 * 1_048_576,
        description="max.message.bytes of the telemetry and output topics the engine creates; "
        "no output record is larger (a larger one is dead-lettered, truncated).",
    )
    broker_down_seconds: float = Field(
        default=30.0,
        gt=0,
        description="/health turns not-ready once the broker has been unreachable this long.",
    )
    log_repeat_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Kafka client errors: one log line per distinct message this often, with "
        "a count of the lines suppressed meanwhile. 0 logs every line.",
    )


# --------------------------------------------------------------------------- reference


@dataclass(frozen=True)
class SettingDoc:
    """One setting as a user sets it: its variable, default (as it would be written) and
    meaning (the field's description, with the allowed values of a choice)."""

    env: str
    default: str
    meaning: str


def _choices(annotation: Any) -> list[str]:
    if typing.get_origin(annotation) is Literal:
        return [str(a) for a in typing.get_args(annotation)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [c for a in typing.get_args(annotation) for c in _choices(a)]
    return []


def _doc(env: str, info: FieldInfo) -> SettingDoc:
    meaning = info.description or ""
    choices = _choices(info.annotation)
    if choices:
        meaning += f" One of: {', '.join(choices)}."
    default = info.get_default(call_default_factory=True)
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    return SettingDoc(env, "" if default is None else str(default), meaning)


def setting_docs() -> list[SettingDoc]:
    """Every setting of ``Settings`` in model order, the topics as ``CSLA_TOPICS__<NAME>``."""
    docs: list[SettingDoc] = []
    for name, info in Settings.model_fields.items():
        if name == "topics":
            docs += [
                _doc(f"CSLA_TOPICS__{topic.upper()}", topic_info)
                for topic, topic_info in Topics.model_fields.items()
            ]
        else:
            docs.append(_doc(f"CSLA_{name.upper()}", info))
    return docs
