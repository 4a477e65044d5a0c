"""Stage 1's routing plan (pure; no broker): whole NDJSON messages of one contract are kept as
they are, everything else is routed line by line, and both give the same lines per contract."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.adapters.kafka.metrics import WorkerMetrics
from engine.adapters.kafka.router import Router
from engine.adapters.kafka.routing import (
    RoutePlan,
    decode_routed,
    empty_message_error,
    keyed_messages,
    plan_batch,
    whole_message_contract,
)
from engine.core.decode import decode
from engine.settings import Settings


@dataclass
class Rec:
    value: bytes
    offset: int
    topic: str = "t"
    partition: int = 0


def ev(cid: str | None, n: int, **extra: object) -> bytes:
    body: dict[str, object] = {"schema_version": 1, "kind": "probe", "event_id": f"e{n}"}
    if cid is not None:
        body["contract_id"] = cid
    body.update(extra)
    return orjson.dumps(body)


def routed(plan: RoutePlan) -> dict[str, list[tuple[bytes, str]]]:
    """Per contract: (line, origin) in the order stage 2 will see them."""
    out: dict[str, list[tuple[bytes, str]]] = {}
    for cid, pieces in plan.pieces.items():
        for value in keyed_messages(pieces, limit=300):
            lines, runs = decode_routed(value)
            origins = [o for o, count in runs for _ in range(count)]
            out.setdefault(cid, []).extend(zip(lines, origins, strict=True))
    return out


# --------------------------------------------------------------------------- whole messages


def test_one_contract_ndjson_is_kept_whole() -> None:
    value = b"\n".join(ev("A", i) for i in range(3))
    assert whole_message_contract(value) == ("A", value, 3)
    assert whole_message_contract(value + b"\n") == ("A", value, 3)  # trailing newline dropped
    quoted = ev("A", 1) + b"\n" + ev("A", 2, note='"contract_id":"B"')  # escaped: not a key
    assert whole_message_contract(quoted) == ("A", quoted, 2)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (ev("A", 1) + b"\n" + ev("B", 2), "two contracts"),
        (ev("A", 1) + b"\n" + ev("AB", 2), "a contract whose id starts like another"),
        (ev("A", 1) + b"\n\n" + ev("A", 2), "a blank line"),
        (ev("A", 1) + b"\n" + b"  " + b"\n" + ev("A", 2), "a whitespace-only line"),
        (ev("A", 1) + b"\n" + orjson.dumps([orjson.loads(ev("A", 2))]), "an array"),
        (ev("A", 1) + b'\n{"contract_id" : "A"}', "spaces around the colon"),
        (ev("A", 1) + b"\n" + ev(None, 2), "a line without contract"),
        (b'{"contract_id":"A\\u0041"}\n{"contract_id":"A\\u0041"}', "an escape in the id"),
        (b'{"contract_id":"\xff"}\n{"contract_id":"\xff"}', "an id that is not UTF-8"),
        (b'{"contract_id":1}\n{"contract_id":1}', "an id that is not a string"),
    ],
)
def test_messages_that_are_split_line_by_line(value: bytes, why: str) -> None:
    assert whole_message_contract(value) is None, why


def test_key_text_inside_a_string_is_escaped_so_it_never_counts() -> None:
    line = ev("A", 1, note='"contract_id":"A"')
    assert b'\\"contract_id\\":\\"A\\"' in line
    assert line.count(b'"contract_id":') == 1


def test_a_nested_key_making_up_for_a_missing_one_is_dead_lettered_in_stage_2_alike() -> None:
    """Line 1 names A twice (once nested), line 2 not at all: the counts match, the message is
    forwarded whole to A, and the core's decoder rejects line 2 there with the reason stage 1
    would have given it (and line 1 for its unknown field, as it would anyway)."""
    nested = b'{"schema_version":1,"contract_id":"A","x":{"contract_id":"A"}}'
    orphan = ev(None, 2)
    value = nested + b"\n" + orphan
    assert whole_message_contract(value) == ("A", value, 2)
    reference = plan_batch([Rec(value, 0)], whole_messages=False)
    assert [p[1] for p in reference.unroutable] == [orphan]
    stage1 = decode([orphan], lambda i: "t[0]@0").dead
    stage2 = decode([nested, orphan], lambda i: "t[0]@0").dead
    assert [d.error for d in stage1] == [d.error for d in stage2 if d.raw == orphan.decode()]
    assert len(stage2) == 2


def test_a_spaced_key_beside_a_doubled_one_is_not_taken_for_the_message_contract() -> None:
    """Review finding: line 1 names A twice, line 2 names B with a space before the colon.
    Counting ``"contract_id":`` saw two keys for two lines, all A; counting ``"contract_id"``
    sees three, so the message is split and line 2 goes to B, as line-by-line routing does."""
    doubled = b'{"contract_id":"A","contract_id":"A","event_id":"1"}'
    spaced = b'{"contract_id" : "B","event_id":"2"}'
    value = doubled + b"\n" + spaced
    assert whole_message_contract(value) is None
    assert routed(plan_batch([Rec(value, 0)]))["B"] == [(spaced, "t[0]@0")]


def test_an_escaped_key_beside_a_doubled_one_is_forwarded_and_caught_in_stage_2() -> None:
    """The one spelling byte counts cannot see: ``"\\u0063ontract_id":"B"`` next to a line
    naming A twice. The message goes whole to A; stage 2's ``step(routed_to=…)`` then
    dead-letters the B line instead of evaluating it in A's partition (tests/core)."""
    doubled = b'{"contract_id":"A","contract_id":"A","event_id":"1"}'
    escaped = b'{"\\u0063ontract_id":"B","event_id":"2"}'
    assert orjson.loads(escaped)["contract_id"] == "B"
    value = doubled + b"\n" + escaped
    assert whole_message_contract(value) == ("A", value, 2)


def test_duplicate_keys_route_the_same_whatever_else_is_in_the_batch() -> None:
    """Review finding: polars keeps the first of duplicate keys and orjson the last; a
    malformed line in the batch used to switch every line to orjson. Now only the lines
    polars refuses are read by orjson, so a line routes as stage 2's decoder reads it."""
    line = b'{"contract_id":"A","contract_id":"B","event_id":"1"}'
    alone = plan_batch([Rec(line, 0)])
    with_bad = plan_batch([Rec(b"not json", 0), Rec(line, 1), Rec(b"{broken", 2)])
    assert list(alone.pieces) == list(with_bad.pieces) == ["A"]
    assert [p[1] for p in with_bad.unroutable] == [b"not json", b"{broken"]


# --------------------------------------------------------------------------- plans


def test_arrival_order_per_contract_across_whole_and_split_messages() -> None:
    a = [ev("A", i) for i in range(6)]
    records = [
        Rec(a[0] + b"\n" + a[1], 10),  # whole
        Rec(a[2] + b"\n" + ev("B", 9) + b"\n" + a[3], 11),  # mixed: split
        Rec(a[4], 12),  # single
        Rec(a[5] + b"\n", 13),  # whole, trailing newline
    ]
    plan = plan_batch(records)
    assert plan.whole_messages == 2 and plan.events == 7
    got = routed(plan)
    assert got["A"] == [
        (a[0], "t[0]@10"),
        (a[1], "t[0]@10"),
        (a[2], "t[0]@11"),
        (a[3], "t[0]@11"),
        (a[4], "t[0]@12"),
        (a[5], "t[0]@13"),
    ]
    assert got["B"] == [(ev("B", 9), "t[0]@11")]
    assert got == routed(plan_batch(records, whole_messages=False))


def test_keyed_messages_never_cut_one_origin_apart() -> None:
    big = b"\n".join(ev("A", i, pad="x" * 100) for i in range(10))  # > the 300-byte limit
    plan = plan_batch([Rec(big, 1), Rec(ev("A", 99), 2), Rec(ev("A", 100), 3)])
    values = list(keyed_messages(plan.pieces["A"], limit=300))
    assert len(values) == 2
    first_lines, first_runs = decode_routed(values[0])
    assert first_runs == [("t[0]@1", 10)] and len(first_lines) == 10


def test_a_line_found_later_goes_back_in_its_place() -> None:
    plan = plan_batch([Rec(ev("A", 1), 1), Rec(b"not json", 2), Rec(ev("A", 3), 3)])
    (bad,) = plan.unroutable
    plan.add("A", bad)
    assert [p[2] for p in plan.pieces["A"]] == ["t[0]@1", "t[0]@2", "t[0]@3"]


# --------------------------------------------------------------------------- property

_contract = st.sampled_from(["A", "B", "gpu-train-001"])
_line = st.one_of(
    _contract.map(lambda c: ("ok", c)),
    st.just(("none", None)),
    st.just(("bad", None)),
    _contract.map(lambda c: ("spaced", c)),
)


def _render(kind: str, cid: str | None, n: int) -> bytes:
    if kind == "ok":
        return ev(cid, n)
    if kind == "spaced":
        return (
            b'{"contract_id" : "' + (cid or "").encode() + b'", "event_id": "s' + b"%d" % n + b'"}'
        )
    if kind == "none":
        return ev(None, n)
    return b'{"contract_id":"A", broken'


@st.composite
def batches(draw: st.DrawFn) -> list[Rec]:
    records = []
    for offset in range(draw(st.integers(1, 8))):
        lines = [
            _render(k, c, i)
            for i, (k, c) in enumerate(draw(st.lists(_line, min_size=1, max_size=5)))
        ]
        shape = draw(st.sampled_from(["ndjson", "trailing", "crlf", "array", "blank"]))
        if shape == "array" and all(b"broken" not in x for x in lines):
            value = b"[" + b",".join(lines) + b"]"
        elif shape == "trailing":
            value = b"\n".join(lines) + b"\n"
        elif shape == "crlf":
            value = b"\r\n".join(lines)
        elif shape == "blank":
            value = b"\n\n".join(lines)
        else:
            value = b"\n".join(lines)
        records.append(Rec(value, offset, partition=draw(st.integers(0, 1))))
    return records


@settings(max_examples=300, deadline=None)
@given(batches())
def test_whole_messages_route_every_valid_line_as_line_by_line_routing_does(
    records: list[Rec],
) -> None:
    """Lines the reference routes go to the same contract in the same order; lines it cannot
    route stay unroutable, except inside a whole message, where the core's decoder rejects
    them in stage 2 instead (checked above)."""
    fast, slow = plan_batch(records), plan_batch(records, whole_messages=False)
    slow_routes = routed(slow)
    fast_routes = routed(fast)
    unroutable = {(p[1], p[2]) for p in slow.unroutable}
    for cid, lines in fast_routes.items():
        assert [x for x in lines if x not in unroutable] == slow_routes.get(cid, [])
    for cid, lines in slow_routes.items():
        assert cid in fast_routes or not lines
    assert {(p[1], p[2]) for p in fast.unroutable} <= unroutable
    assert fast.events == slow.events


def test_messages_without_an_event_are_dead_letters_not_skipped() -> None:
    """Issue 11: a null or empty value (or white space, or ``[]``) was skipped silently."""
    records = [
        Rec(None, 0),  # type: ignore[arg-type]
        Rec(b"", 1),
        Rec(b" \n\n", 2),
        Rec(b"[]", 3),
        Rec(ev("c1", 1), 4),
    ]
    plan = plan_batch(records)
    assert [(origin, empty_message_error(value)) for origin, value in plan.empty] == [
        ("t[0]@0", "null message value"),
        ("t[0]@1", "empty message value"),
        ("t[0]@2", "empty message value"),
        ("t[0]@3", "message holds no event"),
    ]
    assert plan.events == 5 and list(plan.pieces) == ["c1"]


def test_the_router_dead_letters_empty_messages_and_cuts_big_lines() -> None:
    sent: list[tuple[str, bytes | None, bytes]] = []

    class Producer:
        async def send(self, topic: str, value: bytes, key: bytes | None) -> Any:
            sent.append((topic, key, value))
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(None)
            return fut

    metrics = WorkerMetrics()
    router = Router(
        Settings(max_message_bytes=65_536),
        metrics,
        "by-contract",
        client_options={},
        bootstrap=[],
        fatal=lambda what, exc: None,
    )
    router.producer = Producer()
    huge = b'{"kind":"probe","pad":"' + b"z" * 200_000 + b'"}'  # no contract_id
    batch = {"tp": [Rec(None, 0), Rec(b"", 1), Rec(huge, 2), Rec(ev("c1", 3), 3)]}  # type: ignore[arg-type]
    asyncio.run(router.route(batch))
    dead = [orjson.loads(v) for t, _, v in sent if t == "csla.deadletter"]
    assert [(d["origin"], d["error"]) for d in dead[:2]] == [
        ("t[0]@0", "null message value"),
        ("t[0]@1", "empty message value"),
    ]
    assert dead[2]["origin"] == "t[0]@2" and len(dead) == 3
    assert all(len(v) <= 65_536 for t, _, v in sent if t == "csla.deadletter")
    assert "cut to" in dead[2]["error"]
    assert [k for t, k, _ in sent if t == "by-contract"] == [b"c1"]
    assert metrics.dead_letters._value.get() == 3
    assert metrics.events_in._value.get() == 4


def test_the_router_routes_a_batch_again_while_the_broker_is_away() -> None:
    from aiokafka.errors import KafkaTimeoutError

    sent: list[bytes | None] = []
    failures = [KafkaTimeoutError()]

    class Producer:
        async def send(self, topic: str, value: bytes, key: bytes | None) -> Any:
            if failures:
                raise failures.pop()
            sent.append(key)
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(None)
            return fut

    metrics = WorkerMetrics()
    router = Router(
        Settings(), metrics, "by-contract", client_options={}, bootstrap=[], fatal=print
    )
    router.producer = Producer()
    batch = {"tp": [Rec(ev("c1", 1), 0), Rec(ev("c2", 2), 1)]}
    assert asyncio.run(router._route_until_done(batch))
    assert sorted(k for k in sent if k) == [b"c1", b"c2"]
    assert metrics.events_in._value.get() == 2  # counted once, not per attempt
