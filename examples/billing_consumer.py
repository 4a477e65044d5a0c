"""A reference billing consumer of ``csla.compensations``: each credit stored once, in SQLite.

The engine delivers at least once: after a restart or a rebalance a worker may publish a
compensation again, identical, with the same ``compensation_id``; and this consumer, killed
between storing a batch and committing its offsets, reads that batch again. So:

1. store every record of a batch in one SQLite transaction, keyed by ``compensation_id``
   (``INSERT … ON CONFLICT DO NOTHING``: a record seen before changes nothing);
2. only then commit the batch's Kafka offsets (manual commits, ``enable_auto_commit=False``).

A crash anywhere leaves the database and the offsets consistent: what was committed is
stored; what was stored but not committed is read again and skipped as a duplicate.

    python examples/billing_consumer.py --bootstrap 127.0.0.1:9092 --db billing.sqlite

Needs only aiokafka (a dependency of the engine) and the standard library. Security options
(SASL/SSL) go to ``AIOKafkaConsumer`` like ``bootstrap_servers``; see aiokafka's docs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaConsumer

log = logging.getLogger("billing")

SCHEMA = """
CREATE TABLE IF NOT EXISTS compensation (
    compensation_id TEXT PRIMARY KEY,          -- comp:<contract>:<objective>:<period start>:r<revision>
    contract_id     TEXT NOT NULL,
    contract_version INTEGER NOT NULL,
    objective_id    TEXT NOT NULL,
    period_start    TEXT NOT NULL,             -- UTC, RFC 3339
    period_end      TEXT NOT NULL,
    credit_amount   TEXT NOT NULL,             -- a decimal string: never a float
    currency        TEXT NOT NULL,
    extension_hours REAL NOT NULL,
    record          TEXT NOT NULL,             -- the whole record, as received
    source          TEXT NOT NULL              -- topic[partition]@offset of the first copy
);
CREATE INDEX IF NOT EXISTS compensation_period
    ON compensation (contract_id, objective_id, period_start);
"""
INSERT = """
INSERT INTO compensation (compensation_id, contract_id, contract_version, objective_id,
    period_start, period_end, credit_amount, currency, extension_hours, record, source)
VALUES (:compensation_id, :contract_id, :contract_version, :objective_id,
    :period_start, :period_end, :credit_amount, :currency, :extension_hours, :record, :source)
ON CONFLICT (compensation_id) DO NOTHING
"""
FIELDS = (
    "compensation_id",
    "contract_id",
    "contract_version",
    "objective_id",
    "period_start",
    "period_end",
    "credit_amount",
    "currency",
    "extension_hours",
)
#: The same contract, objective and period judged under another rule revision (a replay of
#: history under changed rules): a different id, so not a duplicate; a person decides.
OTHER_REVISION = """
SELECT compensation_id FROM compensation
WHERE contract_id = :contract_id AND objective_id = :objective_id
  AND period_start = :period_start AND compensation_id <> :compensation_id
"""


def open_db(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)  # transactions are explicit below
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")  # a stored credit survives a power cut
    db.executescript(SCHEMA)
    return db


def store(db: sqlite3.Connection, records: Iterable[Any]) -> tuple[int, int]:
    """Store a batch of Kafka records in one transaction; return (new, duplicates).

    A value that is not a compensation record is logged and skipped (it is not billing's
    to fix; the batch still commits)."""
    rows = []
    for msg in records:
        where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
        try:
            rec = json.loads(msg.value)
            row = {k: rec[k] for k in FIELDS}
            Decimal(row["credit_amount"])  # refuse what is not a decimal amount
        except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
            log.error("%s: not a compensation record (%r); skipped", where, exc)
            continue
        rows.append({**row, "record": msg.value.decode(), "source": where})
    new = 0
    db.execute("BEGIN IMMEDIATE")
    try:
        for row in rows:
            inserted = db.execute(INSERT, row).rowcount
            new += inserted
            others = db.execute(OTHER_REVISION, row).fetchall() if inserted else []
            if others:
                log.warning(
                    "%s: %s credits a period already credited by %s: review before paying both",
                    row["source"],
                    row["compensation_id"],
                    ", ".join(o[0] for o in others),
                )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return new, len(rows) - new


async def run(
    bootstrap: str,
    topic: str,
    group: str,
    db_path: str,
    *,
    until_idle: float | None = None,
    crash_after: int | None = None,
    max_records: int = 500,
    session_timeout_ms: int = 10_000,
) -> None:
    db = open_db(db_path)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,  # commit after storing, never before
        auto_offset_reset="earliest",  # a new group reads every compensation there is
        isolation_level="read_committed",  # with exactly_once workers: committed records only
        # a crashed member holds its partitions this long before another instance gets them
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(100, session_timeout_ms // 5),
    )
    await consumer.start()
    seen = new_total = dup_total = 0
    idle_since = time.monotonic()
    try:
        while until_idle is None or time.monotonic() - idle_since < until_idle:
            batches = await consumer.getmany(timeout_ms=500, max_records=max_records)
            records = [r for part in batches.values() for r in part]
            if not records:
                if not consumer.assignment():
                    idle_since = time.monotonic()
                continue
            idle_since = time.monotonic()
            new, dup = store(db, records)  # 1. stored (durably) …
            seen, new_total, dup_total = seen + len(records), new_total + new, dup_total + dup
            if crash_after is not None and seen >= crash_after:
                # Test hook: die as a crash would, stored but not committed.
                print(f"crash: {seen} read, {new_total} new, {dup_total} duplicates", flush=True)
                os._exit(3)
            await consumer.commit()  # 2. … then committed
    finally:
        await consumer.stop()
        db.close()
    print(f"done: {seen} read, {new_total} new, {dup_total} duplicates", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="csla.compensations")
    parser.add_argument("--group", default="billing")
    parser.add_argument("--db", default="billing.sqlite")
    parser.add_argument("--until-idle", type=float, help="stop after S seconds without records")
    parser.add_argument("--crash-after", type=int, help=argparse.SUPPRESS)  # tests only
    parser.add_argument("--max-records", type=int, default=500, help="records per batch")
    parser.add_argument("--session-timeout-ms", type=int, default=10_000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(
        run(
            args.bootstrap,
            args.topic,
            args.group,
            args.db,
            until_idle=args.until_idle,
            crash_after=args.crash_after,
            max_records=args.max_records,
            session_timeout_ms=args.session_timeout_ms,
        )
    )


if __name__ == "__main__":
    main()
