"""The only module that runs git: reads of trees and blobs, one-commit saves, locks and maintenance.

Every call is `git -C <root> ...` with an argument list (never a shell), options separated from
user-supplied values (`--end-of-options`, `--`, or data on stdin), pathspecs literal, protocols limited
to file/ssh/https and no credential prompts. A save is one `git fast-import` (27 ms vs 476 ms for
`git add` + `git commit` at 100k files), a compare-and-swap `update-ref`, and an `update-index` so that
`git status` stays clean. Failures raise `GitError`, whose message is meant for people.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

NULL_SHA = "0" * 40
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # SHA-1 repositories only (init_repo makes those)
_REGULAR_MODES = ("100644", "100755")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_FI_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f]')
_LOCK_BUSY = re.compile(r"Unable to create '[^']*\.lock': File exists|index\.lock")
_MOVED = re.compile(r"but expected|reference already exists")
_STAT_MAX_PATHS = 64  # work-tree paths given to update-index as arguments (bounded by ARG_MAX)
_PIPE_MAX = 1 << 20  # a fast-import stream larger than this is given as a file, not through a pipe
# fast-import allocates and frees zlib and delta buffers of a few hundred KB for every object; glibc
# returns each to the kernel (mmap/munmap or trim) and the next one faults its pages in again: 1.2 of
# its 2.1 CPU seconds for 20,000 records went to the kernel. Keeping freed memory: 1.0 s in all.
# (Ignored by other C libraries; a caller's own GLIBC_TUNABLES is left as it is.)
_FAST_IMPORT_ENV = {
    "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=536870912"
    ":glibc.malloc.top_pad=16777216"
}

# Variables that would point git at another repository than the root we were given.
_REPO_ENV = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_PREFIX",
)  # fmt: skip
_SAFE_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_PROTOCOL_FROM_USER": "0",
    "GIT_ALLOW_PROTOCOL": "file:ssh:https",
    "LC_ALL": "C",  # we parse git's output and match its messages
    "GIT_LITERAL_PATHSPECS": "1",  # a path is a path, never a pattern; callers may pass "0" in env
}


class GitError(Exception):
    """A git command failed; `message` is for people, `command` and `stderr` are for the curious."""

    def __init__(self, message: str, command: Sequence[str] = (), stderr: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.command = list(command)
        self.stderr = stderr

    def __str__(self) -> str:
        return self.message


class HeadMoved(GitError):
    """The branch is not where the caller (or this save) last saw it; nothing was committed."""

    def __init__(self, expected: str | None, actual: str | None, command: Sequence[str] = ()) -> None:
        super().__init__(
            f"the log changed while you were editing (branch at {actual or 'no commit'}, expected "
            f"{expected or 'no commit'}): reload and save again",
            command,
        )
        self.expected = expected
        self.actual = actual


class LockTimeout(GitError):
    """Another save held the repository lock for longer than we were willing to wait."""


class IndexNotUpdated(GitError):
    """The commit was made, but `.git/index` could not be brought in line (git status may look dirty)."""

    def __init__(self, message: str, commit: str, command: Sequence[str] = (), stderr: str = "") -> None:
        super().__init__(message, command, stderr)
        self.commit = commit


@dataclass(frozen=True)
class Identity:
    """Who made a change, as git records it."""

    name: str
    email: str

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"


def blob_sha(data: bytes) -> str:
    """The id git gives `data` as a blob (SHA-1 repositories), computed without running git."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _git_exe() -> str:
    exe = shutil.which("git")
    if exe is None:
        raise GitError("git was not found on PATH: install git 2.38 or later")
    return exe


def _check_rev(rev: str) -> str:
    if not rev or rev.startswith("-") or any(c in rev for c in "\0\n\r"):
        raise GitError(f"refused revision {rev!r}: a revision may not be empty or start with '-'")
    return rev


# Paths whose every part starts with a letter, digit or "_" and holds only those, ".", "-": clean (no
# part is ".", ".." or .git), decided by one match; a record's path always is one (100,000 per import).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")


def _check_path(path: str, *, allow_empty: bool = False) -> str:
    """A clean repository-relative path (`a/b.yaml`), or "" for the whole tree when allowed."""
    if _PLAIN_PATH.fullmatch(path):
        return path
    clean = path.strip("/") if allow_empty else path
    if clean == "" and allow_empty:
        return ""
    parts = clean.split("/")
    if (
        not clean
        or "\0" in clean
        or path.startswith("/")
        or any(p in ("", ".", "..") or p.lower() == ".git" for p in parts)
    ):
        raise GitError(
            f"refused path {path!r}: use a relative path inside the log, without '.', '..' or .git"
        )
    return clean


def _enc(path: str) -> bytes:
    return path.encode("utf-8", "surrogateescape")


def _dec(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _fi_path(path: str) -> bytes:
    """A path quoted the way fast-import reads it (C-style; mandatory for LF or a leading quote)."""
    if _FI_ESCAPE.search(path):
        path = _FI_ESCAPE.sub(lambda m: "\\" + m[0] if m[0] in '"\\' else f"\\{ord(m[0]):03o}", path)
    return b'"' + _enc(path) + b'"'


def _check_identity(who: Identity) -> bytes:
    if any(c in who.name + who.email for c in "<>\n\r\0"):
        raise GitError(f"refused identity {str(who)!r}: names and emails may not contain <, > or newlines")
    try:
        return str(who).encode("utf-8")
    except UnicodeEncodeError:
        raise GitError(f"refused identity {str(who)!r}: not valid text (UTF-8)") from None


def _raw_date(when: datetime) -> bytes:
    if when.tzinfo is None:
        when = when.astimezone()
    offset = when.utcoffset()
    minutes = round(offset.total_seconds() / 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    return f"{math.floor(when.timestamp())} {sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}".encode()


def _subcommand(args: Sequence[str]) -> str:
    return next((a for a in args if not a.startswith("-")), "git")


def _failure(cmd: Sequence[str], returncode: int, stderr: bytes) -> GitError:
    text = stderr.decode("utf-8", "replace").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((ln for ln in reversed(lines) if ln.startswith(("fatal:", "error:"))), None)
    detail = detail or (lines[-1] if lines else f"exit status {returncode}")
    detail = re.sub(r"^(fatal|error): ", "", detail)
    if len(detail) > 300:
        detail = detail[:300] + "..."
    return GitError(f"git {_subcommand(cmd[3:])} failed: {detail}", cmd, text)


class Git:
    """One work tree's git repository. Runs short-lived git processes; none outlives a call."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self._git = _git_exe()
        self._git_dir: Path | None = None
        self._procs: set[subprocess.Popen[bytes]] = set()
        # (new commit, its parent) of the last `commit_files`: a caller that needs the parent (the
        # index) reads it here instead of running `git rev-parse HEAD` once more per save.
        self.last_commit: tuple[str, str | None] | None = None
        self.sign = False  # sign the commits this object makes (a log whose settings require it)

    # -- running git --------------------------------------------------------------------------

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment every git call gets: the caller's, made safe and pinned to this root."""
        env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV}
        env.update(_SAFE_ENV)
        # git may not look above the root for a repository: a log folder that is not (yet) a
        # repository inside some other checkout must fail, not operate on that checkout.
        env["GIT_CEILING_DIRECTORIES"] = str(self.root.parent)
        if extra:
            env.update(extra)
        return env

    def _command(self, args: Sequence[str]) -> list[str]:
        return [self._git, "-C", str(self.root), *args]

    def _exec(
        self,
        args: Sequence[str],
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        stdin: IO[bytes] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        cmd = self._command(args)
        try:
            return subprocess.run(
                cmd,
                input=input,
                stdin=stdin if stdin is not None else subprocess.DEVNULL if input is None else None,
                capture_output=True,
                env=self.env(env),
                check=False,
            )
        except OSError as exc:
            raise GitError(f"could not run git: {exc.strerror or exc}", cmd) from None

    def run(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None, check: bool = True
    ) -> bytes:
        """Run `git -C <root> <args>` and return its stdout; raise `GitError` on failure if `check`."""
        proc = self._exec(args, input, env)
        if check and proc.returncode != 0:
            raise _failure(proc.args, proc.returncode, proc.stderr)
        return proc.stdout

    def run_status(
        self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
    ) -> tuple[int, bytes, bytes]:
        """Run git and return (exit status, stdout, stderr) for commands whose status is an answer
        (`merge-tree` exits 1 on conflicts and still prints the tree; `push` reports rejections)."""
        proc = self._exec(args, input, env)
        return proc.returncode, proc.stdout, proc.stderr

    def _run_retrying_locks(
        self, args: Sequence[str], input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a command that takes git's own lock files; clear stale ones once, wait out live ones."""
        cleared = False
        delay = 0.02
        deadline = time.monotonic() + 3.0
        while True:
            proc = self._exec(args, input)
            if proc.returncode == 0 or not _LOCK_BUSY.search(proc.stderr.decode("utf-8", "replace")):
                return proc
            if not cleared:
                clear_stale_locks(self.git_dir)
                cleared = True
                continue
            if time.monotonic() > deadline:
                return proc
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    # -- where we are -------------------------------------------------------------------------

    @property
    def git_dir(self) -> Path:
        """The absolute path of the repository's git directory (usually `<root>/.git`)."""
        if self._git_dir is None:
            self._git_dir = Path(_dec(self.run("rev-parse", "--absolute-git-dir").rstrip(b"\n")))
        return self._git_dir

    def head(self) -> str | None:
        """The commit HEAD points at, or None on an unborn branch."""
        proc = self._exec(["rev-parse", "--verify", "-q", "HEAD^{commit}"])
        if proc.returncode == 1 and not proc.stderr.strip():
            return None
        if proc.returncode != 0:
            raise _failure(proc.args, proc.returncode, proc.stderr)
        return proc.stdout.decode().strip()

    def branch_ref(self) -> str:
        """The full name of the current branch (`refs/heads/main`); a detached HEAD is an error."""
        proc = self._exec(["symbolic-ref", "-q", "HEAD"])
        if proc.returncode == 1:
            raise GitError(f"{self.root} is not on a branch (detached HEAD): check out a branch first")
        if proc.returncode != 0:
            raise _failure(proc.args, proc.returncode, proc.stderr)
        return _dec(proc.stdout.rstrip(b"\n"))

    def _branch_and_head(self) -> tuple[str, str | None]:
        """(current branch ref, its commit or None if unborn), in one process when the branch exists."""
        proc = self._exec(["rev-parse", "HEAD", "--symbolic-full-name", "HEAD", "--"])
        lines = proc.stdout.decode("utf-8", "surrogateescape").splitlines()
        if proc.returncode != 0 or len(lines) < 2:
            return self.branch_ref(), self.head()
        if not lines[1].startswith("refs/"):
            raise GitError(f"{self.root} is not on a branch (detached HEAD): check out a branch first")
        return lines[1], lines[0]

    def rev_parse(self, rev: str) -> str:
        """The full object id `rev` names; `GitError("unknown revision: ...")` if it names nothing."""
        proc = self._exec(["rev-parse", "--verify", "-q", "--end-of-options", _check_rev(rev)])
        if proc.returncode != 0:
            raise GitError(f"unknown revision: {rev}", proc.args, proc.stderr.decode("utf-8", "replace"))
        return proc.stdout.decode().strip()

    # -- reading ------------------------------------------------------------------------------

    def ls_tree(self, rev: str, prefix: str) -> list[tuple[str, str]]:
        """(path, blob id) of every regular file under `prefix` ("" = everything) in `rev`."""
        args = ["ls-tree", "-r", "-z", "--full-tree", "--end-of-options", _check_rev(rev)]
        prefix = _check_path(prefix, allow_empty=True)
        if prefix:
            args.append(prefix)  # ls-tree takes no `--`: everything after the tree-ish is a path
        out: list[tuple[str, str]] = []
        for entry in self.run(*args).split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.partition(b"\t")
            mode, kind, sha = meta.decode().split(" ")
            if kind == "blob" and mode in _REGULAR_MODES:
                out.append((_dec(path), sha))
        return out

    def stream(self, *args: str, size: int = 1 << 20) -> Generator[bytes, None, None]:
        """The stdout of `git -C <root> <args>` in pieces as git writes it (a long `git log` read
        while it runs); `GitError` at the end if git failed. Close the generator to stop git early."""
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the generator's finally
        cmd = self._command(args)
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, env=self.env()
            )
        except OSError as exc:
            stderr.close()
            raise GitError(f"could not run git: {exc.strerror or exc}", cmd) from None
        self._procs.add(proc)
        assert proc.stdout is not None
        try:
            while piece := os.read(proc.stdout.fileno(), size):
                yield piece
            if proc.wait() != 0:
                raise _failure(cmd, proc.returncode, _read_all(stderr))
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            stderr.close()
            self._procs.discard(proc)

    def cat_blobs(self, shas: Iterable[str]) -> Generator[tuple[str, bytes], None, None]:
        """(id, content) for each blob id, in order, streamed through one `git cat-file --batch`.

        Close the generator (or the `Git`) to stop early; the git process is ended either way.
        """
        names = list(shas)  # taken here: the iterable may not be safe to read from another thread
        for name in names:
            if not name or any(c in name for c in "\n\r\0"):
                raise GitError(f"refused object name {name!r}")
        if not names:
            return
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the generator's finally
        # No --buffer: a process forked while we stream (a process pool) inherits git's stdin, so git
        # may never see end of input; unbuffered, each answer arrives without waiting for it.
        cmd = self._command(["cat-file", "--batch"])
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=self.env()
            )
        except OSError as exc:
            stderr.close()
            raise GitError(f"could not run git: {exc.strerror or exc}", cmd) from None
        self._procs.add(proc)
        assert proc.stdin is not None and proc.stdout is not None
        feeder = threading.Thread(target=_feed, args=(proc.stdin, names), daemon=True)
        feeder.start()
        try:
            for name in names:
                header = proc.stdout.readline()
                if not header:
                    proc.wait()
                    raise _failure(cmd, proc.returncode, _read_all(stderr))
                fields = header.split()
                if len(fields) != 3:
                    raise GitError(f"object not found: {name}", cmd, _dec(header))
                size = int(fields[2])
                data = proc.stdout.read(size)
                proc.stdout.read(1)
                if len(data) != size:
                    raise GitError(f"git cat-file stopped while reading {name}", cmd)
                if fields[1] != b"blob":
                    raise GitError(f"{name} is a {_dec(fields[1])}, not a file", cmd)
                yield name, data
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            feeder.join()
            proc.stdout.close()
            stderr.close()
            self._procs.discard(proc)

    def read_blob(self, rev_or_sha: str, path: str | None = None) -> bytes:
        """The content of a blob, by id, or of `path` in commit/tree `rev_or_sha`."""
        name = _check_rev(rev_or_sha) if path is None else f"{_check_rev(rev_or_sha)}:{_check_path(path)}"
        proc = self._exec(["cat-file", "blob", "--end-of-options", name])
        if proc.returncode != 0:
            raise GitError(f"not found: {name}", proc.args, proc.stderr.decode("utf-8", "replace"))
        return proc.stdout

    def diff_tree(self, old: str | None, new: str, prefix: str) -> list[tuple[str, str, str, str]]:
        """(A/M/D, path, old blob, new blob) for regular files under `prefix` changed from `old` to `new`.

        `old` None compares with the empty tree (everything is added). Absent sides are NULL_SHA.
        """
        args = ["diff-tree", "-r", "-z", "--no-renames", "--no-commit-id", "--raw", "--no-abbrev"]
        args += ["--end-of-options", EMPTY_TREE if old is None else _check_rev(old), _check_rev(new)]
        prefix = _check_path(prefix, allow_empty=True)
        if prefix:
            args += ["--", prefix]
        fields = self.run(*args).split(b"\0")
        out: list[tuple[str, str, str, str]] = []
        for meta, path in zip(fields[0::2], fields[1::2], strict=False):
            if not meta.startswith(b":"):
                continue
            mode_a, mode_b, sha_a, sha_b, _status = meta[1:].decode().split(" ")
            was, now = mode_a in _REGULAR_MODES, mode_b in _REGULAR_MODES
            if was and now:
                out.append(("M", _dec(path), sha_a, sha_b))
            elif now:
                out.append(("A", _dec(path), NULL_SHA, sha_b))
            elif was:
                out.append(("D", _dec(path), sha_a, NULL_SHA))
        return out

    def status(self, prefix: str) -> list[tuple[str, str]]:
        """(porcelain XY code, path) for each changed or untracked file under `prefix` ("" = all)."""
        # --no-optional-locks: a read must never take index.lock away from a concurrent save.
        args = ["--no-optional-locks", "status", "--porcelain=v1", "-z", "--no-renames"]
        args.append("--untracked-files=all")
        prefix = _check_path(prefix, allow_empty=True)
        if prefix:
            args += ["--", prefix]
        entries = self.run(*args).split(b"\0")
        out: list[tuple[str, str]] = []
        i = 0
        while i < len(entries):
            entry = entries[i]
            i += 1
            if len(entry) < 4:
                continue
            code = entry[:2].decode()
            out.append((code, _dec(entry[3:])))
            if code[0] in "RC":
                i += 1  # the original path follows a rename/copy
        return out

    # -- writing ------------------------------------------------------------------------------

    blob_sha = staticmethod(blob_sha)

    def commit_files(
        self,
        changes: Mapping[str, bytes | None],
        message: str,
        author: Identity,
        *,
        committer: Identity | None = None,
        when: datetime | None = None,
        expected_head: str | Literal["any"] | None = "any",
        allow_empty: bool = False,
        before_ref: Callable[[], object] | None = None,
    ) -> str:
        """Commit `changes` (path -> new content, None = delete) on top of HEAD; return the new commit.

        Holds `repo_lock` for the duration (re-entrant: callers may hold it already). With
        `expected_head` the save is a compare-and-swap: `HeadMoved` if the branch is elsewhere.
        The committer defaults to the author, `when` to now in the local offset. `allow_empty`: a
        commit that changes no file (an approval). With `self.sign` the commit is signed (git's SSH
        signing with `user.signingkey`). `before_ref` is called once the commit object exists and
        before the branch moves (a bulk save waits there for its work-tree files: git hashes and
        packs the objects meanwhile); if it raises, the branch does not move.
        """
        if not changes and not allow_empty:
            raise GitError("nothing to save: no files were given")
        for path in changes:
            _check_path(path)
        if "\0" in message:
            raise GitError("refused commit message: it contains a NUL character")
        try:
            msg = (message if message.endswith("\n") else message + "\n").encode("utf-8")
        except UnicodeEncodeError:
            raise GitError("refused commit message: it is not valid text (UTF-8)") from None
        stamp = _raw_date(when if when is not None else datetime.now().astimezone())
        author_line = _check_identity(author) + b" " + stamp
        committer_line = _check_identity(committer or author) + b" " + stamp

        with repo_lock(self.git_dir):
            branch, head = self._branch_and_head()
            if expected_head != "any" and expected_head != head:
                raise HeadMoved(expected_head, head)

            # fast-import writes the objects and reports the commit id via get-mark; its branch is a
            # scratch name that `reset` without `from` leaves unwritten, so the only ref update is
            # our compare-and-swap `update-ref` below (fast-import's own would accept any fast-forward).
            scratch = f"refs/kakotui/import-{os.getpid()}".encode()
            stream = [b"commit ", scratch, b"\nmark :1\nauthor ", author_line, b"\ncommitter "]
            stream += [committer_line, b"\ndata %d\n" % len(msg), msg, b"\n"]
            if head is not None:
                stream += [b"from ", head.encode(), b"\n"]
            for path, data in changes.items():
                quoted = _fi_path(path)
                if data is None:
                    stream += [b"D ", quoted, b"\n"]
                else:
                    stream += [b"M 100644 inline ", quoted, b"\ndata %d\n" % len(data), data, b"\n"]
            stream += [b"\nget-mark :1\nreset ", scratch, b"\n\ndone\n"]
            args = ["fast-import", "--quiet", "--done", "--date-format=raw"]
            env = None if "GLIBC_TUNABLES" in os.environ else _FAST_IMPORT_ENV
            data = b"".join(stream)
            if len(data) < _PIPE_MAX:
                proc = self._exec(args, data, env)
            else:
                # A large stream (a bulk import: ~40 MB at 100,000 records) goes through a file: fed
                # through a pipe, `communicate` writes 4 KB per turn and needs the GIL for every turn,
                # which the threads writing the work-tree files and the index rows hold meanwhile.
                with tempfile.TemporaryFile() as feed:
                    feed.write(data)
                    feed.seek(0)
                    del data
                    proc = self._exec(args, None, env, stdin=feed)
            if proc.returncode != 0:
                raise _failure(proc.args, proc.returncode, proc.stderr)
            new = proc.stdout.decode().strip()
            if not _HEX40.match(new):
                raise GitError(f"git fast-import returned {new!r} instead of a commit id")
            if self.sign:
                new = self._signed_copy(new, head, msg, author_line, committer_line)
            if before_ref is not None:
                before_ref()

            subject = message.split("\n", 1)[0][:200]
            reflog = f"commit{'' if head else ' (initial)'}: {subject}"
            args = ["update-ref", "-m", reflog, "--end-of-options", branch, new, head or ""]
            proc = self._run_retrying_locks(args)
            if proc.returncode != 0:
                if _MOVED.search(proc.stderr.decode("utf-8", "replace")):
                    raise HeadMoved(head, self.head(), proc.args)
                raise _failure(proc.args, proc.returncode, proc.stderr)

            self.last_commit = (new, head)
            if changes:
                self._update_index(new, changes)
        return new

    def _signed_copy(
        self, commit: str, parent: str | None, message: bytes, author: bytes, committer: bytes
    ) -> str:
        """The same commit (tree, parent, people, dates, message), signed by `git commit-tree -S`.

        fast-import cannot sign: it only carries a signature made beforehand (`gpgsig`, git 2.50+),
        and a signature covers the tree id that fast-import computes. commit-tree runs ssh-keygen,
        about 20 ms a save (commit-tree -S 21 ms, unsigned 7 ms); the unsigned original is left
        unreferenced for gc.
        """
        env: dict[str, str] = {}
        for role, line in (("AUTHOR", author), ("COMMITTER", committer)):
            text = line.decode("utf-8")
            who, _, stamp = text.rpartition("> ")
            name, _, email = who.partition(" <")
            env |= {f"GIT_{role}_NAME": name, f"GIT_{role}_EMAIL": email, f"GIT_{role}_DATE": stamp}
        args = ["-c", "gpg.format=ssh", "commit-tree", "-S", "-F", "-"]
        if parent is not None:
            args += ["-p", parent]
        proc = self._exec([*args, "--end-of-options", f"{commit}^{{tree}}"], message, env)
        if proc.returncode != 0:
            err = _failure(proc.args, proc.returncode, proc.stderr)
            raise GitError(
                f"this log requires signed commits, and signing failed ({err.message}); set your key with "
                "`git config user.signingkey ~/.ssh/id_ed25519.pub`",
                proc.args,
                err.stderr,
            )
        return proc.stdout.decode().strip()

    def _update_index(self, commit: str, changes: Mapping[str, bytes | None]) -> None:
        """Make `.git/index` hold the committed blobs of `changes`, in one `git update-index`.

        Entries given by `--index-info` carry no stat data, so every later `git status` would hash
        those files again. When the work-tree file already holds the committed bytes (the usual save:
        written, then committed) and they are few, the path is given as a file instead, which
        records its stat data; the rest (deletions, bulk imports, unwritten files) go by blob id.
        """
        as_files: list[str] = []
        for path, data in changes.items():
            if len(as_files) == _STAT_MAX_PATHS:
                break
            if data is not None and _holds(self.root / path, data):
                as_files.append(path)
        proc = self._index_update(changes, as_files)
        if proc.returncode != 0 and as_files:  # e.g. a folder that is a symlink: go by blob ids only
            proc = self._index_update(changes, [])
        if proc.returncode != 0:
            err = _failure(proc.args, proc.returncode, proc.stderr)
            raise IndexNotUpdated(
                f"saved as commit {commit[:12]}, but git's index was not updated ({err.message}); "
                "`git reset -q` fixes what `git status` shows",
                commit,
                proc.args,
                err.stderr,
            )

    def _index_update(
        self, changes: Mapping[str, bytes | None], as_files: list[str]
    ) -> subprocess.CompletedProcess[bytes]:
        skip = set(as_files)
        info = b"".join(
            (b"0 " + NULL_SHA.encode() if data is None else b"100644 " + blob_sha(data).encode())
            + b"\t"
            + _enc(path)
            + b"\0"
            for path, data in changes.items()
            if path not in skip
        )
        # --info-only: fast-import wrote the blobs already. "./": a path starting with "-" stays a
        # path. --index-info (read from stdin) must be the last argument.
        files = ["./" + path for path in as_files]
        return self._run_retrying_locks(
            ["update-index", "-z", "--add", "--replace", "--info-only", *files, "--index-info"], info
        )

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop any git process still running for this object (only an abandoned `cat_blobs`)."""
        for proc in list(self._procs):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            self._procs.discard(proc)

    def __enter__(self) -> Git:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _feed(stdin: IO[bytes], names: list[str]) -> None:
    try:
        for start in range(0, len(names), 4096):
            stdin.write(
                "".join(n + "\n" for n in names[start : start + 4096]).encode("utf-8", "surrogateescape")
            )
    except (BrokenPipeError, ValueError, OSError):
        pass  # the reader stopped early and killed git
    finally:
        with suppress(OSError):
            stdin.close()


def _holds(path: Path, data: bytes) -> bool:
    """Whether `path` is a plain, non-executable file whose content is exactly `data`."""
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o111 or st.st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False


def _read_all(handle: IO[bytes]) -> bytes:
    handle.seek(0)
    return handle.read()


# -- new repositories ---------------------------------------------------------------------------


def init_repo(path: Path, branch: str = "main") -> Git:
    """Create (or re-initialise) a repository at `path` on an unborn `branch`, tuned for many files."""
    Path(path).mkdir(parents=True, exist_ok=True)
    git = Git(path)
    git.run("init", "-q", f"--initial-branch={branch}")
    # What feature.manyFiles sets on git 2.39 (index v4, untracked cache), spelled out, plus a split
    # index: at 100k records every save rewrites only a small part of the index, and `git status`
    # reads path-compressed entries and skips folders whose untracked files it has already seen.
    for key, value in (("core.splitIndex", "true"), ("index.version", "4"), ("core.untrackedCache", "true")):
        git.run("config", "--end-of-options", key, value)
    return git


# -- locks and files ----------------------------------------------------------------------------

_held = threading.local()


@contextmanager
def repo_lock(git_dir: Path, timeout: float = 10.0) -> Iterator[None]:
    """Hold the repository-wide save lock (`<git_dir>/kakotui/lock`); re-entrant within a thread.

    Serializes saves between processes and threads. Raises `LockTimeout` after `timeout` seconds.
    """
    lock_path = Path(git_dir).resolve() / "kakotui" / "lock"
    held: dict[str, int] = _held.__dict__.setdefault("locks", {})
    key = str(lock_path)
    if key in held:
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                    by = f" (held by process {holder})" if holder.isdigit() else ""
                    raise LockTimeout(
                        f"another save is in progress in {Path(git_dir).parent}{by}; "
                        f"waited {timeout:g} s: try again in a moment"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        with suppress(OSError):  # who holds it, for the timeout message only (a full disk refuses it)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        held[key] = 1
        try:
            yield
        finally:
            del held[key]
    finally:
        os.close(fd)  # releases the flock; the file itself stays (unlinking it would race)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so a crash leaves the old or the new content, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = -1
    while fd < 0:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        with suppress(FileExistsError):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)  # umask applies
    try:
        with suppress(FileNotFoundError):
            os.fchmod(fd, os.stat(path).st_mode & 0o7777)  # keep an existing file's mode
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def clear_stale_locks(git_dir: Path) -> list[Path]:
    """Remove git lock files left by a killed process, only when no git process may be using this repo.

    Looks at index.lock, HEAD.lock, packed-refs.lock, next-index-*.lock and refs/**/*.lock. Any git
    process whose working folder, `-C`, `--git-dir`/`--work-tree` or GIT_DIR-style variable lies in
    this repository, or that we cannot inspect, or a system without /proc, means: leave them all.
    """
    git_dir = Path(git_dir).resolve()
    candidates = [git_dir / "index.lock", git_dir / "HEAD.lock", git_dir / "packed-refs.lock"]
    candidates += git_dir.glob("next-index-*.lock")
    if (git_dir / "refs").is_dir():
        candidates += (git_dir / "refs").rglob("*.lock")
    found: dict[Path, tuple[int, int, int]] = {}
    for lock in candidates:
        try:
            st = lock.lstat()
        except OSError:
            continue
        found[lock] = (st.st_dev, st.st_ino, st.st_mtime_ns)
    if not found or _repo_may_be_in_use(git_dir):
        return []
    removed: list[Path] = []
    for lock, ident in found.items():
        try:
            st = lock.lstat()
            if (st.st_dev, st.st_ino, st.st_mtime_ns) == ident:  # still the lock we judged stale
                lock.unlink()
                removed.append(lock)
        except OSError:
            continue
    return removed


def _repo_may_be_in_use(git_dir: Path) -> bool:
    proc_root = Path("/proc")
    if not (proc_root / "self" / "cwd").exists():
        return True  # no /proc: we cannot tell
    areas = [git_dir]
    if git_dir.name == ".git":
        areas.append(git_dir.parent)
    for entry in proc_root.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            if not (comm == "git" or comm.startswith("git-")):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # a zombie holds nothing
            places = _process_places(entry)
        except FileNotFoundError:
            continue  # exited while we looked
        except OSError:
            return True  # a git process we may not inspect
        for place in places:
            real = Path(os.path.realpath(place))
            if any(real == area or area in real.parents for area in areas):
                return True
    return False


def _process_places(entry: Path) -> list[str]:
    """The folders a git process works in: cwd after -C, --git-dir/--work-tree, GIT_* variables."""
    cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
    argv = [_dec(a) for a in (entry / "cmdline").read_bytes().split(b"\0")]
    places = [cwd]
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        arg = argv[i]
        value: str | None = None
        if arg in ("-C", "--git-dir", "--work-tree") and i + 1 < len(argv):
            value = argv[i + 1]
            i += 1
        elif arg.startswith(("--git-dir=", "--work-tree=")):
            value = arg.split("=", 1)[1]
        if value:
            path = os.path.join(cwd, value)
            if arg == "-C":
                cwd = path
            places.append(path)
        i += 1
    places.append(cwd)
    for line in (entry / "environ").read_bytes().split(b"\0"):
        name, _, value_b = line.partition(b"=")
        if name in (b"GIT_DIR", b"GIT_WORK_TREE", b"GIT_INDEX_FILE", b"GIT_COMMON_DIR") and value_b:
            places.append(os.path.join(cwd, _dec(value_b)))
    return places


# -- maintenance --------------------------------------------------------------------------------

_MAINTAIN = """\
import fcntl, os, subprocess, sys
git, root, lock = sys.argv[1:4]
fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(0)
for args in (["-c", "gc.autoDetach=false", "gc", "--auto", "--quiet"],
             ["commit-graph", "write", "--reachable", "--changed-paths", "--no-progress"]):
    subprocess.run([git, "-C", root, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
"""


def _counter_path(git_dir: Path) -> Path:
    return Path(git_dir) / "kakotui" / "maintenance-count"


def _read_counter(git_dir: Path) -> int:
    try:
        return int(_counter_path(git_dir).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def maintenance_due(git_dir: Path, every: int = 50) -> bool:
    """Whether `every` commits have been counted since maintenance last ran."""
    return _read_counter(git_dir) >= every


def run_maintenance(git: Git) -> subprocess.Popen[bytes]:
    """Start `gc --auto` then `commit-graph write --reachable --changed-paths`, detached; don't wait.

    fast-import leaves a loose object set or small pack per save and plumbing never runs `gc --auto`;
    the commit-graph with changed paths makes `git log -- <record>` ~5x faster. At most one runs at a
    time (it holds `<git_dir>/kakotui/maintenance.lock`).
    """
    lock = git.git_dir / "kakotui" / "maintenance.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    counter = _counter_path(git.git_dir)
    counter.write_text("0\n")
    return subprocess.Popen(
        [sys.executable, "-c", _MAINTAIN, git._git, str(git.root), str(lock)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=git.env(),
        start_new_session=True,
        close_fds=True,
    )


def maybe_maintain(git: Git, every: int = 50) -> subprocess.Popen[bytes] | None:
    """Count one commit; every `every` commits start `run_maintenance` (returned; nobody need wait)."""
    with repo_lock(git.git_dir):
        count = _read_counter(git.git_dir) + 1
        _counter_path(git.git_dir).parent.mkdir(parents=True, exist_ok=True)
        _counter_path(git.git_dir).write_text(f"{count}\n")
        if count < every:
            return None
        return run_maintenance(git)
