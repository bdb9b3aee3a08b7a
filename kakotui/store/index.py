"""The index: a SQLite cache of every record's list columns and full data, per clone.

It lives at `.git/kakotui/index.sqlite` (never committed), remembers the commit it reflects and
catches up with `git diff-tree` and `git status` instead of re-reading every file. Deleting it
loses nothing: the next open rebuilds it, reporting progress.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from kakotui.core.config import Config
from kakotui.core.ids import is_record_path
from kakotui.core.record import Summary, summarize
from kakotui.core.schemas import Schemas
from kakotui.core.validation import check_text
from kakotui.store import facts
from kakotui.store.gitrepo import Git, GitError

INDEX_FORMAT = "4"
PREFIX = "records/"
Progress = Callable[[int, int], None]

SUMMARY_COLUMNS = [f.name for f in fields(Summary)]
COLUMNS = ["path", "blob", *SUMMARY_COLUMNS, "valid", "problems", "worktree", "json"]
_VALID, _WORKTREE, _JSON = COLUMNS.index("valid"), COLUMNS.index("worktree"), COLUMNS.index("json")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS records (
    path TEXT PRIMARY KEY,
    blob TEXT NOT NULL,
    {", ".join(f"{c} {'INTEGER' if c == 'cost_minor' else 'TEXT'}" for c in SUMMARY_COLUMNS)},
    valid INTEGER NOT NULL,
    problems TEXT NOT NULL,
    worktree INTEGER NOT NULL DEFAULT 0,
    json TEXT
);
CREATE INDEX IF NOT EXISTS records_id ON records(id);
CREATE INDEX IF NOT EXISTS records_checked ON records(checked_date);
CREATE INDEX IF NOT EXISTS records_worktree ON records(path) WHERE worktree = 1;
"""


@dataclass(frozen=True)
class CatchUp:
    """What one catch-up did (for progress messages and benchmarks)."""

    rebuilt: bool
    changed: int
    removed: int
    head: str | None


_WAL_LIMIT = 64 * 1024 * 1024  # bytes of WAL kept after a checkpoint
_CACHE_KB = 64 * 1024  # SQLite page cache of the index connection
_CHECKPOINT_AFTER = 1000  # records changed by one catch-up before its WAL is folded in at once

_WORKER: dict[str, Any] = {}
_BATCH = 200  # records per job sent to a worker process


def _init_worker(schema_texts: dict[str, str], config_data: dict[str, Any]) -> None:
    _WORKER["schemas"] = Schemas(schema_texts)
    _WORKER["config"] = Config.from_data(config_data)


def _check_many(batch: list[tuple[str, str, bytes]]) -> list[tuple[Any, ...]]:
    """Rows of a batch, each followed by its report facts (computed here, off the main process)."""
    schemas, config = _WORKER["schemas"], _WORKER["config"]
    out = []
    for path, sha, data in batch:
        row = _row(path, sha, data, schemas, config, worktree=False)
        record = json.loads(row[_JSON]) if row[_JSON] is not None else None
        fact_rows = facts.child_rows(
            path, record, config, valid=bool(row[_VALID]), worktree=bool(row[_WORKTREE])
        )
        out.append((*row, fact_rows))
    return out


def _write_facts(db: sqlite3.Connection, ready: list[facts.FactRows], paths: list[tuple[str]]) -> None:
    """What `facts.write` does after computing the rows, for rows the worker processes computed."""
    db.executemany("DELETE FROM fact_records WHERE path = ?", paths)
    db.executemany("DELETE FROM cost_lines WHERE path = ?", paths)
    db.executemany("DELETE FROM recoveries WHERE path = ?", paths)
    db.executemany(facts._INSERT_RECORD, [f.record for f in ready if f.record is not None])
    db.executemany(facts._INSERT_COST, [c for f in ready for c in f.costs])
    db.executemany(facts._INSERT_RECOVERY, [r for f in ready for r in f.recoveries])


def _row(
    path: str, blob: str, data: bytes, schemas: Schemas, config: Config, *, worktree: bool
) -> tuple[Any, ...]:
    checked = check_text(data, path, schemas, config)
    summary = summarize(checked.record or {}, config)
    values = {c: getattr(summary, c) for c in SUMMARY_COLUMNS}  # asdict deep-copies: 3x slower
    if not values["id"]:
        values["id"] = Path(path).stem
    problems = json.dumps([p.to_dict() for p in checked.problems], ensure_ascii=False)
    record_json = json.dumps(checked.record, ensure_ascii=False) if checked.record is not None else None
    return (
        path,
        blob,
        *(values[c] for c in SUMMARY_COLUMNS),
        1 if checked.valid else 0,
        problems,
        1 if worktree else 0,
        record_json,
    )


class Index:
    """The per-clone SQLite index of a log."""

    def __init__(self, git: Git, schemas: Schemas, config: Config, *, path: Path | None = None) -> None:
        self.git = git
        self.schemas = schemas
        self.config = config
        self.path = path or git.git_dir / "kakotui" / "index.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        # A rebuild writes the whole database through the WAL; without a limit the file keeps that size
        # (~600 MB at 100k) and every later open that follows an unclean exit reads all of it (0.3 s).
        self.db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
        self.db.executescript(_SCHEMA)
        self._ids_cache: tuple[tuple[int, int], frozenset[str]] | None = None
        self.workers: int | None = None  # processes that parse a rebuild (None: one per core, at most 4)
        self.pool_min = 2000  # fewer records than this are parsed in this process (a pool costs ~0.3 s)
        facts.ensure(self.db)  # report facts (kakotui.store.facts)
        self._config_key = (
            json.dumps(config.data, sort_keys=True) + "|" + json.dumps(schemas.documents, sort_keys=True)
        )

    def close(self) -> None:
        self.db.close()

    # -- meta ------------------------------------------------------------------------------

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str | None) -> None:
        if value is None:
            self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
        else:
            self.db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    @property
    def head(self) -> str | None:
        return self._meta("head")

    def ready(self) -> bool:
        """Whether the index holds a complete build for this format and config (it may lag behind HEAD)."""
        return (
            self._meta("format") == INDEX_FORMAT
            and self._meta("config") == self._config_key
            and self._meta("head") is not None
        )

    def _has_commit(self, sha: str) -> bool:
        try:
            self.git.rev_parse(f"{sha}^{{commit}}")
        except GitError:
            return False
        return True

    # -- writing ---------------------------------------------------------------------------

    def _upsert(self, rows: Iterable[tuple[Any, ...]]) -> int:
        placeholders = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT OR REPLACE INTO records({', '.join(COLUMNS)}) VALUES ({placeholders})"
        count = 0
        chunk: list[tuple[Any, ...]] = []
        for row in itertools.chain(rows, [None]):  # streamed in chunks: a rebuild never holds every row
            if row is not None:
                chunk.append(row)
            if chunk and (row is None or len(chunk) >= 2000):
                width = len(COLUMNS)
                count += self.db.executemany(sql, [r[:width] for r in chunk]).rowcount
                # the report facts of the same rows (deleted with them by a trigger); a rebuild's
                # worker processes computed them already (a row then carries them as an extra cell)
                if all(len(r) > width for r in chunk):
                    _write_facts(self.db, [r[width] for r in chunk], [(r[0],) for r in chunk])
                else:
                    facts.write(
                        self.db, [(r[0], r[_VALID], r[_WORKTREE], r[_JSON]) for r in chunk], self.config
                    )
                chunk.clear()
        return count

    def _rows_from_blobs(
        self, entries: Sequence[tuple[str, str]], progress: Progress | None, total: int, done: int = 0
    ) -> Iterator[tuple[Any, ...]]:
        """Parse and validate blobs; in parallel across cores when there are many."""
        by_sha: dict[str, list[str]] = {}
        for path, sha in entries:
            by_sha.setdefault(sha, []).append(path)
        blobs = self.git.cat_blobs(list(by_sha))
        workers = self.workers or min(os.cpu_count() or 1, 4)
        if len(entries) < self.pool_min or workers < 2:
            for sha, data in blobs:
                for path in by_sha[sha]:
                    yield _row(path, sha, data, self.schemas, self.config, worktree=False)
                    done += 1
                    if progress and done % 500 == 0:
                        progress(done, total)
        else:
            texts = {name: json.dumps(doc) for name, doc in self.schemas.documents.items()}
            with ProcessPoolExecutor(
                max_workers=workers, initializer=_init_worker, initargs=(texts, self.config.data)
            ) as pool:

                def jobs() -> Iterator[list[tuple[str, str, bytes]]]:
                    batch: list[tuple[str, str, bytes]] = []
                    for sha, data in blobs:
                        for path in by_sha[sha]:
                            batch.append((path, sha, data))
                        if len(batch) >= _BATCH:
                            yield batch
                            batch = []
                    if batch:
                        yield batch

                # Bounded submission (pool.map would read every blob before the first result):
                # at most a few batches per worker are in flight, results come back in order.
                pending: deque[Future[list[tuple[Any, ...]]]] = deque()
                for batch in jobs():
                    pending.append(pool.submit(_check_many, batch))
                    while len(pending) > workers * 3 or (pending and pending[0].done()):
                        for row in pending.popleft().result():
                            yield row
                            done += 1
                            if progress and done % 500 == 0:
                                progress(done, total)
                while pending:
                    for row in pending.popleft().result():
                        yield row
                        done += 1
                        if progress and done % 500 == 0:
                            progress(done, total)
        if progress:
            progress(total, total)

    def rebuild(self, progress: Progress | None = None) -> CatchUp:
        """Index every record of HEAD again from its file (then the work tree's edits)."""
        with self._write_cache():
            return self._rebuild(progress)

    def _rebuild(self, progress: Progress | None = None) -> CatchUp:
        head = self.git.head()
        with self.db:
            self.db.execute("DELETE FROM records")
            self._set_meta("head", None)
        entries = (
            [(p, s) for p, s in self.git.ls_tree(head, PREFIX) if is_record_path(p)]
            if head is not None
            else []
        )
        total = len(entries)
        if progress:
            progress(0, total)
        with self.db:
            batch: list[tuple[Any, ...]] = []
            for row in self._rows_from_blobs(entries, progress, total):
                batch.append(row)
                if len(batch) >= 2000:
                    self._upsert(batch)
                    batch.clear()
            self._upsert(batch)
            self._set_meta("head", head)
            self._set_meta("format", INDEX_FORMAT)
            self._set_meta("config", self._config_key)
        self._catch_up_trail(head, progress)
        overlay = self._overlay_worktree()
        self._checkpoint()
        return CatchUp(True, total + overlay, 0, head)

    def catch_up(self, progress: Progress | None = None) -> CatchUp:
        """Bring the index to HEAD plus the work tree's uncommitted record files."""
        with self._write_cache():
            return self._catch_up(progress)

    @contextmanager
    def _write_cache(self) -> Iterator[None]:
        """A large page cache while writing: SQLite's default 2 MB makes a catch-up or a rebuild reread
        the pages of a dozen report indexes over and over. Back to the default afterwards, so that the
        TUI reading every row does not keep 64 MB of pages."""
        self.db.execute(f"PRAGMA cache_size=-{_CACHE_KB}")
        try:
            yield
        finally:
            self.db.execute("PRAGMA cache_size=-2000")

    def _catch_up(self, progress: Progress | None = None) -> CatchUp:
        if self._meta("format") != INDEX_FORMAT or self._meta("config") != self._config_key:
            return self.rebuild(progress)
        stored = self.head
        head = self.git.head()
        changed = removed = 0
        if stored != head:
            if stored is None or head is None or not self._has_commit(stored):
                return self.rebuild(progress)
            diff = self.git.diff_tree(stored, head, PREFIX)
            upserts = [
                (path, new) for status, path, _old, new in diff if status != "D" and is_record_path(path)
            ]
            deletes = [path for status, path, _old, _new in diff if status == "D"]
            with self.db:
                self.db.executemany("DELETE FROM records WHERE path = ?", [(p,) for p in deletes])
                changed = (
                    self._upsert(self._rows_from_blobs(upserts, progress, len(upserts))) if upserts else 0
                )
                self._set_meta("head", head)
            removed = len(deletes)
        self._catch_up_trail(head, progress)
        changed += self._overlay_worktree()
        if changed + removed >= _CHECKPOINT_AFTER:
            self._checkpoint()
        return CatchUp(False, changed, removed, head)

    def _checkpoint(self) -> None:
        """Move the WAL into the database and truncate it (after big writes: the next open stays fast)."""
        with suppress(sqlite3.OperationalError):  # another connection is busy: SQLite does it later
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _catch_up_trail(self, head: str | None, progress: Progress | None) -> None:
        """The table of commits and the record files they touched (kakotui.store.trail): built once
        (one `git log` pass over the whole history), then extended by the commits after its head."""
        from kakotui.store import trail

        trail.update(self.git, self.db, head, progress)

    def _overlay_worktree(self) -> int:
        """Index uncommitted edits (hand edits, interrupted saves) so they are listed and validated."""
        dirty = {path for _code, path in self.git.status(PREFIX) if is_record_path(path)}
        previously = {row[0] for row in self.db.execute("SELECT path FROM records WHERE worktree = 1")}
        count = 0
        with self.db:
            for path in previously - dirty:  # the edit was committed or reverted: back to HEAD's version
                self.db.execute("DELETE FROM records WHERE path = ?", (path,))
                head = self.git.head()
                sha = dict(self.git.ls_tree(head, path)).get(path) if head else None
                if sha is not None:
                    data = self.git.read_blob(sha)
                    self._upsert([_row(path, sha, data, self.schemas, self.config, worktree=False)])
                count += 1
            for path in dirty:
                file = self.git.root / path
                if not file.is_file() or file.is_symlink():
                    self.db.execute("DELETE FROM records WHERE path = ?", (path,))
                    continue
                data = file.read_bytes()
                sha = self.git.blob_sha(data)
                existing = self.db.execute("SELECT blob FROM records WHERE path = ?", (path,)).fetchone()
                if existing and existing[0] == sha:
                    continue
                self._upsert([_row(path, sha, data, self.schemas, self.config, worktree=True)])
                count += 1
        return count

    def put(self, path: str, data: bytes, *, old_head: str | None, new_head: str) -> None:
        """Record a save made by this clone: one row, and the head moves only if nothing else moved it."""
        sha = self.git.blob_sha(data)
        with self.db:
            self._upsert([_row(path, sha, data, self.schemas, self.config, worktree=False)])
            if self.head == old_head:
                self._set_meta("head", new_head)

    # -- reading ---------------------------------------------------------------------------

    def query(
        self,
        where: str,
        params: Sequence[Any],
        *,
        order: str = "id",
        limit: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[sqlite3.Row]:
        cols = ", ".join(columns or [c for c in COLUMNS if c != "json"])
        sql = f"SELECT {cols} FROM records WHERE {where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        self.db.row_factory = sqlite3.Row
        try:
            return list(self.db.execute(sql, tuple(params)))
        finally:
            self.db.row_factory = None

    def chunks(self, columns: Sequence[str], *, size: int = 4096) -> Iterator[list[tuple[Any, ...]]]:
        """Every row's `columns` in id order as plain tuples, a chunk at a time (memory stays flat).

        `columns` are names of this table (constants of the caller, never user input).
        """
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown:
            raise ValueError(f"not index columns: {unknown}")
        cursor = self.db.execute(f"SELECT {', '.join(columns)} FROM records ORDER BY id")
        while batch := cursor.fetchmany(size):
            yield batch

    def by_id(self, record_id: str) -> sqlite3.Row | None:
        self.db.row_factory = sqlite3.Row
        try:
            row: sqlite3.Row | None = self.db.execute(
                "SELECT * FROM records WHERE id = ? OR (' ' || aliases || ' ') LIKE ? ORDER BY worktree DESC LIMIT 1",
                (record_id, f"% {record_id} %"),
            ).fetchone()
            return row
        finally:
            self.db.row_factory = None

    def ids(self) -> frozenset[str]:
        """Every record id (cached: a save checks references against it; ~40 ms to build at 100k)."""
        # total_changes moves with every write of this connection, data_version with other connections'.
        version = (self.db.total_changes, self.db.execute("PRAGMA data_version").fetchone()[0])
        if self._ids_cache is None or self._ids_cache[0] != version:
            self._ids_cache = (version, frozenset(r[0] for r in self.db.execute("SELECT id FROM records")))
        return self._ids_cache[1]

    def max_seq(self, station: str, year: int) -> int:
        row = self.db.execute(
            "SELECT max(id) FROM records WHERE id LIKE ?", (f"{station}-{year:04d}-%",)
        ).fetchone()
        if not row or not row[0]:
            return 0
        return int(str(row[0]).rsplit("-", 1)[1])

    def counts(self, where: str = "1", params: Sequence[Any] = ()) -> dict[str, int]:
        return {
            str(status): int(n)
            for status, n in self.db.execute(
                f"SELECT status, count(*) FROM records WHERE {where} GROUP BY status", tuple(params)
            )
        }

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM records").fetchone()[0])
