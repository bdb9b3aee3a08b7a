"""The query language: parsing, errors, and the exact rows its SQL selects from a small index table."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import pickle
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kakotui.store.query import (
    FIELDS,
    SORT_KEYS,
    CompiledQuery,
    QueryError,
    Term,
    compile_query,
    parse,
    sort_clause,
)

TODAY = datetime.date(2026, 11, 26)
ALL = set(range(1, 21))

COLUMNS = (
    "id TEXT PRIMARY KEY, aliases TEXT, status TEXT, vendor TEXT, failure_code TEXT, category TEXT, "
    "severity TEXT, site TEXT, station TEXT, inspector TEXT, sku TEXT, order_id TEXT, carrier TEXT, "
    "responsible TEXT, decision TEXT, final_status TEXT, cost_minor INTEGER, checked_date TEXT, "
    "valid INTEGER, search TEXT"
)


def _row(n: int, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "station": "SZ1",
        "site": "SZ",
        "aliases": "",
        "status": "open",
        "vendor": "globex",
        "failure_code": "MISSING-PARTS",
        "category": "MISSING",
        "severity": "minor",
        "inspector": "Zhang San",
        "sku": f"SKU-{n}",
        "order_id": f"KB{n:06d}",
        "carrier": None,
        "responsible": None,
        "decision": None,
        "final_status": None,
        "cost_minor": None,
        "checked_date": "2026-11-10",
        "valid": 1,
        "description": "",
    }
    row.update(kw)
    row["id"] = f"{row['station']}-2026-{n:05d}"
    words = ("id", "aliases", "vendor", "failure_code", "sku", "order_id", "inspector", "description")
    row["search"] = " ".join(str(row[w]) for w in words).lower()
    return row


ROWS = [
    _row(1, vendor="acme", failure_code="DEFECTIVE-BrokenHinge", category="DEFECTIVE", severity="major",
         inspector="Li Wei", checked_date="2026-11-01", description="Broken hinge on the lid"),
    _row(2, vendor="acme-tools", failure_code="DEFECTIVE-Scratch", category="DEFECTIVE", status="decided",
         decision="reship", responsible="vendor", cost_minor=3850, checked_date="2026-11-02",
         description="Scratch on hinge cover, not broken"),
    _row(3, vendor="bolt", failure_code="WRONG-ITEM", category="WRONG", severity="critical", station="SZ2",
         status="reshipping", decision="reship", carrier="sf-express", responsible="vendor carrier",
         cost_minor=3849, checked_date="2026-11-03", inspector="li wei"),
    _row(4, vendor="bolt", failure_code="DAMAGED-Packaging", category="DAMAGED", site="GZ", station="GZ1",
         status="awaiting-confirmation", decision="reship", carrier="yto", responsible="carrier",
         cost_minor=10000, checked_date="2026-11-04"),
    _row(5, vendor="acme", status="closed", final_status="resolved", decision="refund", responsible="warehouse",
         cost_minor=10001, checked_date="2026-10-31", description="broken HINGE pin"),
    _row(6, status="closed", final_status="void", decision="cancel", cost_minor=0, checked_date="2026-10-15",
         responsible=""),
    _row(7, station="GZ1", site="GZ", vendor="initech", aliases="SZ1-2026-00099 SZ9-2026-00001"),
    _row(8, sku="50%OFF"),
    _row(9, sku="500FF"),
    _row(10, sku="A_B"),
    _row(11, sku="AXB"),
    _row(12, sku="[X]1"),
    _row(13, sku="X1"),
    _row(14, inspector="x' OR 1=1 --", vendor="o'brien", valid=0),
    _row(15, sku="STAR*1"),
    _row(16, sku="STARX1"),
    _row(17, valid=0, severity="major", responsible="customer platform", checked_date=None),
    _row(18, checked_date="2026-11-26", cost_minor=99999, responsible="warehouse vendor"),
    _row(19, checked_date="2026-11-19", cost_minor=3851),
    _row(20, checked_date="2026-11-18", aliases="SZ1-2026-00098", status="decided",
         description='"Quoted" text, with comma'),
]  # fmt: skip
NUMBER = {r["id"]: int(r["id"][-5:]) for r in ROWS}


def make_db() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE TABLE records ({COLUMNS})")
    names = [c.split()[0] for c in COLUMNS.split(", ")]
    db.executemany(
        f"INSERT INTO records ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [tuple(r[n] for n in names) for r in ROWS],
    )
    return db


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    conn = make_db()
    yield conn
    conn.close()


def select(db: sqlite3.Connection, query: str, today: datetime.date = TODAY) -> set[int]:
    compiled = compile_query(query, today=today)
    rows = db.execute(f"SELECT id FROM records WHERE {compiled.where}", compiled.params).fetchall()
    return {NUMBER[r[0]] for r in rows}


def ordered(db: sqlite3.Connection, key: str) -> list[int]:
    rows = db.execute(f"SELECT id FROM records ORDER BY {sort_clause(key)}").fetchall()
    return [NUMBER[r[0]] for r in rows]


# ---------------------------------------------------------------- selection by field

CASES = [
    ("", ALL),
    ("   ", ALL),
    # text fields: case-insensitive equality, wildcards, OR lists, negation
    ("vendor:acme", {1, 5}),
    ("vendor:ACME", {1, 5}),
    ("VENDOR:acme", {1, 5}),
    ("vendor=acme", {1, 5}),
    ("vendor:acme*", {1, 2, 5}),
    ("vendor:acme,bolt", {1, 3, 4, 5}),
    ("vendor:bolt,acme-*", {2, 3, 4}),
    ("-vendor:acme", ALL - {1, 5}),
    ("-vendor:acme,bolt", ALL - {1, 3, 4, 5}),
    ("vendor:o'brien", {14}),
    ("status:open", ALL - {2, 3, 4, 5, 6, 20}),
    ("status:OPEN", ALL - {2, 3, 4, 5, 6, 20}),
    ("status:awaiting-confirmation", {4}),
    ("status:closed,decided", {2, 5, 6, 20}),
    ("status:a*", {4}),
    ("status:*d", {2, 5, 6, 20}),
    ("code:DEFECTIVE*", {1, 2}),
    ("code:defective-brokenhinge", {1}),
    ("code:*-item", {3}),
    ("category:damaged", {4}),
    ("severity:critical", {3}),
    ("severity:major,critical", {1, 3, 17}),
    ("site:gz", {4, 7}),
    ("station:SZ2", {3}),
    ('inspector:"li wei"', {1, 3}),
    ("inspector:LI*", {1, 3}),
    ("sku:SKU-1", {1}),
    ("sku:sku-1*", {1, 14, 17, 18, 19}),
    ("order:kb000004", {4}),
    ("carrier:sf-express", {3}),
    ("carrier:*", {3, 4}),
    ("-carrier:sf-express", ALL - {3}),
    ("decision:reship", {2, 3, 4}),
    ("final:resolved", {5}),
    ("final:void,resolved", {5, 6}),
    # space-separated lists: whole parties only, and wildcards never span two parties
    ("responsible:vendor", {2, 3, 18}),
    ("responsible:carrier", {3, 4}),
    ("responsible:Vendor,customer", {2, 3, 17, 18}),
    ("responsible:ware*", {5, 18}),
    ("responsible:c*r", {3, 4, 17}),
    ("responsible:?a*r", {3, 4}),
    ("responsible:*", {2, 3, 4, 5, 17, 18}),
    ("-responsible:vendor", ALL - {2, 3, 18}),
    # id matches the id or any former id
    ("id:SZ1-2026-00001", {1}),
    ("id:sz1-2026-00001", {1}),
    ("id:SZ1-2026-00099", {7}),
    ("id:SZ9-2026-00001", {7}),
    ("id:SZ1-2026-0009*", {7, 20}),
    ("id:SZ1*1", {1, 11}),
    ("id:GZ1-*", {4, 7}),
    ("id:SZ1-2026-0009", set()),
    ("-id:SZ1-2026-00098", ALL - {20}),
    # money: major units in, exact minor units compared; NULL cost never matches a comparison
    ("cost>100", {5, 18}),
    ("cost>=100", {4, 5, 18}),
    ("cost>=38.50", {2, 4, 5, 18, 19}),
    ("cost>38.5", {4, 5, 18, 19}),
    ("cost<38.50", {3, 6}),
    ("cost<=38.5", {2, 3, 6}),
    ("cost:38.5", {2}),
    ("cost=38.500", {2}),
    ("cost:0,100", {4, 6}),
    ("cost>=0", {2, 3, 4, 5, 6, 18, 19}),
    ("-cost>100", ALL - {5, 18}),
    # dates: inclusive bounds, relative days, comparisons, month wildcards
    ("since:2026-11-01", ALL - {5, 6, 17}),
    ("until:2026-11-02", {1, 2, 5, 6}),
    ("since:2026-11-02 until:2026-11-03", {2, 3}),
    ("since:7d", {18, 19}),
    ("since:0d", {18}),
    ("until:8d", ALL - {17, 18, 19}),
    ("date:2026-11-10", set(range(7, 17)) - {17}),
    ("date:2026-10-*", {5, 6}),
    ("date:2026-11-01,2026-10-15", {1, 6}),
    ("date>2026-11-10", {18, 19, 20}),
    ("checked<2026-11-01", {5, 6}),
    ("checked<=2026-11-01", {1, 5, 6}),
    ("-since:2026-11-01", {5, 6, 17}),
    # age in days since checked, against the given today
    ("age>7", ALL - {17, 18, 19}),
    ("age>=7", ALL - {17, 18}),
    ("age<7", {18}),
    ("age<=7", {18, 19}),
    ("age:0", {18}),
    ("age=8", {20}),
    ("age:0,8", {18, 20}),
    ("age>9999999", set()),
    ("age<9999999", ALL - {17}),
    # is:
    ("is:invalid", {14, 17}),
    ("is:valid", ALL - {14, 17}),
    ("-is:valid", {14, 17}),
    ("is:open", ALL - {5, 6}),
    ("-is:open", {5, 6}),
    ("is:open,invalid", ALL - {5, 6}),
    # free text: case-insensitive substrings, ANDed words, quoted phrases, wildcards outside quotes
    ("hinge", {1, 2, 5}),
    ("HINGE", {1, 2, 5}),
    ("broken hinge", {1, 2, 5}),
    ('"broken hinge"', {1, 5}),
    ('text:"broken hinge"', {1, 5}),
    ("-hinge", ALL - {1, 2, 5}),
    ('-"broken hinge"', ALL - {1, 5}),
    ("scr?tch", {2}),
    ("text:scr?tch", {2}),
    ('"scr?tch"', set()),
    ("star*1", {15, 16}),
    ('"star*1"', {15}),
    ('"\\"quoted\\""', {20}),
    ('"text, with"', {20}),
    ("quoted,nothing-like-this", {20}),
    ("text:nothing-like-this", set()),
    # several terms are ANDed
    ("vendor:acme* status:open code:DEFECTIVE* hinge", {1}),
    ("vendor:bolt status:reshipping", {3}),
    ("vendor:bolt -status:reshipping", {4}),
    ("vendor:acme cost>100", {5}),
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_selects_exactly(db: sqlite3.Connection, query: str, expected: set[int]) -> None:
    assert select(db, query) == expected


def test_age_and_relative_dates_follow_today(db: sqlite3.Connection) -> None:
    assert select(db, "age:0", today=datetime.date(2026, 11, 19)) == {19}
    assert select(db, "since:1d", today=datetime.date(2026, 11, 19)) == {18, 19, 20}
    # a datetime is taken as its date, not compared as '2026-11-26T...'
    assert select(db, "age:0", today=datetime.datetime(2026, 11, 26, 23, 59)) == {18}


# ---------------------------------------------------------------- escaping and injection

SPECIALS = [
    ("sku:50%OFF", {8}),
    ("sku:50%", set()),
    ("sku:%", set()),
    ("sku:50%*", {8}),
    ("sku:*%*", {8}),
    ("sku:A_B", {10}),
    ("sku:_", set()),
    ("sku:*_*", {10}),
    ("sku:a?b", {10, 11}),
    ("sku:[X]1", {12}),
    ("sku:[*", {12}),
    ("sku:[", set()),
    ("sku:X1", {13}),
    ('sku:"STAR*1"', {15}),
    ("sku:STAR*1", {15, 16}),
    ('sku:"STAR?1"', set()),
    ('inspector:"x\' OR 1=1 --"', {14}),
    ('vendor:"x\' OR 1=1 --"', set()),
    ("vendor:x'", set()),
    ('"\' or 1=1 --"', {14}),
    ('-"\' or 1=1 --"', ALL - {14}),
    ('id:"x\' OR 1=1 --"', set()),
    ("cost:1 id:%", set()),
]


@pytest.mark.parametrize(("query", "expected"), SPECIALS)
def test_special_characters_are_data(db: sqlite3.Connection, query: str, expected: set[int]) -> None:
    assert select(db, query) == expected


@pytest.mark.parametrize(
    "value",
    ["x' OR 1=1 --", "'); DROP TABLE records; --", "%", "_", "[", "]", "\\", 'acme" OR "1"="1', "o'brien"],
)
@pytest.mark.parametrize("field", ["vendor", "id", "text", "sku", "inspector", "code"])
def test_values_travel_only_as_params(field: str, value: str) -> None:
    def compiled(v: str) -> CompiledQuery:
        quoted = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return compile_query(f"{field}:{quoted} -{quoted}", today=TODAY)

    baseline = compiled("z z" if " " in value else "z")
    query = compiled(value)
    assert query.where == baseline.where  # the SQL text does not depend on the value
    assert value.lower() in query.params or any(value.lower() in str(p) for p in query.params)
    make_db().execute(f"SELECT count(*) FROM records WHERE {query.where}", query.params).fetchall()


# ---------------------------------------------------------------- parse results


def test_parse_gives_terms_with_positions() -> None:
    terms = parse('-vendor:acme,"b c" hinge cost>=38.50 "x*"  code:DEF*')
    assert terms == [
        Term("vendor", ":", ("acme", "b c"), True, 0, 18, (None, None)),
        Term(None, ":", ("hinge",), False, 19, 24, (None,)),
        Term("cost", ">=", ("38.50",), False, 25, 36, (None,)),
        Term(None, ":", ("x*",), False, 37, 41, (None,)),
        Term("code", ":", ("DEF*",), False, 43, 52, ("DEF*",)),
    ]


def test_parse_canonical_field_and_glob_patterns() -> None:
    (term,) = parse('Checked:2026-11-*,"a*"b*')
    assert term.field == "date"
    assert term.values == ("2026-11-*", "a*b*")
    assert term.patterns == ("2026-11-*", "a[*]b*")
    (term,) = parse("sku:[a]**?")
    assert term.patterns == ("[[]a]*?",)


def test_empty_query_compiles_to_all() -> None:
    assert compile_query("", today=TODAY) == CompiledQuery("1", ())
    assert parse(" \t ") == []


def test_fields_cover_the_language() -> None:
    expected = {
        "id", "status", "vendor", "code", "category", "severity", "site", "station", "inspector", "sku",
        "order", "carrier", "responsible", "decision", "final", "cost", "date", "checked", "since", "until",
        "age", "is", "text",
    }  # fmt: skip
    assert set(FIELDS) == expected
    assert all(FIELDS[name] for name in FIELDS)
    samples = {"cost": "1", "age": "1", "status": "open", "is": "open", "severity": "minor",
               "responsible": "vendor", "decision": "reship", "final": "void"}  # fmt: skip
    for name in FIELDS:  # every advertised field parses and compiles
        value = samples.get(name, "2026-11-01" if name in ("date", "checked", "since", "until") else "x")
        assert compile_query(f"{name}:{value}", today=TODAY).params


# ---------------------------------------------------------------- errors

ERRORS = [
    ("venodr:acme", "unknown field 'venodr' (did you mean 'vendor'?)", 0, 6),
    ("status:open Sevrity:major", "unknown field 'Sevrity' (did you mean 'severity'?)", 12, 7),
    ("zzz:1", "unknown field 'zzz' (fields: id, status,", 0, 3),
    ("vendor:", "empty value for 'vendor' (e.g. vendor:acme)", 0, 7),
    ("x -cost>", "empty value for 'cost' (e.g. cost>100)", 2, 6),
    ('vendor:""', "empty value for 'vendor'", 0, 9),
    ("vendor:acme,", "empty value in the list for 'vendor'", 0, 12),
    ("vendor:,acme", "empty value in the list for 'vendor'", 0, 12),
    ('""', "empty quotes", 0, 2),
    ("a ,", "empty value in the list for 'text'", 2, 1),
    ('vendor:"acme', "unclosed quote", 7, 5),
    ('hinge "broken', "unclosed quote", 6, 7),
    ('"a\\"', "unclosed quote", 0, 4),
    ("-", "'-' must be followed by a term", 0, 1),
    ("a - b", "'-' must be followed by a term", 2, 1),
    ("vendor>x", "'vendor' cannot be compared with '>' (comparisons work on cost, age and date)", 6, 1),
    ("status<=open", "'status' cannot be compared with '<='", 6, 2),
    ("since>2026-11-01", "'since' cannot be compared with '>'", 5, 1),
    ("is>open", "'is' cannot be compared with '>'", 2, 1),
    ("text>a", "'text' cannot be compared with '>'", 4, 1),
    ("cost>abc", "bad amount 'abc' (expected a number like 100 or 38.50)", 5, 3),
    ("cost>-5", "bad amount '-5'", 5, 2),
    ("cost>1e3", "bad amount '1e3'", 5, 3),
    ("cost:1,2x", "bad amount '2x'", 7, 2),
    ("cost>38.505", "'38.505' has more than 2 decimal places", 5, 6),
    ("cost>1234567890123456", "amount '1234567890123456' is too large", 5, 16),
    ("cost>" + "9" * 50, "amount '999", 5, 50),
    ("cost>1,2", "'cost>' takes a single value", 0, 8),
    ("cost>1*", "wildcards are not allowed in 'cost' values", 5, 2),
    ("age>x", "bad number of days 'x' (expected a whole number like 7)", 4, 1),
    ("age>7d", "bad number of days '7d'", 4, 2),
    ("age>1.5", "bad number of days '1.5'", 4, 3),
    ("since:2026-02-30", "bad date '2026-02-30' for 'since' (expected YYYY-MM-DD or a number of days like 7d)",
     6, 10),
    ("until:26-11-01", "bad date '26-11-01' for 'until'", 6, 8),
    ("date>20261101", "bad date '20261101' for 'date'", 5, 8),
    ("checked:2026-11-01,tomorrow", "bad date 'tomorrow' for 'checked'", 19, 8),
    ("since:2026-1*", "wildcards are not allowed in 'since' values", 6, 7),
    ("date>2026-1*", "wildcards are not allowed in 'date' values", 5, 7),
    ("since:7d,8d", "'since:' takes a single value", 0, 11),
    ("status:opne", "unknown value 'opne' for 'status' (did you mean 'open'? allowed: open, decided, "
     "reshipping, awaiting-confirmation, closed)", 7, 4),
    ("severity:huge", "unknown value 'huge' for 'severity' (allowed: minor, major, critical)", 9, 4),
    ("severity:minor,majr", "unknown value 'majr' for 'severity' (did you mean 'major'?", 15, 4),
    ("decision:ship", "unknown value 'ship' for 'decision' (did you mean 'reship'?", 9, 4),
    ("final:done", "unknown value 'done' for 'final'", 6, 4),
    ("responsible:seller", "unknown value 'seller' for 'responsible'", 12, 6),
    ('responsible:"vendor carrier"', "unknown value 'vendor carrier' for 'responsible'", 12, 16),
    ("responsible:w*r", "'w*r' matches no value of 'responsible'", 12, 3),
    ("status:x*", "'x*' matches no value of 'status' (allowed: open,", 7, 2),
    ("is:closed", "unknown value 'closed' for 'is' (allowed: open, valid, invalid)", 3, 6),
    ("is:o*", "wildcards are not allowed in 'is' values", 3, 2),
    ("a\x00b", "control or invalid character U+0000", 1, 1),
    ("a\ud800", "control or invalid character U+D800", 1, 1),
    ("x" * 2001, "query too long", 2000, 1),
    (" ".join(["a"] * 65), "too many terms (at most 64)", 128, 1),
    ("vendor:" + ",".join(["a"] * 257), "too many values (at most 256)", 0, 7 + 2 * 257 - 1),
]  # fmt: skip


@pytest.mark.parametrize(("query", "message", "position", "length"), ERRORS)
def test_errors_say_what_and_where(query: str, message: str, position: int, length: int) -> None:
    with pytest.raises(QueryError) as info:
        compile_query(query, today=TODAY)
    error = info.value
    assert error.message.startswith(message)
    assert str(error) == error.message
    assert (error.position, error.length) == (position, length)
    assert 0 <= error.position <= len(query) and error.position + error.length <= len(query)
    with pytest.raises(QueryError):
        parse(query)  # the same problems are found without compiling


def test_query_error_is_frozen_but_raisable_everywhere() -> None:
    error = QueryError("bad", 1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        error.message = "other"  # type: ignore[misc]

    @contextlib.contextmanager
    def passthrough() -> Iterator[None]:
        yield

    with pytest.raises(QueryError), passthrough():  # contextlib writes __traceback__ on the way out
        raise error
    error.add_note("noted")
    assert pickle.loads(pickle.dumps(error)) == QueryError("bad", 1, 2)
    assert QueryError(message="m", position=0, length=1).length == 1


# ---------------------------------------------------------------- sorting


def test_sort_keys_ascending_and_descending(db: sqlite3.Connection) -> None:
    no_party = ALL - {2, 3, 4, 5, 17, 18}  # NULL or ''
    nulls_by_id = [7, 1, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 20]  # GZ1-... sorts before SZ1-...
    assert ordered(db, "cost") == [6, 3, 2, 19, 4, 5, 18, *nulls_by_id]
    assert ordered(db, "-cost") == [18, 5, 4, 19, 2, 3, 6, *nulls_by_id]
    assert ordered(db, "id") == [4, 7, 1, 2, *range(5, 7), *range(8, 21), 3]
    assert ordered(db, "-id") == list(reversed(ordered(db, "id")))
    assert ordered(db, "age")[:4] == [18, 19, 20, 7] and ordered(db, "age")[-1] == 17
    assert ordered(db, "-age")[:7] == [6, 5, 1, 2, 3, 4, 7] and ordered(db, "-age")[-1] == 17
    assert ordered(db, "checked") == ordered(db, "-age")
    assert ordered(db, "status") == [7, 1, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 2, 20, 3, 4, 5, 6]
    assert ordered(db, "-status")[:5] == [5, 6, 4, 3, 2]
    assert ordered(db, "-severity")[:3] == [3, 1, 17]
    assert ordered(db, "severity")[-3:] == [1, 17, 3]
    assert ordered(db, "vendor")[:5] == [1, 5, 2, 4, 3]
    assert ordered(db, "-vendor")[:3] == [14, 7, 6]
    assert ordered(db, "inspector")[:3] == [1, 3, 14]
    assert ordered(db, "sku")[:2] == [8, 9]
    assert ordered(db, "code")[:2] == [4, 1]
    assert ordered(db, "responsible") == [
        4,
        17,
        2,
        3,
        5,
        18,
        *[n for n in ordered(db, "id") if n in no_party],
    ]
    assert ordered(db, "-responsible")[:6] == [18, 5, 3, 2, 17, 4]
    assert ordered(db, "vendor,-cost")[:5] == [5, 1, 2, 4, 3]
    assert ordered(db, "VENDOR, -cost") == ordered(db, "vendor,-cost")


def test_sort_clause_uses_only_known_columns() -> None:
    assert sort_clause("cost") == "cost_minor ASC NULLS LAST, id ASC"
    assert sort_clause("-id") == "id DESC NULLS LAST"
    assert set(SORT_KEYS) == {
        "id", "status", "age", "vendor", "sku", "code", "cost", "responsible", "inspector", "checked", "severity",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("key", "message", "position", "length"),
    [
        ("vendr", "unknown sort key 'vendr' (did you mean 'vendor'?", 0, 5),
        ("-price", "unknown sort key 'price' (keys: id, status,", 0, 6),
        ("vendor, cost;drop", "unknown sort key 'cost;drop'", 8, 9),
        ("", "unknown sort key '(empty)'", 0, 1),
        ("cost,", "unknown sort key '(empty)'", 5, 1),
    ],
)
def test_sort_errors(key: str, message: str, position: int, length: int) -> None:
    with pytest.raises(QueryError) as info:
        sort_clause(key)
    assert info.value.message.startswith(message)
    assert (info.value.position, info.value.length) == (position, length)


# ---------------------------------------------------------------- any input


_PIECES = st.sampled_from(
    [
        "vendor", "id", "cost", "age", "date", "since", "until", "is", "status", "responsible", "text", "sku",
        ":", ">", ">=", "<", "<=", "=", "-", '"', "\\", ",", "*", "?", "[", "]", "%", "_", "'", " ", "\t",
        "2026-11-01", "7d", "38.50", "100", "open", "invalid", "acme", "é", "İ", "\U0010ffff", "\ud7ff", "0",
    ]
)  # fmt: skip
QUERIES = st.one_of(st.text(max_size=80), st.lists(_PIECES, max_size=25).map("".join))


@settings(max_examples=400, deadline=None)
@given(QUERIES)
def test_any_text_parses_or_says_why(query: str) -> None:
    try:
        compiled = compile_query(query, today=TODAY)
    except QueryError as error:
        assert error.message
        assert 0 <= error.position <= max(len(query), 0) and error.length >= 0
        return
    db = make_db()
    try:
        db.execute(f"SELECT id FROM records WHERE {compiled.where} ORDER BY {sort_clause('-age')}",
                   compiled.params).fetchall()  # fmt: skip
    finally:
        db.close()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30))
def test_any_sort_key_is_known_or_refused(key: str) -> None:
    try:
        clause = sort_clause(key)
    except QueryError:
        return
    make_db().execute(f"SELECT id FROM records ORDER BY {clause}").fetchall()
