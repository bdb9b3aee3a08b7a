"""Hostile files and hostile arguments (issue 9, items 4 and 6): refused quickly, named, nothing runs."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner

from kakotui.cli import main
from kakotui.core import yamlio
from kakotui.log import ExceptionLog, LogError
from tests.helpers import git, make_log, qc

BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
    "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n"
)

CORPUS: dict[str, bytes] = {
    "alias-bomb": BOMB.encode(),
    "deep-flow": b"a: " + b"[" * 200_000 + b"]" * 200_000 + b"\n",
    "deep-block": "".join("  " * i + f"k{i}:\n" for i in range(200)).encode() + b"  " * 200 + b"x: 1\n",
    "huge": b"description: '" + b"x" * 5_000_000 + b"'\n",
    "invalid-utf8": b"id: SZ1-2026-00001\nqc: \xff\xfe\n",
    "duplicate-keys": b"schema_version: 1\nid: SZ1-2026-00001\nid: SZ1-2026-00002\n",
    "python-tag": b"id: !!python/object/apply:os.system ['touch /tmp/kakotui-pwned']\n",
    "several-documents": b"id: a\n---\nid: b\n",
    "not-a-mapping": b"- just\n- a list\n",
    "binary-garbage": bytes(range(256)) * 10,
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_hostile_file_is_refused_fast_and_small(name: str) -> None:
    data = CORPUS[name]
    tracemalloc.start()
    start = time.perf_counter()
    try:
        result = yamlio.load(data)
    except yamlio.YamlError:
        result = None
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result is None or not isinstance(result, dict) or name == "deep-block"
    # bounds from the issue: under 50 ms and 50 MB per bomb (generous for a loaded CI machine: x4 time)
    assert elapsed < 0.2, f"{name}: {elapsed * 1000:.0f} ms"
    assert peak < 50_000_000, f"{name}: {peak / 1e6:.0f} MB"


def test_hostile_files_in_records_are_named_and_the_rest_stays_usable(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log")
    log.refresh()
    fields = qc()
    for key in ("checked_at", "site", "station", "inspector"):
        fields.pop(key)
    good = log.new(fields).id
    folder = log.root / "records/2026/SZ1/000"
    for seq, (_name, data) in enumerate(sorted(CORPUS.items()), start=50):
        (folder / f"SZ1-2026-{seq:05d}.yaml").write_bytes(data)
    outside = tmp_path / "secret.yaml"
    outside.write_text("password: hunter2\n")
    (folder / "SZ1-2026-00090.yaml").symlink_to(outside)
    (log.root / "notes.yaml").write_text("a: 1\n")  # outside records/: never read as a record
    git(log.root, "add", "-A")
    git(log.root, "commit", "-qm", "hostile files pushed by hand")
    start = time.perf_counter()
    log.refresh()
    _count, problems = log.validate()
    assert time.perf_counter() - start < 30
    named = {p.file.rsplit("/", 1)[-1] for p in problems}
    expected = {f"SZ1-2026-{seq:05d}.yaml" for seq in range(50, 50 + len(CORPUS))} | {"SZ1-2026-00090.yaml"}
    assert expected <= named
    assert not any("notes.yaml" in p.file for p in problems)
    assert not Path("/tmp/kakotui-pwned").exists()
    symlink = [p for p in problems if p.file.endswith("SZ1-2026-00090.yaml")]
    assert symlink and "symbolic link" in symlink[0].message
    rows = {r["id"]: r for r in log.records()}
    assert rows[good]["valid"] == 1
    assert all(r["valid"] == 0 for rid, r in rows.items() if rid != good)
    # the good record is still editable; hunter2 never reached the index
    log.edit(good, [("qc.sku", "STILL-OK")])
    assert "hunter2" not in (log.git.git_dir / "kakotui" / "index.sqlite").read_bytes().decode("latin-1")
    log.close()


def test_hostile_arguments_are_refused_and_nothing_runs(tmp_path: Path) -> None:
    log = make_log(tmp_path / "log")
    root = log.root
    log.close()
    marker = tmp_path / "marker"
    runner = CliRunner()
    attempts = [
        ["show", "--", f"--output={marker}"],
        ["show", "../../../etc/passwd"],
        ["show", "SZ1-2026-00001/../../x"],
        ["edit", "--", "-c", "--set", "qc.sku=1"],
        ["list", "--sort", f"id; ATTACH DATABASE '{marker}' AS x"],
        ["validate", "/etc/passwd"],
        ["validate", f"{root}/../"],
        ["fmt", "/etc"],
    ]
    for args in attempts:
        result = runner.invoke(main, ["--repo", str(root), *args])
        assert result.exit_code in (1, 2), (args, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    # hostile query text is data: it matches nothing and the table survives
    for query in [
        f"id:--output={marker}",
        "sku:'; DROP TABLE records; --",
        f"\"x' OR 1=1; ATTACH '{marker}' AS y --\"",
    ]:
        result = runner.invoke(main, ["--repo", str(root), "list", "--format", "json", query])
        assert result.exit_code == 0 and result.stdout.strip() == "[]", (query, result.output)
    assert not marker.exists()
    assert git(root, "status", "--porcelain") == ""
    reopened = ExceptionLog(root)
    with pytest.raises(LogError):
        reopened.get(f"--output={marker}")
    reopened.close()
    assert not marker.exists()
    assert os.listdir(tmp_path) == sorted(os.listdir(tmp_path))  # nothing unexpected written next to the log
