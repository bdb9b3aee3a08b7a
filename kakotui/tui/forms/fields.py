"""The pieces forms are built from: a completing Input, labelled field rows, reading and setting a
control's text, placing a Problem under its field, money parsing, choices taken from the log's schema.

Nothing here saves; `base.FormScreen` puts these together into the one save path.

Record text is never put raw into an editable control (Input and TextArea would send its escape
sequences, C1 codes and bidi overrides to the terminal): controls show `inert_in_place(value)` (one
visible symbol per such character, so the cursor stays right), and `value_of` gives back the original
value while the field still shows it unchanged; a field the person edited saves what it shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, TextArea
from textual.widgets.select import InvalidSelectValueError

from kakotui.core.money import Money, MoneyError
from kakotui.core.problems import Problem
from kakotui.core.record import status_of
from kakotui.core.textsafe import inert, inert_in_place
from kakotui.log import ExceptionLog

__all__ = [
    "FieldErrors",
    "FormArea",
    "FormInput",
    "Option",
    "describe",
    "field_for",
    "field_row",
    "make_area",
    "make_input",
    "make_select",
    "options",
    "parse_money",
    "put_value",
    "record_summary",
    "schema_enum",
    "value_of",
]

Option = tuple[str | Content, str]


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
        super().__init__(inert_in_place(value), **kwargs)
        self.original: str | None = value
        """The value this field was given (it may hold characters shown as symbols)."""
        self.closed = closed
        self.advance = advance  # Enter moves to the next field instead of saving
        self._choices: list[str] = []
        self._choice_set: frozenset[str] = frozenset()
        self.set_choices(choices)

    def set_choices(self, choices: Iterable[str]) -> None:
        # Suggestions are drawn too: past values from records, made inert like the value itself.
        self._choices = list(dict.fromkeys(inert_in_place(c) for c in choices if c))
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


def make_input(
    name: str,
    value: str,
    *,
    placeholder: str = "",
    choices: Sequence[str] = (),
    closed: bool = False,
    advance: bool = False,
    restrict: str | None = None,
    max_length: int = 0,
    short: bool = False,
) -> FormInput:
    return FormInput(
        value,
        choices=choices,
        closed=closed,
        advance=advance,
        placeholder=placeholder,
        restrict=restrict,
        max_length=max_length,
        compact=True,
        select_on_focus=False,
        id=f"f-{name}",
        classes="fc short" if short else "fc",
    )


def make_select(
    name: str, value: str, options: Sequence[Option], *, prompt: str = "choose…", required: bool = True
) -> Select[str]:
    """A Select; a required one that opens on a valid value offers no blank."""
    legal = {v for _, v in options}
    select: Select[str] = Select(
        options,
        prompt=prompt,
        allow_blank=not (required and value in legal),
        value=value if value in legal else Select.NULL,
        compact=True,
        id=f"f-{name}",
        classes="fc",
    )
    return select


class FormArea(TextArea):
    """A TextArea that shows record text inertly and remembers the value it was given."""

    def __init__(self, value: str = "", **kwargs: Any) -> None:
        super().__init__(inert_in_place(value, keep_newlines=True), **kwargs)
        self.original: str | None = value


def make_area(name: str, value: str, *, placeholder: str = "") -> TextArea:
    return FormArea(
        value,
        soft_wrap=True,
        tab_behavior="focus",
        compact=True,
        show_line_numbers=False,
        placeholder=placeholder,
        id=f"f-{name}",
        classes="fc",
    )


def field_row(name: str, label: str, controls: Sequence[Widget], *, hint: bool = False) -> Widget:
    """Label | controls (and a hint to their right) over the error line; ids row-/h-/e-<name>."""
    line: list[Widget] = list(controls)
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


def value_of(widget: Widget) -> str:
    """The text a control holds ("" for an empty Select)."""
    if isinstance(widget, Input):
        original = getattr(widget, "original", None)
        if original is not None and widget.value == inert_in_place(original):
            return str(original)
        return widget.value
    if isinstance(widget, Select):
        value = widget.value
        return "" if value is Select.NULL else str(value)
    if isinstance(widget, TextArea):
        original = getattr(widget, "original", None)
        if original is not None and widget.text == inert_in_place(original, keep_newlines=True):
            return str(original)
        return widget.text
    return ""


def put_value(widget: Widget, value: str) -> None:
    """Set a control's text; a value a Select does not offer leaves it empty."""
    if isinstance(widget, Input):
        shown = inert_in_place(value)
        if isinstance(widget, FormInput):
            widget.original = value
        widget.value = shown
        widget.cursor_position = len(shown)
    elif isinstance(widget, Select):
        if not value:
            widget.clear()
        else:
            try:
                widget.value = value
            except InvalidSelectValueError:
                widget.clear()
    elif isinstance(widget, TextArea):
        if isinstance(widget, FormArea):
            widget.original = value
        widget.text = inert_in_place(value, keep_newlines=True)


def field_for(path: str, mapping: dict[str, str]) -> str | None:
    """The field a dotted problem path belongs to: the longest mapped prefix (`qc.sku`, `reshipments.1`)."""
    parts = path.split(".") if path else []
    for size in range(len(parts), 0, -1):
        name = mapping.get(".".join(parts[:size]))
        if name is not None:
            return name
    return None


def describe(problem: Problem, label: str, home: str | None) -> str:
    """A problem's message as shown under a field whose own record path is `home`."""
    message = problem.message
    if home is not None and problem.field == home:
        if message.startswith(("is ", "must ", "needs ", "has ")):
            return f"{label.strip()} {message}"
        return message
    if home is not None and problem.field.startswith(home + "."):
        return f"{problem.field[len(home) + 1 :]}: {message}"
    return f"{problem.field}: {message}" if problem.field else message


def schema_enum(log: ExceptionLog, definition: str, prop: str | None = None) -> list[str]:
    """Allowed values of `$defs.<definition>[.properties.<prop>]` in the log's exception schema."""
    node: Any = log.schemas.documents["exception"].get("$defs", {}).get(definition, {})
    if prop is not None:
        node = node.get("properties", {}).get(prop, {})
    values = node.get("enum", []) if isinstance(node, dict) else []
    return [str(v) for v in values]


def options(values: list[str]) -> list[Option]:
    """Select options whose labels are the values, shown as plain text (they come from the log's files)."""
    return [(Content(inert(v, 40, single_line=True)), v) for v in values]
