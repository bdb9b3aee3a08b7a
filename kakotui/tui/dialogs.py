"""The help screen (generated from the bindings in force, plus the query language) and the identity prompt.

In a log with roles, a form key this person may not use is listed with the reason (`app.forbidden`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.actions import ActionError, parse
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static

from kakotui.core.textsafe import inert
from kakotui.store.query import FIELDS

if TYPE_CHECKING:
    from kakotui.tui.app import KakotuiApp

__all__ = ["HelpScreen", "IdentityScreen", "binding_rows", "forbidden_reason"]

_KEY_WIDTH = 18
_NOT_ALLOWED = " — not allowed: "


def forbidden_reason(app: KakotuiApp, action: str) -> str | None:
    """Why this person may not use the form `action` opens (`form('close')`), or None."""
    forbidden: dict[str, str] = getattr(app, "forbidden", None) or {}
    if not forbidden:
        return None
    try:
        _namespace, name, arguments = parse(action)
    except ActionError:
        return None
    if name == "form" and arguments and isinstance(arguments[0], str):
        return forbidden.get(arguments[0])
    return None


def binding_rows(app: KakotuiApp, bindings: Iterable[BindingType]) -> list[tuple[str, str]]:
    """(keys as shown, description) for each binding, with the key map applied; one row per action.

    A form this person may not use says so, with the reason: `Close the record — not allowed: ...`.
    """
    rows: dict[tuple[str, str], list[str]] = {}
    for binding in Binding.make_bindings(bindings):
        if binding.system:
            continue
        override = app.keymap.get(binding.id) if binding.id else None
        keys = override.split(",") if override else [binding.key]
        description = binding.description or binding.action.replace("_", " ")
        reason = forbidden_reason(app, binding.action)
        if reason:
            description += f"{_NOT_ALLOWED}{reason}"
        shown = rows.setdefault((binding.action, description), [])
        for key in keys:
            display = app.get_key_display(Binding(key.strip(), binding.action, key_display=None))
            if display not in shown:
                shown.append(display)
    return [(" / ".join(keys), description) for (_, description), keys in rows.items()]


def _group(title: str, rows: Iterable[tuple[str, str]]) -> Content:
    lines: list[Content] = [Content.styled(title, "bold $accent")]
    for keys, description in rows:
        what, _, reason = description.partition(_NOT_ALLOWED)
        line = Content.assemble(
            ("  " + inert(keys, limit=_KEY_WIDTH * 2, single_line=True).ljust(_KEY_WIDTH), "bold"),
            inert(what, limit=200, single_line=True),
        )
        if reason:  # a form this person may not use: the reason, in the warning colour
            line += Content.styled(_NOT_ALLOWED + inert(reason, limit=200, single_line=True), "$warning")
        lines.append(line)
    return Content("\n").join(lines)


class HelpScreen(Screen[None]):
    """Keys of every screen (the one it was opened from first) and the fields of the query language."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss_help", "Close help", id="close-help"),
    ]

    def __init__(self, opened_from: Screen[Any] | None = None) -> None:
        super().__init__()
        self._opened_from = opened_from

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="help-body"):
            yield Static(self._content(), id="help-text", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "help"
        self.query_one("#help-body").focus()

    def _content(self) -> Content:
        from kakotui.tui.app import KakotuiApp
        from kakotui.tui.detail import DetailScreen
        from kakotui.tui.screens import MainScreen
        from kakotui.tui.table import ExceptionTable

        app = self.app
        assert isinstance(app, KakotuiApp)
        everywhere = [
            *binding_rows(app, KakotuiApp.BINDINGS),
            (app.get_key_display(Binding(app.COMMAND_PALETTE_BINDING, "command_palette")), "Command palette"),
        ]
        groups: list[tuple[type[Screen[Any]] | None, str, list[tuple[str, str]]]] = [
            (
                MainScreen,
                "Exception list",
                [*binding_rows(app, MainScreen.BINDINGS), *binding_rows(app, ExceptionTable.BINDINGS)],
            ),
            (
                None,
                "Filter bar",
                [("enter", "apply now and go back to the list"), ("escape", "back to the list")],
            ),
            (DetailScreen, "Record detail", binding_rows(app, DetailScreen.BINDINGS)),
        ]
        forms = _form_rows(app)
        if forms:
            groups.append((None, "Forms", forms))
        first = type(self._opened_from) if self._opened_from is not None else None
        groups.sort(key=lambda group: group[0] is None or group[0] is not first)
        blocks = [_group("Everywhere", everywhere)]
        blocks.extend(_group(title, rows) for _, title, rows in groups)
        fields = [(name, help_text) for name, help_text in FIELDS.items()]
        query = _group("Query language (filter bar and `kakotui list`)", fields)
        examples = Content.assemble(
            ("  e.g. ", "dim"),
            "vendor:acme status:open,decided code:DEFECTIVE* cost>100 since:7d -severity:minor hinge",
        )
        blocks.append(Content("\n").join([query, examples]))
        return Content("\n\n").join(blocks)

    def action_dismiss_help(self) -> None:
        self.dismiss()


def _form_rows(app: KakotuiApp) -> list[tuple[str, str]]:
    from kakotui.tui.app import form_registry

    forms = form_registry()
    if forms is None:
        return []
    rows: list[tuple[str, str]] = []
    for form in dict.fromkeys(forms.values()):
        for row in binding_rows(app, getattr(form, "BINDINGS", [])):
            if row not in rows:
                rows.append(row)
    return rows


class IdentityScreen(ModalScreen[tuple[str, str] | None]):
    """Asks once for the person's name and email (saves are commits authored by them)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "later", "Later", id="identity-later")]

    def compose(self) -> ComposeResult:
        with Vertical(id="identity-box"):
            yield Label("Who are you?", id="identity-title")
            yield Static(
                "Every save in this log is a git commit signed with your name. "
                "It is kept in this log's settings (git config), not globally.",
                id="identity-help",
                markup=False,
            )
            yield Input(placeholder="Name, e.g. Li Wei", id="identity-name", max_length=100)
            yield Input(placeholder="Email, e.g. li.wei@example.com", id="identity-email", max_length=200)
            yield Static("", id="identity-error", markup=False)
            with Horizontal(id="identity-buttons"):
                yield Button("Save", variant="primary", id="identity-save")
                yield Button("Later", id="identity-later")

    def on_mount(self) -> None:
        self.query_one("#identity-name").focus()

    @on(Input.Submitted, "#identity-name")
    def _name_entered(self) -> None:
        self.set_focus(self.query_one("#identity-email"))

    @on(Input.Submitted, "#identity-email")
    @on(Button.Pressed, "#identity-save")
    def _save(self) -> None:
        name = self.query_one("#identity-name", Input).value.strip()
        email = self.query_one("#identity-email", Input).value.strip()
        error = self.query_one("#identity-error", Static)
        if not name or not name.isprintable():
            error.update("Type your name (as colleagues know it).")
            self.query_one("#identity-name").focus()
            return
        if "@" not in email or not email.isprintable() or any(ch.isspace() for ch in email):
            error.update("Type an email address such as li.wei@example.com.")
            self.query_one("#identity-email").focus()
            return
        self.dismiss((name, email))

    @on(Button.Pressed, "#identity-later")
    def action_later(self) -> None:
        self.dismiss(None)
