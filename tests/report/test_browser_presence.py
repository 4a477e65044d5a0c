"""Without Chromium the page tests skip with the reason for a user who cannot install it, and
fail for root (CI), where scripts/test.sh installs it: a missing browser is never silent there."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import load_browser_module


def test_missing_chromium_skips_with_a_reason_for_a_non_root_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_browser_module()
    monkeypatch.setattr(module, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setattr(module.os, "geteuid", lambda: 1000)
    with (
        pytest.raises(pytest.skip.Exception, match="no-chromium is missing"),
        module.chromium(tmp_path / "profile"),
    ):
        pass


def test_missing_chromium_is_an_error_for_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = load_browser_module()
    monkeypatch.setattr(module, "CHROMIUM", str(tmp_path / "no-chromium"))
    monkeypatch.setattr(module.os, "geteuid", lambda: 0)
    with (
        pytest.raises(RuntimeError, match=r"scripts/test\.sh installs it"),
        module.chromium(tmp_path / "profile"),
    ):
        pass
