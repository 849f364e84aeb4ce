"""Dialogs of the Batches screen: the batch settings form and the "go to batch" prompt."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Select, Static

from workbench.train.config import TrainConfig  # torch-free: the trainer's defaults

TOKENIZER_CHOICES = ("model", "gpt2", "bytes")


@dataclass(frozen=True)
class BatchSettings:
    """What the Batches screen collates with; the defaults are the trainer's (TrainConfig),
    so what the screen first shows is what a default training run trains on.

    Attributes:
        template: template name or .toml path; "" for the model's saved one, else the
            data format's usual one.
        tokenizer: "model" (the current model's own tokenizer files), "gpt2", "bytes", or a
            folder with vocab.json + merges.txt.
        max_len: positions per row; longer examples lose the tail of their response.
        batch_size: rows per batch.
        batcher: random, grouped or packed.
        loss_on: response or all.
        seed, epoch: the data order is a function of both.
    """

    template: str = ""
    tokenizer: str = TrainConfig.tokenizer
    max_len: int = TrainConfig.max_len
    batch_size: int = TrainConfig.batch_size
    batcher: str = TrainConfig.batcher
    loss_on: str = TrainConfig.loss_on
    seed: int = TrainConfig.seed
    epoch: int = 0

    def encode_key(self) -> tuple:
        """Settings that change the encoded examples (the others only re-plan)."""
        return (self.template, self.tokenizer, self.max_len, self.loss_on)

    def changed(self, **changes) -> "BatchSettings":
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)


FIELD_HELP = {
    "template": "empty: auto · or a .toml file",
    "tokenizer": "model · gpt2 · bytes · a folder",
    "max_len": "positions per row (cuts responses)",
    "batch_size": "rows per batch",
    "batcher": "grouped: similar lengths together",
    "loss_on": "all: the prompt is trained too",
    "seed": "seed and epoch set the data order",
    "epoch": "",
}
INT_FIELDS = {"max_len": 1, "batch_size": 1, "seed": 0, "epoch": 0}  # minimum values


class BatchSettingsDialog(ModalScreen["BatchSettings | None"]):
    """Edit the batch settings; Enter applies, Escape cancels. `focus_field` picks the
    field that has the cursor when it opens."""

    DEFAULT_CSS = """
    BatchSettingsDialog {
        align: center middle;
    }
    BatchSettingsDialog > Vertical {
        width: 76;
        max-width: 98%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    BatchSettingsDialog Grid {
        grid-size: 3;
        grid-columns: 11 24 1fr;
        grid-rows: 1;
        grid-gutter: 0 1;
        height: auto;
    }
    BatchSettingsDialog Grid > Label {
        text-style: bold;
    }
    BatchSettingsDialog Grid > Label.help {
        text-style: none;
        color: $text-muted;
    }
    BatchSettingsDialog #settings-problem {
        color: $error;
        text-style: bold;
        height: auto;
    }
    BatchSettingsDialog #settings-keys {
        color: $text-muted;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="batch-settings-cancel"),
                Binding("ctrl+s", "apply", "Apply", id="batch-settings-apply")]

    def __init__(self, settings: BatchSettings, *, templates: list[str],
                 focus_field: str = "template", model: str = "") -> None:
        super().__init__()
        self.settings = settings
        self.templates = templates
        self.focus_field = focus_field
        self.model = model

    def compose(self) -> ComposeResult:
        s = self.settings
        with Vertical():
            yield Static("[b]Batch settings[/b]  Tab moves · Enter applies · Esc cancels")
            with Grid():
                yield Label("template")
                yield Input(s.template, id="f-template", compact=True, placeholder="auto",
                            suggester=SuggestFromList(self.templates))
                yield Label(FIELD_HELP["template"], classes="help")
                yield Label("tokenizer")
                yield Input(s.tokenizer, id="f-tokenizer", compact=True,
                            suggester=SuggestFromList(TOKENIZER_CHOICES))
                yield Label(FIELD_HELP["tokenizer"], classes="help")
                for name, label in (("max_len", "max length"), ("batch_size", "batch size")):
                    yield Label(label)
                    yield Input(str(getattr(s, name)), id=f"f-{name}", type="integer",
                                compact=True)
                    yield Label(FIELD_HELP[name], classes="help")
                yield Label("batcher")
                yield Select([(b, b) for b in ("random", "grouped", "packed")], value=s.batcher,
                             allow_blank=False, id="f-batcher", compact=True)
                yield Label(FIELD_HELP["batcher"], classes="help")
                yield Label("loss on")
                yield Select([(v, v) for v in ("response", "all")], value=s.loss_on,
                             allow_blank=False, id="f-loss_on", compact=True)
                yield Label(FIELD_HELP["loss_on"], classes="help")
                for name in ("seed", "epoch"):
                    yield Label(name)
                    yield Input(str(getattr(s, name)), id=f"f-{name}", type="integer",
                                compact=True)
                    yield Label(FIELD_HELP[name], classes="help")
            yield Static("", id="settings-problem")
            model = self.model or "none set"
            yield Static(f"templates: {', '.join(self.templates)}\n"
                         f"tokenizer model = the current model's own files (model: {model})",
                         id="settings-keys")

    def on_mount(self) -> None:
        try:
            self.query_one(f"#f-{self.focus_field}").focus()
        except Exception:  # noqa: BLE001 - an unknown field name: focus the first
            self.query_one("#f-template").focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def read(self) -> BatchSettings | str:
        """The settings in the form, or a one-line problem."""
        values = {}
        for f in fields(BatchSettings):
            widget = self.query_one(f"#f-{f.name}")
            value = widget.value
            if f.name in INT_FIELDS:
                try:
                    number = int(str(value).strip())
                except ValueError:
                    return f"{f.name.replace('_', ' ')}: a whole number, please"
                if number < INT_FIELDS[f.name]:
                    return f"{f.name.replace('_', ' ')}: at least {INT_FIELDS[f.name]}"
                values[f.name] = number
            else:
                values[f.name] = str(value).strip()
        if not values["tokenizer"]:
            return "tokenizer: model, gpt2, bytes, or a folder"
        if values["template"] and values["template"] != "auto":
            from workbench.errors import WorkbenchError
            from workbench.templates import get_template

            try:
                get_template(values["template"])
            except WorkbenchError as err:
                return err.message
        if values["template"] == "auto":
            values["template"] = ""
        return BatchSettings(**values)

    def action_apply(self) -> None:
        result = self.read()
        if isinstance(result, str):
            self.query_one("#settings-problem", Static).update(result)
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)


class JumpDialog(ModalScreen["str | None"]):
    """Go to a batch by index, or to the batch holding a source row (r17)."""

    DEFAULT_CSS = """
    JumpDialog {
        align: center middle;
    }
    JumpDialog > Vertical {
        width: 60;
        max-width: 98%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    JumpDialog #jump-problem {
        color: $error;
        height: auto;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="jump-cancel")]

    def __init__(self, batches: int, current: int) -> None:
        super().__init__()
        self.batches = batches
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]Go to batch[/b] 0–{self.batches - 1} (now {self.current}), "
                         "or r[i]N[/i] for the batch holding source row N")
            yield Input(placeholder="batch index, or r17", id="jump-input")
            yield Static("", id="jump-problem")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip().lower()
        problem = parse_jump(value, self.batches)
        if problem:
            self.query_one("#jump-problem", Static).update(problem)
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_jump(value: str, batches: int) -> str:
    """"" if `value` is a valid jump target, else what is wrong with it."""
    if value.startswith("r"):
        return "" if value[1:].strip().isdigit() else "r then a source row number, e.g. r17"
    if not value.lstrip("-").isdigit():
        return "a batch index (a whole number) or r17"
    index = int(value)
    if not -batches <= index < batches:
        return f"there are {batches} batches (0 to {batches - 1})"
    return ""
