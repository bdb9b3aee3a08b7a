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
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Button, Footer, Input, Label, Select, Static, TextArea
from textual.widgets.select import InvalidSelectValueError

from kakotui.core.money import Money, MoneyError
from kakotui.core.problems import InvalidRecord, Problem
from kakotui.core.record import status_of
from kakotui.core.textsafe import inert
from kakotui.log import ExceptionLog, Loaded, LogError, SaveResult
from kakotui.store.gitrepo import GitError
from kakotui.tui.forms.drafts import FormDraft, read_draft, remove_draft, write_draft

__all__ = ["FieldErrors", "FormInput", "FormScreen", "Option", "parse_money", "record_summary"]

Option = tuple[str | Content, str]
DRAFT_DELAY = 0.4  # seconds of quiet typing before the draft is written


class FieldErrors(Exception):
    """Raised by `collect` when typed text cannot become a value (field name -> message)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def parse_money(text: str, currency: str, field: str) -> Money | None:
    """`38.50` (in the chosen currency) or `38.50 USD`; None when empty; FieldErrors otherwise."""
    if not text.strip():
        return None
    try:
        return Money.parse(text, default_currency=currency or None)
    except MoneyError:
        raise FieldErrors(
            {field: f"not an amount: {inert(text, 30, single_line=True)} (e.g. 38.50)"}
        ) from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def record_summary(record: dict[str, Any]) -> list[str]:
    """Two or three short lines that say where a record stands (plain text; show it through `inert`)."""
    qc = record.get("qc") if isinstance(record.get("qc"), dict) else {}
    assert isinstance(qc, dict)
    try:
        status = status_of(record)
    except (AttributeError, TypeError):
        status = "?"
    first = " · ".join(
        p
        for p in (
            _text(record.get("id")),
            status,
            _text(qc.get("vendor")),
            f"SKU {_text(qc.get('sku'))}" if qc.get("sku") else "",
            _text(qc.get("failure_code")),
            _text(qc.get("severity")),
        )
        if p
    )
    steps: list[str] = []
    decision = record.get("decision")
    if isinstance(decision, dict):
        steps.append(f"decided {_text(decision.get('action'))}")
    for i, reship in enumerate(record.get("reshipments") or []):
        if isinstance(reship, dict):
            total = reship.get("total") if isinstance(reship.get("total"), dict) else {}
            assert isinstance(total, dict)
            money = f" {_text(total.get('amount'))} {_text(total.get('currency'))}" if total else ""
            carrier = f" {_text(reship.get('carrier'))}" if reship.get("carrier") else ""
            steps.append(f"R{i + 1} {_text(reship.get('status'))}{carrier}{money}")
    contacts = [c for c in record.get("vendor_contacts") or [] if isinstance(c, dict)]
    if contacts:
        steps.append(f"vendor: {_text(contacts[-1].get('outcome'))}")
    confirmation = record.get("customer_confirmation")
    if isinstance(confirmation, dict):
        steps.append(f"customer: {_text(confirmation.get('outcome'))}")
    closure = record.get("closure")
    if isinstance(closure, dict):
        steps.append(f"closed {_text(closure.get('final_status'))}")
    return [first, " · ".join(steps)] if steps else [first]


class FormInput(Input):
    """An Input that completes from a list of values (Right arrow takes the suggestion).

    For a `closed` field (only listed values are valid: vendors, codes, carriers) Tab and Enter take the
    suggestion too, so `hx⇥` fills `hx-leather`. Open fields (SKU) never change what was typed unless
    asked with Right: a new SKU that happens to prefix an old one must stay as typed.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("tab", "take_and_next", "Next field", show=False),
    ]

    def __init__(
        self,
        value: str = "",
        *,
        choices: Sequence[str] = (),
        closed: bool = False,
        advance: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(value, **kwargs)
        self.closed = closed
        self.advance = advance  # Enter moves to the next field instead of saving
        self._choices: list[str] = []
        self._choice_set: frozenset[str] = frozenset()
        self.set_choices(choices)

    def set_choices(self, choices: Iterable[str]) -> None:
        self._choices = list(dict.fromkeys(c for c in choices if c))
        self._choice_set = frozenset(self._choices)
        self.suggester = SuggestFromList(self._choices, case_sensitive=False) if self._choices else None

    @property
    def choices(self) -> list[str]:
        return self._choices

    def completion(self) -> str | None:
        """The listed value this text would complete to (the same one the faded suggestion shows)."""
        typed = self.value.casefold()
        if not typed:
            return None
        return next((c for c in self._choices if c.casefold().startswith(typed)), None)

    def take_suggestion(self) -> bool:
        if not self.closed or self.value in self._choice_set or not self.cursor_at_end:
            return False
        match = self.completion()
        if match is None or match == self.value:
            return False
        self.value = match
        self.cursor_position = len(match)
        return True

    def action_take_and_next(self) -> None:
        self.take_suggestion()
        self.screen.focus_next()

    async def action_submit(self) -> None:
        self.take_suggestion()
        await super().action_submit()


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
            if draft is not None and any(draft.values.get(k, "") != v for k, v in self.baseline.items()):
                self.restored = draft
                self.start_values.update(draft.values)
        self._labels: dict[str, str] = {}
        self._draft_timer: Timer | None = None
        self._saving = False

    def _load(self) -> None:
        if self.record_id is None:
            self.load_error = "no record chosen"
            return
        try:
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

    def text(
        self,
        name: str,
        *,
        placeholder: str = "",
        choices: Sequence[str] = (),
        closed: bool = False,
        advance: bool = False,
        restrict: str | None = None,
        max_length: int = 0,
    ) -> FormInput:
        return FormInput(
            self.value0(name),
            choices=choices,
            closed=closed,
            advance=advance,
            placeholder=placeholder,
            restrict=restrict,
            max_length=max_length,
            compact=True,
            select_on_focus=False,
            id=f"f-{name}",
            classes="fc",
        )

    def choice(
        self, name: str, options: Sequence[Option], *, prompt: str = "choose…", required: bool = True
    ) -> Select[str]:
        """A Select; a required one that opens on a valid value offers no blank."""
        legal = {value for _, value in options}
        start = self.value0(name)
        select: Select[str] = Select(
            options,
            prompt=prompt,
            allow_blank=not (required and start in legal),
            value=start if start in legal else Select.NULL,
            compact=True,
            id=f"f-{name}",
            classes="fc",
        )
        return select

    def area(self, name: str, *, placeholder: str = "") -> TextArea:
        return TextArea(
            self.value0(name),
            soft_wrap=True,
            tab_behavior="focus",
            compact=True,
            show_line_numbers=False,
            placeholder=placeholder,
            id=f"f-{name}",
            classes="fc",
        )

    def field(self, name: str, label: str, control: Widget, *more: Widget, hint: bool = False) -> Widget:
        """A labelled row: the control(s) (and a hint to their right), the error line under them."""
        self._labels[name] = label
        line: list[Widget] = [control, *more]
        if hint:
            line.append(Static("", id=f"h-{name}", classes="field-hint", markup=False))
        return Horizontal(
            Label(label, classes="field-label"),
            Vertical(
                Horizontal(*line, classes="field-line"),
                Static("", id=f"e-{name}", classes="field-error", markup=False),
                classes="field-main",
            ),
            id=f"row-{name}",
            classes="field",
        )

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

    @staticmethod
    def value_of(widget: Widget) -> str:
        if isinstance(widget, Input):
            return widget.value
        if isinstance(widget, Select):
            value = widget.value
            return "" if value is Select.NULL else str(value)
        if isinstance(widget, TextArea):
            return widget.text
        return ""

    def values(self) -> dict[str, str]:
        return {w.id[2:]: self.value_of(w) for w in self.controls() if w.id}

    def get(self, name: str) -> str:
        return self.value_of(self.query_one(f"#f-{name}"))

    def put(self, name: str, value: str) -> None:
        widget = self.query_one(f"#f-{name}")
        if isinstance(widget, Input):
            widget.value = value
            widget.cursor_position = len(value)
        elif isinstance(widget, Select):
            if not value:
                widget.clear()
            else:
                try:
                    widget.value = value
                except InvalidSelectValueError:
                    widget.clear()
        elif isinstance(widget, TextArea):
            widget.text = value

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

    def flush_draft(self) -> None:
        """Write the draft now (or remove it when the form holds nothing new)."""
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None
        if self.load_error:
            return
        try:
            if self.is_dirty():
                blob = self.loaded.blob if self.loaded is not None else ""
                write_draft(
                    self.exlog, FormDraft(self.KIND, self.record_id, self.values(), self.exlog.now(), blob)
                )
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
        for hint in self.query(f"#h-{name}").results(Static):
            hint.update(Content(inert(text, 60, single_line=True)))
            hint.set_class(good, "-good")

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
        error.update(Content(inert("\n".join(messages))))
        error.set_class(bool(messages), "-shown")
        for row in self.query(f"#row-{name}"):
            row.set_class(bool(messages), "-invalid")
        return True

    def widget_for(self, path: str, mapping: dict[str, str]) -> str | None:
        parts = path.split(".") if path else []
        for size in range(len(parts), 0, -1):
            name = mapping.get(".".join(parts[:size]))
            if name is not None:
                return name
        return None

    def describe(self, problem: Problem, name: str, home: str | None) -> str:
        message = problem.message
        if home is not None and problem.field == home:
            if message.startswith(("is ", "must ", "needs ", "has ")):
                label = self._labels.get(name, name).strip()
                return f"{label} {message}"
            return message
        if home is not None and problem.field.startswith(home + "."):
            return f"{problem.field[len(home) + 1 :]}: {message}"
        return f"{problem.field}: {message}" if problem.field else message

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
            target = self.widget_for(problem.field, mapping) or self.FALLBACK_FIELD
            if target and self.query(f"#e-{target}"):
                per_field.setdefault(target, []).append(self.describe(problem, target, homes.get(target)))
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

    def _set_saving(self, saving: bool) -> None:
        self._saving = saving
        for button in self.query("#form-buttons Button").results(Button):
            if button.id != "form-cancel":
                button.disabled = saving or (bool(self.load_error) and button.id == "form-save")
        self.query_one("#form-status", Static).update("Saving…" if saving else "")

    async def _save(self, payload: Any, and_new: bool) -> None:
        try:
            result = await asyncio.to_thread(self.perform, payload)
        except InvalidRecord as exc:
            self.show_problems(exc.problems)
        except (LogError, GitError, OSError) as exc:
            self.clear_errors()
            self.show_form_errors([f"Not saved: {exc}"])
        else:
            self.saved.append(result)
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
        if self._draft_timer is not None:
            self._draft_timer.stop()
            self._draft_timer = None
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
