"""JSON Schema files under ``schemas/``, exported from the pydantic models (and checked).

``schemas/`` of the checkout is the committed copy; an installed wheel carries it as package
data (``engine.resources.schemas_dir``), so ``csla schema check`` works anywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from engine.models.contract import rule_file_json_schema
from engine.models.events import event_json_schema
from engine.models.manifest import manifest_json_schema
from engine.models.outputs import OUTPUT_MODELS
from engine.resources import schemas_dir


def all_schemas() -> dict[str, dict[str, Any]]:
    schemas: dict[str, dict[str, Any]] = {
        "telemetry.v1.schema.json": event_json_schema(),
        "rule-file.csla-v1.schema.json": rule_file_json_schema(),
        "replay-manifest.v1.schema.json": manifest_json_schema(),
    }
    for name, model in OUTPUT_MODELS.items():
        schema = model.model_json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://csla-engine.dev/schemas/output.{name}.v1.schema.json"
        schemas[f"output.{name}.v1.schema.json"] = schema
    return schemas


def render(schema: dict[str, Any]) -> bytes:
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = directory / name
        path.write_bytes(render(schema))
        written.append(path)
    return written


def drift(directory: Path | None = None) -> list[str]:
    """Names of schema files that are missing or differ from the models (default: the
    committed or packaged ``schemas/``)."""
    directory = schemas_dir() if directory is None else directory
    problems = []
    for name, schema in all_schemas().items():
        path = directory / name
        if not path.exists():
            problems.append(f"{path}: missing")
        elif path.read_bytes() != render(schema):
            problems.append(f"{path}: differs from the models (run: csla schema export)")
    return problems
