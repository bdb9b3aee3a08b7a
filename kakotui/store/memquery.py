"""The query language evaluated over the list's columns held in memory: a filter keystroke in milliseconds.

`kakotui list` and the first page of the TUI ask SQLite (`query.compile_query`). Once the TUI holds the
whole list, every keystroke of the filter bar is answered here instead: a scan of SQLite's table costs
60-300 ms at 100,000 records on these machines, this costs a few milliseconds. Both read the same
parse (`query.parse`) and the same value rules, and `tests/unit/test_memquery.py` proves with
generated records and queries that they select the same rows.

How it is fast: every column is dictionary-encoded (distinct values + a code per row), so a term is
decided once per distinct value and spread to the rows with one C-level pass. A selection is a
`bytes` of 0/1 per row in load order; AND/OR/NOT of selections run as big-integer operations. Free
text searches one UTF-8 buffer of every row's search text. A term this module does not evaluate
(a wildcard inside free text) raises `Unsupported`, and the caller asks SQLite.

No textual here.
"""

from __future__ import annotations

import datetime
import operator
import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from typing import Any

from kakotui.core.record import SEARCH_PARTS
from kakotui.store import query as q

__all__ = ["LISTING_COLUMNS", "Listing", "Unsupported"]

LISTING_COLUMNS: tuple[str, ...] = (
    "id",
    "aliases",
    "status",
    "checked_date",
    "vendor",
    "sku",
    "failure_code",
    "category",
    "severity",
    "site",
    "station",
    "inspector",
    "order_id",
    "carrier",
    "responsible",
    "decision",
    "final_status",
    "cost_minor",
    "cost_text",
    "valid",
    "search_parts",
)
"""The index columns the list holds (every column the query language reads, plus what it shows)."""

_STATUS_ORDER = ("open", "decided", "reshipping", "awaiting-confirmation", "closed")
_NOT = bytes.maketrans(b"\x00\x01", b"\x01\x00")
_SEP = b"\x00"  # between rows in a free-text buffer; a query never holds a control character
_PART = "\x1f"  # between the parts of a record's free text (kakotui.core.record.search_parts_text)


class Unsupported(Exception):
    """A query this module does not evaluate; ask SQLite instead."""


Selection = bytes
"""One byte per row in load order: 1 selected, 0 not."""


class _Ranks:
    """A column's rows ranked by a key (`_Column.ranked`): the distinct keys in order, each row's rank
    as byte planes (the most significant first), and the rows whose value has a key at all."""

    __slots__ = ("keyed", "keys", "planes")

    def __init__(self, keys: list[Any], planes: list[bytes], keyed: Selection) -> None:
        self.keys, self.planes, self.keyed = keys, planes, keyed

    def compare(self, op: str, key: Any) -> Selection:
        """The rows whose key `op` `key` (one of > >= < <=)."""
        if op in (">", ">="):
            at = (bisect_right if op == ">" else bisect_left)(self.keys, key)
            return _and(self._at_least(at), self.keyed)
        below = (bisect_left if op == "<" else bisect_right)(self.keys, key)
        return _and(self._at_least(below).translate(_NOT), self.keyed)

    def _at_least(self, rank: int) -> Selection:
        """Rows of rank >= `rank`: greater in the first byte that differs, or equal in every byte."""
        n = len(self.planes[0])
        if rank <= 0:
            return b"\x01" * n
        if rank >= len(self.keys):
            return bytes(n)
        width = len(self.planes)
        digits = [(rank >> (8 * (width - 1 - j))) & 255 for j in range(width)]
        above = 0
        same = int.from_bytes(b"\x01" * n, "little")
        for plane, digit in zip(self.planes, digits, strict=True):
            greater = int.from_bytes(plane.translate(_GREATER[digit]), "little")
            above |= same & greater
            same &= int.from_bytes(plane.translate(_EQUAL[digit]), "little")
        return (above | same).to_bytes(n, "little")


_GREATER = [bytes(1 if b > d else 0 for b in range(256)) for d in range(256)]
_EQUAL = [bytes(1 if b == d else 0 for b in range(256)) for d in range(256)]


class _Column:
    """A dictionary-encoded column: the distinct values, and each row's index into them."""

    __slots__ = ("_code_of", "_lowered", "_ranks", "_small", "codes", "nulls", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.codes = array("I")
        self._code_of: dict[Any, int] = {}
        self._lowered: list[str] | None = None
        self._small: bytes | None = None
        self._ranks: dict[str, _Ranks] = {}
        self.nulls: list[int] = []

    def extend(self, cells: Sequence[Any]) -> None:
        """Append rows. A value seen before is kept once: the chunk's duplicate strings die here."""
        code_of, values = self._code_of, self.values
        for value in dict.fromkeys(cells):  # this chunk's distinct values (C speed)
            if value not in code_of:
                code_of[value] = len(values)
                values.append(value)
        self.codes.extend(map(code_of.__getitem__, cells))

    def finish(self) -> None:
        """After the last rows: what the selections use."""
        self.nulls = [code for code, v in enumerate(self.values) if v is None]
        # few distinct values (status, site, vendor...): the codes as bytes, spread by bytes.translate
        self._small = array("B", self.codes).tobytes() if len(self.values) <= 256 else None
        self._code_of = {}

    @property
    def small(self) -> bool:
        """At most 256 distinct values (spread by bytes.translate)."""
        return self._small is not None

    def __getitem__(self, row: int) -> Any:
        return self.values[self.codes[row]]

    def lowered(self) -> list[str]:
        """Each distinct value folded as SQLite's lower() folds it (ASCII only); None as "" (see `nulls`)."""
        if self._lowered is None:
            self._lowered = [
                q._ascii_lower(v) if isinstance(v, str) else "" if v is None else str(v) for v in self.values
            ]
        return self._lowered

    def spread(self, flags: Sequence[bool]) -> Selection:
        """Rows whose value's flag is set (one C-level pass over the codes)."""
        table = bytes(1 if f else 0 for f in flags)
        if self._small is not None:
            return self._small.translate(table.ljust(256, b"\x00"))
        return bytes([table[c] for c in self.codes])

    def ranked(self, name: str, key: Callable[[Any], Any]) -> _Ranks:
        """The rows ranked by `key` of their values (None: never passes a comparison), made once per
        `name`: a comparison is then a threshold on the ranks, decided a byte at a time by
        bytes.translate (~1 ms at 200k rows, where spreading the flags of 40k distinct costs ~10 ms)."""
        cached = self._ranks.get(name)
        if cached is None:
            keys = [key(v) for v in self.values]
            ordered = sorted({k for k in keys if k is not None})
            rank_of = {k: i for i, k in enumerate(ordered)}
            code_rank = [0 if k is None else rank_of[k] for k in keys]
            ranks = [code_rank[c] for c in self.codes]
            width = max(1, (max(len(ordered) - 1, 1).bit_length() + 7) // 8)
            planes = [bytes([(r >> shift) & 255 for r in ranks]) for shift in range(8 * (width - 1), -1, -8)]
            cached = _Ranks(ordered, planes, self.spread([k is not None for k in keys]))
            self._ranks[name] = cached
        return cached


class Listing:
    """The list's rows in load (id) order, column by column, with the query language over them.

    Built a chunk of rows at a time (`from_chunks`): each column keeps one copy of each distinct
    value, and the free text goes to one UTF-8 buffer, so memory stays near the size of the result
    (at 100k records the rows read at once as tuples would cost ~170 MB more).
    """

    def __init__(self, rows: Sequence[Sequence[Any]], columns: Sequence[str] = LISTING_COLUMNS) -> None:
        """`rows` hold the cells of `columns` (LISTING_COLUMNS unless given), in load order."""
        self._columns: dict[str, _Column] = {name: _Column() for name in columns if name != "search_parts"}
        self._names = tuple(columns)
        self._parts = [_Column() for _ in range(SEARCH_PARTS)]  # the free text, part by part
        self._texts: list[bytes | None] = []  # per part: its rows' texts in one buffer, or None (few values)
        # while loading: a part seen to hold more than 256 distinct values goes straight to its buffer
        # (no dictionary of 200k strings per part at the end of the load: the TUI's peak memory)
        self._filling: list[bytearray | None] = [None] * SEARCH_PARTS
        self.size = 0
        if rows:
            self.add(rows)
        self.finish()

    @classmethod
    def from_chunks(
        cls, chunks: Iterable[Sequence[Sequence[Any]]], columns: Sequence[str] = LISTING_COLUMNS
    ) -> Listing:
        listing = cls([], columns)
        for chunk in chunks:
            listing.add(chunk)
        listing.finish()
        return listing

    def add(self, rows: Sequence[Sequence[Any]]) -> None:
        """Append rows (cells of this listing's columns, in load order)."""
        if not rows:
            return
        blank = ("",) * SEARCH_PARTS
        for name, cells in zip(self._names, zip(*rows, strict=True), strict=True):
            if name != "search_parts":
                self._columns[name].extend(cells)
                continue
            split = [(cell or "").split(_PART) for cell in cells]
            split = [p if len(p) == SEARCH_PARTS else (p + list(blank))[:SEARCH_PARTS] for p in split]
            for k, (part, texts) in enumerate(zip(self._parts, zip(*split, strict=True), strict=True)):
                filling = self._filling[k]
                if filling is not None:
                    filling += _SEP
                    filling += _SEP.join([v.encode("utf-8", "surrogatepass") for v in texts])
                    continue
                part.extend(texts)
                if len(part.values) > 256:  # never small: from now on only its buffer
                    encoded = [v.encode("utf-8", "surrogatepass") for v in part.values]
                    self._filling[k] = bytearray(_SEP.join(map(encoded.__getitem__, part.codes)))
                    part.codes, part.values, part._code_of = array("I"), [], {}
        self.size += len(rows)

    def finish(self) -> None:
        for column in self._columns.values():
            column.finish()
        for part in self._parts:
            part.finish()
        # A part with few distinct values (vendor, code, a templated description) is searched value by
        # value; any other as one UTF-8 buffer of its rows' texts, rows apart by a NUL (a needle is valid
        # UTF-8 without NUL, so a byte match covers whole characters of one row's text).
        # (`add` moved every part of more than 256 distinct values to its buffer)
        texts: list[bytes | None] = []
        for k, filling in enumerate(self._filling):  # one buffer copied at a time
            self._filling[k] = None
            texts.append(None if filling is None else bytes(filling))
            del filling
        self._texts = texts
        self.everything: Selection = b"\x01" * self.size

    def column(self, name: str) -> _Column:
        """Column `name` (KeyError when it was not loaded)."""
        return self._columns[name]

    # -- selections --------------------------------------------------------------------------

    def select(self, text: str, *, today: datetime.date) -> Selection:
        """The rows `text` selects (raises QueryError for a bad query, Unsupported to ask SQLite)."""
        if isinstance(today, datetime.datetime):
            today = today.date()
        result = self.everything
        for term in q.parse(text):
            chosen = self._term(term, today)
            if term.negate:
                chosen = chosen.translate(_NOT)
            result = _and(result, chosen)
        return result

    def counts(self, selection: Selection) -> dict[str, int]:
        """Selected rows per status (the status bar's figures)."""
        status = self.column("status")
        out: dict[str, int] = {}
        for code, value in enumerate(status.values):
            flags = [False] * len(status.values)
            flags[code] = True
            n = _and(selection, status.spread(flags)).count(1)
            if n:
                out[str(value)] = n
        return out

    # -- terms -------------------------------------------------------------------------------

    def _term(self, term: q.Term, today: datetime.date) -> Selection:
        spec = q._FIELD_SPECS[term.field or "text"]
        values = [
            q._Value(text, pattern, term.start, term.end)
            for text, pattern in zip(term.values, term.patterns or (None,) * len(term.values), strict=True)
        ]
        kind = spec.kind
        col = spec.column or ""
        if kind == "text":
            return self._by_value(col, _text_test(values))
        if kind == "id":
            return _or(
                self._by_value("id", _text_test(values)), self._by_value("aliases", _tokens_test(values))
            )
        if kind == "tokens":
            return self._by_value(col, _tokens_test(values))
        if kind == "free":
            if any(v.pattern is not None for v in values):
                raise Unsupported("wildcards in free text")
            chosen = bytes(self.size)
            for v in values:
                chosen = _or(chosen, self._contains(v.text.lower()))
            return chosen
        if kind == "is":
            chosen = bytes(self.size)
            for v in values:
                name = q._ascii_lower(v.text)
                if name == "open":
                    chosen = _or(chosen, self._by_value("status", lambda xs: [x != "closed" for x in xs]))
                else:
                    valid = self.column("valid")
                    flag = int(name == "valid")
                    chosen = _or(chosen, valid.spread([x == flag for x in valid.values]))
            return chosen
        if kind in ("since", "until"):
            bound = q._date_value(values[0], kind, today)
            if kind == "since":
                return self._by_raw(col, lambda x: x is not None and str(x) >= bound)
            return self._by_raw(col, lambda x: x is not None and str(x) <= bound)
        return self._ordered(kind, col, term.op, values, today)

    def _by_value(self, name: str, test: Callable[[list[str]], list[bool]]) -> Selection:
        """Rows whose ASCII-lowered value passes `test` (a batch test over the distinct values; NULL never does)."""
        column = self.column(name)
        flags = test(column.lowered())
        for code in column.nulls:
            flags[code] = False
        return column.spread(flags)

    def _by_raw(self, name: str, test: Callable[[Any], bool]) -> Selection:
        column = self.column(name)
        return column.spread([test(x) for x in column.values])

    def _contains(self, needle: str) -> Selection:
        """Rows whose search text holds `needle` (SQLite's instr over the parts joined by spaces): a
        needle without a space lies inside one part, so each part is searched alone."""
        if not needle:
            return self.everything
        if " " in needle:
            raise Unsupported("free text with a space")
        wanted = needle.encode("utf-8", "surrogatepass")
        chosen = bytearray(self.size)
        spread: list[Selection] = []
        for part, text in zip(self._parts, self._texts, strict=True):
            if text is None:
                flags = [v is not None and needle in v for v in part.values]
                if any(flags):
                    spread.append(part.spread(flags))
                continue
            find, count = text.find, text.count
            row = pos = 0
            at = find(wanted)
            while at >= 0:
                row += count(_SEP, pos, at)
                chosen[row] = 1
                pos = find(_SEP, at)  # the end of this row's text
                if pos < 0:
                    break
                at = find(wanted, pos + 1)
        result = bytes(chosen)
        for selection in spread:
            result = _or(result, selection)
        return result

    def _ordered(
        self, kind: str, col: str, op: str, values: list[q._Value], today: datetime.date
    ) -> Selection:
        tests: list[Callable[[Any], bool]] = []
        if kind == "cost":
            keys: list[Any] = [q._minor_units(v) for v in values]
        elif kind == "age":
            keys = [q._days_ago(today, q._days(v)) for v in values]
            op = {">": "<", ">=": "<=", "<": ">", "<=": ">="}.get(op, op)
        else:
            for v in values:
                if v.pattern is not None:
                    tests.append(_glob_test(q._glob_regex(v.pattern)))
            keys = [q._date_value(v, "date", today) for v in values if v.pattern is None]
        if keys and op in q._COMPARISONS and not tests:
            # one comparison (the common case: cost>100, since:..., age>7): C-level over the distinct
            # values, the ones that cannot compare (NULL, not an amount) standing in as never passing
            column = self.column(col)
            if not column.small:  # many distinct values: a threshold on their ranks
                if kind == "cost":
                    return column.ranked("cost", _cost_key).compare(op, keys[0])
                return column.ranked("text", _text_key).compare(op, keys[0])
            compare = _OPERATOR[op]
            never = (float("-inf") if op in (">", ">=") else float("inf")) if kind == "cost" else None
            if kind == "cost":
                xs = [x if isinstance(x, int) and not isinstance(x, bool) else never for x in column.values]
                return column.spread(list(map(compare, xs, repeat(keys[0]))))
            texts = [x if isinstance(x, str) else None if x is None else str(x) for x in column.values]
            return column.spread([x is not None and compare(x, keys[0]) for x in texts])
        if keys:
            if op in q._COMPARISONS:
                key = keys[0]
                compare = _OPERATOR[op]
                if kind == "cost":
                    tests.append(lambda x: isinstance(x, int) and compare(x, key))
                else:
                    tests.append(lambda x: x is not None and compare(str(x), key))
            else:
                wanted = set(keys)
                if kind == "cost":
                    tests.append(lambda x: isinstance(x, int) and x in wanted)
                else:
                    tests.append(lambda x: x is not None and str(x) in wanted)
        return self._by_raw(col, lambda x: any(t(x) for t in tests))

    # -- sorting -----------------------------------------------------------------------------

    def order(self, key: Callable[[Any], Any], name: str, *, descending: bool = False) -> list[int]:
        """Rows sorted by column `name` through `key` on its distinct values; ties keep load order.

        Rows whose key is None sort last either way. The key runs once per distinct value; the rows
        are then sorted by an integer rank (one C-level sort).
        """
        column = self.column(name)
        keys = list(map(key, column.values))
        present = [code for code, k in enumerate(keys) if k is not None]
        present.sort(key=keys.__getitem__)
        missing = len(present)  # ranks 0..missing-1 for values with a key; `missing` sorts after them
        rank = [missing] * len(keys)
        position, last = -1, _NOTHING
        for code in present:
            k = keys[code]
            if k != last:
                position, last = position + 1, k
            rank[code] = position
        per_row = list(map(rank.__getitem__, column.codes))
        if len(present) == len(keys):
            order = sorted(range(self.size), key=per_row.__getitem__, reverse=descending)
            return order
        filled = [row for row, r in enumerate(per_row) if r != missing]
        filled.sort(key=per_row.__getitem__, reverse=descending)
        filled.extend(row for row, r in enumerate(per_row) if r == missing)
        return filled


_NOTHING = object()
_OPERATOR: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def _cost_key(x: Any) -> int | None:
    """What a cost comparison compares (an integer of minor units; anything else never passes)."""
    return x if isinstance(x, int) and not isinstance(x, bool) else None


def _text_key(x: Any) -> str | None:
    """What a date comparison compares (the value as text; NULL never passes)."""
    return x if isinstance(x, str) else None if x is None else str(x)


def _and(a: Selection, b: Selection) -> Selection:
    if a is b:
        return a
    n = len(a)
    return (int.from_bytes(a, "little") & int.from_bytes(b, "little")).to_bytes(n, "little")


def _or(a: Selection, b: Selection) -> Selection:
    n = len(a)
    return (int.from_bytes(a, "little") | int.from_bytes(b, "little")).to_bytes(n, "little")


def _glob_test(regex: re.Pattern[str]) -> Callable[[Any], bool]:
    def test(value: Any) -> bool:
        return value is not None and regex.fullmatch(str(value)) is not None

    return test


def _text_test(values: list[q._Value]) -> Callable[[list[str]], list[bool]]:
    """`lower(col) IN (...)` or `lower(col) GLOB ...` for any of `values`, over ASCII-lowered values."""
    exact = {q._ascii_lower(v.text) for v in values if v.pattern is None}
    regexes = [q._glob_regex(q._ascii_lower(v.pattern)) for v in values if v.pattern is not None]

    def test(lowered: list[str]) -> list[bool]:
        flags = list(map(exact.__contains__, lowered))
        for regex in regexes:
            for code, hit in enumerate(map(regex.fullmatch, lowered)):
                if hit is not None:
                    flags[code] = True
        return flags

    return test


def _tokens_test(values: list[q._Value]) -> Callable[[list[str]], list[bool]]:
    """A space-separated list column (aliases, responsible) holding a token equal to, or matching, a value."""
    exact: list[str] = []
    regexes: list[re.Pattern[str]] = []
    for v in values:
        if v.pattern is None and " " not in v.text:
            exact.append(f" {q._ascii_lower(v.text)} ")
        else:
            pattern = q._ascii_lower(v.pattern if v.pattern is not None else q._glob_escape(v.text))
            regexes.append(q._glob_regex(pattern))

    def one(value: str) -> bool:
        padded = f" {value} "
        if any(e in padded for e in exact):
            return True
        return any(r.fullmatch(t) is not None for r in regexes for t in value.split(" ") if t)

    def test(lowered: list[str]) -> list[bool]:
        return [one(value) for value in lowered]

    return test
