"""``engine.core.records``: the one output-kind map, and record types that match the schemas."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import pytest
from pydantic import BaseModel

from engine.core.pipeline import OUTPUT_NAMES, Outputs
from engine.core.records import OUTPUT_KIND, OUTPUT_KINDS, RECORD_TYPES, OutputKind
from engine.models.outputs import OUTPUT_MODELS
from engine.settings import Topics

# The names users see today, written out: renaming one breaks readers of the files and topics.
PUBLISHED = [
    # name, records, file, topic, setting
    ("metrics", ("metric",), "metrics.jsonl", "csla.metrics", "metrics"),
    ("breaches", ("breach",), "breaches.jsonl", "csla.breaches", "breaches"),
    ("compensations", ("compensation",), "compensations.jsonl", "csla.compensations",
     "compensations"),
    ("late", ("late",), "late.jsonl", "csla.late", "late"),
    ("dead", ("deadletter",), "deadletter.jsonl", "csla.deadletter", "deadletter"),
    ("usage", ("usage", "period_usage"), "usage.jsonl", "csla.usage", "usage"),
    ("warnings", ("warning",), "warnings.jsonl", "csla.warnings", "warnings"),
    ("scorecards", ("scorecard",), "scorecards.jsonl", "csla.scorecards", "scorecards"),
    ("discrepancies", ("discrepancy",), "discrepancies.jsonl", "csla.discrepancies",
     "discrepancies"),
]  # fmt: skip


def test_kinds_are_the_published_names_in_the_write_order() -> None:
    assert [dataclasses.astuple(k) for k in OUTPUT_KINDS] == PUBLISHED
    assert tuple(row[0] for row in PUBLISHED) == OUTPUT_NAMES
    assert [OUTPUT_KIND[name] for name in OUTPUT_NAMES] == list(OUTPUT_KINDS)
    assert OUTPUT_KIND["dead"].record == "deadletter"


def test_every_record_list_of_outputs_is_a_kind() -> None:
    lists = [f.name for f in dataclasses.fields(Outputs) if f.name not in ("stats", "quarantined")]
    assert lists == list(OUTPUT_NAMES)


def test_every_record_value_belongs_to_one_kind() -> None:
    values = [r for kind in OUTPUT_KINDS for r in kind.records]
    assert sorted(values) == sorted(OUTPUT_MODELS) == sorted(RECORD_TYPES)


@pytest.mark.parametrize("kind", OUTPUT_KINDS, ids=lambda k: k.name)
def test_topic_setting_defaults_to_the_kind_topic(kind: OutputKind) -> None:
    assert Topics.model_fields[kind.setting].default == kind.topic
    assert Topics().output(kind) == Topics().output(kind.name) == kind.topic


def test_topic_setting_overrides_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSLA_TOPIC_DEADLETTER", "mine.dead")
    assert Topics().output("dead") == Topics().output(OUTPUT_KIND["dead"]) == "mine.dead"


def _keys(typed: Any) -> tuple[frozenset[str], frozenset[str]]:
    """(all keys, the keys that may be absent) of a TypedDict."""
    return frozenset(typed.__required_keys__ | typed.__optional_keys__), typed.__optional_keys__


def _nested(annotation: Any) -> Any:
    """The model or TypedDict inside ``X``, ``list[X]`` or ``X | None``; None for a plain type."""
    for inner in (annotation, *typing.get_args(annotation)):
        if (isinstance(inner, type) and issubclass(inner, BaseModel)) or typing.is_typeddict(inner):
            return inner
    return None


def _assert_same_fields(model: type[BaseModel], typed: Any, where: str) -> None:
    keys, optional = _keys(typed)
    assert keys == set(model.model_fields), where
    defaulted = {name for name, f in model.model_fields.items() if not f.is_required()}
    assert optional <= defaulted, f"{where}: absent keys must have a default in the model"
    hints = typing.get_type_hints(typed)
    for name, info in model.model_fields.items():
        inner = _nested(info.annotation)
        if inner is not None:
            typed_inner = _nested(hints[name])
            assert typed_inner is not None, f"{where}.{name}: a nested record in the model"
            _assert_same_fields(inner, typed_inner, f"{where}.{name}")


@pytest.mark.parametrize("record", sorted(OUTPUT_MODELS))
def test_record_type_has_the_model_fields(record: str) -> None:
    model, typed = OUTPUT_MODELS[record], RECORD_TYPES[record]
    _assert_same_fields(model, typed, record)
    assert typing.get_args(typing.get_type_hints(typed)["record"]) == (record,)
    assert model.model_fields["record"].default == record
