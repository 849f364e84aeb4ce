"""The Chat screen: the base model (left) and the SFT model (right) answer the same prompt
side by side, streaming token by token, with identical settings; each answer ends with its
stop reason, token count, tokens/s and the Diagnose flags, its leakage and loop evidence
highlighted in the text.

* The base model is the app's current model (`workbench --model M`, the header's `model`);
  the SFT model is the current session's best checkpoint (else its latest; `NAME@step-N`
  picks one), as set on the Sessions screen. Both load in jobs; torch is imported there.
* The template is the one saved with the SFT checkpoint, so the prompt is byte for byte the
  prefix the fine-tune was trained on; both models get it. Ctrl+R shows it rendered, special
  tokens and whitespace visible. Each prompt is answered on its own (one turn), so both
  models always see the same prompt.
* Both answers are generated at once, each in a thread worker consuming
  `workbench.generate.stream_for_example`. Tokens reach the UI as `Token` messages that
  coalesce: the thread posts one only when the UI has taken the previous, and a pending one
  replaces an older one of the same answer (toolong's `can_replace`), so a fast model never
  floods the UI. Started / Token / Finished / Failed messages, the input locked while the
  models answer, and the history following the newest answer only when it was already
  scrolled to the bottom are elia's habits.
* Ctrl+C cancels the answers (the threads stop after their current token); the prompt box
  is locked until both have stopped.
* Ctrl+T compares the two models over a set (a prompts file, or the current data's
  validation rows) with `workbench.compare.compare`, in a job with progress, and shows the
  summary table `workbench compare` prints.

Keys: Enter send · Shift+Enter / Ctrl+J new line · Ctrl+C cancel · Ctrl+R rendered prompt ·
Ctrl+T compare over a set · Ctrl+L clear history · Ctrl+S settings · Ctrl+B base model ·
Ctrl+O SFT session.
"""

from __future__ import annotations

import threading
import time
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Static

from .base import ScreenCommand, WorkbenchScreen, describe_error, log_traceback
from .terms import app_terms
from .widgets.chat_answer import SIDES, AnswerView, ExchangeView, visible_prompt
from .widgets.chat_prompt import PromptArea
from .widgets.chat_settings import SettingsBar

SIDE_NAMES = {"base": "BASE", "sft": "SFT"}
UI_INTERVAL = 1 / 30  # seconds: the most often one answer's text is redrawn while streaming
EMPTY_HINT = ("Type a prompt below and press Enter: the base model (left) and the SFT model "
              "(right) answer it at the same time, with the same template and settings. "
              "Flags under each answer: leakage (a role marker in the answer), looping, "
              "no-stop (cut by the token limit), empty, echo.\n\n"
              "Ctrl+C cancels · Ctrl+R shows the rendered prompt · Ctrl+T compares the two over "
              "a set of prompts · Ctrl+P lists every action.")


def sft_spec(session: str) -> str:
    """The model spec of a session's checkpoint: its best (load_model falls back to the
    latest when there is no best); `NAME@latest` / `NAME@step-N` as given."""
    session = session.strip()
    if not session:
        return ""
    name = session.removeprefix("session:")
    return name if "@" in name else f"{name}@best"


class _Generation:
    """One answer being generated: where it goes, how to cancel it, and the text so far
    (written by the worker thread, read by the UI)."""

    def __init__(self, side: str, exchange: ExchangeView) -> None:
        self.side = side
        self.exchange = exchange
        self.cancel = threading.Event()
        self._lock = threading.Lock()
        self._text = ""
        self._tokens = 0
        self._pending = False
        self._last_post = 0.0
        self.done = False

    @property
    def view(self) -> AnswerView:
        return self.exchange.answer(self.side)

    def add(self, text: str) -> bool:
        """Take a token; True when the UI should be told: it has taken the last news, and
        that was at least UI_INTERVAL ago (a fast model fills many tokens per update)."""
        now = time.monotonic()
        with self._lock:
            self._text += text
            self._tokens += 1
            if self._pending or now - self._last_post < UI_INTERVAL:
                return False
            self._pending, self._last_post = True, now
            return True

    def take(self) -> tuple[str, int]:
        with self._lock:
            self._pending = False
            return self._text, self._tokens


class _CancelFlag:
    """A job's cancellation as the `threading.Event` the engine polls (`is_set`)."""

    def __init__(self, control) -> None:
        self.control = control

    def is_set(self) -> bool:
        return self.control.cancelled


class ChatScreen(WorkbenchScreen):
    """Base vs SFT side by side."""

    TITLE = "Chat"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    mask_timing: ClassVar[bool] = False
    """Leave tokens/s out of the answers (snapshot tests set it: timings vary)."""
    device: ClassVar[str] = "auto"
    """Where the models load: auto (CUDA, then MPS, then the CPU), cuda, mps or cpu."""

    DEFAULT_CSS = """
    ChatScreen #chat {
        height: 1fr;
    }
    ChatScreen #chat-heads {
        height: auto;
        background: $panel;
    }
    ChatScreen .pane-head {
        width: 1fr;
        height: auto;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    ChatScreen .pane-head.-hint {
        text-wrap: wrap;
        max-height: 6;
    }
    ChatScreen #head-base {
        border-right: vkey $primary 40%;
    }
    ChatScreen #chat-history {
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    ChatScreen #chat-empty {
        color: $text-muted;
        padding: 1 2;
    }
    ChatScreen #chat-preview {
        display: none;
        height: auto;
        max-height: 10;
        padding: 0 1;
        border-top: solid $accent 50%;
        color: $text-muted;
    }
    ChatScreen.-show-prompt #chat-preview {
        display: block;
    }
    ChatScreen.-short #chat-preview {
        max-height: 3;  /* 80x24: the answers keep most of the rows */
    }
    ChatScreen.-show-prompt ExchangeView > .rendered {
        display: block;
    }
    ChatScreen #chat-status {
        height: 1;
        padding: 0 1;
        color: $text-muted;
        background: $boost;
        display: none;
    }
    ChatScreen.-generating #chat-status {
        display: block;
    }
    """

    BINDINGS = [
        Binding("ctrl+r", "toggle_prompt", "Show prompt", id="chat-rendered",
                tooltip="Show the prompt exactly as the template renders it"),
        Binding("ctrl+t", "compare_set", "Compare set", id="chat-compare",
                tooltip="Run N prompts through both models and show the flag rates"),
        Binding("ctrl+l", "clear_history", "Clear", id="chat-clear",
                tooltip="Clear the conversation history"),
        Binding("ctrl+s", "settings", "Settings", id="chat-settings",
                tooltip="Go to the settings (temperature, top-k, top-p, seed, max new tokens); "
                        "again: back to the prompt"),
        Binding("ctrl+b", "set_model('base')", "Base model", id="chat-base", show=False,
                tooltip="Choose the base model"),
        Binding("ctrl+o", "set_model('sft')", "SFT model", id="chat-sft",
                tooltip="Choose the SFT session"),
    ]

    # -- messages from the generation threads (elia's pattern) ----------------------------------
    class Started(Message):
        def __init__(self, gen: _Generation) -> None:
            super().__init__()
            self.gen = gen

    class Token(Message):
        """New text for an answer; a pending one is superseded by the next (coalescing)."""

        def __init__(self, gen: _Generation) -> None:
            super().__init__()
            self.gen = gen

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ChatScreen.Token) and message.gen is self.gen

    class Finished(Message):
        def __init__(self, gen: _Generation, result, diagnosis) -> None:
            super().__init__()
            self.gen, self.result, self.diagnosis = gen, result, diagnosis

    class Failed(Message):
        def __init__(self, gen: _Generation, error: BaseException) -> None:
            super().__init__()
            self.gen, self.error = gen, error

    # -------------------------------------------------------------------------------------------
    def __init__(self) -> None:
        super().__init__()
        self._spec: dict[str, str | None] = {side: None for side in SIDES}
        self._key: dict[str, str | None] = {side: None for side in SIDES}
        self._models: dict[str, Any] = {side: None for side in SIDES}
        self._status: dict[str, str] = {side: "missing" for side in SIDES}
        self._problem: dict[str, str] = {side: "" for side in SIDES}
        self._gens: list[_Generation] = []
        self._count = 0
        self._comparing = False
        self.last_compare: tuple[Any, str] | None = None

    def compose_body(self) -> ComposeResult:
        with Vertical(id="chat"):
            yield SettingsBar(id="chat-settings-bar")
            with Horizontal(id="chat-heads"):
                yield Static(id="head-base", classes="pane-head")
                yield Static(id="head-sft", classes="pane-head")
            with VerticalScroll(id="chat-history"):
                yield Static(EMPTY_HINT, id="chat-empty")
            yield Static("", id="chat-status")
            yield Static("", id="chat-preview")
            yield PromptArea(id="chat-prompt")

    MAIN = "#chat-prompt"

    def on_mount(self) -> None:
        self.query_one(PromptArea).focus()

    @property
    def generating(self) -> bool:
        """True while an answer is being generated (the prompt box is locked)."""
        return bool(self._gens)

    # -- models ------------------------------------------------------------------------------
    def context_changed(self) -> None:
        state = self.app.state  # type: ignore[attr-defined]
        self._want("base", state.model.strip(), shared=self._shares_base(state))
        self._want("sft", sft_spec(state.session))
        self._refresh_heads()

    def _shares_base(self, state) -> bool:
        """The SFT session is a LoRA adapter of the base model: the base is its own base
        with the adapter off (one copy of the weights, two forward passes)."""
        from workbench.model.load import lora_base_of, same_model

        spec = sft_spec(state.session)
        base = lora_base_of(spec, sessions_dir=self.app.sessions_dir) if spec else None  # type: ignore[attr-defined]
        return bool(base and state.model.strip() and same_model(base, state.model.strip()))

    def _want(self, side: str, spec: str, shared: bool = False) -> None:
        key = f"{spec} (shared)" if shared else spec
        if key == self._key[side] and self._status[side] != "cancelled":
            return
        self._key[side] = key
        self._spec[side], self._models[side], self._problem[side] = spec, None, ""
        if not spec:
            self._status[side] = "missing"
            return
        if shared:  # waits for the SFT model, then uses its base
            self._status[side] = "shared"
            self._share_base()
            return
        self._status[side] = "loading"
        sessions_dir = self.app.sessions_dir  # type: ignore[attr-defined]
        device = self.device

        def load(control):
            from workbench.model import load_model

            try:
                return load_model(spec, device=device, sessions_dir=sessions_dir)
            except Exception as err:  # noqa: BLE001 - shown in the pane and the error panel
                return err

        self.run_job(f"load-{side}", load, on_done=partial(self._loaded, side, spec),
                     label=f"loading the {SIDE_NAMES[side]} model {spec}")

    def _loaded(self, side: str, spec: str, value) -> None:
        if spec != self._spec[side]:
            return  # the context changed while it loaded
        if isinstance(value, BaseException):
            self._status[side] = "error"
            self._problem[side] = describe_error(value)
            log_traceback(value)
            self.show_error(f"{SIDE_NAMES[side]}: {self._problem[side]}",
                            hint=self._what_to_do(side))
        else:
            self._status[side], self._models[side] = "ready", value
            if side == "sft":
                self._share_base()
        self._refresh_heads()

    def _share_base(self) -> None:
        if self._status["base"] == "shared" and self._models["sft"] is not None and \
                self._models["sft"].info.get("lora"):
            from workbench.model.load import base_view

            self._models["base"] = base_view(self._models["sft"])

    def _what_to_do(self, side: str) -> str:
        if side == "base":
            return ("Set the base model with `workbench --model M` (a Hub id, a folder, a "
                    "session) or Ctrl+B.")
        return ("Pick the SFT session on the Sessions screen (F6) or with Ctrl+O; train one on "
                "the Train screen (F4).")

    def _refresh_heads(self) -> None:
        for side in SIDES:
            head = self.query_one(f"#head-{side}", Static)
            text = Text(no_wrap=False)
            text.append(f" {SIDE_NAMES[side]} ", style="bold reverse")
            spec = self._spec[side] or ""
            status = self._status[side]
            hint = False
            if status == "missing":
                text.append(" not set", style="bold yellow")
                text.append("\n" + self._what_to_do(side), style="italic")
                hint = True
            else:
                text.append(f" {spec}", style="bold")
                loaded = self._models[side]
                if status == "shared":
                    text.append("  the SFT adapter's base, shared (adapter off)" if loaded
                                else "  waiting for the SFT session (its base is shared)",
                                style="dim" if loaded else "italic")
                elif status == "ready" and loaded is not None:
                    extra = [loaded.info.get("checkpoint")] if side == "sft" else []
                    if side == "sft" and loaded.info.get("lora"):
                        extra.append(f"LoRA r={loaded.info['lora']['r']}")
                    params = loaded.info.get("params")
                    if params:
                        extra.append(_params(params))
                    extra.append(loaded.device)
                    text.append("  " + " · ".join(str(e) for e in extra if e), style="dim")
                elif status == "loading":
                    text.append("  loading…", style="italic")
                elif status == "cancelled":
                    text.append("  loading cancelled (Ctrl+P: Reload models)", style="yellow")
                else:
                    text.append("  could not load", style="bold red")
                    problem = self._problem[side]
                    if len(problem) > 70:
                        problem = problem[:69] + "… (more below)"
                    text.append("\n" + problem, style="italic")
                    text.append("\n" + self._what_to_do(side), style="italic dim")
                    hint = True
            head.set_class(hint, "-hint")
            head.update(text)
            head.tooltip = self._models[side].source if self._models[side] is not None else None
        template, where = self._template()
        self.query_one(SettingsBar).show_template(template.name if template else None, where)
        self._refresh_preview()

    def _template(self):
        """(template, where it comes from): the SFT checkpoint's (what it was trained with),
        else the recipe's order (`workbench.recipe.resolve_template`): the header's choice,
        the base model's saved one, the data format's usual one; (None, what to do) when
        there is nothing to go on."""
        from workbench.errors import WorkbenchError
        from workbench.recipe import resolve_template

        sft = self._models["sft"]
        if sft is not None and sft.template is not None:
            return sft.template, "from the SFT checkpoint"
        state = self.app.state  # type: ignore[attr-defined]
        base = self._models["base"]
        saved = base.template if base is not None else None
        fmt = self._data_format()
        if not state.template and self._status["sft"] == "loading":
            return None, "waiting for the SFT checkpoint"
        if not state.template and (saved is None or saved.name == "text") and fmt is None:
            return None, "load an SFT session, or choose a template on the Data screen"
        try:
            template, origin = resolve_template(state.template, saved, fmt)
        except WorkbenchError as err:
            return None, app_terms(err.message)
        return template, {"chosen": "from the header", "model": "saved with the base model",
                          "format": f"the usual one for {fmt} data"}[origin]

    def _data_format(self) -> str | None:
        """The current data's format when it is open (no file is read here)."""
        state = self.app.state  # type: ignore[attr-defined]
        datasets = getattr(self.app, "datasets", {})
        ds = datasets.get((state.source, state.format or None)) if state.source else None
        return getattr(ds, "format", None) or (state.format or None)

    # -- sending ------------------------------------------------------------------------------
    def on_prompt_area_submitted(self, event: PromptArea.Submitted) -> None:
        event.stop()
        self.send(event.text)

    def action_send(self) -> None:
        self.send(self.query_one(PromptArea).text)

    def send(self, text: str) -> bool:
        """Put `text` to both loaded models; False (with the reason shown) when it cannot."""
        from workbench.compare import check_prompts, make_item
        from workbench.errors import WorkbenchError
        from workbench.templates import split_fields

        if self.generating or self._comparing:
            self.notify("wait for the answers, or Ctrl+C to cancel", timeout=2)
            return False
        prompt = text.strip()
        if not prompt:
            self.notify("type a prompt first", timeout=2)
            return False
        models = {side: m for side, m in self._models.items() if m is not None}
        if not models:
            loading = any(s == "loading" for s in self._status.values())
            self.show_error("no model is loaded yet" + (" (still loading)" if loading else ""),
                            hint="" if loading else self._what_to_do("base"))
            return False
        template, where = self._template()
        if template is None:
            self.show_error(f"no template: {where}")
            return False
        settings = self.query_one(SettingsBar)
        try:
            config = settings.config()
            prompt, fields = split_fields(prompt, template)
            item = make_item(prompt, ending=fields.pop("ending", None))
            item.example.meta.update(fields)
            check_prompts(models.values(), template, [item])
            rendered = visible_prompt(template.render_prompt(item.example))
        except WorkbenchError as err:
            self.show_error(err.message)
            return False
        self._count += 1
        exchange = ExchangeView(self._count, prompt, rendered, settings.summary())
        for side in SIDES:
            if side not in models:
                exchange.answer(side).set_missing(f"no {SIDE_NAMES[side]} model: "
                                                  + self._what_to_do(side))
        history = self.query_one("#chat-history", VerticalScroll)
        at_bottom = self._at_bottom()
        for empty in self.query("#chat-empty"):
            empty.remove()
        history.mount(exchange)
        self.query_one(PromptArea).clear()
        gens = [_Generation(side, exchange) for side in models]
        self._gens.extend(gens)
        self._lock(True)
        for gen in gens:
            self.run_worker(partial(self._generate, gen, models[gen.side], template, item, config),
                            name=f"generate-{gen.side}", group="generate", thread=True,
                            exit_on_error=False, description=f"{gen.side} answers")
        self._follow(at_bottom)
        return True

    def _generate(self, gen: _Generation, loaded, template, item, config) -> None:
        """The worker thread: stream the answer, diagnose it, post the news."""
        from workbench.compare import diagnose_answer
        from workbench.generate import GenerationResult, stream_for_example

        try:
            self.post_message(self.Started(gen))
            result = None
            for piece in stream_for_example(loaded, template, item.example, config,
                                            cancel=gen.cancel):
                if isinstance(piece, GenerationResult):
                    result = piece
                elif gen.add(piece.text):
                    self.post_message(self.Token(gen))
            diagnosis = diagnose_answer(result, template, prompt=item.prompt,
                                        requested_ending=item.ending)
            self.post_message(self.Finished(gen, result, diagnosis))
        except Exception as err:  # noqa: BLE001 - any failure ends as a message, never a crash
            log_traceback(err)
            self.post_message(self.Failed(gen, err))

    def on_chat_screen_started(self, message: Started) -> None:
        message.gen.view.stream("", 0)
        self._refresh_status()

    def on_chat_screen_token(self, message: Token) -> None:
        gen = message.gen
        if gen.done:
            return
        at_bottom = self._at_bottom()
        text, tokens = gen.take()
        gen.view.stream(text, tokens)
        self._refresh_status()
        self._follow(at_bottom)

    def on_chat_screen_finished(self, message: Finished) -> None:
        at_bottom = self._at_bottom()
        message.gen.done = True
        message.gen.view.finish(message.result, message.diagnosis)
        self._done(message.gen, at_bottom)

    def on_chat_screen_failed(self, message: Failed) -> None:
        at_bottom = self._at_bottom()
        gen = message.gen
        gen.done = True
        problem = describe_error(message.error)
        gen.view.fail(problem)
        self.show_error(f"{SIDE_NAMES[gen.side]} model: {problem}")
        self._done(gen, at_bottom)

    def _done(self, gen: _Generation, at_bottom: bool) -> None:
        if gen in self._gens:
            self._gens.remove(gen)
        if not self._gens:
            self._lock(False)
        self._refresh_status()
        self._follow(at_bottom)

    def _lock(self, on: bool) -> None:
        """Lock the prompt box and the settings while the models answer."""
        area = self.query_one(PromptArea)
        area.disabled = on
        self.query_one(SettingsBar).disabled = on
        self.set_class(on, "-generating")
        if not on:
            area.focus()
        self._refresh_status()
        self.refresh_bindings()  # ^c Cancel job in the footer while they answer

    def _refresh_status(self) -> None:
        if self._comparing:
            self.query_one("#chat-status", Static).update("comparing over a set… (Ctrl+C cancels)")
            return
        parts = []
        for gen in self._gens:
            parts.append(f"{SIDE_NAMES[gen.side]} {gen.view.tokens} tokens")
        self.query_one("#chat-status", Static).update(
            "generating: " + " · ".join(parts) + "   (Ctrl+C cancels)" if parts else "")

    # -- scrolling: follow the newest answer only when already at the bottom -------------------
    def _at_bottom(self) -> bool:
        history = self.query_one("#chat-history", VerticalScroll)
        return history.scroll_y >= history.max_scroll_y - 1

    def _follow(self, at_bottom: bool) -> None:
        if at_bottom:
            self.query_one("#chat-history", VerticalScroll).scroll_end(animate=False)

    # -- cancel -----------------------------------------------------------------------------------
    def action_cancel(self) -> None:
        self.cancel_work()

    def cancellable(self) -> bool:
        return bool(self._gens) or super().cancellable()

    def cancel_work(self) -> bool:
        """Ctrl+C: stop the answers being generated, else cancel loading and comparing
        (Escape only leaves a field: it never cancels a model's loading)."""
        if self._gens:
            for gen in self._gens:
                gen.cancel.set()
            self.notify("cancelling…", timeout=2)
            return True
        loading = [side for side in SIDES if self._status[side] == "loading"]
        comparing = self._comparing
        cancelled = super().cancel_work()
        for side in loading:
            if f"load-{side}" not in self._jobs:
                self._status[side] = "cancelled"
        if loading:
            self._refresh_heads()
        if comparing and "compare" not in self._jobs:
            self._comparing = False
            self._lock(False)
        return cancelled

    def on_unmount(self) -> None:
        for gen in self._gens:
            gen.cancel.set()

    # -- rendered prompt ----------------------------------------------------------------------------
    def action_toggle_prompt(self) -> None:
        self.toggle_class("-show-prompt")
        shown = self.has_class("-show-prompt")
        self._refresh_preview()
        if shown:  # the rendered blocks push the answers down: keep the newest in view
            history = self.query_one("#chat-history")
            self.call_after_refresh(history.scroll_end, animate=False)
        self.notify("rendered prompt shown: special tokens in magenta, ↵ newlines, · spaces"
                    if shown else "rendered prompt hidden", timeout=3)

    def on_text_area_changed(self, event) -> None:
        if self.has_class("-show-prompt"):
            self._refresh_preview()

    def _refresh_preview(self) -> None:
        if not self.has_class("-show-prompt"):
            return
        from workbench.compare import make_item
        from workbench.errors import WorkbenchError

        preview = self.query_one("#chat-preview", Static)
        template, where = self._template()
        if template is None:
            preview.update(Text(f"no template: {where}", style="italic"))
            return
        text = self.query_one(PromptArea).text.strip() or "…"
        try:
            segments = template.render_prompt(make_item(text).example)
        except WorkbenchError as err:
            preview.update(Text(app_terms(err.message), style="red"))
            return
        shown = Text()
        shown.append(f"the prompt as {template.name} renders it (what both models get):\n",
                     style="italic")
        shown.append_text(visible_prompt(segments))
        preview.update(shown)

    # -- history --------------------------------------------------------------------------------
    def action_clear_history(self) -> None:
        if self.generating:
            self.notify("wait for the answers, or Ctrl+C to cancel", timeout=2)
            return
        history = self.query_one("#chat-history", VerticalScroll)
        history.remove_children()
        history.mount(Static(EMPTY_HINT, id="chat-empty"))

    def exchanges(self) -> list[ExchangeView]:
        return list(self.query(ExchangeView))

    # -- settings and models ------------------------------------------------------------------------
    def action_settings(self) -> None:
        """Ctrl+S goes to the settings (temp first) and, pressed there, back to the prompt
        (so does Escape or Enter in a setting)."""
        if self.generating:
            return
        bar = self.query_one(SettingsBar)
        if bar.has_focus_within:
            self.query_one(PromptArea).focus()
        else:
            self.query_one("#set-temperature", Input).focus()
            self.notify("settings: Tab moves · Enter, Esc or Ctrl+S go back to the prompt",
                        timeout=3)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a setting: back to the prompt box."""
        if event.input.id and event.input.id.startswith("set-"):
            event.stop()
            self.query_one(PromptArea).focus()

    def action_set_model(self, side: str) -> None:
        from workbench.sessions import list_sessions

        from .widgets.chat_dialogs import ModelDialog

        state = self.app.state  # type: ignore[attr-defined]
        current = state.model if side == "base" else state.session
        sessions = ([s.name for s in list_sessions(self.app.sessions_dir)]  # type: ignore[attr-defined]
                    if side == "sft" else [])

        def chosen(value: str | None) -> None:
            if value is None:
                return
            if side == "base":
                self.app.set_context(model=value)  # type: ignore[attr-defined]
            else:
                self.app.set_context(session=value)  # type: ignore[attr-defined]

        self.app.push_screen(ModelDialog(side, current, sessions), chosen)

    def action_reload(self) -> None:
        self._spec = {side: None for side in SIDES}
        self._key = {side: None for side in SIDES}
        self.context_changed()

    # -- compare over a set ------------------------------------------------------------------------
    def action_compare_set(self) -> None:
        from .widgets.chat_dialogs import CompareSetDialog

        if self.generating or self._comparing:
            self.notify("wait for the answers, or Ctrl+C to cancel", timeout=2)
            return
        missing = [SIDE_NAMES[s] for s in SIDES if self._models[s] is None]
        if missing:
            self.show_error(f"compare over a set needs both models; {' and '.join(missing)} "
                            "is not loaded", hint=self._what_to_do("sft" if "SFT" in missing
                                                                   else "base"))
            return
        state = self.app.state  # type: ignore[attr-defined]
        self.app.push_screen(CompareSetDialog(state.source, state.format), self.compare_set)

    def compare_set(self, request) -> None:
        """Run a `CompareRequest` in a job; the summary opens when it is done."""
        from workbench.errors import WorkbenchError

        if request is None:
            return
        template, where = self._template()
        if template is None:
            self.show_error(f"no template: {where}")
            return
        try:
            config = self.query_one(SettingsBar).config()
        except WorkbenchError as err:
            self.show_error(err.message)
            return
        base, sft = self._models["base"], self._models["sft"]
        settings = self.query_one(SettingsBar).summary()
        from workbench.sessions import find_session

        state = self.app.state  # type: ignore[attr-defined]
        session = find_session(state.session, self.app.sessions_dir) if state.session else None  # type: ignore[attr-defined]

        def job(control):
            from workbench.compare import (compare, items_from_data, read_prompts,
                                           text_passages)

            try:
                if request.kind == "data":
                    # held out means held out: the session's own cut of its data, else the
                    # source's validation split; never training rows (it says so instead)
                    items, _ = items_from_data(request.source or None, request.n,
                                               format=request.format or None, session=session)
                else:
                    items = read_prompts(request.source)[:request.n]
                text = text_passages(request.text)[0] if request.text else None
                control.progress(0, len(items), f"comparing {len(items)} prompts")
                return compare(base, sft, template, items, config,
                               on_progress=lambda d, t, label: control.progress(d, t, label),
                               cancel=_CancelFlag(control), text=text)
            except Exception as err:  # noqa: BLE001 - shown in the error panel
                return err

        title = (f"Compare over a set · {request.source} · template {template.name} · "
                 f"{settings}")
        self._comparing = True
        self._lock(True)
        self.run_job("compare", job, on_done=partial(self._compared, title),
                     label="compare over a set")

    def _compared(self, title: str, value) -> None:
        from .widgets.chat_dialogs import CompareResultScreen

        self._comparing = False
        self._lock(False)
        if isinstance(value, BaseException):
            log_traceback(value)
            self.show_error(f"compare over a set: {describe_error(value)}")
            return
        title = f"{title} · {len(value.items)} prompts" + (" (cancelled)" if value.cancelled else "")
        self.last_compare = (value, title)
        self.app.push_screen(CompareResultScreen(value, title))

    def action_show_compare(self) -> None:
        from .widgets.chat_dialogs import CompareResultScreen

        if self.last_compare is None:
            self.notify("no comparison yet: Ctrl+T runs one", timeout=3)
            return
        self.app.push_screen(CompareResultScreen(*self.last_compare))

    # -- the command palette --------------------------------------------------------------------
    def commands(self):
        return [
            ScreenCommand("Chat: send the prompt", "Both models answer the prompt box's text",
                          self.action_send),
            ScreenCommand("Chat: cancel generation", "Stop both answers (Ctrl+C)",
                          self.action_cancel),
            ScreenCommand("Chat: show/hide the rendered prompt",
                          "The prompt as the template renders it, special tokens and "
                          "whitespace visible (Ctrl+R)", self.action_toggle_prompt),
            ScreenCommand("Chat: compare over a set…",
                          "N prompts through both models: flag rates and metrics (Ctrl+T)",
                          self.action_compare_set),
            ScreenCommand("Chat: show the last comparison", "The summary table again",
                          self.action_show_compare),
            ScreenCommand("Chat: clear history", "Remove every exchange (Ctrl+L)",
                          self.action_clear_history),
            ScreenCommand("Chat: change settings",
                          "Temperature, top-k, top-p, seed, max new tokens (Ctrl+S)",
                          self.action_settings),
            ScreenCommand("Chat: set the base model…", "A Hub id, a folder or a session (Ctrl+B)",
                          lambda: self.action_set_model("base")),
            ScreenCommand("Chat: set the SFT session…", "A training session's checkpoint (Ctrl+O)",
                          lambda: self.action_set_model("sft")),
            ScreenCommand("Chat: reload models", "Load both models again", self.action_reload),
        ]


def _params(n: int) -> str:
    if n >= 1e9:
        return f"{n / 1e9:.1f}B params"
    if n >= 1e6:
        return f"{n / 1e6:.0f}M params" if n >= 1e7 else f"{n / 1e6:.1f}M params"
    return f"{n / 1e3:.0f}K params"
