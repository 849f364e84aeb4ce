"""One exchange of the Chat screen: the prompt (and, when asked, the prompt exactly as the
template renders it, special tokens and whitespace visible), then the two answers side by
side, each streaming in, then finished with its stop reason, token count, tokens/s and the
Diagnose flags, with leakage and loop evidence highlighted in the text."""

from __future__ import annotations

from typing import Any, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

SIDES = ("base", "sft")
SIDE_TITLES = {"base": "base", "sft": "SFT"}

# evidence styles: leakage red, looping yellow, echo cyan (as `workbench diagnose --color`)
EVIDENCE_STYLES = {"leakage": "bold white on red", "looping": "black on yellow",
                   "echo": "black on cyan"}
FLAG_STYLES = {"leakage": "bold white on red", "looping": "black on yellow",
               "no_stop": "black on dark_orange", "empty": "white on grey37",
               "echo": "black on cyan"}
FLAG_ORDER = tuple(FLAG_STYLES)
WIDE = 140  # terminal columns from which each flag's reason is written under the badges


def highlighted(text: str, evidence: Sequence[tuple[Sequence[int], str]]) -> Text:
    """`text` with each evidence span styled by its detector (leakage wins over looping
    over echo where spans overlap)."""
    out = Text(text)
    order = {name: i for i, name in enumerate(EVIDENCE_STYLES)}
    for span, name in sorted(evidence, key=lambda e: -order.get(e[1], 9)):
        style = EVIDENCE_STYLES.get(name)
        if style and span[1] > span[0]:
            out.stylize(style, max(0, span[0]), min(len(text), span[1]))
    return out


def visible_prompt(segments: Sequence[Any]) -> Text:
    """The rendered prompt with what is normally invisible made visible: special tokens
    (single ids) in magenta, newlines as ↵, tabs as →, spaces as a faint ·."""
    out = Text()
    for seg in segments:
        if getattr(seg, "special", False):
            out.append(seg.text, style="bold magenta")
            continue
        for ch in seg.text:
            if ch == "\n":
                out.append("↵\n", style="dim cyan")
            elif ch == "\t":
                out.append("→", style="dim cyan")
            elif ch == " ":
                out.append("·", style="grey50")
            else:
                out.append(ch)
    out.rstrip()  # the last ↵ needs no empty line after it
    return out


def flag_badges(flagged: Sequence[str]) -> Text:
    out = Text()
    if not flagged:
        out.append("✓ no flags", style="bold green")
        return out
    for i, name in enumerate(flagged):
        if i:
            out.append(" ")
        out.append(f" {name.replace('_', '-')} ", style=FLAG_STYLES.get(name, "reverse"))
    return out


class AnswerView(Static):
    """One model's answer: streaming text, then the final text with its evidence
    highlighted, a line of numbers (stop reason, tokens, tokens/s) and the flags."""

    DEFAULT_CSS = """
    AnswerView {
        width: 1fr;
        height: auto;
        padding: 0 1;
        margin: 0 0 0 0;
    }
    AnswerView.-sft {
        border-left: vkey $primary 40%;
    }
    AnswerView.-base {
        border-right: vkey $primary 40%;
    }
    AnswerView.-flagged {
        background: $error 6%;
    }
    AnswerView.-failed {
        background: $error 15%;
    }
    """

    def __init__(self, side: str, **kw) -> None:
        super().__init__("", classes=f"-{side}", **kw)
        self.side = side
        self.state = "waiting"
        self.text = ""
        self.tokens = 0
        self.result = None
        self.diagnosis = None
        self.shown = Text()  # what is drawn now (tests read its styles)

    def on_mount(self) -> None:
        self.refresh_view()

    # -- states ------------------------------------------------------------------------------
    def set_missing(self, hint: str) -> None:
        self.state, self.text = "missing", hint
        self.refresh_view()

    def stream(self, text: str, tokens: int) -> None:
        self.state, self.text, self.tokens = "streaming", text, tokens
        self.refresh_view()

    def finish(self, result, diagnosis) -> None:
        self.state, self.result, self.diagnosis = "done", result, diagnosis
        self.text, self.tokens = result.text, result.new_tokens
        self.set_class(bool(diagnosis.flagged), "-flagged")
        messages = [f"{name}: {diagnosis.findings[name].message}" for name in diagnosis.flagged]
        self.tooltip = "\n".join(messages) if messages else "no flags"
        self.refresh_view()

    def fail(self, message: str) -> None:
        self.state, self.text = "failed", message
        self.add_class("-failed")
        self.refresh_view()

    # -- drawing -------------------------------------------------------------------------------
    def refresh_view(self) -> None:
        mask = getattr(self.screen, "mask_timing", False) if self.is_attached else False
        wide = self.is_attached and self.app.size.width >= WIDE
        self.shown = render_answer(self.state, self.text, self.tokens, self.result,
                                   self.diagnosis, mask_timing=mask, explain=wide)
        self.update(self.shown)


def render_answer(state: str, text: str, tokens: int, result, diagnosis, *,
                  mask_timing: bool = False, explain: bool = False) -> Text:
    """What an AnswerView shows in each state (`explain`: each flag's one-line reason
    under the badges, when there is room)."""
    if state == "missing":
        return Text(text, style="italic")
    if state == "waiting":
        return Text("…", style="dim")
    if state == "failed":
        out = Text("failed: ", style="bold red")
        out.append(text)
        return out
    if state == "streaming":
        out = Text(text)
        out.append("▍", style="blink bold")
        out.append(f"\n{tokens} tok…", style="dim")
        return out
    # done
    body = text if text.strip() else ""
    out = highlighted(body, diagnosis.evidence()) if body else Text("(empty)", style="dim italic")
    out.append("\n")
    reason = result.stop_reason
    if result.stop_string:
        reason = f"stop {result.stop_string!r}"
    elif result.context_full:
        reason = "length (context full)"
    numbers = [reason, f"{result.new_tokens} tok"]
    if not mask_timing:
        tps = result.tokens_per_second
        numbers.append(f"{tps:.0f} tok/s" if tps >= 10 else f"{tps:.1f} tok/s")
    out.append(" · ".join(numbers), style="dim")
    out.append("\n")
    out.append_text(flag_badges(diagnosis.flagged))
    if diagnosis.ending_note:  # the word-list heuristic of workbench.diagnose.endings
        # a story the token limit cut has no ending yet: the no-stop badge's colour
        style = ("bold dark_orange" if diagnosis.ending_unfinished
                 else "bold green" if diagnosis.ending_adhered else "bold red")
        out.append(f"  {diagnosis.ending_note}", style=style)
    if explain:
        for name in diagnosis.flagged:
            out.append(f"\n{name.replace('_', '-')}: {diagnosis.findings[name].message}",
                       style="dim italic")
    return out


class ExchangeView(Vertical):
    """A prompt and the two answers to it."""

    DEFAULT_CSS = """
    ExchangeView {
        height: auto;
        margin: 0 0 1 0;
    }
    ExchangeView > .prompt {
        height: auto;
        padding: 0 1;
        background: $boost;
        color: $text;
        text-style: bold;
    }
    ExchangeView > .rendered {
        height: auto;
        display: none;
        padding: 0 1;
        margin: 0 1;
        border-left: thick $accent 50%;
        color: $text-muted;
    }
    ExchangeView > Horizontal {
        height: auto;
    }
    """

    def __init__(self, number: int, prompt: str, rendered: Text | None, note: str = "") -> None:
        super().__init__()
        self.number = number
        self.prompt = prompt
        self.rendered = rendered
        self.note = note
        self.answers = {side: AnswerView(side) for side in SIDES}

    def compose(self) -> ComposeResult:
        head = Text()
        head.append(f"#{self.number} ", style="dim")
        head.append(self.prompt)
        if self.note:
            head.append(f"  {self.note}", style="dim not bold")
        yield Static(head, classes="prompt")
        rendered = Text()
        rendered.append("the rendered prompt (what both models got):\n", style="italic")
        if self.rendered is not None:
            rendered.append_text(self.rendered)
        yield Static(rendered, classes="rendered")
        with Horizontal():
            for side in SIDES:
                yield self.answers[side]

    def answer(self, side: str) -> AnswerView:
        return self.answers[side]
