"""Where the files that ship with the engine are: example rules, Table A.2, schemas, Kafka pom.

In a checkout they are the repository's own top-level ``rules/``, ``schemas/`` and
``deploy/kafka/`` (the one copy in git). An installed wheel has no checkout: the build copies
those files into the package as ``engine/_data/`` (``setup.py``), and they are found there with
``importlib.resources``. Stdlib only, imported by models and adapters alike.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.resources
from functools import cache
from pathlib import Path

__all__ = [
    "checkout_root",
    "example_rules_dir",
    "kafka_log4j",
    "kafka_pom",
    "schemas_dir",
    "scoring_defaults",
]

#: Packaged path (under ``engine/_data/``) → path in a checkout of the repository.
LAYOUT = {
    "rules": "rules",
    "schemas": "schemas",
    "kafka": "deploy/kafka",
}


def checkout_root() -> Path | None:
    """The repository root when the engine runs from a checkout (editable install, PYTHONPATH)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "engine").is_dir() else None


@cache
def _packaged_root() -> Path:
    data = importlib.resources.files("engine").joinpath("_data")
    if isinstance(data, Path):
        return data
    # a zipped install: extract once, for the life of the process
    stack = contextlib.ExitStack()
    atexit.register(stack.close)
    return stack.enter_context(importlib.resources.as_file(data))


def _find(kind: str, *parts: str) -> Path:
    root = checkout_root()
    if root is not None:
        path = root.joinpath(LAYOUT[kind], *parts)
        if path.exists():
            return path
    return _packaged_root().joinpath(kind, *parts)


def example_rules_dir() -> Path:
    """The example rule files (the bundled contracts of ``csla demo`` and ``csla init``)."""
    return _find("rules")


def scoring_defaults() -> Path:
    """Table A.2 defaults: the example rules directory's ``.scoring/table-a2.yaml``."""
    return _find("rules", ".scoring", "table-a2.yaml")


def schemas_dir() -> Path:
    """The committed JSON Schema files of the wire formats."""
    return _find("schemas")


def kafka_pom() -> Path:
    """The Maven pom that fetches the local broker's jars."""
    return _find("kafka", "pom.xml")


def kafka_log4j() -> Path:
    """The local broker's log4j2 configuration."""
    return _find("kafka", "log4j2.properties")
