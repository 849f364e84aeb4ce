"""The Chat screen's dialogs: choose the base model or the SFT session, set up a "compare
over a set", and show its result (the same summary rows `workbench compare` computes:
flag rates, stop reasons, mean length, exact match / F1, ending adherence, loss side)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

DIALOG_CSS = """
{name} {{
    align: center middle;
}}
{name} > Vertical {{
    width: 76;
    max-width: 96%;
    height: auto;
    max-height: 96%;
    border: thick $primary;
    background: $surface;
    padding: 0 1;
}}
{name} .title {{
    text-style: bold;
    color: $accent;
    margin: 1 0;
}}
{name} .help {{
    color: $text-muted;
    margin-bottom: 1;
}}
{name} Horizontal.buttons {{
    height: auto;
    align-horizontal: right;
    margin-top: 1;
}}
{name} Horizontal.buttons Button {{
    margin-left: 2;
}}
"""


# ----------------------------------------------------------------------------------------
# Base model / SFT session


class ModelDialog(ModalScreen["str | None"]):
    """Asks for a model spec (base) or a session (SFT); dismisses with it or None."""

    DEFAULT_CSS = DIALOG_CSS.format(name="ModelDialog") + """
    ModelDialog OptionList {
        height: auto;
        max-height: 10;
        margin-bottom: 1;
    }
    ModelDialog #model-problem { height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="chat-model-cancel")]
    AUTO_FOCUS = "#model-spec"

    def __init__(self, side: str, current: str, sessions: list[str]) -> None:
        super().__init__()
        self.side = side
        self.current = current
        self.sessions = sessions

    def compose(self) -> ComposeResult:
        with Vertical():
            if self.side == "base":
                yield Label("Base model", classes="title")
                yield Static("A Hugging Face Hub id (gpt2, distilgpt2, …), a local model folder "
                             "(config.json + weights + tokenizer files), or a session. Same as "
                             "`workbench --model M`.", classes="help")
                yield Input(self.current, placeholder="gpt2", id="model-spec")
            else:
                yield Label("SFT model: a training session", classes="title")
                yield Static("A session name uses its best checkpoint (else its latest); "
                             "NAME@latest or NAME@step-N picks another. The template saved "
                             "with the checkpoint is used for both models.", classes="help")
                yield Input(self.current, placeholder="session name (↓ picks one)", id="model-spec")
                if self.sessions:
                    yield OptionList(*[Option(name, id=name) for name in self.sessions],
                                     id="model-sessions")
                else:
                    yield Static("(no sessions yet in the sessions folder: train one on the "
                                 "Train screen)", classes="help")
            yield Static("", id="model-problem")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Use", id="ok", variant="primary", compact=True)

    def on_key(self, event) -> None:
        """↓ from the name goes into the sessions (arrows there fill the name in)."""
        if event.key == "down" and isinstance(self.focused, Input) and self.query("#model-sessions"):
            self.query_one("#model-sessions", OptionList).focus()
            event.stop()

    def _use(self, value: str) -> None:
        value = value.strip()
        if not value:
            what = "a model (a Hub id, a folder or a session)" if self.side == "base" else \
                "a session name" + (", or ↓ to pick one" if self.sessions else "")
            self.query_one("#model-problem", Static).update(
                f"[b $error]Nothing typed:[/] type {what}; Esc keeps the current one")
            return
        self.dismiss(value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._use(event.value)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.has_focus:
            self.query_one("#model-spec", Input).value = str(event.option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.id))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._use(self.query_one("#model-spec", Input).value)
        else:
            self.dismiss(None)


# ----------------------------------------------------------------------------------------
# Compare over a set


@dataclass
class CompareRequest:
    """What to compare: `kind` "data" (held-out rows: the SFT session's own held-out cut of
    the source it trained on, else the source's validation split) or "prompts" (a file);
    `n` rows of data; `text` plain-text passages for the forgetting loss (optional)."""

    kind: str
    source: str
    n: int = 20
    text: str = ""
    format: str = ""


class CompareSetDialog(ModalScreen["CompareRequest | None"]):
    """Set up a comparison over many prompts."""

    DEFAULT_CSS = DIALOG_CSS.format(name="CompareSetDialog") + """
    CompareSetDialog Horizontal.row {
        height: 1;
        margin-bottom: 1;
    }
    CompareSetDialog Horizontal.row > Label {
        width: 14;
        color: $text-muted;
    }
    CompareSetDialog Horizontal.row > Input, CompareSetDialog Horizontal.row > Select {
        width: 1fr;
    }
    CompareSetDialog Horizontal.row > Input {
        background: $boost;
    }
    CompareSetDialog #problem {
        color: $error;
        height: auto;
    }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="chat-compare-cancel")]
    AUTO_FOCUS = "#source"

    def __init__(self, source: str, data_format: str = "", n: int = 20) -> None:
        super().__init__()
        self.source = source
        self.data_format = data_format
        self.n = n

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Compare over a set", classes="title")
            yield Static("Both models answer every prompt with the current settings and "
                         "template; the table shows each model's flag rates, stop reasons, "
                         "length, exact match / F1 and the loss side: the numbers "
                         "`workbench compare` prints. Held-out rows are rows the SFT session "
                         "never trained on (its own validation cut of that data, else the "
                         "data's validation split).", classes="help")
            with Horizontal(classes="row"):
                yield Label("prompts from")
                yield Select([("held-out rows (the session's own cut)", "data"),
                              ("a prompts file (.txt / .jsonl)", "prompts")],
                             value="data" if self.source else "prompts", allow_blank=False,
                             id="kind", compact=True)
            with Horizontal(classes="row"):
                yield Label("source / file")
                yield Input(self.source, placeholder="blank: the data the session trained on",
                            id="source", compact=True)
            with Horizontal(classes="row"):
                yield Label("rows (N)")
                yield Input(str(self.n), id="n", type="integer", compact=True)
            with Horizontal(classes="row"):
                yield Label("plain text")
                yield Input("", placeholder="optional: passages for the forgetting loss",
                            id="text", compact=True)
            yield Static("", id="problem")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Compare", id="ok", variant="primary", compact=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        kind = str(self.query_one("#kind", Select).value)
        source = self.query_one("#source", Input).value.strip()
        n_text = self.query_one("#n", Input).value.strip()
        problem = ""
        if not source and kind == "prompts":
            problem = "give a prompts file (.txt or .jsonl)"
        elif not n_text.isdigit() or int(n_text) < 1:
            problem = "rows (N) must be a whole number, 1 or more"
        if problem:
            self.query_one("#problem", Static).update(problem)
            return
        fmt = self.data_format if source == self.source else ""
        self.dismiss(CompareRequest(kind, source, int(n_text),
                                    self.query_one("#text", Input).value.strip(), fmt))


class CompareResultScreen(ModalScreen[None]):
    """The summary of a comparison over a set (metric | base | SFT), then each prompt
    with both models' flags."""

    DEFAULT_CSS = DIALOG_CSS.format(name="CompareResultScreen") + """
    CompareResultScreen > Vertical {
        width: 110;
        height: 96%;
    }
    CompareResultScreen .title {
        margin-bottom: 0;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        width: 100%;
    }
    CompareResultScreen #compare-summary {
        height: auto;
        max-height: 65%;
    }
    CompareResultScreen #compare-items {
        height: 1fr;
        min-height: 4;
        margin-top: 1;
    }
    CompareResultScreen Horizontal.buttons {
        margin-top: 0;
    }
    """
    BINDINGS = [Binding("escape,q", "dismiss(None)", "Close", id="chat-result-close")]

    def __init__(self, result, title: str) -> None:
        super().__init__()
        self.result = result
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, classes="title")
            yield DataTable(id="compare-summary", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="compare-items", cursor_type="row", zebra_stripes=True)
            with Horizontal(classes="buttons"):
                yield Button("Close (Esc)", id="close", variant="primary", compact=True)

    def on_mount(self) -> None:
        from workbench.compare import summary_rows

        table = self.query_one("#compare-summary", DataTable)
        table.add_columns("metric", "base", "SFT")
        for metric, base, sft in summary_rows(self.result):
            table.add_row(metric, Text(base, justify="right"), Text(sft, justify="right"))
        items = self.query_one("#compare-items", DataTable)
        items.add_columns("#", "prompt", "base", "SFT")
        for i, c in enumerate(self.result.items, 1):
            prompt = " ".join(c.item.prompt.split())
            items.add_row(str(i), prompt[:60] + ("…" if len(prompt) > 60 else ""),
                          _flags(c.base), _flags(c.sft))
        table.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)


def _flags(answer) -> Text:
    from .chat_answer import flag_badges

    flagged = answer.diagnosis.flagged
    if not flagged:
        return Text(f"ok · {answer.result.stop_reason}", style="green")
    return flag_badges(flagged)
