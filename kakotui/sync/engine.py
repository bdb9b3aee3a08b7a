"""Sync one clone of a log with another site: fetch, integrate, validate, push; or a git bundle.

`Syncer.sync(remote)` checks the remote (kakotui.sync.remotes) before git runs, finishes a sync a
crash interrupted (kakotui.sync.plumbing), fetches, integrates what came (kakotui.sync.integrate:
renumbering, field merge, validation) and pushes, fetching and merging again when someone else
pushed in the meantime. Offline sites exchange bundles (`to_bundle`, `from_bundle`). A failure
leaves the clone as it was or with everything received merged; no local commit is ever dropped.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from kakotui.core.config import Config
from kakotui.core.schemas import Schemas
from kakotui.store.gitrepo import Git, Identity
from kakotui.sync.integrate import Integrator, count_commits, ids_of, last_line
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
                summary.head = plan.new or ""
                if plan.new is None or plan.new == theirs:
                    return self._done(summary, theirs, plan.new)
                self._count_sent(summary, theirs, plan.new)
                if dry_run:
                    summary.notes.append("nothing was changed (dry run)")
                    return summary
                self._step("sending")
                try:
                    pushed = self._push(remote, short, plan.new, summary)
                except SyncError:
                    summary.sent, summary.commits_sent = [], 0  # nothing left this clone
                    raise
                if pushed:
                    summary.pushed = True
                    if not looks_like_url(remote.name):
                        self.git.run(
                            "update-ref", "-m", "kakotui sync: pushed", "--end-of-options", tracking, plan.new
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
        self._step("reading the bundle")
        rc, _, err = self.git.run_status(
            *args, "fetch", "--no-tags", "--no-write-fetch-head", "--quiet", "--end-of-options",
            str(path), f"+{ref}:{target}", env=env,
        )  # fmt: skip
        if rc != 0:
            raise SyncError(f"cannot read the bundle {bundle}: {last_line(err)}")
        try:
            theirs = self.git.rev_parse(target)
            self._step("merging")
            plan = self.integrator.integrate(f"refs/heads/{short}", theirs, summary, dry_run=dry_run)
            summary.head = plan.new or ""
            if plan.new and plan.new != theirs:
                summary.notes.append(
                    "to send this site's changes back, make a bundle: kakotui sync --to-bundle FILE"
                )
        finally:
            self.git.run_status("update-ref", "-d", "--end-of-options", target)
        self._step("done")
        return summary

    def to_bundle(self, bundle: Path) -> SyncSummary:
        path = Path(bundle).resolve()
        summary = SyncSummary(remote=str(bundle))
        head = self.git.head()
        if head is None:
            raise SyncError("nothing to bundle: the log has no commits")
        branch = self.git.branch_ref()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        self._step("writing the bundle")
        try:
            self.git.run("bundle", "create", "-q", str(tmp), branch)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        summary.commits_sent = int(self.git.run("rev-list", "--count", "--end-of-options", head).strip() or 0)
        summary.sent = sorted(ids_of(p for p, _ in self.git.ls_tree(head, RECORDS)))
        summary.head = head
        summary.notes.append(
            f"bundle written to {path}; at the other site run: kakotui sync --from-bundle FILE"
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

    def _fetch(self, remote: Remote, short: str, tracking: str, summary: SyncSummary) -> str | None:
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
