"""Settings → Kafka clients: bootstrap servers, security options, and the engine's topics."""

from __future__ import annotations

import contextlib
from typing import Any

from engine.core.records import OUTPUT_KINDS
from engine.settings import Settings

__all__ = [
    "CHECKPOINT_MESSAGE_BYTES",
    "MAX_MESSAGE_BYTES",
    "bootstrap_servers",
    "client_options",
    "ensure_topics",
    "faust_credentials",
    "internal_topics",
]

#: max.message.bytes of the internal topics (routed lines, checkpoints) and the clients'
#: request size; the telemetry and output topics take ``Settings.max_message_bytes`` (at most
#: half of this, so that a routed message of one telemetry message always fits).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
#: max.message.bytes of the checkpoint topic and the producer's request size. Checkpoints are
#: written in parts of 4 MiB (``checkpoint.PART_BYTES``) whatever the state's size; the topic
#: still takes 64 MiB, so that a checkpoint of one record from an older version can be read.
CHECKPOINT_MESSAGE_BYTES = 64 * 1024 * 1024


def bootstrap_servers(settings: Settings) -> list[str]:
    """``kafka://h1:9092;kafka://h2:9092`` (or comma-separated) → ``["h1:9092", "h2:9092"]``."""
    hosts = settings.broker.replace(";", ",").split(",")
    return [h.strip().removeprefix("kafka://") for h in hosts if h.strip()]


def _ssl_context(settings: Settings) -> Any:
    from aiokafka.helpers import create_ssl_context

    return create_ssl_context(
        cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None,
        certfile=str(settings.ssl_certfile) if settings.ssl_certfile else None,
        keyfile=str(settings.ssl_keyfile) if settings.ssl_keyfile else None,
    )


def client_options(settings: Settings) -> dict[str, Any]:
    """Security options for aiokafka clients (producer, admin, consumer)."""
    protocol = settings.security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = _ssl_context(settings)
    if protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        options["sasl_mechanism"] = settings.sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.sasl_username
        password = settings.sasl_password
        options["sasl_plain_password"] = password.get_secret_value() if password else None
    return options


def faust_credentials(settings: Settings) -> Any:
    import faust

    protocol = settings.security_protocol
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return faust.SSLCredentials(_ssl_context(settings))
    password = settings.sasl_password
    return faust.SASLCredentials(
        username=settings.sasl_username,
        password=password.get_secret_value() if password else None,
        ssl_context=_ssl_context(settings) if protocol == "SASL_SSL" else None,
        mechanism=settings.sasl_mechanism or "PLAIN",
    )


# --------------------------------------------------------------------------- topics


def internal_topics(settings: Settings) -> tuple[str, str]:
    """(keyed lines, state checkpoints): private to the consumer group ``app_id``."""
    return f"{settings.app_id}-csla-by-contract", f"{settings.app_id}-csla-state"


def _topic_specs(settings: Settings) -> dict[str, dict[str, str]]:
    """Every topic the engine creates, with its configuration: ``max.message.bytes`` is always
    explicit (the broker's default may differ; no output record exceeds the setting)."""
    retention = {"retention.ms": str(settings.retention_hours * 3_600_000)}
    t = settings.topics
    specs = {
        name: {**retention, "max.message.bytes": str(settings.max_message_bytes)}
        for name in (t.telemetry, *(t.output(kind) for kind in OUTPUT_KINDS))
    }
    by_contract, state = internal_topics(settings)
    specs[by_contract] = {**retention, "max.message.bytes": str(MAX_MESSAGE_BYTES)}
    specs[state] = {
        "cleanup.policy": "compact",
        "max.message.bytes": str(CHECKPOINT_MESSAGE_BYTES),
        "segment.ms": str(15 * 60_000),
        "min.cleanable.dirty.ratio": "0.2",
    }
    return specs


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the engine's topics that do not exist yet; return the names created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_servers(settings), **client_options(settings)
    )
    await admin.start()
    created: list[str] = []
    try:
        existing = set(await admin.list_topics())
        for name, config in _topic_specs(settings).items():
            if name in existing:
                continue
            topic = NewTopic(
                name,
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=config,
            )
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                response = await admin.create_topics([topic])
                for _name, code, *_rest in getattr(response, "topic_errors", []):
                    if code not in (0, 36):  # 36: TOPIC_ALREADY_EXISTS
                        raise RuntimeError(f"cannot create topic {name!r}: error code {code}")
                created.append(name)
        return created
    finally:
        await admin.close()
