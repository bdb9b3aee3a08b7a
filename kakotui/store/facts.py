"""Report facts: the normalized child rows the index keeps beside each record, for fast reports.

Three tables, filled wherever the index writes a record row and emptied (by a trigger) wherever it
deletes one:

- `fact_records`: one row per record: the columns reports group by, the local day/week/month of
  the QC check, the stage times as epoch seconds, counts, and the record's data gaps;
- `cost_lines`: one row per reshipment cost line, in minor units of its currency and (converted at
  the rate of its reshipment's month, rounded half-even to the cent, line by line) of the reporting
  currency; `reporting_minor` is NULL when the month has no rate, so a report can name the gap;
- `recoveries`: one row per vendor contact that recovered money, converted the same way.

Every figure a report shows is a sum of these rows, so totals reconcile with the records exactly.
The facts depend on kakotui.yaml (categories, rates): the index rebuilds when it changes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from kakotui.core.config import Config
from kakotui.core.money import Money, MoneyError, convert, to_minor
from kakotui.core.record import parse_time, status_of

__all__ = [
    "COST_COLUMNS",
    "GAPS",
    "RECORD_COLUMNS",
    "RECOVERY_COLUMNS",
    "SCHEMA",
    "FactRows",
    "child_rows",
    "ensure",
    "gaps_of",
    "write",
]

RECORD_COLUMNS = (
    "path",
    "id",
    "vendor",
    "sku",
    "category",
    "failure_code",
    "severity",
    "station",
    "site",
    "inspector",
    "quantity",
    "status",
    "final_status",
    "decision",
    "valid",
    "worktree",
    "day",
    "week",
    "month",
    "checked_s",
    "decided_s",
    "first_reship_s",
    "delivered_s",
    "confirmed_s",
    "closed_s",
    "reopenings",
    "reshipments",
    "evidence",
    "gaps",
)
COST_COLUMNS = (
    "path",
    "record_id",
    "reship_ref",
    "line",
    "day",
    "week",
    "month",
    "type",
    "responsible",
    "party",
    "currency",
    "amount_minor",
    "reporting_minor",
    "carrier",
    "vendor",
    "category",
    "station",
    "checked_day",
)
RECOVERY_COLUMNS = (
    "path",
    "record_id",
    "contact",
    "day",
    "week",
    "month",
    "outcome",
    "currency",
    "amount_minor",
    "reporting_minor",
    "vendor",
    "category",
    "station",
    "checked_day",
)

_INTEGER = {
    "quantity",
    "valid",
    "worktree",
    "checked_s",
    "decided_s",
    "first_reship_s",
    "delivered_s",
    "confirmed_s",
    "closed_s",
    "reopenings",
    "reshipments",
    "evidence",
    "line",
    "contact",
    "amount_minor",
    "reporting_minor",
}


def _table(name: str, columns: Sequence[str], primary: str = "") -> str:
    cols = ", ".join(
        f"{c} {'INTEGER' if c in _INTEGER else 'TEXT'}{' PRIMARY KEY' if c == primary else ''}"
        for c in columns
    )
    return f"CREATE TABLE IF NOT EXISTS {name} ({cols});"


SCHEMA = "\n".join(
    [
        _table("fact_records", RECORD_COLUMNS, primary="path"),
        _table("cost_lines", COST_COLUMNS),
        _table("recoveries", RECOVERY_COLUMNS),
        "CREATE INDEX IF NOT EXISTS fact_records_day ON fact_records(day);",
        "CREATE INDEX IF NOT EXISTS fact_records_worktree ON fact_records(worktree) WHERE worktree = 1;",
        "CREATE INDEX IF NOT EXISTS fact_records_repeat ON fact_records(vendor, sku, checked_s);",
        "CREATE INDEX IF NOT EXISTS cost_lines_path ON cost_lines(path);",
        "CREATE INDEX IF NOT EXISTS cost_lines_day ON cost_lines(day);",
        "CREATE INDEX IF NOT EXISTS recoveries_path ON recoveries(path);",
        "CREATE INDEX IF NOT EXISTS recoveries_day ON recoveries(day);",
        # the few amounts without an FX rate, found without a scan
        "CREATE INDEX IF NOT EXISTS cost_lines_no_rate ON cost_lines(month) WHERE reporting_minor IS NULL;",
        "CREATE INDEX IF NOT EXISTS recoveries_no_rate ON recoveries(month) WHERE reporting_minor IS NULL;",
        # Any delete of a record row (catch-up, work-tree overlay, rebuild) takes its facts with it.
        "CREATE TRIGGER IF NOT EXISTS records_drop_facts AFTER DELETE ON records BEGIN "
        "DELETE FROM fact_records WHERE path = old.path; "
        "DELETE FROM cost_lines WHERE path = old.path; "
        "DELETE FROM recoveries WHERE path = old.path; END;",
    ]
)

GAPS = {
    "invalid": "the record has schema or rule problems (run `kakotui validate`)",
    "no-evidence": "no photo or document linked to the QC failure",
    "no-description": "the QC failure has no description",
    "no-reason": "a decision other than reship states no reason",
    "vendor-not-contacted": "cost is charged to the vendor (or goods go back) but the vendor was never contacted",
    "vendor-unanswered": "closed while the vendor's answer is still pending",
}
"""Data a record lacks for the stage it has reached (the schema does not require it)."""


@dataclass
class FactRows:
    """The child rows of one record."""

    record: tuple[Any, ...] | None = None
    costs: list[tuple[Any, ...]] = field(default_factory=list)
    recoveries: list[tuple[Any, ...]] = field(default_factory=list)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _s(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _epoch(text: Any) -> int | None:
    moment = parse_time(text)
    return int(moment.timestamp()) if moment is not None else None


def _dates(text: Any) -> tuple[str, str, str]:
    """(day, week, month) of a timestamp in its own offset: the week is its Monday's date."""
    day = _s(text)[:10]
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return "", "", ""
    return day, (parsed - timedelta(days=parsed.weekday())).isoformat(), day[:7]


def _reporting_minor(money: Money, month: str, config: Config) -> int | None:
    converted = convert(money.amount, money.currency, config.reporting_currency, config.rates_for(month))
    return None if converted is None else to_minor(converted, config.reporting_currency)


def gaps_of(record: dict[str, Any], *, valid: bool = True) -> list[str]:
    """The GAPS codes that apply to `record` at its current stage (tolerant of invalid records)."""
    qc = _mapping(record.get("qc"))
    decision = _mapping(record.get("decision"))
    closure = _mapping(record.get("closure"))
    reships = _dicts(record.get("reshipments"))
    contacts = _dicts(record.get("vendor_contacts"))
    try:
        status = status_of(record)
    except (AttributeError, TypeError):
        status = "open"
    out: list[str] = []
    if not valid:
        out.append("invalid")
    if not _dicts(qc.get("evidence")):
        out.append("no-evidence")
    if not _s(qc.get("description")).strip():
        out.append("no-description")
    if decision and decision.get("action") != "reship" and not _s(decision.get("reason")).strip():
        out.append("no-reason")
    vendor_charged = decision.get("action") == "return-to-vendor" or any(
        line.get("responsible") == "vendor" for r in reships for line in _dicts(r.get("costs"))
    )
    if vendor_charged and status in ("reshipping", "awaiting-confirmation", "closed") and not contacts:
        out.append("vendor-not-contacted")
    answered = any(c.get("outcome") not in (None, "pending") for c in contacts)
    if vendor_charged and closure and closure.get("final_status") != "void" and contacts and not answered:
        out.append("vendor-unanswered")
    return out


def child_rows(
    path: str, record: dict[str, Any] | None, config: Config, *, valid: bool = True, worktree: bool = False
) -> FactRows:
    """The fact rows of the record stored at `path` (none for a file that could not be read)."""
    out = FactRows()
    if not isinstance(record, dict):
        return out
    qc = _mapping(record.get("qc"))
    decision = _mapping(record.get("decision"))
    closure = _mapping(record.get("closure"))
    reships = _dicts(record.get("reshipments"))
    contacts = _dicts(record.get("vendor_contacts"))
    record_id = _s(record.get("id"))
    vendor = _s(qc.get("vendor"))
    station = _s(qc.get("station"))
    code = _s(qc.get("failure_code"))
    category = config.category_of(code) or code.split("-")[0]
    checked_day, week, month = _dates(qc.get("checked_at"))
    try:
        status = status_of(record)
    except (AttributeError, TypeError):
        status = "open"
    quantity = qc.get("quantity")
    last = reships[-1] if reships else {}
    out.record = (
        path,
        record_id,
        vendor,
        _s(qc.get("sku")),
        category,
        code,
        _s(qc.get("severity")),
        station,
        _s(qc.get("site")),
        _s(qc.get("inspector")),
        quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else 1,
        status,
        _s(closure.get("final_status")),
        _s(decision.get("action")),
        1 if valid else 0,
        1 if worktree else 0,
        checked_day,
        week,
        month,
        _epoch(qc.get("checked_at")),
        _epoch(decision.get("at")),
        _epoch(reships[0].get("created_at")) if reships else None,
        _epoch(last.get("delivered_at")) if last.get("status") == "delivered" else None,
        _epoch(_mapping(record.get("customer_confirmation")).get("at")),
        _epoch(closure.get("closed_at")),
        len(_dicts(record.get("reopenings"))),
        len(reships),
        len(_dicts(qc.get("evidence"))),
        " ".join(gaps_of(record, valid=valid)),
    )
    for reship in reships:
        day, wk, mon = _dates(reship.get("created_at"))
        carrier = _s(reship.get("carrier"))
        for n, line in enumerate(_dicts(reship.get("costs")), start=1):
            try:
                money = Money.from_record(line.get("amount"))
            except MoneyError:
                continue
            responsible = _s(line.get("responsible"))
            party = vendor if responsible == "vendor" else carrier if responsible == "carrier" else ""
            out.costs.append(
                (
                    path,
                    record_id,
                    _s(reship.get("ref")),
                    n,
                    day,
                    wk,
                    mon,
                    _s(line.get("type")),
                    responsible,
                    party,
                    money.currency,
                    to_minor(money.amount, money.currency),
                    _reporting_minor(money, mon, config),
                    carrier,
                    vendor,
                    category,
                    station,
                    checked_day,
                )
            )
    for n, contact in enumerate(contacts, start=1):
        if "recovered" not in contact:
            continue
        try:
            money = Money.from_record(contact.get("recovered"))
        except MoneyError:
            continue
        if money.amount == Decimal(0):
            continue
        day, wk, mon = _dates(contact.get("at"))
        out.recoveries.append(
            (
                path,
                record_id,
                n,
                day,
                wk,
                mon,
                _s(contact.get("outcome")),
                money.currency,
                to_minor(money.amount, money.currency),
                _reporting_minor(money, mon, config),
                vendor,
                category,
                station,
                checked_day,
            )
        )
    return out


def ensure(db: sqlite3.Connection) -> None:
    """Create the fact tables; tables of another shape (an older kakotui) are dropped and made again,
    and the index is marked for a rebuild (its `format` forgotten) so they are filled."""
    expected = {"fact_records": RECORD_COLUMNS, "cost_lines": COST_COLUMNS, "recoveries": RECOVERY_COLUMNS}
    stale = False
    for table, columns in expected.items():
        found = tuple(row[1] for row in db.execute(f"PRAGMA table_info({table})"))
        if found and found != columns:
            stale = True
    if stale:
        with db:
            db.execute("DROP TRIGGER IF EXISTS records_drop_facts")
            for table in expected:
                db.execute(f"DROP TABLE IF EXISTS {table}")
            db.execute("DELETE FROM meta WHERE key = 'format'")
    db.executescript(SCHEMA)


def _insert(table: str, columns: Sequence[str], verb: str = "INSERT") -> str:
    return f"{verb} INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"


_INSERT_RECORD = _insert("fact_records", RECORD_COLUMNS, "INSERT OR REPLACE")
_INSERT_COST = _insert("cost_lines", COST_COLUMNS)
_INSERT_RECOVERY = _insert("recoveries", RECOVERY_COLUMNS)


def write(db: sqlite3.Connection, rows: Iterable[tuple[str, Any, Any, str | None]], config: Config) -> None:
    """Replace the facts of each (path, valid, worktree, record JSON) just written to `records`."""
    paths: list[tuple[str]] = []
    records: list[tuple[Any, ...]] = []
    costs: list[tuple[Any, ...]] = []
    recoveries: list[tuple[Any, ...]] = []
    for path, valid, worktree, text in rows:
        paths.append((path,))
        try:
            record = json.loads(text) if text is not None else None
        except ValueError:
            record = None
        facts = child_rows(path, record, config, valid=bool(valid), worktree=bool(worktree))
        if facts.record is not None:
            records.append(facts.record)
        costs.extend(facts.costs)
        recoveries.extend(facts.recoveries)
    db.executemany("DELETE FROM fact_records WHERE path = ?", paths)
    db.executemany("DELETE FROM cost_lines WHERE path = ?", paths)
    db.executemany("DELETE FROM recoveries WHERE path = ?", paths)
    db.executemany(_INSERT_RECORD, records)
    db.executemany(_INSERT_COST, costs)
    db.executemany(_INSERT_RECOVERY, recoveries)
