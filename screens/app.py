"""The workbench app shell: five areas as Textual modes (Data, Batches, Train, Chat,
Sessions) switched with F2-F6 from anywhere (Alt+1-5 too, and 1-5 outside text fields), a
context header, F1 help, the command palette (Ctrl+P) with
each screen's main actions, themes, and the state that persists between launches.

`make_app(...)` builds the app for `workbench` and for tests (which pass fixture folders and
a state file of their own). Nothing heavy is imported here: each screen module is imported
when its mode is first shown, and torch only when a screen needs a model.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Iterable

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from .state import AppState, default_state_file

# mode -> (module, class)
SCREENS = {
    "data": ("screens.data", "DataScreen"),
    "batches": ("screens.batches", "BatchesScreen"),
    "train": ("screens.train", "TrainScreen"),
    "chat": ("screens.chat", "ChatScreen"),
    "sessions": ("screens.sessions", "SessionsScreen"),
}
# TrainConfig fields that are the app's context (the header), and the state field of each
CONTEXT_FIELDS = {"data": "source", "format": "format", "split": "split", "template": "template",
                  "model": "model", "tokenizer": "tokenizer"}
TITLES = {"data": "Data", "batches": "Batches", "train": "Train", "chat": "Chat",
          "sessions": "Sessions"}
TOOLTIPS = {"data": "Browse, filter and balance the data",
            "batches": "Inspect collated batches token by token",
            "train": "Configure, launch and watch training",
            "chat": "Base vs SFT side by side",
            "sessions": "Past and running training sessions"}


def _factory(mode: str):
    def make() -> Screen:
        module, cls = SCREENS[mode]
        return getattr(importlib.import_module(module), cls)()
    return make


class WorkbenchApp(App):
    """SFT Workbench."""

    TITLE = "SFT Workbench"
    CSS_PATH = "app.tcss"
    MODES = {mode: _factory(mode) for mode in SCREENS}
    BINDINGS = [
        # F2-F6 (and Alt+1-5) switch screens from anywhere, text fields included; the
        # digits do it outside text fields (in one, they are typed)
        *[Binding(f"f{i + 2}", f"goto('{mode}')", TITLES[mode], id=f"mode-{mode}",
                  priority=True, tooltip=TOOLTIPS[mode]) for i, mode in enumerate(SCREENS)],
        *[Binding(f"alt+{i + 1}", f"goto('{mode}')", TITLES[mode], show=False, priority=True)
          for i, mode in enumerate(SCREENS)],
        *[Binding(f"{i + 1}", f"goto('{mode}')", TITLES[mode], show=False)
          for i, mode in enumerate(SCREENS)],
        Binding("f1", "help", "Help", id="help", tooltip="Every key binding"),
        Binding("ctrl+q", "quit", "Quit", id="quit", priority=True),
        Binding("q", "quit", "Quit", id="quit-q", show=False),
    ]

    def __init__(self, *, sessions_dir: str | os.PathLike | None = None,
                 state_file: str | os.PathLike | None = None, data: str | None = None,
                 data_format: str | None = None, template: str | None = None,
                 model: str | None = None, start_mode: str = "data",
                 persist: bool = True) -> None:
        super().__init__()
        from workbench.sessions import default_sessions_dir

        self.sessions_dir = Path(sessions_dir or default_sessions_dir())
        self.state_file = Path(state_file) if state_file else (default_state_file() if persist else None)
        # First launch (no saved state, nothing asked for): preload the demo kit after the
        # first frame, so every screen has something to show with no network.
        self.first_run = (self.state_file is None or not self.state_file.exists()) and \
            data is None and model is None
        self.state = AppState.load(self.state_file)
        if data is not None:
            self.state.source, self.state.format = data, data_format or ""
        if template is not None:
            self.state.template = template
        if model is not None:
            self.state.model = model
        # The demo data is written, not shipped: a saved source under data/demo/ that is gone
        # (a fresh clone, a cleaned folder) is written again after the first frame.
        self.demo_missing = "" if self.first_run else _missing_demo_source(self.state.source)
        if self.demo_missing:
            self.state.source = ""  # the screens wait for it instead of failing to open it
        self.start_mode = start_mode
        if self.state.theme in self.available_themes:
            self.theme = self.state.theme
        self.datasets: dict[tuple, object] = {}  # opened datasets, shared by the screens
        self.pending_batches: tuple | None = None  # (session, step, micro) for Batches
        self.template_problem = ""  # why the template cannot render the data (the header)

    RUNS_POLL_SECONDS = 3.0

    def on_mount(self) -> None:
        self.action_goto(self.start_mode)
        self._live_runs: set[str] | None = None
        self.set_interval(self.RUNS_POLL_SECONDS, self._poll_runs)
        for problem in self.state.problems:
            self.notify(problem, title="Saved state", severity="warning", timeout=10)
        if self.first_run:
            self.run_worker(self._prepare_demo, thread=True, exit_on_error=False,
                            name="first-run", group="first-run")
        elif self.demo_missing:
            self.run_worker(self._restore_demo, thread=True, exit_on_error=False,
                            name="demo-data", group="first-run")

    # -- runs ending while the app is open -----------------------------------------------------
    def _poll_runs(self) -> None:
        self.run_worker(self._read_runs, thread=True, exit_on_error=False, name="runs",
                        group="runs", exclusive=True)

    def _read_runs(self) -> None:
        from workbench.sessions import read_status, session_dir
        from workbench.train.runner import running_sessions

        live = set(running_sessions(self.sessions_dir))
        ended = {name: read_status(session_dir(name, self.sessions_dir)).get("state")
                 for name in (self._live_runs or set()) - live}
        self.call_from_thread(self._runs_read, live, ended)

    def _runs_read(self, live: set[str], ended: dict[str, str | None]) -> None:
        """A run that finishes becomes the Chat screen's SFT model (say so, everywhere)."""
        self._live_runs = live
        for name, state in sorted(ended.items()):
            if state == "finished" and self.state.session != name:
                self.set_context(session=name)
                self.notify(f"{name} finished: it is now the Chat screen's SFT model "
                            "(F5 Chat · Ctrl+O there picks another)", title="Training finished",
                            timeout=8)

    def _prepare_demo(self) -> None:
        from workbench.demo.build import first_run_context

        context = first_run_context(self.sessions_dir)
        self.call_from_thread(self._demo_ready, context)

    def _restore_demo(self) -> None:
        from workbench.demo.build import write_demo_data

        source = Path(self.demo_missing)
        try:
            write_demo_data(source.parent, corpus=False)
        except OSError as err:  # a read-only checkout: keep the saved source, say why
            self.state.source = str(source)
            self.call_from_thread(self.notify, f"{source}: missing, and the demo data could not "
                                  f"be written ({err.strerror or err}); press o to open a source",
                                  severity="error", timeout=10)
            return
        self.call_from_thread(self._demo_restored, str(source))

    def _demo_restored(self, source: str) -> None:
        self.demo_missing = ""
        self.set_context(source=source)
        self.notify(f"The demo data was missing: written again in {Path(source).parent}.",
                    timeout=6)

    def _demo_ready(self, context: dict) -> None:
        self.set_context(**context)
        model = f" and the demo base model ({context['model']})" if context.get("model") else ""
        self.notify(f"First run: demo data in {Path(context['source']).parent}{model} preloaded. "
                    "F1 lists the keys.", timeout=8)

    def watch_theme(self, theme: str) -> None:
        if hasattr(self, "state") and self.state.theme != theme:
            self.state.theme = theme
            self.save_state()

    def action_goto(self, mode: str) -> None:
        """Show screen `mode` with its main control focused (not the field focused there
        last time, which would catch what is typed next)."""
        from .base import WorkbenchScreen

        self.switch_mode(mode)  # a dialog open on a screen stays open there for later
        screen = self.screen
        if isinstance(screen, WorkbenchScreen):
            screen.call_later(screen.focus_main)  # after its mount, when it is new

    # -- shared context ----------------------------------------------------------------------
    def set_context(self, **changes) -> None:
        """Change the current data / template / model / tokenizer / session, remember it,
        and tell the visible screen.

        A template is chosen for a source: opening another source makes it follow the data
        again (the format's usual one, or the model's saved one), with a notice, so stories
        are never rendered in a template chosen for Alpaca rows without anyone saying so."""
        state = self.state
        if "template" in changes:
            changes.setdefault("template_for", changes.get("source", state.source)
                               if changes["template"] else "")
        elif changes.get("source") and changes["source"] != state.source and state.template \
                and state.template_for != changes["source"]:
            self.notify(f"template: follows the data again (it was {state.template}, chosen "
                        f"for {state.template_for or 'another source'}); t on the Data screen "
                        "chooses one", timeout=6)
            changes.update(template="", template_for="")
        before = (state.source, state.model)
        for key, value in changes.items():
            setattr(state, key, value)
        if changes.get("source"):
            state.remember(changes["source"])
        if (state.source, state.model) != before:
            self._switch_config(before)
        self.save_state()
        screen = self.screen
        from .base import WorkbenchScreen
        from .widgets.context_bar import ContextBar

        if isinstance(screen, WorkbenchScreen):
            screen.query_one(ContextBar).refresh_context()
            screen.context_changed()

    CONFIGS_KEPT = 20

    def _switch_config(self, before: tuple[str, str]) -> None:
        """The data or the model changed: keep the working config's fields for the pair
        left, and bring back those last used with the new pair (if any)."""
        state = self.state
        if before[0] or before[1]:
            state.configs.pop(_pair(*before), None)
            state.configs[_pair(*before)] = dict(state.train)
        remembered = state.configs.get(_pair(state.source, state.model))
        if isinstance(remembered, dict) and remembered != state.train:
            state.train = dict(remembered)
            self.notify(f"the training config last used with {Path(state.source).name or 'this data'}"
                        f" and {state.model or 'this model'} is back (Train form)", timeout=5)
        while len(state.configs) > self.CONFIGS_KEPT:
            state.configs.pop(next(iter(state.configs)))

    def remember_config(self) -> None:
        """Keep the working config for the current data and model (at launch)."""
        key = _pair(self.state.source, self.state.model)
        self.state.configs.pop(key, None)
        self.state.configs[key] = dict(self.state.train)
        self.save_state()

    def save_state(self) -> None:
        self.state.save(self.state_file)

    # -- from a loss curve to its batch -----------------------------------------------------------
    def inspect_batches(self, session: str, step: int, micro: int = 0) -> None:
        """Show the Batches screen at micro-batch `micro` of step `step` of `session`, with
        that session's config (the Train and Sessions screens call this)."""
        self.pending_batches = (session, step, micro)
        if self.current_mode == "batches":
            self.screen.context_changed()  # type: ignore[attr-defined]
        else:
            self.switch_mode("batches")

    def pick_step(self, session: str) -> None:
        """Ask which step of `session` to inspect (its loss spikes offered), then go there."""
        from workbench.sessions import METRICS, loss_spikes, session_dir
        from workbench.fsutil import read_jsonl

        from .dialogs.pick_step import PickStepDialog

        metrics = read_jsonl(session_dir(session, self.sessions_dir) / METRICS)
        steps = [m["step"] for m in metrics if isinstance(m.get("step"), int)]
        if not steps:
            self.notify(f"{session} has no trained step yet", severity="warning", timeout=4)
            return

        def chosen(step: int | None) -> None:
            if step is not None:
                self.inspect_batches(session, step)

        self.push_screen(PickStepDialog(session, loss_spikes(metrics), max(steps)), chosen)

    # -- the working training config ----------------------------------------------------------
    def working_config(self):
        """The training config the Batches screen shows and the Train form edits: the
        header's data, format, split, template, model and tokenizer, and the other fields
        as last set (the defaults otherwise). A stored value the config refuses is left out."""
        from workbench.errors import WorkbenchError
        from workbench.train.config import TrainConfig

        s = self.state
        values = {k: v for k, v in s.train.items() if k not in CONTEXT_FIELDS}
        values.update(data=s.source, format=s.format, split=s.split or "train",
                      template=s.template, tokenizer=s.tokenizer or "gpt2")
        if s.model:
            values["model"] = s.model
        try:
            return TrainConfig.from_dict(values, "state")
        except WorkbenchError:  # a field this version no longer has, a wrong type
            good = {}
            for key, value in values.items():
                try:
                    TrainConfig.from_dict({key: value})
                except WorkbenchError:
                    continue
                good[key] = value
            return TrainConfig.from_dict(good, "state")

    def set_config(self, **fields) -> None:
        """Change fields of the working config (any TrainConfig field): the header's go to
        the context, the others are kept in the state. Every screen shows the change."""
        from workbench.train.config import TrainConfig

        context = {CONTEXT_FIELDS[k]: v for k, v in fields.items() if k in CONTEXT_FIELDS}
        if context:  # first: a new data / model pair brings back its own config
            self.set_context(**context)
        defaults = TrainConfig()
        for key, value in fields.items():
            if key in CONTEXT_FIELDS:
                continue
            if value == getattr(defaults, key):
                self.state.train.pop(key, None)
            else:
                self.state.train[key] = value
        self.save_state()
        if any(k not in CONTEXT_FIELDS for k in fields) or not context:
            screen = self.screen
            from .base import WorkbenchScreen

            if isinstance(screen, WorkbenchScreen):
                screen.context_changed()

    # -- help and the command palette ---------------------------------------------------------
    def action_help(self) -> None:
        from .dialogs.help import HelpScreen

        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        from .base import WorkbenchScreen

        if isinstance(screen, WorkbenchScreen):
            for cmd in screen.commands():
                yield SystemCommand(cmd.title, cmd.help, cmd.callback)
        for mode, title in TITLES.items():
            yield SystemCommand(f"Go to {title}", f"Switch to the {title} screen",
                                lambda mode=mode: self.action_goto(mode))
        yield SystemCommand("Help", "Every key binding", self.action_help)
        yield from super().get_system_commands(screen)


def _pair(source: str, model: str) -> str:
    return f"{source}\t{model}"


def _missing_demo_source(source: str) -> str:
    """`source` when it names a demo dataset (under data/demo/) that is not on disk."""
    from workbench.demo.build import DATA_DIR

    path = Path(source) if source else None
    if path is None or path.exists() or path.parent != DATA_DIR:
        return ""
    return source


def make_app(*, sessions_dir=None, state_file=None, data=None, data_format=None, template=None,
             model=None, start_mode: str = "data", persist: bool = True) -> WorkbenchApp:
    """The app, configured; tests pass fixture folders and their own state file."""
    return WorkbenchApp(sessions_dir=sessions_dir, state_file=state_file, data=data,
                        data_format=data_format, template=template, model=model,
                        start_mode=start_mode, persist=persist)


def run_app(*, data=None, data_format=None, template=None, model=None, sessions_dir=None) -> int:
    app = make_app(data=data, data_format=data_format, template=template, model=model,
                   sessions_dir=sessions_dir)
    app.run()
    still = _running(app.sessions_dir)
    if still:
        print(f"workbench: {', '.join(still)} {'is' if len(still) == 1 else 'are'} still "
              "training in the background (quitting the app does not stop a run). Run "
              "`workbench` again to follow it on the Train screen, or `workbench sessions` to "
              "list the sessions.")
    return app.return_code or 0


def _running(sessions_dir) -> list[str]:
    from workbench.train.runner import running_sessions

    try:
        return running_sessions(sessions_dir)
    except OSError:
        return []
