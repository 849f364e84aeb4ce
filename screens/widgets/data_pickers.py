"""Small keyboard pickers of the Data screen: choose one item from a list (a format, a label,
a label value with its count), or type a row number to go to."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option


class ListPicker(ModalScreen[str | None]):
    """Pick one of `options` ((value, shown text) pairs): arrows and Enter; Escape cancels."""

    DEFAULT_CSS = """
    ListPicker {
        align: center middle;
    }
    ListPicker > Vertical {
        width: 64;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    ListPicker #picker-title {
        text-style: bold;
        color: $accent;
        width: 100%;
    }
    ListPicker #picker-hint {
        color: $text-muted;
        width: 100%;
        margin-top: 1;
    }
    ListPicker OptionList, ListPicker OptionList:focus {
        height: auto;
        max-height: 16;
        border: none;
        padding: 0;
        margin: 1 0 0 0;
        background: $surface;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker-cancel")]

    def __init__(self, title: str, options: list[tuple[str, str | Content]],
                 current: str | None = None, hint: str = "↑↓ choose · Enter picks · Esc cancels",
                 *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.options = options
        self.current = current
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="picker-title")
            yield OptionList(*(Option(text, id=value) for value, text in self.options),
                             id="picker-list")
            yield Label(self.hint, id="picker-hint")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        values = [v for v, _ in self.options]
        if self.current in values:
            options.highlighted = values.index(self.current)
        elif values:
            options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class GotoDialog(ModalScreen[int | None]):
    """Type a row position (1-based, as shown) and Enter."""

    DEFAULT_CSS = """
    GotoDialog {
        align: center middle;
    }
    GotoDialog > Vertical {
        width: 50;
        max-width: 95%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    GotoDialog Label {
        width: 100%;
    }
    GotoDialog #goto-hint {
        color: $text-muted;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="goto-cancel")]

    def __init__(self, total: int | None) -> None:
        super().__init__()
        self.total = total

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("[b]Go to row[/b]")
            yield Input(placeholder="row # (as in the # column)", type="integer", compact=True,
                        id="goto-input")
            known = f"0–{self.total - 1:,}" if self.total else "unknown so far"
            yield Label(f"rows {known} · Enter goes · Esc cancels", id="goto-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            self.dismiss(int(event.value.replace(",", "").strip()))
        except ValueError:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
