"""Snapshots of the main list and a record's detail at 80x24 and 160x45 over the fixed sample log.

Update with `pytest tests/tui/test_snapshots.py --snapshot-update`, then look at the SVGs in
tests/tui/__snapshots__/test_snapshots/ before committing them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from kakotui.log import ExceptionLog
from kakotui.tui.app import KakotuiApp
from tests.tui.logdata import TODAY

SIZES = [(80, 24), (160, 45)]

Compare = Callable[..., bool]


def _app(log: ExceptionLog) -> KakotuiApp:
    return KakotuiApp(log, today=TODAY, cursor_blink=False, keymap={})


async def _ready(pilot: Pilot[Any]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.fixture(autouse=True)
def _no_history(monkeypatch: pytest.MonkeyPatch) -> None:
    # History lines carry commit times (the time the fixture ran): keep them out of the pictures.
    monkeypatch.delattr(ExceptionLog, "history", raising=False)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snap_compare: Compare, log: ExceptionLog, size: tuple[int, int]) -> None:
    assert snap_compare(_app(log), terminal_size=size, run_before=_ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_detail_view(snap_compare: Compare, log: ExceptionLog, size: tuple[int, int]) -> None:
    async def open_first(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        await pilot.press("enter")
        await _ready(pilot)

    assert snap_compare(_app(log), terminal_size=size, run_before=open_first)


def test_filter_error_and_preview(snap_compare: Compare, log: ExceptionLog) -> None:
    async def bad_query(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        app = pilot.app
        assert isinstance(app, KakotuiApp)
        app.main_screen.set_filter("code:DAMAGED*")
        await _ready(pilot)
        await pilot.press("d", "down", "slash", "end", "space", *"stauts:open")
        await pilot.pause(0.3)
        await _ready(pilot)

    assert snap_compare(_app(log), terminal_size=(160, 45), run_before=bad_query)
