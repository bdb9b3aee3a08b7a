"""Field-level changes and the append-only rules (kakotui.core.diff): pure, exact outputs."""

from __future__ import annotations

import copy
from typing import Any

from kakotui.core.diff import (
    Change,
    RecordChange,
    append_only_violations,
    describe,
    field_changes,
    format_value,
    leaves,
    markdown_report,
)
from tests.helpers import record


def lines(old: Any, new: Any) -> list[str]:
    return [describe(c) for c in field_changes(old, new)]


def test_leaves_keep_money_and_empty_lists_whole() -> None:
    rec = record("reshipping")
    rec["qc"]["evidence"] = []
    flat = leaves(rec)
    assert flat["reshipments.0.total"] == {"amount": "38.50", "currency": "CNY"}
    assert flat["reshipments.0.costs.1.responsible"] == "warehouse"
    assert flat["qc.evidence"] == []
    assert "reshipments.0.total.amount" not in flat


def test_changes_of_a_lifecycle_step() -> None:
    assert lines(record("reshipping"), record("awaiting")) == [
        "~ reshipments.0.status: shipped -> delivered",
        "+ reshipments.0.delivered_at: 2026-11-23T12:00:00+08:00",
    ]


def test_new_and_deleted_records_list_every_leaf() -> None:
    added = field_changes(None, {"id": "SZ1-2026-00001", "qc": {"sku": "0123", "evidence": []}})
    assert added == [
        Change("id", None, "SZ1-2026-00001", "added"),
        Change("qc.sku", None, "0123", "added"),
        Change("qc.evidence", None, [], "added"),
    ]
    assert [c.kind for c in field_changes(record(), None)] == ["removed"] * len(leaves(record()))


def test_money_changes_as_one_value() -> None:
    old = record("reshipping")
    new = copy.deepcopy(old)
    new["reshipments"][0]["total"] = {"amount": "40.00", "currency": "CNY"}
    new["reshipments"][0]["costs"][1]["amount"]["amount"] = "10.00"
    assert lines(old, new) == [
        "~ reshipments.0.total: 38.50 CNY -> 40.00 CNY",
        "~ reshipments.0.costs.1.amount: 8.50 CNY -> 10.00 CNY",
    ]


def test_reshipments_are_matched_by_ref_not_position() -> None:
    old = record("reshipping")
    second = copy.deepcopy(old["reshipments"][0]) | {"ref": "SZ1-2026-00001-R2", "tracking": "SF2"}
    third = copy.deepcopy(old["reshipments"][0]) | {"ref": "SZ1-2026-00001-R3", "tracking": "SF3"}
    old["reshipments"] += [second, third]
    new = copy.deepcopy(old)
    del new["reshipments"][1]  # R2 removed: one removal, R3 did not change
    changes = field_changes(old, new)
    assert {c.kind for c in changes} == {"removed"}
    assert {c.path.split(".")[1] for c in changes} == {"1"}
    assert Change("reshipments.1.tracking", "SF2", None, "removed") in changes
    # Other lists go by position: the same removal from vendor contacts shifts what follows.
    contacts = [{"at": "a", "summary": "one"}, {"at": "b", "summary": "two"}]
    assert lines({"vendor_contacts": contacts}, {"vendor_contacts": contacts[1:]}) == [
        "~ vendor_contacts.0.at: a -> b",
        "~ vendor_contacts.0.summary: one -> two",
        "- vendor_contacts.1.at: b",
        "- vendor_contacts.1.summary: two",
    ]


def test_renumbered_refs_fall_back_to_position() -> None:
    old = record("reshipping")
    new = {"schema_version": 1, "id": "SZ2-2026-00001", "aliases": ["SZ1-2026-00001"]}
    new |= {k: copy.deepcopy(v) for k, v in old.items() if k not in new}
    new["reshipments"][0]["ref"] = "SZ2-2026-00001-R1"
    assert lines(old, new) == [
        "~ id: SZ1-2026-00001 -> SZ2-2026-00001",
        "+ aliases.0: SZ1-2026-00001",
        "~ reshipments.0.ref: SZ1-2026-00001-R1 -> SZ2-2026-00001-R1",
    ]


def test_values_are_shown_inert() -> None:
    assert format_value("\x1b[2Jboom\nline") == "\\x1b[2Jboom⏎line"
    assert format_value(None) == "(none)"
    assert format_value(True) == "true"
    assert format_value("x" * 100, 10) == "xxxxxxxxx…"


def test_markdown_is_inert_and_tabular() -> None:
    rc = RecordChange(
        "SZ1-2026-00001",
        "records/2026/SZ1/000/SZ1-2026-00001.yaml",
        "changed",
        [Change("qc.description", "a | b", "@team `x` <b>hi</b>", "changed")],
    )
    text = markdown_report([rc], base="origin/main", target="HEAD")
    assert text == (
        "### kakotui: record changes\n\n"
        "`origin/main` → `HEAD`: 1 changed.\n\n"
        "#### `SZ1-2026-00001`: changed\n\n"
        "| field | before | after |\n"
        "|---|---|---|\n"
        "| `qc.description` | `a \\| b` | ``@team `x` <b>hi</b>`` |\n"
    )


# ---------------------------------------------------------------- append-only


def rules(old: Any, new: Any) -> list[tuple[str, str]]:
    return [(p.field, p.rule) for p in append_only_violations(old, new, path="r.yaml")]


def test_growing_a_record_breaks_nothing() -> None:
    assert rules(record("open"), record("decided")) == []
    assert rules(record("reshipping"), record("closed")) == []
    assert rules(None, record()) == []


def test_vendor_contact_removed_or_rewritten() -> None:
    old = record("closed")
    gone = copy.deepcopy(old)
    gone["vendor_contacts"] = []
    [problem] = append_only_violations(old, gone, path="r.yaml")
    assert (problem.file, problem.field, problem.rule) == (
        "r.yaml",
        "vendor_contacts.0",
        "append-only:vendor-contacts",
    )
    assert problem.message == (
        "vendor contact 1 (2026-11-22T10:00:00+08:00, chat, Vendor agreed to credit the freight.) was "
        "removed; vendor communication is append-only: log a new contact that corrects it"
    )
    rewritten = copy.deepcopy(old)
    rewritten["vendor_contacts"][0]["outcome"] = "refund"
    [problem] = append_only_violations(old, rewritten)
    assert "was rewritten (~ outcome: credit -> refund)" in problem.message
    appended = copy.deepcopy(old)
    appended["vendor_contacts"].append(dict(old["vendor_contacts"][0], at="2026-11-25T10:00:00+08:00"))
    assert rules(old, appended) == []


def test_closed_costs_change_only_through_a_reopen() -> None:
    old = record("closed")
    changed = copy.deepcopy(old)
    changed["reshipments"][0]["total"]["amount"] = "40.00"
    changed["reshipments"][0]["costs"][0]["amount"]["amount"] = "31.50"
    [problem] = append_only_violations(old, changed)
    assert (problem.field, problem.rule) == ("reshipments.0.total", "append-only:closed-costs")
    assert problem.message.startswith(
        "the record is closed (resolved, 2026-11-24T10:00:00+08:00): its costs cannot change without a "
        "reopen (~ reshipments.0.total: 38.50 CNY -> 40.00 CNY; ...)"
    )
    reopened = copy.deepcopy(changed)
    closure = reopened.pop("closure")
    reopened["reopenings"] = [{"at": "t", "by": "x", "reason": "r", "previous_closure": closure}]
    assert rules(old, reopened) == []  # reopened: costs may change
    unclosed = copy.deepcopy(old)
    del unclosed["closure"]
    assert rules(old, unclosed) == [("closure", "append-only:closure")]
    restated = copy.deepcopy(old)
    restated["closure"]["final_status"] = "written-off"
    assert rules(old, restated) == [("closure.final_status", "append-only:closure")]
    noted = copy.deepcopy(old)
    noted["closure"]["note"] = "typo fixed"
    assert rules(old, noted) == []


def test_reshipments_evidence_ids_and_aliases_are_kept() -> None:
    old = record("reshipping")
    old["qc"]["evidence"] = [{"kind": "photo", "link": "https://x.example/1.jpg"}]
    new = copy.deepcopy(old)
    new["reshipments"] = []
    new["qc"]["evidence"][0]["link"] = "https://x.example/2.jpg"
    new["id"] = "SZ1-2026-00009"
    assert sorted(rules(old, new)) == [
        ("id", "append-only:id"),
        ("qc.evidence.0", "append-only:evidence"),
        ("reshipments.0", "append-only:reshipments"),
    ]
    renumbered = copy.deepcopy(old)
    renumbered["id"] = "SZ2-2026-00001"
    renumbered["aliases"] = ["SZ1-2026-00001"]
    renumbered["reshipments"][0]["ref"] = "SZ2-2026-00001-R1"
    assert rules(old, renumbered) == []
    dropped = copy.deepcopy(renumbered)
    dropped["aliases"] = []
    assert ("aliases", "append-only:aliases") in rules(renumbered, dropped)
    moved = copy.deepcopy(old)
    moved["reshipments"][0]["created_at"] = "2026-11-22T10:00:00+08:00"
    assert rules(old, moved) == [("reshipments.0.created_at", "append-only:reshipments")]
