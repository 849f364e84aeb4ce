"""The header line: which data, template, tokenizer/model and session the screens work on."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class ContextBar(Static):
    """One line at the top of every screen, from `app.state`."""

    DEFAULT_CSS = """
    ContextBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    def __init__(self, title: str) -> None:
        super().__init__(id="context")
        self.title = title

    def on_mount(self) -> None:
        self.refresh_context()

    def refresh_context(self) -> None:
        state = self.app.state  # type: ignore[attr-defined]
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {self.title} ", style="bold reverse")
        parts = [("data", _short(state.source) or "none"),
                 ("template", state.template or "auto"),
                 ("model", _short(state.model) or "none"),
                 ("tok", _short(state.tokenizer) or "gpt2"),
                 ("session", state.session or "none")]
        for label, value in parts:
            text.append(" │ ", style="dim")
            text.append(f"{label}:", style="dim")
            text.append(value, style="bold")
        self.update(text)


def _short(value: str, limit: int = 40) -> str:
    if len(value) <= limit:
        return value
    return "…" + value[-(limit - 1):]
