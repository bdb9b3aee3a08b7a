"""kakotui.store.gitrepo against real git repositories in temporary folders."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from kakotui.store.gitrepo import (
    EMPTY_TREE,
    NULL_SHA,
    Git,
    GitError,
    HeadMoved,
    Identity,
    LockTimeout,
    atomic_write,
    blob_sha,
    clear_stale_locks,
    init_repo,
    maintenance_due,
    maybe_maintain,
    repo_lock,
    run_maintenance,
)

ANN = Identity("Ann Inspector", "ann@sz1.invalid")
ODD_PATHS = [
    "records/a b/é ü.yaml",
    "records/日本/x y.yaml",
    'records/q"uote\ttab.yaml',
    "records/-dash.yaml",
]


def git_out(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True, encoding="utf-8"
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Git]:
    with init_repo(tmp_path / "log") as git:
        yield git


def save(git: Git, files: dict[str, bytes | None], message: str = "save") -> str:
    """Write the work tree the way the façade does, then commit the same content."""
    for path, data in files.items():
        if data is None:
            (git.root / path).unlink(missing_ok=True)
        else:
            atomic_write(git.root / path, data)
    return git.commit_files(files, message, ANN)


def git_children() -> list[int]:
    """Pids of live git processes whose parent is this test process."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        mine = fields.get("PPid", "").strip() == str(os.getpid()) and fields.get("Name", "").strip() == "git"
        if mine and not fields.get("State", "").startswith("Z"):
            out.append(int(entry.name))
    return out


# -- a new log and where HEAD is ----------------------------------------------------------------


def test_init_repo_is_unborn_and_tuned_for_many_files(repo: Git) -> None:
    assert repo.head() is None
    assert repo.branch_ref() == "refs/heads/main"
    assert repo.git_dir == (repo.root / ".git").resolve() and repo.git_dir.is_absolute()
    assert git_out(repo.root, "config", "core.splitIndex").strip() == "true"
    assert git_out(repo.root, "config", "index.version").strip() == "4"
    assert git_out(repo.root, "config", "core.untrackedCache").strip() == "true"


def test_commit_on_unborn_branch(repo: Git) -> None:
    sha = repo.commit_files({"records/a.yaml": b"a: 1\n"}, "first", ANN, expected_head=None)
    assert repo.head() == sha == repo.rev_parse("refs/heads/main")
    assert git_out(repo.root, "rev-list", "--parents", "HEAD").split() == [sha]  # a root commit
    assert repo.ls_tree("HEAD", "") == [("records/a.yaml", blob_sha(b"a: 1\n"))]
    assert git_out(repo.root, "reflog", "-1", "--format=%gs").strip() == "commit (initial): first"


def test_a_folder_inside_another_repository_is_not_that_repository(tmp_path: Path) -> None:
    init_repo(tmp_path)
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError, match="not a git repository"):
        Git(tmp_path / "plain").head()


def test_rev_parse_names_the_unknown_revision(repo: Git) -> None:
    save(repo, {"a.yaml": b"a\n"})
    with pytest.raises(GitError, match=r"^unknown revision: nope$"):
        repo.rev_parse("nope")
    assert repo.rev_parse("HEAD:a.yaml") == blob_sha(b"a\n")


def test_detached_head_is_refused_with_a_readable_message(repo: Git) -> None:
    first = save(repo, {"a.yaml": b"a\n"})
    git_out(repo.root, "checkout", "-q", "--detach", first)
    with pytest.raises(GitError, match="detached HEAD"):
        repo.commit_files({"a.yaml": b"b\n"}, "m", ANN)
    assert repo.head() == first


# -- saving ---------------------------------------------------------------------------------------


def test_adds_modifies_deletes_and_leaves_status_clean(repo: Git) -> None:
    one = save(repo, {"records/a.yaml": b"a\n", "records/b.yaml": b"b\n", "records/c.yaml": b"c\n"})
    two = save(repo, {"records/a.yaml": b"a2\n", "records/b.yaml": None, "records/d.yaml": b"d\n"})

    assert git_out(repo.root, "rev-list", "--parents", "-1", "HEAD").split() == [two, one]
    assert dict(repo.ls_tree("HEAD", "records")) == {
        "records/a.yaml": blob_sha(b"a2\n"),
        "records/c.yaml": blob_sha(b"c\n"),
        "records/d.yaml": blob_sha(b"d\n"),
    }
    assert sorted(repo.diff_tree(one, two, "records")) == [
        ("A", "records/d.yaml", NULL_SHA, blob_sha(b"d\n")),
        ("D", "records/b.yaml", blob_sha(b"b\n"), NULL_SHA),
        ("M", "records/a.yaml", blob_sha(b"a\n"), blob_sha(b"a2\n")),
    ]
    # The saved entries carry stat data: diff-files compares stat only (and, unlike status, never
    # refreshes the index first), so entries with zeroed stat data would be listed here.
    assert git_out(repo.root, "diff-files", "--name-only") == ""
    assert repo.status("") == []
    assert git_out(repo.root, "status", "--porcelain", "--untracked-files=all") == ""


def test_index_follows_the_commit_even_when_the_work_tree_differs(repo: Git) -> None:
    save(repo, {"a.yaml": b"old\n"})
    atomic_write(repo.root / "a.yaml", b"draft on disk\n")
    repo.commit_files({"a.yaml": b"committed\n", "never-written.yaml": b"n\n"}, "m", ANN)
    # Index == HEAD; the work tree shows as an unstaged change, not as a staged revert.
    assert dict((p, c) for c, p in repo.status("")) == {"a.yaml": " M", "never-written.yaml": " D"}


def test_author_committer_date_and_message_exactly_as_given(repo: Git) -> None:
    when = datetime(2026, 11, 26, 9, 14, 0, tzinfo=timezone(timedelta(hours=8)))
    message = "SZ1-2026-00042: reship via SF Express, 38.50 CNY — 顺丰\n\nKakotui-Record: SZ1-2026-00042\n"
    boss = Identity("Zoë Müller-Łukasz", "zoe@hq.invalid")
    sha = repo.commit_files({"a.yaml": b"a\n"}, message, ANN, committer=boss, when=when)
    fmt = "%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd"
    fields = git_out(repo.root, "log", "-1", "--date=raw", f"--format={fmt}", sha).rstrip("\n").split("\0")
    assert fields == [ANN.name, ANN.email, "1795655640 +0800", boss.name, boss.email, "1795655640 +0800"]
    raw = subprocess.run(["git", "-C", str(repo.root), "cat-file", "commit", sha], capture_output=True).stdout
    assert raw.split(b"\n\n", 1)[1] == message.encode("utf-8")
    # A message without a final newline gets git's usual one; nothing else changes.
    sha = repo.commit_files({"a.yaml": b"b\n"}, "  two  \n\n  lines", ANN, when=when)
    raw = subprocess.run(["git", "-C", str(repo.root), "cat-file", "commit", sha], capture_output=True).stdout
    assert raw.split(b"\n\n", 1)[1] == b"  two  \n\n  lines\n"


def test_default_date_is_now_with_the_local_offset_and_committer_is_author(repo: Git) -> None:
    before = int(time.time())
    repo.commit_files({"a.yaml": b"a\n"}, "m", ANN)
    stamp, offset, committer = (
        git_out(repo.root, "log", "-1", "--date=raw", "--format=%ad%x00%cn").replace("\0", " ").split(" ", 2)
    )
    assert before <= int(stamp) <= time.time() + 1
    local = datetime.fromtimestamp(int(stamp)).astimezone().strftime("%z")
    assert offset == local
    assert committer.strip() == ANN.name


def test_stale_expected_head_raises_head_moved_and_commits_nothing(repo: Git) -> None:
    one = save(repo, {"a.yaml": b"1\n"})
    two = save(repo, {"a.yaml": b"2\n"})
    with pytest.raises(HeadMoved) as caught:
        repo.commit_files({"a.yaml": b"3\n"}, "late", ANN, expected_head=one)
    assert (caught.value.expected, caught.value.actual) == (one, two)
    with pytest.raises(HeadMoved):
        repo.commit_files({"a.yaml": b"3\n"}, "late", ANN, expected_head=None)
    assert repo.head() == two
    assert git_out(repo.root, "rev-list", "--count", "--all").strip() == "2"
    assert repo.commit_files({"a.yaml": b"3\n"}, "fresh", ANN, expected_head=two) == repo.head()


def test_bad_paths_and_identities_are_refused_before_git_runs(repo: Git) -> None:
    for path in ("../evil.yaml", "/etc/passwd", ".git/config", "a//b", "a/./b", "records/.GIT/x"):
        with pytest.raises(GitError, match="refused path"):
            repo.commit_files({path: b"x"}, "m", ANN)
    with pytest.raises(GitError, match="refused identity"):
        repo.commit_files({"a": b"x"}, "m", Identity("Eve <x@y>", "e@x"))
    with pytest.raises(GitError, match="nothing to save"):
        repo.commit_files({}, "m", ANN)
    with pytest.raises(GitError, match="refused commit message"):
        repo.commit_files({"a": b"x"}, "bad \udc80 text", ANN)
    with pytest.raises(GitError, match="refused commit message"):
        repo.commit_files({"a": b"x"}, "nul \0 byte", ANN)
    assert repo.head() is None


def test_option_like_values_are_refused_or_treated_as_data(repo: Git, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    evil = f"--output={marker}"
    save(repo, {"a.yaml": b"a\n"})
    for call in (
        lambda: repo.rev_parse(evil),
        lambda: repo.ls_tree(evil, ""),
        lambda: repo.diff_tree(evil, "HEAD", ""),
        lambda: repo.diff_tree(None, evil, ""),
        lambda: repo.read_blob(evil),
        lambda: repo.read_blob("HEAD", evil),
        lambda: list(repo.cat_blobs([evil])),
    ):
        with pytest.raises(GitError):
            call()
    assert repo.ls_tree("HEAD", evil) == []
    assert repo.status(evil) == []
    assert repo.diff_tree(None, "HEAD", evil) == []
    # As a path in a save it is just a file name.
    sha = repo.commit_files({evil.lstrip("/"): b"data\n"}, evil, ANN)
    assert repo.read_blob(sha, evil) == b"data\n"
    assert not marker.exists()


def test_no_git_process_outlives_a_call(repo: Git) -> None:
    # Big blobs: git is still writing (blocked on the pipe) when we stop reading.
    save(repo, {f"r/{i}.yaml": bytes([65 + i]) * 1_000_000 for i in range(4)})
    shas = [sha for _, sha in repo.ls_tree("HEAD", "r")]
    stream = repo.cat_blobs(shas)
    assert next(stream) == (shas[0], b"A" * 1_000_000)
    assert len(git_children()) == 1
    stream.close()  # abandoned half way
    assert git_children() == []
    stream = repo.cat_blobs(shas)
    next(stream)
    repo.close()
    assert git_children() == []


# -- reading --------------------------------------------------------------------------------------


def test_reads_paths_with_spaces_quotes_tabs_and_non_ascii(repo: Git) -> None:
    contents = {path: f"{path}\n".encode() for path in ODD_PATHS}
    first = save(repo, {"records/plain.yaml": b"p\n"})
    second = save(repo, dict(contents))

    listed = dict(repo.ls_tree("HEAD", "records"))
    assert listed == {**{p: blob_sha(c) for p, c in contents.items()}, "records/plain.yaml": blob_sha(b"p\n")}
    assert sorted(repo.diff_tree(first, second, "records/")) == sorted(
        ("A", p, NULL_SHA, blob_sha(c)) for p, c in contents.items()
    )
    assert dict(repo.cat_blobs(listed[p] for p in ODD_PATHS)) == {blob_sha(c): c for c in contents.values()}
    assert all(repo.read_blob("HEAD", p) == c for p, c in contents.items())

    (repo.root / ODD_PATHS[0]).write_bytes(b"changed\n")
    (repo.root / ODD_PATHS[1]).unlink()
    (repo.root / "records/ünträcked file.yaml").write_bytes(b"u\n")
    assert sorted(repo.status("records")) == sorted(
        [(" M", ODD_PATHS[0]), (" D", ODD_PATHS[1]), ("??", "records/ünträcked file.yaml")]
    )


def test_diff_tree_from_nothing_and_prefixes_are_folders_not_patterns(repo: Git) -> None:
    save(repo, {"records/a.yaml": b"a\n", "records2/b.yaml": b"b\n", "records/*": b"star\n"})
    added = repo.diff_tree(None, "HEAD", "records")
    assert sorted(p for _, p, _, _ in added) == ["records/*", "records/a.yaml"]
    assert all(s == "A" and old == NULL_SHA for s, _, old, _ in added)
    assert [p for p, _ in repo.ls_tree("HEAD", "records/*")] == ["records/*"]
    assert repo.diff_tree(EMPTY_TREE, "HEAD", "") == repo.diff_tree(None, "HEAD", "")


def test_cat_blobs_finishes_while_a_forked_child_holds_its_pipes(repo: Git) -> None:
    # A process pool forked mid-stream inherits git's stdin, so git never sees end of input: every
    # answer must reach us without waiting for it (no `--buffer`).
    save(repo, {"a": b"x" * 100})
    names = [blob_sha(b"x" * 100)] * 3000  # more than a pipe holds both ways: the feeder is mid-write
    stream = repo.cat_blobs(names)
    next(stream)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only waits
        time.sleep(5)
        os._exit(0)
    try:
        started = time.monotonic()
        assert sum(1 for _ in stream) == 2999
        assert time.monotonic() - started < 3
    finally:
        os.kill(child, 9)
        os.waitpid(child, 0)


def test_cat_blobs_keeps_order_and_names_a_missing_object(repo: Git) -> None:
    save(repo, {"a": b"A\n", "b": b"B\n"})
    a, b = blob_sha(b"A\n"), blob_sha(b"B\n")
    assert list(repo.cat_blobs([b, a, b])) == [(b, b"B\n"), (a, b"A\n"), (b, b"B\n")]
    with pytest.raises(GitError, match=f"object not found: {'1' * 40}"):
        list(repo.cat_blobs([a, "1" * 40]))
    with pytest.raises(GitError, match="not a file"):
        list(repo.cat_blobs(["HEAD^{tree}"]))
    assert list(repo.cat_blobs([])) == []
    with pytest.raises(GitError, match="not found: HEAD:zzz"):
        repo.read_blob("HEAD", "zzz")
    assert repo.read_blob(a) == b"A\n"
    assert git_children() == []


def test_blob_sha_matches_git() -> None:
    for data in (b"", b"a\n", bytes(range(256)) * 10):
        out = subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True, check=True)
        assert blob_sha(data) == out.stdout.decode().strip() == Git.blob_sha(data)


def test_fsck_strict_is_clean_after_saves(repo: Git) -> None:
    save(repo, {"records/a.yaml": b"a\n", ODD_PATHS[0]: b"x\n"}, "one\n\nKakotui-Action: create")
    save(repo, {"records/a.yaml": None, "records/b/c.yaml": b"c\n"}, "two — ✓")
    save(repo, {"records/b/c.yaml": b"c2\n"}, "three")
    result = subprocess.run(
        ["git", "-C", str(repo.root), "fsck", "--strict", "--no-dangling"], capture_output=True
    )
    assert result.returncode == 0 and result.stdout == b"" and result.stderr == b""


def test_a_symlinked_folder_falls_back_to_blob_ids_in_the_index(repo: Git) -> None:
    (repo.root / "real").mkdir()
    (repo.root / "linked").symlink_to("real")
    atomic_write(repo.root / "linked/x.yaml", b"x\n")
    sha = repo.commit_files({"linked/x.yaml": b"x\n"}, "m", ANN)
    assert repo.head() == sha
    assert git_out(repo.root, "ls-files", "--stage", "linked/x.yaml").split()[:2] == [
        "100644",
        blob_sha(b"x\n"),
    ]


# -- locks and files ------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from kakotui.store.gitrepo import LockTimeout, repo_lock
try:
    with repo_lock(Path(sys.argv[1]), timeout=float(sys.argv[2])):
        print("locked", flush=True)
        time.sleep(float(sys.argv[3]))
except LockTimeout as exc:
    print("timeout:", exc, flush=True)
"""


def test_repo_lock_excludes_another_process_and_times_out(repo: Git) -> None:
    with repo_lock(repo.git_dir):
        with repo_lock(repo.git_dir):  # re-entrant in the same thread
            pass
        other = subprocess.run(
            [sys.executable, "-c", HOLD_LOCK, str(repo.git_dir), "0.3", "0"], capture_output=True, text=True
        )
        assert other.stdout.startswith("timeout:"), other.stderr
        assert f"held by process {os.getpid()}" in other.stdout and "try again" in other.stdout
    other = subprocess.run(
        [sys.executable, "-c", HOLD_LOCK, str(repo.git_dir), "0.3", "0"], capture_output=True, text=True
    )
    assert other.stdout == "locked\n", other.stderr


def test_repo_lock_waits_for_the_holder_and_serializes_threads(repo: Git) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(repo.git_dir), "5", "0.5"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    with pytest.raises(LockTimeout), repo_lock(repo.git_dir, timeout=0.1):
        pass
    started = time.monotonic()
    with repo_lock(repo.git_dir, timeout=5):
        assert time.monotonic() - started > 0.1
    holder.wait()
    holder.stdout.close()

    outcome: list[str] = []

    def other_thread() -> None:
        try:
            with repo_lock(repo.git_dir, timeout=0.2):
                outcome.append("locked")
        except LockTimeout:
            outcome.append("timeout")

    with repo_lock(repo.git_dir):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert outcome == ["timeout"]


SAVER = """
import sys
from pathlib import Path
from kakotui.store.gitrepo import Git, Identity
with Git(Path(sys.argv[1])) as git:
    for i in range(6):
        git.commit_files({f"{sys.argv[2]}/{i}.yaml": b"%d\\n" % i}, f"{sys.argv[2]} {i}", Identity("P", "p@x"))
"""


def test_concurrent_savers_lose_nothing(repo: Git) -> None:
    save(repo, {"seed": b"s\n"})
    procs = [
        subprocess.Popen([sys.executable, "-c", SAVER, str(repo.root), name], stderr=subprocess.PIPE)
        for name in ("p1", "p2", "p3")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    assert git_out(repo.root, "rev-list", "--count", "HEAD").strip() == "19"
    assert len(repo.ls_tree("HEAD", "")) == 19
    assert (
        subprocess.run(["git", "-C", str(repo.root), "fsck", "--strict"], capture_output=True).returncode == 0
    )


def test_atomic_write_replaces_content_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "x.yaml"
    atomic_write(target, b"one\n")
    target.chmod(0o640)
    atomic_write(target, b"two\n")
    assert target.read_bytes() == b"two\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(target.parent) == ["x.yaml"]

    (tmp_path / "adir").mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write(tmp_path / "adir", b"x")  # os.replace fails: the temp file must go
    with pytest.raises(TypeError):
        atomic_write(target, "not bytes")  # type: ignore[arg-type]
    assert sorted(os.listdir(tmp_path)) == ["adir", "deep"]
    assert os.listdir(tmp_path / "adir") == [] and os.listdir(target.parent) == ["x.yaml"]
    assert target.read_bytes() == b"two\n"


def test_stale_index_lock_is_cleared_and_the_save_succeeds(repo: Git) -> None:
    save(repo, {"a.yaml": b"a\n"})
    lock = repo.git_dir / "index.lock"
    lock.write_bytes(b"")
    sha = save(repo, {"a.yaml": b"b\n"})
    assert repo.head() == sha and not lock.exists()
    assert git_out(repo.root, "status", "--porcelain") == ""


def test_clear_stale_locks_removes_only_git_lock_files(repo: Git) -> None:
    save(repo, {"a.yaml": b"a\n"})
    stale = [
        repo.git_dir / "index.lock",
        repo.git_dir / "HEAD.lock",
        repo.git_dir / "refs/heads/main.lock",
        repo.git_dir / "next-index-123.lock",
    ]
    for path in stale:
        path.write_bytes(b"")
    keep = repo.git_dir / "config.lock"
    keep.write_bytes(b"")
    assert sorted(clear_stale_locks(repo.git_dir)) == sorted(stale)
    assert not any(p.exists() for p in stale) and keep.exists()
    assert clear_stale_locks(repo.git_dir) == []


def test_a_lock_is_left_while_a_git_process_works_in_the_repo(repo: Git, tmp_path: Path) -> None:
    save(repo, {"a.yaml": b"a\n"})
    lock = repo.git_dir / "index.lock"
    lock.write_bytes(b"")
    # A git that waits on stdin, started from elsewhere with -C into a subfolder of the repo.
    (repo.root / "sub").mkdir()
    busy = subprocess.Popen(
        ["git", "-C", str(repo.root / "sub"), "cat-file", "--batch"], cwd=tmp_path, stdin=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 5
        while not git_children() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert clear_stale_locks(repo.git_dir) == [] and lock.exists()
    finally:
        busy.communicate()
    assert clear_stale_locks(repo.git_dir) == [lock]


# -- maintenance ----------------------------------------------------------------------------------


def test_maintenance_counts_saves_and_runs_detached(repo: Git) -> None:
    save(repo, {"a.yaml": b"a\n"})
    assert not maintenance_due(repo.git_dir, every=2)
    assert maybe_maintain(repo, every=3) is None
    assert maybe_maintain(repo, every=3) is None
    assert maintenance_due(repo.git_dir, every=2)
    proc = maybe_maintain(repo, every=3)
    assert proc is not None
    assert os.getsid(proc.pid) == proc.pid != os.getsid(0)  # its own session: a save never waits
    assert not maintenance_due(repo.git_dir, every=1)  # the counter starts again
    assert proc.wait(timeout=60) == 0
    graph = repo.git_dir / "objects" / "info"
    assert (graph / "commit-graph").exists() or (graph / "commit-graphs").exists()
    assert run_maintenance(repo).wait(timeout=60) == 0


def test_git_errors_read_as_sentences(tmp_path: Path) -> None:
    with pytest.raises(GitError) as caught:
        Git(tmp_path).head()
    err = caught.value
    assert str(err).startswith("git rev-parse failed: not a git repository")
    assert "Traceback" not in str(err) and err.command[0].endswith("git") and "not a git" in err.stderr


def test_identity_prints_like_git() -> None:
    assert str(Identity("Ann", "ann@x.invalid")) == "Ann <ann@x.invalid>"
