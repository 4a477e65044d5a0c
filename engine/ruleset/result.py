"""What a load of rule files gives: a ``FileResult`` per file, a ``LoadReport`` per load.

A file with an error has no contract; its issues are sorted by position (``_sorted``). Built by
the fast path (``fast``) and by ``load``, which also builds the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.core.contract import Contract, Ruleset
from engine.ruleset.compile import RuleIssue


@dataclass(frozen=True, slots=True)
class FileResult:
    """The outcome of one rule file: its contract when it has no errors, and all its issues."""

    path: str
    contract: Contract | None
    issues: tuple[RuleIssue, ...] = ()

    @property
    def ok(self) -> bool:
        return not any(issue.is_error for issue in self.issues)


@dataclass(frozen=True, slots=True)
class LoadReport:
    """Every file read, the ruleset of the files without errors, and every issue found."""

    files: tuple[FileResult, ...]
    ruleset: Ruleset
    extra_issues: tuple[RuleIssue, ...] = field(default=())
    #: Contract ids that files clash over (the same revision or instant in two files).
    contested: frozenset[str] = frozenset()

    @property
    def issues(self) -> list[RuleIssue]:
        return [*self.extra_issues, *(i for f in self.files for i in f.issues)]

    @property
    def errors(self) -> list[RuleIssue]:
        return [issue for issue in self.issues if issue.is_error]

    @property
    def warnings(self) -> list[RuleIssue]:
        return [issue for issue in self.issues if not issue.is_error]

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    @property
    def failed_paths(self) -> list[str]:
        return [f.path for f in self.files if not f.ok]

    def file(self, path: str | Path) -> FileResult | None:
        return next((f for f in self.files if f.path == str(path)), None)

    def format(self) -> str:
        """One line per issue, then a summary line."""
        lines = [str(issue) for issue in self.issues]
        errors, warnings = len(self.errors), len(self.warnings)
        lines.append(
            f"{len(self.files)} file(s), {errors} error(s), {warnings} warning(s)"
            f"{'' if errors else ': ok'}"
        )
        return "\n".join(lines)


def _sorted(issues: Iterable[RuleIssue]) -> tuple[RuleIssue, ...]:
    return tuple(sorted(issues, key=lambda i: (i.line, i.column, i.field, i.message)))
