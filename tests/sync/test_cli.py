"""The command line: `kakotui sync`, `conflicts`, `resolve`, and `merge-driver` run by a plain `git pull`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from kakotui.cli import main
from kakotui.core import yamlio
from tests.helpers import git
from tests.sync.conftest import Network


def run(repo: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--repo", str(repo), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_sync_conflicts_resolve_and_validate_from_the_command_line(
    file_network: Network, tmp_path: Path
) -> None:
    net = file_network
    a, b = net.station("a"), net.station("b")
    rid = net.seed_ids[0]
    a.edit(rid, [("qc.severity", "critical")])
    b.edit(rid, [("qc.severity", "minor")])
    code, out, _ = run(a.root, "sync")
    assert code == 0 and "sent:     1 record(s)" in out

    code, out, _ = run(b.root, "sync", "--format", "json")
    summary = json.loads(out)
    assert code == 0 and summary["merged"] == [rid] and summary["pushed"] is True
    assert (
        summary["conflicts"][0]["field"] == "qc.severity" and summary["conflicts"][0]["theirs"] == "critical"
    )

    code, out, err = run(b.root, "validate")
    assert code == 1 and "unresolved conflict" in err and "qc.severity" in err
    code, out, _ = run(b.root, "conflicts")
    assert code == 0 and rid in out and '"minor"' in out and '"critical"' in out
    code, out, _ = run(b.root, "conflicts", rid, "--format", "json")
    assert json.loads(out)[0]["theirs_author"] == "Li Wei"

    code, out, _ = run(b.root, "resolve", rid, "--take", "theirs", "qc.severity")
    assert code == 0 and "saved (merge" in out
    code, _, _ = run(b.root, "validate")
    assert code == 0
    assert yamlio.load((b.root / b.get(rid).path).read_text())["qc"]["severity"] == "critical"
    code, _, err = run(b.root, "resolve", rid, "--take", "ours")
    assert code == 1 and "no unresolved conflicts" in err

    marker = tmp_path / "MARKER"
    code, _, err = run(b.root, "sync", "--remote", f"ext::sh -c touch% {marker}")
    assert code == 1 and "refused remote" in err and "ext::" in err and not marker.exists()

    code, out, _ = run(b.root, "sync", "--dry-run")
    assert code == 0 and out.startswith("dry run: sync with origin")


def test_a_plain_git_pull_merges_records_with_the_driver_sync_installed(file_network: Network) -> None:
    net = file_network
    a, b = net.station("a"), net.station("b")
    rid = net.seed_ids[0]
    before = subprocess.run(["git", "-C", str(b.root), "config", "merge.kakotui.driver"], capture_output=True)
    assert before.returncode == 1  # a fresh clone knows no driver
    net.sync("b")  # the first sync installs it
    assert git(b.root, "config", "merge.kakotui.driver").strip() == "kakotui merge-driver %O %A %B %P"

    a.edit(rid, [("qc.sku", "A-SKU")])
    a.edit(rid, [("qc.severity", "critical")])
    net.sync("a")
    b.edit(rid, [("qc.order_id", "KB-B")])
    b.edit(rid, [("qc.severity", "minor")])
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    pulled = subprocess.run(
        ["git", "-C", str(b.root), "pull", "-q", "--no-rebase", "--no-edit", "origin", "main"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert pulled.returncode == 0, pulled.stderr
    record = yamlio.load((b.root / b.get(rid).path).read_text())
    assert record["qc"]["sku"] == "A-SKU" and record["qc"]["order_id"] == "KB-B"
    assert record["qc"]["severity"] == "minor"
    assert [(c["path"], c["ours"], c["theirs"]) for c in record["conflicts"]] == [
        ("qc.severity", "minor", "critical")
    ]
    assert git(b.root, "status", "--porcelain") == ""
    assert len(git(b.root, "log", "--merges", "--format=%H").split()) == 1


def test_bundles_from_the_command_line(file_network: Network, tmp_path: Path) -> None:
    net = file_network
    a, b = net.station("a"), net.station("b")
    rid = net.seed_ids[0]
    a.edit(rid, [("qc.sku", "A-USB")])
    stick = tmp_path / "usb" / "a.bundle"

    code, out, _ = run(a.root, "sync", "--to-bundle", str(stick), "--dry-run")
    assert code == 0 and out.startswith("dry run: ") and "nothing was written" in out and not stick.exists()
    code, out, _ = run(a.root, "sync", "--to-bundle", str(stick))
    assert code == 0 and stick.is_file() and "--from-bundle" in out

    code, out, _ = run(b.root, "sync", "--from-bundle", str(stick), "--dry-run")
    assert code == 0 and out.startswith("dry run: ") and git(b.root, "status", "--porcelain") == ""
    assert yamlio.load((b.root / b.get(rid).path).read_text())["qc"]["sku"] == "HX-1"
    code, out, _ = run(b.root, "sync", "--from-bundle", str(stick), "--format", "json")
    assert code == 0 and json.loads(out)["received"] == [rid]
    assert yamlio.load((b.root / b.get(rid).path).read_text())["qc"]["sku"] == "A-USB"

    code, _, err = run(b.root, "sync", "--from-bundle", str(stick), "--to-bundle", str(tmp_path / "x"))
    assert code == 1 and "not both" in err
    code, _, err = run(b.root, "sync", "--from-bundle", str(tmp_path / "missing.bundle"))
    assert code == 1 and "no bundle file" in err
