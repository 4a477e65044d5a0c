"""The part of the input one record's evidence needs, found by a cheap look at each line.

A breach or compensation id names its contract, objective, revision and a window or period
start (``breach:<contract>:<objective>:<start>:r<revision>``), so its assessment period is
known before anything is replayed. The core keeps each contract apart, so only that contract's
events matter; and the high-volume, window-local kinds (probes, requests, utilization, network
and storage samples) matter only near the period: from ``LOOKBACK_MS`` before it (72-hour
stability windows, the watermark) to ``LOOKAHEAD_MS`` after it (the grace, the windows that
close after the period ends). Everything that carries state across periods (node states,
incidents, maintenance notices, energy meters, provisioning and scaling) is kept whatever its
time.

``narrow`` reads the input once, looks at each line with three regular expressions (no JSON
parse), writes the lines kept to a scratch NDJSON file and remembers each kept line's origin in
the input, so that the pack still names ``input.ndjson.gz:123456``. It hashes the input as the
replay would (the pack's ``input.sha256`` is the input's, not the scratch file's).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engine.core.calendar import period_containing

if TYPE_CHECKING:
    from engine.core.contract import Contract, Ruleset

DAY_MS = 86_400_000
LOOKBACK_MS = 4 * DAY_MS
LOOKAHEAD_MS = DAY_MS
#: Stop reading after this many lines in a row of the contract dated more than ``LOOKAHEAD_MS``
#: past the end of what is kept: the watermark is then so far beyond the period that anything
#: of the period after them could only be late (never counted), so the rest changes no figure.
STOP_AFTER_LINES = 1_000
HEAVY_KINDS = frozenset({b"probe", b"request", b"utilization", b"network", b"storage_io"})
_ID = re.compile(r"^(breach|comp):(.+):([^:]+):(\d{4}-\d\d-\d\dT[0-9:.]+Z):r(\d+)$")
_CONTRACT = re.compile(rb'"contract_id"\s*:\s*"([^"\\]*)"')
_KIND = re.compile(rb'"kind"\s*:\s*"([a-z_]+)"')
_TIME = re.compile(rb'"event_time"\s*:\s*"([^"]+)"')


@dataclass
class Narrowed:
    """The scratch file, where each of its lines came from, and what was read."""

    path: Path
    origins: list[str] = field(default_factory=list)  # scratch line n (1-based) → origins[n-1]
    lines_read: int = 0
    cut_after: bool = False  # lines after the period were left out
    stopped_at: str | None = None  # where reading stopped early (the rest is hashed, not read)
    bytes: int = 0
    sha256: str = ""
    note: str = ""


def _contract_of(ruleset: Ruleset, record_id: str) -> tuple[Contract, int] | None:
    """The contract revision and the window or period start an id names, if it names one."""
    from engine.core.calendar import parse_instant

    match = _ID.match(record_id)
    if match is None:
        return None
    _, cid, _, start, revision = match.groups()
    contract = next(
        (c for c in ruleset.revisions.get(cid, ()) if c.revision == int(revision)), None
    )
    if contract is None:
        return None
    try:
        return contract, parse_instant(start)
    except ValueError:
        return None


def _ms(text: bytes) -> int | None:
    try:
        t = datetime.fromisoformat(text.decode())
    except (ValueError, UnicodeDecodeError):
        return None
    if t.tzinfo is None:
        return None
    return int(t.timestamp() * 1000)


def narrow(
    ruleset: Ruleset,
    input_path: str,
    record_id: str,
    scratch: Path,
    *,
    to_the_end: bool = False,
    now_ms: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> Narrowed | None:
    """The lines of ``input_path`` the evidence of ``record_id`` needs, in ``scratch``; None
    when the id names no contract of the rules (then the whole input is read as it is). With
    ``to_the_end``, nothing after the period is left out (a breach resolved later)."""
    from engine.adapters.files import _tallied_input, read_chunks
    from engine.report.display import period_label

    located = _contract_of(ruleset, record_id)
    if located is None:
        return None
    contract, start_ms = located
    p0, p1 = period_containing(contract.period, start_ms)
    lo = p0 - LOOKBACK_MS
    hi = None if to_the_end else p1 + contract.grace_ms + LOOKAHEAD_MS
    cid = contract.id.encode()
    out = Narrowed(scratch / "narrowed.ndjson")
    dropped_after = beyond = 0
    # dated past this (and not so far ahead of the clock that it would be a dead letter):
    stop = None if hi is None else hi + LOOKAHEAD_MS
    ahead = None if now_ms is None else now_ms + 600_000
    with _tallied_input(input_path) as (stream, tally), out.path.open("wb") as sink:
        for lines, origin, _ in read_chunks(stream, input_path):
            if on_chunk is not None:
                on_chunk(sum(len(line) + 1 for line in lines))
            for index, line in enumerate(lines):
                out.lines_read += 1
                found = _CONTRACT.search(line)
                if found is None or found.group(1) != cid:
                    continue  # another contract's, or no readable contract: not this evidence
                when = _TIME.search(line)
                t = _ms(when.group(1)) if when is not None else None
                if (
                    stop is not None
                    and t is not None
                    and t >= stop
                    and (ahead is None or t <= ahead)
                ):
                    beyond += 1
                    if beyond >= STOP_AFTER_LINES:
                        out.stopped_at = origin(index)
                        break
                else:
                    beyond = 0
                kind = _KIND.search(line)
                if kind is not None and kind.group(1) in HEAVY_KINDS:
                    if t is not None and t < lo:
                        continue
                    if t is not None and hi is not None and t >= hi:
                        dropped_after += 1
                        continue
                sink.write(line.rstrip(b"\r\n") + b"\n")
                out.origins.append(origin(index))
            if out.stopped_at is not None:
                break
        tally.drain()  # the input's hash: the stored bytes, not decompressed or looked at
    out.bytes, out.sha256 = tally.size, tally.digest.hexdigest()
    out.cut_after = dropped_after > 0 or out.stopped_at is not None
    period = period_label(_iso(p0), _iso(p1), contract.tz)
    window = (
        "to the end of the input" if hi is None else f"to {LOOKAHEAD_MS // DAY_MS} day after it"
    )
    out.note = (
        f"read {out.lines_read:,} lines of {input_path}, kept {len(out.origins):,}: the events "
        f"of {contract.id} that {period} needs (probes, requests and samples from "
        f"{LOOKBACK_MS // DAY_MS} days before the period {window}; other contracts skipped)"
    )
    if out.stopped_at is not None:
        out.note += (
            f"; stopped reading at {out.stopped_at}, after {STOP_AFTER_LINES:,} lines of the "
            "contract in a row dated 2 days or more past the period: anything of the period "
            "after them could only be late"
        )
    return out


def _iso(ms: int) -> str:
    from engine.core.calendar import utc_iso

    return utc_iso(ms)
