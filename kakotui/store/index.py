"""The index: a SQLite cache of every record's list columns and full data, per clone.

It lives at `.git/kakotui/index.sqlite` (never committed), remembers the commit it reflects and
catches up with `git diff-tree` and `git status` instead of re-reading every file. Deleting it
loses nothing: the next open rebuilds it, reporting progress.

A record file's blob is read from the work tree when the file there is that blob (its id is
checked: git answers otherwise), ~20x cheaper than `git cat-file` on a packed history. A rebuild
is one write transaction that appends rows to bare tables and makes the indexes and roll-ups at the
end; a catch-up of many records replaces their report facts set-wise (kakotui.store.facts).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import stat
import threading
from collections import deque
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from kakotui.core.config import Config
from kakotui.core.ids import is_record_path
from kakotui.core.record import Summary, summarize
from kakotui.core.schemas import Schemas
from kakotui.core.validation import check_text
from kakotui.store import facts
from kakotui.store.digest import digest
from kakotui.store.gitrepo import Git, GitError

_orjson: Any
try:  # ~8x json.dumps for the record's JSON column; the same compact text without it
    import orjson as _orjson
except ImportError:  # pragma: no cover - a dependency; kept optional so a broken wheel only slows
    _orjson = None

INDEX_FORMAT = "6"  # 5: the JSON column compact; 6: search_parts
PREFIX = "records/"
Progress = Callable[[int, int], None]

SUMMARY_COLUMNS = [f.name for f in fields(Summary)]
COLUMNS = ["path", "blob", *SUMMARY_COLUMNS, "valid", "problems", "worktree", "json"]
_VALID, _WORKTREE, _JSON = COLUMNS.index("valid"), COLUMNS.index("worktree"), COLUMNS.index("json")
INSERT_ROW = f"INSERT INTO records({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"

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


PAGE_SIZE = 8192  # bytes, of a new index file of a large log (`_large_log`)
_LARGE_FOLDERS = 12  # record folders (of up to 1,000 files) from which a log is large
_BUSY_MS = 30_000  # how long a connection waits for another's lock (sqlite3.connect's timeout=30)
_WAL_LIMIT = 64 * 1024 * 1024  # bytes of WAL kept after a checkpoint
_CACHE_KB = 64 * 1024  # SQLite page cache of the index connection
_AUTOCHECKPOINT = 1000  # WAL pages after which a commit moves the WAL into the database (SQLite's default)
_CHECKPOINT_AFTER = 1000  # records changed by one catch-up before its WAL is folded in at once
_SET_MIN = 100  # rows of one write from which their facts are replaced set-wise (facts.replacing)
_BULK_MIN = 5000  # rows of one import from which it may be written as a rebuild is (`upsert_many`)

_WORKER: dict[str, Any] = {}
_BATCH = 200  # records per job sent to a worker process
_READ_MAX = 16 * 1024 * 1024  # bytes: a bigger work-tree file is read from git instead


def _init_worker(schema_texts: dict[str, str], config_data: dict[str, Any], root: str | None = None) -> None:
    _WORKER["schemas"] = Schemas(schema_texts)
    _WORKER["config"] = Config.from_data(config_data)
    _WORKER["root"] = root


def _blob_id(data: bytes, like: str) -> str:
    """The id git gives `data` as a blob, in the hash of the id `like` (SHA-1, or SHA-256)."""
    digest = hashlib.sha1 if len(like) == 40 else hashlib.sha256
    return digest(b"blob %d\0" % len(data) + data).hexdigest()


def _read_worktree(root: str, path: str, sha: str) -> bytes | None:
    """The work tree's file at `path` when it holds exactly blob `sha` (its hash is checked), else None.

    Reading the checked-out files is ~20x cheaper than `git cat-file` on a packed history (deltas).
    Only a regular file is read (never a FIFO, device or symlink); anything else goes to git."""
    full = os.path.join(root, path)
    try:
        if not stat.S_ISREG(os.lstat(full).st_mode):
            return None
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > _READ_MAX:
            return None
        pieces = []
        size = 0
        while piece := os.read(fd, max(info.st_size + 1 - size, 65536)):
            pieces.append(piece)
            size += len(piece)
            if size > _READ_MAX:
                return None
        data = b"".join(pieces)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if _blob_id(data, sha) == sha else None


def _check_many(batch: Sequence[tuple[str, list[str], bytes | None]]) -> list[list[tuple[Any, ...]] | None]:
    """Rows of a batch of blobs (each with the paths that hold it), each row followed by its report
    facts (computed here, off the main process). A blob sent without its bytes is read from the work
    tree; None in its place when the file there is not that blob (the caller asks git)."""
    schemas, config, root = _WORKER["schemas"], _WORKER["config"], _WORKER.get("root")
    out: list[list[tuple[Any, ...]] | None] = []
    for sha, paths, data in batch:
        if data is None:
            data = _read_worktree(root, paths[0], sha) if root else None
            if data is None:
                out.append(None)
                continue
        out.append([_row_facts(path, sha, data, schemas, config, worktree=False) for path in paths])
    return out


def _write_facts(db: sqlite3.Connection, ready: list[facts.FactRows], paths: list[tuple[str]]) -> None:
    """What `facts.write` does after computing the rows, for rows whose facts are computed already."""
    db.executemany("DELETE FROM fact_records WHERE path = ?", paths)
    db.executemany("DELETE FROM cost_lines WHERE path = ?", paths)
    db.executemany("DELETE FROM recoveries WHERE path = ?", paths)
    insert_facts(db, ready)


def insert_facts(db: sqlite3.Connection, ready: list[facts.FactRows]) -> None:
    """Append the report facts of rows (computed already) to the fact tables."""
    db.executemany(facts._INSERT_RECORD, [f.record for f in ready if f.record is not None])
    db.executemany(facts._INSERT_COST, [c for f in ready for c in f.costs])
    db.executemany(facts._INSERT_RECOVERY, [r for f in ready for r in f.recoveries])


def _facts_of(row: tuple[Any, ...], config: Config) -> facts.FactRows:
    """The report facts of an index row, from its JSON (what `facts.write` computes)."""
    try:
        record = json.loads(row[_JSON]) if row[_JSON] is not None else None
    except ValueError:
        record = None
    return facts.child_rows(row[0], record, config, valid=bool(row[_VALID]), worktree=bool(row[_WORKTREE]))


class _Background:
    """A call run in a thread (a git process waited for while this process parses and writes)."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self._call = call
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._call()
        except BaseException as exc:  # raised again in the caller's thread
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _large_log(root: Path) -> bool:
    """Whether the log has thousands of records, judged by its folders (records/YYYY/STATION/NNN/
    hold at most 1,000 files each): a dozen folders, without asking git."""
    folders = 0
    with suppress(OSError):
        for year in os.scandir(root / "records"):
            if year.is_dir(follow_symlinks=False):
                for station in os.scandir(year.path):
                    if station.is_dir(follow_symlinks=False):
                        folders += sum(1 for b in os.scandir(station.path) if b.is_dir(follow_symlinks=False))
                        if folders >= _LARGE_FOLDERS:
                            return True
    return False


def record_json_text(record: Any) -> str:
    """The index's JSON of a record: compact, non-ASCII kept (what `json.dumps(record, ensure_ascii=False,
    separators=(",", ":"))` writes), through orjson where it can (~3 us a record instead of ~21)."""
    if _orjson is not None:
        try:
            return str(_orjson.dumps(record).decode("utf-8"))
        except TypeError:  # orjson.JSONEncodeError: e.g. a huge integer; the standard encoder decides
            pass
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _row(
    path: str, blob: str, data: bytes, schemas: Schemas, config: Config, *, worktree: bool
) -> tuple[Any, ...]:
    return _row_of(check_text(data, path, schemas, config), path, blob, config, worktree=worktree)


def _row_facts(
    path: str, blob: str, data: bytes, schemas: Schemas, config: Config, *, worktree: bool
) -> tuple[Any, ...]:
    """The index row followed by its report facts (one extra cell: `Index._upsert` writes them), from
    the parsed record itself (the facts of the row's JSON read back are the same: keys are strings).
    A valid record's list columns and facts come from one pass (kakotui.store.digest)."""
    checked = check_text(data, path, schemas, config)
    if checked.valid and checked.record is not None:
        summary, fact_rows = digest(path, checked.record, config, worktree=worktree)
        return (*_row_from(summary, checked, path, blob, worktree=worktree), fact_rows)
    row = _row_of(checked, path, blob, config, worktree=worktree)
    fact_rows = facts.child_rows(path, checked.record, config, valid=checked.valid, worktree=worktree)
    return (*row, fact_rows)


def _row_of(checked: Any, path: str, blob: str, config: Config, *, worktree: bool) -> tuple[Any, ...]:
    return _row_from(summarize(checked.record or {}, config), checked, path, blob, worktree=worktree)


def _row_from(summary: Summary, checked: Any, path: str, blob: str, *, worktree: bool) -> tuple[Any, ...]:
    values = [getattr(summary, c) for c in SUMMARY_COLUMNS]  # asdict deep-copies: 3x slower
    if not values[0]:  # the id
        values[0] = Path(path).stem
    problems = (
        json.dumps([p.to_dict() for p in checked.problems], ensure_ascii=False) if checked.problems else "[]"
    )
    record_json = record_json_text(checked.record) if checked.record is not None else None
    return (
        path,
        blob,
        *values,
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
        new = not self.path.exists()
        self.db = sqlite3.connect(self.path, timeout=_BUSY_MS / 1000, check_same_thread=False)
        if new and _large_log(git.root):
            # A record row is ~2 KB: on 4 KB pages most pages held one (3 KB a row on disk, 500 MB at
            # 100k, and a rebuild's WAL commit costs ~2.5 ms a MB); on 8 KB pages 400 MB. A small log
            # keeps 4 KB pages (each of its ~60 tables and indexes takes a page at least).
            self.db.execute(f"PRAGMA page_size={PAGE_SIZE}")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        # A rebuild writes the whole database through the WAL; without a limit the file keeps that size
        # (~600 MB at 100k) and every later open that follows an unclean exit reads all of it (0.3 s).
        self.db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT}")
        self.db.executescript(_SCHEMA)
        self._ids_cache: tuple[tuple[int, int], frozenset[str]] | None = None
        self._folding: threading.Thread | None = None  # a checkpoint in a thread (`_checkpoint_later`)
        self.workers: int | None = None  # processes that parse a rebuild (None: one per core, at most 4)
        self.pool_min = 2000  # fewer records than this are parsed in this process (a pool costs ~0.3 s)
        # a pooled rebuild: workers write shards (kakotui.store.build); False: their rows are sent back
        self.sharded = True
        facts.ensure(self.db)  # report facts (kakotui.store.facts)
        self._config_key = (
            json.dumps(config.data, sort_keys=True) + "|" + json.dumps(schemas.documents, sort_keys=True)
        )

    def close(self) -> None:
        self._wait_checkpoint()
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
        """Insert or replace rows, and their report facts: a row carries them as an extra cell (computed
        by a worker process or the caller), else they are computed here from the row's JSON. A chunk of
        many rows replaces its facts set-wise (`facts.replacing`) instead of through the triggers."""
        placeholders = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT OR REPLACE INTO records({', '.join(COLUMNS)}) VALUES ({placeholders})"
        width = len(COLUMNS)
        count = 0
        for chunk in _chunks(rows, 2000):  # streamed in chunks: never every row at once
            chunk = list({r[0]: r for r in chunk}.values())  # a path twice: its last row, as REPLACE does
            ready = [r[width] if len(r) > width else _facts_of(r, self.config) for r in chunk]
            paths = [r[0] for r in chunk]
            batch = facts.replacing(self.db, paths) if len(chunk) >= _SET_MIN else nullcontext(False)
            with batch as set_wise:
                count += self.db.executemany(sql, [r[:width] for r in chunk]).rowcount
                if set_wise:  # the old facts are gone already
                    insert_facts(self.db, ready)
                else:
                    _write_facts(self.db, ready, [(p,) for p in paths])
        return count

    def upsert_many(self, rows: Sequence[tuple[Any, ...]]) -> int:
        """`_upsert` for a batch known in full (an import): when it is large and at least a third of
        the log, written as a rebuild writes (`facts.bulk_begin`/`bulk_end`: indexes and triggers
        dropped, the rows appended, the indexes made and every roll-up summed again), which at that
        size costs a fraction of keeping ~20 indexes and the roll-ups row by row. In the caller's
        transaction when one is open, else in one of its own that the caller commits."""
        if len(rows) < _BULK_MIN:
            return self._upsert(rows)
        width = len(COLUMNS)
        # each path once (the last row wins, as INSERT OR REPLACE), each row with its report facts
        rows = [
            r if len(r) > width else (*r, _facts_of(r, self.config)) for r in {r[0]: r for r in rows}.values()
        ]
        (present,) = self.db.execute("SELECT count(*) FROM records").fetchone()
        if len(rows) * 3 < int(present):
            return self._upsert(rows)
        if not self.db.in_transaction:
            self.db.execute("BEGIN IMMEDIATE")
        saved = facts.bulk_begin(self.db, empty=False)
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS kakotui_bulk(path TEXT PRIMARY KEY)")
        self.db.execute("DELETE FROM temp.kakotui_bulk")
        self.db.executemany("INSERT OR IGNORE INTO temp.kakotui_bulk VALUES (?)", [(r[0],) for r in rows])
        for table in ("records", "fact_records", "cost_lines", "recoveries"):  # the rows being replaced
            self.db.execute(f"DELETE FROM {table} WHERE path IN (SELECT path FROM temp.kakotui_bulk)")
        self.db.execute("DELETE FROM temp.kakotui_bulk")
        count = self._append(rows)
        facts.bulk_end(self.db, saved)
        return count

    def _rows_from_blobs(
        self,
        entries: Sequence[tuple[str, str]],
        progress: Progress | None,
        total: int,
        done: int = 0,
        *,
        dirty: Container[str] | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """Parse and validate blobs, in `entries` order, each row followed by its report facts; in
        parallel across cores when there are many.

        `dirty`: the record files `git status` lists; every other file's blob is read from the work
        tree (checked against its id, git answers where it differs). None: every blob from git."""
        by_sha: dict[str, list[str]] = {}
        for path, sha in entries:
            by_sha.setdefault(sha, []).append(path)
        root = str(self.git.root) if dirty is not None else None
        from_git = [sha for sha, paths in by_sha.items() if root is None or paths[0] in (dirty or ())]
        workers = self.workers or min(os.cpu_count() or 1, 4)

        def tick(count: int) -> None:
            nonlocal done
            before, done = done, done + count
            if progress and before // 500 != done // 500:
                progress(done, total)

        if len(entries) < self.pool_min or workers < 2:
            read: dict[str, bytes] = {}
            if root is not None:
                for sha, paths in by_sha.items():
                    if paths[0] not in (dirty or ()):
                        data = _read_worktree(root, paths[0], sha)
                        if data is None:
                            from_git.append(sha)
                        else:
                            read[sha] = data
            read.update(self.git.cat_blobs(from_git))
            for sha, paths in by_sha.items():
                for path in paths:
                    yield _row_facts(path, sha, read[sha], self.schemas, self.config, worktree=False)
                tick(len(paths))
        else:
            texts = {name: json.dumps(doc) for name, doc in self.schemas.documents.items()}
            wanted = set(from_git)
            blobs = self.git.cat_blobs(from_git)
            with ProcessPoolExecutor(
                max_workers=workers, initializer=_init_worker, initargs=(texts, self.config.data, root)
            ) as pool:

                def jobs() -> Iterator[list[tuple[str, list[str], bytes | None]]]:
                    batch: list[tuple[str, list[str], bytes | None]] = []
                    for sha, paths in by_sha.items():
                        data: bytes | None = None
                        if sha in wanted:
                            got, data = next(blobs)
                            if got != sha:
                                raise GitError(f"git cat-file answered {got} for {sha}")
                        batch.append((sha, paths, data))
                        if len(batch) >= _BATCH:
                            yield batch
                            batch = []
                    if batch:
                        yield batch

                def results(
                    batch: list[tuple[str, list[str], bytes | None]], future: Future[list[Any]]
                ) -> Iterator[tuple[Any, ...]]:
                    answers = future.result()
                    # the work tree's file is not the blob: git's copies, one `cat-file` per batch
                    missed = [
                        sha for (sha, _paths, _data), rows in zip(batch, answers, strict=True) if rows is None
                    ]
                    fetched = dict(self.git.cat_blobs(missed)) if missed else {}
                    for (sha, paths, _data), rows in zip(batch, answers, strict=True):
                        if rows is None:
                            rows = [
                                _row_facts(p, sha, fetched[sha], self.schemas, self.config, worktree=False)
                                for p in paths
                            ]
                        yield from rows
                        tick(len(paths))

                # Bounded submission (pool.map would read every blob before the first result):
                # at most a few batches per worker are in flight, results come back in order.
                pending: deque[tuple[list[Any], Future[list[Any]]]] = deque()
                for batch in jobs():
                    pending.append((batch, pool.submit(_check_many, batch)))
                    while len(pending) > workers * 3 or (pending and pending[0][1].done()):
                        yield from results(*pending.popleft())
                while pending:
                    yield from results(*pending.popleft())
        if progress:
            progress(total, total)

    def rebuild(self, progress: Progress | None = None) -> CatchUp:
        """Index every record of HEAD again from its file (then the work tree's edits)."""
        with self._write_cache():
            return self._rebuild(progress)

    def _rebuild(self, progress: Progress | None = None) -> CatchUp:
        """One write transaction (a crash leaves the index as it was; readers see it meanwhile): the
        tables emptied and their secondary indexes and triggers dropped, the rows appended, then the
        indexes made over the filled tables and the roll-ups summed once (`facts.bulk_begin`/`bulk_end`:
        ~4x cheaper than keeping ~20 indexes and the roll-up triggers row by row). The commit table
        (kakotui.store.trail) is only extended, never built here: `build_trail` builds it."""
        head = self.git.head()
        entries = (
            [(p, s) for p, s in self.git.ls_tree(head, PREFIX) if is_record_path(p)]
            if head is not None
            else []
        )
        dirty = _Background(self._dirty)  # for the overlay; every file is tried in the work tree (checked)
        total = len(entries)
        # progress: the rows are ~85% of the work, the indexes and roll-ups the rest
        finish = total // 6

        def rows_progress(done: int, _total: int) -> None:
            if progress:
                progress(done * (total - finish) // max(total, 1), total)

        if progress:
            progress(0, total)
        db = self.db
        workers = self.workers or min(os.cpu_count() or 1, 4)
        shards = None
        direct = self._write_directly()
        db.execute("BEGIN IMMEDIATE")
        try:
            saved = facts.bulk_begin(db)
            self._set_meta("head", None)
            if self.sharded and total >= self.pool_min and workers >= 2:
                from kakotui.store import build

                def shard_progress(done: int) -> None:
                    rows_progress(done, total)

                # the workers write shards of their own; copied in, indexed and summed at once
                shards = build.scratch(self)
                build.rebuild_rows(self, shards, entries, saved, shard_progress, workers)
            else:
                self._append(self._rows_from_blobs(entries, rows_progress, total, dirty=frozenset()))
                if progress:
                    progress(total - finish, total)
                facts.bulk_end(db, saved)
            self._set_meta("head", head)
            self._set_meta("format", INDEX_FORMAT)
            self._set_meta("config", self._config_key)
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            if shards is not None:
                shards.close()
            if direct:
                self._back_to_wal()
        self._catch_up_trail(head, None)
        overlay = self._overlay_worktree(dirty.result())
        if not direct:
            self._checkpoint()
        if progress:
            progress(total, total)
        return CatchUp(True, total + overlay, 0, head)

    def _append(self, rows: Iterable[tuple[Any, ...]]) -> int:
        """Insert rows (each followed by its facts) into the emptied tables of a rebuild."""
        width = len(COLUMNS)
        count = 0
        for chunk in _chunks(rows, 2000):
            self.db.executemany(INSERT_ROW, [r[:width] for r in chunk])
            insert_facts(self.db, [r[width] for r in chunk])
            count += len(chunk)
        return count

    def _dirty(self) -> set[str]:
        """The record files `git status` lists (changed, added, deleted, untracked)."""
        return {path for _code, path in self.git.status(PREFIX) if is_record_path(path)}

    def build_trail(self, progress: Progress | None = None) -> bool:
        """Build the commit table (kakotui.store.trail) if it is missing or stale, else extend it;
        whether it now reflects HEAD. One `git log` over the whole history: ~50 s at 100k commits,
        so it is not part of the index build; history, blame and the audit ask for it when needed."""
        from kakotui.store import trail

        return trail.update(self.git, self.db, self.git.head(), progress)

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
        try:
            return self._catch_up_steps(progress)
        finally:
            self.db.execute(f"PRAGMA wal_autocheckpoint={_AUTOCHECKPOINT}")

    def _catch_up_steps(self, progress: Progress | None) -> CatchUp:
        if self._meta("format") != INDEX_FORMAT or self._meta("config") != self._config_key:
            return self.rebuild(progress)
        stored = self.head
        head = self.git.head()
        changed = removed = 0
        dirty = _Background(self._dirty)  # `git status` runs meanwhile (~0.4 s at 100k files)
        if stored != head:
            if stored is None or head is None or not self._has_commit(stored):
                return self.rebuild(progress)
            diff = self.git.diff_tree(stored, head, PREFIX)
            upserts = [
                (path, new) for status, path, _old, new in diff if status != "D" and is_record_path(path)
            ]
            deletes = [path for status, path, _old, _new in diff if status == "D"]
            if len(upserts) + len(deletes) >= _CHECKPOINT_AFTER:
                # not at this commit: the WAL is folded in afterwards, in a thread (`_checkpoint_later`)
                self.db.execute("PRAGMA wal_autocheckpoint=0")
            with self.db:
                self.db.executemany("DELETE FROM records WHERE path = ?", [(p,) for p in deletes])
                # every changed file is tried in the work tree (a pull brought it there): its id is
                # checked, so `git status` (for the overlay, below) need not be waited for
                changed = (
                    self._upsert(self._rows_from_blobs(upserts, progress, len(upserts), dirty=frozenset()))
                    if upserts
                    else 0
                )
                self._set_meta("head", head)
            removed = len(deletes)
        self._catch_up_trail(head, progress)
        changed += self._overlay_worktree(dirty.result())
        if changed + removed >= _CHECKPOINT_AFTER:
            self._checkpoint_later()
        return CatchUp(False, changed, removed, head)

    def _write_directly(self) -> bool:
        """Before the rebuild of an empty index (the first build): leave WAL mode when no other
        connection has the file open, so the rows are written once, into the database, instead of
        into the WAL and then again by the checkpoint (~1.2 s of WAL commit and ~1 s of checkpoint at
        100k). A rollback journal of an empty database holds only its few schema pages, and a crash
        still leaves the index as it was (the journal is rolled back at the next open). Whether it
        did; with another connection open the rebuild writes through the WAL as always."""
        db = self.db
        if db.execute("SELECT 1 FROM records LIMIT 1").fetchone() is not None:
            return False
        db.execute("PRAGMA busy_timeout=0")  # another connection: do not wait for it, keep WAL
        try:
            (mode,) = db.execute("PRAGMA journal_mode=DELETE").fetchone()
        except sqlite3.OperationalError:
            return False
        finally:
            db.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
        return str(mode).lower() == "delete"

    def _back_to_wal(self) -> None:
        """WAL mode again after `_write_directly` (readers then never wait for a writer). If another
        connection opened the file meanwhile this waits for it like any write; the next open of the
        index sets WAL in any case."""
        with suppress(sqlite3.OperationalError):
            self.db.execute("PRAGMA journal_mode=WAL").fetchone()

    def _checkpoint(self) -> None:
        """Move the WAL into the database and truncate it (after big writes: the next open stays fast)."""
        with suppress(sqlite3.OperationalError):  # another connection is busy: SQLite does it later
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _checkpoint_later(self) -> None:
        """Move the WAL into the database in a thread on a connection of its own, after a big catch-up:
        the caller has its rows without waiting for it (~0.8 s at 1,000 changed records). PASSIVE: no
        reader or writer waits for it; what it cannot move now SQLite moves at a later commit. A crash
        meanwhile loses nothing (the WAL stays valid until it is moved). `close` waits for it."""
        self._wait_checkpoint()

        def fold() -> None:
            with suppress(sqlite3.Error):
                con = sqlite3.connect(self.path, timeout=5)
                try:
                    con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    con.close()

        self._folding = threading.Thread(target=fold, name="kakotui-index-checkpoint", daemon=True)
        self._folding.start()

    def _wait_checkpoint(self) -> None:
        if self._folding is not None:
            self._folding.join()
            self._folding = None

    def _catch_up_trail(self, head: str | None, progress: Progress | None) -> None:
        """The table of commits and the record files they touched (kakotui.store.trail), extended by
        the commits after its head when it exists; built only by `build_trail` (on first need)."""
        from kakotui.store import trail

        trail.update(self.git, self.db, head, progress, build=False)

    def _overlay_worktree(self, dirty: set[str] | None = None) -> int:
        """Index uncommitted edits (hand edits, interrupted saves) so they are listed and validated.
        `dirty`: the record files `git status` listed (asked again when not given)."""
        if dirty is None:
            dirty = self._dirty()
        previously = {row[0] for row in self.db.execute("SELECT path FROM records WHERE worktree = 1")}
        count = 0
        with self.db:
            for path in previously - dirty:  # the edit was committed or reverted: back to HEAD's version
                self.db.execute("DELETE FROM records WHERE path = ?", (path,))
                head = self.git.head()
                sha = dict(self.git.ls_tree(head, path)).get(path) if head else None
                if sha is not None:
                    data = self.git.read_blob(sha)
                    self._upsert([_row_facts(path, sha, data, self.schemas, self.config, worktree=False)])
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
                self._upsert([_row_facts(path, sha, data, self.schemas, self.config, worktree=True)])
                count += 1
        return count

    def put(self, path: str, data: bytes, *, old_head: str | None, new_head: str) -> None:
        """Record a save made by this clone: one row, and the head moves only if nothing else moved it."""
        sha = self.git.blob_sha(data)
        with self.db:
            self._upsert([_row_facts(path, sha, data, self.schemas, self.config, worktree=False)])
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
