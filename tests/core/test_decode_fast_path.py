"""Regression: decode's fast path (one polars parse per piece) is taken for clean batches.

It once never succeeded for batches without rare kinds and silently fell back to line-by-line
screening and a second parse; outputs were right, the cost was not.
"""

import orjson

from engine.core import decode as dec
from engine.core import parse


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
    frame = parse._read(lines, 0)  # raises ColumnNotFoundError: unable to find column "cpu"
    assert frame.height == 10


def test_decode_does_not_fall_back_to_per_line(monkeypatch) -> None:
    calls = []
    real = parse.json_error
    monkeypatch.setattr(parse, "json_error", lambda line: calls.append(1) or real(line))
    dec.decode([_probe(i) for i in range(10)], str)
    assert calls == []  # actual: 10 per-line fallbacks


def test_a_big_batch_with_bad_lines_at_piece_edges_equals_line_by_line() -> None:
    """Pieces are big (``_PIECE`` lines per polars call); a refused piece is parsed again in
    ``_RETRY_PIECE`` pieces, then halved. Bad lines on either side of each edge: every good
    line decoded once, in order, every bad one dead-lettered with its own origin."""
    n = parse.PIECE + dec._RETRY_PIECE + 10
    edges = {dec._RETRY_PIECE - 1, dec._RETRY_PIECE, parse.PIECE - 1, parse.PIECE, n - 1}
    bad = {i: (b"{not json" if i % 2 else b'{"schema_version": 1, "kind": 3}') for i in edges}
    lines = [bad.get(i, _probe(i)) for i in range(n)]
    decoded = dec.decode(lines, lambda i: f"t[0]@{i}")
    assert decoded.events.get_column("seq").to_list() == [i for i in range(n) if i not in bad]
    assert decoded.events.get_column("event_id").to_list()[:2] == ["e0", "e1"]
    assert sorted(d.origin for d in decoded.dead) == sorted(f"t[0]@{i}" for i in bad)
    for d in decoded.dead:
        alone = dec.decode([lines[int(d.origin.rpartition("@")[2])]], str).dead
        assert [x.error for x in alone] == [d.error]


def test_lines_that_cannot_be_objects_do_not_send_their_piece_down_the_slow_path(
    monkeypatch,
) -> None:
    """A line that does not end with ``}`` (truncated, blank) is dead-lettered before the
    piece is parsed, and a wrong JSON type sends its piece to the text form in one parse:
    the events and the dead letters, in order, equal those of the reference path (every
    piece refused by the typed parse)."""
    n = parse.PIECE + 500
    bad = {
        3: b'{"schema_version": 1, "event_id": "x", "kind": "pro',  # truncated
        700: b"",  # blank
        701: b"   ",
        parse.PIECE - 1: b'{"schema_version": 1, "kind": 3}',  # wrong type
        parse.PIECE + 7: b'{"schema_version": 1, "ok": "yes", "kind": "probe"}',
        parse.PIECE + 9: b"{not json}",  # ends with } but is not JSON
        parse.PIECE + 11: b"[1, 2]",
    }
    lines = [bad.get(i, _probe(i)) for i in range(n)]
    fast = dec.decode(lines, lambda i: f"t@{i}")
    calls = []
    real = parse.read_typed

    def refuse(*args):
        calls.append(1)
        raise dec.pl.exceptions.ComputeError("forced: the reference path")

    monkeypatch.setattr(parse, "read_typed", refuse)
    slow = dec.decode(lines, lambda i: f"t@{i}")
    monkeypatch.setattr(parse, "read_typed", real)
    assert calls  # the reference path was taken
    assert fast.events.equals(slow.events)
    assert [d.record() for d in fast.dead] == [d.record() for d in slow.dead]
    assert sorted(int(d.origin[2:]) for d in fast.dead) == sorted(bad)
