"""A form never offers a field the person may not change; help names why a form is off; history marks
verified authors. Real logs with roles (tests/policy/world.py), driven through Pilot."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import OptionList, Select, Static

from kakotui.log import ExceptionLog, SaveResult
from kakotui.tui.app import KakotuiApp
from kakotui.tui.dialogs import HelpScreen
from kakotui.tui.forms import CloseForm, ContactForm, DecideForm, EditExceptionForm, FormScreen, ReshipForm
from kakotui.tui.history import HistoryScreen
from tests.helpers import config_data, qc
from tests.policy.keys import keys_for_everyone, public, sign_as
from tests.policy.world import ANA, CHEN, LI, WANG, ZHAO, Someone, as_, git, hand_edit, make_policed_log
from tests.tui.logdata import TODAY

QC_FIELDS = (
    "vendor",
    "sku",
    "order_id",
    "failure_code",
    "severity",
    "quantity",
    "item_title",
    "description",
    "evidence",
    "checked_at",
    "inspector",
)


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


class Host(App[None]):
    """A bare app that pushes one form (as KakotuiApp.open_form does) and keeps what it dismisses with."""

    def __init__(self, make: Callable[[], FormScreen]) -> None:
        super().__init__()
        self.make = make
        self.results: list[SaveResult | None] = []
        self.log_lock = threading.RLock()

    def on_mount(self) -> None:
        self.push_screen(self.make(), self.results.append)

    @property
    def form(self) -> FormScreen:
        assert isinstance(self.screen, FormScreen)
        return self.screen


async def settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def shown(widget: Widget) -> bool:
    """On screen and usable: displayed itself and in every container above it, and not disabled."""
    return all(w.display for w in widget.ancestors_with_self if isinstance(w, Widget)) and not widget.disabled


def offered(form: FormScreen) -> set[str]:
    """The fields the person can type into."""
    return {w.id[2:] for w in form.controls() if w.id and shown(w)}


def error_text(form: FormScreen, name: str) -> str:
    return str(form.query_one(f"#e-{name}", Static).render())


def lock_text(form: FormScreen, name: str) -> str:
    return str(form.query_one(f"#lock-{name}", Static).render())


def commits(root: Path) -> int:
    return int(git(root, "rev-list", "--count", "HEAD").strip())


def logged(root: Path) -> str:
    with as_(LI, root) as log:
        return log.new(qc(checked_at="2026-11-20T09:14:00+08:00")).id


def decided(root: Path) -> str:
    rid = logged(root)
    with as_(CHEN, root) as log:
        log.decide(rid, "reship", reason="hinge defect", at="2026-11-20T11:00:00+08:00")
    return rid


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_policed_log(tmp_path / "log")


def host(
    person: Someone, root: Path, form: Callable[[ExceptionLog], FormScreen]
) -> tuple[Host, ExceptionLog]:
    log = as_(person, root)
    return Host(lambda: form(log)), log


# -- forms -------------------------------------------------------------------------------------


@run_async
async def test_an_inspectors_edit_form_offers_the_qc_fields_and_nothing_else(root: Path) -> None:
    rid = decided(root)
    app, log = host(LI, root, lambda log: EditExceptionForm(log, rid))
    async with app.run_test(size=(110, 50)) as pilot:
        await settle(pilot)
        form = app.form
        assert form.locked == {}
        assert offered(form) == set(QC_FIELDS)  # no decision, closure or cost field anywhere
        assert not form.query(".field-locked")
        form.put("sku", "HX-2231-BRN")
        await pilot.press("ctrl+s")
        await settle(pilot)
    [result] = app.results
    assert result is not None and result.action == "edit"
    assert log.get(rid).record["qc"]["sku"] == "HX-2231-BRN"  # type: ignore[index]
    log.close()


@run_async
async def test_fields_an_inspector_may_not_change_are_locked_with_the_reason(root: Path) -> None:
    # The app does not open Decide for an inspector (test_tui_roles); built anyway, it offers nothing.
    rid = logged(root)
    before = commits(root)
    app, log = host(LI, root, lambda log: DecideForm(log, rid))
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert set(form.locked) == {"action", "reason"}
        assert offered(form) == set()
        assert not shown(form.query_one("#f-action"))
        assert form.query_one("#row-action").has_class("-locked")
        assert "Li Wei may not change decision.action" in lock_text(form, "action")
        assert "inspector: not among its fields" in lock_text(form, "action")
        notice = str(form.query_one("#form-notice", Static).render())
        assert notice.startswith("Nothing in this form is yours to change")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "may not change decision.action" in error_text(form, "action")
        await pilot.press("escape")
        await pilot.pause()
    assert commits(root) == before
    log.close()


@run_async
async def test_finance_may_not_correct_qc_fields(root: Path) -> None:
    rid = logged(root)
    before = commits(root)
    app, log = host(ZHAO, root, lambda log: EditExceptionForm(log, rid))
    async with app.run_test(size=(110, 50)) as pilot:
        await settle(pilot)
        form = app.form
        assert set(form.locked) == set(QC_FIELDS)
        assert offered(form) == set()
        assert "finance: not among its fields" in lock_text(form, "sku")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form  # nothing of theirs to save
    assert commits(root) == before
    log.close()


@run_async
async def test_operations_close_form_does_not_offer_written_off(root: Path) -> None:
    rid = decided(root)
    app, log = host(CHEN, root, lambda log: CloseForm(log, rid))
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(pilot)
        form = app.form
        select = form.query_one("#f-final_status", Select)
        legal = {v for v in select._legal_values if isinstance(v, str)}
        assert legal == {"resolved", "escalated"}
        assert "written-off" in str(select.tooltip) and "void" in str(select.tooltip)
        assert form.locked == {}
        assert shown(select)
    log.close()

    app, log = host(WANG, root, lambda log: CloseForm(log, rid))  # a lead may write off
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(pilot)
        select = app.form.query_one("#f-final_status", Select)
        assert {"resolved", "escalated", "written-off", "void"} <= set(select._legal_values)
        assert select.tooltip is None
    log.close()


@run_async
async def test_finance_reship_form_has_the_cost_inputs_and_saves_them(root: Path) -> None:
    rid = decided(root)
    app, log = host(ZHAO, root, lambda log: ReshipForm(log, rid))
    async with app.run_test(size=(110, 50)) as pilot:
        await settle(pilot)
        form = app.form
        assert form.locked == {}
        assert {"cost-0-amount", "cost-0-currency", "cost-0-type", "cost-0-responsible"} <= offered(form)
        assert shown(form.query_one("#cost-total"))
        form.put("carrier", "sf-express")
        form.put("cost-0-amount", "38.50")
        await pilot.press("ctrl+s")
        await settle(pilot)
    [result] = app.results
    assert result is not None and result.action == "reship"
    [reship] = log.get(rid).record["reshipments"]  # type: ignore[index]
    assert reship["costs"][0]["responsible"] == "vendor"
    assert reship["total"]["amount"] == "38.50"
    log.close()


@run_async
async def test_operations_reship_form_drops_the_cost_inputs(root: Path) -> None:
    rid = decided(root)
    before = commits(root)
    app, log = host(CHEN, root, lambda log: ReshipForm(log, rid))
    async with app.run_test(size=(110, 50)) as pilot:
        await settle(pilot)
        form = app.form
        assert set(form.locked) == {"costs"}
        assert not {"cost-0-amount", "cost-0-currency", "cost-0-type", "cost-0-responsible"} & offered(form)
        assert {"carrier", "tracking", "status"} <= offered(form)
        assert not shown(form.query_one("#cost-total")) and not shown(form.query_one("#add-line"))
        assert "Chen Jing may not change reshipments.0.costs" in lock_text(form, "costs")
        await pilot.press("ctrl+a")  # no cost line to add
        await pilot.pause()
        assert len(form.query(".cost-line")) == 1
        form.put("carrier", "sf-express")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        assert "may not change reshipments.0.costs" in error_text(form, "costs")
        await pilot.press("escape")
        await pilot.pause()
    assert commits(root) == before
    log.close()


@run_async
async def test_a_save_the_policy_refuses_shows_under_the_field(root: Path) -> None:
    # Operations may record a vendor contact but not the amount recovered. The form, built with a
    # verdict from before the rules changed, offers it; the façade refuses the save (policy:field).
    rid = decided(root)
    before = commits(root)

    def stale(log: ExceptionLog) -> FormScreen:
        form = ContactForm(log, rid)
        form._verdicts[("vendor_contacts.0.recovered", None)] = (True, "")
        return form

    app, log = host(CHEN, root, stale)
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert "recovered" in offered(form)
        form.put("summary", "asked for a credit")
        form.put("outcome", "credit")
        form.put("recovered", "38.50")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.screen is form
        message = error_text(form, "recovered")
        assert "may not change this field" in message and "excluded by its except list" in message
        assert form.query_one("#row-recovered").has_class("-invalid")
        await pilot.press("escape")
        await pilot.pause()
    assert commits(root) == before
    log.close()

    # Without the stale verdict the amount is not offered, and the contact saves without it.
    app, log = host(CHEN, root, lambda log: ContactForm(log, rid))
    async with app.run_test(size=(110, 40)) as pilot:
        await settle(pilot)
        form = app.form
        assert set(form.locked) == {"recovered"}
        assert "recovered" not in offered(form) and "recovered_currency" not in offered(form)
        assert form.restored is not None  # the refused input came back as a draft
        form.put("outcome", "pending")  # a credit needs its amount, which finance records
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, FormScreen), str(form.query_one("#form-errors", Static).render())
    [result] = app.results
    assert result is not None and result.action == "contact"
    [contact] = log.get(rid).record["vendor_contacts"]  # type: ignore[index]
    assert "recovered" not in contact
    log.close()


@run_async
async def test_a_log_without_roles_offers_every_field_and_asks_nothing(tmp_path: Path) -> None:
    root = tmp_path / "log"
    ExceptionLog.init(root, station="SZ1", config=config_data(), identity=LI.identity).close()
    rid = decided(root)
    for make in (
        lambda log: CloseForm(log, rid),
        lambda log: ReshipForm(log, rid),
        lambda log: ContactForm(log, rid),
    ):
        app, log = host(CHEN, root, make)
        async with app.run_test(size=(110, 50)) as pilot:
            await settle(pilot)
            form = app.form
            assert form.locked == {} and form._verdicts == {}  # the policy is not even asked
            assert not form.query(".field-locked")
            if isinstance(form, CloseForm):
                select = form.query_one("#f-final_status", Select)
                assert {"written-off", "void"} <= set(select._legal_values)
                assert select.tooltip is None
        log.close()


# -- help ----------------------------------------------------------------------------------------


@run_async
async def test_help_names_why_a_form_key_is_disabled(root: Path) -> None:
    logged(root)
    app = KakotuiApp(as_(LI, root), today=TODAY, cursor_blink=False, keymap={})
    async with app.run_test(size=(140, 60)) as pilot:
        await settle(pilot)
        app.action_help()
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text", Static).render())
    lines = text.splitlines()
    close = [line for line in lines if line.strip().startswith("c ") and "Close" in line]
    assert close and all("not allowed: Li Wei: role inspector may not close" in line for line in close)
    new = [line for line in lines if line.strip().startswith("n ")]
    assert new and not any("not allowed" in line for line in new)  # an inspector may log new ones


# -- history -------------------------------------------------------------------------------------


class HistoryHost(App[None]):
    def __init__(self, log: ExceptionLog, record_id: str) -> None:
        super().__init__()
        self.exception_log = log
        self.record_id = record_id
        self.log_lock = threading.RLock()

    def on_mount(self) -> None:
        self.push_screen(HistoryScreen(self.exception_log, self.record_id))


@run_async
async def test_history_marks_verified_authors_in_a_signing_log(tmp_path: Path) -> None:
    keys = keys_for_everyone(tmp_path / "keys")
    git(tmp_path, "config", "--global", "user.signingkey", str(keys[ANA.email]))
    pub = {email: public(key) for email, key in keys.items()}
    root = make_policed_log(tmp_path / "log", signing=True, keys=pub)
    sign_as(root, keys[LI.email])
    with as_(LI, root) as log:
        rid = log.new(qc(checked_at="2026-11-20T09:14:00+08:00")).id
        path = log.get(rid).path
    sign_as(root, keys[CHEN.email])
    with as_(CHEN, root) as log:
        log.decide(rid, "reship", reason="hinge defect", at="2026-11-20T11:00:00+08:00")
    # Plain git, no signature: what anyone with push access can do.
    hand_edit(root, path, CHEN, lambda r: r["qc"].update(severity="minor"))

    log = as_(LI, root)
    app = HistoryHost(log, rid)
    async with app.run_test(size=(140, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        timeline = screen.query_one("#history-timeline", OptionList)
        labels = [str(timeline.get_option_at_index(i).prompt) for i in range(timeline.option_count)]
        assert [label.split("  ", 1)[1] for label in labels] == [
            "✗ Chen Jing  outside kakotui",
            "✓ Chen Jing  decide",
            "✓ Li Wei     create",
        ]
        status = str(screen.query_one("#history-status", Static).content)
        assert status.endswith("3 changes, newest first · 2 of 3 verified")
        pane = str(screen.query_one("#history-change", Static).content).splitlines()
        assert "✗ not signed" in pane[3]
        await pilot.press("down")
        pane = str(screen.query_one("#history-change", Static).content).splitlines()
        assert pane[3] == f"✓ signed by {CHEN.email}"
    log.close()
