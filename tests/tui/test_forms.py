"""The lifecycle forms driven through Pilot over a real log (git repository, schema, index)."""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.widgets import Input, Static, TextArea

from kakotui.core.lifecycle import CostLine
from kakotui.core.money import Money
from kakotui.log import ExceptionLog, SaveResult
from kakotui.store.scaffold import default_config
from kakotui.tui.forms import (
    FORMS,
    CloseForm,
    EditExceptionForm,
    FormScreen,
    NewExceptionForm,
    ReshipForm,
    restore_draft_forms,
)
from kakotui.tui.forms.base import DRAFT_DELAY
from kakotui.tui.forms.drafts import draft_path

CHECKED = "2026-03-02T09:30:00+08:00"  # a fixed year keeps record ids stable in snapshots


def make_log(tmp_path: Path) -> ExceptionLog:
    config = default_config(station="SZ1", site="SZ", site_name="Shenzhen warehouse")
    config["vendors"] = [
        {"id": "hx-leather", "name": "HX Leather Goods"},
        {"id": "acme-bags", "name": "Acme Bags"},
    ]
    return ExceptionLog.init(tmp_path / "log", station="SZ1", config=config)


def logged(log: ExceptionLog, **over: Any) -> str:
    qc = {
        "vendor": "hx-leather",
        "sku": "HX-2231-BLK",
        "order_id": "KB-118833",
        "failure_code": "DEFECTIVE-BrokenHinge",
        "severity": "major",
        "item_title": "Leather wallet, black",
        "checked_at": CHECKED,
    }
    qc.update(over)
    return log.new(qc).id


def git(log: ExceptionLog, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(log.root), *args], check=True, capture_output=True, text=True
    ).stdout


def commit_count(log: ExceptionLog) -> int:
    return int(git(log, "rev-list", "--count", "HEAD").strip())


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async Pilot test without an async pytest plugin (the project does not install one)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


class Host(App[None]):
    """A bare app that pushes one form and records what it dismisses with."""

    def __init__(self, make: Callable[[], ModalScreen[SaveResult | None]]) -> None:
        super().__init__()
        self.make = make
        self.results: list[SaveResult | None] = []
        self.log_lock = threading.RLock()  # like KakotuiApp's: forms hold it around the shared log

    def on_mount(self) -> None:
        self.push_screen(self.make(), self.results.append)

    @property
    def form(self) -> FormScreen:
        assert isinstance(self.screen, FormScreen)
        return self.screen


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def fill(form: FormScreen, **values: str) -> None:
    """Set fields through their widgets (typing each character through Pilot costs ~0.1 s a key)."""
    for name, text in values.items():
        form.put(name, text)


def value(form: FormScreen, name: str) -> str:
    return form.get(name)


def error_text(form: FormScreen, name: str) -> str:
    return str(form.query_one(f"#e-{name}", Static).render())


def form_errors(form: FormScreen) -> str:
    return str(form.query_one("#form-errors", Static).render())


# -- capture -------------------------------------------------------------------------------------


@run_async
async def test_bench_capture_saves_a_commit_in_under_20_keystrokes(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    app = Host(lambda: NewExceptionForm(log))
    keys = [
        *"hx", "tab",  # vendor: completes to hx-leather
        *"B", "minus", "7", "tab",  # SKU
        *"KB", "minus", "9", "tab",  # order id
        *"def", "right", "minus", "z", "enter",  # DEFECTIVE -> DEFECTIVE-Zipper, Enter saves
    ]  # fmt: skip
    assert len(keys) < 20
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert app.focused is not None and app.focused.id == "f-vendor"
        await pilot.press(*keys)
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen), form_errors(app.form)
    [result] = app.results
    assert result is not None and result.action == "create"
    record = log.get(result.id).record
    assert record is not None
    qc = record["qc"]
    assert (qc["vendor"], qc["sku"], qc["order_id"], qc["failure_code"]) == (
        "hx-leather",
        "B-7",
        "KB-9",
        "DEFECTIVE-Zipper",
    )
    assert (qc["severity"], qc["quantity"], qc["station"], qc["inspector"]) == (
        "major",
        1,
        "SZ1",
        "Test Runner",
    )
    assert (log.root / result.path).is_file()
    author, *body = git(log, "log", "-1", "--format=%an%n%B").splitlines()
    assert author == "Test Runner"
    assert f"Kakotui-Record: {result.id}" in body
    assert "Kakotui-Action: create" in body
    assert not draft_path(log, "new", None).exists()


@run_async
async def test_refused_save_shows_problems_under_their_fields_and_keeps_every_value(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    before = commit_count(log)
    app = Host(lambda: NewExceptionForm(log))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        fill(form, vendor="hx")
        await pilot.press("ctrl+s")  # Ctrl+S saves what is typed: only Tab and Enter complete
        await settle(pilot)
        assert error_text(form, "sku") == "SKU is required"
        assert error_text(form, "order_id") == "Order id is required"
        assert error_text(form, "failure_code") == "Failure code is required"
        assert app.focused is form.query_one("#f-sku")

        fill(form, vendor="zz-unknown", sku="SKU-1", order_id="KB-1", failure_code="WRONG-ITEM")
        fill(form, description="Strap torn\nsecond line")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "unknown vendor 'zz-unknown'" in error_text(form, "vendor")
        assert form.query_one("#row-vendor").has_class("-invalid")
        assert error_text(form, "sku") == ""
        kept = [value(form, n) for n in ("vendor", "sku", "order_id", "failure_code", "severity", "quantity")]
        assert kept == ["zz-unknown", "SKU-1", "KB-1", "WRONG-ITEM", "major", "1"]
        assert value(form, "description") == "Strap torn\nsecond line"
        assert app.focused is form.query_one("#f-vendor")
        await pilot.press("escape")
        await pilot.pause()
    assert commit_count(log) == before
    assert app.results == [None]
    assert restore_draft_forms(log) == [("new", None)]  # Escape keeps what was typed


@run_async
async def test_save_and_new_keeps_vendor_and_order_and_sku_completes_only_on_request(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    app = Host(lambda: NewExceptionForm(log))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        fill(form, vendor="acme-bags", sku="BAG-1001", order_id="KB-77", failure_code="DAMAGED-Crushed")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert len(form.saved) == 1
        assert (value(form, "vendor"), value(form, "order_id")) == ("acme-bags", "KB-77")
        assert (value(form, "sku"), value(form, "failure_code"), value(form, "quantity")) == ("", "", "1")
        assert app.focused is form.query_one("#f-sku")
        assert "Saved SZ1-" in str(form.query_one("#form-notice", Static).render())

        await pilot.press("B", "A")  # the SKU just saved is offered back...
        await pilot.pause()
        await pilot.press("tab")  # ...but Tab on an open field keeps what was typed
        assert value(form, "sku") == "BA"
        await pilot.press("shift+tab", "end", "G")
        await pilot.pause()
        await pilot.press("right")  # Right takes the suggestion
        assert value(form, "sku") == "BAG-1001"

        fill(form, sku="BAG-1002", failure_code="MISSING-PARTS-Strap")
        form.query_one("#f-failure_code", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen), form_errors(form)
    rows = log.records("", columns=["id", "sku", "vendor", "order_id"])
    assert sorted((r["sku"], r["vendor"], r["order_id"]) for r in rows) == [
        ("BAG-1001", "acme-bags", "KB-77"),
        ("BAG-1002", "acme-bags", "KB-77"),
    ]
    assert app.results[0] is not None and app.results[0].id == max(r["id"] for r in rows)


# -- edit -----------------------------------------------------------------------------------------


@run_async
async def test_edit_saves_changed_fields_and_reports_a_concurrent_change(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log, sku="[red]SKU[/red]")
    app = Host(lambda: EditExceptionForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert value(form, "sku") == "[red]SKU[/red]"
        assert "SKU [red]SKU[/red]" in str(form.query_one("#form-header", Static).render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Nothing changed" in form_errors(form)
        log.edit(rid, [("qc.order_id", "KB-CHANGED")])  # someone else, meanwhile
        fill(form, item_title="Leather wallet, brown")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "changed by someone else" in form_errors(form)
        assert value(form, "item_title") == "Leather wallet, brown"
        await pilot.pause(DRAFT_DELAY + 0.2)
    loaded = log.get(rid)
    assert loaded.record is not None and loaded.record["qc"]["item_title"] == "Leather wallet, black"

    # Opened again, the form lays only what was typed over the fresh record: the other change stays.
    app = Host(lambda: EditExceptionForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert (value(form, "item_title"), value(form, "order_id")) == ("Leather wallet, brown", "KB-CHANGED")
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert app.results[0] is not None and app.results[0].action == "edit"
    record = log.get(rid).record
    assert record is not None
    assert (record["qc"]["item_title"], record["qc"]["order_id"]) == ("Leather wallet, brown", "KB-CHANGED")
    subject = git(log, "log", "-1", "--format=%s")
    assert subject.startswith(f"{rid}: edit") and "qc.item_title" in subject
    assert restore_draft_forms(log) == []


# -- lifecycle steps -----------------------------------------------------------------------------


@run_async
async def test_reship_two_cost_lines_then_move_it_along(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)
    log.decide(rid, "reship")
    before = commit_count(log)
    app = Host(lambda: ReshipForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert app.focused is form.query_one("#f-carrier")
        await pilot.press("s", "f", "tab")
        assert value(form, "carrier") == "sf-express"
        fill(form, **{"cost-0-amount": "12.345"})
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "line 1: not an amount" in error_text(form, "cost-0")

        fill(form, **{"cost-0-amount": "38.50"})
        await pilot.press("ctrl+a")
        await pilot.pause()
        assert app.focused is form.query_one("#f-cost-1-amount")
        fill(form, **{"cost-1-amount": "20", "cost-1-currency": "USD"})
        await pilot.pause()
        assert "one reshipment takes one currency" in str(form.query_one("#cost-total", Static).render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "one currency" in error_text(form, "costs")
        assert commit_count(log) == before

        fill(form, **{"cost-1-currency": "CNY", "cost-1-type": "handling", "cost-1-responsible": "warehouse"})
        await pilot.pause()
        total = str(form.query_one("#cost-total", Static).render())
        assert total == "Total 58.50 CNY · vendor 38.50 · warehouse 20.00"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen), form_errors(form)
        assert commit_count(log) == before + 1
        assert "Kakotui-Action: reship" in git(log, "log", "-1", "--format=%B")
        record = log.get(rid).record
        assert record is not None
        [reship] = record["reshipments"]
        assert (reship["carrier"], reship["status"]) == ("sf-express", "pending")
        assert reship["total"] == {"amount": "58.50", "currency": "CNY"}
        assert [(c["type"], c["amount"]["amount"], c["responsible"]) for c in reship["costs"]] == [
            ("freight", "38.50", "vendor"),
            ("handling", "20.00", "warehouse"),
        ]

        # Opened again while R1 is pending, the form moves R1 along instead of adding R2.
        app.push_screen(ReshipForm(log, rid), app.results.append)
        await settle(pilot)
        form = app.form
        assert (value(form, "target"), value(form, "u_carrier")) == ("update", "sf-express")
        fill(form, u_status="shipped")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Tracking is required" in error_text(form, "u_tracking")
        fill(form, u_tracking="SF1234567890")
        form.query_one("#f-u_tracking", Input).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen), form_errors(form)
    record = log.get(rid).record
    assert record is not None
    [reship] = record["reshipments"]
    assert (reship["status"], reship["tracking"]) == ("shipped", "SF1234567890")
    assert reship["shipped_at"] >= reship["created_at"]
    assert [r.action if r else None for r in app.results] == ["reship", "reship"]


@run_async
async def test_lifecycle_steps_through_their_forms_and_close_says_what_is_missing(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)
    # A second record that is reshipped (pending) and confirmed, but not delivered.
    other = logged(log, sku="HX-9")
    log.decide(other, "reship")
    log.reship(other, costs=[CostLine("freight", Money.parse("30 CNY"), "warehouse")], carrier="yto")
    log.confirm_customer(other, channel="chat", outcome="received-ok")
    steps: list[tuple[str, dict[str, str]]] = [
        ("decide", {"action": "refund", "reason": "customer prefers a refund"}),
        ("contact", {"summary": "Vendor accepts; refunds the goods", "outcome": "refund", "recovered": "45"}),
        ("confirm", {"outcome": "received-ok", "note": "refund received"}),
        ("close", {"final_status": "resolved"}),
        ("reopen", {"reason": "customer reports the refund never arrived"}),
    ]
    app = Host(lambda: FORMS["decide"](log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        for i, (kind, values) in enumerate(steps):
            if i:
                app.push_screen(FORMS[kind](log, rid), app.results.append)
            await settle(pilot)
            fill(app.form, **values)
            await pilot.press("ctrl+s")
            await settle(pilot)
            if isinstance(app.screen, FormScreen):
                pytest.fail(f"{kind}: {form_errors(app.form)} {app.form.values()}")
        assert [r.action if r else None for r in app.results] == [k for k, _ in steps]

        before = commit_count(log)
        app.push_screen(CloseForm(log, other), app.results.append)
        await settle(pilot)
        form = app.form
        message = error_text(form, "final_status")  # checked as soon as the form opens
        assert "cannot close as resolved: the last reshipment" in message and "pending" in message
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form and commit_count(log) == before
        assert "cannot close as resolved" in error_text(form, "final_status")
        fill(form, final_status="written-off")
        await pilot.pause()
        assert "Note" in error_text(form, "note")
        fill(form, note="carrier lost it; written off")
        await pilot.pause()
        assert error_text(form, "final_status") == ""
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen)
    assert commit_count(log) == before + 1
    record = log.get(rid).record
    assert record is not None
    assert record["decision"]["action"] == "refund"
    assert record["vendor_contacts"][0]["recovered"] == {"amount": "45.00", "currency": "CNY"}
    assert record["customer_confirmation"]["outcome"] == "received-ok"
    assert "closure" not in record
    assert record["reopenings"][0]["previous_closure"]["final_status"] == "resolved"
    closed = log.get(other).record
    assert closed is not None and closed["closure"]["final_status"] == "written-off"


# -- drafts ---------------------------------------------------------------------------------------


@run_async
async def test_drafts_are_written_while_typing_and_offered_back_after_a_restart(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)
    log.decide(rid, "reship")
    app = Host(lambda: NewExceptionForm(log))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("h", "x", "tab")
        fill(app.form, sku="DRAFT-1")
        await pilot.pause(DRAFT_DELAY + 0.2)
        path = draft_path(log, "new", None)
        assert path.parent == log.git.git_dir / "kakotui" / "drafts"
        saved = json.loads(path.read_text("utf-8"))
        assert saved["values"]["vendor"] == "hx-leather" and saved["values"]["sku"] == "DRAFT-1"

        app.push_screen(ReshipForm(log, rid), app.results.append)
        await settle(pilot)
        fill(app.form, **{"cost-0-amount": "10"})
        await pilot.press("ctrl+a")
        fill(app.form, **{"cost-1-amount": "5"})
        await pilot.pause(DRAFT_DELAY + 0.2)
        # the app goes away with both forms open: no save, no cancel (a crash, a closed terminal)
    assert sorted(restore_draft_forms(log), key=str) == [("new", None), ("reship", rid)]
    assert log.drafts() == []  # the façade's own recovery list does not mistake form drafts

    app = Host(lambda: ReshipForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert [value(form, "cost-0-amount"), value(form, "cost-1-amount")] == ["10", "5"]
        assert "Restored unsaved input" in str(form.query_one("#form-notice", Static).render())
        await pilot.click("#form-discard")
        await settle(pilot)

        app.push_screen(NewExceptionForm(log), app.results.append)
        await settle(pilot)
        form = app.form
        assert (value(form, "vendor"), value(form, "sku")) == ("hx-leather", "DRAFT-1")
        fill(form, order_id="KB-5", failure_code="COUNTERFEIT")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen), form_errors(form)
    assert app.results[0] is None and app.results[1] is not None
    assert restore_draft_forms(log) == []


def test_form_kinds_and_draft_names_are_safe(tmp_path: Path) -> None:
    assert set(FORMS) >= {"new", "edit", "decide", "reship", "contact", "confirm", "close", "reopen"}
    log = make_log(tmp_path)
    with pytest.raises(ValueError):
        draft_path(log, "new", "../../config")
    folder = log.git.git_dir / "kakotui" / "drafts"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "form-new-new.json").write_text("{not json")
    (folder / "form-edit-SZ1-2026-00001.json").write_text(json.dumps({"form": "edit", "values": {}}))
    assert restore_draft_forms(log) == []  # unreadable, or a name that does not match its content


# -- snapshots ------------------------------------------------------------------------------------


def _steady(pilot: Pilot[Any]) -> None:
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    for area in pilot.app.screen.query(TextArea):
        area.cursor_blink = False


def test_snapshot_new_exception_80x24(snap_compare: Any, tmp_path: Path) -> None:
    log = make_log(tmp_path)
    app = Host(lambda: NewExceptionForm(log))

    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        _steady(pilot)
        form = pilot.app.screen
        assert isinstance(form, NewExceptionForm)
        await pilot.press("h", "x", "tab")
        fill(form, sku="HX-2231-BLK", order_id="KB-118833", failure_code="DEFECTIVE-")
        form.query_one("#f-failure_code", Input).focus()
        await pilot.press("B")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_snapshot_reship_160x45(snap_compare: Any, tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)
    log.decide(rid, "reship")
    app = Host(lambda: ReshipForm(log, rid))

    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        form = pilot.app.screen
        assert isinstance(form, ReshipForm)
        await pilot.press("s", "f", "tab")
        fill(form, tracking="SF1234567890", **{"cost-0-amount": "38.50"})
        await pilot.press("ctrl+a")
        fill(form, **{"cost-1-amount": "20x", "cost-1-responsible": "warehouse", "cost-1-type": "handling"})
        await pilot.press("ctrl+s")
        await settle(pilot)
        _steady(pilot)

    assert snap_compare(app, terminal_size=(160, 45), run_before=before)
