"""``csla dev``: the developers' tools, apart from the users' commands (the broker itself is
tested in tests/kafka, which start one)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from engine.cli import app

ROOT = Path(__file__).resolve().parents[1]
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}


def test_top_level_help_shows_dev_apart_as_for_developers() -> None:
    text = CliRunner().invoke(app, ["--help"], env=WIDE).output
    users, _, developers = text.partition("For developers")
    assert " dev " not in users and " dev " in developers
    group = CliRunner().invoke(app, ["dev", "--help"], env=WIDE)
    assert group.exit_code == 0
    assert " broker " in group.output and " clone-rules " in group.output


def test_clone_rules_writes_rule_files_that_validate(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["dev", "clone-rules", str(ROOT / "rules"), str(tmp_path), "--copies", "4"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == [
        "gpu-train-001-c0001.yaml",
        "gpu-train-001-c0004.yaml",
        "maas-api-001-c0002.yaml",
        "storage-001-c0003.yaml",
    ]
    assert f"4 rule files → {tmp_path}" in " ".join(result.output.split())
    assert runner.invoke(app, ["validate", str(tmp_path)]).exit_code == 0


def test_clone_rules_without_rule_files_is_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["dev", "clone-rules", str(tmp_path), str(tmp_path / "out")])
    assert result.exit_code == 2
    assert f"error: no rule files in {tmp_path}" in result.output
    assert not (tmp_path / "out").exists()
