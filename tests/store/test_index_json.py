"""The index's JSON column: orjson's text is exactly the standard encoder's compact text, and reads back."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings

from kakotui.interchange import sample
from kakotui.store import index
from tests.unit.test_yamlio import DATA, RECORDS


def standard(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_generated_records_are_written_as_the_standard_encoder_writes_them() -> None:
    assert index._orjson is not None, "orjson is a dependency: the fast path must be the one tested"
    for record in sample.generate(300, start=date(2025, 1, 1), end=date(2026, 11, 25)):
        text = index.record_json_text(record)
        assert text == standard(record)
        assert json.loads(text) == record


@settings(max_examples=300, deadline=None)
@given(DATA)
def test_any_yaml_data_is_written_as_the_standard_encoder_writes_it(data: Any) -> None:
    assert index.record_json_text(data) == standard(data)


@settings(max_examples=100, deadline=None)
@given(RECORDS)
def test_record_shaped_data_reads_back(record: dict[str, Any]) -> None:
    assert json.loads(index.record_json_text(record)) == record


def test_what_orjson_refuses_goes_to_the_standard_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    huge = {"n": 10**30}
    assert index.record_json_text(huge) == standard(huge)
    monkeypatch.setattr(index, "_orjson", None)
    assert index.record_json_text({"a": "中"}) == '{"a":"中"}'
