"""The pure policy: patterns, roles, values, four-eyes triggers, and the settings' own checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kakotui.core.config import config_problems
from kakotui.core.diff import field_changes
from kakotui.core.policy import (
    Author,
    Policy,
    RecordEdit,
    allowed_signers,
    check_commit,
    four_eyes_rules,
    matches,
)
from kakotui.core.schemas import Schemas, load_schema_texts
from tests.helpers import record
from tests.policy.world import ANA, CHEN, LI, WANG, settings


def _edit(before: dict[str, Any] | None, after: dict[str, Any]) -> RecordEdit:
    return RecordEdit("records/x.yaml", before, after, field_changes(before, after))


def _who(person: Any) -> Author:
    return Author(person.name, person.email)


def _closing(final_status: str = "resolved") -> tuple[dict[str, Any], dict[str, Any]]:
    """(a record awaiting confirmation and closure, the same record confirmed and closed)."""
    base = record("awaiting")
    done = record("closed")
    closed = {**base, "customer_confirmation": done["customer_confirmation"], "closure": done["closure"]}
    closed["closure"] = {**done["closure"], "final_status": final_status}
    return base, closed


def test_patterns_cover_what_lies_below_them() -> None:
    assert matches("qc.sku", "qc")
    assert matches("reshipments.0.costs.1.amount", "reshipments.*.costs")
    assert matches("reshipments.0.costs", "reshipments.*.costs")
    assert not matches("reshipments.0.carrier", "reshipments.*.costs")
    assert not matches("qcx", "qc")
    assert matches("anything.at.all", "*")


def test_without_roles_nothing_is_enforced() -> None:
    data = settings()
    del data["roles"]
    policy = Policy.from_data(data)
    assert not policy.enforced
    edit = _edit(record("reshipping"), record("closed"))
    assert check_commit(policy, "c" * 40, Author("Nobody", "no@where"), "close", [edit]) == []


def test_roles_fields_values_and_new_records() -> None:
    policy = Policy.from_data(settings())
    new = _edit(None, record("open"))
    assert check_commit(policy, "c" * 40, _who(LI), "create", [new]) == []
    base, closed = _closing()
    _base, written_off = _closing("written-off")
    assert check_commit(policy, "c" * 40, _who(CHEN), "close", [_edit(base, closed)]) == []
    found = check_commit(policy, "c" * 40, _who(CHEN), "close", [_edit(base, written_off)])
    assert [(v.field, v.rule) for v in found] == [("closure.final_status", "policy:field")]
    assert "may set it only to resolved, escalated" in found[0].message
    assert check_commit(policy, "c" * 40, _who(WANG), "close", [_edit(base, written_off)]) == []
    found = check_commit(policy, "c" * 40, _who(LI), "close", [_edit(base, closed)])
    assert found[0].rule == "policy:action" and {v.rule for v in found} == {"policy:action", "policy:field"}
    assert check_commit(policy, "c" * 40, _who(ANA), None, [], ["schema/x.json", "docs/notes.md"]) == []
    found = check_commit(policy, "c" * 40, _who(LI), None, [], ["docs/notes.md", ".github/CODEOWNERS"])
    assert [(v.file, v.rule) for v in found] == [(".github/CODEOWNERS", "policy:admin-only")]


def test_four_eyes_triggers_on_value_action_and_cost() -> None:
    policy = Policy.from_data(settings())
    base, off = _closing("written-off")
    edit = _edit(base, off)
    assert [r.name for r, _ in four_eyes_rules(policy, "close", [edit], lambda r: Decimal("150"))] == [
        "large-write-off"
    ]
    assert four_eyes_rules(policy, "close", [edit], lambda r: Decimal("99.99")) == []
    assert len(four_eyes_rules(policy, "close", [edit], lambda r: None)) == 1  # unknown cost: ask
    assert four_eyes_rules(policy, "edit", [edit], lambda r: Decimal("150")) == []
    assert four_eyes_rules(policy, "close", [_edit(*_closing())], lambda r: Decimal("150")) == []


def test_settings_checks_for_roles() -> None:
    schemas = Schemas(load_schema_texts())
    assert config_problems(settings(), schemas) == []
    data = settings()
    data["people"][0]["roles"] = ["inspektor"]
    data["four_eyes"][0]["approvers"] = ["auditor"]
    data["roles"]["admin"]["admin"] = False
    data["people"].append(dict(data["people"][1]))
    rules = sorted((p.field, p.rule) for p in config_problems(data, schemas))
    assert rules == [
        ("four_eyes.0.approvers", "config:role-defined"),
        ("people.0.roles", "config:role-defined"),
        ("people.1.email", "config:unique-person"),
        ("people.5.email", "config:unique-person"),
        ("roles", "config:admin-role"),
    ]
    data = settings()
    data["roles"]["inspector"]["actions"] = ["delete"]
    data["roles"]["inspector"]["fields"] = ["qc..sku"]
    assert {p.rule for p in config_problems(data, schemas)} == {"schema:enum", "schema:pattern"}


def test_allowed_signers_lists_people_with_keys() -> None:
    data = settings(keys={LI.email: "ssh-ed25519 AAAAC3Nza li@laptop"})
    text = allowed_signers(Policy.from_data(data))
    assert text.splitlines()[1:] == ['li.wei@example.com namespaces="git" ssh-ed25519 AAAAC3Nza']
