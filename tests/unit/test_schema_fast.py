"""The fast validity check (jsonschema_rs) against the reference validator (jsonschema), side by side.

`Schemas.fast_valid` may say "ask the reference" for a valid record (that only costs time), but it
must never call valid a record the reference validator finds a problem in, and on the records we
generate it must answer for itself (or the fast path is not used at all).
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest

from kakotui.core.schemas import Schemas, load_schema_texts, packaged
from kakotui.interchange import sample


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return packaged()


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return sample.generate(1500, start=date(2025, 1, 1), end=date(2026, 11, 25))


def reference_valid(schemas: Schemas, record: Any) -> bool:
    return bool(schemas.reference("exception").is_valid(record))


def test_the_fast_validator_is_installed_and_compiles_our_schemas(schemas: Schemas) -> None:
    assert set(schemas._fast) == set(schemas.documents)


def test_both_validators_accept_every_generated_record_and_the_fast_one_answers(
    schemas: Schemas, records: list[dict[str, Any]]
) -> None:
    for record in records:
        assert reference_valid(schemas, record)
        assert schemas.fast_valid("exception", record), record["id"]
        assert schemas.errors("exception", record) == []


BAD_TIMES = [
    "2026-02-29T10:00:00+08:00",
    "2026-13-01T00:00:00Z",
    "2026-11-31T00:00:00Z",
    "2026-11-26T24:00:00Z",
    "2026-11-26T23:59:60Z",  # a leap second: Rust's date-time check accepts it
    "2026-11-26T23:59:60+08:00",
    "0000-01-01T00:00:00Z",  # year 0000: the same
    "2026-11-26T09:14:00+24:00",
    "2026-11-26T09:14:00+23:60",
    "2026-11-26T09:60:00Z",
    "2026-11-26t09:14:00Z",
    "2026-11-26T09:14:00",
    "2026-11-26 09:14:00+08:00",
]
BAD_TEXT = [
    "a\x1cb",  # Python's \s matches U+001C-U+001F and U+0085, Rust's does not
    "a\x1fb",
    "a\x85b",
    "a b",
    " a",
    "a ",
    "",
    "a\nb",
    "a\u3000b",
    "a\u00a0b",
    "a\x00b",
]
BAD_LINKS = [
    "https://a.example/写真.jpg",
    "https://例え.jp/x",
    "https://a.example/x%zz",
    "https://[::1/x",
    "https://a.example:99999/x",
    "https://a.example/x|y",
    "https://a.example/x{y}",
    "https://a.example/x\\y",
    "https://a.example/x<y>",
    'https://a.example/x"y',
    "https://a.example/#a#b",
    "http://",
    "https:///x",
    "https://a.example/x\x1cy",
    "../secret",
    "/etc/passwd",
    "a/../../b",
    "c:x",
]


def variants(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Copies of `record` with one field changed to an edge value."""
    out: list[dict[str, Any]] = []

    def with_(path: tuple[Any, ...], value: Any) -> None:
        changed = copy.deepcopy(record)
        target: Any = changed
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
        out.append(changed)

    for value in BAD_TIMES:
        with_(("qc", "checked_at"), value)
    for value in BAD_TEXT:
        for field in ("sku", "order_id", "inspector", "item_title", "vendor"):
            with_(("qc", field), value)
    if record["qc"].get("evidence"):
        for value in BAD_LINKS:
            with_(("qc", "evidence", 0, "link"), value)
    for field, value in (("quantity", 0), ("quantity", "1"), ("quantity", 2**70), ("quantity", True)):
        with_(("qc", field), value)
    with_(("qc", "severity"), "huge")
    with_(("qc", "unknown"), "x")
    with_(("id",), "SZ1-2026-1")
    with_(("schema_version",), 2)
    with_(("qc", "description"), "\ud800")
    trimmed = copy.deepcopy(record)
    del trimmed["qc"]["vendor"]
    out.append(trimmed)
    return out


def test_the_fast_path_never_calls_valid_what_the_reference_rejects(
    schemas: Schemas, records: list[dict[str, Any]]
) -> None:
    checked = 0
    for record in records[::100]:
        for variant in variants(record):
            if schemas.fast_valid("exception", variant):
                assert reference_valid(schemas, variant), variant
            assert schemas.is_valid("exception", variant) == reference_valid(schemas, variant)
            checked += 1
    assert checked > 500


def test_a_schema_the_rust_validator_cannot_compile_falls_back_to_the_reference() -> None:
    texts = load_schema_texts()
    texts["odd"] = '{"type": "string", "pattern": "(?<=a)b\\\\Z"}'
    schemas = Schemas(texts)
    assert not schemas.fast_valid("odd", "ab") or schemas.is_valid("odd", "ab")
    assert schemas.errors("odd", "ab") == []


def test_screening_the_yaml_text_stands_in_for_walking_the_record(
    schemas: Schemas, records: list[dict[str, Any]]
) -> None:
    """`strings_safe_in(text)` lets the fast path skip collecting the record's strings: for every edge
    variant, written as YAML and read back, the text screen refuses what the walk refuses (the fast
    answer is never trusted where the walk would not trust it), and validating with the text gives the
    same problems as validating without it."""
    from kakotui.core import yamlio
    from kakotui.core.config import Config
    from kakotui.core.schemas import _CONTROL, _strings, strings_safe_in
    from kakotui.core.validation import check_text, validate_record

    config = Config.from_data(sample.sample_config())
    screened = 0
    for record in records[::100]:
        for variant in [record, *variants(record)]:
            try:
                text = yamlio.dump(variant)
            except Exception:  # data YAML cannot hold (a lone surrogate): never written, never read
                continue
            strings: list[str] = []
            _strings(variant, strings)
            joined = "\n".join(strings)
            walk_clean = not (":60" in joined or "0000-" in joined or _CONTROL.search(joined))
            safe = strings_safe_in(text)
            assert walk_clean or not safe, text  # the screen passes only what the walk passes
            screened += not safe
            path = f"records/{variant.get('id')}.yaml"
            assert validate_record(variant, schemas, config, path=path, text=text) == validate_record(
                variant, schemas, config, path=path
            )
            checked = check_text(text.encode(), path, schemas, config)
            assert checked.problems == validate_record(checked.record, schemas, config, path=path)
    assert screened >= 20  # the control characters, leap seconds and year 0000 above are screened out
    for text in ('a: "x\\x1by"\n', "a: 2026-11-26T23:59:60Z\n", "a: '0000-01-01'\n", 'a: "\\u0085"\n'):
        assert not strings_safe_in(text)
    assert strings_safe_in("a: plain text\nb: 'quoted: 60'\n")
