"""The parse cache never changes a result: same contracts, errors, warnings and positions with
it, without it, and with a broken, foreign or hostile entry (ignored, then written again)."""

from __future__ import annotations

import os
import pickle
import shutil
import sys
from pathlib import Path

import pytest

from engine.ruleset import LoadReport, ParseCache, load_rules_dir, validate_paths
from engine.ruleset import fast as fast_module
from engine.ruleset import plain as plain_module
from engine.ruleset.cache import TablePositions, position_table
from engine.ruleset.limits import compose_checked_node

documents = sys.modules.get("csla_ruleset_documents") or pytest.fail("conftest.py not loaded")
MERGED, _paths = documents.MERGED, documents.paths

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
INVALID = Path(__file__).resolve().parent / "invalid"
GPU = RULES / "gpu-train-001.yaml"
LAUGHS = "version: csla/v1\na: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 10)}]\n" for n in range(5)
)


def _same(a: LoadReport, b: LoadReport) -> None:
    assert a.format() == b.format()
    assert a.issues == b.issues
    assert [(f.path, f.contract) for f in a.files] == [(f.path, f.contract) for f in b.files]
    assert a.ruleset == b.ruleset
    assert a.contested == b.contested


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The bundled rules, a file with warnings, files whose errors the compile finds, a clash
    of two files over one revision, and files that never parse."""
    where = tmp_path / "rules"
    shutil.copytree(RULES, where)
    gpu = GPU.read_text(encoding="utf-8")
    (where / "clash.yaml").write_text(gpu, encoding="utf-8")  # same id and revision as gpu
    maas = (RULES / "maas-api-001.yaml").read_text(encoding="utf-8")
    warned = maas.replace("id: maas-api-001", "id: maas-warned", 1)
    warned = warned.replace("  holidays:\n", "  holidays:\n    - 2031-01-01\n", 1)
    (where / "warned.yaml").write_text(warned, encoding="utf-8")
    for name in ("calendar-overlap", "effective-outside-term", "tier-order", "yaml-syntax"):
        shutil.copy(INVALID / f"{name}.yaml", where / f"{name}.yaml")
    (where / "laughs.yaml").write_text(LAUGHS, encoding="utf-8")
    return where


def test_cached_loads_equal_parsed_ones(rules_dir: Path, tmp_path: Path) -> None:
    cache = ParseCache(tmp_path / "cache")
    plain = load_rules_dir(rules_dir)
    assert plain.warnings and plain.errors  # the fixture has both
    assert any(i.path.endswith("warned.yaml") for i in plain.warnings)
    filled = load_rules_dir(rules_dir, cache=cache)
    entries = sorted((tmp_path / "cache").glob("*.parse"))
    warm = load_rules_dir(rules_dir, cache=cache)
    _same(plain, filled)
    _same(plain, warm)
    # the files that validate are kept, those with compile errors too, and clash.yaml shares
    # the gpu file's entry (the same text); the YAML error and the file over the alias limit
    # are parsed, and refused, on every load
    assert len(entries) == 7
    assert sorted((tmp_path / "cache").glob("*.parse")) == entries


def test_an_edited_file_is_parsed_again(rules_dir: Path, tmp_path: Path) -> None:
    cache = ParseCache(tmp_path / "cache")
    load_rules_dir(rules_dir, cache=cache)
    target = rules_dir / "warned.yaml"
    target.write_text(target.read_text().replace("    - 2031-01-01\n", ""), encoding="utf-8")
    _same(load_rules_dir(rules_dir), load_rules_dir(rules_dir, cache=cache))


def _entry(cache: ParseCache, path: Path) -> Path:
    return cache.directory / f"{cache.key(path.read_text(encoding='utf-8'))}.parse"


class _Hostile:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def _spoiled(cache: ParseCache, path: Path, good: bytes) -> list[bytes]:
    """Entries a cache may meet instead of ``good``: cut, flipped, empty, another file's,
    and well-formed entries that hold the wrong things."""
    magic, digest = b"csla-rules-parse/1\n", 32
    head = len(magic) + digest
    key = cache.key(path.read_text(encoding="utf-8"))

    def sealed(entry: object) -> bytes:
        import hashlib

        payload = pickle.dumps(entry)
        return magic + hashlib.sha256(payload).digest() + payload

    flipped = bytearray(good)
    flipped[-5] ^= 0xFF
    other = _entry(cache, RULES / "storage-001.yaml").read_bytes()
    document = pickle.loads(good[head:])[1]
    return [
        good[: len(good) // 2],
        bytes(flipped),
        b"",
        b"garbage",
        other,  # a whole, valid entry of another text
        sealed(("0" * 64, document, b"")),  # the wrong key inside
        sealed((key, _Hostile(), b"")),  # a class that is not plain data
        sealed((key, ["not", "a", "mapping"], b"")),
        sealed((key, {"version": "csla/v1", "contract": "nonsense"}, b"")),
        sealed((key, {"version": "csla/v2"}, b"")),
    ]


def test_a_bad_entry_is_ignored_and_written_again(tmp_path: Path) -> None:
    cache = ParseCache(tmp_path / "cache")
    plain = load_rules_dir(RULES)
    load_rules_dir(RULES, cache=cache)
    entry = _entry(cache, GPU)
    good = entry.read_bytes()
    for bad in _spoiled(cache, GPU, good):
        entry.write_bytes(bad)
        _same(plain, load_rules_dir(RULES, cache=cache))
        assert entry.read_bytes() == good  # rebuilt from the parse


def test_an_unwritable_cache_only_costs_time(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    cache = ParseCache(blocked / "cache")
    _same(load_rules_dir(RULES), load_rules_dir(RULES, cache=cache))


def test_limits_apply_to_every_parsed_file(tmp_path: Path) -> None:
    cache = ParseCache(tmp_path / "cache")
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text(LAUGHS, encoding="utf-8")
    for _ in range(2):
        report = validate_paths([laughs], cache=cache)
        assert [i.message for i in report.errors] == [
            i.message for i in validate_paths([laughs]).errors
        ]
        assert "aliases" in report.errors[0].message
    assert not list((tmp_path / "cache").glob("*.parse"))


@pytest.mark.parametrize(
    "text",
    [*(p.read_text() for p in sorted(RULES.glob("*.yaml"))), MERGED],
    ids=[*(p.name for p in sorted(RULES.glob("*.yaml"))), "merge"],
)
def test_the_table_places_every_field_as_the_nodes_do(text: str) -> None:
    node, document = compose_checked_node(text, plain_module._FastLoader)
    nodes = fast_module._NodePositions(node)
    table = TablePositions(position_table(node))
    pickled = TablePositions(pickle.dumps(position_table(node)))
    for path in _paths(document):
        for loc in (path, (*path, "missing"), (*path, 99), (*path, 0), (*path, -1)):
            assert table(loc) == nodes(loc) == pickled(loc), loc


def test_the_default_directory_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ParseCache.default().directory == tmp_path / "xdg" / "csla" / "rules"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ParseCache.default().directory == tmp_path / "home" / ".cache" / "csla" / "rules"
