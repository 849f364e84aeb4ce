"""One example rendered in a template, the way training sees it: the prompt part in the
normal text colour, the response part (trained) in the success colour, special tokens
highlighted, and whitespace made visible (`↵` ends each line, a trailing space shows as `·`).
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

PROMPT_STYLE = "$text"
RESPONSE_STYLE = "$text-success"
SPECIAL_STYLE = "bold $text-warning on $warning-muted"
WHITESPACE_STYLE = "$text-muted"


def _visible(text: str, style: str) -> list[tuple[str, str]]:
    """Pieces of `text` with newlines and trailing spaces made visible."""
    out: list[tuple[str, str]] = []
    lines = text.split("\n")
    for i, line in enumerate(lines):
        body = line.rstrip(" ")
        trailing = len(line) - len(body)
        if body:
            out.append((body, style))
        if trailing:
            out.append(("·" * trailing, WHITESPACE_STYLE))
        if i < len(lines) - 1:
            out.append(("↵\n", WHITESPACE_STYLE))
    return out


def render_segments(segments) -> Content:
    """Template segments (text, trainable, special) as styled content."""
    parts: list[tuple[str, str]] = []
    for seg in segments:
        if seg.special:
            parts.append((seg.text, SPECIAL_STYLE))
        else:
            parts.extend(_visible(seg.text, RESPONSE_STYLE if seg.trainable else PROMPT_STYLE))
    return Content.assemble(*parts)


def legend_markup() -> str:
    """The colour key, as markup for a border title."""
    return (f"[{PROMPT_STYLE}]prompt[/] │ [{RESPONSE_STYLE}]response (trained)[/] │ "
            f"[{SPECIAL_STYLE}]special[/]")


class RowPreview(Static):
    """The selected row in the current template (`show_row`), or a message."""

    DEFAULT_CSS = """
    RowPreview {
        height: auto;
        padding: 0 1;
    }
    """

    def show_row(self, title: Content, segments) -> None:
        self.update(Content("\n").join([title, render_segments(segments)]))

    def show_message(self, message: str, style: str = "$text-muted") -> None:
        self.update(Content.styled(message, style))
