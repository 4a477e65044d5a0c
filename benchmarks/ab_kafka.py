"""Worker A/B: ``kafka_bench.py`` of this tree against a baseline commit, alternating, one run.

Each side runs its own ``benchmarks/kafka_bench.py`` (its own broker, its own simulated
telemetry of its bundled rules, its own ``csla worker``) with the same sizes; the sides
alternate — baseline, current, baseline, current … — so the machine's drift hits both alike.
Reported: the worker's events/s on single-event and on batched messages (wall clock from its
first event until every offset is committed), per run and the medians.

    python benchmarks/ab_kafka.py --baseline 210232f --pairs 2
    python benchmarks/ab_kafka.py --baseline main --pairs 1 --keyed
    python benchmarks/ab_kafka.py --baseline HEAD --current-batch-wait 0.05  # a setting

``--keyed``: the current side also runs its worker with ``CSLA_INPUT_KEYED_BY_CONTRACT=true``
(``single-keyed``, ``batched-keyed``, compared with the baseline's re-keying worker); its
telemetry is then partitioned by murmur2 (Kafka's default) instead of librdkafka's CRC32.
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
KEYED = {"single-keyed": "single", "batched-keyed": "batched"}  # → the baseline's label


def bench(tree: Path, out: Path, args: argparse.Namespace, keyed: bool) -> dict[str, int]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(tree / "benchmarks" / "kafka_bench.py"),
           "--events", str(args.events), "--batched-events", str(args.batched_events),
           "--naive-seconds", "1", "--cycles", "2", "--core-events", "50000",
           "--quiet-load", "99", "--out", str(out)]  # fmt: skip
    wait = args.current_batch_wait if tree == ROOT and args.current_batch_wait else args.batch_wait
    if wait is not None:
        cmd += ["--single-batch-wait", str(wait), "--batched-batch-wait", str(wait)]
    if args.keyed:  # (both sides: the time goes to the runs compared)
        cmd += ["--skip", "naive", "batched-2"]
    if keyed:
        cmd.append("--keyed")
    subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True)
    worker = json.loads(out.read_text())["worker"]
    labels = [*LABELS, *KEYED] if keyed else LABELS
    return {label: int(worker[label]["events_per_s"]) for label in labels}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="Commit to compare against.")
    parser.add_argument("--events", type=int, default=300_000, help="Single-event messages.")
    parser.add_argument("--batched-events", type=int, default=600_000)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--keyed", action="store_true", help="Current side: keyed runs too.")
    parser.add_argument(
        "--batch-wait", type=float, help="CSLA_BATCH_WAIT_SECONDS of both sides' runs "
        "(default: kafka_bench.py's, 0.2 s)."
    )  # fmt: skip
    parser.add_argument(
        "--current-batch-wait", type=float, help="The current side's, if not --batch-wait: "
        "one setting against another (--baseline HEAD) or both changes at once."
    )  # fmt: skip
    args = parser.parse_args()
    runs: dict[str, list[dict[str, int]]] = {"baseline": [], "current": []}
    with (
        tempfile.TemporaryDirectory(prefix="csla-abk-") as tmp,
        baseline_tree(args.baseline) as base,
    ):
        for i in range(args.pairs):
            for name, tree in (("baseline", base), ("current", ROOT)):
                got = bench(tree, Path(tmp) / f"{name}-{i}.json", args, args.keyed and tree == ROOT)
                runs[name].append(got)
                print(f"{name}: {got}", file=sys.stderr)
    median = {
        name: {label: statistics.median(r[label] for r in rs) for label in rs[0]}
        for name, rs in runs.items()
    }
    summary = {
        "baseline": args.baseline,
        "batch_wait_s": {
            "baseline": args.batch_wait,
            "current": args.current_batch_wait or args.batch_wait,
        },
        "events": {"single": args.events, "batched": args.batched_events},
        "events_per_s": runs,
        "median_events_per_s": median,
        "current_vs_baseline": {
            label: round(median["current"][label] / median["baseline"][KEYED.get(label, label)], 3)
            for label in median["current"]
        },
    }
    print(json.dumps(summary, indent=2))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "ab_kafka.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
