"""The manifest of a replay output directory (``manifest.json``): what a complete run wrote.

``csla replay`` writes it last, into a temporary directory that is then moved into place, so
a directory with a manifest holds the outputs of one whole run and nothing else. It names the
inputs and rule files by size and sha256, counts the records of every output file, and keeps
the books of the input lines. It holds no wall-clock time and no process id: replaying the
same input under the same rules writes the same bytes.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

MANIFEST_FORMAT: Final = "csla-replay-manifest/v1"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Books(_Part):
    """Where every input line went: ``lines_in = accepted + duplicates + late + dead_letters``."""

    lines_in: int = Field(ge=0, description="Records read (a JSON array line counts each item).")
    accepted: int = Field(ge=0, description="Records evaluated by the engine.")
    duplicates: int = Field(ge=0, description="Repeated events counted once (dropped copies).")
    late: int = Field(ge=0, description="Records that arrived after their minute closed.")
    dead_letters: int = Field(ge=0, description="Records rejected with a reason.")


class InputFile(_Part):
    path: str = Field(description="As given to --input ('-' for stdin).")
    bytes: int = Field(ge=0, description="Bytes read, as stored (compressed when .gz).")
    sha256: str


class RuleFileRef(_Part):
    path: str = Field(description="The rule file as loaded.")
    contract_id: str
    revision: int
    sha256: str


class OutputFile(_Part):
    kind: str = Field(description="The output kind (metrics, breaches, dead, …).")
    records: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str


class Manifest(_Part):
    """A complete replay: its inputs, rules, arguments, books and output files."""

    format: Literal["csla-replay-manifest/v1"] = MANIFEST_FORMAT
    engine_version: str
    arguments: dict[str, Any] = Field(
        description="The replay's arguments that shape the outputs (until: the instant every "
        "window was closed up to, or null)."
    )
    inputs: list[InputFile]
    rules: list[RuleFileRef] = Field(description="Every contract revision in force, by file.")
    books: Books
    outputs: dict[str, OutputFile] = Field(description="File name → what it holds.")


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of ``manifest.json`` (``schemas/replay-manifest.v1.schema.json``)."""
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://csla-engine.dev/schemas/replay-manifest.v1.schema.json"
    return schema
