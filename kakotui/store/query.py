"""The one query language of kakotui (TUI filter bar and `kakotui list`), compiled to SQL over the index.

`vendor:acme status:open code:DEFECTIVE* cost>100 since:2026-11-01 site:SZ1 hinge` becomes a WHERE
clause over the index table `records` plus its parameters. User values only ever travel as
parameters; column names and SQL text come only from the tables in this module.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

__all__ = [
    "FIELDS",
    "SORT_KEYS",
    "CompiledQuery",
    "QueryError",
    "Term",
    "compile_query",
    "parse",
    "sort_clause",
]

MAX_QUERY_LENGTH = 2000
MAX_TERMS = 64
MAX_VALUES = 256

STATUSES = ("open", "decided", "reshipping", "awaiting-confirmation", "closed")
SEVERITIES = ("minor", "major", "critical")
DECISIONS = ("reship", "refund", "return-to-vendor", "accept-as-is", "cancel")
FINAL_STATUSES = ("resolved", "written-off", "escalated", "void")
PARTIES = ("vendor", "carrier", "warehouse", "customer", "platform")
IS_VALUES = ("open", "valid", "invalid")

_COMPARISONS = (">=", "<=", ">", "<")
_CENT = Decimal(100)  # money in the index is in minor units; the schema allows at most 2 decimals


@dataclass(frozen=True)
class _QueryErrorFields(Exception):
    message: str
    position: int
    length: int


class QueryError(_QueryErrorFields):
    """A query we refuse: what is wrong, and where in the query text (for underlining).

    The frozen fields live on a base class because a frozen dataclass that is itself the raised class
    refuses Python's own writes (`__traceback__` from contextlib, `__notes__` from add_note).
    """

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type[QueryError], tuple[str, int, int]]:
        return (type(self), (self.message, self.position, self.length))


@dataclass(frozen=True)
class Term:
    """One term of a query. `field` is None for free text; `values` are ORed; `start`/`end` span the term.

    `patterns[i]` is the GLOB pattern of `values[i]` when it holds wildcards (`*`, `?` outside quotes;
    literal `*`, `?`, `[` escaped as `[*]`), else None.
    """

    field: str | None
    op: str
    values: tuple[str, ...]
    negate: bool
    start: int
    end: int
    patterns: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class CompiledQuery:
    """`SELECT ... FROM records WHERE {where}` with `params`; `where` is "1" for the empty query."""

    where: str
    params: tuple[object, ...]


@dataclass(frozen=True)
class _Field:
    kind: str  # text, tokens, id, cost, date, since, until, age, is, free
    column: str | None
    example: str
    help: str
    allowed: tuple[str, ...] = ()


def _choices(values: tuple[str, ...]) -> str:
    return " (" + ", ".join(values) + ")"


_FIELD_SPECS: dict[str, _Field] = {
    "id": _Field("id", "id", "id:SZ1-2026-00042", "record id or a former id (alias); id:SZ1-2026-*"),
    "status": _Field(
        "text", "status", "status:open", "status, e.g. status:open,decided" + _choices(STATUSES), STATUSES
    ),
    "vendor": _Field("text", "vendor", "vendor:acme", "vendor, e.g. vendor:acme or vendor:acme*"),
    "code": _Field("text", "failure_code", "code:DEFECTIVE*", "failure code, e.g. code:DEFECTIVE*"),
    "category": _Field("text", "category", "category:DAMAGED", "failure category, e.g. category:DAMAGED"),
    "severity": _Field("text", "severity", "severity:major", "severity" + _choices(SEVERITIES), SEVERITIES),
    "site": _Field("text", "site", "site:SZ", "site, e.g. site:SZ"),
    "station": _Field("text", "station", "station:SZ1", "station, e.g. station:SZ1"),
    "inspector": _Field(
        "text", "inspector", 'inspector:"Li Wei"', 'inspector, e.g. inspector:"Li Wei" or li*'
    ),
    "sku": _Field("text", "sku", "sku:HB-2231", "SKU, e.g. sku:HB-2231*"),
    "order": _Field("text", "order_id", "order:KB123456", "order id, e.g. order:KB123456"),
    "carrier": _Field("text", "carrier", "carrier:sf-express", "reshipment carrier, e.g. carrier:sf-express"),
    "responsible": _Field(
        "tokens", "responsible", "responsible:vendor", "party charged" + _choices(PARTIES), PARTIES
    ),
    "decision": _Field("text", "decision", "decision:reship", "decision" + _choices(DECISIONS), DECISIONS),
    "final": _Field(
        "text", "final_status", "final:resolved", "final status" + _choices(FINAL_STATUSES), FINAL_STATUSES
    ),
    "cost": _Field(
        "cost", "cost_minor", "cost>100", "total cost in the reporting currency: cost>100, cost<=38.50"
    ),
    "date": _Field(
        "date", "checked_date", "date:2026-11-01", "date checked: date>=2026-11-01, date:2026-11-*"
    ),
    "checked": _Field("date", "checked_date", "checked<2026-11-01", "same as date"),
    "since": _Field(
        "since", "checked_date", "since:2026-11-01", "checked on or after: since:2026-11-01, since:7d"
    ),
    "until": _Field(
        "until", "checked_date", "until:2026-11-30", "checked on or before: until:2026-11-30, until:30d"
    ),
    "age": _Field("age", "checked_date", "age>7", "days since checked: age>7, age<=2"),
    "is": _Field("is", None, "is:open", "is:open (not closed), is:invalid, is:valid", IS_VALUES),
    "text": _Field(
        "free", "search", "text:hinge", 'free text anywhere in the record: text:hinge, "broken hinge"'
    ),
}
_ALIASES = {"checked": "date"}
_COMPARABLE_KINDS = frozenset({"cost", "date", "age"})

FIELDS: Mapping[str, str] = MappingProxyType({name: spec.help for name, spec in _FIELD_SPECS.items()})

_FIELD_RE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)(>=|<=|>|<|=|:)")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DAYS_AGO_RE = re.compile(r"([0-9]{1,7})[dD]")
_DAYS_RE = re.compile(r"[0-9]{1,7}")
_AMOUNT_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
_MAX_AMOUNT_DIGITS = 15  # keeps minor units inside SQLite's 64-bit integers
_ASCII_LOWER = {code: code + 32 for code in range(ord("A"), ord("Z") + 1)}
_ANY_DAY = datetime.date(2000, 1, 1)  # checking `7d` does not depend on which day it is
_LOWEST_DATE = "0000-00-00"  # sorts before every YYYY-MM-DD: a threshold older than date.min


# ---------------------------------------------------------------- parsing


@dataclass(frozen=True)
class _Value:
    text: str
    pattern: str | None
    start: int
    end: int


def parse(text: str) -> list[Term]:
    """Split and check a query; every problem raises QueryError pointing at the offending text."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"query too long (at most {MAX_QUERY_LENGTH} characters)", MAX_QUERY_LENGTH, 1)
    for pos, ch in enumerate(text):
        if (ch < " " and not ch.isspace()) or ch == "\x7f" or "\ud800" <= ch <= "\udfff":
            raise QueryError(f"control or invalid character U+{ord(ch):04X} in the query", pos, 1)
    terms: list[Term] = []
    nvalues = 0
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return terms
        term, i = _parse_term(text, i)
        terms.append(term)
        nvalues += len(term.values)
        if len(terms) > MAX_TERMS:
            raise QueryError(f"too many terms (at most {MAX_TERMS})", term.start, term.end - term.start)
        if nvalues > MAX_VALUES:
            raise QueryError(f"too many values (at most {MAX_VALUES})", term.start, term.end - term.start)


def _parse_term(text: str, start: int) -> tuple[Term, int]:
    i, n = start, len(text)
    negate = text[i] == "-"
    if negate:
        i += 1
        if i >= n or text[i].isspace():
            raise QueryError("'-' must be followed by a term, as in -vendor:acme or -hinge", start, 1)
    match = _FIELD_RE.match(text, i)
    if match is None:
        values, end = _scan_values(text, i)
        return _checked_term(None, "text", ":", values, negate, start, end), end
    name = match.group(1).lower()
    field = _ALIASES.get(name, name)
    spec = _FIELD_SPECS.get(field)
    if spec is None:
        raise _unknown_field(match.group(1), match.start(1))
    op = match.group(2)
    if op in _COMPARISONS and spec.kind not in _COMPARABLE_KINDS:
        raise QueryError(
            f"'{name}' cannot be compared with '{op}' (comparisons work on cost, age and date); "
            f"use {name}:VALUE",
            match.start(2),
            len(op),
        )
    values, end = _scan_values(text, match.end())
    return _checked_term(field, name, op, values, negate, start, end), end


def _unknown_field(name: str, position: int) -> QueryError:
    close = difflib.get_close_matches(name.lower(), list(_FIELD_SPECS), n=1, cutoff=0.6)
    if close:
        hint = f"did you mean '{close[0]}'?"
    else:
        hint = "fields: " + ", ".join(_FIELD_SPECS) + '; to search for text with ":" put it in quotes'
    return QueryError(f"unknown field '{name}' ({hint})", position, len(name))


def _scan_values(text: str, i: int) -> tuple[list[_Value], int]:
    """Read comma-separated values up to the next unquoted space; quotes make `*`, `?`, `,` literal."""
    n = len(text)
    values: list[_Value] = []
    chars: list[str] = []
    wild: list[bool] = []
    item_start = i
    while i < n and not text[i].isspace():
        ch = text[i]
        if ch == '"':
            quote = i
            i += 1
            while True:
                if i >= n:
                    raise QueryError("unclosed quote", quote, n - quote)
                c = text[i]
                if c == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    chars.append(text[i + 1])
                    wild.append(False)
                    i += 2
                    continue
                i += 1
                if c == '"':
                    break
                chars.append(c)
                wild.append(False)
        elif ch == ",":
            values.append(_make_value(chars, wild, item_start, i))
            chars, wild = [], []
            i += 1
            item_start = i
        else:
            chars.append(ch)
            wild.append(ch in "*?")
            i += 1
    values.append(_make_value(chars, wild, item_start, i))
    return values, i


def _make_value(chars: list[str], wild: list[bool], start: int, end: int) -> _Value:
    if not any(wild):
        return _Value("".join(chars), None, start, end)
    out: list[str] = []
    for c, w in zip(chars, wild, strict=True):
        if w:
            if not (c == "*" and out and out[-1] == "*"):
                out.append(c)
        else:
            out.append(_glob_escape(c))
    return _Value("".join(chars), "".join(out), start, end)


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _checked_term(
    field: str | None,
    label: str,
    op: str,
    values: list[_Value],
    negate: bool,
    start: int,
    end: int,
) -> Term:
    if len(values) == 1 and not values[0].text:
        if field is None:
            raise QueryError("empty quotes: put the text to search between them", start, end - start)
        raise QueryError(
            f"empty value for '{label}' (e.g. {_FIELD_SPECS[field].example})", start, end - start
        )
    for v in values:
        if not v.text:
            raise QueryError(f"empty value in the list for '{label}'", start, end - start)
    spec = _FIELD_SPECS[field or "text"]
    if (op in _COMPARISONS or spec.kind in ("since", "until")) and len(values) > 1:
        raise QueryError(f"'{label}{op}' takes a single value", start, end - start)
    for v in values:
        _check_value(label, spec, op, v)
    return Term(
        field=field,
        op=op,
        values=tuple(v.text for v in values),
        negate=negate,
        start=start,
        end=end,
        patterns=tuple(v.pattern for v in values),
    )


def _check_value(label: str, spec: _Field, op: str, v: _Value) -> None:
    kind = spec.kind
    no_wildcards = kind in ("cost", "age", "since", "until", "is") or (kind == "date" and op in _COMPARISONS)
    if v.pattern is not None and no_wildcards:
        raise QueryError(f"wildcards are not allowed in '{label}' values", v.start, v.end - v.start)
    if kind == "cost":
        _minor_units(v)
    elif kind == "age":
        _days(v)
    elif kind in ("date", "since", "until") and v.pattern is None:
        _date_value(v, label, _ANY_DAY)
    elif spec.allowed:
        _check_allowed(label, spec.allowed, v)


def _check_allowed(label: str, allowed: tuple[str, ...], v: _Value) -> None:
    if v.pattern is None:
        if _ascii_lower(v.text) in allowed:
            return
        close = difflib.get_close_matches(_ascii_lower(v.text), allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise QueryError(
            f"unknown value '{v.text}' for '{label}' ({hint}allowed: {', '.join(allowed)})",
            v.start,
            v.end - v.start,
        )
    regex = _glob_regex(_ascii_lower(v.pattern))
    if not any(regex.fullmatch(a) for a in allowed):
        raise QueryError(
            f"'{v.text}' matches no value of '{label}' (allowed: {', '.join(allowed)})",
            v.start,
            v.end - v.start,
        )


def _glob_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":  # our own escape: [x]
            parts.append(re.escape(pattern[i + 1]))
            i += 3
            continue
        parts.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _minor_units(v: _Value) -> int:
    match = _AMOUNT_RE.fullmatch(v.text)
    if match is None:
        raise QueryError(
            f"bad amount '{v.text}' (expected a number like 100 or 38.50)", v.start, v.end - v.start
        )
    if len(match.group(1).lstrip("0")) > _MAX_AMOUNT_DIGITS:
        raise QueryError(f"amount '{v.text}' is too large", v.start, v.end - v.start)
    fraction = (match.group(2) or "").rstrip("0")
    if len(fraction) > 2:
        raise QueryError(f"'{v.text}' has more than 2 decimal places", v.start, v.end - v.start)
    return int(Decimal(v.text) * _CENT)


def _days(v: _Value) -> int:
    if _DAYS_RE.fullmatch(v.text) is None:
        raise QueryError(
            f"bad number of days '{v.text}' (expected a whole number like 7)", v.start, v.end - v.start
        )
    return int(v.text)


def _date_value(v: _Value, label: str, today: datetime.date) -> str:
    match = _DAYS_AGO_RE.fullmatch(v.text)
    if match is not None:
        return _days_ago(today, int(match.group(1)))
    if _DATE_RE.fullmatch(v.text) is not None:
        try:
            return datetime.date.fromisoformat(v.text).isoformat()
        except ValueError:
            pass
    raise QueryError(
        f"bad date '{v.text}' for '{label}' (expected YYYY-MM-DD or a number of days like 7d)",
        v.start,
        v.end - v.start,
    )


def _days_ago(today: datetime.date, days: int) -> str:
    try:
        return (today - datetime.timedelta(days=days)).isoformat()
    except OverflowError:
        return _LOWEST_DATE


def _ascii_lower(s: str) -> str:
    """Fold case the way SQLite's lower() does (ASCII only), so both sides of a comparison agree."""
    return s.translate(_ASCII_LOWER)


# ---------------------------------------------------------------- compiling


def compile_query(text: str, *, today: datetime.date) -> CompiledQuery:
    """Parse `text` and compile it to a WHERE clause; `today` anchors `age` and `since:7d`."""
    if isinstance(today, datetime.datetime):
        today = today.date()
    clauses: list[str] = []
    params: list[object] = []
    for term in parse(text):
        sql, term_params = _compile_term(term, today)
        clauses.append(f"NOT coalesce(({sql}), 0)" if term.negate else f"({sql})")
        params.extend(term_params)
    return CompiledQuery(" AND ".join(clauses) if clauses else "1", tuple(params))


def _compile_term(term: Term, today: datetime.date) -> tuple[str, list[object]]:
    spec = _FIELD_SPECS[term.field or "text"]
    values = [
        _Value(text, pattern, term.start, term.end)
        for text, pattern in zip(term.values, term.patterns or (None,) * len(term.values), strict=True)
    ]
    col = spec.column or ""
    parts: list[str] = []
    params: list[object] = []
    kind = spec.kind
    if kind in ("text", "id"):
        _text_parts(col if kind == "text" else "id", values, parts, params)
        if kind == "id":
            for v in values:
                _token_part("aliases", v, parts, params)
    elif kind == "tokens":
        for v in values:
            _token_part(col, v, parts, params)
    elif kind == "free":
        for v in values:
            if v.pattern is None:
                parts.append(f"instr({col}, ?) > 0")
                params.append(v.text.lower())
            else:
                parts.append(f"{col} GLOB ?")
                params.append(f"*{v.pattern.lower()}*".replace("**", "*"))
    elif kind == "is":
        for v in values:
            name = _ascii_lower(v.text)
            parts.append("lower(status) <> ?" if name == "open" else "valid = ?")
            params.append("closed" if name == "open" else int(name == "valid"))
    elif kind in ("since", "until"):
        parts.append(f"{col} {'>=' if kind == 'since' else '<='} ?")
        params.append(_date_value(values[0], kind, today))
    else:  # cost, date, age: ordered values
        _ordered_parts(kind, col, term.op, values, today, parts, params)
    return " OR ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0], params


def _text_parts(col: str, values: list[_Value], parts: list[str], params: list[object]) -> None:
    exact = [_ascii_lower(v.text) for v in values if v.pattern is None]
    if exact:
        parts.append(f"lower({col}) IN ({', '.join('?' * len(exact))})")
        params.extend(exact)
    for v in values:
        if v.pattern is None:
            continue
        pattern = _ascii_lower(v.pattern)
        prefix = _literal_prefix(pattern)
        if prefix and prefix[-1] < "\U0010ffff" and not "\ud7ff" <= prefix[-1] <= "\udfff":
            # an explicit range on lower(col) for `acme*`, so an index serves it even where SQLite does not
            # derive one from the GLOB itself; the GLOB keeps the exact meaning
            parts.append(f"lower({col}) >= ? AND lower({col}) < ? AND lower({col}) GLOB ?")
            params.extend([prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1), pattern])
        else:
            parts.append(f"lower({col}) GLOB ?")
            params.append(pattern)


def _literal_prefix(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern) and pattern[i] not in "*?":
        if pattern[i] == "[":
            out.append(pattern[i + 1])
            i += 3
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def _token_part(col: str, v: _Value, parts: list[str], params: list[object]) -> None:
    """Match one value against a space-separated list column (aliases, responsible parties)."""
    if v.pattern is None and " " not in v.text:
        parts.append(f"instr(' ' || lower({col}) || ' ', ?) > 0")
        params.append(f" {_ascii_lower(v.text)} ")
        return
    pattern = _ascii_lower(v.pattern if v.pattern is not None else _glob_escape(v.text))
    # The cheap GLOB is a necessary condition; the split makes `*` and `?` stop at token boundaries.
    parts.append(
        f"(' ' || lower({col}) || ' ') GLOB ? AND EXISTS (WITH RECURSIVE tok(w, rest) AS ("
        f"SELECT NULL, lower({col}) || ' ' UNION ALL "
        "SELECT substr(rest, 1, instr(rest, ' ') - 1), substr(rest, instr(rest, ' ') + 1) "
        "FROM tok WHERE rest <> '') SELECT 1 FROM tok WHERE w <> '' AND w GLOB ?)"
    )
    params.extend([f"* {pattern} *", pattern])


def _ordered_parts(
    kind: str,
    col: str,
    op: str,
    values: list[_Value],
    today: datetime.date,
    parts: list[str],
    params: list[object],
) -> None:
    if kind == "cost":
        keys: list[object] = [_minor_units(v) for v in values]
    elif kind == "age":
        keys = [_days_ago(today, _days(v)) for v in values]
        op = {">": "<", ">=": "<=", "<": ">", "<=": ">="}.get(op, op)  # older means an earlier date
    else:
        globs = [v.pattern for v in values if v.pattern is not None]
        for pattern in globs:
            parts.append(f"{col} GLOB ?")
            params.append(pattern)
        keys = [_date_value(v, "date", today) for v in values if v.pattern is None]
        if not keys:
            return
    if op in _COMPARISONS:
        parts.append(f"{col} {op} ?")
    else:
        parts.append(f"{col} IN ({', '.join('?' * len(keys))})")
    params.extend(keys)


# ---------------------------------------------------------------- sorting

_STATUS_ORDER = (
    "CASE lower(status) " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(STATUSES)) + " END"
)
_SEVERITY_ORDER = (
    "CASE lower(severity) " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(SEVERITIES)) + " END"
)
# key -> (SQL expression, whether the natural ascending order runs the column descending)
_SORTS: dict[str, tuple[str, bool]] = {
    "id": ("id", False),
    "status": (_STATUS_ORDER, False),
    "age": ("checked_date", True),
    "vendor": ("nullif(vendor, '') COLLATE NOCASE", False),
    "sku": ("nullif(sku, '') COLLATE NOCASE", False),
    "code": ("nullif(failure_code, '') COLLATE NOCASE", False),
    "cost": ("cost_minor", False),
    "responsible": ("nullif(responsible, '') COLLATE NOCASE", False),
    "inspector": ("nullif(inspector, '') COLLATE NOCASE", False),
    "checked": ("checked_date", False),
    "severity": (_SEVERITY_ORDER, False),
}
SORT_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "id": "record id",
        "status": "lifecycle order: open first, closed last",
        "age": "youngest first (-age: oldest first)",
        "vendor": "vendor A-Z",
        "sku": "SKU A-Z",
        "code": "failure code A-Z",
        "cost": "cheapest first",
        "responsible": "responsible parties A-Z",
        "inspector": "inspector A-Z",
        "checked": "date checked, oldest first",
        "severity": "minor, major, critical",
    }
)


def sort_clause(key: str) -> str:
    """ORDER BY terms (without the keywords) for `key`, e.g. "-cost" or "vendor,-age"; ties by id.

    Empty values (NULL or '') sort last in both directions.
    """
    terms: list[str] = []
    offset = 0
    for part in key.split(","):
        name = part.strip()
        position = offset + len(part) - len(part.lstrip())
        offset += len(part) + 1
        descending = name.startswith("-")
        bare = name[1:] if descending else name
        if bare.lower() not in _SORTS:
            close = difflib.get_close_matches(bare.lower(), list(_SORTS), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            shown = bare or "(empty)"
            raise QueryError(
                f"unknown sort key '{shown}' ({hint}keys: {', '.join(_SORTS)}; prefix - for descending)",
                position,
                max(len(name), 1),
            )
        expr, reverse = _SORTS[bare.lower()]
        terms.append(f"{expr} {'DESC' if descending != reverse else 'ASC'} NULLS LAST")
    if not any(t.startswith("id ") for t in terms):
        terms.append("id ASC")
    return ", ".join(terms)
