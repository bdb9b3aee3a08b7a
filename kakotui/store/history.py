"""A record's history and blame, read from git: who changed which field, when, and why.

`record_history` lists the commits that touched a record's file (`git log --raw -- <path>`), oldest
first, each with its author, date, action (the `Kakotui-Action` trailer) and the field changes
against the version before it; it follows renumbering (a record keeps its old ids in `aliases`, and
the commit that moved it carries `Kakotui-Action: renumber`) and files renamed by hand (said as a
problem). `record_blame` tells for each leaf field which commit set its current value.

Speed: the index keeps a table of every commit with the record files it touched
(`kakotui.store.trail`); given it, a record's commits are read from SQLite and only their blobs from
git (one `cat-file --batch`), whatever the record's age. Without it (not built yet, a shallow clone)
or where it cannot tell git's order (in a history with merges: commits of the file with equal
dates, or a clock that ran back), git walks: with the commit-graph's changed-path filters (kept by
`gitrepo.maybe_maintain`) git skips the tree of every commit that did not touch the file. The walk is also bounded by the record's own
check time (`--since`, a day early): a record cannot have been saved before it was checked, so a
recent record's history reads only recent commits even before the graph exists; when a backdated
commit is missed anyway (the oldest version found is not the file's creation) the walk continues
past it without a bound, so the answer never depends on the bound. A slow walk in a clone that has
no commit-graph yet (a fresh clone) starts the background maintenance that writes one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kakotui.core import yamlio
from kakotui.core.diff import Change, field_changes, leaves
from kakotui.core.ids import BadId, RecordId, id_from_path
from kakotui.store.gitrepo import NULL_SHA, Git, GitError, run_maintenance
from kakotui.store.trail import Trail

__all__ = [
    "Blame",
    "BlameLine",
    "HistoryEntry",
    "HistoryError",
    "RecordHistory",
    "Version",
    "is_shallow",
    "parse_record",
    "record_blame",
    "record_history",
    "resolve_rev",
]

# Each commit starts with a token no field can hold (fields end with NUL, which git never prints
# inside a name or a subject); the --raw lines of the commit follow its fields.
_MARK = b"\x00KAKOTUI-COMMIT\x00"
_FORMAT = "%x00KAKOTUI-COMMIT%x00" + "".join(
    f"{f}%x00"
    for f in (
        "%H",
        "%P",
        "%an",
        "%ae",
        "%aI",
        "%s",
        "%(trailers:key=Kakotui-Action,valueonly,separator=%x2C)",
    )
)
_SINCE_MARGIN = timedelta(days=1)
_SLOW_WALK = 0.25  # seconds: a walk this slow without a commit-graph starts writing one


class HistoryError(GitError):
    """History that cannot be told: an unknown revision, a shallow clone, a record never seen."""


@dataclass
class HistoryEntry:
    """One commit that changed a record: who, when, which action, and the fields it changed."""

    commit: str
    author: str
    email: str
    date: str  # the author date, RFC 3339 with offset
    action: str | None  # the Kakotui-Action trailer; None for a commit made outside kakotui
    subject: str
    path: str  # where the record was stored after this commit
    changes: list[Change] = field(default_factory=list)
    problem: str | None = None  # this version could not be read
    after: dict[str, Any] | None = field(default=None, repr=False, compare=False)  # the record after it

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit": self.commit,
            "author": self.author,
            "email": self.email,
            "date": self.date,
            "action": self.action,
            "subject": self.subject,
            "path": self.path,
            "problem": self.problem,
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass
class RecordHistory:
    """A record's history, oldest change first; iterating it gives the entries.

    `problems` says where the story is incomplete or wrong (a shallow clone, a rename made by hand,
    an id that does not match its file name); `uncommitted` holds the work tree's changes that no
    commit holds yet.
    """

    id: str
    path: str
    entries: list[HistoryEntry]
    problems: list[str] = field(default_factory=list)
    uncommitted: list[Change] = field(default_factory=list)
    record: dict[str, Any] | None = None  # the current version (work tree, else the last commit)

    def __iter__(self) -> Iterator[HistoryEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> HistoryEntry:
        return self.entries[index]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "entries": [e.to_dict() for e in self.entries],
            "uncommitted": [c.to_dict() for c in self.uncommitted],
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class BlameLine:
    """Who set the current value of one field; `commit` is "" for a value not committed yet."""

    field: str
    value: Any
    commit: str
    author: str
    email: str
    date: str
    action: str | None
    subject: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "value": self.value,
            "commit": self.commit,
            "author": self.author,
            "email": self.email,
            "date": self.date,
            "action": self.action,
            "subject": self.subject,
        }


@dataclass
class Blame:
    id: str
    path: str
    lines: list[BlameLine]
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "fields": [line.to_dict() for line in self.lines],
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class Version:
    """A parsed version of a record file: the data, or why it could not be read."""

    record: dict[str, Any] | None
    problem: str | None = None


def parse_record(data: bytes | None) -> Version:
    """A record file's bytes as a mapping (strict YAML), None for an absent file."""
    if data is None:
        return Version(None)
    try:
        value = yamlio.load(data)
    except yamlio.YamlError as exc:
        return Version(None, f"not readable: {exc}")
    if not isinstance(value, dict):
        return Version(None, "not readable: a record file must hold one mapping")
    return Version(value)


# ---------------------------------------------------------------------------------------------
# Revisions


def is_shallow(git: Git) -> bool:
    return git.run("rev-parse", "--is-shallow-repository").strip() == b"true"


def shallow_commits(git: Git) -> frozenset[str]:
    """The boundary commits of a shallow clone (their parents are not here)."""
    try:
        text = (git.git_dir / "shallow").read_text("ascii")
    except (OSError, UnicodeDecodeError):
        return frozenset()
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def resolve_rev(git: Git, rev: str) -> str:
    """The commit `rev` names, or a `HistoryError` that says why not (with a hint for shallow clones)."""
    if not rev or rev.startswith("-") or any(c in rev for c in "\0\n\r"):
        raise HistoryError(f"refused revision {rev!r}: a revision may not be empty or start with '-'")
    try:
        return git.rev_parse(f"{rev}^{{commit}}")
    except GitError:
        pass
    hint = ""
    remote = rev.split("/", 1)[0]
    if is_shallow(git):
        hint = (
            "; this clone is shallow (made with --depth, e.g. actions/checkout's default fetch-depth: 1): "
            "fetch the history with `git fetch --unshallow` (or fetch-depth: 0)"
        )
    elif "/" in rev and remote in git.run("remote").decode("utf-8", "replace").split():
        hint = f"; fetch it first (`git fetch {remote}`)"
    raise HistoryError(f"unknown revision {rev!r}: no such commit, branch or tag in this clone{hint}")


# ---------------------------------------------------------------------------------------------
# git log of one path


@dataclass
class _Raw:
    commit: str
    parents: list[str]
    author: str
    email: str
    date: str
    subject: str
    action: str | None
    status: str  # A, M or D (against the first parent)
    old_blob: str | None
    new_blob: str | None
    path: str
    old_path: str | None = None


def _log_path(git: Git, rev: str, path: str, since: str | None) -> list[_Raw]:
    """Commits reachable from `rev` that changed `path`, newest first, with the blobs before and after."""
    args = [
        "log",
        "--no-renames",
        "--raw",
        "--no-abbrev",
        "--diff-merges=first-parent",
        f"--format={_FORMAT}",
    ]
    if since is not None:
        args.append(f"--since={since}")
    out = git.run(*args, "--end-of-options", rev, "--", path)
    raws: list[_Raw] = []
    for chunk in out.split(_MARK)[1:]:
        fields = [f.decode("utf-8", "replace") for f in chunk.split(b"\x00", 7)]
        if len(fields) != 8:
            raise HistoryError(f"unexpected output of git log for {path}: {chunk[:80]!r}")
        commit, parents, author, email, date, subject, action, body = fields
        status, old_blob, new_blob = "M", None, None
        for line in body.splitlines():
            if not line.startswith(":"):
                continue
            meta, _, where = line.partition("\t")
            if where != path:
                continue
            _mode_a, _mode_b, sha_a, sha_b, code = meta[1:].split(" ")
            status = code[:1]
            old_blob = None if sha_a == NULL_SHA else sha_a
            new_blob = None if sha_b == NULL_SHA else sha_b
        raws.append(
            _Raw(
                commit,
                parents.split(),
                author,
                email,
                date,
                subject,
                action.split(",")[-1].strip() or None,
                status,
                old_blob,
                new_blob,
                path,
            )
        )
    return raws


def _log_path_fast(git: Git, trail: Trail, rev: str, path: str, blobs: _Blobs) -> list[_Raw] | None:
    """What `_log_path` (unbounded) lists, from the commit table, its blobs read into `blobs`; None
    when the table cannot tell (see `Trail.log_path`): the caller asks git."""
    touches = trail.log_path(rev, path)
    if touches is None:
        return None
    names: list[str] = []
    for t in touches:
        if t.status != "D" and t.first_parent:
            names.append(f"{t.commit}:{path}")
        if t.status != "A" and t.parents and t.first_parent:
            names.append(f"{t.parents[0]}:{path}")
    found = _read_at(git, names)
    for sha, data in found.values():
        blobs.data.setdefault(sha, data)
    raws: list[_Raw] = []
    for t in touches:
        # a merge whose file is its first parent's: git lists it with no change (and no blobs)
        new = found.get(f"{t.commit}:{path}") if t.status != "D" and t.first_parent else None
        old = (
            found.get(f"{t.parents[0]}:{path}") if t.status != "A" and t.parents and t.first_parent else None
        )
        raws.append(
            _Raw(
                t.commit,
                t.parents,
                t.author,
                t.email,
                t.date,
                t.subject,
                t.action,
                t.status,
                old[0] if old else None,
                new[0] if new else None,
                path,
            )
        )
    return raws


def _read_at(git: Git, names: Sequence[str]) -> dict[str, tuple[str, bytes]]:
    """`rev:path` -> (blob id, content) through one `git cat-file --batch`; absent names left out."""
    wanted = list(dict.fromkeys(n for n in names if not any(c in n for c in "\n\r\0")))
    if not wanted:
        return {}
    out = git.run(
        "cat-file", "--batch", input="".join(f"{n}\n" for n in wanted).encode("utf-8", "surrogateescape")
    )
    found: dict[str, tuple[str, bytes]] = {}
    at = 0
    for name in wanted:
        end = out.index(b"\n", at)
        header = out[at:end].split(b" ")
        at = end + 1
        if len(header) != 3 or not header[2].isdigit():
            continue  # "<name> missing" (or ambiguous)
        size = int(header[2])
        if header[1] == b"blob":
            found[name] = (header[0].decode("ascii"), out[at : at + size])
        at += size + 1
    return found


def _since(record: dict[str, Any] | None) -> str | None:
    """A day before the record was checked: no save of it can be older (see the module docstring)."""
    qc = record.get("qc") if isinstance(record, dict) else None
    checked = qc.get("checked_at") if isinstance(qc, dict) else None
    if not isinstance(checked, str):
        return None
    try:
        moment = datetime.fromisoformat(checked)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return f"@{int((moment - _SINCE_MARGIN).timestamp())}"


def _blob_path_at(git: Git, rev: str, path: str) -> str | None:
    try:
        found = dict(git.ls_tree(rev, path))
    except GitError:
        return None
    return found.get(path)


def _renamed_from(git: Git, commit: str, path: str) -> tuple[str, str] | None:
    """(old path, old blob) when `commit` renamed another file to `path` (git's rename detection)."""
    out = git.run(
        "diff-tree", "-r", "-M", "--diff-filter=R", "--raw", "--no-commit-id", "--no-abbrev",
        "--end-of-options", commit, "--", "records",
    )  # fmt: skip
    for line in out.decode("utf-8", "replace").splitlines():
        meta, _, paths = line.partition("\t")
        parts = meta[1:].split(" ")
        if len(parts) == 5 and parts[4].startswith("R"):
            old, _, new = paths.partition("\t")
            if new == path:
                return old, parts[2]
    return None


class _Blobs:
    """Blob contents by id, read in batches (one `git cat-file --batch` per batch)."""

    def __init__(self, git: Git) -> None:
        self.git = git
        self.data: dict[str, bytes] = {}

    def fetch(self, shas: Sequence[str | None]) -> None:
        wanted = sorted({s for s in shas if s and s not in self.data})
        if wanted:
            self.data.update(self.git.cat_blobs(wanted))

    def get(self, sha: str | None) -> bytes | None:
        return self.data.get(sha) if sha else None


def _walk(
    git: Git, path: str, head: str, record: dict[str, Any] | None, blobs: _Blobs, trail: Trail | None = None
) -> tuple[list[_Raw], list[str]]:
    """Every commit of the record, newest first, across renumbering and renames; plus problems."""
    raws: list[_Raw] = []
    problems: list[str] = []
    shallow = shallow_commits(git)
    since = _since(record)
    rev, current, seen = head, path, {path}
    started = time.monotonic()
    while True:
        fast = _log_path_fast(git, trail, rev, current, blobs) if trail is not None else None
        if fast is not None:
            found = fast
        else:
            found = _log_path(git, rev, current, since)
            if since is not None and (not found or found[-1].status != "A"):
                # The bound cut the walk before the file was created (a backdated commit): go on unbounded.
                start = found[-1].parents[0] if found and found[-1].parents else (None if found else rev)
                if start is not None:
                    found += _log_path(git, start, current, None)
        raws += found
        if not found:
            break
        blobs.fetch([b for r in found for b in (r.old_blob, r.new_blob)])
        first = found[-1]
        if first.commit in shallow and first.status == "A":
            problems.append(
                f"this clone is shallow: the history of {current} before commit {first.commit[:10]} "
                f"({first.date[:10]}) is not here; fetch it with `git fetch --unshallow`"
            )
            break
        if first.status != "A" or not first.parents:
            break
        previous = _previous_path(git, first, current, problems, blobs)
        if previous is None or previous[0] in seen:
            break
        first.old_path, first.old_blob = previous
        current = previous[0]
        seen.add(current)
        rev = first.parents[0]
    if trail is None and time.monotonic() - started > _SLOW_WALK and not has_commit_graph(git):
        run_maintenance(git)  # in the background: the next history of any record is fast
    return raws, problems


def has_commit_graph(git: Git) -> bool:
    """Whether the repository has a commit-graph (one file or a split chain) for git log to use."""
    info = git.git_dir / "objects" / "info"
    return (info / "commit-graph").is_file() or (info / "commit-graphs" / "commit-graph-chain").is_file()


def _previous_path(
    git: Git, first: _Raw, path: str, problems: list[str], blobs: _Blobs
) -> tuple[str, str] | None:
    """Where the record was before the commit that created its file: an alias's path, or a rename."""
    if first.action in ("create", "import"):
        return None  # a record's first save: nothing came before it
    parent = first.parents[0]
    version = parse_record(blobs.get(first.new_blob))
    aliases = version.record.get("aliases") if version.record else None
    for alias in reversed(aliases if isinstance(aliases, list) else []):
        try:
            old_path = RecordId.parse(str(alias)).path
        except BadId:
            continue
        if old_path == path:
            continue
        old_blob = _blob_path_at(git, parent, old_path)
        if old_blob is not None:
            return old_path, old_blob
    renamed = _renamed_from(git, first.commit, path)
    if renamed is not None:
        problems.append(
            f"{renamed[0]} was renamed to {path} by hand in commit {first.commit[:10]} ({first.author}, "
            f"{first.date[:10]}), not by `kakotui` renumbering: the old id is not kept in aliases, so "
            "references to it break; the history before that commit is shown from the old file"
        )
    return renamed


# ---------------------------------------------------------------------------------------------
# History and blame


def record_history(
    git: Git, path: str, *, record_id: str | None = None, worktree: bool = True, trail: Trail | None = None
) -> RecordHistory:
    """The history of the record stored at `path` (oldest first), following renumbering.

    `worktree`: also compare the last commit with the file in the work tree (`uncommitted`).
    `trail`: the index's commit table at HEAD (`kakotui.store.trail`): the record's commits are read
    from it instead of walking the history in git (git still answers where the table cannot).
    Raises `HistoryError` when git has never seen the file and it is not in the work tree.
    """
    file = git.root / path
    on_disk: bytes | None = None
    if worktree and file.is_file() and not file.is_symlink():
        on_disk = file.read_bytes()
    current = parse_record(on_disk)
    record_text = record_id or id_from_path(path) or path
    blobs = _Blobs(git)
    hint = current.record
    if hint is None and trail is None:  # deleted or unreadable: bound git's walk by the committed one
        blob = _blob_path_at(git, "HEAD", path)
        blobs.fetch([blob])
        hint = parse_record(blobs.get(blob)).record
    try:
        raws, problems = _walk(git, path, "HEAD", hint, blobs, trail)
    except GitError:
        if git.head() is not None:
            raise
        raws, problems = [], []  # no commit yet
    if not raws and on_disk is None:
        raise HistoryError(f"no record {record_text} in this log (and none in its history)")
    blobs.fetch([b for r in raws for b in (r.old_blob, r.new_blob)])
    versions: dict[str, Version] = {}

    def version(sha: str | None) -> Version:
        if sha is None:
            return Version(None)
        if sha not in versions:
            versions[sha] = parse_record(blobs.get(sha))
        return versions[sha]

    entries: list[HistoryEntry] = []
    for raw in reversed(raws):
        before, after = version(raw.old_blob), version(raw.new_blob)
        problem = after.problem or (f"the version before: {before.problem}" if before.problem else None)
        changes = [] if problem else field_changes(before.record, after.record)
        entries.append(
            HistoryEntry(
                raw.commit,
                raw.author,
                raw.email,
                raw.date,
                raw.action,
                raw.subject,
                raw.path,
                changes,
                problem,
                after.record,
            )
        )
    committed = version(raws[0].new_blob) if raws and raws[0].path == path else Version(None)
    uncommitted: list[Change] = []
    if worktree:
        committed_blob = raws[0].new_blob if raws and raws[0].path == path else None
        if on_disk is None and committed_blob is not None:
            uncommitted = field_changes(committed.record, None)
        elif on_disk is not None and git.blob_sha(on_disk) != committed_blob:
            if current.problem is not None:
                problems.append(f"{path} in the work tree is {current.problem}")
            else:
                uncommitted = field_changes(committed.record, current.record)
    latest = current.record if on_disk is not None else committed.record
    expected = id_from_path(path)
    if latest is not None and expected is not None and latest.get("id") != expected:
        problems.append(
            f"{path} holds id {latest.get('id')}: the file was renamed (or its id edited) by hand; a "
            f"record's file is named after its id: rename it back to {_path_of(latest.get('id'))}"
        )
    return RecordHistory(str(record_text), path, entries, problems, uncommitted, latest)


def _path_of(record_id: Any) -> str:
    try:
        return RecordId.parse(str(record_id)).path
    except BadId:
        return "the path of its id"


_MISSING = object()


def record_blame(history: RecordHistory) -> Blame:
    """For each leaf field of the current version, the commit that set its current value."""
    current = leaves(history.record) if history.record is not None else {}
    # Each state is the whole record after a commit, by leaf path (not the changes summed up: a
    # reshipment matched by ref keeps its position-based paths right).
    states: list[tuple[HistoryEntry | None, dict[str, Any]]] = [
        (entry, leaves(entry.after) if entry.after is not None else {})
        for entry in history.entries
        if entry.problem is None
    ]
    if history.uncommitted and any(c.kind != "removed" for c in history.uncommitted):
        states.append((None, current))
    lines: list[BlameLine] = []
    for path, value in current.items():
        setter: HistoryEntry | object | None = _MISSING
        for entry, fields in reversed(states):
            if fields.get(path, _MISSING) != value:
                break
            setter = entry
        if setter is None:
            lines.append(BlameLine(path, value, "", "Not Committed Yet", "", "", None, "in the work tree"))
        elif isinstance(setter, HistoryEntry):
            lines.append(
                BlameLine(
                    path,
                    value,
                    setter.commit,
                    setter.author,
                    setter.email,
                    setter.date,
                    setter.action,
                    setter.subject,
                )
            )
        else:
            lines.append(BlameLine(path, value, "", "unknown", "", "", None, "no commit found"))
    return Blame(history.id, history.path, lines, list(history.problems))
