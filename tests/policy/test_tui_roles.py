"""The TUI knows the person's role: forms they may not use are shown disabled and refuse with the reason."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.screen import ModalScreen

from kakotui.tui.app import KakotuiApp
from tests.helpers import qc
from tests.policy.world import LI, WANG, as_, make_policed_log
from tests.tui.logdata import TODAY


def _run(app: KakotuiApp, keys: list[str]) -> tuple[list[str], list[str], dict[str, str]]:
    """Press `keys` on the list; (notifications, screens seen after each key, the app's forbidden forms)."""
    notes: list[str] = []
    screens: list[str] = []

    async def go() -> None:
        original = app.notify

        def notify(message: str, **kwargs: object) -> None:
            notes.append(message)
            original(message, **kwargs)  # type: ignore[arg-type]

        app.notify = notify  # type: ignore[method-assign]
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            await app.workers.wait_for_complete()
            await pilot.pause()
            for key in keys:
                await pilot.press(key)
                await pilot.pause(0.2)
                screens.append(type(app.screen).__name__)
                if isinstance(app.screen, ModalScreen):
                    await pilot.press("escape")
                    await pilot.pause(0.1)
            app.open_form("close", app.main_screen.cursor_id)
            await pilot.pause(0.1)
            screens.append(type(app.screen).__name__)

    asyncio.run(go())
    return notes, screens, dict(app.forbidden)


def test_an_inspector_sees_close_and_decide_disabled_and_is_told_why(tmp_path: Path) -> None:
    root = make_policed_log(tmp_path / "log")
    with as_(LI, root) as log:
        log.new(qc(checked_at="2026-11-20T09:14:00+08:00"))
    log = as_(LI, root)
    notes, screens, forbidden = _run(KakotuiApp(log, today=TODAY, cursor_blink=False, keymap={}), ["c", "x"])
    assert set(forbidden) == {"decide", "reship", "contact", "confirm", "close"}
    assert "inspector may not close" in forbidden["close"]
    assert screens == ["MainScreen", "MainScreen", "MainScreen"]  # neither key nor the palette opened a form
    assert any("may not close" in note for note in notes)


def test_a_lead_may_use_every_form(tmp_path: Path) -> None:
    root = make_policed_log(tmp_path / "log")
    with as_(LI, root) as log:
        log.new(qc(checked_at="2026-11-20T09:14:00+08:00"))
    log = as_(WANG, root)
    _notes, screens, forbidden = _run(KakotuiApp(log, today=TODAY, cursor_blink=False, keymap={}), ["c"])
    assert forbidden == {}
    assert screens[0] != "MainScreen"  # the close form opened
