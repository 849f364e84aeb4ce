"""The Train screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from .base import WorkbenchScreen


class TrainScreen(WorkbenchScreen):
    TITLE = "Train"

    def compose_body(self) -> ComposeResult:
        yield Static("Train", id="body")
