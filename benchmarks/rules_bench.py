"""Rule loading in ms of CPU per file: cold (parsed), fill (parsed, cache written) and warm
(from the parse cache), optionally against a baseline commit, alternating, in one run.

The rule sets are the bundled ``rules/`` (3 files) and clones of them made with this tree's
``csla dev clone-rules`` (``--copies``, e.g. 100 and 1000). Each measurement is a child
process pinned to one core (``taskset -c 0``) that imports the engine, loads the bundled
rules once (imports and the scoring table warm, as in a running worker or a second load),
then times ``load_rules_dir`` in CPU seconds of that process (``time.process_time``):

- cold: no cache, every file parsed (the figure of the baseline too);
- fill: a new, empty cache directory (parse, then write each entry);
- warm: the cache that fill wrote (no YAML parsed; validation and checks still run).

Rounds alternate baseline, current, baseline, current … so drift hits both alike; the
figure is the median over rounds (and over ``--repeats`` loads inside a child for cold and
warm).

    python benchmarks/rules_bench.py --copies 10 100 1000 --rounds 3 --baseline aeb2a1f
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
from contextlib import ExitStack
from pathlib import Path

from worktree import baseline_tree

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, sys, tempfile, time
from pathlib import Path
from engine.ruleset import load_rules_dir
rules, bundled, repeats, with_cache = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
load_rules_dir(bundled)
def timed(**kw):
    start = time.process_time()
    report = load_rules_dir(rules, **kw)
    return (time.process_time() - start) * 1000 / len(report.files), len(report.files)
out = {"cold": [timed()[0] for _ in range(repeats)]}
if with_cache == "1":
    from engine.ruleset import ParseCache
    with tempfile.TemporaryDirectory() as where:
        cache = ParseCache(where)
        out["fill"] = [timed(cache=cache)[0]]
        out["warm"] = [timed(cache=cache)[0] for _ in range(repeats)]
print(json.dumps({"files": timed()[1], "times": out}))
"""


def measure(
    tree: Path, rules: Path, repeats: int, with_cache: bool
) -> tuple[int, dict[str, list[float]]]:
    """(files loaded, ms per file of each load by mode) from one child process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # every tree warms up on the same bundled files (the timed "bundled" set is this tree's):
    # the scoring caches are keyed by path, so another path would leave the first load cold
    cmd = [sys.executable, "-c", _CHILD, str(rules), str(ROOT / "rules"), str(repeats),
           "1" if with_cache else "0"]  # fmt: skip
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", "0", *cmd]
    done = subprocess.run(cmd, cwd=tree, env=env, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout)
    return int(result["files"]), result["times"]


def clones(work: Path, copies: int) -> Path:
    where = work / f"clones-{copies}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "engine", "dev", "clone-rules", str(ROOT / "rules"), str(where),
           "--copies", str(copies)]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3, help="loads per child (cold, warm)")
    parser.add_argument("--baseline", help="a commit to compare with (cold only)")
    args = parser.parse_args()
    started = os.getloadavg()
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="csla-rules-")))
        sets = [
            ("bundled", ROOT / "rules"),
            *((f"{n} clones", clones(work, n)) for n in args.copies),
        ]
        trees = [("current", ROOT, True)]
        if args.baseline:
            base = stack.enter_context(baseline_tree(args.baseline))
            trees.insert(0, (f"baseline {args.baseline}", base, False))
        figures: dict[tuple[str, str, str], list[float]] = {}
        files: dict[str, int] = {}
        for _ in range(args.rounds):
            for name, rules in sets:
                for label, tree, with_cache in trees:
                    files[name], got = measure(tree, rules, args.repeats, with_cache)
                    for mode, values in got.items():
                        figures.setdefault((name, label, mode), []).extend(values)
    print(
        f"rule loading, ms of CPU per file (median; {args.rounds} rounds, pinned to one core;"
        f" load average {started[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end)"
    )
    for name, _ in sets:
        row = [f"{name} ({files[name]} files)"]
        for label, _, with_cache in trees:
            for mode in ("cold", "fill", "warm") if with_cache else ("cold",):
                row.append(f"{label} {mode} {statistics.median(figures[(name, label, mode)]):.2f}")
        if args.baseline:  # cold against cold, the medians of the same rounds
            base = statistics.median(figures[(name, trees[0][0], "cold")])
            row.append(
                f"cold ratio {statistics.median(figures[(name, 'current', 'cold')]) / base:.2f}"
            )
        print(f"  {row[0]}: " + ", ".join(row[1:]))


if __name__ == "__main__":
    main()
