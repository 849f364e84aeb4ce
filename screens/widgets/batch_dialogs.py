"""Dialogs of the Batches screen: the batch settings form and the "go to batch" prompt."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Label, Select, Static

# The working-config fields the dialog edits, with a short help each (the Train form has
# them all, with their full help).
FIELDS: dict[str, str] = {
    "template": "empty: auto (the model's, else the data's usual)",
    "model": "its tokenizer is used; scratch: the one below",
    "tokenizer": "scratch only: gpt2 · bytes · a folder",
    "max_len": "positions per row (cuts responses)",
    "batch_size": "rows per micro-batch",
    "grad_accum": "micro-batches per optimizer step",
    "batcher": "grouped: similar lengths together",
    "loss_on": "all: the prompt is trained too",
    "val_ratio": "held out before training (0: none)",
    "seed": "the held-out cut and the data order",
}
LABELS = {"max_len": "max length", "batch_size": "batch size", "grad_accum": "grad accum",
          "loss_on": "loss on", "val_ratio": "val ratio"}


class BatchSettingsDialog(ModalScreen["dict | None"]):
    """Edit the working config's fields that shape the batches; Enter applies (returns the
    changed fields), Escape cancels. `focus_field` has the cursor when it opens. Every
    problem is checked with `TrainConfig.problems()`, as the Train form checks it."""

    DEFAULT_CSS = """
    BatchSettingsDialog {
        align: center middle;
    }
    BatchSettingsDialog > Vertical {
        width: 84;
        max-width: 98%;
        height: auto;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    BatchSettingsDialog Grid {
        grid-size: 3;
        grid-columns: 12 24 1fr;
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

    def __init__(self, config, *, templates: list[str], focus_field: str = "template") -> None:
        super().__init__()
        self.config = config
        self.templates = templates
        self.focus_field = focus_field

    def compose(self) -> ComposeResult:
        from workbench.train.config import CHOICES

        c = self.config
        with Vertical():
            yield Static("[b]Batch settings[/b] (the working config: the Train form shows "
                         "them too)  Tab moves · Enter applies · Esc cancels")
            with Grid():
                for name, help_text in FIELDS.items():
                    yield Label(LABELS.get(name, name))
                    value = getattr(c, name)
                    if name in CHOICES:
                        yield Select([(v, v) for v in CHOICES[name]], value=value,
                                     allow_blank=False, id=f"f-{name}", compact=True)
                    else:
                        suggester = None
                        if name == "template":
                            suggester = SuggestFromList(self.templates)
                        elif name == "tokenizer":
                            suggester = SuggestFromList(("gpt2", "bytes"))
                        text = f"{value:g}" if isinstance(value, float) else str(value)
                        yield Input(text, id=f"f-{name}", compact=True, suggester=suggester,
                                    placeholder="auto" if name == "template" else "")
                    yield Label(help_text, classes="help")
            yield Static("", id="settings-problem")
            yield Static(f"templates: {', '.join(self.templates)}", id="settings-keys")

    def on_mount(self) -> None:
        try:
            self.query_one(f"#f-{self.focus_field}").focus()
        except Exception:  # noqa: BLE001 - an unknown field name: focus the first
            self.query_one("#f-template").focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_apply()

    def read(self) -> dict | str:
        """The changed fields, or a one-line problem."""
        from dataclasses import fields, replace

        from workbench.errors import WorkbenchError
        from workbench.templates import get_template

        kinds = {f.name: f.type if isinstance(f.type, str) else f.type.__name__
                 for f in fields(self.config)}
        values = {}
        for name in FIELDS:
            raw = str(self.query_one(f"#f-{name}").value).strip()  # type: ignore[attr-defined]
            try:
                if kinds[name] == "int":
                    values[name] = int(raw)
                elif kinds[name] == "float":
                    values[name] = float(raw)
                else:
                    values[name] = "" if name == "template" and raw == "auto" else raw
            except ValueError:
                what = "a whole number" if kinds[name] == "int" else "a number"
                return f"{LABELS.get(name, name)}: {what}, please (got {raw!r})"
        config = replace(self.config, **values)
        problems = {k: v for k, v in config.problems().items() if k in FIELDS}
        if problems:
            name, why = next(iter(problems.items()))
            return f"{LABELS.get(name, name)}: {why}"
        if values["template"]:
            try:
                get_template(values["template"])
            except WorkbenchError as err:
                return err.message
        return {k: v for k, v in values.items() if getattr(self.config, k) != v}

    def action_apply(self) -> None:
        result = self.read()
        if isinstance(result, str):
            self.query_one("#settings-problem", Static).update(result)
            return
        self.dismiss(result)

    def action_cancel(self) -> None:
        self.dismiss(None)


class JumpDialog(ModalScreen["str | None"]):
    """Go to a batch by index, to micro-batch M of optimizer step N (sN or sN.M), or to the
    batch holding a source row (r17)."""

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

    def __init__(self, batches: int, current: int, per_step: int = 1) -> None:
        super().__init__()
        self.batches = batches
        self.current = current
        self.per_step = per_step

    def compose(self) -> ComposeResult:
        micro = f" or s[i]N.M[/i] (micro-batch M of {self.per_step})" if self.per_step > 1 else ""
        with Vertical():
            yield Static(f"[b]Go to[/b] batch 0–{self.batches - 1} of this epoch (now "
                         f"{self.current}), s[i]N[/i] for optimizer step N{micro}, or r[i]N[/i] "
                         "for the batch holding source row N")
            yield Input(placeholder="batch index, s12, or r17", id="jump-input")
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
    if value.startswith("s"):
        step, _, micro = value[1:].partition(".")
        if not step.isdigit() or int(step) < 1 or (micro and not micro.isdigit()):
            return "s then a step number from 1, e.g. s12 (or s12.1: its micro-batch 1)"
        return ""
    if not value.lstrip("-").isdigit():
        return "a batch index (a whole number), s12 (step 12) or r17"
    index = int(value)
    if not -batches <= index < batches:
        return f"there are {batches} batches (0 to {batches - 1})"
    return ""
