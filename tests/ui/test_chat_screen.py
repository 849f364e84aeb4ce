"""The Chat screen with two tiny scripted models: a base model that loops and an SFT
session checkpoint that leaks "### Instruction:" (alpaca) or "<|user|>" (chatml). Both
panes fill and the flags appear; the input is locked while they answer; Escape cancels;
"compare over a set" shows the numbers `workbench compare` computes; missing and broken
models say what to do; snapshots at 80x24, 120x36 and 200x60 after a finished, greedy
exchange, with the rendered prompt, and of the model dialog."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from screens.app import make_app  # noqa: E402
from screens.chat import ChatScreen, ExchangeView  # noqa: E402
from screens.widgets.chat_dialogs import CompareResultScreen, CompareSetDialog  # noqa: E402
from screens.widgets.chat_prompt import PromptArea  # noqa: E402
from screens.widgets.chat_settings import SettingsBar  # noqa: E402
from screens.widgets.error_panel import ErrorPanel  # noqa: E402
from workbench.collate import encode_segments, tokenizer_for  # noqa: E402
from workbench.data.records import Example, Message  # noqa: E402
from workbench.model import save_model  # noqa: E402
from workbench.model.toy import scripted_gpt  # noqa: E402
from workbench.templates import get_template  # noqa: E402
from workbench.tokenizer import ByteTokenizer  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ui" / "chat"
PROMPT = "What is the capital of France?"
N_POSITIONS = 512
LOOP = b"Paris is the capital of France. Paris is a city. "
LEAK = b"The capital of France is Paris.\n\n### Instruction:\nWhat is"
TOK = ByteTokenizer()


def _aligned(answer: list[int], template, tokenizer) -> list[int]:
    """A script that makes a scripted model answer `answer` to PROMPT under `template`
    (the model emits by position, so the answer starts where the prompt ends); elsewhere
    it cycles the answer."""
    prompt = encode_segments(template.render_prompt(Example.single(PROMPT)), tokenizer)[0]
    script = (answer * (N_POSITIONS // len(answer) + 2))[:N_POSITIONS]
    for i, token in enumerate(answer):
        if len(prompt) - 1 + i < N_POSITIONS:
            script[len(prompt) - 1 + i] = token
    return script


def _session(root: Path, name: str, model, tokenizer, template, step: int = 4) -> None:
    session = root / "sessions" / name
    save_model(model, tokenizer, session / "checkpoints" / f"step-{step}", template=template)
    (session / "config.toml").write_text(f'model = "models/base"\ntemplate = "{template.name}"\n')
    (session / "checkpoints" / "index.json").write_text(json.dumps(
        {"latest": f"step-{step}", "best": f"step-{step}", "checkpoints": [f"step-{step}"]}))
    (session / "status.json").write_text(json.dumps({"state": "finished", "step": step,
                                                     "max_steps": step}))


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """models/base (loops), sessions/alpaca-tiny (leaks ### Instruction:),
    sessions/chatml-tiny (leaks <|user|>): folders the app opens by relative path, so
    what the screen shows does not depend on the temporary folder's name."""
    root = tmp_path_factory.mktemp("chat")
    alpaca = get_template("alpaca")
    base = scripted_gpt(_aligned(list(LOOP * 5), alpaca, TOK), vocab_size=257,
                        n_positions=N_POSITIONS)
    save_model(base, TOK, root / "models" / "base")
    sft = scripted_gpt(_aligned(list(LEAK), alpaca, TOK), vocab_size=257, n_positions=N_POSITIONS)
    _session(root, "alpaca-tiny", sft, TOK, alpaca)
    chatml = get_template("chatml")
    tok = tokenizer_for(TOK, chatml)
    user = tok.special_id("<|user|>")
    answer = list(b"Hi there! Paris.") + [user] + list(b"\nmore")
    _session(root, "chatml-tiny", scripted_gpt(_aligned(answer, chatml, tok),
                                               vocab_size=tok.n_vocab,
                                               n_positions=N_POSITIONS), tok, chatml, step=2)
    return root


@pytest.fixture(autouse=True)
def setup(root, monkeypatch, tmp_path):
    monkeypatch.chdir(root)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))
    monkeypatch.setattr(ChatScreen, "device", "cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # two tiny models in two threads: no intra-op threads needed
    yield
    torch.set_num_threads(before)


def _app(model="models/base", session="alpaca-tiny", source=""):
    app = make_app(sessions_dir="sessions", state_file=None, persist=False, model=model,
                   data=source or None, start_mode="chat")
    app.state.session = session
    return app


async def _wait(pilot, condition, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def _wait_screen(pilot, cls, timeout=20.0):
    await _wait(pilot, lambda: isinstance(pilot.app.screen, cls), timeout, cls.__name__)
    await pilot.pause()
    await pilot.pause()
    return pilot.app.screen


async def _ready(pilot) -> ChatScreen:
    screen = pilot.app.screen
    assert isinstance(screen, ChatScreen)
    await _wait(pilot, lambda: all(s in ("ready", "error", "missing")
                                   for s in screen._status.values()), what="the models")
    return screen


async def _ask(pilot, screen: ChatScreen, prompt: str = PROMPT) -> None:
    area = screen.query_one(PromptArea)
    area.load_text(prompt)
    area.focus()
    await pilot.press("enter")


def _slow_stream(monkeypatch, gate=None, hold_after=None):
    """Wrap the engine's stream: each token waits for `gate`; or, after `hold_after`
    tokens, every token waits until the generation is cancelled."""
    import workbench.generate as generate

    real = generate.stream_for_example

    def slow(*args, cancel=None, **kwargs):
        for i, piece in enumerate(real(*args, cancel=cancel, **kwargs)):
            if gate is not None:
                gate.wait(10)
            if hold_after is not None and i >= hold_after:
                deadline = time.monotonic() + 10
                while not cancel.is_set() and time.monotonic() < deadline:
                    time.sleep(0.005)
            yield piece

    monkeypatch.setattr(generate, "stream_for_example", slow)


def sync(test):
    """Run an async test with asyncio.run (no async plugin needed); fixtures still apply."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))
    return run


# ----------------------------------------------------------------------------------------


@sync
async def test_both_panes_fill_and_the_flags_appear():
    app = _app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        heads = {s: str(screen.query_one(f"#head-{s}").render()) for s in ("base", "sft")}
        assert "models/base" in heads["base"] and "alpaca-tiny@best" in heads["sft"]
        assert "step-4" in heads["sft"]
        assert "alpaca" in str(screen.query_one("#chat-template").render())
        await _ask(pilot, screen)
        await _wait(pilot, lambda: screen.exchanges() and not screen.generating, what="answers")
        (exchange,) = screen.exchanges()
        base, sft = exchange.answer("base"), exchange.answer("sft")
        # the base model loops until the token limit
        assert base.state == "done" and base.result.stop_reason == "length"
        assert base.result.new_tokens == 128 and base.text.startswith("Paris is the capital")
        assert base.diagnosis.flagged == ["looping", "no_stop"]
        # the SFT model answers, then leaks the next instruction header (a stop string)
        assert sft.result.stop_reason == "stop_string"
        assert sft.text == "The capital of France is Paris.\n\n### Instruction:"
        assert sft.diagnosis.flagged == ["leakage"]
        # evidence highlighted in the drawn text; numbers and flags under each answer
        start = sft.text.index("### Instruction:")
        assert any(sp.start <= start and sp.end >= start + 16 and "red" in str(sp.style)
                   for sp in sft.shown.spans)
        loop_start, loop_end = base.diagnosis.findings["looping"].spans[0]
        assert any(sp.start <= loop_start and sp.end >= loop_end and "yellow" in str(sp.style)
                   for sp in base.shown.spans)
        shown = {s: exchange.answer(s).shown.plain for s in ("base", "sft")}
        assert "length · 128 tok ·" in shown["base"] and "tok/s" in shown["base"]
        assert " looping " in shown["base"] and " no-stop " in shown["base"]
        assert "stop '### Instruction:' · 49 tok" in shown["sft"]
        assert " leakage " in shown["sft"]
        assert "role marker" in str(sft.tooltip)
        # the input is back, empty and focused
        area = screen.query_one(PromptArea)
        assert not area.disabled and area.text == "" and screen.focused is area


@sync
async def test_chatml_session_template_and_leaked_user_marker():
    app = _app(session="chatml-tiny@step-2")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _ready(pilot)
        assert "chatml" in str(screen.query_one("#chat-template").render())
        await pilot.press("ctrl+r")  # the rendered prompt, special tokens visible
        await _ask(pilot, screen)
        await _wait(pilot, lambda: screen.exchanges() and not screen.generating, what="answers")
        (exchange,) = screen.exchanges()
        sft = exchange.answer("sft")
        assert sft.text == "Hi there! Paris.<|user|>" and sft.diagnosis.flagged == ["leakage"]
        rendered = exchange.query_one(".rendered")
        assert rendered.display  # shown while Ctrl+R is on
        text = str(rendered.render())
        assert "<|user|>" in text and "<|assistant|>" in text and "↵" in text
        # the base model was given the same chatml prompt (its embeddings grew for it)
        assert exchange.answer("base").result.prompt_tokens == sft.result.prompt_tokens
        await pilot.press("ctrl+r")
        assert not rendered.display


@sync
async def test_input_locked_while_generating(monkeypatch):
    import threading

    gate = threading.Event()
    _slow_stream(monkeypatch, gate=gate)
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _ready(pilot)
        await _ask(pilot, screen)
        await _wait(pilot, lambda: screen.generating, what="generation to start")
        area = screen.query_one(PromptArea)
        assert area.disabled and screen.query_one(SettingsBar).disabled
        assert screen.has_class("-generating")
        assert not screen.send("another prompt")  # refused while they answer
        await pilot.press("x", "enter")
        assert area.text == "" and len(screen.exchanges()) == 1
        gate.set()
        await _wait(pilot, lambda: not screen.generating, what="the answers")
        assert not area.disabled and not screen.query_one(SettingsBar).disabled
        assert all(a.state == "done" for a in screen.exchanges()[0].answers.values())


@sync
async def test_ctrl_c_cancels_both_answers_and_escape_does_not(monkeypatch):
    _slow_stream(monkeypatch, hold_after=3)
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _ready(pilot)
        await _ask(pilot, screen)
        await _wait(pilot, lambda: screen.exchanges()
                    and all(a.tokens >= 3 for a in screen.exchanges()[0].answers.values()),
                    what="a few tokens in each pane")
        exchange = screen.exchanges()[0]
        assert screen.generating and screen.query_one(PromptArea).disabled
        keys = {b.binding.key for b in screen.active_bindings.values() if b.enabled}
        assert "ctrl+c" in keys  # the footer offers it while they answer
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert screen.generating  # Escape leaves fields; it cancels nothing
        await pilot.press("ctrl+c")
        await _wait(pilot, lambda: not screen.generating, timeout=10, what="the cancel")
        for answer in exchange.answers.values():
            assert answer.result.stop_reason == "cancelled"
            assert 3 <= answer.result.new_tokens <= 5
            assert "no_stop" not in answer.diagnosis.flagged  # a cancel is not a no-stop
            assert answer.shown.plain.split("\n")[-2].startswith("cancelled ·")
        assert not screen.query_one(PromptArea).disabled


@sync
async def test_compare_over_a_prompts_file_shows_the_compare_numbers():
    from workbench.compare import compare, read_prompts, summary_rows
    from workbench.generate import GenerationConfig
    from workbench.model import load_model

    prompts = FIXTURES / "prompts.jsonl"
    app = _app()
    async with app.run_test(size=(140, 44)) as pilot:
        screen = await _ready(pilot)
        await pilot.press("ctrl+t")
        dialog = await _wait_screen(pilot, CompareSetDialog)
        assert dialog.query_one("#kind").value == "prompts"  # no current data
        dialog.query_one("#source").value = str(prompts)
        dialog.query_one("#n").value = "3"
        await pilot.click("#ok")
        await _wait_screen(pilot, CompareResultScreen, timeout=60)
        table = app.screen.query_one("#compare-summary")
        shown = [tuple(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]
        items = app.screen.query_one("#compare-items")
        assert items.row_count == 3
        await pilot.press("escape")
        assert app.screen is screen and not screen.query_one(PromptArea).disabled
    # the same numbers as `workbench compare` (same API, models, template and settings)
    base = load_model("models/base", sessions_dir="sessions")
    sft = load_model("alpaca-tiny@best", sessions_dir="sessions")
    result = compare(base, sft, sft.template, read_prompts(prompts)[:3],
                     GenerationConfig(max_new_tokens=128))
    assert shown == summary_rows(result)
    rows = {m: (b, s) for m, b, s in shown}
    assert rows["leakage"] == ("0/3   0.0%", "3/3 100.0%")
    assert rows["no-stop"] == ("3/3 100.0%", "0/3   0.0%")
    assert any(m.startswith("loss on data (3 ex") for m in rows)


@sync
async def test_compare_over_the_current_datas_validation_rows():
    source = str(FIXTURES / "data")
    app = _app(source=source)
    async with app.run_test(size=(140, 44)) as pilot:
        screen = await _ready(pilot)
        await pilot.press("ctrl+t")
        dialog = await _wait_screen(pilot, CompareSetDialog)
        assert dialog.query_one("#kind").value == "data"
        assert dialog.query_one("#source").value == source
        dialog.query_one("#text").value = str(FIXTURES / "passages.txt")
        await pilot.click("#ok")
        await _wait_screen(pilot, CompareResultScreen, timeout=60)
        result = app.screen.result
        assert [c.item.prompt for c in result.items][:2] == [PROMPT, "What is 2 + 2?"]
        assert [c.item.category for c in result.items] == ["geography", "math", "science"]
        assert result.loss["data"]["examples"] == 3 and result.loss["text"]["examples"] == 2
        metrics = [str(r[0]) for r in (app.screen.query_one("#compare-summary").get_row_at(i)
                                       for i in range(app.screen.query_one("#compare-summary").row_count))]
        assert any(m.startswith("loss on text") for m in metrics)
        assert any("geography" in m for m in metrics)
        assert screen.last_compare is not None


@sync
async def test_missing_models_say_what_to_do():
    app = _app(model="", session="")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _ready(pilot)
        base = str(screen.query_one("#head-base").render())
        sft = str(screen.query_one("#head-sft").render())
        assert "not set" in base and "workbench --model" in base
        assert "not set" in sft and "Sessions screen" in sft
        await _ask(pilot, screen, "hello")
        panel = screen.query_one(ErrorPanel)
        assert panel.shown and "no model is loaded" in str(panel.render())
        assert screen.exchanges() == []


@sync
async def test_only_a_base_model_answers_alone():
    app = _app(session="")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _ready(pilot)
        screen.app.state.template = "alpaca"  # no SFT checkpoint: the header's template
        screen.context_changed()
        await _ask(pilot, screen)
        await _wait(pilot, lambda: screen.exchanges() and not screen.generating, what="answers")
        exchange = screen.exchanges()[0]
        assert exchange.answer("base").state == "done"
        assert exchange.answer("sft").state == "missing"
        assert "Sessions screen" in exchange.answer("sft").shown.plain


@sync
async def test_loading_errors_go_to_the_error_panel():
    app = _app(model="models/nowhere", session="no-such-session")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await _ready(pilot)
        assert screen._status == {"base": "error", "sft": "error"}
        head = str(screen.query_one("#head-sft").render())
        assert "could not load" in head and "no-such-session" in head
        panel = str(screen.query_one(ErrorPanel).render())
        assert "error" in panel and ("Ctrl+B" in panel or "Ctrl+O" in panel)


@sync
async def test_clear_history_and_palette_commands():
    app = _app()
    async with app.run_test(size=(100, 24)) as pilot:
        screen = await _ready(pilot)
        titles = [c.title for c in screen.commands()]
        for needed in ("send", "cancel", "rendered prompt", "compare over a set",
                       "clear history", "change settings"):
            assert any(needed in t for t in titles), needed
        for n, prompt in enumerate((PROMPT, "Second prompt", "Third prompt"), 1):
            await _ask(pilot, screen, prompt)
            await _wait(pilot, lambda: len(screen.exchanges()) == n and not screen.generating,
                        what=f"answers {n}")
        await pilot.pause()
        history = screen.query_one("#chat-history")
        # the history followed the newest answers (it was at the bottom)
        assert history.max_scroll_y > 0 and history.scroll_y >= history.max_scroll_y - 1
        # scrolled up to read an earlier answer: a new one does not pull the view down
        history.scroll_home(animate=False)
        await pilot.pause()
        await _ask(pilot, screen, "Fourth prompt")
        await _wait(pilot, lambda: len(screen.exchanges()) == 4 and not screen.generating,
                    what="the fourth answers")
        await pilot.pause()
        assert history.scroll_y == 0 and history.max_scroll_y > 0
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert screen.exchanges() == [] and screen.query("#chat-empty")


@sync
async def test_bad_settings_are_refused():
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _ready(pilot)
        screen.query_one("#set-top_p").value = "1.5"
        await _ask(pilot, screen)
        panel = screen.query_one(ErrorPanel)
        assert panel.shown and "top-p" in str(panel.render())
        assert screen.exchanges() == []


# ----------------------------------------------------------------------------------------
# Snapshots


async def _finished_exchange(pilot) -> None:
    screen = await _ready(pilot)
    screen.mask_timing = True  # tokens/s vary from run to run
    screen.query_one(PromptArea).cursor_blink = False
    await _ask(pilot, screen)
    await _wait(pilot, lambda: screen.exchanges() and not screen.generating, what="answers")
    await pilot.pause()


SIZES = [(80, 24), (120, 36), (200, 60)]
SIZE_IDS = ["80x24", "120x36", "200x60"]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_after_a_finished_exchange(snap_compare, size):
    assert snap_compare(_app(), terminal_size=size, run_before=_finished_exchange)


def _rendered_prompt(theme: str):
    async def run_before(pilot):
        pilot.app.theme = theme
        await _finished_exchange(pilot)
        await pilot.press("ctrl+r")
        pilot.app.clear_notifications()  # the toast's lifetime is a matter of timing
        await pilot.pause(0.3)
    return run_before


def test_snapshot_rendered_prompt_light(snap_compare):
    assert snap_compare(_app(), terminal_size=(120, 36),
                        run_before=_rendered_prompt("textual-light"))


def test_snapshot_rendered_prompt_80x24(snap_compare):
    """At 80x24 Ctrl+R leaves room for the answers (the live preview is capped)."""
    assert snap_compare(_app(), terminal_size=(80, 24), run_before=_rendered_prompt("textual-dark"))


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_model_dialog(snap_compare, size):
    async def run_before(pilot):
        await _ready(pilot)
        await pilot.press("ctrl+o")
        await pilot.pause(0.3)
        for field in pilot.app.screen.query("Input"):
            field.cursor_blink = False  # shown or not, depending on the moment
        await pilot.pause()

    assert snap_compare(_app(), terminal_size=size, run_before=run_before)


# ----------------------------------------------------------------------------------------
# Templates that need more than the prompt: the story template's ending


@sync
async def test_story_session_chat_with_an_ending_line(root):
    story = get_template("story")
    answer = list(b"Once upon a time. She cried. The toy was lost forever.")
    ex = Example([Message("user", "a girl loses her toy")],
                 {"summary": "a girl loses her toy", "ending": "sad"})
    prompt = encode_segments(story.render_prompt(ex), TOK)[0]
    script = [0] * (len(prompt) - 1) + answer + [TOK.eos_id]
    _session(root, "story-tiny", scripted_gpt(script, vocab_size=257, n_positions=N_POSITIONS),
             TOK, story)
    app = _app(session="story-tiny")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await _ready(pilot)
        await _ask(pilot, screen, "a girl loses her toy")           # no ending: says what to add
        await _wait(pilot, lambda: "ending: happy" in str(screen.query_one("#errors").render()),
                    what="the missing-field message")
        await _ask(pilot, screen, "a girl loses her toy\nending: sad")
        await _wait(pilot, lambda: screen._count == 1 and not screen.generating, what="the answers")
        exchange = screen.query(ExchangeView).last()
        await _wait(pilot, lambda: exchange.answer("sft").state == "done", what="the SFT answer")
        answer = exchange.answer("sft")
        assert answer.text == "Once upon a time. She cried. The toy was lost forever."
        assert answer.diagnosis.ending.label == "sad"      # the requested ending, measured
        assert "ending sad ✓" in str(answer.render())


@sync
async def test_escape_and_screen_keys_during_a_load_leave_it_loading(monkeypatch):
    """Escape in the prompt and F2 to another screen while a model loads: the load goes on
    (it once cancelled it: "loading cancelled"); coming back focuses the prompt, not the
    field focused last time."""
    import workbench.model as model_pkg

    gate = threading.Event()
    real = model_pkg.load_model

    def slow_load(*args, **kwargs):
        gate.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(model_pkg, "load_model", slow_load)
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await _wait(pilot, lambda: screen._status["base"] == "loading", what="the load")
        screen.query_one("#set-temperature").focus()
        await pilot.press("escape")  # leaves the setting for the prompt
        assert app.focused is screen.query_one(PromptArea)
        await pilot.press("escape")
        await pilot.press("f2")  # to the Data screen, from anywhere
        await pilot.pause(0.2)
        assert app.current_mode == "data"
        await pilot.press("f5")
        await pilot.pause(0.2)
        assert app.screen is screen and app.focused is screen.query_one(PromptArea)
        assert screen._status["base"] == "loading"
        gate.set()
        await _ready(pilot)
        assert screen._status["base"] == "ready"


@sync
async def test_ctrl_s_goes_to_the_settings_and_back():
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _ready(pilot)
        area = screen.query_one(PromptArea)
        assert app.focused is area
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert app.focused is screen.query_one("#set-temperature")
        await pilot.press("ctrl+s")
        await pilot.pause(0.1)
        assert app.focused is area
        await pilot.press("ctrl+s", "escape")
        await pilot.pause(0.1)
        assert app.focused is area
