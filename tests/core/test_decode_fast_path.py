"""BUG (performance): decode's fast path never succeeds for a batch without 'cold' kinds.

decode._read_block parses with HOT_SCHEMA (18 columns) and, when no line is of a COLD_KIND
(the usual probe/request batch), ends with ``frame.select(*RAW_SCHEMA, "seq")`` →
ColumnNotFoundError("cpu").  _parse catches it and takes the fallback: orjson.loads of every
line (_json_error) and a second parse with the wide TEXT_SCHEMA (_parse_typed).  Outputs are
right; the hot path is never used (the 1M events/s target pays for it).  Fix: add the
missing RAW_SCHEMA columns as typed nulls before the select when there are no cold rows.
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
