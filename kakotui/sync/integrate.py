"""Integrating the other side's commits: renumber id collisions, merge field by field, report.

Everything is built as git objects first (kakotui.sync.plumbing): renumber commits on top of the
local branch for records this clone created under an id the other side also created, then
`git merge-tree --write-tree` with the record driver set to `false`, so that every record both
sides changed comes back as a conflict and is merged here field by field (kakotui.sync.merge).
Only a complete merge commit is applied to the clone. What came in is validated and reported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from kakotui.core import yamlio
from kakotui.core.commits import commit_message
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
ATTRIBUTES_LINE = "records/**/*.yaml merge=kakotui"
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

    # -- integrating ----------------------------------------------------------------------------

    def integrate(self, branch: str, theirs: str | None, summary: SyncSummary, *, dry_run: bool) -> Plan:
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
                tip = self._renumber_collisions(base, ours or "", theirs, summary)
                final = self._merge(tip, theirs, summary, dry_run=dry_run)
            changes = self.git.diff_tree(ours, final, "")
            self._report_incoming(ours, final, theirs, changes, summary)
            if not dry_run:
                self._step("applying")
                self.plumbing.apply(branch, ours, final, changes)
            return Plan(ours, final)

    def _renumber_collisions(self, base: str, ours: str, theirs: str, summary: SyncSummary) -> str:
        added = {
            path: new
            for status, path, _old, new in self.git.diff_tree(base, ours, RECORDS)
            if status == "A" and id_from_path(path)
        }
        if not added:
            return ours
        theirs_files = dict(self.git.ls_tree(theirs, RECORDS))
        collisions = sorted(p for p, blob in added.items() if p in theirs_files and theirs_files[p] != blob)
        if not collisions:
            return ours
        taken = {
            RecordId.parse(i)
            for i in ids_of([*theirs_files, *(p for p, _ in self.git.ls_tree(ours, RECORDS))])
        }
        tip = ours
        for path in collisions:
            old_id = id_from_path(path)
            assert old_id is not None
            old = RecordId.parse(old_id)
            seq = max(r.seq for r in taken if r.station == old.station and r.year == old.year) + 1
            new = RecordId(old.station, old.year, seq)
            taken.add(new)
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
                summary.notes.append(
                    f"{old_id} could not be read; moved to {new} unchanged: fix its id by hand"
                )
            changes.update(self._retarget(base, tip, old_id, str(new), skip={path}))
            body = (
                f"{old_id} was also created at another clone (a station configured twice?). This clone's\n"
                f"copy had not been sent yet, so it now has the next free id; {old_id} stays as its alias."
            )
            message = commit_message("renumber", moved, self.config, detail=f"from {old_id}", body=body)
            tip = self.plumbing.commit(tip, changes, message, [tip])
            summary.renumbered.append(Renumbering(old_id, str(new), tip))
        return tip

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
        for path, sha in incoming:
            checked = check_text(blobs[sha], path, schemas, config, known_ids=known)
            rid = id_from_path(path) or path
            errors = tuple(p for p in checked.problems if p.severity == "error" and p.rule != CONFLICT_RULE)
            summary.invalid = [i for i in summary.invalid if i.id != rid]  # a retry reports again
            if errors:
                summary.invalid.append(IncomingProblem(rid, path, errors))
            for c in record_conflicts(checked.record or {}):
                key = (rid, str(c.get("path")))
                if key not in seen:
                    seen.add(key)
                    summary.conflicts.append(note_for(rid, c))

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
