"""The index's fast write paths write exactly what the plain ones write.

- a rebuild empties the tables, drops their secondary indexes and triggers, appends the rows and
  makes the indexes and roll-ups at the end (`facts.bulk_begin`/`bulk_end`): the same tables, rows
  and schema as rows written one by one through the triggers;
- a catch-up of many records replaces their facts set-wise (`facts.replacing`): the same as through
  the triggers;
- blobs are read from the work tree only when the file there is that blob (its id is checked);
- a rebuild that fails half-way leaves the index as it was (one transaction).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kakotui.core.ids import is_record_path
from kakotui.core.record import to_text
from kakotui.demo import build_demo
from kakotui.log import ExceptionLog
from kakotui.store import facts
from kakotui.store import index as index_module
from kakotui.store.index import Index
from tests.helpers import git

SKIP = ("meta", "trail_meta", "first_commits_meta")


def dump(path: Path) -> tuple[dict[str, list[Any]], set[tuple[str, str, str]]]:
    """Every table's rows (sorted) and the schema (indexes, triggers, tables) of an index file."""
    db = sqlite3.connect(path)
    try:
        names = [
            str(r[0])
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        rows = {
            n: sorted(db.execute(f"SELECT * FROM {n}").fetchall(), key=repr) for n in names if n not in SKIP
        }
        schema = {
            (str(t), str(n), str(s))
            for t, n, s in db.execute(
                "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
            )
        }
    finally:
        db.close()
    return rows, schema


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = build_demo(tmp_path_factory.mktemp("bulk") / "log")
    root = log.root
    log.close()
    return root


def _entries(log: ExceptionLog) -> list[tuple[str, str]]:
    head = log.git.head()
    assert head is not None
    return [(p, s) for p, s in log.git.ls_tree(head, "records/") if is_record_path(p)]


def test_a_rebuild_writes_what_rows_written_one_by_one_write(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ExceptionLog(demo) as log:
        assert log.index.build_trail()
        log.rebuild_index()
        built = dump(log.index.path)
        # the plain path: every row through INSERT OR REPLACE and the triggers, into an empty index
        monkeypatch.setattr(index_module, "_SET_MIN", 10**9)
        plain = Index(log.git, log.schemas, log.config, path=tmp_path / "plain.sqlite")
        plain.build_trail()
        with plain.db:
            entries = _entries(log)
            plain._upsert(plain._rows_from_blobs(entries, None, len(entries)))
        plain.close()
    rows, schema = dump(tmp_path / "plain.sqlite")
    assert built[0] == rows
    assert built[1] == schema
    assert len(rows["records"]) > 40 and rows["cost_lines"] and rows["roll_records"] and rows["fact_delays"]


def _change_records(root: Path, log: ExceptionLog, count: int) -> None:
    """A commit from elsewhere that edits `count` records (moving them between roll-up keys), deletes
    two and leaves the work tree as a pull would."""
    entries = _entries(log)
    for n, (path, _sha) in enumerate(entries[:count]):
        record = log.get(Path(path).stem).record
        assert record is not None
        qc = record["qc"]
        qc["description"] = f"Checked again ({n})."
        if n % 2:
            qc["quantity"] = int(qc.get("quantity") or 1) + 3
        if n % 3 == 0:
            qc["checked_at"] = "2026-02-02T09:00:00+08:00"
        (root / path).write_text(to_text(record, log.schemas), encoding="utf-8")
    for path, _sha in entries[-2:]:
        (root / path).unlink()
    git(root, "add", "-A", "records")
    git(root, "-c", "user.name=Elsewhere", "-c", "user.email=e@example.com", "commit", "-q", "-m", "incoming")


@pytest.mark.parametrize("trail_built", [True, False])
def test_a_catch_up_of_many_records_writes_what_the_triggers_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trail_built: bool
) -> None:
    root = tmp_path / "log"
    build_demo(root).close()
    with ExceptionLog(root) as log:
        log.refresh()
        if trail_built:
            assert log.index.build_trail()
        log.index.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        start = tmp_path / "start.sqlite"
        shutil.copy(log.index.path, start)
        _change_records(root, log, 30)
        results = {}
        deltas: list[str] = []
        delta = facts._rollup_delta
        monkeypatch.setattr(
            facts, "_rollup_delta", lambda roll, sign: deltas.append(sign) or delta(roll, sign)
        )
        for name, set_min in (("set-wise", 1), ("triggers", 10**9)):
            monkeypatch.setattr(index_module, "_SET_MIN", set_min)
            path = tmp_path / f"{name}.sqlite"
            shutil.copy(start, path)
            index = Index(log.git, log.schemas, log.config, path=path)
            done = index.catch_up()
            assert not done.rebuilt and done.changed >= 30 and done.removed == 2
            index.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            index.close()
            results[name] = dump(path)
        # and what a rebuild from scratch writes
        fresh = Index(log.git, log.schemas, log.config, path=tmp_path / "fresh.sqlite")
        if trail_built:
            fresh.build_trail()
        fresh.rebuild()
        fresh.close()
    assert deltas.count("-") == deltas.count("") == len(facts.ROLLUPS)  # one set-wise chunk
    assert results["set-wise"] == results["triggers"]
    assert results["set-wise"][0] == dump(tmp_path / "fresh.sqlite")[0]


def _edit_records(root: Path, log: ExceptionLog, count: int, tag: str) -> None:
    """A commit from elsewhere that changes the description of `count` records."""
    for path, _sha in _entries(log)[:count]:
        record = log.get(Path(path).stem).record
        assert record is not None
        record["qc"]["description"] = f"Checked again ({tag})."
        (root / path).write_text(to_text(record, log.schemas), encoding="utf-8")
    git(root, "add", "-A", "records")
    git(root, "-c", "user.name=Elsewhere", "-c", "user.email=e@example.com", "commit", "-q", "-m", tag)


def test_a_big_catch_up_moves_its_wal_in_a_thread_and_close_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a catch-up of many records the WAL is not moved at its commit (the caller waits for the
    rows only); a thread moves it, `close` waits for that thread, and the usual automatic checkpoint
    is back on the connection afterwards, also when the catch-up fails."""
    root = tmp_path / "log"
    build_demo(root).close()
    monkeypatch.setattr(index_module, "_CHECKPOINT_AFTER", 10)
    with ExceptionLog(root) as log:
        index = Index(log.git, log.schemas, log.config, path=tmp_path / "copy.sqlite")
        index.rebuild()
        _edit_records(root, log, 12, "one")
        seen: list[int] = []
        monkeypatch.setattr(
            index,
            "_checkpoint_later",
            lambda: seen.append(index.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]),
        )
        assert index.catch_up().changed == 12
        assert seen == [0]  # no checkpoint at the catch-up's own commit
        assert index.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        monkeypatch.delattr(index, "_checkpoint_later")
        _edit_records(root, log, 11, "two")
        assert index.catch_up().changed == 11
        folding = index._folding
        assert folding is not None
        index.close()
        assert not folding.is_alive()
        # a failing catch-up puts the automatic checkpoint back too
        again = Index(log.git, log.schemas, log.config, path=tmp_path / "copy.sqlite")
        _edit_records(root, log, 13, "three")

        def broken(*_args: Any, **_kw: Any) -> int:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(again, "_upsert", broken)
        with pytest.raises(RuntimeError):
            again.catch_up()
        assert again.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        monkeypatch.delattr(again, "_upsert")
        assert again.catch_up().changed == 13
        assert again.by_id(Path(_entries(log)[0][0]).stem)["search"].count("checked again (three)") == 1
        again.close()


def test_blobs_are_read_from_the_work_tree_only_when_the_file_is_that_blob(
    demo: Path, tmp_path: Path
) -> None:
    root = tmp_path / "log"
    shutil.copytree(demo, root, symlinks=True)
    with ExceptionLog(root) as log:
        entries = _entries(log)[:5]
        expected = {
            r[0]: r[: len(index_module.COLUMNS)] for r in log.index._rows_from_blobs(entries, None, 5)
        }
        edited, fifo = entries[0][0], entries[1][0]
        (root / edited).write_text((root / edited).read_text("utf-8").replace("qc:", "qc:\n  sku: EDITED", 1))
        (root / fifo).unlink()
        os.mkfifo(root / fifo)  # never read (it would block)
        for workers, pool_min in ((1, 10**6), (2, 1)):
            log.index.workers, log.index.pool_min = workers, pool_min
            rows = list(log.index._rows_from_blobs(entries, None, 5, dirty=frozenset()))
            assert {r[0]: r[: len(index_module.COLUMNS)] for r in rows} == expected
            assert all(isinstance(r[-1], facts.FactRows) for r in rows)


def test_a_rebuild_that_fails_half_way_leaves_the_index_as_it_was(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "log"
    shutil.copytree(demo, root, symlinks=True)
    with ExceptionLog(root) as log:
        log.refresh()
        before = dump(log.index.path)

        def broken(db: sqlite3.Connection, bulk: facts.Bulk) -> None:
            raise RuntimeError("power cut")

        monkeypatch.setattr(facts, "bulk_end", broken)
        with pytest.raises(RuntimeError):
            log.rebuild_index()
        assert log.index.ready()
        assert dump(log.index.path) == before
        monkeypatch.undo()
        assert log.refresh().rebuilt is False  # nothing to redo: the index is whole


def test_a_large_import_written_as_a_rebuild_writes_what_the_row_by_row_path_writes(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`Index.upsert_many` (indexes and triggers dropped, rows appended, every roll-up summed again)
    leaves the same tables, rows and schema as `_upsert`, for a batch that replaces some records (one
    of them twice in the batch) and adds new ones, and only takes that path for a batch that is large
    and at least a third of the log."""
    with ExceptionLog(demo) as log:
        log.refresh()
        log.index.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        start = tmp_path / "start.sqlite"
        shutil.copy(log.index.path, start)
        entries = _entries(log)
        rows: list[tuple[Any, ...]] = []
        for n, (path, _sha) in enumerate(entries[:40]):
            record = log.get(Path(path).stem).record
            assert record is not None
            record["qc"]["quantity"] = int(record["qc"].get("quantity") or 1) + 2
            if n % 2:  # a new record: another id and path
                record["id"] = record["id"][:-5] + f"{90000 + n:05d}"
                path = str(Path(path).with_name(record["id"] + ".yaml"))
            data = to_text(record, log.schemas).encode()
            rows.append(
                index_module._row_facts(
                    path, log.git.blob_sha(data), data, log.schemas, log.config, worktree=False
                )
            )
        rows.append(rows[0])  # a path twice: the last row wins
        results = {}
        for name, bulk_min in (("bulk", 1), ("rows", 10**9)):
            monkeypatch.setattr(index_module, "_BULK_MIN", bulk_min)
            path = tmp_path / f"{name}.sqlite"
            shutil.copy(start, path)
            index = Index(log.git, log.schemas, log.config, path=path)
            calls: list[int] = []
            monkeypatch.setattr(
                facts,
                "bulk_end",
                lambda db, saved, end=facts.bulk_end, calls=calls: calls.append(1) or end(db, saved),
            )
            with index.db:
                assert index.upsert_many(rows) >= 40
            assert calls == ([1] if name == "bulk" else [])
            monkeypatch.undo()
            index.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            index.close()
            results[name] = dump(path)
        assert results["bulk"] == results["rows"]
        assert len(results["bulk"][0]["records"]) == len(entries) + 20
        # a batch that is a small part of the log goes row by row
        monkeypatch.setattr(index_module, "_BULK_MIN", 1)
        index = Index(log.git, log.schemas, log.config, path=tmp_path / "rows.sqlite")
        monkeypatch.setattr(facts, "bulk_begin", lambda *a, **k: pytest.fail("bulk path for a small batch"))
        with index.db:
            index.upsert_many(rows[:3])
        index.close()


def test_a_sharded_rebuild_writes_what_the_in_process_rebuild_writes(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pooled rebuild whose workers write shards (kakotui.store.build: rows copied in, roll-ups
    summed from each shard's sums) leaves the same tables, rows and schema as the rebuild that reads
    every row in this process, including rows of blobs that the work tree does not hold (an edited
    file: git gives them) and the commit table's delays; its scratch folder is gone after."""
    root = tmp_path / "log"
    shutil.copytree(demo, root, symlinks=True)
    with ExceptionLog(root) as log:
        assert log.index.build_trail()
        edited = _entries(log)[3][0]
        (root / edited).write_text((root / edited).read_text("utf-8").replace("qc:", "qc:\n  sku: EDITED", 1))
        from kakotui.store import build

        written_here: list[int] = []  # rows this process wrote into a shard (the workers' are not seen)
        monkeypatch.setattr(
            build,
            "write_rows",
            lambda db, rows, w=build.write_rows: written_here.append(len(rows)) or w(db, rows),
        )
        results = {}
        for name, (workers, pool_min, sharded) in {
            "shards": (2, 1, True),
            "in process": (1, 10**6, False),
        }.items():
            log.index.workers, log.index.pool_min, log.index.sharded = workers, pool_min, sharded
            log.rebuild_index()
            log.index.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            results[name] = dump(log.index.path)
            assert not list(log.index.path.parent.glob("build-*"))
            assert not log.index.db.execute("PRAGMA database_list").fetchall()[1:]  # shards detached
    assert written_here == [1]  # the edited file's committed blob, from git
    assert results["shards"][0] == results["in process"][0]
    assert results["shards"][1] == results["in process"][1]
    rows = results["shards"][0]
    assert rows["roll_records"] and rows["bal"] and rows["fact_delays"] and rows["roll_costs_party"]
    worktree = index_module.COLUMNS.index("worktree")
    assert [r[0] for r in rows["records"] if r[worktree] == 1] == [edited]  # the work tree's edit, overlaid


def test_a_sharded_rebuild_that_fails_leaves_the_index_and_no_scratch(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "log"
    shutil.copytree(demo, root, symlinks=True)
    with ExceptionLog(root) as log:
        log.refresh()
        log.index.workers, log.index.pool_min = 2, 1
        before = dump(log.index.path)
        stale = log.index.path.parent / "build-999999999-x"  # a build whose process died
        stale.mkdir()
        (stale / "rows-1.sqlite").write_bytes(b"")

        def broken(*_args: Any, **_kw: Any) -> None:
            raise RuntimeError("power cut")

        monkeypatch.setattr(facts, "bulk_rollups", broken)
        with pytest.raises(RuntimeError):
            log.rebuild_index()
        assert not list(log.index.path.parent.glob("build-*"))
        assert log.index.ready()
        assert dump(log.index.path) == before
        monkeypatch.undo()
        log.rebuild_index()  # the connection is usable again: nothing left attached
        assert dump(log.index.path)[0]["records"] == before[0]["records"]


def test_a_new_index_of_a_large_log_takes_8_kb_pages(demo: Path, tmp_path: Path) -> None:
    """~2 KB record rows leave most 4 KB pages holding one: a log of thousands of records (a dozen
    record folders) gets 8 KB pages; a small one keeps 4 KB (each table takes a page at least)."""
    root = tmp_path / "log"
    shutil.copytree(demo, root, symlinks=True)
    with ExceptionLog(root) as log:
        log.refresh()
        assert log.index.db.execute("PRAGMA page_size").fetchone()[0] == 4096
    for n in range(index_module._LARGE_FOLDERS):
        (root / "records" / "2024" / "SZ1" / f"{n:03d}").mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root}/.git/kakotui/index.sqlite{suffix}").unlink(missing_ok=True)
    with ExceptionLog(root) as log:
        log.refresh()
        assert log.index.db.execute("PRAGMA page_size").fetchone()[0] == index_module.PAGE_SIZE == 8192
        assert log.index.count() > 40


def _drop_index(root: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{root}/.git/kakotui/index.sqlite{suffix}").unlink(missing_ok=True)


def test_the_first_build_writes_into_the_database_and_returns_to_wal(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build of an empty index leaves WAL mode (the rows are written once, not into the WAL and
    again by the checkpoint) and comes back to it; it writes what a build through the WAL writes.
    A failure half-way leaves the empty index, still usable, in WAL mode."""
    root = tmp_path / "log"
    shutil.copytree(demo, root, symlinks=True)
    _drop_index(root)
    modes: list[str] = []
    begin = facts.bulk_begin

    def seen(db: sqlite3.Connection) -> facts.Bulk:
        modes.append(str(db.execute("PRAGMA journal_mode").fetchone()[0]))
        return begin(db)

    monkeypatch.setattr(facts, "bulk_begin", seen)
    with ExceptionLog(root) as log:
        log.index.workers, log.index.pool_min = 2, 1
        log.refresh()
        assert log.index.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert not Path(f"{log.index.path}-journal").exists()
        direct = dump(log.index.path)
        log.rebuild_index()  # a full index: through the WAL, as always
        log.index.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert dump(log.index.path) == direct
    assert modes == ["delete", "wal"]

    _drop_index(root)
    monkeypatch.setattr(
        facts, "bulk_rollups", lambda *_a, **_k: (_ for _ in ()).throw(RuntimeError("power cut"))
    )
    with ExceptionLog(root) as log:
        log.index.workers, log.index.pool_min = 2, 1
        with pytest.raises(RuntimeError):
            log.refresh()
        assert log.index.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert log.index.count() == 0 and not log.index.ready()


def test_the_first_build_keeps_wal_when_another_connection_has_the_index_open(
    demo: Path, tmp_path: Path
) -> None:
    """Leaving WAL mode needs the file to itself: with a reader open the build does not wait for it
    (no busy timeout) and writes through the WAL; the reader sees the whole build after."""
    root = tmp_path / "log"
    shutil.copytree(demo, root, symlinks=True)
    _drop_index(root)
    with ExceptionLog(root) as log:
        other = sqlite3.connect(log.index.path)
        try:
            assert other.execute("SELECT count(*) FROM records").fetchone() == (0,)
            assert log.index._write_directly() is False
            log.refresh()
            assert log.index.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert other.execute("SELECT count(*) FROM records").fetchone()[0] == log.index.count() > 40
        finally:
            other.close()
