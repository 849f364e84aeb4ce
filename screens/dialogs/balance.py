"""Balance the current dataset by a label: pick the label, the strategy (undersample /
oversample / ratio, with its ratio text) and the seed; the counts before and after are
computed and shown as soon as the settings change; then save to a path (a .jsonl file, or a
folder for several splits).

Dismisses with a `BalanceRequest` (the screen balances again, saves, and opens the result;
the same seed gives the same rows), or None when cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static
from textual.worker import get_current_worker

from .open_source import PathSuggester

from workbench.constants import BALANCE_STRATEGIES as STRATEGIES

STRATEGY_HELP = {
    "undersample": "keep the smallest class whole, sample the others down to its size",
    "oversample": "keep everything, repeat the smaller classes up to the largest",
    "ratio": "target shares (happy=0.5,sad=0.5) or per-class caps (happy=1000,sad=500)",
}


@dataclass
class BalanceRequest:
    label: str
    strategy: str
    seed: int
    ratio: str = ""
    val_ratio: float | None = None
    out: str = ""
    before: dict[str, dict[str, int]] | None = None
    after: dict[str, dict[str, int]] | None = None


def default_out(source: str, splits: int, folder: bool = False) -> str:
    """`data/<stem>-balanced.jsonl`, or a folder `data/<stem>-balanced` for several splits."""
    path = Path(source.rstrip("/"))
    stem = path.stem if path.suffix else path.name
    stem = stem or "data"
    return f"data/{stem}-balanced" + ("" if (splits > 1 or folder) else ".jsonl")


def preview_counts(ds, label: str, strategy: str, seed: int, ratio_text: str,
                   label_kw: dict[str, Any], val_ratio: float | None = None) -> tuple[dict, dict]:
    """(before, after) counts per split, exactly as the balance that saves will make them
    (a validation split is cut first and not balanced)."""
    from workbench.data.balance import balance_stream, cut_then_balance, parse_ratio
    from workbench.errors import WorkbenchError

    ratio = parse_ratio(ratio_text)
    if strategy == "ratio" and not ratio:
        raise WorkbenchError("ratio: type shares (happy=0.5,sad=0.5) or caps (happy=1000,sad=500)")
    if getattr(ds, "streaming", False):
        report, _ = balance_stream(ds, label, strategy, seed=seed, ratio=ratio)
    else:
        balanced, report, _ = cut_then_balance(ds, label, strategy, seed=seed, ratio=ratio,
                                               val_ratio=val_ratio, **label_kw)
        return report.before, balanced.stats(label, **label_kw)
    return report.before, report.after


GAP = "  "      # between a class name and its count: they never touch
ARROW = "  →  "  # between the before and the after columns


def counts_table(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]],
                 width: int = 70) -> Content:
    """Per split: each class's count and share before → after, and the totals, in columns
    that are always separated by spaces (`happy  5,520  92.0%`, never `happy5,520`); class
    names are cut with … to keep a row within `width` cells."""
    lines: list[Content] = []
    names = [v for counts in before.values() for v in counts]
    num_w = max([len(f"{n:,}") for d in (before, after) for c in d.values() for n in c.values()]
                + [len(f"{sum(c.values()):,}") for d in (before, after) for c in d.values()] + [5])
    col_w = num_w + 7  # a count, a space, and its share (" 92.0%", "100.0%")
    # the row: 2 + name + GAP + count and share + ARROW + count and share
    room = width - 2 - len(GAP) - 2 * col_w - len(ARROW)
    name_w = max(5, min(max([len(n) for n in names] + [5]), 24, room))

    def cell(value: str) -> str:
        return value if len(value) <= name_w else value[: name_w - 1] + "…"

    def share(n: int, total: int) -> str:
        return f" {n / total if total else 0:6.1%}"

    for split, counts in before.items():
        b_total = sum(counts.values())
        a_counts = after.get(split, {})
        a_total = sum(a_counts.values())
        lines.append(Content.assemble(
            (f"{split:<{2 + name_w}}", "bold"), GAP,
            (f"{'before':>{col_w}}", "$text-muted"), " " * len(ARROW),
            (f"{'after':>{col_w}}", "$text-muted")))
        for value, n in counts.items():
            m = a_counts.get(value, 0)
            changed = "$text-warning" if m < n else ("$text-success" if m > n else "")
            lines.append(Content.assemble(
                f"  {cell(value):<{name_w}}", GAP,
                f"{n:>{num_w},}", (share(n, b_total), "$text-muted"),
                (ARROW, "$text-muted"),
                (f"{m:>{num_w},}", changed), (share(m, a_total), "$text-muted")))
        lines.append(Content.assemble(
            (f"  {'total':<{name_w}}", "bold"), GAP, (f"{b_total:>{num_w},}", "bold"), " " * 7,
            (ARROW, "$text-muted"), (f"{a_total:>{num_w},}", "bold")))
    for split, counts in after.items():
        if split in before:
            continue
        # a split cut off before balancing (the validation share): not balanced
        total = sum(counts.values())
        lines.append(Content.assemble((f"{split}", "bold"),
                                      ("  cut first, from the data as it is; not balanced",
                                       "$text-muted")))
        for value, n in counts.items():
            lines.append(Content.assemble(
                f"  {cell(value):<{name_w}}", GAP, " " * col_w, (ARROW, "$text-muted"),
                f"{n:>{num_w},}", (share(n, total), "$text-muted")))
    return Content("\n").join(lines)


class BalanceDialog(ModalScreen[BalanceRequest | None]):
    """The `b` dialog of the Data screen."""

    DEFAULT_CSS = """
    BalanceDialog {
        align: center middle;
    }
    BalanceDialog > Vertical {
        width: 92;
        max-width: 96%;
        height: auto;
        max-height: 96%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    BalanceDialog .title {
        text-style: bold;
        color: $accent;
        width: 100%;
    }
    BalanceDialog .hint {
        color: $text-muted;
        width: 100%;
    }
    BalanceDialog .row {
        height: auto;
        margin-top: 1;
    }
    BalanceDialog .field-label {
        width: auto;
        color: $text-muted;
        margin-right: 1;
    }
    BalanceDialog Input, BalanceDialog Select > SelectCurrent {
        background: $boost;
    }
    BalanceDialog Input:focus, BalanceDialog Select:focus > SelectCurrent {
        background: $primary 30%;
    }
    BalanceDialog #balance-label {
        width: 24;
        margin-right: 2;
    }
    BalanceDialog #balance-strategy {
        width: 18;
        margin-right: 2;
    }
    BalanceDialog #balance-seed {
        width: 10;
    }
    BalanceDialog #balance-ratio {
        width: 1fr;
        margin-right: 2;
    }
    BalanceDialog #balance-val {
        width: 8;
    }
    BalanceDialog #balance-out {
        width: 1fr;
    }
    BalanceDialog #balance-preview-box {
        height: auto;
        max-height: 14;
        margin-top: 1;
        border: round $primary 60%;
        border-title-color: $text-muted;
        padding: 0 1;
    }
    BalanceDialog #balance-buttons {
        align-horizontal: right;
    }
    BalanceDialog Button {
        margin-left: 2;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="balance-cancel")]

    def __init__(self, ds, labels: list[str], label: str | None,
                 label_kw: Callable[[str], dict[str, Any]], cwd: str | None = None) -> None:
        super().__init__()
        self.ds = ds
        self.labels = labels
        self.label = label if label in labels else (labels[0] if labels else "")
        self.label_kw = label_kw
        self.cwd = cwd
        self.splits = len(ds.split_names)
        self._default_out = default_out(ds.source, self.splits)
        self.result: tuple[tuple, dict, dict] | None = None  # (settings, before, after)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Balance by a label", classes="title")
            streaming = " · streaming: counting takes a pass over the data" if getattr(
                self.ds, "streaming", False) else ""
            yield Label(f"{self.ds.source} · {self.splits} split{'s' * (self.splits != 1)}"
                        f"{streaming}", classes="hint")
            with Horizontal(classes="row"):
                yield Label("label", classes="field-label")
                yield Select([(name, name) for name in self.labels], value=self.label or Select.BLANK,
                             allow_blank=not self.labels, compact=True, id="balance-label")
                yield Label("strategy", classes="field-label")
                yield Select([(s, s) for s in STRATEGIES], value="undersample", allow_blank=False,
                             compact=True, id="balance-strategy")
                yield Label("seed", classes="field-label")
                yield Input("0", type="integer", compact=True, id="balance-seed")
            with Horizontal(classes="row"):
                yield Label("ratio", classes="field-label")
                yield Input(placeholder="e.g. happy=0.5,sad=0.5", compact=True,
                            disabled=True, id="balance-ratio")
                yield Label("validation share", classes="field-label")
                yield Input(placeholder="none", compact=True, id="balance-val")
            yield Label(STRATEGY_HELP["undersample"], classes="hint", id="balance-help")
            with VerticalScroll(id="balance-preview-box"):
                yield Static("", id="balance-preview")
            with Horizontal(classes="row"):
                yield Label("save to", classes="field-label")
                yield Input(self._default_out, suggester=PathSuggester(self.cwd), compact=True,
                            id="balance-out")
            with Horizontal(id="balance-buttons", classes="row"):
                yield Button("Cancel", id="balance-cancel-button", compact=True)
                yield Button("Save", id="balance-save", variant="primary", compact=True,
                             disabled=True)

    def on_mount(self) -> None:
        self.query_one("#balance-preview-box").border_title = "before → after"
        self.query_one("#balance-label", Select).focus()
        self._schedule()

    # -- settings ----------------------------------------------------------------------------
    def settings(self) -> tuple[str, str, int, str, str]:
        label = self.query_one("#balance-label", Select).value
        strategy = str(self.query_one("#balance-strategy", Select).value)
        seed_text = self.query_one("#balance-seed", Input).value.strip()
        seed = int(seed_text) if seed_text.lstrip("-").isdigit() else 0
        ratio = self.query_one("#balance-ratio", Input).value.strip() if strategy == "ratio" else ""
        return ("" if label is Select.BLANK else str(label), strategy, seed, ratio,
                self.query_one("#balance-val", Input).value.strip())

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "balance-strategy":
            strategy = str(event.value)
            self.query_one("#balance-ratio", Input).disabled = strategy != "ratio"
            self.query_one("#balance-help", Label).update(STRATEGY_HELP.get(strategy, ""))
        self._schedule()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "balance-val":
            self._update_default_out()
        if event.input.id in ("balance-seed", "balance-ratio", "balance-val"):
            self._schedule()

    def _update_default_out(self) -> None:
        out = self.query_one("#balance-out", Input)
        val = self.query_one("#balance-val", Input).value.strip()
        new = default_out(self.ds.source, self.splits, folder=bool(val))
        if out.value == self._default_out and new != out.value:
            out.value = new
        self._default_out = new

    def _schedule(self) -> None:
        self.query_one("#balance-save", Button).disabled = True
        self.query_one("#balance-preview", Static).update(Content.styled("counting…", "$text-muted"))
        self.set_timer(0.15, self._compute_if_current, name="balance-preview")

    def _compute_if_current(self) -> None:
        self._compute(self.settings())

    @work(thread=True, exclusive=True, group="balance-preview", exit_on_error=False)
    def _compute(self, settings: tuple) -> None:
        label, strategy, seed, ratio, val_text = settings
        worker = get_current_worker()
        if not label:
            self.app.call_from_thread(self._show_problem, "no label column to balance by")
            return
        try:
            val = float(val_text) if val_text else None
        except ValueError:
            val = None  # said when saving; the counts are shown without a cut meanwhile
        if val is not None and not 0 < val < 1:
            val = None
        try:
            before, after = preview_counts(self.ds, label, strategy, seed, ratio,
                                           self.label_kw(label), val)
        except Exception as err:  # noqa: BLE001 - any problem is shown in the dialog
            from ..base import describe_error

            if not worker.is_cancelled:
                self.app.call_from_thread(self._show_problem, describe_error(err))
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_counts, settings, before, after)

    def _show_problem(self, message: str) -> None:
        self.result = None
        self.query_one("#balance-preview", Static).update(Content.styled(message, "$text-error"))
        self.query_one("#balance-save", Button).disabled = True

    def _show_counts(self, settings: tuple, before: dict, after: dict) -> None:
        if settings != self.settings():
            return  # the settings moved on; a newer count is coming
        self.result = (settings, before, after)
        names = list(next(iter(before.values()), {}))[:2]
        if len(names) == 2:
            a, b = names
            self.query_one("#balance-ratio", Input).placeholder = f"e.g. {a}=0.5,{b}=0.5"
        from workbench.data.dataset import order_counts

        label = settings[0]  # length buckets by range, other labels most common first
        before = {split: order_counts(label, c) for split, c in before.items()}
        after = {split: order_counts(label, c) for split, c in after.items()}
        preview = self.query_one("#balance-preview", Static)
        preview.update(counts_table(before, after, preview.content_size.width or 70))
        self.query_one("#balance-save", Button).disabled = False

    # -- save / cancel -------------------------------------------------------------------------
    def _request(self) -> BalanceRequest | None:
        settings = self.settings()
        if self.result is None or self.result[0] != settings:
            self.notify("the counts are not ready yet", severity="warning", timeout=3)
            return None
        label, strategy, seed, ratio, val_text = settings
        val = None
        if val_text:
            try:
                val = float(val_text)
            except ValueError:
                self._show_problem(f"validation share {val_text!r} is not a number (e.g. 0.05)")
                return None
            if not 0 < val < 1:
                self._show_problem("the validation share must be between 0 and 1")
                return None
        out = self.query_one("#balance-out", Input).value.strip()
        if not out:
            self.notify("where to save? type a path", severity="warning", timeout=3)
            return None
        if out.endswith(".jsonl") and (self.splits > 1 or val):
            self._show_problem(f"{out}: several splits do not fit one .jsonl file; "
                               "give a folder")
            return None
        return BalanceRequest(label, strategy, seed, ratio, val, out, self.result[1],
                              self.result[2])

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "balance-out":
            request = self._request()
            if request:
                self.dismiss(request)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "balance-save":
            request = self._request()
            if request:
                self.dismiss(request)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
