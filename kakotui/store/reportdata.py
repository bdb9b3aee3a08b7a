"""What reports read: SQL aggregates over the index's fact tables, first-commit times, past revisions.

`FactSource` answers the handful of grouped questions reports ask (SQL does the sums, in integer
minor units; `kakotui.reports` does the meaning). Column names in SQL come only from the
whitelists here; user values travel as parameters.

`scan_first_commits` keeps, per record path, the author time of the commit that added it
(`git log --diff-filter=A`), scanning only the commits it has not seen; where the index has its
commit table (`kakotui.store.trail`, built by the index's catch-up) that table keeps them instead.
`index_at` builds (and caches under `.git/kakotui/at/`) an index of the log as it was at a past
commit, with that commit's kakotui.yaml, so every report can be reproduced at any revision.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from kakotui.core.config import CONFIG_FILE, Config, load_config
from kakotui.core.ids import is_record_path
from kakotui.core.schemas import SCHEMA_FILES, Schemas, load_schema_texts, packaged_schema_dir
from kakotui.store import facts, trail
from kakotui.store.gitrepo import Git, GitError
from kakotui.store.index import INDEX_FORMAT, PREFIX, Index, Progress

__all__ = [
    "FIRST_COMMITS_SCHEMA",
    "AtRevision",
    "Delays",
    "FactSource",
    "LoggingDelays",
    "MissingRate",
    "OpenedFacts",
    "Outstanding",
    "Scope",
    "SlaCounts",
    "Stats",
    "Sums",
    "index_at",
    "open_facts",
    "read_volume_files",
    "scan_first_commits",
]

Dated = Literal["cost", "record"]

FIRST_COMMITS_SCHEMA = trail.FIRST_COMMITS_SCHEMA

_RECORD_KEYS = frozenset(
    {"vendor", "category", "failure_code", "severity", "station", "site", "inspector", "week", "month", "day"}
)
_MONEY_KEYS = frozenset(
    {
        "responsible",
        "party",
        "month",
        "week",
        "day",
        "type",
        "carrier",
        "vendor",
        "category",
        "station",
        "outcome",
    }
)
_TIME_COLUMNS = frozenset(
    {"checked_s", "decided_s", "first_reship_s", "delivered_s", "confirmed_s", "closed_s"}
)


@dataclass(frozen=True)
class Scope:
    """The rows a question is about: inclusive local days, vendors, stations (empty = all)."""

    since: date | None = None
    until: date | None = None
    vendors: tuple[str, ...] = ()
    stations: tuple[str, ...] = ()

    def sql(
        self, day_column: str = "day", alias: str = "", *, day_index: bool = True
    ) -> tuple[str, list[Any]]:
        p = f"{alias}." if alias else ""
        parts: list[str] = []
        params: list[Any] = []
        if self.since is not None:
            parts.append(f"{'' if day_index else '+'}{p}{day_column} >= ?")
            params.append(self.since.isoformat())
        if self.until is not None:
            # without a start the range holds most rows: a table scan beats the day index's look-ups
            parts.append(f"{'' if self.since is not None and day_index else '+'}{p}{day_column} <= ?")
            params.append(self.until.isoformat())
        if self.vendors:
            parts.append(f"{p}vendor IN ({', '.join('?' for _ in self.vendors)})")
            params.extend(self.vendors)
        if self.stations:
            parts.append(f"{p}station IN ({', '.join('?' for _ in self.stations)})")
            params.extend(self.stations)
        return (" AND ".join(parts) or "1"), params


@dataclass(frozen=True)
class Stats:
    """Counts over a group of records."""

    key: tuple[str, ...]
    records: int
    units: int
    open: int
    closed: int
    reshipments: int
    reopened: int
    critical: int
    major: int
    minor: int
    with_evidence: int
    with_gaps: int


@dataclass(frozen=True)
class Sums:
    """Money over a group of cost lines or recoveries, in one original currency."""

    key: tuple[str, ...]
    currency: str
    lines: int
    amount_minor: int
    reporting_minor: int
    missing: int  # lines whose month has no FX rate (not in reporting_minor)


@dataclass(frozen=True)
class MissingRate:
    month: str
    currency: str
    lines: int
    example: str


@dataclass(frozen=True)
class Outstanding:
    """Records that still owe a party money as of a day: how many, since when, how much."""

    kind: str
    party: str
    records: int
    oldest_day: str
    balance_minor: int


@dataclass(frozen=True)
class SlaCounts:
    stage: str
    applicable: int
    on_time: int
    late: int
    overdue: int
    running: int
    breached_ids: tuple[str, ...]


@dataclass(frozen=True)
class Delays:
    """Seconds from the QC check to the first commit over a group of records."""

    records: int
    middle: tuple[int, ...]  # the middle value (odd count) or the two middle values, in order
    p90: int | None  # the nearest-rank 90th percentile
    within_hour: int  # at most 3600
    over_day: int  # more than 86400
    before_check: int  # negative


@dataclass(frozen=True)
class LoggingDelays:
    per_station: dict[str, Delays]
    total: Delays | None
    inspector_middles: dict[str, tuple[int, ...]]  # per inspector with delays: its middle value(s)
    never: int  # records in scope without a commit


def _delays(values: list[int]) -> Delays:
    ordered = sorted(values)
    n = len(ordered)
    rank = max(1, -(-9 * n // 10))  # ceil(0.9 n), as kakotui.reports.model.quantile
    return Delays(
        n,
        tuple(_middle(ordered)),
        ordered[min(rank, n) - 1] if n else None,
        sum(1 for v in ordered if v <= 3600),
        sum(1 for v in ordered if v > 86400),
        sum(1 for v in ordered if v < 0),
    )


def _keys(keys: Sequence[str], allowed: frozenset[str]) -> str:
    for key in keys:
        if key not in allowed:
            raise ValueError(f"cannot group by {key!r}")
    return ", ".join(keys)


def _unindexed(keys: Sequence[str]) -> str:
    """GROUP BY terms that no index can order: a scan and one sort beat an index walk with a look-up per row."""
    return ", ".join(f"+{k}" for k in keys)


class FactSource:
    """Grouped questions over the fact tables of one index database.

    Where the index keeps the monthly roll-ups (`kakotui.store.facts.ROLLUPS`) and a question's
    period covers whole months (or the days it leaves out of its first and last month hold no
    facts), the sums come from the roll-ups; otherwise, or with `rollups=False`, from the fact rows.
    Both give the same figures (tests/reports/test_rollups.py).
    """

    def __init__(self, db: sqlite3.Connection, *, rollups: bool = True) -> None:
        self.db = db
        # GROUP BY/ORDER BY sort in temp B-trees; on disk (SQLite's default) they cost the roll-up
        # questions 2-3x (roll_costs by party x month: 101 ms against 42 ms in memory at 100k)
        db.execute("PRAGMA temp_store=MEMORY")
        db.executescript(FIRST_COMMITS_SCHEMA)
        self.rollups = rollups and facts.rollups_ready(db)
        self._covered: dict[tuple[date | None, date | None, str], bool] = {}

    def _all(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return list(self.db.execute(sql, tuple(params)))

    # -- roll-ups ----------------------------------------------------------------------------

    def _covers(self, scope: Scope, table: str) -> bool:
        """Whether the months the scope touches hold no facts (dated by `table`.day) outside it."""
        key = (scope.since, scope.until, table)
        if key not in self._covered:  # a report asks it of every roll-up question
            self._covered[key] = self._covers_now(scope, table)
        return self._covered[key]

    def _covers_now(self, scope: Scope, table: str) -> bool:
        gaps: list[tuple[str, str]] = []
        if scope.since is not None and scope.since.day != 1:
            gaps.append((scope.since.replace(day=1).isoformat(), scope.since.isoformat()))
        if scope.until is not None:
            after = scope.until + timedelta(days=1)
            if after.day != 1:
                nxt = (after.replace(day=28) + timedelta(days=4)).replace(day=1)
                gaps.append((after.isoformat(), nxt.isoformat()))
        return not any(
            self.db.execute(f"SELECT 1 FROM {table} WHERE day >= ? AND day < ? LIMIT 1", gap).fetchone()
            for gap in gaps
        )

    def _rollup(
        self,
        table: str,
        day: str,
        scope: Scope,
        by: Sequence[str],
        responsible: Sequence[str] = (),
        *,
        name: tuple[str, ...] | None = None,
    ) -> tuple[facts.Rollup, str, list[Any], list[str]] | None:
        """The roll-up that answers a question (its name, WHERE, parameters, key terms), if any;
        `name` asks for one of those roll-ups only (the first that has the columns)."""
        if not self.rollups:
            return None
        needed = {k for k in by if k != "month"}
        needed |= {"vendor"} if scope.vendors else set()
        needed |= {"station"} if scope.stations else set()
        needed |= {"responsible"} if responsible else set()
        roll = next(
            (
                r
                for r in facts.ROLLUPS
                if r.source == table
                and r.day == day
                and needed <= set(r.keys)
                and (name is None or r.name in name)
            ),
            None,
        )
        if roll is None:
            return None
        # record-dated money is dated by its record's check day: the facts' day column tells
        if not self._covers(scope, "fact_records" if day == "checked_day" else table):
            return None
        parts: list[str] = []
        params: list[Any] = []
        # a normal day's month compares with the period's months; another day text as the day itself
        if scope.since is not None:
            parts.append("(CASE WHEN length(mday) = 7 THEN mday >= ? ELSE mday >= ? END)")
            params += [scope.since.isoformat()[:7], scope.since.isoformat()]
        if scope.until is not None:
            parts.append("(CASE WHEN length(mday) = 7 THEN mday <= ? ELSE mday <= ? END)")
            params += [scope.until.isoformat()[:7], scope.until.isoformat()]
        for column, values in (
            ("vendor", scope.vendors),
            ("station", scope.stations),
            ("responsible", responsible),
        ):
            if values:
                parts.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        terms = ["substr(mday, 1, 7)" if k == "month" else k for k in by]
        return roll, " AND ".join(parts) or "1", params, terms

    # -- records -----------------------------------------------------------------------------

    def stats(self, scope: Scope, by: Sequence[str]) -> list[Stats]:
        keys = _keys(by, _RECORD_KEYS)
        fast = self._rollup("fact_records", "day", scope, by)
        if fast is not None:
            roll, where, params, terms = fast
            group = ", ".join(terms)
            rows = self._all(
                f"SELECT {group + ', ' if terms else ''}sum(n), sum(units), sum(open), sum(closed), "
                "sum(reshipments), sum(reopened), sum(critical), sum(major), sum(minor), sum(evidence), "
                f"sum(gapped) FROM {roll.name} WHERE {where}"
                + (f" GROUP BY {group} ORDER BY {group}" if terms else ""),
                params,
            )
            return [
                Stats(tuple(str(k) for k in r[: len(by)]), *(int(v or 0) for v in r[len(by) :]))
                for r in rows
                if r[len(by)]
            ]
        where, params = scope.sql()
        select = f"{keys}, " if keys else ""
        group = f" GROUP BY {_unindexed(by)}" if keys else ""
        rows = self._all(
            f"SELECT {select}count(*), sum(quantity), sum(status <> 'closed'), sum(status = 'closed'), "
            "sum(reshipments), sum(reopenings > 0), sum(severity = 'critical'), sum(severity = 'major'), "
            f"sum(severity = 'minor'), sum(evidence > 0), sum(gaps <> '') FROM fact_records WHERE {where}{group}",
            params,
        )
        n = len(by)
        return [
            Stats(tuple(str(k) for k in r[:n]), *(int(v or 0) for v in r[n:]))
            for r in rows
            if r[n]  # an aggregate without GROUP BY returns one row even when nothing matches
        ]

    def durations(self, scope: Scope, by: str, start: str, end: str) -> list[tuple[str, int]]:
        """(group, end - start seconds) for records where both times are known."""
        _keys([by], _RECORD_KEYS)
        if start not in _TIME_COLUMNS or end not in _TIME_COLUMNS:
            raise ValueError(f"not a stage time: {start}, {end}")
        where, params = scope.sql()
        return [
            (str(k), int(d))
            for k, d in self._all(
                f"SELECT {by}, {end} - {start} FROM fact_records "
                f"WHERE {where} AND {end} IS NOT NULL AND {start} IS NOT NULL",
                params,
            )
        ]

    def repeats(self, scope: Scope) -> dict[str, int]:
        """Per vendor: records whose SKU (of that vendor) failed before, at any earlier time."""
        fast = self._rollup("fact_records", "day", scope, ["vendor"])
        if fast is not None:
            # records with a check time, less the first of each (vendor, SKU) (its earliest
            # (checked_s, id); ties all count as first): a look-up per SKU instead of a self-join
            roll, where, params, _terms = fast
            dated = dict(
                self._all(f"SELECT vendor, sum(dated) FROM {roll.name} WHERE {where} GROUP BY vendor", params)
            )
            where_r, params_r = scope.sql(alias="r")
            firsts = dict(
                self._all(
                    "WITH m AS MATERIALIZED (SELECT s.vendor, s.sku, (SELECT e.checked_s FROM fact_records e "
                    "WHERE e.vendor = s.vendor AND e.sku = s.sku AND e.checked_s IS NOT NULL "
                    "ORDER BY e.checked_s LIMIT 1) AS cs FROM roll_skus s), "
                    "k AS MATERIALIZED (SELECT m.vendor, m.sku, m.cs, (SELECT min(e.id) FROM fact_records e "
                    "WHERE e.vendor = m.vendor AND e.sku = m.sku AND e.checked_s = m.cs) AS id FROM m) "
                    "SELECT vendor, sum(n) FROM (SELECT k.vendor, (SELECT count(*) FROM fact_records r "
                    "WHERE r.vendor = k.vendor AND r.sku = k.sku AND r.checked_s = k.cs AND r.id = k.id "
                    f"AND {where_r}) AS n FROM k) GROUP BY vendor",
                    params_r,
                )
            )
            out = {str(v): int(n or 0) - int(firsts.get(v, 0)) for v, n in dated.items()}
            return {v: n for v, n in sorted(out.items()) if n}
        where, params = scope.sql(alias="r")
        return {
            str(v): int(n)
            for v, n in self._all(
                f"SELECT r.vendor, count(*) FROM fact_records r WHERE {where} AND EXISTS ("
                "SELECT 1 FROM fact_records e WHERE e.vendor = r.vendor AND e.sku = r.sku AND "
                "(e.checked_s < r.checked_s OR (e.checked_s = r.checked_s AND e.id < r.id))) GROUP BY r.vendor",
                params,
            )
        }

    def middle_durations(self, scope: Scope) -> tuple[dict[str, list[int]], list[int]]:
        """Days to close (closed_s - checked_s) in seconds: per vendor and over all, the middle value
        (odd count) or the two middle values (even count) in order, which is all a median needs."""
        if not self.rollups:
            per: dict[str, list[int]] = {}
            every: list[int] = []
            for vendor, seconds in self.durations(scope, "vendor", "checked_s", "closed_s"):
                per.setdefault(vendor, []).append(seconds)
                every.append(seconds)
            return {v: _middle(sorted(d)) for v, d in per.items()}, _middle(sorted(every))
        fast = self._rollup("fact_records", "day", scope, ["vendor"])
        if fast is not None:
            roll, where, params, _terms = fast
            counts = self._all(
                f"SELECT vendor, sum(to_close) FROM {roll.name} WHERE {where} GROUP BY vendor", params
            )
        else:
            where, params = scope.sql()
            counts = self._all(
                f"SELECT vendor, count(*) FROM fact_records WHERE {where} "
                "AND closed_s - checked_s IS NOT NULL GROUP BY +vendor",
                params,
            )
        where, params = scope.sql(day_index=False)
        out: dict[str, list[int]] = {}
        for vendor, n in counts:
            if n:
                out[str(vendor)] = self._middle_walk(
                    "fact_records_to_close", f"vendor = ? AND {where}", [vendor, *params], int(n)
                )
        total = sum(int(n or 0) for _v, n in counts)
        return out, self._middle_walk("fact_records_to_close_all", where, params, total)

    def _middle_walk(self, index: str, where: str, params: Sequence[Any], n: int) -> list[int]:
        if not n:
            return []
        return [
            int(d)
            for (d,) in self._all(
                f"SELECT closed_s - checked_s FROM fact_records INDEXED BY {index} "
                f"WHERE closed_s - checked_s IS NOT NULL AND {where} "
                "ORDER BY closed_s - checked_s LIMIT ? OFFSET ?",
                [*params, 2 - n % 2, (n - 1) // 2],
            )
        ]

    def open_ages(self, scope: Scope, as_of_s: int, as_of_day: str, bounds: Sequence[int]) -> list[int]:
        """Records open at `as_of_s`, counted per age bucket (age in days from the check date)."""
        where, params = scope.sql()
        cases = " ".join(f"WHEN age <= {int(b)} THEN {i}" for i, b in enumerate(bounds))
        if self.rollups:
            # the open records and those closed after the moment: two ranges of the closed-time index
            where_i, params_i = scope.sql(day_index=False)
            part = (
                "SELECT day FROM fact_records INDEXED BY fact_records_sla_closed_s "
                f"WHERE {{}} AND +checked_s <= ? AND {where_i}"
            )
            rows = self._all(
                f"SELECT CASE {cases} ELSE {len(bounds)} END AS bucket, count(*) FROM ("
                "SELECT CAST(julianday(?) - julianday(day) AS INTEGER) AS age FROM ("
                f"{part.format('closed_s IS NULL')} UNION ALL {part.format('closed_s > ?')})) GROUP BY bucket",
                [as_of_day, as_of_s, *params_i, as_of_s, as_of_s, *params_i],
            )
        else:
            rows = self._all(
                f"SELECT CASE {cases} ELSE {len(bounds)} END AS bucket, count(*) FROM ("
                "SELECT CAST(julianday(?) - julianday(day) AS INTEGER) AS age FROM fact_records "
                f"WHERE {where} AND checked_s <= ? AND (closed_s IS NULL OR closed_s > ?)) GROUP BY bucket",
                [as_of_day, *params, as_of_s, as_of_s],
            )
        counts = [0] * (len(bounds) + 1)
        for bucket, n in rows:
            counts[int(bucket)] = int(n)
        return counts

    def sla(
        self, scope: Scope, as_of_s: int, stage: str, column: str, days: int, limit: int = 100
    ) -> SlaCounts:
        """How records met the SLA of one stage (`days` from the QC check), as of `as_of_s`."""
        if column not in _TIME_COLUMNS:
            raise ValueError(f"not a stage time: {column}")
        where, params = scope.sql()
        applies = "final_status <> 'void' AND checked_s <= ?"
        if stage == "reship":
            applies += " AND decision = 'reship'"
        deadline = f"(checked_s + {int(days) * 86400})"
        done = f"({column} IS NOT NULL AND {column} <= ?)"
        counts = self._sla_rollup(scope, as_of_s, stage, column, days, applies, deadline, done)
        if counts is not None:
            a, on_time, late, overdue, running = counts
            return SlaCounts(
                stage,
                a,
                on_time,
                late,
                overdue,
                running,
                self._breached(scope, as_of_s, applies, deadline, done, column, limit),
            )
        row = self.db.execute(
            f"SELECT count(*), sum({done} AND {column} <= {deadline}), sum({done} AND {column} > {deadline}), "
            f"sum(NOT {done} AND {deadline} < ?), sum(NOT {done} AND {deadline} >= ?) "
            f"FROM fact_records WHERE {where} AND {applies}",
            [as_of_s, as_of_s, as_of_s, as_of_s, as_of_s, as_of_s, *params, as_of_s],
        ).fetchone()
        ids = [
            str(r[0])
            for r in self._all(
                f"SELECT id FROM fact_records WHERE {where} AND {applies} AND "
                f"(({done} AND {column} > {deadline}) OR (NOT {done} AND {deadline} < ?)) ORDER BY id LIMIT ?",
                [*params, as_of_s, as_of_s, as_of_s, as_of_s, limit + 1],
            )
        ]
        a, on_time, late, overdue, running = (int(v or 0) for v in row)
        return SlaCounts(stage, a, on_time, late, overdue, running, tuple(ids))

    def _sla_rollup(
        self,
        scope: Scope,
        as_of_s: int,
        stage: str,
        column: str,
        days: int,
        applies: str,
        deadline: str,
        done: str,
    ) -> tuple[int, int, int, int, int] | None:
        """SLA counts from the stage's roll-up (`facts.SLA_ROLLUPS`: each record's class as of a
        moment after all its times), corrected by the records whose class as of `as_of_s` differs:
        checked after it, done after it, or not done with the deadline not passed by it."""
        fast = self._rollup("fact_records", "day", scope, [], name=facts.SLA_ROLLUPS.get(stage))
        if fast is None:
            return None
        roll, where_r, params_r, _terms = fast
        limit_s = int(days) * 86400
        counts = [0, 0, 0, 0, 0]  # applicable, on time, late, overdue, running

        def add(bucket: str, n: int) -> None:
            if bucket == "x":
                return
            counts[0] += n
            if bucket == "open":
                counts[3] += n
            elif int(bucket) <= int(days):
                counts[1] += n
            else:
                counts[2] += n

        for bucket, n in self._all(f"SELECT b, sum(n) FROM {roll.name} WHERE {where_r} GROUP BY b", params_r):
            add(str(bucket), int(n))
        bucket_expr = dict(roll.computed)["b"].format(r="f")
        where, params = scope.sql(alias="f", day_index=False)
        # the records whose class differs, in three disjoint ranges of covering indexes (facts.SCHEMA):
        # checked after the moment; checked by it and done after it; checked by it, not done, and
        # the deadline not passed by it (the records without a check time are never judged)
        flags = (
            f"{bucket_expr} AS b, coalesce({applies}, 0) AS a, "
            f"coalesce({applies} AND {done} AND {column} <= {deadline}, 0) AS on_time, "
            f"coalesce({applies} AND {done} AND {column} > {deadline}, 0) AS late, "
            f"coalesce({applies} AND NOT {done} AND {deadline} < ?, 0) AS overdue, "
            f"coalesce({applies} AND NOT {done} AND {deadline} >= ?, 0) AS running"
        )
        flag_params = [as_of_s] * 11
        by_time = f"fact_records_sla_{column}"
        rows = self._all(
            "SELECT b, count(*), sum(a), sum(on_time), sum(late), sum(overdue), sum(running) FROM ("
            f"SELECT {flags} FROM fact_records f INDEXED BY fact_records_sla_checked_s "
            f"WHERE f.checked_s > ? AND {where} UNION ALL "
            f"SELECT {flags} FROM fact_records f INDEXED BY {by_time} "
            f"WHERE f.{column} > ? AND +f.checked_s <= ? AND {where} UNION ALL "
            f"SELECT {flags} FROM fact_records f INDEXED BY {by_time} "
            f"WHERE f.{column} IS NULL AND f.checked_s >= ? AND f.checked_s <= ? AND {where}"
            ") GROUP BY b",
            [
                *flag_params,
                as_of_s,
                *params,
                *flag_params,
                as_of_s,
                as_of_s,
                *params,
                *flag_params,
                as_of_s - limit_s,
                as_of_s,
                *params,
            ],
        )
        for bucket, n, *values in rows:
            add(str(bucket), -int(n))
            for i, v in enumerate(values):
                counts[i] += int(v or 0)
        return counts[0], counts[1], counts[2], counts[3], counts[4]

    def _breached(
        self, scope: Scope, as_of_s: int, applies: str, deadline: str, done: str, column: str, limit: int
    ) -> tuple[str, ...]:
        """The first breached ids (late or overdue as of `as_of_s`), walking the records in id order."""
        where, params = scope.sql(day_index=False)
        return tuple(
            str(r[0])
            for r in self._all(
                f"SELECT id FROM fact_records INDEXED BY fact_records_by_id WHERE {where} AND {applies} AND "
                f"(({done} AND {column} > {deadline}) OR (NOT {done} AND {deadline} < ?)) ORDER BY id LIMIT ?",
                [*params, as_of_s, as_of_s, as_of_s, as_of_s, limit + 1],
            )
        )

    def gaps(self, scope: Scope, codes: Sequence[str]) -> dict[str, int]:
        fast = self._rollup("fact_records", "day", scope, ["inspector"])
        if fast is not None and all(c in facts.GAP_COLUMNS for c in codes):
            roll, where_r, params_r, _terms = fast
            sums = ", ".join(f"sum({facts.GAP_COLUMNS[c]})" for c in codes)
            row = self.db.execute(f"SELECT {sums} FROM {roll.name} WHERE {where_r}", params_r).fetchone()
            return {c: int(v or 0) for c, v in zip(codes, row, strict=True)}
        where, params = scope.sql()
        sums = ", ".join("sum(instr(' ' || gaps || ' ', ?) > 0)" for _ in codes)
        row = self.db.execute(
            f"SELECT {sums} FROM fact_records WHERE {where}", [*(f" {c} " for c in codes), *params]
        ).fetchone()
        return {c: int(v or 0) for c, v in zip(codes, row, strict=True)}

    def gap_ids(self, scope: Scope, code: str, limit: int = 100) -> list[str]:
        if self.rollups:
            # the records with a gap, in id order (a partial index): the walk stops at the limit
            where, params = scope.sql(day_index=False)
            return [
                str(r[0])
                for r in self._all(
                    f"SELECT id FROM fact_records INDEXED BY fact_records_gapped WHERE gaps <> '' AND {where} "
                    "AND instr(' ' || gaps || ' ', ?) > 0 ORDER BY id LIMIT ?",
                    [*params, f" {code} ", limit + 1],
                )
            ]
        where, params = scope.sql()
        return [
            str(r[0])
            for r in self._all(
                f"SELECT id FROM fact_records WHERE {where} AND instr(' ' || gaps || ' ', ?) > 0 ORDER BY id LIMIT ?",
                [*params, f" {code} ", limit + 1],
            )
        ]

    def logging_delays(self, scope: Scope) -> tuple[list[tuple[str, str, int]], int]:
        """((station, inspector, first commit - check, in seconds) per record, records never committed)."""
        where, params = scope.sql(alias="f")
        fast = self._rollup("fact_records", "day", scope, [])
        if fast is not None:
            # the records committed, read from the first commits' side (few when the history is not
            # scanned); the others are the records in scope (roll-up) less these
            roll, where_r, params_r, _terms = fast
            total = self.db.execute(f"SELECT sum(n) FROM {roll.name} WHERE {where_r}", params_r).fetchone()[0]
            join = (
                "first_commits c CROSS JOIN fact_records f"
                if scope.since is None
                else "fact_records f JOIN first_commits c"
            )
            joined = self._all(
                f"SELECT f.station, f.inspector, c.at_s - f.checked_s FROM {join} ON f.path = c.path WHERE {where}",
                params,
            )
            rows = [(str(s), str(i), int(d)) for s, i, d in joined if d is not None]
            return rows, int(total or 0) - len(joined)
        rows = [
            (str(s), str(i), int(d))
            for s, i, d in self._all(
                "SELECT f.station, f.inspector, c.at_s - f.checked_s FROM fact_records f "
                f"JOIN first_commits c ON c.path = f.path WHERE {where} AND f.checked_s IS NOT NULL",
                params,
            )
        ]
        missing = self.db.execute(
            f"SELECT count(*) FROM fact_records f WHERE {where} AND NOT EXISTS "
            "(SELECT 1 FROM first_commits c WHERE c.path = f.path)",
            params,
        ).fetchone()[0]
        return rows, int(missing)

    def logging(self, scope: Scope) -> LoggingDelays:
        """The audit's logging delays summed up per station, overall and (middle values) per inspector."""
        fast = self._logging_fast(scope)
        if fast is not None:
            return fast
        delays, never = self.logging_delays(scope)
        per_station: dict[str, list[int]] = {}
        per_inspector: dict[str, list[int]] = {}
        for station, inspector, seconds in delays:
            per_station.setdefault(station, []).append(seconds)
            per_inspector.setdefault(inspector, []).append(seconds)
        return LoggingDelays(
            {s: _delays(v) for s, v in sorted(per_station.items())},
            _delays([d for _, _, d in delays]) if delays else None,
            {i: tuple(_middle(sorted(v))) for i, v in sorted(per_inspector.items())},
            never,
        )

    def _logging_fast(self, scope: Scope) -> LoggingDelays | None:
        """From `fact_delays` (kept by triggers, kakotui.store.facts.DELAYS): counts from its roll-up,
        medians and percentiles by walks of its ordered indexes to the entries they need."""
        records = self._rollup("fact_records", "day", scope, [])
        delays = self._rollup("fact_delays", "day", scope, [])
        if records is None or delays is None:
            return None
        triggers = {
            str(r[0])
            for r in self.db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'first_commits'"
            )
        }
        if not set(facts.DELAY_TRIGGERS[:3]) <= triggers:
            return None
        roll_f, where_f, params_f, _ = records
        total_records = int(
            self.db.execute(f"SELECT sum(n) FROM {roll_f.name} WHERE {where_f}", params_f).fetchone()[0] or 0
        )
        roll, where_r, params_r, _ = delays
        where, params = scope.sql(day_index=False)
        where_c, params_c = scope.sql(alias="f", day_index=False)
        # committed records without a check time (no delay) are not "never committed" either
        undated = int(
            self.db.execute(
                "SELECT count(*) FROM fact_records f INDEXED BY fact_records_sla_checked_s "
                f"JOIN first_commits c ON c.path = f.path WHERE f.checked_s IS NULL AND {where_c}",
                params_c,
            ).fetchone()[0]
        )

        def walk(index: str, key: str | None, value: str | None, n: int) -> Delays:
            cond = f"{key} = ? AND " if key else ""
            first = [value] if key else []
            base = f"SELECT delay FROM fact_delays INDEXED BY {index} WHERE {cond}{where}"
            middle = tuple(
                int(d)
                for (d,) in self._all(
                    f"{base} ORDER BY delay LIMIT ? OFFSET ?", [*first, *params, 2 - n % 2, (n - 1) // 2]
                )
            )
            rank = max(1, -(-9 * n // 10))
            p90 = self.db.execute(
                f"{base} ORDER BY delay DESC LIMIT 1 OFFSET ?", [*first, *params, n - min(rank, n)]
            ).fetchone()
            return Delays(n, middle, int(p90[0]), 0, 0, 0)

        stations = self._all(
            f"SELECT station, sum(n), sum(within_hour), sum(over_day), sum(before_check) FROM {roll.name} "
            f"WHERE {where_r} GROUP BY station ORDER BY station",
            params_r,
        )
        per_station: dict[str, Delays] = {}
        for station, n, hour, day, before in stations:
            if n:
                d = walk("fact_delays_station", "station", station, int(n))
                per_station[str(station)] = Delays(
                    d.records, d.middle, d.p90, int(hour), int(day), int(before)
                )
        count = sum(d.records for d in per_station.values())
        total = None
        if count:
            d = walk("fact_delays_all", None, None, count)
            total = Delays(
                count,
                d.middle,
                d.p90,
                sum(x.within_hour for x in per_station.values()),
                sum(x.over_day for x in per_station.values()),
                sum(x.before_check for x in per_station.values()),
            )
        inspectors = self._all(
            f"SELECT inspector, sum(n) FROM {roll.name} WHERE {where_r} GROUP BY inspector ORDER BY inspector",
            params_r,
        )
        middles = {
            str(i): walk("fact_delays_inspector", "inspector", i, int(n)).middle for i, n in inspectors if n
        }
        return LoggingDelays(per_station, total, middles, total_records - count - undated)

    # -- money -------------------------------------------------------------------------------

    def _money(
        self, table: str, scope: Scope, by: Sequence[str], dated: Dated, responsible: Sequence[str]
    ) -> list[Sums]:
        keys = _keys(by, _MONEY_KEYS)
        fast = self._rollup(table, "day" if dated == "cost" else "checked_day", scope, by, responsible)
        if fast is not None:
            roll, where, params, terms = fast
            group = ", ".join([*terms, "currency"])
            rows = self._all(
                f"SELECT {group}, sum(n), sum(amount), sum(reporting), sum(missing) FROM {roll.name} "
                f"WHERE {where} GROUP BY {group} ORDER BY {group}",
                params,
            )
            n = len(by)
            return [
                Sums(tuple(str(k) for k in r[:n]), str(r[n]), *(int(v or 0) for v in r[n + 1 :]))
                for r in rows
            ]
        where, params = scope.sql("day" if dated == "cost" else "checked_day")
        if responsible:
            where += f" AND responsible IN ({', '.join('?' for _ in responsible)})"
            params += list(responsible)
        select = f"{keys}, " if keys else ""
        rows = self._all(
            f"SELECT {select}currency, count(*), sum(amount_minor), sum(coalesce(reporting_minor, 0)), "
            f"sum(reporting_minor IS NULL) FROM {table} WHERE {where} GROUP BY {_unindexed([*by, 'currency'])}",
            params,
        )
        n = len(by)
        return [
            Sums(tuple(str(k) for k in r[:n]), str(r[n]), *(int(v or 0) for v in r[n + 1 :])) for r in rows
        ]

    def costs(
        self, scope: Scope, by: Sequence[str], *, dated: Dated = "cost", responsible: Sequence[str] = ()
    ) -> list[Sums]:
        """Cost lines summed per group and currency; dated by the reshipment or by the QC check."""
        return self._money("cost_lines", scope, by, dated, responsible)

    def recoveries(self, scope: Scope, by: Sequence[str], *, dated: Dated = "cost") -> list[Sums]:
        """Amounts recovered from vendors per group and currency; dated by the contact or the QC check."""
        return self._money("recoveries", scope, by, dated, ())

    def missing_rates(
        self, scope: Scope, *, dated: Dated = "cost", responsible: Sequence[str] = (), recoveries: bool = True
    ) -> list[MissingRate]:
        """Months and currencies without an FX rate among the money a report would sum."""
        out: list[MissingRate] = []
        tables = [("cost_lines", "reship_ref", responsible)]
        if recoveries:
            tables.append(("recoveries", "record_id", ()))
        for table, example, parties in tables:
            # the partial index of the amounts without a rate finds them: never the day index
            where, params = scope.sql("day" if dated == "cost" else "checked_day", day_index=False)
            if parties:
                where += f" AND responsible IN ({', '.join('?' for _ in parties)})"
                params += list(parties)
            for month, currency, n, ex in self._all(
                f"SELECT month, currency, count(*), min({example}) FROM {table} "
                f"WHERE {where} AND reporting_minor IS NULL GROUP BY month, currency",
                params,
            ):
                out.append(MissingRate(str(month), str(currency), int(n), str(ex)))
        merged: dict[tuple[str, str], MissingRate] = {}
        for m in out:
            old = merged.get((m.month, m.currency))
            merged[(m.month, m.currency)] = (
                m if old is None else MissingRate(m.month, m.currency, old.lines + m.lines, old.example)
            )
        return [merged[k] for k in sorted(merged)]

    def outstanding(self, scope: Scope, until_day: str) -> list[Outstanding]:
        """Per vendor and carrier: records whose charged cost exceeds what was recovered, up to a day."""
        if not self.rollups:
            return self._outstanding(scope, until_day)
        # rows (record x party) with nothing after the day: their balances (facts.BALANCES); the
        # others summed from their cost lines and recoveries as the plain query does
        where_a, params_a = Scope(vendors=scope.vendors, stations=scope.stations).sql()
        net = "owed - CASE WHEN kind = 'vendor' AND bknown > 0 THEN back ELSE 0 END"
        rows = self._all(
            f"SELECT kind, party, count(*), min(first_day), sum({net}) FROM bal "
            f"WHERE known > 0 AND +last_day <= ? AND {net} > 0 AND {where_a} GROUP BY kind, party",
            [until_day, *params_a],
        )
        merged = {
            (str(k), str(p)): Outstanding(str(k), str(p), int(n), str(d), int(b)) for k, p, n, d, b in rows
        }
        for o in self._outstanding(scope, until_day, late=True):
            old = merged.get((o.kind, o.party))
            merged[(o.kind, o.party)] = (
                o
                if old is None
                else Outstanding(
                    o.kind,
                    o.party,
                    old.records + o.records,
                    min(old.oldest_day, o.oldest_day),
                    old.balance_minor + o.balance_minor,
                )
            )
        return [merged[k] for k in sorted(merged)]

    def _outstanding(self, scope: Scope, until_day: str, *, late: bool = False) -> list[Outstanding]:
        where_c, params_c = Scope(vendors=scope.vendors, stations=scope.stations).sql(alias="c")
        where_r, params_r = Scope(vendors=scope.vendors, stations=scope.stations).sql(alias="v")
        if late:  # only the balance rows with an entry after the day (and a charge up to it)
            where_c += (
                " AND (c.path, c.responsible, c.party) IN "
                "(SELECT path, kind, party FROM bal WHERE last_day > ? AND first_day <= ?)"
            )
            params_c += [until_day, until_day]
            where_r += " AND v.path IN (SELECT path FROM bal WHERE last_day > ? AND first_day <= ? AND +kind = 'vendor')"
            params_r += [until_day, until_day]
        rows = self._all(
            "WITH a AS (SELECT c.path, c.responsible AS kind, c.party, sum(c.reporting_minor) AS owed, "
            "min(c.day) AS first_day FROM cost_lines c WHERE c.responsible IN ('vendor', 'carrier') "
            f"AND c.party <> '' AND c.day <= ? AND {where_c} GROUP BY c.path, c.responsible, c.party), "
            "r AS (SELECT v.path, sum(v.reporting_minor) AS back FROM recoveries v "
            f"WHERE v.day <= ? AND {where_r} GROUP BY v.path) "
            "SELECT a.kind, a.party, count(*), min(a.first_day), sum(a.owed - coalesce(r.back, 0)) FROM a "
            "LEFT JOIN r ON r.path = a.path AND a.kind = 'vendor' "
            "WHERE a.owed - coalesce(r.back, 0) > 0 GROUP BY a.kind, a.party",
            [until_day, *params_c, until_day, *params_r],
        )
        return [Outstanding(str(k), str(p), int(n), str(d), int(b)) for k, p, n, d, b in rows]

    # -- the index itself ----------------------------------------------------------------------

    def unreadable(self) -> int:
        """Record files the index could not parse (they have no facts: left out of every report)."""
        records = self.db.execute("SELECT count(*) FROM records").fetchone()[0]
        return int(records) - int(self.db.execute("SELECT count(*) FROM fact_records").fetchone()[0])

    def uncommitted(self) -> int:
        """Records read from the work tree (uncommitted edits) rather than from HEAD."""
        return int(self.db.execute("SELECT count(*) FROM fact_records WHERE worktree = 1").fetchone()[0])

    def head(self) -> str:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'head'").fetchone()
        return "" if row is None or row[0] is None else str(row[0])


def _middle(ordered: Sequence[int]) -> list[int]:
    """The middle value of an ordered list (odd length) or its two middle values (even length)."""
    if not ordered:
        return []
    mid = len(ordered) // 2
    return [ordered[mid]] if len(ordered) % 2 else [ordered[mid - 1], ordered[mid]]


# ---------------------------------------------------------------------------------------------
# First commits: how soon a QC failure reached the log's history


def _fc_meta(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT value FROM first_commits_meta WHERE key = 'head'").fetchone()
    return None if row is None else str(row[0])


def scan_first_commits(git: Git, db: sqlite3.Connection, head: str | None) -> int:
    """Record the first commit that added each record file, up to `head`; returns commits read.

    One `git log --diff-filter=A --name-only` pass over the commits not scanned before (all of
    them the first time, or when history was rewritten); author time, because that is when the
    person saved (a rebase or a sync keeps it, and changes the committer time).
    """
    db.executescript(FIRST_COMMITS_SCHEMA)
    if head is None:
        return 0
    if trail.update(git, db, head, build=False):
        return 0  # the index's commit table keeps first_commits as it goes (kakotui.store.trail)
    seen = _fc_meta(db)
    if seen == head:
        return 0
    rev_range = head
    if seen is not None:
        try:  # `head..seen` is empty exactly when the scanned commit is still in head's history
            ancestor = not git.run("rev-list", "--max-count=1", "--end-of-options", f"{head}..{seen}").strip()
        except GitError:
            ancestor = False
        if ancestor:
            rev_range = f"{seen}..{head}"
        else:
            with db:
                db.execute("DELETE FROM first_commits")
    out = git.run(
        "log",
        "--reverse",
        "--diff-filter=A",
        "--no-renames",
        "--format=%x00%H %at",
        "--name-only",
        "--end-of-options",
        rev_range,
        "--",
        PREFIX,
    )
    rows: list[tuple[str, int, str]] = []
    commits = 0
    for block in out.split(b"\0"):
        if not block.strip():
            continue
        lines = block.decode("utf-8", "surrogateescape").splitlines()
        sha, _, when = lines[0].partition(" ")
        commits += 1
        for path in lines[1:]:
            if path and is_record_path(path):
                rows.append((path, int(when), sha))
    with db:
        # earliest first: a path added again later keeps its first time
        db.executemany("INSERT OR IGNORE INTO first_commits(path, at_s, sha) VALUES (?, ?, ?)", rows)
        db.execute("INSERT OR REPLACE INTO first_commits_meta(key, value) VALUES ('head', ?)", (head,))
    return commits


# ---------------------------------------------------------------------------------------------
# The log at a past revision


@dataclass(frozen=True)
class AtRevision:
    commit: str
    path: Path
    config: Config
    built: bool


def _config_at(git: Git, commit: str) -> tuple[Config, Schemas]:
    texts: dict[str, str] = {}
    for name, file in SCHEMA_FILES.items():
        try:
            texts[name] = git.read_blob(commit, f"schema/{file}").decode("utf-8")
        except GitError:
            texts[name] = load_schema_texts(packaged_schema_dir())[name]
    schemas = Schemas(texts)
    try:
        raw = git.read_blob(commit, CONFIG_FILE)
    except GitError:
        raise GitError(f"{commit[:10]} has no {CONFIG_FILE}: it is not a revision of this log") from None
    config, problems = load_config(raw, schemas)
    if config is None:
        raise GitError(
            f"{CONFIG_FILE} at {commit[:10]} is invalid: " + "; ".join(str(p) for p in problems[:3])
        )
    return config, schemas


def index_at(git: Git, rev: str, *, progress: Progress | None = None, keep: int = 4) -> AtRevision:
    """An index of the log as it was at `rev` (its records, its kakotui.yaml), cached per commit.

    The first time for a commit this reads and validates every record file of that commit (the
    cost of a full index rebuild) and scans the history up to it for first commits; afterwards it
    is a file open. The `keep` most recently used caches are kept.
    """
    commit = git.rev_parse(f"{rev}^{{commit}}")
    folder = git.git_dir / "kakotui" / "at"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{commit}.sqlite"
    config, schemas = _config_at(git, commit)
    if target.is_file():
        db = sqlite3.connect(target)
        try:
            fmt = db.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()
        except sqlite3.DatabaseError:
            fmt = None
        finally:
            db.close()
        if fmt is not None and fmt[0] == INDEX_FORMAT:
            os.utime(target)
            return AtRevision(commit, target, config, False)
        target.unlink()
    partial = folder / f"{commit}.partial-{os.getpid()}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(partial) + suffix).unlink(missing_ok=True)
    index = Index(git, schemas, config, path=partial)
    try:
        entries = [(p, s) for p, s in git.ls_tree(commit, PREFIX) if is_record_path(p)]
        if progress:
            progress(0, len(entries))
        with index.db:
            index._upsert(index._rows_from_blobs(entries, progress, len(entries)))
            index._set_meta("head", commit)
            index._set_meta("format", INDEX_FORMAT)
        scan_first_commits(git, index.db, commit)
        index.db.execute("PRAGMA journal_mode=DELETE")
    finally:
        index.close()
    os.replace(partial, target)
    for old in sorted(folder.glob("*.sqlite"), key=lambda p: p.stat().st_mtime, reverse=True)[keep:]:
        old.unlink(missing_ok=True)
    return AtRevision(commit, target, config, True)


# ---------------------------------------------------------------------------------------------
# Inspected volumes (volumes/YYYY-MM.yaml)

VOLUMES_DIR = "volumes/"


def read_volume_files(git: Git, commit: str | None) -> dict[str, bytes]:
    """File name -> content of volumes/*.yaml: from the work tree, or from `commit` when given."""
    if commit is None:
        folder = git.root / VOLUMES_DIR
        if not folder.is_dir():
            return {}
        return {
            p.name: p.read_bytes()
            for p in sorted(folder.glob("*.yaml"))
            if p.is_file() and not p.is_symlink()
        }
    files: dict[str, bytes] = {}
    for path, sha in git.ls_tree(commit, VOLUMES_DIR):
        name = path[len(VOLUMES_DIR) :]
        if "/" not in name and name.endswith(".yaml"):
            files[name] = git.read_blob(sha)
    return files


VOLUMES_SCHEMA = "volumes.schema.json"


def volumes_schema_text(git: Git, commit: str | None) -> str:
    """The volumes schema the log carries (work tree or `commit`), else the packaged one."""
    try:
        if commit is None:
            own = git.root / "schema" / VOLUMES_SCHEMA
            if own.is_file() and not own.is_symlink():
                return own.read_text("utf-8")
        else:
            return git.read_blob(commit, f"schema/{VOLUMES_SCHEMA}").decode("utf-8")
    except (GitError, OSError, UnicodeDecodeError):
        pass
    return (packaged_schema_dir() / VOLUMES_SCHEMA).read_text("utf-8")


@dataclass
class OpenedFacts:
    """The facts a report is computed from: the live index, or a past revision's (close it after)."""

    source: FactSource
    config: Config
    revision: str
    live: bool
    commit_time: datetime | None
    volume_files: dict[str, bytes]
    volumes_schema: str
    connection: sqlite3.Connection | None = None

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def open_facts(
    git: Git,
    index: Index,
    *,
    at: str | None = None,
    first_commits: bool = False,
    progress: Progress | None = None,
) -> OpenedFacts:
    """Open the facts of the live index (as caught up by the caller), or of the log at revision `at`.

    `first_commits` brings the first-commit times up to date first (only the audit needs them).
    """
    if at is None:
        source = FactSource(index.db)
        if first_commits:
            scan_first_commits(git, index.db, index.head)
        head = index.head or ""
        uncommitted = source.uncommitted()
        revision = head[:12] + (f" + {uncommitted} uncommitted file(s)" if uncommitted else "")
        return OpenedFacts(
            source,
            index.config,
            revision or "(no commits)",
            True,
            None,
            read_volume_files(git, None),
            volumes_schema_text(git, None),
        )
    built = index_at(git, at, progress=progress)
    db = sqlite3.connect(built.path, check_same_thread=False)
    when = int(git.run("log", "-1", "--format=%ct", "--end-of-options", built.commit, "--").strip() or 0)
    return OpenedFacts(
        FactSource(db),
        built.config,
        built.commit[:12],
        False,
        datetime.fromtimestamp(when, built.config.tz),
        read_volume_files(git, built.commit),
        volumes_schema_text(git, built.commit),
        db,
    )
