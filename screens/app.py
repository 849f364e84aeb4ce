"""The workbench app shell."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Footer, Header, Static


class WorkbenchApp(App):
    """SFT Workbench."""

    TITLE = "SFT Workbench"
    BINDINGS = [("q", "quit", "Quit")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("SFT Workbench", id="welcome")
        yield Footer()


def make_app(**kwargs) -> WorkbenchApp:
    return WorkbenchApp()


def run_app(**kwargs) -> int:
    make_app(**kwargs).run()
    return 0
