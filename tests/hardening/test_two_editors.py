"""Two editors of the same record on one clone (issue 9, item 2, second half).

Pass criteria: a save based on a version that is no longer current is refused with `StaleRecord`
("changed by someone else") and writes nothing; a form that hits it offers a merge naming the other
side's changes (and both values where both changed one field), and only a second, deliberate Save
writes the merge, which keeps the other side's changes. Under contention, every save either lands or
is refused, and no change is ever lost.
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button

from kakotui.log import ExceptionLog, StaleRecord
from kakotui.sync.merge import merge_records
from kakotui.tui.forms import DecideForm, EditExceptionForm
from tests.tui.test_forms import Host, commit_count, fill, form_errors, logged, make_log, run_async, settle


def test_a_save_on_a_stale_base_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    first = make_log(tmp_path)
    rid = logged(first)
    second = ExceptionLog(first.root)  # another app on the same clone
    mine = first.get(rid)
    second.edit(rid, [("qc.order_id", "KB-THEIRS")])
    theirs = second.get(rid)
    commits = commit_count(first)
    assert mine.record is not None
    mine.record["qc"]["item_title"] = "Leather wallet, brown"
    with pytest.raises(StaleRecord, match="changed by someone else") as refused:
        first.replace(mine.record, expected_blob=mine.blob)
    assert (refused.value.expected_blob, refused.value.current_blob) == (mine.blob, theirs.blob)
    assert first.get(rid).blob == theirs.blob and commit_count(first) == commits
    assert (rid, "edit", mine.record) in first.drafts()  # the refused input is kept
    first.close()
    second.close()


FIELDS = ("item_title", "description", "order_id", "sku")
ROUNDS = 6


def _editor(root: str, field: str, rounds: int, out: Any) -> None:
    """Read, change one field, save on that base; on StaleRecord merge with the newer version and retry."""
    log = ExceptionLog(Path(root))
    rid = log.records()[0]["id"]
    saved = stale = 0
    for n in range(rounds):
        value = f"{field}-{n}"
        base = log.get(rid)
        assert base.record is not None
        mine = {**base.record, "qc": {**base.record["qc"], field: value}}
        while True:
            try:
                log.replace(mine, expected_blob=base.blob)
                saved += 1
                break
            except StaleRecord:
                stale += 1
                fresh = log.get(rid)
                assert fresh.record is not None
                mine = merge_records(base.record, mine, fresh.record).record
                base = fresh
    log.close()
    out.put((field, saved, stale))


@pytest.mark.timeout(300)
def test_editors_racing_on_one_record_lose_no_change(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log, description="start")
    log.refresh()
    before = commit_count(log)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_editor, args=(str(log.root), f, ROUNDS, out)) for f in FIELDS]
    for p in procs:
        p.start()
    results = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    saved = sum(r[1] for r in results)
    stale = sum(r[2] for r in results)
    record = log.get(rid).record
    assert record is not None
    assert {f: record["qc"][f] for f in FIELDS} == {f: f"{f}-{ROUNDS - 1}" for f in FIELDS}
    assert saved == len(FIELDS) * ROUNDS == commit_count(log) - before
    print(f"\n{len(FIELDS)} editors x {ROUNDS} saves: {saved} saved, {stale} refused as stale and merged")
    log.close()


@run_async
async def test_two_tuis_editing_one_record_merge_instead_of_overwriting(tmp_path: Path) -> None:
    log_a = make_log(tmp_path)
    rid = logged(log_a)
    log_b = ExceptionLog(log_a.root)
    app_a = Host(lambda: EditExceptionForm(log_a, rid))
    app_b = Host(lambda: EditExceptionForm(log_b, rid))
    async with app_a.run_test(size=(110, 45)) as pilot_a, app_b.run_test(size=(110, 45)) as pilot_b:
        await settle(pilot_a)
        await settle(pilot_b)
        # B changes the order id and saves first.
        fill(app_b.form, order_id="KB-FROM-B")
        await pilot_b.press("ctrl+s")
        await settle(pilot_b)
        assert app_b.results and app_b.results[0] is not None
        after_b = log_a.get(rid)
        commits = commit_count(log_a)
        # A changes the title on the version it opened: refused, merge offered, nothing written.
        form = app_a.form
        fill(form, item_title="Leather wallet, brown")
        await pilot_a.press("ctrl+s")
        await settle(pilot_a)
        errors = form_errors(form)
        assert app_a.screen is form and "changed by someone else" in errors and "qc.order_id" in errors
        assert "without conflict" in errors, errors
        assert str(form.query_one("#form-save", Button).label) == "Save merged"
        assert log_a.get(rid).blob == after_b.blob and commit_count(log_a) == commits
        # A saves again: the merge, with both changes.
        await pilot_a.press("ctrl+s")
        await settle(pilot_a)
        assert app_a.results and app_a.results[0] is not None
    record = log_a.get(rid).record
    assert record is not None
    assert (record["qc"]["item_title"], record["qc"]["order_id"]) == ("Leather wallet, brown", "KB-FROM-B")
    assert commit_count(log_a) == commits + 1
    log_a.close()
    log_b.close()


@run_async
async def test_same_field_changed_in_two_tuis_shows_both_values_before_saving(tmp_path: Path) -> None:
    log_a = make_log(tmp_path)
    rid = logged(log_a)
    log_b = ExceptionLog(log_a.root)
    app_a = Host(lambda: EditExceptionForm(log_a, rid))
    async with app_a.run_test(size=(110, 45)) as pilot_a:
        await settle(pilot_a)
        log_b.edit(rid, [("qc.sku", "SKU-FROM-B"), ("qc.severity", "minor")])
        commits = commit_count(log_a)
        form = app_a.form
        fill(form, sku="SKU-FROM-A")
        await pilot_a.press("ctrl+s")
        await settle(pilot_a)
        errors = form_errors(form)
        assert "Both of you changed qc.sku: theirs 'SKU-FROM-B', yours 'SKU-FROM-A'" in errors, errors
        assert log_a.get(rid).record["qc"]["sku"] == "SKU-FROM-B"  # type: ignore[index]
        assert commit_count(log_a) == commits
        await pilot_a.press("ctrl+s")  # deliberately: keep mine for the sku, theirs for the rest
        await settle(pilot_a)
        assert app_a.results and app_a.results[0] is not None
    qc = log_a.get(rid).record["qc"]  # type: ignore[index]
    assert (qc["sku"], qc["severity"]) == ("SKU-FROM-A", "minor")
    log_a.close()
    log_b.close()


@run_async
async def test_a_step_on_a_changed_record_names_the_other_decision_first(tmp_path: Path) -> None:
    log_a = make_log(tmp_path)
    rid = logged(log_a)
    log_b = ExceptionLog(log_a.root)
    app_a = Host(lambda: DecideForm(log_a, rid))
    async with app_a.run_test(size=(110, 45)) as pilot_a:
        await settle(pilot_a)
        log_b.decide(rid, "refund", reason="customer asked")
        commits = commit_count(log_a)
        form = app_a.form
        fill(form, action="reship")
        await pilot_a.press("ctrl+s")
        await settle(pilot_a)
        errors = form_errors(form)
        assert "changed by someone else" in errors and "Both of you changed decision" in errors, errors
        assert log_a.get(rid).record["decision"]["action"] == "refund"  # type: ignore[index]
        assert commit_count(log_a) == commits
        await pilot_a.press("ctrl+s")
        await settle(pilot_a)
        assert app_a.results and app_a.results[0] is not None
    assert log_a.get(rid).record["decision"]["action"] == "reship"  # type: ignore[index]
    assert commit_count(log_a) == commits + 1
    log_a.close()
    log_b.close()
