"""Three stations and a shared remote: concurrent edits merge, conflicts are kept, ids never collide.

Each test checks the final files at every station and on the remote, the history, and that no
value either side wrote is missing.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kakotui.core import yamlio
from kakotui.core.lifecycle import CostLine
from kakotui.core.money import Money
from kakotui.log import ExceptionLog
from tests.helpers import git
from tests.sync.conftest import Network, new_qc
from tests.sync.values import missing_values


def read(log: ExceptionLog, rid: str) -> dict[str, Any]:
    loaded = log.get(rid)
    assert loaded.record is not None, loaded.problems
    return loaded.record


def settle(net: Network, *names: str) -> None:
    """Sync every station in turn, twice, so that all have everything."""
    for _ in range(2):
        for name in names:
            net.sync(name)


def assert_converged(net: Network, *names: str) -> None:
    remote_head = git(net.bare, "rev-parse", "main").strip()
    for name in names:
        log = net.logs[name]
        assert git(log.root, "rev-parse", "HEAD").strip() == remote_head, name
        assert git(log.root, "status", "--porcelain") == "", name
        assert not (log.git.git_dir / "kakotui" / "sync-journal.json").exists()


def errors(log: ExceptionLog) -> list[str]:
    _count, problems = log.validate()
    return [str(p) for p in problems if p.severity == "error"]


def cost(amount: str) -> list[CostLine]:
    return [CostLine("freight", Money.parse(f"{amount} CNY"), "vendor")]


def test_edits_of_different_fields_at_three_stations_all_land(network: Network) -> None:
    a, b, c = network.station("a"), network.station("b"), network.station("c")
    rid = network.seed_ids[0]
    a.edit(rid, [("qc.sku", "HX-A")])
    b.edit(rid, [("qc.order_id", "KB-B")])
    b.decide(rid, "refund", reason="vendor out of stock", at="2026-11-21T10:00:00+08:00")
    c.edit(rid, [("qc.description", "Strap torn as well.")])
    before = {n: read(network.logs[n], rid) for n in "abc"}

    first = network.sync("a")
    assert first.sent == [rid] and first.received == [] and first.pushed
    second = network.sync("b")
    assert second.merged == [rid] and second.conflicts == [] and second.received == [rid]
    settle(network, "c", "a", "b")

    assert_converged(network, "a", "b", "c")
    final = read(a, rid)
    assert final["qc"]["sku"] == "HX-A" and final["qc"]["order_id"] == "KB-B"
    assert final["qc"]["description"] == "Strap torn as well."
    assert final["decision"]["action"] == "refund" and "conflicts" not in final
    assert not missing_values(
        final, *before.values(), allow=["HX-1", "KB-118833", "Clasp hinge snapped on opening."]
    )
    assert yamlio.load(network.remote_file(a.get(rid).path)) == final
    assert errors(a) == []
    # History: every person's commit is there, by its author; merges are marked as such.
    authors = network.remote_log("--format=%an %s").splitlines()
    assert any(line.startswith("Li Wei ") and "edit qc.sku" in line for line in authors)
    assert any(line.startswith("Chen Jing ") and "decide refund" in line for line in authors)
    assert any(line.startswith("Wang Fang ") and "edit qc.description" in line for line in authors)
    merges = network.remote_log("--merges", "--format=%B").split("Kakotui-Action: merge")
    assert len(merges) - 1 >= 2
    assert git(a.root, "config", "merge.kakotui.driver").strip() == "kakotui merge-driver %O %A %B %P"
    # The index follows: the list shows the merged values without a rebuild.
    assert a.records(f"sku:HX-A")[0]["id"] == rid  # noqa: F541


def test_same_field_two_values_is_kept_then_resolved_with_one_commit(network: Network) -> None:
    a, b = network.station("a"), network.station("b")
    rid = network.seed_ids[1]
    a.edit(rid, [("qc.sku", "HX-AAA")])
    b.edit(rid, [("qc.sku", "HX-BBB")])
    network.sync("a")
    merged = network.sync("b")

    assert [(c.id, c.field, c.ours, c.theirs) for c in merged.conflicts] == [
        (rid, "qc.sku", "HX-BBB", "HX-AAA")
    ]
    assert merged.conflicts[0].theirs_author == "Li Wei" and merged.conflicts[0].ours_author == "Chen Jing"
    kept = read(b, rid)
    assert kept["qc"]["sku"] == "HX-BBB" and kept["conflicts"][0]["theirs"] == "HX-AAA"
    assert len(kept["conflicts"][0]["theirs_commit"]) == 40
    assert any("unresolved conflict" in e and "qc.sku" in e for e in errors(b))
    # The record stays readable and listed, flagged; an ordinary save is refused until resolved.
    assert b.get(rid).record is not None and not b.get(rid).valid
    received = network.sync("a")
    assert [c.field for c in received.conflicts] == ["qc.sku"]
    assert [n.field for n in a.conflicts()] == ["qc.sku"] and [n.id for n in a.conflicts()] == [rid]

    result = a.resolve(rid, {"qc.sku": "theirs"})  # at a, "theirs" is a's own value: b merged
    assert result.action == "merge"
    settle(network, "a", "b")
    assert_converged(network, "a", "b")
    final = read(b, rid)
    assert final["qc"]["sku"] == "HX-AAA" and "conflicts" not in final
    assert errors(b) == [] and b.conflicts() == []
    body = git(a.root, "log", "-1", "--format=%an%n%B", result.commit)
    assert body.startswith("Li Wei\n") and "resolve qc.sku" in body and "Kakotui-Action: merge" in body
    assert 'qc.sku: took theirs "HX-AAA"' in body
    # Until the resolution both values were in the log's history; now the chosen one is current.
    assert "HX-BBB" in git(network.bare, "log", "-p", "main", "--", a.get(rid).path)


def test_append_only_lists_keep_both_sides_entries(network: Network) -> None:
    net = network
    a, b = net.station("a"), net.station("b")
    rid = net.seed_ids[0]
    a.decide(rid, "reship", at="2026-11-20T11:00:00+08:00")
    settle(net, "a", "b")
    a.reship(rid, costs=cost("20.00"), at="2026-11-21T09:00:00+08:00", tracking="SF-A", carrier="sf-express")
    a.contact_vendor(rid, channel="chat", summary="vendor agrees to pay freight", outcome="pending",
                     at="2026-11-21T12:00:00+08:00")  # fmt: skip
    b.reship(rid, costs=cost("35.50"), at="2026-11-21T10:00:00+08:00", tracking="SF-B", carrier="sf-express")
    b.contact_vendor(rid, channel="email", summary="sent photos to vendor", outcome="pending",
                     at="2026-11-21T11:00:00+08:00")  # fmt: skip
    loaded = b.get(rid)
    rec = copy.deepcopy(loaded.record)
    assert rec is not None
    rec["qc"]["evidence"] = [{"kind": "photo", "link": "https://img.example/b.jpg"}]
    b.replace(rec, expected_blob=loaded.blob)
    before_a, before_b = read(a, rid), read(b, rid)

    net.sync("a")
    summary = net.sync("b")
    assert summary.conflicts == [] and summary.merged == [rid]
    settle(net, "a", "b")
    assert_converged(net, "a", "b")
    final = read(a, rid)
    assert [(r["ref"], r["tracking"]) for r in final["reshipments"]] == [
        (f"{rid}-R1", "SF-A"),
        (f"{rid}-R2", "SF-B"),
    ]
    assert [c["summary"] for c in final["vendor_contacts"]] == [
        "sent photos to vendor",
        "vendor agrees to pay freight",
    ]
    assert final["qc"]["evidence"] == [{"kind": "photo", "link": "https://img.example/b.jpg"}]
    assert not missing_values(final, before_a, before_b, allow=[f"{rid}-R1"])
    assert errors(a) == []
    assert any(f"{rid}-R2" in n for n in summary.notes)
    # History: both people's saves are on the remote, by their authors, joined by a merge.
    trail = net.remote_log("--format=%an|%s", "main").splitlines()
    for who in ("Li Wei", "Chen Jing"):
        assert (
            f"{who}|{rid}: reship via SF Express, {'20.00' if who == 'Li Wei' else '35.50'} CNY to vendor"
            in trail
        )
        assert f"{who}|{rid}: vendor contact, pending" in trail
    assert net.remote_log("--merges", "--format=%B", "main").count("Kakotui-Action: merge") >= 1


def test_id_collision_renumbers_the_unpublished_local_record(network: Network) -> None:
    net = network
    a, c = net.station("a"), net.station("c")  # both write as station SZ1
    mine = a.new(new_qc(sku="A-NEW")).id
    theirs = c.new(new_qc(sku="C-NEW")).id
    assert mine == theirs == "SZ1-2026-00003"
    follow = c.new(new_qc(sku="C-FOLLOW-UP")).id
    loaded = c.get(follow)
    rec = copy.deepcopy(loaded.record)
    assert rec is not None
    rec["related"] = [theirs]
    c.replace(rec, expected_blob=loaded.blob)
    published = a.get(mine)

    net.sync("a")
    summary = net.sync("c")

    assert [(r.old_id, r.new_id) for r in summary.renumbered] == [("SZ1-2026-00003", "SZ1-2026-00005")]
    settle(net, "a", "c")
    assert_converged(net, "a", "c")
    # The published record is untouched, byte for byte.
    assert a.get(mine).blob == published.blob and read(a, mine)["qc"]["sku"] == "A-NEW"
    moved = read(a, "SZ1-2026-00005")
    assert moved["qc"]["sku"] == "C-NEW" and moved["aliases"] == ["SZ1-2026-00003"]
    assert read(a, follow)["related"] == ["SZ1-2026-00005"]
    assert errors(a) == []
    renumbers = git(net.bare, "log", "--format=%an|%s|%B", "--grep=Kakotui-Action: renumber", "main")
    assert renumbers.count("Kakotui-Action: renumber") == 1
    assert renumbers.startswith("Wang Fang|SZ1-2026-00005: renumber from SZ1-2026-00003")
    assert c.next_id() == "SZ1-2026-00006"
    skus = {r["sku"] for r in a.records()}
    assert {"A-NEW", "C-NEW", "C-FOLLOW-UP", "HX-1", "HX-2"} <= skus


def test_invalid_incoming_records_are_listed_and_never_block_the_rest(network: Network) -> None:
    a, b = network.station("a"), network.station("b")
    good = b.new(new_qc(sku="B-GOOD")).id
    bad_vendor = copy.deepcopy(read(b, good))
    bad_vendor["id"] = "SZ2-2026-00002"
    bad_vendor["qc"]["vendor"] = "nobody-knows"
    hand = {
        "records/2026/SZ2/000/SZ2-2026-00002.yaml": yamlio.dump(bad_vendor),
        "records/2026/SZ2/000/SZ2-2026-00003.yaml": "id: [unclosed\n",
    }
    for rel, text in hand.items():
        (b.root / rel).write_text(text)
    git(b.root, "add", "records")
    git(b.root, "commit", "-qm", "pushed by hand, without kakotui")
    git(b.root, "push", "-q", str(network.bare), "main")
    a.edit(network.seed_ids[0], [("qc.sku", "A-LOCAL")])

    summary = network.sync("a")

    assert {i.id for i in summary.invalid} == {"SZ2-2026-00002", "SZ2-2026-00003"}
    by_id = {i.id: i for i in summary.invalid}
    assert any(p.rule == "rule:vendor-known" for p in by_id["SZ2-2026-00002"].problems)
    assert any(p.rule == "yaml" for p in by_id["SZ2-2026-00003"].problems)
    assert good in summary.received and summary.pushed and summary.sent == [network.seed_ids[0]]
    assert_converged(network, "a")
    assert read(a, good)["qc"]["sku"] == "B-GOOD"
    rows = {r["id"]: r for r in a.records()}
    assert rows["SZ2-2026-00002"]["valid"] == 0 and rows[good]["valid"] == 1
    assert "SZ2-2026-00003" in rows and rows["SZ2-2026-00003"]["valid"] == 0
    assert (a.root / "records/2026/SZ2/000/SZ2-2026-00003.yaml").read_text() == "id: [unclosed\n"
    # History: the hand-made commit and a's save are both on the remote, unchanged.
    trail = network.remote_log("--format=%an|%s", "main").splitlines()
    assert "Chen Jing|pushed by hand, without kakotui" in trail
    assert any(line.startswith("Li Wei|") and "edit qc.sku" in line for line in trail)
    assert network.remote_file("records/2026/SZ2/000/SZ2-2026-00003.yaml") == "id: [unclosed\n"


def test_dry_run_says_what_would_happen_and_changes_nothing(file_network: Network) -> None:
    net = file_network
    a, b = net.station("a"), net.station("b")
    rid = net.seed_ids[0]
    b.edit(rid, [("qc.severity", "minor")])
    net.sync("b")
    a.edit(rid, [("qc.severity", "critical")])
    a.edit(net.seed_ids[1], [("qc.sku", "A-2")])
    refs_before = git(a.root, "for-each-ref")
    remote_before = git(net.bare, "for-each-ref")
    files_before = {p: p.read_bytes() for p in (a.root / "records").rglob("*.yaml")}

    summary = net.sync("a", dry_run=True)

    assert summary.dry_run and summary.received == [rid] and summary.merged == [rid]
    assert [(c.field, c.ours, c.theirs) for c in summary.conflicts] == [("qc.severity", "critical", "minor")]
    assert summary.sent == sorted(net.seed_ids) and not summary.pushed
    assert git(a.root, "for-each-ref") == refs_before and git(net.bare, "for-each-ref") == remote_before
    assert {p: p.read_bytes() for p in (a.root / "records").rglob("*.yaml")} == files_before
    assert git(a.root, "status", "--porcelain") == ""
    assert json.loads(json.dumps(summary.to_dict(), default=str))["dry_run"] is True
