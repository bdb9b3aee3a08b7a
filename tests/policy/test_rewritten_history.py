"""Rewritten history: sync refuses a remote that lost commits this clone had, and keeps everything."""

from __future__ import annotations

from pathlib import Path

import pytest

from kakotui.log import ExceptionLog
from kakotui.sync.engine import SyncError
from tests.helpers import git, make_log, qc


@pytest.fixture
def sites(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A log at site A, its bare remote, and a second clone B; A has synced two records."""
    a = tmp_path / "a"
    make_log(a).close()
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(a), str(remote))
    git(a, "remote", "add", "origin", str(remote))
    with ExceptionLog(a) as log:
        log.new(qc(sku="FIRST"))
        log.sync()
        log.new(qc(sku="SECOND"))
        log.sync()
    b = tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(b))
    return a, remote, b


def _rewrite(b: Path) -> tuple[str, str]:
    """At B: drop the last commit and push something else in its place (a force-push)."""
    lost = git(b, "rev-parse", "HEAD").strip()
    git(b, "reset", "-q", "--hard", "HEAD~1")
    git(b, "commit", "-q", "--allow-empty", "-m", "rewritten")
    git(b, "push", "-q", "--force", "origin", "HEAD:main")
    return lost, git(b, "rev-parse", "HEAD").strip()


def test_sync_refuses_a_force_pushed_remote_and_keeps_everything(sites: tuple[Path, Path, Path]) -> None:
    a, _remote, b = sites
    head_before = git(a, "rev-parse", "HEAD").strip()
    tracking_before = git(a, "rev-parse", "refs/remotes/origin/main").strip()
    lost, _new = _rewrite(b)
    with ExceptionLog(a) as log:
        log.new(qc(sku="THIRD"))  # a local save waiting to be sent
        local = git(a, "rev-parse", "HEAD").strip()
        with pytest.raises(SyncError) as caught:
            log.sync()
        message = str(caught.value)
        assert "force-push" in message and lost[:10] in message and "1 commit(s)" in message
        # Nothing local was discarded or moved; the remote-tracking branch shows what we had.
        assert git(a, "rev-parse", "HEAD").strip() == local
        assert git(a, "merge-base", "--is-ancestor", head_before, local) == ""
        assert git(a, "rev-parse", "refs/remotes/origin/main").strip() == tracking_before
        log.refresh()
        assert sorted(r["sku"] for r in log.records(columns=["sku"])) == ["FIRST", "SECOND", "THIRD"]
        assert git(a, "status", "--porcelain") == ""
        # A dry run says the same, and so does the next sync: nothing about it was forgotten.
        with pytest.raises(SyncError, match="force-push"):
            log.sync(dry_run=True)
        with pytest.raises(SyncError, match="force-push"):
            log.sync()


def test_a_plain_git_fetch_does_not_hide_the_rewrite(sites: tuple[Path, Path, Path]) -> None:
    a, _remote, b = sites
    lost, new = _rewrite(b)
    git(a, "fetch", "-q", "origin")  # moves origin/main to the rewritten branch
    assert git(a, "rev-parse", "refs/remotes/origin/main").strip() == new
    with ExceptionLog(a) as log, pytest.raises(SyncError, match=lost[:10]):
        log.sync()


def test_a_remote_branch_deleted_is_refused_too(sites: tuple[Path, Path, Path]) -> None:
    a, remote, _b = sites
    git(remote, "update-ref", "-d", "refs/heads/main")
    with ExceptionLog(a) as log, pytest.raises(SyncError, match="branch is gone"):
        log.sync()


def test_a_remote_that_only_moved_forward_syncs(sites: tuple[Path, Path, Path]) -> None:
    a, _remote, b = sites
    git(b, "commit", "-q", "--allow-empty", "-m", "more")
    git(b, "push", "-q", "origin", "HEAD:main")
    with ExceptionLog(a) as log:
        summary = log.sync()
    assert git(a, "rev-parse", "HEAD").strip() == git(b, "rev-parse", "HEAD").strip()
    assert summary is not None
