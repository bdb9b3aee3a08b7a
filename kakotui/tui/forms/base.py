"""What every lifecycle form shares: typed fields with an error line under each, one save path, drafts.

A form is a `ModalScreen[SaveResult | None]` built from named fields (`f-<name>` widgets of class
`fc`). Enter, Ctrl+S and the Save button all go through `submit()`: the form reads its fields
(`collect`, which may refuse with `FieldErrors`), calls the façade in a worker thread (`perform`),
and either dismisses with the `SaveResult` or shows every `Problem` under the field its dotted path
belongs to (`field_map`), keeping everything typed. While it is open, its values are written to a
draft on every change (debounced), so nothing typed is lost to a crash or an Escape.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Select, Static, TextArea

from kakotui.core.problems import InvalidRecord, Problem
from kakotui.core.textsafe import inert
from kakotui.log import ExceptionLog, Loaded, LogError, SaveResult
from kakotui.store.gitrepo import GitError
from kakotui.tui.forms.drafts import FormDraft, read_draft, remove_draft, write_draft
from kakotui.tui.forms.fields import (
    FieldErrors,
    FormInput,
    Option,
    describe,
    field_for,
    field_row,
    make_area,
    make_input,
    make_select,
    put_value,
    record_summary,
    value_of,
)

__all__ = ["DRAFT_DELAY", "FormScreen"]

DRAFT_DELAY = 0.4  # seconds of quiet typing before the draft is written


class FormScreen(ModalScreen[SaveResult | None]):
    """Base of the lifecycle forms; subclasses set KIND and TITLE and implement the hooks below."""

    KIND: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    NEEDS_RECORD: ClassVar[bool] = True
    FALLBACK_FIELD: ClassVar[str | None] = None  # where problems without a field of their own go
    AUTO_FOCUS = ".fc"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "save", "Save", priority=True, id="form.save"),
    ]

    DEFAULT_CSS = """
    FormScreen {
        align: center middle;
        background: $background 60%;
    }
    FormScreen #form-frame {
        width: 100%;
        max-width: 104;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-style: bold;
        border-title-color: $text-primary;
        border-subtitle-color: $text-muted;
        background: $panel;
        padding: 0 1;
    }
    FormScreen #form-header {
        color: $text-muted;
        height: auto;
        margin-bottom: 1;
    }
    FormScreen #form-header.-empty {
        display: none;
    }
    FormScreen #form-notice, FormScreen #form-errors {
        display: none;
        height: auto;
    }
    FormScreen #form-notice.-shown, FormScreen #form-errors.-shown {
        display: block;
    }
    FormScreen #form-notice {
        color: $text-warning;
    }
    FormScreen #form-errors {
        color: $text-error;
        border-left: outer $error;
        padding-left: 1;
        margin-top: 1;
    }
    FormScreen #form-top {
        dock: top;
        height: auto;
    }
    FormScreen #form-bottom {
        dock: bottom;
        height: auto;
    }
    FormScreen #form-body {
        height: auto;
        max-height: 100%;
        scrollbar-size-vertical: 1;
    }
    FormScreen .field {
        height: auto;
    }
    FormScreen Input.fc {
        padding: 0 1;
    }
    FormScreen Select.fc > SelectCurrent {
        padding: 0 1;
    }
    FormScreen Input.fc:focus, FormScreen TextArea.fc:focus, FormScreen Select.fc:focus > SelectCurrent {
        background-tint: $primary 25%;
    }
    FormScreen .field-label {
        width: 15;
        color: $text-muted;
    }
    FormScreen .field.-invalid .field-label {
        color: $text-error;
        text-style: bold;
    }
    FormScreen .field-main {
        width: 1fr;
        height: auto;
    }
    FormScreen .field-line {
        height: auto;
    }
    FormScreen .field-line > Input {
        width: 1fr;
    }
    FormScreen .field-line > Select {
        width: 30;
    }
    FormScreen .field-line > Input.short {
        width: 12;
    }
    FormScreen .field-line > Select.cur {
        width: 8;
        margin-left: 1;
    }
    FormScreen .field-hint {
        width: auto;
        max-width: 40;
        height: 1;
        color: $text-muted;
        padding-left: 1;
    }
    FormScreen .field-hint.-good {
        color: $text-success;
    }
    FormScreen .field-error {
        display: none;
        height: auto;
        color: $text-error;
    }
    FormScreen .field-error.-shown {
        display: block;
    }
    FormScreen TextArea.fc {
        height: 4;
    }
    FormScreen #form-buttons {
        height: 1;
        margin-top: 1;
    }
    FormScreen #form-buttons Button {
        margin-right: 2;
    }
    FormScreen #form-status {
        width: 1fr;
        color: $text-muted;
        text-align: right;
    }
    """

    def __init__(self, log: ExceptionLog, record_id: str | None = None) -> None:
        super().__init__()
        self.exlog = log  # not `self.log`: that is Textual's logger
        self.record_id = record_id
        self.loaded: Loaded | None = None
        self.load_error = ""
        if self.NEEDS_RECORD:
            self._load()
        self.saved: list[SaveResult] = []
        """Every save this form made (more than one after "save and new")."""
        self.baseline: dict[str, str] = self.initial_values()
        self.start_values = dict(self.baseline)
        self.restored: FormDraft | None = None
        if not self.load_error:
            draft = read_draft(log, self.KIND, record_id)
            typed = draft.typed() if draft is not None else {}
            if any(v != self.baseline.get(k, "") for k, v in typed.items()):
                self.restored = draft
                self.start_values.update(typed)
        self._labels: dict[str, str] = {}
        self._hints: dict[str, str] = {}
        self._draft_timer: Timer | None = None
        self._saving = False

    def log_lock(self) -> AbstractContextManager[Any]:
        """The app's `log_lock` when it has one: the log's SQLite connection is shared with workers."""
        try:
            lock = getattr(self.app, "log_lock", None)
        except Exception:  # no running app (a form built outside one)
            lock = None
        return lock if isinstance(lock, AbstractContextManager) else nullcontext()

    def _load(self) -> None:
        if self.record_id is None:
            self.load_error = "no record chosen"
            return
        try:
            with self.log_lock():
                self.loaded = self.exlog.get(self.record_id)
        except LogError as exc:
            self.load_error = str(exc)
            return
        if self.loaded.record is None:
            self.load_error = "this record cannot be read: " + "; ".join(
                p.message for p in self.loaded.problems[:3]
            )

    @property
    def record(self) -> dict[str, Any]:
        if self.loaded is not None and self.loaded.record is not None:
            return self.loaded.record
        return {}

    # -- hooks for subclasses ---------------------------------------------------------------

    def initial_values(self) -> dict[str, str]:
        """Field name -> text the form opens with (before a draft is laid over it)."""
        return {}

    def compose_fields(self) -> ComposeResult:
        yield from ()

    def compose_buttons(self) -> ComposeResult:
        yield Button("Save", id="form-save", variant="primary", compact=True)
        yield Button("Cancel", id="form-cancel", compact=True)
        yield Button("Discard input", id="form-discard", compact=True)

    def header_lines(self) -> list[str]:
        return record_summary(self.record) if self.record else []

    def field_map(self) -> dict[str, str]:
        """Dotted record path -> field name; the first path given for a name is that field's own."""
        return {}

    def collect(self) -> Any:
        """Read the fields into what `perform` needs; raise FieldErrors for text that is no value."""
        raise NotImplementedError

    def perform(self, payload: Any) -> SaveResult:
        """Call the façade (runs in a worker thread; touch no widgets here)."""
        raise NotImplementedError

    def on_field_changed(self, name: str) -> None:
        """A field changed (hints, totals, live checks)."""

    def after_save(self, result: SaveResult, and_new: bool) -> None:
        remove_draft(self.exlog, self.KIND, self.record_id)
        self.dismiss(result)

    # -- building fields --------------------------------------------------------------------

    def value0(self, name: str) -> str:
        return self.start_values.get(name, "")

    def text(self, name: str, **options: Any) -> FormInput:
        """A single-line field (options: placeholder, choices, closed, advance, restrict, max_length, short)."""
        return make_input(name, self.value0(name), **options)

    def choice(
        self, name: str, options: Sequence[Option], *, prompt: str = "choose…", required: bool = True
    ) -> Select[str]:
        return make_select(name, self.value0(name), options, prompt=prompt, required=required)

    def area(self, name: str, *, placeholder: str = "") -> TextArea:
        return make_area(name, self.value0(name), placeholder=placeholder)

    def field(self, name: str, label: str, control: Widget, *more: Widget, hint: bool = False) -> Widget:
        """A labelled row: the control(s) (and a hint to their right), the error line under them."""
        self._labels[name] = label
        return field_row(name, label, [control, *more], hint=hint)

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="form-frame") as frame:
            frame.border_title = self.TITLE
            frame.border_subtitle = "ctrl+s save · esc cancel"
            lines = self.header_lines()
            with Vertical(id="form-top"):
                yield Static(
                    Content(inert("\n".join(lines))),
                    id="form-header",
                    markup=False,
                    classes="" if lines else "-empty",
                )
                yield Static("", id="form-notice", markup=False)
            # Header and buttons are docked, so a body taller than the screen scrolls between them.
            with VerticalScroll(id="form-body") as body:
                body.can_focus = False
                if not self.load_error:
                    yield from self.compose_fields()
            with Vertical(id="form-bottom"):
                yield Static("", id="form-errors", markup=False)
                with Horizontal(id="form-buttons"):
                    yield from self.compose_buttons()
                    yield Static("", id="form-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        if self.load_error:
            self.show_form_errors([self.load_error])
            self.query_one("#form-save", Button).disabled = True
        if self.restored is not None:
            when = self.restored.saved_at[11:16] or "earlier"
            text = f"Restored unsaved input from {when}. Save it, or “Discard input” to start over."
            if self.loaded is not None and self.restored.blob and self.restored.blob != self.loaded.blob:
                text += " The record has changed since then: check the fields."
            self.show_notice(text)

    # -- values --------------------------------------------------------------------------------

    def controls(self) -> list[Widget]:
        return [w for w in self.query(".fc") if w.id and w.id.startswith("f-")]

    def values(self) -> dict[str, str]:
        return {w.id[2:]: value_of(w) for w in self.controls() if w.id}

    def get(self, name: str) -> str:
        return value_of(self.query_one(f"#f-{name}"))

    def put(self, name: str, value: str) -> None:
        put_value(self.query_one(f"#f-{name}"), value)

    def is_dirty(self) -> bool:
        return any(v != self.baseline.get(k, "") for k, v in self.values().items())

    # -- drafts ---------------------------------------------------------------------------------

    def _name_of(self, widget: Widget | None) -> str | None:
        if widget is not None and widget.id and widget.id.startswith("f-") and widget.has_class("fc"):
            return widget.id[2:]
        return None

    @on(Input.Changed)
    @on(Select.Changed)
    @on(TextArea.Changed)
    def _changed(self, event: Input.Changed | Select.Changed | TextArea.Changed) -> None:
        name = self._name_of(event.control)
        if name is None:
            return
        self.on_field_changed(name)
        self.schedule_draft()

    def schedule_draft(self) -> None:
        if self.load_error:
            return
        if self._draft_timer is not None:
            self._draft_timer.stop()
        self._draft_timer = self.set_timer(DRAFT_DELAY, self.flush_draft)

    def _stop_draft_timer(self) -> None:
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None

    def flush_draft(self) -> None:
        """Write the draft now (or remove it when the form holds nothing new)."""
        self._stop_draft_timer()
        if self.load_error:
            return
        try:
            if self.is_dirty():
                blob = self.loaded.blob if self.loaded is not None else ""
                draft = FormDraft(
                    self.KIND, self.record_id, self.values(), self.exlog.now(), blob, self.baseline
                )
                write_draft(self.exlog, draft)
            else:
                remove_draft(self.exlog, self.KIND, self.record_id)
        except OSError as exc:
            self.show_notice(f"could not keep a draft: {exc}")

    # -- messages on screen -------------------------------------------------------------------

    def show_notice(self, text: str) -> None:
        notice = self.query_one("#form-notice", Static)
        notice.update(Content(inert(text)))
        notice.set_class(bool(text), "-shown")

    def show_form_errors(self, messages: Sequence[str]) -> None:
        box = self.query_one("#form-errors", Static)
        box.update(Content(inert("\n".join(messages))))
        box.set_class(bool(messages), "-shown")

    def set_hint(self, name: str, text: str, *, good: bool = False) -> None:
        shown = inert(text, 60, single_line=True)
        for hint in self.query(f"#h-{name}").results(Static):
            if self._hints.get(name) != shown:  # an unchanged hint must not cost a layout per keystroke
                hint.update(Content(shown))
            hint.set_class(good, "-good")
        self._hints[name] = shown

    def clear_errors(self) -> None:
        for error in self.query(".field-error").results(Static):
            error.update("")
            error.remove_class("-shown")
        for row in self.query(".field.-invalid"):
            row.remove_class("-invalid")
        self.show_form_errors([])

    def _set_field_error(self, name: str, messages: Sequence[str]) -> bool:
        found = self.query(f"#e-{name}").results(Static)
        error = next(iter(found), None)
        if error is None:
            return False
        text = messages[0] if len(messages) == 1 else "\n".join(f"• {m}" for m in messages)
        error.update(Content(inert(text)))
        error.set_class(bool(messages), "-shown")
        for row in self.query(f"#row-{name}"):
            row.set_class(bool(messages), "-invalid")
        return True

    def show_problems(
        self, problems: Sequence[Problem], local: dict[str, str] | None = None, *, focus: bool = True
    ) -> None:
        """Every problem under its field; those without one in the form-level area."""
        self.clear_errors()
        mapping = self.field_map()
        homes: dict[str, str] = {}
        for path, name in mapping.items():
            homes.setdefault(name, path)
        per_field: dict[str, list[str]] = {}
        for name, message in (local or {}).items():
            per_field.setdefault(name, []).append(message)
        general: list[str] = []
        for problem in problems:
            target = field_for(problem.field, mapping) or self.FALLBACK_FIELD
            if target and self.query(f"#e-{target}"):
                per_field.setdefault(target, []).append(
                    describe(problem, self._labels.get(target, target), homes.get(target))
                )
            else:
                general.append(f"{problem.field}: {problem.message}" if problem.field else problem.message)
        shown: list[str] = []
        for field, messages in per_field.items():
            if field and self._set_field_error(field, messages):
                shown.append(field)
            else:
                general.extend(messages)
        self.show_form_errors(general)
        if focus and shown:
            self.focus_field(shown[0])

    def focus_field(self, name: str) -> None:
        target = self.query(f"#f-{name}").first() if self.query(f"#f-{name}") else None
        if target is None:
            row = self.query(f"#row-{name}")
            target = next(iter(row.first().query(".fc")), None) if row else None
        if target is not None and target.focusable:
            target.focus()
            target.scroll_visible()

    # -- the one save path --------------------------------------------------------------------

    def action_save(self) -> None:
        self.submit()

    def submit(self, *, and_new: bool = False) -> None:
        if self._saving or self.load_error:
            return
        try:
            payload = self.collect()
        except FieldErrors as exc:
            self.show_problems([], exc.errors)
            return
        self._set_saving(True)
        self.run_worker(self._save(payload, and_new), exclusive=True, group="form-save")

    def _perform_locked(self, lock: AbstractContextManager[Any], payload: Any) -> SaveResult:
        with lock:
            return self.perform(payload)

    def _set_saving(self, saving: bool) -> None:
        self._saving = saving
        if not self.is_attached:  # dismissed after a save
            return
        for button in self.query("#form-buttons Button").results(Button):
            if button.id != "form-cancel":
                button.disabled = saving or (bool(self.load_error) and button.id == "form-save")
        self.query_one("#form-status", Static).update("Saving…" if saving else "")

    async def _save(self, payload: Any, and_new: bool) -> None:
        try:
            result = await asyncio.to_thread(self._perform_locked, self.log_lock(), payload)
        except InvalidRecord as exc:
            self.show_problems(exc.problems)
        except (LogError, GitError, OSError) as exc:
            self.clear_errors()
            self.show_form_errors([f"Not saved: {exc}"])
        except Exception as exc:  # whatever went wrong, the typed input stays on screen and in the draft
            self.clear_errors()
            self.show_form_errors([f"Not saved (unexpected {type(exc).__name__}): {exc}"])
        else:
            self.saved.append(result)
            self._stop_draft_timer()  # a late draft write must not bring back what was just saved
            self.clear_errors()
            self.after_save(result, and_new)
        finally:
            self._set_saving(False)

    # -- leaving --------------------------------------------------------------------------------

    def _leave(self) -> None:
        self.dismiss(self.saved[-1] if self.saved else None)

    def action_cancel(self) -> None:
        """Close without saving; typed input stays as a draft that the form offers back next time."""
        if self._saving:
            return
        self.flush_draft()
        if self.is_dirty() and not self.load_error:
            self.app.notify("Unsaved input kept as a draft; it comes back when you open this form again.")
        self._leave()

    def discard(self) -> None:
        self._stop_draft_timer()
        remove_draft(self.exlog, self.KIND, self.record_id)
        self._leave()

    @on(Button.Pressed, "#form-save")
    def _save_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.submit()

    @on(Button.Pressed, "#form-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    @on(Button.Pressed, "#form-discard")
    def _discard_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.discard()

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        event.stop()
        if isinstance(event.input, FormInput) and event.input.advance:
            self.focus_next()
        else:
            self.submit()
