"""The exception list: a virtual table that draws only the rows on screen, so it stays instant at 200k rows.

`ExceptionTable` holds the caller's rows and display order by reference: it never copies, sorts or
measures them. Each frame converts only the visible cells, through `inert` (control and bidi
characters made visible) and straight into Segments: record text is never parsed as markup.
Moving the cursor, paging and jumping to the end cost the same at 10 rows and at 10 million.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from kakotui.core.textsafe import ELLIPSIS, inert

__all__ = ["STATUS_VALUES", "Column", "ExceptionTable"]

STATUS_VALUES: frozenset[str] = frozenset(
    {"open", "decided", "reshipping", "awaiting-confirmation", "closed"}
)
"""Status values that have a component class `exception-table--status-<value>`."""

_SORT_MARK = {False: "▲", True: "▼"}
_GAP = 1  # blank cells left of the first column and between columns


@dataclass(frozen=True)
class Column:
    """One column: `width` cells wide, shrinkable down to `min_width`; the last column takes spare width."""

    key: str
    label: str
    width: int
    align: Literal["left", "right"] = "left"
    min_width: int | None = None

    def __post_init__(self) -> None:
        if self.width < 1 or (self.min_width is not None and self.min_width < 1):
            raise ValueError(f"column {self.key!r}: widths must be at least 1")


class _Styles(NamedTuple):
    base: Style
    header: Style
    stripe: Style
    cursor: Style
    empty: Style
    status: dict[str, Style]


def _fit(text: str, width: int, align: Literal["left", "right"]) -> str:
    """Cut or pad inert text to exactly `width` terminal cells (wide CJK characters count as two)."""
    size = len(text) if text.isascii() else cell_len(text)
    if size <= width:
        pad = " " * (width - size)
        return text + pad if align == "left" else pad + text
    if width <= 0:
        return ""
    # set_cell_size pads with a space when it would have to split a double-width character.
    return set_cell_size(text, width - 1) + ELLIPSIS


def _header_cell(label: str, width: int, align: Literal["left", "right"], mark: str) -> str:
    """A header label with the sort mark on its inner side; the label gives way to the mark."""
    if not mark or width < 1:
        return _fit(label, width, align)
    core = label if cell_len(label) < width else _fit(label, width - 1, "left")
    joiner = " " if cell_len(core) + 2 <= width else ""
    return _fit(core + joiner + mark if align == "left" else mark + joiner + core, width, align)


class ExceptionTable(ScrollView, can_focus=True):
    """A read-only, keyboard-first virtual table over rows the caller owns.

    Rows are sequences of cell values, index 0 being the record id (a str); column `i` shows cell `i`.
    """

    ALLOW_MAXIMIZE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "cursor_first", "First", show=False),
        Binding("end,ctrl+end", "cursor_last", "Last", show=False),
        Binding("enter", "select_cursor", "Open", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "exception-table--header",
        "exception-table--cursor",
        "exception-table--stripe",
        "exception-table--empty",
        *(f"exception-table--status-{value}" for value in STATUS_VALUES),
    }

    DEFAULT_CSS = """
    ExceptionTable {
        background: $surface;
        color: $foreground;
        height: 1fr;
        & > .exception-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .exception-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .exception-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        & > .exception-table--stripe {
            background: $surface-lighten-1 50%;
        }
        & > .exception-table--empty {
            color: $text-muted;
            text-style: italic;
        }
        & > .exception-table--status-open { color: $text-warning; }
        & > .exception-table--status-decided { color: $text-accent; }
        & > .exception-table--status-reshipping { color: $text-secondary; }
        & > .exception-table--status-awaiting-confirmation { color: $text-primary; }
        & > .exception-table--status-closed { color: $text-success; }
    }
    """

    class RowHighlighted(Message):
        """The cursor moved to another row (`row_id` None when the table became empty)."""

        def __init__(self, table: ExceptionTable, row_id: str | None) -> None:
            self.table = table
            self.row_id = row_id
            super().__init__()

        @property
        def control(self) -> ExceptionTable:
            return self.table

    class RowSelected(Message):
        """Enter, or a click on the cursor row (or a double click): open this record."""

        def __init__(self, table: ExceptionTable, row_id: str) -> None:
            self.table = table
            self.row_id = row_id
            super().__init__()

        @property
        def control(self) -> ExceptionTable:
            return self.table

    class SortRequested(Message):
        """A header cell was clicked: the owner decides the new order and calls `set_data`/`set_sort`."""

        def __init__(self, table: ExceptionTable, column_key: str) -> None:
            self.table = table
            self.column_key = column_key
            super().__init__()

        @property
        def control(self) -> ExceptionTable:
            return self.table

    zebra_stripes: reactive[bool] = reactive(False)
    """Shade every other row."""

    empty_text: reactive[str] = reactive("No exceptions to show.")
    """The hint centred in the table when it has no rows."""

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        status_column: str | None = "status",
        zebra_stripes: bool = False,
        empty_text: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._columns: tuple[Column, ...] = ()
        self._status_index: int | None = None
        self._status_column = status_column
        self._rows: Sequence[Sequence[object]] = ()
        self._order: Sequence[int] | None = None
        self._count = 0
        self._cursor = -1  # display position, -1 when there are no rows
        self._sort_key: str | None = None
        self._sort_descending = False
        self._widths_cache: tuple[int, tuple[int, ...]] | None = None
        self._styles: _Styles | None = None
        self.set_columns(columns)
        self.set_reactive(ExceptionTable.zebra_stripes, zebra_stripes)
        if empty_text is not None:
            self.set_reactive(ExceptionTable.empty_text, empty_text)

    # ---------------------------------------------------------------- data in

    def set_columns(self, columns: Sequence[Column]) -> None:
        """Replace the columns (column `i` shows cell `i` of each row)."""
        if not columns:
            raise ValueError("an ExceptionTable needs at least one column")
        self._columns = tuple(columns)
        keys = [column.key for column in self._columns]
        self._status_index = keys.index(self._status_column) if self._status_column in keys else None
        self._widths_cache = None
        self._update_virtual_size()
        self.refresh()

    def set_data(
        self,
        rows: Sequence[Sequence[object]],
        order: Sequence[int] | None = None,
        *,
        keep_cursor: bool = True,
    ) -> None:
        """Show `rows` in `order` (row indexes; None = natural order). Both are kept by reference.

        With `keep_cursor`, the cursor stays on the same record id and at the same height on screen
        when that record is still shown, else at the same position (clamped); without, it goes to the
        first row. Costs O(1) when the cursor record keeps its row index, else one scan of `rows`, plus
        one C-speed `order.index`; nothing else here depends on the number of rows.
        """
        old_id = self.cursor_id
        old_index = self.cursor_index
        old_position = self._cursor
        screen_offset = old_position - self._top if old_position >= 0 else 0

        self._rows = rows
        self._order = order
        self._count = len(order) if order is not None else len(rows)
        self._update_virtual_size()

        position = 0 if self._count else -1
        if keep_cursor and self._count and old_id is not None and old_index is not None:
            found = self._position_of_id(old_id, hint=old_index)
            if found is not None:
                position = found
            else:
                position = min(old_position, self._count - 1)
                screen_offset = position - self._top
        else:
            screen_offset = 0
        self._cursor = position
        if position >= 0:
            self._scroll_top_to(position - max(0, screen_offset))
            self._scroll_cursor_into_view()
        else:
            self._scroll_top_to(0)
        self.refresh()
        if self.cursor_id != old_id:
            self.post_message(self.RowHighlighted(self, self.cursor_id))

    def set_sort(self, column_key: str | None, *, descending: bool = False) -> None:
        """Show ▲ (or ▼ when `descending`) on the header of `column_key`; the owner does the sorting."""
        self._sort_key = column_key
        self._sort_descending = descending
        self.refresh_line(self.scroll_offset.y)  # the header line (screen line 0)

    # ---------------------------------------------------------------- state out

    @property
    def columns(self) -> tuple[Column, ...]:
        """The columns shown."""
        return self._columns

    @property
    def row_count(self) -> int:
        """How many rows are shown (the length of the order, or of the rows)."""
        return self._count

    @property
    def cursor_position(self) -> int | None:
        """The display position of the cursor (0 = top of the list), or None when empty."""
        return self._cursor if self._cursor >= 0 else None

    @property
    def cursor_index(self) -> int | None:
        """The index into `rows` of the cursor row, or None when empty."""
        return self._row_index(self._cursor) if self._cursor >= 0 else None

    @property
    def cursor_id(self) -> str | None:
        """The record id of the cursor row, or None when empty."""
        index = self.cursor_index
        return None if index is None else str(self._rows[index][0])

    def move_to_id(self, row_id: str) -> bool:
        """Put the cursor on the row of `row_id` (one scan of the rows); False when it is not shown."""
        position = self._position_of_id(row_id)
        if position is None:
            return False
        self._move_cursor(position)
        return True

    # ---------------------------------------------------------------- geometry

    @property
    def _top(self) -> int:
        """Display position of the first row on screen."""
        return round(self.scroll_y)

    @property
    def _page(self) -> int:
        """How many rows fit under the header."""
        return max(1, self.scrollable_content_region.height - 1)

    def _row_index(self, position: int) -> int:
        order = self._order
        return order[position] if order is not None else position

    def _position_of_id(self, row_id: str, hint: int | None = None) -> int | None:
        rows = self._rows
        if hint is not None and hint < len(rows) and rows[hint][0] == row_id:
            index: int | None = hint
        else:
            index = next((i for i, row in enumerate(rows) if row[0] == row_id), None)
        if index is None:
            return None
        if self._order is None:
            return index
        try:
            return self._order.index(index)  # C speed for list and array('l')
        except ValueError:
            return None

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self._min_width(), self._count + 1)  # + 1: the header line

    def _min_width(self) -> int:
        widths = [c.width if c.min_width is None else min(c.width, c.min_width) for c in self._columns]
        return sum(widths) + _GAP * len(widths) + 1

    def _layout(self, available: int) -> tuple[int, ...]:
        """Column widths for `available` cells: the last column takes the spare, shrinkable ones give."""
        cached = self._widths_cache
        if cached is not None and cached[0] == available:
            return cached[1]
        columns = self._columns
        widths = [column.width for column in columns]
        chrome = _GAP * len(widths) + 1
        spare = available - chrome - sum(widths)
        if spare > 0:
            widths[-1] += spare
        else:
            for i in range(len(columns) - 1, -1, -1):
                if spare >= 0:
                    break
                floor = columns[i].min_width
                if floor is not None and widths[i] > floor:
                    give = min(widths[i] - floor, -spare)
                    widths[i] -= give
                    spare += give
        layout = tuple(widths)
        self._widths_cache = (available, layout)
        return layout

    def _column_at(self, x: int) -> str | None:
        """The key of the column under virtual x, if any."""
        left = _GAP
        for column, width in zip(
            self._columns, self._layout(self.scrollable_content_region.width), strict=True
        ):
            if left <= x < left + width + _GAP:
                return column.key
            left += width + _GAP
        return None

    # ---------------------------------------------------------------- rendering

    def notify_style_update(self) -> None:
        self._styles = None
        super().notify_style_update()

    def _get_styles(self) -> _Styles:
        if self._styles is None:
            get = self.get_component_rich_style
            base = self.rich_style
            self._styles = _Styles(
                base=base,
                header=get("exception-table--header"),
                stripe=get("exception-table--stripe"),
                cursor=get("exception-table--cursor"),
                empty=get("exception-table--empty"),
                status={v: get(f"exception-table--status-{v}", partial=True) for v in STATUS_VALUES},
            )
        return self._styles

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles depend on focus and theme: resolve them once per frame, not once per line.
        self._styles = None
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        styles = self._get_styles()
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        widths = self._layout(width)
        if y == 0:
            strip = self._render_header(widths, styles)
        elif self._count == 0:
            strip = self._render_empty(y, width, styles)
        else:
            position = scroll_y + y - 1
            if position >= self._count:
                return Strip.blank(width, styles.base)
            strip = self._render_row(position, widths, styles)
        return strip.crop_extend(scroll_x, scroll_x + width, styles.base)

    def _render_header(self, widths: tuple[int, ...], styles: _Styles) -> Strip:
        style = styles.header
        gap = Segment(" " * _GAP, style)
        segments = [gap]
        for column, width in zip(self._columns, widths, strict=True):
            label = inert(column.label, limit=width * 4 + 4, single_line=True)
            mark = _SORT_MARK[self._sort_descending] if column.key == self._sort_key else ""
            text = _header_cell(label, width, column.align, mark)
            segments.append(Segment(text, style))
            segments.append(gap)
        return Strip(segments, sum(widths) + _GAP * (len(widths) + 1))

    def _render_empty(self, y: int, width: int, styles: _Styles) -> Strip:
        middle = max(1, self.scrollable_content_region.height // 2)
        if y != middle:
            return Strip.blank(width, styles.base)
        hint = inert(self.empty_text, limit=max(1, width), single_line=True)
        hint = set_cell_size(hint, width) if cell_len(hint) > width else hint
        left = max(0, (width - cell_len(hint)) // 2)
        return Strip([Segment(" " * left, styles.base), Segment(hint, styles.base + styles.empty)])

    def _render_row(self, position: int, widths: tuple[int, ...], styles: _Styles) -> Strip:
        row = self._rows[self._row_index(position)]
        style = styles.base
        is_cursor = position == self._cursor
        if is_cursor:
            style = style + styles.cursor
        elif self.zebra_stripes and position % 2:
            style = style + styles.stripe
        gap = Segment(" " * _GAP, style)
        segments = [gap]
        status_index = self._status_index
        cell_count = len(row)
        for i, (column, width) in enumerate(zip(self._columns, widths, strict=True)):
            value = row[i] if i < cell_count else None
            text = "" if value is None else inert(str(value), limit=width * 4 + 4, single_line=True)
            cell_style = style
            if i == status_index and not is_cursor and text in styles.status:
                cell_style = style + styles.status[text]
            segments.append(Segment(_fit(text, width, column.align), cell_style))
            segments.append(gap)
        return Strip(segments, sum(widths) + _GAP * (len(widths) + 1))

    # ---------------------------------------------------------------- cursor and scrolling

    def _scroll_top_to(self, top: int) -> None:
        self.scroll_to(y=max(0, top), animate=False, force=True)

    def _scroll_cursor_into_view(self) -> None:
        position, top, page = self._cursor, self._top, self._page
        if position < 0:
            return
        if position < top:
            self._scroll_top_to(position)
        elif position >= top + page:
            self._scroll_top_to(position - page + 1)

    def _refresh_position(self, position: int) -> None:
        if position >= 0:
            self.refresh_line(position + 1)  # virtual line: + 1 for the header

    def _move_cursor(self, position: int) -> None:
        if self._count == 0:
            return
        position = max(0, min(position, self._count - 1))
        old = self._cursor
        self._cursor = position
        self._scroll_cursor_into_view()
        if position != old:
            self._refresh_position(old)
            self._refresh_position(position)
            self.post_message(self.RowHighlighted(self, self.cursor_id))

    def on_resize(self, event: events.Resize) -> None:
        self._widths_cache = None
        self._scroll_cursor_into_view()

    def action_cursor_up(self) -> None:
        self._move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self._move_cursor(self._cursor + 1)

    def action_page_down(self) -> None:
        # The page scrolls and the cursor keeps its height on screen, as in a pager.
        page = self._page
        self._scroll_top_to(self._top + page)
        self._move_cursor(self._cursor + page)

    def action_page_up(self) -> None:
        page = self._page
        self._scroll_top_to(self._top - page)
        self._move_cursor(self._cursor - page)

    def action_cursor_first(self) -> None:
        self._move_cursor(0)

    def action_cursor_last(self) -> None:
        self._move_cursor(self._count - 1)

    def action_select_cursor(self) -> None:
        row_id = self.cursor_id
        if row_id is not None:
            self.post_message(self.RowSelected(self, row_id))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        scroll_x, scroll_y = self.scroll_offset
        if offset.y == 0:
            key = self._column_at(offset.x + scroll_x)
            if key is not None:
                event.stop()
                self.post_message(self.SortRequested(self, key))
            return
        position = scroll_y + offset.y - 1
        if 0 <= position < self._count:
            event.stop()
            again = position == self._cursor or event.chain >= 2
            self._move_cursor(position)
            if again:
                self.action_select_cursor()
