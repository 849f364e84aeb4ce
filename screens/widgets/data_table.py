"""The rows of one page of a dataset as a table, with columns adapted to the format.

The table holds one page (50 rows); moving past its first or last row asks for the
previous or next page (`RowsTable.PageRequest`), so arrows and PageUp/PageDown browse a
million rows without the table ever holding more than a page. Home/End ask for the first
and last page.

It is a line-API widget (like Textual's `Log`): each row is turned into one strip when the
page arrives and drawn as it is, so a page change costs a few milliseconds however wide the
terminal (Textual's DataTable lays out every cell through Rich and took ~100 ms a page here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

# Labels that the table shows in their own column when present (and short).
LABEL_MAX = 24


@dataclass
class Column:
    key: str
    title: str
    weight: float           # share of the free width (0 = fixed `width`)
    width: int = 0


def one_line(value: Any, limit: int = 400) -> str:
    """A cell's text on one line: newlines shown as ↵, long text cut."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        text = text[:limit]
    return " ".join(text.replace("\r", "").replace("\n", " ↵ ").split())


def columns_for(fmt: str, labels: list[str], has_input: bool = True) -> list[Column]:
    """Columns for a format: position, source row, the prompt, the response, labels (an
    Alpaca `input` column only when some row has an input)."""
    cols = [Column("pos", "#", 0, 0), Column("row", "row", 0, 0)]
    if fmt == "alpaca":
        cols += [Column("prompt", "instruction", 1.0)]
        if has_input:
            cols += [Column("input", "input", 0.4)]
        cols += [Column("response", "output", 1.0)]
    elif fmt == "tinystories":
        cols += [Column("prompt", "summary", 1.0), Column("response", "story", 1.4)]
    elif fmt in ("chat", "sharegpt"):
        cols += [Column("turns", "turns", 0, 5), Column("prompt", "first user turn", 1.0),
                 Column("response", "first assistant turn", 1.2)]
    elif fmt == "text":
        cols += [Column("prompt", "text", 2.0)]
    else:
        prompt, response = {"prompt-completion": ("prompt", "completion"),
                            "prompt-response": ("prompt", "response"),
                            "question-answer": ("question", "answer")}.get(fmt, ("prompt", "response"))
        cols += [Column("prompt", prompt, 1.0), Column("response", response, 1.2)]
    for name in labels:
        cols.append(Column(f"label:{name}", name, 0, 0))
    return cols


BOLD, DIM, ITALIC, PLAIN = Style(bold=True), Style(dim=True), Style(italic=True), Style()


def cell(col: Column, view) -> tuple[str, Style]:
    """A cell's text and its own style (the row's colours come on top)."""
    ex = view.example
    if col.key == "pos":
        return f"{view.position:,}", BOLD
    if col.key == "row":
        return str(view.row), DIM
    if col.key == "turns":
        return str(len(ex.messages)), PLAIN
    if col.key == "prompt":
        if ex.messages and ex.messages[0].role == "text":
            return one_line(ex.messages[0].content), PLAIN
        return one_line(ex.instruction), PLAIN
    if col.key == "input":
        return one_line(ex.input), ITALIC
    if col.key == "response":
        return one_line(ex.response), PLAIN
    if col.key.startswith("label:"):
        value = view.raw.get(col.key[6:])
        return (one_line(value, LABEL_MAX) if value is not None else "·"), BOLD
    return "", PLAIN


class RowsTable(ScrollView, can_focus=True):
    """A page of rows under a fixed header line; asks for the neighbouring page at its edges."""

    COMPONENT_CLASSES = {"rows-table--header", "rows-table--cursor", "rows-table--odd"}

    DEFAULT_CSS = """
    RowsTable {
        height: 1fr;
        background: $surface;
        overflow-x: hidden;
        overflow-y: auto;
        & > .rows-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        & > .rows-table--odd {
            background: $surface-lighten-1 50%;
        }
        & > .rows-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .rows-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("ctrl+home", "cursor_to(0)", "First row of the page", show=False),
        Binding("ctrl+end", "cursor_to(-1)", "Last row of the page", show=False),
        Binding("home", "page_edge('first')", "First page", show=False),
        Binding("end", "page_edge('last')", "Last page", show=False),
    ]

    class PageRequest(Message):
        """Show another page: `delta` pages away (or `edge` first/last), cursor at `where`."""

        def __init__(self, delta: int = 0, where: str = "first", edge: str = "") -> None:
            super().__init__()
            self.delta = delta
            self.where = where
            self.edge = edge

    class CursorMoved(Message):
        """The cursor is on another row (`view`, or None on an empty page)."""

        def __init__(self, table: "RowsTable", view) -> None:
            super().__init__()
            self.table = table
            self.view = view

        @property
        def control(self) -> "RowsTable":
            return self.table

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.spec: list[Column] = []
        self.shown: list[Column] = []
        self.widths: list[int] = []
        self.views: list = []
        self.cursor_row = 0
        self._header: Strip | None = None
        self._strips: list[Strip] = []
        self._built_for = -1

    # -- filling ------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.views)

    def show_rows(self, views: list, cursor: int = 0) -> None:
        """Replace the rows with this page's, cursor on row `cursor`."""
        self.views = views
        self.cursor_row = max(0, min(cursor, len(views) - 1))
        self._build()
        self._scroll_to_cursor(center=False)
        self.post_message(self.CursorMoved(self, self.current))

    def _build(self) -> None:
        width = self.scrollable_content_region.width or self.size.width or 100
        self._built_for = width
        labels = [c for c in self.spec if c.key.startswith("label:")]
        keep = labels[:2] if width >= 90 else labels[:1]
        self.shown = [c for c in self.spec if not c.key.startswith("label:") or c in keep]
        self.widths = self._widths(width)
        header = []
        for col, w in zip(self.shown, self.widths):
            header.append(Segment(" " + set_cell_size(col.title, w) + " "))
        self._header = Strip(header).crop_extend(0, width, None)
        self._strips = []
        for view in self.views:
            segments = []
            for col, w in zip(self.shown, self.widths):
                text, style = cell(col, view)
                if cell_len(text) > w:
                    text = set_cell_size(text, w - 1) + "…"
                segments.append(Segment(" " + set_cell_size(text, w) + " ", style))
            self._strips.append(Strip(segments).crop_extend(0, width, None))
        self.virtual_size = Size(width, len(self.views) + 1)
        self.refresh()

    def _widths(self, width: int) -> list[int]:
        label_max = LABEL_MAX if width >= 90 else 14
        fixed: list[int] = []
        for col in self.shown:
            if col.weight:
                fixed.append(0)
            elif col.key == "pos":
                top = max((v.position for v in self.views), default=0)
                fixed.append(max(3, len(f"{top:,}")))
            elif col.key == "row":
                top = max((v.row for v in self.views), default=0)
                fixed.append(max(3, len(str(top))))
            elif col.key.startswith("label:"):
                vals = [len(one_line(v.raw.get(col.key[6:]), LABEL_MAX)) for v in self.views]
                fixed.append(min(label_max, max([len(col.title), *vals])))
            else:
                fixed.append(max(col.width, len(col.title)))
        # each column has one cell of padding on each side
        free = width - sum(fixed) - 2 * len(self.shown)
        weights = sum(c.weight for c in self.shown) or 1
        out = [max(6, int(free * c.weight / weights)) if c.weight else w
               for c, w in zip(self.shown, fixed)]
        spare = width - sum(out) - 2 * len(out)
        for i, col in enumerate(self.shown):  # the rounding remainder goes to the last text column
            if col.weight and spare > 0 and i == max(j for j, c in enumerate(self.shown) if c.weight):
                out[i] += spare
        return out

    def on_resize(self, event: events.Resize) -> None:
        if self.spec and self.scrollable_content_region.width != self._built_for:
            self._build()
            self._scroll_to_cursor(center=False)

    # -- drawing --------------------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            header = self._header or Strip.blank(width)
            style = self.get_component_rich_style("rows-table--header")
            return header.crop_extend(0, width, base).apply_style(base + style)
        index = self.scroll_offset.y + y - 1
        if index < 0 or index >= len(self._strips):
            return Strip.blank(width, base)
        strip = self._strips[index].crop_extend(0, width, base)
        if index == self.cursor_row:
            cursor = self.get_component_rich_style("rows-table--cursor")
            return Strip(Segment.apply_style(list(strip), base, post_style=cursor), width)
        if index % 2:
            return strip.apply_style(base + self.get_component_rich_style("rows-table--odd"))
        return strip.apply_style(base)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self.refresh()

    # -- the cursor -----------------------------------------------------------------------
    @property
    def current(self):
        """The RowView under the cursor (None on an empty page)."""
        if not self.views:
            return None
        return self.views[max(0, min(self.cursor_row, len(self.views) - 1))]

    def move_cursor(self, row: int, animate: bool = False) -> None:
        if not self.views:
            return
        row = max(0, min(row, len(self.views) - 1))
        if row != self.cursor_row:
            self.cursor_row = row
            self.refresh()
            self.post_message(self.CursorMoved(self, self.current))
        self._scroll_to_cursor()

    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_to_cursor(self, center: bool = False) -> None:
        top = int(self.scroll_offset.y)
        rows = self._visible_rows()
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + rows:
            self.scroll_to(y=self.cursor_row - rows + 1, animate=False)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1 and self.views:
            self.move_cursor(int(self.scroll_offset.y) + event.y - 1)

    # -- keys: the edges ask for the neighbouring page --------------------------------------
    def action_cursor(self, delta: int) -> None:
        if not self.views:
            return
        target = self.cursor_row + delta
        if target >= len(self.views):
            self.post_message(self.PageRequest(+1, "first"))
        elif target < 0:
            self.post_message(self.PageRequest(-1, "last"))
        else:
            self.move_cursor(target)

    def action_page_down(self) -> None:
        if self.views and self.cursor_row >= len(self.views) - 1:
            self.post_message(self.PageRequest(+1, "first"))
        elif self.views:
            self.move_cursor(self.cursor_row + self._visible_rows())

    def action_page_up(self) -> None:
        if self.views and self.cursor_row <= 0:
            self.post_message(self.PageRequest(-1, "last"))
        elif self.views:
            self.move_cursor(self.cursor_row - self._visible_rows())

    def action_cursor_to(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else len(self.views) - 1)

    def action_page_edge(self, edge: str) -> None:
        self.post_message(self.PageRequest(0, "first" if edge == "first" else "last", edge))
