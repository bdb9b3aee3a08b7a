"""The record history screen (kakotui.tui.history) driven through Pilot, and its snapshot.

Update the snapshot with `pytest tests/tui/test_history_screen.py --snapshot-update`, then look at
the SVG in tests/tui/__snapshots__/test_history_screen/ before committing it. The log it shows is
built with fixed commit times (tests/store/history_data.py `build_fixed`), so ids and dates are stable.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from kakotui.log import ExceptionLog
from kakotui.tui.history import HistoryScreen
from tests.store.history_data import (
    NEW_ID,
    OLD_ID,
    OLD_PATH,
    build_fixed,
    build_scripted,
    copy_log,
    isolated_build,
)

Compare = Callable[..., bool]


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


class HistoryApp(App[None]):
    """A bare app that opens the history screen of one record (as the detail view's `h` will)."""

    def __init__(self, log: ExceptionLog, record_id: str) -> None:
        super().__init__()
        self.exception_log = log
        self.record_id = record_id
        self.cursor_blink = False

    def on_mount(self) -> None:
        self.push_screen(HistoryScreen(self.exception_log, self.record_id))


@pytest.fixture(scope="session")
def fixed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return isolated_build(tmp_path_factory, "history-fixed", build_fixed)[0]


@pytest.fixture(scope="session")
def scripted_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return isolated_build(tmp_path_factory, "history-scripted", build_scripted)[0]


@pytest.fixture
def fixed_log(fixed_template: Path, tmp_path: Path) -> Iterator[ExceptionLog]:
    log = ExceptionLog(copy_log(fixed_template, tmp_path / "log"))
    log.refresh()
    yield log
    log.close()


async def ready(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def pane(app: App[Any]) -> str:
    return str(app.screen.query_one("#history-change", Static).content)


def status(app: App[Any]) -> str:
    return str(app.screen.query_one("#history-status", Static).content)


@run_async
async def test_timeline_newest_first_with_the_diff_of_each_change(fixed_log: ExceptionLog) -> None:
    app = HistoryApp(fixed_log, OLD_ID)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        timeline = screen.query_one("#history-timeline", OptionList)
        labels = [str(timeline.get_option_at_index(i).prompt) for i in range(timeline.option_count)]
        assert labels == [
            "2026-11-23 12:05  Wang Fang  reship",
            "2026-11-21 16:30  Li Wei     edit",
            "2026-11-21 10:02  Chen Jing  reship",
            "2026-11-20 11:01  Chen Jing  decide",
            "2026-11-20 09:20  Li Wei     create",
        ]
        assert status(app) == f"{OLD_ID}  5 changes, newest first"
        assert pane(app).splitlines()[2:] == [
            "action reship",
            "",
            "~ reshipments.0.status  shipped -> delivered",
            "+ reshipments.0.delivered_at  2026-11-23T12:00:00+08:00",
        ]
        await pilot.press("down")
        lines = pane(app).splitlines()
        assert lines[0] == "SZ1-2026-00001: edit qc.sku, qc.description"
        assert lines[1].endswith("2026-11-21T16:30:00+08:00  Li Wei <li.wei@example.com>")
        assert lines[4:] == [
            "~ qc.sku  HX-2231-BLK -> 0123",
            # Record text is data: the escape is shown, the markup-like text stays text.
            "~ qc.description  Clasp hinge snapped on opening. -> Hinge snapped.\\x1b[31m [bold]not markup[/bold]",
        ]
        await pilot.press("end")
        assert pane(app).splitlines()[4] == "+ schema_version  1"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HistoryScreen)


@run_async
async def test_uncommitted_changes_come_first(fixed_log: ExceptionLog) -> None:
    file = fixed_log.root / OLD_PATH
    file.write_text(file.read_text().replace("severity: major", "severity: critical"))
    app = HistoryApp(fixed_log, OLD_ID)
    async with app.run_test(size=(120, 36)) as pilot:
        await ready(pilot)
        timeline = app.screen.query_one("#history-timeline", OptionList)
        assert str(timeline.get_option_at_index(0).prompt) == "not committed yet"
        assert pane(app).splitlines() == [
            "Not committed yet",
            "in the work tree",
            "",
            "~ qc.severity  major -> critical",
        ]


@run_async
async def test_renumbered_record_and_unknown_record(scripted_template: Path, tmp_path: Path) -> None:
    log = ExceptionLog(copy_log(scripted_template, tmp_path / "log"))
    log.refresh()
    try:
        app = HistoryApp(log, OLD_ID)  # the former id
        async with app.run_test(size=(100, 30)) as pilot:
            await ready(pilot)
            timeline = app.screen.query_one("#history-timeline", OptionList)
            assert timeline.option_count == 9
            assert status(app) == f"{NEW_ID}  9 changes, newest first"
            await pilot.press("end", "up", "up")
            assert pane(app).splitlines()[4:] == [
                "~ id  SZ1-2026-00001 -> SZ1-2026-00003",
                "+ aliases.0  SZ1-2026-00001",
            ]
        app = HistoryApp(log, "SZ1-2026-00077")
        async with app.run_test(size=(100, 30)) as pilot:
            await ready(pilot)
            assert status(app) == "no record SZ1-2026-00077 in this log (and none in its history)"
            assert app.screen.query_one("#history-timeline", OptionList).option_count == 0
    finally:
        log.close()


def test_snapshot_history_screen(snap_compare: Compare, fixed_log: ExceptionLog) -> None:
    async def second_change(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        await pilot.press("down")
        await pilot.pause()

    assert snap_compare(HistoryApp(fixed_log, OLD_ID), terminal_size=(100, 24), run_before=second_change)
