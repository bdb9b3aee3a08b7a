"""The index's commit table (kakotui.store.trail) against git itself.

Differential: for every record path, the table's answer equals what `git log
--diff-merges=first-parent -- <path>` lists, and `record_history`/`record_blame` read through the
table equal what they read by walking git, on scripted histories by several people (renumbering),
histories made by sync between stations (merges, a renumbered id collision) and random histories
with branches and merges of every shape. Incremental extension, a rewritten history and a
shallow clone; the audit report is the same with the table as with the git scan it replaces.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kakotui.log import ExceptionLog
from kakotui.reports.render import render
from kakotui.store import history as history_module
from kakotui.store import trail
from kakotui.store.gitrepo import Git
from kakotui.store.history import record_blame, record_history
from tests.helpers import git
from tests.store.history_data import build_scripted
from tests.sync.conftest import Network, file_network, new_qc, seeded_remote  # noqa: F401

RECORDS = "records/"


def git_log(root: Path, path: str, rev: str = "HEAD") -> list[tuple[str, str]]:
    """(commit, A/M/D/T) as `history._log_path` reads them: git's own walk."""
    out = git(
        root, "log", "--no-renames", "--raw", "--no-abbrev", "--diff-merges=first-parent",
        "--format=@%H", "--end-of-options", rev, "--", path,
    )  # fmt: skip
    found: list[tuple[str, str]] = []
    for line in out.splitlines():
        if line.startswith("@"):
            found.append((line[1:], "M"))
        elif line.startswith(":") and line.partition("\t")[2] == path:
            found[-1] = (found[-1][0], line.split(" ")[4].partition("\t")[0][:1])
    return found


def all_paths(root: Path) -> list[str]:
    out = git(root, "log", "--all", "--format=", "--name-only", "--no-renames", "--", RECORDS)
    return sorted({p for p in out.splitlines() if p})


def table(root: Path) -> tuple[Git, Any]:
    import sqlite3

    g = Git(root)
    db = sqlite3.connect(":memory:")
    assert trail.update(g, db, g.head())
    return g, db


def assert_same_as_git(root: Path, *, must_answer: bool = True) -> int:
    """Every path's commits from the table equal git's; returns how many paths git had to answer."""
    g, db = table(root)
    t = trail.Trail(db, g.head() or "")
    deferred = 0
    for path in all_paths(root):
        touches = t.log_path("HEAD", path)
        if touches is None:
            deferred += 1
            continue
        assert [(x.commit, x.status) for x in touches] == git_log(root, path), path
    if must_answer:
        assert deferred == 0
    g.close()
    db.close()
    return deferred


def histories_equal(log: ExceptionLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """`record_history` and `record_blame` are the same through the table as through git, for every
    path in the history; through the table, git's path walk is never run for a record it can tell."""
    assert trail.update(log.git, log.index.db, log.git.head())
    table_view = trail.Trail(log.index.db, log.git.head() or "")
    for path in all_paths(log.root):
        slow = record_history(log.git, path)
        answered = table_view.log_path("HEAD", path) is not None
        with monkeypatch.context() as m:
            if answered:

                def refuse(*args: Any, **kwargs: Any) -> Any:
                    raise AssertionError("git walked although the table could tell")

                m.setattr(history_module, "_log_path", refuse)
            fast = record_history(log.git, path, trail=table_view)
        assert fast.to_dict() == slow.to_dict(), path
        assert fast.record == slow.record
        assert record_blame(fast).to_dict() == record_blame(slow).to_dict(), path


# ---------------------------------------------------------------- scripted histories


def test_scripted_history_by_four_people_with_a_renumbering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "log"
    build_scripted(root)
    assert_same_as_git(root)
    with ExceptionLog(root) as log:
        log.refresh()
        assert trail._meta(log.index.db, "head") is None  # not part of the index build
        assert trail.open_trail(log.git, log.index.db) is None  # nor of a history: git answers
        seen: list[tuple[int, int]] = []
        assert trail.open_trail(log.git, log.index.db, build=True, progress=lambda d, t: seen.append((d, t)))
        assert trail._meta(log.index.db, "head") == log.git.head()
        assert seen and seen[-1][0] == seen[-1][1] > 0
        histories_equal(log, monkeypatch)
        history = log.history("SZ1-2026-00003")  # through the façade: the renumbering is followed
        assert [e.action for e in history][:3] == ["create", "decide", "renumber"]


def test_sync_between_stations_merges_and_renumbering(
    file_network: Network,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = file_network
    a, b, c = net.station("a"), net.station("b"), net.station("c")
    rid = net.seed_ids[0]
    a.edit(rid, [("qc.sku", "HX-A")])
    b.edit(rid, [("qc.order_id", "KB-B")])  # both sides change the record: merged field by field
    b.decide(rid, "refund", reason="vendor out of stock", at="2026-11-21T10:00:00+08:00")
    c.edit(net.seed_ids[1], [("qc.description", "Strap torn as well.")])
    mine = a.new(new_qc(sku="A-NEW")).id
    theirs = c.new(new_qc(sku="C-NEW")).id  # a and c are both station SZ1: the same id, renumbered
    assert mine == theirs
    for name in ("a", "b", "c", "a", "b", "c"):
        net.sync(name)
    b.edit(rid, [("qc.quantity", "3")])
    net.sync("b")
    net.sync("a")
    for log in (a, b, c):
        assert int(git(log.root, "rev-list", "--merges", "--count", "HEAD")) >= 2
        log.refresh()
        assert_same_as_git(log.root, must_answer=False)
        histories_equal(log, monkeypatch)
    renumbered = [r["id"] for r in c.records("", columns=["id", "aliases"]) if r["aliases"]]
    assert renumbered, "the collision was renumbered"
    history = c.history(renumbered[0])
    assert "renumber" in [e.action for e in history]


# ---------------------------------------------------------------- random histories


def _commit(
    root: Path, env: dict[str, str], files: dict[str, str | None], parents: list[str], msg: str
) -> str:
    """A commit whose tree is the first parent's with `files` changed (None: removed)."""
    idx = {**env, "GIT_INDEX_FILE": str(root / ".git" / "trail-test-index")}
    if parents:
        subprocess.run(["git", "-C", str(root), "read-tree", parents[0]], env=idx, check=True)
    else:
        subprocess.run(["git", "-C", str(root), "read-tree", "--empty"], env=idx, check=True)
    for path, text in files.items():
        if text is None:
            subprocess.run(
                ["git", "-C", str(root), "update-index", "--force-remove", "--", path], env=idx, check=True
            )
            continue
        sha = subprocess.run(
            ["git", "-C", str(root), "hash-object", "-w", "--stdin"],
            input=text.encode(), capture_output=True, env=idx, check=True,
        ).stdout.decode().strip()  # fmt: skip
        subprocess.run(
            ["git", "-C", str(root), "update-index", "--add", "--cacheinfo", f"100644,{sha},{path}"],
            env=idx, check=True,
        )  # fmt: skip
    tree = (
        subprocess.run(["git", "-C", str(root), "write-tree"], capture_output=True, env=idx, check=True)
        .stdout.decode()
        .strip()
    )
    args = [a for p in parents for a in ("-p", p)]
    return (
        subprocess.run(
            ["git", "-C", str(root), "commit-tree", tree, *args, "-m", msg],
            capture_output=True, env=env, check=True,
        ).stdout.decode().strip()
    )  # fmt: skip


def _tree_files(root: Path, commit: str) -> dict[str, str]:
    out = git(root, "ls-tree", "-r", "--name-only", commit, "--", RECORDS)
    return {p: git(root, "show", f"{commit}:{p}") for p in out.splitlines()}


def random_history(root: Path, seed: int, steps: int = 70, *, skew: bool = True) -> list[str]:
    """Branches that commit, delete, restore and merge each other (merges of every shape: the file
    as one side has it, as the other has it, or new); returns the tips made, in order."""
    rng = random.Random(seed)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    paths = [f"{RECORDS}2026/SZ1/000/SZ1-2026-{i:05d}.yaml" for i in range(1, 6)]
    values = ["a\n", "b\n", "c\n", "d\n"]
    clock = 1_700_000_000
    people = ["Li Wei", "Chen Jing", "Wang Fang"]

    def env() -> dict[str, str]:
        nonlocal clock
        clock += rng.choice([60, 60, 3600, -30] if skew else [60, 60, 3600])  # -30: a clock that ran back
        who = rng.choice(people)
        stamp = f"@{clock} +0800"
        return {
            **os.environ, "GIT_AUTHOR_NAME": who, "GIT_AUTHOR_EMAIL": "x@example.com",
            "GIT_COMMITTER_NAME": who, "GIT_COMMITTER_EMAIL": "x@example.com",
            "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp,
        }  # fmt: skip

    first = _commit(root, env(), {paths[0]: "a\n", "kakotui.yaml": "x\n"}, [], "root")
    tips = {"main": first}
    made = [first]
    for step in range(steps):
        name = rng.choice(list(tips))
        tip = tips[name]
        roll = rng.random()
        if roll < 0.15 and len(tips) < 4:
            tips[f"b{step}"] = tip  # a new branch from here
            continue
        others = [t for n, t in tips.items() if n != name and t != tip]
        if roll < 0.4 and others:
            other = rng.choice(others)
            ours, theirs = _tree_files(root, tip), _tree_files(root, other)
            files: dict[str, str | None] = {}
            for path in set(ours) | set(theirs):
                pick = rng.choice(["ours", "theirs", "theirs", "new"])
                if pick == "theirs":
                    files[path] = theirs.get(path)
                elif pick == "new":
                    files[path] = rng.choice(values)
            parents = [tip, other] if rng.random() < 0.8 else [tip, other, rng.choice(made)]
            parents = list(dict.fromkeys(parents))
            tips[name] = _commit(root, env(), files, parents, f"merge {step}")
        else:
            files = {}
            for path in rng.sample(paths, rng.choice([1, 1, 2, 3])):
                files[path] = None if rng.random() < 0.1 else rng.choice(values)
            tips[name] = _commit(root, env(), files, [tip], f"save {step}\n\nKakotui-Action: edit\n")
        made.append(tips[name])
    final = tips["main"]
    for name, tip in tips.items():  # everything merged into main at the end
        if name != "main" and tip != final:
            final = _commit(root, env(), {}, [final, tip], f"merge {name}")
            made.append(final)
    git(root, "update-ref", "refs/heads/main", final)
    git(root, "reset", "-q", "--hard", final)
    return made


@pytest.mark.parametrize("seed", range(12))
def test_random_histories_with_merges_match_git(tmp_path: Path, seed: int) -> None:
    root = tmp_path / "repo"
    made = random_history(root, seed, skew=seed % 2 == 0)
    assert_same_as_git(root, must_answer=False)
    # and from any commit in the middle, as the renumbering walk asks
    g, db = table(root)
    t = trail.Trail(db, g.head() or "")
    rng = random.Random(seed)
    for commit in rng.sample(made, 8):
        for path in all_paths(root):
            touches = t.log_path(commit, path)
            if touches is not None:
                assert [(x.commit, x.status) for x in touches] == git_log(root, path, commit)
    g.close()


def test_the_table_answers_most_paths_of_random_histories(tmp_path: Path) -> None:
    answered = total = 0
    for seed in range(6):
        root = tmp_path / f"repo{seed}"
        random_history(root, seed + 100, skew=False)
        total += len(all_paths(root))
        answered += len(all_paths(root)) - assert_same_as_git(root, must_answer=False)
    assert answered >= total // 3  # git is asked only where a merge combined both sides of a file


def test_extended_incrementally_equals_built_at_once_and_rewrites_rebuild(tmp_path: Path) -> None:
    import sqlite3

    root = tmp_path / "repo"
    made = random_history(root, 7)
    g = Git(root)
    db = sqlite3.connect(":memory:")
    middle = git(root, "rev-parse", "HEAD~3").strip()
    assert trail.update(g, db, middle)
    assert trail.update(g, db, g.head())  # the commits after it only
    whole = sqlite3.connect(":memory:")
    seen: list[tuple[int, int]] = []
    assert trail.update(g, whole, g.head(), lambda done, total: seen.append((done, total)))
    count = int(git(root, "rev-list", "--count", "HEAD"))
    assert seen[0] == (0, count) and seen[-1] == (count, count)  # the build reports its progress
    t1, t2 = trail.Trail(db, g.head() or ""), trail.Trail(whole, g.head() or "")
    for path in all_paths(root):
        a, b = t1.log_path("HEAD", path), t2.log_path("HEAD", path)
        assert a == b
    fc = "SELECT path, at_s, sha FROM first_commits ORDER BY path"
    assert db.execute(fc).fetchall() == whole.execute(fc).fetchall()
    # a history rewritten under the table (a reset to an older commit, then a new commit)
    old = made[10]
    git(root, "reset", "-q", "--hard", old)
    git(
        root,
        "-c",
        "user.name=R",
        "-c",
        "user.email=r@example.com",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "new",
    )
    assert trail.update(g, db, g.head())
    assert trail._meta(db, "head") == g.head()
    assert db.execute("SELECT count(*) FROM trail_commits").fetchone()[0] == int(
        git(root, "rev-list", "--count", "HEAD")
    )
    assert_same_as_git(root, must_answer=False)
    g.close()


def test_shallow_clone_has_no_table_and_history_asks_git(tmp_path: Path) -> None:
    root = tmp_path / "log"
    build_scripted(root)
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{root}", str(clone)], check=True)
    with ExceptionLog(clone) as log:
        log.refresh()
        assert trail.open_trail(log.git, log.index.db) is None
        assert [e.action for e in log.history("SZ1-2026-00003")] == ["confirm", "close"]


def test_history_without_the_table_asks_git(tmp_path: Path) -> None:
    root = tmp_path / "log"
    build_scripted(root)
    with ExceptionLog(root) as log:
        log.refresh()
        assert log.index.build_trail()
        fast = log.history("SZ1-2026-00003").to_dict()
        trail.drop(log.index.db)
        # a history that must not build it (the TUI's): git answers, the same
        assert log.history("SZ1-2026-00003", build_trail=False).to_dict() == fast
        assert trail.open_trail(log.git, log.index.db) is None
        log.refresh()  # nor does a catch-up build it
        assert trail.open_trail(log.git, log.index.db) is None
        seen: list[tuple[int, int]] = []
        # `kakotui log`/`blame`: the first history builds it, with progress
        assert log.history("SZ1-2026-00003", progress=lambda d, t: seen.append((d, t))).to_dict() == fast
        assert trail.open_trail(log.git, log.index.db) is not None
        assert seen and seen[-1][0] == seen[-1][1]
        trail.drop(log.index.db)
        assert log.index.build_trail()  # or `kakotui index --history`
        assert log.history("SZ1-2026-00003").to_dict() == fast


def test_catch_up_and_rebuild_extend_a_table_that_exists(tmp_path: Path) -> None:
    root = tmp_path / "log"
    build_scripted(root)
    with ExceptionLog(root) as log:
        log.refresh()
        assert log.index.build_trail()
        log.new(json.loads(json.dumps(log.get("SZ1-2026-00002").record["qc"])))
        log.refresh()
        assert trail._meta(log.index.db, "head") == log.git.head()  # the save's commit added
        log.new(json.loads(json.dumps(log.get("SZ1-2026-00002").record["qc"])))
        log.rebuild_index()
        assert trail._meta(log.index.db, "head") == log.git.head()  # kept and extended
        assert trail.open_trail(log.git, log.index.db) is not None


# ---------------------------------------------------------------- the audit report


def test_audit_report_is_the_same_from_the_table_as_from_the_git_scan(tmp_path: Path) -> None:
    root = tmp_path / "log"
    build_scripted(root)
    with ExceptionLog(root) as log:
        log.refresh()
        assert log.index.build_trail()
        log.new(json.loads(json.dumps(log.get("SZ1-2026-00002").record["qc"])))  # a save after the table
        fast = render(log.report("audit"), "json")
        trail.drop(log.index.db)
        with log.index.db:
            log.index.db.execute("DELETE FROM first_commits")
            log.index.db.execute("DELETE FROM first_commits_meta")
        slow = render(log.report("audit"), "json")  # scan_first_commits walks git
        assert fast == slow
        assert json.loads(fast)  # it rendered something


def test_copy_of_a_log_keeps_its_table(tmp_path: Path) -> None:
    root = tmp_path / "log"
    build_scripted(root)
    with ExceptionLog(root) as log:
        log.refresh()
        assert log.index.build_trail()
    copy = tmp_path / "copy"
    shutil.copytree(root, copy, symlinks=True)
    with ExceptionLog(copy) as log:
        assert trail.open_trail(log.git, log.index.db) is not None


@pytest.mark.parametrize("seed", [3, 8])
def test_a_long_history_read_in_two_halves_gives_the_same_table(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    root = tmp_path / "repo"
    random_history(root, seed, skew=False)
    g = Git(root)
    whole = sqlite3.connect(":memory:")
    assert trail.update(g, whole, g.head())
    monkeypatch.setattr(trail, "_SPLIT", 10)  # two git processes, split half-way down
    halves = sqlite3.connect(":memory:")
    seen: list[tuple[int, int]] = []
    assert trail.update(g, halves, g.head(), lambda done, total: seen.append((done, total)))
    count = int(git(root, "rev-list", "--count", "HEAD"))
    assert seen[-1] == (count, count)
    commits = "SELECT sha, parents, author, date, at_s, ct, subject, action FROM trail_commits ORDER BY sha"
    assert halves.execute(commits).fetchall() == whole.execute(commits).fetchall()
    t1, t2 = trail.Trail(whole, g.head() or ""), trail.Trail(halves, g.head() or "")
    for path in all_paths(root):
        assert t1.log_path("HEAD", path) == t2.log_path("HEAD", path)
    fc = "SELECT path, at_s, sha FROM first_commits ORDER BY path"
    assert halves.execute(fc).fetchall() == whole.execute(fc).fetchall()
    assert_same_as_git(root, must_answer=False)
    g.close()
