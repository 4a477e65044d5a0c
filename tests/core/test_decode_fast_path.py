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
