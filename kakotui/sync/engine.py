"""Sync one clone of a log with another site: fetch, integrate, validate, push; or a git bundle.

`Syncer.sync(remote)` checks the remote (kakotui.sync.remotes) before git runs, finishes a sync a
crash interrupted (kakotui.sync.plumbing), fetches, integrates what came (kakotui.sync.integrate:
renumbering, field merge, validation) and pushes, fetching and merging again when someone else
pushed in the meantime. The first sync of a clone installs the merge driver: in git config, and in
`.gitattributes` (a commit of its own, sent with the rest) when the log's copy lacks the line.
Offline sites exchange bundles (`to_bundle`, `from_bundle`); a bundle carries the site's
remote-tracking branches, so that two sites reading each other's bundles decide an id collision
alike (kakotui.sync.integrate: a published record never moves, else the later one). A failure
leaves the clone as it was or with everything received merged; no local commit is ever dropped.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from kakotui.core.config import Config
from kakotui.core.schemas import Schemas
from kakotui.core.textsafe import inert
from kakotui.store.gitrepo import Git, Identity
from kakotui.sync.integrate import PUBLISHED_PREFIXES, Integrator, count_commits, ids_of, last_line
from kakotui.sync.plumbing import Plumbing
from kakotui.sync.remotes import (
    Remote,
    RemoteRefused,
    check_name,
    check_url,
    git_protocol_settings,
    looks_like_url,
)
from kakotui.sync.summary import (
    ConflictNote,
    IncomingProblem,
    RemoteNotAllowed,
    Renumbering,
    SyncError,
    SyncSummary,
    conflict_notes,
)

__all__ = [
    "ConflictNote",
    "IncomingProblem",
    "RemoteNotAllowed",
    "Renumbering",
    "SyncError",
    "SyncSummary",
    "Syncer",
    "conflict_notes",
]

MAX_ATTEMPTS = 5
RECORDS = "records/"
DRIVER_COMMAND = "kakotui merge-driver %O %A %B %P"

Progress = Callable[[str], None]


class Syncer:
    """Sync for one log clone: `sync(remote)`, `from_bundle(file)`, `to_bundle(file)`."""

    def __init__(
        self,
        git: Git,
        schemas: Schemas,
        config: Config,
        identity: Callable[[], Identity],
        *,
        progress: Progress | None = None,
        allow_loopback_http: bool = False,
    ) -> None:
        self.git = git
        self.schemas = schemas
        self.config = config
        self._identity = identity
        self._progress = progress
        self._allow_loopback_http = allow_loopback_http
        self.plumbing = Plumbing(git, identity, self._step)
        self.integrator = Integrator(git, schemas, config, self.plumbing, self._step)

    def _step(self, stage: str) -> None:
        if self._progress is not None:
            self._progress(stage)

    # -- remotes ----------------------------------------------------------------------------

    def _read_config(self) -> dict[str, list[str]]:
        """Every git setting this clone sees, in one call (keys as git prints them: section.var lowered)."""
        out = self.git.run("config", "-z", "--list")
        config: dict[str, list[str]] = {}
        for item in out.decode("utf-8", "surrogateescape").split("\0"):
            key, _, value = item.partition("\n")
            if key:
                config.setdefault(key, []).append(value)
        return config

    def resolve_remote(self, remote: str, config: dict[str, list[str]] | None = None) -> Remote:
        """The remote `remote` names (a configured name, a URL or a path), checked before git uses it."""
        loopback = self._allow_loopback_http
        config = config if config is not None else self._read_config()
        configured = False
        try:
            check_name(remote)
            configured = bool(config.get(f"remote.{remote}.url"))
        except RemoteRefused:
            if not looks_like_url(remote):
                raise
        rewrites = any(k.startswith("url.") and k.endswith((".insteadof", ".pushinsteadof")) for k in config)
        if configured:
            for key in ("vcs", "uploadpack", "receivepack"):
                if config.get(f"remote.{remote}.{key}"):
                    raise RemoteRefused(
                        f"refused remote {remote!r}: remote.{remote}.{key} is set (it names a program to run); "
                        f"remove it with `git config --unset remote.{remote}.{key}`"
                    )
            fetch_urls = config[f"remote.{remote}.url"]
            push_urls = config.get(f"remote.{remote}.pushurl", [])
            for url in fetch_urls + push_urls:
                check_url(url, allow_loopback_http=loopback, name=remote)
            if rewrites:  # the URLs git will really use, after url.*.insteadOf / pushInsteadOf
                fetch_urls = self._get_urls(remote, push=False)
                push_urls = self._get_urls(remote, push=True)
            kinds = [check_url(u, allow_loopback_http=loopback, name=remote) for u in fetch_urls + push_urls]
            if not kinds:
                raise RemoteRefused(f"remote {remote!r} has no URL")
            http = any(k.kind == "http" for k in kinds)
            return Remote(remote, fetch_urls[0], "http" if http else kinds[0].kind)
        if not looks_like_url(remote):
            raise SyncError(
                f"no remote named {remote!r} in this clone; add one with `git remote add {remote} URL` "
                "or pass the URL"
            )
        checked = check_url(remote, allow_loopback_http=loopback)
        url = str(Path(remote).resolve()) if checked.kind == "local" else remote
        if not rewrites:
            return Remote(remote, url, checked.kind)
        rewritten = self.git.run("ls-remote", "--get-url", "--end-of-options", url).decode().strip()
        final = check_url(rewritten, allow_loopback_http=loopback, name=remote)
        if final.kind == "local":
            rewritten = str(Path(rewritten).resolve())
        return Remote(remote, rewritten, final.kind)

    def _get_urls(self, remote: str, *, push: bool) -> list[str]:
        args = ["remote", "get-url", "--all"] + (["--push"] if push else []) + ["--end-of-options", remote]
        rc, out, err = self.git.run_status(*args)
        if rc != 0:
            raise RemoteRefused(f"remote {remote!r}: {err.decode('utf-8', 'replace').strip()[:200]}")
        return [line for line in out.decode("utf-8", "replace").splitlines() if line]

    def _network(self, remote: Remote | None) -> tuple[list[str], dict[str, str]]:
        return git_protocol_settings(remote)

    def _remote_arg(self, remote: Remote) -> str:
        return remote.name if not looks_like_url(remote.name) else remote.url

    def _tracking_ref(self, remote: Remote, short: str, *, dry_run: bool) -> str:
        if dry_run:
            return f"refs/kakotui/dry-run/{short}"
        if not looks_like_url(remote.name):
            return f"refs/remotes/{remote.name}/{short}"
        return f"refs/kakotui/sync/{short}"

    # -- installing the driver ----------------------------------------------------------------

    def ensure_driver(self, config: dict[str, list[str]] | None = None) -> list[str]:
        """Install the merge driver in this clone's config (a fresh `git clone` has none)."""
        done: list[str] = []
        if not (config if config is not None else self._read_config()).get("merge.kakotui.driver"):
            self.git.run("config", "merge.kakotui.name", "kakotui YAML-aware record merge")
            self.git.run("config", "merge.kakotui.driver", DRIVER_COMMAND)
            done.append("installed the kakotui merge driver in this clone's git config")
        return done

    # -- public entry points -------------------------------------------------------------------

    def sync(self, remote_name: str = "origin", *, dry_run: bool = False) -> SyncSummary:
        config = self._read_config()
        try:
            remote = self.resolve_remote(remote_name, config)  # before any git call that uses it
        except RemoteRefused as exc:
            raise RemoteNotAllowed(str(exc)) from None
        summary = SyncSummary(remote=remote.name, dry_run=dry_run)
        if not dry_run:
            summary.notes += self.ensure_driver(config)
        self._finish_interrupted(summary, dry_run=dry_run)
        branch = self.git.branch_ref()
        short = branch.removeprefix("refs/heads/")
        tracking = self._tracking_ref(remote, short, dry_run=dry_run)
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                summary.attempts = attempt
                self._step("fetching")
                theirs = self._fetch(remote, short, tracking, summary)
                self._step("merging")
                plan = self.integrator.integrate(branch, theirs, summary, dry_run=dry_run)
                tip = self.integrator.ensure_attributes(branch, plan.new, summary, dry_run=dry_run)
                summary.head = tip or ""
                if tip is None or tip == theirs:
                    if not dry_run:
                        self._remember(remote, short, theirs)
                    return self._done(summary, theirs, tip)
                self._count_sent(summary, theirs, tip)
                if dry_run:
                    summary.notes.append("nothing was changed (dry run)")
                    return summary
                self._step("sending")
                try:
                    pushed = self._push(remote, short, tip, summary)
                except SyncError:
                    summary.sent, summary.commits_sent = [], 0  # nothing left this clone
                    raise
                if pushed:
                    summary.pushed = True
                    self._remember(remote, short, tip)
                    if not looks_like_url(remote.name):
                        self.git.run(
                            "update-ref", "-m", "kakotui sync: pushed", "--end-of-options", tracking, tip
                        )
                    self._step("done")
                    return summary
                summary.notes.append(f"{remote.name} changed while we were sending; trying again")
                summary.sent, summary.commits_sent = [], 0
            raise SyncError(
                f"{remote.name} kept changing while we tried to send ({MAX_ATTEMPTS} attempts); "
                "everything is saved here: run sync again in a moment",
                summary,
            )
        finally:
            if dry_run:
                self.git.run_status("update-ref", "-d", "--end-of-options", tracking)

    def from_bundle(self, bundle: Path, *, dry_run: bool = False) -> SyncSummary:
        path = Path(bundle).resolve()
        summary = SyncSummary(remote=str(bundle), dry_run=dry_run)
        if not path.is_file():
            raise SyncError(f"no bundle file at {bundle}")
        try:
            remote = check_url(str(path), name=str(bundle))
        except RemoteRefused as exc:
            raise RemoteNotAllowed(str(exc)) from None
        if not dry_run:
            summary.notes += self.ensure_driver()
        self._finish_interrupted(summary, dry_run=dry_run)
        args, env = self._network(remote)
        rc, _, err = self.git.run_status(
            *args, "bundle", "verify", "-q", "--end-of-options", str(path), env=env
        )
        if rc != 0:
            detail = last_line(err)
            raise SyncError(f"cannot use the bundle {bundle}: {detail}")
        rc, out, err = self.git.run_status(
            *args, "bundle", "list-heads", "--end-of-options", str(path), env=env
        )
        heads: dict[str, str] = {}
        for line in out.decode("utf-8", "replace").splitlines():
            sha, _, ref = line.partition(" ")
            if ref:
                heads[ref] = sha
        short = self.git.branch_ref().removeprefix("refs/heads/")
        ref = f"refs/heads/{short}"
        if ref not in heads:
            branches = [h for h in heads if h.startswith("refs/heads/")]
            if len(branches) != 1:
                raise SyncError(f"the bundle {bundle} has no branch {short}")
            ref = branches[0]
        target = f"refs/kakotui/bundle/{short}"
        # What the other site had sent elsewhere (its remote-tracking branches, see to_bundle).
        published = {
            f"refs/kakotui/bundle-published/{i}": h
            for i, h in enumerate(sorted(r for r in heads if r.startswith(PUBLISHED_PREFIXES)))
        }
        self._step("reading the bundle")
        rc, _, err = self.git.run_status(
            *args, "fetch", "--no-tags", "--no-write-fetch-head", "--quiet", "--end-of-options",
            str(path), f"+{ref}:{target}", *(f"+{h}:{t}" for t, h in published.items()), env=env,
        )  # fmt: skip
        if rc != 0:
            raise SyncError(f"cannot read the bundle {bundle}: {last_line(err)}")
        try:
            theirs = self.git.rev_parse(target)
            peer = [self.git.rev_parse(t) for t in published]
            self._step("merging")
            plan = self.integrator.integrate(
                f"refs/heads/{short}", theirs, summary, dry_run=dry_run, peer=peer
            )
            tip = self.integrator.ensure_attributes(f"refs/heads/{short}", plan.new, summary, dry_run=dry_run)
            summary.head = tip or ""
            if tip and tip != theirs:
                summary.notes.append(
                    "to send this site's changes back, make a bundle: kakotui sync --to-bundle FILE"
                )
        finally:
            for scratch in (target, *published):
                self.git.run_status("update-ref", "-d", "--end-of-options", scratch)
        self._step("done")
        return summary

    def to_bundle(self, bundle: Path, *, dry_run: bool = False) -> SyncSummary:
        path = Path(bundle).resolve()
        summary = SyncSummary(remote=str(bundle), dry_run=dry_run)
        head = self.git.head()
        if head is None:
            raise SyncError("nothing to bundle: the log has no commits")
        branch = self.git.branch_ref()
        if not dry_run:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            self._step("writing the bundle")
            # This branch's remote-tracking branches go along: they tell the other site which of this
            # site's records were already sent elsewhere, and so must never be renumbered.
            out = self.git.run(
                "for-each-ref", "--format=%(refname)%00%(symref)", "--end-of-options", *PUBLISHED_PREFIXES
            )
            short = branch.removeprefix("refs/heads/")
            published = [
                r
                for r, _, sym in (ln.partition("\0") for ln in out.decode().splitlines())
                if r.endswith(f"/{short}") and not sym
            ]
            try:
                self.git.run("bundle", "create", "-q", str(tmp), branch, *published)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        summary.commits_sent = int(self.git.run("rev-list", "--count", "--end-of-options", head).strip() or 0)
        summary.sent = sorted(ids_of(p for p, _ in self.git.ls_tree(head, RECORDS)))
        summary.head = head
        summary.notes.append(
            f"a bundle would be written to {path} (dry run: nothing was written)"
            if dry_run
            else f"bundle written to {path}; at the other site run: kakotui sync --from-bundle FILE"
        )
        self._step("done")
        return summary

    def _finish_interrupted(self, summary: SyncSummary, *, dry_run: bool) -> None:
        if dry_run:
            if self.plumbing.interrupted:
                summary.notes.append("an interrupted sync will be finished first")
            return
        note = self.plumbing.recover()
        if note:
            summary.notes.append(note)

    # -- fetch and push -------------------------------------------------------------------------

    def _seen_ref(self, remote: Remote, short: str) -> str:
        """Where this clone remembers the remote branch as it last synced with it, by URL (git fetch
        and other tools never move it, so a force-push they fetched is still noticed)."""
        key = hashlib.sha1(remote.url.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        return f"refs/kakotui/seen/{key}/{short}"

    def _known(self, remote: Remote, short: str) -> tuple[str | None, bool]:
        """(the newest commit this clone knows the remote branch had, whether sync itself saw it
        there): the one it last synced with, else the remote-tracking branch (a fresh clone)."""
        refs = (self._seen_ref(remote, short), self._tracking_ref(remote, short, dry_run=False))
        for i, ref in enumerate(refs):
            rc, out, _ = self.git.run_status(
                "rev-parse", "--verify", "-q", "--end-of-options", f"{ref}^{{commit}}"
            )
            if rc == 0:
                return out.decode().strip(), i == 0
        return None, False

    def _remember(self, remote: Remote, short: str, commit: str | None) -> None:
        if commit is not None:
            self.git.run(
                "update-ref", "-m", "kakotui sync", "--end-of-options", self._seen_ref(remote, short), commit
            )

    def _refuse_rewritten(
        self, remote: Remote, short: str, tracking: str, known: str | None, theirs: str | None,
        summary: SyncSummary, *, dry_run: bool,
    ) -> None:  # fmt: skip
        """SyncError when the remote branch no longer contains what this clone had from it."""
        if known is None:
            return
        if theirs is not None:
            rc, _, _ = self.git.run_status("merge-base", "--is-ancestor", "--end-of-options", known, theirs)
            if rc == 0:
                return
        exclude = [f"^{theirs}"] if theirs is not None else []
        out = self.git.run("log", "--format=%H %s", "--end-of-options", known, *exclude, "--").decode(
            "utf-8", "replace"
        )
        vanished = [line.split(" ", 1) for line in out.splitlines() if line]
        if not dry_run and theirs is not None and not looks_like_url(remote.name):
            # Put the remote-tracking branch back where it was: what this clone had stays visible.
            self.git.run(
                "update-ref", "-m", "kakotui sync: history rewritten", "--end-of-options", tracking, known
            )
        listed = "; ".join(
            f"{sha[:10]} {inert(rest[0] if rest else '', 80, single_line=True)}"
            for sha, *rest in vanished[:10]
        )
        more = f" and {len(vanished) - 10} more" if len(vanished) > 10 else ""
        gone = "its branch is gone" if theirs is None else "its history was rewritten (a force-push)"
        raise SyncError(
            f"refused: {remote.name} no longer has {len(vanished)} commit(s) this clone had from it; "
            f"{gone}. Missing: {listed}{more}. Nothing was changed here and every commit is kept in this "
            f"clone; ask the admin of {remote.name} to restore {short} (this clone can push it back)",
            summary,
        )

    def _fetch(self, remote: Remote, short: str, tracking: str, summary: SyncSummary) -> str | None:
        """Fetch the remote branch; refuse (SyncError) a remote that lost commits this clone had."""
        known, synced = self._known(remote, short)
        theirs = self._fetch_only(remote, short, tracking, summary)
        if theirs is None and not synced:
            return None  # e.g. the remote moved to a new, empty repository: it will receive the log
        dry_run = tracking.startswith("refs/kakotui/dry-run/")
        self._refuse_rewritten(remote, short, tracking, known, theirs, summary, dry_run=dry_run)
        return theirs

    def _fetch_only(self, remote: Remote, short: str, tracking: str, summary: SyncSummary) -> str | None:
        args, env = self._network(remote)
        rc, _, err = self.git.run_status(
            *args, "-c", "fetch.fsckObjects=true", "fetch", "--no-tags", "--no-recurse-submodules",
            "--no-write-fetch-head", "--refmap=", "--quiet", "--end-of-options",
            self._remote_arg(remote), f"+refs/heads/{short}:{tracking}", env=env,
        )  # fmt: skip
        if rc != 0:
            text = err.decode("utf-8", "replace")
            if "couldn't find remote ref" in text:
                summary.notes.append(f"{remote.name} has no branch {short} yet: it will receive this log")
                return None
            raise SyncError(
                f"could not reach {remote.name}: {last_line(err)}. Nothing was changed and your saves "
                "are kept; run sync again when the remote is reachable",
                summary,
            )
        return self.git.rev_parse(tracking)

    def _push(self, remote: Remote, short: str, commit: str, summary: SyncSummary) -> bool:
        """True when pushed; False when the remote moved (fetch and merge again); SyncError otherwise."""
        args, env = self._network(remote)
        rc, out, err = self.git.run_status(
            *args, "push", "--porcelain", "--quiet", "--end-of-options",
            self._remote_arg(remote), f"{commit}:refs/heads/{short}", env=env,
        )  # fmt: skip
        if rc == 0:
            return True
        for line in out.decode("utf-8", "replace").splitlines():
            if line.startswith("!\t"):
                reason = line.rsplit("\t", 1)[-1]
                if "[rejected]" in reason and ("fetch first" in reason or "non-fast-forward" in reason):
                    return False
                raise SyncError(
                    f"{remote.name} refused the changes: {reason}. They are kept here; ask the remote's admin",
                    summary,
                )
        raise SyncError(
            f"could not send to {remote.name}: {last_line(err)}. Everything received was merged and "
            "everything is kept here; run sync again to send",
            summary,
        )

    def _count_sent(self, summary: SyncSummary, theirs: str | None, new: str) -> None:
        changes = self.git.diff_tree(theirs, new, "")
        summary.sent = sorted(ids_of(p for _, p, _, _ in changes))
        summary.commits_sent = count_commits(self.git, new, theirs)

    def _done(self, summary: SyncSummary, theirs: str | None, head: str | None) -> SyncSummary:
        if not summary.received and head == theirs:
            summary.notes.append("already up to date")
        self._step("done")
        return summary
