"""Replay A/B: this tree against a baseline commit, alternating, in CPU seconds, one run.

Each tree generates its own input with its own ``benchmarks/replay_bench.py`` generator (the
same seed, contracts and event count: the bundled contracts cloned, their simulated Monday;
the trees may differ in their rule files), then the two replays alternate — baseline,
current, baseline, current … — each a child ``csla replay`` pinned to one core
(``taskset -c 0``, ``POLARS_MAX_THREADS=1``), timed in CPU seconds of the child (user + sys),
so the machine's drift hits both sides alike.

    python benchmarks/ab_replay.py --baseline 210232f --events 1000000 --contracts 100 --pairs 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from worktree import baseline_tree

ROOT = Path(__file__).resolve().parents[1]


def generate(tree: Path, work: Path, events: int, contracts: int, seed: int) -> None:
    code = (
        "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1] + '/benchmarks');"
        "from replay_bench import generate;"
        "generate(Path(sys.argv[2]) / 'rules', Path(sys.argv[2]) / 'in.ndjson',"
        " int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    args = [str(tree), str(work), str(events), str(contracts), str(seed)]
    subprocess.run([sys.executable, "-c", code, *args], cwd=tree, env=env, check=True)


def replay(tree: Path, work: Path) -> tuple[float, float]:
    """(CPU seconds, peak RSS MiB is not separable per child here: wall seconds)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "POLARS_MAX_THREADS": "1"}
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "engine", "replay", "--input", str(work / "in.ndjson"),
           "--rules", str(work / "rules"), "--out", str(out), "--quiet"]  # fmt: skip
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, cwd=tree, env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, after.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="Commit to compare against.")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contracts", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="csla-ab-") as tmp,
        baseline_tree(args.baseline) as base_tree,
    ):
        sides = {"baseline": base_tree, "current": ROOT}
        works = {name: Path(tmp) / f"work-{name}" for name in sides}
        for name, tree in sides.items():
            works[name].mkdir()
            generate(tree, works[name], args.events, args.contracts, args.seed)
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(args.pairs):
            for name, tree in sides.items():
                seconds, _ = replay(tree, works[name])
                cpu[name].append(round(seconds, 2))
                print(f"{name}: {seconds:.2f} CPU s", file=sys.stderr)
    median = {name: statistics.median(values) for name, values in cpu.items()}
    least = {name: min(values) for name, values in cpu.items()}
    rate = {name: round(args.events / seconds) for name, seconds in median.items()}
    summary = {
        "baseline": args.baseline,
        "events": args.events,
        "contracts": args.contracts,
        "cpu_seconds": cpu,
        "median_cpu_seconds": median,
        "events_per_cpu_second": rate,
        "current_vs_baseline_cpu": round(median["current"] / median["baseline"], 3),
        "min_cpu_seconds": least,
        "current_vs_baseline_min_cpu": round(least["current"] / least["baseline"], 3),
    }
    print(json.dumps(summary, indent=2))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "ab_replay.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
