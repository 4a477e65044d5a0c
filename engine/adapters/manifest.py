"""Replay outputs that are complete or absent: a staging directory, the manifest, the swap.

``csla replay`` writes into ``staging_dir(out)`` (beside ``out``, so on the same file system),
writes ``manifest.json`` last, and ``publish`` moves the directory into place. A kill at any
instant leaves ``out`` as it was (the previous complete outputs, or nothing) or the new
complete outputs, never a mix. The readers (report, dashboard, diff, evidence) take a
directory only through ``require_manifest``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import os
import secrets
import shutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import orjson
from pydantic import ValidationError

from engine.core.contract import Ruleset
from engine.models.manifest import Books, Manifest, RuleFileRef

MANIFEST_NAME = "manifest.json"
_STAGING, _RETIRED = "replay", "old"  # .<out name>.<tag>-<pid>-<random>


class IncompleteOutputs(Exception):
    """An output directory that is not the complete output of one replay."""


class OutputDirTaken(Exception):
    """An ``--out`` that holds files a replay did not write (it would replace them all)."""


class UnbalancedBooks(AssertionError):
    """The engine lost or invented input lines: a bug, never a property of the input."""


def books(stats: Mapping[str, int]) -> Books:
    """The books of a run from the core's counters; ``UnbalancedBooks`` unless they balance."""
    kept = Books(
        lines_in=stats.get("events_in", 0),
        accepted=stats.get("accepted", 0),
        duplicates=stats.get("duplicates", 0),
        late=stats.get("late", 0),
        dead_letters=stats.get("dead_letters", 0),
    )
    if kept.lines_in != kept.accepted + kept.duplicates + kept.late + kept.dead_letters:
        raise UnbalancedBooks(
            f"the books do not balance: {kept.lines_in} lines in != {kept.accepted} accepted + "
            f"{kept.duplicates} duplicates + {kept.late} late + {kept.dead_letters} dead letters"
        )
    return kept


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def rule_files(ruleset: Ruleset) -> list[RuleFileRef]:
    """Every contract revision of ``ruleset`` with its file and that file's sha256, sorted."""
    refs = [
        RuleFileRef(
            path=c.source,
            contract_id=c.id,
            revision=c.revision,
            sha256=file_sha256(c.source) if c.source and os.path.isfile(c.source) else "",
        )
        for revisions in ruleset.revisions.values()
        for c in revisions
    ]
    return sorted(refs, key=lambda r: (r.contract_id, r.revision, r.path))


def engine_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("csla-engine")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def render(manifest: Manifest) -> bytes:
    """The manifest's bytes: sorted keys, so equal manifests are equal files."""
    data = manifest.model_dump(mode="json")
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write_manifest(directory: Path, manifest: Manifest) -> None:
    path = directory / MANIFEST_NAME
    with path.open("wb") as handle:
        handle.write(render(manifest))
        handle.flush()
        os.fsync(handle.fileno())


def require_manifest(directory: Path) -> Manifest:
    """The manifest of a complete replay output directory; ``IncompleteOutputs`` otherwise."""
    if not directory.is_dir():
        raise IncompleteOutputs(f"{directory} is not a directory of replay outputs")
    path = directory / MANIFEST_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IncompleteOutputs(
            f"{directory} has no {MANIFEST_NAME}: it is not a complete replay output "
            "(rerun csla replay)"
        ) from None
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise IncompleteOutputs(
            f"{path} is not a replay manifest ({where}: {first['msg']}); rerun csla replay"
        ) from None


def check_files(directory: Path, manifest: Manifest) -> list[str]:
    """Every way the files of ``directory`` differ from its manifest (records, bytes, hash)."""
    problems = []
    for name, expected in sorted(manifest.outputs.items()):
        path = directory / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        data = path.read_bytes()
        records = sum(1 for line in data.splitlines() if line.strip())
        actual = (records, len(data), hashlib.sha256(data).hexdigest())
        if actual != (expected.records, expected.bytes, expected.sha256):
            problems.append(f"{path}: {actual} differs from the manifest")
    return problems


# --- the staging directory and the swap ------------------------------------------------------


def staging_dir(out: Path, output_names: Iterable[str]) -> Path:
    """A new empty directory beside ``out`` for a run's outputs (removing what killed runs
    left there); ``OutputDirTaken`` if ``out`` holds anything a replay did not write, as
    publishing replaces the whole directory."""
    out = Path(os.path.realpath(out))
    if out.exists():
        _check_replaceable(out, set(output_names))
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(out)
    return _new_dir(out, _STAGING)


def publish(staging: Path, out: Path) -> None:
    """Move the complete ``staging`` directory to ``out``, replacing what was there.

    On Linux the two directories are exchanged in one ``renameat2(RENAME_EXCHANGE)``, so at
    every instant ``out`` is the old or the new directory. Elsewhere (or on a file system
    without it) ``out`` is renamed aside and the new one renamed in: a kill between those two
    renames leaves no ``out`` (the previous outputs sit in ``.<name>.old-*`` until the next
    run removes them) — nothing, never a mix.
    """
    out = Path(os.path.realpath(out))
    _fsync_dir(staging)
    if not out.exists():
        os.rename(staging, out)
    elif _exchange(staging, out):
        shutil.rmtree(staging)  # now the previous outputs
    else:
        retired = _new_dir(out, _RETIRED)
        os.rename(out, retired / out.name)
        os.rename(staging, out)
        shutil.rmtree(retired)
    _fsync_dir(out.parent)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)


def _check_replaceable(out: Path, output_names: set[str]) -> None:
    if not out.is_dir():
        raise OutputDirTaken(f"{out} exists and is not a directory; give another --out")
    allowed = output_names | {MANIFEST_NAME}
    # without a manifest (outputs of an older engine) only output files may be there
    with contextlib.suppress(IncompleteOutputs):
        allowed |= set(require_manifest(out).outputs)
    foreign = sorted(p.name for p in out.iterdir() if p.name not in allowed or p.is_dir())
    if foreign:
        shown = ", ".join(foreign[:3]) + (", …" if len(foreign) > 3 else "")
        raise OutputDirTaken(
            f"{out} holds files a replay did not write ({shown}); a replay replaces the whole "
            "directory, so give an empty or new --out"
        )


def _new_dir(out: Path, tag: str) -> Path:
    """``.<out name>.<tag>-<pid>-<random>`` beside ``out``, made with the usual permissions
    (the umask's, as ``out`` would have: ``mkdtemp`` would make it private)."""
    for _ in range(100):
        path = out.parent / f".{out.name}.{tag}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"no free name for a {tag} directory beside {out}")


def _remove_leftovers(out: Path) -> None:
    """Remove the staging and retired directories of runs whose process is gone."""
    for tag in (_STAGING, _RETIRED):
        for path in out.parent.glob(f".{out.name}.{tag}-*"):
            pid = path.name[len(f".{out.name}.{tag}-") :].split("-", 1)[0]
            if path.is_dir() and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically with Linux ``renameat2``; False where that is unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # glibc before 2.28, or another libc
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _fsync_dir(path: Path) -> None:
    """Make the directory's entries durable (a power cut after the rename keeps the files)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a directory; the rename itself is still atomic
    finally:
        os.close(fd)
