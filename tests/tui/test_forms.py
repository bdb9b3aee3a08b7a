"""The lifecycle forms driven through Pilot over a real log (git repository, schema, index)."""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static, TextArea

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

    def on_mount(self) -> None:
        self.push_screen(self.make(), self.results.append)

    @property
    def form(self) -> FormScreen:
        assert isinstance(self.screen, FormScreen)
        return self.screen


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*[{" ": "space", "-": "minus", ".": "full_stop"}.get(c, c) for c in text])


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
async def test_refused_save_shows_the_problem_under_the_field_and_keeps_every_value(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    before = commit_count(log)
    app = Host(lambda: NewExceptionForm(log))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await type_text(pilot, "zz-unknown")
        await pilot.press("tab")
        await type_text(pilot, "SKU-1")
        await pilot.press("tab")
        await type_text(pilot, "KB-1")
        await pilot.press("tab")
        await type_text(pilot, "WRONG-ITEM")
        form = app.form
        form.query_one("#f-description", TextArea).text = "Strap torn\nsecond line"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "unknown vendor 'zz-unknown'" in error_text(form, "vendor")
        assert form.query_one("#row-vendor").has_class("-invalid")
        assert error_text(form, "sku") == ""
        assert [
            value(form, n) for n in ("vendor", "sku", "order_id", "failure_code", "severity", "quantity")
        ] == [
            "zz-unknown",
            "SKU-1",
            "KB-1",
            "WRONG-ITEM",
            "major",
            "1",
        ]
        assert value(form, "description") == "Strap torn\nsecond line"
        assert app.focused is form.query_one("#f-vendor")
        await pilot.press("escape")
        await pilot.pause()
    assert commit_count(log) == before
    assert app.results == [None]
    assert restore_draft_forms(log) == [("new", None)]  # Escape keeps what was typed


@run_async
async def test_empty_required_fields_are_named_under_their_fields(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    app = Host(lambda: NewExceptionForm(log))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await type_text(pilot, "hx")
        await pilot.press("ctrl+s")
        await settle(pilot)
        form = app.form
        assert error_text(form, "sku") == "SKU is required"
        assert error_text(form, "order_id") == "Order id is required"
        assert error_text(form, "failure_code") == "Failure code is required"
        assert value(form, "vendor") == "hx"  # Ctrl+S saves what is typed; only Tab/Enter complete


@run_async
async def test_save_and_new_clears_the_item_but_keeps_vendor_and_order(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    app = Host(lambda: NewExceptionForm(log))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        for text in ("acme-bags", "BAG-1", "KB-77", "DAMAGED-Crushed"):
            await type_text(pilot, text)
            await pilot.press("tab")
        await pilot.press("ctrl+n")
        await settle(pilot)
        form = app.form
        assert len(form.saved) == 1
        assert (value(form, "vendor"), value(form, "order_id")) == ("acme-bags", "KB-77")
        assert (value(form, "sku"), value(form, "failure_code"), value(form, "quantity")) == ("", "", "1")
        assert app.focused is form.query_one("#f-sku")
        assert "Saved SZ1-" in str(form.query_one("#form-notice", Static).render())
        await type_text(pilot, "BAG-2")
        await pilot.press("tab", "tab")
        await type_text(pilot, "MISSING-PARTS-Strap")
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen)
    rows = log.records("", columns=["id", "sku", "vendor", "order_id"])
    assert sorted((r["sku"], r["vendor"], r["order_id"]) for r in rows) == [
        ("BAG-1", "acme-bags", "KB-77"),
        ("BAG-2", "acme-bags", "KB-77"),
    ]
    assert app.results[0] is not None and app.results[0].id == sorted(r["id"] for r in rows)[1]


@run_async
async def test_sku_completes_from_past_records_but_only_on_request(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    logged(log, sku="HX-2231-BLK")
    app = Host(lambda: NewExceptionForm(log))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("tab")
        await type_text(pilot, "HX-22")
        await pilot.pause()
        await pilot.press("tab")  # an open field keeps what was typed
        assert value(app.form, "sku") == "HX-22"
        await pilot.press("shift+tab", "end", "3")
        await pilot.pause()
        await pilot.press("right")  # Right takes the suggestion
        assert value(app.form, "sku") == "HX-2231-BLK"


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
        log.edit(rid, [("qc.order_id", "KB-CHANGED")])  # someone else, meanwhile
        form.query_one("#f-item_title", Input).value = "Leather wallet, brown"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "changed by someone else" in form_errors(form)
        assert value(form, "item_title") == "Leather wallet, brown"
    loaded = log.get(rid)
    assert loaded.record is not None and loaded.record["qc"]["item_title"] == "Leather wallet, black"

    app = Host(lambda: EditExceptionForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        app.form.query_one("#f-item_title", Input).value = "Leather wallet, brown"
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert app.results[0] is not None and app.results[0].action == "edit"
    record = log.get(rid).record
    assert record is not None
    assert record["qc"]["item_title"] == "Leather wallet, brown"
    assert record["qc"]["order_id"] == "KB-CHANGED"
    assert git(log, "log", "-1", "--format=%s").startswith(f"{rid}: edit")
    assert "qc.item_title" in git(log, "log", "-1", "--format=%s")


# -- lifecycle steps -----------------------------------------------------------------------------


@run_async
async def test_reship_with_two_cost_lines_attributes_and_sums(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)
    log.decide(rid, "reship")
    app = Host(lambda: ReshipForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert app.focused is form.query_one("#f-carrier")
        await type_text(pilot, "sf")
        await pilot.press("tab")
        await type_text(pilot, "SF1234567890")
        form.query_one("#f-cost-0-amount", Input).focus()
        await type_text(pilot, "38.50")
        await pilot.press("ctrl+a")
        await pilot.pause()
        assert app.focused is form.query_one("#f-cost-1-amount")
        await type_text(pilot, "20")
        form.query_one("#f-cost-1-type", Select).value = "handling"
        form.query_one("#f-cost-1-responsible", Select).value = "warehouse"
        await pilot.pause()
        total = str(form.query_one("#cost-total", Static).render())
        assert total == "Total 58.50 CNY · vendor 38.50 · warehouse 20.00"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen), form_errors(app.form)
    record = log.get(rid).record
    assert record is not None
    [reship] = record["reshipments"]
    assert reship["carrier"] == "sf-express" and reship["tracking"] == "SF1234567890"
    assert reship["total"] == {"amount": "58.50", "currency": "CNY"}
    assert [(c["type"], c["amount"]["amount"], c["responsible"]) for c in reship["costs"]] == [
        ("freight", "38.50", "vendor"),
        ("handling", "20.00", "warehouse"),
    ]
    assert "Kakotui-Action: reship" in git(log, "log", "-1", "--format=%B")


@run_async
async def test_reship_refuses_a_bad_amount_and_mixed_currencies_in_place(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)
    log.decide(rid, "reship")
    before = commit_count(log)
    app = Host(lambda: ReshipForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        form.query_one("#f-cost-0-amount", Input).value = "12.345"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "line 1: not an amount" in error_text(form, "cost-0")
        form.query_one("#f-cost-0-amount", Input).value = "12"
        await pilot.press("ctrl+a")
        form.query_one("#f-cost-1-amount", Input).value = "3"
        form.query_one("#f-cost-1-currency", Select).value = "USD"
        await pilot.pause()
        assert "one reshipment takes one currency" in str(form.query_one("#cost-total", Static).render())
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "one currency" in error_text(form, "costs")
        assert app.screen is form
    assert commit_count(log) == before


@run_async
async def test_reship_moves_the_open_reshipment_along(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)
    log.decide(rid, "reship")
    log.reship(rid, costs=[CostLine("freight", Money.parse("30 CNY"), "vendor")], carrier="yto")
    app = Host(lambda: ReshipForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert value(form, "target") == "update"
        assert value(form, "u_carrier") == "yto"
        form.query_one("#f-u_status", Select).value = "shipped"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert "Tracking is required" in error_text(form, "u_tracking")
        form.query_one("#f-u_tracking", Input).focus()
        await type_text(pilot, "YT778899")
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen), form_errors(app.form)
    record = log.get(rid).record
    assert record is not None
    [reship] = record["reshipments"]
    assert (reship["status"], reship["tracking"]) == ("shipped", "YT778899")
    assert reship["shipped_at"] >= reship["created_at"]


@run_async
async def test_decide_contact_confirm_through_their_forms(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)

    async def run(kind: str, fill: Callable[[FormScreen], None]) -> SaveResult | None:
        app = Host(lambda: FORMS[kind](log, rid))
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(pilot)
            fill(app.form)
            await pilot.press("ctrl+s")
            await settle(pilot)
            if isinstance(app.screen, FormScreen):
                pytest.fail(f"{kind}: {form_errors(app.form)} {app.form.values()}")
        return app.results[0]

    def decide(form: FormScreen) -> None:
        form.put("action", "refund")
        form.put("reason", "customer prefers a refund")

    def contact(form: FormScreen) -> None:
        form.put("summary", "Vendor accepts; refund of the goods")
        form.put("outcome", "refund")
        form.put("recovered", "45")

    def confirm(form: FormScreen) -> None:
        form.put("outcome", "received-ok")

    for kind, fill in (("decide", decide), ("contact", contact), ("confirm", confirm)):
        result = await run(kind, fill)
        assert result is not None and result.action == kind
    record = log.get(rid).record
    assert record is not None
    assert record["decision"]["action"] == "refund"
    assert record["vendor_contacts"][0]["recovered"] == {"amount": "45.00", "currency": "CNY"}
    assert record["customer_confirmation"]["outcome"] == "received-ok"


@run_async
async def test_close_as_resolved_before_delivery_shows_the_loop_closed_rule(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)
    log.decide(rid, "reship")
    log.reship(rid, costs=[CostLine("freight", Money.parse("30 CNY"), "warehouse")], carrier="yto")
    log.confirm_customer(rid, channel="chat", outcome="received-ok")
    before = commit_count(log)
    app = Host(lambda: CloseForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        message = error_text(form, "final_status")
        assert "cannot close as resolved: the last reshipment" in message and "pending" in message
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "cannot close as resolved" in error_text(form, "final_status")
        form.put("final_status", "written-off")
        await pilot.pause()
        assert "Note" in error_text(form, "note")
        form.put("note", "carrier lost it; written off")
        await pilot.pause()
        assert error_text(form, "final_status") == ""
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen)
    assert commit_count(log) == before + 1
    record = log.get(rid).record
    assert record is not None and record["closure"]["final_status"] == "written-off"


# -- drafts ---------------------------------------------------------------------------------------


@run_async
async def test_draft_is_written_while_typing_and_offered_back_after_a_restart(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    app = Host(lambda: NewExceptionForm(log))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await type_text(pilot, "hx")
        await pilot.press("tab")
        await type_text(pilot, "DRAFT-1")
        await pilot.pause(0.6)
        path = draft_path(log, "new", None)
        assert path.is_file()
        assert path.parent == log.git.git_dir / "kakotui" / "drafts"
        saved = json.loads(path.read_text("utf-8"))
        assert saved["values"]["vendor"] == "hx-leather" and saved["values"]["sku"] == "DRAFT-1"
        # the app goes away without any save or cancel (a crash, a closed terminal)
    assert restore_draft_forms(log) == [("new", None)]
    assert log.drafts() == []  # the façade's own recovery list does not mistake form drafts

    kind, record_id = restore_draft_forms(log)[0]
    app = Host(lambda: FORMS[kind](log, record_id))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert (value(form, "vendor"), value(form, "sku")) == ("hx-leather", "DRAFT-1")
        assert "Restored unsaved input" in str(form.query_one("#form-notice", Static).render())
        form.put("order_id", "KB-5")
        form.put("failure_code", "COUNTERFEIT")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen), form_errors(app.form)
    assert restore_draft_forms(log) == []


@run_async
async def test_escape_keeps_a_draft_and_discard_drops_it(tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)
    log.decide(rid, "reship")
    app = Host(lambda: ReshipForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        form.query_one("#f-cost-0-amount", Input).value = "10"
        await pilot.press("ctrl+a")
        form.query_one("#f-cost-1-amount", Input).value = "5"
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]
    assert restore_draft_forms(log) == [("reship", rid)]

    app = Host(lambda: ReshipForm(log, rid))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert [value(form, "cost-0-amount"), value(form, "cost-1-amount")] == ["10", "5"]
        await pilot.click("#form-discard")
        await pilot.pause()
    assert restore_draft_forms(log) == []
    assert commit_count(log) == 3


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
        await type_text(pilot, "hx")
        await pilot.press("tab")
        await type_text(pilot, "HX-2231-BLK")
        await pilot.press("tab")
        await type_text(pilot, "KB-118833")
        await pilot.press("tab")
        await type_text(pilot, "DEFECTIVE-B")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)


def test_snapshot_reship_160x45(snap_compare: Any, tmp_path: Path) -> None:
    log = make_log(tmp_path)
    rid = logged(log)
    log.decide(rid, "reship")
    app = Host(lambda: ReshipForm(log, rid))

    async def before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        _steady(pilot)
        form = pilot.app.screen
        assert isinstance(form, ReshipForm)
        await type_text(pilot, "sf")
        await pilot.press("tab")
        await type_text(pilot, "SF1234567890")
        form.query_one("#f-cost-0-amount", Input).focus()
        await type_text(pilot, "38.50")
        await pilot.press("ctrl+a")
        await type_text(pilot, "x")
        form.query_one("#f-cost-1-responsible", Select).value = "warehouse"
        await pilot.press("ctrl+s")
        await settle(pilot)
        _steady(pilot)

    assert snap_compare(app, terminal_size=(160, 45), run_before=before)
