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

Beside them, monthly roll-ups (`ROLLUPS`: counts and money per month x vendor x station x ...,
`roll_*` tables) are kept by triggers on the three tables, so every write path (this module's
`write`, the index's worker processes, the delete trigger) maintains them: a report over whole
months sums a few thousand roll-up rows instead of 100k fact rows. The month of a row is the first
7 characters of its day; a day that is not YYYY-MM-DD (empty, or an ISO week date) keeps its whole
text, so a report can still compare it with the period exactly as the fact scan would. `ensure`
fills the roll-ups from the facts when they are new or of another shape.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from kakotui.core.config import Config
from kakotui.core.money import Money, MoneyError, convert, to_minor
from kakotui.core.record import parse_time, status_of
from kakotui.store.trail import FIRST_COMMITS_SCHEMA

__all__ = [
    "COST_COLUMNS",
    "GAPS",
    "GAP_COLUMNS",
    "RECORD_COLUMNS",
    "RECOVERY_COLUMNS",
    "ROLLUPS",
    "SCHEMA",
    "SLA_ROLLUPS",
    "Bulk",
    "FactRows",
    "Rollup",
    "bulk_begin",
    "bulk_end",
    "child_rows",
    "ensure",
    "gaps_of",
    "replacing",
    "rollups_ready",
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
        # days to close in order, per vendor and overall: a median is a walk to the middle entry
        "CREATE INDEX IF NOT EXISTS fact_records_to_close "
        "ON fact_records(vendor, (closed_s - checked_s), day, station);",
        "CREATE INDEX IF NOT EXISTS fact_records_to_close_all "
        "ON fact_records((closed_s - checked_s), day, station, vendor);",
        # the audit (kakotui.reports.audit): records whose SLA class as of a moment differs from the
        # class the roll-ups keep (a stage time or deadline after it), open records, id-ordered walks
        "CREATE INDEX IF NOT EXISTS fact_records_sla_checked_s ON fact_records(checked_s, final_status, "
        "decision, day, vendor, station, decided_s, first_reship_s, closed_s);",
        *(
            f"CREATE INDEX IF NOT EXISTS fact_records_sla_{column} "
            f"ON fact_records({column}, checked_s, final_status, decision, day, vendor, station);"
            for column in ("decided_s", "first_reship_s", "closed_s")
        ),
        "CREATE INDEX IF NOT EXISTS fact_records_by_id ON fact_records(id, day, vendor, station, "
        "final_status, decision, checked_s, decided_s, first_reship_s, closed_s);",
        "CREATE INDEX IF NOT EXISTS fact_records_gapped "
        "ON fact_records(id, day, vendor, station, gaps) WHERE gaps <> '';",
        # the audit's logging delays: per record with a check time and a first commit, the seconds
        # from the check to that commit (kept by triggers on both tables, ROLLUP_SCHEMA), in order
        # per station, per inspector and overall (a median is a walk to the middle entry)
        FIRST_COMMITS_SCHEMA,
        "CREATE TABLE IF NOT EXISTS fact_delays (path TEXT PRIMARY KEY, day TEXT, vendor TEXT, station TEXT, "
        "inspector TEXT, delay INTEGER NOT NULL);",
        "CREATE INDEX IF NOT EXISTS fact_delays_station ON fact_delays(station, delay, day, vendor);",
        "CREATE INDEX IF NOT EXISTS fact_delays_inspector ON fact_delays(inspector, delay, day, vendor, station);",
        "CREATE INDEX IF NOT EXISTS fact_delays_all ON fact_delays(delay, day, vendor, station);",
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


@dataclass(frozen=True)
class Rollup:
    """A roll-up of one fact table: sums of `values` per month of `day` (none: no month) and `keys`."""

    name: str
    source: str
    day: str | None
    keys: tuple[str, ...]
    values: tuple[tuple[str, str], ...]  # (column, SQL expression over the fact row `{r}`)
    computed: tuple[tuple[str, str], ...] = ()  # more keys: (column, non-NULL SQL expression over `{r}`)

    def month(self, r: str) -> str:
        col = f"coalesce({r}.{self.day}, '')"
        return f"CASE WHEN {col} GLOB '{_ISO_DAY}' THEN substr({col}, 1, 7) ELSE {col} END"

    @property
    def columns(self) -> tuple[str, ...]:
        return (("mday",) if self.day else ()) + self.keys + tuple(c for c, _ in self.computed)

    def exprs(self, r: str) -> list[str]:
        # keys are never NULL (the fact rows hold strings); coalesce keeps the triggers' matches exact
        return (
            ([self.month(r)] if self.day else [])
            + [f"coalesce({r}.{k}, '')" for k in self.keys]
            + [e.format(r=r) for _, e in self.computed]
        )


_ISO_DAY = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_RECORD_VALUES = (
    ("n", "1"),
    ("units", "coalesce({r}.quantity, 0)"),
    ("open", "coalesce({r}.status <> 'closed', 0)"),
    ("closed", "coalesce({r}.status = 'closed', 0)"),
    ("reshipments", "coalesce({r}.reshipments, 0)"),
    ("reopened", "coalesce({r}.reopenings > 0, 0)"),
    ("critical", "coalesce({r}.severity = 'critical', 0)"),
    ("major", "coalesce({r}.severity = 'major', 0)"),
    ("minor", "coalesce({r}.severity = 'minor', 0)"),
    ("evidence", "coalesce({r}.evidence > 0, 0)"),
    ("gapped", "coalesce({r}.gaps <> '', 0)"),
    ("dated", "{r}.checked_s IS NOT NULL"),
    ("to_close", "{r}.closed_s - {r}.checked_s IS NOT NULL"),
)
_MONEY_VALUES = (
    ("n", "1"),
    ("amount", "coalesce({r}.amount_minor, 0)"),
    ("reporting", "coalesce({r}.reporting_minor, 0)"),
    ("missing", "{r}.reporting_minor IS NULL"),
)


def _sla_bucket(column: str, reship: bool = False) -> str:
    """A stage's SLA class as the roll-ups keep it (as of a moment after every time of the record):
    'x' not judged (void, no check time, reship stage without a reshipment decision), 'open' not
    done, else the days the stage took, rounded up (0 for none or less): on time when <= the SLA days."""
    applies = "{r}.final_status <> 'void' AND {r}.checked_s IS NOT NULL"
    if reship:
        applies += " AND {r}.decision = 'reship'"
    elapsed = f"{{r}}.{column} - {{r}}.checked_s"
    return (
        f"CASE WHEN NOT coalesce({applies}, 0) THEN 'x' WHEN {{r}}.{column} IS NULL THEN 'open' "
        f"WHEN {elapsed} <= 0 THEN '0' ELSE CAST(({elapsed} + 86399) / 86400 AS TEXT) END"
    )


SLA_ROLLUPS = {
    "decide": ("roll_sla_decide_all", "roll_sla_decide"),
    "reship": ("roll_sla_reship_all", "roll_sla_reship"),
    "close": ("roll_sla_close_all", "roll_sla_close"),
}
"""The audit's SLA classes per stage (`_sla_bucket`), per month x days taken (the first: a
fiftieth of the rows, for the whole log) and per month x vendor x station x days taken."""
GAP_COLUMNS = {
    code: f"gap{i}"
    for i, code in enumerate(
        (
            "invalid",
            "no-evidence",
            "no-description",
            "no-reason",
            "vendor-not-contacted",
            "vendor-unanswered",
        )
    )
}
"""The column of `roll_audit` that counts the records with each data gap (the codes of GAPS)."""
_GAP_VALUES = tuple(
    (column, f"instr(' ' || coalesce({{r}}.gaps, '') || ' ', ' {code} ') > 0")
    for code, column in GAP_COLUMNS.items()
)
ROLLUPS = (
    # per month and category only (a twentieth of roll_records_month's rows): the unfiltered questions
    Rollup("roll_records_category", "fact_records", "day", ("category",), _RECORD_VALUES),
    # per month without the week: a quarter of roll_records' rows, for every question not by week
    Rollup("roll_records_month", "fact_records", "day", ("vendor", "station", "category"), _RECORD_VALUES),
    Rollup("roll_records", "fact_records", "day", ("week", "vendor", "station", "category"), _RECORD_VALUES),
    # per inspector (the audit's activity table), with the count of each data gap (GAPS, in order)
    Rollup(
        "roll_audit", "fact_records", "day", ("vendor", "station", "inspector"), _RECORD_VALUES + _GAP_VALUES
    ),
    Rollup(
        "roll_sla_decide_all", "fact_records", "day", (), (("n", "1"),), (("b", _sla_bucket("decided_s")),)
    ),
    Rollup(
        "roll_sla_decide",
        "fact_records",
        "day",
        ("vendor", "station"),
        (("n", "1"),),
        (("b", _sla_bucket("decided_s")),),
    ),
    Rollup(
        "roll_sla_reship_all",
        "fact_records",
        "day",
        (),
        (("n", "1"),),
        (("b", _sla_bucket("first_reship_s", reship=True)),),
    ),
    Rollup(
        "roll_sla_reship",
        "fact_records",
        "day",
        ("vendor", "station"),
        (("n", "1"),),
        (("b", _sla_bucket("first_reship_s", reship=True)),),
    ),
    Rollup("roll_sla_close_all", "fact_records", "day", (), (("n", "1"),), (("b", _sla_bucket("closed_s")),)),
    Rollup(
        "roll_sla_close",
        "fact_records",
        "day",
        ("vendor", "station"),
        (("n", "1"),),
        (("b", _sla_bucket("closed_s")),),
    ),
    Rollup("roll_skus", "fact_records", None, ("vendor", "sku"), (("n", "1"),)),
    Rollup(
        "roll_costs_checked",
        "cost_lines",
        "checked_day",
        ("vendor", "station", "responsible", "currency"),
        _MONEY_VALUES,
    ),
    # per month, category and currency only (a twelfth of roll_costs_category's rows): unfiltered trends
    Rollup("roll_costs_category_all", "cost_lines", "day", ("category", "currency"), _MONEY_VALUES),
    # the attribution without vendor and station (a seventh of roll_costs' rows): the unfiltered
    # cost report and meeting pack
    Rollup(
        "roll_costs_party", "cost_lines", "day", ("responsible", "party", "type", "currency"), _MONEY_VALUES
    ),
    # by category without the week (a third of roll_costs_week's rows): monthly trends
    Rollup(
        "roll_costs_category",
        "cost_lines",
        "day",
        ("vendor", "station", "category", "currency"),
        _MONEY_VALUES,
    ),
    Rollup(
        "roll_costs",
        "cost_lines",
        "day",
        ("vendor", "station", "responsible", "party", "type", "currency"),
        _MONEY_VALUES,
    ),
    Rollup(
        "roll_costs_week",
        "cost_lines",
        "day",
        ("week", "vendor", "station", "category", "currency"),
        _MONEY_VALUES,
    ),
    Rollup("roll_recoveries", "recoveries", "day", ("vendor", "station", "currency"), _MONEY_VALUES),
    Rollup(
        "roll_delays",
        "fact_delays",
        "day",
        ("vendor", "station", "inspector"),
        (
            ("n", "1"),
            ("within_hour", "{r}.delay <= 3600"),
            ("over_day", "{r}.delay > 86400"),
            ("before_check", "{r}.delay < 0"),
        ),
    ),
    Rollup(
        "roll_recoveries_checked",
        "recoveries",
        "checked_day",
        ("vendor", "station", "currency"),
        _MONEY_VALUES,
    ),
)
"""The roll-ups, smallest first (a question takes the first one that has the columns it needs)."""


def _rollup_ddl(roll: Rollup) -> list[str]:
    cols = roll.columns
    values = [v for v, _ in roll.values]
    create = (
        f"CREATE TABLE IF NOT EXISTS {roll.name} ("
        + ", ".join([f"{c} TEXT" for c in cols] + [f"{v} INTEGER NOT NULL" for v in values])
        + f", PRIMARY KEY ({', '.join(cols)}));"
    )
    new_keys = roll.exprs("new")
    old_keys = roll.exprs("old")
    match = " AND ".join(f"{c} = {e}" for c, e in zip(cols, old_keys, strict=True))
    insert = (
        f"CREATE TRIGGER IF NOT EXISTS {roll.name}_add AFTER INSERT ON {roll.source} BEGIN "
        f"INSERT INTO {roll.name}({', '.join([*cols, *values])}) VALUES ("
        + ", ".join([*new_keys, *(e.format(r="new") for _, e in roll.values)])
        + f") ON CONFLICT({', '.join(cols)}) DO UPDATE SET "
        + ", ".join(f"{v} = {v} + excluded.{v}" for v in values)
        + "; END;"
    )
    delete = (
        f"CREATE TRIGGER IF NOT EXISTS {roll.name}_sub AFTER DELETE ON {roll.source} BEGIN "
        f"UPDATE {roll.name} SET "
        + ", ".join(f"{v} = {v} - ({e.format(r='old')})" for v, e in roll.values)
        + f" WHERE {match}; DELETE FROM {roll.name} WHERE {match} AND n = 0; END;"
    )
    return [create, insert, delete]


def _rollup_fill(roll: Rollup) -> str:
    """The roll-up computed from its fact table (what the triggers keep it equal to)."""
    cols = roll.columns
    exprs = roll.exprs("f")
    return (
        f"INSERT INTO {roll.name}({', '.join([*cols, *(v for v, _ in roll.values)])}) SELECT "
        + ", ".join([*exprs, *(f"sum({e.format(r='f')})" for _, e in roll.values)])
        + f" FROM {roll.source} f GROUP BY {', '.join(exprs)}"
    )


def _rollup_base(roll: Rollup, filled: Sequence[Rollup]) -> Rollup | None:
    """The filled roll-up with the fewest columns that `roll` is a coarser grouping of, if any: same
    fact table, same month column (the same `day`, or neither has one), the same values and every
    key and computed key of `roll` among its own. Every value is a sum (`_rollup_fill`, the
    triggers), so summing that roll-up's rows per `roll`'s columns gives what the facts give; its
    keys already hold the coalesced strings and its month and computed keys the same expressions."""
    fits = [
        wide
        for wide in filled
        if wide.name != roll.name
        and wide.source == roll.source
        and wide.day == roll.day
        and wide.values == roll.values
        and set(roll.keys) <= set(wide.keys)
        and set(roll.computed) <= set(wide.computed)
    ]
    return min(fits, key=lambda wide: len(wide.columns), default=None)


def _rollup_plan(rollups: Sequence[Rollup]) -> list[tuple[Rollup, Rollup | None]]:
    """The order to fill the roll-ups in, the widest first, each with the filled roll-up to sum
    (`_rollup_base`) or None: summed from its fact table."""
    plan: list[tuple[Rollup, Rollup | None]] = []
    for roll in sorted(rollups, key=lambda r: -len(r.columns)):  # a narrower one has fewer columns
        plan.append((roll, _rollup_base(roll, [filled for filled, _ in plan])))
    return plan


def _rollup_derive(roll: Rollup, base: Rollup) -> str:
    """The roll-up summed from a filled wider one (`_rollup_base`): far fewer rows than the facts."""
    cols = ", ".join(roll.columns)
    values = [v for v, _ in roll.values]
    return (
        f"INSERT INTO {roll.name}({cols}, {', '.join(values)}) SELECT {cols}, "
        + ", ".join(f"sum({v})" for v in values)
        + f" FROM {base.name} GROUP BY {cols}"
    )


_ROLLUP_PLAN = _rollup_plan(ROLLUPS)


def _recovered(path: str, what: str) -> str:
    agg = {
        "sum": "coalesce(sum(coalesce(v.reporting_minor, 0)), 0)",
        "known": "count(v.reporting_minor)",
        "last": "coalesce(max(v.day), '')",
    }[what]
    return f"(SELECT {agg} FROM recoveries v WHERE v.path = {path})"


_BAL_SELECT = (
    "SELECT c.path, c.responsible, c.party, min(c.vendor), min(c.station), sum(coalesce(c.reporting_minor, 0)), "
    "count(c.reporting_minor), "
    f"CASE WHEN c.responsible = 'vendor' THEN {_recovered('c.path', 'sum')} ELSE 0 END, "
    f"CASE WHEN c.responsible = 'vendor' THEN {_recovered('c.path', 'known')} ELSE 0 END, min(c.day), "
    f"CASE WHEN c.responsible = 'vendor' THEN max(max(c.day), {_recovered('c.path', 'last')}) ELSE max(c.day) END "
    "FROM cost_lines c WHERE c.responsible IN ('vendor', 'carrier') AND c.party <> ''"
)
BALANCES = (
    # per record and party charged (vendor or carrier): what its cost lines charge (owed; `known`
    # lines have a rate), what the record's vendor contacts recovered (vendor rows only), the first
    # charge day, and the last day of any of these entries
    "CREATE TABLE IF NOT EXISTS bal (path TEXT, kind TEXT, party TEXT, vendor TEXT, station TEXT, "
    "owed INTEGER NOT NULL, known INTEGER NOT NULL, back INTEGER NOT NULL, bknown INTEGER NOT NULL, "
    "first_day TEXT, last_day TEXT, PRIMARY KEY (path, kind, party));",
    "CREATE INDEX IF NOT EXISTS bal_last ON bal(last_day);",
    # the records owing per party, read in group order from this index alone
    "CREATE INDEX IF NOT EXISTS bal_owing "
    "ON bal(kind, party, last_day, known, owed, back, bknown, first_day, vendor, station);",
    "CREATE TRIGGER IF NOT EXISTS bal_add AFTER INSERT ON cost_lines "
    "WHEN new.responsible IN ('vendor', 'carrier') AND new.party <> '' BEGIN "
    "INSERT INTO bal VALUES (new.path, new.responsible, new.party, new.vendor, new.station, "
    "coalesce(new.reporting_minor, 0), new.reporting_minor IS NOT NULL, "
    f"CASE WHEN new.responsible = 'vendor' THEN {_recovered('new.path', 'sum')} ELSE 0 END, "
    f"CASE WHEN new.responsible = 'vendor' THEN {_recovered('new.path', 'known')} ELSE 0 END, new.day, "
    f"CASE WHEN new.responsible = 'vendor' THEN max(new.day, {_recovered('new.path', 'last')}) ELSE new.day END) "
    "ON CONFLICT(path, kind, party) DO UPDATE SET owed = owed + excluded.owed, known = known + excluded.known, "
    "first_day = min(first_day, excluded.first_day), last_day = max(last_day, excluded.last_day); END;",
    "CREATE TRIGGER IF NOT EXISTS bal_sub AFTER DELETE ON cost_lines "
    "WHEN old.responsible IN ('vendor', 'carrier') AND old.party <> '' BEGIN "
    "DELETE FROM bal WHERE path = old.path AND kind = old.responsible AND party = old.party; "
    f"INSERT INTO bal {_BAL_SELECT} AND c.path = old.path AND c.responsible = old.responsible "
    "AND c.party = old.party GROUP BY c.path, c.responsible, c.party; END;",
    "CREATE TRIGGER IF NOT EXISTS bal_back_add AFTER INSERT ON recoveries BEGIN "
    "UPDATE bal SET back = back + coalesce(new.reporting_minor, 0), "
    "bknown = bknown + (new.reporting_minor IS NOT NULL), last_day = max(last_day, new.day) "
    "WHERE path = new.path AND kind = 'vendor'; END;",
    "CREATE TRIGGER IF NOT EXISTS bal_back_sub AFTER DELETE ON recoveries BEGIN "
    f"UPDATE bal SET back = {_recovered('old.path', 'sum')}, bknown = {_recovered('old.path', 'known')}, "
    "last_day = max((SELECT max(c.day) FROM cost_lines c WHERE c.path = bal.path AND c.responsible = bal.kind "
    f"AND c.party = bal.party), {_recovered('old.path', 'last')}) WHERE path = old.path AND kind = 'vendor'; END;",
)
_BALANCES_FILL = (f"INSERT INTO bal {_BAL_SELECT} GROUP BY c.path, c.responsible, c.party",)
"""Per-record balances (`bal`): a reconcile's records owing, as of a day on or after every entry of
a record's row, are these totals; only the rows with a later entry are summed from their lines."""

_DELAY_OF = (
    "INSERT INTO fact_delays(path, day, vendor, station, inspector, delay) SELECT {path}, {f}.day, {f}.vendor, "
    "{f}.station, {f}.inspector, {c}.at_s - {f}.checked_s FROM {table} WHERE {where} AND {f}.checked_s IS NOT NULL"
)
DELAYS = (
    "CREATE TRIGGER IF NOT EXISTS fact_delays_fc_add AFTER INSERT ON first_commits BEGIN "
    "DELETE FROM fact_delays WHERE path = new.path; "
    + _DELAY_OF.format(path="new.path", f="f", c="new", table="fact_records f", where="f.path = new.path")
    + "; END;",
    "CREATE TRIGGER IF NOT EXISTS fact_delays_fc_upd AFTER UPDATE ON first_commits BEGIN "
    "DELETE FROM fact_delays WHERE path = old.path; "
    + _DELAY_OF.format(path="new.path", f="f", c="new", table="fact_records f", where="f.path = new.path")
    + "; END;",
    "CREATE TRIGGER IF NOT EXISTS fact_delays_fc_sub AFTER DELETE ON first_commits BEGIN "
    "DELETE FROM fact_delays WHERE path = old.path; END;",
    "CREATE TRIGGER IF NOT EXISTS fact_delays_fr_add AFTER INSERT ON fact_records BEGIN "
    "DELETE FROM fact_delays WHERE path = new.path; "
    + _DELAY_OF.format(path="new.path", f="new", c="c", table="first_commits c", where="c.path = new.path")
    + "; END;",
    "CREATE TRIGGER IF NOT EXISTS fact_delays_fr_sub AFTER DELETE ON fact_records BEGIN "
    "DELETE FROM fact_delays WHERE path = old.path; END;",
)
DELAY_TRIGGERS = (
    "fact_delays_fc_add",
    "fact_delays_fc_upd",
    "fact_delays_fc_sub",
    "fact_delays_fr_add",
    "fact_delays_fr_sub",
)
_DELAYS_FILL = _DELAY_OF.format(
    path="f.path", f="f", c="c", table="fact_records f JOIN first_commits c ON c.path = f.path", where="1"
)
_EXTRA_DDL = [*BALANCES, *DELAYS]
ROLLUP_SCHEMA = "\n".join([*(line for roll in ROLLUPS for line in _rollup_ddl(roll)), *_EXTRA_DDL])
ROLLUP_KEY = hashlib.sha256(ROLLUP_SCHEMA.encode()).hexdigest()[:16]
"""Stored in meta (`rollups`): roll-ups of another shape are dropped and filled again."""


def rollups_ready(db: sqlite3.Connection) -> bool:
    """Whether this index database keeps the roll-ups of this version (an older `--at` cache may not)."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'rollups'").fetchone()
    except sqlite3.DatabaseError:
        return False
    return row is not None and row[0] == ROLLUP_KEY


def _ensure_rollups(db: sqlite3.Connection) -> None:
    if rollups_ready(db):
        db.executescript(ROLLUP_SCHEMA)  # no-op unless something was dropped by hand
        return
    # One explicit write transaction around the drops, the DDL and the fills: Python's sqlite3 runs DDL
    # outside any implicit transaction, and two processes opening the log at once then interleaved
    # (one refilled tables the other had just filled: UNIQUE constraint failed in a save's trigger).
    db.execute("BEGIN IMMEDIATE")
    try:
        if rollups_ready(db):  # another process filled them while this one waited for the lock
            db.commit()
            return
        _fill_rollups(db)
        db.commit()
    except BaseException:
        db.rollback()
        raise


def _fill_rollups(db: sqlite3.Connection, partials: Sequence[str] = ()) -> None:
    """Drop and make the roll-up tables and triggers again, filled from the facts (in the caller's
    transaction); `partials`: from the shards' sums instead (`bulk_rollups`)."""
    for name in [*(roll.name for roll in ROLLUPS), "bal", "bal_back", "bal_costs"]:
        db.execute(f"DROP TRIGGER IF EXISTS {name}_add")
        db.execute(f"DROP TRIGGER IF EXISTS {name}_sub")
        db.execute(f"DROP TABLE IF EXISTS {name}")
    for name in DELAY_TRIGGERS:
        db.execute(f"DROP TRIGGER IF EXISTS {name}")
    db.execute("DELETE FROM fact_delays")
    db.execute(_DELAYS_FILL)
    for roll in ROLLUPS:  # tables and triggers made in the order of ROLLUPS, as ROLLUP_SCHEMA does
        for statement in _rollup_ddl(roll):
            db.execute(statement)
    for roll, base in _ROLLUP_PLAN:
        if base is not None:
            db.execute(_rollup_derive(roll, base))
        elif partials and roll.source in _SHARDED:
            db.execute(_rollup_merge(roll, partials))
        else:
            db.execute(_rollup_fill(roll))
    for statement in _EXTRA_DDL:
        db.execute(statement)
    if partials:
        db.execute("INSERT INTO bal " + " UNION ALL ".join(f"SELECT * FROM {p}.bal" for p in partials))
    else:
        for statement in _BALANCES_FILL:
            db.execute(statement)
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('rollups', ?)", (ROLLUP_KEY,))


_BULK_TABLES = ("records", "fact_records", "cost_lines", "recoveries", "fact_delays")


@dataclass(frozen=True)
class Bulk:
    """What `bulk_begin` dropped, for `bulk_end` to make again."""

    indexes: tuple[str, ...]
    triggers: tuple[tuple[str, str], ...]  # (name, SQL)


def bulk_begin(db: sqlite3.Connection, *, empty: bool = True) -> Bulk:
    """Empty the record and fact tables for a rebuild, in the caller's write transaction, with their
    secondary indexes and every trigger on them dropped (the roll-ups' too): appending rows to bare
    tables and then `bulk_end` costs about a quarter of keeping ~20 indexes and the roll-up triggers
    row by row. Until `bulk_end` the roll-ups are stale: the transaction must not commit before it.
    `empty=False`: the rows are kept (a large import adds to them; `bulk_end` sums every fact)."""
    names = ", ".join(f"'{t}'" for t in _BULK_TABLES)
    found = db.execute(
        f"SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND sql IS NOT NULL "
        f"AND tbl_name IN ({names}) ORDER BY rowid"
    ).fetchall()
    for kind, name, _sql in found:
        db.execute(f'DROP {"INDEX" if kind == "index" else "TRIGGER"} IF EXISTS "{name}"')
    if empty:
        for table in _BULK_TABLES:
            db.execute(f"DELETE FROM {table}")
    db.execute("DELETE FROM meta WHERE key = 'rollups'")
    return Bulk(
        tuple(str(sql) for kind, _name, sql in found if kind == "index"),
        tuple((str(name), str(sql)) for kind, name, sql in found if kind == "trigger"),
    )


def bulk_end(db: sqlite3.Connection, bulk: Bulk) -> None:
    """After `bulk_begin` and the rows: the indexes made over the filled tables, the roll-ups,
    balances and logging delays summed from the facts (`_fill_rollups`, what the triggers keep them
    equal to) and every trigger back."""
    bulk_indexes(db, bulk)
    bulk_rollups(db, bulk)


def bulk_indexes(db: sqlite3.Connection, bulk: Bulk) -> None:
    """The first half of `bulk_end`: the indexes `bulk_begin` dropped, made over the filled tables."""
    for sql in bulk.indexes:
        db.execute(sql)


def bulk_rollups(db: sqlite3.Connection, bulk: Bulk, *, partials: Sequence[str] = ()) -> None:
    """The second half of `bulk_end`: the roll-ups, balances and delays filled, the triggers back.
    `partials`: attached databases that hold `shard_sums` of shards which together are the fact
    rows (kakotui.store.build): the roll-ups are summed from those instead of the facts."""
    _fill_rollups(db, partials)
    present = {str(r[0]) for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    for name, sql in bulk.triggers:
        if name not in present:
            db.execute(sql)


_SHARDED = ("fact_records", "cost_lines", "recoveries")  # the fact tables a shard holds


def shard_sums() -> list[str]:
    """Statements that write, into a connection's main database, one shard's sums (the shard attached
    as `shard`): each roll-up that `_fill_rollups` sums from a fact table the shard holds, grouped as
    its fill groups, and the balances of the shard's records (a record's rows are all in one shard)."""
    out = []
    for roll, base in _ROLLUP_PLAN:
        if base is not None or roll.source not in _SHARDED:  # summed from a wider roll-up, or not sharded
            continue
        exprs = roll.exprs("f")
        columns = [*(f"{e} AS {c}" for c, e in zip(roll.columns, exprs, strict=True))]
        sums = [f"sum({e.format(r='f')}) AS {v}" for v, e in roll.values]
        out.append(
            f"CREATE TABLE {roll.name} AS SELECT {', '.join([*columns, *sums])} "
            f"FROM shard.{roll.source} f GROUP BY {', '.join(exprs)}"
        )
    out.extend(f"CREATE TABLE bal AS {sql[len('INSERT INTO bal ') :]}" for sql in _BALANCES_FILL)
    return out


def _rollup_merge(roll: Rollup, partials: Sequence[str]) -> str:
    """The roll-up summed from the shards' sums of it (`shard_sums`)."""
    cols = ", ".join(roll.columns)
    values = [v for v, _ in roll.values]
    union = " UNION ALL ".join(f"SELECT * FROM {p}.{roll.name}" for p in partials)
    return (
        f"INSERT INTO {roll.name}({cols}, {', '.join(values)}) SELECT {cols}, "
        + ", ".join(f"sum({v})" for v in values)
        + f" FROM ({union}) GROUP BY {cols}"
    )


_CHANGED = "temp.kakotui_changed"
_IN_CHANGED = f"IN (SELECT path FROM {_CHANGED})"
_SET_TABLES = ("fact_records", "cost_lines", "recoveries", "fact_delays")
_SET_TRIGGERS = frozenset(
    [
        *(f"{roll.name}_{op}" for roll in ROLLUPS for op in ("add", "sub")),
        *(f"{name}_{op}" for name in ("bal", "bal_back") for op in ("add", "sub")),
        "fact_delays_fr_add",
        "fact_delays_fr_sub",
    ]
)


def _rollup_delta(roll: Rollup, sign: str) -> str:
    """Add (sign "") or take away (sign "-") the sums of the changed paths' fact rows in a roll-up."""
    cols = roll.columns
    exprs = roll.exprs("f")
    values = [v for v, _ in roll.values]
    return (
        f"INSERT INTO {roll.name}({', '.join([*cols, *values])}) SELECT "
        + ", ".join([*exprs, *(f"{sign}sum({e.format(r='f')})" for _, e in roll.values)])
        + f" FROM {roll.source} f WHERE f.path {_IN_CHANGED} GROUP BY {', '.join(exprs)} "
        + f"ON CONFLICT({', '.join(cols)}) DO UPDATE SET "
        + ", ".join(f"{v} = {v} + excluded.{v}" for v in values)
    )


@contextmanager
def replacing(db: sqlite3.Connection, paths: Sequence[str]) -> Iterator[bool]:
    """Replace the facts of many records at once, in the caller's write transaction: yields True after
    the old facts of `paths` are gone and their sums taken out of the roll-ups, balances and logging
    delays; the caller then inserts the new fact rows, and on exit their sums go in, set-wise.

    The same end state as the triggers reach row by row (what `_fill_rollups` computes), at a
    fraction of the cost for a catch-up of hundreds of records: the triggers on the fact tables are
    dropped meanwhile and made again before the transaction can commit. Yields False (nothing done:
    the caller deletes and inserts, the triggers keep the roll-ups) when the index does not keep the
    roll-ups of this version or has triggers this does not know."""
    found = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN "
        f"({', '.join(repr(t) for t in _SET_TABLES)})"
    ).fetchall()
    if not rollups_ready(db) or {str(name) for name, _sql in found} != _SET_TRIGGERS:
        yield False
        return
    if not db.in_transaction:
        db.execute("BEGIN IMMEDIATE")
    db.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_CHANGED.split('.')[1]} (path TEXT PRIMARY KEY)")
    db.execute(f"DELETE FROM {_CHANGED}")
    db.executemany(f"INSERT OR IGNORE INTO {_CHANGED}(path) VALUES (?)", [(p,) for p in paths])
    for name, _sql in found:
        db.execute(f'DROP TRIGGER "{name}"')
    for roll in ROLLUPS:
        db.execute(_rollup_delta(roll, "-"))
    for table in ("bal", *_SET_TABLES):
        db.execute(f"DELETE FROM {table} WHERE path {_IN_CHANGED}")
    yield True
    db.execute(
        _DELAY_OF.format(
            path="f.path",
            f="f",
            c="c",
            table="fact_records f JOIN first_commits c ON c.path = f.path",
            where=f"f.path {_IN_CHANGED}",
        )
    )
    for roll in ROLLUPS:
        db.execute(_rollup_delta(roll, ""))
        db.execute(f"DELETE FROM {roll.name} WHERE n = 0")
    db.execute(
        f"INSERT INTO bal {_BAL_SELECT} AND c.path {_IN_CHANGED} GROUP BY c.path, c.responsible, c.party"
    )
    for _name, sql in found:
        db.execute(sql)
    db.execute(f"DELETE FROM {_CHANGED}")


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


def _status(record: dict[str, Any]) -> str:
    try:
        return status_of(record)
    except (AttributeError, TypeError):
        return "open"


def gaps_of(record: dict[str, Any], *, valid: bool = True, status: str | None = None) -> list[str]:
    """The GAPS codes that apply to `record` at its current stage (tolerant of invalid records);
    `status`: the record's (`status_of`), when the caller has it."""
    qc = _mapping(record.get("qc"))
    decision = _mapping(record.get("decision"))
    closure = _mapping(record.get("closure"))
    reships = _dicts(record.get("reshipments"))
    contacts = _dicts(record.get("vendor_contacts"))
    if status is None:
        status = _status(record)
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
    status = _status(record)
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
        " ".join(gaps_of(record, valid=valid, status=status)),
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
            db.execute("DELETE FROM meta WHERE key IN ('format', 'rollups')")
    db.executescript(SCHEMA)
    _ensure_rollups(db)


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
