"""The roll-ups (kakotui.store.facts.ROLLUPS, BALANCES) give exactly the reports the fact scans give.

Every report is computed twice over the same generated index: through `FactSource` as reports use
it (roll-ups where the period allows) and with `rollups=False` (the straightforward scans of the
fact rows), for several periods, filters and as-of moments; and the roll-ups an index keeps through
incremental writes and deletes equal the ones computed afresh from its facts.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from kakotui.core.config import Config
from kakotui.core.ids import RecordId
from kakotui.core.record import summarize
from kakotui.core.schemas import Schemas, load_schema_texts, packaged_schema_dir
from kakotui.interchange import sample
from kakotui.reports import compute
from kakotui.reports.model import Filters
from kakotui.reports.render import render
from kakotui.store import facts
from kakotui.store.gitrepo import init_repo
from kakotui.store.index import SUMMARY_COLUMNS, Index
from kakotui.store.reportdata import FIRST_COMMITS_SCHEMA, FactSource, OpenedFacts, Scope

START, END = date(2026, 1, 1), date(2026, 6, 20)
NOW = datetime.fromisoformat("2026-06-25T12:00:00+08:00")
REPORTS = ("scorecard", "costs", "reconcile", "trends", "audit")


def _rows(records: list[dict[str, Any]], config: Config) -> Iterator[tuple[Any, ...]]:
    for record in records:
        values = summarize(record, config).__dict__
        yield (
            RecordId.parse(record["id"]).path,
            "0" * 40,
            *(values[c] for c in SUMMARY_COLUMNS),
            1,
            "[]",
            0,
            json.dumps(record, ensure_ascii=False),
        )


def _index(root: Path, records: list[dict[str, Any]]) -> Index:
    git = init_repo(root)
    config = Config.from_data(sample.sample_config())
    index = Index(git, Schemas(load_schema_texts()), config)
    with index.db:
        index._upsert(_rows(records, config))
    return index


@pytest.fixture(scope="module")
def generated() -> list[dict[str, Any]]:
    return sample.generate(1500, start=START, end=END)


@pytest.fixture(scope="module")
def built(generated: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    index = _index(tmp_path_factory.mktemp("rollups"), generated)
    yield index
    index.close()


def _opened(db: sqlite3.Connection, config: Config, *, rollups: bool) -> OpenedFacts:
    schema = (packaged_schema_dir() / "volumes.schema.json").read_text("utf-8")
    return OpenedFacts(FactSource(db, rollups=rollups), config, "test", True, None, {}, schema)


def _both(index: Index, name: str, filters: Filters, **options: Any) -> tuple[str, str]:
    out = []
    for rollups in (True, False):
        report = compute(name, _opened(index.db, index.config, rollups=rollups), filters, now=NOW, **options)
        out.append(render(report, "json") + repr(report))
    return out[0], out[1]


PERIODS = [
    (None, None),  # all time, as of now
    (None, END),  # all time up to the last day with data
    (None, date(2026, 5, 31)),  # up to a month's end: later charges and recoveries are left out
    (date(2026, 3, 1), date(2026, 3, 31)),  # one month
    (date(2026, 2, 1), date(2026, 4, 30)),  # a quarter
    (date(2026, 3, 10), date(2026, 4, 20)),  # partial months: the fact scans
    (date(2026, 6, 1), None),  # from a month to now
    (date(2026, 6, 1), date(2026, 6, 30)),  # the last month: its days after the data are empty
]


@pytest.mark.parametrize("since,until", PERIODS)
@pytest.mark.parametrize("name", REPORTS)
def test_reports_equal_to_the_fact_scans(
    built: Index, name: str, since: date | None, until: date | None
) -> None:
    assert facts.rollups_ready(built.db)
    fast, slow = _both(built, name, Filters(since, until))
    assert fast == slow


@pytest.mark.parametrize(
    "filters",
    [
        Filters(vendors=("hx-leather",)),
        Filters(date(2026, 2, 1), date(2026, 5, 31), stations=("SZ1",)),
        Filters(
            date(2026, 4, 1),
            date(2026, 4, 30),
            vendors=("hx-leather", "gz-baiyun-apparel"),
            stations=("SZ1",),
        ),
        Filters(None, date(2026, 3, 31), vendors=("nobody",)),
    ],
)
@pytest.mark.parametrize("name", REPORTS)
def test_filtered_reports_equal(built: Index, name: str, filters: Filters) -> None:
    fast, slow = _both(built, name, filters)
    assert fast == slow


@pytest.mark.parametrize("by,group", [("week", "vendor"), ("week", "station"), ("month", "station")])
def test_trend_variants_equal(built: Index, by: str, group: str) -> None:
    for since, until in PERIODS:
        fast, slow = _both(built, "trends", Filters(since, until), by=by, group=group)
        assert fast == slow


def _rollup_tables(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    names = [r.name for r in facts.ROLLUPS] + ["bal", "fact_delays"]
    return {n: sorted(db.execute(f"SELECT * FROM {n}"), key=repr) for n in names}


def _changed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Some records edited: another vendor, another check month, costs and recoveries dropped."""
    out = copy.deepcopy(records)
    for i, record in enumerate(out):
        qc = record["qc"]
        if i % 7 == 0:
            qc["vendor"] = "hx-leather"
        if i % 11 == 0:
            qc["checked_at"] = "2026-02-14" + str(qc["checked_at"])[10:]
        if i % 13 == 0:
            record.pop("reshipments", None)
        if i % 17 == 0:
            record.pop("vendor_contacts", None)
    return out


def test_incremental_rollups_equal_a_rebuild(generated: list[dict[str, Any]], tmp_path: Path) -> None:
    first = generated[:900]
    final = _changed(generated[300:])  # 300 deleted, 600 edited, 600 added
    live = _index(tmp_path / "live", first)
    try:
        with live.db:
            live.db.executemany(
                "DELETE FROM records WHERE path = ?",
                [(RecordId.parse(r["id"]).path,) for r in generated[:300]],
            )
            live._upsert(_rows(final, live.config))
        rebuilt = _index(tmp_path / "rebuilt", final)
        try:
            assert _rollup_tables(live.db) == _rollup_tables(rebuilt.db)
            # and both equal the roll-ups filled afresh from the facts (what `ensure` does)
            live.db.execute("DELETE FROM meta WHERE key = 'rollups'")
            live.db.commit()
            facts.ensure(live.db)
            assert _rollup_tables(live.db) == _rollup_tables(rebuilt.db)
            for name in REPORTS:
                for since, until in PERIODS:
                    fast, slow = _both(live, name, Filters(since, until))
                    assert fast == slow
        finally:
            rebuilt.close()
    finally:
        live.close()


def test_whole_months_take_the_rollups(built: Index) -> None:
    """The periods above that should use the roll-ups do (else the test compares a scan with itself)."""
    source = FactSource(built.db)
    assert source.rollups
    taken = {
        (since, until): source._rollup("fact_records", "day", _scope(since, until), ["vendor"]) is not None
        for since, until in PERIODS
    }
    assert taken[(None, None)] and taken[(None, END)] and taken[(date(2026, 3, 1), date(2026, 3, 31))]
    assert taken[(date(2026, 6, 1), date(2026, 6, 30))]  # June 21-30 hold no facts
    assert not taken[(date(2026, 3, 10), date(2026, 4, 20))]
    assert FactSource(built.db, rollups=False)._rollup("fact_records", "day", _scope(None, None), []) is None


def _scope(since: date | None, until: date | None) -> Any:
    from kakotui.store.reportdata import Scope

    return Scope(since, until)


def test_reports_at_past_revisions_equal(fixed: Any, commits: dict[str, str]) -> None:
    """`--at REV` (an index of a past commit) and the live index, with and without the roll-ups."""
    from kakotui.store.reportdata import open_facts

    periods = [(None, None), (date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 10, 1), date(2026, 11, 30))]
    for at in [None, *sorted(set(commits.values()))]:
        opened = open_facts(fixed.git, fixed.index, at=at)
        try:
            db = opened.source.db
            assert opened.source.rollups
            for name in (*REPORTS, "meeting"):
                for since, until in periods:
                    filters = Filters(since, until)
                    try:
                        fast = compute(name, opened, filters, now=NOW)
                    except Exception as exc:  # a missing FX rate: both paths must refuse alike
                        slow_opened = OpenedFacts(
                            FactSource(db, rollups=False), *(getattr(opened, f) for f in _OPENED_REST)
                        )
                        with pytest.raises(type(exc), match=None):
                            compute(name, slow_opened, filters, now=NOW)
                        continue
                    slow_opened = OpenedFacts(
                        FactSource(db, rollups=False), *(getattr(opened, f) for f in _OPENED_REST)
                    )
                    slow = compute(name, slow_opened, filters, now=NOW)
                    assert render(fast, "json") + repr(fast) == render(slow, "json") + repr(slow)
        finally:
            opened.close()


_OPENED_REST = ("config", "revision", "live", "commit_time", "volume_files", "volumes_schema")


def _outcome(index: Index, name: str, filters: Filters, rollups: bool) -> str:
    try:
        report = compute(name, _opened(index.db, index.config, rollups=rollups), filters, now=NOW)
    except Exception as exc:  # a missing FX rate: both paths must refuse alike
        return f"{type(exc).__name__}: {exc}"
    return render(report, "json") + repr(report)


def test_odd_records_equal(generated: list[dict[str, Any]], tmp_path: Path) -> None:
    """Days that are empty or not YYYY-MM-DD, duplicate check times, money without a rate."""
    records = copy.deepcopy(generated[:600])
    for i, record in enumerate(records):
        qc = record["qc"]
        if i % 50 == 0:
            qc["checked_at"] = ""  # no day: in every period without a start
        elif i % 50 == 1:
            qc["checked_at"] = "2026-W10-1T10:00:00+08:00"  # an ISO week date: day text '2026-W10-1'
        elif i % 50 == 2:
            qc["checked_at"] = records[i - 1]["qc"]["checked_at"]  # a tie on the check time
            qc["sku"] = records[i - 1]["qc"]["sku"]
            qc["vendor"] = records[i - 1]["qc"]["vendor"]
        foreign = any(
            (line.get("amount") or {}).get("currency") not in (None, "CNY")
            for reship in record.get("reshipments", [])
            for line in reship.get("costs", [])
        )
        if foreign and i % 5 == 0:
            for reship in record.get("reshipments", []):
                reship["created_at"] = "2020-01-15T10:00:00+08:00"  # no FX rate for that month
    index = _index(tmp_path, records)
    try:
        odd = {r[0] for r in index.db.execute("SELECT mday FROM roll_records WHERE length(mday) <> 7")}
        assert odd == {"", "2026-W10-1"}
        assert index.db.execute("SELECT count(*) FROM roll_costs WHERE missing > 0").fetchone()[0]
        periods = [*PERIODS, (None, date(2027, 12, 31)), (date(2026, 3, 1), date(2027, 3, 31))]
        for name in REPORTS:
            for since, until in periods:
                filters = Filters(since, until)
                assert _outcome(index, name, filters, True) == _outcome(index, name, filters, False)
    finally:
        index.close()


# ---------------------------------------------------------------------------------------------
# The audit: SLA roll-ups (classes as of a moment after every time) corrected by the records whose
# class differs as of the report's moment, gap counts and inspectors from `roll_audit`, the open
# records and the id-ordered drill-downs from covering indexes, logging delays from first commits


def _first_commits(index: Index, share: int = 3) -> None:
    """First commits for most records: delays from before the check to days after it; some none."""
    rows = []
    for i, (path, checked) in enumerate(
        index.db.execute("SELECT path, checked_s FROM fact_records ORDER BY path")
    ):
        if i % share == 0 or checked is None:
            continue
        delay = [-300, 0, 60, 3599, 3600, 3601, 86400, 86401, 7 * 86400][i % 9] + (i % 97) * 13
        rows.append((path, int(checked) + delay, "0" * 40))
    with index.db:
        index.db.executescript(FIRST_COMMITS_SCHEMA)
        index.db.execute("DELETE FROM first_commits")
        index.db.executemany("INSERT INTO first_commits(path, at_s, sha) VALUES (?, ?, ?)", rows)


def _audit_both(index: Index, config: Config, name: str, filters: Filters, now: datetime) -> tuple[str, str]:
    out = []
    for rollups in (True, False):
        schema = (packaged_schema_dir() / "volumes.schema.json").read_text("utf-8")
        opened = OpenedFacts(FactSource(index.db, rollups=rollups), config, "test", True, None, {}, schema)
        try:
            report = compute(name, opened, filters, now=now)
        except Exception as exc:  # a period after the moment: both paths must refuse alike
            out.append(f"{type(exc).__name__}: {exc}")
            continue
        out.append(render(report, "json") + repr(report))
    return out[0], out[1]


AUDIT_MOMENTS = [
    NOW,
    datetime.fromisoformat("2026-03-15T09:30:00+08:00"),  # mid-data: many classes not settled yet
    datetime.fromisoformat("2026-01-01T00:00:00+08:00"),  # before (almost) every record
    datetime.fromisoformat("2027-06-01T00:00:00+08:00"),  # long after: every class settled
]


@pytest.mark.parametrize(
    "sla", [{"decide": 1, "reship": 3, "close": 14}, {"decide": 0, "close": 2}, {"reship": 30}]
)
def test_audit_equal_across_moments_and_slas(
    generated: list[dict[str, Any]], tmp_path: Path, sla: Any
) -> None:
    index = _index(tmp_path, generated[:900])
    try:
        _first_commits(index)
        data = sample.sample_config()
        data["sla_days"] = sla
        config = Config.from_data(data)
        filters_list = [
            *(Filters(since, until) for since, until in PERIODS),
            Filters(vendors=("hx-leather",)),
            Filters(date(2026, 4, 1), date(2026, 4, 30), stations=("SZ1",)),
            Filters(None, date(2026, 3, 31), vendors=("nobody",)),
        ]
        for now in AUDIT_MOMENTS:
            for filters in filters_list:
                for name in ("audit", "meeting"):
                    fast, slow = _audit_both(index, config, name, filters, now)
                    assert fast == slow, (name, filters, now)
        # the logging section is not empty (else it would compare nothing)
        report = compute("audit", _opened(index.db, config, rollups=True), Filters(), now=NOW)
        assert report.part("logging").rows and report.part("logging").totals is not None
    finally:
        index.close()


def test_audit_takes_the_fast_paths(built: Index) -> None:
    """The SLA, gap and inspector questions of whole months use their roll-ups."""
    source = FactSource(built.db)
    scope = _scope(None, END)
    for stage, names in facts.SLA_ROLLUPS.items():
        fast = source._rollup("fact_records", "day", scope, [], name=names)
        assert fast is not None and fast[0].name == names[0], stage  # the whole log: the narrow one
        one_vendor = Scope(scope.since, scope.until, vendors=("hx-leather",))
        fast = source._rollup("fact_records", "day", one_vendor, [], name=names)
        assert fast is not None and fast[0].name == names[1], stage  # by vendor: the one that has it
    fast = source._rollup("fact_records", "day", scope, ["inspector"])
    assert fast is not None and fast[0].name == "roll_audit"
    assert source._logging_fast(scope) is not None
    assert source._logging_fast(_scope(date(2026, 3, 10), date(2026, 4, 20))) is None  # partial months


def test_delays_kept_by_triggers(generated: list[dict[str, Any]], tmp_path: Path) -> None:
    """`fact_delays` and its roll-up follow every change of first commits and of records."""
    index = _index(tmp_path, generated[:600])
    try:
        _first_commits(index)  # inserted after the records
        paths = [r[0] for r in index.db.execute("SELECT path FROM fact_records ORDER BY path")]
        with index.db:
            # an earlier commit found (the trail's upsert), some forgotten, some added
            index.db.executemany(
                "INSERT INTO first_commits(path, at_s, sha) VALUES (?, ?, ?) ON CONFLICT(path) DO UPDATE "
                "SET at_s = excluded.at_s, sha = excluded.sha WHERE excluded.at_s < first_commits.at_s",
                [(p, 1767225600 + i, "1" * 40) for i, p in enumerate(paths[::5])],
            )
            index.db.executemany("DELETE FROM first_commits WHERE path = ?", [(p,) for p in paths[1::7]])
        # records edited (facts deleted and written again), some deleted
        changed = _changed(generated[100:600])
        with index.db:
            index.db.executemany(
                "DELETE FROM records WHERE path = ?",
                [(RecordId.parse(r["id"]).path,) for r in generated[:100]],
            )
            index._upsert(_rows(changed, index.config))
        kept = sorted(index.db.execute("SELECT * FROM fact_delays"))
        fresh = sorted(
            index.db.execute(
                "SELECT f.path, f.day, f.vendor, f.station, f.inspector, c.at_s - f.checked_s FROM fact_records f "
                "JOIN first_commits c ON c.path = f.path WHERE f.checked_s IS NOT NULL"
            )
        )
        assert kept == fresh and len(kept) > 300
        before = _rollup_tables(index.db)
        index.db.execute("DELETE FROM meta WHERE key = 'rollups'")
        index.db.commit()
        facts.ensure(index.db)
        assert _rollup_tables(index.db) == before
        for now in AUDIT_MOMENTS[:2]:
            for since, until in PERIODS:
                fast, slow = _audit_both(index, index.config, "audit", Filters(since, until), now)
                assert fast == slow
    finally:
        index.close()
