"""Same-work comparison (issue 12): ``csla replay`` against polars alone (and Bytewax 0.21.1 when
installed) on one job: per contract and minute, probe availability and p99 request latency.

The workload is one rule file (``benchmarks/same_work_rules/``: a 1-minute probe availability and
a 1-minute p99 request latency objective, 7x24, no early warnings) cloned to N contracts, and one
NDJSON file of probes and requests (written here, not timed: one probe per contract and minute,
~20 requests per contract and minute, short outages and latency spikes) that every tool reads.

- csla: ``python -m engine replay`` of the file with the cloned rules (all of it: rule loading,
  decode, admission, evaluation, outputs).
- polars: ``pl.read_ndjson`` of the five columns the job needs, then ``group_by_dynamic`` per
  contract and minute: probe count, ok ratio, request count and p99 latency (``quantile``).
- Bytewax 0.21.1 (``benchmarks/same_work_bytewax.py``, run by ``--bytewax-python``): FileSource,
  ``fold_window`` on an event clock with 5 minutes' grace, the same per-minute figures.

Each run is a child process pinned to one core (``taskset -c 0``, ``POLARS_MAX_THREADS=1``) and
timed in its CPU seconds (user + system). The tools alternate within each round; figures are
medians over the rounds. After the timed runs the per-minute results are compared: sample
counts and availability exactly, p99 as the largest relative difference (the engine reports a
log-bucket representative, within 0.5 % of the exact nearest-rank value; see the README).

``--floors`` adds, to the same alternation, what csla cannot skip, done by polars alone: every
field of every line read typed with ``event_time`` parsed (``floor:read``), that plus each event
counted once after a replay's start-up imports (``floor:dedup``), the start-up alone
(``floor:start``); and prints how much CPU is left for everything else (checks, lateness, the
windows, the records) if csla is to run at 50 % of polars.

    python benchmarks/same_work.py                          # 10, 100, 1,000 contracts, 1M events
    python benchmarks/same_work.py --sizes 100 --events 200000 --rounds 1 --out same_work.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "benchmarks" / "same_work_rules"
BYTEWAX_FLOW = ROOT / "benchmarks" / "same_work_bytewax.py"
DEFAULT_BYTEWAX_PYTHON = "/tmp/bytewax-venv/bin/python"
START_MS = 1_791_763_200_000  # 2026-10-12T00:00:00Z
MINUTE_MS = 60_000
REQUESTS_PER_MIN = 20
PROVIDER = "bench-provider"  # parties.provider.id of the rule file
COLUMNS = ("contract_id", "kind", "event_time", "ok", "latency_ms")


# --- the workload (not timed) ------------------------------------------------------------------


def generate(rules_dir: Path, target: Path, contracts: int, events: int, seed: int) -> int:
    """Clone the rule file to ``contracts`` files; write about ``events`` lines of probes and
    requests in event-time order (whole minutes). Returns the number of lines."""
    from engine.dev.clone import clone_ruleset_files

    files = clone_ruleset_files(RULES, rules_dir, contracts)
    cids = [p.stem for p in files]
    minutes = max(1, math.ceil(events / (contracts * (1 + REQUESTS_PER_MIN))))
    rng = random.Random(seed)
    down_until = dict.fromkeys(cids, -1)  # minute index an outage lasts to (exclusive)
    spike_until = dict.fromkeys(cids, -1)
    written = 0
    with open(target, "w", encoding="ascii") as handle:
        for i in range(minutes):
            m = START_MS + i * MINUTE_MS
            head = datetime.fromtimestamp(m / 1000, UTC).strftime("%Y-%m-%dT%H:%M:")
            rows: list[tuple[int, str]] = []
            for c, cid in enumerate(cids):
                if rng.random() < 0.002:
                    down_until[cid] = i + rng.randint(1, 5)
                if rng.random() < 0.01:
                    spike_until[cid] = i + rng.randint(1, 3)
                down, spike = i < down_until[cid], i < spike_until[cid]
                base = (
                    f'{{"schema_version":1,"provider_id":"{PROVIDER}","contract_id":"{cid}",'
                    f'"resource_id":"{cid}/endpoint/api","source":"platform",'
                )
                at = (7 + 17 * c) % 60 * 1000
                ok = "false" if down or rng.random() < 0.001 else "true"
                rows.append(
                    (
                        at,
                        f'{base}"kind":"probe","event_id":"{cid}-p{i}","event_time":'
                        f'"{head}{at // 1000:02d}.000Z","ok":{ok},'
                        f'"latency_ms":{rng.uniform(5, 40):.1f}}}',
                    )
                )
                for j in range(rng.randint(REQUESTS_PER_MIN - 5, REQUESTS_PER_MIN + 5)):
                    at = rng.randrange(MINUTE_MS)
                    latency = rng.lognormvariate(math.log(150.0), 0.5) * (4.0 if spike else 1.0)
                    failed = down or rng.random() < 0.002
                    status = (503 if down else 500) if failed else 200
                    if down:
                        latency = 30_000.0  # a gateway timeout
                    rows.append(
                        (
                            at,
                            f'{base}"kind":"request","event_id":"{cid}-r{i}-{j}","event_time":'
                            f'"{head}{at // 1000:02d}.{at % 1000:03d}Z",'
                            f'"ok":{"false" if failed else "true"},"latency_ms":{latency:.1f},'
                            f'"status":{status}}}',
                        )
                    )
            rows.sort(key=lambda row: row[0])
            handle.write("".join(f"{line}\n" for _, line in rows))
            written += len(rows)
    return written


# --- the polars job (timed, in a child process) ------------------------------------------------


def polars_job(source: Path, out: Path) -> None:
    """Per contract and minute: probes, ok probes, availability ratio, requests, p99 latency."""
    import polars as pl

    schema = {
        "contract_id": pl.String,
        "kind": pl.String,
        "event_time": pl.String,
        "ok": pl.Boolean,
        "latency_ms": pl.Float64,
    }
    frame = pl.read_ndjson(source, schema=schema).with_columns(
        t=pl.col("event_time").str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms", time_zone="UTC"
        )
    )
    probe, request = pl.col("kind") == "probe", pl.col("kind") == "request"
    result = frame.group_by_dynamic("t", every="1m", group_by="contract_id").agg(
        probes=probe.sum(),
        probes_ok=(probe & pl.col("ok")).sum(),
        availability=pl.col("ok").filter(probe).mean(),
        requests=request.sum(),
        p99_ms=pl.col("latency_ms").filter(request).quantile(0.99, interpolation="nearest"),
    )
    result.write_parquet(out)


#: the wire types (``engine.core.wire.RAW_SCHEMA``) of the fields the workload's lines hold:
#: what any decode that checks every field must read (written out: the child imports no engine)
WORKLOAD_FIELDS = {
    "schema_version": "Int64", "provider_id": "String", "contract_id": "String",
    "resource_id": "String", "source": "String", "kind": "String", "event_id": "String",
    "event_time": "String", "ok": "Boolean", "latency_ms": "Float64", "status": "String",
}  # fmt: skip


def floor_job(step: str, source: Path, out: Path) -> None:
    """A floor of what ``csla replay`` must do before it evaluates anything, done by polars
    alone: ``read``: every field of every line read typed (a malformed value in any field is a
    dead letter, so none can be skipped) and ``event_time`` parsed; ``dedup``: that, and each
    (contract, provider, source, event_id) counted once, in a process that first imports what a
    replay imports (its start-up). No check, no lateness, no window."""
    if step == "dedup":
        import engine.adapters.files
        import engine.cli.run
        import engine.ruleset  # noqa: F401
    import polars as pl

    schema = {name: getattr(pl, dtype) for name, dtype in WORKLOAD_FIELDS.items()}
    frame = pl.read_ndjson(source, schema=schema).with_columns(
        event_ms=pl.col("event_time")
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms", time_zone="UTC")
        .dt.epoch("ms")
    )
    if step == "dedup":
        keys = pl.struct("contract_id", "provider_id", "source", "event_id")
        frame = frame.filter(keys.is_first_distinct())
    frame.select(pl.len(), pl.col("event_ms").max()).write_parquet(out)


# --- timing ------------------------------------------------------------------------------------


def timed(cmd: list[str], pin: bool) -> dict[str, float]:
    """Run ``cmd`` as a child (pinned to core 0 when ``pin``); its CPU and wall seconds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if pin:
        env["POLARS_MAX_THREADS"] = "1"
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", "0", *cmd]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "wall_s": wall}


def commands(
    work: Path, bytewax_python: str | None, floors: bool = False
) -> dict[str, tuple[list[str], Path]]:
    """Per tool: the command line and where it writes."""
    source, rules = work / "telemetry.ndjson", work / "rules"
    tools = {
        "csla": (
            [sys.executable, "-m", "engine", "replay", "--input", str(source), "--rules",
             str(rules), "--out", str(work / "csla"), "--quiet"],
            work / "csla",
        ),
        "polars": (
            [sys.executable, str(Path(__file__).resolve()), "_polars", str(source),
             str(work / "polars.parquet")],
            work / "polars.parquet",
        ),
    }  # fmt: skip
    if floors:  # what csla cannot skip, each alone (not checked: no per-minute results)
        me = str(Path(__file__).resolve())
        for step in ("read", "dedup"):
            tools[f"floor:{step}"] = (
                [sys.executable, me, "_floor", step, str(source), str(work / f"floor-{step}.pq")],
                work / f"floor-{step}.pq",
            )
        tools["floor:start"] = (  # the interpreter and the modules a replay imports
            [sys.executable, "-c", "import engine.cli.run, engine.adapters.files, engine.ruleset"],
            work / "floor-start",
        )
    if bytewax_python:
        tools["bytewax"] = (
            [bytewax_python, str(BYTEWAX_FLOW), str(source), str(work / "bytewax.csv")],
            work / "bytewax.csv",
        )
    return tools


def bytewax_ready(python: str) -> str | None:
    """The reason Bytewax 0.21.1 cannot run under ``python``, or None when it can."""
    if not Path(python).exists():
        return (
            f"{python} not found (python3 -m venv /tmp/bytewax-venv && "
            "/tmp/bytewax-venv/bin/pip install bytewax==0.21.1 orjson)"
        )
    probe = subprocess.run(
        [python, "-c", "import importlib.metadata as m, orjson, bytewax; "
         "print(m.version('bytewax'))"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return f"{python} cannot import bytewax and orjson: {last}"
    if probe.stdout.strip() != "0.21.1":
        return f"{python} has bytewax {probe.stdout.strip()}, not 0.21.1"
    return None


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


# --- agreement (after the timed runs) ----------------------------------------------------------


def check(work: Path, with_bytewax: bool) -> dict[str, Any]:
    """Compare csla's metrics (and Bytewax's windows) with polars's per contract and minute."""
    import polars as pl

    ref = pl.read_parquet(work / "polars.parquet").with_columns(start_ms=pl.col("t").dt.epoch("ms"))
    request = pl.col("kind") == "request"
    exact = (  # nearest-rank p99 (README), the engine's definition before bucketing
        pl.read_ndjson(work / "telemetry.ndjson", schema={
            "contract_id": pl.String, "kind": pl.String, "event_time": pl.String,
            "latency_ms": pl.Float64})
        .filter(request)
        .with_columns(start_ms=pl.col("event_time").str.to_datetime(
            "%Y-%m-%dT%H:%M:%S%.fZ", time_unit="ms", time_zone="UTC").dt.epoch("ms")
            // MINUTE_MS * MINUTE_MS)
        .group_by("contract_id", "start_ms")
        .agg(p99_exact=pl.col("latency_ms").sort().get(
            (pl.len() * 0.99).ceil().cast(pl.Int64) - 1))
    )  # fmt: skip
    ref = ref.join(exact, on=["contract_id", "start_ms"], how="left")
    metrics = (
        pl.read_ndjson(work / "csla" / "metrics.jsonl", schema={
            "contract_id": pl.String, "objective_id": pl.String, "window_start": pl.String,
            "value": pl.Float64, "total": pl.Int64, "compliant": pl.Boolean})
        .with_columns(start_ms=pl.col("window_start").str.to_datetime(
            "%Y-%m-%dT%H:%M:%SZ", time_unit="ms", time_zone="UTC").dt.epoch("ms"))
    )  # fmt: skip
    avail = metrics.filter(pl.col("objective_id") == "availability").join(
        ref, on=["contract_id", "start_ms"], how="left"
    )
    lat = metrics.filter(pl.col("objective_id") == "p99-latency").join(
        ref, on=["contract_id", "start_ms"], how="left"
    )
    judged = lat.filter(pl.col("value").is_not_null())
    rel_polars = ((pl.col("value") - pl.col("p99_ms")).abs() / pl.col("p99_ms")).max()
    rel_exact = ((pl.col("value") - pl.col("p99_exact")).abs() / pl.col("p99_exact")).max()
    near = (pl.col("p99_exact") - 800).abs() / 800 <= 0.005
    verdict_off = judged.filter(pl.col("compliant") != (pl.col("p99_exact") <= 800))
    out: dict[str, Any] = {
        "polars_windows": ref.height,
        "csla_windows": avail.height,
        "csla_windows_not_in_polars": avail.filter(pl.col("probes").is_null()).height,
        "polars_windows_not_closed_by_csla": ref.height - avail.height,
        "availability_probe_count_mismatches": avail.filter(
            pl.col("total") != (pl.col("probes") > 0).cast(pl.Int64)
        ).height,
        "availability_ratio_mismatches": avail.filter(
            pl.col("value") != pl.col("availability") * 100
        ).height,
        "availability_verdict_mismatches": avail.filter(
            pl.col("compliant") != (pl.col("availability") * 100 >= 99.9)
        ).height,
        "unavailable_minutes": avail.filter(pl.col("value") < 100).height,
        "latency_count_mismatches": lat.filter(pl.col("total") != pl.col("requests")).height,
        "latency_windows_judged": judged.height,
        "p99_max_rel_diff_vs_polars_quantile": judged.select(rel_polars).item(),
        "p99_max_rel_diff_vs_exact_nearest_rank": judged.select(rel_exact).item(),
        "p99_verdict_mismatches_vs_exact": verdict_off.height,
        "p99_verdict_mismatches_within_0.5pct_of_threshold": verdict_off.filter(near).height,
        "latency_breached_minutes": judged.filter(~pl.col("compliant")).height,
    }
    if with_bytewax:
        bw = pl.read_csv(
            work / "bytewax.csv", has_header=False, new_columns=[
                "contract_id", "start_ms", "probes", "probes_ok", "requests", "p99_ms"],
            schema_overrides={"p99_ms": pl.Float64},
        ).join(ref, on=["contract_id", "start_ms"], how="full", suffix="_ref")  # fmt: skip
        out["bytewax_windows"] = bw.filter(pl.col("probes").is_not_null()).height
        out["bytewax_window_mismatches"] = bw.filter(
            pl.col("contract_id").is_null() | pl.col("contract_id_ref").is_null()
            | (pl.col("probes") != pl.col("probes_ref"))
            | (pl.col("probes_ok") != pl.col("probes_ok_ref"))
            | (pl.col("requests") != pl.col("requests_ref"))
            | (pl.col("p99_ms") != pl.col("p99_exact"))
        ).height  # fmt: skip
    return out


# --- the run -----------------------------------------------------------------------------------


def run_size(
    contracts: int,
    events: int,
    rounds: int,
    seed: int,
    bytewax_python: str | None,
    work: Path,
    floors: bool = False,
) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    source = work / "telemetry.ndjson"
    remove(work / "rules")
    n = generate(work / "rules", source, contracts, events, seed)
    print(f"{contracts:,} contracts: {n:,} events, {source.stat().st_size / 2**20:.0f} MiB, "
          f"load {os.getloadavg()[0]:.2f}", file=sys.stderr)  # fmt: skip
    tools = commands(work, bytewax_python, floors)
    runs: dict[str, list[dict[str, float]]] = {tool: [] for tool in tools}
    loads = [os.getloadavg()[0]]
    for r in range(rounds):
        order = list(tools) if r % 2 == 0 else list(reversed(tools))
        for tool in order:
            cmd, target = tools[tool]
            remove(target)
            runs[tool].append(timed(cmd, pin=True))
            loads.append(os.getloadavg()[0])
            print(f"  round {r + 1} {tool}: {runs[tool][-1]['cpu_s']:.2f} CPU s", file=sys.stderr)
    result: dict[str, Any] = {"contracts": contracts, "events": n, "rounds": rounds,
                              "input_mib": round(source.stat().st_size / 2**20, 1),
                              "load_1min": [round(x, 2) for x in loads], "tools": {}}  # fmt: skip
    for tool, timings in runs.items():
        cpu = statistics.median(t["cpu_s"] for t in timings)
        result["tools"][tool] = {
            "cpu_s": [round(t["cpu_s"], 3) for t in timings],
            "wall_s": [round(t["wall_s"], 3) for t in timings],
            "median_cpu_s": round(cpu, 3),
            "events_per_cpu_s": round(n / cpu),
        }
    polars_rate = result["tools"]["polars"]["events_per_cpu_s"]
    for tool in result["tools"].values():
        tool["pct_of_polars"] = round(100 * tool["events_per_cpu_s"] / polars_rate, 1)
    result["check"] = check(work, "bytewax" in tools)
    if floors:
        result["budget"] = budget(result["tools"])
    return result


def budget(tools: dict[str, Any]) -> dict[str, float]:
    """The CPU seconds csla may take to be at 50 % of polars (twice polars's), against its
    floor: starting up, reading and de-duplicating the lines (``floor:dedup``)."""
    cpu = {name: tool["median_cpu_s"] for name, tool in tools.items()}
    allowed = 2 * cpu["polars"]
    floor = cpu["floor:dedup"]
    return {
        "csla_cpu_s": cpu["csla"],
        "allowed_cpu_s_at_50_pct": round(allowed, 3),
        "floor_cpu_s": round(floor, 3),
        "left_for_the_rest_cpu_s": round(allowed - floor, 3),
        "csla_beyond_floor_cpu_s": round(cpu["csla"] - floor, 3),
    }


def table(results: list[dict[str, Any]]) -> str:
    rows = ["| tool | contracts | events | CPU s (median) | events/CPU-s | % of polars |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for size in results:
        for name, tool in size["tools"].items():
            rows.append(
                f"| {name} | {size['contracts']:,} | {size['events']:,} | "
                f"{tool['median_cpu_s']:.2f} | {tool['events_per_cpu_s']:,} | "
                f"{tool['pct_of_polars']:.1f} % |"
            )
    return "\n".join(rows)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "_polars":  # the timed polars child
        polars_job(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    if len(sys.argv) == 5 and sys.argv[1] == "_floor":  # a timed floor child
        floor_job(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--events", type=int, default=1_000_000, help="About this many each.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating runs per tool.")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--bytewax-python", default=DEFAULT_BYTEWAX_PYTHON)
    parser.add_argument("--out", type=Path, help="Write the results as JSON here.")
    parser.add_argument("--keep", type=Path, help="Keep inputs and outputs under this directory.")
    parser.add_argument(
        "--floors",
        action="store_true",
        help="Also time what csla cannot skip (read every field, de-duplicate, start up), and "
        "print the CPU left for the rest at 50 %% of polars.",
    )
    args = parser.parse_args()
    why = bytewax_ready(args.bytewax_python)
    if why:
        print(f"Bytewax skipped: {why}", file=sys.stderr)
    base = Path(args.keep or tempfile.mkdtemp(prefix="csla-same-work-"))
    started = datetime.now(UTC).isoformat(timespec="seconds")
    results = []
    for contracts in args.sizes:
        work = base / f"c{contracts}"
        results.append(run_size(contracts, args.events, args.rounds, args.seed,
                                None if why else args.bytewax_python, work, args.floors))  # fmt: skip
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    for size in results:
        print(f"{size['contracts']:,} contracts: " + json.dumps(size["check"]))
        if "budget" in size:
            print(f"{size['contracts']:,} contracts, CPU s: " + json.dumps(size["budget"]))
    report = {
        "started": started,
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "bytewax": why or "0.21.1",
        "sizes": results,
    }
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
