"""The field-by-field record merge (pure): what lands, what is kept as a conflict, what never goes back."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kakotui.core.record import to_text
from kakotui.core.schemas import packaged
from kakotui.core.validation import validate_record
from kakotui.sync.driver import Unmergeable, merge_texts
from kakotui.sync.merge import (
    ResolveError,
    Side,
    keep_conflicts,
    merge_records,
    renumber,
    resolve_conflicts,
    retarget_related,
)
from tests.helpers import config, record
from tests.sync.values import missing_values


def problems(rec: dict[str, Any]) -> list[str]:
    return [str(p) for p in validate_record(rec, packaged(), config())]


def contact(at: str, by: str, summary: str, outcome: str = "pending") -> dict[str, Any]:
    return {"at": at, "by": by, "channel": "chat", "summary": summary, "outcome": outcome}


def reship(ref: str, created: str, amount: str, tracking: str) -> dict[str, Any]:
    return {
        "ref": ref,
        "created_at": created,
        "carrier": "sf-express",
        "tracking": tracking,
        "status": "shipped",
        "shipped_at": created,
        "total": {"amount": amount, "currency": "CNY"},
        "costs": [
            {"type": "freight", "amount": {"amount": amount, "currency": "CNY"}, "responsible": "vendor"}
        ],
    }


def test_different_fields_both_land_and_nothing_conflicts() -> None:
    base = record("decided")
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["qc"]["sku"] = "HX-OURS"
    ours["decision"]["reason"] = "vendor admitted the fault"
    theirs["qc"]["order_id"] = "KB-THEIRS"
    theirs["qc"]["description"] = "Hinge and strap both broken."
    out = merge_records(base, ours, theirs)
    assert out.conflicts == []
    assert out.record["qc"]["sku"] == "HX-OURS" and out.record["qc"]["order_id"] == "KB-THEIRS"
    assert out.record["qc"]["description"] == "Hinge and strap both broken."
    assert out.record["decision"]["reason"] == "vendor admitted the fault"
    assert not missing_values(out.record, ours, theirs, allow=[base["qc"]["sku"], base["qc"]["order_id"],
                                                              base["qc"]["description"]])  # fmt: skip
    assert problems(out.record) == []


def test_same_field_two_values_is_kept_as_a_conflict_with_both_and_resolves_either_way() -> None:
    base = record("open")
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["qc"]["severity"] = "critical"
    theirs["qc"]["severity"] = "minor"
    theirs["qc"]["sku"] = "HX-T"  # a different field still lands
    out = merge_records(base, ours, theirs)
    assert [(c.path, c.ours, c.theirs) for c in out.conflicts] == [("qc.severity", "critical", "minor")]
    kept = keep_conflicts(out.record, out.conflicts, Side("a" * 40, "Li Wei"), Side("b" * 40, "Chen Jing"),
                          "2026-11-25T10:00:00+08:00")  # fmt: skip
    assert kept["qc"]["severity"] == "critical" and kept["qc"]["sku"] == "HX-T"
    assert kept["conflicts"] == [
        {"path": "qc.severity", "ours": "critical", "theirs": "minor", "ours_commit": "a" * 40,
         "ours_author": "Li Wei", "theirs_commit": "b" * 40, "theirs_author": "Chen Jing",
         "merged_at": "2026-11-25T10:00:00+08:00"}
    ]  # fmt: skip
    assert not missing_values(kept, ours, theirs, allow=["HX-2231-BLK"])
    found = problems(kept)
    assert len(found) == 1 and "unresolved conflict" in found[0] and "rule:unresolved-conflict" in found[0]
    assert "qc.severity" in found[0]

    theirs_taken = resolve_conflicts(kept, {"qc.severity": "theirs"})
    assert theirs_taken["qc"]["severity"] == "minor" and "conflicts" not in theirs_taken
    assert problems(theirs_taken) == []
    ours_taken = resolve_conflicts(kept, {"qc.severity": "ours"})
    assert ours_taken["qc"]["severity"] == "critical" and "conflicts" not in ours_taken
    with pytest.raises(ResolveError, match="no unresolved conflict"):
        resolve_conflicts(kept, {"qc.sku": "ours"})
    edited = copy.deepcopy(kept)
    edited["qc"]["severity"] = "major"
    with pytest.raises(ResolveError, match="changed since the merge"):
        resolve_conflicts(edited, {"qc.severity": "theirs"})


def test_append_only_lists_keep_every_entry_of_both_sides_sorted_by_time() -> None:
    base = record("reshipping")
    base["vendor_contacts"] = [contact("2026-11-21T16:00:00+08:00", "Chen Jing", "asked for photos")]
    base["qc"]["evidence"] = [{"kind": "photo", "link": "evidence/base.jpg"}]
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["vendor_contacts"].append(contact("2026-11-22T18:00:00+08:00", "Li Wei", "vendor offers credit"))
    theirs["vendor_contacts"].append(contact("2026-11-22T09:00:00+08:00", "Chen Jing", "second reminder"))
    theirs["vendor_contacts"][0]["outcome"] = "no-response"  # an edit of an existing entry merges too
    ours["qc"]["evidence"].append({"kind": "photo", "link": "https://img.example/ours.jpg"})
    theirs["qc"]["evidence"].append({"kind": "video", "link": "https://img.example/theirs.mp4"})
    ours["reshipments"].append(reship("SZ1-2026-00001-R2", "2026-11-22T10:00:00+08:00", "12.00", "SF-OURS"))
    theirs["reshipments"].append(
        reship("SZ1-2026-00001-R2", "2026-11-22T11:00:00+08:00", "15.00", "SF-THEIRS")
    )
    out = merge_records(base, ours, theirs)
    rec = out.record
    assert out.conflicts == []
    assert [c["summary"] for c in rec["vendor_contacts"]] == [
        "asked for photos", "second reminder", "vendor offers credit"
    ]  # fmt: skip
    assert rec["vendor_contacts"][0]["outcome"] == "no-response"
    assert [e["link"] for e in rec["qc"]["evidence"]] == [
        "evidence/base.jpg", "https://img.example/ours.jpg", "https://img.example/theirs.mp4"
    ]  # fmt: skip
    # Both sites made an R2: the other site's keeps its ref, this site's becomes R3.
    assert [(r["ref"], r["tracking"]) for r in rec["reshipments"]] == [
        ("SZ1-2026-00001-R1", "SF1234567890"), ("SZ1-2026-00001-R2", "SF-THEIRS"), ("SZ1-2026-00001-R3", "SF-OURS")
    ]  # fmt: skip
    assert any("kept as SZ1-2026-00001-R3" in n for n in out.notes)
    assert not missing_values(rec, ours, theirs, allow=["pending"])  # the outcome that was updated
    assert problems(rec) == []


def test_status_never_moves_backwards() -> None:
    base = record("reshipping")
    # A closure on one side wins over the other side's copy without it.
    closed = record("closed")
    stale = copy.deepcopy(base)
    stale["qc"]["description"] = "more detail"
    out = merge_records(base, closed, stale)
    assert out.record["closure"] == closed["closure"] and out.record["qc"]["description"] == "more detail"
    # A closure dropped by hand on one side is not a reopen: the closure stays.
    dropped = copy.deepcopy(closed)
    del dropped["closure"]
    out = merge_records(closed, dropped, closed)
    assert out.record["closure"] == closed["closure"] and out.conflicts == []
    # A reopen (which appends the closure to reopenings) is forward, and a change elsewhere still lands.
    reopened = copy.deepcopy(closed)
    reopened["reopenings"] = [{"at": "2026-11-26T09:00:00+08:00", "by": "Li Wei", "reason": "customer wrote again",
                               "previous_closure": reopened.pop("closure")}]  # fmt: skip
    other = copy.deepcopy(closed)
    other["qc"]["sku"] = "HX-NEW"
    out = merge_records(closed, other, reopened)
    assert "closure" not in out.record and out.record["reopenings"] == reopened["reopenings"]
    assert out.record["qc"]["sku"] == "HX-NEW"
    # A reshipment status takes the further of two changes; a decision is never dropped.
    shipped, delivered = copy.deepcopy(base), copy.deepcopy(base)
    base["reshipments"][0]["status"] = "pending"
    shipped["reshipments"][0]["status"] = "shipped"
    delivered["reshipments"][0].update(status="delivered", delivered_at="2026-11-23T12:00:00+08:00")
    out = merge_records(base, shipped, delivered)
    assert out.record["reshipments"][0]["status"] == "delivered" and out.conflicts == []
    out = merge_records(base, delivered, shipped)
    assert out.record["reshipments"][0]["status"] == "delivered"
    undecided = copy.deepcopy(base)
    del undecided["decision"]
    assert merge_records(base, undecided, base).record["decision"] == base["decision"]


def test_both_sides_adding_a_step_differently_keep_it_whole_as_one_conflict() -> None:
    base = record("awaiting")
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["customer_confirmation"] = {"at": "2026-11-24T09:00:00+08:00", "by": "Li Wei", "channel": "chat",
                                     "outcome": "received-ok"}  # fmt: skip
    theirs["customer_confirmation"] = {"at": "2026-11-24T10:00:00+08:00", "by": "Chen Jing", "channel": "email",
                                       "outcome": "unhappy"}  # fmt: skip
    out = merge_records(base, ours, theirs)
    assert [c.path for c in out.conflicts] == ["customer_confirmation"]
    kept = keep_conflicts(out.record, out.conflicts, Side(), Side(), "2026-11-25T10:00:00+08:00")
    assert kept["customer_confirmation"] == ours["customer_confirmation"]
    assert kept["conflicts"][0]["theirs"] == theirs["customer_confirmation"]
    assert (
        resolve_conflicts(kept, {"customer_confirmation": "theirs"})["customer_confirmation"]["outcome"]
        == "unhappy"
    )


def test_a_conflict_inside_a_list_entry_names_its_final_position() -> None:
    base = record("reshipping")
    base["vendor_contacts"] = [contact("2026-11-22T10:00:00+08:00", "Chen Jing", "asked")]
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["vendor_contacts"].insert(0, contact("2026-11-21T10:00:00+08:00", "Li Wei", "earlier call"))
    ours["vendor_contacts"][1]["outcome"] = "rejected"
    theirs["vendor_contacts"][0]["outcome"] = "no-response"
    out = merge_records(base, ours, theirs)
    assert [(c.path, c.ours, c.theirs) for c in out.conflicts] == [
        ("vendor_contacts.1.outcome", "rejected", "no-response")
    ]
    kept = keep_conflicts(out.record, out.conflicts, Side(), Side(), "2026-11-25T10:00:00+08:00")
    resolved = resolve_conflicts(kept, {"vendor_contacts.1.outcome": "theirs"})
    assert resolved["vendor_contacts"][1]["outcome"] == "no-response"


def test_related_merges_as_a_set_and_conflicts_lists_merge_too() -> None:
    base = record("open")
    base["related"] = ["SZ1-2026-00002", "SZ1-2026-00003"]
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["related"] = ["SZ1-2026-00003", "SZ1-2026-00004"]  # removed 2, added 4
    theirs["related"] = ["SZ1-2026-00002", "SZ1-2026-00003", "SZ1-2026-00005"]
    assert merge_records(base, ours, theirs).record["related"] == ["SZ1-2026-00003", "SZ1-2026-00004",
                                                                   "SZ1-2026-00005"]  # fmt: skip


def test_renumber_keeps_the_old_id_as_an_alias_and_references_follow() -> None:
    rec = record("reshipping", rid="SZ1-2026-00007")
    moved = renumber(rec, "SZ1-2026-00009")
    assert moved["id"] == "SZ1-2026-00009" and moved["aliases"] == ["SZ1-2026-00007"]
    assert moved["reshipments"][0]["ref"] == "SZ1-2026-00007-R1"  # refs may be printed on labels
    assert problems(moved) == []
    other = record("open", rid="SZ1-2026-00008")
    other["related"] = ["SZ1-2026-00007", "SZ1-2026-00001"]
    assert retarget_related(other, "SZ1-2026-00007", "SZ1-2026-00009")["related"] == [  # type: ignore[index]
        "SZ1-2026-00009", "SZ1-2026-00001"
    ]  # fmt: skip
    assert retarget_related(record("open"), "SZ1-2026-00007", "SZ1-2026-00009") is None


def test_merge_texts_writes_canonical_text_and_refuses_unreadable_versions() -> None:
    base = record("open")
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["qc"]["sku"] = "0123"  # a string that YAML 1.1 would read as a number
    theirs["qc"]["quantity"] = 2
    text = [to_text(r, packaged()).encode() for r in (base, ours, theirs)]
    merged = merge_texts(text[0], text[1], text[2], packaged())
    assert b"sku: '0123'" in merged.text and b"quantity: 2" in merged.text
    assert merged.text == to_text(merged.record, packaged()).encode()
    with pytest.raises(Unmergeable, match="not valid YAML"):
        merge_texts(text[0], text[1], b"qc: [unclosed", packaged())
    with pytest.raises(Unmergeable, match="deleted"):
        merge_texts(text[0], b"", text[2], packaged())
