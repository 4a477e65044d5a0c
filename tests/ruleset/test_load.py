"""Loading rule files: line numbers, readable messages, every problem of every file, hot reload."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.ruleset import (
    LoadReport,
    RuleIssue,
    load_rule_file,
    load_rule_text,
    load_rules_dir,
    merge_with_previous,
    validate_paths,
)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
INVALID = Path(__file__).resolve().parent / "invalid"
EXPECT = re.compile(r"^# expect: (\d+): (.+)$")
GPU = RULES / "gpu-train-001.yaml"


def _expectations(path: Path) -> list[tuple[int, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if match := EXPECT.match(line):
            out.append((int(match.group(1)), match.group(2)))
    return out


def _copy(src: Path, dst: Path, **replacements: str) -> Path:
    text = src.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(text, encoding="utf-8")
    return dst


# --- the invalid fixtures: each fails with exactly the lines and messages it declares ---------
@pytest.mark.parametrize("fixture", sorted(INVALID.glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_fixture_reports_exactly_its_expected_issues(fixture: Path) -> None:
    expected = _expectations(fixture)
    assert expected, f"{fixture.name} declares no '# expect: <line>: <message>' line"

    result = load_rule_file(fixture)

    assert not result.ok
    assert result.contract is None
    assert all(issue.severity == "error" for issue in result.issues)
    assert sorted(issue.line for issue in result.issues) == sorted(line for line, _ in expected)
    unmatched = list(result.issues)
    for line, text in expected:
        match = next((i for i in unmatched if i.line == line and text in i.message), None)
        assert match is not None, f"no issue on line {line} containing {text!r} in {unmatched}"
        unmatched.remove(match)


def test_every_fixture_issue_names_the_file_and_a_column() -> None:
    report = validate_paths([INVALID])
    assert not report.ok
    assert report.ruleset.contract_ids == []
    assert {issue.path for issue in report.issues} == {str(p) for p in INVALID.glob("*.yaml")}
    assert all(issue.line >= 1 and issue.column >= 1 for issue in report.issues)
    total = sum(len(_expectations(p)) for p in INVALID.glob("*.yaml"))
    assert len(report.errors) == total  # every problem of every file, not the first one


# --- the example contracts ---------------------------------------------------------------------
def test_every_rule_file_validates_without_errors_or_warnings() -> None:
    report = load_rules_dir(RULES)
    assert report.ok, report.format()
    assert report.issues == []
    assert len(report.files) >= 3


def test_example_contract_ids_are_stable() -> None:
    report = load_rules_dir(RULES)
    assert {"gpu-train-001", "maas-api-001", "storage-001"} <= set(report.ruleset.contract_ids)
    for file in report.files:
        assert file.contract is not None
        assert file.contract.source == file.path
        assert Path(file.path).stem == file.contract.id


def test_money_keeps_every_digit_of_the_yaml_text() -> None:
    contract = load_rule_file(GPU).contract
    assert contract is not None
    assert contract.metering.unit_price == Decimal("12.50")
    assert str(contract.metering.unit_price) == "12.50"
    assert str(contract.metering.guide_price) == "13.00"


def test_unquoted_timestamps_stay_timezone_aware() -> None:
    contract = load_rule_file(GPU).contract
    assert contract is not None
    assert contract.term_start_ms == 1_767_196_800_000  # 2025-12-31T16:00:00Z
    assert contract.spec.term.start.utcoffset() is not None


# --- messages and format -----------------------------------------------------------------------
def test_issue_prints_as_path_line_column_severity_field_message() -> None:
    issue = RuleIssue("rules/x.yaml", 12, 5, "objectives[0].threshold", "must be a number")
    assert str(issue) == "rules/x.yaml:12:5: error: objectives[0].threshold: must be a number"
    unplaced = RuleIssue("rules/x.yaml", 0, 0, "", "no such file or directory")
    assert str(unplaced) == "rules/x.yaml: error: no such file or directory"


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "message"),
    [
        (
            "    kind: organisation\n    name: Hangzhou",
            "    kind: company\n    name: Hangzhou",
            13,
            "parties.customer.kind",
            "must be one of 'organisation', 'individual' (got 'company')",
        ),
        (
            "    kind: organisation\n    name: Hangzhou",
            "    name: Hangzhou",
            12,
            "parties.customer.kind",
            "missing required field 'kind'",
        ),
        (
            "  preset: 7x24\n",
            "  preset: custom\n  weekly:\n    monday: [{start: '09:00', end: '17:00'}]\n",
            82,
            "service_time.weekly.monday",
            "key 'monday' is not allowed here",
        ),
        ("  id: gpu-train-001", "  id: gpu train", 6, "contract.id", "must be an id of letters"),
        ("unit_price: 12.50", "unit_price: 12.1234567", 89, "metering.unit_price", "at most 6"),
        ("  revision: 1\n", "  revision: 1\n  revision: 2\n", 8, "", "duplicate key"),
        ("  grace: 5m", "  grace: 5 min", 85, "assessment.grace", "is not a duration"),
    ],
    ids=["bad-tag", "no-tag", "weekday-key", "id-pattern", "places", "dup-key", "grace"],
)
def test_pydantic_errors_become_sentences(
    old: str, new: str, line: int, field: str, message: str
) -> None:
    text = GPU.read_text(encoding="utf-8")
    assert old in text
    result = load_rule_text(text.replace(old, new), "gpu.yaml")
    assert [(i.line, i.field) for i in result.issues] == [(line, field)], result.issues
    assert message in result.issues[0].message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("- a\n- b\n", "the file is a list, not a mapping"),
        ("contract: {id: x}\n", "missing required field 'version'; this engine reads csla/v1"),
        ("version: 1\n", "unsupported spec version '1'; this engine reads csla/v1"),
    ],
)
def test_files_that_are_not_rule_files(text: str, message: str) -> None:
    result = load_rule_text(text, "x.yaml")
    assert len(result.issues) == 1
    assert result.issues[0].message.startswith(message)


def test_old_version_is_rejected_without_reading_the_rest() -> None:
    text = GPU.read_text(encoding="utf-8").replace("version: csla/v1", "version: csla/v0")
    result = load_rule_text(text + "bogus_field: 1\n", "old.yaml")
    assert [str(i) for i in result.issues] == [
        "old.yaml:3:10: error: version: unsupported spec version 'csla/v0';"
        " this engine reads csla/v1"
    ]


# --- many files --------------------------------------------------------------------------------
def test_directory_is_read_recursively_and_sorted(tmp_path: Path) -> None:
    _copy(RULES / "storage-001.yaml", tmp_path / "b" / "storage.yml")
    _copy(GPU, tmp_path / "a.yaml")
    _copy(GPU, tmp_path / ".hidden" / "ignored.yaml")
    (tmp_path / "notes.txt").write_text("not a rule file", encoding="utf-8")

    report = load_rules_dir(tmp_path)

    assert [Path(f.path).relative_to(tmp_path).as_posix() for f in report.files] == [
        "a.yaml",
        "b/storage.yml",
    ]
    assert report.ok
    assert report.ruleset.contract_ids == ["gpu-train-001", "storage-001"]


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    report = validate_paths([tmp_path / "nope.yaml", tmp_path])
    assert [(i.severity, i.message) for i in report.issues] == [
        ("error", "no such file or directory"),
        ("warning", "no rule files found"),
    ]
    assert not report.ok


def test_good_files_load_while_bad_ones_are_reported(tmp_path: Path) -> None:
    good = _copy(GPU, tmp_path / "good.yaml")
    bad = _copy(RULES / "storage-001.yaml", tmp_path / "bad.yaml", **{"threshold: 99.9": "x: 1"})

    report = validate_paths([good, bad])

    assert not report.ok
    assert report.failed_paths == [str(bad)]
    assert report.ruleset.contract_ids == ["gpu-train-001"]
    assert report.file(bad) is not None and report.file(bad).contract is None  # type: ignore[union-attr]
    assert "1 error(s)" not in report.format()  # two: unknown field x, missing threshold
    assert report.format().endswith("2 file(s), 2 error(s), 0 warning(s)")


def test_same_contract_revision_in_two_files_names_both(tmp_path: Path) -> None:
    first = _copy(GPU, tmp_path / "gpu-a.yaml")
    second = _copy(GPU, tmp_path / "gpu-b.yaml")

    report = validate_paths([tmp_path])

    assert not report.ok
    assert len(report.errors) == 2
    for issue, other in zip(report.errors, (second, first), strict=True):
        assert issue.field == "contract.revision"
        assert issue.line == 7
        assert str(first) in issue.message and str(second) in issue.message
        assert issue.path != str(other)
    assert "gpu-train-001" not in report.ruleset


def test_two_revisions_with_the_same_effective_from(tmp_path: Path) -> None:
    _copy(GPU, tmp_path / "r1.yaml")
    _copy(GPU, tmp_path / "r2.yaml", **{"  revision: 1": "  revision: 2"})

    report = validate_paths([tmp_path])

    assert [(Path(i.path).name, i.field) for i in report.errors] == [
        ("r1.yaml", "contract.effective_from"),
        ("r2.yaml", "contract.effective_from"),
    ]
    assert "take effect at the same instant" in report.errors[0].message


def test_two_revisions_of_one_contract_form_its_history(tmp_path: Path) -> None:
    _copy(GPU, tmp_path / "r1.yaml")
    _copy(
        GPU,
        tmp_path / "r2.yaml",
        **{
            "  revision: 1": "  revision: 2",
            "  effective_from: 2026-01-01T00:00:00+08:00": (
                "  effective_from: 2026-07-01T00:00:00+08:00"
            ),
        },
    )

    report = validate_paths([tmp_path])

    assert report.ok, report.format()
    revisions = report.ruleset.revisions["gpu-train-001"]
    assert [c.revision for c in revisions] == [1, 2]
    july = 1_782_835_200_000  # 2026-07-01T00:00:00+08:00
    assert report.ruleset.at("gpu-train-001", july - 1) is revisions[0]
    assert report.ruleset.at("gpu-train-001", july) is revisions[1]


def test_later_revision_taking_effect_earlier_is_an_error(tmp_path: Path) -> None:
    july = "  effective_from: 2026-07-01T00:00:00+08:00"
    _copy(GPU, tmp_path / "r1.yaml", **{"  effective_from: 2026-01-01T00:00:00+08:00": july})
    _copy(GPU, tmp_path / "r2.yaml", **{"  revision: 1": "  revision: 2"})

    report = validate_paths([tmp_path])

    assert [Path(i.path).name for i in report.errors] == ["r2.yaml"]
    assert "takes effect before revision 1" in report.errors[0].message


# --- keep the last good version ----------------------------------------------------------------
def _load(directory: Path) -> LoadReport:
    return load_rules_dir(directory)


def test_merge_with_previous_keeps_the_last_good_revision(tmp_path: Path) -> None:
    gpu = _copy(GPU, tmp_path / "gpu.yaml")
    _copy(RULES / "storage-001.yaml", tmp_path / "storage.yaml")
    before = _load(tmp_path)
    assert before.ok

    _copy(GPU, gpu, **{"threshold: 99.5": "threshold: lots"})  # an edit that breaks the file
    after = _load(tmp_path)
    merged = merge_with_previous(before.ruleset, after)

    assert not after.ok and "gpu-train-001" not in after.ruleset
    assert merged.contract_ids == ["gpu-train-001", "storage-001"]
    assert merged.latest("gpu-train-001") is before.ruleset.latest("gpu-train-001")
    assert merged.latest("storage-001") is after.ruleset.latest("storage-001")


def test_merge_with_previous_prefers_a_good_new_definition(tmp_path: Path) -> None:
    gpu = _copy(GPU, tmp_path / "gpu.yaml")
    before = _load(tmp_path)
    _copy(GPU, gpu, **{"threshold: 99.5": "threshold: lots"})
    _copy(GPU, tmp_path / "moved.yaml", **{"title: Dedicated": "title: Moved"})
    after = _load(tmp_path)

    merged = merge_with_previous(before.ruleset, after)

    assert [c.source for c in merged.revisions["gpu-train-001"]] == [str(tmp_path / "moved.yaml")]


def test_merge_with_previous_drops_deleted_files(tmp_path: Path) -> None:
    gpu = _copy(GPU, tmp_path / "gpu.yaml")
    _copy(RULES / "storage-001.yaml", tmp_path / "storage.yaml")
    before = _load(tmp_path)
    gpu.unlink()

    merged = merge_with_previous(before.ruleset, _load(tmp_path))

    assert merged.contract_ids == ["storage-001"]


def test_yaml_merge_keys_are_located_where_they_are_written() -> None:
    text = GPU.read_text(encoding="utf-8").replace(
        "objectives:                                   # §6.1.8, Annex A\n",
        "x-base: &base {sli: mttr, comparator: '<=', bogus: 1}\n"
        "objectives:\n"
        "  - <<: *base\n"
        "    id: merged\n"
        "    threshold: 30\n",
    )
    issues = load_rule_text(text, "merge.yaml").issues
    assert [(i.line, i.field) for i in issues] == [(96, "x-base"), (96, "objectives[0].bogus")]


MUTATIONS = {
    "delete": lambda lines, i: lines[:i] + lines[i + 1 :],
    "repeat": lambda lines, i: lines[: i + 1] + lines[i:],
    "append-junk": lambda lines, i: [
        *lines[:i],
        lines[i].rstrip("\n") + " x: [\n",
        *lines[i + 1 :],
    ],
    "indent": lambda lines, i: [*lines[:i], "   " + lines[i], *lines[i + 1 :]],
}


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(["gpu-train-001.yaml", "maas-api-001.yaml", "storage-001.yaml"]),
    mutation=st.sampled_from(sorted(MUTATIONS)),
    where=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_any_edit_gives_a_contract_or_placed_issues_never_an_exception(
    name: str, mutation: str, where: float
) -> None:
    lines = (RULES / name).read_text(encoding="utf-8").splitlines(keepends=True)
    text = "".join(MUTATIONS[mutation](lines, int(where * len(lines))))

    result = load_rule_text(text, name)

    assert (result.contract is not None) == result.ok
    assert all(1 <= issue.line <= len(lines) + 1 for issue in result.issues)


def test_merge_with_previous_keeps_a_contract_two_files_clash_over(tmp_path: Path) -> None:
    """The same (id, revision) in two files is an error naming both; the worker keeps the
    version in force, even when neither clashing file is the one it was loaded from."""
    gpu = _copy(GPU, tmp_path / "gpu.yaml")
    before = _load(tmp_path)
    _copy(GPU, tmp_path / "copy.yaml")

    after = _load(tmp_path)
    merged = merge_with_previous(before.ruleset, after)

    assert {Path(i.path).name for i in after.errors} == {"gpu.yaml", "copy.yaml"}
    assert all("gpu.yaml" in i.message and "copy.yaml" in i.message for i in after.errors)
    assert merged.latest("gpu-train-001") is before.ruleset.latest("gpu-train-001")

    gpu.rename(tmp_path / "renamed.yaml")  # the file it came from is gone, the clash stays
    merged = merge_with_previous(merged, _load(tmp_path))
    assert merged.latest("gpu-train-001") is before.ruleset.latest("gpu-train-001")

    (tmp_path / "copy.yaml").unlink()  # the clash resolved: the remaining file is in force
    resolved = merge_with_previous(merged, _load(tmp_path))
    assert resolved.latest("gpu-train-001").source == str(tmp_path / "renamed.yaml")


def test_rule_files_are_what_rglob_finds(tmp_path: Path) -> None:
    """The files a directory load reads: rule suffixes, files only (a link to one too),
    nothing hidden, no linked folder followed, sorted as paths ("a/x" before "a-b/x")."""
    import engine.ruleset.load as load_module

    for name in ("a/x.yaml", "a-b/x.yaml", "a/b/c.yml", "z.yaml", "y.txt", ".h.yaml",
                 ".hidden/x.yaml", "a/.h/x.yaml", "d.yaml/inside.yaml", "e.yaml.bak"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("version: csla/v1\n")
    (tmp_path / "linked.yaml").symlink_to(tmp_path / "z.yaml")
    (tmp_path / "broken.yaml").symlink_to(tmp_path / "missing.yaml")
    (tmp_path / "folder-link").symlink_to(tmp_path / "a", target_is_directory=True)
    expected = sorted(
        p
        for p in tmp_path.rglob("*")
        if p.suffix in (".yaml", ".yml")
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(tmp_path).parts)
    )
    assert load_module._rule_files(tmp_path) == expected
    assert [p.relative_to(tmp_path).as_posix() for p in expected] == [
        "a/b/c.yml", "a/x.yaml", "a-b/x.yaml", "d.yaml/inside.yaml", "linked.yaml", "z.yaml",
    ]  # fmt: skip
