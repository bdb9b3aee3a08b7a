"""The import screen (mapping, preview and problems before anything is written) and the export dialog.

`ImportScreen(log, path)` plans the import in a worker (nothing is written), shows how each column is
mapped, the records it would create or update and every problem by row and column; the person then
imports (in a worker, with a progress bar) or goes back. It dismisses with the `ImportResult`, or None.
`ExportDialog(log, query)` asks for a file and writes the records of the current filter with
`export_rows`, which the app can also call directly. Text from the sheet is shown through `inert`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from kakotui.core.record import status_of
from kakotui.core.textsafe import inert
from kakotui.interchange.exporter import ExportResult
from kakotui.interchange.importer import ImportPlan, ImportResult
from kakotui.log import ExceptionLog

__all__ = ["PREVIEW_ROWS", "ExportDialog", "ImportScreen", "export_rows"]

PREVIEW_ROWS = 200
"""Rows of the preview and problem tables (the summary counts them all)."""


def export_rows(log: ExceptionLog, query: str, path: Path | str, format: str | None = None) -> ExportResult:
    """Export the records matching `query` (the list's filter) to `path`; format from the extension
    when not given. Raises LogError (or QueryError) with a message for people."""
    target = Path(path).expanduser()
    fmt = format or (target.suffix.lower().lstrip(".") if target.suffix else "csv")
    if fmt not in ("csv", "xlsx", "json", "jsonl"):
        fmt = "csv"
    return log.export(query, fmt=fmt, path=target)


def _cell(value: Any, limit: int = 60) -> Text:
    return Text(inert(str(value), limit=limit, single_line=True))


def _fill(table: DataTable[Any], labels: Sequence[str], rows: Sequence[Sequence[Text]]) -> None:
    """Columns as wide as their widest cell, then the rows. A DataTable measures auto-width columns
    only when it is next idle, and a row painted before that keeps the header-wide columns (a
    Textual race seen on a busy machine); fixed widths paint right the first time."""
    widths = [max([cell_len(label), *(row[i].cell_len for row in rows)]) for i, label in enumerate(labels)]
    table.clear(columns=True)
    for label, width in zip(labels, widths, strict=True):
        table.add_column(label, width=width)
    table.add_rows(rows)


MAPPING_COLUMNS = ("Column", "Field")
PREVIEW_COLUMNS = ("Row", "Action", "Id", "Vendor", "SKU", "Failure code", "Status", "Changes")
PROBLEM_COLUMNS = ("Row", "Column", "Value", "Problem")


class ImportScreen(Screen["ImportResult | None"]):
    """Preview an import of one sheet, then import it on confirmation."""

    DEFAULT_CSS = """
    ImportScreen #import-summary { height: auto; padding: 0 1; text-style: bold; }
    ImportScreen #import-notes { height: auto; max-height: 4; padding: 0 1; color: $warning; }
    ImportScreen #import-top { height: 1fr; }
    ImportScreen #import-mapping-pane { width: 44; }
    ImportScreen #import-preview-pane { width: 1fr; }
    ImportScreen #import-problems-pane { height: 1fr; }
    ImportScreen .import-heading { padding: 0 1; color: $accent; text-style: bold; }
    ImportScreen DataTable { height: 1fr; }
    ImportScreen #import-progress { height: auto; padding: 0 1; display: none; }
    ImportScreen #import-progress.busy { display: block; }
    ImportScreen #import-buttons { height: auto; padding: 0 1; }
    ImportScreen #import-buttons Button { margin-right: 2; }
    ImportScreen #import-go { width: 26; }
    ImportScreen #import-skip-toggle { width: 34; }
    ImportScreen #import-problem-detail { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "confirm", "Import", id="import-confirm"),
        Binding("ctrl+k", "toggle_skip", "Skip rows with problems", id="import-skip"),
        Binding("escape", "cancel", "Back", id="import-cancel"),
    ]

    def __init__(
        self,
        log: ExceptionLog,
        path: Path | str,
        *,
        mapping: Path | str | None = None,
        station: str | None = None,
        lock: Any = None,
    ) -> None:
        super().__init__()
        self.exception_log = log
        self.path = Path(path)
        self.mapping_path = mapping
        self.station = station
        self._lock = lock
        self.plan: ImportPlan | None = None
        self.result: ImportResult | None = None
        self.error: str | None = None
        self.skip_problems = False
        self.busy = True

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(
            f"Reading {inert(self.path.name, limit=80, single_line=True)}…", id="import-summary", markup=False
        )
        yield Static("", id="import-notes", markup=False)
        with Horizontal(id="import-top"):
            with Vertical(id="import-mapping-pane"):
                yield Label("Columns → fields", classes="import-heading")
                yield DataTable(id="import-mapping", cursor_type="row", zebra_stripes=True)
            with Vertical(id="import-preview-pane"):
                yield Label("Preview", classes="import-heading")
                yield DataTable(id="import-preview", cursor_type="row", zebra_stripes=True)
        with Vertical(id="import-problems-pane"):
            yield Label("Problems", id="import-problems-heading", classes="import-heading")
            yield DataTable(id="import-problems", cursor_type="row", zebra_stripes=True)
            yield Static("", id="import-problem-detail", markup=False)
        with Vertical(id="import-progress"):
            yield Label("", id="import-progress-label")
            yield ProgressBar(id="import-bar", show_eta=False)
        with Horizontal(id="import-buttons"):
            yield Button("Import", id="import-go", variant="primary", disabled=True)
            yield Button("Skip rows with problems: off", id="import-skip-toggle")
            yield Button("Back", id="import-back")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "import"
        self.query_one("#import-mapping", DataTable).add_columns(*MAPPING_COLUMNS)
        self.query_one("#import-preview", DataTable).add_columns(*PREVIEW_COLUMNS)
        self.query_one("#import-problems", DataTable).add_columns(*PROBLEM_COLUMNS)
        self._plan()

    def _log_lock(self) -> Any:
        lock = self._lock or getattr(self.app, "log_lock", None)
        return lock if lock is not None else threading.RLock()

    # ---------------------------------------------------------------- planning (nothing written)

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def _plan(self) -> None:
        worker = get_current_worker()
        plan: ImportPlan | None = None
        error: str | None = None
        try:
            with self._log_lock():
                given = self.exception_log.load_mapping(self.mapping_path) if self.mapping_path else None
                sheet = self.exception_log.read_sheet(self.path, sheet=given.sheet if given else None)
                plan = self.exception_log.plan_import(
                    sheet, mapping=given, station=self.station, progress=self._progress
                )
        except Exception as exc:  # a bad file or mapping is a message, never a crash
            error = str(exc) or type(exc).__name__
        if not worker.is_cancelled:
            self.app.call_from_thread(self._planned, plan, error)

    def _progress(self, phase: str, done: int, total: int) -> None:
        self.app.call_from_thread(self._show_progress, phase, done, total)

    def _show_progress(self, phase: str, done: int, total: int) -> None:
        words = {"reading": "Reading rows", "checking": "Checking records", "writing": "Writing records"}
        box = self.query_one("#import-progress")
        box.add_class("busy")
        self.query_one("#import-progress-label", Label).update(
            f"{words.get(phase, phase)}: {done:,} of {total:,}"
        )
        self.query_one("#import-bar", ProgressBar).update(total=max(total, 1), progress=done)

    def _planned(self, plan: ImportPlan | None, error: str | None) -> None:
        self.busy = False
        self.query_one("#import-progress").remove_class("busy")
        self.plan, self.error = plan, error
        summary = self.query_one("#import-summary", Static)
        if plan is None:
            summary.update(
                Text(f"Cannot import {self.path.name}:\n{inert(error or '?', limit=2000)}", style="bold red")
            )
            return
        _fill(
            self.query_one("#import-mapping", DataTable),
            MAPPING_COLUMNS,
            [
                (_cell(column, 30), _cell(target or "(ignored)", 24))
                for column, target in plan.mapping.columns.items()
            ],
        )
        preview = []
        for planned in (plan.creates + plan.updates)[:PREVIEW_ROWS]:
            qc = planned.record.get("qc", {})
            preview.append(
                (
                    _cell(planned.row),
                    _cell("new" if planned.action == "create" else "update"),
                    _cell(planned.id),
                    _cell(qc.get("vendor", ""), 20),
                    _cell(qc.get("sku", ""), 20),
                    _cell(qc.get("failure_code", ""), 24),
                    _cell(status_of(planned.record)),
                    _cell(", ".join(planned.changed), 40),
                )
            )
        _fill(self.query_one("#import-preview", DataTable), PREVIEW_COLUMNS, preview)
        _fill(
            self.query_one("#import-problems", DataTable),
            PROBLEM_COLUMNS,
            [
                (
                    _cell(problem.row or ""),
                    _cell(problem.column, 24),
                    _cell(problem.value, 24),
                    _cell(problem.message, 200),
                )
                for problem in plan.problems[:PREVIEW_ROWS]
            ],
        )
        shown = f" (first {PREVIEW_ROWS})" if len(plan.problems) > PREVIEW_ROWS else ""
        self.query_one("#import-problems-heading", Label).update(f"Problems: {len(plan.problems)}{shown}")
        notes = "\n".join(inert(w, limit=300, single_line=True) for w in plan.warnings[:4])
        self.query_one("#import-notes", Static).update(notes)
        self._update_summary()

    def _update_summary(self) -> None:
        plan = self.plan
        if plan is None:
            return
        bad = len(plan.bad_rows)
        text = f"{self.path.name}: {plan.summary()}"
        if bad and not self.skip_problems:
            text += (
                " — nothing can be imported while rows have problems: fix the sheet, or skip them (ctrl+k)"
            )
        self.query_one("#import-summary", Static).update(Text(inert(text, limit=400)))
        go = self.query_one("#import-go", Button)
        count = len(plan.to_save)
        go.label = f"Import {count} record{'s' if count != 1 else ''}"
        go.disabled = (
            self.busy or self.result is not None or count == 0 or bool(bad and not self.skip_problems)
        )
        toggle = self.query_one("#import-skip-toggle", Button)
        toggle.label = f"Skip rows with problems: {'on' if self.skip_problems else 'off'}"

    # ---------------------------------------------------------------- importing

    def action_toggle_skip(self) -> None:
        self.skip_problems = not self.skip_problems
        self._update_summary()

    def action_confirm(self) -> None:
        go = self.query_one("#import-go", Button)
        if go.disabled or self.plan is None:
            return
        self.busy = True
        go.disabled = True
        self._apply(self.plan, "skip" if self.skip_problems else "stop")

    def action_cancel(self) -> None:
        if self.busy and self.plan is not None:
            return  # an import is being written: it finishes (or fails whole) first
        self.dismiss(self.result)

    @on(DataTable.RowHighlighted, "#import-problems")
    def _problem_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """The whole of the highlighted problem (the table cuts long messages)."""
        if self.plan is None or not 0 <= event.cursor_row < len(self.plan.problems):
            return
        problem = self.plan.problems[event.cursor_row]
        self.query_one("#import-problem-detail", Static).update(Text(inert(str(problem), limit=600)))

    @on(Button.Pressed, "#import-go")
    def _go(self) -> None:
        self.action_confirm()

    @on(Button.Pressed, "#import-skip-toggle")
    def _toggle(self) -> None:
        self.action_toggle_skip()

    @on(Button.Pressed, "#import-back")
    def _back(self) -> None:
        self.action_cancel()

    @work(thread=True, exclusive=True, group="import", exit_on_error=False)
    def _apply(self, plan: ImportPlan, on_error: str) -> None:
        result: ImportResult | None = None
        error: str | None = None
        try:
            with self._log_lock():
                result = self.exception_log.apply_import(
                    plan, on_error=on_error, file_name=self.path.name, progress=self._progress
                )
        except Exception as exc:  # the import failed whole: nothing was written
            error = str(exc) or type(exc).__name__
        self.app.call_from_thread(self._applied, result, error)

    def _applied(self, result: ImportResult | None, error: str | None) -> None:
        self.busy = False
        self.query_one("#import-progress").remove_class("busy")
        summary = self.query_one("#import-summary", Static)
        if result is None:
            summary.update(
                Text(
                    f"Import failed, nothing was written: {inert(error or '?', limit=600)}", style="bold red"
                )
            )
            self._update_go_after_failure()
            return
        self.result = result
        summary.update(Text(inert(f"{self.path.name}: {result.summary()}", limit=400), style="bold green"))
        self.query_one("#import-go", Button).disabled = True
        self.query_one("#import-back", Button).label = "Done"
        self.notify(inert(result.summary(), limit=200), title="Import", markup=False)

    def _update_go_after_failure(self) -> None:
        self.query_one("#import-go", Button).disabled = False


class ExportDialog(ModalScreen["ExportResult | None"]):
    """Ask where to export the records of the current filter, then write them (in a worker)."""

    DEFAULT_CSS = """
    ExportDialog { align: center middle; }
    ExportDialog #export-box { width: 70; height: auto; padding: 1 2; background: $panel; border: round $accent; }
    ExportDialog #export-error { color: $error; height: auto; }
    ExportDialog #export-buttons { height: auto; margin-top: 1; }
    ExportDialog #export-buttons Button { margin-right: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="export-cancel")]

    def __init__(
        self, log: ExceptionLog, query: str = "", *, folder: Path | None = None, lock: Any = None
    ) -> None:
        super().__init__()
        self.exception_log = log
        self.filter = query
        self.folder = folder or Path.cwd()
        self._lock = lock

    def compose(self) -> ComposeResult:
        default = self.folder / f"exceptions-{date.today():%Y%m%d}.xlsx"
        with Vertical(id="export-box"):
            shown = inert(self.filter, limit=60, single_line=True) or "(all records)"
            yield Label(f"Export the records of: {shown}", markup=False)
            yield Label("File (.csv, .xlsx, .json or .jsonl):", markup=False)
            yield Input(str(default), id="export-path")
            yield Static("", id="export-error", markup=False)
            with Horizontal(id="export-buttons"):
                yield Button("Export", id="export-go", variant="primary")
                yield Button("Cancel", id="export-no")

    def on_mount(self) -> None:
        self.query_one("#export-path", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#export-no")
    def _no(self) -> None:
        self.dismiss(None)

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export-go")
    def _go(self) -> None:
        path = self.query_one("#export-path", Input).value.strip()
        if not path:
            self.query_one("#export-error", Static).update("give a file name")
            return
        self.query_one("#export-go", Button).disabled = True
        self._export(path)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export(self, path: str) -> None:
        lock = self._lock or getattr(self.app, "log_lock", None) or threading.RLock()
        result: ExportResult | None = None
        error: str | None = None
        try:
            with lock:
                result = export_rows(self.exception_log, self.filter, path)
        except Exception as exc:  # a bad path or query is a message
            error = str(exc) or type(exc).__name__
        self.app.call_from_thread(self._done, result, error)

    def _done(self, result: ExportResult | None, error: str | None) -> None:
        if result is None:
            self.query_one("#export-error", Static).update(inert(error or "?", limit=400))
            self.query_one("#export-go", Button).disabled = False
            return
        self.notify(
            f"exported {result.records} record(s) to {inert(str(result.path), limit=120)}", markup=False
        )
        self.dismiss(result)
