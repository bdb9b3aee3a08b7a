"""The exception list as plain data: index rows -> display tuples, sort orders and filter masks.

No textual here: the main screen holds one list of tuples in load order (id order) and shows it
through an order array of row indexes. Sorting and filtering build new order arrays and never
move the tuples (a pass over 100k rows in load order costs ~15 ms; over sorted objects ~5x more).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any

from kakotui.core.money import MINOR_DIGITS, from_minor

__all__ = [
    "INDEX_COLUMNS",
    "SORT_CYCLE",
    "ListRow",
    "build_rows",
    "filter_order",
    "format_cost",
    "id_mask",
    "sort_order",
]

INDEX_COLUMNS: tuple[str, ...] = (
    "id",
    "status",
    "checked_date",
    "vendor",
    "sku",
    "failure_code",
    "cost_minor",
    "cost_text",
    "responsible",
    "inspector",
    "valid",
)
"""The index columns the list reads (never the JSON of the record)."""

ListRow = tuple[str, str, str, int | None, str, str, str, str, str, str, int | None]
"""(id, flag, status, age, vendor, sku, code, cost, responsible, inspector, cost_minor).

The first ten cells are the table's columns; the last one is kept for sorting by cost.
"""

CELL = {
    "id": 0,
    "flag": 1,
    "status": 2,
    "age": 3,
    "vendor": 4,
    "sku": 5,
    "code": 6,
    "cost": 7,
    "responsible": 8,
    "inspector": 9,
}
"""Column key -> cell index in a ListRow."""

SORT_CYCLE: tuple[str, ...] = (
    "id",
    "status",
    "age",
    "vendor",
    "sku",
    "code",
    "cost",
    "responsible",
    "inspector",
)
"""The columns `o` cycles through, in screen order."""

INVALID_FLAG = "!"
_STATUS_RANK = {
    name: rank
    for rank, name in enumerate(("open", "decided", "reshipping", "awaiting-confirmation", "closed"))
}
_MISSING_RATE = "?"


def format_cost(minor: int | None, cost_text: str, currency: str) -> str:
    """The cost cell: the reporting-currency total, `?` when a rate is missing, empty without cost."""
    if not cost_text:
        return ""  # no reshipment: nothing spent (the index says 0)
    if minor is None:
        return _MISSING_RATE
    digits = MINOR_DIGITS.get(currency, 2)
    amount: Decimal = from_minor(minor, currency)
    return f"{amount:,.{digits}f}"


def _age(checked_date: str, today: date) -> int | None:
    try:
        return (today - date.fromisoformat(checked_date)).days
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def build_rows(records: Iterable[sqlite3.Row | Sequence[Any]], today: date, currency: str) -> list[ListRow]:
    """Display tuples from index rows read with INDEX_COLUMNS, in the order given."""
    rows: list[ListRow] = []
    append = rows.append
    ages: dict[str, int | None] = {}  # many records share a day: parse each date once
    for r in records:
        (rid, status, checked, vendor, sku, code, minor, cost_text, responsible, inspector, valid) = tuple(r)
        day = _text(checked)
        age = ages[day] if day in ages else ages.setdefault(day, _age(day, today))
        cost_minor = minor if isinstance(minor, int) else None
        append(
            (
                _text(rid),
                "" if valid else INVALID_FLAG,
                _text(status),
                age,
                _text(vendor),
                _text(sku),
                _text(code),
                format_cost(cost_minor, _text(cost_text), currency) if cost_text else "",
                _text(responsible),
                _text(inspector),
                cost_minor,
            )
        )
    return rows


def _sort_key(column: str) -> Callable[[ListRow], Any]:
    if column == "status":
        return lambda row: _STATUS_RANK.get(row[2], len(_STATUS_RANK))
    if column == "age":
        return lambda row: row[3]
    if column == "cost":
        return lambda row: row[10]
    if column == "flag":
        return lambda row: row[1]
    cell = CELL[column]
    return lambda row: str(row[cell]).casefold()


def sort_order(rows: Sequence[ListRow], column: str, *, descending: bool = False) -> list[int]:
    """Row indexes sorted by `column`; ties keep load (id) order; empty cells last either way.

    Raises KeyError for an unknown column.
    """
    if column not in CELL:
        raise KeyError(column)
    if column == "id":
        order = list(range(len(rows)))
        if descending:
            order.reverse()
        return order
    keys = list(map(_sort_key(column), rows))
    empty = [] if column == "status" else [i for i, key in enumerate(keys) if key is None or key == ""]
    if empty:
        gone = set(empty)
        filled = [i for i in range(len(keys)) if i not in gone]
    else:
        filled = list(range(len(keys)))
    # sort(reverse=True) keeps ties in their original (id) order, as the ascending sort does.
    filled.sort(key=keys.__getitem__, reverse=descending)
    filled.extend(empty)
    return filled


def id_mask(rows: Sequence[ListRow], ids: Collection[str] | None) -> list[bool] | None:
    """For each row in load order, whether its id is in `ids` (None when no filter applies).

    One pass in load order (C-level map): cheap enough to run on every keystroke's result.
    """
    if ids is None:
        return None
    return list(map(ids.__contains__, map(itemgetter(0), rows)))


def filter_order(order: Sequence[int], mask: Sequence[bool] | None) -> list[int]:
    """The part of a sort `order` whose rows the mask keeps (all of `order` when `mask` is None)."""
    if mask is None:
        return list(order)
    return [i for i in order if mask[i]]
