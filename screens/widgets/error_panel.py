"""A panel for errors: one line per problem, never a traceback; Escape hides it."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from ..terms import app_terms


class ErrorPanel(Static):
    """At the bottom of a screen, above the footer, hidden until there is an error."""

    DEFAULT_CSS = """
    ErrorPanel {
        height: auto;
        max-height: 4;
        display: none;
        background: $error 20%;
        color: $text;
        border-top: heavy $error;
        padding: 0 1;
    }
    ErrorPanel.-shown {
        display: block;
    }
    """

    def show(self, message: str, hint: str = "") -> None:
        text = Text()
        text.append("error ", style="bold red")
        text.append(" ".join(app_terms(str(message)).split()))
        if hint:
            text.append(f"  {hint}", style="dim")
        text.append("  (Esc hides)", style="dim")
        self.update(text)
        self.add_class("-shown")

    def hide(self) -> None:
        self.remove_class("-shown")

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")
