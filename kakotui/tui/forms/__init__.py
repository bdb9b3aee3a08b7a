"""The lifecycle forms of the TUI, one modal screen per step, looked up by kind.

`FORMS[kind](log, record_id)` is pushed by any screen; it dismisses with the `SaveResult` of a
successful save, or None when cancelled (Escape). Kinds: new, edit, decide, reship, contact,
confirm, close, reopen. Unsaved input survives as a draft; `restore_draft_forms(log)` lists the
forms that have one, for the app to offer at start.
"""

from __future__ import annotations

from kakotui.tui.forms.base import FormScreen
from kakotui.tui.forms.capture import EditExceptionForm, NewExceptionForm
from kakotui.tui.forms.drafts import FormDraft, read_draft, remove_draft, restore_draft_forms
from kakotui.tui.forms.fields import FieldErrors, FormInput
from kakotui.tui.forms.reship import ReshipForm
from kakotui.tui.forms.steps import CloseForm, ConfirmForm, ContactForm, DecideForm, ReopenForm

__all__ = [
    "FORMS",
    "CloseForm",
    "ConfirmForm",
    "ContactForm",
    "DecideForm",
    "EditExceptionForm",
    "FieldErrors",
    "FormDraft",
    "FormInput",
    "FormScreen",
    "NewExceptionForm",
    "ReopenForm",
    "ReshipForm",
    "read_draft",
    "remove_draft",
    "restore_draft_forms",
]

FORMS: dict[str, type[FormScreen]] = {
    "new": NewExceptionForm,
    "edit": EditExceptionForm,
    "decide": DecideForm,
    "reship": ReshipForm,
    "contact": ContactForm,
    "confirm": ConfirmForm,
    "close": CloseForm,
    "reopen": ReopenForm,
}
"""Form class by kind; each is a `ModalScreen[SaveResult | None]` constructed `Form(log, record_id=None)`.

Typed by the common base so that `FORMS[kind](log, record_id)` type-checks (a bare
`type[ModalScreen]` has Textual's constructor signature).
"""
