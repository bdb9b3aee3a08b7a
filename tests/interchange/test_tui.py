"""The import screen (preview before anything is written, then import in a worker) and the export dialog.

Update the snapshot with `pytest tests/interchange/test_tui.py --snapshot-update`, then look at the SVG.
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Button, DataTable

from kakotui.interchange.importer import ImportResult
from kakotui.log import ExceptionLog
from kakotui.tui.importer import ExportDialog, ImportScreen
from tests.helpers import make_log
from tests.interchange.sheets import HEADERS, ROWS, state, write_csv

Compare = Callable[..., bool]


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop (the project has no pytest asyncio plugin)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


class Host(App[None]):
    """A bare app holding one screen, as the main app will (it pushes the screen and takes its result)."""

    def __init__(self, screen: Any) -> None:
        super().__init__()
        self.first = screen
        self.results: list[Any] = []

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.push_screen(self.first, self.results.append)


@pytest.fixture
def log(tmp_path: Path) -> ExceptionLog:
    opened: ExceptionLog = make_log(tmp_path / "log")
    return opened


async def _settle(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@run_async
async def test_preview_then_import(log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "legacy.csv", HEADERS, ROWS)
    before = state(log)
    app = Host(ImportScreen(log, sheet))
    async with app.run_test(size=(120, 36)) as pilot:
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, ImportScreen) and screen.plan is not None
        assert screen.query_one("#import-mapping", DataTable).row_count == len(HEADERS)
        assert screen.query_one("#import-preview", DataTable).row_count == 3
        assert screen.query_one("#import-problems", DataTable).row_count == 1
        go = screen.query_one("#import-go", Button)
        assert go.disabled and state(log) == before  # nothing written while previewing
        await pilot.press("ctrl+s")
        await _settle(pilot)
        assert state(log) == before  # refused: a row has a problem and skipping is off
        await pilot.press("ctrl+k")
        assert not go.disabled and str(go.label) == "Import 3 records"
        await pilot.press("ctrl+s")
        await _settle(pilot)
        assert screen.result is not None and len(screen.result.created) == 3
        assert state(log)[2] == before[2] + 1
        await pilot.press("escape")
        await pilot.pause()
    (result,) = app.results
    assert isinstance(result, ImportResult) and result.skipped_rows == [4]


@run_async
async def test_a_bad_file_is_a_message(log: ExceptionLog, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes("Vendor,Notes\nacme,Crème brûlée ¼\n".encode("cp1252"))
    app = Host(ImportScreen(log, bad))
    async with app.run_test(size=(100, 30)) as pilot:
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, ImportScreen)
        assert screen.plan is None and "cannot tell the text encoding" in (screen.error or "")
        assert screen.query_one("#import-go", Button).disabled
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


@run_async
async def test_export_dialog_writes_the_filtered_records(log: ExceptionLog, tmp_path: Path) -> None:
    log.import_(write_csv(tmp_path / "legacy.csv", HEADERS, ROWS), on_error="skip")
    app = Host(ExportDialog(log, "vendor:acme-bags", folder=tmp_path))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        target = tmp_path / "acme.csv"
        app.screen.query_one("#export-path").value = str(target)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await _settle(pilot)
    rows = list(csv.DictReader(io.StringIO(target.read_text("utf-8-sig"))))
    assert [r["vendor"] for r in rows] == ["acme-bags"]
    assert app.results and app.results[0].records == 1


def test_import_screen_snapshot(snap_compare: Compare, log: ExceptionLog, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "legacy.csv", HEADERS, ROWS)

    async def ready(pilot: Pilot[Any]) -> None:
        await _settle(pilot)
        for _ in range(100):  # on a busy machine the plan may still be on its way to the screen
            screen = pilot.app.screen
            if isinstance(screen, ImportScreen) and screen.plan is not None and not screen.busy:
                break
            await pilot.pause(0.05)
        await pilot.pause()

    assert snap_compare(Host(ImportScreen(log, sheet)), terminal_size=(120, 36), run_before=ready)
