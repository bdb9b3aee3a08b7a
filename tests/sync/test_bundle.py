"""Offline sites: a git bundle carried both ways merges like a remote, and nothing is lost."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest

from kakotui.core import yamlio
from kakotui.log import ExceptionLog
from kakotui.sync.engine import SyncError, SyncSummary
from tests.helpers import git
from tests.sync.conftest import Network, new_qc


def test_bundle_round_trip_between_an_offline_site_and_a_connected_one(
    file_network: Network, tmp_path: Path
) -> None:
    net = file_network
    a, b = net.station("a"), net.station("b")  # b is the offline site: it never reaches the remote again
    one, two = net.seed_ids
    a.edit(one, [("qc.sku", "A-ONLINE")])
    net.sync("a")
    b.edit(one, [("qc.order_id", "KB-OFFLINE")])
    made_offline = b.new(new_qc(sku="B-OFFLINE")).id
    b_commits = git(b.root, "rev-list", "HEAD").split()

    stick = tmp_path / "usb" / "to-offline.bundle"
    out = a.sync(to_bundle=stick)
    assert stick.is_file() and out.commits_sent >= 4 and one in out.sent
    received = b.sync(from_bundle=stick)
    assert received.received == [one] and received.merged == [one] and not received.pushed
    assert any("--to-bundle" in n for n in received.notes)

    back = tmp_path / "usb" / "to-connected.bundle"
    b.sync(to_bundle=back)
    merged_back = a.sync(from_bundle=back)
    assert sorted(merged_back.received) == sorted([one, made_offline])
    assert git(a.root, "rev-parse", "HEAD") == git(b.root, "rev-parse", "HEAD")  # a fast-forward
    net.sync("a")  # the connected site forwards the offline site's work to everyone

    for log in (a, b):
        rec = log.get(one).record
        assert rec is not None and rec["qc"]["sku"] == "A-ONLINE" and rec["qc"]["order_id"] == "KB-OFFLINE"
        assert log.get(made_offline).record is not None and log.get(two).record is not None
        assert git(log.root, "status", "--porcelain") == ""
    for commit in b_commits:
        assert git(net.bare, "merge-base", "--is-ancestor", commit, "main") == ""
    assert "Chen Jing" in net.remote_log("--format=%an")


def test_a_bundle_that_does_not_fit_is_refused_clearly(file_network: Network, tmp_path: Path) -> None:
    a = file_network.station("a")
    with pytest.raises(SyncError, match="no bundle file"):
        a.sync(from_bundle=tmp_path / "missing.bundle")
    junk = tmp_path / "junk.bundle"
    junk.write_text("not a bundle\n")
    with pytest.raises(SyncError, match="cannot use the bundle"):
        a.sync(from_bundle=junk)


def tree(log: ExceptionLog) -> str:
    return git(log.root, "rev-parse", "HEAD^{tree}").strip()


def by_sku(log: ExceptionLog) -> dict[str, list[str]]:
    """sku -> ids of the records holding it, read from the files (not the index)."""
    out: dict[str, list[str]] = {}
    for file in sorted((log.root / "records").rglob("*.yaml")):
        rec = yamlio.load(file.read_text())
        assert file.name == f"{rec['id']}.yaml"
        out.setdefault(rec["qc"]["sku"], []).append(rec["id"])
    return out


def exchange(a: ExceptionLog, c: ExceptionLog, usb: Path) -> tuple[SyncSummary, SyncSummary]:
    """Both sites write a bundle, then both import the other's (crosswise)."""
    usb.mkdir(parents=True, exist_ok=True)
    a.sync(to_bundle=usb / "from-a.bundle")
    c.sync(to_bundle=usb / "from-c.bundle")
    return a.sync(from_bundle=usb / "from-c.bundle"), c.sync(from_bundle=usb / "from-a.bundle")


def test_crosswise_bundles_renumber_a_colliding_record_once_and_the_same_way(
    file_network: Network, tmp_path: Path
) -> None:
    net = file_network
    a, c = net.station("a"), net.station("c")  # both write as station SZ1, both offline
    mine = a.new(new_qc(sku="A-NEW")).id
    time.sleep(1.1)  # commit times count in seconds: c's copy is the one created later
    theirs = c.new(new_qc(sku="C-NEW")).id
    assert mine == theirs == "SZ1-2026-00003"
    follow = c.new(new_qc(sku="C-FOLLOW-UP")).id
    loaded = c.get(follow)
    rec = copy.deepcopy(loaded.record)
    assert rec is not None
    rec["related"] = [theirs]
    c.replace(rec, expected_blob=loaded.blob)

    at_a, at_c = exchange(a, c, tmp_path / "usb1")

    assert tree(a) == tree(c)  # the same files at both sites after both imports
    skus = by_sku(a)
    assert skus == by_sku(c)
    ids = [i for v in skus.values() for i in v]
    assert len(ids) == len(set(ids)) and all(len(v) == 1 for v in skus.values())
    # Exactly one of the two colliding records moved: the one created later, to the next free id.
    assert skus["A-NEW"] == [mine] and skus["C-NEW"] == ["SZ1-2026-00005"] and skus["C-FOLLOW-UP"] == [follow]
    for log in (a, c):
        assert (log.get("SZ1-2026-00005").record or {})["aliases"] == ["SZ1-2026-00003"]
        assert "aliases" not in (log.get(mine).record or {})
        assert (log.get(follow).record or {})["related"] == ["SZ1-2026-00005"]  # it meant c's record
        assert errors(log) == []
    assert [(r.old_id, r.new_id, r.here) for r in at_c.renumbered] == [(theirs, "SZ1-2026-00005", True)]
    assert [(r.old_id, r.new_id, r.here) for r in at_a.renumbered] == [(theirs, "SZ1-2026-00005", False)]
    assert "the other site's copy" in "\n".join(at_a.lines())

    # Later exchanges and the shared remote change nothing more: no second renumbering.
    again = exchange(a, c, tmp_path / "usb2")
    assert not again[0].renumbered and not again[1].renumbered and tree(a) == tree(c)
    for name in ("a", "c", "a"):
        assert not net.sync(name).renumbered
    assert git(a.root, "rev-parse", "HEAD") == git(c.root, "rev-parse", "HEAD")
    assert by_sku(a) == skus and git(a.root, "status", "--porcelain") == ""
    # History follows the move back to c's own record, never to a's record under the same old id.
    for log in (a, c):
        story = [(e.author, e.action) for e in log.history("SZ1-2026-00005")]
        assert story[0] == ("Wang Fang", "create") and ("Li Wei", "create") not in story
        moves = [e.subject for e in log.history("SZ1-2026-00005") if e.action == "renumber"]
        assert moves and set(moves) == {"SZ1-2026-00005: renumber from SZ1-2026-00003"}


def errors(log: ExceptionLog) -> list[str]:
    _count, problems = log.validate()
    return [str(p) for p in problems if p.severity == "error"]


def test_a_record_already_sent_to_the_remote_never_moves_even_if_created_later(
    file_network: Network, tmp_path: Path
) -> None:
    net = file_network
    a, c = net.station("a"), net.station("c")
    first = c.new(new_qc(sku="C-FIRST")).id  # created first, at a site that stays offline
    time.sleep(1.1)
    sent = a.new(new_qc(sku="A-SENT")).id
    assert first == sent == "SZ1-2026-00003"
    net.sync("a")  # a's copy is published: everyone syncing with the remote may have it
    published = git(net.bare, "rev-parse", f"main:{a.get(sent).path}").strip()

    at_a, at_c = exchange(a, c, tmp_path / "usb")

    assert tree(a) == tree(c)
    assert by_sku(a) == by_sku(c) == {"HX-1": net.seed_ids[:1], "HX-2": net.seed_ids[1:],
                                      "A-SENT": [sent], "C-FIRST": ["SZ1-2026-00004"]}  # fmt: skip
    assert [(r.old_id, r.new_id, r.here) for r in at_c.renumbered] == [(first, "SZ1-2026-00004", True)]
    assert [(r.old_id, r.new_id, r.here) for r in at_a.renumbered] == [(first, "SZ1-2026-00004", False)]
    for name in ("c", "a", "c"):
        assert not net.sync(name).renumbered
    assert git(net.bare, "rev-parse", f"main:{a.get(sent).path}").strip() == published  # never touched
    assert (
        git(a.root, "rev-parse", "HEAD")
        == git(c.root, "rev-parse", "HEAD")
        == git(net.bare, "rev-parse", "main")
    )


def test_crosswise_bundles_with_saves_in_between_lose_nothing_and_point_at_a_double(
    file_network: Network, tmp_path: Path
) -> None:
    """The limit of deciding apart: c saved another record after writing its bundle, so c gives its
    colliding copy a later id than a gave it. Nothing is lost, no id is used twice, both sites end
    alike, and the sync names the two copies for a person to keep one."""
    net = file_network
    a, c = net.station("a"), net.station("c")
    a.new(new_qc(sku="A-NEW"))
    time.sleep(1.1)
    c.new(new_qc(sku="C-NEW"))
    usb = tmp_path / "usb1"
    usb.mkdir()
    a.sync(to_bundle=usb / "from-a.bundle")
    c.sync(to_bundle=usb / "from-c.bundle")
    c.new(new_qc(sku="C-MORE"))  # saved after writing its bundle, before reading a's
    a.sync(from_bundle=usb / "from-c.bundle")
    c.sync(from_bundle=usb / "from-a.bundle")

    at_a, at_c = exchange(a, c, tmp_path / "usb2")

    assert tree(a) == tree(c)
    skus = by_sku(a)
    ids = [i for v in skus.values() for i in v]
    assert len(ids) == len(set(ids))  # no id used twice
    assert skus["A-NEW"] == ["SZ1-2026-00003"] and len(skus["C-MORE"]) == 1
    double = skus["C-NEW"]  # the double the note points at (which ids depends on who saved first)
    assert len(double) == 2 and all("SZ1-2026-00003" in (a.get(r).record or {})["aliases"] for r in double)
    note = f"{', '.join(double)} were all SZ1-2026-00003 once"
    assert any(n.startswith(note) for n in at_a.notes + at_c.notes)
