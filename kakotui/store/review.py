"""Review: the semantic diff between two states of the log, and what a change since a revision breaks.

`log_diff` compares two states (a commit, the index, or the work tree) record by record, as field
changes rather than YAML lines; renumbered records (the new one keeps the old id in `aliases`) and
files moved by hand (same content) are paired into one `renamed` change. `changes_since` is the
part of the pull-request gate that looks beyond the changed files: records that still refer to a
removed id, ids used twice, records deleted, and append-only rules broken between the revision's
version of a record and the current one. The façade validates the changed files themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from kakotui.core.config import CONFIG_FILE
from kakotui.core.diff import (
    RecordChange,
    RecordStatus,
    append_only_violations,
    field_changes,
    markdown_report,
)
from kakotui.core.ids import id_from_path, is_record_path
from kakotui.core.problems import Problem
from kakotui.store.gitrepo import NULL_SHA, Git, GitError
from kakotui.store.history import HistoryError, Version, parse_record, resolve_rev
from kakotui.store.index import Index

__all__ = [
    "INDEX",
    "WORKTREE",
    "LogDiff",
    "Since",
    "changes_since",
    "commit_diff",
    "log_diff",
    "merge_base",
]

WORKTREE = ":worktree"
INDEX = ":index"
Side = Literal[":worktree", ":index"] | str

# Files whose change can break any record: the gate then checks the whole log.
_GLOBAL = (CONFIG_FILE, "schema/")


@dataclass
class LogDiff:
    """What differs between two states of the log: records (field by field) and other files."""

    base: str  # what the caller named (e.g. origin/main), with the commit
    target: str
    records: list[RecordChange] = field(default_factory=list)
    other_files: list[tuple[str, str]] = field(default_factory=list)  # (A/M/D, path)
    _versions: dict[str, tuple[Version, Version]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": self.base,
            "target": self.target,
            "records": [r.to_dict() for r in self.records],
            "other_files": [{"status": s, "path": p} for s, p in self.other_files],
        }

    def markdown(self, problems: list[Problem] | None = None) -> str:
        return markdown_report(
            self.records,
            base=self.base,
            target=self.target,
            other_files=self.other_files,
            problems=problems or (),
        )

    def versions(self, path: str) -> tuple[Version, Version]:
        """(before, after) of a changed record path (for a rename: keyed by the new path)."""
        return self._versions[path]


@dataclass
class Since:
    """What a change since a revision does beyond its own files (the façade adds their validation)."""

    rev: str
    base: str  # the commit compared with (the merge base of rev and HEAD)
    diff: LogDiff
    check_paths: list[str]  # files under records/ to validate (changed or added, present now)
    check_all: bool  # kakotui.yaml or schema/ changed: every record must be validated again
    problems: list[Problem] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Reading states


def _parse_raw(out: bytes) -> list[tuple[str, str, str, str]]:
    """(status, path, old blob, new blob) from `--raw -z` output, regular files only."""
    fields = out.split(b"\0")
    rows: list[tuple[str, str, str, str]] = []
    i = 0
    while i + 1 < len(fields):
        meta, path = fields[i], fields[i + 1]
        i += 2
        if not meta.startswith(b":"):
            continue
        mode_a, mode_b, sha_a, sha_b, _status = meta[1:].decode().split(" ")
        was, now = mode_a in ("100644", "100755"), mode_b in ("100644", "100755")
        name = path.decode("utf-8", "surrogateescape")
        if was and now:
            rows.append(("M", name, sha_a, sha_b))
        elif now:
            rows.append(("A", name, NULL_SHA, sha_b))
        elif was:
            rows.append(("D", name, sha_a, NULL_SHA))
    return rows


def _changed_files(
    git: Git, base: str, target: Side
) -> tuple[list[tuple[str, str, str, str]], dict[str, bytes]]:
    """Files that differ from commit `base` to `target`, and the bytes of work-tree files read."""
    raw = ["--raw", "-z", "--no-renames", "--no-abbrev"]
    if target == INDEX:
        rows = _parse_raw(
            git.run("--no-optional-locks", "diff-index", "--cached", *raw, "--end-of-options", base, "--")
        )
        return rows, {}
    if target != WORKTREE:
        return git.diff_tree(base, target, ""), {}
    rows = _parse_raw(git.run("--no-optional-locks", "diff-index", *raw, "--end-of-options", base, "--"))
    untracked = git.run(
        "--no-optional-locks", "ls-files", "-z", "--others", "--exclude-standard", "--", "records"
    )
    rows += [
        ("A", p, NULL_SHA, NULL_SHA) for p in untracked.decode("utf-8", "surrogateescape").split("\0") if p
    ]
    disk: dict[str, bytes] = {}
    kept: list[tuple[str, str, str, str]] = []
    for status, path, old, new in rows:
        if status != "D" and new == NULL_SHA:  # changed in the work tree: read it (git only saw the stat)
            file = git.root / path
            if file.is_symlink() or not file.is_file():
                if status == "M":
                    kept.append(("D", path, old, NULL_SHA))
                continue
            data = file.read_bytes()
            new = git.blob_sha(data)
            if new == old:
                continue  # only its stat data changed
            disk[new] = data
        kept.append((status, path, old, new))
    return kept, disk


def _label(name: str, commit: str | None) -> str:
    if name in (WORKTREE, INDEX):
        return "work tree" if name == WORKTREE else "staged changes"
    if commit and not commit.startswith(name):
        return f"{name} ({commit[:10]})"
    return (commit or name)[:10]


def merge_base(git: Git, rev: str, other: str) -> str:
    """The newest commit both `rev` and `other` come from (where a branch left `rev`)."""
    a, b = resolve_rev(git, rev), resolve_rev(git, other)
    try:
        return git.run("merge-base", "--end-of-options", a, b).decode().strip()
    except GitError:
        raise HistoryError(
            f"{rev} and {other} share no history in this clone; if it is shallow (e.g. actions/checkout "
            "with the default fetch-depth: 1), fetch more with `git fetch --unshallow` or use fetch-depth: 0"
        ) from None


def log_diff(
    git: Git, rev_a: str | None = None, rev_b: str | None = None, *, staged: bool = False
) -> LogDiff:
    """The record changes from `rev_a` (default HEAD) to `rev_b`, or to the index (`staged`) or work tree.

    `A...B` in `rev_a` compares the merge base of A and B with B (what a pull request from B adds),
    `A..B` compares A with B, as git does.
    """
    if rev_a is not None and rev_b is None and ".." in rev_a:
        left, dots, right = rev_a.partition("...") if "..." in rev_a else rev_a.partition("..")
        left, right = left or "HEAD", right or "HEAD"
        base_commit = merge_base(git, left, right) if dots == "..." else resolve_rev(git, left)
        base_label = f"{left}...{right}" if dots == "..." else left
        base_label = _label(base_label, base_commit)
        rev_a, rev_b = base_commit, right
    else:
        if rev_a is None and git.head() is None:
            raise HistoryError("the log has no commits yet: nothing to compare with")
        base_commit = resolve_rev(git, rev_a or "HEAD")
        base_label = _label(rev_a or "HEAD", base_commit)
    if rev_b is not None and staged:
        raise HistoryError("give either a second revision or --staged, not both")
    target: Side
    if rev_b is not None:
        target = resolve_rev(git, rev_b)
        target_label = _label(rev_b, target)
    else:
        target = INDEX if staged else WORKTREE
        target_label = _label(target, None)
    rows, disk = _changed_files(git, base_commit, target)
    return _build(git, rows, disk, base_label, target_label)


def commit_diff(git: Git, old: str | None, new: str) -> LogDiff:
    """The record changes from commit `old` (None: the empty tree) to commit `new`, both full ids."""
    return _build(git, git.diff_tree(old, new, ""), {}, (old or "empty")[:10], new[:10])


def _build(
    git: Git, rows: list[tuple[str, str, str, str]], disk: dict[str, bytes], base: str, target: str
) -> LogDiff:
    result = LogDiff(base, target)
    records = [r for r in rows if is_record_path(r[1])]
    result.other_files = [(s, p) for s, p, _o, _n in rows if not is_record_path(p)]
    wanted = sorted(
        {sha for _s, _p, o, n in records for sha in (o, n) if sha != NULL_SHA and sha not in disk}
    )
    blobs = dict(git.cat_blobs(wanted)) if wanted else {}
    blobs.update(disk)

    def version(sha: str) -> Version:
        return parse_record(blobs.get(sha)) if sha != NULL_SHA else Version(None)

    sides = {path: (status, version(old), version(new), old, new) for status, path, old, new in records}
    renamed_from = _pair_renames(sides)
    paired = set(renamed_from.values())
    for status, path, _old, _new in records:
        if path in paired:
            continue
        _st, before, after, _old_sha, _new_sha = sides[path]
        kind: RecordStatus = {"A": "added", "D": "removed"}.get(status, "changed")  # type: ignore[assignment]
        old_path = renamed_from.get(path)
        if old_path is not None:
            kind = "renamed"
            before = sides[old_path][1]
        problem = after.problem or before.problem
        changes = [] if problem else field_changes(before.record, after.record)
        current = after.record or before.record or {}
        rid = str(current.get("id") or id_from_path(path) or path)
        result.records.append(RecordChange(rid, path, kind, changes, old_path, problem))
        result._versions[path] = (before, after)
    return result


def _pair_renames(sides: dict[str, tuple[str, Version, Version, str, str]]) -> dict[str, str]:
    """new path -> old path for records renumbered (the old id in aliases) or moved as they were."""
    removed = {p: v for p, v in sides.items() if v[0] == "D"}
    if not removed:
        return {}
    by_id = {str(v[1].record.get("id")): p for p, v in removed.items() if v[1].record}
    by_blob = {v[3]: p for p, v in removed.items()}
    pairs: dict[str, str] = {}
    for path, (status, _before, after, _old, new) in sides.items():
        if status != "A":
            continue
        aliases = after.record.get("aliases") if after.record else None
        match = next(
            (by_id[a] for a in reversed(aliases) if isinstance(a, str) and a in by_id)
            if isinstance(aliases, list)
            else iter(()),
            None,
        )
        match = match or by_blob.get(new)
        if match is not None and match not in pairs.values():
            pairs[path] = match
    return pairs


# ---------------------------------------------------------------------------------------------
# The gate: what a change since a revision breaks elsewhere


def changes_since(git: Git, rev: str, index: Index) -> Since:
    """The changes from where the current branch left `rev` to the work tree, and the problems they
    cause outside the changed files (`index` must be caught up with the work tree)."""
    if git.head() is None:
        raise HistoryError("the log has no commits yet: nothing to compare with")
    base = merge_base(git, rev, "HEAD")
    rows, disk = _changed_files(git, base, WORKTREE)
    diff = _build(git, rows, disk, _label(rev, base), "work tree")
    check_all = any(p == g or p.startswith(g) for _s, p in diff.other_files for g in _GLOBAL)
    present = [p for s, p, _o, _n in rows if s != "D" and p.startswith("records/")]
    problems: list[Problem] = []
    renamed_away = {rc.old_path for rc in diff.records if rc.old_path}
    gone: dict[str, tuple[str, str | None]] = {}  # id no longer in the log -> (its path, its new id)
    current_ids = index.ids()
    ids_of: dict[str, tuple[str, bool]] = {}  # path -> (id, new to this path: check former ids too)
    for rc in diff.records:
        before, after = diff.versions(rc.path)
        if rc.status == "removed" and rc.path not in renamed_away:
            problems.append(
                Problem(
                    rc.path,
                    "",
                    "append-only:record-removed",
                    f"record {rc.id} was deleted; records are kept for the audit trail: close it as void "
                    f"instead (`kakotui close {rc.id} --final-status void --note ...`)",
                )
            )
        if rc.status in ("changed", "renamed") and before.record is not None and after.record is not None:
            problems += append_only_violations(before.record, after.record, path=rc.path)
        old_id = before.record.get("id") if before.record else None
        new_id = after.record.get("id") if after.record else None
        if isinstance(old_id, str) and old_id not in current_ids:
            gone[old_id] = (rc.old_path or rc.path, new_id if isinstance(new_id, str) else None)
        if rc.status != "removed" and isinstance(new_id, str):
            ids_of[rc.path] = (new_id, rc.status != "changed" or new_id != old_id)
    problems += _duplicates(index, ids_of)
    changed_paths = {rc.path for rc in diff.records}
    for gone_id, (where, renamed_to) in sorted(gone.items()):
        problems += _dangling(index, gone_id, where, renamed_to, changed_paths)
    return Since(rev, base, diff, sorted(set(present)), check_all, problems)


def _duplicates(index: Index, ids_of: dict[str, tuple[str, bool]]) -> list[Problem]:
    """Ids of changed records that another file also uses, as its id or (for new ids) a former id."""
    problems: list[Problem] = []
    for path, (record_id, _new) in ids_of.items():
        for row in index.query("id = ? AND path != ?", [record_id, path], columns=["path", "id"]):
            problems.append(
                Problem(path, "id", "rule:unique-id", f"id {record_id} is also used by {row['path']}")
            )
    new_ids = {record_id: path for path, (record_id, new) in ids_of.items() if new}
    if new_ids:  # one pass over the few records that have former ids (a scan of the table)
        for row in index.query("aliases != ''", [], columns=["path", "id", "aliases"]):
            for alias in str(row["aliases"]).split():
                owner = new_ids.get(alias)
                if owner is not None and owner != row["path"]:
                    problems.append(
                        Problem(
                            owner,
                            "id",
                            "rule:unique-id",
                            f"id {alias} is also used by {row['path']} (a former id of {row['id']})",
                        )
                    )
    return problems


def _dangling(
    index: Index, gone_id: str, where: str, renamed_to: str | None, changed: set[str]
) -> list[Problem]:
    """Records not changed by this change that still refer to `gone_id` (their problem, our cause)."""
    needle = json.dumps(gone_id)
    rows = index.query("instr(json, ?) > 0", [needle], columns=["path", "json"])
    problems: list[Problem] = []
    for row in rows:
        if row["path"] in changed or not row["json"]:
            continue  # a changed record is validated in full anyway
        record = json.loads(row["json"])
        related = record.get("related") if isinstance(record, dict) else None
        for i, other in enumerate(related if isinstance(related, list) else []):
            if other == gone_id:
                problems.append(
                    Problem(
                        row["path"],
                        f"related.{i}",
                        "rule:references-exist",
                        f"refers to {gone_id}, which this change renumbers to {renamed_to} ({where}): refer to "
                        f"{renamed_to}"
                        if renamed_to
                        else f"refers to {gone_id}, which this change removes ({where})",
                    )
                )
    return problems
