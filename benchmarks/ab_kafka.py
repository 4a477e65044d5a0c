"""Worker A/B: ``kafka_bench.py`` of this tree against a baseline commit, alternating, one run.

Each side runs its own ``benchmarks/kafka_bench.py`` (its own broker, its own simulated
telemetry of its bundled rules, its own ``csla worker``) with the same sizes; the sides
alternate — baseline, current, baseline, current … — so the machine's drift hits both alike.
Reported: the worker's events/s on single-event and on batched messages (wall clock from its
first event until every offset is committed), per run and the medians.

    python benchmarks/ab_kafka.py --baseline 210232f --pairs 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from worktree import baseline_tree

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("single", "batched")


def bench(tree: Path, out: Path, args: argparse.Namespace) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(tree / "benchmarks" / "kafka_bench.py"),
           "--events", str(args.events), "--batched-events", str(args.batched_events),
           "--naive-seconds", "1", "--cycles", "2", "--core-events", "50000",
           "--quiet-load", "99", "--out", str(out)]  # fmt: skip
    subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True)
    worker = json.loads(out.read_text())["worker"]
    return {label: int(worker[label]["events_per_s"]) for label in LABELS}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="Commit to compare against.")
    parser.add_argument("--events", type=int, default=300_000, help="Single-event messages.")
    parser.add_argument("--batched-events", type=int, default=600_000)
    parser.add_argument("--pairs", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, int]]] = {"baseline": [], "current": []}
    with (
        tempfile.TemporaryDirectory(prefix="csla-abk-") as tmp,
        baseline_tree(args.baseline) as base,
    ):
        for i in range(args.pairs):
            for name, tree in (("baseline", base), ("current", ROOT)):
                got = bench(tree, Path(tmp) / f"{name}-{i}.json", args)
                runs[name].append(got)
                print(f"{name}: {got}", file=sys.stderr)
    median = {
        name: {label: statistics.median(r[label] for r in rs) for label in LABELS}
        for name, rs in runs.items()
    }
    summary = {
        "baseline": args.baseline,
        "events": {"single": args.events, "batched": args.batched_events},
        "events_per_s": runs,
        "median_events_per_s": median,
        "current_vs_baseline": {
            label: round(median["current"][label] / median["baseline"][label], 3)
            for label in LABELS
        },
    }
    print(json.dumps(summary, indent=2))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "ab_kafka.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
