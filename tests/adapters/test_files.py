"""``csla replay`` reads a file the same whatever its chunks: a blank line is skipped also
where a chunk begins with it (a ``\\n\\n`` of the file cut between its two newlines)."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.adapters.files import chunk_lines, read_chunks


def test_a_chunk_that_begins_with_a_blank_line() -> None:
    lines = [b'{"event_id": "long"}', b'{"event_id": "b"}', b'{"event_id": "c"}']
    data = lines[0] + b"\n\n" + lines[1] + b"\n" + lines[2] + b"\n"
    # chunks of len(lines[0]) + 1 bytes: the second one is "\n" + lines[1] (+ part of lines[2])
    for size in (len(lines[0]) + 1, len(data)):
        chunks = list(read_chunks(io.BytesIO(data), "in", size))
        got = [line for records, _, _ in chunks for line in records]
        origins = [origin(i) for records, origin, _ in chunks for i in range(len(records))]
        assert (got, origins) == (lines, ["in:1", "in:3", "in:4"]), size


def _as_before(data: bytes, first_line: int) -> tuple[list[bytes], list[str], bool]:
    """``chunk_lines`` as it was when it split every chunk into lines up front."""
    from engine.core.decode import split_records

    raw = data.split(b"\n")
    if b"[" not in data and b"\n\n" not in data and raw[0].strip() and raw[-1].strip():
        return raw, [f"in:{first_line + i}" for i in range(len(raw))], True
    pairs = [(r, first_line + k) for k, line in enumerate(raw) for r in split_records(line)]
    return [r for r, _ in pairs], [f"in:{n}" for _, n in pairs], False


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1}\n{"b":2}',
        b'{"a":1}\n\n{"b":2}',
        b'{"a":1}\n   \n{"b":2}',
        b'{"a":1}\n[{"b":2}, {"c":3}]',
        b'{"a":"\xff"}\n\n{"b":2}',
        b'{"a":"\xff"}\n{"b":2}',
        b'{"a":1}\r\n{"b":2}',
        b'\n{"a":1}',
        b'{"a":1}',
    ],
)
def test_a_chunk_is_its_lines_as_before(data: bytes) -> None:
    """The lines of a chunk come lazily (over the block) but are the lines they always were:
    the same records, origins, and block or not, blank lines and arrays included."""
    lines, origin, block = chunk_lines(data, "in", 7)
    records, origins, whole = _as_before(data, 7)
    assert list(lines) == records
    assert [origin(i) for i in range(len(lines))] == origins
    assert (block is not None) == whole


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from([b"", b" ", b"{}", b'{"a":1}', b"[1,2]", b'{"event_id":"x"}']), max_size=12
    ),
    st.booleans(),
    st.integers(min_value=1, max_value=40),
)
def test_the_records_and_origins_do_not_depend_on_the_chunk_size(
    parts: list[bytes], newline_at_end: bool, size: int
) -> None:
    """Lines longer than a chunk, blank lines at a chunk's start, no newline at the end: the
    records and their lines are those of the file read as one chunk."""
    data = b"\n".join(parts) + (b"\n" if newline_at_end else b"")

    def read(chunk: int) -> tuple[list[bytes], list[str]]:
        chunks = list(read_chunks(io.BytesIO(data), "in", chunk))
        got = [bytes(line) for records, _, _ in chunks for line in records]
        return got, [origin(i) for records, origin, _ in chunks for i in range(len(records))]

    assert read(size) == read(len(data) + 1)
