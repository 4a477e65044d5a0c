"""``csla replay`` reads a file the same whatever its chunks: a blank line is skipped also
where a chunk begins with it (a ``\\n\\n`` of the file cut between its two newlines)."""

from __future__ import annotations

import io

from engine.adapters.files import read_chunks


def test_a_chunk_that_begins_with_a_blank_line() -> None:
    lines = [b'{"event_id": "long"}', b'{"event_id": "b"}', b'{"event_id": "c"}']
    data = lines[0] + b"\n\n" + lines[1] + b"\n" + lines[2] + b"\n"
    # chunks of len(lines[0]) + 1 bytes: the second one is "\n" + lines[1] (+ part of lines[2])
    for size in (len(lines[0]) + 1, len(data)):
        chunks = list(read_chunks(io.BytesIO(data), "in", size))
        got = [line for records, _, _ in chunks for line in records]
        origins = [origin(i) for records, origin, _ in chunks for i in range(len(records))]
        assert (got, origins) == (lines, ["in:1", "in:3", "in:4"]), size
