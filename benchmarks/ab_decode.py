"""Decode A/B: this tree against a baseline commit, on clean and dirty input, alternating.

What issue 12 §1 asks of decode: a dirty chunk (one wrongly typed value, one cut-off line)
costs about what a clean one does, and both cost less. The input is the replay benchmark's
(``replay_bench.generate``: the bundled contracts cloned, a simulated Monday, the simulator's
malformed lines in it); the clean copy leaves out those lines (``-malformed-`` event ids).
Each child reads the file in replay's chunks and decodes them (``files.read_chunks`` +
``decode.decode``, nothing else), pinned to one core (``taskset -c 0``,
``POLARS_MAX_THREADS=1``), and reports its own CPU seconds for that loop; baseline and
current alternate, so the machine's drift hits both sides alike.

    python benchmarks/ab_decode.py --baseline main --events 1000000 --contracts 1000 --pairs 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from worktree import baseline_tree

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys, time
from engine.adapters.files import read_chunks
from engine.core.decode import decode

started = time.process_time()
events = dead = 0
with open(sys.argv[1], "rb") as stream:
    for lines, origin, block in read_chunks(stream, sys.argv[1]):
        decoded = decode(lines, origin, block)
        events, dead = events + decoded.events.height, dead + len(decoded.dead)
print(time.process_time() - started, events, dead)
"""


def run(tree: Path, path: Path) -> tuple[float, int, int]:
    """CPU seconds of one read-and-decode of ``path`` by ``tree``, its events and dead letters."""
    env = {**os.environ, "PYTHONPATH": str(tree), "POLARS_MAX_THREADS": "1"}
    cmd = [sys.executable, "-c", CHILD, str(path)]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True, text=True)
    seconds, events, dead = out.stdout.split()
    return float(seconds), int(events), int(dead)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", required=True, help="Commit to compare against.")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contracts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--pairs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from replay_bench import generate

    with (
        tempfile.TemporaryDirectory(prefix="csla-ab-decode-") as tmp,
        baseline_tree(args.baseline) as base_tree,
    ):
        work = Path(tmp)
        generate(work / "rules", work / "dirty.ndjson", args.events, args.contracts, args.seed)
        with (work / "dirty.ndjson").open("rb") as dirty, (work / "clean.ndjson").open("wb") as out:
            out.writelines(line for line in dirty if b"-malformed-" not in line)
        sides = {"baseline": base_tree, "current": ROOT}
        cpu: dict[str, dict[str, list[float]]] = {
            name: {"clean": [], "dirty": []} for name in sides
        }
        books: dict[str, dict[str, tuple[int, int]]] = {name: {} for name in sides}
        for _ in range(args.pairs):
            for kind in ("clean", "dirty"):
                for name, tree in sides.items():
                    seconds, events, dead = run(tree, work / f"{kind}.ndjson")
                    cpu[name][kind].append(round(seconds, 2))
                    books[name][kind] = (events, dead)
                    print(f"{name} {kind}: {seconds:.2f} CPU s", file=sys.stderr)
    if books["baseline"] != books["current"]:
        raise SystemExit(f"the sides decode differently: {books}")
    median = {name: {k: statistics.median(v) for k, v in d.items()} for name, d in cpu.items()}
    summary = {
        "baseline": args.baseline,
        "events": args.events,
        "contracts": args.contracts,
        "events_and_dead_letters": books["current"],
        "cpu_seconds": cpu,
        "median_cpu_seconds": median,
        "current_vs_baseline": {
            kind: round(median["current"][kind] / median["baseline"][kind], 3)
            for kind in ("clean", "dirty")
        },
        "dirty_vs_clean": {
            name: round(median[name]["dirty"] / median[name]["clean"], 3) for name in sides
        },
    }
    print(json.dumps(summary, indent=2))
    results = ROOT / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "ab_decode.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
