"""The vectorised closing of latency and gauge windows (``engine.core.distributions``) agrees
with the scalar definitions it replaces: window bounds minute by minute (``window_bounds``),
evaluated minutes interval by interval, and the period histogram merge of ``histogram``."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from engine.core import distributions as d
from engine.core import histogram as h
from engine.core import window_frame
from engine.core.windows import window_bounds

MINUTE_MS = 60_000

# zones with DST changes at night, at midnight (a skipped or doubled midnight), half-hour
# shifts, a skipped calendar day, and none
ZONES = [
    "UTC",
    "Asia/Shanghai",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "America/Havana",
    "Asia/Beirut",
    "Pacific/Apia",
    "America/Santiago",
]
# spans holding a DST change or an odd day in one of the zones above
SPANS = [
    "2026-03-08T00:00:00Z",  # New York spring forward
    "2026-10-25T00:00:00Z",  # London fall back
    "2018-11-03T12:00:00Z",  # Sao Paulo: midnight skipped
    "2018-02-17T12:00:00Z",  # Sao Paulo: midnight doubled
    "2011-12-29T00:00:00Z",  # Apia skips 30 December
    "2026-04-04T12:00:00Z",  # Lord Howe half-hour, Santiago fall back
    "2026-03-28T00:00:00Z",  # Beirut spring forward at midnight
]


def _ms(iso: str) -> int:
    return int(
        datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp() * 1000
    )


@pytest.mark.parametrize("window_ms", [MINUTE_MS, 5 * MINUTE_MS, 3_600_000, 86_400_000])
@pytest.mark.parametrize("span", SPANS)
def test_window_bounds_by_day_equal_minute_by_minute(span: str, window_ms: int) -> None:
    start = _ms(span) - 24 * 3_600_000
    minutes = list(range(start, start + 48 * 3_600_000, MINUTE_MS))
    zones = [(tz, window_ms) for tz in ZONES]
    frame = pl.DataFrame(
        {
            "_zone": [z for z in range(len(zones)) for _ in minutes],
            "minute": [m for _ in zones for m in minutes],
        },
        schema={"_zone": pl.Int64, "minute": pl.Int64},
    )
    got = window_frame.window_bounds_of(frame, zones).sort("_zone", "minute")
    want = [
        window_bounds(m, zones[z][0], window_ms)
        for z, m in got.select("_zone", "minute").iter_rows()
    ]
    assert got.height == frame.height
    assert list(zip(got.get_column("_ws"), got.get_column("_we"), strict=True)) == want


def test_eligible_rows_are_the_minutes_inside_evaluated_intervals() -> None:
    rnd = random.Random(7)
    for _ in range(200):
        cids = [f"c{i}" for i in range(rnd.randint(1, 6))]
        evaluated = {}
        for cid in cids:
            edges = sorted(rnd.sample(range(200), 2 * rnd.randint(0, 6)))
            evaluated[cid] = [
                (edges[i] * MINUTE_MS, edges[i + 1] * MINUTE_MS) for i in range(0, len(edges), 2)
            ]
        n = rnd.randint(1, 200)
        rows = pl.DataFrame(
            {
                "_contract": [rnd.randrange(len(cids)) for _ in range(n)],
                "minute": [rnd.randrange(200) * MINUTE_MS for _ in range(n)],
                "row": list(range(n)),
            }
        )
        contracts = dict.fromkeys(cids)
        got = window_frame.eligible(rows, None, contracts, {}, dict(evaluated))  # type: ignore[arg-type]
        want = [
            row
            for row in rows.iter_rows()
            if any(s <= row[1] < e for s, e in evaluated[cids[row[0]]])
        ]
        assert sorted(got.rows()) == sorted(want)


def test_period_chunks_merge_as_histogram_merge() -> None:
    rnd = random.Random(3)
    keys = ["contract_id", "objective_id", "period_start"]
    schema = {"contract_id": pl.String, "objective_id": pl.String, "period_start": pl.Int64,
              "bucket": pl.Int32, "count": pl.Int64}  # fmt: skip
    for _ in range(100):
        chunks = []
        for _ in range(rnd.randint(1, 5)):
            n = rnd.randint(0, 60)
            part = pl.DataFrame(
                {
                    "contract_id": [rnd.choice(["a", "b", "c10", "c2"]) for _ in range(n)],
                    "objective_id": [rnd.choice(["x", "y"]) for _ in range(n)],
                    "period_start": [
                        rnd.choice([0, 2_678_400_000, 5_000_000_000]) for _ in range(n)
                    ],
                    "bucket": [
                        rnd.choice([h.ZERO_BUCKET, -690, 0, 5, 400, 3000]) for _ in range(n)
                    ],
                    "count": [rnd.randint(1, 5) for _ in range(n)],
                },
                schema=schema,
            )
            chunks.append(h.merge(part.head(0), part, keys))
        both = pl.concat(chunks, rechunk=False)
        assert_frame_equal(d._merged(both, "period_start"), h.merge(both, both.head(0), keys))
