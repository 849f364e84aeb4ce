"""The Chat screen's prompt box: Enter sends; Shift+Enter, Alt+Enter or Ctrl+J starts a new
line (terminals that cannot tell Shift+Enter from Enter still send Ctrl+J); a pasted
multi-line text stays multi-line."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

NEWLINE_KEYS = ("shift+enter", "alt+enter", "ctrl+j")


class PromptArea(TextArea):
    """A TextArea whose Enter posts `PromptArea.Submitted` instead of breaking the line."""

    DEFAULT_CSS = """
    PromptArea {
        height: auto;
        min-height: 3;
        max-height: 8;
        border: tall $primary 50%;
        padding: 0 1;
    }
    PromptArea:focus {
        border: tall $primary;
    }
    PromptArea:disabled {
        opacity: 60%;
    }
    """

    @dataclass
    class Submitted(Message):
        """Enter was pressed: `text` is the prompt."""

        area: "PromptArea"
        text: str

        @property
        def control(self) -> "PromptArea":
            return self.area

    def __init__(self, **kw) -> None:
        kw.setdefault("placeholder", "Ask both models…  Enter sends · Ctrl+J new line")
        super().__init__(soft_wrap=True, tab_behavior="focus", **kw)

    async def _on_key(self, event: events.Key) -> None:
        if self.read_only or self.disabled:
            return
        if event.key == "enter":
            event.stop()
            event.prevent_default()
            self.post_message(self.Submitted(self, self.text))
            return
        if event.key in NEWLINE_KEYS:
            event.stop()
            event.prevent_default()
            start, end = self.selection
            self._replace_via_keyboard("\n", start, end)
            return
        await super()._on_key(event)
