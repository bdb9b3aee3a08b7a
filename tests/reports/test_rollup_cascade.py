"""The roll-ups summed from wider roll-ups (kakotui.store.facts._rollup_plan, `_fill_rollups`) equal
the roll-ups summed from the facts (`_rollup_fill`), row for row, over a generated log and one with
odd days (empty, ISO week dates) and money without an FX rate; and the cascade does fire."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from kakotui.store import facts
from kakotui.store.index import Index
from tests.reports.test_rollups import _first_commits, _index, built, generated

__all__ = ["built", "generated"]  # the fixtures of test_rollups, used here


def _odd(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Days that are empty or not YYYY-MM-DD, ties on the check time, money without a rate."""
    out = copy.deepcopy(records[:600])
    for i, record in enumerate(out):
        qc = record["qc"]
        if i % 40 == 0:
            qc["checked_at"] = ""
        elif i % 40 == 1:
            qc["checked_at"] = "2026-W10-1T10:00:00+08:00"
        elif i % 40 == 2:
            qc["checked_at"] = out[i - 1]["qc"]["checked_at"]
            qc["vendor"] = out[i - 1]["qc"]["vendor"]
        if i % 5 == 0:
            for reship in record.get("reshipments", []):
                reship["created_at"] = "2020-01-15T10:00:00+08:00"  # no FX rate for that month
    return out


@pytest.fixture(scope="module")
def odd(generated: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    index = _index(tmp_path_factory.mktemp("odd"), _odd(generated))
    yield index
    index.close()


def _rows(db: sqlite3.Connection, roll: facts.Rollup) -> list[tuple[Any, ...]]:
    cols = [*roll.columns, *(v for v, _ in roll.values)]
    return db.execute(f"SELECT {', '.join(cols)} FROM {roll.name} ORDER BY {', '.join(cols)}").fetchall()


def _master(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
    names = ", ".join(f"'{roll.name}'" for roll in facts.ROLLUPS)
    return db.execute(
        f"SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name IN ({names}) "
        f"OR (type = 'trigger' AND name IN (SELECT name || '_add' FROM sqlite_master WHERE name IN ({names})"
        f" UNION SELECT name || '_sub' FROM sqlite_master WHERE name IN ({names}))) ORDER BY rowid"
    ).fetchall()


def _check(index: Index) -> None:
    """On a copy of the index: the roll-ups `_fill_rollups` makes, then each filled from the facts."""
    _first_commits(index)  # first commits for most records: `fact_delays` and `roll_delays` have rows
    db = sqlite3.connect(":memory:", isolation_level=None)
    try:
        index.db.backup(db)
        # the shape the former fill made (each roll-up's table and triggers, in the order of ROLLUPS)
        db.execute("BEGIN IMMEDIATE")
        for roll in facts.ROLLUPS:
            db.execute(f"DROP TRIGGER IF EXISTS {roll.name}_add")
            db.execute(f"DROP TRIGGER IF EXISTS {roll.name}_sub")
            db.execute(f"DROP TABLE IF EXISTS {roll.name}")
        for roll in facts.ROLLUPS:
            for statement in facts._rollup_ddl(roll):
                db.execute(statement)
        db.execute("COMMIT")
        expected_master = _master(db)
        assert [name for _type, name, _tbl, _sql in expected_master] == [
            name for roll in facts.ROLLUPS for name in (roll.name, f"{roll.name}_add", f"{roll.name}_sub")
        ]

        db.execute("BEGIN IMMEDIATE")
        facts._fill_rollups(db)
        db.execute("COMMIT")
        assert _master(db) == expected_master  # tables and triggers unchanged, in the same order
        cascade = {roll.name: _rows(db, roll) for roll in facts.ROLLUPS}

        db.execute("BEGIN IMMEDIATE")
        for roll in facts.ROLLUPS:
            db.execute(f"DELETE FROM {roll.name}")
            db.execute(facts._rollup_fill(roll))
        db.execute("COMMIT")
        for roll in facts.ROLLUPS:
            direct = _rows(db, roll)
            assert direct, roll.name  # every roll-up has rows: the comparison means something
            assert cascade[roll.name] == direct, roll.name
    finally:
        db.close()


def test_the_cascade_fires() -> None:
    plan = facts._rollup_plan(facts.ROLLUPS)
    assert sorted(roll.name for roll, _base in plan) == sorted(roll.name for roll in facts.ROLLUPS)
    derived = {roll.name: base.name for roll, base in plan if base is not None}
    assert len(derived) >= 4, derived
    # the obvious ones, and a min/max-free, same-source, same-month base filled before each
    assert derived["roll_records_month"] == "roll_records"
    assert derived["roll_records_category"] == "roll_records_month"
    assert derived["roll_sla_close_all"] == "roll_sla_close"
    assert derived["roll_costs_party"] == "roll_costs"
    assert derived["roll_costs_category_all"] == "roll_costs_category"
    order = [roll.name for roll, _base in plan]
    by_name = {roll.name: roll for roll in facts.ROLLUPS}
    for narrow, wide in derived.items():
        assert order.index(wide) < order.index(narrow)
        n, w = by_name[narrow], by_name[wide]
        assert (n.source, n.day, n.values) == (w.source, w.day, w.values)
        assert set(n.columns) < set(w.columns)
    for name in ("roll_costs_checked", "roll_recoveries_checked", "roll_audit", "roll_skus", "roll_delays"):
        assert name not in derived  # another month column, other values or no wider roll-up
    assert plan == facts._ROLLUP_PLAN


def test_cascade_equals_the_facts(built: Index) -> None:
    _check(built)


def test_cascade_equals_the_facts_odd_days(odd: Index) -> None:
    odd_days = {r[0] for r in odd.db.execute("SELECT mday FROM roll_records WHERE length(mday) <> 7")}
    assert odd_days == {"", "2026-W10-1"}
    assert odd.db.execute("SELECT count(*) FROM roll_costs WHERE missing > 0").fetchone()[0]
    _check(odd)
