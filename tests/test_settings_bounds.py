"""Settings are the operator's, but a non-finite number in one must stop ``csla worker`` at
start with the setting's name, not later inside a timer or a batch wait."""

from __future__ import annotations

import pydantic
import pytest

from engine.settings import Settings

FLOATS = [name for name, f in Settings.model_fields.items() if f.annotation is float]


def test_the_worker_has_float_settings() -> None:
    assert "batch_wait_seconds" in FLOATS and len(FLOATS) >= 5


@pytest.mark.parametrize("name", FLOATS)
@pytest.mark.parametrize("value", ["Infinity", "-inf", "NaN"])
def test_a_non_finite_float_setting_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(f"CSLA_{name.upper()}", value)
    with pytest.raises(pydantic.ValidationError, match=name):
        Settings()
