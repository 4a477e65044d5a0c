"""``BlockLines``: a block's lines as a sequence, split only when asked, and as a checked
polars column (or none, when the block cannot be one)."""

from __future__ import annotations

import pytest

from engine.core.lines import BlockLines, line_view

BLOCK = b'{"a":1}\n\n   \n{"b":"\xc3\xa9"}\n{}'
LINES = BLOCK.split(b"\n")


def test_it_is_the_split_block_whichever_way_it_is_read() -> None:
    for lines in (BlockLines(BLOCK), BlockLines(BLOCK, len(LINES))):
        assert len(lines) == len(LINES)
        assert list(lines) == LINES
        assert lines[1:3] == LINES[1:3]
    viewed = BlockLines(BLOCK)
    assert viewed.view() is not None
    assert [viewed[i] for i in range(len(LINES))] == LINES  # through the column
    assert viewed[-1] == b"{}"
    with pytest.raises(IndexError):
        viewed[len(LINES)]
    viewed.forget_view()  # then cut from the block by the offsets the view gave
    assert [viewed[i] for i in range(-len(LINES), len(LINES))] == LINES + LINES
    with pytest.raises(IndexError):
        viewed[len(LINES)]


def test_the_view_is_checked_against_the_block() -> None:
    view = line_view(BLOCK, len(LINES))
    assert view is not None
    assert view.to_list() == [None if not x else x.decode() for x in LINES]
    assert line_view(BLOCK, len(LINES) + 1) is None  # a count that does not add up


@pytest.mark.parametrize(
    "block",
    [b'{"a":"\xff"}\n{}', b"{}\r\n{}", b'{"a":"\x1f"}\n{}', b"{}\n"],
    ids=["not-utf8", "carriage-return", "unit-separator", "trailing-newline"],
)
def test_no_view_when_the_block_cannot_be_one_column(block: bytes) -> None:
    lines = BlockLines(block)
    assert lines.view() is None
    assert list(lines) == block.split(b"\n")
    assert lines[0] == block.split(b"\n")[0]
