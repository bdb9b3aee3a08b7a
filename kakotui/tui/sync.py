"""The sync screen: run `kakotui sync` in a worker with its progress, show the summary, and resolve
kept conflicts with one keystroke per field (o = ours, t = theirs).

Both screens stand alone over an `ExceptionLog`: `SyncScreen(log)` dismisses with the last
`SyncSummary` (or None when nothing ran) so the app can reload its list; `ConflictScreen(log, id)`
dismisses with the `SaveResult` of the resolution commit (or None when cancelled). When the app has
a `log_lock` (KakotuiApp does), every use of the log from a worker holds it.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from kakotui.core.problems import InvalidRecord
from kakotui.core.textsafe import inert
from kakotui.log import ExceptionLog, SaveResult
from kakotui.sync.engine import ConflictNote, SyncError, SyncSummary

__all__ = ["STAGES", "ConflictScreen", "SyncScreen"]

STAGES = ("fetching", "merging", "applying", "moving the branch", "sending", "done")
"""Progress stages reported by the sync engine, in order (a retry starts again at fetching)."""


def _lock(screen: Screen[Any]) -> AbstractContextManager[Any]:
    lock: AbstractContextManager[Any] | None = getattr(screen.app, "log_lock", None)
    return lock if lock is not None else nullcontext()


def _value(value: Any, limit: int = 120) -> str:
    if value is None:
        return "(absent)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return inert(text, limit=limit, single_line=True)


class SyncScreen(Screen["SyncSummary | None"]):
    """Sync with a remote: progress while it runs, then what was received, sent, merged and flagged."""

    DEFAULT_CSS = """
    SyncScreen #sync-body { padding: 1 2; height: 1fr; }
    SyncScreen #sync-stage { height: 1; color: $text-muted; }
    SyncScreen #sync-progress { margin: 0 0 1 0; }
    SyncScreen #sync-summary { height: auto; }
    SyncScreen #sync-conflicts { height: auto; max-height: 12; margin-top: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "sync", "Sync again", id="sync-again"),
        Binding("d", "dry_run", "Dry run", id="sync-dry-run"),
        Binding("escape", "back", "Back", id="back"),
    ]

    def __init__(self, log: ExceptionLog, remote: str = "origin", *, start: bool = True) -> None:
        super().__init__()
        self.exception_log = log
        self.remote = remote
        self.summary: SyncSummary | None = None
        self.error: str | None = None
        self.conflicts: list[ConflictNote] = []
        self.running = False
        self._start = start

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="sync-body"):
            yield Static("", id="sync-stage", markup=False)
            yield ProgressBar(total=len(STAGES), show_eta=False, id="sync-progress")
            yield Static("", id="sync-summary", markup=False)
            yield OptionList(id="sync-conflicts", compact=True, markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = f"sync with {inert(self.remote, limit=40, single_line=True)}"
        self.query_one("#sync-conflicts").display = False
        if self._start:
            self.action_sync()

    # ---------------------------------------------------------------- running

    def action_sync(self) -> None:
        self._run(dry_run=False)

    def action_dry_run(self) -> None:
        self._run(dry_run=True)

    def _run(self, *, dry_run: bool) -> None:
        if self.running:
            self.notify("a sync is already running", severity="warning")
            return
        self.running = True
        self.error = None
        self._stage("starting")
        self._sync_worker(dry_run)

    @work(thread=True, exclusive=True, group="sync", exit_on_error=False)
    def _sync_worker(self, dry_run: bool) -> None:
        def progress(stage: str) -> None:
            self.app.call_from_thread(self._stage, stage)

        summary: SyncSummary | None = None
        error: str | None = None
        conflicts: list[ConflictNote] = []
        try:
            with _lock(self):
                try:
                    summary = self.exception_log.sync(self.remote, dry_run=dry_run, progress=progress)
                except SyncError as exc:
                    summary, error = exc.summary, str(exc)
                conflicts = self.exception_log.conflicts()
        except Exception as exc:  # a git or log failure must never end the app
            error = str(exc) or type(exc).__name__
        self.app.call_from_thread(self._finished, summary, error, conflicts)

    def _stage(self, stage: str) -> None:
        if not self.is_mounted:
            return
        self.query_one("#sync-stage", Static).update(Content(f"{inert(stage, limit=60)}…"))
        bar = self.query_one("#sync-progress", ProgressBar)
        bar.update(progress=STAGES.index(stage) + 1 if stage in STAGES else 0)

    def _finished(
        self, summary: SyncSummary | None, error: str | None, conflicts: list[ConflictNote]
    ) -> None:
        self.running = False
        self.summary = summary if summary is not None else self.summary
        self.error = error
        self.conflicts = conflicts
        if not self.is_mounted:  # the person left while it ran: the result is kept, nothing to draw
            return
        self.query_one("#sync-progress", ProgressBar).update(progress=len(STAGES))
        stage = self.query_one("#sync-stage", Static)
        if error:
            stage.update(Content.assemble(("sync stopped: ", "bold $error"), inert(error, limit=500)))
            self.notify("sync stopped; nothing is lost, run it again", severity="error")
        else:
            stage.update(Content.assemble(("sync finished", "bold $success")))
        self.query_one("#sync-summary", Static).update(self._summary_content(summary))
        self._render_conflicts()

    def _summary_content(self, summary: SyncSummary | None) -> Content:
        if summary is None:
            return Content("")
        lines = [inert(line, limit=300) for line in summary.lines()]
        return Content("\n").join(Content(line) for line in lines)

    def _render_conflicts(self) -> None:
        options = self.query_one("#sync-conflicts", OptionList)
        options.clear_options()
        by_record: dict[str, list[ConflictNote]] = {}
        for note in self.conflicts:
            by_record.setdefault(note.id, []).append(note)
        for rid, notes in by_record.items():
            fields = ", ".join(n.field for n in notes)
            options.add_option(
                Option(
                    Content.assemble(
                        (inert(rid, limit=20, single_line=True), "bold"),
                        (f"  {len(notes)} conflict(s): ", "$warning"),
                        inert(fields, limit=100, single_line=True),
                        ("  enter: resolve", "dim"),
                    ),
                    id=rid,
                )
            )
        options.display = bool(by_record)
        if by_record:
            options.highlighted = 0
            options.focus()

    # ---------------------------------------------------------------- conflicts

    @on(OptionList.OptionSelected, "#sync-conflicts")
    def _conflict_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.app.push_screen(ConflictScreen(self.exception_log, event.option.id), self._resolved)

    def _resolved(self, result: SaveResult | None) -> None:
        if result is None:
            return
        self.notify(f"{result.id}: resolved (commit {result.commit[:10]})", markup=False)
        with _lock(self):
            self.conflicts = self.exception_log.conflicts()
        self._render_conflicts()

    def action_back(self) -> None:
        if self.running:
            self.notify("the sync is still running; it will finish in the background", severity="warning")
        self.dismiss(self.summary)


class ConflictScreen(Screen["SaveResult | None"]):
    """A record's kept conflicts, one per field: o takes ours, t takes theirs; all chosen = saved."""

    DEFAULT_CSS = """
    ConflictScreen #conflict-body { padding: 1 2; height: 1fr; }
    ConflictScreen .conflict { height: auto; padding: 0 1; margin-bottom: 1; border-left: tall $panel; }
    ConflictScreen .conflict.-current { border-left: tall $accent; background: $boost; }
    ConflictScreen #conflict-error { color: $error; height: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "take('ours')", "Take ours", id="take-ours"),
        Binding("t", "take('theirs')", "Take theirs", id="take-theirs"),
        Binding("down,j", "move(1)", "Next field", id="next-field", show=False),
        Binding("up,k", "move(-1)", "Previous field", id="previous-field", show=False),
        Binding("ctrl+s", "save", "Save choices", id="save-choices"),
        Binding("escape", "cancel", "Cancel", id="cancel"),
    ]

    def __init__(self, log: ExceptionLog, record_id: str) -> None:
        super().__init__()
        self.exception_log = log
        self.record_id = record_id
        self.notes: list[ConflictNote] = []
        self.choices: dict[str, str] = {}
        self.current = 0
        self.saving = False

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="conflict-body"):
            yield Static("", id="conflict-head", markup=False)
            yield Vertical(id="conflict-list")
            yield Static("", id="conflict-error", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = f"resolve {inert(self.record_id, limit=30, single_line=True)}"
        with _lock(self):
            try:
                self.notes = self.exception_log.conflicts(self.record_id)
            except Exception as exc:
                self._error(str(exc))
                return
        head = Content.assemble(
            (inert(self.record_id, limit=30, single_line=True), "bold"),
            f"  {len(self.notes)} field(s) with two values. ",
            ("o", "bold $accent"),
            " keeps ours (this record's value), ",
            ("t", "bold $accent"),
            " takes theirs; the last choice saves (one commit).",
        )
        self.query_one("#conflict-head", Static).update(head)
        container = self.query_one("#conflict-list", Vertical)
        container.mount_all(Static("", classes="conflict", markup=False) for _ in self.notes)
        self.call_after_refresh(self._draw)

    def _draw(self) -> None:
        for i, (widget, note) in enumerate(
            zip(self.query(".conflict").results(Static), self.notes, strict=False)
        ):
            chosen = self.choices.get(note.field)
            ours_by = f" ({_value(note.ours_author, 40)})" if note.ours_author else ""
            theirs_by = f" ({_value(note.theirs_author, 40)})" if note.theirs_author else ""
            widget.update(
                Content.assemble(
                    (inert(note.field, limit=80, single_line=True), "bold"),
                    ("\n  [o] ours" + ours_by + ": ", "bold $success" if chosen == "ours" else "dim"),
                    _value(note.ours),
                    ("\n  [t] theirs" + theirs_by + ": ", "bold $success" if chosen == "theirs" else "dim"),
                    _value(note.theirs),
                )
            )
            widget.set_class(i == self.current, "-current")

    def _error(self, message: str) -> None:
        self.query_one("#conflict-error", Static).update(Content(inert(message, limit=1000)))

    def action_move(self, step: int) -> None:
        if self.notes:
            self.current = max(0, min(len(self.notes) - 1, self.current + step))
            self._draw()

    def action_take(self, side: str) -> None:
        if not self.notes or self.saving:
            return
        self.choices[self.notes[self.current].field] = side
        if len(self.choices) == len({n.field for n in self.notes}):
            self._draw()
            self.action_save()
            return
        unchosen = [i for i, n in enumerate(self.notes) if n.field not in self.choices]
        later = [i for i in unchosen if i > self.current]
        self.current = (later or unchosen)[0]
        self._draw()

    def action_save(self) -> None:
        if not self.choices:
            self.notify("choose o or t for a field first", severity="warning")
            return
        if not self.saving:
            self.saving = True
            self._save_worker(dict(self.choices))

    @work(thread=True, exclusive=True, group="resolve", exit_on_error=False)
    def _save_worker(self, choices: dict[str, str]) -> None:
        try:
            with _lock(self):
                result = self.exception_log.resolve(self.record_id, choices)
        except InvalidRecord as exc:
            message = "not saved: " + "; ".join(str(p) for p in exc.problems[:5])
            self.app.call_from_thread(self._failed, message)
            return
        except Exception as exc:
            self.app.call_from_thread(self._failed, f"not saved: {exc}")
            return
        self.app.call_from_thread(self.dismiss, result)

    def _failed(self, message: str) -> None:
        self.saving = False
        self._error(message)
        self.notify("the choices were not saved", severity="error")

    def action_cancel(self) -> None:
        self.dismiss(None)
