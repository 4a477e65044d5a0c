"""Checkpoints in parts (issue 11): no state is too large for a message, and a worker killed
half-way through writing one checkpoint's parts leaves the previous checkpoint whole."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st

from engine.adapters.kafka.checkpoint import (
    CheckpointPicker,
    checkpoint_parts,
    decode_checkpoint,
    encode_checkpoint,
)


def _checkpoint(next_offset: int, size: int) -> bytes:
    return encode_checkpoint(next_offset, {"c": {"t[0]": next_offset}}, os.urandom(size))


def test_parts_are_bounded_and_join_back() -> None:
    data = _checkpoint(7, 10_000)
    parts = checkpoint_parts(3, 0, 1, data, part_bytes=1_000)
    assert len(parts) > 10
    assert all(len(value) < 1_000 + 100 for _, value in parts)
    assert [key for key, _ in parts][:2] == [b"p3.0.0", b"p3.0.1"]
    picker = CheckpointPicker(3)
    for key, value in parts:
        picker.add(key, value)
    assert picker.best == decode_checkpoint(data)
    assert picker.slot == 0


def test_an_unfinished_checkpoint_leaves_the_previous_one_in_force() -> None:
    """Generation 1 complete in slot 0; generation 2 (slot 1) killed after two of its parts:
    the picker takes generation 1, and the next write goes to slot 1 again."""
    first, second = _checkpoint(10, 5_000), _checkpoint(20, 5_000)
    log = checkpoint_parts(0, 0, 1, first, part_bytes=1_000)
    log += checkpoint_parts(0, 1, 2, second, part_bytes=1_000)[:2]
    picker = CheckpointPicker(0)
    for key, value in log:
        picker.add(key, value)
    assert picker.best == decode_checkpoint(first)
    assert picker.slot == 0


def test_after_compaction_the_latest_complete_checkpoint_wins() -> None:
    """Compaction keeps the latest record per key: slot 0 rewritten by generation 3 with fewer
    parts than generation 1 had leaves generation 1's extra parts behind; generation 3 wins,
    and the stale parts are ignored."""
    g1, g2, g3 = _checkpoint(10, 9_000), _checkpoint(20, 5_000), _checkpoint(30, 2_000)
    writes = (
        checkpoint_parts(0, 0, 1, g1, part_bytes=1_000)
        + checkpoint_parts(0, 1, 2, g2, part_bytes=1_000)
        + checkpoint_parts(0, 0, 3, g3, part_bytes=1_000)
    )
    latest: dict[bytes, tuple[int, bytes]] = {}
    for offset, (key, value) in enumerate(writes):
        latest[key] = (offset, value)
    compacted = sorted(latest.items(), key=lambda item: item[1][0])
    picker = CheckpointPicker(0)
    for key, (_, value) in compacted:
        picker.add(key, value)
    assert picker.best == decode_checkpoint(g3)
    assert picker.slot == 0


def test_a_checkpoint_of_one_record_from_before_parts_is_read() -> None:
    legacy = _checkpoint(5, 100)
    newer = _checkpoint(6, 100)
    picker = CheckpointPicker(2)
    picker.add(b"p2", legacy)
    assert picker.best == decode_checkpoint(legacy)
    for key, value in checkpoint_parts(2, 0, 1, newer):
        picker.add(key, value)
    assert picker.best == decode_checkpoint(newer)


def test_other_partitions_and_tombstones_are_ignored() -> None:
    mine, theirs = _checkpoint(1, 100), _checkpoint(99, 100)
    picker = CheckpointPicker(1)
    for key, value in checkpoint_parts(11, 0, 5, theirs) + checkpoint_parts(1, 0, 4, mine):
        picker.add(key, value)
    picker.add(b"p1.1.0", None)
    assert picker.best == decode_checkpoint(mine)


@given(
    sizes=st.lists(st.integers(0, 3_000), min_size=1, max_size=6),
    cut=st.integers(0, 10),
    part=st.integers(64, 1_024),
)
def test_any_interrupted_sequence_picks_the_last_complete(
    sizes: list[int], cut: int, part: int
) -> None:
    """Checkpoints written in turn to alternating slots, the last one cut after ``cut`` parts:
    the picker returns the last checkpoint written whole."""
    log: list[tuple[bytes, bytes]] = []
    complete = None
    for generation, size in enumerate(sizes):
        data = _checkpoint(generation, size)
        parts = checkpoint_parts(0, generation % 2, generation, data, part_bytes=part)
        if generation == len(sizes) - 1 and cut < len(parts):
            log += parts[:cut]
        else:
            log += parts
            complete = data
    picker = CheckpointPicker(0)
    for key, value in log:
        picker.add(key, value)
    assert picker.best == (decode_checkpoint(complete) if complete is not None else None)
