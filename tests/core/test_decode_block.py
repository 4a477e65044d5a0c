"""A file chunk is decoded with one typed parse (issue 12 §1): its suspect lines are found on
the block first and alone take the text path. Events and dead letters, in order, equal those
the pieces give the same lines (``decode`` without a block), whatever the bad lines are; and
the checks left out for fields no row holds change nothing."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import blocks, checks, parse
from engine.core import decode as dec
from engine.core.lines import BlockLines

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _event(i: int, kind: str = "probe") -> dict[str, Any]:
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": f"e{i}",
        "event_time": "2026-03-10T02:00:00+08:00",
        "provider_id": "p",
        "contract_id": "c1",
        "resource_id": "svc",
        "source": "platform",
        "kind": kind,
    }
    if kind == "probe":
        event["ok"] = i % 3 != 0
    elif kind == "request":
        event.update(ok=True, latency_ms=12.5 + i, status="200", tokens_in=i, tokens_out=3)
    elif kind == "utilization":
        event.update(cpu=0.5, memory=0.25, tasks=3)
    return event


def _line(i: int) -> bytes:
    return orjson.dumps(_event(i, ("probe", "request", "utilization")[i % 3]))


def _origin(i: int) -> str:
    return f"in:{i + 1}"


def _decode_both(lines: list[bytes]) -> tuple[dec.Decoded, dec.Decoded]:
    block = b"\n".join(lines)
    return dec.decode(BlockLines(block), _origin, block), dec.decode(list(lines), _origin)


def _assert_same(lines: list[bytes]) -> dec.Decoded:
    once, pieces = _decode_both(lines)
    assert once.events.equals(pieces.events)
    assert [d.record() for d in once.dead] == [d.record() for d in pieces.dead]
    return once


VALUES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1.0, 1.5, 1e3, -0.0, 10**19, "yes", "1", "1.5", "true", "", "x" * 300])
    | st.text(max_size=8)
    | st.lists(st.integers(0, 3), max_size=2)
    | st.dictionaries(st.sampled_from(["ok", "cpu", "a"]), st.integers(0, 3), max_size=2)
)
FIELDS = [*dec.RAW_SCHEMA, "extra"]
ODD_LINES = [
    b"",
    b"   ",
    b'{"schema_version":1,"event_id":"t","kind":"probe","ok":tru',  # truncated
    b"{not json}",
    b"[1, 2]",
    b'"text"',
    b'{"schema_version":1,"kind":"probe","o\\u006b":"yes"}',  # a key the pattern cannot see
    b'{"schema_version" : 1 , "kind" : "probe" , "ok" : "yes"}',
    b'{"schema_version":1,"kind":"probe","ok":1e400}',
    b'{"schema_version":1,"kind":"probe","ok":NaN}',
    b'{"schema_version":1,"kind":"probe","ok":true} ',
]


@st.composite
def batches(draw: st.DrawFn) -> list[bytes]:
    """Valid lines of three kinds; some with one to three fields set to any JSON value, some
    replaced by lines no parse accepts as they stand."""
    n = draw(st.integers(1, 60))
    lines = [_line(i) for i in range(n)]
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, n - 1))
        if draw(st.integers(0, 3)) == 0:
            lines[at] = draw(st.sampled_from(ODD_LINES))
            continue
        event = orjson.loads(_line(at))
        for _ in range(draw(st.integers(1, 3))):
            event[draw(st.sampled_from(FIELDS))] = draw(VALUES)
        separators = draw(st.sampled_from([(",", ":"), (", ", ": ")]))
        lines[at] = json.dumps(event, separators=separators).encode()
    if lines[0].strip() == b"" or lines[-1].strip() == b"":
        lines.append(_line(n))  # files hand over a block only with no blank first/last line
    return lines


@SETTINGS
@given(batches())
def test_one_parse_equals_the_pieces(lines: list[bytes]) -> None:
    _assert_same(lines)


def test_a_wrong_type_and_a_truncated_line_cost_one_typed_parse(monkeypatch) -> None:
    """The benchmark's dirt: one line with ``"ok":"yes"``, one cut short. The block is parsed
    typed once; only the suspect line is parsed as text; the reasons are today's."""
    lines = [_line(i) for i in range(5000)]
    lines[99] = lines[99].replace(b'"ok":false', b'"ok":"yes"')
    lines[3000] = lines[3000][:40]
    typed, text = [], []
    real_typed, real_text = parse.read_typed, parse.read_text
    monkeypatch.setattr(
        parse, "read_typed", lambda b, n, o, *f: typed.append(n) or real_typed(b, n, o, *f)
    )
    monkeypatch.setattr(
        parse, "read_text", lambda b, ls, o: text.append(len(ls)) or real_text(b, ls, o)
    )
    block = b"\n".join(lines)
    once = dec.decode(BlockLines(block), _origin, block)
    assert typed == [5000] and text == [1]
    assert [(d.origin, d.error[:40]) for d in once.dead] == [
        ("in:3001", "not valid JSON: unexpected end of data: "),
        ("in:100", "schema violation: ok must be true or fal"),
    ]
    assert once.events.height == 4998
    monkeypatch.undo()
    _assert_same(lines)


def test_a_missed_suspect_falls_back_to_the_pieces(monkeypatch) -> None:
    """A key written with escapes hides a wrong type from the pattern: the one parse refuses
    the block and the pieces decide, with the same result as ever."""
    lines = [_line(i) for i in range(50)]
    lines[7] = b'{"schema_version":1,"event_id":"x","kind":"probe","o\\u006b":"yes"}'
    calls = []
    real = blocks.decode_block
    monkeypatch.setattr(blocks, "decode_block", lambda *a: calls.append(r := real(*a)) or r)
    once = _assert_same(lines)
    assert calls == [None]
    assert [d.origin for d in once.dead] == ["in:8"]


@pytest.mark.parametrize("odd", [b'{"a":"\xff"}', b'{"schema_version":1}\r', b'{"a":"\x1f"}'])
def test_a_block_with_no_line_view_takes_the_pieces(odd: bytes) -> None:
    """Not UTF-8, a carriage return, a raw unit separator: no string column of the lines, so
    the pieces decode the block (and the dead letters keep the exact bytes)."""
    _assert_same([_line(0), odd, _line(2)])


@SETTINGS
@given(batches())
def test_checks_left_out_for_empty_fields_change_nothing(lines: list[bytes]) -> None:
    """Fields null in every row of a batch skip their checks (and their instants' parse):
    the events and dead letters are those of every check run on every row."""
    skipped = dec.decode(list(lines), _origin)
    real_flag, real_not_strings = checks.flag, checks.not_strings
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(checks, "flag", lambda empty=frozenset(): real_flag(frozenset()))
        patch.setattr(checks, "not_strings", lambda f, ls, empty=(): real_not_strings(f, ls))
        full = dec.decode(list(lines), _origin)
    assert skipped.events.equals(full.events)
    assert [d.record() for d in skipped.dead] == [d.record() for d in full.dead]


def test_suspects_at_the_edges_of_the_parsed_pieces() -> None:
    """A block is parsed in pieces of ``_PIECE`` lines: suspect and cut-off lines on either
    side of each edge keep their rows, seq and reasons."""
    n = 2 * parse.PIECE + 10
    lines = [_line(i) for i in range(n)]
    for i in (0, parse.PIECE - 1, 2 * parse.PIECE, n - 1):
        lines[i] = lines[i].replace(b'"schema_version":1', b'"schema_version":"x"')
    for i in (parse.PIECE, 2 * parse.PIECE - 1, 2 * parse.PIECE + 1):
        lines[i] = lines[i][:30]
    once = _assert_same(lines)
    assert sorted(int(d.origin[3:]) - 1 for d in once.dead) == [
        0, parse.PIECE - 1, parse.PIECE, 2 * parse.PIECE - 1, 2 * parse.PIECE, 2 * parse.PIECE + 1,
        n - 1,
    ]  # fmt: skip
    edge = [s for s in once.events.get_column("seq") if abs(s - parse.PIECE) <= 3]
    assert edge == [
        parse.PIECE - 3,
        parse.PIECE - 2,
        parse.PIECE + 1,
        parse.PIECE + 2,
        parse.PIECE + 3,
    ]


@SETTINGS
@given(batches())
def test_fields_the_sample_missed_take_the_text_path(lines: list[bytes]) -> None:
    """The typed parse reads only the fields of a sample of lines; with a sample of one line,
    most lines hold a field it missed: they are suspects, read whole as text, and the events
    and dead letters are still those of the pieces."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(blocks, "_SAMPLE", 1)
        _assert_same(lines)


def test_the_typed_parse_reads_only_the_sampled_fields(monkeypatch) -> None:
    """A block of probes and requests is parsed reading their fields only; one utilization
    line, missed by the sample, is read whole as text, with its values."""
    lines = [_line(i) for i in range(3000) if i % 3 != 2]
    lines[1500] = orjson.dumps(_event(1500, "utilization"))
    typed, text = [], []
    real_typed, real_text = parse.read_typed, parse.read_text
    monkeypatch.setattr(
        parse, "read_typed", lambda b, n, o, f=None: typed.append(f) or real_typed(b, n, o, f)
    )
    monkeypatch.setattr(
        parse, "read_text", lambda b, ls, o: text.append(list(ls)) or real_text(b, ls, o)
    )
    block = b"\n".join(lines)
    once = dec.decode(BlockLines(block), _origin, block)
    assert typed == [frozenset(_event(1, "request")) | frozenset(_event(0))]
    assert text == [[1500]]
    assert once.events.row(1500, named=True)["cpu"] == 0.5
    monkeypatch.undo()
    _assert_same(lines)


def test_many_lines_with_fields_the_sample_missed_read_every_field(monkeypatch) -> None:
    """More such lines than a block sets aside: the block is parsed once reading every field."""
    lines = [_line(i) for i in range(3000)]
    typed = []
    real_typed = parse.read_typed
    monkeypatch.setattr(
        parse, "read_typed", lambda b, n, o, f=None: typed.append(f) or real_typed(b, n, o, f)
    )
    monkeypatch.setattr(blocks, "_SAMPLE", 1)
    block = b"\n".join(lines)
    dec.decode(BlockLines(block), _origin, block)
    assert typed == [None]
    monkeypatch.undo()
    _assert_same(lines)


@pytest.mark.parametrize(
    "field",
    [
        b'"project_id":5',
        b'"model":true',
        b'"tenant_id":{"a":1}',
        b'"reason" : [1]',
        b'"pr\\u006fject_id":5',  # a key the pattern cannot see: every row is checked
    ],
)
def test_a_text_field_holding_no_string_is_a_dead_letter(field: bytes) -> None:
    """The typed parse reads a number, boolean, object or array in a text field as its text;
    the line pattern makes such a line a suspect, and only suspects are checked again (every
    row when the block holds a backslash): the dead letter is the pieces' one."""
    lines = [_line(i) for i in range(40)]
    lines[11] = lines[11][:-1] + b"," + field + b"}"
    once = _assert_same(lines)
    assert [d.origin for d in once.dead] == ["in:12"]
    assert "must be a string" in once.dead[0].error
