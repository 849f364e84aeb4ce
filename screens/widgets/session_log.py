"""The tail of a session's train.log: the last few hundred lines, wrapped to the pane's width
(re-wrapped when it changes), kept scrolled to the end unless the user scrolled up.
(Textual's `anchor()` left the view scrolled past the top when wrapped content shrank on a
resize, so the end is kept by hand.)"""

from __future__ import annotations

import re
from collections import deque
from typing import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

_LOG_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} (\d{2}:\d{2}:\d{2}) ")
_PROBLEM = ("error", "became nan", "became inf", "out of memory", "traceback", "killed")


def log_line(line: str) -> Text:
    """A train.log line without its date (the time stays, dim); problems in red, checkpoints
    and endings in bold."""
    m = _LOG_DATE.match(line)
    text = Text()
    if m:
        text.append(m.group(1) + " ", style="dim")
        line = line[m.end():]
    low = line.lower()
    if any(p in low for p in _PROBLEM):
        text.append(line, style="bold red")
    elif low.startswith(("checkpoint", "finished", "stopped", "resumed")):
        text.append(line, style="bold")
    else:
        text.append(line)
    return text


class SessionLog(VerticalScroll):
    """A scrolling tail of log lines."""

    DEFAULT_CSS = """
    SessionLog {
        height: 1fr;
    }
    SessionLog > Static {
        width: 100%;
        height: auto;
    }
    """

    def __init__(self, max_lines: int = 300, *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: deque[Text] = deque(maxlen=max_lines)
        self._stick = True

    def compose(self) -> ComposeResult:
        yield Static("", markup=False)

    def on_mount(self) -> None:
        self._stick = True  # stay at the end as lines arrive, until the user scrolls up

    def on_resize(self) -> None:
        if self._stick:
            self.call_after_refresh(self._to_end)

    def _to_end(self) -> None:
        self.scroll_to(y=max(0, self.max_scroll_y), animate=False, immediate=True)

    def clear(self) -> None:
        self.lines.clear()
        self._show(to_end=True)

    def set_lines(self, lines: Iterable[str]) -> None:
        self.lines.clear()
        self.lines.extend(log_line(line) for line in lines)
        self._show(to_end=True)

    def append(self, lines: Iterable[str]) -> None:
        new = [log_line(line) for line in lines]
        if new:
            self.lines.extend(new)
            self._show()

    def _show(self, to_end: bool = False) -> None:
        self._stick = to_end or self.scroll_y >= self.max_scroll_y - 1
        body = Text("\n").join(self.lines) if self.lines else Text("(empty)", style="dim")
        self.query_one(Static).update(body)
        if self._stick:
            self.call_after_refresh(self._to_end)
