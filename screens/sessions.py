"""The Sessions screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from .base import WorkbenchScreen


class SessionsScreen(WorkbenchScreen):
    TITLE = "Sessions"

    def compose_body(self) -> ComposeResult:
        yield Static("Sessions", id="body")
