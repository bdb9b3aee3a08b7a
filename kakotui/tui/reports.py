"""The reports screen: pick a report, a period and one of its tables; read it with a bar chart; drill down.

`ReportsScreen(log)` computes reports through the façade in a worker (holding the app's log lock
when there is one) and shows one table of the report at a time, with bars for the tables that
have a chart (Pareto, trends, aging...). Enter on a figure dismisses the screen with the query of
the records behind it (e.g. `vendor:hx-leather category:DEFECTIVE since:2026-11-01`), for the
main list to apply; Escape dismisses with None.

Bars are drawn with block characters (eighths), so they need no plotting library and read the
same in any terminal and in snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, ClassVar, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Select, Static

from kakotui.core.textsafe import inert
from kakotui.log import ExceptionLog, LogError
from kakotui.reports import REPORTS
from kakotui.reports.model import Report
from kakotui.reports.render import cell_text

__all__ = ["PERIODS", "ReportsScreen", "bar_lines", "period_dates"]

PERIODS: tuple[tuple[str, str], ...] = (
    ("last 30 days", "30d"),
    ("this month", "month"),
    ("last month", "last-month"),
    ("last 90 days", "90d"),
    ("this year", "year"),
    ("all time", "all"),
    ("custom period", "custom"),
)
_EIGHTHS = " ▏▎▍▌▋▊▉█"


def period_dates(key: str, today: date, custom: str = "") -> tuple[date | None, date | None]:
    """(since, until) of a period preset; `custom` is `YYYY-MM-DD..YYYY-MM-DD` (either side may be empty)."""
    if key == "30d":
        return today - timedelta(days=29), today
    if key == "90d":
        return today - timedelta(days=89), today
    if key == "month":
        return today.replace(day=1), today
    if key == "last-month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if key == "year":
        return today.replace(month=1, day=1), today
    if key == "custom":
        left, sep, right = custom.strip().partition("..")
        if not sep:
            raise ValueError("type a period as YYYY-MM-DD..YYYY-MM-DD (either side may be empty)")
        return (
            date.fromisoformat(left.strip()) if left.strip() else None,
            date.fromisoformat(right.strip()) if right.strip() else None,
        )
    return None, None


def bar_lines(labels: Sequence[str], values: Sequence[Decimal | int | None], width: int) -> list[Content]:
    """One line per value: the label, a bar scaled to the largest value (eighths of a cell), the value."""
    numbers = [Decimal(v) if isinstance(v, (int, Decimal)) else Decimal(0) for v in values]
    top = max((n for n in numbers if n > 0), default=Decimal(0))
    label_width = min(max((len(label) for label in labels), default=0), 24)
    bar_width = max(width - label_width - 16, 4)
    lines: list[Content] = []
    for label, value, n in zip(labels, values, numbers, strict=True):
        eighths = int(n * bar_width * 8 / top) if top and n > 0 else 0
        bar = "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")
        shown = "—" if value is None else f"{value:f}" if isinstance(value, Decimal) else str(value)
        lines.append(
            Content.assemble(
                (inert(label, limit=label_width, single_line=True).ljust(label_width) + " ", "bold"),
                (bar.ljust(bar_width), "$accent"),
                " " + shown,
            )
        )
    return lines


class ReportsScreen(Screen[str | None]):
    """Reports with a period selector, one table at a time, bars and drill-down to the records."""

    DEFAULT_CSS = """
    ReportsScreen #report-controls { height: 3; }
    ReportsScreen #report-name { width: 18; }
    ReportsScreen #report-period { width: 26; }
    ReportsScreen #report-range { width: 1fr; }
    ReportsScreen #report-part { width: 2fr; }
    ReportsScreen #report-stamp { height: auto; color: $text-muted; padding: 0 1; }
    ReportsScreen #report-table { height: 1fr; min-height: 6; }
    ReportsScreen #report-below { height: auto; max-height: 45%; }
    ReportsScreen #report-chart { height: auto; padding: 0 1; }
    ReportsScreen #report-notes { height: auto; color: $text-muted; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="reports-back"),
        Binding("ctrl+r,f5", "recompute", "Recompute", id="reports-recompute"),
        Binding("left_square_bracket", "part(-1)", "Previous table", id="reports-previous-part"),
        Binding("right_square_bracket", "part(1)", "Next table", id="reports-next-part"),
    ]

    def __init__(
        self,
        log: ExceptionLog,
        *,
        report: str = "scorecard",
        period: str = "30d",
        custom: str = "",
        today: date | None = None,
    ) -> None:
        """`period` is a PERIODS key (`custom` uses `custom`, e.g. "2026-11-01..2026-11-30"); `today`
        fixes the day periods count from (tests), by default the app's or the log's today."""
        super().__init__()
        self.exception_log = log
        self.report: Report | None = None
        self.error: str | None = None
        self._name = report if report in REPORTS else "scorecard"
        self._period = period if period in dict((k, k) for _, k in PERIODS) else "30d"
        self._custom = custom
        self._today = today
        self._part = 0
        self._tables: list[Report] = []

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="report-controls"):
            yield Select(
                [(name, name) for name in REPORTS],
                value=self._name,
                allow_blank=False,
                id="report-name",
            )
            yield Select(
                [(label, key) for label, key in PERIODS],
                value=self._period,
                allow_blank=False,
                id="report-period",
            )
            yield Input(
                self._custom, placeholder="since..until, e.g. 2026-11-01..2026-11-30", id="report-range"
            )
            yield Select([("main table", 0)], value=0, allow_blank=False, id="report-part")
        yield Static("", id="report-stamp", markup=False)
        yield DataTable(id="report-table", cursor_type="cell", zebra_stripes=True)
        with VerticalScroll(id="report-below"):
            yield Static("", id="report-chart", markup=False)
            yield Static("", id="report-notes", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "reports"
        self.query_one("#report-range", Input).display = self._period == "custom"
        self.recompute()
        self.query_one("#report-table", DataTable).focus()

    # ---------------------------------------------------------------- computing

    def today(self) -> date:
        if self._today is not None:
            return self._today
        app_today = getattr(self.app, "today", None)
        return app_today() if callable(app_today) else self.exception_log.today()

    def _now(self) -> datetime:
        tz = self.exception_log.config.tz
        today = self.today()
        real = datetime.now(tz).replace(microsecond=0)
        return real if real.date() == today else datetime.combine(today, time(23, 59, 59), tz)

    def _lock(self) -> AbstractContextManager[Any]:
        """The app's log lock (KakotuiApp.log_lock) when it has one: workers share one SQLite connection."""
        lock: Any = getattr(self.app, "log_lock", None)
        return nullcontext() if lock is None else cast(AbstractContextManager[Any], lock)

    def recompute(self) -> None:
        try:
            since, until = period_dates(
                self._period, self.today(), self.query_one("#report-range", Input).value
            )
        except ValueError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        self.query_one("#report-stamp", Static).update(Content("computing…"))
        self._compute(self._name, since, until, self._now())

    @work(thread=True, exclusive=True, group="report", exit_on_error=False)
    def _compute(self, name: str, since: date | None, until: date | None, now: datetime) -> None:
        span = (until or now.date()) - since if since else None
        options: dict[str, Any] = {}
        if name == "trends":
            options["by"] = "week" if span is not None and span.days <= 92 else "month"
        try:
            with self._lock():
                self.exception_log.refresh()
                report = self.exception_log.report(name, since=since, until=until, now=now, **options)
        except LogError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._show, report)

    def _failed(self, message: str) -> None:
        self.error = message
        self.report = None
        self._tables = []
        self.query_one("#report-stamp", Static).update(Content(inert(message, limit=600)))
        self.query_one("#report-table", DataTable).clear(columns=True)
        self.query_one("#report-chart", Static).update("")
        self.query_one("#report-notes", Static).update("")
        self.notify(inert(message, limit=300), title="Report", severity="error", markup=False)

    def _show(self, report: Report) -> None:
        self.error = None
        self.report = report
        self._tables = list(report.walk())
        self._part = min(self._part, len(self._tables) - 1)
        parts = self.query_one("#report-part", Select)
        with parts.prevent(Select.Changed):
            parts.set_options(
                [(inert(t.title, limit=60, single_line=True), i) for i, t in enumerate(self._tables)]
            )
            parts.value = self._part
        stamp = " · ".join(f"{k}: {v}" for k, v in report.meta if k != "log")
        self.query_one("#report-stamp", Static).update(Content(inert(stamp, single_line=True)))
        self._show_table()

    @property
    def table_shown(self) -> Report | None:
        return self._tables[self._part] if self._tables else None

    def _show_table(self) -> None:
        shown = self.table_shown
        table = self.query_one("#report-table", DataTable)
        table.clear(columns=True)
        if shown is None:
            return
        for col in shown.columns:
            table.add_column(Text(inert(col.label, single_line=True)), key=col.key)
        rows = list(shown.rows) + ([shown.totals] if shown.totals is not None else [])
        for row in rows:
            table.add_row(
                *(
                    Text(cell_text(v, c), justify="left" if c.kind == "text" else "right")
                    for v, c in zip(row, shown.columns, strict=True)
                )
            )
        chart = self.query_one("#report-chart", Static)
        if shown.chart is not None and shown.rows:
            labels = [str(r[shown.index(shown.chart.label)]) for r in shown.rows]
            values = [r[shown.index(shown.chart.value)] for r in shown.rows]
            width = max(self.size.width - 4, 30)
            title = Content.styled(
                inert(f"{shown.columns[shown.index(shown.chart.value)].label} by {shown.chart.label}"), "bold"
            )
            chart.update(Content("\n").join([title, *bar_lines(labels, values, width)]))  # type: ignore[arg-type]
            chart.display = True
        else:
            chart.update("")
            chart.display = False
        notes = "\n".join(f"* {n}" for n in shown.notes)
        hint = "Enter on a figure: list its records · [ ] other tables · Esc back"
        self.query_one("#report-notes", Static).update(Content(inert(notes + ("\n" if notes else "") + hint)))

    # ---------------------------------------------------------------- events

    @on(Select.Changed, "#report-name")
    def _report_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self._name:
            self._name = event.value
            self._part = 0
            self.recompute()

    @on(Select.Changed, "#report-period")
    def _period_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self._period:
            self._period = event.value
            custom = self._period == "custom"
            field = self.query_one("#report-range", Input)
            field.display = custom
            if custom:
                field.focus()
            else:
                self.recompute()

    @on(Input.Submitted, "#report-range")
    def _range_submitted(self, _event: Input.Submitted) -> None:
        self.recompute()
        self.query_one("#report-table", DataTable).focus()

    @on(Select.Changed, "#report-part")
    def _part_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, int) and event.value != self._part and self._tables:
            self._part = event.value
            self._show_table()

    def action_part(self, step: int) -> None:
        if not self._tables:
            return
        self._part = (self._part + step) % len(self._tables)
        parts = self.query_one("#report-part", Select)
        with parts.prevent(Select.Changed):
            parts.value = self._part
        self._show_table()

    def action_recompute(self) -> None:
        self.recompute()

    def action_close(self) -> None:
        self.dismiss(None)

    def drill_query(self, row: int, column: str) -> tuple[str, bool] | None:
        """(query, exact) behind the figure at `row` (of the table shown) in `column`; None if none."""
        shown = self.table_shown
        if shown is None or row >= len(shown.rows):
            return None
        drill = shown.drill(row, column)
        return None if drill is None else (drill.query, drill.exact)

    @on(DataTable.CellSelected, "#report-table")
    def _cell_selected(self, event: DataTable.CellSelected) -> None:
        column = event.cell_key.column_key.value or ""
        found = self.drill_query(event.coordinate.row, column)
        if found is None:
            self.notify("no list of records behind this figure", severity="information", markup=False)
            return
        query, exact = found
        if not exact:
            self.notify(
                "the list shows a wider set than this figure (the query language cannot say it exactly)",
                severity="information",
                markup=False,
            )
        self.dismiss(query)
