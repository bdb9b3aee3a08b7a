"""The kakotui terminal UI: `KakotuiApp` over one `ExceptionLog`, and `run_app` for the CLI.

The app owns the log, a lock that serializes the worker threads' use of it, the key map (binding
ids remapped from keys.yaml files) and the routes between screens: the list, a record's detail,
the lifecycle forms (kakotui.tui.forms), help and the identity prompt.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from kakotui.core import yamlio
from kakotui.core.textsafe import inert
from kakotui.log import ExceptionLog, LogError, SaveResult
from kakotui.tui.screens import MainScreen

if TYPE_CHECKING:
    from textual.command import Provider

# The detail view, dialogs and command palette are imported when first used: starting the app (and
# showing the first rows) does not pay for them.

__all__ = ["FORM_NAMES", "KakotuiApp", "form_registry", "keymap_paths", "load_keymap", "run_app"]

FORM_NAMES = ("new", "edit", "decide", "reship", "contact", "confirm", "close")
FORM_ACTIONS = {
    "new": "create",
    "edit": "edit",
    "decide": "decide",
    "reship": "reship",
    "contact": "contact",
    "confirm": "confirm",
    "close": "close",
}
"""Form -> the policy action it takes (kakotui.yaml `roles:`; see kakotui.core.policy)."""
KEYS_FILE = "keys.yaml"
_THEME = "textual-dark"


def keymap_paths(log: ExceptionLog) -> list[Path]:
    """Where key overrides are read from, weakest first: the person's config, then this clone's."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path(config_home) / "kakotui" / KEYS_FILE, log.git.git_dir / "kakotui" / KEYS_FILE]


def load_keymap(paths: list[Path]) -> tuple[dict[str, str], list[str]]:
    """Binding id -> keys (comma-separated) from the files that exist; later files win.

    A file that cannot be used is skipped whole and named in the problems (never an exception).
    """
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for path in paths:
        if not path.is_file():
            continue
        try:
            data = yamlio.load(path.read_bytes(), max_bytes=64 * 1024)
        except (OSError, yamlio.YamlError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        if data is None:
            continue
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in data.items()
        ):
            problems.append(f"{path}: expected a mapping of binding id to keys, e.g. `new: ctrl+n`")
            continue
        keymap.update({k: v.replace(" ", "") for k, v in data.items()})
    return keymap, problems


class KakotuiApp(App[None]):
    """Browse, filter and work the exception log."""

    TITLE = "kakotui"
    CSS_PATH = "kakotui.tcss"
    COMMANDS = App.COMMANDS | {lambda: _commands()}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("question_mark,f1", "help", "Help", id="help"),
    ]

    def __init__(
        self,
        log: ExceptionLog,
        *,
        today: date | None = None,
        cursor_blink: bool = True,
        keymap: dict[str, str] | None = None,
    ) -> None:
        """`today` fixes the date ages are counted from (tests); `keymap` replaces the keys.yaml files."""
        super().__init__()
        self.exception_log = log
        self.log_lock = threading.RLock()
        """Held around every use of the log from a worker thread (one SQLite connection is shared)."""
        self.cursor_blink = cursor_blink
        self._today = today
        self._keymap_given = keymap
        self.keymap: dict[str, str] = {}
        self.main_screen = MainScreen()
        self.sub_title = self._describe_person()
        self.forbidden: dict[str, str] = {}
        """Form name -> why this person may not use it (empty when the log has no roles)."""

    # ---------------------------------------------------------------- start

    def today(self) -> date:
        """The day ages are counted from (fixed in tests)."""
        return self._today or self.exception_log.today()

    def _describe_person(self) -> str:
        parts = [inert(self.exception_log.config.name, limit=60, single_line=True)]
        try:
            parts.append(self.exception_log.station)
        except LogError:
            parts.append("no station")
        parts.append(
            inert(self.exception_log.identity.name, limit=40, single_line=True)
            if self.exception_log.has_identity
            else "who?"
        )
        return " · ".join(parts)

    def refresh_permissions(self) -> None:
        """Work out again which forms this person may use (at start, and when the person changes)."""
        log = self.exception_log
        forbidden: dict[str, str] = {}
        if log.config.policy.enforced:
            for form, action in FORM_ACTIONS.items():
                ok, why = log.allowed(action)
                if not ok:
                    forbidden[form] = why
        self.forbidden = forbidden
        for screen in self.screen_stack:
            screen.refresh_bindings()

    def on_mount(self) -> None:
        self.theme = _THEME
        self.refresh_permissions()
        if self._keymap_given is not None:
            self.keymap, problems = dict(self._keymap_given), list[str]()
        else:
            self.keymap, problems = load_keymap(keymap_paths(self.exception_log))
        if self.keymap:
            self.set_keymap(self.keymap)
        for problem in problems:
            self.notify(f"key map ignored: {problem}", severity="warning", markup=False)
        if not self.exception_log.has_identity:
            from kakotui.tui.dialogs import IdentityScreen

            self.push_screen(IdentityScreen(), self._identity_given)
        # Forms left with typed input (a crash, a kill) are named once the list is on screen: the
        # forms package is not imported before the first rows show.
        self.set_timer(0.5, self._announce_form_drafts)
        drafts = self.exception_log.drafts()
        if drafts:
            ids = ", ".join(inert(rid, limit=20, single_line=True) for rid, _, _ in drafts[:5])
            more = f" and {len(drafts) - 5} more" if len(drafts) > 5 else ""
            self.notify(
                f"unsaved work from an earlier session: {ids}{more}",
                title="Drafts",
                severity="warning",
                timeout=10,
                markup=False,
            )

    def _announce_form_drafts(self) -> None:
        from kakotui.tui.forms.drafts import draft_notice

        try:
            notice = draft_notice(self.exception_log)
        except Exception as exc:  # a damaged draft folder must not end the app
            notice = f"the drafts of unsaved forms could not be read: {inert(str(exc), limit=200)}"
        if notice:
            self.notify(notice, title="Unsaved forms", severity="warning", timeout=10, markup=False)

    def _identity_given(self, result: tuple[str, str] | None) -> None:
        if result is None:
            self.notify(
                "no name set: saving will fail until you set one (kakotui whoami --set)",
                severity="warning",
                markup=False,
            )
            return
        name, email = result
        try:
            self.exception_log.set_identity(name, email)
        except Exception as exc:  # a git failure must not end the app
            self.notify(f"could not save your name: {exc}", severity="error", markup=False)
            return
        self.sub_title = self._describe_person()
        self.refresh_permissions()
        self.notify(f"you are {name} <{email}> in this log", markup=False)

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        # Tests and snapshots freeze the blink of every text cursor, forms' included.
        if not self.cursor_blink and hasattr(event.widget, "cursor_blink"):
            event.widget.cursor_blink = False

    # ---------------------------------------------------------------- routes

    def action_help(self) -> None:
        from kakotui.tui.dialogs import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.screen))

    def open_detail(self, record_id: str) -> None:
        from kakotui.tui.detail import DetailScreen

        self.push_screen(DetailScreen(record_id))

    def open_form(self, name: str, record_id: str | None) -> None:
        """Push the lifecycle form `name` for `record_id` (None for a new record)."""
        if name != "new" and record_id is None:
            self.notify("no record selected", severity="warning")
            return
        if name in self.forbidden:
            self.notify(self.forbidden[name], title="Not allowed", severity="warning", markup=False)
            return
        forms = form_registry()
        if forms is None:
            self.notify("forms not available", severity="warning")
            return
        form = forms.get(name)
        if form is None:
            self.notify(f"form {name!r} not available", severity="warning", markup=False)
            return
        screen = form(self.exception_log, record_id)
        self.push_screen(screen, lambda result: self.after_save(result, screen))

    def after_save(self, result: SaveResult | None, form: Any = None) -> None:
        """A form closed: refresh the list (cursor on the saved id) and any open detail of that record.

        A form dismissed without a result may still have saved (its `saved` list, e.g. "save and
        new" then cancel): the list is refreshed for those too.
        """
        saved: list[SaveResult] = list(getattr(form, "saved", None) or [])
        if result is not None and result not in saved:
            saved.append(result)
        if not saved:
            return
        self.main_screen.reload(keep_id=(result or saved[-1]).id)
        ids = {item.id for item in saved}
        from kakotui.tui.detail import DetailScreen

        for screen in self.screen_stack:
            if isinstance(screen, DetailScreen) and screen.record_id in ids:
                screen.reload()
        self.notify(f"saved {', '.join(item.id for item in saved[-3:])}", markup=False)

    def current_record_id(self) -> str | None:
        """The record the person is looking at: the open detail, else the list cursor."""
        from kakotui.tui.detail import DetailScreen

        for screen in reversed(self.screen_stack):
            if isinstance(screen, DetailScreen):
                return screen.record_id
            if isinstance(screen, MainScreen):
                return screen.cursor_id
        return None

    def run_in_log(self, fn: Callable[[ExceptionLog], Any]) -> Any:
        """Call `fn(log)` holding the log lock (for main-thread reads while workers may run)."""
        with self.log_lock:
            return fn(self.exception_log)

    def get_default_screen(self) -> Screen[Any]:
        return self.main_screen


def _commands() -> type[Provider]:
    from kakotui.tui.commands import KakotuiCommands

    return KakotuiCommands


def form_registry() -> dict[str, Any] | None:
    """`kakotui.tui.forms.FORMS` (form name -> ModalScreen class), or None while it is missing."""
    try:
        from kakotui.tui import forms
    except ImportError:
        return None
    registry = getattr(forms, "FORMS", None)
    return dict(registry) if registry is not None else None


def run_app(log: ExceptionLog, *, today: date | None = None, cursor_blink: bool = True) -> None:
    """Run the UI on `log` until the person quits (the CLI's `kakotui tui` and `kakotui demo`)."""
    app = KakotuiApp(log, today=today, cursor_blink=cursor_blink)
    try:
        app.run()
    finally:
        log.close()
