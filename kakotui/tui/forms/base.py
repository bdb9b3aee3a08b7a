"""What every lifecycle form shares: typed fields with an error line under each, one save path, drafts.

A form is a `ModalScreen[SaveResult | None]` built from named fields (`f-<name>` widgets of class
`fc`). Enter, Ctrl+S and the Save button all go through `submit()`: the form reads its fields
(`collect`, which may refuse with `FieldErrors`), calls the façade in a worker thread (`perform`),
and either dismisses with the `SaveResult` or shows every `Problem` under the field its dotted path
belongs to (`field_map`), keeping everything typed. While it is open, its values are written to a
draft on every change (debounced), so nothing typed is lost to a crash or an Escape.

A record form never saves over a change it has not shown: if the record changed since the form
opened (another app, another person on this clone), the save stops and the form offers a merge,
naming what the other side changed and where both changed the same field; Save then saves the
merge (`merge_payload`: field by field through `kakotui.sync.merge`), checked again against the
version that was shown.

In a log with roles (`kakotui.yaml` `roles:`), a form offers only what this person may change: after
compose, every field whose record path `ExceptionLog.may_change` refuses is locked (its controls
hidden and disabled, the reason shown in their place, its value left out of what the form saves).
The verdicts are asked once per form. The façade still checks every save; a refusal comes back as
`InvalidRecord` (rule `policy:*`) and shows under the field it names. A log without roles shows
and saves exactly as before.
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
from kakotui.log import ExceptionLog, Loaded, LogError, SaveResult, StaleRecord
from kakotui.store.gitrepo import GitError
from kakotui.sync.merge import MISSING
from kakotui.sync.merge import get_path as merge_get
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

__all__ = ["DRAFT_DELAY", "FormScreen", "RecordChanged", "changed_paths"]

DRAFT_DELAY = 0.4  # seconds of quiet typing before the draft is written


class RecordChanged(Exception):
    """The record is not the version the form last showed (raised in the save worker)."""

    def __init__(self, fresh: Loaded) -> None:
        super().__init__(f"{fresh.id} changed")
        self.fresh = fresh


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two record versions differ (mappings compared key by key, the rest whole)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in [*old, *(k for k in new if k not in old)]:
            out += changed_paths(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    return [] if old == new and type(old) is type(new) else [prefix.rstrip(".")]


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def _shown(value: Any) -> str:
    return "(empty)" if value in (None, "") else repr(value) if isinstance(value, str) else str(value)


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
    FormScreen .field-locked {
        height: auto;
        color: $text-muted;
        text-style: italic;
    }
    FormScreen .field.-locked .field-label {
        color: $text-disabled;
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
        self.theirs: Loaded | None = None
        """A newer version of the record the form has shown in a merge offer (None: none so far)."""
        self._verdicts: dict[tuple[str, str | None], tuple[bool, str]] = {}
        self.locked: dict[str, str] = {}
        """Field name -> why this person may not change it (always empty in a log without roles)."""
        self._permissions_applied = False

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

    def merge_payload(self, payload: Any, theirs: Loaded) -> Any:
        """What to save once the person accepted a merge with `theirs` (runs in the worker).

        Steps (decide, reship...) are applied by the façade to the latest version, so their payload
        stands; a form that saves a whole record (edit) merges it here field by field.
        """
        return payload

    def merge_conflicts(self, payload: Any, theirs: Loaded) -> list[tuple[str, Any, Any]]:
        """(field path, ours, theirs) where both sides changed the same field to different values.

        Default, for steps: the other side changed a field this form writes (its `field_map`).
        """
        own = tuple(self.field_map())
        changed = changed_paths(self.record, theirs.record or {})
        return [
            (path, None, _plain(merge_get(theirs.record or {}, path)))
            for path in changed
            if any(path == p or path.startswith(p + ".") or p.startswith(path + ".") for p in own)
        ]

    def expected_blob(self) -> str | None:
        """The version a whole-record save must still find: the one opened, or the one shown since."""
        seen = self.theirs or self.loaded
        return seen.blob if seen is not None else None

    def after_save(self, result: SaveResult, and_new: bool) -> None:
        remove_draft(self.exlog, self.KIND, self.record_id)
        self.dismiss(result)

    def permission_map(self) -> dict[str, str]:
        """Record path -> field name, for deciding which fields this person is offered (default
        `field_map`); a field is locked when any of its paths is refused."""
        return self.field_map()

    # -- who may change what ----------------------------------------------------------------

    @property
    def policed(self) -> bool:
        """Whether the log has roles (without them every field is offered, as before roles)."""
        try:
            return bool(self.exlog.config.policy.enforced)
        except Exception:  # a log whose settings cannot be read checks nothing here; the save does
            return False

    def permitted(self, path: str, value: str | None = None) -> tuple[bool, str]:
        """(may this person set record field `path` (to `value`), why not); asked once per form."""
        if not self.policed:
            return True, ""
        key = (path, value)
        verdict = self._verdicts.get(key)
        if verdict is None:
            try:
                ok, why = self.exlog.may_change(path, value)
            except LogError as exc:  # no identity: the person is nobody the policy knows
                ok, why = False, str(exc)
            verdict = self._verdicts[key] = (bool(ok), str(why))
        return verdict

    def apply_permissions(self) -> None:
        """Lock every field this person may not change (after compose; nothing in a log without roles)."""
        if not self.policed or self.load_error:
            return
        reasons: dict[str, str] = {}
        for path, name in self.permission_map().items():
            if name in reasons:
                continue
            ok, why = self.permitted(path)
            if not ok:
                reasons[name] = why or f"you may not change {path}"
        for name, why in reasons.items():
            self.lock_field(name, why)
        if not reasons:
            return
        open_controls = [w for w in self.controls() if not w.disabled]
        if not open_controls:
            self.show_notice(
                "Nothing in this form is yours to change (each field says why); Escape leaves it."
            )
        focused = self.focused
        if focused is None or not focused.focusable or not focused.display:
            first = next((w for w in open_controls if w.focusable and w.display), None)
            if first is not None:
                first.focus()

    def lock_field(self, name: str, reason: str) -> None:
        """Hide and disable the controls of field `name`; its reason shows where they were.

        The error line stays, so a refusal of the save still shows under the field.
        """
        self.locked[name] = reason
        for row in self.query(f"#row-{name}"):
            for control in row.query(".fc"):
                control.disabled = True
            main = next(iter(row.query(".field-main")), None)
            if main is None:
                continue
            for child in main.children:
                if not (child.has_class("field-error") or child.has_class("field-locked")):
                    child.display = False
            row.add_class("-locked")
            text = Content(inert(reason, 300))
            found = main.query(f"#lock-{name}").results(Static)
            shown = next(iter(found), None)
            if shown is None:
                main.mount(Static(text, id=f"lock-{name}", classes="field-locked", markup=False), before=0)
            else:
                shown.update(text)

    def offered(self, name: str) -> str | None:
        """The text of field `name`, or None when this person may not change it (left out of the save)."""
        return None if name in self.locked else self.get(name)

    def require_offered(self, *names: str) -> None:
        """Refuse to save (under the field) when a field the step cannot do without is locked."""
        errors = {name: self.locked[name] for name in names if name in self.locked}
        if errors:
            raise FieldErrors(errors)

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
        # Textual also calls this for a subclass whose on_mount calls super(): lock fields once.
        if not self._permissions_applied:
            self._permissions_applied = True
            self.apply_permissions()
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
            seen = self.theirs or self.loaded
            if seen is None or self.record_id is None:  # a new record: nothing to have changed
                return self.perform(payload)
            fresh = self.exlog.get(self.record_id)
            if fresh.blob != seen.blob:
                raise RecordChanged(fresh)
            if self.theirs is not None:
                payload = self.merge_payload(payload, self.theirs)
            try:
                return self.perform(payload)
            except StaleRecord:  # saved by someone else between our look and the save
                raise RecordChanged(self.exlog.get(self.record_id)) from None

    def offer_merge(self, payload: Any, fresh: Loaded) -> None:
        """Show what the other side changed and what a merge would do; the next Save does it."""
        theirs_changed = changed_paths((self.theirs or self.loaded or fresh).record or {}, fresh.record or {})
        self.clear_errors()
        if fresh.record is None:  # nothing to merge with: stay refused until it can be read
            self.show_form_errors(
                [
                    f"Not saved: {fresh.id} was changed by someone else and cannot be read now; nothing was overwritten."
                ]
            )
            return
        self.theirs = fresh
        conflicts = self.merge_conflicts(payload, fresh)
        lines = [
            f"Not saved: {fresh.id} was changed by someone else since you opened it "
            f"({', '.join(theirs_changed[:6]) or 'formatting only'}{' …' if len(theirs_changed) > 6 else ''})."
        ]
        if conflicts:
            both = "; ".join(
                f"{path}: theirs {_shown(t)}" + ("" if o is None else f", yours {_shown(o)}")
                for path, o, t in conflicts[:4]
            )
            lines.append(f"Both of you changed {both}.")
            lines.append("Save again to merge: yours is kept for these, their other changes are kept too.")
        else:
            lines.append("Your change merges with theirs without conflict: Save again to save the merge.")
        lines.append("Escape leaves it unsaved (your input stays as a draft).")
        self.show_form_errors(lines)
        save = self.query_one("#form-save", Button)
        save.label = "Save merged"

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
        except RecordChanged as exc:
            self.offer_merge(payload, exc.fresh)
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
