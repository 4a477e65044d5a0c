"""Loads ``documents.py`` (shared YAML documents) once, for the tests of this folder to take
from ``sys.modules`` (the tests run with ``--import-mode=importlib``: no package imports)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

NAME = "csla_ruleset_documents"
if NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(NAME, Path(__file__).with_name("documents.py"))
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules[NAME] = _module
    _spec.loader.exec_module(_module)
