"""The header line: which data, template, model (a scratch model's tokenizer) and session the
screens work on. A template that cannot render the data is marked ✖ (its reason is the
tooltip, and the Data and Batches screens say it in full)."""

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
        problem = getattr(self.app, "template_problem", "")
        template = (state.template or "auto") + (" ✖" if problem else "")
        parts = [("data", _short(state.source) or "none", ""),
                 ("template", template, "bold red" if problem else ""),
                 ("model", _short(state.model) or "none", "")]
        if state.model == "scratch":  # the tokenizer is a scratch model's own choice
            parts.append(("tok", _short(state.tokenizer) or "gpt2", ""))
        parts.append(("session", state.session or "none", ""))
        for label, value, style in parts:
            text.append(" │ ", style="dim")
            text.append(f"{label}: ", style="dim")
            text.append(value, style=style or "bold")
        self.update(text)
        self.tooltip = problem or None


def _short(value: str, limit: int = 40) -> str:
    if len(value) <= limit:
        return value
    return "…" + value[-(limit - 1):]
