"""Fixed log-bucket latency histogram: hand-computed tables, then invariants (hypothesis)."""

from __future__ import annotations

import itertools
import math
import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from engine.core import histogram as h

QS = [50, 90, 95, 99, 99.9]
KEYS = ["service"]

# gamma = 1.005 / 0.995 = 1.0100502512562812, ln(gamma) = 0.010000083334583179.
# Bucket of v: ceil(ln(v) / ln(gamma)); value of bucket i: gamma**i * 2 / (gamma + 1).
# 1.0 -> ceil(0) = 0 -> 0.995
# 2.0 -> ceil(69.31) = 70 -> 2.0036956...
# 5.0 -> ceil(160.94) = 161 -> 4.9778639...
# 7.0 -> ceil(194.59) = 195 -> 6.9936577...
# 100.0 -> ceil(460.51) = 461 -> 99.985569...
# 0.001 (MIN_MS) -> ceil(-690.77) = -690 -> 0.0010026888...
# 3.6e6 (one hour) -> ceil(1509.6) = 1510 -> 3595211.19...
V1 = 0.9950000000000001
V2 = 2.0036956322988564
V5 = 4.9778639585894995
V7 = 6.993657790406531
V100 = 99.98556998434792
V_MIN = 0.00100268884477233
V_HOUR = 3595211.1918169726


def frame(values: list[float], service: str = "api") -> pl.DataFrame:
    return pl.DataFrame(
        {"service": [service] * len(values), "latency_ms": values},
        schema={"service": pl.String, "latency_ms": pl.Float64},
    )


def percentiles(values: list[float], qs: list[float]) -> dict[str, float]:
    out = h.quantiles(h.partials(frame(values), KEYS), KEYS, qs)
    assert out.height == 1
    return {name: value for name, value in out.row(0, named=True).items() if name != "service"}


# --- hand-computed tables ----------------------------------------------------------------------


def test_constants() -> None:
    assert h.GAMMA == (1 + 0.005) / (1 - 0.005)
    assert h.ALPHA == 0.005
    assert h.ZERO_BUCKET == -(2**31) + 1
    assert h.MIN_MS == 0.001
    assert h.quantile_name(99.9) == "p99.9"
    assert h.quantile_name(50) == "p50"


@pytest.mark.parametrize(
    ("latency_ms", "bucket", "value"),
    [
        (1.0, 0, V1),
        (2.0, 70, V2),
        (5.0, 161, V5),
        (7.0, 195, V7),
        (100.0, 461, V100),
        (0.001, -690, V_MIN),
        (3.6e6, 1510, V_HOUR),
        (0.0, h.ZERO_BUCKET, 0.0),
        (0.0009999, h.ZERO_BUCKET, 0.0),
        (-0.0, h.ZERO_BUCKET, 0.0),
    ],
)
def test_bucket_table(latency_ms: float, bucket: int, value: float) -> None:
    assert h.bucket_index(latency_ms) == bucket
    got = pl.select(h.bucket_expr(pl.lit(latency_ms, dtype=pl.Float64))).item()
    assert got == bucket
    assert h.bucket_value(bucket) == pytest.approx(value, rel=1e-12)
    got_value = pl.select(h.bucket_value_expr(pl.lit(bucket, dtype=pl.Int32))).item()
    assert got_value == h.bucket_value(bucket)


def test_invalid_latencies_have_no_bucket() -> None:
    bad = pl.DataFrame(
        {"latency_ms": [-1.0, math.nan, math.inf, -math.inf, None]},
        schema={"latency_ms": pl.Float64},
    )
    assert bad.select(h.bucket_expr("latency_ms")).to_series().null_count() == 5
    for value in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="latency_ms"):
            h.bucket_index(value)
    with pytest.raises(ValueError, match="negative, NaN, infinite or null"):
        h.partials(frame([1.0, -1.0]), KEYS)


@pytest.mark.parametrize(
    ("values", "qs", "expected"),
    [
        ([100.0], [50, 99.9, 100], {"p50": V100, "p99.9": V100, "p100": V100, "count": 1}),
        ([1.0, 100.0], [50, 50.1, 100], {"p50": V1, "p50.1": V100, "p100": V100, "count": 2}),
        (
            [5.0, 7.0, 5.0, 5.0],
            [25, 75, 76, 100],
            {"p25": V5, "p75": V5, "p76": V7, "p100": V7, "count": 4},
        ),
        ([0.0, 0.0, 0.0], [50, 100], {"p50": 0.0, "p100": 0.0, "count": 3}),
        ([0.0005, 0.0, 0.0009], [1, 100], {"p1": 0.0, "p100": 0.0, "count": 3}),
        ([0.0005, 0.001, 2.0], [33.3, 33.4, 67, 100], {
            "p33.3": 0.0, "p33.4": V_MIN, "p67": V2, "p100": V2, "count": 3,
        }),
        ([3.6e6, 1.0], [50, 99, 100], {"p50": V1, "p99": V_HOUR, "p100": V_HOUR, "count": 2}),
    ],
)  # fmt: skip
def test_percentile_table(
    values: list[float], qs: list[float], expected: dict[str, float | int]
) -> None:
    got = percentiles(values, qs)
    assert list(got) == [*(h.quantile_name(q) for q in qs), "count"]
    assert got == pytest.approx(expected, rel=1e-12)


def test_rank_reads_q_as_written() -> None:
    # 99.9 / 100 * 1000 is 999.0000000000001 in binary floating point; the rank is 999.
    assert h.nearest_rank(1000, 99.9) == 999
    assert h.nearest_rank(1000, 99.95) == 1000
    assert h.nearest_rank(1, 0.0001) == 1
    assert h.nearest_rank(10, 5e-324) == 1
    assert h.nearest_rank(7, 100) == 7
    values = [float(v) for v in range(1, 1001)]
    assert h.exact_nearest_rank(values, 99.9) == 999.0
    assert percentiles(values, [99.9])["p99.9"] == h.bucket_value(h.bucket_index(999.0))


def test_groups_and_global() -> None:
    parts = h.merge(
        h.partials(frame([1.0, 2.0, 100.0], "api"), KEYS),
        h.partials(frame([7.0], "db"), KEYS),
        KEYS,
    )
    by_service = h.quantiles(parts, KEYS, [50, 100])
    assert by_service.schema == pl.Schema(
        {"service": pl.String, "p50": pl.Float64, "p100": pl.Float64, "count": pl.Int64}
    )
    assert by_service.rows() == [("api", V2, V100, 3), ("db", V7, V7, 1)]
    overall = h.quantiles(parts, [], [50, 100])
    assert overall.rows() == [(V2, V100, 4)]  # 1, 2, 7, 100: rank 2 of 4


def test_empty_partial() -> None:
    empty = h.partials(frame([]), KEYS)
    assert empty.schema == pl.Schema({"service": pl.String, "bucket": pl.Int32, "count": pl.Int64})
    assert h.quantiles(empty, KEYS, [50]).height == 0
    assert h.quantiles(empty, [], [50]).height == 0


@pytest.mark.parametrize("q", [0, -1, 100.5, math.nan, math.inf])
def test_percentile_out_of_range(q: float) -> None:
    with pytest.raises(ValueError, match="percentile"):
        h.quantiles(h.partials(frame([1.0]), KEYS), KEYS, [q])
    with pytest.raises(ValueError, match="percentile"):
        h.exact_nearest_rank([1.0], q)


def test_programmer_errors() -> None:
    parts = h.partials(frame([1.0]), KEYS)
    with pytest.raises(ValueError, match="duplicate column names"):
        h.quantiles(parts, KEYS, [50, 50.0])
    with pytest.raises(ValueError, match="may not be named"):
        h.partials(frame([1.0]).rename({"service": "count"}), ["count"])
    with pytest.raises(ValueError, match="at least one sample"):
        h.exact_nearest_rank([], 50)


# --- invariants --------------------------------------------------------------------------------

positive_ms = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)
any_ms = st.one_of(
    st.floats(min_value=0.0, max_value=1e7, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 0.0005, h.MIN_MS, 1.0, h.GAMMA**100, 3.6e6]),
)
services = st.sampled_from(["api", "db", "gpu"])
percentile = st.floats(min_value=0.0, max_value=100.0, exclude_min=True, allow_nan=False)


@settings(deadline=None)
@given(
    rows=st.lists(st.tuples(services, any_ms), max_size=200),
    data=st.data(),
)
def test_merge_samples_equals_merge_of_partials(
    rows: list[tuple[str, float]], data: st.DataObject
) -> None:
    """The closing's one-group-by form: samples added to a partial state straight."""

    def frame(chunk: list[tuple[str, float]]) -> pl.DataFrame:
        return pl.DataFrame(
            {"service": [s for s, _ in chunk], "latency_ms": [v for _, v in chunk]},
            schema={"service": pl.String, "latency_ms": pl.Float64},
        )

    cut = data.draw(st.integers(0, len(rows)))
    state = h.partials(frame(rows[:cut]), KEYS)
    merged = h.merge(state, h.partials(frame(rows[cut:]), KEYS), KEYS)
    assert_frame_equal(h.canonical(h.merge_samples(state, frame(rows[cut:]), KEYS), KEYS), merged)


@settings(deadline=None)
@given(rows=st.lists(st.tuples(services, any_ms), max_size=200), cuts=st.integers(1, 20))
def test_append_gives_the_quantiles_of_merge_and_merges_every_few_parts(
    rows: list[tuple[str, float]], cuts: int
) -> None:
    """The deferred merge of a period histogram: any number of appended parts read by
    ``quantiles`` as their merge, and never more than ``every`` unmerged chunks."""

    def part(chunk: list[tuple[str, float]]) -> pl.DataFrame:
        df = pl.DataFrame(
            {"service": [s for s, _ in chunk], "latency_ms": [v for _, v in chunk]},
            schema={"service": pl.String, "latency_ms": pl.Float64},
        )
        return h.partials(df, KEYS)

    size = max(1, len(rows) // cuts)
    appended = merged = part([])
    for at in range(0, len(rows), size):
        appended = h.append(appended, part(rows[at : at + size]), KEYS, every=4)
        merged = h.merge(merged, part(rows[at : at + size]), KEYS)
        assert appended.n_chunks() < 4
    assert_frame_equal(h.quantiles(appended, KEYS, QS), h.quantiles(merged, KEYS, QS))
    assert_frame_equal(h.merge(appended, part([]), KEYS), merged)


@settings(deadline=None)
@given(values=st.lists(positive_ms, min_size=1, max_size=300), q=st.sampled_from(QS))
def test_within_one_percent_of_exact(values: list[float], q: float) -> None:
    got = percentiles(values, [q])[h.quantile_name(q)]
    exact = h.exact_nearest_rank(values, q)
    assert abs(got - exact) <= 0.01 * exact
    assert abs(got - exact) <= (h.ALPHA + 1e-12) * exact


@settings(deadline=None)
@given(
    rows=st.lists(st.tuples(services, any_ms), max_size=200),
    data=st.data(),
)
def test_merge_of_any_split_equals_whole(
    rows: list[tuple[str, float]], data: st.DataObject
) -> None:
    def build(chunk: list[tuple[str, float]]) -> pl.DataFrame:
        df = pl.DataFrame(
            {"service": [s for s, _ in chunk], "latency_ms": [v for _, v in chunk]},
            schema={"service": pl.String, "latency_ms": pl.Float64},
        )
        return h.partials(df, KEYS)

    shuffled = data.draw(st.permutations(rows))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=8)))
    bounds = [0, *cuts, len(rows)]
    chunks = [shuffled[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    order = data.draw(st.permutations(range(len(chunks))))
    merged = build([])
    for index in order:
        merged = h.merge(merged, build(chunks[index]), KEYS)
    assert_frame_equal(merged, build(rows))
    assert_frame_equal(h.quantiles(merged, KEYS, QS), h.quantiles(build(rows), KEYS, QS))


@settings(deadline=None)
@given(
    values=st.lists(any_ms, min_size=1, max_size=200),
    qs=st.lists(percentile, min_size=1, max_size=8, unique_by=h.quantile_name),
)
def test_monotone_in_q(values: list[float], qs: list[float]) -> None:
    ordered = sorted(qs)
    got = percentiles(values, ordered)
    series = [got[h.quantile_name(q)] for q in ordered]
    assert series == sorted(series)
    exact = [h.exact_nearest_rank(values, q) for q in ordered]
    assert [h.bucket_value(h.bucket_index(v)) for v in exact] == series


@settings(deadline=None)
@given(values=st.lists(any_ms, min_size=1, max_size=100))
def test_bucket_does_not_depend_on_batch(values: list[float]) -> None:
    together = frame(values).select(h.bucket_expr("latency_ms")).to_series().to_list()
    alone = [pl.select(h.bucket_expr(pl.lit(v, dtype=pl.Float64))).item() for v in values]
    assert together == alone == [h.bucket_index(v) for v in values]
    buckets = pl.Series("bucket", together, dtype=pl.Int32)
    assert pl.select(h.bucket_value_expr(pl.lit(buckets))).to_series().to_list() == [
        h.bucket_value(b) for b in together
    ]


def test_bucket_does_not_depend_on_batch_sweep() -> None:
    # Regression: polars divides a one-row column by a literal exactly but multiplies a longer
    # one by the reciprocal, so ``ln(v) / ln(gamma)`` put values near a bucket bound (such as
    # 1.8404407544720096) in a bucket that depended on the size of their batch.  The module
    # multiplies by INV_LOG_GAMMA instead.
    rng = random.Random(20240601)
    near_bounds = [h.GAMMA**k for k in range(-690, 2000)] + [1.8404407544720096, 473.4523784643014]
    values = near_bounds + [rng.uniform(h.MIN_MS, 1e7) for _ in range(20_000)]
    together = frame(values).select(h.bucket_expr("latency_ms")).to_series().to_list()
    assert together == [h.bucket_index(v) for v in values]
    for v in near_bounds:
        assert frame([v]).select(h.bucket_expr("latency_ms")).item() == h.bucket_index(v), v


@given(
    q=percentile,
    n=st.integers(min_value=1, max_value=2**62),
    shift=st.sampled_from([-1, 0, 1]),
)
def test_rank_vectorised_equals_scalar(q: float, n: int, shift: int) -> None:
    # k samples in bucket 0, n - k in bucket 1: the answer is bucket 0 exactly when rank <= k.
    rank = h.nearest_rank(n, q)
    k = min(max(rank + shift, 0), n)
    parts = pl.DataFrame(
        {"bucket": [0, 1], "count": [k, n - k]},
        schema={"bucket": pl.Int32, "count": pl.Int64},
    )
    got = h.quantiles(parts, [], [q]).row(0)
    assert got == (h.bucket_value(0 if rank <= k else 1), n)
