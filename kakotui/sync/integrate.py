"""Integrating the other side's commits: renumber id collisions, merge field by field, report.

Everything is built as git objects first (kakotui.sync.plumbing): renumber commits on top of the
local branch for records this clone created under an id the other side also created (from a
bundle, on top of the other site's branch instead when the other site's copy is the one that
gives way, exactly as that site will do it itself), then
`git merge-tree --write-tree` with the record driver set to `false`, so that every record both
sides changed comes back as a conflict and is merged here field by field (kakotui.sync.merge).
Only a complete merge commit is applied to the clone. What came in is validated and reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kakotui.core import yamlio
from kakotui.core.commits import commit_message, log_message
from kakotui.core.config import CONFIG_FILE, Config, load_config
from kakotui.core.ids import RecordId, id_from_path
from kakotui.core.record import format_time, to_text
from kakotui.core.schemas import SCHEMA_FILES, Schemas
from kakotui.core.validation import check_text
from kakotui.store.gitrepo import NULL_SHA, Git, GitError, atomic_write, repo_lock
from kakotui.sync.driver import Unmergeable, merge_texts
from kakotui.sync.merge import Side, record_conflicts, renumber, retarget_related
from kakotui.sync.plumbing import Changes, Plumbing
from kakotui.sync.summary import IncomingProblem, Renumbering, SyncError, SyncSummary, note_for

RECORDS = "records/"
# Where a clone keeps what it knows other clones have: anything reachable from these is published.
PUBLISHED_PREFIXES = ("refs/remotes/", "refs/kakotui/sync/", "refs/kakotui/seen/")
ATTRIBUTES_FILE = ".gitattributes"
ATTRIBUTES_PATTERN = "records/**/*.yaml"
ATTRIBUTES_LINE = f"{ATTRIBUTES_PATTERN} merge=kakotui"
ATTRIBUTES_COMMENT = "# Records merge field by field (kakotui merge-driver), never line by line."
CONFLICT_RULE = "rule:unresolved-conflict"


@dataclass(frozen=True)
class Plan:
    """Where the branch was (`old`) and where integration puts it (`new`; the same when nothing came)."""

    old: str | None
    new: str | None


class Integrator:
    """Integrates one fetched commit into a clone (or, dry, says what that would do)."""

    def __init__(
        self, git: Git, schemas: Schemas, config: Config, plumbing: Plumbing, step: Callable[[str], None]
    ) -> None:
        self.git = git
        self.schemas = schemas
        self.config = config
        self.plumbing = plumbing
        self._step = step

    def _attributes_file(self) -> Path:
        path = self.git.git_dir / "kakotui" / "merge-attributes"
        text = ATTRIBUTES_LINE + "\n"
        if not path.is_file() or path.read_text("utf-8", "replace") != text:
            atomic_write(path, text.encode())
        return path

    # -- the driver, for every clone ---------------------------------------------------------------

    def ensure_attributes(
        self, branch: str, tip: str | None, summary: SyncSummary, *, dry_run: bool
    ) -> str | None:
        """Commit the `.gitattributes` line that sends records to the merge driver, when `tip` lacks it.

        A log made before the driver existed, or whose `.gitattributes` lost the line, merges records
        line by line in every clone that pulls by hand. The line is added on top of `tip` (the
        branch, after what came in was merged) in its own commit (action `merge`), sent with the rest.
        Returns the new tip (`tip` when nothing was needed or possible).
        """
        if tip is None:
            return tip
        try:
            current: bytes | None = self.git.read_blob(tip, ATTRIBUTES_FILE)
        except GitError:
            current = None
        if current is not None and has_record_driver(current.decode("utf-8", "replace")):
            return tip
        what = f"`{ATTRIBUTES_LINE}` to {ATTRIBUTES_FILE}"
        policy = getattr(self.config, "policy", None)  # kakotui.core.policy: .gitattributes is admin-only
        if policy is not None and policy.enforced:
            person = policy.person(self.plumbing.identity().email)
            if not policy.is_admin(person):
                summary.notes.append(
                    f"{ATTRIBUTES_FILE} lacks `{ATTRIBUTES_LINE}`; only an admin may change it: "
                    "ask one to add the line, or to sync once"
                )
                return tip
        if dry_run:
            summary.notes.append(f"would add {what} (one commit, sent with the rest)")
            return tip
        with repo_lock(self.git.git_dir, timeout=30.0):
            if self.git.head() != tip:
                return tip  # a save landed meanwhile: the next sync adds the line
            file = self.git.root / ATTRIBUTES_FILE
            on_disk = Git.blob_sha(file.read_bytes()) if file.is_file() else None
            if file.is_symlink() or on_disk != (None if current is None else Git.blob_sha(current)):
                summary.notes.append(
                    f"{ATTRIBUTES_FILE} has changes that are not committed, so {what} was not added: "
                    "commit or discard them and sync again"
                )
                return tip
            message = log_message(
                "merge",
                f"Merge records field by field: add {ATTRIBUTES_LINE} to {ATTRIBUTES_FILE}",
                body=(
                    "Every clone then merges two versions of a record with `kakotui merge-driver`,\n"
                    "also on a plain `git pull`, instead of line by line."
                ),
            )
            commit = self.plumbing.commit(tip, {ATTRIBUTES_FILE: with_record_driver(current)}, message, [tip])
            self.plumbing.apply(branch, tip, commit)
        summary.notes.append(f"added {what} so that every clone merges records field by field (one commit)")
        return commit

    # -- integrating ----------------------------------------------------------------------------

    def integrate(
        self,
        branch: str,
        theirs: str | None,
        summary: SyncSummary,
        *,
        dry_run: bool,
        peer: Sequence[str] | None = None,
    ) -> Plan:
        """Merge `theirs` into `branch` (or, dry, build the merge and say what it would do).

        `theirs` is a remote's branch (published), or with `peer` another site's branch read from a
        bundle, `peer` then holding the commits that site had sent elsewhere (its remote branches).
        """
        with repo_lock(self.git.git_dir, timeout=30.0):
            ours = self.git.head()
            if theirs is None or ours == theirs:
                return Plan(ours, ours)
            base = None
            if ours is not None:
                rc, out, err = self.git.run_status("merge-base", "--end-of-options", ours, theirs)
                if rc not in (0, 1):
                    raise SyncError(f"git merge-base failed: {last_line(err)}", summary)
                if rc == 1:
                    raise SyncError(
                        "the remote holds a different log (no common history); check the remote's URL",
                        summary,
                    )
                base = out.decode().strip()
            if base == theirs:
                return Plan(ours, ours)  # we hold everything they have
            if base is None or base == ours:
                final = theirs  # nothing here they lack: a fast-forward
            else:
                tip, theirs_tip = self._renumber_collisions(base, ours or "", theirs, summary, peer)
                final = self._merge(tip, theirs_tip, summary, dry_run=dry_run)
            changes = self.git.diff_tree(ours, final, "")
            self._report_incoming(ours, final, theirs, changes, summary, base=base)
            if not dry_run:
                self._step("applying")
                self.plumbing.apply(branch, ours, final, changes)
            return Plan(ours, final)

    def _renumber_collisions(
        self, base: str, ours: str, theirs: str, summary: SyncSummary, peer: Sequence[str] | None
    ) -> tuple[str, str]:
        """Give one of each pair of records both sides created under the same id the next free id.

        Returns the two tips to merge, each with its renumber commits on top. From a remote
        (`peer` None) the remote's record is published: this clone's copy moves. Between two sites
        exchanging bundles (`peer`: what the other site had published), both sides decide alike:
        a published copy never moves; otherwise the copy created later (its creating commit's time,
        then its id) moves, to the next id free on both sides. The site that keeps its copy
        applies the same renumbering to the other site's copy, so both end with the same files.
        """
        added = {
            path: new
            for status, path, _old, new in self.git.diff_tree(base, ours, RECORDS)
            if status == "A" and id_from_path(path)
        }
        if not added:
            return ours, theirs
        theirs_files = dict(self.git.ls_tree(theirs, RECORDS))
        collisions = sorted(p for p, blob in added.items() if p in theirs_files and theirs_files[p] != blob)
        if not collisions:
            return ours, theirs
        taken = {
            RecordId.parse(i)
            for i in ids_of([*theirs_files, *(p for p, _ in self.git.ls_tree(ours, RECORDS))])
        }
        published = None if peer is None else [*self._published_here(), *peer]
        tips = {True: ours, False: theirs}
        for path in collisions:
            old_id = id_from_path(path)
            assert old_id is not None
            if published is None:
                here, why = True, "the other copy is on the remote"
            else:
                here, why = self._ours_moves(base, ours, theirs, path, published, summary)
            old = RecordId.parse(old_id)
            seq = max(r.seq for r in taken if r.station == old.station and r.year == old.year) + 1
            new = RecordId(old.station, old.year, seq)
            taken.add(new)
            tips[here] = self._renumber(base, tips[here], path, new, summary, here=here, why=why)
        return tips[True], tips[False]

    def _published_here(self) -> list[str]:
        """The commits this clone knows other clones have: its remote-tracking branches."""
        out = self.git.run("for-each-ref", "--format=%(objectname)", "--end-of-options", *PUBLISHED_PREFIXES)
        return sorted(set(out.decode().split()))

    def _ours_moves(
        self, base: str, ours: str, theirs: str, path: str, published: Sequence[str], summary: SyncSummary
    ) -> tuple[bool, str]:
        """Whether this clone's copy of `path` is the one to renumber (the other site decides the same),
        and why the one that moves gives way."""
        mine, other = self._creation(base, ours, path), self._creation(base, theirs, path)
        mine_out = mine is not None and self._reachable(mine[1], published)
        other_out = other is not None and self._reachable(other[1], published)
        if mine_out != other_out:
            return other_out, "the other copy had already been sent elsewhere"
        if mine_out:
            summary.notes.append(
                f"{id_from_path(path)} had been sent elsewhere from both sites; the copy created later moves"
            )
        if mine is None or other is None:  # made outside kakotui in an odd way: any fixed rule will do
            mine_blob, other_blob = (self.git.blob_sha(self.git.read_blob(t, path)) for t in (ours, theirs))
            return mine_blob > other_blob, "a fixed rule on the two versions chose it"
        return mine > other, "the other copy was created first"

    def _creation(self, base: str, tip: str, path: str) -> tuple[int, str] | None:
        """(time, id) of the commit that created `path` between `base` and `tip`."""
        rc, out, _ = self.git.run_status(
            "log", "--format=%ct %H", "--diff-filter=A", "--end-of-options", tip, f"^{base}", "--", path
        )
        lines = out.decode().split("\n") if rc == 0 else []
        last = [ln for ln in lines if ln.strip()][-1:]
        if not last:
            return None
        when, _, sha = last[0].partition(" ")
        return int(when), sha

    def _reachable(self, commit: str, tips: Sequence[str]) -> bool:
        """Whether `commit` is in the history of one of `tips` (one git call, however many tips)."""
        if not tips:
            return False
        rc, out, _ = self.git.run_status(
            "rev-list", "-n", "1", "--end-of-options", commit, *(f"^{t}" for t in tips), "--"
        )
        return rc == 0 and not out.strip()

    def _renumber(
        self, base: str, tip: str, path: str, new: RecordId, summary: SyncSummary, *, here: bool, why: str
    ) -> str:
        """One `renumber` commit on top of `tip`: the record at `path` moved to `new`, references follow."""
        old_id = id_from_path(path)
        assert old_id is not None
        data = self.git.read_blob(tip, path)
        changes: dict[str, bytes | None] = {path: None}
        try:
            record = yamlio.load(data)
        except yamlio.YamlError:
            record = None
        if isinstance(record, dict):
            moved = renumber(record, str(new))
            changes[new.path] = to_text(moved, self.schemas).encode()
        else:
            moved = {"id": str(new)}
            changes[new.path] = data
            summary.notes.append(f"{old_id} could not be read; moved to {new} unchanged: fix its id by hand")
        changes.update(self._retarget(base, tip, old_id, str(new), skip={path}))
        if here:
            body = (
                f"{old_id} was also created at another clone (a station configured twice?). This clone's\n"
                f"copy had not been sent yet and {why}, so it now has the next free id; {old_id} stays\n"
                "as its alias."
            )
        else:
            stays = why.replace("the other copy", "this clone's copy")
            body = (
                f"{old_id} was also created at this clone (a station configured twice?). The other site's\n"
                f"copy, received in a bundle, had not been sent elsewhere and {stays},\n"
                "so it has the next free id, the one the other site gives it too when it receives this\n"
                f"clone's changes; {old_id} stays as its alias."
            )
        message = commit_message("renumber", moved, self.config, detail=f"from {old_id}", body=body)
        commit = self.plumbing.commit(tip, changes, message, [tip])
        summary.renumbered.append(Renumbering(old_id, str(new), commit, here=here))
        return commit

    def _retarget(
        self, base: str, tip: str, old_id: str, new_id: str, skip: set[str]
    ) -> dict[str, bytes | None]:
        """Local records (changed since `base`) that refer to `old_id`: they meant this clone's record."""
        out: dict[str, bytes | None] = {}
        touched = [
            (path, old, new)
            for status, path, old, new in self.git.diff_tree(base, tip, RECORDS)
            if status != "D" and path not in skip
        ]
        blobs = dict(self.git.cat_blobs([new for _, _, new in touched]))
        for path, old_blob, new_blob in touched:
            try:
                record = yamlio.load(blobs[new_blob])
            except yamlio.YamlError:
                continue
            if not isinstance(record, dict):
                continue
            updated = retarget_related(record, old_id, new_id)
            if updated is None:
                continue
            if old_blob != NULL_SHA:
                try:
                    before = yamlio.load(self.git.read_blob(old_blob))
                except yamlio.YamlError:
                    before = None
                if isinstance(before, dict) and old_id in (before.get("related") or []):
                    continue  # the reference was already published: it meant the other record
            out[path] = to_text(updated, self.schemas).encode()
        return out

    def _merge(self, ours: str, theirs: str, summary: SyncSummary, *, dry_run: bool) -> str:
        attributes = self._attributes_file()
        rc, out, err = self.git.run_status(
            "-c", "merge.kakotui.driver=false", "-c", f"core.attributesFile={attributes}",
            "-c", "merge.renames=false", "-c", "diff.renames=false",
            "merge-tree", "--write-tree", "-z", "--no-messages", "--end-of-options", ours, theirs,
        )  # fmt: skip
        tokens = out.split(b"\0")
        if rc not in (0, 1) or not tokens or len(tokens[0]) not in (40, 64):
            raise SyncError(f"git merge-tree failed: {last_line(err)}", summary)
        tree = tokens[0].decode()
        stages: dict[str, dict[int, str]] = {}
        for token in tokens[1:]:
            if not token:
                break
            meta, _, raw_path = token.partition(b"\t")
            _mode, sha, stage = meta.decode().split(" ")
            stages.setdefault(raw_path.decode("utf-8", "surrogateescape"), {})[int(stage)] = sha
        others = sorted(p for p in stages if not id_from_path(p))
        if others:
            raise SyncError(
                "these files were changed on both sides and need a person: "
                + ", ".join(others[:10])
                + ". Nothing was changed here; agree on one version (e.g. of kakotui.yaml) and sync again",
                summary,
            )
        fixes: dict[str, bytes | None] = {}
        when = format_time(datetime.now().astimezone().replace(microsecond=0))
        blobs = dict(self.git.cat_blobs(sorted({sha for s in stages.values() for sha in s.values()})))
        for path in sorted(stages):
            rid = id_from_path(path) or path
            st = stages[path]
            base_b = blobs[st[1]] if 1 in st else None
            ours_b = blobs[st[2]] if 2 in st else None
            theirs_b = blobs[st[3]] if 3 in st else None
            if ours_b is None or theirs_b is None:
                fixes[path] = ours_b if ours_b is not None else theirs_b
                summary.notes.append(
                    f"{rid} was deleted on one side and changed on the other: the changed copy is kept"
                )
                continue
            try:
                merged = merge_texts(base_b, ours_b, theirs_b, self.schemas, at=when)
                if merged.conflicts:
                    merged = merge_texts(
                        base_b, ours_b, theirs_b, self.schemas,
                        ours_side=self._last_change(ours, path), theirs_side=self._last_change(theirs, path), at=when,
                    )  # fmt: skip
            except Unmergeable as exc:
                fixes[path] = theirs_b
                summary.notes.append(
                    f"{rid}: cannot merge field by field ({exc}); the other site's version is kept"
                    + (
                        ""
                        if dry_run
                        else "; this site's version is saved as a draft and stays in the history"
                    )
                )
                if not dry_run:
                    self._save_draft(rid, ours_b)
                if rid not in summary.merged:
                    summary.merged.append(rid)
                continue
            fixes[path] = merged.text
            if rid not in summary.merged:
                summary.merged.append(rid)
            summary.notes += [f"{rid}: {n}" for n in merged.notes]
        if fixes:
            tree = self.plumbing.tree_with(tree, fixes)
        return self.plumbing.commit_object(tree, [ours, theirs], self._merge_message(summary))

    def _merge_message(self, summary: SyncSummary) -> str:
        parts = [f"Sync with {summary.remote}: merge"]
        if summary.merged:
            parts[0] += f", {len(summary.merged)} record(s) merged field by field"
        trailers = [f"Kakotui-Record: {rid}" for rid in summary.merged[:100]] + ["Kakotui-Action: merge"]
        return parts[0] + "\n\n" + "\n".join(trailers) + "\n"

    def _last_change(self, commit: str, path: str) -> Side:
        rc, out, _ = self.git.run_status(
            "log", "-1", "--format=%H%x00%an", "--end-of-options", commit, "--", path
        )
        sha, _, author = out.decode("utf-8", "replace").strip().partition("\0")
        return Side(sha, author[:120]) if rc == 0 and sha else Side()

    def _save_draft(self, record_id: str, data: bytes) -> None:
        try:
            record = yamlio.load(data)
        except yamlio.YamlError:
            return
        if isinstance(record, dict):
            folder = self.git.git_dir / "kakotui" / "drafts"
            payload = json.dumps({"action": "edit", "record": record}, ensure_ascii=False).encode()
            atomic_write(folder / f"{record_id}.json", payload)

    # -- reporting --------------------------------------------------------------------------------

    def _report_incoming(
        self,
        ours: str | None,
        final: str,
        theirs: str,
        changes: Changes,
        summary: SyncSummary,
        *,
        base: str | None = None,
    ) -> None:
        summary.received = sorted(set(summary.received) | ids_of(p for _, p, _, _ in changes))
        summary.commits_received += count_commits(self.git, theirs, ours)
        settings = [p for _, p, _, _ in changes if p == CONFIG_FILE or p.startswith("schema/")]
        schemas, config = self.schemas, self.config
        if settings:
            summary.settings_changed = True
            schemas, config = self._settings_at(final, summary)
        known = frozenset(ids_of(p for p, _ in self.git.ls_tree(final, RECORDS)))
        incoming = [(p, new) for status, p, _, new in changes if status != "D" and id_from_path(p)]
        blobs = dict(self.git.cat_blobs(sorted({sha for _, sha in incoming})))
        seen = {(c.id, c.field) for c in summary.conflicts}
        renumbered: set[str] = set()
        for path, sha in incoming:
            checked = check_text(blobs[sha], path, schemas, config, known_ids=known)
            rid = id_from_path(path) or path
            if (checked.record or {}).get("aliases"):
                renumbered.add(path)
            errors = tuple(p for p in checked.problems if p.severity == "error" and p.rule != CONFLICT_RULE)
            summary.invalid = [i for i in summary.invalid if i.id != rid]  # a retry reports again
            if errors:
                summary.invalid.append(IncomingProblem(rid, path, errors))
            for c in record_conflicts(checked.record or {}):
                key = (rid, str(c.get("path")))
                if key not in seen:
                    seen.add(key)
                    summary.conflicts.append(note_for(rid, c))
        if renumbered and base is not None:
            self._same_former_ids(base, final, renumbered, summary)

    def _same_former_ids(self, base: str, final: str, arriving: set[str], summary: SyncSummary) -> None:
        """Say so when records new since `base` share a former id: maybe one exception renumbered twice.

        Two sites that each gave the same colliding record its next free id, while one of them had
        saved more records meanwhile, hold it under two ids; neither copy can be dropped safely
        without a person (either may have been edited since), so the sync points at them.
        """
        added = [
            (path, new)
            for status, path, _old, new in self.git.diff_tree(base, final, RECORDS)
            if status == "A" and id_from_path(path)
        ]
        blobs = dict(self.git.cat_blobs(sorted({sha for _, sha in added})))
        former: dict[str, set[str]] = {}
        for path, sha in added:
            try:
                record = yamlio.load(blobs[sha])
            except yamlio.YamlError:
                continue
            aliases = record.get("aliases") if isinstance(record, dict) else None
            for alias in aliases if isinstance(aliases, list) else []:
                former.setdefault(str(alias), set()).add(path)
        for alias, paths in sorted(former.items()):
            if len(paths) > 1 and paths & arriving:
                ids = ", ".join(sorted(id_from_path(p) or p for p in paths))
                note = (
                    f"{ids} were all {alias} once: if they are one exception renumbered at two sites, "
                    "keep one and void the others"
                )
                if note not in summary.notes:
                    summary.notes.append(note)

    def _settings_at(self, commit: str, summary: SyncSummary) -> tuple[Schemas, Config]:
        try:
            texts = {
                k: self.git.read_blob(commit, f"schema/{v}").decode("utf-8") for k, v in SCHEMA_FILES.items()
            }
            schemas = Schemas(texts)
        except (GitError, ValueError, UnicodeDecodeError):
            schemas = self.schemas
            summary.notes.append("the schema received cannot be used; records were checked with this site's")
        config, problems = load_config(self.git.read_blob(commit, CONFIG_FILE), schemas)
        if config is None:
            summary.notes.append(
                "kakotui.yaml received is invalid: " + "; ".join(str(p) for p in problems[:3])
            )
            return schemas, self.config
        return schemas, config


def has_record_driver(text: str) -> bool:
    """Whether a `.gitattributes` text gives record files `merge=kakotui` (its last word on them)."""
    found = False
    for line in text.splitlines():
        words = line.split()
        if not words or words[0].startswith("#") or words[0] != ATTRIBUTES_PATTERN:
            continue
        for word in words[1:]:
            if word == "merge=kakotui":
                found = True
            elif word in ("merge", "-merge", "!merge") or word.startswith("merge="):
                found = False
    return found


def with_record_driver(text: bytes | None) -> bytes:
    """`text` (a `.gitattributes`, or None when there is none) with the record driver's line appended."""
    body = text or b""
    if body and not body.endswith(b"\n"):
        body += b"\n"
    comment = "" if ATTRIBUTES_COMMENT.encode() in body else f"{ATTRIBUTES_COMMENT}\n"
    return body + f"{comment}{ATTRIBUTES_LINE}\n".encode()


def ids_of(paths: Iterable[str]) -> set[str]:
    return {rid for rid in (id_from_path(p) for p in paths) if rid}


def count_commits(git: Git, tip: str | None, exclude: str | None) -> int:
    if tip is None:
        return 0
    args = ["rev-list", "--count", "--end-of-options", tip]
    if exclude:
        args.append(f"^{exclude}")
    return int(git.run(*args).strip() or 0)


def last_line(err: bytes) -> str:
    lines = [ln.strip() for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    for line in reversed(lines):
        if line.startswith(("fatal:", "error:")):
            return line.split(":", 1)[1].strip()[:300]
    return (lines[-1] if lines else "no detail")[:300]
