"""Writes input.ndjson.gz of the golden case 'storage-day' (kept for the record; run by hand).

storage-001 (7×12, 08:00-20:00 Asia/Shanghai), Monday 2026-10-12, probes and storage I/O
samples every minute 07:00-21:00 local:
- probes fail 10:00-10:30 (30 min outage);
- maintenance announced 2026-10-08 00:00 (110 h ahead) for 14:00-14:30; probes fail
  14:00-14:40 (the 10-minute overrun counts);
- storage latency 80 ms during 16:00-16:15, else 5 ms;
- then: a duplicate of the last line (within grace: counted once), a copy of a morning line
  (its minute closed long ago: late, not a duplicate), one malformed line, one unknown
  contract, one late probe.
"""

import gzip
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

CN = timezone(timedelta(hours=8))
DAY = datetime(2026, 10, 12, tzinfo=CN)


def event(n: int, t: datetime, kind: str, **fields: object) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": f"golden-{n}",
            "event_time": t.isoformat(),
            "provider_id": "guizhou-cloud",
            "contract_id": fields.pop("contract_id", "storage-001"),
            "resource_id": "pool-a",
            "source": "platform",
            "kind": kind,
            **fields,
        }
    )


def lines() -> list[bytes]:
    out = [
        event(
            0,
            datetime(2026, 10, 8, tzinfo=CN),
            "maintenance",
            maintenance_id="mw-1012",
            window_start=DAY.replace(hour=14).isoformat(),
            window_end=DAY.replace(hour=14, minute=30).isoformat(),
        )
    ]
    n = 1
    for minute in range(7 * 60, 21 * 60):
        t = DAY + timedelta(minutes=minute, seconds=20)
        down = 600 <= minute < 630 or 840 <= minute < 880
        slow = 960 <= minute < 975
        out.append(event(n, t, "probe", ok=not down, latency_ms=2.0))
        out.append(event(n + 1, t, "storage_io", latency_ms=80.0 if slow else 5.0, read_mbps=900.0))
        n += 2
    out.append(out[-1])  # a duplicate within grace: counted once
    out.append(out[100])  # a copy of a morning event, after its minute closed: late
    out.append(b'{"schema_version": 1, "event_id": "broken"')  # malformed JSON
    out.append(event(n, DAY.replace(hour=12), "probe", ok=True, contract_id="nope-001"))
    out.append(event(n + 1, DAY.replace(hour=9, minute=1), "probe", ok=False))  # late
    return out


if __name__ == "__main__":
    target = Path(__file__).with_name("input.ndjson.gz")
    with gzip.GzipFile(target, "wb", mtime=0) as handle:
        handle.write(b"\n".join(lines()) + b"\n")
