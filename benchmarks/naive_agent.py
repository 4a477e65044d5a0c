"""The naive Faust agent of the Kafka benchmark: what a team writes first.

One agent iterates the telemetry topic one event at a time (Faust's JSON value codec decodes
each message) and bumps a per-contract counter in a changelog-backed ``Table``: one changelog
record per event. Used by ``benchmarks/kafka_bench.py`` as the baseline the worker must beat
by 10×; it writes the wall time (``time.time()``) of its first event to ``--first-file``.

    python benchmarks/naive_agent.py --broker 127.0.0.1:9092 --topic T --app-id A \\
        --data-dir DIR --first-file FILE --web-port PORT
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from pathlib import Path
from typing import Any


def make_naive_app(args: argparse.Namespace) -> Any:
    import faust

    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.broker}",
        store="memory://",
        datadir=str(args.data_dir),
        autodiscover=False,
        topic_partitions=args.partitions,
        topic_replication_factor=1,
        topic_disable_leader=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        web_enabled=False,
        web_bind="127.0.0.1",
        web_host="127.0.0.1",
        web_port=args.web_port,
    )
    counts = app.Table("counts-per-contract", default=int, partitions=args.partitions)
    telemetry = app.topic(args.topic, value_serializer="json")
    first_file = Path(args.first_file)
    seen = 0

    @app.agent(telemetry, name="naive-count")
    async def count(stream: Any) -> None:
        nonlocal seen
        async for event in stream:
            if seen == 0:
                first_file.write_text(repr(time.time()))
            seen += 1
            counts[event["contract_id"]] += 1

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="host:port")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--first-file", type=Path, required=True)
    parser.add_argument("--web-port", type=int, required=True)
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()

    from faust.worker import Worker

    try:
        import uvloop
    except ImportError:  # pragma: no cover
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    logging.basicConfig(level=logging.WARNING)
    app = make_naive_app(args)
    Worker(app, loop=loop, loglevel="WARNING").execute_from_commandline()


if __name__ == "__main__":
    main()
