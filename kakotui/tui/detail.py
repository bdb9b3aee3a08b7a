"""A record's detail screen: every field by lifecycle step, its problems, evidence links and history.

The record is read from its file (the truth) through the façade; its history is asked of the log
in a worker (git can be slow on long histories). Evidence opens only as an http(s) URL or a file
inside the log (see recordview.evidence_target).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from kakotui.core.textsafe import inert
from kakotui.log import Loaded
from kakotui.tui.recordview import (
    Section,
    evidence_links,
    evidence_target,
    history_section,
    record_sections,
)

if TYPE_CHECKING:
    from kakotui.tui.app import KakotuiApp

__all__ = ["DetailScreen"]


class DetailScreen(Screen[None]):
    """One record, read-only; the lifecycle keys open the forms for it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", id="back"),
        Binding("e", "form('edit')", "Edit", id="edit"),
        Binding("x", "form('decide')", "Decide", id="decide"),
        Binding("r", "form('reship')", "Reship", id="reship"),
        Binding("v", "form('contact')", "Vendor", id="contact"),
        Binding("u", "form('confirm')", "Customer", id="confirm"),
        Binding("c", "form('close')", "Close", id="close"),
        Binding("h", "history", "History", id="history", show=False),
        Binding("o", "open_evidence", "Open evidence link", id="open-evidence", show=False),
    ]

    def __init__(self, record_id: str) -> None:
        super().__init__()
        self.record_id = record_id
        self.loaded: Loaded | None = None
        self._links: list[str] = []
        self._history: Section | None = None

    @property
    def kakotui(self) -> KakotuiApp:
        from kakotui.tui.app import KakotuiApp

        app = self.app
        assert isinstance(app, KakotuiApp)
        return app

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="detail-body"):
            yield Static("", id="detail-head", markup=False)
            yield Static("", id="detail-qc", markup=False)
            yield OptionList(id="evidence", compact=True, markup=False)
            yield Static("", id="detail-rest", markup=False)
            yield Static("", id="detail-history", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = inert(self.record_id, limit=40, single_line=True)
        self.reload()
        self.query_one("#detail-body").focus()

    # ---------------------------------------------------------------- content

    def reload(self) -> None:
        """Read the record again (after a save) and redraw; history follows in a worker."""
        app = self.kakotui
        try:
            self.loaded = app.run_in_log(lambda log: log.get(self.record_id))
        except Exception as exc:
            self.loaded = None
            self.query_one("#detail-head", Static).update(
                Content.assemble((inert(f"{self.record_id}: {exc}", limit=400), "bold $error"))
            )
            self.query_one("#evidence").display = False
            return
        self._draw()
        if hasattr(app.exception_log, "history"):
            self._load_history()
        else:
            self._history = history_section(None)
            self._render_history()

    def _draw(self) -> None:
        assert self.loaded is not None
        app = self.kakotui
        status = app.main_screen.status_of(self.loaded.id)
        sections = record_sections(self.loaded, app.exception_log.config, status)
        head = [s.content for s in sections if s.key in ("title", "problems", "unreadable")]
        qc = [s.content for s in sections if s.key == "qc"]
        rest = [
            s.content for s in sections if s.key not in ("title", "problems", "unreadable", "qc", "history")
        ]
        self.query_one("#detail-head", Static).update(Content("\n\n").join(head))
        self.query_one("#detail-qc", Static).update(Content("\n").join(qc))
        self.query_one("#detail-rest", Static).update(Content("\n\n").join(rest))
        self._render_evidence()

    def _render_evidence(self) -> None:
        assert self.loaded is not None
        links = evidence_links(self.loaded.record)
        self._links = [link for _, link, _ in links]
        options = self.query_one("#evidence", OptionList)
        options.clear_options()
        for number, (kind, link, _note) in enumerate(links, 1):
            target, _why = evidence_target(link, self.kakotui.exception_log.root)
            options.add_option(
                Option(
                    Content.assemble(
                        (f"  open {number}: ", "dim"),
                        (inert(link, limit=200, single_line=True), "underline" if target else "strike"),
                        (f"  {inert(kind, limit=20, single_line=True)}", "dim"),
                        ("" if target else "  (cannot be opened)", "$warning"),
                    )
                )
            )
        options.display = bool(links)
        self.query_one("#detail-qc").set_class(bool(links), "-with-evidence")

    def _render_history(self) -> None:
        section = self._history or history_section(None)
        self.query_one("#detail-history", Static).update(section.content)

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _load_history(self) -> None:
        app = self.kakotui
        worker = get_current_worker()
        history: Any = getattr(app.exception_log, "history", None)
        try:
            with app.log_lock:
                told = history(self.record_id) if history is not None else None
            section = history_section(told)
        except Exception as exc:  # history is extra: its failure must not hide the record
            section = history_section(None, error=f"history could not be read: {exc}")
        if not worker.is_cancelled:
            app.call_from_thread(self._history_loaded, section)

    def _history_loaded(self, section: Section) -> None:
        self._history = section
        self._render_history()

    # ---------------------------------------------------------------- actions

    def action_back(self) -> None:
        self.dismiss()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        app: Any = self.app
        if action == "form" and parameters and parameters[0] in getattr(app, "forbidden", {}):
            return None  # shown disabled: this person's role may not
        return True

    def action_form(self, name: str) -> None:
        self.kakotui.open_form(name, self.record_id)

    def action_history(self) -> None:
        """The record's field-level timeline, each change with its diff."""
        from kakotui.tui.history import HistoryScreen

        app = self.kakotui
        self.app.push_screen(HistoryScreen(app.exception_log, self.record_id, lock=app.log_lock))

    def action_open_evidence(self) -> None:
        if not self._links:
            self.notify("this record has no evidence links")
            return
        options = self.query_one("#evidence", OptionList)
        self.open_link(options.highlighted or 0)

    @on(OptionList.OptionSelected, "#evidence")
    def _evidence_selected(self, event: OptionList.OptionSelected) -> None:
        self.open_link(event.option_index)

    def open_link(self, number: int) -> None:
        """Open evidence link `number` (0-based) if it is safe to, else say why not."""
        if not 0 <= number < len(self._links):
            return
        link = self._links[number]
        target, why = evidence_target(link, self.kakotui.exception_log.root)
        shown = inert(link, limit=80, single_line=True)
        if target is None:
            self.notify(f"not opened: {shown}: {why}", severity="warning", markup=False)
            return
        self.app.open_url(target)
        self.notify(f"opening {shown}", markup=False)
