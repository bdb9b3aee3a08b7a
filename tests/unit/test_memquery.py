"""The in-memory query engine selects exactly the rows SQLite selects, for generated rows and queries."""

from __future__ import annotations

import datetime
import sqlite3

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from kakotui.core.record import SEARCH_PARTS, search_parts_text, search_text
from kakotui.store.memquery import LISTING_COLUMNS, Listing, Unsupported
from kakotui.store.query import QueryError, compile_query

TODAY = datetime.date(2026, 11, 26)

WORDS = ["acme", "Acme", "ACME-x", "hinge", "中文", "é", "a b", "", "sz1", "x*y", "KB1", "ac", "me"]
STATUSES = ["open", "decided", "reshipping", "awaiting-confirmation", "closed", "Closed", ""]
DATES = ["2026-11-20", "2026-11-26", "2026-10-01", "2025-01-31", "", "bad"]
PARTIES = ["vendor", "carrier", "vendor carrier", "warehouse  customer", "", "Vendor"]
IDS = ["SZ1-2026-00001", "sz1-2026-00002", "GZ1-2026-00003", "SZ1-2025-00010", "X"]


def _row(draw: st.DrawFn, number: int) -> tuple[object, ...]:
    cells: dict[str, object] = {}
    for name in LISTING_COLUMNS:
        if name == "id":
            cells[name] = (
                draw(st.sampled_from(IDS)) + f"-{number}" if draw(st.booleans()) else IDS[number % 5]
            )
        elif name == "aliases":
            cells[name] = draw(
                st.sampled_from(["", "SZ1-2026-00009", "a b", "sz1-2026-00001 GZ1-2026-00007"])
            )
        elif name == "status":
            cells[name] = draw(st.sampled_from(STATUSES))
        elif name == "checked_date":
            cells[name] = draw(st.sampled_from(DATES))
        elif name == "responsible":
            cells[name] = draw(st.sampled_from(PARTIES))
        elif name == "cost_minor":
            cells[name] = draw(st.one_of(st.none(), st.integers(0, 50_000)))
        elif name == "valid":
            cells[name] = draw(st.sampled_from([0, 1]))
        elif name == "search_parts":  # as the index holds them (kakotui.core.record.search_parts_text)
            parts = [
                " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=2))) for _ in range(SEARCH_PARTS)
            ]
            cells[name] = search_parts_text(parts)
        else:
            cells[name] = draw(st.one_of(st.none(), st.sampled_from(WORDS)))
    return tuple(cells[name] for name in LISTING_COLUMNS)


@st.composite
def tables(draw: st.DrawFn) -> list[tuple[object, ...]]:
    return [_row(draw, i) for i in range(draw(st.integers(0, 40)))]


VALUE = st.sampled_from(
    ["acme", "ACME*", "a*", "*x", "?cme", "hinge", '"a b"', "中*", "é", "kb1", "x[*]y", '"x*y"', "*"]
)
TERMS = st.one_of(
    st.builds(
        lambda f, v: f"{f}:{v}",
        st.sampled_from(
            ["vendor", "sku", "code", "site", "station", "inspector", "order", "carrier", "category"]
        ),
        VALUE,
    ),
    st.builds(
        lambda v: f"status:{v}", st.sampled_from(["open", "closed", "OPEN,decided", "awaiting*", "*ing"])
    ),
    st.builds(lambda v: f"id:{v}", st.sampled_from([*IDS, "sz1-2026-*", "*0001*", "sz1-2026-00009", "a"])),
    st.builds(
        lambda v: f"responsible:{v}",
        st.sampled_from(["vendor", "carrier", "v*", "*r", '"vendor carrier"', "cust*"]),
    ),
    st.builds(
        lambda op, v: f"cost{op}{v}",
        st.sampled_from([">", ">=", "<", "<=", ":"]),
        st.sampled_from(["0", "100", "38.5", "250.00"]),
    ),
    st.builds(
        lambda op, v: f"date{op}{v}",
        st.sampled_from([":", ">=", "<"]),
        st.sampled_from(["2026-11-20", "2026-10-01"]),
    ),
    st.sampled_from(
        [
            "date:2026-11-*",
            "date:*",
            "since:7d",
            "until:2026-11-20",
            "since:2026-10-01",
            "age>5",
            "age<=0",
            "age:6",
        ]
    ),
    st.sampled_from(["is:open", "is:valid", "is:invalid", "is:open,invalid"]),
    st.sampled_from(
        [
            "hinge",
            "acme",
            '"a b"',
            "中文",
            "é",
            "kb1",
            "x*y" + '"',
            "text:acme",
            "a",
            "b",
            "me",
            "cm",
            "z1-2",
            '""',
        ]
    ),
)


@st.composite
def queries(draw: st.DrawFn) -> str:
    terms = draw(st.lists(st.tuples(st.booleans(), TERMS), max_size=3))
    return " ".join(("-" if neg else "") + term for neg, term in terms)


def _search(row: tuple[object, ...]) -> str:
    """The index's `search` of a row: its parts joined by spaces (kakotui.core.record.search_text)."""
    parts = str(row[LISTING_COLUMNS.index("search_parts")]).split("\x1f")
    return search_text(parts)


def _sql_ids(rows: list[tuple[object, ...]], query: str) -> list[int]:
    db = sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE records (n INTEGER, "
        + ", ".join(f"{c} {'INTEGER' if c in ('cost_minor', 'valid') else 'TEXT'}" for c in LISTING_COLUMNS)
        + ", search TEXT)"
    )
    db.executemany(
        f"INSERT INTO records VALUES (?, {', '.join('?' * len(LISTING_COLUMNS))}, ?)",
        [(i, *row, _search(row)) for i, row in enumerate(rows)],
    )
    compiled = compile_query(query, today=TODAY)
    return [
        n for (n,) in db.execute(f"SELECT n FROM records WHERE {compiled.where} ORDER BY n", compiled.params)
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), queries())
def test_memory_and_sqlite_select_the_same_rows(rows: list[tuple[object, ...]], query: str) -> None:
    try:
        expected = _sql_ids(rows, query)
    except QueryError:
        with pytest.raises(QueryError):
            Listing(rows).select(query, today=TODAY)
        return
    listing = Listing(rows)
    try:
        chosen = listing.select(query, today=TODAY)
    except Unsupported:
        assume(False)
        return
    assert [i for i, bit in enumerate(chosen) if bit] == expected, query
    status = LISTING_COLUMNS.index("status")
    statuses: dict[str, int] = {}
    for i in expected:
        statuses[str(rows[i][status])] = statuses.get(str(rows[i][status]), 0) + 1
    assert listing.counts(chosen) == statuses


def test_the_empty_query_selects_everything_and_counts_by_status() -> None:
    rows = [tuple("open" if c == "status" else None for c in LISTING_COLUMNS)] * 3
    listing = Listing(rows)
    assert listing.select("", today=TODAY) == b"\x01\x01\x01"
    assert listing.counts(listing.everything) == {"open": 3}


def test_wildcards_in_free_text_are_left_to_sqlite() -> None:
    listing = Listing([tuple("" for _ in LISTING_COLUMNS)])
    with pytest.raises(Unsupported):
        listing.select("hin*e", today=TODAY)


def test_a_bad_query_raises_the_same_error_as_sqlite() -> None:
    listing = Listing([])
    with pytest.raises(QueryError, match="unknown field"):
        listing.select("vendr:acme", today=TODAY)


def test_sorting_by_a_column_keeps_ties_in_load_order_and_missing_values_last() -> None:
    vendor = LISTING_COLUMNS.index("vendor")
    cells = ["b", None, "A", "b", "a", ""]
    rows = [tuple(cells[i] if c == vendor else None for c in range(len(LISTING_COLUMNS))) for i in range(6)]
    listing = Listing(rows)

    def key(value: object) -> str | None:
        return value.casefold() if isinstance(value, str) and value else None

    assert listing.order(key, "vendor") == [2, 4, 0, 3, 1, 5]
    assert listing.order(key, "vendor", descending=True) == [0, 3, 2, 4, 1, 5]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.integers(1, 7), queries())
def test_a_listing_read_in_chunks_is_the_listing_read_at_once(
    rows: list[tuple[object, ...]], size: int, query: str
) -> None:
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
    whole, pieces = Listing(rows), Listing.from_chunks(chunks)
    assert pieces.size == whole.size == len(rows)
    for name in LISTING_COLUMNS:
        if name != "search_parts":
            assert [pieces.column(name)[i] for i in range(len(rows))] == [
                r[LISTING_COLUMNS.index(name)] for r in rows
            ]
    try:
        expected = whole.select(query, today=TODAY)
    except (QueryError, Unsupported):
        return
    assert pieces.select(query, today=TODAY) == expected


@settings(deadline=None)
@given(st.integers(-(10**15), 10**15), st.sampled_from(["CNY", "JPY", "KWD", "USD"]))
def test_the_cost_cell_formats_minor_units_as_decimal_formatting_would(minor: int, currency: str) -> None:
    from kakotui.core.money import MINOR_DIGITS, from_minor
    from kakotui.tui.rows import format_cost

    digits = MINOR_DIGITS.get(currency, 2)
    assert format_cost(minor, "spent", currency) == f"{from_minor(minor, currency):,.{digits}f}"
    assert format_cost(None, "spent", currency) == "?"
    assert format_cost(minor, "", currency) == ""


def test_free_text_with_a_space_is_left_to_sqlite() -> None:
    """A needle with a space may span two parts of the free text: only the joined text can say."""
    parts = ["SZ1-2026-00001", "", "KB1", "sku", "leather wallet", "acme", "DEFECTIVE-BrokenHinge", "Li Wei"]
    parts += ["hinge broken", "", "", ""]
    row = tuple(search_parts_text(parts) if c == "search_parts" else "x" for c in LISTING_COLUMNS)
    listing = Listing([row])
    with pytest.raises(Unsupported):
        listing.select('"wallet acme"', today=TODAY)
    assert listing.select("brokenhinge", today=TODAY) == b"\x01"
    assert listing.select("walletacme", today=TODAY) == b"\x00"  # parts are apart by a space
    assert _sql_ids([row], '"wallet acme"') == [0] and _sql_ids([row], "walletacme") == []


def _wide_rows(seed: int, n: int = 1500) -> list[tuple[object, ...]]:
    """Rows whose cost and date columns have hundreds of distinct values (ranked, not spread)."""
    import random

    rng = random.Random(seed)
    out = []
    for i in range(n):
        cells: dict[str, object] = dict.fromkeys(LISTING_COLUMNS, "x")
        cells["id"] = f"SZ1-2026-{i:05d}"
        cells["status"] = rng.choice(STATUSES)
        cells["valid"] = 1
        cells["cost_minor"] = rng.choice([None, rng.randrange(0, 100_000), rng.randrange(0, 50) * 100])
        day = datetime.date(2025, 1, 1) + datetime.timedelta(days=rng.randrange(0, 700))
        cells["checked_date"] = rng.choice([day.isoformat(), day.isoformat(), "", None, "bad"])
        cells["search_parts"] = search_parts_text([""] * SEARCH_PARTS)
        out.append(tuple(cells[c] for c in LISTING_COLUMNS))
    return out


@settings(max_examples=120, deadline=None)
@given(
    st.integers(0, 3),
    st.lists(
        st.tuples(
            st.booleans(),
            st.one_of(
                st.builds(
                    lambda op, v: f"cost{op}{v}",
                    st.sampled_from([">", ">=", "<", "<="]),
                    st.sampled_from(["0", "0.5", "1", "38.50", "250", "999.99", "1000", "5000"]),
                ),
                st.builds(
                    lambda op, v: f"date{op}{v}",
                    st.sampled_from([">", ">=", "<", "<="]),
                    st.sampled_from(["2024-12-31", "2025-01-01", "2025-06-15", "2026-11-30", "2027-01-01"]),
                ),
                st.sampled_from(["since:2025-09-01", "until:2025-03-01", "age>100", "age<=30", "since:90d"]),
            ),
        ),
        min_size=1,
        max_size=2,
    ),
)
def test_comparisons_over_many_distinct_values_select_what_sqlite_selects(
    seed: int, terms: list[tuple[bool, str]]
) -> None:
    rows = _wide_rows(seed)
    listing = Listing(rows)
    assert not listing.column("cost_minor").small and not listing.column("checked_date").small
    query = " ".join(("-" if neg else "") + term for neg, term in terms)
    chosen = listing.select(query, today=TODAY)
    assert [i for i, bit in enumerate(chosen) if bit] == _sql_ids(rows, query), query


@pytest.mark.parametrize("size", [1, 100, 256, 257, 5000])
def test_free_text_parts_that_outgrow_256_values_while_loading_select_what_sqlite_selects(size: int) -> None:
    """A part goes to its buffer as soon as it holds more than 256 distinct values (part 4, the
    title, after ~300 rows; part 8 only in the last ones); one that never does stays value by value.
    Read in chunks of any size, the listing selects what SQLite selects."""
    import random

    rng = random.Random(size)
    rows = []
    for i in range(600):
        parts = [""] * SEARCH_PARTS
        parts[0] = f"sz1-2026-{i:05d}"
        parts[4] = f"wallet {i % 300} hinge" if i % 7 else "zipper"  # 300 distinct: a buffer
        parts[5] = rng.choice(["acme", "hx-leather", "bolt"])  # few: value by value
        parts[8] = f"note {i} 拉链" if i >= 320 else "plain"  # 281 distinct: a buffer in the last rows
        cells = dict.fromkeys(LISTING_COLUMNS, "x")
        cells["id"], cells["status"], cells["valid"] = f"SZ1-2026-{i:05d}", "open", 1
        cells["search_parts"] = search_parts_text(parts)
        rows.append(tuple(cells[c] for c in LISTING_COLUMNS))
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
    listing = Listing.from_chunks(chunks)
    assert listing._texts[4] is not None and listing._texts[5] is None
    assert listing._texts[8] is not None
    for query in ["hinge", "zipper", "acme", "拉链", "note", "599", "wallet", "2026-00042", "nothing"]:
        mask = listing.select(query, today=TODAY)
        assert [i for i, b in enumerate(mask) if b] == _sql_ids(rows, query), query
