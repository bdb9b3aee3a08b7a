"""The exception list as plain data: index rows -> display tuples, sort orders and filter masks.

No textual here: the main screen holds one list of tuples in load order (id order) and shows it
through an order array of row indexes. Sorting and filtering build new order arrays and never
move the tuples (a pass over 100k rows in load order costs ~15 ms; over sorted objects ~5x more).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import compress
from operator import itemgetter
from typing import Any

from kakotui.core.money import MINOR_DIGITS
from kakotui.store.memquery import LISTING_COLUMNS, Listing

__all__ = [
    "LISTING_COLUMNS",
    "SORT_CYCLE",
    "ListData",
    "ListRow",
    "build_list",
    "filter_order",
    "format_cost",
    "id_mask",
    "sort_order",
]

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
    whole, part = divmod(abs(minor), 10**digits)  # integers: exact, and 20x faster than Decimal
    return ("-" if minor < 0 else "") + f"{whole:,}" + (f".{part:0{digits}d}" if digits else "")


def _age(checked_date: str, today: date) -> int | None:
    try:
        return (today - date.fromisoformat(checked_date)).days
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


@dataclass(frozen=True)
class ListData:
    """What the list holds: display tuples and the same rows column by column, both in load (id) order."""

    rows: list[ListRow]
    listing: Listing


def build_list(
    records: Sequence[Sequence[Any]], today: date, currency: str, columns: Sequence[str] = LISTING_COLUMNS
) -> ListData:
    """The list from index rows read with `columns` (LISTING_COLUMNS), in the order given."""
    return list_data(Listing(records, columns), today, currency)


def list_data(listing: Listing, today: date, currency: str) -> ListData:
    """The display tuples of a listing.

    Column by column over distinct values (ages per day, costs per amount), then zipped: the strings of
    a column are shared between rows, and 100k rows build in a fraction of a row-by-row loop.
    """

    def cells(name: str, convert: Callable[[Any], Any] = _text) -> list[Any]:
        column = listing.column(name)
        return list(map(list(map(convert, column.values)).__getitem__, column.codes))

    minor = cells("cost_minor", lambda v: v if isinstance(v, int) else None)
    spent = cells("cost_text", bool)
    formatted: dict[tuple[int | None, bool], str] = {}

    def cost(amount: int | None, has_text: bool) -> str:
        key = (amount, has_text)
        text = formatted.get(key)
        if text is None:
            text = formatted[key] = format_cost(amount, "spent", currency) if has_text else ""
        return text

    rows = list(
        zip(
            cells("id"),
            cells("valid", lambda v: "" if v else INVALID_FLAG),
            cells("status"),
            cells("checked_date", lambda v: _age(_text(v), today)),
            cells("vendor"),
            cells("sku"),
            cells("failure_code"),
            list(map(cost, minor, spent)),
            cells("responsible"),
            cells("inspector"),
            minor,
            strict=True,
        )
    )
    return ListData(rows, listing)


def _sort_key(column: str, today: date) -> tuple[str, Callable[[Any], Any]]:
    """The listing column a list column sorts by, and its key on one value (None: sorts last)."""
    if column == "status":
        return "status", lambda v: _STATUS_RANK.get(_text(v), len(_STATUS_RANK))
    if column == "age":
        return "checked_date", lambda v: _age(_text(v), today)
    if column == "cost":
        return "cost_minor", lambda v: v if isinstance(v, int) else None
    if column == "flag":
        return "valid", lambda v: None if v else INVALID_FLAG
    name = {"code": "failure_code"}.get(column, column)
    return name, lambda v: _text(v).casefold() or None


def sort_order(data: ListData, column: str, *, today: date, descending: bool = False) -> list[int]:
    """Row indexes sorted by `column`; ties keep load (id) order; empty cells last either way.

    Raises KeyError for an unknown column.
    """
    if column not in CELL:
        raise KeyError(column)
    if column == "id":  # the load order
        order = RowOrder(range(len(data.rows)))
        order.load = -1 if descending else 1
        if descending:
            order.reverse()
        return order
    name, key = _sort_key(column, today)
    return data.listing.order(key, name, descending=descending)


def id_mask(rows: Sequence[ListRow], ids: Collection[str] | None) -> bytes | None:
    """For each row in load order, 1 when its id is in `ids` (None when no filter applies)."""
    if ids is None:
        return None
    return bytes(map(ids.__contains__, map(itemgetter(0), rows)))


class RowOrder(list[int]):
    """Row indexes in display order; `load` is 1 when that is the load order, -1 its reverse, else 0."""

    load = 0


def filter_order(order: Sequence[int], mask: Sequence[int] | None) -> list[int]:
    """The part of a sort `order` whose rows the mask keeps (all of `order` when `mask` is None)."""
    if mask is None:
        return list(order)
    load = getattr(order, "load", 0)
    if load and len(mask) == len(order):  # the mask is in load order already: one C-level pass
        kept = list(compress(range(len(mask)), mask))
        if load < 0:
            kept.reverse()
        return kept
    return list(compress(order, map(mask.__getitem__, order)))
