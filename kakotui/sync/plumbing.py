"""Git plumbing for sync: commits built as objects, then applied to the clone with a journal.

`tree_with`/`commit` write blobs, trees and commits without touching the work tree, the index or
any branch. `apply` then moves the work tree, the branch (compare-and-swap) and git's index from
one commit to another; it writes `.git/kakotui/sync-journal.json` first, so a crash at any point
is finished by `recover` on the next sync. Files with unsaved changes are never overwritten.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from kakotui.store.gitrepo import NULL_SHA, Git, GitError, Identity, atomic_write, repo_lock
from kakotui.sync.summary import SyncError

Changes = list[tuple[str, str, str, str]]


class Plumbing:
    """Object building and journaled application for one clone."""

    def __init__(self, git: Git, identity: Callable[[], Identity], step: Callable[[str], None]) -> None:
        self.git = git
        self._identity = identity
        self._step = step

    def identity(self) -> Identity:
        """Who the commits built here are by (the person syncing)."""
        return self._identity()

    # -- building commits as objects ----------------------------------------------------------------

    def write_blobs(self, datas: Iterable[bytes]) -> list[str]:
        items = list(datas)
        if not items:
            return []
        folder = self.git.git_dir / "kakotui" / f"sync-blobs-{os.getpid()}-{secrets.token_hex(4)}"
        folder.mkdir(parents=True)
        try:
            paths = []
            for i, data in enumerate(items):
                file = folder / str(i)
                file.write_bytes(data)
                paths.append(str(file))
            out = self.git.run(
                "hash-object", "-w", "--no-filters", "--stdin-paths", input="\n".join(paths).encode()
            )
        finally:
            for file in folder.iterdir():
                file.unlink()
            folder.rmdir()
        shas = out.decode().split()
        if len(shas) != len(items):
            raise SyncError("git hash-object did not store every file")
        return shas

    def tree_with(self, tree_ish: str, changes: dict[str, bytes | None]) -> str:
        present = [(p, d) for p, d in changes.items() if d is not None]
        shas = dict(zip([p for p, _ in present], self.write_blobs(d for _, d in present), strict=True))
        index = self.git.git_dir / "kakotui" / f"sync-index-{os.getpid()}-{secrets.token_hex(4)}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            self.git.run("read-tree", "--end-of-options", tree_ish, env=env)
            info = b"".join(
                (f"100644 {shas[p]}" if p in shas else f"0 {NULL_SHA}").encode() + b"\t" + p.encode() + b"\0"
                for p in changes
            )
            self.git.run("update-index", "-z", "--index-info", input=info, env=env)
            return self.git.run("write-tree", env=env).decode().strip()
        finally:
            index.unlink(missing_ok=True)

    def commit_object(self, tree: str, parents: list[str], message: str) -> str:
        who = self._identity()
        env = {
            "GIT_AUTHOR_NAME": who.name,
            "GIT_AUTHOR_EMAIL": who.email,
            "GIT_COMMITTER_NAME": who.name,
            "GIT_COMMITTER_EMAIL": who.email,
        }
        args = (
            ["-c", "gpg.format=ssh", "commit-tree", "-S", "-F", "-"]
            if self.git.sign
            else ["commit-tree", "-F", "-"]
        )
        for parent in parents:
            args += ["-p", parent]
        return self.git.run(*args, "--end-of-options", tree, input=message.encode(), env=env).decode().strip()

    def commit(self, parent: str, changes: dict[str, bytes | None], message: str, parents: list[str]) -> str:
        return self.commit_object(self.tree_with(parent, changes), parents, message)

    # -- applying, with a journal -------------------------------------------------------------------

    @property
    def journal(self) -> Path:
        return self.git.git_dir / "kakotui" / "sync-journal.json"

    def apply(self, branch: str, old: str | None, new: str, changes: Changes | None = None) -> None:
        """Move the work tree, the branch and git's index from `old` to `new`; resumable after a crash."""
        changes = changes if changes is not None else self.git.diff_tree(old, new, "")
        dirty: list[str] = []
        for _status, path, old_blob, new_blob in changes:
            state = _file_state(self.git.root / path)
            allowed = {None if old_blob == NULL_SHA else old_blob, None if new_blob == NULL_SHA else new_blob}
            if state not in allowed or not _plain_folders(self.git.root, path):
                dirty.append(path)
        if dirty:
            raise SyncError(
                "these files have changes that are not saved, and the sync would overwrite them: "
                + ", ".join(dirty[:10])
                + ". Save or discard them, then sync again (nothing was changed)"
            )
        atomic_write(self.journal, json.dumps({"branch": branch, "old": old, "new": new}).encode())
        blobs = dict(self.git.cat_blobs(sorted({n for _, _, _, n in changes if n != NULL_SHA})))
        for _status, path, _old, new_blob in changes:
            file = self.git.root / path
            if new_blob == NULL_SHA:
                file.unlink(missing_ok=True)
                _prune_empty(file.parent, self.git.root)
            elif _file_state(file) != new_blob:
                atomic_write(file, blobs[new_blob])
        self._step("moving the branch")
        try:
            self.git.run("update-ref", "-m", "kakotui sync", "--end-of-options", branch, new, old or "")
        except GitError as exc:  # the branch moved under us (a commit made by hand): put the files back
            self._restore(changes)
            self.journal.unlink(missing_ok=True)
            raise SyncError(
                f"the branch changed during the sync ({exc}); nothing was changed: sync again"
            ) from None
        self.sync_index(changes)
        self.journal.unlink(missing_ok=True)

    def _restore(self, changes: Changes) -> None:
        olds = dict(self.git.cat_blobs(sorted({o for _, _, o, _ in changes if o != NULL_SHA})))
        for _status, path, old_blob, new_blob in changes:
            file = self.git.root / path
            if _file_state(file) != (None if new_blob == NULL_SHA else new_blob):
                continue  # not ours to undo
            if old_blob == NULL_SHA:
                file.unlink(missing_ok=True)
                _prune_empty(file.parent, self.git.root)
            else:
                atomic_write(file, olds[old_blob])

    def sync_index(self, changes: Changes) -> None:
        if changes:
            paths = b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for _, p, _, _ in changes)
            self.git.run("update-index", "-z", "--add", "--remove", "--stdin", input=paths)

    def recover(self) -> str | None:
        """Finish a sync that stopped while applying (crash, power cut, killed process); say what was done."""
        try:
            state = json.loads(self.journal.read_text("utf-8"))
            branch, old, new = str(state["branch"]), state["old"], str(state["new"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError, OSError):
            self.journal.unlink(missing_ok=True)
            return None
        with repo_lock(self.git.git_dir, timeout=30.0):
            head = self.git.head()
            if head == new:
                self.sync_index(self.git.diff_tree(old, new, ""))
                self.journal.unlink(missing_ok=True)
            elif head == old:
                self.apply(branch, old, new)
            else:
                self.journal.unlink(missing_ok=True)
                return "an interrupted sync was overtaken by later commits; starting afresh"
        return "finished a sync that had been interrupted"

    @property
    def interrupted(self) -> bool:
        return self.journal.is_file()


def _file_state(file: Path) -> str | None:
    """The blob id of a plain file, None if absent, "other" for a folder or symlink."""
    if file.is_symlink():
        return "other"
    if not file.exists():
        return None
    if not file.is_file():
        return "other"
    return Git.blob_sha(file.read_bytes())


def _plain_folders(root: Path, path: str) -> bool:
    """Whether every folder on the way to `path` is a real folder inside `root` (no symlinks)."""
    parent = (root / path).parent
    return os.path.realpath(parent) == str(parent)


def _prune_empty(folder: Path, root: Path) -> None:
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
