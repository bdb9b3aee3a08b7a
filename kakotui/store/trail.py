"""The commit table: every commit of the branch with its author, date, action and the record files it
touched, kept in the index (a cache of git, like the rest of it) so that a record's history and the
process audit do not walk the whole history in git each time.

Tables (in the index's SQLite file):

- `trail_commits`: one row per commit reachable from the indexed head, numbered parents first (`n`),
  with its parents, author, author date, committer time, subject and `Kakotui-Action` trailer;
- `trail_touches`: (path, commit, parent number, status) for every file under `records/` that
  differs between a commit and its parent (the first parent, and for a merge every other one too;
  a root commit against the empty tree);
- `trail_paths`: the paths, numbered; `trail_meta`: the head the tables reflect, their format, and
  how many merges and commits with a clock that ran back (dated before a parent) they hold.

It is built with one `git log --full-history --sparse --diff-merges=first-parent --name-status` pass
plus one `git diff-tree --stdin` for the other parents of merges, and extended from the stored head
for the commits after it; when the stored head is no longer in the branch's history (a rewrite, a
reset) or the format changed, the tables are built again; in a shallow clone there are none. The
same pass keeps the audit report's `first_commits` (the first commit that added each record file).

The index build does not build them: git's diffing of every commit costs ~37 CPU-s at 100k commits
(plus ~15 s of parsing and writing), more than the whole records build. They are built on first
need (`Index.build_trail`, `open_trail(build=True, progress=...)`); until then a history asks git
(the same answer, `kakotui.store.history`) and the audit scans git for first commits
(`reportdata.scan_first_commits`). Every catch-up and rebuild extends tables that exist.

`Trail.log_path` answers what `history._log_path` gets from `git log --diff-merges=first-parent --
<path>`. That option makes git walk the full history (as `--full-history` does): every commit that
changed the file against its parent, and every merge whose file differs from at least one parent's,
in git's walk order. On one line of history (no merges) that order is the table's; with merges git
pops the newest commit date first, which is newest-first overall when no commit is dated before
its parent: then the table answers when the dates of the path's commits are distinct, and
otherwise (equal dates, a clock that ran back somewhere) answers None and the caller asks git.
`tests/store/test_trail.py` checks the answers against git's on scripted histories (several
authors, renumbering, sync merges) and on random histories with branches and merges.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from kakotui.core.ids import is_record_path
from kakotui.store.gitrepo import Git, GitError

__all__ = ["FIRST_COMMITS_SCHEMA", "FORMAT", "Commit", "Touch", "Trail", "drop", "open_trail", "update"]

FORMAT = "3"
PREFIX = "records/"
Progress = Callable[[int, int], None]

FIRST_COMMITS_SCHEMA = """
CREATE TABLE IF NOT EXISTS first_commits (path TEXT PRIMARY KEY, at_s INTEGER NOT NULL, sha TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS first_commits_meta (key TEXT PRIMARY KEY, value TEXT);
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trail_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS trail_commits (
    n INTEGER PRIMARY KEY,
    sha TEXT NOT NULL UNIQUE,
    parents TEXT NOT NULL,
    author TEXT NOT NULL,
    email TEXT NOT NULL,
    date TEXT NOT NULL,
    at_s INTEGER NOT NULL,
    ct INTEGER NOT NULL,
    subject TEXT NOT NULL,
    action TEXT
);
CREATE TABLE IF NOT EXISTS trail_paths (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS trail_touches (
    path_id INTEGER NOT NULL, n INTEGER NOT NULL, parent INTEGER NOT NULL, status TEXT NOT NULL,
    PRIMARY KEY (path_id, n, parent)
) WITHOUT ROWID;
"""
_TABLES = ("trail_touches", "trail_paths", "trail_commits", "trail_meta")

# A commit starts with a byte no field holds; fields end with NUL (git never prints NUL in them).
_MARK = b"\x01KAKOTUI-TRAIL\x00"
_FORMAT = "%x01KAKOTUI-TRAIL%x00" + "".join(
    f"{f}%x00"
    for f in (
        "%H",
        "%P",
        "%an",
        "%ae",
        "%aI",
        "%at",
        "%ct",
        "%s",
        "%(trailers:key=Kakotui-Action,valueonly,separator=%x2C)",
    )
)
_FIELDS = 9


@dataclass
class Commit:
    """One commit as read from git (before it is numbered)."""

    sha: str
    parents: list[str]
    author: str
    email: str
    date: str
    at_s: int
    ct: int  # the committer time: what git's walk orders by
    subject: str
    action: str | None
    touches: list[tuple[str, str, int]]  # (status, path, parent number: 1 = first parent)


@dataclass(frozen=True)
class Touch:
    """A commit that changed a path against its first parent (what `git log --raw -- <path>` lists)."""

    commit: str
    parents: list[str]
    author: str
    email: str
    date: str
    subject: str
    action: str | None
    status: str  # A, M, D or T against the first parent (A for a root commit)
    first_parent: bool = True  # False: a merge whose file is its first parent's (another parent's differs)


# ---------------------------------------------------------------------------------------------
# Reading git


def _parse_log(chunks: Iterable[bytes]) -> list[Commit]:
    commits: list[Commit] = []
    for chunk in chunks:
        parts = chunk.split(b"\x00", _FIELDS)
        if len(parts) != _FIELDS + 1:
            raise GitError(f"unexpected output of git log: {chunk[:80]!r}")
        sha, parents, author, email, date, at_s, ct, subject, action = (
            p.decode("utf-8", "replace") for p in parts[:_FIELDS]
        )
        touches: list[tuple[str, str, int]] = []
        tokens = parts[_FIELDS].lstrip(b"\x00\n").split(b"\x00")
        for status, path in zip(tokens[0::2], tokens[1::2], strict=False):
            status = status.strip(b"\n")
            if status:
                touches.append(
                    (status[:1].decode("ascii", "replace"), path.decode("utf-8", "surrogateescape"), 1)
                )
        commits.append(
            Commit(
                sha,
                parents.split(),
                author,
                email,
                date,
                int(at_s or 0),
                int(ct or 0),
                subject,
                action.split(",")[-1].strip() or None,
                touches,
            )
        )
    return commits


def _log_args(rev_range: str) -> list[str]:
    return [
        "-c",
        "log.showRoot=true",
        "log",
        "-z",
        "--no-show-signature",
        "--topo-order",  # children first (--reverse would make git hold everything before writing)
        "--full-history",
        "--sparse",
        "--no-renames",
        "--diff-merges=first-parent",
        "--name-status",
        f"--format={_FORMAT}",
        "--end-of-options",
        rev_range,
        "--",
        PREFIX,
    ]


_SPLIT = 20_000  # commits: a longer history is read by two git processes at once (one per half)


def _read_commits(git: Git, rev_range: str, progress: Progress | None = None) -> list[Commit]:
    """Commits of `rev_range`, parents before children, with the record files each changed.

    A long history (a first build) is read in two halves at once, split at the first-parent
    ancestor half-way down: git's diffing of every commit is most of the cost, on two cores."""
    total = int(git.run("rev-list", "--count", "--end-of-options", rev_range, "--").strip() or 0)
    if progress:
        progress(0, total)
    ranges = [rev_range]
    if total > _SPLIT and ".." not in rev_range:
        middle = git.run(
            "rev-list", "-1", f"--skip={total // 2}", "--first-parent", "--end-of-options", rev_range, "--"
        )
        middle_sha = middle.decode("ascii").strip()
        if middle_sha:
            ranges = [middle_sha, f"{middle_sha}..{rev_range}"]  # every ancestor of the middle; the rest
    parts: list[list[Commit]] = [[] for _ in ranges]
    errors: list[BaseException] = []

    def read(i: int) -> None:
        try:
            rest = b""
            for piece in git.stream(*_log_args(ranges[i])):
                chunks = (rest + piece).split(_MARK)
                rest = chunks.pop()
                before = sum(len(p) for p in parts)
                parts[i] += _parse_log(c for c in chunks if c)
                done = sum(len(p) for p in parts)
                if progress and before // 1000 != done // 1000 and done < total:
                    progress(done, total)
            parts[i] += _parse_log([rest] if rest else [])
        except BaseException as exc:  # raised again in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(1, len(ranges))]
    for thread in threads:
        thread.start()
    read(0)
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    commits: list[Commit] = []
    for part in parts:  # the older half first, each parents first
        commits += reversed(part)
    _merge_sides(git, commits)
    if progress:
        progress(len(commits), max(total, len(commits)))
    return commits


def _merge_sides(git: Git, commits: Sequence[Commit]) -> None:
    """Add to each merge the files it changed against its second (third...) parent."""
    pairs = [(c, k) for c in commits for k in range(2, len(c.parents) + 1)]
    if not pairs:
        return
    lines = "".join(f"{c.sha} {c.parents[k - 1]}\n" for c, k in pairs).encode("ascii")
    out = git.run(
        "diff-tree", "--stdin", "--always", "-r", "-z", "--no-renames", "--name-status", "--", PREFIX,
        input=lines,
    )  # fmt: skip
    tokens = out.split(b"\x00")
    at = -1
    i = 0
    while i < len(tokens):
        token = tokens[i].strip(b"\n")
        if len(token) >= 40 and not token.startswith(PREFIX.encode()) and b" " not in token:
            at += 1  # the header line of the next input pair
            i += 1
            continue
        if token and at >= 0 and i + 1 < len(tokens):
            commit, k = pairs[at]
            commit.touches.append(
                (token[:1].decode("ascii", "replace"), tokens[i + 1].decode("utf-8", "surrogateescape"), k)
            )
            i += 2
            continue
        i += 1
    if at != len(pairs) - 1:
        raise GitError(f"unexpected output of git diff-tree for {len(pairs)} merge parent(s)")


# ---------------------------------------------------------------------------------------------
# Keeping the tables


def _ensure(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA + FIRST_COMMITS_SCHEMA)


def _meta(db: sqlite3.Connection, key: str) -> str | None:
    try:
        row = db.execute("SELECT value FROM trail_meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:  # no table yet
        return None
    return None if row is None else str(row[0])


def drop(db: sqlite3.Connection) -> None:
    """Forget the tables (the next `update` builds them again; history asks git meanwhile)."""
    with db:
        for table in _TABLES:
            db.execute(f"DROP TABLE IF EXISTS {table}")


def _is_ancestor(git: Git, old: str, new: str) -> bool:
    rc, _, _ = git.run_status("merge-base", "--is-ancestor", "--end-of-options", old, new)
    return rc == 0


def update(
    git: Git,
    db: sqlite3.Connection,
    head: str | None,
    progress: Progress | None = None,
    *,
    build: bool = True,
) -> bool:
    """Bring the tables to `head` (the branch's commit); whether they now reflect it.

    Reads only the commits after the stored head when it is still in `head`'s history; builds the
    tables from scratch when they are missing (`build` False: leave them missing and answer False),
    of another format, or the history was rewritten. A shallow clone gets no tables (git answers).
    """
    stored, fmt = _meta(db, "head"), _meta(db, "format")
    if fmt == FORMAT and stored == (head or ""):
        return True
    if fmt is None and not build:
        return False
    try:
        if head is None or (git.git_dir / "shallow").exists():
            if fmt is not None:
                drop(db)
            return False
        incremental = fmt == FORMAT and bool(stored) and _is_ancestor(git, stored or "", head)
        if incremental:
            commits = _read_commits(git, f"{stored}..{head}")
        else:
            if not build:
                return False
            commits = _read_commits(git, head, progress)
        return _write(db, commits, head, stored if incremental else None)
    except GitError:
        drop(db)
        return False
    except sqlite3.OperationalError:  # busy, or this connection is inside another transaction
        return False


def _write(db: sqlite3.Connection, commits: list[Commit], head: str, base: str | None) -> bool:
    """Store `commits` (parents first) on top of the tables at `base` (None: replace them)."""
    if base is None:
        drop(db)
    _ensure(db)
    db.execute("BEGIN IMMEDIATE")  # another process may have moved the tables meanwhile
    try:
        if (_meta(db, "head") or None) != base or (base is not None and _meta(db, "format") != FORMAT):
            db.rollback()
            return _meta(db, "head") == head and _meta(db, "format") == FORMAT
        next_n = int(db.execute("SELECT coalesce(max(n), 0) FROM trail_commits").fetchone()[0]) + 1
        path_ids: dict[str, int] = {}
        next_path = int(db.execute("SELECT coalesce(max(id), 0) FROM trail_paths").fetchone()[0]) + 1
        commit_rows: list[tuple[object, ...]] = []
        touch_rows: list[tuple[int, int, int, str]] = []
        new_paths: list[tuple[int, str]] = []
        first_rows: list[tuple[str, int, str]] = []
        if base:  # the ids of paths the table knows, asked in a few queries (not one per path)
            touched = list({path for c in commits for _status, path, _k in c.touches})
            for i in range(0, len(touched), 500):
                part = touched[i : i + 500]
                path_ids.update(
                    (str(path), int(pid))
                    for pid, path in db.execute(
                        f"SELECT id, path FROM trail_paths WHERE path IN ({', '.join('?' for _ in part)})",
                        part,
                    )
                )
        for n, c in enumerate(commits, start=next_n):
            commit_rows.append(
                (n, c.sha, " ".join(c.parents), c.author, c.email, c.date, c.at_s, c.ct, c.subject, c.action)
            )
            for status, path, k in c.touches:
                pid = path_ids.get(path)
                if pid is None:
                    pid = next_path
                    next_path += 1
                    new_paths.append((pid, path))
                    path_ids[path] = pid
                touch_rows.append((pid, n, k, status))
                if k == 1 and status == "A" and len(c.parents) <= 1 and is_record_path(path):
                    first_rows.append((path, c.at_s, c.sha))
        db.executemany("INSERT INTO trail_paths(id, path) VALUES (?, ?)", new_paths)
        db.executemany(
            "INSERT INTO trail_commits(n, sha, parents, author, email, date, at_s, ct, subject, action) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            commit_rows,
        )
        touch_rows.sort()  # in key order: appends to the table's B-tree instead of inserts all over it
        db.executemany(
            "INSERT OR IGNORE INTO trail_touches(path_id, n, parent, status) VALUES (?, ?, ?, ?)", touch_rows
        )
        # first_commits (the audit's logging delay), as `reportdata.scan_first_commits` keeps it
        if base is None or _fc_head(db) != base:
            db.execute("DELETE FROM first_commits")
            if base is not None:  # it lagged or ran ahead: fill it from every commit in the table
                first_rows = [
                    (str(p), int(a), str(s))
                    for p, a, s in db.execute(
                        "SELECT p.path, c.at_s, c.sha FROM trail_touches t JOIN trail_paths p ON p.id = t.path_id "
                        "JOIN trail_commits c ON c.n = t.n WHERE t.parent = 1 AND t.status = 'A' "
                        "AND instr(c.parents, ' ') = 0 ORDER BY t.n"
                    )
                    if is_record_path(str(p))
                ]
        # the earliest by author time (the order commits arrive in differs between an incremental
        # scan and one pass when side branches come in)
        db.executemany(
            "INSERT INTO first_commits(path, at_s, sha) VALUES (?, ?, ?) ON CONFLICT(path) DO UPDATE "
            "SET at_s = excluded.at_s, sha = excluded.sha WHERE excluded.at_s < first_commits.at_s",
            first_rows,
        )
        db.execute("INSERT OR REPLACE INTO first_commits_meta(key, value) VALUES ('head', ?)", (head,))
        db.execute("INSERT OR REPLACE INTO trail_meta(key, value) VALUES ('head', ?)", (head,))
        db.execute("INSERT OR REPLACE INTO trail_meta(key, value) VALUES ('format', ?)", (FORMAT,))
        merges = int(_meta(db, "merges") or 0) + sum(1 for c in commits if len(c.parents) > 1)
        db.execute("INSERT OR REPLACE INTO trail_meta(key, value) VALUES ('merges', ?)", (str(merges),))
        skewed = int(_meta(db, "skewed") or 0) + _skewed(db, commits)
        db.execute("INSERT OR REPLACE INTO trail_meta(key, value) VALUES ('skewed', ?)", (str(skewed),))
        db.commit()
    except BaseException:
        db.rollback()
        raise
    return True


def _skewed(db: sqlite3.Connection, commits: Sequence[Commit]) -> int:
    """How many of these commits have a parent with a later commit date (a clock that ran back)."""
    dates = {c.sha: c.ct for c in commits}
    count = 0
    for c in commits:
        for parent in c.parents:
            when = dates.get(parent)
            if when is None:
                row = db.execute("SELECT ct FROM trail_commits WHERE sha = ?", (parent,)).fetchone()
                when = None if row is None else int(row[0])
            if when is not None and when > c.ct:
                count += 1
                break
    return count


def _fc_head(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT value FROM first_commits_meta WHERE key = 'head'").fetchone()
    return None if row is None else str(row[0])


# ---------------------------------------------------------------------------------------------
# Reading a path's history


class Trail:
    """The tables of one index, at `head`: a path's commits without walking git's history."""

    def __init__(
        self, db: sqlite3.Connection, head: str, is_ancestor: Callable[[str, str], bool] | None = None
    ) -> None:
        self.db = db
        self.head = head
        self.is_ancestor = is_ancestor  # (commit, of): asked for walks from a commit other than the head
        self._merges: int | None = None

    def log_path(self, rev: str, path: str) -> list[Touch] | None:
        """What `git log --diff-merges=first-parent <rev> -- <path>` lists, newest first; None when
        only git can tell (see the module docstring).

        `--diff-merges=first-parent` walks the full history (like `--full-history`): every commit
        reachable from `rev` that changed the file against its parent, and every merge whose file
        differs from at least one parent's, in git's walk order (newest commit date first).
        """
        start = self.db.execute(
            "SELECT n FROM trail_commits WHERE sha = ?", (self.head if rev == "HEAD" else rev,)
        ).fetchone()
        if start is None:
            return None
        pid_row = self.db.execute("SELECT id FROM trail_paths WHERE path = ?", (path,)).fetchone()
        if pid_row is None:
            return []
        hits: dict[int, _Hit] = {}
        for r in self.db.execute(
            "SELECT c.n, c.ct, c.sha, c.parents, c.author, c.email, c.date, c.subject, c.action, t.parent, "
            "t.status FROM trail_touches t JOIN trail_commits c ON c.n = t.n WHERE t.path_id = ?",
            (int(pid_row[0]),),
        ):
            n, parent, status = int(r[0]), int(r[9]), str(r[10])
            hit = hits.get(n)
            if hit is None:
                hit = hits[n] = _Hit(
                    n, int(r[1]), str(r[2]), str(r[3]).split(), str(r[4]), str(r[5]), str(r[6]), str(r[7]),
                    None if r[8] is None else str(r[8]),
                )  # fmt: skip
            if parent == 1:
                hit.status = status
        # a plain commit is listed when it changed the file; a merge when any parent's file differs
        chosen = [h for h in hits.values() if h.status is not None or len(h.parents) > 1]
        merges = self.merges()
        if rev != "HEAD" and rev != self.head:
            if merges:
                if self.is_ancestor is None:
                    return None
                chosen = [h for h in chosen if self.is_ancestor(h.sha, rev)]
            else:  # one line of history: the ancestors of a commit are the ones numbered before it
                chosen = [h for h in chosen if h.n <= int(start[0])]
        chosen.sort(key=lambda h: -h.n)  # children before parents: git's order on one line of history
        if merges:
            # Several lines: git pops the newest commit date first. When no commit is older than a
            # parent of it, that is newest first overall; equal dates (order unknown) or a clock
            # that ran backwards somewhere: git's answer.
            if int(_meta(self.db, "skewed") or 0):
                return None
            chosen.sort(key=lambda h: -h.ct)
            if any(a.ct == b.ct for a, b in itertools.pairwise(chosen)):
                return None
        return [
            Touch(
                h.sha,
                h.parents,
                h.author,
                h.email,
                h.date,
                h.subject,
                h.action,
                h.status or "M",
                h.status is not None,
            )
            for h in chosen
        ]

    def merges(self) -> int:
        """How many merge commits the table holds (0: one line of history, the simple case)."""
        if self._merges is None:
            self._merges = int(_meta(self.db, "merges") or 0)
        return self._merges


@dataclass
class _Hit:
    n: int
    ct: int
    sha: str
    parents: list[str]
    author: str
    email: str
    date: str
    subject: str
    action: str | None
    status: str | None = None  # against the first parent; None: the file is the first parent's


def open_trail(
    git: Git,
    db: sqlite3.Connection,
    *,
    head: str | None = None,
    build: bool = False,
    progress: Progress | None = None,
) -> Trail | None:
    """The tables at the branch's current commit (caught up if they lag), or None when they are
    missing (not built yet: history asks git) or the clone is shallow.

    The index build does not make them (one `git log` over the whole history: ~50 s at 100k
    commits); `build` True builds them here when missing or stale, reporting `progress`."""
    head = head if head is not None else git.head()
    if head is None or (db.in_transaction and _meta(db, "head") != head):
        return None  # another thread of this connection is writing: git answers this time
    if not update(git, db, head, progress, build=build):
        return None
    return Trail(db, head, lambda commit, of: _is_ancestor(git, commit, of))
