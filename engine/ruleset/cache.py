"""A content-addressed cache of parsed rule files, so a rules directory loads again without
parsing its YAML (libyaml alone costs about 1.4 ms for an 11 KB rule file).

An entry holds what the parse of one file's text gave: the plain document and a table of the
line and column of every field (so a warning or error is placed as from the parse). Its name
is the SHA-256 of the text and of the parser (``PARSER_ID``: PyYAML's version and this
package's loader sources), so an edited file, a new PyYAML or a changed loader never meets an
old entry. Only the parse is cached: the spec model validates the document, and the checks
and the compile run, on every load, against the scoring table of that load, so a result
(contract, errors, warnings and their ``file:line:col``) is the same with the cache, without
it, or with a wrong entry. An entry that is unreadable, truncated, fails its checksum, names
another text, or holds anything but plain data is ignored and written again. Entries are
unpickled with only ``Decimal``, ``datetime``, ``date``, ``timedelta`` and ``timezone``
allowed, and only for files within the rule-file limits (a file's limits are checked when it
is parsed; a cached text passed them).

The cache directory is ``$XDG_CACHE_HOME/csla/rules`` (``~/.cache/csla/rules``); it is trusted
like the user's own files (whoever can write it can change what a file is read as).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml as libyaml

__all__ = ["ParseCache", "PositionTable", "TablePositions", "default_cache_dir", "position_table"]

#: path of a field → (0-based line, 0-based column, kind, number of children)
PositionTable = dict[tuple[str | int, ...], tuple[int, int, int, int]]

_SCALAR, _MAP, _SEQ = 0, 1, 2
_NULL_TAG = "tag:yaml.org,2002:null"
_MAGIC = b"csla-rules-parse/1\n"
_DIGEST = 32
#: No entry of a file within the 1 MiB limit comes near this; a bigger one is not read.
_MAX_ENTRY_BYTES = 32 << 20
_ALLOWED = {
    ("decimal", "Decimal"),
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
}


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/csla/rules``, or ``~/.cache/csla/rules``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "csla" / "rules"


def _parser_id() -> str:
    """What decides how a text parses: PyYAML, this package's loader, the Python version."""
    digest = hashlib.sha256(f"{libyaml.__version__}|{sys.version_info[:2]}".encode())
    here = Path(__file__).resolve().parent
    for name in ("load.py", "fast.py", "plain.py", "events.py", "limits.py", "cache.py"):
        try:
            digest.update((here / name).read_bytes())
        except OSError:  # not installed as files: an id no other parser has
            digest.update(os.urandom(16))
    return digest.hexdigest()


class _PlainUnpickler(pickle.Unpickler):
    """Unpickles plain data only: no class but the few value types a YAML document holds."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")


class ParseCache:
    """Parsed rule files under ``directory``, by the SHA-256 of their text and the parser."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._parser = _parser_id()

    @classmethod
    def default(cls) -> ParseCache:
        return cls(default_cache_dir())

    def key(self, text: str) -> str:
        digest = hashlib.sha256(self._parser.encode())
        digest.update(text.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.parse"

    def get(self, text: str) -> tuple[dict[str, Any], TablePositions] | None:
        """The document and positions of ``text``, or None (no entry, or a bad one)."""
        key = self.key(text)
        try:
            with self._path(key).open("rb") as handle:
                blob = handle.read(_MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        head = len(_MAGIC) + _DIGEST
        if len(blob) > _MAX_ENTRY_BYTES or len(blob) < head or not blob.startswith(_MAGIC):
            return None
        payload = blob[head:]
        if hashlib.sha256(payload).digest() != blob[len(_MAGIC) : head]:
            return None
        try:
            entry = _PlainUnpickler(io.BytesIO(payload)).load()
        except Exception:  # any undecodable entry is only a miss
            return None
        if not (isinstance(entry, tuple) and len(entry) == 3 and entry[0] == key):
            return None
        document, table = entry[1], entry[2]
        if not (isinstance(document, dict) and isinstance(table, bytes)):
            return None
        return document, TablePositions(table)

    def put(self, text: str, document: dict[str, Any], table: PositionTable) -> None:
        """Keep the parse of ``text``; a cache that cannot be written is only slower."""
        key = self.key(text)
        table_blob = pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL)  # read when needed
        payload = pickle.dumps((key, document, table_blob), protocol=pickle.HIGHEST_PROTOCOL)
        blob = _MAGIC + hashlib.sha256(payload).digest() + payload
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(temporary, self._path(key))  # readers see a whole entry or none
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def position_table(root: Any) -> PositionTable:
    """The position of every field of a libyaml node graph, as ``_NodePositions`` finds it: a
    scalar value at itself, a mapping, sequence or empty value at its key, an item of a
    sequence at the item."""
    table: PositionTable = {}
    stack: list[tuple[tuple[str | int, ...], Any, int, int]] = [((), root, 0, 0)]
    while stack:
        path, node, line, column = stack.pop()
        if path in table:  # a key given twice: the first one is found
            continue
        if isinstance(node, libyaml.MappingNode):
            table[path] = (line, column, _MAP, len(node.value))
            for key, value in reversed(node.value):  # the first of a duplicate key wins
                at_key = isinstance(value, libyaml.CollectionNode) or value.tag == _NULL_TAG
                mark = (key if at_key else value).start_mark
                stack.append(((*path, str(key.value)), value, mark.line, mark.column))
        elif isinstance(node, libyaml.SequenceNode):
            table[path] = (line, column, _SEQ, len(node.value))
            for index in range(len(node.value) - 1, -1, -1):
                item = node.value[index]
                mark = item.start_mark
                stack.append(((*path, index), item, mark.line, mark.column))
        else:
            table[path] = (line, column, _SCALAR, 0)
    return table


class TablePositions:
    """Line and column of any field path from a ``position_table``: the same answers as
    ``_NodePositions`` over the node graph the table was made from.

    Given as a pickle, the table is read at the first question (most loads ask none: a file
    without issues is never located)."""

    def __init__(self, table: PositionTable | bytes) -> None:
        self._table = table

    @property
    def table(self) -> PositionTable:
        if isinstance(self._table, bytes):
            table = _PlainUnpickler(io.BytesIO(self._table)).load()
            self._table = table if isinstance(table, dict) else {}
        return self._table

    def __call__(self, loc: tuple[str | int, ...]) -> tuple[int, int]:
        table = self.table
        path: tuple[str | int, ...] = ()
        line, column = 0, 0
        for part in loc:
            if (here := table.get(path)) is None:
                break
            kind, size = here[2], here[3]
            step: str | int
            if kind == _MAP:
                step = str(part)
            elif kind == _SEQ and isinstance(part, int) and -size <= part < size:
                step = part % size
            else:
                break
            found = table.get((*path, step))
            if found is None:
                break
            line, column, path = found[0], found[1], (*path, step)
        return line + 1, column + 1
