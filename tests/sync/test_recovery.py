"""Failures in the middle of a sync: a push race, the remote going away, a crash, unsaved edits.

After each, the clone is consistent, rerunning sync finishes the job, and no local commit is lost.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kakotui.log import ExceptionLog
from kakotui.sync.engine import SyncError
from tests.helpers import git
from tests.sync.conftest import Network


def contains(repo: Path, commit: str, ref: str = "main") -> bool:
    return (
        subprocess.run(["git", "-C", str(repo), "merge-base", "--is-ancestor", commit, ref]).returncode == 0
    )


def head(repo: Path, ref: str = "HEAD") -> str:
    return git(repo, "rev-parse", ref).strip()


def sku(log: ExceptionLog, rid: str) -> str:
    record = log.get(rid).record
    assert record is not None
    return str(record["qc"]["sku"])


def test_push_race_is_retried_after_merging_what_the_other_clone_pushed(network: Network) -> None:
    a, b = network.station("a"), network.station("b")
    one, two = network.seed_ids
    a.edit(one, [("qc.sku", "A-RACE")])
    b.edit(two, [("qc.sku", "B-RACE")])
    b.edit(one, [("qc.order_id", "KB-RACE")])
    mine = head(a.root)
    raced: list[str] = []

    def other_clone_pushes_first(stage: str) -> None:
        if stage == "sending" and not raced:
            raced.append(network.sync("b").head)

    summary = network.sync("a", progress=other_clone_pushes_first)

    assert summary.attempts == 2 and summary.pushed and raced
    assert any("changed while we were sending" in n for n in summary.notes)
    assert contains(network.bare, mine) and contains(network.bare, raced[0])
    network.sync("b")
    for log in (a, b):
        assert sku(log, one) == "A-RACE" and sku(log, two) == "B-RACE"
        assert log.get(one).record["qc"]["order_id"] == "KB-RACE"  # type: ignore[index]
        assert git(log.root, "status", "--porcelain") == ""
    assert head(a.root) == head(b.root) == head(network.bare, "main")


def test_remote_going_away_during_a_push_loses_nothing_and_a_rerun_finishes(network: Network) -> None:
    a, b = network.station("a"), network.station("b")
    one, two = network.seed_ids
    b.edit(two, [("qc.sku", "B-FIRST")])
    network.sync("b")
    a.edit(one, [("qc.sku", "A-LOST?")])
    mine = head(a.root)
    remote_before = head(network.bare, "main")
    moved = network.tmp / "remote-away.git"

    if network.server is None:  # file://: the folder disappears while we send

        def vanish(stage: str) -> None:
            if stage == "sending":
                network.bare.rename(moved)

        with pytest.raises(SyncError, match="could not send") as failed:
            network.sync("a", progress=vanish)
        moved.rename(network.bare)
    else:  # smart HTTP: the server hangs up after reading the upload, before storing it
        network.server.drop_pushes("before")
        with pytest.raises(SyncError, match="could not send") as failed:
            network.sync("a")
    # What was received is merged and kept; the local commit is in the branch; the remote is unchanged.
    assert failed.value.summary is not None and failed.value.summary.received == [two]
    assert contains(a.root, mine, "HEAD") and sku(a, two) == "B-FIRST"
    assert git(a.root, "status", "--porcelain") == "" and head(network.bare, "main") == remote_before

    if network.server is not None:
        # Worse: the server stores the push and hangs up before saying so; the rerun sees it landed.
        a.edit(two, [("qc.order_id", "KB-SECOND")])
        network.server.drop_pushes("after")
        with pytest.raises(SyncError, match="could not send"):
            network.sync("a")
        assert head(network.bare, "main") == head(a.root)
        network.server.drop_pushes(None)
    summary = network.sync("a")
    assert head(network.bare, "main") == head(a.root) and contains(network.bare, mine)
    assert summary.pushed or "already up to date" in summary.notes
    network.sync("b")
    assert sku(b, one) == "A-LOST?" and head(b.root) == head(a.root)


def test_an_unreachable_remote_changes_nothing(network: Network) -> None:
    a = network.station("a")
    a.edit(network.seed_ids[0], [("qc.sku", "A-OFFLINE")])
    refs = git(a.root, "for-each-ref")
    away = (
        (network.tmp / "nowhere.git").as_uri() if network.server is None else "http://127.0.0.1:9/remote.git"
    )
    git(a.root, "remote", "set-url", "origin", away)
    with pytest.raises(SyncError, match="could not reach origin"):
        network.sync("a")
    assert git(a.root, "for-each-ref") == refs and git(a.root, "status", "--porcelain") == ""
    git(a.root, "remote", "set-url", "origin", network.url)
    assert network.sync("a").pushed


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from kakotui.log import ExceptionLog

    def crash(stage):
        if stage == sys.argv[2]:
            os.kill(os.getpid(), signal.SIGKILL)

    ExceptionLog.open(sys.argv[1]).sync("origin", progress=crash)
    """
)


class Crash(BaseException):
    """Stands for the process dying: nothing in kakotui catches it."""


@pytest.mark.parametrize("stage", ["merging", "applying", "moving the branch", "kill -9"])
def test_a_crash_during_the_merge_is_finished_by_the_next_sync(file_network: Network, stage: str) -> None:
    net = file_network
    a, b = net.station("a"), net.station("b")
    one, two = net.seed_ids
    b.edit(one, [("qc.order_id", "KB-B")])
    b.edit(two, [("qc.sku", "B-2")])
    net.sync("b")
    a.edit(one, [("qc.sku", "A-1")])
    mine = head(a.root)

    if stage == "kill -9":  # a real process killed between writing the files and moving the branch
        killed = subprocess.run(
            [sys.executable, "-c", CRASH, str(a.root), "moving the branch"], capture_output=True
        )
        assert killed.returncode == -9, killed.stderr.decode()
    else:

        def crash(now: str) -> None:
            if now == stage:
                raise Crash(now)

        with pytest.raises(Crash):
            net.sync("a", progress=crash)

    journal = a.git.git_dir / "kakotui" / "sync-journal.json"
    files_written = stage in ("moving the branch", "kill -9")
    assert head(a.root) == mine  # the branch never moved before the crash
    assert journal.exists() == files_written
    assert (git(a.root, "status", "--porcelain") != "") == files_written  # files written, branch not moved
    summary = net.sync("a")
    assert ("finished a sync that had been interrupted" in summary.notes) == files_written
    assert not journal.exists() and git(a.root, "status", "--porcelain") == ""
    assert contains(a.root, mine, "HEAD") and contains(net.bare, mine)
    assert sku(a, one) == "A-1" and sku(a, two) == "B-2"
    assert a.get(one).record["qc"]["order_id"] == "KB-B"  # type: ignore[index]
    assert head(net.bare, "main") == head(a.root)


def test_unsaved_edits_are_never_overwritten(file_network: Network) -> None:
    net = file_network
    a, b = net.station("a"), net.station("b")
    rid = net.seed_ids[0]
    b.edit(rid, [("qc.sku", "B-EDIT")])
    net.sync("b")
    file = a.root / a.get(rid).path
    hand_edit = file.read_text().replace("severity: major", "severity: minor")
    file.write_text(hand_edit)
    before = head(a.root)

    with pytest.raises(SyncError, match="not saved"):
        net.sync("a")
    assert file.read_text() == hand_edit and head(a.root) == before

    git(a.root, "checkout", "--", a.get(rid).path)
    net.sync("a")
    assert sku(a, rid) == "B-EDIT" and git(a.root, "status", "--porcelain") == ""


def test_a_commit_made_by_hand_during_the_sync_is_kept_and_the_files_put_back(file_network: Network) -> None:
    net = file_network
    a, b = net.station("a"), net.station("b")
    rid = net.seed_ids[0]
    b.edit(rid, [("qc.sku", "B-SKU")])
    net.sync("b")
    path = a.get(rid).path
    before = (a.root / path).read_bytes()

    def someone_commits(stage: str) -> None:
        if stage == "moving the branch":
            (a.root / "notes.txt").write_text("written by hand\n")
            git(a.root, "add", "notes.txt")
            git(a.root, "commit", "-qm", "a note, by hand", "--", "notes.txt")

    with pytest.raises(SyncError, match="branch changed during the sync"):
        net.sync("a", progress=someone_commits)
    assert (a.root / path).read_bytes() == before and git(a.root, "status", "--porcelain") == ""
    assert git(a.root, "log", "-1", "--format=%s").strip() == "a note, by hand"
    net.sync("a")
    assert sku(a, rid) == "B-SKU" and (a.root / "notes.txt").is_file()
    assert head(net.bare, "main") == head(a.root) and git(a.root, "status", "--porcelain") == ""


def test_a_push_the_remote_refuses_keeps_everything_and_a_rerun_sends_it(network: Network) -> None:
    a, b = network.station("a"), network.station("b")
    one, two = network.seed_ids
    b.edit(two, [("qc.sku", "B-FIRST")])
    network.sync("b")
    a.edit(one, [("qc.sku", "A-REFUSED")])
    mine = head(a.root)
    remote_before = head(network.bare, "main")
    hook = network.bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'main is frozen for the audit' >&2\nexit 1\n")
    hook.chmod(0o755)

    with pytest.raises(SyncError, match="refused the changes") as failed:
        network.sync("a")
    assert "kept here" in str(failed.value)
    assert failed.value.summary is not None and failed.value.summary.received == [two]
    assert contains(a.root, mine, "HEAD") and sku(a, two) == "B-FIRST" and sku(a, one) == "A-REFUSED"
    assert git(a.root, "status", "--porcelain") == "" and head(network.bare, "main") == remote_before
    assert not (a.git.git_dir / "kakotui" / "sync-journal.json").exists()

    hook.unlink()
    summary = network.sync("a")
    assert summary.pushed and summary.sent == [one] and head(network.bare, "main") == head(a.root)
    network.sync("b")
    assert sku(b, one) == "A-REFUSED" and head(b.root) == head(a.root)
