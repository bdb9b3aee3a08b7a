"""Crashes during saves and concurrent writers lose nothing (issue 9, items 1 and 2).

Each trial forks a child that saves through the façade and kills its whole process group (the child
and its git processes) at a random moment. After every kill: the history is intact, every committed
record validates, the work tree matches the history once interrupted saves are recovered, each save
is either complete (file and commit) or absent with the input kept as a draft, and the next save works.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from kakotui.log import ExceptionLog
from tests.helpers import git, make_log, qc

TRIALS_CI = 200
TRIALS_LONG = 1000


def _qc(i: int) -> dict[str, object]:
    fields = qc(sku=f"CRASH-{i}")
    for key in ("checked_at", "site", "station", "inspector"):
        fields.pop(key)
    return fields


def _save_in_child(root: Path, i: int, edit_id: str | None) -> int:
    pid = os.fork()
    if pid == 0:  # child: its own process group, so the kill takes its git processes too
        os.setpgid(0, 0)
        code = 0
        try:
            log = ExceptionLog(root)
            if edit_id is not None:
                log.edit(edit_id, [("qc.sku", f"EDIT-{i}")])
            else:
                log.new(_qc(i))
        except BaseException:
            code = 3
        os._exit(code)
    return pid


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


@pytest.mark.timeout(900)
def test_kill_during_save_loses_nothing(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    trials = TRIALS_LONG if request.config.getoption("--long") else TRIALS_CI
    rng = random.Random(20261126)
    log = make_log(tmp_path / "log")
    log.refresh()
    first = log.new(_qc(-1)).id
    root = log.root
    # calibrate: how long does one save take here? kill points are spread over that window
    t0 = time.perf_counter()
    log.edit(first, [("qc.sku", "CAL-1")])
    window = max(time.perf_counter() - t0, 0.05) * 1.5
    log.close()
    completed = interrupted = 0
    for i in range(trials):
        edit_id = first if i % 3 == 0 else None
        before = git(root, "rev-list", "--count", "HEAD")
        pid = _save_in_child(root, i, edit_id)
        time.sleep(rng.uniform(0, window))
        _kill_group(pid)
        after = git(root, "rev-list", "--count", "HEAD")
        lg = ExceptionLog(root)
        lg.recover()
        status = git(root, "status", "--porcelain", "--untracked-files=all", "--", "records/")
        assert status == "", f"trial {i}: work tree does not match the history after recovery:\n{status}"
        if after != before:
            completed += 1
        else:
            interrupted += 1
        # the next save always works (stale locks are cleared when no git process holds them)
        lg.refresh()
        lg.edit(first, [("qc.sku", f"NEXT-{i}")])
        lg.close()
    subprocess.run(
        ["git", "-C", str(root), "fsck", "--strict", "--no-progress"], check=True, capture_output=True
    )
    lg = ExceptionLog(root)
    lg.refresh()
    count, problems = lg.validate()
    assert problems == [], problems[:5]
    # every committed record is a complete file: the tree at HEAD has nothing half-written
    assert count == len(lg.records())
    # drafts left behind are exactly the saves that did not commit, and each holds the input
    for _rid, action, record in lg.drafts():
        assert action in ("create", "edit") and record["qc"]["sku"].startswith(("CRASH-", "EDIT-"))
    assert completed > 0 and interrupted > 0, (completed, interrupted)
    lg.close()


def _writer(root: Path, n: int, out: Path) -> int:
    pid = os.fork()
    if pid == 0:
        ok = 0
        try:
            log = ExceptionLog(root)
            for i in range(n):
                try:
                    log.new(_qc(i))
                    ok += 1
                except Exception as exc:  # a refused save must be reported, never silently lost
                    with open(out, "a") as f:
                        f.write(f"{type(exc).__name__}: {exc}\n")
        finally:
            with open(out, "a") as f:
                f.write(f"ok {ok}\n")
            os._exit(0)
    return pid


@pytest.mark.timeout(900)
def test_concurrent_writers_successes_equal_commits_equal_records(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log")
    root = log.root
    base = int(git(root, "rev-list", "--count", "HEAD"))
    log.close()
    procs, saves = 8, 25
    outs = [tmp_path / f"writer-{k}.txt" for k in range(procs)]
    pids = [_writer(root, saves, out) for out in outs]
    for pid in pids:
        os.waitpid(pid, 0)
    reported = sum(
        int(line.split()[1])
        for out in outs
        for line in out.read_text().splitlines()
        if line.startswith("ok ")
    )
    commits = int(git(root, "rev-list", "--count", "HEAD")) - base
    files = len(list((root / "records").rglob("*.yaml")))
    assert reported == commits == files == procs * saves
    assert git(root, "status", "--porcelain") == ""
    ids = [p.stem for p in (root / "records").rglob("*.yaml")]
    assert len(set(ids)) == len(ids)


def test_processes_opening_a_log_without_an_index_at_once_all_get_a_working_one(tmp_path: Path) -> None:
    """The first open makes the index's report roll-ups; eight processes doing it at once must not
    interleave (a save's trigger once failed with UNIQUE constraint failed in roll_records)."""
    log = make_log(tmp_path / "log")
    root = log.root
    log.close()
    for suffix in ("", "-wal", "-shm"):
        (root / ".git" / "kakotui" / f"index.sqlite{suffix}").unlink(missing_ok=True)
    outs = [tmp_path / f"writer-{k}.txt" for k in range(8)]
    pids = [_writer(root, 3, out) for out in outs]
    for pid in pids:
        os.waitpid(pid, 0)
    problems = [line for out in outs for line in out.read_text().splitlines() if not line.startswith("ok ")]
    assert problems == []
    assert len(list((root / "records").rglob("*.yaml"))) == 24
