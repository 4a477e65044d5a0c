"""Settings for the worker and the CLI, from ``CSLA_*`` environment variables or a file.

Nothing reads these at import time: ``Settings()`` is built by the CLI and passed down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Topics(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSLA_TOPIC_", extra="forbid")

    telemetry: str = Field(default="csla.telemetry", description="Input: telemetry events.")
    metrics: str = Field(default="csla.metrics", description="Output: SLI metrics per window.")
    breaches: str = Field(default="csla.breaches", description="Output: breaches opened/resolved.")
    compensations: str = Field(default="csla.compensations", description="Output: credits.")
    late: str = Field(default="csla.late", description="Output: events later than the watermark.")
    deadletter: str = Field(default="csla.deadletter", description="Output: undecodable input.")
    usage: str = Field(
        default="csla.usage", description="Output: Annex B usage per hour, metering per period."
    )
    warnings: str = Field(default="csla.warnings", description="Output: burn-rate warnings.")
    scorecards: str = Field(
        default="csla.scorecards", description="Output: Table A.2 scorecards per contract/period."
    )
    discrepancies: str = Field(
        default="csla.discrepancies",
        description="Output: windows where the platform's probes and the reports disagree.",
    )
    contracts: str = Field(
        default="csla.contracts", description="Optional: rule files (compacted)."
    )

    def output(self, kind: str) -> str:
        """The topic of an output kind of the core (``engine.core.pipeline.OUTPUT_NAMES``)."""
        return str(getattr(self, "deadletter" if kind == "dead" else kind))


class Settings(BaseSettings):
    """Every setting of ``csla worker``; env ``CSLA_<NAME>`` or ``--settings FILE`` (.env)."""

    model_config = SettingsConfigDict(env_prefix="CSLA_", env_nested_delimiter="__", extra="ignore")

    broker: str = Field(default="kafka://127.0.0.1:9092", description="Kafka bootstrap URL(s).")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    app_id: str = Field(default="csla-engine", description="Faust app id = consumer group.")
    topics: Topics = Field(default_factory=Topics)
    partitions: int = Field(default=4, ge=1, description="Partitions of topics the engine creates.")
    replication_factor: int = Field(default=1, ge=1)
    retention_hours: int = Field(default=168, ge=1, description="Retention of created topics.")
    rules_dir: Path = Field(default=Path("rules"), description="Directory of rule files.")
    rules_poll_seconds: float = Field(default=5.0, gt=0, description="Rule hot-reload interval.")
    grace_seconds: float | None = Field(
        default=None, description="Override every contract's watermark grace."
    )
    idle_advance_seconds: float = Field(
        default=0.0,
        ge=0,
        description="If > 0: a contract idle this long (wall clock) has its event time advanced "
        "by the wall time elapsed, so its windows still close. 0 disables.",
    )
    batch_size: int = Field(default=10_000, ge=1, description="Max messages per micro-batch.")
    batch_wait_seconds: float = Field(default=0.2, gt=0, description="Max wait to fill a batch.")
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    web_host: str = Field(default="127.0.0.1", description="Bind address of metrics/health.")
    web_port: int = Field(default=6066, ge=0, le=65535)
    web_token: SecretStr | None = Field(
        default=None,
        description="If set (non-empty): /dashboard and /dashboard.json require "
        "'Authorization: Bearer <token>'; /metrics and /health stay open. See SECURITY.md.",
    )
    data_dir: Path = Field(default=Path(".csla-data"), description="Worker-local state dir.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    session_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Kafka consumer group session timeout."
    )
    heartbeat_seconds: float = Field(
        default=1.0, gt=0, description="Kafka consumer group heartbeat interval."
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
