"""The token grid: a collated batch drawn as wrapped token cells, one block per row.

Each cell is one position of a row and shows its INPUT token (whitespace made visible:
␣ for a space, \\n, \\t). Its colour says what that position TRAINS ON, i.e. `labels[p]`,
whose target is the NEXT token:

* trained: the position predicts the next token and its loss counts;
* end: trained, and the next token is the end token that closes a response;
* masked: -100 because the next token is prompt text / a role marker (loss_on=response);
* pad: -100 padding (a run of trailing pads is drawn as one `pad×N` cell).

Special tokens (markers, end-of-text) are bold and underlined. After each example a
grey `→TOKEN` cell shows its last token, which is only ever a target (never an input), or a
red `✂` when truncation cut the response. Packed rows mark where each example starts with
`┃2`, `┃3`, ... (the segment number).

Token cells touch, so the text reads as it is; adjacent cells alternate two shades of their
colour, so token boundaries stay visible. Characters a terminal would not show (format
characters, a lone combining mark) are written as \\uXXXX.

The widget is a Line API `ScrollView`: it lays the cells out once per width and draws only
the lines on screen (strips are cached), so an 8×512 batch lays out and draws in a few
milliseconds and scrolling stays smooth. Classification reads `labels`, `segment_ids`,
`parts` and each example's token kinds from the `Batch`: nothing is re-masked here.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

if TYPE_CHECKING:
    from workbench.collate import Batch
    from workbench.tokenizer import Tokenizer

# what a position trains on (labels[p])
PAD, MASKED, TRAINED, END = 0, 1, 2, 3
CLASS_NAMES = {PAD: "pad", MASKED: "masked", TRAINED: "trained", END: "end"}
MAX_CELL = 14  # columns; longer token texts are cut with …
# style of each class, for even and odd positions (adjacent cells alternate shades)
_STYLE = {PAD: ("pad", "pad"), MASKED: ("masked", "masked-alt"),
          TRAINED: ("trained", "trained-alt"), END: ("end", "end")}
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp", "Co", "Cn"}
_STYLE_NAMES = [name for c in (PAD, MASKED, TRAINED, END) for name in _STYLE[c]]


def _label(tok: "Tokenizer", token_id: int, cache: dict | None) -> tuple[str, int]:
    if cache is not None:
        hit = cache.get(token_id)
        if hit is not None:
            return hit
    from workbench.tokenizer import visible

    text = visible(tok.token_text(token_id)) or "∅"
    if any(unicodedata.category(ch) in _INVISIBLE for ch in text) or not cell_len(text):
        # format characters, separators, a lone combining mark: show their code points
        text = "".join(f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _INVISIBLE
                       or not cell_len(ch) else ch for ch in text)
    if cell_len(text) > MAX_CELL:
        out, width = [], 0
        for ch in text:
            w = cell_len(ch)
            if width + w > MAX_CELL - 1:
                break
            out.append(ch)
            width += w
        text = "".join(out) + "…"
    hit = (text, cell_len(text))
    if cache is not None:
        cache[token_id] = hit
    return hit


@dataclass
class RowCells:
    """One row of a batch, ready to lay out.

    Attributes:
        texts: the cell text of each real (non-pad) position; widths: its columns;
        styles: its style name (by class, alternating shades).
        cls: PAD / MASKED / TRAINED / END per position (all T positions).
        special: the input token at the position is a special token.
        breaks: the input token ends with a newline (a line break in "text" layout).
        real: positions holding a real token (the rest, to `width`, are padding).
        width: T, the batch's width.
        parts: per example (start, positions, segment, final-token label or None if cut).
        packed: the batch is packed (boundaries are drawn).
        header: the row's title line; warn: it has warnings.
    """

    texts: list[str]
    widths: list[int]
    styles: list[str]
    cls: np.ndarray
    special: np.ndarray
    breaks: np.ndarray
    real: int
    width: int
    parts: list[tuple[int, int, int, str | None]]
    packed: bool
    header: str = ""
    warn: bool = False
    x_of: list[int] = field(default_factory=list)  # set by layout: column of each position

    @property
    def stops(self) -> list[int]:
        """Positions the cursor can rest on: every real position, then the pad run."""
        return list(range(self.real)) + ([self.real] if self.real < self.width else [])


def classify_row(batch: "Batch", row: int) -> np.ndarray:
    """PAD / MASKED / TRAINED / END for each position of a row, from the batch's labels
    (and, for END, the kind of the next token of the example)."""
    from workbench.collate import END as KIND_END, IGNORE_INDEX

    labels = batch.labels[row]
    cls = np.full(labels.shape[0], PAD, dtype=np.uint8)
    for enc, (_idx, start, n) in zip(batch.examples[row], batch.parts[row]):
        lab = labels[start:start + n]
        trained = lab != IGNORE_INDEX
        next_end = enc.kinds[1:n + 1] == KIND_END
        cls[start:start + n] = np.where(trained, np.where(next_end, END, TRAINED), MASKED)
    return cls


def prepare_batch(batch: "Batch", tok: "Tokenizer", *, headers: list[str] | None = None,
                  warn: list[bool] | None = None,
                  cache: dict | None = None) -> list[RowCells]:
    """The cells of every row of a batch (no layout yet: that depends on the width)."""
    cache = {} if cache is None else cache
    rows = []
    n_rows, width = batch.input_ids.shape
    for r in range(n_rows):
        real = int(sum(n for _i, _s, n in batch.parts[r]))
        ids = batch.input_ids[r, :real].tolist()
        labels = [_label(tok, i, cache) for i in ids]
        texts = [t for t, _w in labels]
        widths = [w for _t, w in labels]
        cls = classify_row(batch, r)
        names = _STYLE_NAMES
        styles = [names[c * 2 + (p & 1)] for p, c in enumerate(cls[:real].tolist())]
        special = np.fromiter((tok.is_special(i) for i in ids), dtype=bool, count=real)
        breaks = np.fromiter((t.endswith("\\n") for t in texts), dtype=bool, count=real)
        parts = []
        for seg, (enc, (_idx, start, n)) in enumerate(zip(batch.examples[r], batch.parts[r]), 1):
            final = None if enc.truncated else _label(tok, int(enc.ids[-1]), cache)[0]
            parts.append((start, n, seg, final))
        rows.append(RowCells(texts, widths, styles, cls, special, breaks, real, width, parts,
                             batch.packed, headers[r] if headers else f"row {r}",
                             bool(warn[r]) if warn else False))
    return rows


class _Cell(NamedTuple):
    """One laid-out cell (a tuple of plain values: cheap to make, untracked by the GC)."""

    x: int
    text: str
    style: str
    pos: int  # -1 for a decoration (boundary, last target, cut)
    special: bool = False


class _Line:
    """One screen line: a row's header, or a contiguous run of its positions [p0, p1)
    plus decorations (boundary, last target, cut, the pad run), or a blank line."""

    __slots__ = ("row", "header", "rc", "p0", "p1", "decos")

    def __init__(self, row: int, rc: "RowCells | None" = None, header: bool = False) -> None:
        self.row = row
        self.rc = rc
        self.header = header
        self.p0 = self.p1 = 0
        self.decos: list[_Cell] = []

    @property
    def cells(self) -> list[_Cell]:
        """The line's cells in order (made on demand: drawing and tests, not layout)."""
        rc = self.rc
        if rc is None or self.header:
            return list(self.decos)
        tokens = [_Cell(rc.x_of[p], rc.texts[p], rc.styles[p], p, bool(rc.special[p]))
                  for p in range(self.p0, self.p1)]
        if not self.decos:
            return tokens
        return sorted(tokens + self.decos, key=lambda c: c.x)


_TOKEN = Binding.Group("token")


class TokenGrid(ScrollView, can_focus=True, inherit_bindings=False):
    """A batch as wrapped token cells with a cursor on one position of one row."""

    DEFAULT_CSS = """
    TokenGrid {
        height: 1fr;
        background: $surface;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
        overflow-y: scroll;
    }
    TokenGrid:focus {
        background-tint: $foreground 2%;
    }
    TokenGrid > .token-grid--trained { background: $success 50%; color: $text; }
    TokenGrid > .token-grid--trained-alt { background: $success 30%; color: $text; }
    TokenGrid > .token-grid--end { background: $accent; color: auto 90%; text-style: bold; }
    TokenGrid > .token-grid--masked { background: $foreground 14%; color: $text-muted; }
    TokenGrid > .token-grid--masked-alt { background: $foreground 7%; color: $text-muted; }
    TokenGrid > .token-grid--pad { color: $text-disabled; }
    TokenGrid > .token-grid--special { text-style: bold underline; }
    TokenGrid > .token-grid--cursor { background: $foreground; color: auto 90%; text-style: bold; }
    TokenGrid > .token-grid--final { color: $text-muted; text-style: italic; }
    TokenGrid > .token-grid--cut { color: $error; text-style: bold; }
    TokenGrid > .token-grid--boundary { color: $warning; text-style: bold; }
    TokenGrid > .token-grid--header { color: $text-muted; }
    TokenGrid > .token-grid--header-current { color: $text; background: $primary 30%; text-style: bold; }
    TokenGrid > .token-grid--header-warn { color: $warning; text-style: bold; }
    """

    COMPONENT_CLASSES = {
        "token-grid--trained", "token-grid--trained-alt", "token-grid--masked-alt",
        "token-grid--end", "token-grid--masked", "token-grid--pad",
        "token-grid--special", "token-grid--cursor", "token-grid--final", "token-grid--cut",
        "token-grid--boundary", "token-grid--header", "token-grid--header-current",
        "token-grid--header-warn",
    }

    BINDINGS = [
        Binding("h", "move(-1)", "Previous token", group=_TOKEN),
        Binding("j", "line(1)", "Token on the line below", group=_TOKEN),
        Binding("k", "line(-1)", "Token on the line above", group=_TOKEN),
        Binding("l", "move(1)", "Next token", group=_TOKEN),
        Binding("home", "edge(-1)", "First token", show=False),
        Binding("end", "edge(1)", "Last token", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
    ]

    class CursorMoved(Message):
        """The selected position changed (row, pos)."""

        def __init__(self, grid: "TokenGrid", row: int, pos: int) -> None:
            super().__init__()
            self.grid = grid
            self.row = row
            self.pos = pos

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.rows: list[RowCells] = []
        self.row = 0
        self.pos = 0
        self.text_layout = True  # break lines after tokens that end with a newline
        self._lines: list[_Line] = []
        self._where = Where([], [])  # (row, pos) -> (line, x)
        self._row_lines: list[tuple[int, int]] = []  # row -> (first cell line, end)
        self._layout_width = -1
        self._strips: dict[int, Strip] = {}
        self._styles: dict[str, Style] = {}

    # -- data ----------------------------------------------------------------------------
    def set_rows(self, rows: list[RowCells], *, row: int = 0, pos: int = 0) -> None:
        """Show these rows, the cursor on (row, pos) (clamped)."""
        self.rows = rows
        self._layout_width = -1
        self.row, self.pos = self._clamp(row, pos)
        self._relayout()
        self._cursor_changed(scroll=True, center=False)

    def clear(self) -> None:
        self.set_rows([])

    def _clamp(self, row: int, pos: int) -> tuple[int, int]:
        if not self.rows:
            return 0, 0
        row = max(0, min(row, len(self.rows) - 1))
        stops = self.rows[row].stops
        if not stops:
            return row, 0
        return row, max(stops[0], min(pos, stops[-1]))

    # -- layout --------------------------------------------------------------------------
    def _content_width(self) -> int:
        width = self.scrollable_content_region.width or self.size.width or 80
        return max(8, width)

    def _relayout(self) -> None:
        width = self._content_width()
        self._layout_width = width
        self._lines, self._where, self._row_lines = layout(self.rows, width, self.text_layout)
        self._strips.clear()
        self.virtual_size = Size(width, len(self._lines))
        self.refresh()

    def on_resize(self) -> None:
        if self._content_width() != self._layout_width:
            self._relayout()
            self._scroll_to_cursor(animate=False)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._strips.clear()

    def set_text_layout(self, on: bool) -> None:
        self.text_layout = on
        self._relayout()
        self._scroll_to_cursor(animate=False)

    # -- drawing -------------------------------------------------------------------------
    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            else:
                style = self.get_component_rich_style(f"token-grid--{name}")
            self._styles[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        scroll_y = int(self.scroll_offset.y)
        index = scroll_y + y
        width = self.size.width
        if index >= len(self._lines):
            return Strip.blank(width, self._style("base"))
        strip = self._strips.get(index)
        if strip is None:
            strip = self._draw(self._lines[index], self._layout_width)
            self._strips[index] = strip
        return strip.crop_extend(0, width, self._style("base"))

    def _draw(self, line: _Line, width: int) -> Strip:
        base = self._style("base")
        if line.header:
            cells = line.cells
            current = line.row == self.row
            style = self._style("header-current" if current else "header")
            text = cells[0].text if cells else ""
            marker = "▶ " if current else "  "
            segs = [Segment(marker + text, style)]
            if self.rows[line.row].warn:
                segs.append(Segment("  ⚠ warnings", self._style("header-warn")))
            strip = Strip(segs)
            return strip.crop_extend(0, width, style if current else base)
        segs: list[Segment] = []
        x = 0
        special = self._style("special")
        cursor = self._style("cursor")
        for cell in line.cells:
            if cell.x > x:
                segs.append(Segment(" " * (cell.x - x), base))
            style = self._style(cell.style)
            if cell.special:
                style = style + special
            if cell.pos >= 0 and line.row == self.row and cell.pos == self.pos:
                style = style + cursor
            segs.append(Segment(cell.text, style))
            x = cell.x + cell_len(cell.text)
        return Strip(segs, x)

    def legend(self) -> Text:
        """A legend whose swatches are styled exactly like the cells (theme colours)."""
        self._styles.clear()
        text = Text()
        text.append("cell = input token; colour = its target, the NEXT token: ",
                    style=self._style("header"))
        for label, name in ((" trained ", "trained"), (" end ", "end"),
                            (" masked -100 ", "masked"), (" pad -100 ", "pad")):
            text.append(label, style=self._style(name))
            text.append(" ")
        text.append(" special ", style=self._style("masked") + self._style("special"))
        text.append("  ")
        text.append("┃2", style=self._style("boundary"))
        text.append(" example  ", style=self._style("header"))
        text.append("→x", style=self._style("final"))
        text.append(" last target  ", style=self._style("header"))
        text.append("✂", style=self._style("cut"))
        text.append(" cut", style=self._style("header"))
        return text

    # -- cursor ----------------------------------------------------------------------------
    @property
    def cursor(self) -> tuple[int, int]:
        return self.row, self.pos

    def _cursor_line(self) -> int | None:
        hit = self._where.get(self.row, self.pos)
        return hit[0] if hit else None

    def move_to(self, row: int, pos: int, *, center: bool = False) -> None:
        old_line, old_row = self._cursor_line(), self.row
        self.row, self.pos = self._clamp(row, pos)
        self._forget(old_line)
        if old_row != self.row:
            self._forget_headers(old_row)
            self._forget_headers(self.row)
        self._cursor_changed(scroll=True, center=center)

    def _forget(self, line: int | None) -> None:
        if line is not None:
            self._strips.pop(line, None)
            self.refresh_line(line)

    def _forget_headers(self, row: int) -> None:
        if 0 <= row < len(self._row_lines):
            self._forget(self._row_lines[row][0] - 1)

    def _cursor_changed(self, *, scroll: bool, center: bool = False) -> None:
        self._forget(self._cursor_line())
        if scroll:
            self._scroll_to_cursor(center=center)
        self.post_message(self.CursorMoved(self, self.row, self.pos))

    def refresh_line(self, y: int) -> None:  # type: ignore[override]
        scroll_y = int(self.scroll_offset.y)
        if 0 <= y - scroll_y < self.size.height:
            self.refresh(Region(0, y - scroll_y, self.size.width, 1))

    def _scroll_to_cursor(self, *, center: bool = False, animate: bool = False) -> None:
        line = self._cursor_line()
        if line is None:
            return
        first = self._row_lines[self.row][0] if self._row_lines else line
        top = first - 1 if line - (first - 1) < max(1, self.size.height - 2) else line
        region = Region(0, top, 1, line - top + 1)
        self.scroll_to_region(region, animate=animate, center=center, force=True,
                              immediate=True)

    def action_move(self, delta: int) -> None:
        if not self.rows:
            return
        stops = self.rows[self.row].stops
        if not stops:
            return
        i = stops.index(self.pos) if self.pos in stops else 0
        i = max(0, min(len(stops) - 1, i + delta))
        self.move_to(self.row, stops[i])

    def action_edge(self, direction: int) -> None:
        if self.rows and self.rows[self.row].stops:
            stops = self.rows[self.row].stops
            self.move_to(self.row, stops[-1] if direction > 0 else stops[0])

    def move_row(self, delta: int) -> None:
        if self.rows:
            self.move_to(self.row + delta, self.pos)

    def action_line(self, delta: int) -> None:
        """The cell under the cursor on the line above / below (the next row at an edge)."""
        hit = self._where.get(self.row, self.pos)
        if hit is None:
            return
        line_i, x = hit
        target = line_i + delta
        while 0 <= target < len(self._lines):
            line = self._lines[target]
            cells = [c for c in line.cells if c.pos >= 0] if not line.header else []
            if cells:
                best = min(cells, key=lambda c: (abs(c.x - x), c.x))
                self.move_to(line.row, best.pos)
                return
            target += delta

    def on_click(self, event) -> None:
        """Select the cell under the mouse (the workbench needs no mouse; it is a bonus)."""
        index = int(self.scroll_offset.y) + event.y
        if not 0 <= index < len(self._lines):
            return
        line = self._lines[index]
        if line.header:
            self.move_to(line.row, self.pos if line.row == self.row else 0)
            return
        for cell in line.cells:
            if cell.pos >= 0 and cell.x <= event.x < cell.x + cell_len(cell.text):
                self.move_to(line.row, cell.pos)
                return

    def action_page(self, direction: int) -> None:
        self.scroll_to(y=self.scroll_offset.y + direction * max(1, self.size.height - 2),
                       animate=False)


@dataclass
class Where:
    """Where each cursor stop of each row was laid out: per row, line and column by
    position (plain int lists: laying out allocates no object per cell)."""

    line_of: list[list[int]]
    x_of: list[list[int]]

    def get(self, row: int, pos: int) -> tuple[int, int] | None:
        if 0 <= row < len(self.line_of) and 0 <= pos < len(self.line_of[row]):
            line = self.line_of[row][pos]
            if line >= 0:
                return line, self.x_of[row][pos]
        return None


def layout(rows: list[RowCells], width: int, text_layout: bool = True):
    """Lay the rows out in lines of at most `width` columns.

    Returns (lines, where, row_lines): `where.get(row, pos) = (line, x)` for every
    position the cursor can rest on, `row_lines[row] = (first line, end line)` of its cells.
    Each row is a header line, its cell lines, and a blank line. Token cells touch (their
    shades alternate); decorations (boundary, last target, cut, pads) have a space before.
    This is the hot path of showing a batch: only ints per cell (no object the garbage
    collector tracks), so showing batch after batch never triggers a long collection.
    """
    lines: list[_Line] = []
    where = Where([], [])
    row_lines: list[tuple[int, int]] = []
    for r, rc in enumerate(rows):
        stops = rc.real + (1 if rc.real < rc.width else 0)
        line_of, x_of = [-1] * stops, [0] * stops
        where.line_of.append(line_of)
        where.x_of.append(x_of)
        rc.x_of = x_of
        header = _Line(r, rc, header=True)
        header.decos.append(_Cell(0, rc.header, "header", -1))
        lines.append(header)
        first = len(lines)
        line = _Line(r, rc)
        line.p0 = line.p1 = 0
        lines.append(line)
        n_line = len(lines) - 1
        x = 0
        pending = False  # start a new line before the next cell

        def new_line(p: int) -> None:
            nonlocal line, n_line, x
            line.p1 = p
            line = _Line(r, rc)
            line.p0 = line.p1 = p
            lines.append(line)
            n_line = len(lines) - 1
            x = 0

        def deco(text: str, style: str, p_next: int, pos: int = -1) -> None:
            nonlocal x, pending
            w = cell_len(text)
            if x and (pending or x + 1 + w > width):
                new_line(p_next)
            elif x:
                x += 1
            pending = False
            if pos >= 0:
                line_of[pos] = n_line
                x_of[pos] = x
            line.decos.append(_Cell(x, text, style, pos, False))
            x += w

        widths = rc.widths
        breaks = rc.breaks.tolist()
        for start, n, seg, final in rc.parts:
            gap = 0
            if rc.packed:
                deco(f"┃{seg}", "boundary", start)
                gap = 1
            for p in range(start, start + n):
                w = widths[p]
                if x and (pending or x + gap + w > width):
                    new_line(p)
                elif x:
                    x += gap
                pending = False
                gap = 0
                line_of[p] = n_line
                x_of[p] = x
                x += w
                if text_layout and breaks[p]:
                    pending = True
            line.p1 = start + n
            if final is None:
                deco("✂", "cut", start + n)
            else:
                deco("→" + final, "final", start + n)
            if text_layout and rc.packed:
                pending = True
        if rc.real < rc.width:
            n_pad = rc.width - rc.real
            deco(f"pad×{n_pad}" if n_pad > 1 else "pad", "pad", rc.real, rc.real)
        row_lines.append((first, len(lines)))
        lines.append(_Line(r))  # a blank line between rows
    return lines, where, row_lines
