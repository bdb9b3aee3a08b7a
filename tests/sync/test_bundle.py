"""Offline sites: a git bundle carried both ways merges like a remote, and nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from kakotui.sync.engine import SyncError
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
