"""The pull-request gate against the roles: field permissions, admin-only settings, four eyes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kakotui.core.problems import InvalidRecord
from kakotui.log import ExceptionLog
from tests.policy.world import (
    ANA,
    CHEN,
    LI,
    WANG,
    ZHAO,
    as_,
    git,
    hand_edit,
    head,
    make_policed_log,
    reshipped_record,
    settings,
    write_settings,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_policed_log(tmp_path / "log")


def gate(root: Path, since: str) -> list[Any]:
    with ExceptionLog(root) as log:
        log.refresh()
        _count, problems, _since = log.validate_since(since)
    return [p for p in problems if p.severity == "error"]


def test_a_lifecycle_by_the_right_roles_passes(root: Path) -> None:
    start = head(root)
    reshipped_record(root)
    assert gate(root, start) == []


def _blame_vendor_less(record: dict[str, Any]) -> None:
    record["reshipments"][0]["costs"][0]["responsible"] = "warehouse"


def test_an_inspector_changing_a_cost_attribution_fails_the_gate(root: Path) -> None:
    rid = reshipped_record(root)
    start = head(root)
    with ExceptionLog(root) as log:
        path = log.get(rid).path
    commit = hand_edit(root, path, LI, _blame_vendor_less)
    problems = gate(root, start)
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.file, problem.field, problem.rule) == (
        path,
        "reshipments.0.costs.0.responsible",
        "policy:field",
    )
    assert commit[:10] in problem.message and "Li Wei <li.wei@example.com>" in problem.message
    assert "inspector" in problem.message


def test_the_same_change_by_finance_passes(root: Path) -> None:
    rid = reshipped_record(root)
    start = head(root)
    with as_(ZHAO, root) as log:
        log.edit(rid, [("reshipments.0.costs.0.responsible", "warehouse")])
    assert gate(root, start) == []


def test_kakotui_refuses_the_forbidden_save_before_writing(root: Path) -> None:
    rid = reshipped_record(root)
    before = head(root)
    with as_(LI, root) as log:
        with pytest.raises(InvalidRecord) as caught:
            log.edit(rid, [("reshipments.0.costs.0.responsible", "warehouse")])
        assert caught.value.problems[0].field == "reshipments.0.costs.0.responsible"
        assert log.allowed("create") == (True, "")
        ok, why = log.allowed("close")
        assert not ok and "inspector" in why and "close" in why
        assert log.may_change("qc.sku")[0] and not log.may_change("closure.final_status")[0]
    assert head(root) == before
    assert git(root, "status", "--porcelain") == ""


def test_operations_may_close_as_resolved_but_not_write_off(root: Path) -> None:
    rid = _confirmed(root, "38.50")
    with as_(CHEN, root) as log:
        ok, _ = log.may_change("closure.final_status", "resolved")
        assert ok
        ok, why = log.may_change("closure.final_status", "written-off")
        assert not ok and "resolved, escalated" in why
        with pytest.raises(InvalidRecord):
            log.close_record(rid, final_status="written-off", note="vendor gone")


def test_settings_and_schema_change_only_by_admins(root: Path) -> None:
    start = head(root)
    data = settings()
    data["sla_days"] = {"decide": 2}
    bad = write_settings(root, data, CHEN)
    (root / "schema" / "exception.schema.json").write_text(
        (root / "schema" / "exception.schema.json").read_text() + "\n"
    )
    git(root, "commit", "-q", "-am", "schema tweak", who=WANG)
    problems = gate(root, start)
    assert {(p.file, p.rule) for p in problems} == {
        ("kakotui.yaml", "policy:admin-only"),
        ("schema/exception.schema.json", "policy:admin-only"),
    }
    assert any(bad[:10] in p.message and "Chen Jing" in p.message for p in problems)
    start = head(root)
    data["sla_days"] = {"decide": 3}
    write_settings(root, data, ANA)
    assert gate(root, start) == []


def test_each_commit_is_judged_by_the_policy_before_it(root: Path) -> None:
    rid = reshipped_record(root)
    with ExceptionLog(root) as log:
        path = log.get(rid).path
    start = head(root)
    # Li grants himself finance and then changes a cost: both refused (the grant is not his to make).
    data = settings()
    data["people"][0]["roles"] = ["inspector", "finance"]
    write_settings(root, data, LI)
    hand_edit(root, path, LI, _blame_vendor_less)
    rules = sorted(p.rule for p in gate(root, start))
    assert rules == ["policy:admin-only", "policy:field"]
    # The same grant by the admin makes Li's next change allowed.
    git(root, "reset", "-q", "--hard", start)
    write_settings(root, data, ANA)
    hand_edit(root, path, LI, _blame_vendor_less)
    assert gate(root, start) == []


def test_someone_not_listed_may_change_nothing(root: Path) -> None:
    rid = reshipped_record(root)
    with ExceptionLog(root) as log:
        path = log.get(rid).path
    start = head(root)
    from tests.policy.world import Someone

    stranger = Someone("Mallory", "mallory@example.net", ())
    hand_edit(root, path, stranger, lambda r: r["qc"].update(sku="X-1"))
    problems = gate(root, start)
    assert [p.rule for p in problems] == ["policy:unknown-person"]
    assert "mallory@example.net" in problems[0].message


def test_a_log_without_roles_allows_everything(tmp_path: Path) -> None:
    from tests.helpers import make_log

    log = make_log(tmp_path / "open")
    root = log.root
    log.close()
    start = head(root)
    rid = reshipped_record(root)
    with ExceptionLog(root) as log:
        path = log.get(rid).path
    hand_edit(root, path, LI, _blame_vendor_less)
    assert gate(root, start) == []


# -- four eyes --------------------------------------------------------------------------------


def _confirmed(root: Path, amount: str) -> str:
    rid = reshipped_record(root, amount=amount)
    with as_(CHEN, root) as log:
        log.confirm_customer(rid, channel="platform", outcome="no-response")
    return rid


def _write_off(root: Path) -> tuple[str, str]:
    rid = _confirmed(root, "150.00")
    with as_(WANG, root) as log:
        result = log.close_record(rid, final_status="written-off", note="vendor vanished")
    return rid, result.commit


def test_a_large_write_off_without_approval_fails(root: Path) -> None:
    start = head(root)
    _rid, commit = _write_off(root)
    problems = gate(root, start)
    assert [(p.field, p.rule) for p in problems] == [("closure.final_status", "four-eyes:large-write-off")]
    assert commit[:10] in problems[0].message and "finance" in problems[0].message
    assert f"kakotui approve {commit[:12]}" in problems[0].message


def test_a_large_write_off_approved_by_finance_passes(root: Path) -> None:
    start = head(root)
    _rid, commit = _write_off(root)
    with as_(ZHAO, root) as log:
        approval = log.approve(commit, note="checked the vendor file")
    message = git(root, "log", "-1", "--format=%B", approval)
    assert f"Kakotui-Approves: {commit}" in message and "Kakotui-Action: approve" in message
    assert git(root, "diff", "--name-only", f"{approval}^", approval) == ""
    assert gate(root, start) == []


def test_a_small_write_off_needs_no_approval(root: Path) -> None:
    start = head(root)
    rid = _confirmed(root, "20.00")
    with as_(WANG, root) as log:
        log.close_record(rid, final_status="written-off", note="not worth chasing")
    assert gate(root, start) == []


def test_approvals_by_the_author_or_the_wrong_role_do_not_count(root: Path) -> None:
    from kakotui.log import LogError

    start = head(root)
    _rid, commit = _write_off(root)
    with as_(WANG, root) as log, pytest.raises(LogError, match="your own change"):
        log.approve(commit)
    with as_(CHEN, root) as log, pytest.raises(LogError, match="approver roles"):
        log.approve(commit)
    # Made by hand, the same approval commits are refused by the gate.
    for who in (WANG, CHEN):
        git(
            root, "commit", "-q", "--allow-empty", "-m",
            f"approve\n\nKakotui-Action: approve\nKakotui-Approves: {commit}", who=who,
        )  # fmt: skip
    problems = gate(root, start)
    assert [p.rule for p in problems] == ["four-eyes:large-write-off"]
    assert "approved by its own author" in problems[0].message
    assert "holds none of the roles finance" in problems[0].message


def test_an_approval_commit_may_not_change_files(root: Path) -> None:
    start = head(root)
    _rid, commit = _write_off(root)
    (root / "notes.txt").write_text("sneaky\n")
    git(root, "add", "notes.txt")
    git(
        root, "commit", "-q", "-m", f"approve\n\nKakotui-Action: approve\nKakotui-Approves: {commit}", who=ZHAO
    )  # fmt: skip
    assert [p.rule for p in gate(root, start)] == ["policy:approval-only"]


def test_the_cli_gate_names_commit_person_field_and_rule(root: Path) -> None:
    from click.testing import CliRunner

    from kakotui.cli import main

    rid = reshipped_record(root)
    start = head(root)
    with ExceptionLog(root) as log:
        path = log.get(rid).path
    commit = hand_edit(root, path, LI, _blame_vendor_less)
    run = CliRunner().invoke(main, ["--repo", str(root), "validate", "--since", start])
    assert run.exit_code == 1
    assert (
        f"{path}: reshipments.0.costs.0.responsible: commit {commit[:10]} by Li Wei <li.wei@example.com>: "
        "may not change this field (inspector: not among its fields) [policy:field]"
    ) in run.output
    # Four eyes through the CLI: the write-off fails until finance approves it.
    start = head(root)
    git(root, "reset", "-q", "--hard", "HEAD~1")
    _rid, write_off = _write_off(root)
    run = CliRunner().invoke(main, ["--repo", str(root), "validate", "--since", start])
    assert run.exit_code == 1 and "[four-eyes:large-write-off]" in run.output
    git(root, "config", "user.name", ZHAO.name)
    git(root, "config", "user.email", ZHAO.email)
    run = CliRunner().invoke(main, ["--repo", str(root), "approve", write_off[:12], "--note", "ok"])
    assert run.exit_code == 0, run.output
    run = CliRunner().invoke(main, ["--repo", str(root), "validate", "--since", start])
    assert run.exit_code == 0, run.output


def test_an_approver_role_granted_without_right_does_not_count(root: Path) -> None:
    start = head(root)
    _rid, commit = _write_off(root)
    data = settings()
    data["people"][1]["roles"] = ["operations", "finance"]  # Chen makes himself an approver
    write_settings(root, data, CHEN)
    git(
        root, "commit", "-q", "--allow-empty", "-m",
        f"approve\n\nKakotui-Action: approve\nKakotui-Approves: {commit}", who=CHEN,
    )  # fmt: skip
    rules = sorted(p.rule for p in gate(root, start))
    assert rules == ["four-eyes:large-write-off", "policy:admin-only"]
