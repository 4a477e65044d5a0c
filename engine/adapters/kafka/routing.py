"""Stage 1's pure part: which contract each telemetry line belongs to, and the keyed messages.

A batch of Kafka records becomes, per contract, an ordered list of ``Piece``s (one record's
lines of that contract, with the record's origin ``topic[partition]@offset``), plus the lines
that name no usable contract. Two ways to get there, with the same result:

- **whole messages** (the fast path for collectors that batch by contract): an NDJSON message
  all of whose lines name one contract is kept as one piece, its bytes untouched. Whether it
  qualifies is decided with a few byte counts, no parsing (``whole_message_contract``);
- **line by line** (everything else: single-event messages, JSON arrays, mixed messages, odd
  spacing): the message is split into one JSON text per event and every line's
  ``contract_id`` is read in one vectorised polars pass (``route_lines``).

Pieces of one contract keep arrival order (record order, then line order), and a keyed message
never splits one origin's lines: stage 2 drops lines it already evaluated by origin offset.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl

from engine.core.decode import split_records

__all__ = [
    "ROUTED_CHUNK_BYTES",
    "Piece",
    "RoutePlan",
    "decode_routed",
    "empty_message_error",
    "encode_routed",
    "keyed_messages",
    "plan_batch",
    "route_lines",
    "split_origin",
    "whole_message_contract",
]

ROUTED_CHUNK_BYTES = 512 * 1024
_ROUTE_SCHEMA = {"contract_id": pl.String()}
_KEY = b'"contract_id"'
_KEY_TEXT = b'"contract_id":"'
_BETWEEN = b"}\n{"


#: Lines of one record for one contract: ``(order, body, origin, lines)``, where ``body`` is the
#: ``lines`` JSON texts joined by newlines and ``order`` is (record index in the batch, line
#: index), the arrival order. A plain tuple: stage 1 makes one per single-event message.
Piece = tuple[tuple[int, int], bytes, str, int]


@dataclass
class RoutePlan:
    """One batch by contract (pieces in arrival order) and the lines that name no contract."""

    pieces: dict[str, list[Piece]] = field(default_factory=lambda: defaultdict(list))
    unroutable: list[Piece] = field(default_factory=list)
    #: Messages without an event (null value, white space, ``[]``): (origin, value).
    empty: list[tuple[str, bytes | None]] = field(default_factory=list)
    events: int = 0
    whole_messages: int = 0

    def add(self, cid: str, piece: Piece) -> None:
        """A line found a contract after all (the core's decoder read one polars did not)."""
        pieces = self.pieces[cid]
        pieces.append(piece)
        if len(pieces) > 1 and pieces[-2][0] > piece[0]:
            pieces.sort(key=_order)


def _order(piece: Piece) -> tuple[int, int]:
    return piece[0]


# --------------------------------------------------------------------------- contracts of lines


def _contract_in(value: Any) -> str | None:
    cid = value.get("contract_id") if isinstance(value, dict) else None
    return cid if isinstance(cid, str) and cid else None


def _read_contracts(lines: Sequence[bytes]) -> list[str | None] | None:
    """Each line's ``contract_id`` in one polars pass; None if polars refuses the batch."""
    try:
        frame = pl.read_ndjson(b"\n".join(lines), schema=_ROUTE_SCHEMA)
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None
    if frame.height != len(lines):
        return None
    return [c or None for c in frame.get_column("contract_id").to_list()]


def route_lines(lines: Sequence[bytes]) -> list[str | None]:
    """Each line's ``contract_id`` (None if it has none), in one polars pass when possible.

    One malformed line makes polars refuse the whole batch: then orjson sorts out the lines
    that are not JSON, and the others are read by polars again, in one call, as stage 2's
    decoder reads them (the two differ on duplicate keys: polars keeps the first, orjson the
    last), whatever else shares their batch. Should polars refuse those too (valid JSON of
    the wrong shape), orjson's reading stands, but for lines with the key twice."""
    if not lines:
        return []
    found = _read_contracts(lines)
    if found is not None:
        return found
    out: list[str | None] = [None] * len(lines)
    valid: list[tuple[int, Any]] = []
    for i, line in enumerate(lines):
        with contextlib.suppress(orjson.JSONDecodeError):
            valid.append((i, orjson.loads(line)))
    again = _read_contracts([lines[i] for i, _ in valid]) if valid else None
    for k, (i, value) in enumerate(valid):
        if again is not None:
            out[i] = again[k]
        elif lines[i].count(_KEY) > 1:  # polars refuses a neighbour: read this one alone
            alone = _read_contracts([lines[i]])
            out[i] = alone[0] if alone is not None else _contract_in(value)
        else:
            out[i] = _contract_in(value)
    return out


def whole_message_contract(value: bytes) -> tuple[str, bytes, int] | None:
    """(contract, body, line count) of an NDJSON message whose every ``contract_id`` is one
    contract, with one per line; None when the message must be split line by line.

    Byte counts only. In JSON the text ``"contract_id"`` can only be a key (inside a string
    its quotes would be escaped), so "as many keys as lines, each ``"contract_id":"C"``"
    means every line names C, unless a line carries the key twice and another line not at
    all (or only in an escaped spelling such as ``"\\u0063ontract_id"``): that line is
    forwarded with the others, and in stage 2 the core dead-letters it (no contract: the
    reason stage 1 would have given; another contract: ``step``'s ``routed_to`` check).
    ``body`` is what ``split_records`` would cut into lines: objects one per line, no blank or
    padded line (a CRLF message is split line by line), no array, one trailing newline
    dropped."""
    body = value[:-1] if value.endswith(b"\n") else value
    if b"[" in body or body[:1] != b"{" or body[-1:] != b"}":
        return None
    n = body.count(b"\n") + 1
    # Every newline between two objects: no blank or padded line (and faster than a
    # search for a blank line, whose first byte is everywhere).
    if body.count(_BETWEEN) != n - 1 or body.count(_KEY) != n:
        return None
    start = body.find(_KEY_TEXT)
    if start < 0:
        return None
    start += len(_KEY_TEXT)
    cid = body[start : body.find(b'"', start)]
    if not cid or b"\\" in cid or body.count(_KEY_TEXT + cid + b'"') != n:
        return None
    try:
        return cid.decode(), body, n
    except UnicodeDecodeError:
        return None


def plan_batch(records: Iterable[Any], *, whole_messages: bool = True) -> RoutePlan:
    """Kafka records (``topic``, ``partition``, ``offset``, ``value``) → a ``RoutePlan``.

    ``whole_messages=False`` routes every line on its own (the reference the fast path equals).
    """
    plan = RoutePlan()
    lines: list[bytes] = []
    owners: list[int] = []  # each line's record index
    origins: list[str] = []  # each record's origin
    for index, r in enumerate(records):
        value = r.value or b""
        origins.append(f"{r.topic}[{r.partition}]@{r.offset}")
        if not value.strip():  # a line in, a dead letter out: never skipped silently
            plan.empty.append((origins[index], r.value))
            plan.events += 1
            continue
        if b"\n" not in value and b"[" not in value and value.strip():
            lines.append(value)  # one event: the common case of single-event producers
            owners.append(index)
            continue
        if whole_messages and b"\n" in value:
            hit = whole_message_contract(value)
            if hit is not None:
                cid, body, n = hit
                plan.pieces[cid].append(((index, 0), body, origins[index], n))
                plan.events += n
                plan.whole_messages += 1
                continue
        parts = split_records(value)
        if not parts:  # an empty JSON array
            plan.empty.append((origins[index], r.value))
            plan.events += 1
            continue
        lines.extend(parts)
        owners.extend([index] * len(parts))
    plan.events += len(lines)
    mixed = bool(plan.pieces)  # whole pieces first: the order is mended below
    for i, found in enumerate(route_lines(lines)):
        owner = owners[i]
        piece = ((owner, i + 1), lines[i], origins[owner], 1)
        if found is None:
            plan.unroutable.append(piece)
        else:
            plan.pieces[found].append(piece)
    if mixed:
        for pieces in plan.pieces.values():
            pieces.sort(key=_order)
    return plan


# --------------------------------------------------------------------------- keyed messages


def encode_routed(pieces: Sequence[Piece]) -> bytes:
    """First line: the origins as runs ``[[origin, line count], …]``; then the lines."""
    runs: list[list[Any]] = []
    bodies: list[bytes] = []
    for _, body, origin, lines in pieces:
        bodies.append(body)
        if runs and runs[-1][0] == origin:
            runs[-1][1] += lines
        else:
            runs.append([origin, lines])
    return b"\n".join([orjson.dumps({"o": runs}), *bodies])


def decode_routed(value: bytes) -> tuple[list[bytes], list[tuple[str, int]]]:
    """(lines, runs of (origin, line count)) of a routed message."""
    head, _, body = value.partition(b"\n")
    runs = [(origin, count) for origin, count in orjson.loads(head)["o"]]
    lines = body.split(b"\n") if body else []
    if len(lines) != sum(count for _origin, count in runs):
        raise ValueError(f"routed message holds {len(lines)} lines for runs {runs}")
    return lines, runs


def keyed_messages(pieces: Sequence[Piece], limit: int = ROUTED_CHUNK_BYTES) -> Iterator[bytes]:
    """One contract's pieces as routed messages of about ``limit`` bytes, never cutting one
    origin's lines apart (stage 2 drops lines by origin offset)."""
    start, size = 0, 0
    for i, (_, body, origin, _) in enumerate(pieces):
        if size > limit and origin != pieces[i - 1][2]:
            yield encode_routed(pieces[start:i])
            start, size = i, 0
        size += len(body) + 1
    if start < len(pieces):
        yield encode_routed(pieces[start:])


def empty_message_error(value: bytes | None) -> str:
    """The dead letter's reason for a message without a line."""
    if value is None:
        return "null message value"
    return "empty message value" if not value.strip() else "message holds no event"


def split_origin(origin: str) -> tuple[str, int]:
    """``topic[partition]@offset`` → (``topic[partition]``, offset)."""
    source, _, offset = origin.rpartition("@")
    return source, int(offset)
