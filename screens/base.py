"""What every top-level screen of the workbench has: the context header, a progress line for
slow work, the error panel, the footer; and `run_job`, which runs slow work (loading a
dataset, tokenizing, balancing, loading a model) in a thread worker, shows its progress,
lets Escape cancel it, and turns any failure into one line in the error panel.

Jobs receive a `JobControl`: `progress(done, total, label)` (thread-safe and throttled: a slow
UI only sees the latest), and `cancelled` to stop early at the next convenient point.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label, ProgressBar
from textual.worker import Worker, WorkerState

from .widgets.context_bar import ContextBar
from .widgets.error_panel import ErrorPanel
from .widgets.key_bar import KeyBar


@dataclass
class ScreenCommand:
    """An action of the current screen offered by the command palette."""

    title: str
    help: str
    callback: Callable[[], Any]


class JobControl:
    """Handed to a job running in a thread: report progress, notice cancellation."""

    def __init__(self, screen: "WorkbenchScreen", worker_name: str) -> None:
        self._screen = screen
        self._name = worker_name
        self._event = threading.Event()
        self._last = 0.0

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()

    def progress(self, done: float | None, total: float | None = None, label: str = "") -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and (total is None or done != total):
            return  # at most ten updates a second reach the UI
        self._last = now
        try:
            self._screen.app.call_from_thread(self._screen.show_progress, label, done, total)
        except RuntimeError:  # the app is gone
            pass


class WorkbenchScreen(Screen):
    """Base of the five areas. Subclasses implement `compose_body` and may add commands."""

    TITLE: ClassVar[str] = ""
    BINDINGS = [
        Binding("escape", "escape", "Hide the error / leave a text field (then 1-5 switch "
                "screens)", show=False, id="escape"),
        # its own key, shown only while there is something to cancel (Escape leaves fields)
        Binding("ctrl+c", "cancel_job", "Cancel job", id="cancel-job", priority=True,
                tooltip="Cancel what is running (loading, tokenizing, generating)"),
    ]
    # the widget focused when the screen is shown (a CSS selector); "" leaves focus alone
    MAIN: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[str, tuple[JobControl, Callable[[Any], None] | None, str]] = {}

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield ContextBar(self.TITLE)
        yield from self.compose_body()
        # One container above the footer: widgets docked to the same edge overlap in
        # Textual, and a job bar or an error docked like the footer would hide under it.
        with Vertical(id="bottom"):
            with Horizontal(id="job"):
                yield Label("", id="job-label")
                yield ProgressBar(id="job-progress", show_eta=False)
            yield ErrorPanel(id="errors")
            yield KeyBar(id="keys")

    def compose_body(self) -> ComposeResult:
        yield from ()

    def focus_main(self) -> None:
        """Focus the screen's main control (shown from another screen: a field focused
        last time must not catch what is typed next)."""
        if not self.MAIN:
            return
        try:
            widget = self.query_one(self.MAIN)
        except Exception:  # noqa: BLE001 - not composed (yet), or hidden in this view
            return
        if widget.focusable:
            widget.focus()

    # -- context ----------------------------------------------------------------------------
    def on_screen_resume(self) -> None:
        self.query_one(ContextBar).refresh_context()
        self.context_changed()

    def context_changed(self) -> None:
        """The app's context (data, template, model, session) may have changed: reload what
        depends on it. Called when the screen comes back and when the context is set."""

    # -- jobs -------------------------------------------------------------------------------
    def run_job(self, name: str, fn: Callable[[JobControl], Any], *,
                on_done: Callable[[Any], None] | None = None, label: str = "") -> Worker:
        """Run `fn(control)` in a thread worker named `name` (a new job of the same name
        cancels the old one). `on_done(result)` runs on the UI thread on success."""
        old = self._jobs.get(name)
        if old:
            old[0].cancel()
        control = JobControl(self, name)
        self._jobs[name] = (control, on_done, label)
        self.show_progress(label or name, None, None)
        worker = self.run_worker(lambda: fn(control), name=name, group=name, thread=True,
                                 exclusive=True, exit_on_error=False, description=label or name)
        return worker

    def show_progress(self, label: str, done: float | None, total: float | None) -> None:
        bar = self.query_one("#job-progress", ProgressBar)
        self.query_one("#job-label", Label).update(f"{label}  (Ctrl+C cancels) ")
        bar.update(total=total, progress=done or 0)
        job = self.query_one("#job")
        if not job.has_class("-running"):
            job.add_class("-running")
            self.refresh_bindings()  # the footer shows ^c Cancel job

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "cancel_job":
            return self.cancellable()  # False: the key goes on to the field (copy) or app
        return self.allows(action, parameters)

    def allows(self, action: str, parameters: tuple) -> bool | None:
        """A screen's own `check_action`: True, None (shown dimmed) or False (hidden)."""
        return True

    def cancellable(self) -> bool:
        """Whether Ctrl+C has something to cancel here (a screen adds its own work)."""
        return self.busy

    def action_cancel_job(self) -> None:
        self.cancel_work()

    def cancel_work(self) -> bool:
        """Cancel what runs on this screen (Ctrl+C); a screen with work of its own (answers
        being generated) extends it. True when something was cancelled."""
        return self.cancel_jobs()

    def _job_finished(self) -> None:
        if not any(not c.cancelled for c, _, _ in self._jobs.values()):
            self.query_one("#job").remove_class("-running")
            self.refresh_bindings()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        name = event.worker.name
        if name not in self._jobs:
            return
        control, on_done, label = self._jobs[name]
        if event.state == WorkerState.SUCCESS:
            del self._jobs[name]
            self._job_finished()
            if control.cancelled:
                return
            if on_done is not None:
                try:
                    on_done(event.worker.result)
                except Exception as err:  # noqa: BLE001 - a UI callback must not kill the app
                    self.show_error(describe_error(err))
                    log_traceback(err)
        elif event.state == WorkerState.ERROR:
            del self._jobs[name]
            self._job_finished()
            if not control.cancelled:
                err = event.worker.error
                self.show_error(describe_error(err), hint=f"({label or name})")
                log_traceback(err)
        elif event.state == WorkerState.CANCELLED:
            self._jobs.pop(name, None)
            self._job_finished()

    def cancel_jobs(self) -> bool:
        running = [c for c, _, _ in self._jobs.values() if not c.cancelled]
        for control in running:
            control.cancel()
        for worker in list(self.workers):
            worker.cancel()
        self._jobs.clear()
        self._job_finished()
        if running:
            self.notify("cancelled", timeout=2)
        return bool(running)

    @property
    def busy(self) -> bool:
        return any(not c.cancelled for c, _, _ in self._jobs.values())

    # -- errors -----------------------------------------------------------------------------
    def show_error(self, message: str, hint: str = "") -> None:
        self.query_one(ErrorPanel).show(message, hint)

    def action_escape(self) -> None:
        """Escape does the first that applies: hide the error panel, leave the text field
        that has focus (for the screen's main control, or for none when that field is the
        main control: then 1-5 switch screens). It never cancels a job: Ctrl+C does."""
        panel = self.query_one(ErrorPanel)
        if panel.shown:
            panel.hide()
            return
        from textual.widgets import Input, TextArea

        focused = self.focused
        if isinstance(focused, (Input, TextArea)):
            main = self.query(self.MAIN).first() if self.MAIN else None
            if main is not None and main is not focused and main.focusable:
                main.focus()
            else:
                self.set_focus(None)

    # -- the command palette -------------------------------------------------------------------
    def commands(self) -> Iterable[ScreenCommand]:
        """The main actions of this screen, for the command palette."""
        return ()


def describe_error(err: BaseException | None) -> str:
    """One line for any exception: a WorkbenchError's own message, else type and message."""
    from workbench.errors import WorkbenchError, one_line

    from .terms import app_terms

    if err is None:
        return "unknown error"
    if isinstance(err, WorkbenchError):
        return one_line(app_terms(err.message), 400)
    return one_line(f"{type(err).__name__}: {err}", 400)


def log_traceback(err: BaseException | None) -> None:
    """Tracebacks go to a log file for bug reports, never to the screen."""
    if err is None:
        return
    from workbench.data.loaders import cache_dir

    try:
        path: Path = cache_dir() / "ui-errors.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
            fh.write("".join(traceback.format_exception(type(err), err, err.__traceback__)))
    except OSError:
        pass
