"""The first index build across processes: each worker writes its rows into a shard of its own.

A rebuild of many records (`Index.rebuild`) parses them in a process pool. Sending every row back
to the index's process cost that process ~45 us a record (pickles, then SQLite inserts) on the two
cores the workers need, and the report roll-ups were then summed in one thread while the workers
sat idle. Here each worker appends its rows to a SQLite file of its own (a *shard*: the index's
record and fact tables, no journal, no fsync: it is scratch), and returns only how many rows each
blob gave (None: the work-tree file is not that blob; the index's process asks git and writes those
rows into a shard of its own). Then, at once:

- the index's transaction copies every shard's tables in (`INSERT ... SELECT`, in SQLite) and makes
  its indexes (`facts.bulk_indexes`);
- one thread per shard sums that shard's roll-ups and balances into a file of sums
  (`facts.shard_sums`), reading the shard only;

and the roll-ups are the sums of the shards' sums (`facts.bulk_rollups`; every roll-up value is a
sum, and a record's balance rows come from one shard). The scratch folder
(`.git/kakotui/build-<pid>-*`) is removed afterwards; one left by a process that died is removed by
the next build. `tests/store/test_index_bulk.py` checks that this writes exactly the tables, rows and
schema that the in-process rebuild writes.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import suppress
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kakotui.store import facts
from kakotui.store.gitrepo import GitError

if TYPE_CHECKING:
    from kakotui.store.index import Index

SHARD_TABLES = ("records", "fact_records", "cost_lines", "recoveries")
_BATCH = 200  # records per job sent to a worker process
_IN_FLIGHT = 3  # jobs per worker submitted ahead


def shard_ddl(db: sqlite3.Connection) -> list[str]:
    """The statements that make a shard: the index's own record and fact tables (so values take the
    same column types), and what the balances' sums look records' recoveries up by."""
    names = ", ".join(f"'{t}'" for t in SHARD_TABLES)
    tables = [
        str(sql)
        for (sql,) in db.execute(
            f"SELECT sql FROM sqlite_master WHERE type = 'table' AND name IN ({names}) ORDER BY name"
        )
    ]
    if len(tables) != len(SHARD_TABLES):
        raise RuntimeError("the index lacks its record and fact tables")
    return [*tables, "CREATE INDEX recoveries_path ON recoveries(path)"]


def open_shard(path: str, ddl: Sequence[str], page_size: int) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(f"PRAGMA page_size={int(page_size)}")  # the index's own
    db.execute("PRAGMA journal_mode=OFF")  # scratch: a crash discards the whole build
    db.execute("PRAGMA synchronous=OFF")
    for sql in ddl:
        db.execute(sql)
    return db


def write_rows(db: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Append index rows (each followed by its report facts) to a shard."""
    from kakotui.store import index

    if not rows:
        return
    width = len(index.COLUMNS)
    db.execute("BEGIN")
    db.executemany(index.INSERT_ROW, [r[:width] for r in rows])
    index.insert_facts(db, [r[width] for r in rows])
    db.execute("COMMIT")


# -- in a worker process -------------------------------------------------------------------------


def _init_shard_worker(
    schema_texts: dict[str, str],
    config_data: dict[str, Any],
    root: str,
    folder: str,
    ddl: list[str],
    page_size: int,
) -> None:
    from kakotui.store import index

    index._init_worker(schema_texts, config_data, root)
    index._WORKER["shard"] = open_shard(os.path.join(folder, f"rows-{os.getpid()}.sqlite"), ddl, page_size)


def _store_many(batch: list[tuple[str, list[str], None]]) -> list[int | None]:
    """`index._check_many`, the rows appended to this worker's shard: per blob the rows it gave, or
    None where the work-tree file is not that blob (the caller asks git)."""
    from kakotui.store import index

    answers = index._check_many(batch)
    write_rows(index._WORKER["shard"], [row for rows in answers if rows is not None for row in rows])
    return [None if rows is None else len(rows) for rows in answers]


# -- in the index's process ----------------------------------------------------------------------


def _stale(folder: Path) -> bool:
    """A scratch folder of a build whose process is gone."""
    try:
        pid = int(folder.name.split("-")[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, but another user's
        return False
    return False


class Shards:
    """The shards of one rebuild, attached to the index's connection until `close`."""

    def __init__(self, db: sqlite3.Connection, folder: Path) -> None:
        self.db = db
        self.folder = folder
        self.attached: list[str] = []

    def attach(self, path: Path, name: str) -> str:
        self.db.execute("ATTACH DATABASE ? AS " + name, (str(path),))
        self.attached.append(name)
        return name

    def close(self) -> None:
        """Detach (after the transaction: SQLite keeps an attached file locked until it ends) and
        remove the scratch folder."""
        for name in self.attached:
            with suppress(sqlite3.Error):
                self.db.execute(f"DETACH DATABASE {name}")
        self.attached.clear()
        shutil.rmtree(self.folder, ignore_errors=True)


def _sum_shard(shard: Path, out: Path) -> Path:
    """The roll-up and balance sums of one shard, written into `out` (a thread: SQLite runs the
    GROUP BYs outside the GIL, beside the index's copy of the rows)."""
    con = sqlite3.connect(str(out), isolation_level=None, check_same_thread=False)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-65536")  # the GROUP BYs sort in memory, as the index's own fills do
        con.execute("PRAGMA temp_store=MEMORY")
        con.execute("ATTACH DATABASE ? AS shard", (str(shard),))
        con.execute("BEGIN")
        for sql in facts.shard_sums():
            con.execute(sql)
        con.execute("COMMIT")
    finally:
        con.close()
    return out


def scratch(index: Index) -> Shards:
    """A new scratch folder for one rebuild's shards (removing any left by a process that died)."""
    parent = index.path.parent
    for old in parent.glob("build-*"):
        if old.is_dir() and _stale(old):
            shutil.rmtree(old, ignore_errors=True)
    return Shards(index.db, Path(tempfile.mkdtemp(prefix=f"build-{os.getpid()}-", dir=parent)))


def rebuild_rows(
    index: Index,
    shards: Shards,
    entries: Sequence[tuple[str, str]],
    bulk: facts.Bulk,
    progress: Callable[[int], None],
    workers: int,
) -> None:
    """Fill the index's emptied tables (in its open transaction, after `facts.bulk_begin`) with the
    rows of `entries` and make its indexes and roll-ups (`facts.bulk_end`'s work). The caller commits
    or rolls back, then calls `shards.close()`."""
    from kakotui.store.index import _Background, _row_facts

    folder = shards.folder
    ddl = shard_ddl(index.db)
    by_sha: dict[str, list[str]] = {}
    for path, sha in entries:
        by_sha.setdefault(sha, []).append(path)
    texts = {name: json.dumps(doc) for name, doc in index.schemas.documents.items()}
    root = str(index.git.root)
    (page_size,) = index.db.execute("PRAGMA page_size").fetchone()
    own = open_shard(str(folder / "rows-main.sqlite"), ddl, page_size)  # rows of blobs git had to give
    done = 0
    try:
        with ProcessPoolExecutor(
            max_workers=workers,
            initializer=_init_shard_worker,
            initargs=(texts, index.config.data, root, str(folder), ddl, page_size),
        ) as pool:

            def jobs() -> Iterator[list[tuple[str, list[str], None]]]:
                batch: list[tuple[str, list[str], None]] = []
                for sha, paths in by_sha.items():
                    batch.append((sha, paths, None))
                    if len(batch) >= _BATCH:
                        yield batch
                        batch = []
                if batch:
                    yield batch

            def settle(batch: list[tuple[str, list[str], None]], future: Future[list[int | None]]) -> None:
                nonlocal done
                answers = future.result()
                missed = [sha for (sha, _p, _d), n in zip(batch, answers, strict=True) if n is None]
                if missed:
                    fetched = dict(index.git.cat_blobs(missed))
                    if set(fetched) != set(missed):
                        raise GitError("git cat-file did not answer every blob asked for")
                    write_rows(
                        own,
                        [
                            _row_facts(p, sha, fetched[sha], index.schemas, index.config, worktree=False)
                            for sha in missed
                            for p in by_sha[sha]
                        ],
                    )
                before, done = done, done + sum(len(paths) for _sha, paths, _d in batch)
                if before // 500 != done // 500:
                    progress(done)

            pending: deque[tuple[list[Any], Future[list[int | None]]]] = deque()
            for batch in jobs():
                pending.append((batch, pool.submit(_store_many, batch)))
                while len(pending) > workers * _IN_FLIGHT or (pending and pending[0][1].done()):
                    settle(*pending.popleft())
            while pending:
                settle(*pending.popleft())
    finally:
        own.close()
    files = sorted(folder.glob("rows-*.sqlite"))
    sums = [
        _Background(partial(_sum_shard, shard, folder / f"sums-{n}.sqlite")) for n, shard in enumerate(files)
    ]
    db = index.db
    for n, shard in enumerate(files):
        name = shards.attach(shard, f"kakotui_rows{n}")
        for table in SHARD_TABLES:
            db.execute(f"INSERT INTO main.{table} SELECT * FROM {name}.{table}")
    facts.bulk_indexes(db, bulk)
    partials = [shards.attach(s.result(), f"kakotui_sums{n}") for n, s in enumerate(sums)]
    facts.bulk_rollups(db, bulk, partials=partials)
