"""The reports screen with Pilot: tables, parts, bars, the period selector, drill-down, errors; one snapshot."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable, Coroutine
from datetime import date
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import DataTable, Select, Static

from kakotui.log import ExceptionLog
from kakotui.tui.reports import ReportsScreen, bar_lines, period_dates

TODAY = date(2026, 12, 3)
NOV = "2026-11-01..2026-11-30"

Compare = Callable[..., bool]


class Host(App[None]):
    """Opens the reports screen and keeps what it was dismissed with."""

    def __init__(self, log: ExceptionLog, **screen: Any) -> None:
        super().__init__()
        self.exception_log = log
        self.screen_args = screen
        self.result: str | None = "(not dismissed)"

    def compose(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        self.push_screen(ReportsScreen(self.exception_log, today=TODAY, **self.screen_args), self._done)

    def _done(self, query: str | None) -> None:
        self.result = query


def run_async(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop (the project has no pytest asyncio plugin)."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(test(*args, **kwargs))

    return wrapper


async def _ready(pilot: Pilot[Any]) -> None:
    await pilot.pause()  # let a Select.Changed start its worker first
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def _cells(screen: ReportsScreen) -> list[list[str]]:
    table = screen.query_one("#report-table", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


@run_async
async def test_scorecard_parts_and_drill_down(fixed: ExceptionLog) -> None:
    app = Host(fixed, period="custom", custom=NOV)
    async with app.run_test(size=(160, 45)) as pilot:
        await _ready(pilot)
        screen = app.screen
        assert isinstance(screen, ReportsScreen)
        rows = _cells(screen)
        assert [r[0] for r in rows] == ["hx-leather", "acme-bags", "yiwu-toys", "total"]
        assert rows[0][11] == "101.50" and rows[0][-1] == "D"
        chart = str(screen.query_one("#report-chart", Static).content)
        assert "hx-leather" in chart and "█" in chart
        await pilot.press("right_square_bracket")
        assert screen.table_shown is not None and screen.table_shown.name == "scorecard.pareto"
        assert [r[0] for r in _cells(screen)] == ["DEFECTIVE", "DAMAGED", "WRONG-ITEM", "total"]
        await pilot.press("left_square_bracket")
        for _ in range(6):
            await pilot.press("right")  # to the `critical` column
        await pilot.press("enter")
        await pilot.pause()
    assert app.result == "vendor:hx-leather since:2026-11-01 until:2026-11-30 severity:critical"


@run_async
async def test_switching_report_and_period(fixed: ExceptionLog) -> None:
    app = Host(fixed, report="costs", period="custom", custom=NOV)
    async with app.run_test(size=(160, 45)) as pilot:
        await _ready(pilot)
        screen = app.screen
        assert isinstance(screen, ReportsScreen)
        assert _cells(screen)[-1][-1] == "174.35"
        screen.query_one("#report-name", Select).value = "trends"
        await _ready(pilot)
        assert screen.report is not None and screen.report.name == "trends"
        assert [r[0] for r in _cells(screen)][:2] == ["2026-10-26", "2026-11-02"]  # weekly for a month
        screen.query_one("#report-period", Select).value = "all"
        await _ready(pilot)
        assert screen.report is None and screen.error is not None
        assert "EUR in 2026-12" in screen.error  # all time holds the December cost without a rate
        screen.query_one("#report-name", Select).value = "audit"
        await _ready(pilot)
        assert screen.report is not None and screen.report.name == "audit" and screen.error is None
        await pilot.press("escape")
        await pilot.pause()
    assert app.result is None


@run_async
async def test_a_figure_without_records_says_so(fixed: ExceptionLog) -> None:
    app = Host(fixed, report="reconcile", period="custom", custom=NOV)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await _ready(pilot)
        await pilot.press("down", "down", "down", "enter")  # the totals row
        await pilot.pause()
        assert app.result == "(not dismissed)"
        assert any("no list of records" in n.message for n in app._notifications)


def test_period_presets_and_bars() -> None:
    assert period_dates("last-month", date(2026, 3, 15)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert period_dates("30d", date(2026, 3, 15)) == (date(2026, 2, 14), date(2026, 3, 15))
    assert period_dates("custom", TODAY, "2026-11-01..") == (date(2026, 11, 1), None)
    with pytest.raises(ValueError):
        period_dates("custom", TODAY, "last week")
    lines = [str(line) for line in bar_lines(["a", "bb"], [4, 1], 36)]
    assert lines[0].count("█") == 18 and lines[1].count("█") == 4 and "▌" in lines[1]  # 4.5 cells


def test_snapshot_pareto(snap_compare: Compare, fixed: ExceptionLog, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ExceptionLog.report

    def stable(self: ExceptionLog, name: str, **kw: Any) -> Any:
        report = real(self, name, **kw)
        meta = tuple((k, "REVISION" if k == "revision" else v) for k, v in report.meta)
        return dataclasses.replace(report, meta=meta)

    monkeypatch.setattr(ExceptionLog, "report", stable)

    async def to_pareto(pilot: Pilot[Any]) -> None:
        await _ready(pilot)
        await pilot.press("right_square_bracket")
        await pilot.pause()

    assert snap_compare(
        Host(fixed, period="custom", custom=NOV), terminal_size=(130, 40), run_before=to_pareto
    )
