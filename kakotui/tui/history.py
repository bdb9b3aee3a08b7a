"""A record's history screen: the field-level timeline on the left, the diff of the chosen change on the right.

Constructed as `HistoryScreen(log, record_id)` and pushed over any screen; it reads the history
through the façade (`log.history`) in a worker thread, holding the app's `log_lock` when the app has
one (the log's SQLite connection is shared). Every value from a record or a commit (names, subjects,
field values) is shown through `inert()` as plain `Content`, never as markup.

When the log signs its history (`ExceptionLog.signing_configured`), the same worker checks each
change's signature (`log.signatures`): the timeline marks a verified author ✓ and any other author ✗
(the signature's description shows with the change). A log without signing shows no marks.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from rich.cells import cell_len
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from kakotui.core.diff import Change, format_value
from kakotui.core.textsafe import inert
from kakotui.log import ExceptionLog
from kakotui.store.history import HistoryEntry, RecordHistory

__all__ = ["HistoryScreen", "change_lines", "entry_label", "signature_line", "signature_mark"]

_ADDED = "$success"
_REMOVED = "$error"
_CHANGED = "$warning"
_DIM = "dim"
_HEADING = "bold $accent"
_WARNING = "bold $warning"
_VALUE_LIMIT = 300
_AUTHOR_LIMIT = 24
_VERIFIED = ("✓", "bold $success")
_NOT_VERIFIED = ("✗", "bold $error")
_UNCHECKED = ("?", _DIM)


def _when(date_text: str) -> str:
    if len(date_text) >= 19 and date_text[10] == "T":
        return f"{date_text[:10]} {date_text[11:16]}"
    return date_text


def signature_mark(check: Any) -> tuple[str, str]:
    """(symbol, style) for a `SignatureCheck`: ✓ verified, ✗ anything else, ? not checked."""
    if check is None:
        return _UNCHECKED
    return _VERIFIED if getattr(check, "status", None) == "verified" else _NOT_VERIFIED


def entry_label(
    entry: HistoryEntry | None, width: int = 0, *, signatures: dict[str, Any] | None = None
) -> Content:
    """One line of the timeline: date, who (padded to `width` cells), action; None: uncommitted changes.

    With `signatures` (commit -> `SignatureCheck`, a log that signs) the author is marked ✓ or ✗.
    """
    if entry is None:
        return Content.assemble(("not committed yet", _WARNING))
    who = inert(entry.author, limit=_AUTHOR_LIMIT, single_line=True)
    who += " " * max(0, width - cell_len(who))
    action = inert(entry.action or "outside kakotui", limit=20, single_line=True)
    if signatures is None:
        return Content.assemble((_when(entry.date), _DIM), "  ", who, "  ", (action, "bold"))
    mark = signature_mark(signatures.get(entry.commit))
    return Content.assemble((_when(entry.date), _DIM), "  ", mark, " ", who, "  ", (action, "bold"))


def signature_line(check: Any) -> Content:
    """`✓ signed by li.wei@example.com`, or what is wrong with the change's signature."""
    symbol, style = signature_mark(check)
    text = "signature not checked" if check is None else inert(check.describe(), limit=200, single_line=True)
    return Content.assemble((symbol, style), " ", (text, "$success" if style == _VERIFIED[1] else style))


def change_lines(changes: list[Change]) -> list[Content]:
    """Each field change as a line: `~ qc.sku  HX-1 -> HX-2`, added green, removed red."""
    lines: list[Content] = []
    for change in changes:
        path = inert(change.path, limit=80, single_line=True)
        if change.kind == "added":
            lines.append(
                Content.assemble(
                    ("+ ", _ADDED), (path, "bold"), "  ", (format_value(change.new, _VALUE_LIMIT), _ADDED)
                )
            )
        elif change.kind == "removed":
            lines.append(
                Content.assemble(
                    ("- ", _REMOVED),
                    (path, "bold"),
                    "  ",
                    (format_value(change.old, _VALUE_LIMIT), f"{_REMOVED} strike"),
                )
            )
        else:
            lines.append(
                Content.assemble(
                    ("~ ", _CHANGED),
                    (path, "bold"),
                    "  ",
                    (format_value(change.old, _VALUE_LIMIT), _REMOVED),
                    " -> ",
                    (format_value(change.new, _VALUE_LIMIT), _ADDED),
                )
            )
    return lines


class HistoryScreen(Screen[None]):
    """The history of one record, change by change, each with its field-level diff."""

    DEFAULT_CSS = """
    HistoryScreen #history-body { height: 1fr; }
    HistoryScreen #history-timeline { width: 40%; min-width: 30; max-width: 60; height: 1fr; }
    HistoryScreen #history-diff { width: 1fr; height: 1fr; padding: 0 1; }
    HistoryScreen #history-status { height: auto; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="history-back"),
        Binding("q", "back", "Back", show=False),
        Binding("tab", "focus_next", "Diff / timeline", show=False),
    ]

    def __init__(self, log: ExceptionLog, record_id: str, *, lock: threading.RLock | None = None) -> None:
        super().__init__()
        self.exception_log = log
        self.record_id = record_id
        self._lock = lock
        self.history: RecordHistory | None = None
        self.error: str | None = None
        self.signatures: dict[str, Any] | None = None
        """Commit -> its `SignatureCheck` when the log signs its history (None: it does not)."""
        self.signature_error: str | None = None
        self._entries: list[HistoryEntry | None] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Content.assemble(("reading the history…", _DIM)), id="history-status", markup=False)
        with Horizontal(id="history-body"):
            yield OptionList(id="history-timeline", markup=False)
            with VerticalScroll(id="history-diff"):
                yield Static("", id="history-change", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.title = "History"
        self.sub_title = inert(self.record_id, limit=40, single_line=True)
        self.query_one("#history-timeline", OptionList).focus()
        self._load()

    # ---------------------------------------------------------------- loading

    def _log_lock(self) -> Any:
        lock = self._lock or getattr(self.app, "log_lock", None)
        return lock if lock is not None else threading.RLock()

    @work(thread=True, exclusive=True, group="record-history", exit_on_error=False)
    def _load(self) -> None:
        worker = get_current_worker()
        history: RecordHistory | None = None
        error: str | None = None
        signatures: dict[str, Any] | None = None
        signature_error: str | None = None
        try:
            with self._log_lock():
                # git answers while the commit table is missing: building it (once per clone, ~40 s
                # at 100k commits) is left to `kakotui log`/`blame`, not a screen someone is waiting on
                history = self.exception_log.history(self.record_id, build_trail=False)
        except Exception as exc:  # bad id, unknown record, git failure: say it, keep the app running
            error = str(exc) or type(exc).__name__
        if history is not None and not worker.is_cancelled:
            try:
                with self._log_lock():
                    if self.exception_log.signing_configured:
                        signatures = self.exception_log.signatures([e.commit for e in history.entries])
            except Exception as exc:  # ssh-keygen missing, git failure: the history still shows
                signatures = {}
                signature_error = str(exc) or type(exc).__name__
        if not worker.is_cancelled:
            self.app.call_from_thread(self._loaded, history, error, signatures, signature_error)

    def _loaded(
        self,
        history: RecordHistory | None,
        error: str | None,
        signatures: dict[str, Any] | None = None,
        signature_error: str | None = None,
    ) -> None:
        self.history, self.error = history, error
        self.signatures, self.signature_error = signatures, signature_error
        status = self.query_one("#history-status", Static)
        timeline = self.query_one("#history-timeline", OptionList)
        timeline.clear_options()
        if history is None:
            status.update(Content.assemble((inert(error or "no history", limit=400), "bold $error")))
            return
        self._entries = ([None] if history.uncommitted else []) + list(reversed(history.entries))
        width = max(
            (cell_len(inert(e.author, limit=_AUTHOR_LIMIT, single_line=True)) for e in history.entries),
            default=0,
        )
        for entry in self._entries:
            timeline.add_option(Option(entry_label(entry, width, signatures=signatures)))
        count = len(history.entries)
        parts: list[str | tuple[str, str]] = [
            (inert(history.id, limit=40, single_line=True), _HEADING),
            (f"  {count} change{'s' if count != 1 else ''}, newest first", _DIM),
        ]
        if signatures is not None:
            verified = sum(
                1 for e in history.entries if getattr(signatures.get(e.commit), "status", "") == "verified"
            )
            parts.append((f" · {verified} of {count} verified", _DIM))
        if signature_error:
            parts += [
                "\n",
                (
                    "! signatures not checked: " + inert(signature_error, limit=300, single_line=True),
                    _WARNING,
                ),
            ]
        for problem in history.problems:
            parts += ["\n", ("! " + inert(problem, limit=400, single_line=True), _WARNING)]
        status.update(Content.assemble(*parts))
        if self._entries:
            timeline.highlighted = 0
            self._show(0)

    # ---------------------------------------------------------------- showing one change

    @on(OptionList.OptionHighlighted, "#history-timeline")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show(event.option_index)

    def _show(self, index: int) -> None:
        if not 0 <= index < len(self._entries) or self.history is None:
            return
        entry = self._entries[index]
        if entry is None:
            head = [
                Content.assemble(("Not committed yet", _HEADING)),
                Content.assemble(("in the work tree", _DIM)),
            ]
            body = change_lines(self.history.uncommitted)
        else:
            who = inert(f"{entry.author} <{entry.email}>", limit=100, single_line=True)
            head = [
                Content.assemble((inert(entry.subject, limit=200, single_line=True), _HEADING)),
                Content.assemble(
                    (entry.commit[:10], _DIM), "  ", (inert(entry.date, limit=40), _DIM), "  ", who
                ),
                Content.assemble(
                    ("action ", _DIM),
                    inert(entry.action or "committed outside kakotui", limit=40, single_line=True),
                ),
            ]
            if self.signatures is not None:
                head.append(signature_line(self.signatures.get(entry.commit)))
            if entry.problem:
                head.append(Content.assemble((inert(entry.problem, limit=300, single_line=True), _WARNING)))
            body = change_lines(entry.changes)
        if not body:
            body = [Content.assemble(("no field changed", _DIM))]
        self.query_one("#history-change", Static).update(Content("\n").join([*head, Content(""), *body]))

    # ---------------------------------------------------------------- actions

    def action_back(self) -> None:
        self.dismiss()
