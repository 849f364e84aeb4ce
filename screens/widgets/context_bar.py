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

    def on_resize(self) -> None:
        self.refresh_context()

    def refresh_context(self) -> None:
        state = self.app.state  # type: ignore[attr-defined]
        problem = getattr(self.app, "template_problem", "")
        template = (state.template or "auto") + (" ✖" if problem else "")
        parts = [("data", state.source or "none", ""),
                 ("template", template, "bold red" if problem else ""),
                 ("model", state.model or "none", "")]
        if state.model == "scratch":  # the tokenizer is a scratch model's own choice
            parts.append(("tok", state.tokenizer or "gpt2", ""))
        parts.append(("session", state.session or "none", ""))
        width = (self.size.width or self.app.size.width) - 2  # the padding
        sep, labels = " │ ", {label: label for label, _, _ in parts}
        fixed = len(self.title) + 2 + sum(len(f"{sep}{label}: ") for label in labels)
        if width - fixed < LEAST * len(parts):  # a narrow terminal: shorter labels
            sep, labels = "│", {label: SHORT.get(label, label) for label in labels}
            fixed = len(self.title) + 2 + sum(len(f"{sep}{labels[k]}:") for k in labels)
        values = fit([v for _, v, _ in parts], width - fixed)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {self.title} ", style="bold reverse")
        for (label, _, style), value in zip(parts, values):
            text.append(sep, style="dim")
            text.append(f"{labels[label]}:" + (" " if sep != "│" else ""), style="dim")
            text.append(value, style=style or "bold")
        self.update(text)
        self.tooltip = problem or "  ·  ".join(f"{label}: {value}" for label, value, _ in parts)


LEAST = 6  # cells a value keeps at least
SHORT = {"template": "tpl", "session": "sess", "model": "model", "data": "data"}


def fit(values: list[str], room: int, least: int = LEAST) -> list[str]:
    """Shorten the values so that together they take at most `room` cells: the longest is
    cut first (a path keeps its end: "…/tinystories-instruct.txt"), none below `least`
    cells, so every label of the header stays on screen (a long session name no longer
    pushes `session:` off the line)."""
    sizes = [len(v) for v in values]
    while sum(sizes) > room:
        over = sum(sizes) - room
        i = max(range(len(sizes)), key=lambda k: sizes[k])
        second = max((n for k, n in enumerate(sizes) if k != i), default=0)
        target = max(least, sizes[i] - over, min(second, sizes[i] - 1))
        if target >= sizes[i]:
            break  # everything is at its least: the line ends in an ellipsis
        sizes[i] = target
    return [_short(v, n) for v, n in zip(values, sizes)]


def _short(value: str, limit: int = 40) -> str:
    """A path keeps its end (the file name); a name keeps both ends."""
    if len(value) <= limit:
        return value
    if "/" in value:
        return "…" + value[-(limit - 1):]
    head = (limit - 1) // 2
    return value[:head] + "…" + value[len(value) - (limit - 1 - head):]
