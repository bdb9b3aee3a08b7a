"""The main screen: the exception list, its filter bar, status bar and an optional record preview.

Rows are read once from the index (list columns only) into tuples in id order; sorting and
filtering only build order arrays over them. The index catch-up and every query run in thread
workers holding the app's log lock, so typing in the filter bar never waits for SQLite.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar

from rich.cells import cell_len
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from kakotui.core.textsafe import inert
from kakotui.store.memquery import Listing, Unsupported
from kakotui.store.query import QueryError
from kakotui.tui.rows import (
    LISTING_COLUMNS,
    SORT_CYCLE,
    ListData,
    ListRow,
    build_list,
    filter_order,
    id_mask,
    list_data,
    sort_order,
)
from kakotui.tui.table import Column, ExceptionTable

if TYPE_CHECKING:
    from kakotui.tui.app import KakotuiApp

__all__ = ["FILTER_DEBOUNCE", "MainScreen", "list_columns"]

FILTER_DEBOUNCE = 0.15
"""Seconds of quiet typing before the filter runs: a word typed fast is one filter, not one per letter
(the filter itself costs a few ms in memory)."""

FIRST_PAGE = 200
"""Rows read and shown before the rest of the log at start (the first screenful in a fraction of a second)."""

_PREVIEW_DELAY = 0.1
_STATUS_ORDER = ("open", "decided", "reshipping", "awaiting-confirmation", "closed")
_STATUS_STYLE = {
    "open": "$text-warning",
    "decided": "$text-accent",
    "reshipping": "$text-secondary",
    "awaiting-confirmation": "$text-primary",
    "closed": "$text-success",
}
_STATUS_SHORT = {
    "open": "open",
    "decided": "decided",
    "reshipping": "reshipping",
    "awaiting-confirmation": "awaiting",
    "closed": "closed",
}
_SORT_LABEL = {
    "id": "id",
    "flag": "problems",
    "status": "status",
    "age": "age",
    "vendor": "vendor",
    "sku": "SKU",
    "code": "failure code",
    "cost": "cost",
    "responsible": "responsible",
    "inspector": "inspector",
}


def list_columns(currency: str, width: int) -> list[Column]:
    """The list's columns for a screen `width` cells wide (the last ones drop out when narrow)."""
    columns = [
        Column("id", "ID", 14),
        Column("flag", "", 1),
        Column("status", "Status", 12, min_width=10),
        Column("age", "Age", 3, "right"),
        Column("vendor", "Vendor", 14, min_width=8),
        Column("sku", "SKU", 12, min_width=8),
        Column("code", "Failure code", 22, min_width=14),
        Column("cost", f"Cost {inert(currency, limit=3)}", 10, "right"),
        Column("responsible", "Responsible", 11, min_width=8),
        Column("inspector", "Inspector", 14, min_width=8),
    ]
    if width < 110:
        return columns[:-2]
    if width < 125:
        return columns[:-1]
    return columns


class _ListPane(Vertical):
    """The left part of the main screen; tells the screen its width so the list can drop columns."""

    def on_resize(self, event: events.Resize) -> None:
        screen = self.screen
        if isinstance(screen, MainScreen):
            screen.fit_columns(event.size.width)


class MainScreen(Screen[None]):
    """The list of exceptions."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: handled as it arrives, so keys typed right after it already go to the bar
        Binding("slash", "focus_filter", "Filter", id="filter", priority=True),
        Binding("n", "form('new')", "New", id="new"),
        Binding("o", "sort_next", "Sort", id="sort-next"),
        Binding("O", "sort_reverse", "Reverse sort", id="sort-reverse", show=False),
        Binding("d", "toggle_preview", "Preview", id="preview"),
        Binding("e", "form('edit')", "Edit", id="edit", show=False),
        Binding("x", "form('decide')", "Decide", id="decide", show=False),
        Binding("r", "form('reship')", "Reship", id="reship", show=False),
        Binding("v", "form('contact')", "Vendor contact", id="contact", show=False),
        Binding("u", "form('confirm')", "Customer confirmation", id="confirm", show=False),
        Binding("c", "form('close')", "Close the record", id="close", show=False),
        Binding("ctrl+r,f5", "reload", "Reload", id="reload", show=False),
        Binding("s", "sync", "Sync", id="sync"),
        Binding("R", "reports", "Reports", id="reports"),
        Binding("h", "history", "History", id="history-list", show=False),
        Binding("ctrl+e", "export", "Export the list", id="export", show=False),
        Binding("escape", "back", "Back to the list", id="back", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._data: ListData | None = None
        self._rows: list[ListRow] = []
        self._sorted: list[int] = []
        self._mask: bytes | None = None  # per row in load order: 1 when the filter shows it; None: no filter
        self._partial = False  # only the first page is loaded yet
        self._painted = threading.Event()  # set once the first page is on screen
        self._query = ""
        self._total_counts: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._sort_key = "id"
        self._sort_descending = False
        self._loaded = False
        self._filter_error: QueryError | None = None
        self._debounce: Timer | None = None
        self._preview_timer: Timer | None = None
        self._progress: tuple[int, int] = (0, 0)
        self._progress_timer: Timer | None = None
        self._wide = 0
        self._order: list[int] = []

    @property
    def kakotui(self) -> KakotuiApp:
        from kakotui.tui.app import KakotuiApp

        app = self.app
        assert isinstance(app, KakotuiApp)
        return app

    # ---------------------------------------------------------------- layout

    def compose(self) -> ComposeResult:
        currency = self.kakotui.exception_log.config.reporting_currency
        yield Header()
        with Horizontal(id="body"):
            with _ListPane(id="list-pane"):
                with Horizontal(id="filter-row"):
                    yield Label("/", id="filter-label")
                    yield Input(
                        placeholder="filter: vendor:acme status:open code:DEFECTIVE* cost>100 hinge  (? help)",
                        id="filter",
                        compact=True,
                        select_on_focus=False,
                    )
                yield Static("", id="filter-error", markup=False)
                with Vertical(id="loading"):
                    yield Label("Reading the log…", id="loading-label", markup=False)
                    yield ProgressBar(id="loading-bar", show_eta=False)
                columns = list_columns(currency, self.app.size.width)
                self._wide = len(columns)
                yield ExceptionTable(columns, id="list", empty_text="loading…")
            with VerticalScroll(id="preview"):
                yield Static("", id="preview-body", markup=False)
        yield Static("", id="status-bar", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#filter-error").display = False
        self.query_one("#preview").display = False
        self.table.focus()
        self._progress_timer = self.set_interval(0.1, self._show_progress, pause=True)
        self._show_first_page()
        self.reload()

    def _show_first_page(self) -> None:
        """The first screenful from the index as it stands, read here so that the first paint shows it
        (a few ms of SQLite; a worker would cost a paint of the empty list first). The catch-up and the
        rest of the rows follow in the loading worker; a problem is left for it to report."""
        app = self.kakotui
        log = app.exception_log
        try:
            with app.log_lock:
                if not log.index_ready():
                    return
                today = app.today()
                page = log.records("", columns=LISTING_COLUMNS, limit=FIRST_PAGE, today=today)
        except Exception:
            return
        self._first_page(build_list(page, today, log.config.reporting_currency), self._painted)

    def fit_columns(self, width: int) -> None:
        """Drop the last columns when the list is narrow (a small terminal, or the preview is open)."""
        columns = list_columns(self.kakotui.exception_log.config.reporting_currency, width)
        if len(columns) != self._wide:
            self._wide = len(columns)
            self.table.set_columns(columns)

    @property
    def table(self) -> ExceptionTable:
        return self.query_one("#list", ExceptionTable)

    @property
    def filter_input(self) -> Input:
        return self.query_one("#filter", Input)

    @property
    def cursor_id(self) -> str | None:
        """The record under the list cursor."""
        return self.table.cursor_id

    @property
    def shown_ids(self) -> list[str]:
        """The ids the list shows, top to bottom (for tests and the command palette)."""
        return [self._rows[i][0] for i in self._order]

    @property
    def query_text(self) -> str:
        """The filter that applies to the list (the last query that ran without error)."""
        return self._query

    @property
    def sort_state(self) -> tuple[str, bool]:
        return self._sort_key, self._sort_descending

    # ---------------------------------------------------------------- loading

    def reload(self, keep_id: str | None = None) -> None:
        """Catch the index up with the repository and read the rows again (in a worker)."""
        self._progress = (0, 0)
        if not self._loaded:
            self.query_one("#loading").display = True
            if self._progress_timer is not None:
                self._progress_timer.resume()
        self._load(keep_id)

    def action_sync(self) -> None:
        """Sync with the shared remote (a screen that runs it in a worker and shows the summary)."""
        from kakotui.tui.sync import SyncScreen

        def done(summary: Any) -> None:
            if summary is not None and getattr(summary, "changed_locally", True):
                self.reload(keep_id=self.cursor_id)

        self.app.push_screen(SyncScreen(self.app.exception_log), done)  # type: ignore[attr-defined]

    def action_history(self) -> None:
        """The history of the record under the cursor."""
        from kakotui.tui.history import HistoryScreen

        if self.cursor_id is None:
            self.notify("no record selected", severity="warning")
            return
        app: Any = self.app
        self.app.push_screen(HistoryScreen(app.exception_log, self.cursor_id, lock=app.log_lock))

    def action_export(self) -> None:
        """Export the records of the current filter (CSV, XLSX, JSON, JSONL)."""
        from kakotui.tui.importer import ExportDialog

        app: Any = self.app
        self.app.push_screen(ExportDialog(app.exception_log, self.query_text, lock=app.log_lock))

    def action_reports(self) -> None:
        """Report screens; a figure drilled into comes back as a filter on this list."""
        from kakotui.tui.reports import ReportsScreen

        def apply(query: str | None) -> None:
            if query:
                while self.app.screen is not self:
                    self.app.pop_screen()
                self.set_filter(query)

        self.app.push_screen(ReportsScreen(self.app.exception_log), apply)  # type: ignore[attr-defined]

    def action_reload(self) -> None:
        self.reload(keep_id=self.cursor_id)
        self.notify("reloading…", timeout=2)

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self, keep_id: str | None) -> None:
        app = self.kakotui
        log = app.exception_log
        today = app.today()
        currency = log.config.reporting_currency
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            self._progress = (done, total)

        try:
            with app.log_lock:
                if self._partial:
                    self._painted.wait(2.0)  # the catch-up competes for the CPU: the first page shows first
                log.refresh(progress)
                if worker.is_cancelled:
                    return
                listing = Listing.from_chunks(log.record_chunks(LISTING_COLUMNS))
        except Exception as exc:  # a broken repository is shown, not raised
            if not worker.is_cancelled:
                app.call_from_thread(self._load_failed, exc)
            return
        data = list_data(listing, today, currency)
        counts = listing.counts(listing.everything)
        if not worker.is_cancelled:
            app.call_from_thread(self._loaded_rows, data, counts, keep_id)

    def _first_page(self, data: ListData, painted: threading.Event) -> None:
        if self._loaded or not data.rows:
            painted.set()
            return
        self.call_after_refresh(painted.set)
        self._partial = True
        self.query_one("#loading").display = False
        self._set_data(data)
        self._show_rows()
        self.query_one("#status-bar", Static).update(
            Content.assemble(("reading the rest of the log…", "dim"))
        )

    def _show_progress(self) -> None:
        done, total = self._progress
        bar = self.query_one("#loading-bar", ProgressBar)
        label = self.query_one("#loading-label", Label)
        if total:
            bar.update(total=total, progress=done)
            label.update(f"Building the index: {done:,} of {total:,} records")
            if self._partial:  # the first page is on screen, the bar is not: say it in the status bar
                self.query_one("#status-bar", Static).update(
                    Content.assemble(
                        (f"catching up with the repository: {done:,} of {total:,} records…", "dim")
                    )
                )

    def _load_failed(self, exc: Exception) -> None:
        self._finish_loading()
        self.table.empty_text = "the log could not be read"
        self.notify(
            f"could not read the log: {inert(str(exc), limit=400)}",
            severity="error",
            timeout=15,
            markup=False,
        )

    def _finish_loading(self) -> None:
        self._loaded = True
        self.query_one("#loading").display = False
        if self._progress_timer is not None:
            self._progress_timer.pause()

    def _set_data(self, data: ListData) -> None:
        self._data = data
        self._rows = data.rows
        self._sorted = sort_order(
            data, self._sort_key, today=self.kakotui.today(), descending=self._sort_descending
        )

    def _loaded_rows(self, data: ListData, counts: dict[str, int], keep_id: str | None) -> None:
        keep = keep_id if keep_id is not None else (self.cursor_id if self._partial else None)
        self._finish_loading()
        self._partial = False
        self._set_data(data)
        self._total_counts = counts
        self.table.empty_text = (
            "no exceptions match the filter" if data.rows else "no exceptions yet: n logs one"
        )
        if self._query:
            try:  # the filter applies to the new rows at once (in memory: milliseconds)
                self._mask = data.listing.select(self._query, today=self.kakotui.today())
                self._counts = data.listing.counts(self._mask)
            except (QueryError, Unsupported):
                self._mask = None
                self._run_filter(self._query)
        else:
            self._mask = None
            self._counts = counts
        self._show_rows()
        if keep is not None:
            self.table.move_to_id(keep)

    # ---------------------------------------------------------------- filtering

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(FILTER_DEBOUNCE, lambda: self._run_filter(event.value))

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._run_filter(event.value)
        self.set_focus(self.table)

    def set_filter(self, query: str) -> None:
        """Put `query` in the filter bar and run it now."""
        if self._debounce is not None:
            self._debounce.stop()
        with self.filter_input.prevent(Input.Changed):
            self.filter_input.value = query
        self._run_filter(query)

    @work(thread=True, exclusive=True, group="filter", exit_on_error=False)
    def _run_filter(self, query: str) -> None:
        """Apply `query` to the list: in memory once the list is loaded, else (or for what memory cannot
        answer) through the index's SQL. Off the UI thread either way, so typing never waits."""
        app = self.kakotui
        worker = get_current_worker()
        text = query.strip()
        data = self._data
        if not text:
            app.call_from_thread(self._filtered, "", None, data, self._total_counts)
            return
        today = app.today()
        try:
            if data is not None and not self._partial:
                try:
                    mask = data.listing.select(text, today=today)
                    counts = data.listing.counts(mask)
                except Unsupported:
                    mask, counts = self._filter_in_index(text, data)
            else:
                mask, counts = self._filter_in_index(text, data)
        except QueryError as exc:
            if not worker.is_cancelled:
                app.call_from_thread(self._filter_failed, query, exc)
            return
        except Exception as exc:
            if not worker.is_cancelled:
                app.call_from_thread(self._filter_failed, query, QueryError(str(exc), 0, len(query)))
            return
        if not worker.is_cancelled:
            app.call_from_thread(self._filtered, text, mask, data, counts)

    def _filter_in_index(self, text: str, data: ListData | None) -> tuple[bytes, dict[str, int]]:
        """The SQL path: the ids the index selects, as a mask over the rows held."""
        app = self.kakotui
        today = app.today()
        with app.log_lock:
            ids = frozenset(
                str(row[0]) for row in app.exception_log.records(text, columns=["id"], today=today)
            )
            counts = app.exception_log.status_counts(text, today=today)
        mask = id_mask(data.rows if data is not None else [], ids)
        assert mask is not None
        return mask, counts

    def _filtered(
        self, query: str, mask: bytes | None, data: ListData | None, counts: dict[str, int]
    ) -> None:
        if data is not self._data:  # the rows were reloaded meanwhile: apply the query to the new ones
            current = self._data
            try:
                if current is None or self._partial:
                    raise Unsupported("the list is not loaded yet")
                mask = current.listing.select(query, today=self.kakotui.today()) if query else None
                counts = current.listing.counts(mask) if mask is not None else self._total_counts
            except (QueryError, Unsupported):
                # later, so that this filter's own worker (waiting on this call) is not cancelled
                self.call_after_refresh(self._run_filter, query)
                return
        self._query = query
        self._mask = mask
        self._counts = counts
        self._filter_error = None
        self.query_one("#filter-error").display = False
        self._show_rows()

    def _filter_failed(self, query: str, error: QueryError) -> None:
        """Show what is wrong and where; the rows of the last good query stay."""
        self._filter_error = error
        widget = self.query_one("#filter-error", Static)
        message = inert(error.message, limit=300, single_line=True)
        field = self.filter_input
        caret_x = (
            field.content_region.x
            - self.query_one("#filter-row").region.x
            + cell_len(query[: error.position])
            - round(field.scroll_offset.x)
        )
        marks = "^" * max(1, min(error.length, 60))
        if 0 <= caret_x < max(1, widget.size.width or self.size.width) - 1:
            line = Content.assemble(" " * caret_x, (marks, "bold $error"), " ", (message, "$error"))
        else:
            line = Content.assemble((f"at column {error.position + 1}: ", "bold $error"), (message, "$error"))
        widget.update(line)
        widget.display = True
        self._update_status()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "form" and parameters and parameters[0] in self.kakotui.forbidden:
            return None  # shown disabled: this person's role may not (the key says why)
        # a `/` typed in the bar is text, not the key that focuses it
        return not (action == "focus_filter" and self.is_mounted and self.focused is self.filter_input)

    def action_focus_filter(self) -> None:
        # set_focus now, not focus() (deferred): keys typed right after `/` must land in the bar.
        self.set_focus(self.filter_input)

    def action_back(self) -> None:
        if self.filter_input.has_focus:
            self.set_focus(self.table)
        elif self.query_one("#preview").display:
            self.action_toggle_preview()

    # ---------------------------------------------------------------- sorting

    def sort_by(self, key: str, descending: bool = False) -> None:
        """Sort the list by column `key` (a key of rows.CELL); the cursor stays on its record."""
        self._sort_key = key
        self._sort_descending = descending
        if self._data is not None:
            self._sorted = sort_order(self._data, key, today=self.kakotui.today(), descending=descending)
        self.table.set_sort(key, descending=descending)
        self._show_rows()

    def action_sort_next(self) -> None:
        position = SORT_CYCLE.index(self._sort_key) + 1 if self._sort_key in SORT_CYCLE else 0
        self.sort_by(SORT_CYCLE[position % len(SORT_CYCLE)])

    def action_sort_reverse(self) -> None:
        self.sort_by(self._sort_key, not self._sort_descending)

    @on(ExceptionTable.SortRequested)
    def _header_clicked(self, event: ExceptionTable.SortRequested) -> None:
        key = event.column_key
        if key == self._sort_key:
            self.sort_by(key, not self._sort_descending)
        else:
            self.sort_by(key)

    # ---------------------------------------------------------------- showing

    def _show_rows(self) -> None:
        self._order = filter_order(self._sorted, self._mask)
        self.table.set_data(self._rows, self._order)
        self._update_status()

    def _update_status(self) -> None:
        parts: list[str | tuple[str, str]] = []
        for status in _STATUS_ORDER:
            count = self._counts.get(status, 0)
            if count:
                parts.extend([(_STATUS_SHORT[status], _STATUS_STYLE[status]), f" {count:,}  "])
        if not self._counts:
            parts.append(("no records  ", "dim"))
        shown, total = len(self._order), len(self._rows)
        parts.append(("│ ", "dim"))
        parts.append(f"{shown:,} of {total:,}" if shown != total else f"{total:,} records")
        if self._query:
            parts.extend([("  │ filter ", "dim"), (inert(self._query, limit=60, single_line=True), "bold")])
        if self._filter_error is not None:
            parts.append(("  query error: list unchanged", "$text-error"))
        mark = "▼" if self._sort_descending else "▲"
        parts.append((f"  │ sort {_SORT_LABEL.get(self._sort_key, self._sort_key)} {mark}", "dim"))
        self.query_one("#status-bar", Static).update(Content.assemble(*parts))

    # ---------------------------------------------------------------- records

    @on(ExceptionTable.RowSelected)
    def _row_selected(self, event: ExceptionTable.RowSelected) -> None:
        self.kakotui.open_detail(event.row_id)

    def action_form(self, name: str) -> None:
        self.kakotui.open_form(name, None if name == "new" else self.cursor_id)

    def action_toggle_preview(self) -> None:
        preview = self.query_one("#preview")
        preview.display = not preview.display
        if preview.display:
            self._update_preview()

    @on(ExceptionTable.RowHighlighted)
    def _row_highlighted(self, event: ExceptionTable.RowHighlighted) -> None:
        if not self.query_one("#preview").display:
            return
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(_PREVIEW_DELAY, self._update_preview)

    def _update_preview(self) -> None:
        body = self.query_one("#preview-body", Static)
        rid = self.cursor_id
        if rid is None:
            body.update(Content.assemble(("no record selected", "dim")))
            return
        app = self.kakotui
        try:
            loaded = app.run_in_log(lambda log: log.get(rid))
        except Exception as exc:
            body.update(Content.assemble((inert(str(exc), limit=300), "$error")))
            return
        from kakotui.tui.recordview import record_sections

        status = self._status_of(rid)
        sections = [
            s.content for s in record_sections(loaded, app.exception_log.config, status) if s.key != "history"
        ]
        body.update(Content("\n\n").join(sections))
        self.query_one("#preview", VerticalScroll).scroll_home(animate=False)

    def _status_of(self, rid: str) -> str:
        index = self.table.cursor_index
        if index is not None and self._rows[index][0] == rid:
            return self._rows[index][2]
        return next((row[2] for row in self._rows if row[0] == rid), "")

    def status_of(self, rid: str) -> str:
        """The list's status for a record ('' when it is not loaded)."""
        return self._status_of(rid)
