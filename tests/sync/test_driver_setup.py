"""The first sync installs the merge driver for good: git config here, `.gitattributes` for every clone.

A log made before the driver existed (no `.gitattributes`), or whose `.gitattributes` lost the
record line, gets the line in one commit of its own (action `merge`), sent with the rest; later
syncs, here or at other stations, add nothing more.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kakotui.core import yamlio
from kakotui.core.commits import log_message
from kakotui.sync.integrate import has_record_driver, with_record_driver
from tests.helpers import git
from tests.sync.conftest import Network

LINE = "records/**/*.yaml merge=kakotui"
SUBJECT = "Merge records field by field: add records/**/*.yaml merge=kakotui to .gitattributes"


def lose_the_line(net: Network, how: str) -> str:
    """Push, as someone working by hand, a `.gitattributes` without the record line; return its text."""
    old = net.tmp / "by-hand"
    subprocess.run(["git", "clone", "-q", str(net.bare), str(old)], check=True, capture_output=True)
    file = old / ".gitattributes"
    if how == "missing":
        git(old, "rm", "-q", ".gitattributes")
        kept = ""
    else:
        kept = "".join(ln for ln in file.read_text().splitlines(True) if "merge=kakotui" not in ln)
        kept += "*.pdf binary\n"
        file.write_text(kept)
        git(old, "add", ".gitattributes")
    git(old, "-c", "user.name=Old Admin", "-c", "user.email=old@sz.example", "commit", "-qm", "older layout")
    git(old, "push", "-q", "origin", "main")
    return kept


def attribute(repo: Path) -> str:
    return git(repo, "check-attr", "merge", "--", "records/2026/SZ1/000/SZ1-2026-00001.yaml").strip()


@pytest.mark.parametrize("how", ["missing", "lost the line"])
def test_first_sync_commits_the_missing_attributes_line_once(file_network: Network, how: str) -> None:
    net = file_network
    kept = lose_the_line(net, how)
    a, b = net.station("a"), net.station("b")
    assert attribute(a.root).endswith("unspecified")
    rid = net.seed_ids[0]
    a.edit(rid, [("qc.sku", "A-SKU")])

    dry = net.sync("a", dry_run=True)
    assert any(f"would add `{LINE}`" in n for n in dry.notes)
    assert attribute(a.root).endswith("unspecified") and git(a.root, "status", "--porcelain") == ""

    summary = net.sync("a")
    assert summary.pushed and summary.sent == [rid] and summary.commits_sent == 2
    assert any(f"added `{LINE}`" in n for n in summary.notes)
    assert git(a.root, "config", "merge.kakotui.driver").strip() == "kakotui merge-driver %O %A %B %P"
    text = net.remote_file(".gitattributes")
    assert text.startswith(kept) and text.endswith(f"{LINE}\n")  # what was there is kept
    assert text.count(LINE) == 1 and text.count("# Records merge field by field") == 1
    assert attribute(a.root).endswith("merge: kakotui") and git(a.root, "status", "--porcelain") == ""
    commit = git(net.bare, "log", "-1", "--format=%H", "main", "--", ".gitattributes").strip()
    message = git(net.bare, "log", "-1", "--format=%an|%B", commit)
    assert message.startswith(f"Li Wei|{SUBJECT}\n") and "Kakotui-Action: merge" in message
    assert "Kakotui-Record" not in message
    assert git(net.bare, "show", "--format=", "--name-only", commit).split() == [".gitattributes"]

    again = net.sync("a")  # idempotent: nothing to add, nothing to send
    assert "already up to date" in again.notes and not any(LINE in n for n in again.notes)
    other = net.sync("b")  # another fresh clone receives the line instead of adding its own
    assert not any(LINE in n for n in other.notes) and attribute(b.root).endswith("merge: kakotui")
    assert git(b.root, "config", "merge.kakotui.driver").strip()
    added = git(net.bare, "log", "--format=%H", f"--grep={SUBJECT}", "--fixed-strings", "main").split()
    assert added == [commit]
    assert git(net.bare, "rev-parse", "main") == git(a.root, "rev-parse", "HEAD")


def test_an_uncommitted_attributes_edit_is_left_alone(file_network: Network) -> None:
    net = file_network
    lose_the_line(net, "missing")
    a = net.station("a")
    (a.root / ".gitattributes").write_text("*.pdf binary\n")  # someone is editing it by hand
    summary = net.sync("a")
    assert any("not committed" in n and LINE in n for n in summary.notes)
    assert (a.root / ".gitattributes").read_text() == "*.pdf binary\n"
    assert git(net.bare, "rev-parse", "main") == git(a.root, "rev-parse", "HEAD")
    (a.root / ".gitattributes").unlink()
    assert any(f"added `{LINE}`" in n for n in net.sync("a").notes)
    assert net.remote_file(".gitattributes").endswith(f"{LINE}\n")


@pytest.mark.parametrize(
    ("text", "has"),
    [
        ("records/**/*.yaml merge=kakotui\n", True),
        ("# records/**/*.yaml merge=kakotui\n", False),
        ("records/**/*.yaml  text   merge=kakotui  \n*.pdf binary\n", True),
        ("records/**/*.yaml merge=kakotui\nrecords/**/*.yaml -merge\n", False),
        ("records/**/*.yaml merge=union merge=kakotui\n", True),
        ("*.yaml merge=kakotui\n", False),  # not the line kakotui writes: it adds its own
        ("", False),
    ],
)
def test_which_attributes_texts_already_send_records_to_the_driver(text: str, has: bool) -> None:
    assert has_record_driver(text) is has
    if not has:
        added = with_record_driver(text.encode() or None).decode()
        assert added.startswith(text) and has_record_driver(added) and added.endswith(f"{LINE}\n")


def test_a_log_commit_has_only_the_action_trailer() -> None:
    assert (
        log_message("merge", "Merge records", body="why\n")
        == "Merge records\n\nwhy\n\nKakotui-Action: merge\n"
    )
    with pytest.raises(ValueError, match="unknown action"):
        log_message("setup", "x")


def test_under_a_policy_only_an_admin_adds_the_line(file_network: Network) -> None:
    """With `roles:` in kakotui.yaml, .gitattributes is admin-only: a non-admin's sync only says so."""
    net = file_network
    old = net.tmp / "by-admin"
    subprocess.run(["git", "clone", "-q", str(net.bare), str(old)], check=True, capture_output=True)
    data = yamlio.load((old / "kakotui.yaml").read_text())
    data["people"] = [
        {"name": "Li Wei", "email": "li.wei@sz.example", "roles": ["inspector"]},
        {"name": "Chen Jing", "email": "chen.jing@sz.example", "roles": ["admin"]},
    ]
    data["roles"] = {"inspector": {"actions": ["create", "edit"], "fields": ["qc"]}, "admin": {"admin": True}}
    (old / "kakotui.yaml").write_text(yamlio.dump(data))
    git(old, "rm", "-q", ".gitattributes")
    git(old, "add", "kakotui.yaml")
    git(old, "-c", "user.name=Chen Jing", "-c", "user.email=chen.jing@sz.example", "commit", "-qm", "roles")
    git(old, "push", "-q", "origin", "main")
    a = net.station("a")
    a.edit(net.seed_ids[0], [("qc.sku", "A-SKU")])

    summary = net.sync("a")  # Li Wei, an inspector
    assert summary.pushed and any("only an admin may change it" in n for n in summary.notes)
    assert not git(net.bare, "ls-tree", "main", ".gitattributes").strip()
    assert any(f"added `{LINE}`" in n for n in net.sync("b").notes)  # Chen Jing, an admin
    assert (
        net.remote_file(".gitattributes")
        == f"# Records merge field by field (kakotui merge-driver), never line by line.\n{LINE}\n"
    )
