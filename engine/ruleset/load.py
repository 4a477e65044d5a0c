"""Load rule files: YAML with line numbers → ``RuleFile`` (spec ``csla/v1``) → ``Contract``.

Every problem of every file is collected as a ``RuleIssue`` with file, line, column, field path
and a sentence a person understands; nothing stops at the first error. A file whose ``version``
is not ``csla/v1`` is rejected outright, never reinterpreted.

One file (``_load``): the size limit, its cached parse (``cache``), then the fast path
(``fast``, libyaml); a file that path cannot explain takes the slow path (``slow``, ruamel,
with ``issues`` for validation errors), imported only then. Many files (``validate_paths``):
the rule files below each directory and the platform's scoring file, every file loaded, then
the checks across files. ``result`` holds what a load gives.
"""

from __future__ import annotations

import gc
import hashlib
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from engine.core.contract import Contract, Ruleset
from engine.models.assessment import PLATFORM_SCORING_FILE, Scoring, load_scoring_text
from engine.ruleset.cache import ParseCache
from engine.ruleset.compile import (
    ACROSS_FILE_LOCS,
    Locator,
    RuleIssue,
    ScoringSource,
    build_ruleset,
    check_across_files,
    compile_checked,
    default_scoring,
)
from engine.ruleset.fast import _load_cached, _load_fast, _LoadMemo, _ReadAgain, _SlowPath
from engine.ruleset.limits import MAX_FILE_BYTES, size_issue, yaml_issue
from engine.ruleset.result import FileResult, LoadReport, _sorted

RULE_SUFFIXES = (".yaml", ".yml")


def _load(
    text: str,
    source: str,
    scoring: ScoringSource = None,
    cache: ParseCache | None = None,
    memo: _LoadMemo | None = None,
) -> tuple[FileResult, Locator | None]:
    if len(text) > MAX_FILE_BYTES // 4 and (
        too_big := size_issue(source, len(text.encode("utf-8", "surrogatepass")))
    ):
        return FileResult(source, None, (too_big,)), None
    if cache is not None and (cached := _load_cached(text, source, scoring, cache)) is not None:
        return cached
    try:
        return _load_fast(text, source, scoring, cache, memo)
    except _SlowPath as slow:
        checked = slow.checked
    from engine.ruleset.slow import _parse  # ruamel (~12 ms to import): only for such a file

    rule, positions, issues = _parse(text, source, checked=checked)
    if rule is None or positions is None:
        return FileResult(source, None, _sorted(issues)), positions
    contract, issues = compile_checked(rule, source, positions, scoring)
    return FileResult(source, contract, _sorted(issues)), positions


def _read(path: Path) -> tuple[str | None, RuleIssue | None]:
    """The text of ``path``, or the issue why not; never more than the size limit is read."""
    try:
        if too_big := size_issue(str(path), path.stat().st_size):
            return None, too_big
        with path.open(encoding="utf-8") as handle:
            text = handle.read(MAX_FILE_BYTES + 1)  # characters: at least as many bytes
        if len(text) > MAX_FILE_BYTES // 4 and (  # at most 4 bytes a character
            too_big := size_issue(str(path), len(text.encode("utf-8", "surrogatepass")))
        ):
            return None, too_big  # grew since stat, or multi-byte characters
        return text, None
    except UnicodeDecodeError as exc:
        return None, RuleIssue(str(path), 0, 0, "", f"not UTF-8 text: {exc.reason}")
    except OSError as exc:
        return None, RuleIssue(str(path), 0, 0, "", f"cannot read the file: {exc.strerror}")


def load_rule_text(text: str, source: str = "<string>") -> FileResult:
    """Load one rule file from text (no checks across files)."""
    return _load(text, source)[0]


def load_rule_file(path: str | Path) -> FileResult:
    """Load one rule file (no checks across files); ``result.contract`` is None on errors."""
    text, problem = _read(Path(path))
    if text is None:
        return FileResult(str(path), None, (problem,) if problem else ())
    return load_rule_text(text, str(path))


# --- many files --------------------------------------------------------------------------------
def _rule_files(directory: Path) -> list[Path]:
    """The rule files below ``directory``, sorted as paths: what ``rglob("*")`` finds with a
    rule suffix that is a file, outside hidden folders (symbolic links to folders are not
    followed, as by ``rglob``), found with ``os.walk`` (a tenth of the cost)."""
    found: list[Path] = []
    for folder, folders, names in os.walk(directory):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in names:
            if name.endswith(RULE_SUFFIXES) and not name.startswith("."):
                path = os.path.join(folder, name)
                if os.path.isfile(path):
                    found.append(Path(path))
    return sorted(found)


#: (path, SHA-256 of the text) → (why the scoring file cannot be used, or its table)
_SCORING_CHECKED: dict[tuple[str, str], tuple[RuleIssue | None, Scoring | None]] = {}


def _platform_scoring(platform: Path) -> tuple[RuleIssue | None, Scoring | None]:
    """Why the platform's own Table A.2 scoring file beside the rule files cannot be used,
    or its table. Checked once per content: the same limits as a rule file, then the
    scoring model (a big file that every load would otherwise parse again); read once."""
    text, problem = _read(platform)  # the same limits as a rule file
    if problem is not None or text is None:
        return problem, None
    key = (str(platform), hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())
    if key not in _SCORING_CHECKED:
        problem, table = yaml_issue(text, str(platform)), None
        if problem is None:
            try:
                table = load_scoring_text(text, str(platform))
            except ValueError as exc:
                problem = RuleIssue(str(platform), 0, 0, "", str(exc))
        if len(_SCORING_CHECKED) > 64:
            _SCORING_CHECKED.clear()
        _SCORING_CHECKED[key] = (problem, table)
    return _SCORING_CHECKED[key]


def validate_paths(paths: Iterable[str | Path], *, cache: ParseCache | None = None) -> LoadReport:
    """Load files and directories (``*.yaml``/``*.yml`` below them, recursively, sorted).

    Every file is read and checked, then the checks across files run over all files that
    compiled; ``report.ruleset`` holds the contracts of the files without errors.

    ``cache``: parses of files kept from earlier loads (``ParseCache``); the report is the same
    with or without it.
    """
    with _collector_paused():
        return _validate_paths(paths, cache)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while files load, then back as it was.

    A file allocates thousands of short-lived nodes and no reference cycles, and each
    collection walks every contract loaded so far: with it on, loading 100 files costs about
    twice what it costs with it off, 1,000 files four times."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _promote_survivors()
            gc.enable()


def _promote_survivors() -> None:
    """Move what the load left alive to the oldest generation, without walking it.

    With the collector paused, everything the load allocated and kept (about 220 objects a
    file: the contracts and their spec models) is still in the youngest generation, so the
    first allocation after ``gc.enable()`` would walk all of it once (about 0.1 ms a file),
    and then again when it is promoted. It is long-lived by construction; ``freeze`` and
    ``unfreeze`` move it straight to the oldest generation, collected with the next full
    collection as before. Skipped when the process has frozen objects of its own
    (``unfreeze`` would release them)."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


def _validate_paths(paths: Iterable[str | Path], cache: ParseCache | None) -> LoadReport:
    extra: list[RuleIssue] = []
    files: list[Path] = []
    scoring: str | None = None
    platform_table: Scoring | None = None
    for given in paths:
        path = Path(given)
        if path.is_dir():
            platform = path / PLATFORM_SCORING_FILE
            if scoring is None and platform.is_file():
                problem, platform_table = _platform_scoring(platform)
                if problem is not None:
                    extra.append(problem)
                else:
                    scoring = str(platform)
            found = _rule_files(path)
            if not found:
                extra.append(RuleIssue(str(path), 0, 0, "", "no rule files found", "warning"))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            extra.append(RuleIssue(str(path), 0, 0, "", "no such file or directory"))
    results: list[FileResult] = []
    compiled: list[tuple[Contract, Locator]] = []
    scoring_table: ScoringSource = scoring if platform_table is None else platform_table
    if platform_table is None:
        with suppress(ValueError):  # unreadable: each file says why
            scoring_table = default_scoring(scoring)  # read once, merged into by every file
    memo = _LoadMemo()
    for path in dict.fromkeys(files):
        text, problem = _read(path)
        if text is None:
            results.append(FileResult(str(path), None, (problem,) if problem else ()))
            continue
        result, locate = _load(text, str(path), scoring_table, cache, memo)
        results.append(result)
        if result.contract is None or locate is None:
            continue
        if isinstance(locate, _ReadAgain) and locate.positions is None:
            compiled.append((result.contract, locate))  # its text only, read if asked
        else:
            # the few positions the checks across files may ask for, taken now: the file's
            # parse (a node per value) is freed here, not kept until every file is loaded
            pinned = {loc: locate(loc) for loc in ACROSS_FILE_LOCS}
            compiled.append((result.contract, pinned.__getitem__))
    across: dict[str, list[RuleIssue]] = {}
    for issue in check_across_files(compiled):
        across.setdefault(issue.path, []).append(issue)
    contested = frozenset(contract.id for contract, _ in compiled if contract.source in across)
    final = [
        FileResult(r.path, None, _sorted([*r.issues, *across[r.path]])) if r.path in across else r
        for r in results
    ]
    ruleset = build_ruleset(
        (r.contract for r in final if r.contract is not None and r.ok),
        default_scoring(scoring_table) if scoring else None,
    )
    return LoadReport(tuple(final), ruleset, tuple(extra), contested)


def load_rules_dir(path: str | Path, *, cache: ParseCache | None = None) -> LoadReport:
    """All rule files below ``path`` (recursive, sorted); see ``validate_paths``."""
    return validate_paths([path], cache=cache)


def merge_with_previous(previous: Ruleset, report: LoadReport) -> Ruleset:
    """The new ruleset, plus the previous revisions of every file that now fails to load.

    A hot reloader keeps serving the last good version of a broken file: a previous contract
    whose ``source`` is a failing file of ``report``, or whose id files now clash over (two
    files with its id and one revision: both fail, whichever file it came from), is kept unless
    a good file now defines the same (id, revision) or the same (id, effective_from). Other
    contracts of files that are gone from the report (deleted) are dropped.
    """
    failed = set(report.failed_paths)
    current = [c for revisions in report.ruleset.revisions.values() for c in revisions]
    revisions_taken = {(c.id, c.revision) for c in current}
    instants_taken = {(c.id, c.effective_from_ms) for c in current}
    kept = [
        c
        for revisions in previous.revisions.values()
        for c in revisions
        if (c.source in failed or c.id in report.contested)
        and (c.id, c.revision) not in revisions_taken
        and (c.id, c.effective_from_ms) not in instants_taken
    ]
    return build_ruleset([*current, *kept], report.ruleset.scoring or previous.scoring)
