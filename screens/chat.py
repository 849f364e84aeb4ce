"""The Chat screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from .base import WorkbenchScreen


class ChatScreen(WorkbenchScreen):
    TITLE = "Chat"

    def compose_body(self) -> ComposeResult:
        yield Static("Chat", id="body")
