"""The command palette (ctrl+p): the app's actions by name, with the selected record's steps."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content

from kakotui.core.textsafe import inert

if TYPE_CHECKING:
    pass

__all__ = ["KakotuiCommands"]

Command = tuple[str, str, Callable[[], object]]

_STEPS = (
    ("edit", "Edit", "change fields of the record"),
    ("decide", "Decide", "reship, refund, return to vendor, accept or cancel"),
    ("reship", "Reship", "create a reshipment with its cost lines"),
    ("contact", "Log a vendor contact", "what the vendor was told and answered"),
    ("confirm", "Log the customer confirmation", "the customer received it, or not"),
    ("close", "Close", "close the record when the loop is closed"),
)


class KakotuiCommands(Provider):
    """Offers kakotui's actions; names are fixed text, record ids are shown without markup."""

    def _commands(self) -> list[Command]:
        from kakotui.tui.app import KakotuiApp

        app = self.app
        if not isinstance(app, KakotuiApp):
            return []
        main = app.main_screen
        commands: list[Command] = [
            ("New exception", "log a QC failure (n)", partial(app.open_form, "new", None)),
            ("Filter: open records", "is:open", partial(main.set_filter, "is:open")),
            (
                "Filter: invalid records",
                "records with problems: is:invalid",
                partial(main.set_filter, "is:invalid"),
            ),
            ("Filter: checked in the last 7 days", "since:7d", partial(main.set_filter, "since:7d")),
            ("Filter: clear", "show every record", partial(main.set_filter, "")),
            ("Sort by cost", "highest first", partial(main.sort_by, "cost", True)),
            ("Sort by age", "oldest first", partial(main.sort_by, "age", True)),
            ("Sort by status", "open first, closed last", partial(main.sort_by, "status", False)),
            ("Sort by vendor", "A-Z", partial(main.sort_by, "vendor", False)),
            ("Sort by id", "the order records were logged in", partial(main.sort_by, "id", False)),
            ("Reload", "catch up with the repository and read the list again", main.action_reload),
            ("Preview pane", "show or hide the record beside the list (d)", main.action_toggle_preview),
            ("Help", "keys and the query language (? or F1)", app.action_help),
        ]
        record_id = app.current_record_id()
        if record_id is not None:
            shown = inert(record_id, limit=30, single_line=True)
            commands.append(("Open record " + shown, "the detail view", partial(app.open_detail, record_id)))
            for name, label, help_text in _STEPS:
                commands.append((f"{label} {shown}", help_text, partial(app.open_form, name, record_id)))
        return commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(Content(name), callback, text=name, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                # Content(name), not matcher.highlight(): highlight parses its text as markup.
                yield Hit(score, Content(name), callback, text=name, help=help_text)
