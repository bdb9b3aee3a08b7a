"""The emitter of `yamlio.dump` (with its caches of key and value texts and its inline common cases)
against the emitter it replaced, kept here verbatim as the reference: the same text for every input,
or the same exception."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kakotui.core import yamlio
from kakotui.core.record import canonical
from kakotui.core.schemas import packaged
from kakotui.core.yamlio import MAX_IMPLICIT_KEY, _container_depth, _key, _literal, _literal_ok, _scalar
from kakotui.interchange import sample
from tests.unit.test_yamlio import DATA, RECORDS, TRICKY

# -- the reference: the emitter as it was before the caches (kakotui 2026-11-26) ----------------------


def _ref_value(value: Any, indent: int, out: list[str], head: str, depth: int) -> None:
    if isinstance(value, dict):
        inner = _container_depth(depth)
        if not value:
            out.append(f"{head} {{}}" if head else "{}")
            return
        if head:
            out.append(head)
        _ref_mapping(value, indent, out, None, inner)
    elif isinstance(value, (list, tuple)):
        inner = _container_depth(depth)
        if not value:
            out.append(f"{head} []" if head else "[]")
            return
        if head:
            out.append(head)
        pad = " " * indent
        for item in value:
            if isinstance(item, dict) and item:
                _ref_mapping(item, indent + 2, out, pad + "- ", _container_depth(inner))
            else:
                _ref_value(item, indent + 2, out, pad + "-", inner)
    elif isinstance(value, str) and _literal_ok(value):
        _literal(value, max(indent, 2), out, f"{head} " if head else "")
    else:
        out.append(f"{head} {_scalar(value)}" if head else _scalar(value))


def _ref_mapping(
    value: dict[str, Any], indent: int, out: list[str], first_prefix: str | None, depth: int
) -> None:
    pad = " " * indent
    for i, (key, item) in enumerate(value.items()):
        prefix = first_prefix if (i == 0 and first_prefix is not None) else pad
        text = _key(key)
        if len(text) > MAX_IMPLICIT_KEY:
            out.append(f"{prefix}? {text}")
            _ref_value(item, indent + 2, out, f"{pad}:", depth)
        else:
            _ref_value(item, indent + 2, out, f"{prefix}{text}:", depth)


def reference_dump(data: Any) -> str:
    out: list[str] = []
    _ref_value(data, 0, out, "", 0)
    return "\n".join(out) + "\n"


# -- the comparison -------------------------------------------------------------------------------------


def outcome(dump: Any, data: Any) -> tuple[str, str]:
    try:
        return ("text", dump(data))
    except (ValueError, TypeError) as exc:
        return (type(exc).__name__, str(exc))


def assert_same(data: Any) -> None:
    # twice: the second time the caches hold every key and short value of the first
    expected = outcome(reference_dump, data)
    assert outcome(yamlio.dump, data) == expected
    assert outcome(yamlio.dump, data) == expected


def test_generated_records_are_written_as_before() -> None:
    schemas = packaged()
    records = sample.generate(1500, seed=11, start=date(2024, 1, 1), end=date(2026, 11, 25))
    for record in records:
        assert_same(canonical(record, schemas))
        assert_same(record)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(DATA, RECORDS))
def test_any_data_is_written_as_before(data: Any) -> None:
    assert_same(data)


class _Str(str):
    pass


class _Dict(dict[str, Any]):
    pass


@pytest.mark.parametrize(
    "data",
    [
        {"n": 10**17, "m": -(10**17), "big": 10**18, "neg": -(10**18), "huge": 10**30},
        {"t": True, "f": False, "z": None, "i": 0, "l": [1, True, None, "x"]},
        {"x" * (MAX_IMPLICIT_KEY + 5): "long key", "y" * MAX_IMPLICIT_KEY: {"a": 1}},
        {"s": "bad \ud800 text"},
        {"s": _Str("yes"), _Str("k"): _Str("two\nlines")},
        _Dict(a=_Dict(b=[_Dict(c=1)])),
        {"tuple": ("a", ("b",), ()), "empty": {}, "list": [[], {}, [[]]]},
        {1: "a non-string key"},
        {"f": 1.5},
        {"deep": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]},
        {f"k{i}": t for i, t in enumerate(TRICKY)},
        [{"a": t, t: "b"} for t in TRICKY if t],
        "top\nlevel\n",
        "---",
        [],
        {},
    ],
)
def test_edge_cases_are_written_as_before(data: Any) -> None:
    assert_same(data)
