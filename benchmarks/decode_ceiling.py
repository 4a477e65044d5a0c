"""What JSON decoding alone costs on one core: the ceiling of any replay built on it.

The replay target of the core issue is 1,000,000 events/s end to end on one core.  This
measures, on the benchmark's own telemetry (simulated, ~340-byte NDJSON lines, the malformed
lines removed so every parser sees valid JSON), how fast the decoders the product is built on
turn bytes into values, with nothing else done:

* ``orjson.loads`` per line (Python dicts; no typing, no validation, no columns);
* ``polars.read_ndjson`` straight into the engine's typed schema (the core's fast path);
* ``polars.read_ndjson`` into text columns (the core's reference path);
* the core's whole ``decode`` (parse, type, validate).

    python benchmarks/decode_ceiling.py                    # 1M lines, one core
    python benchmarks/decode_ceiling.py --events 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import orjson, polars as pl
from engine.core.decode import RAW_SCHEMA, TEXT_SCHEMA, decode

path, rounds = sys.argv[1], int(sys.argv[2])
lines = []
for line in open(path, "rb").read().split(b"\n"):
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        continue
    if isinstance(value, dict):
        lines.append(line)
data = b"\n".join(lines)

def best(f):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        f()
        times.append(time.perf_counter() - started)
    return round(len(lines) / min(times))

def typed():
    try:
        pl.read_ndjson(data, schema=RAW_SCHEMA)
    except pl.exceptions.PolarsError:  # a wrongly typed value somewhere: skip it as the core does
        pl.read_ndjson(data, schema=RAW_SCHEMA, ignore_errors=True)

print(json.dumps({
    "lines": len(lines),
    "mib": round(len(data) / 2**20, 1),
    "orjson_loads_per_line": best(lambda: [orjson.loads(x) for x in lines]),
    "polars_read_ndjson_typed": best(typed),
    "polars_read_ndjson_text": best(lambda: pl.read_ndjson(data, schema=TEXT_SCHEMA)),
    "core_decode": best(lambda: [decode(lines[i:i + 100_000], str) for i in range(0, len(lines), 100_000)]),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from replay_bench import generate

    with tempfile.TemporaryDirectory(prefix="csla-decode-") as tmp:
        work = Path(tmp)
        generate(work / "rules", work / "telemetry.ndjson", args.events, 1000, 11)
        env = {**os.environ, "POLARS_MAX_THREADS": "1"}
        cmd = [sys.executable, "-c", CHILD, str(work / "telemetry.ndjson"), str(args.rounds)]
        done = subprocess.run(
            ["taskset", "-c", "0", *cmd], env=env, check=True, capture_output=True, text=True
        )
    report = {"one_core": True, "events_per_s": json.loads(done.stdout), "target": 1_000_000}
    print(json.dumps(report, indent=2))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "decode_ceiling.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
