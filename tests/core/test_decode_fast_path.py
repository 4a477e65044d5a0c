"""Regression: decode's fast path (one polars parse per piece) is taken for clean batches.

It once never succeeded for batches without rare kinds and silently fell back to line-by-line
screening and a second parse; outputs were right, the cost was not.
"""

import orjson

from engine.core import decode as dec


def _probe(i: int) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": f"e{i}",
            "event_time": "2026-03-10T02:00:00Z",
            "provider_id": "p",
            "contract_id": "c1",
            "resource_id": "svc",
            "source": "platform",
            "kind": "probe",
            "ok": True,
        }
    )


def test_fast_path_reads_a_probe_only_batch() -> None:
    lines = [_probe(i) for i in range(10)]
    frame = dec._read(lines, 0)  # raises ColumnNotFoundError: unable to find column "cpu"
    assert frame.height == 10


def test_decode_does_not_fall_back_to_per_line(monkeypatch) -> None:
    calls = []
    real = dec._json_error
    monkeypatch.setattr(dec, "_json_error", lambda line: calls.append(1) or real(line))
    dec.decode([_probe(i) for i in range(10)], str)
    assert calls == []  # actual: 10 per-line fallbacks


def test_a_big_batch_with_bad_lines_at_piece_edges_equals_line_by_line() -> None:
    """Pieces are big (``_PIECE`` lines per polars call); a refused piece is parsed again in
    ``_RETRY_PIECE`` pieces, then halved. Bad lines on either side of each edge: every good
    line decoded once, in order, every bad one dead-lettered with its own origin."""
    n = dec._PIECE + dec._RETRY_PIECE + 10
    edges = {dec._RETRY_PIECE - 1, dec._RETRY_PIECE, dec._PIECE - 1, dec._PIECE, n - 1}
    bad = {i: (b"{not json" if i % 2 else b'{"schema_version": 1, "kind": 3}') for i in edges}
    lines = [bad.get(i, _probe(i)) for i in range(n)]
    decoded = dec.decode(lines, lambda i: f"t[0]@{i}")
    assert decoded.events.get_column("seq").to_list() == [i for i in range(n) if i not in bad]
    assert decoded.events.get_column("event_id").to_list()[:2] == ["e0", "e1"]
    assert sorted(d.origin for d in decoded.dead) == sorted(f"t[0]@{i}" for i in bad)
    for d in decoded.dead:
        alone = dec.decode([lines[int(d.origin.rpartition("@")[2])]], str).dead
        assert [x.error for x in alone] == [d.error]
