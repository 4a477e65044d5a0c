"""A new user's first commands: --help, --version, worker --help's settings, init, demo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from engine.cli import USER_HELP, app
from engine.settings import Settings, Topics, setting_docs

ROOT = Path(__file__).resolve().parents[1]
WIDE = {"COLUMNS": "200", "TERMINAL_WIDTH": "200"}


def test_every_setting_has_a_description() -> None:
    for model in (Settings, Topics):
        for name, info in model.model_fields.items():
            assert info.description and info.description.strip(), f"{model.__name__}.{name}"


def test_worker_help_lists_every_setting_with_its_default() -> None:
    result = CliRunner().invoke(app, ["worker", "--help"], env=WIDE)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    docs = setting_docs()
    assert len(docs) == len(Settings.model_fields) - 1 + len(Topics.model_fields)
    for doc in docs:
        assert f"{doc.env} (default: {doc.default or 'unset'})" in text
        assert " ".join(doc.meaning.split()[:4]) in text, doc.env
    for name in ("CSLA_SECURITY_PROTOCOL", "CSLA_SASL_MECHANISM", "CSLA_SASL_USERNAME",
                 "CSLA_SASL_PASSWORD", "CSLA_SSL_CAFILE", "CSLA_SSL_CERTFILE",
                 "CSLA_SSL_KEYFILE", "CSLA_TOPICS__COMPENSATIONS"):  # fmt: skip
        assert name in text
    assert "SASL_PLAINTEXT, SASL_SSL" in text and "SCRAM-SHA-512" in text  # the choices


def test_top_level_help_is_for_users_and_version_is_shown() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--help"], env=WIDE)
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert " ".join(USER_HELP.split()[:8]) in text
    assert "Thin: parses arguments" not in text
    for command in ("init", "demo", "validate", "replay", "worker", "report", "schema"):
        assert f" {command} " in text
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("csla-engine ")


def test_init_writes_examples_and_settings_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for example in sorted((ROOT / "rules").glob("*.yaml")):
        assert (tmp_path / "rules" / example.name).read_bytes() == example.read_bytes()
    env_file = tmp_path / "csla.env"
    assert env_file.stat().st_mode & 0o077 == 0, "it may hold a password"
    text = env_file.read_text()
    for doc in setting_docs():
        assert f"\n# {doc.env}={doc.default}\n" in text

    validate = runner.invoke(app, ["validate", str(tmp_path / "rules")])
    assert validate.exit_code == 0, validate.output

    (tmp_path / "rules" / "storage-001.yaml").write_text("mine")
    again = runner.invoke(app, ["init", str(tmp_path)])
    assert again.exit_code == 2 and "--force" in again.output
    assert (tmp_path / "rules" / "storage-001.yaml").read_text() == "mine"
    forced = runner.invoke(app, ["init", str(tmp_path), "--force"])
    assert forced.exit_code == 0
    assert (tmp_path / "rules" / "storage-001.yaml").read_bytes() == (
        ROOT / "rules" / "storage-001.yaml"
    ).read_bytes()


def test_settings_file_of_init_reads_back_as_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uncommented as written, every line of the settings file gives the default again; and a
    changed line is what the worker reads (--settings), below the environment."""
    for name in list(os.environ):
        if name.startswith("CSLA_"):
            monkeypatch.delenv(name)
    assert CliRunner().invoke(app, ["init", str(tmp_path)]).exit_code == 0
    lines = (tmp_path / "csla.env").read_text().splitlines()
    uncommented = [line[2:] for line in lines if line.startswith("# CSLA_") and "=" in line]
    active = [line for line in uncommented if not line.endswith("=")]  # unset stays unset
    (tmp_path / "all.env").write_text("\n".join(active) + "\n")
    assert Settings(_env_file=tmp_path / "all.env") == Settings()  # type: ignore[call-arg]

    (tmp_path / "mine.env").write_text(
        "CSLA_BROKER=kafka://k1:9093\nCSLA_TOPICS__TELEMETRY=t.in\nCSLA_PARTITIONS=2\n"
    )
    monkeypatch.setenv("CSLA_PARTITIONS", "3")
    mine = Settings(_env_file=tmp_path / "mine.env")  # type: ignore[call-arg]
    assert (mine.broker, mine.topics.telemetry, mine.partitions) == ("kafka://k1:9093", "t.in", 3)


def test_demo_without_rules_uses_the_examples_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--days", "0.3"])
    assert result.exit_code == 0, result.output
    assert "using the example contracts that ship with csla" in " ".join(result.output.split())
    assert (tmp_path / "out" / "demo" / "manifest.json").is_file()


def test_demo_checks_the_rules_before_simulating(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yaml").write_text("version: csla/v1\n")
    out = tmp_path / "out" / "demo"
    result = CliRunner().invoke(app, ["demo", "--rules", str(rules), "--out", str(out)])
    assert result.exit_code == 2
    assert "have errors" in result.output
    assert not (tmp_path / "out" / "demo-telemetry.ndjson.gz").exists(), "nothing simulated"


def test_schema_check_defaults_to_the_shipped_schemas() -> None:
    result = CliRunner().invoke(app, ["schema", "check"])
    assert result.exit_code == 0, result.output
    assert f"schema files in {ROOT / 'schemas'} match the models" in result.output


def test_a_replay_imports_neither_the_settings_nor_the_event_models(tmp_path: Path) -> None:
    """Start-up is paid by every command: a replay of clean lines needs neither
    pydantic-settings (the worker's) nor the telemetry models (a dead letter's message)."""
    import subprocess
    import sys

    line = (
        '{"schema_version":1,"event_id":"e1","event_time":"2026-10-12T00:00:00Z",'
        '"provider_id":"p","contract_id":"nobody","resource_id":"r","source":"platform",'
        '"kind":"probe","ok":true}\n'
    )
    (tmp_path / "in.ndjson").write_text(line)
    (tmp_path / "rules").mkdir()
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['csla', 'replay', '--rules', sys.argv[1], '--input', sys.argv[2],"
        " '--out', sys.argv[3], '--quiet']\n"
        "try:\n"
        "    runpy.run_module('engine', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted({'pydantic_settings', 'engine.settings', 'engine.models.events'}"
        " & set(sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("CSLA_")}
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path / "rules"), str(tmp_path / "in.ndjson"),
         str(tmp_path / "out")],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )  # fmt: skip
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr
    # it ran: the line of an unknown contract is a dead letter
    assert (tmp_path / "out" / "deadletter.jsonl").read_text().count("\n") == 1
