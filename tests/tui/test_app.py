"""The kakotui app driven through Pilot over a real log: list, sort, filter, detail, safety, help, identity."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import subprocess
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from kakotui.core import yamlio
from kakotui.log import ExceptionLog, SaveResult
from kakotui.tui import app as app_module
from kakotui.tui.app import KakotuiApp, load_keymap
from kakotui.tui.detail import DetailScreen
from kakotui.tui.dialogs import HelpScreen, IdentityScreen
from kakotui.tui.recordview import HISTORY_MISSING, evidence_target
from kakotui.tui.rows import ListData, build_list, filter_order, format_cost, id_mask, sort_order
from kakotui.tui.screens import MainScreen
from kakotui.tui.table import ExceptionTable
from tests.tui.logdata import EVIDENCE_FILE, TODAY

ALL = [f"SZ1-2026-{n:05d}" for n in range(1, 11)]
ACME = ["SZ1-2026-00002", "SZ1-2026-00005", "SZ1-2026-00008"]
SIZE = (120, 40)


# ---------------------------------------------------------------- fixtures and helpers


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop (the project has no pytest asyncio plugin)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


def make_app(log: ExceptionLog, **kwargs: Any) -> KakotuiApp:
    kwargs.setdefault("keymap", {})
    return KakotuiApp(log, today=TODAY, cursor_blink=False, **kwargs)


def notes_of(app: KakotuiApp) -> list[str]:
    """Record every notification message the app shows."""
    notes: list[str] = []
    original = app.notify

    def notify(message: str, **kwargs: Any) -> None:
        notes.append(message)
        original(message, **kwargs)

    app.notify = notify  # type: ignore[method-assign]
    return notes


def urls_opened(app: KakotuiApp) -> list[str]:
    """Record the URLs the app asks the system to open (and open nothing)."""
    opened: list[str] = []

    def open_url(url: str, *, new_tab: bool = True) -> None:
        opened.append(url)

    app.open_url = open_url  # type: ignore[method-assign]
    return opened


async def settle(pilot: Pilot[None], delay: float = 0.4) -> None:
    """Let debounce timers fire and workers finish (twice: a worker's result may start another)."""
    for _ in range(2):
        await pilot.pause(delay)
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def type_text(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


def main_of(app: KakotuiApp) -> MainScreen:
    return app.main_screen


def table_lines(app: KakotuiApp) -> list[str]:
    table = app.main_screen.query_one(ExceptionTable)
    return [table.render_line(y).text for y in range(table.size.height)]


def static_text(screen: Any, selector: str) -> str:
    return str(screen.query_one(selector, Static).visual)


def detail_text(screen: DetailScreen) -> str:
    return "\n".join(
        static_text(screen, selector)
        for selector in ("#detail-head", "#detail-qc", "#detail-rest", "#detail-history")
    )


# ---------------------------------------------------------------- the list


@run_async
async def test_the_first_page_shows_before_the_catch_up_and_the_rest_follows(
    log: ExceptionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kakotui.tui import screens

    log.refresh()  # the index is built: the next start may show it before catching up
    monkeypatch.setattr(screens, "FIRST_PAGE", 3)
    pages: list[list[str]] = []
    original = screens.MainScreen._first_page

    def first_page(self: MainScreen, data: Any, painted: Any) -> None:
        pages.append([row[0] for row in data.rows])
        original(self, data, painted)

    monkeypatch.setattr(screens.MainScreen, "_first_page", first_page)
    app = make_app(log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert pages == [ALL[:3]]
        main = main_of(app)
        assert main.shown_ids == ALL  # the whole list replaced the first page
        assert "10 records" in static_text(main, "#status-bar")
        await pilot.press("slash", *"vendor:acme*", "enter")
        await settle(pilot)
        assert sorted(main.shown_ids) == ACME  # answered in memory now


@run_async
async def test_list_shows_records_and_sorts_by_key_and_header(log: ExceptionLog) -> None:
    app = make_app(log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = main_of(app)
        assert main.shown_ids == ALL
        lines = table_lines(app)
        assert lines[0].split()[:3] == ["ID", "Status", "Age"]
        first = next(line for line in lines if "SZ1-2026-00001" in line)
        assert " 11 " in first  # checked 2026-11-20, today fixed at 2026-12-01
        assert "38.50" in first and "closed" in first and "hx-leather" in first
        usd = next(line for line in lines if "SZ1-2026-00004" in line)
        assert "85.80" in usd  # 12.00 USD at 7.15
        status = static_text(main, "#status-bar")
        assert "open 3" in status and "closed 2" in status and "10 records" in status
        assert "Test Runner" in app.sub_title and "SZ1" in app.sub_title

        await pilot.press("o")  # id -> status
        assert main.sort_state == ("status", False)
        by_status = [
            "SZ1-2026-00002", "SZ1-2026-00005", "SZ1-2026-00008",  # open
            "SZ1-2026-00009",  # decided
            "SZ1-2026-00004", "SZ1-2026-00007",  # reshipping
            "SZ1-2026-00003", "SZ1-2026-00006",  # awaiting confirmation
            "SZ1-2026-00001", "SZ1-2026-00010",  # closed
        ]  # fmt: skip
        assert main.shown_ids == by_status
        await pilot.press("O")
        assert main.sort_state == ("status", True)
        assert main.shown_ids[:2] == ["SZ1-2026-00001", "SZ1-2026-00010"]  # ties keep id order
        assert main.shown_ids[-3:] == ["SZ1-2026-00002", "SZ1-2026-00005", "SZ1-2026-00008"]
        assert main.cursor_id == "SZ1-2026-00001"  # the cursor stays on its record
        # a click on the Cost header sorts by cost; a second click reverses
        table = main.query_one(ExceptionTable)
        header = table.render_line(0).text
        await pilot.click(table, offset=(header.index("Cost") + 1, 0))
        assert main.sort_state == ("cost", False)
        await pilot.click(table, offset=(header.index("Cost") + 1, 0))
        assert main.sort_state == ("cost", True)
        assert main.shown_ids[:3] == ["SZ1-2026-00007", "SZ1-2026-00004", "SZ1-2026-00001"]
        assert "▼" in table.render_line(0).text


@run_async
async def test_filter_applies_as_you_type_and_a_bad_query_keeps_the_rows(log: ExceptionLog) -> None:
    app = make_app(log)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = main_of(app)
        main.sort_by("age")  # youngest first
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await type_text(pilot, "vendor:acme*")
        await settle(pilot)
        assert main.shown_ids == list(reversed(ACME))  # the sort stays
        status = static_text(main, "#status-bar")
        assert "filter vendor:acme*" in status and "open 3" in status and "3 of 10" in status

        await type_text(pilot, " stauts:open")
        await settle(pilot)
        error = main.query_one("#filter-error", Static)
        assert error.display
        text = str(error.visual)
        assert "unknown field 'stauts'" in text and "did you mean 'status'" in text
        # the caret sits under the bad field name, in line with the text typed above it
        assert text.index("^^^^^^") == main.filter_input.content_region.x + len("vendor:acme* ")
        assert main.shown_ids == list(reversed(ACME))
        assert "query error" in static_text(main, "#status-bar")

        await pilot.press(*["backspace"] * len(" stauts:open"))
        await settle(pilot)
        assert not error.display
        # keys typed faster than a frame right after `/` all land in the bar, `/` included
        await pilot.press("escape")
        main.filter_input.value = ""
        for character, key in (("/", "slash"), ("s", "s"), ("k", "k"), ("u", "u"), ("/", "slash")):
            app.post_message(events.Key(key, character))
        await pilot.pause(0.2)
        assert main.filter_input.value == "sku/"
        assert not main.query_one("#preview").display
        main.filter_input.value = "vendor:acme*"
        await settle(pilot)
        assert main.shown_ids == list(reversed(ACME))
        await pilot.press("escape")
        assert isinstance(app.focused, ExceptionTable)
        await pilot.press("slash", "end")
        await type_text(pilot, " cost>50")
        await pilot.press("enter")  # runs at once and goes back to the list
        await settle(pilot, 0.05)
        assert isinstance(app.focused, ExceptionTable)
        assert main.shown_ids == []
        assert "0 of 10" in static_text(main, "#status-bar")


# ---------------------------------------------------------------- the detail


@run_async
async def test_enter_opens_the_detail_and_its_evidence_opens(log: ExceptionLog, log_root: Path) -> None:
    app = make_app(log)
    opened = urls_opened(app)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        assert screen.record_id == "SZ1-2026-00001"
        text = detail_text(screen)
        for expected in (
            "SZ1-2026-00001  closed  valid",
            "QC failure",
            "hx-leather (HX Leather Goods)",
            "DEFECTIVE-BrokenHinge (Defective item)",
            "Clasp hinge snapped on opening.",
            "Decision",
            "customer wants the item",
            "SZ1-2026-00001-R1",
            "sf-express (SF Express)",
            "SF1234567890",
            "vendor 30.00 CNY, warehouse 8.50 CNY",
            "Vendor contacts",
            "30.00 CNY",
            "received-ok",
            "Freight recovered from vendor.",
            # the history, newest first, field by field
            "History  7 commits",
            "close  Test Runner",
            "+ decision.action: reship",
            "~ reshipments.0.status: shipped -> delivered",
        ):
            assert expected in text, expected
        assert text.index("close  Test Runner") < text.index("create  Test Runner")
        await pilot.press("o")
        assert opened == ["https://photos.example.com/qc/SZ1-2026-00001.jpg"]
        screen.open_link(1)
        assert opened[1] == (log_root / EVIDENCE_FILE).resolve().as_uri()
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


def test_evidence_target_refuses_everything_but_http_and_files_in_the_log(log_root: Path) -> None:
    outside = log_root.parent / "secret.txt"
    outside.write_text("secret")
    (log_root / "evidence" / "escape.jpg").symlink_to(outside)
    root = log_root.resolve()
    for link in (
        "evidence/escape.jpg",  # a symbolic link out of the log
        "../secret.txt",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "/etc/passwd",
        "~/secret.txt",
        ".git/config",
        "evidence",  # a folder
        "evidence/missing.jpg",
        "https://x.example/a b",
        "https:///nohost",
        "https://x.example/\x1b[2J",
    ):
        assert evidence_target(link, root)[0] is None, link
    assert evidence_target("http://x.example/p?q=1", root)[0] == "http://x.example/p?q=1"
    assert evidence_target(EVIDENCE_FILE, root)[0] == (root / EVIDENCE_FILE).as_uri()


@run_async
async def test_invalid_record_shows_its_problems_and_refused_links_stay_closed(
    log: ExceptionLog, log_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(ExceptionLog, "history", raising=False)  # as before history existed
    path = log_root / "records/2026/SZ1/000/SZ1-2026-00002.yaml"
    data = yamlio.load(path.read_text())
    data["qc"]["severity"] = "apocalyptic"
    data["qc"]["evidence"] = [{"kind": "doc", "link": "file:///etc/passwd"}]
    path.write_text(yamlio.dump(data))  # a hand edit: invalid, still listed and shown
    app = make_app(log)
    opened = urls_opened(app)
    notes = notes_of(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        row = next(line for line in table_lines(app) if "SZ1-2026-00002" in line)
        assert "SZ1-2026-00002 !" in row
        app.main_screen.query_one(ExceptionTable).move_to_id("SZ1-2026-00002")
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DetailScreen)
        text = detail_text(screen)
        assert "Problems" in text and "qc.severity" in text and "apocalyptic" in text
        assert "changed in the working tree" in text
        assert HISTORY_MISSING in text
        await pilot.press("h")
        await settle(pilot)
        from kakotui.tui.history import HistoryScreen

        assert isinstance(app.screen, HistoryScreen)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("o")
        assert opened == []
        assert any(note.startswith("not opened: file:///etc/passwd") for note in notes)


# ---------------------------------------------------------------- hostile text


@run_async
async def test_hostile_text_is_shown_inert_and_the_app_keeps_running(log_root: Path) -> None:
    config_path = log_root / "kakotui.yaml"
    config = yamlio.load(config_path.read_text())
    config["vendors"].append({"id": "evil", "name": "[@click=app.quit]x [b]bold"})
    config_path.write_text(yamlio.dump(config))
    log = ExceptionLog.open(log_root)
    saved = log.new(
        {
            "checked_at": "2026-11-30T10:00:00+08:00",
            "vendor": "evil",
            "sku": "[/bold]",
            "order_id": "KB\u202e99",
            "item_title": "[@click=app.quit]x",
            "failure_code": "WRONG-ITEM",
            "severity": "minor",
            "description": "red \x1b[31mRED\x1b[0m title \x1b]0;pwned\x07 clear \x1b[2J [link=https://evil.example]y[/link]",
        }
    )
    app = make_app(log)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            row = next(line for line in table_lines(app) if saved.id in line)
            assert "[/bold]" in row
            assert "\x1b" not in row
            app.main_screen.query_one(ExceptionTable).move_to_id(saved.id)
            await pilot.press("d")  # the preview pane renders the same text
            await settle(pilot)
            preview = static_text(app.main_screen, "#preview-body")
            assert "[@click=app.quit]x" in preview and "\\x1b[31m" in preview
            await pilot.press("enter")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, DetailScreen)
            text = detail_text(screen)
            assert "evil ([@click=app.quit]x [b]bold)" in text
            assert "[@click=app.quit]x" in text and "[/bold]" in text
            assert "\\x1b[31mRED\\x1b[0m" in text and "\\x1b]0;pwned\\x07" in text
            assert "KB\\u202e99" in text
            assert "[link=https://evil.example]y[/link]" in text
            assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
            # clicking over the text runs nothing
            body = screen.query_one("#detail-body")
            for y in range(0, 30, 2):
                await pilot.click(body, offset=(20, y))
            await pilot.pause()
            assert app.is_running
            assert isinstance(app.screen, DetailScreen)
            svg = app.export_screenshot()
            assert "\x1b" not in svg and "\u202e" not in svg
    finally:
        log.close()


# ---------------------------------------------------------------- forms, help, palette, keys


class _FakeDecideForm(ModalScreen[SaveResult | None]):
    """Stands in for kakotui.tui.forms: saves a decision through the façade and dismisses."""

    def __init__(self, log: ExceptionLog, record_id: str | None) -> None:
        super().__init__()
        self.exception_log = log
        self.record_id = record_id

    def on_mount(self) -> None:
        assert self.record_id is not None
        self.dismiss(self.exception_log.decide(self.record_id, "refund", reason="test"))


class _FakeConfirmForm(ModalScreen[SaveResult | None]):
    """Saves, then is closed without a result (as after "save and new" and a cancel)."""

    def __init__(self, log: ExceptionLog, record_id: str | None) -> None:
        super().__init__()
        self.exception_log = log
        self.record_id = record_id

    def on_mount(self) -> None:
        assert self.record_id is not None
        self.saved = [self.exception_log.confirm_customer(self.record_id, channel="chat", outcome="unhappy")]
        self.dismiss(None)


@run_async
async def test_a_saved_form_refreshes_the_list_and_missing_forms_are_said(
    log: ExceptionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry: dict[str, Any] | None = {"decide": _FakeDecideForm, "confirm": _FakeConfirmForm}
    monkeypatch.setattr(app_module, "form_registry", lambda: registry)
    app = make_app(log)
    notes = notes_of(app)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        main = main_of(app)
        main.sort_by("status")
        main.query_one(ExceptionTable).move_to_id("SZ1-2026-00005")
        await pilot.press("x")
        await settle(pilot)
        assert "saved SZ1-2026-00005" in notes
        assert main.cursor_id == "SZ1-2026-00005"
        assert main.status_of("SZ1-2026-00005") == "awaiting-confirmation"
        assert "open 2" in static_text(main, "#status-bar")
        main.query_one(ExceptionTable).move_to_id("SZ1-2026-00003")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("u")  # from the detail: the detail shows the new step too
        await settle(pilot)
        assert "saved SZ1-2026-00003" in notes
        assert "unhappy" in detail_text(app.screen)  # type: ignore[arg-type]
        await pilot.press("escape")
        assert main.cursor_id == "SZ1-2026-00003"
        await pilot.press("c")  # no close form in the registry
        assert "form 'close' not available" in notes
        registry = None
        await pilot.press("n")
        await pilot.press("enter", "e")  # on the detail too
        assert notes.count("forms not available") == 2
        assert app.is_running


@run_async
async def test_help_lists_the_bindings_and_the_palette_sorts(
    log: ExceptionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str | None] = []

    class NewForm(ModalScreen[SaveResult | None]):
        def __init__(self, log: ExceptionLog, record_id: str | None) -> None:
            super().__init__()
            opened.append(record_id)

        def on_mount(self) -> None:
            self.dismiss(None)

    monkeypatch.setattr(app_module, "form_registry", lambda: {"new": NewForm})
    app = make_app(log, keymap={"new": "ctrl+n"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        screen = app.screen
        assert isinstance(screen, HelpScreen)
        text = static_text(screen, "#help-text")
        assert text.index("Exception list") < text.index("Record detail")
        for expected in ("Everywhere", "Quit", "^p", "Filter bar", "Open evidence link", "Query language"):
            assert expected in text, expected
        assert "^n" in text.split("Exception list")[1].split("Record detail")[0]
        assert "cost>100" in text and "is:open" in text
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        await pilot.press("n")  # remapped away
        assert opened == []
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert opened == [None]
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")

        await pilot.press("ctrl+p")
        await type_text(pilot, "sort by cost")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert main_of(app).sort_state == ("cost", True)
        assert main_of(app).shown_ids[0] == "SZ1-2026-00007"


@run_async
async def test_keymap_files_remap_and_bad_files_are_reported(log: ExceptionLog, tmp_path: Path) -> None:
    user_file = Path(os.environ["XDG_CONFIG_HOME"]) / "kakotui" / "keys.yaml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("filter: f\nsort-next: s\n")
    clone_file = log.git.git_dir / "kakotui" / "keys.yaml"
    clone_file.write_text("sort-next: k\n")
    app = KakotuiApp(log, today=TODAY, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.keymap == {"filter": "f", "sort-next": "k"}
        await pilot.press("k")
        assert main_of(app).sort_state == ("status", False)
        await pilot.press("f")
        assert isinstance(app.focused, Input)
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just a list\n")
    keymap, problems = load_keymap([bad, tmp_path / "missing.yaml"])
    assert keymap == {} and "expected a mapping" in problems[0]


# ---------------------------------------------------------------- start: identity, drafts, first build


@run_async
async def test_identity_is_asked_when_git_has_none(
    log_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    log = ExceptionLog.open(log_root)
    assert not log.has_identity
    app = make_app(log)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, IdentityScreen)
            await pilot.press("enter", "enter")  # nothing typed: refused, still asking
            assert isinstance(app.screen, IdentityScreen)
            await type_text(pilot, "Li Wei")
            await pilot.press("enter")
            await type_text(pilot, "li.wei@example.com")
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, MainScreen)
            assert "Li Wei" in app.sub_title
        assert log.has_identity and log.identity.name == "Li Wei"
        name = subprocess.run(
            ["git", "-C", str(log_root), "config", "--get", "user.name"], capture_output=True, text=True
        )
        assert name.stdout.strip() == "Li Wei"
    finally:
        log.close()


@run_async
async def test_first_index_build_runs_in_a_worker_and_drafts_are_announced(log: ExceptionLog) -> None:
    drafts = log.git.git_dir / "kakotui" / "drafts"
    drafts.mkdir(parents=True, exist_ok=True)
    (drafts / "SZ1-2026-00003.json").write_text(json.dumps({"action": "close", "record": {"id": "x"}}))
    index = log.git.git_dir / "kakotui" / "index.sqlite"
    log.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(index) + suffix).unlink(missing_ok=True)
    fresh = ExceptionLog.open(log.root)
    app = make_app(fresh)
    notes = notes_of(app)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await pilot.pause()
            main = app.main_screen
            assert main.query_one("#loading").display or main.shown_ids == ALL
            await settle(pilot)
            assert not main.query_one("#loading").display
            assert main.shown_ids == ALL
        assert any("unsaved work" in note and "SZ1-2026-00003" in note for note in notes)
    finally:
        fresh.close()


# ---------------------------------------------------------------- rows: sorting and filtering as data


SHOWN = ("id", "status", "checked_date", "vendor", "sku", "failure_code", "cost_minor", "cost_text")
SHOWN += ("responsible", "inspector", "valid")


def _data() -> ListData:
    raw = [
        ("A-1", "closed", "2026-11-30", "b", "s1", "C", 500, "5.00 CNY", "vendor", "x", 1),
        ("A-2", "open", "2026-11-01", "", "s2", "A", 0, "", "", "y", 0),
        ("A-3", "open", "", "a", "s3", "B", None, "1.00 USD", "", "z", 1),
        ("A-4", "decided", "2026-11-15", "B", "s4", "", 123456, "1234.56 CNY", "carrier", "w", 1),
    ]
    return build_list(raw, TODAY, "CNY", columns=SHOWN)


def test_rows_carry_age_flag_and_cost() -> None:
    rows = _data().rows
    assert rows[0][:4] == ("A-1", "", "closed", 1)
    assert rows[1][1] == "!" and rows[1][7] == ""
    assert rows[2][3] is None and rows[2][7] == "?"  # no rate for USD
    assert rows[3][7] == "1,234.56"
    assert format_cost(5, "5 JPY", "JPY") == "5"


def test_sort_order_keeps_ties_in_id_order_and_empties_last() -> None:
    data = _data()
    assert sort_order(data, "status", today=TODAY) == [1, 2, 3, 0]
    assert sort_order(data, "status", today=TODAY, descending=True) == [0, 3, 1, 2]
    assert sort_order(data, "vendor", today=TODAY) == [2, 0, 3, 1]  # case-insensitive, empty last
    assert sort_order(data, "vendor", today=TODAY, descending=True) == [0, 3, 2, 1]
    assert sort_order(data, "age", today=TODAY) == [0, 3, 1, 2]
    assert sort_order(data, "cost", today=TODAY, descending=True) == [3, 0, 1, 2]
    assert sort_order(data, "id", today=TODAY, descending=True) == [3, 2, 1, 0]
    assert sort_order(data, "flag", today=TODAY) == [1, 0, 2, 3]
    with pytest.raises(KeyError):
        sort_order(data, "json", today=TODAY)


def test_filter_order_keeps_the_sort() -> None:
    data = _data()
    rows = data.rows
    order = sort_order(data, "age", today=TODAY)
    assert id_mask(rows, {"A-2", "A-1"}) == b"\x01\x01\x00\x00"
    assert filter_order(order, id_mask(rows, {"A-2", "A-1"})) == [0, 1]
    assert filter_order(order, id_mask(rows, None)) == order
    assert filter_order(order, id_mask(rows, set())) == []


def test_filtering_the_load_order_gives_what_filtering_any_order_gives() -> None:
    """The id order is the load order (`RowOrder.load`): its filter is one pass over the mask, and
    gives what the general path gives for the same order, ascending and descending."""
    data = _data()
    mask = id_mask(data.rows, {"A-2", "A-4", "A-3"})
    for descending in (False, True):
        order = sort_order(data, "id", today=TODAY, descending=descending)
        assert order.load == (-1 if descending else 1)  # type: ignore[attr-defined]
        assert filter_order(order, mask) == filter_order(list(order), mask)
        assert filter_order(order, mask) != []
