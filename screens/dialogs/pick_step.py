"""Pick a step of a run to look at its batch: the loss spikes are offered (the steps whose
loss stands highest above the steps before them), or any step can be typed. The Train and
Sessions screens open it; the answer takes the Batches screen to that step's micro-batches
of that session."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


class PickStepDialog(ModalScreen["int | None"]):
    """Dismisses with a step (from 1) or None. ↓ moves from the input into the spikes."""

    DEFAULT_CSS = """
    PickStepDialog {
        align: center middle;
    }
    PickStepDialog > Vertical {
        width: 72;
        max-width: 98%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    PickStepDialog OptionList {
        height: auto;
        max-height: 12;
        margin-top: 1;
    }
    PickStepDialog #pick-problem {
        color: $error;
        height: auto;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="pick-step-cancel")]

    def __init__(self, session: str, spikes: list[dict], last_step: int) -> None:
        super().__init__()
        self.session = session
        self.spikes = spikes
        self.last_step = last_step

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]Inspect a batch of {self.session}[/b]: type a step (1–"
                         f"{self.last_step}) or pick a spike; the Batches screen shows that "
                         "step's micro-batches, checked against the run's record")
            yield Input(placeholder=f"step, 1–{self.last_step}", id="pick-step", type="integer")
            if self.spikes:
                yield OptionList(*[Option(f"step {d['step']:>6}   loss {d['loss']:.4f}   "
                                          f"(+{d['excess']:.4f} over the steps before)",
                                          id=str(d["step"])) for d in self.spikes],
                                 id="pick-spikes")
            yield Static("", id="pick-problem")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_key(self, event) -> None:
        if event.key == "down" and isinstance(self.focused, Input) and self.spikes:
            self.query_one(OptionList).focus()
            event.stop()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.query_one("#pick-problem", Static).update(
                "type a step number, or ↓ to pick one of the spikes")
            return
        if not text.isdigit() or not 1 <= int(text) <= self.last_step:
            self.query_one("#pick-problem", Static).update(
                f"a step from 1 to {self.last_step}, please (got {text!r})")
            return
        self.dismiss(int(text))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(str(event.option.id)))

    def action_cancel(self) -> None:
        self.dismiss(None)
