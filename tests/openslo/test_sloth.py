"""The exported documents through the real Sloth v0.16.0 (``sloth validate``, ``generate``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.openslo.export import Export

from .conftest import ROOT
from .sloth_harness import rules_of, run, selectors


def _expected(exported: Export) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    keys = set()
    for _, doc in exported.documents:
        notes = doc["metadata"]["annotations"]
        matchers = (("contract_id", notes["csla.dev/contract-id"]),
                    ("objective_id", notes["csla.dev/objective-id"]))  # fmt: skip
        keys |= {("csla_sli_good_total", matchers), ("csla_sli_judged_total", matchers)}
    return keys


def test_sloth_validates_every_exported_document(sloth: str, exported_dir: Path) -> None:
    done = run(sloth, "validate", "-i", str(exported_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    for path in sorted(exported_dir.glob("*.yaml")):  # and each one alone
        done = run(sloth, "validate", "-i", str(path))
        assert done.returncode == 0, (path.name, done.stdout + done.stderr)


def test_sloth_generates_rules_over_the_worker_series(
    sloth: str, exported: Export, exported_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "prometheus"
    out.mkdir()
    done = run(sloth, "generate", "-i", str(exported_dir), "-o", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(out.rglob("*.yaml"))
    assert len(files) == len(exported.documents)
    rules = rules_of([f.read_text(encoding="utf-8") for f in files])
    records = {r["record"] for r in rules if "record" in r}
    assert "slo:sli_error:ratio_rate5m" in records and "slo:objective:ratio" in records
    assert selectors(rules) == _expected(exported)
    objectives = {
        (r["labels"]["sloth_service"], r["expr"].strip())
        for r in rules
        if r.get("record") == "slo:objective:ratio"
    }
    assert ("maas-api-001", "vector(0.99)") in objectives  # error rate ≤ 1 %
    assert ("gpu-train-001", "vector(0.995)") in objectives  # node availability ≥ 99.5 %


def test_export_piped_into_sloth_generate(sloth: str, exported: Export) -> None:
    """The README's example: ``csla openslo export rules/ | sloth generate -i /dev/stdin``."""
    export = subprocess.run(
        [sys.executable, "-m", "engine", "openslo", "export", str(ROOT / "rules")],
        capture_output=True,
        timeout=120,
        check=True,
    )
    done = run(sloth, "generate", "-i", "/dev/stdin", stdin=export.stdout)
    assert done.returncode == 0, done.stderr
    assert selectors(rules_of([done.stdout])) == _expected(exported)
