"""``csla produce`` sends what ``csla replay`` reads: the README's command on a real broker.

``csla produce --input X.ndjson.gz`` (and stdin with JSON arrays) in a subprocess; the topic
is read back with confluent-kafka, another client than the engine's aiokafka.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError

REPO = Path(__file__).resolve().parents[2]
GOLDEN_INPUT = REPO / "tests" / "golden" / "storage-day" / "input.ndjson.gz"


def _input_lines() -> list[bytes]:
    with gzip.open(GOLDEN_INPUT) as handle:
        return [ln for ln in handle.read().split(b"\n") if ln]


def _csla(env: dict[str, str], *args: str, stdin: bytes | None = None) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "engine", *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, **env},
        cwd=REPO,  # rules/ for the replay
        timeout=120,
    )
    return proc.returncode, (proc.stdout + proc.stderr).decode()


def _read_topic(bootstrap: str, topic: str, messages: int) -> list[tuple[bytes | None, bytes]]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{topic}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    got: list[tuple[bytes | None, bytes]] = []
    try:
        for _ in range(600):
            for msg in consumer.consume(num_messages=1000, timeout=0.2):
                if msg.error() is None:
                    got.append((msg.key(), msg.value()))
                elif msg.error().code() != KafkaError._PARTITION_EOF:
                    raise AssertionError(msg.error())
            if len(got) >= messages:
                break
        return got
    finally:
        consumer.close()


def _sent_count(output: str) -> tuple[int, int]:
    """(events sent, messages) from ``N events sent to T in M messages …``."""
    line = next(ln for ln in output.splitlines() if " events sent to " in ln)
    words = line.replace(",", "").split()
    return int(words[0]), int(words[words.index("in") + 1])


def _lines(values: list[tuple[bytes | None, bytes]]) -> list[bytes]:
    """The lines of the messages; an event's message is keyed by its contract."""
    lines = []
    for key, value in values:
        for line in value.split(b"\n"):
            try:
                cid = orjson.loads(line).get("contract_id")
            except (orjson.JSONDecodeError, AttributeError):
                cid = None  # a malformed line of the input: the worker dead-letters it
            if isinstance(cid, str):
                assert key == cid.encode()
            lines.append(line)
    return lines


def _contract(line: bytes) -> str | None:
    try:
        cid = orjson.loads(line).get("contract_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return cid if isinstance(cid, str) else None


def test_produce_gzip_sends_every_line_the_replay_reads(
    csla_env: dict[str, str], kafka_broker: Any, tmp_path: Path
) -> None:
    rc, out = _csla(
        {}, "replay", "--input", str(GOLDEN_INPUT), "--out", str(tmp_path / "o"), "--quiet"
    )
    assert rc == 0, out
    lines_in = orjson.loads((tmp_path / "o" / "manifest.json").read_bytes())["books"]["lines_in"]
    expected = _input_lines()
    assert lines_in == len(expected) > 1000

    rc, out = _csla(csla_env, "produce", "--input", str(GOLDEN_INPUT), "--batch", "100")
    assert rc == 0, out
    sent, messages = _sent_count(out)
    assert sent == lines_in
    got = _lines(_read_topic(kafka_broker.bootstrap, csla_env["CSLA_TOPIC_TELEMETRY"], messages))
    assert len(got) == sent
    assert Counter(got) == Counter(expected)
    for cid in {_contract(ln) for ln in expected}:  # each contract's lines in input order
        assert [ln for ln in got if _contract(ln) == cid] == [
            ln for ln in expected if _contract(ln) == cid
        ]


def test_produce_stdin_with_json_arrays(csla_env: dict[str, str], kafka_broker: Any) -> None:
    lines = _input_lines()[:30]
    events = [orjson.loads(ln) for ln in lines]
    data = b"\n".join(
        [
            orjson.dumps(events[:10]),  # one array of ten events
            b"",  # a blank line: no event
            *lines[10:20],
            orjson.dumps(events[20:30]),
        ]
    )
    rc, out = _csla(csla_env, "produce", "--input", "-", "--quiet", stdin=data)
    assert rc == 0, out
    sent, messages = _sent_count(out)
    assert sent == 30
    got = _lines(_read_topic(kafka_broker.bootstrap, csla_env["CSLA_TOPIC_TELEMETRY"], messages))
    assert sorted(orjson.loads(ln)["event_id"] for ln in got) == sorted(
        e["event_id"] for e in events
    )
