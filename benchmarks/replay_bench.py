"""Replay benchmark (issue: core): N simulated events over M contracts, end to end.

Generates telemetry for M contracts cloned from the bundled examples (not timed), then times
``csla replay`` on it in a child process pinned to one core (``taskset -c 0`` and
``POLARS_MAX_THREADS=1``): decode, validate, aggregate, evaluate and write the outputs.
Reports events/s and the child's peak RSS.

    python benchmarks/replay_bench.py                       # 10M events, 1,000 contracts
    python benchmarks/replay_bench.py --events 1000000      # a quicker look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START = "2026-10-12T00:00:00+08:00"


def generate(rules_dir: Path, target: Path, events: int, contracts: int, seed: int) -> int:
    """Clone the bundled rules to ``contracts`` files and write the first ``events`` lines."""
    from engine.core.calendar import parse_instant
    from engine.dev.clone import clone_ruleset_files
    from engine.ruleset import load_rules_dir
    from engine.simulate import simulate

    clone_ruleset_files(ROOT / "rules", rules_dir, contracts)
    ruleset = load_rules_dir(rules_dir).ruleset
    start = parse_instant(START)  # a Monday: the 5x8 API has business hours
    lines = simulate(ruleset, start_ms=start, days=3, seed=seed, request_rate_per_min=20.0)
    written = 0
    with open(target, "wb") as handle:
        batch: list[bytes] = []
        for line in lines:
            batch.append(line)
            if len(batch) == 100_000 or written + len(batch) == events:
                handle.write(b"\n".join(batch) + b"\n")
                written += len(batch)
                batch.clear()
                if written >= events:
                    break
        if batch:
            handle.write(b"\n".join(batch) + b"\n")
            written += len(batch)
    print(
        f"generated {written:,} events for {len(ruleset.contract_ids)} contracts", file=sys.stderr
    )
    return written


def run_replay(rules_dir: Path, source: Path, out_dir: Path, one_core: bool) -> dict[str, float]:
    env = {**os.environ, "POLARS_MAX_THREADS": "1"} if one_core else dict(os.environ)
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "replay",
        "--input",
        str(source),
        "--rules",
        str(rules_dir),
        "--out",
        str(out_dir),
        "--quiet",
    ]
    if one_core and shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": elapsed,
        "peak_rss_mib": after.ru_maxrss / 1024,
        "cpu_seconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--contracts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--all-cores", action="store_true", help="Do not pin to one core.")
    parser.add_argument("--keep", type=Path, help="Keep the generated input and outputs here.")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="csla-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rules_dir, source, out_dir = work / "rules", work / "telemetry.ndjson", work / "out"
    if rules_dir.exists():
        shutil.rmtree(rules_dir)
    events = generate(rules_dir, source, args.events, args.contracts, args.seed)
    result = run_replay(rules_dir, source, out_dir, one_core=not args.all_cores)
    counts = {p.name: sum(1 for _ in p.open("rb")) for p in sorted(out_dir.glob("*.jsonl"))}
    report = {
        "events": events,
        "contracts": args.contracts,
        "input_mib": round(source.stat().st_size / 2**20, 1),
        "one_core": not args.all_cores,
        "seconds": round(result["seconds"], 2),
        "events_per_s": round(events / result["seconds"]),
        "peak_rss_mib": round(result["peak_rss_mib"]),
        "outputs": counts,
    }
    print(json.dumps(report, indent=2))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "replay.json").write_text(json.dumps(report, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
