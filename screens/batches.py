"""The Batches screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from .base import WorkbenchScreen


class BatchesScreen(WorkbenchScreen):
    TITLE = "Batches"

    def compose_body(self) -> ComposeResult:
        yield Static("Batches", id="body")
