"""The Data screen (being built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from .base import WorkbenchScreen


class DataScreen(WorkbenchScreen):
    TITLE = "Data"

    def compose_body(self) -> ComposeResult:
        yield Static("Data", id="body")
