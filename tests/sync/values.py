"""Checks shared by the sync tests: no value from either side may be missing after a merge."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def leaves(value: Any) -> Iterable[Any]:
    """Every scalar inside `value` (dict keys excluded)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from leaves(v)
    else:
        yield value


def missing_values(merged: dict[str, Any], *sides: dict[str, Any], allow: Iterable[Any] = ()) -> set[Any]:
    """Scalars some side holds that the merged record (its fields or its kept conflicts) does not."""
    have = set(map(repr, leaves(merged)))
    allowed = set(map(repr, allow))
    out = set()
    for side in sides:
        for leaf in leaves(side):
            if repr(leaf) not in have and repr(leaf) not in allowed:
                out.add(leaf)
    return out
