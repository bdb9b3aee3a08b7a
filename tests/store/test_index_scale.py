"""What the index does for speed at scale keeps it correct: the worker pool, the id cache, one-less-git saves."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from kakotui.demo import build_demo
from kakotui.log import ExceptionLog
from kakotui.store import index as index_module

TABLES = ("records", "fact_records", "cost_lines", "recoveries")


def tables(db: sqlite3.Connection) -> dict[str, list[Any]]:
    return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = build_demo(tmp_path_factory.mktemp("scale") / "log")
    root = log.root
    log.close()
    return root


def test_a_rebuild_in_worker_processes_writes_exactly_what_one_process_writes(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "_BATCH", 7)  # several batches in flight, bounded submission
    with ExceptionLog(demo) as log:
        log.index.workers = 1
        log.rebuild_index()
        serial = tables(log.index.db)
        log.index.workers = 2
        log.index.pool_min = 10
        seen: list[tuple[int, int]] = []
        result = log.index.rebuild(lambda done, total: seen.append((done, total)))
        pooled = tables(log.index.db)
    assert result.changed == len(serial["records"]) > 40
    assert serial == pooled
    assert all(len(rows) > 0 for rows in pooled.values())
    assert seen[-1] == (len(serial["records"]), len(serial["records"]))


def test_the_id_set_is_cached_until_anything_writes_the_index(demo: Path) -> None:
    with ExceptionLog(demo) as log:
        log.refresh()
        first = log.index.ids()
        assert log.index.ids() is first  # nothing changed: no new query, no new set
        rid = sorted(first)[0]
        loaded = log.get(rid)
        assert loaded.record is not None
        loaded.record["qc"]["description"] = "Checked again at the bench."
        log.save(loaded.record, "edit", expected_blob=loaded.blob)
        after_save = log.index.ids()
        assert after_save is not first and after_save == first
        with ExceptionLog(demo) as other:  # another connection writes: this one notices
            other.index.db.execute("INSERT INTO meta(key, value) VALUES ('x', 'y')")
            other.index.db.execute(
                "UPDATE records SET id = 'ZZ9-2026-00001' WHERE path = (SELECT min(path) FROM records)"
            )
            other.index.db.commit()
        assert "ZZ9-2026-00001" in log.index.ids()
        log.rebuild_index()
        assert "ZZ9-2026-00001" not in log.index.ids()


def test_a_save_runs_four_git_processes_and_the_index_learns_the_parent(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ExceptionLog(demo) as log:
        log.refresh()
        rid = sorted(log.index.ids())[1]
        loaded = log.get(rid)
        assert loaded.record is not None
        before = log.git.head()
        _ = log.station, log.identity, log.git.git_dir  # warm the per-log caches
        calls: list[list[str]] = []
        real = log.git._exec

        def counting(args: Any, *rest: Any, **kw: Any) -> Any:
            calls.append(list(args))
            return real(args, *rest, **kw)

        monkeypatch.setattr(log.git, "_exec", counting)
        loaded.record["qc"]["description"] = "One more look."
        result = log.save(loaded.record, "edit", expected_blob=loaded.blob)
        assert [c[0] if c[0] != "--no-optional-locks" else c[1] for c in calls] == [
            "rev-parse",
            "fast-import",
            "update-ref",
            "update-index",
        ]
        assert log.git.last_commit == (result.commit, before)
        assert log.index.head == result.commit
        calls.clear()
        assert log.station == "SZ1"
        assert calls == []  # the station is read from git config only when the config file changed
        log.set_station("SZ1")
        assert log.station == "SZ1"


def test_a_rebuild_leaves_no_wal_behind_for_the_next_open_to_read(demo: Path) -> None:
    wal = demo / ".git" / "kakotui" / "index.sqlite-wal"
    with ExceptionLog(demo) as log:
        log.rebuild_index()
        # the WAL is folded into the database and truncated, not left at the size of the rebuild
        assert wal.stat().st_size == 0
        assert log.index.db.execute("PRAGMA journal_size_limit").fetchone()[0] == 64 * 1024 * 1024
        # the big page cache is for writing only: reading every row (the TUI) keeps SQLite's default
        assert log.index.db.execute("PRAGMA cache_size").fetchone()[0] == -2000
        assert len(log.records("")) > 40
