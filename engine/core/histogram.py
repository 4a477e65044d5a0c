"""Mergeable fixed log-bucket latency histograms (DDSketch-style).

A latency sample ``latency_ms`` is never kept; only the count of samples per logarithmic bucket
is.  The buckets are fixed for every deployment (they depend on :data:`ALPHA` alone), so the
partial state of any batch, window or worker is a plain table of
``(group keys..., bucket, count)`` that merges by adding counts, in any order and any split,
to exactly the table built from all samples at once.

Percentiles are the *nearest-rank* percentiles of the samples, reported as the representative
value of the bucket that holds the ranked sample; that value is within :data:`ALPHA` (0.5 %)
relative error of the exact nearest-rank value.

Bucketing (``v`` in milliseconds, finite):

* ``v >= MIN_MS``: bucket ``i = ceil(ln(v) * INV_LOG_GAMMA)``, i.e. ``gamma**(i-1) < v <=
  gamma**i`` with ``gamma = (1 + ALPHA) / (1 - ALPHA)``;
* ``0 <= v < MIN_MS``: bucket :data:`ZERO_BUCKET`, which represents 0;
* negative, NaN, infinite or null: no bucket (null); callers validate before this point.

The representative value of bucket ``i`` is ``gamma**i * 2 / (gamma + 1)`` (0 for
:data:`ZERO_BUCKET`).  Every formula multiplies by precomputed constants instead of dividing:
polars may turn a division by a literal into a multiplication by its reciprocal in some
kernels but not others, and that would make a bucket depend on the batch it arrived in.

Pure: polars and the standard library only; no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import polars as pl

__all__ = [
    "ALPHA",
    "BUCKET",
    "BUCKET_DTYPE",
    "COUNT",
    "COUNT_DTYPE",
    "GAMMA",
    "INV_LOG_GAMMA",
    "LOG_GAMMA",
    "MIN_MS",
    "REPRESENTATIVE_FACTOR",
    "ZERO_BUCKET",
    "bucket_expr",
    "bucket_index",
    "bucket_value",
    "bucket_value_expr",
    "exact_nearest_rank",
    "merge",
    "nearest_rank",
    "partials",
    "quantile_by",
    "quantile_name",
    "quantiles",
    "samples",
    "typed",
]

ALPHA = 0.005
"""Relative accuracy of every reported percentile (0.5 %)."""
GAMMA = (1 + ALPHA) / (1 - ALPHA)
"""Ratio between consecutive bucket bounds."""
LOG_GAMMA = math.log(GAMMA)
INV_LOG_GAMMA = 1 / LOG_GAMMA
"""Multiplier from ``ln(v)`` to the (unrounded) bucket index."""
REPRESENTATIVE_FACTOR = 2 / (GAMMA + 1)
"""Representative value of bucket ``i`` is ``GAMMA**i * REPRESENTATIVE_FACTOR``."""
MIN_MS = 0.001
"""Smallest latency with a logarithmic bucket; anything in ``[0, MIN_MS)`` counts as 0."""
ZERO_BUCKET = -(2**31) + 1
"""Sentinel bucket of the latencies in ``[0, MIN_MS)``; its value is 0.0."""

BUCKET = "bucket"
COUNT = "count"
BUCKET_DTYPE = pl.Int32
COUNT_DTYPE = pl.Int64

_MAX_RANK_NUMERATOR = 2**57
_MAX_RANK_DENOMINATOR = 2**121
_RUNNING = "__histogram_running"
_BEFORE = "__histogram_before"
_Q = "__histogram_q"


def _expr(col: str | pl.Expr) -> pl.Expr:
    return pl.col(col) if isinstance(col, str) else col


# --- buckets -----------------------------------------------------------------------------------


def bucket_expr(col: str | pl.Expr) -> pl.Expr:
    """Bucket index (Int32) of a latency column in milliseconds.

    Null for negative, NaN, infinite or null latencies.
    """
    v = _expr(col).cast(pl.Float64)
    log_bucket = (v.log() * INV_LOG_GAMMA).ceil().cast(BUCKET_DTYPE, strict=False)
    return (
        pl.when(~v.is_finite())
        .then(pl.lit(None, dtype=BUCKET_DTYPE))
        .when(v >= MIN_MS)
        .then(log_bucket)
        .when(v >= 0.0)
        .then(pl.lit(ZERO_BUCKET, dtype=BUCKET_DTYPE))
        .otherwise(pl.lit(None, dtype=BUCKET_DTYPE))
    )


def bucket_index(latency_ms: float) -> int:
    """Bucket index of one latency; the scalar twin of :func:`bucket_expr`.

    Raises ``ValueError`` for negative, NaN or infinite latencies.
    """
    if not math.isfinite(latency_ms) or latency_ms < 0.0:
        raise ValueError(f"latency_ms must be finite and >= 0, got {latency_ms!r}")
    if latency_ms < MIN_MS:
        return ZERO_BUCKET
    return math.ceil(math.log(latency_ms) * INV_LOG_GAMMA)


def bucket_value(i: int) -> float:
    """Representative latency (ms) of bucket ``i``: ``2 * GAMMA**i / (GAMMA + 1)``."""
    if i == ZERO_BUCKET:
        return 0.0
    try:
        return GAMMA**i * REPRESENTATIVE_FACTOR
    except OverflowError:
        return math.inf


def bucket_value_expr(col: str | pl.Expr) -> pl.Expr:
    """Representative latency (Float64, ms) of a bucket column; the twin of :func:`bucket_value`."""
    b = _expr(col).cast(BUCKET_DTYPE)
    return (
        pl.when(b == ZERO_BUCKET)
        .then(pl.lit(0.0, dtype=pl.Float64))
        .otherwise(pl.lit(GAMMA, dtype=pl.Float64).pow(b.cast(pl.Float64)) * REPRESENTATIVE_FACTOR)
    )


# --- partial state -----------------------------------------------------------------------------


def _check_keys(keys: Sequence[str]) -> list[str]:
    key_list = list(keys)
    if len(set(key_list)) != len(key_list):
        raise ValueError(f"duplicate group keys: {key_list}")
    reserved = {BUCKET, COUNT} & set(key_list)
    if reserved:
        raise ValueError(f"group keys may not be named {sorted(reserved)}")
    return key_list


def _canonical(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return frame.sort([*keys, BUCKET])


def _samples(frame: pl.DataFrame, keys: list[str], value_col: str) -> pl.DataFrame:
    """One row per sample: its keys, its bucket and a count of 1; ``ValueError`` for a value
    with no bucket (negative, NaN, infinite or null)."""
    bucketed = frame.select(
        *keys, bucket_expr(value_col).alias(BUCKET), pl.lit(1, dtype=COUNT_DTYPE).alias(COUNT)
    )
    invalid = bucketed.get_column(BUCKET).null_count()
    if invalid:
        raise ValueError(f"{invalid} value(s) of {value_col!r} are negative, NaN, infinite or null")
    return bucketed


def _typed(part: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """A partial state's columns in their dtypes (an older snapshot may hold others)."""
    return part.select(*keys, pl.col(BUCKET).cast(BUCKET_DTYPE), pl.col(COUNT).cast(COUNT_DTYPE))


def _summed(parts: list[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
    """The counts of ``parts`` summed per (keys..., bucket), in no particular order."""
    both = pl.concat(parts, how="vertical")
    return both.group_by([*keys, BUCKET]).agg(pl.col(COUNT).sum().cast(COUNT_DTYPE))


def partials(
    frame: pl.DataFrame, keys: Sequence[str], *, value_col: str = "latency_ms"
) -> pl.DataFrame:
    """Partial histogram state of ``frame``: one row per (keys..., bucket) with its count.

    ``frame.head(0)`` gives the empty partial with the right schema.  Raises ``ValueError`` if
    any latency is negative, NaN, infinite or null: callers validate events first.
    """
    key_list = _check_keys(keys)
    return _canonical(_summed([_samples(frame, key_list, value_col)], key_list), key_list)


def merge(a: pl.DataFrame, b: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """Sum two partial states per (keys..., bucket); sorted by keys, then bucket.

    Associative and commutative: any split and order of merges gives an identical frame.
    """
    key_list = _check_keys(keys)
    summed = _summed([_typed(a, key_list), _typed(b, key_list)], key_list)
    return _canonical(summed, key_list).select(*key_list, BUCKET, COUNT)


def append(
    a: pl.DataFrame,
    b: pl.DataFrame,
    keys: Sequence[str],
    *,
    every: int = 8,
    merged: bool = False,
    merger: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """``merge(a, b)``, deferred: ``b``, merged, joins ``a`` as a chunk of its own, and the
    chunks are merged (one group-by, sorted) once there are ``every``.  For a partial state read
    only by :func:`quantiles` (which takes parts unmerged), e.g. a period's histogram fed by
    each closing's windows and read once, when the period ends: the merge then costs once per
    ``every`` closings, not once per closing.  ``merged=True`` promises ``b`` is already as
    :func:`merge` gives it (one row per keys and bucket, sorted, in its dtypes); ``merger``
    merges the chunks instead of :func:`merge` and must give the frame it gives."""
    key_list = _check_keys(keys)
    columns = [*key_list, BUCKET, COUNT]
    # merged and sorted itself: the state is deterministic
    part = b.select(columns).rechunk() if merged else merge(b.head(0), b, key_list)
    both = pl.concat([a.select(columns), part], how="vertical", rechunk=False)
    if both.n_chunks() < every:
        return both
    if merger is not None:
        return merger(both).rechunk()
    return merge(both, both.head(0), key_list).rechunk()


def samples(
    frame: pl.DataFrame, keys: Sequence[str], *, value_col: str = "latency_ms"
) -> pl.DataFrame:
    """One row per sample of ``frame``: ``keys..., bucket, count`` (1), unmerged, in the
    frame's order; a partial state as :func:`quantiles` and :func:`merge` take it.  Raises
    ``ValueError`` as :func:`partials` does."""
    return _samples(frame, _check_keys(keys), value_col)


def typed(part: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """A partial state's ``keys..., bucket, count`` in their dtypes (an older snapshot may
    hold others)."""
    return _typed(part, _check_keys(keys))


def merge_samples(
    a: pl.DataFrame, frame: pl.DataFrame, keys: Sequence[str], *, value_col: str = "latency_ms"
) -> pl.DataFrame:
    """``merge(a, partials(frame, keys))`` in one group-by, NOT sorted (a closing sorts only
    what it keeps).  Raises ``ValueError`` as :func:`partials` does."""
    key_list = _check_keys(keys)
    return _summed([_typed(a, key_list), _samples(frame, key_list, value_col)], key_list)


def canonical(frame: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """A partial state in the order :func:`merge` gives: sorted by keys, then bucket."""
    return _canonical(frame, _check_keys(keys)).select(*keys, BUCKET, COUNT)


# --- percentiles -------------------------------------------------------------------------------


def _percentile_fraction(q: float) -> Fraction:
    """``q / 100`` as an exact fraction, reading ``q`` as the decimal it is written as."""
    if isinstance(q, bool) or not isinstance(q, int | float):
        raise TypeError(f"percentile must be a number, got {q!r}")
    if not (0 < q <= 100):
        raise ValueError(f"percentile must be in (0, 100], got {q!r}")
    return Fraction(repr(float(q))) / 100


def nearest_rank(n: int, q: float) -> int:
    """Rank (1-based) of the nearest-rank ``q``-th percentile of ``n`` samples: ``ceil(q/100*n)``.

    ``q`` is read as the decimal it is written as (99.9 means 999/1000 exactly), so the rank is
    free of binary rounding: ``nearest_rank(1000, 99.9) == 999``.
    """
    if n < 1:
        raise ValueError(f"need at least one sample, got n={n}")
    return max(1, math.ceil(_percentile_fraction(q) * n))


def exact_nearest_rank(values: Sequence[float], q: float) -> float:
    """Exact nearest-rank percentile: the ``nearest_rank(len(values), q)``-th smallest value."""
    if any(math.isnan(v) for v in values):
        raise ValueError("values contain NaN")
    ordered = sorted(values)
    return ordered[nearest_rank(len(ordered), q) - 1]


def quantile_name(q: float) -> str:
    """Column name of percentile ``q`` in :func:`quantiles`: ``p50``, ``p99``, ``p99.9``."""
    _percentile_fraction(q)
    return f"p{q:g}"


def _rank_expr(n: pl.Expr, q: float) -> pl.Expr:
    """``max(1, ceil(q/100 * n))`` for an Int64 count column, in exact integer arithmetic.

    ``q/100 = a/b`` with ``a < 2**57`` (a float's repr has at most 17 significant digits) and
    ``n < 2**63``, so ``a*n < 2**120`` and, when ``b < 2**121``, ``a*n + b - 1`` fits Int128.
    A larger ``b`` means ``0 < a*n/b < 1``: the rank is 1.
    """
    p = _percentile_fraction(q)
    if p.numerator >= _MAX_RANK_NUMERATOR:  # pragma: no cover - impossible for a float q
        raise ValueError(f"percentile {q!r} cannot be ranked exactly")
    if p.denominator >= _MAX_RANK_DENOMINATOR:
        return pl.lit(1, dtype=COUNT_DTYPE)
    numerator = pl.lit(p.numerator, dtype=pl.Int128)
    denominator = pl.lit(p.denominator, dtype=pl.Int128)
    rank = (n.cast(pl.Int128) * numerator + (denominator - 1)) // denominator
    return pl.max_horizontal(rank, pl.lit(1, dtype=pl.Int128)).cast(COUNT_DTYPE)


def _group_ends(keys: list[str]) -> pl.Expr:
    """True on the last row of each run of equal ``keys`` (nulls equal) in a sorted frame."""
    last = pl.int_range(pl.len()) == pl.len() - 1
    return pl.any_horizontal(last, *(pl.col(k).ne_missing(pl.col(k).shift(-1)) for k in keys))


def _ends(ordered: pl.DataFrame, keys: list[str]) -> tuple[pl.Series, pl.DataFrame]:
    """(running count of ``ordered``, one row per group: ``keys..., count, _before``).

    ``ordered`` is sorted by keys then bucket; ``_before`` is the running count before the
    group, ``count`` its number of samples."""
    running = ordered.get_column(COUNT).cum_sum().alias(_RUNNING)
    ends = (
        ordered.select(*keys, running)
        .filter(_group_ends(keys))
        .with_columns(pl.col(_RUNNING).diff().fill_null(pl.col(_RUNNING)).alias(COUNT))
        .with_columns((pl.col(_RUNNING) - pl.col(COUNT)).alias(_BEFORE))
        .drop(_RUNNING)
    )
    return running, ends


def _bucket_at(
    ordered: pl.DataFrame, running: pl.Series, ends: pl.DataFrame, rank: pl.Expr
) -> pl.Series:
    """Per group of ``ends``, the bucket of ``ordered`` that holds the ``rank``-th sample: the
    first row whose running count reaches ``_before + rank`` (a binary search of the running
    count, which rises strictly: every count is positive)."""
    wanted = ends.select(pl.col(_BEFORE) + rank).to_series()
    return ordered.get_column(BUCKET).gather(running.search_sorted(wanted, side="left"))


def _ordered(parts: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """The samples of ``parts`` (count > 0) sorted by keys, then bucket."""
    return (
        parts.select(*keys, pl.col(BUCKET).cast(BUCKET_DTYPE), pl.col(COUNT).cast(COUNT_DTYPE))
        .filter(pl.col(COUNT) > 0)
        .sort([*keys, BUCKET])
    )


def quantiles(parts: pl.DataFrame, keys: Sequence[str], qs: Sequence[float]) -> pl.DataFrame:
    """Nearest-rank percentiles per group from a partial state.

    Columns: ``keys..., p{q:g} for q in qs (Float64), count (Int64)``; one row per group with at
    least one sample, sorted by keys.  ``parts`` need not be merged or sorted.
    """
    key_list = _check_keys(keys)
    names = [quantile_name(q) for q in qs]
    if len(set(names)) != len(names):
        raise ValueError(f"percentiles give duplicate column names: {names}")
    clash = set(names) & set(key_list)
    if clash:
        raise ValueError(f"group keys clash with percentile columns: {sorted(clash)}")
    # the buckets of each group in order and their running count: the smallest bucket whose
    # running count reaches the rank (equal buckets in any order give the same bucket)
    ordered = _ordered(parts, key_list)
    running, ends = _ends(ordered, key_list)
    n = pl.col(COUNT)
    return ends.select(
        *key_list,
        *(
            bucket_value_expr(pl.lit(_bucket_at(ordered, running, ends, _rank_expr(n, q)))).alias(
                name
            )
            for name, q in zip(names, qs, strict=True)
        ),
        n,
    )


def quantile_by(
    parts: pl.DataFrame, keys: Sequence[str], q_of: pl.Expr, *, ordered: bool = False
) -> pl.DataFrame:
    """Per group, one nearest-rank percentile that may differ between groups (e.g. each
    objective's own): ``q_of`` reads it from the group's keys (Float64).

    Columns: ``keys..., value (Float64), count (Int64)``; one row per group with at least one
    sample, sorted by keys.  ``ordered=True`` promises ``parts`` already sorted by keys, then
    bucket, with positive counts (saves the sort).  Each group gives the value
    :func:`quantiles` gives for its percentile.
    """
    key_list = _check_keys(keys)
    samples = parts.select(*key_list, BUCKET, COUNT) if ordered else _ordered(parts, key_list)
    running, ends = _ends(samples, key_list)
    ends = ends.with_columns(q_of.cast(pl.Float64).alias(_Q))
    n, q = pl.col(COUNT), pl.col(_Q)
    rank = pl.lit(None, dtype=COUNT_DTYPE)
    for each in ends.get_column(_Q).unique(maintain_order=True).to_list():
        rank = pl.when(q == each).then(_rank_expr(n, each)).otherwise(rank)  # usually one
    bucket = _bucket_at(samples, running, ends, rank)
    return ends.select(*key_list, bucket_value_expr(pl.lit(bucket)).alias("value"), n)
