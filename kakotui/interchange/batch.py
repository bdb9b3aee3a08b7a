"""Many record files saved as one commit: written, committed, or all put back as they were.

Under the repository lock: check that every file is still what the caller planned on (absent for a
new record, the expected blob for an update), write each file atomically (temporary name, rename)
while one `git fast-import` packs the same bytes and the caller's index rows go in (three things at
once, on two cores), flush the files to disk once, move the branch, and bring git's index stat data
up to date so that `git status` stays fast. If anything fails before the commit is made, every file
is restored and the log is exactly as it was. Index rows for the SQLite cache are built here from
the already validated records, so a 100,000-record import does not parse and validate them twice.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from kakotui.core.config import Config
from kakotui.store.digest import digest
from kakotui.store.gitrepo import Git, Identity, blob_sha, repo_lock
from kakotui.store.index import SUMMARY_COLUMNS, record_json_text

__all__ = ["Conflict", "commit_many", "index_row"]

Progress = Callable[[int, int], None]
_WRITERS = 8


class Conflict(Exception):
    """A file changed (or appeared) since the import was planned; nothing was written."""


def _write(file: str | Path, data: bytes, *, new: bool = False) -> None:
    """Write `file` whole: a new file directly (it did not exist: no reader can see a mix), an
    existing one through a temporary name and a rename."""
    if new:  # strings, not Path objects: this runs once per imported record, in threads sharing the GIL
        try:
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(file), exist_ok=True)
            fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            Path(file).unlink(missing_ok=True)
            raise
        os.close(fd)
        return
    path = Path(file)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def commit_many(
    git: Git,
    files: Mapping[str, bytes],
    expected: Mapping[str, str | None],
    message: str,
    author: Identity,
    *,
    progress: Progress | None = None,
    alongside: Callable[[], object] | None = None,
) -> tuple[str, str | None]:
    """Write and commit `files` (path -> canonical bytes) in one commit; return (commit, old head).

    `expected[path]` is the blob the file must hold now, or None when it must not exist. Raises
    `Conflict` or `GitError`; in both cases no file is left changed and HEAD has not moved.

    The files are written by threads while `git fast-import` hashes and packs the same bytes from its
    stdin (it reads no work-tree file); the branch moves only once every file is written and flushed.
    `alongside` (the index rows, in a transaction the caller commits or rolls back) runs in one more
    thread from the moment the lock is held (the caller rolls it back on `Conflict` too); it has
    ended when this returns or raises, and its exception is raised if the commit was made.
    `progress` is called from the thread that writes the files.
    """
    with repo_lock(git.git_dir), ThreadPoolExecutor(2) as background:
        # the index rows go in from the start (their transaction is rolled back on a conflict too)
        side = background.submit(alongside) if alongside is not None else None
        try:
            return _commit_locked(git, files, expected, message, author, progress, background, side)
        finally:
            if side is not None:
                wait([side])


def _commit_locked(
    git: Git,
    files: Mapping[str, bytes],
    expected: Mapping[str, str | None],
    message: str,
    author: Identity,
    progress: Progress | None,
    background: ThreadPoolExecutor,
    side: Future[object] | None,
) -> tuple[str, str | None]:
    root = git.root
    base = os.fspath(root)
    originals: dict[str, bytes | None] = {}
    for path in files:
        want = expected.get(path)
        if want is None:
            # lexists: a file, a folder or a symlink (even a dangling one); one lstat, no Path objects
            if os.path.lexists(os.path.join(base, path)):
                raise Conflict(f"{path} was created by someone else since the import was planned")
            originals[path] = None
            continue
        try:
            current: bytes | None = (root / path).read_bytes()
        except FileNotFoundError:
            current = None
        if current is None or blob_sha(current) != want:
            raise Conflict(f"{path} was changed by someone else since the import was planned")
        originals[path] = current
    old_head = git.head()
    written: list[str] = []
    writing = background.submit(_write_all, root, files, originals, written, progress)

    def on_disk() -> None:
        writing.result()
        os.sync()  # one barrier for all the files instead of an fsync each (100x faster here)

    try:
        commit = git.commit_files(dict(files), message, author, expected_head=old_head, before_ref=on_disk)
    except BaseException:
        wait([writing])  # every file written must be known before they are put back
        _restore(root, written, originals)
        raise
    # Entries added by blob id carry no stat data: without a refresh every later `git status`
    # would hash all the imported files again.
    git.run("update-index", "-q", "--refresh", check=False)
    if side is not None:
        side.result()

    return commit, old_head


def _write_all(
    root: Path,
    files: Mapping[str, bytes],
    originals: Mapping[str, bytes | None],
    written: list[str],
    progress: Progress | None,
) -> None:
    """Write every file, several at a time (creating a file costs ~1 ms of waiting on this disk)."""
    total = len(files)
    base = os.fspath(root)

    def some(items: list[tuple[str, bytes]]) -> list[str]:
        done: list[str] = []
        try:
            for path, data in items:
                _write(os.path.join(base, path), data, new=originals.get(path) is None)
                done.append(path)
        except BaseException as exc:
            exc.add_note("\0".join(done))  # what this batch wrote before failing, to restore it
            raise
        return done

    for folder in sorted({os.path.dirname(os.path.join(base, path)) for path in files}):
        os.makedirs(folder, exist_ok=True)
    failure: BaseException | None = None
    items = list(files.items())
    batches = [items[i : i + 250] for i in range(0, total, 250)]
    with ThreadPoolExecutor(_WRITERS) as pool:
        futures = [pool.submit(some, batch) for batch in batches]
        done = 0
        for future, batch in zip(futures, batches, strict=True):
            try:
                written.extend(future.result())
            except BaseException as exc:  # keep collecting: every written file must be known to restore it
                notes = getattr(exc, "__notes__", None) or [""]
                written.extend(p for p in notes[-1].split("\0") if p)
                failure = failure or exc
            done += len(batch)
            if progress is not None:
                progress(done, total)
    if failure is not None:
        raise failure


def _restore(root: Path, written: Sequence[str], originals: Mapping[str, bytes | None]) -> None:
    for path in written:
        original = originals.get(path)
        file = root / path
        try:
            if original is None:
                file.unlink(missing_ok=True)
                _prune(file.parent, root)
            else:
                _write(file, original)
        except OSError:
            continue  # best effort: the commit was not made, `git status` shows what is left


def _prune(folder: Path, root: Path) -> None:
    """Remove folders the import created and left empty (up to records/)."""
    stop = root / "records"
    while folder != stop and folder.is_relative_to(stop):
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def index_row(path: str, data: bytes, record: dict[str, Any], config: Config) -> tuple[Any, ...]:
    """The index row of a valid record, in `kakotui.store.index.COLUMNS` order, without re-reading it,
    followed by its report facts (`facts.child_rows`) as one extra cell: `Index._upsert` writes those
    as they are instead of parsing the row's JSON again and computing them in the saving process."""
    summary, fact_rows = digest(path, record, config)
    return (
        path,
        blob_sha(data),
        *(getattr(summary, c) for c in SUMMARY_COLUMNS),
        1,
        "[]",
        0,
        record_json_text(record),
        fact_rows,
    )
