"""Stage 2 in process (no broker): the ``Engine`` around a recording producer.

Issue 11: bounded state under a flood of unknown contract ids, keyed messages without a value
as dead letters, and output records that never outgrow ``max.message.bytes`` nor stop the
worker when the broker refuses one.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from engine.adapters.kafka.checkpoint import PartitionState, decode_checkpoint, parse_part
from engine.adapters.kafka.delivery import RECORD_OVERHEAD_BYTES, fit_record, record_error
from engine.adapters.kafka.engine import Engine
from engine.adapters.kafka.routing import encode_routed
from engine.core.pipeline import Outputs
from engine.core.state import EngineState
from engine.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KNOWN = "storage-001"


@dataclass
class Msg:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    topic: str = "csla-test-csla-by-contract"


@dataclass
class Producer:
    """Records every send; ``refuse(topic, value)`` makes the delivery of a record fail."""

    refuse: Callable[[str, bytes], BaseException | None] = lambda topic, value: None
    sent: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)

    async def send(self, topic: str, key: bytes | None, value: bytes, *_: Any) -> Any:
        fut = asyncio.get_running_loop().create_future()
        error = self.refuse(topic, value)
        if error is not None:
            fut.set_exception(error)
        else:
            self.sent.append((topic, key, value))
            fut.set_result(None)
        return fut

    def to(self, topic: str) -> list[tuple[bytes | None, bytes]]:
        return [(k, v) for t, k, v in self.sent if t == topic]


def make_engine(producer: Producer, **overrides: Any) -> Engine:
    settings = Settings(app_id="csla-test", rules_dir=ROOT / "rules", **overrides)
    app = SimpleNamespace(in_transaction=False, producer=producer, conf=SimpleNamespace(id="t"))
    engine = Engine(settings, app)  # type: ignore[arg-type]
    engine.partitions[0] = PartitionState(EngineState.empty(), 0, restored=False)
    engine.checkpoints.partitions = 1
    return engine


def probe(cid: str, n: int) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "event_id": f"flood-{n}",
            "event_time": "2026-10-12T07:00:20+08:00",
            "provider_id": "guizhou-cloud",
            "contract_id": cid,
            "resource_id": "pool-a",
            "source": "platform",
            "kind": "probe",
            "ok": True,
            "latency_ms": 2.0,
        }
    )


def routed(cid: str, line: bytes, telemetry_offset: int, partition: int = 0) -> bytes:
    origin = f"csla.telemetry[{partition}]@{telemetry_offset}"
    return encode_routed([((0, 0), line, origin, 1)])


def checkpoints(producer: Producer) -> list[bytes]:
    """Each checkpoint written, its parts joined (in the order written)."""
    whole: list[bytes] = []
    parts: list[bytes] = []
    for _, value in producer.to("csla-test-csla-state"):
        _, index, count, chunk = parse_part(value)
        assert index == len(parts)
        parts.append(chunk)
        if len(parts) == count:
            whole.append(b"".join(parts))
            parts = []
    assert not parts
    return whole


def checkpoint_sizes(producer: Producer) -> list[int]:
    return [len(v) for v in checkpoints(producer)]


def _flood(engine: Engine, batches: int, per_batch: int, *, unknown: bool) -> None:
    """``batches`` batches, each one line of the known contract then ``per_batch - 1`` lines
    of distinct unknown contracts (left out when not ``unknown``; the known contract's lines
    keep their telemetry offsets)."""
    offset = 0

    def msg(cid: str, n: int) -> Msg:
        nonlocal offset
        offset += 1
        return Msg(0, offset - 1, cid.encode(), routed(cid, probe(cid, n), n))

    async def run() -> None:
        for k in range(batches):
            first = k * per_batch
            messages = [msg(KNOWN, first)]
            for i in range(first + 1, first + per_batch) if unknown else ():
                messages.append(msg(f"nobody-{i:07d}", i))
            await engine._evaluate_partition(0, messages)  # type: ignore[arg-type]

    asyncio.run(run())


def test_a_flood_of_unknown_contracts_keeps_the_checkpoint_flat() -> None:
    """200,000 lines of distinct unknown contract ids over 40 batches: each is a dead letter,
    and the partition keeps exactly what it keeps without them (its ``sources``, the core's
    state), so the checkpoint is as large as a run without the flood."""
    flooded, clean = Producer(), Producer()
    engine = make_engine(flooded)
    _flood(engine, 40, 5_000, unknown=True)
    _flood(make_engine(clean), 40, 5_000, unknown=False)
    ps = engine.partitions[0]
    assert list(ps.sources) == [KNOWN]
    dead = flooded.to("csla.deadletter")
    assert len(dead) == 40 * 4_999
    assert "unknown contract" in orjson.loads(dead[0][1])["error"]
    with_flood = [decode_checkpoint(v) for v in checkpoints(flooded)]
    without = [decode_checkpoint(v) for v in checkpoints(clean)]
    assert len(with_flood) == len(without) == 40
    for (_, sources, snapshot), (_, clean_sources, clean_snapshot) in zip(
        with_flood, without, strict=True
    ):
        assert sources == clean_sources
        # (the core's state may differ by a few bytes of buffer layout, never by the flood)
        assert abs(len(snapshot) - len(clean_snapshot)) < 64
    sizes = checkpoint_sizes(flooded)
    clean_sizes = checkpoint_sizes(clean)
    assert all(abs(a - b) < 64 for a, b in zip(sizes, clean_sizes, strict=True)), (
        sizes,
        clean_sizes,
    )


def test_unknown_contracts_alone_leave_the_checkpoint_as_it_was() -> None:
    producer = Producer()
    engine = make_engine(producer)

    async def run() -> None:
        for k in range(10):
            messages = [
                Msg(0, i, f"x-{i}".encode(), routed(f"x-{i}", probe(f"x-{i}", i), i))
                for i in range(k * 2_000, (k + 1) * 2_000)
            ]
            await engine._evaluate_partition(0, messages)  # type: ignore[arg-type]

    asyncio.run(run())
    sizes = checkpoint_sizes(producer)
    assert engine.partitions[0].sources == {}
    assert max(sizes) - min(sizes) <= 8, sizes  # the digits of next_offset


def test_null_and_empty_keyed_messages_are_dead_letters() -> None:
    producer = Producer()
    engine = make_engine(producer)
    messages = [
        Msg(0, 0, KNOWN.encode(), None),
        Msg(0, 1, KNOWN.encode(), b""),
        Msg(0, 2, None, routed(KNOWN, probe(KNOWN, 1), 1)),
        Msg(0, 3, KNOWN.encode(), b"not routed"),
        Msg(0, 4, KNOWN.encode(), routed(KNOWN, probe(KNOWN, 2), 2)),
    ]
    asyncio.run(engine._evaluate_partition(0, messages))  # type: ignore[arg-type]
    dead = [orjson.loads(v) for _, v in producer.to("csla.deadletter")]
    by_origin = {d["origin"]: d["error"] for d in dead}
    topic = "csla-test-csla-by-contract[0]"
    assert by_origin[f"{topic}@0"] == "null message value"
    assert by_origin[f"{topic}@1"] == "empty message value"
    assert by_origin[f"{topic}@2"] == "keyed message without a contract key"
    assert by_origin[f"{topic}@3"].startswith("not a routed message")
    assert engine.partitions[0].next_offset == 5
    assert engine.metrics.empty_messages.labels("evaluate")._value.get() == 2


def _outputs(**records: list[dict[str, Any]]) -> Outputs:
    out = Outputs()
    for kind, items in records.items():
        getattr(out, kind).extend(items)
    return out


def test_an_output_larger_than_the_limit_becomes_a_dead_letter() -> None:
    producer = Producer()
    engine = make_engine(producer, max_message_bytes=65_536)
    big = {"record": "metric", "contract_id": KNOWN, "metric_id": "m1", "pad": "x" * 100_000}
    small = {"record": "metric", "contract_id": KNOWN, "metric_id": "m2"}
    huge_dead = {"record": "deadletter", "origin": "t[0]@1", "error": "bad", "raw": "y" * 90_000}
    out = _outputs(metrics=[big, small], dead=[huge_dead])
    asyncio.run(engine._emit(out, ("src", 0)))
    assert [orjson.loads(v)["metric_id"] for _, v in producer.to("csla.metrics")] == ["m2"]
    dead = [orjson.loads(v) for _, v in producer.to("csla.deadletter")]
    assert all(len(orjson.dumps(d)) <= 65_536 - RECORD_OVERHEAD_BYTES for d in dead)
    (of_output,) = [d for d in dead if d["origin"] == "output:csla.metrics"]
    assert "exceed max.message.bytes 65536" in of_output["error"]
    assert f"key={KNOWN!r}" in of_output["error"] and "bytes=1000" in of_output["error"]
    assert of_output["raw"].startswith('{"record":"metric"')
    (cut,) = [d for d in dead if d["origin"] == "t[0]@1"]
    assert cut["raw"] == cut["raw"][:1] * len(cut["raw"]) and "cut to" in cut["error"]
    assert engine.metrics.unpublished.labels("too_large")._value.get() == 2


def test_a_record_the_broker_refuses_is_dead_lettered_and_the_batch_goes_on() -> None:
    def refuse(topic: str, value: bytes) -> BaseException | None:
        return MessageSizeTooLargeError() if b'"refuse-me"' in value else None

    producer = Producer(refuse=refuse)
    engine = make_engine(producer)
    bad = {"record": "metric", "contract_id": KNOWN, "metric_id": "refuse-me"}
    good = {"record": "metric", "contract_id": KNOWN, "metric_id": "fine"}
    asyncio.run(engine._emit(_outputs(metrics=[bad, good]), ("src", 0)))
    assert [orjson.loads(v)["metric_id"] for _, v in producer.to("csla.metrics")] == ["fine"]
    (dead,) = [orjson.loads(v) for _, v in producer.to("csla.deadletter")]
    assert dead["origin"] == "output:csla.metrics"
    assert "MessageSizeTooLargeError" in dead["error"]
    assert engine.metrics.unpublished.labels("refused")._value.get() == 1


def test_a_connection_error_is_not_one_records_fault() -> None:
    producer = Producer(refuse=lambda topic, value: KafkaConnectionError("down"))
    engine = make_engine(producer)
    out = _outputs(metrics=[{"record": "metric", "contract_id": KNOWN, "metric_id": "m"}])
    with pytest.raises(KafkaConnectionError):
        asyncio.run(engine._emit(out, ("src", 0)))
    assert not record_error(KafkaConnectionError("down"))
    wrapped = RuntimeError("faust")
    wrapped.__cause__ = MessageSizeTooLargeError()
    assert record_error(wrapped)


def test_fit_record_leaves_records_that_fit_alone() -> None:
    record = {"record": "metric", "contract_id": "c"}
    assert fit_record("t", b"c", record, 65_536, "dead") == ("t", b"c", orjson.dumps(record), False)


def test_a_keyed_message_of_other_bytes_keeps_them_in_base64() -> None:
    producer = Producer()
    engine = make_engine(producer)
    asyncio.run(engine._evaluate_partition(0, [Msg(0, 0, KNOWN.encode(), b"\xff\xfe junk")]))  # type: ignore[list-item]
    (dead,) = [orjson.loads(v) for _, v in producer.to("csla.deadletter")]
    assert base64.b64decode(dead["raw_base64"]) == b"\xff\xfe junk"
    assert dead["raw"] == "\ufffd\ufffd junk" and dead["error"].startswith("not a routed message")


def test_a_dead_letter_of_escapes_is_cut_until_it_fits() -> None:
    record = {
        "record": "deadletter",
        "raw": "\x01" * 100_000,  # 6 bytes each in JSON
        "raw_base64": "A" * 100_000,
        "error": "bad",
        "origin": "t[0]@1",
    }
    topic, _, value, replaced = fit_record("dead", None, record, 65_536, "dead")
    assert (topic, replaced) == ("dead", True)
    assert len(value) <= 65_536 - RECORD_OVERHEAD_BYTES
    out = orjson.loads(value)
    assert "raw_base64" not in out and "raw_base64 dropped" in out["error"]
    assert out["raw"] and set(out["raw"]) == {"\x01"}


def test_marks_of_unknown_contracts_in_an_old_checkpoint_are_dropped_on_restore() -> None:
    producer = Producer()
    engine = make_engine(producer)
    del engine.partitions[0]
    old = {KNOWN: {"csla.telemetry[0]": 5}, "nobody-1": {"csla.telemetry[0]": 7}}

    async def restore(partition: int, now_ms: int) -> PartitionState:
        return PartitionState(EngineState.empty(), 10, restored=True, sources=dict(old))

    engine.checkpoints.restore = restore  # type: ignore[method-assign]
    message = Msg(0, 10, KNOWN.encode(), routed(KNOWN, probe(KNOWN, 9), 9))
    asyncio.run(engine._evaluate_partition(0, [message]))  # type: ignore[list-item]
    assert engine.partitions[0].sources == {KNOWN: {"csla.telemetry[0]": 9}}


def test_a_contract_whose_evaluation_raises_is_quarantined_on_the_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The core quarantines a contract whose closing raises (fault injected): the worker
    counts it in csla_contract_errors_total, shows it on the gauge, /health and the dashboard,
    and goes on with the next batch (its lines then dead letters with the reason)."""
    import engine.core.closer as closer

    real = closer.close_range

    def failing(closing: Any, *args: Any) -> None:
        if closing.contract.id == KNOWN:
            raise ZeroDivisionError("injected")
        real(closing, *args)

    monkeypatch.setattr(closer, "close_range", failing)
    producer = Producer()
    engine = make_engine(producer)
    # a probe a minute from 07:00 to 07:34: the watermark passes window ends, closings run
    lines = [probe(KNOWN, m).replace(b"07:00:20", f"07:{m:02d}:20".encode()) for m in range(35)]

    async def run() -> None:
        msgs = [Msg(0, n, KNOWN.encode(), routed(KNOWN, line, n)) for n, line in enumerate(lines)]
        for batch in (msgs[:20], msgs[20:30], msgs[30:]):
            await engine._evaluate_partition(0, batch)  # type: ignore[arg-type]

    asyncio.run(run())
    registry = engine.metrics.registry
    assert registry.get_sample_value("csla_contract_errors_total", {"contract_id": KNOWN}) == 1
    assert registry.get_sample_value("csla_contracts_quarantined") == 1
    assert "ZeroDivisionError: injected" in engine.dashboard.quarantined[KNOWN]
    errors = [orjson.loads(v)["error"] for _, v in producer.to("csla.deadletter")]
    assert any("quarantined: evaluating it raised" in e for e in errors)
    assert any(f"contract '{KNOWN}' is quarantined" in e for e in errors), errors


# --------------------------------------------------------------------------- keyed input

TELEMETRY = "csla.telemetry"


def keyed_engine(producer: Producer, partitions: int = 4) -> Engine:
    """Stage 2 reading the telemetry topic itself (``input_keyed_by_contract``)."""
    engine = make_engine(producer, input_keyed_by_contract=True)
    engine.app.consumer = SimpleNamespace(topic_partitions=lambda topic: partitions)  # type: ignore[attr-defined]
    for p in range(partitions):
        engine.partitions[p] = PartitionState(EngineState.empty(), 0, restored=False)
    return engine


def simulated(days: float = 1.5) -> dict[str, list[bytes]]:
    """The bundled contracts' simulated lines (with faults: dead letters too), by contract,
    three weeks ago (no event ahead of the clock)."""
    import time

    from engine.ruleset import load_rules_dir
    from engine.simulate import simulate

    ruleset = load_rules_dir(ROOT / "rules").ruleset
    start = (int(time.time() * 1000) - 21 * 86_400_000) // 86_400_000 * 86_400_000
    by_contract: dict[str, list[bytes]] = {}
    for line in simulate(ruleset, start_ms=start, days=days, seed=5, faults=True):
        # (as a producer keys it: by the first ``"contract_id":"…"``; a spoilt line may be cut)
        at = line.find(b'"contract_id":"') + 15
        cid = line[at : line.find(b'"', at)].decode() if at >= 15 else ""
        by_contract.setdefault(cid, []).append(line)
    return by_contract


def test_keyed_input_gives_the_outputs_of_the_rekey_path() -> None:
    """The same telemetry messages (NDJSON of one contract, single events, JSON arrays), each
    on its key's partition: evaluated straight from the telemetry topic, or as stage 1 would
    forward them, give the same records, byte for byte, and the books balance."""
    from engine.adapters.kafka.keyed import key_partition

    telemetry: dict[int, list[Msg]] = {}
    routed_msgs: dict[int, list[Msg]] = {}
    for cid, lines in simulated().items():
        if not cid:
            continue
        part = key_partition(cid.encode(), 4)
        for n, i in enumerate(range(0, len(lines), 300)):
            chunk = lines[i : i + 300]
            values = (
                [b"[" + b",".join(chunk) + b"]"] if n % 3 == 1
                else chunk[:20] if n % 3 == 2
                else [b"\n".join(chunk) + b"\n"]
            )  # fmt: skip
            for value in values:
                offset = len(telemetry.setdefault(part, []))
                telemetry[part].append(Msg(part, offset, cid.encode(), value, TELEMETRY))
                origin = f"{TELEMETRY}[{part}]@{offset}"
                pieces = [((0, 0), line, origin, 1) for line in _lines(value)]
                routed_msgs.setdefault(part, []).append(
                    Msg(part, offset, cid.encode(), encode_routed(pieces))
                )
    keyed, rekeyed = Producer(), Producer()
    k_engine, r_engine = keyed_engine(keyed), make_engine(rekeyed)
    for p in routed_msgs:
        r_engine.partitions[p] = PartitionState(EngineState.empty(), 0, restored=False)

    async def run() -> None:
        for p, msgs in telemetry.items():
            for i in range(0, len(msgs), 25):  # batches of 25 messages
                await k_engine._evaluate_partition(p, msgs[i : i + 25])  # type: ignore[arg-type]
                await r_engine._evaluate_partition(p, routed_msgs[p][i : i + 25])  # type: ignore[arg-type]

    asyncio.run(run())
    outputs = [t for t, _, _ in keyed.sent if not t.endswith("-csla-state")]
    assert {"csla.metrics", "csla.breaches", "csla.deadletter"} <= set(outputs)
    for topic in set(outputs):
        assert keyed.to(topic) == rekeyed.to(topic), topic
    m = k_engine.metrics
    lines_in = sum(len(_lines(msg.value or b"")) for msgs in telemetry.values() for msg in msgs)
    assert m.events_in._value.get() == lines_in
    assert lines_in == (
        m.accepted._value.get() + m.duplicates._value.get() + m.late_events._value.get()
        + m.dead_letters._value.get()
    )  # fmt: skip


def _lines(value: bytes) -> list[bytes]:
    from engine.core.decode import split_records

    return split_records(value)


def test_misrouted_keyed_lines_are_dead_letters_never_evaluated() -> None:
    """A key on another partition, no key, a line naming another contract than its key:
    dead letters with the reason, one per line, counted in the books; the rest evaluated."""
    from engine.adapters.kafka.keyed import key_partition

    producer = Producer()
    engine = keyed_engine(producer)
    home = key_partition(KNOWN.encode(), 4)
    away = (home + 1) % 4
    other = "maas-api-001"
    good, wrong_part, wrong_part2 = probe(KNOWN, 1), probe(KNOWN, 2), probe(KNOWN, 3)
    messages_away = [
        Msg(away, 0, KNOWN.encode(), wrong_part + b"\n" + wrong_part2, TELEMETRY),
        Msg(away, 1, None, probe(KNOWN, 4), TELEMETRY),
        Msg(away, 2, b"\xff", probe(KNOWN, 5), TELEMETRY),
        Msg(away, 3, other.encode(), b"", TELEMETRY),
        Msg(away, 4, other.encode(), b"[]", TELEMETRY),
    ]
    messages_home = [
        Msg(home, 0, KNOWN.encode(), good, TELEMETRY),
        Msg(home, 1, KNOWN.encode(), probe(other, 6), TELEMETRY),  # names another contract
    ]

    async def run() -> None:
        await engine._evaluate_partition(away, messages_away)  # type: ignore[arg-type]
        await engine._evaluate_partition(home, messages_home)  # type: ignore[arg-type]

    asyncio.run(run())
    dead = [orjson.loads(v) for _, v in producer.to("csla.deadletter")]
    errors: dict[str, list[str]] = {}
    for d in dead:
        errors.setdefault(d["origin"], []).append(d["error"])
    at = f"{TELEMETRY}[{away}]@"
    assert len(errors[f"{at}0"]) == 2  # one per line
    assert all(f"belongs to partition {home}" in e for e in errors[f"{at}0"])
    assert "without a key" in errors[f"{at}1"][0]
    assert "not UTF-8" in errors[f"{at}2"][0]
    assert errors[f"{at}3"] == ["empty message value"]
    assert errors[f"{at}4"] == ["message holds no event"]
    misnamed = errors[f"{TELEMETRY}[{home}]@1"]
    assert len(misnamed) == 1 and f"'{other}'" in misnamed[0] and f"'{KNOWN}'" in misnamed[0]
    assert f"{TELEMETRY}[{home}]@0" not in errors
    m = engine.metrics
    assert m.events_in._value.get() == 8  # 6 lines and empty messages away, 2 lines home
    assert m.dead_letters._value.get() == 7 and m.accepted._value.get() == 1
    assert engine.partitions[away].state.contracts == {}  # nothing evaluated there
    assert m.empty_messages.labels("evaluate")._value.get() == 2


@pytest.mark.parametrize(
    "value",
    [
        b'{"a":1}',
        b'{"a":1}\n{"b":2}',
        b'{"a":1}\n',
        b'\n{"a":1}',
        b'{"a":1}\n\n{"b":2}',
        b' \n{"a":1}',
        b'{"a":1}\r\n{"b":2}',
        b"x",
        b'{"a":[1]}\n{"b":2}',
        b'[{"a":1},{"b":2}]',
        b'[{"a":1},\n{"b":2}]',
    ],
)
def test_keyed_lines_are_the_lines_split_records_reads(value: bytes) -> None:
    from engine.adapters.kafka.keyed import keyed_batch
    from engine.core.decode import split_records

    batch = keyed_batch([Msg(0, 7, b"c", value, TELEMETRY)], lambda key: 0)
    assert batch.lines == split_records(value)
    assert batch.origins == [f"{TELEMETRY}[0]@7"] * len(batch.lines)
    assert batch.routed_to == ["c"] * len(batch.lines) and not batch.dead


def test_a_batch_publishes_every_partitions_outputs_before_any_checkpoint() -> None:
    producer = Producer()
    engine = make_engine(producer)
    engine.partitions[1] = PartitionState(EngineState.empty(), 0, restored=False)
    batch = {
        0: [
            Msg(0, 0, KNOWN.encode(), None),
            Msg(0, 1, KNOWN.encode(), routed(KNOWN, probe(KNOWN, 1), 1)),
        ],
        1: [
            Msg(1, 0, KNOWN.encode(), b""),
            Msg(1, 1, KNOWN.encode(), routed(KNOWN, probe(KNOWN, 2), 2, 1)),
        ],
    }
    asyncio.run(engine._evaluate_partitions(batch))  # type: ignore[arg-type]
    topics = [topic for topic, _, _ in producer.sent]
    state = [i for i, topic in enumerate(topics) if topic == "csla-test-csla-state"]
    outputs = [i for i, topic in enumerate(topics) if topic != "csla-test-csla-state"]
    assert len(outputs) == 2 and max(outputs) < min(state)  # the two dead letters, then
    assert len(checkpoints(producer)) == 2  # one checkpoint per partition
    assert [engine.partitions[p].next_offset for p in (0, 1)] == [2, 2]


def test_a_batch_that_fails_forgets_every_partition_of_it() -> None:
    producer = Producer(refuse=lambda topic, value: KafkaConnectionError("down"))
    engine = make_engine(producer)
    engine.partitions[1] = PartitionState(EngineState.empty(), 0, restored=False)
    batch = {p: [Msg(p, 0, KNOWN.encode(), None)] for p in (0, 1)}
    with pytest.raises(KafkaConnectionError):
        asyncio.run(engine._evaluate_partitions(batch))  # type: ignore[arg-type]
    assert engine.partitions == {}  # the next batch restores both from their checkpoints
