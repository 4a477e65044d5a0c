"""Replay benchmark of this tree against a baseline commit, in one run (issue: assessment).

Checks the rule "the core's benchmark figures do not regress by more than 10 % with the full
Annex A catalogue enabled": the baseline (default ``f930d3b``, the engine before the
catalogue, burn-rate warnings, scorecards and period metering) runs its own
``benchmarks/replay_bench.py`` from a temporary ``git worktree`` on its own bundled rules, then
this tree runs the same benchmark on its rules (gpu-train-001 with 14 objectives, warnings and
scorecards on every contract), same event count, contracts and seed, one after the other,
each in a child process pinned to one core.

    python benchmarks/baseline_compare.py                    # 10M events, 1,000 contracts
    python benchmarks/baseline_compare.py --events 2000000 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from worktree import baseline_tree

ROOT = Path(__file__).resolve().parents[1]


def bench(tree: Path, events: int, contracts: int) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(tree / "benchmarks" / "replay_bench.py"), "--events", str(events),
           "--contracts", str(contracts)]  # fmt: skip
    done = subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True, text=True)
    report: dict[str, object] = json.loads(done.stdout[done.stdout.index("{") :])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default="f930d3b")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--contracts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1, help="Alternate baseline/current runs.")
    args = parser.parse_args()
    with baseline_tree(args.baseline) as tree:
        runs: dict[str, list[dict[str, object]]] = {"baseline": [], "current": []}
        for _ in range(args.rounds):
            runs["baseline"].append(bench(tree, args.events, args.contracts))
            runs["current"].append(bench(ROOT, args.events, args.contracts))
    best = {k: max(int(str(r["events_per_s"])) for r in v) for k, v in runs.items()}
    rss = {k: max(int(str(r["peak_rss_mib"])) for r in v) for k, v in runs.items()}
    summary = {
        "baseline": args.baseline,
        "events": args.events,
        "contracts": args.contracts,
        "events_per_s": best,
        "peak_rss_mib": rss,
        "current_vs_baseline": round(best["current"] / best["baseline"], 3),
        "runs": runs,
    }
    print(json.dumps(summary, indent=2))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "baseline_compare.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
