"""Rule files → frozen ``Ruleset``: load (YAML with line numbers, spec ``csla/v1``), compile
(cross-field and cross-file checks), and keep the last good version for hot reloads.

``validate_paths`` / ``load_rules_dir`` read every file, report every problem as a
``RuleIssue`` (``path:line:col: severity: field: message``) and build the ruleset from the
files without errors.
"""

from engine.ruleset.cache import ParseCache
from engine.ruleset.compile import (
    RuleFileError,
    RuleIssue,
    check_rule_file,
    compile_rule_file,
)
from engine.ruleset.load import (
    load_rule_file,
    load_rule_text,
    load_rules_dir,
    merge_with_previous,
    validate_paths,
)
from engine.ruleset.result import FileResult, LoadReport

__all__ = [
    "FileResult",
    "LoadReport",
    "ParseCache",
    "RuleFileError",
    "RuleIssue",
    "check_rule_file",
    "compile_rule_file",
    "load_rule_file",
    "load_rule_text",
    "load_rules_dir",
    "merge_with_previous",
    "validate_paths",
]
