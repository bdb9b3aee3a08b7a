"""The policy gate over git history: every commit of a range checked against the settings before it.

Each commit is judged by the `kakotui.yaml` of its first parent (so a change to the policy is itself
judged by the policy it changes), on the fields it changed (kakotui.core.diff, renumberings paired),
its author and its `Kakotui-Action`. A merge is charged only with what differs from every parent.
Four-eyes changes need an approval commit in the range (`Kakotui-Action: approve`,
`Kakotui-Approves: <commit>`) by another person holding an approver role.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from kakotui.core import yamlio
from kakotui.core.config import CONFIG_FILE, Config
from kakotui.core.policy import (
    APPROVE,
    APPROVES_TRAILER,
    Author,
    FourEyesRule,
    Policy,
    RecordEdit,
    Violation,
    allowed_signers,
    approval_verdict,
    check_commit,
    four_eyes_rules,
)
from kakotui.core.record import reporting_cost
from kakotui.store.gitrepo import Git, GitError
from kakotui.store.review import commit_diff

__all__ = [
    "CommitInfo",
    "PolicyReader",
    "SignatureCheck",
    "check_range",
    "commits_between",
    "commits_named",
    "verify_commits",
]

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_SEP = "%x1f"
_END = b"\x1e\n"
_FORMAT = (
    _SEP.join(
        [
            "%H",
            "%P",
            "%an",
            "%ae",
            "%(trailers:key=Kakotui-Action,valueonly,separator=%x2C)",
            f"%(trailers:key={APPROVES_TRAILER},valueonly,separator=%x2C)",
            "%s",
        ]
    )
    + "%x1e"
)


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    author: Author
    action: str | None
    approves: tuple[str, ...]
    subject: str


def commits_between(git: Git, base: str | None, head: str) -> list[CommitInfo]:
    """Commits reachable from `head` and not from `base` (None: all), parents before children."""
    spec = [head] if base is None else [head, f"^{base}"]
    out = git.run("log", "--reverse", "--topo-order", f"--format={_FORMAT}", "--end-of-options", *spec, "--")
    return _parse_log(out)


def commits_named(git: Git, shas: Iterable[str]) -> list[CommitInfo]:
    """The commits named (full ids), in the order given."""
    names = "".join(f"{s}\n" for s in shas if _HEX40.match(s))
    if not names:
        return []
    out = git.run("log", "--no-walk=unsorted", "--stdin", f"--format={_FORMAT}", input=names.encode())
    return _parse_log(out)


def _parse_log(out: bytes) -> list[CommitInfo]:
    commits: list[CommitInfo] = []
    for chunk in out.split(_END):
        chunk = chunk.lstrip(b"\n")
        if not chunk:
            continue
        parts = chunk.decode("utf-8", "replace").split("\x1f")
        if len(parts) != 7:
            raise GitError(f"unexpected output of git log: {chunk[:80]!r}")
        sha, parents, name, email, action, approves, subject = parts
        commits.append(
            CommitInfo(
                sha,
                tuple(parents.split()),
                Author(name, email),
                action.split(",")[-1].strip() or None,
                tuple(a.strip() for a in approves.split(",") if a.strip()),
                subject,
            )
        )
    return commits


class PolicyReader:
    """The policy (and settings) of `kakotui.yaml` at any commit, read once per version of the file."""

    def __init__(self, git: Git) -> None:
        self.git = git
        self._by_blob: dict[str | None, tuple[Policy, Config | None]] = {}
        self._blob_of: dict[str, str | None] = {}

    def prefetch(self, commits: Iterable[str]) -> None:
        """Learn the kakotui.yaml blob of many commits in one `git cat-file --batch-check`."""
        names = [c for c in dict.fromkeys(commits) if c not in self._blob_of and _HEX40.match(c)]
        if not names:
            return
        out = self.git.run(
            "cat-file",
            "--batch-check=%(objectname) %(objecttype)",
            input="".join(f"{c}:{CONFIG_FILE}\n" for c in names).encode(),
        )
        lines = out.decode("utf-8", "replace").splitlines()
        for commit, line in zip(names, lines, strict=False):
            sha, _, kind = line.partition(" ")
            self._blob_of[commit] = sha if kind == "blob" and _HEX40.match(sha) else None

    def blob_at(self, commit: str | None) -> str | None:
        """The blob id of kakotui.yaml in `commit` (None: no such file, or no commit)."""
        if commit is None:
            return None
        if commit not in self._blob_of:
            found = self.git.ls_tree(commit, CONFIG_FILE)
            self._blob_of[commit] = next((sha for path, sha in found if path == CONFIG_FILE), None)
        return self._blob_of[commit]

    def at(self, commit: str | None) -> tuple[Policy, Config | None]:
        return self.of_blob(self.blob_at(commit))

    def of_blob(self, blob: str | None) -> tuple[Policy, Config | None]:
        if blob not in self._by_blob:
            data: Any = None
            if blob is not None:
                try:
                    data = yamlio.load(self.git.read_blob(blob))
                except (yamlio.YamlError, GitError):
                    data = None
            config = None
            try:
                config = Config.from_data(data) if isinstance(data, dict) else None
            except (KeyError, TypeError, ValueError, IndexError):
                config = None
            self._by_blob[blob] = (Policy.from_data(data), config)
        return self._by_blob[blob]


@dataclass
class _Commit:
    info: CommitInfo
    edits: list[RecordEdit] = field(default_factory=list)
    other_files: list[str] = field(default_factory=list)


def _changes(git: Git, info: CommitInfo) -> _Commit:
    """What the commit itself changed: against its parent, or (a merge) against every parent."""
    parents: list[str | None] = [*info.parents] or [None]
    diffs = [commit_diff(git, p, info.sha) for p in parents]
    first = diffs[0]
    result = _Commit(info)
    others = [{p for _s, p in d.other_files} for d in diffs[1:]]
    result.other_files = [p for _s, p in first.other_files if all(p in o for o in others)]
    rest = [{rc.path: rc for rc in d.records} for d in diffs[1:]]
    for rc in first.records:
        before, after = first.versions(rc.path)
        changes = list(rc.changes)
        if rest:
            kept = []
            for change in changes:
                elsewhere = [r.get(rc.path) for r in rest]
                if all(
                    e is not None and any(c.path == change.path and c.new == change.new for c in e.changes)
                    for e in elsewhere
                ):
                    kept.append(change)
            changes = kept
            if not changes:
                continue
        result.edits.append(RecordEdit(rc.path, before.record, after.record, changes))
    return result


def _cost(config: Config | None) -> Any:
    def cost_of(record: Mapping[str, Any]) -> Decimal | None:
        if config is None:
            return None
        try:
            return reporting_cost(dict(record), config)
        except (ArithmeticError, TypeError, ValueError, AttributeError):
            return None

    return cost_of


def check_range(git: Git, base: str | None, head: str) -> list[Violation]:
    """Every policy violation of the commits from `base` (exclusive) to `head`, oldest first."""
    reader = PolicyReader(git)
    commits = commits_between(git, base, head)
    reader.prefetch([c.sha for c in commits] + [p for c in commits for p in c.parents])
    if not any(
        reader.of_blob(b)[0].enforced
        for b in {reader.blob_at(c.sha) for c in commits}
        | {reader.blob_at(p) for c in commits for p in c.parents}
    ):
        return []  # no version of the settings in reach has roles: nothing to enforce
    approvals: dict[str, list[CommitInfo]] = {}
    for info in commits:
        if info.action == APPROVE:
            for target in info.approves:
                approvals.setdefault(target, []).append(info)
    out: list[Violation] = []
    # The settings each commit leaves in force (blob of kakotui.yaml): a change to them that the
    # policy refused stays refused for the commits after it too.
    in_force: dict[str, str | None] = {}
    needs: list[tuple[CommitInfo, FourEyesRule, RecordEdit]] = []

    def after(commit: str) -> str | None:
        return in_force[commit] if commit in in_force else reader.blob_at(commit)

    for info in commits:
        # A first commit has no policy before it (it sets the policy up): not enforced.
        before = after(info.parents[0]) if info.parents else None
        policy, config = reader.of_blob(before)
        own = reader.blob_at(info.sha)
        in_force[info.sha] = own if own in {after(p) for p in info.parents} or not info.parents else before
        if not policy.enforced:
            in_force[info.sha] = own
            continue
        changed = _changes(git, info)
        if info.action == APPROVE and (changed.edits or changed.other_files):
            where = changed.edits[0].path if changed.edits else changed.other_files[0]
            out.append(
                Violation(
                    info.sha,
                    str(info.author),
                    where,
                    "",
                    "policy:approval-only",
                    "an approval commit may change no files (make it with `kakotui approve COMMIT`)",
                )
            )
        found = check_commit(policy, info.sha, info.author, info.action, changed.edits, changed.other_files)
        if CONFIG_FILE in changed.other_files and not any(v.file == CONFIG_FILE for v in found):
            in_force[info.sha] = own  # an admin's change: the new settings hold from here
        out += found
        needs += [
            (info, rule, edit)
            for rule, edit in four_eyes_rules(policy, info.action, changed.edits, _cost(config))
        ]
    # Four eyes, once every commit's settings in force are known (approvals come after the change).
    for info, rule, edit in needs:
        reasons = []
        for approval in _approvals_for(info.sha, approvals):
            approver_policy, _ = reader.of_blob(after(approval.parents[0]) if approval.parents else None)
            why = approval_verdict(approver_policy, rule, info.author, approval.author)
            if why is None:
                break
            reasons.append(f"{approval.sha[:10]}: {why}")
        else:
            detail = f" (approvals refused: {'; '.join(reasons)})" if reasons else ""
            out.append(
                Violation(
                    info.sha,
                    str(info.author),
                    edit.path,
                    rule.field,
                    f"four-eyes:{rule.name}",
                    f"{rule.describe()} needs an approval by another person with role "
                    f"{' or '.join(rule.approvers)}: `kakotui approve {info.sha[:12]}`{detail}",
                )
            )
    return out


def _approvals_for(sha: str, approvals: Mapping[str, list[CommitInfo]]) -> Iterator[CommitInfo]:
    for target, infos in approvals.items():
        if len(target) >= 7 and sha.startswith(target.lower()):
            yield from infos


# ---------------------------------------------------------------------------------------------
# Signatures

SignatureStatus = Literal["verified", "unsigned", "unknown-key", "mismatched", "bad", "unchecked"]

_STATUS: dict[str, SignatureStatus] = {
    "G": "verified",
    "U": "unknown-key",
    "N": "unsigned",
    "B": "bad",
    "X": "bad",
    "Y": "bad",
    "R": "bad",
    "E": "unchecked",
}


@dataclass(frozen=True)
class SignatureCheck:
    """One commit's signature against the signing keys of the people in the settings before it."""

    commit: str
    author: Author
    status: SignatureStatus
    signer: str  # the person whose key made the signature (their email), "" when none matched
    key: str  # the key's fingerprint, "" when unsigned
    required: bool  # the settings before the commit require signed commits
    subject: str = ""

    @property
    def ok(self) -> bool:
        """Verified; or, where signing is not required, anything but a signature that names the
        wrong person or does not match the commit (impersonation or tampering fail everywhere)."""
        if self.status == "verified":
            return True
        return not self.required and self.status not in ("mismatched", "bad")

    def describe(self) -> str:
        if self.status == "verified":
            return f"signed by {self.signer}"
        if self.status == "unsigned":
            return "not signed" + ("" if self.required else " (not required then)")
        if self.status == "unknown-key":
            return f"signed with a key no person in kakotui.yaml holds ({self.key})" + (
                "" if self.required else " (signing not required then)"
            )
        if self.status == "mismatched":
            return f"authored as {self.author.email} but signed with the key of {self.signer}"
        if self.status == "bad":
            return f"the signature does not match the commit (altered after signing?) ({self.key})"
        return "the signature could not be checked"


def verify_commits(git: Git, commits: list[CommitInfo]) -> list[SignatureCheck]:
    """The signature of each commit, checked against the people of kakotui.yaml before it."""
    reader = PolicyReader(git)
    reader.prefetch([c.parents[0] if c.parents else c.sha for c in commits])
    groups: dict[str | None, list[CommitInfo]] = {}
    for info in commits:
        # A log's first commit is checked against the settings it creates.
        blob = reader.blob_at(info.parents[0] if info.parents else info.sha)
        groups.setdefault(blob, []).append(info)
    found: dict[str, SignatureCheck] = {}
    folder = git.git_dir / "kakotui"
    folder.mkdir(parents=True, exist_ok=True)
    for blob, infos in groups.items():
        policy, _config = reader.of_blob(blob)
        signers = folder / f"allowed-signers-{os.getpid()}-{secrets.token_hex(4)}"
        signers.write_text(allowed_signers(policy), "utf-8")
        try:
            out = git.run(
                "-c", f"gpg.ssh.allowedSignersFile={signers}", "log", "--no-walk=unsorted", "--stdin",
                "--format=%H%x1f%G?%x1f%GS%x1f%GK%x1e",
                input="".join(f"{i.sha}\n" for i in infos).encode(),
            )  # fmt: skip
        finally:
            signers.unlink(missing_ok=True)
        by_sha = {i.sha: i for i in infos}
        for chunk in out.split(_END):
            parts = chunk.strip(b"\n").decode("utf-8", "replace").split("\x1f")
            if len(parts) != 4 or parts[0] not in by_sha:
                continue
            sha, code, signer, key = parts
            info = by_sha[sha]
            status = _STATUS.get(code, "unchecked")
            if status == "verified" and signer.lower() != info.author.email.lower():
                status = "mismatched"
            found[sha] = SignatureCheck(
                sha, info.author, status, signer, key, policy.signing_required, info.subject
            )
    return [found[i.sha] for i in commits if i.sha in found]
