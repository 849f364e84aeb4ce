"""A yes/no question ("Stop training?", "Delete session?")."""

from __future__ import annotations

from typing import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmDialog(ModalScreen[bool]):
    """Dismisses with True (y / Enter on Yes) or False (n / Escape)."""

    DEFAULT_CSS = """
    ConfirmDialog {
        align: center middle;
    }
    ConfirmDialog > Vertical {
        width: 60;
        max-width: 90%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 1 2;
    }
    ConfirmDialog Label {
        width: 100%;
        margin-bottom: 1;
    }
    ConfirmDialog Horizontal {
        height: auto;
        align-horizontal: right;
    }
    ConfirmDialog Button {
        margin-left: 2;
    }
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm-no"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes", no: str = "No",
                 live: Callable[[], str] | None = None) -> None:
        """`live`, if given, is called every second for the detail (a run's current step),
        so the question never names a state that is already gone."""
        super().__init__()
        self.question = question
        self.detail = live() if live else detail
        self.live = live
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"[b]{self.question}[/b]")
            if self.detail:
                yield Label(self.detail, id="confirm-detail", markup=False)
            with Horizontal():
                yield Button(self.no, id="no")
                yield Button(self.yes, id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()
        if self.live is not None:
            self.set_interval(1.0, self._refresh_detail)

    def _refresh_detail(self) -> None:
        detail = self.live() if self.live else ""
        if detail != self.detail:
            self.detail = detail
            self.query_one("#confirm-detail", Label).update(detail)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)
