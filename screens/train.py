"""The Train screen: configure a run, launch it as a process of its own, and watch it.

Two views (ctrl+o flips between them):

* **Config**: the `TrainConfig` form, grouped by its sections: the app's working config,
  which the Batches screen shows and edits too (the header's data, template and model, and
  the rest as last set; it is kept between launches). Each field shows its help text
  (beside it on a wide terminal, under the form on a narrow one); every change marks each
  field `TrainConfig.problems()` names, so problems show before launch; the choices of a
  drop-down are `TrainConfig`'s published `CHOICES`.
  The session name (blank: generated) and the device (what this machine has, found in a
  worker since it needs torch) sit above the form, with Launch (ctrl+s).
* **Run**: the followed session, read from its folder once a second (only what was appended
  since the last read): the loss plot (train and validation), step / max steps with a
  progress bar and ETA, loss, lr, tokens/s, the latest samples, the tail of train.log, and
  for a stopped or failed run its message and what to do. Stop (ctrl+t, confirmed) sends
  SIGTERM: the run finishes its step, saves a checkpoint and ends `stopped`; Resume (ctrl+r)
  continues it.

Training runs in its own process (`workbench.train.runner`): this screen never imports
torch, so keys stay responsive while it trains, and closing the app does not stop a run.
On mount the screen re-attaches to the running sessions (the latest; ctrl+n cycles).
"""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, VerticalScroll
from textual.content import Content
from textual.suggester import SuggestFromList
from textual.widget import Widget
from textual.widgets import (Button, Collapsible, Input, Label, ProgressBar, Select, Static,
                             TabbedContent, TabPane, TextArea)

from workbench.errors import WorkbenchError
from workbench.train.config import CHOICES, TrainConfig, field_help
from workbench.train.telemetry import telemetry_line

from .base import ScreenCommand, WorkbenchScreen
from .widgets.loss_plot import LossPlot
from .widgets.session_log import SessionLog
from .widgets.session_text import samples_content
from .widgets.session_watch import (LIVE_STATES, SessionWatch, advice, failure_cause,
                                    first_sentences, fmt_duration, fmt_loss, fmt_rate, fmt_time,
                                    state_markup, stop_question)

# The form's groups (how a person fills it in; the config file keeps TrainConfig's
# SECTIONS): each folds (Enter or a click on its title); ctrl+f jumps to any field.
GROUPS: dict[str, tuple[str, list[str]]] = {
    "data": ("Data", ["data", "format", "split", "val_split", "val_ratio", "balance_label",
                      "balance_strategy", "balance_ratio", "template", "loss_on", "max_len",
                      "head_vocab", "batcher"]),
    "model": ("Model", ["model", "revision", "tokenizer", "n_layer", "n_head", "n_embd",
                        "n_positions", "lora_r", "lora_alpha", "lora_dropout", "lora_targets"]),
    "schedule": ("Schedule", ["epochs", "max_steps", "warmup_steps", "schedule",
                              "min_lr_ratio"]),
    "optimisation": ("Optimisation", ["batch_size", "grad_accum", "lr", "weight_decay",
                                      "beta1", "beta2", "grad_clip"]),
    "evaluation": ("Evaluation and samples", ["eval_every", "eval_batches", "eval_prompts",
                                              "eval_max_new_tokens", "sample_prompts",
                                              "sample_every", "sample_max_new_tokens",
                                              "log_every"]),
    "saving": ("Saving", ["save_every", "keep_last"]),
    "run": ("Run", ["seed", "device", "dtype", "compile", "threads", "nproc"]),
}
# fields the form shows above the sections (the launch bar), not in them
BAR_FIELDS = ("device",)
_UNSET = object()
# the fields that are the app's context (the header): committed when the field is left or
# Enter is pressed, not on every keystroke (a half-typed path is not a data source)
CONTEXT_FIELDS = ("data", "format", "split", "template", "model", "tokenizer")


def _defaults() -> dict[str, Any]:
    out = {}
    for f in fields(TrainConfig):
        out[f.name] = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
    return out


def _kind(name: str) -> str:
    f = next(f for f in fields(TrainConfig) if f.name == name)
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    return "list" if kind.startswith("list") else kind


# fields where 0 means "chosen for the model" (the form shows and takes "auto")
AUTO_ZERO = ("lr", "max_len")


def _brief(value: Any) -> str:
    text = "[…]" if isinstance(value, list) and value else _text(value)
    return text if len(text) <= 24 else "…" + text[-23:]


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}" if value != 0 else "0"
    return str(value)


class FieldRow(Horizontal):
    """One config field: its name, its editor, its help text (or what is wrong with it)."""

    def __init__(self, name: str, editor: Widget, help_text: str) -> None:
        super().__init__(classes="field-row", id=f"row-{name}")
        self.field_name = name
        self.editor = editor
        self.help_text = help_text
        self.problem = ""

    def compose(self) -> ComposeResult:
        yield Label(self.field_name, classes="field-name")
        yield self.editor
        yield Static(self.help_text, classes="field-help", markup=False)

    def set_problem(self, problem: str) -> None:
        if problem == self.problem:
            return
        self.problem = problem
        self.set_class(bool(problem), "-invalid")
        help_widget = self.query_one(".field-help", Static)
        help_widget.update(Content.from_markup("[b $error]✖ $problem[/]", problem=problem)
                           if problem else Content(self.help_text))


class TrainScreen(WorkbenchScreen):
    """Configure, launch and watch training."""

    TITLE = "Train"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    POLL_SECONDS = 1.0

    BINDINGS = [
        Binding("ctrl+s", "launch", "Launch", id="train-launch",
                tooltip="Start a training process with this config (it outlives the app)"),
        Binding("ctrl+t", "stop", "Stop", id="train-stop",
                tooltip="Stop the followed run after its current step (it saves a checkpoint)"),
        Binding("ctrl+r", "resume", "Resume", id="train-resume",
                tooltip="Continue a stopped or failed run from its last checkpoint"),
        Binding("ctrl+f", "find_field", "Find field", id="train-find",
                tooltip="Jump to a field of the form by typing its name"),
        Binding("ctrl+o", "toggle_view", "Config/Run", id="train-view",
                tooltip="Flip between the config form and the followed run"),
        Binding("ctrl+n", "next_session", "Next run", id="train-next", show=False,
                tooltip="Follow the next session (running ones first)"),
        Binding("ctrl+b", "reuse_config", "Reuse config", id="train-reuse", show=False,
                tooltip="Copy the followed run's config into the form"),
        Binding("ctrl+l", "log_scale", "Log scale", id="train-log-scale", show=False,
                tooltip="Loss axis: linear or logarithmic"),
        Binding("ctrl+g", "inspect_step", "Step's batch", id="train-inspect",
                tooltip="Pick a step of the followed run (its loss spikes are offered) and see "
                        "its micro-batches on the Batches screen"),
    ]

    DEFAULT_CSS = """
    TrainScreen #train-tabs { height: 1fr; }
    TrainScreen TabPane { padding: 0; }
    TrainScreen #train-config, TrainScreen #train-run { height: 1fr; }

    /* -- the config form ------------------------------------------------------------ */
    TrainScreen #launch-bar { height: 1; margin: 0 1; }
    TrainScreen .bar-label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    TrainScreen #f-name { width: 1fr; max-width: 48; margin-right: 2; }
    TrainScreen #f-device { width: 1fr; max-width: 48; margin-right: 2; }
    TrainScreen #launch { min-width: 12; }
    TrainScreen #form-summary { height: auto; margin: 0 1; padding: 0 0 0 0; }
    TrainScreen #form-plan { height: auto; margin: 0 1; color: $text-muted; }
    TrainScreen #form { height: 1fr; margin: 0 0 0 1; padding-right: 1;
                        scrollbar-size-vertical: 1; }
    TrainScreen .form-group { padding: 0; margin: 0; border-top: none; background: $surface; }
    TrainScreen .form-group > Contents { padding: 0 0 1 0; }
    TrainScreen .form-group CollapsibleTitle { color: $text-accent; text-style: bold; padding: 0; }
    TrainScreen .form-group CollapsibleTitle .-summary { color: $text-muted; }
    TrainScreen .field-row { height: auto; }
    TrainScreen .field-name { width: 22; height: 1; color: $text-muted; }
    TrainScreen .field-row:focus-within .field-name { color: $accent; text-style: bold; }
    TrainScreen .field-row.-invalid .field-name { color: $error; text-style: bold; }
    TrainScreen .field-row Input, TrainScreen .field-row Select { width: 34; height: 1; }
    TrainScreen .field-row TextArea { width: 34; height: 3; }
    TrainScreen .field-row.-invalid Input, TrainScreen #f-name.-invalid { background: $error 25%; }
    TrainScreen .field-help { width: 1fr; height: auto; color: $text-muted; padding-left: 2; }
    TrainScreen.-narrow .field-help { display: none; }
    TrainScreen.-narrow .field-row.-invalid .field-help { display: block; padding-left: 22; width: 100%; }
    TrainScreen.-narrow .field-row.-invalid { layout: grid; grid-size: 2; grid-columns: 22 1fr; }
    TrainScreen.-narrow .field-row.-invalid .field-help { column-span: 2; padding-left: 22; }
    TrainScreen.-narrow .field-row Input, TrainScreen.-narrow .field-row Select,
    TrainScreen.-narrow .field-row TextArea { width: 1fr; }
    TrainScreen #field-help { height: 3; dock: bottom; padding: 0 1; background: $boost; }
    TrainScreen.-wide #field-help { display: none; }

    /* -- the run view ------------------------------------------------------------------ */
    TrainScreen #run-head { height: 1; margin: 0 1; }
    TrainScreen.-wide #run-head, TrainScreen.-wide #launch-bar { margin-top: 1; }
    TrainScreen #follow { width: 46; margin-right: 2; }
    TrainScreen.-narrow #follow { width: 1fr; max-width: 42; }
    TrainScreen #run-state { width: 1fr; height: 1; }
    TrainScreen #run-progress-row { height: 1; margin: 0 1; }
    TrainScreen #run-progress { width: 1fr; max-width: 60; }
    TrainScreen #run-progress Bar { width: 1fr; }
    TrainScreen #run-eta { width: auto; padding-left: 2; height: 1; }
    TrainScreen #run-stats { height: auto; margin: 0 1; }
    TrainScreen #run-alert { height: auto; max-height: 6; margin: 0 1; padding: 0 1; display: none;
                             border-left: thick $error; background: $error 12%; }
    TrainScreen #run-alert.-stopped { border-left: thick $warning; background: $warning 12%; }
    TrainScreen #run-alert.-shown { display: block; }
    TrainScreen #run-main { height: 1fr; layout: vertical; }
    TrainScreen.-wide #run-main { layout: horizontal; margin-top: 1; }
    TrainScreen #run-plot { height: 1fr; min-height: 6; margin: 0 0 0 1; }
    TrainScreen #run-side { height: 7; layout: horizontal; }
    TrainScreen.-wide #run-side { height: 1fr; width: 2fr; layout: vertical; }
    TrainScreen.-wide #run-plot { width: 3fr; }
    TrainScreen #run-samples-box, TrainScreen #run-log {
        border: round $primary 50%; border-title-color: $text-muted; height: 1fr; width: 1fr;
        background: $surface; padding: 0 1; scrollbar-size-vertical: 1;
    }
    TrainScreen.-wide #run-samples-box { height: auto; max-height: 50%; }
    TrainScreen #run-empty { height: 1fr; content-align: center middle; color: $text-muted;
                             display: none; }
    TrainScreen #train-run.-empty #run-empty { display: block; }
    TrainScreen #train-run.-empty #run-progress-row, TrainScreen #train-run.-empty #run-stats,
    TrainScreen #train-run.-empty #run-main, TrainScreen #train-run.-empty #run-alert { display: none; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.run_watch: SessionWatch | None = None
        self.devices: list[dict] | None = None
        self._errors: dict[str, str] = {}
        self._follow_names: list[str] = []
        self._ticks = 0
        self._quiet_select = False
        self._last_state: str | None = None
        self.choices = {k: v for k, v in CHOICES.items() if k not in BAR_FIELDS}
        self._shown: dict[str, Any] = {}  # the working config as the form last showed it
        self._auto_name = "<data>-<template>-<date>-<time>"

    # -- layout -------------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        helps = field_help()
        defaults = _defaults()
        with TabbedContent(id="train-tabs", initial="train-config"):
            with TabPane("Config", id="train-config"):
                with Horizontal(id="launch-bar"):
                    yield Label("Session", classes="bar-label")
                    yield Input(id="f-name", compact=True, placeholder="blank: generated",
                                tooltip="Session folder name; blank for <data>-<template>-<date>-<time>")
                    yield Label("Device", classes="bar-label")
                    yield Select([("auto", "auto"), ("cpu", "cpu")], value="auto",
                                 allow_blank=False, id="f-device", compact=True,
                                 tooltip=helps.get("device", ""))
                    yield Button("Launch ^s", id="launch", variant="primary", compact=True)
                yield Static(id="form-summary")
                yield Static(id="form-plan")
                folded = self._folded()
                with VerticalScroll(id="form", can_focus=False):
                    for group, (title, names) in GROUPS.items():
                        with Collapsible(title=title, id=f"group-{group}",
                                         collapsed=group in folded, classes="form-group"):
                            for name in names:
                                if name in BAR_FIELDS:
                                    continue
                                yield FieldRow(name, self._editor(name, defaults[name]),
                                               helps.get(name, ""))
                yield Static(id="field-help")
            with TabPane("Run", id="train-run", classes="-empty"):
                with Horizontal(id="run-head"):
                    yield Select([], prompt="no session yet", id="follow", compact=True,
                                 allow_blank=True, tooltip="The session this view follows (ctrl+n: next)")
                    yield Static(id="run-state")
                with Horizontal(id="run-progress-row"):
                    yield ProgressBar(id="run-progress", show_eta=False)
                    yield Static(id="run-eta")
                yield Static(id="run-stats")
                yield Static(id="run-alert")
                yield Static("No training run yet.\n\nFill in the Config view (ctrl+o) and press "
                             "ctrl+s to launch one.", id="run-empty")
                with Container(id="run-main"):
                    yield LossPlot(id="run-plot")
                    with Container(id="run-side"):
                        with VerticalScroll(id="run-samples-box"):
                            yield Static(id="run-samples")
                        yield SessionLog(id="run-log")

    # -- the form's groups and jumping to a field ------------------------------------------
    def _folded(self) -> set[str]:
        return set(self.app.state.folded)  # type: ignore[attr-defined]

    @on(Collapsible.Toggled)
    def _group_toggled(self, event: Collapsible.Toggled) -> None:
        groups = [g for g in GROUPS if self.query_one(f"#group-{g}", Collapsible).collapsed]
        self.app.state.folded = groups  # type: ignore[attr-defined]
        self.app.save_state()  # type: ignore[attr-defined]
        self._group_titles()

    def _group_titles(self) -> None:
        """A folded group's title lists its fields that differ from the defaults, so a
        folded form still shows the whole config ("Schedule · max_steps 600 · lr 0.001")."""
        values, errors = self.read_form()
        defaults = _defaults()
        for group, (title, names) in GROUPS.items():
            box = self.query_one(f"#group-{group}", Collapsible)
            bad = [n for n in names if n in self._errors]
            changed = [f"{n} {_brief(values.get(n))}" for n in names
                       if n not in errors and n not in BAR_FIELDS and n not in CONTEXT_FIELDS
                       and values.get(n) != defaults[n]]
            parts = ([f"✖ {', '.join(bad)}"] if bad else []) + (changed if box.collapsed else [])
            text = " · ".join([title] + parts)
            box.title = text if len(text) <= 110 else text[:109] + "…"

    def jump_to(self, name: str) -> bool:
        """Unfold the field's group, show the Config view, focus the field."""
        group = next((g for g, (_, names) in GROUPS.items() if name in names), None)
        if group is None and name not in ("name", "device"):
            return False
        self.query_one("#train-tabs", TabbedContent).active = "train-config"
        if group is not None:
            self.query_one(f"#group-{group}", Collapsible).collapsed = False
        target = self.query_one("#f-name" if name == "name" else f"#f-{name}")
        self.call_after_refresh(lambda: (target.focus(), target.scroll_visible(animate=False)))
        return True

    def action_find_field(self) -> None:
        from .dialogs.find_field import FindFieldDialog

        helps = field_help()
        names = [n for _, ns in GROUPS.values() for n in ns]
        self.app.push_screen(FindFieldDialog([(n, helps.get(n, "")) for n in names]),
                             lambda name: self.jump_to(name) if name else None)

    def _editor(self, name: str, default: Any) -> Widget:
        wid = f"f-{name}"
        choices = self.choices.get(name)
        if choices:
            return Select([(c, c) for c in choices], value=default if default in choices else choices[0],
                          allow_blank=False, id=wid, compact=True)
        if name == "sample_prompts":
            return TextArea("\n".join(default), id=wid, compact=True, soft_wrap=True,
                            show_line_numbers=False, highlight_cursor_line=False,
                            placeholder="one prompt per line")
        suggester = None
        if name == "template":
            from workbench.templates import template_names

            suggester = SuggestFromList(template_names(), case_sensitive=False)
        elif name == "format":
            from workbench.data.formats import format_names

            suggester = SuggestFromList(format_names(), case_sensitive=False)
        elif name == "model":
            suggester = SuggestFromList(["scratch", "demo-base", "gpt2", "distilgpt2", "gpt2-medium"],
                                        case_sensitive=False)
        elif name == "tokenizer":
            suggester = SuggestFromList(["gpt2", "bytes"], case_sensitive=False)
        if name in AUTO_ZERO:
            suggester = SuggestFromList(["auto"], case_sensitive=False)
            return Input("auto" if not default else _text(default), id=wid, compact=True,
                         suggester=suggester, placeholder="auto")
        return Input(_text(default), id=wid, compact=True, suggester=suggester)

    def on_mount(self) -> None:
        self.query_one("#run-samples-box").border_title = "Samples"
        self.query_one("#run-log").border_title = "train.log"
        self._prefill_from_context()
        self.validate_form()
        self.run_job("devices", self._describe_devices, on_done=self._devices_ready,
                     label="looking for GPUs")
        self._reattach()
        self.set_interval(self.POLL_SECONDS, self._tick)

    # -- the form -----------------------------------------------------------------------------
    def _widget(self, name: str) -> Widget:
        return self.query_one(f"#f-{name}")

    def get_field(self, name: str) -> str:
        w = self._widget(name)
        if isinstance(w, Select):
            return "" if w.value is Select.BLANK else str(w.value)
        if isinstance(w, TextArea):
            return w.text
        return w.value  # type: ignore[attr-defined]

    def set_field(self, name: str, value: Any) -> None:
        """Put a value in the form (a list for sample_prompts; numbers as numbers or text)."""
        w = self._widget(name)
        if name in AUTO_ZERO and value in (0, 0.0, "0"):
            value = "auto"
        if isinstance(w, Select):
            value = str(value)
            if name == "device" and value not in [v for _, v in self._device_options()]:
                value = "auto"
            w.value = value
        elif isinstance(w, TextArea):
            w.text = "\n".join(value) if isinstance(value, list) else str(value)
        else:
            w.value = _text(value)  # type: ignore[attr-defined]

    def set_form(self, **values: Any) -> None:
        """Fill several fields and re-validate (used by ctrl+b and by tests)."""
        for name, value in values.items():
            if name == "name":
                self.query_one("#f-name", Input).value = str(value)
            else:
                self.set_field(name, value)
        self._commit()
        self.validate_form()

    def _fill_from_config(self) -> None:
        """Show the working config (shared with the Batches screen): every field whose value
        changed elsewhere since the form last showed or committed it. An edit not committed
        yet is never overwritten by a change to another field."""
        config = self.app.working_config()  # type: ignore[attr-defined]
        values, errors = self.read_form()
        for f in fields(TrainConfig):
            want = getattr(config, f.name)
            if f.name == "device" or self._shown.get(f.name, _UNSET) == want:
                continue  # not changed elsewhere: the form's text stays the person's
            self._shown[f.name] = want
            if f.name not in errors and values.get(f.name) == want:
                continue
            if self._widget(f.name).has_focus and f.name in CONTEXT_FIELDS:
                continue  # being typed in: committed when it is left
            self.set_field(f.name, want)

    def _prefill_from_context(self) -> None:
        self._fill_from_config()

    def context_changed(self) -> None:
        """The working config changed elsewhere (the Batches screen, the header): show it."""
        self._fill_from_config()
        self.validate_form()
        self._poll_followed()

    def _commit(self, names: list[str] | None = None) -> None:
        """Put the form's parsed values into the working config (all fields, or `names`)."""
        values, errors = self.read_form()
        config = self.app.working_config()  # type: ignore[attr-defined]
        changes = {k: v for k, v in values.items()
                   if k not in errors and (names is None or k in names)
                   and getattr(config, k) != v}
        self._shown.update(changes)
        if changes:
            self.app.set_config(**changes)  # type: ignore[attr-defined]

    def read_form(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The form as TrainConfig keyword arguments, and the fields that do not parse."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for f in fields(TrainConfig):
            name, raw = f.name, self.get_field(f.name)
            kind = _kind(name)
            text = raw.strip()
            if name in AUTO_ZERO and text.lower() in ("auto", ""):
                text = "0"
            try:
                if kind == "int":
                    values[name] = int(text.replace("_", ""))
                elif kind == "float":
                    values[name] = float(text)
                elif kind == "list":
                    values[name] = [line.strip() for line in raw.splitlines() if line.strip()]
                else:
                    values[name] = text
            except ValueError:
                errors[name] = ("must be a whole number" if kind == "int" else "must be a number") + \
                    (f" (got {text!r})" if text else "")
        return values, errors

    def validate_form(self) -> dict[str, str]:
        """Mark every field that is wrong: those that do not parse, and every problem
        `TrainConfig.problems()` names. Returns field -> problem."""
        values, errors = self.read_form()
        defaults = _defaults()
        config = TrainConfig(**{k: (defaults[k] if k in errors else v) for k, v in values.items()})
        for name, why in config.problems().items():
            errors.setdefault(name, why)
        stem = re.sub(r"[^A-Za-z0-9]+", "-",  # as runner.new_session_name makes it
                      Path(str(values.get("data", "")).rstrip("/")).stem or "run").strip("-")[:24]
        self._auto_name = f"{stem or 'run'}-{values.get('template') or 'sft'}-<date>-<time>"
        self.query_one("#f-name", Input).tooltip = f"Session folder name; blank for {self._auto_name}"
        name_problem = self._name_problem()
        if name_problem:
            errors["name"] = name_problem
        self._errors = errors
        for row in self.query(FieldRow):
            row.set_problem(errors.get(row.field_name, ""))
        self.query_one("#f-name", Input).set_class("name" in errors, "-invalid")
        self.query_one("#f-device").set_class("device" in errors, "-invalid")
        self._group_titles()
        self._update_summary()
        self._update_field_help()
        if not errors:
            self._plan(TrainConfig(**values))
        else:
            self.query_one("#form-plan", Static).update("")
            self._plan_key = None
        return errors

    PLAN_FIELDS = ("model", "revision", "tokenizer", "n_layer", "n_head", "n_embd",
                   "n_positions", "lora_r", "lora_targets", "batch_size", "max_len", "device",
                   "dtype")

    def _plan(self, config: TrainConfig) -> None:
        """The model's size and the run's memory plan, computed in a job (it builds the
        model's shape with torch) and shown under the summary."""
        key = tuple(getattr(config, f) for f in self.PLAN_FIELDS)
        if key == getattr(self, "_plan_key", None):
            return
        self._plan_key = key
        sessions_dir = self.app.sessions_dir  # type: ignore[attr-defined]

        def job(control):
            from workbench.model.sizes import plan_for
            from workbench.recipe import resolve_auto

            try:
                resolved, lines = resolve_auto(config, sessions_dir=sessions_dir)
                return plan_for(resolved, sessions_dir), lines
            except Exception as err:  # noqa: BLE001 - a model not found yet: said at launch
                return err

        def done(plan) -> None:
            box = self.query_one("#form-plan", Static)
            if self._errors:
                return  # the form changed to something that cannot run meanwhile
            if isinstance(plan, BaseException):
                why = str(plan).split(". ")[0]
                why = why if len(why) <= 100 else why[:99] + "…"
                box.update(Content.from_markup("[dim]size: not known yet ($why)[/]", why=why))
                return
            plan, auto = plan
            verdict = plan.verdict()
            style = {"refuse": "b $error", "warn": "b $warning"}.get(verdict, "dim")
            lead = {"refuse": "✖ will not fit: ", "warn": "close to the limit: "}.get(verdict, "")
            advice = f" · try {plan.advice(config)}" if verdict else ""
            brief = not self.has_class("-wide")
            auto_line = " · ".join(auto)
            box.update(Content.from_markup(
                f"[{style}]$lead$plan$advice[/]" + ("\n[dim]$auto[/]" if auto else ""),
                lead=lead, plan=plan.describe(brief=brief), advice=advice, auto=auto_line))

        self.run_job("plan", job, on_done=done, label="sizing the model")

    def _name_problem(self) -> str:
        name = self.query_one("#f-name", Input).value.strip()
        if not name:
            return ""
        from workbench.train.runner import check_name

        try:
            check_name(name)
        except WorkbenchError as err:
            return err.message.split(": ", 1)[-1]
        if (Path(self.app.sessions_dir) / name).exists():  # type: ignore[attr-defined]
            return f"a session named {name!r} exists already"
        return ""

    def _update_summary(self) -> None:
        summary = self.query_one("#form-summary", Static)
        if self._errors:
            names = list(self._errors)
            first = names[0]
            summary.update(Content.from_markup(
                "[b $error]✖ $n to fix:[/] $names [dim]· $first: $why[/]",
                n=f"{len(names)} field{'s' if len(names) > 1 else ''}", names=", ".join(names),
                first=first, why=self._errors[first]))
        else:
            values, _ = self.read_form()
            length = (f"{values['max_steps']} steps" if values.get("max_steps")
                      else f"{_text(values.get('epochs'))} epoch(s)")
            wide = self.size.width >= 120
            summary.update(Content.from_markup(
                "[b $success]✔ ready:[/] $model [dim]on[/] $data [dim]·[/] $length [dim]· lr[/] $lr"
                + (" [dim]· ctrl+s launches[/]" if wide else ""),
                model=_short(values.get("model", ""), 24),
                data=_short(values.get("data", ""), 40 if wide else 26), length=length,
                lr=_text(values.get("lr")) if values.get("lr") else "auto"))

    def _update_field_help(self, name: str | None = None) -> None:
        if name is None:
            focused = self.focused
            name = self._field_of(focused) if focused is not None else None
        helps = field_help()
        box = self.query_one("#field-help", Static)
        if not name:
            box.update(Content.from_markup("[dim]Tab moves between fields; each field's help "
                                           "shows here. ctrl+s launches.[/]"))
            return
        problem = self._errors.get(name, "")
        text = helps.get(name, f"Session folder name; blank for {self._auto_name}"
                         if name == "name" else "")
        if problem:
            box.update(Content.from_markup("[b]$name[/]: [b $error]✖ $problem[/]\n[dim]$text[/]",
                                           name=name, problem=problem, text=text))
        else:
            box.update(Content.from_markup("[b]$name[/]: $text", name=name, text=text))

    @staticmethod
    def _field_of(widget: Widget | None) -> str | None:
        while widget is not None:
            wid = widget.id or ""
            if wid.startswith("f-"):
                return wid[2:]
            widget = widget.parent  # type: ignore[assignment]
        return None

    def on_descendant_focus(self, event) -> None:
        name = self._field_of(event.widget)
        if name:
            self._update_field_help(name)

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        name = self._field_of(event.input)
        if name and name != "name":
            if name not in CONTEXT_FIELDS:
                self._commit([name])
            self.validate_form()

    @on(TextArea.Changed)
    def _textarea_changed(self, event: TextArea.Changed) -> None:
        self._commit(["sample_prompts"])
        self.validate_form()

    def on_descendant_blur(self, event) -> None:
        name = self._field_of(event.widget)
        if name in CONTEXT_FIELDS:
            self._commit([name])

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "follow":
            if not self._quiet_select and event.value is not Select.BLANK and (
                    self.run_watch is None or event.value != self.run_watch.name):
                self.follow(str(event.value))
            return
        name = self._field_of(event.select)
        if name and (event.select.id or "").startswith("f-"):
            if name != "device":
                self._commit([name])
            self.validate_form()

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        name = self._field_of(event.input)
        if name and name != "name":
            self._commit([name])
            self.focus_next()

    @on(Button.Pressed, "#launch")
    def _launch_pressed(self) -> None:
        self.action_launch()

    # -- devices ---------------------------------------------------------------------------
    @staticmethod
    def _describe_devices(control) -> list[dict]:
        from workbench.device import describe_devices

        return describe_devices()

    def _devices_ready(self, devices: list[dict]) -> None:
        self.devices = devices
        select = self.query_one("#f-device", Select)
        current = select.value
        select.set_options(self._device_options())
        values = [v for _, v in self._device_options()]
        select.value = current if current in values else "auto"

    def _device_options(self) -> list[tuple[str, str]]:
        options = [("auto", "auto")]
        if self.devices is None:
            return options + [("cpu", "cpu")]
        for d in self.devices:
            value = d["device"]
            if d["kind"] == "cuda":
                # the config takes `cuda` (the first GPU) or, where validate allows it, cuda:N
                value = "cuda" if value == "cuda:0" else value
                if "device" in TrainConfig(data="x", device=value).problems():
                    continue
            options.append((d["label"], value))
        return options

    # -- following a session ------------------------------------------------------------------
    def _reattach(self) -> None:
        """Follow the latest running session (re-attaching after a restart), else the latest
        session of all, read-only."""
        from workbench.train.runner import running_sessions

        sessions_dir = self.app.sessions_dir  # type: ignore[attr-defined]
        try:
            running = running_sessions(sessions_dir)
        except OSError:
            running = []
        self._refresh_follow_options()
        if running:
            latest = max(running, key=lambda n: self._started(n))
            self.follow(latest, show=True)
            if len(running) > 1:
                self.notify(f"{len(running)} runs are training; following {latest} "
                            "(ctrl+n follows the next)", timeout=6)
        elif self._follow_names:
            self.follow(self._follow_names[0], show=False)

    def _started(self, name: str) -> str:
        from workbench.sessions import read_status

        status = read_status(Path(self.app.sessions_dir) / name)  # type: ignore[attr-defined]
        return str(status.get("started_at") or "")

    def _refresh_follow_options(self) -> None:
        from workbench.sessions import list_sessions

        infos = list_sessions(self.app.sessions_dir)  # type: ignore[attr-defined]
        infos.sort(key=lambda i: (i.state not in LIVE_STATES, _neg(str(i.status.get("started_at") or ""))))
        names = [i.name for i in infos]
        states = {i.name: i.state for i in infos}
        if self.run_watch is not None and self.run_watch.name not in names and self.run_watch.path.exists():
            names.insert(0, self.run_watch.name)
        key = [(n, states.get(n)) for n in names]
        if key == getattr(self, "_follow_key", None):
            return
        self._follow_key = key
        self._follow_names = names
        select = self.query_one("#follow", Select)
        options = [(Text.assemble(("● " if states.get(n) in LIVE_STATES else "  ",
                                   "green" if states.get(n) in LIVE_STATES else ""), n), n)
                   for n in names]
        self._quiet_select = True
        try:
            select.set_options(options)
            if self.run_watch is not None and self.run_watch.name in names:
                select.value = self.run_watch.name
        finally:
            self.call_after_refresh(self._unquiet)

    def _unquiet(self) -> None:
        self._quiet_select = False

    def follow(self, name: str, show: bool = True) -> None:
        """Watch session `name` in the Run view (and show that view when `show`). A long
        run's files are first read in a worker, so the keys stay responsive."""
        path = Path(self.app.sessions_dir) / name  # type: ignore[attr-defined]
        watch = SessionWatch(path)
        if watch.is_big():
            def load(control) -> SessionWatch:
                watch.poll()
                return watch

            self.run_job("follow", load, on_done=lambda w: self._follow_watch(w, show, polled=True),
                         label=f"reading {name}")
            return
        self._follow_watch(watch, show)

    def _follow_watch(self, watch: SessionWatch, show: bool, polled: bool = False) -> None:
        name = watch.name
        self.run_watch = watch
        self._last_state = None
        self.query_one("#run-log", SessionLog).clear()
        self.query_one("#train-run").remove_class("-empty")
        self._refresh_follow_options()
        select = self.query_one("#follow", Select)
        if name in self._follow_names and select.value != name:
            self._quiet_select = True
            select.value = name
            self.call_after_refresh(self._unquiet)
        self._poll_followed(initial=True, polled=polled)
        if show:
            self.query_one("#train-tabs", TabbedContent).active = "train-run"
        self.refresh_bindings()

    @property
    def followed(self) -> str | None:
        return self.run_watch.name if self.run_watch is not None else None

    def _tick(self) -> None:
        self._ticks += 1
        if self not in self.app.screen_stack:  # another mode is shown (a dialog above is fine)
            return
        self._poll_followed()
        if self._ticks % 5 == 0:
            self._refresh_follow_options()

    def _poll_followed(self, initial: bool = False, polled: bool = False) -> None:
        watch = self.run_watch
        if watch is None or not self.is_mounted:
            return
        changed = set() if polled else watch.poll()
        if initial:
            changed |= {"status", "metrics", "evals", "samples", "log"}
        if not changed:
            return
        if changed & {"status", "metrics", "evals"}:
            self._show_progress()
        if changed & {"metrics", "evals", "status"}:
            self._show_plot()
        if "samples" in changed:
            self._show_samples()
        if initial:
            self.query_one("#run-log", SessionLog).set_lines(watch.log)
        elif "log" in changed:
            self.query_one("#run-log", SessionLog).append(watch.new_log_lines)
        state = watch.state
        if self._last_state is not None and state != self._last_state:
            self._announce(state)
        if state != self._last_state:
            self.refresh_bindings()
            self._refresh_follow_options()
        self._last_state = state

    def on_resize(self) -> None:
        self.call_after_refresh(self._update_summary)
        if self.run_watch is not None:
            self.call_after_refresh(self._show_progress)

    def _announce(self, state: str) -> None:
        watch = self.run_watch
        assert watch is not None
        s = watch.status
        if state == "finished":
            best = s.get("best_val_loss")
            self.notify(f"{watch.name} finished at step {watch.step}"
                        + (f"; best val loss {best:.4f} (step {s.get('best_step')})" if best is not None else ""),
                        title="Training finished", timeout=8)
        elif state == "stopped":
            self.notify(f"{watch.name} stopped at step {watch.step} "
                        f"(checkpoint {s.get('last_checkpoint') or 'none'}); ctrl+r resumes",
                        title="Training stopped", timeout=8)
        elif state == "failed":
            self.notify(failure_cause(s, watch.log) or "failed", title=f"{watch.name} failed",
                        severity="error", timeout=10)

    # -- drawing the run --------------------------------------------------------------------
    def _show_progress(self) -> None:
        watch = self.run_watch
        assert watch is not None
        s = watch.status
        state = watch.state
        step, max_steps = watch.step, watch.max_steps
        head = Content.from_markup(f"{state_markup(state)}  [b]step $step[/][dim] of $max[/]",
                                   step=str(step), max=str(max_steps or "?"))
        self.query_one("#run-state", Static).update(head)
        bar = self.query_one("#run-progress", ProgressBar)
        if max_steps:
            bar.update(total=max_steps, progress=min(step, max_steps))
        elif state in LIVE_STATES:
            bar.update(total=None)  # still counting the data: an indeterminate bar
        else:
            bar.update(total=1, progress=0)  # ended before its first step
        if state in LIVE_STATES:
            eta = watch.eta_seconds()
            eta_text = Content.from_markup("[b]ETA $eta[/] [dim]· elapsed[/] $el",
                                           el=fmt_duration(watch.elapsed_seconds()),
                                           eta=fmt_duration(eta) if eta is not None else "…")
        else:
            eta_text = Content.from_markup("[dim]trained for[/] $el",
                                           el=fmt_duration(watch.elapsed_seconds()))
        self.query_one("#run-eta", Static).update(eta_text)
        last = watch.metrics[-1] if watch.metrics else {}
        val = watch.evals[-1] if watch.evals else {}
        best = s.get("best_val_loss")
        wide = self.size.width >= 120
        gap = "  " if wide else " "
        stats = Content.from_markup(
            f"[dim]loss[/] [b]$loss[/]{gap}[dim]val[/] [b]$val[/] [dim](best[/] $best[dim])[/]{gap}"
            f"[dim]lr[/] $lr{gap}[dim]tok/s[/] $tps{gap}[dim]epoch[/] $epoch"
            + ("  [dim]grad[/] $grad  [dim]·[/] $device [dim]·[/] $template [dim]· started[/] "
               "$started" if wide else ""),
            loss=fmt_loss(last.get("loss", s.get("loss"))),
            val=fmt_loss(val.get("val_loss")),
            best=(f"{best:.4f} @{s.get('best_step')}" if isinstance(best, (int, float)) else "—"),
            lr=(f"{last['lr']:.2e}" if isinstance(last.get("lr"), (int, float)) else "—"),
            tps=fmt_rate(last.get("tokens_per_s", s.get("tokens_per_s"))),
            epoch=(f"{last['epoch']:.2f}" if isinstance(last.get("epoch"), (int, float)) else "—"),
            grad=(f"{last['grad_norm']:.2f}" if isinstance(last.get("grad_norm"), (int, float)) else "—"),
            device=str(s.get("device") or ("…" if state in LIVE_STATES else "—")),
            template=str(s.get("template") or ("…" if state in LIVE_STATES else "—")),
            started=fmt_time(s.get("started_at")))
        hardware = telemetry_line(s)  # device, memory, utilization, MFU (None: older runs)
        if hardware:
            stats = Content("\n").join([stats, Content.styled(hardware, "$text-muted")])
        self.query_one("#run-stats", Static).update(stats)
        self._show_alert()

    def _show_alert(self) -> None:
        watch = self.run_watch
        assert watch is not None
        alert = self.query_one("#run-alert", Static)
        s = watch.status
        state = watch.state
        alert.set_class(state in ("failed", "stopped"), "-shown")
        alert.set_class(state == "stopped", "-stopped")
        if state == "failed":
            at = s.get("failed_step") or s.get("step")
            cause = failure_cause(s, watch.log) or "no message"
            if self.size.width < 120:
                cause = first_sentences(cause, 110)
            alert.update(Content.from_markup(
                "[b $error]✖ failed$at:[/] [b]$cause[/]\n[b]→[/] $advice",
                at=f" at step {at}" if at else "", cause=cause, advice=advice(s, watch.log)))
        elif state == "stopped":
            alert.update(Content.from_markup("[b $warning]■ stopped[/] $advice",
                                             advice=advice(s, watch.log)))

    def _show_plot(self) -> None:
        watch = self.run_watch
        assert watch is not None
        plot = self.query_one("#run-plot", LossPlot)
        waiting = ("waiting for the first step…" if watch.live else "no metrics in this session")
        # a live run's axis runs to max_steps (the curve grows towards the edge); an ended
        # one's to where it got
        plot.set_curves([watch.curve()],
                        max_steps=watch.max_steps if watch.live else None, empty_message=waiting)

    def _show_samples(self) -> None:
        watch = self.run_watch
        assert watch is not None
        box = self.query_one("#run-samples", Static)
        step, rows = watch.latest_samples()
        outer = self.query_one("#run-samples-box")
        if not rows:
            outer.border_title = "Samples"
            box.update(Content.from_markup("[dim]none yet (sample_prompts, every sample_every "
                                           "steps)[/]"))
            return
        outer.border_title = f"Samples · step {step}"
        box.update(samples_content(rows))

    # -- actions ----------------------------------------------------------------------------------
    def allows(self, action: str, parameters: tuple) -> bool | None:
        state = self.run_watch.state if self.run_watch is not None else None
        if action == "stop":
            return state in LIVE_STATES
        if action == "resume":
            return state in ("stopped", "failed")
        if action in ("reuse_config",):
            return True if self.run_watch is not None else None
        if action == "inspect_step":
            return True if self.run_watch is not None and self.run_watch.metrics else None
        if action == "next_session":
            return True if len(self._follow_names) > 1 else None
        return True

    def focus_main(self) -> None:
        """The Config view: the first group's title; the Run view: the session picker."""
        if self.query_one("#train-tabs", TabbedContent).active == "train-run":
            self.query_one("#follow").focus()
            return
        # the first group's title, not a text field: digits still switch screens, Enter
        # folds, Tab goes into the fields, ctrl+f jumps to one
        from textual.widgets._collapsible import CollapsibleTitle

        self.query(CollapsibleTitle).first().focus()

    def action_toggle_view(self) -> None:
        tabs = self.query_one("#train-tabs", TabbedContent)
        tabs.active = "train-run" if tabs.active == "train-config" else "train-config"

    def action_launch(self) -> None:
        self._commit()
        errors = self.validate_form()
        tabs = self.query_one("#train-tabs", TabbedContent)
        if errors:
            tabs.active = "train-config"
            first = next(iter(errors))
            self.notify(f"fix {', '.join(errors)} first ({first}: {errors[first]})",
                        title="Not launched", severity="error", timeout=6)
            target = "#f-name" if first == "name" else f"#f-{first}"
            try:
                self.query_one(target).focus()
            except Exception:  # noqa: BLE001 - a field without an editor
                pass
            return
        from workbench.train.runner import running_sessions

        running = running_sessions(self.app.sessions_dir)  # type: ignore[attr-defined]
        if running:
            from .dialogs.confirm import ConfirmDialog

            self.app.push_screen(
                ConfirmDialog("Launch another run?",
                              f"{', '.join(running)} {'is' if len(running) == 1 else 'are'} still "
                              "training; both runs will share this machine.", yes="Launch"),
                lambda ok: self._launch() if ok else None)
            return
        self._launch()

    def _launch(self) -> None:
        from workbench.train import runner

        values, _ = self.read_form()
        name = self.query_one("#f-name", Input).value.strip() or None
        try:
            config = TrainConfig(**values)
            session = runner.start(config, name, sessions_dir=self.app.sessions_dir)  # type: ignore[attr-defined]
        except WorkbenchError as err:
            self.show_error(err.message, hint="(launch)")
            return
        except OSError as err:
            self.show_error(f"could not start the training process: {err}", hint="(launch)")
            return
        self.query_one("#f-name", Input).value = ""
        self.app.remember_config()  # type: ignore[attr-defined]
        self.notify(f"{session.name}: training in its own process (closing the app does not "
                    "stop it)", title="Launched", timeout=5)
        self.follow(session.name, show=True)

    def action_stop(self) -> None:
        watch = self.run_watch
        if watch is None or not watch.live:
            self.notify("the followed session is not running", severity="warning")
            return
        from .dialogs.confirm import ConfirmDialog

        name = watch.name

        path = watch.path
        self.app.push_screen(ConfirmDialog("Stop training?", yes="Stop", no="Keep training",
                                           live=lambda: stop_question(path, "ctrl+r")),
                             lambda ok: self._stop(name) if ok else None)

    def _stop(self, name: str) -> None:
        from workbench.train import runner

        try:
            sent = runner.stop(name, self.app.sessions_dir)  # type: ignore[attr-defined]
        except WorkbenchError as err:
            self.show_error(err.message, hint="(stop)")
            return
        if sent:
            self.notify(f"stopping {name}: it saves a checkpoint first", timeout=5)
        else:
            self.notify(f"{name} is not running any more", severity="warning")
        self._poll_followed()

    def action_resume(self) -> None:
        watch = self.run_watch
        if watch is None or watch.state not in ("stopped", "failed"):
            self.notify("only a stopped or failed session can be resumed", severity="warning")
            return
        from workbench.train import runner

        try:
            runner.resume(watch.name, self.app.sessions_dir)  # type: ignore[attr-defined]
        except WorkbenchError as err:
            self.show_error(err.message, hint="(resume)")
            return
        self.notify(f"resuming {watch.name} from {watch.status.get('last_checkpoint') or 'step 0'}",
                    timeout=5)
        self.follow(watch.name, show=True)

    def action_inspect_step(self) -> None:
        """Pick a step of the followed run and see its micro-batches (Batches screen)."""
        if self.run_watch is not None:
            self.app.pick_step(self.run_watch.name)  # type: ignore[attr-defined]

    def action_log_scale(self) -> None:
        log = self.query_one("#run-plot", LossPlot).toggle_log()
        self.notify(f"loss axis: {'logarithmic' if log else 'linear'}", timeout=2)

    def action_next_session(self) -> None:
        self._refresh_follow_options()
        names = self._follow_names
        if not names:
            return
        current = self.followed
        i = names.index(current) if current in names else -1
        self.follow(names[(i + 1) % len(names)], show=True)

    def action_reuse_config(self) -> None:
        watch = self.run_watch
        if watch is None:
            return
        try:
            from workbench.sessions import CONFIG

            config = TrainConfig.from_toml(watch.path / CONFIG)
        except WorkbenchError as err:
            self.show_error(err.message)
            return
        self.set_form(**config.to_dict())
        self.query_one("#train-tabs", TabbedContent).active = "train-config"
        self.notify(f"the config of {watch.name} is in the form: change it, then ctrl+s",
                    timeout=5)

    def commands(self):
        yield ScreenCommand("Train: launch", "Start training with the form's config", self.action_launch)
        yield ScreenCommand("Train: find a field", "Jump to a field of the form (ctrl+f)",
                            self.action_find_field)
        helps = field_help()
        for _, names in GROUPS.values():
            for name in names:
                yield ScreenCommand(f"Train field: {name}", helps.get(name, "")[:80],
                                    lambda name=name: self.jump_to(name))
        yield ScreenCommand("Train: stop the followed run", "SIGTERM: it checkpoints and ends stopped",
                            self.action_stop)
        yield ScreenCommand("Train: resume the followed run", "Continue from the last checkpoint",
                            self.action_resume)
        yield ScreenCommand("Train: reuse the followed run's config", "Copy it into the form",
                            self.action_reuse_config)
        yield ScreenCommand("Train: follow the next session", "Cycle through the sessions",
                            self.action_next_session)
        yield ScreenCommand("Train: config / run view", "Flip between the form and the run",
                            self.action_toggle_view)
        yield ScreenCommand("Train: log / linear loss axis", "Flip the plot's loss axis",
                            self.action_log_scale)
        yield ScreenCommand("Train: inspect a step's batch", "Pick a step (its loss spikes are "
                            "offered) and see what it trained on (ctrl+g)",
                            self.action_inspect_step)


# -- helpers ------------------------------------------------------------------------------------
def _neg(text: str) -> str:
    """Sort key for newest-first on ISO strings."""
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def _short(value: str, limit: int) -> str:
    return value if len(value) <= limit else "…" + value[-(limit - 1):]
