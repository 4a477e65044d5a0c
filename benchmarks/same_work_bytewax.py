"""The Bytewax side of ``same_work.py``: run by a Python with ``bytewax==0.21.1`` and ``orjson``
(a separate venv; Bytewax is no project dependency), never imported by the engine.

    python same_work_bytewax.py INPUT.ndjson OUTPUT.csv

FileSource → orjson per line → keyed by contract → ``fold_window`` on an event clock with 5
minutes' grace, tumbling 1-minute windows → per contract and minute one CSV line:
``contract_id,window_start_ms,probes,probes_ok,requests,p99_ms`` (p99 nearest-rank, exact).
"""

from __future__ import annotations

import math
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import bytewax.operators as op
import bytewax.operators.windowing as win
import orjson
from bytewax.connectors.files import FileSink, FileSource
from bytewax.dataflow import Dataflow
from bytewax.operators.windowing import EventClock, TumblingWindower
from bytewax.testing import run_main

ALIGN = datetime(2026, 1, 1, tzinfo=timezone.utc)  # noqa: UP017 (runs on any Python)
ALIGN_MS = int(ALIGN.timestamp() * 1000)
MINUTE = timedelta(minutes=1)

Sample = tuple[datetime, bool, bool, float]


def parse(line: str) -> tuple[str, Sample] | None:
    event = orjson.loads(line)
    kind = event.get("kind")
    if kind != "probe" and kind != "request":
        return None
    at = datetime.fromisoformat(event["event_time"]).astimezone(timezone.utc)  # noqa: UP017
    return event["contract_id"], (at, kind == "probe", event["ok"], event["latency_ms"])


def build() -> list[Any]:
    return [0, 0, 0, []]  # probes, ok probes, requests, request latencies


def fold(acc: list[Any], sample: Sample) -> list[Any]:
    _, is_probe, ok, latency_ms = sample
    if is_probe:
        acc[0] += 1
        acc[1] += ok
    else:
        acc[2] += 1
        acc[3].append(latency_ms)
    return acc


def merge(a: list[Any], b: list[Any]) -> list[Any]:
    return [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]]


def line(item: tuple[str, tuple[int, list[Any]]]) -> tuple[str, str]:
    cid, (window_id, (probes, ok, requests, latencies)) = item
    p99 = ""
    if latencies:
        latencies.sort()
        p99 = repr(latencies[max(1, math.ceil(0.99 * len(latencies))) - 1])
    start_ms = ALIGN_MS + window_id * 60_000
    return cid, f"{cid},{start_ms},{probes},{ok},{requests},{p99}"


def flow(source: str, target: str) -> Dataflow:
    df = Dataflow("same_work")
    lines = op.input("in", df, FileSource(source))
    samples = op.filter_map("parse", lines, parse)
    clock = EventClock(lambda s: s[0], wait_for_system_duration=timedelta(minutes=5))
    windows = win.fold_window(
        "minute", samples, clock, TumblingWindower(MINUTE, ALIGN), build, fold, merge
    )
    op.output("out", op.map("line", windows.down, line), FileSink(target))
    return df


if __name__ == "__main__":
    run_main(flow(sys.argv[1], sys.argv[2]))
