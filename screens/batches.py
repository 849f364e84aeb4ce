"""The Batches screen: the per-token mask inspector.

It shows the batches exactly as the trainer builds them: the current data source is
encoded with `workbench.collate.encode_examples`, planned with `plan_batches` and collated
with `collate_plan` (the functions the trainer calls), then drawn by `TokenGrid`: one
block per row, one cell per position. A cell shows the position's INPUT token; its colour
says what the position trains on (`labels[p]`, the NEXT token): trained, the trained end
token, masked prompt (-100) or padding (-100). Special tokens are bold and underlined;
packed rows mark where each example starts.

Keys: ←/→ batch, ↑/↓ row, h/l token (j/k a wrapped line), g go to a batch, s settings,
m loss_on response/all, b batcher, t text/grid layout. The settings (template,
tokenizer, max length, batch size, batcher, loss_on, seed, epoch) start from the trainer's
defaults; template and tokenizer are shared with the other screens through the app state.
Encoding runs in a job (progress, Escape cancels); changing a setting re-encodes or only
re-plans, and keeps the cursor on the same example and position when it can.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from .base import JobControl, ScreenCommand, WorkbenchScreen
from .widgets.batch_dialogs import BatchSettings, BatchSettingsDialog, JumpDialog
from .widgets.token_grid import TokenGrid, prepare_batch

BATCHERS = ("random", "grouped", "packed")
_BATCH = Binding.Group("batch")
_ROW = Binding.Group("row")


class _Cancelled(Exception):
    """Raised inside the encode job when the user cancels it."""


@dataclass
class Prepared:
    """What the encode/plan job hands back to the screen."""

    key: tuple
    settings: BatchSettings
    dataset: Any
    split: str
    template: Any
    tokenizer: Any
    template_origin: str
    encoded: Any
    plan: list
    epoch_efficiency: float
    rows_read: int
    bad_rows: int


class BatchesScreen(WorkbenchScreen):
    """Inspect collated batches token by token."""

    TITLE = "Batches"

    DEFAULT_CSS = """
    BatchesScreen #batch-settings {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        background: $boost;
        padding: 0 1;
    }
    BatchesScreen #batch-summary {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        padding: 0 1;
    }
    BatchesScreen #batch-view {
        height: 1fr;
    }
    BatchesScreen #batch-detail {
        height: 4;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        padding: 0 1;
        background: $boost;
        border-top: solid $primary 50%;
    }
    BatchesScreen #batch-warnings {
        height: auto;
        max-height: 5;
        padding: 0 1;
        display: none;
        background: $warning 15%;
        color: $text;
        border-left: thick $warning;
    }
    BatchesScreen #batch-warnings.-shown {
        display: block;
    }
    BatchesScreen #batch-legend {
        height: auto;
        padding: 0 1;
    }
    BatchesScreen #batch-empty {
        height: 1fr;
        padding: 1 2;
        display: none;
    }
    BatchesScreen.-empty #batch-empty {
        display: block;
    }
    BatchesScreen.-empty #batch-view {
        display: none;
    }
    """

    BINDINGS = [
        Binding("left", "batch(-1)", "Prev batch", key_display="←", group=_BATCH),
        Binding("right", "batch(1)", "Next batch", key_display="→", group=_BATCH),
        Binding("up", "row(-1)", "Prev row", key_display="↑", group=_ROW),
        Binding("down", "row(1)", "Next row", key_display="↓", group=_ROW),
        Binding("g", "jump", "Go to", tooltip="Go to a batch by index (or rN: source row N)"),
        Binding("s", "settings", "Settings", tooltip="Template, tokenizer, max length, ..."),
        Binding("m", "toggle_loss_on", "Loss on", tooltip="loss_on: response ↔ all"),
        Binding("b", "cycle_batcher", "Batcher", tooltip="random → grouped → packed"),
        Binding("t", "toggle_layout", "Text/grid layout", show=False,
                tooltip="Break lines at newlines (text) or fill lines (grid)"),
        Binding("r", "reload", "Reload the data", show=False,
                tooltip="Read and tokenize the data again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.settings = BatchSettings()
        self.prepared: Prepared | None = None
        self.batch_index = 0
        self.batch = None
        self.warnings: list[list[str]] = []
        self._want_key: tuple | None = None  # what the last started job will produce
        self._text_cache: dict[int, str] = {}
        self._text_tok = None
        self._detail_for: tuple | None = None
        self._shown_batches = 0  # counts show_batch calls (the detail panel's cache key)
        self._restore: tuple[int, int] | None = None  # (source row, offset) to come back to

    # -- layout ---------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield Static("", id="batch-settings")
        with Vertical(id="batch-view"):
            yield Static("", id="batch-summary")
            yield TokenGrid(id="grid")
            yield Static("", id="batch-warnings")
            yield Static("", id="batch-detail")
            yield Static("", id="batch-legend")
        yield Static("", id="batch-empty")

    def on_mount(self) -> None:
        state = self.app.state  # type: ignore[attr-defined]
        self.settings = self.settings.changed(template=state.template,
                                              tokenizer=state.tokenizer or "gpt2")
        self._show_settings()
        self.query_one(TokenGrid).focus()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._show_legend())
        self.call_after_refresh(self._show_legend)

    def _show_legend(self) -> None:
        self.query_one("#batch-legend", Static).update(self.grid.legend())

    @property
    def grid(self) -> TokenGrid:
        return self.query_one(TokenGrid)

    # -- context and jobs -------------------------------------------------------------------
    def context_changed(self) -> None:
        state = self.app.state  # type: ignore[attr-defined]
        self.settings = self.settings.changed(template=state.template,
                                              tokenizer=state.tokenizer or "gpt2")
        self._show_settings()
        if not state.source:
            self.prepared = None
            self._empty("No data yet.\n\nOpen a dataset on the [b]Data[/b] screen (press "
                        "[b]1[/b]), or start with [b]workbench --data FILE[/b]. This screen "
                        "then shows its batches exactly as training will see them.")
            return
        self.rebuild()

    def _key(self) -> tuple:
        state = self.app.state  # type: ignore[attr-defined]
        return (state.source, state.format, state.split, state.model, *self.settings.encode_key())

    def rebuild(self) -> None:
        """Encode (if an encode setting changed) and plan (always) in a job."""
        key = self._key()
        plan_key = (self.settings.batch_size, self.settings.batcher, self.settings.seed,
                    self.settings.epoch)
        if self._want_key == (key, plan_key) and (self.busy or (
                self.prepared is not None and self.prepared.key == key
                and self._plan_key(self.prepared.settings) == plan_key)):
            return  # nothing changed, or the job for exactly this is running
        self._remember_position()
        self._want_key = (key, plan_key)
        reuse = self.prepared if self.prepared is not None and self.prepared.key == key else None
        settings = self.settings
        state = self.app.state  # type: ignore[attr-defined]
        app = self.app
        source, fmt, split, model = state.source, state.format, state.split, state.model
        sessions_dir = getattr(app, "sessions_dir", None)
        datasets = getattr(app, "datasets", {})
        label = "planning batches" if reuse else "tokenizing"

        def job(control: JobControl) -> Prepared:
            return build(control, key=key, settings=settings, source=source, fmt=fmt,
                         split=split, model=model, sessions_dir=sessions_dir,
                         datasets=datasets, reuse=reuse)

        self.run_job("batches", job, on_done=self._prepared, label=label)

    @staticmethod
    def _plan_key(s: BatchSettings) -> tuple:
        return (s.batch_size, s.batcher, s.seed, s.epoch)

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        failed = (event.worker.name == "batches" and event.state == WorkerState.ERROR
                  and event.worker.name in self._jobs
                  and not self._jobs[event.worker.name][0].cancelled)
        super().on_worker_state_changed(event)
        if failed:
            self._want_key = None
            if self.prepared is None or self.prepared.key != self._key():
                self._empty("Could not build the batches: see the error below.\n\n"
                            "Press [b]s[/b] to change the settings (the [b]bytes[/b] tokenizer "
                            "needs no files), or fix the data on the [b]Data[/b] screen.")

    def cancel_jobs(self) -> bool:
        cancelled = super().cancel_jobs()
        if cancelled:
            self._want_key = None
            if self.prepared is None or self.prepared.key != self._key():
                self._empty("Tokenizing was cancelled.\n\nPress [b]r[/b] to start again, or "
                            "[b]s[/b] to change the settings.")
        return cancelled

    def action_reload(self) -> None:
        """Open and tokenize the data again (after the file changed on disk)."""
        state = self.app.state  # type: ignore[attr-defined]
        if not state.source:
            return
        datasets = getattr(self.app, "datasets", None)
        if isinstance(datasets, dict):
            datasets.pop((state.source, state.format or None), None)
            datasets.pop((state.source, state.format), None)
        self._remember_position()
        self.prepared = None
        self._want_key = None
        self.rebuild()

    def _prepared(self, result: Prepared) -> None:
        if result.dataset is not None:
            datasets = getattr(self.app, "datasets", None)
            if isinstance(datasets, dict):
                datasets.setdefault((result.key[0], result.key[1] or None), result.dataset)
        previous = self.prepared
        self.prepared = result
        enc = result.encoded
        if len(enc) == 0:
            problem = f" (row {enc.errors[0][0]}: {enc.errors[0][1]})" if enc.errors else ""
            self._empty(escape(
                f"No example of {result.key[0]} has a target with these settings: "
                f"{len(enc.dropped)} dropped (nothing left to train after truncation to max "
                f"length {result.settings.max_len}), {len(enc.errors)} not renderable with "
                f"template {result.template.name}{problem}.")
                + "\n\nPress [b]s[/b] to change the template or the max length.")
            return
        self.remove_class("-empty")
        self.grid.focus()
        if previous is not None and previous.key[:3] == result.key[:3]:
            index, row, pos = self.batch_index, self.grid.row, self.grid.pos
        else:  # other data: start at the beginning
            index, row, pos = 0, 0, 0
        if self._restore is not None:
            found = self.locate(*self._restore)
            if found is not None:
                index, row, pos = found
        self._restore = None
        self._show_settings()
        self.show_batch(max(0, min(index, len(result.plan) - 1)), row=row, pos=pos)

    def _empty(self, message: str) -> None:
        self.add_class("-empty")
        self.batch = None
        self._shown_batches += 1
        self.grid.clear()
        self.query_one("#batch-empty", Static).update(Text.from_markup(message))

    # -- positions ------------------------------------------------------------------------
    def _remember_position(self) -> None:
        """Note the source row and the offset in it under the cursor, to come back to
        (only while the data stays the same)."""
        if self.batch is None or self.prepared is None:
            return
        if self.prepared.key[:3] != self._key()[:3]:  # another source, format or split
            self._restore = None
            return
        row, pos = self.grid.cursor
        parts = self.batch.parts[row] if row < len(self.batch.parts) else []
        for enc, (_idx, start, n) in zip(self.batch.examples[row], parts):
            if start <= pos < start + n:
                self._restore = (enc.row, pos - start)
                return
        if parts:
            self._restore = (self.batch.examples[row][0].row, 0)

    def locate(self, source_row: int, offset: int = 0) -> tuple[int, int, int] | None:
        """(batch index, row, position) of a source row's example in the current plan."""
        if self.prepared is None:
            return None
        enc, plan = self.prepared.encoded, self.prepared.plan
        idx = enc.index_of_row(source_row)
        if idx is None:
            return None
        lengths = enc.lengths
        for b, batch in enumerate(plan):
            for r, examples in enumerate(batch):
                if idx in examples:
                    start = int(sum(int(lengths[i]) for i in examples[:examples.index(idx)]))
                    return b, r, start + max(0, min(offset, int(lengths[idx]) - 1))
        return None

    # -- showing a batch ------------------------------------------------------------------
    def show_batch(self, index: int, *, row: int = 0, pos: int = 0) -> None:
        from workbench.collate import collate_plan, row_warnings

        p = self.prepared
        if p is None or not p.plan:
            return
        self.batch_index = index
        self._shown_batches += 1
        tok = p.tokenizer
        if self._text_tok is not tok:  # cell texts are cached per tokenizer
            self._text_cache, self._text_tok = {}, tok
        self.batch = batch = collate_plan(p.encoded, p.plan[index], pad_id=tok.eos_id)
        self.warnings = [row_warnings(batch, r, tok) for r in range(batch.shape[0])]
        headers = [row_header(batch, r) for r in range(batch.shape[0])]
        rows = prepare_batch(batch, tok, headers=headers, warn=[bool(w) for w in self.warnings],
                             cache=self._text_cache)
        self._show_summary()
        self.grid.set_rows(rows, row=row, pos=pos)
        self._show_detail(*self.grid.cursor)  # now, not a message later: one frame

    def _show_summary(self) -> None:
        p, batch = self.prepared, self.batch
        if p is None or batch is None:
            return
        enc = p.encoded
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"batch {self.batch_index}", style="bold")
        text.append(f"/{len(p.plan)}", style="dim")
        text.append(f" · {batch.shape[0]}×{batch.shape[1]}")
        n_warn = sum(len(w) for w in self.warnings)
        if n_warn:
            rows = sum(1 for w in self.warnings if w)
            text.append(" · ", style="dim")
            text.append(f"⚠ {n_warn} warning{'s' * (n_warn != 1)} in {rows} "
                        f"row{'s' * (rows != 1)}", style="bold yellow")
        text.append(" · padding ", style="dim")
        text.append(f"{batch.padding_efficiency:.1%}", style=_eff_style(batch.padding_efficiency))
        text.append(" (epoch ", style="dim")
        text.append(f"{p.epoch_efficiency:.1%}", style=_eff_style(p.epoch_efficiency))
        text.append(")", style="dim")
        text.append(f" · {batch.n_targets} targets")
        text.append(f" · {len(enc)} examples", style="dim")
        extra = []
        if enc.dropped:
            extra.append(f"{len(enc.dropped)} dropped")
        if int(enc.truncated.sum()):
            extra.append(f"{int(enc.truncated.sum())} truncated")
        skipped = len(enc.errors) + p.bad_rows
        if skipped:
            extra.append(f"{skipped} bad rows")
        if extra:
            text.append(" (" + ", ".join(extra) + ")", style="dim")
        self.query_one("#batch-summary", Static).update(text)

    def _show_settings(self) -> None:
        s = self.settings
        p = self.prepared
        text = Text(no_wrap=True, overflow="ellipsis")

        def item(label: str, value: str, first: bool = False) -> None:
            if not first:
                text.append(" · ", style="dim")
            if label:
                text.append(f"{label} ", style="dim")
            text.append(value, style="bold")

        current = p is not None and p.key == self._key()
        wide = self.size.width >= 100
        name = s.template or (p.template.name if current else "auto")
        item("template" if wide or name == "auto" else "", name, True)
        if not s.template and wide:
            text.append(" (auto)", style="dim")
        tok = s.tokenizer
        if tok not in ("gpt2", "bytes", "model") and Path(tok).expanduser().is_dir():
            tok = Path(tok).name or tok  # a folder: its name (the dialog shows the path)
        item("tok", tok)
        if s.tokenizer == "model" and current:
            text.append(f" ({Path(p.tokenizer.name).name})", style="dim")
        item("max", str(s.max_len))
        item("bs", str(s.batch_size))
        item("", s.batcher)
        item("loss", s.loss_on)
        item("seed", str(s.seed))
        if s.epoch:
            item("epoch", str(s.epoch))
        if wide:
            text.append("  s edits", style="dim italic")
        self.query_one("#batch-settings", Static).update(text)

    def on_resize(self) -> None:
        self._show_settings()

    def on_token_grid_cursor_moved(self, event: TokenGrid.CursorMoved) -> None:
        self._show_detail(event.row, event.pos)

    def _show_detail(self, row: int, pos: int) -> None:
        batch, p = self.batch, self.prepared
        shown = (self._shown_batches, row, pos)
        if shown == self._detail_for:
            return
        self._detail_for = shown
        detail = self.query_one("#batch-detail", Static)
        warn = self.query_one("#batch-warnings", Static)
        if batch is None or p is None or row >= batch.shape[0]:
            detail.update("")
            warn.remove_class("-shown")
            return
        info = self.explain(row, pos)
        detail.update(detail_text(batch, row, info))
        lines = self.warnings[row] if row < len(self.warnings) else []
        if lines:
            warn.update(warnings_text(row, lines, sum(
                len(w) for r, w in enumerate(self.warnings) if r != row)))
            warn.add_class("-shown")
        else:
            warn.remove_class("-shown")

    def explain(self, row: int, pos: int) -> dict:
        """`explain_position` for the cursor (what the detail panel shows)."""
        from workbench.collate import explain_position

        return explain_position(self.batch, row, pos, self.prepared.tokenizer,
                                self.prepared.settings.loss_on)

    # -- actions --------------------------------------------------------------------------
    def action_batch(self, delta: int) -> None:
        if self.prepared is None or self.batch is None:
            return
        index = self.batch_index + delta
        if 0 <= index < len(self.prepared.plan):
            self.show_batch(index, row=self.grid.row, pos=0)
        else:
            self.app.bell()

    def action_row(self, delta: int) -> None:
        if self.batch is not None:
            self.grid.move_row(delta)

    def action_jump(self) -> None:
        if self.prepared is None or not self.prepared.plan:
            return

        def done(value: str | None) -> None:
            if value:
                self.jump(value)

        self.app.push_screen(JumpDialog(len(self.prepared.plan), self.batch_index), done)

    def jump(self, value: str) -> None:
        """Go to a batch index, or `rN`: the batch holding source row N."""
        value = value.strip().lower()
        if value.startswith("r"):
            found = self.locate(int(value[1:]))
            if found is None:
                self.notify(f"source row {value[1:]} is not in any batch (dropped, bad, or "
                            "out of range)", severity="warning")
                return
            index, row, pos = found
            self.show_batch(index, row=row, pos=pos)
            return
        index = int(value)
        n = len(self.prepared.plan)
        if index < 0:
            index += n
        self.show_batch(max(0, min(index, n - 1)), row=0, pos=0)

    def action_settings(self, focus_field: str = "template") -> None:
        from workbench.templates import template_names

        def done(result: BatchSettings | None) -> None:
            if result is not None:
                self.apply_settings(result)

        state = self.app.state  # type: ignore[attr-defined]
        self.app.push_screen(BatchSettingsDialog(self.settings, templates=template_names(),
                                                 focus_field=focus_field, model=state.model),
                             done)

    def apply_settings(self, settings: BatchSettings) -> None:
        """Use these settings; template and tokenizer go to the shared app state."""
        self.settings = settings
        state = self.app.state  # type: ignore[attr-defined]
        self._show_settings()
        if (state.template, state.tokenizer) != (settings.template, settings.tokenizer):
            self.app.set_context(template=settings.template,  # type: ignore[attr-defined]
                                 tokenizer=settings.tokenizer)
            if self.app.screen is not self:  # set_context tells only the visible screen
                self.rebuild()
        elif state.source:
            self.rebuild()

    def action_toggle_loss_on(self) -> None:
        self.apply_settings(self.settings.changed(
            loss_on="all" if self.settings.loss_on == "response" else "response"))

    def action_cycle_batcher(self) -> None:
        i = BATCHERS.index(self.settings.batcher)
        self.set_batcher(BATCHERS[(i + 1) % len(BATCHERS)])

    def set_batcher(self, batcher: str) -> None:
        self.apply_settings(self.settings.changed(batcher=batcher))

    def action_toggle_layout(self) -> None:
        grid = self.grid
        grid.set_text_layout(not grid.text_layout)
        self.notify("layout: " + ("text (new line after \\n)" if grid.text_layout
                                  else "grid (lines filled)"), timeout=2)

    # -- the command palette --------------------------------------------------------------
    def commands(self) -> Iterable[ScreenCommand]:
        other = "all" if self.settings.loss_on == "response" else "response"
        yield ScreenCommand("Next batch", "Show the next batch (→)", lambda: self.action_batch(1))
        yield ScreenCommand("Previous batch", "Show the previous batch (←)",
                            lambda: self.action_batch(-1))
        yield ScreenCommand("Jump to batch…", "Go to a batch by index, or rN for source row N (g)",
                            self.action_jump)
        yield ScreenCommand("Next row", "Select the next row of the batch (↓)",
                            lambda: self.action_row(1))
        yield ScreenCommand("Previous row", "Select the previous row of the batch (↑)",
                            lambda: self.action_row(-1))
        yield ScreenCommand(f"Toggle loss_on (now {self.settings.loss_on})",
                            f"Train on {other} (m)", self.action_toggle_loss_on)
        for batcher in BATCHERS:
            if batcher != self.settings.batcher:
                yield ScreenCommand(f"Batcher: {batcher}", f"Plan the batches {batcher} (b cycles)",
                                    lambda b=batcher: self.set_batcher(b))
        for name, title in (("template", "template"), ("tokenizer", "tokenizer"),
                            ("max_len", "max length"), ("batch_size", "batch size"),
                            ("seed", "seed")):
            yield ScreenCommand(f"Change {title}…", f"Batch settings: {title} (s)",
                                lambda n=name: self.action_settings(n))
        yield ScreenCommand("Toggle text/grid layout", "Break lines after newline tokens or "
                            "fill lines (t)", self.action_toggle_layout)
        yield ScreenCommand("Reload the data", "Open and tokenize the data again (r)",
                            self.action_reload)


# ----------------------------------------------------------------------------------------
# The job: open, encode, plan (off the UI thread)


def build(control: JobControl, *, key: tuple, settings: BatchSettings, source: str, fmt: str,
          split: str, model: str, sessions_dir, datasets: dict, reuse: Prepared | None) -> Prepared:
    from workbench.collate import encode_examples, plan_batches, plan_efficiency

    if reuse is not None:
        ds, split_name, template, tok, origin = (reuse.dataset, reuse.split, reuse.template,
                                                 reuse.tokenizer, reuse.template_origin)
        encoded, rows_read, bad = reuse.encoded, reuse.rows_read, reuse.bad_rows
    else:
        from workbench.collate import tokenizer_for
        from workbench.data.sources import open_dataset

        control.progress(None, None, "opening data")
        ds = datasets.get((source, fmt or None)) or datasets.get((source, fmt))
        if ds is None:
            ds = open_dataset(source, format=fmt or None)
        if control.cancelled:
            raise _Cancelled()
        split_name = split if split in getattr(ds, "splits", {}) else ds.default_split
        # The rows a training run with these settings uses: its validation split (or the
        # default val_ratio of this one, cut with the same seed) is held out, exactly as
        # `workbench train` does it, so these are the batches the model will see.
        from workbench.train.config import TrainConfig
        from workbench.train.loop import select_training_data

        ds, split_name, _ = select_training_data(
            ds, TrainConfig(data=source, split=split_name, seed=settings.seed))
        template, origin = resolve_template(settings.template, ds.format, model, sessions_dir)
        tok = tokenizer_for(resolve_tokenizer(settings.tokenizer, model, sessions_dir), template)
        total = ds.num_rows(split_name)
        encoded = encode_examples(_counted(ds.iter_examples(split_name), control, total),
                                  template, tok, loss_on=settings.loss_on,
                                  max_len=settings.max_len)
        rows_read = total
        bad = ds.bad.total if hasattr(ds, "bad") else 0
    if control.cancelled:
        raise _Cancelled()
    control.progress(None, None, "planning batches")
    plan = plan_batches(encoded.lengths, settings.batch_size, settings.batcher,
                        seed=settings.seed, epoch=settings.epoch, max_len=settings.max_len)
    efficiency = plan_efficiency(plan, encoded.lengths)
    return Prepared(key, settings, ds, split_name, template, tok, origin, encoded, plan,
                    efficiency, rows_read, bad)


def _counted(examples: Iterator, control: JobControl, total: int) -> Iterator:
    for n, example in enumerate(examples):
        if n % 256 == 0:
            if control.cancelled:
                raise _Cancelled()
            control.progress(n, total, f"tokenizing {n:,}/{total:,}")
        yield example
    control.progress(total, total, "tokenizing")


def model_folder(model: str, sessions_dir) -> Path | None:
    """The local folder holding the current model's files (a session's checkpoint or a
    folder), or None for a Hub id or nothing. Reads no weights, imports no torch."""
    if not model:
        return None
    from workbench.sessions import find_session, resolve_checkpoint, split_model_spec

    session = find_session(model, sessions_dir)
    if session is not None:
        return resolve_checkpoint(session, split_model_spec(model.removeprefix("session:"))[1])
    path = Path(model).expanduser()
    return path if path.is_dir() else None


def resolve_tokenizer(spec: str, model: str, sessions_dir):
    """The tokenizer named by the settings: gpt2, bytes, a folder, or "model": the current
    model's own files, with the special tokens its workbench.json records restored."""
    from workbench.errors import WorkbenchError
    from workbench.tokenizer import load_tokenizer

    if spec != "model":
        return load_tokenizer(spec)
    if not model:
        raise WorkbenchError("tokenizer 'model': no model is set; pick one on the Train or "
                             "Chat screen, or set the tokenizer to gpt2, bytes or a folder (s)")
    folder = model_folder(model, sessions_dir)
    if folder is None:
        folder = _hub_cache_folder(model)
    if folder is None:
        if model.split("/")[-1].startswith(("gpt2", "distilgpt2")):
            return load_tokenizer("gpt2")  # the Hub's GPT-2 family uses GPT-2's tokenizer
        raise WorkbenchError(f"tokenizer 'model': {model} is not a local folder or session and "
                             "its tokenizer files are not in the Hugging Face cache; set the "
                             "tokenizer to gpt2, bytes or a folder (s)")
    tok = load_tokenizer(folder)
    meta = _read_json(folder / "workbench.json")
    recorded = meta.get("added_tokens") if isinstance(meta.get("added_tokens"), dict) else {}
    if recorded:
        tok = tok.with_special_tokens([m for m, _ in sorted(recorded.items(), key=lambda kv: kv[1])])
    return tok


def resolve_template(spec: str, fmt: str, model: str, sessions_dir):
    """(template, where it came from): the named one; else the model's saved template (as
    training does); else the data format's usual one."""
    from workbench.data.formats import default_template
    from workbench.templates import get_template, template_from_dict

    if spec:
        return get_template(spec), "chosen"
    try:
        folder = model_folder(model, sessions_dir)
    except Exception:  # noqa: BLE001 - a model problem is reported by the tokenizer
        folder = None
    if folder is not None:
        meta = _read_json(folder / "workbench.json")
        if isinstance(meta.get("template"), dict):
            saved = template_from_dict(meta["template"], str(folder / "workbench.json"))
            if saved.name != "text":
                return saved, "model"
    return get_template(default_template(fmt)), "format"


def _hub_cache_folder(model: str) -> Path | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency
        return None
    vocab = try_to_load_from_cache(model, "vocab.json")
    merges = try_to_load_from_cache(model, "merges.txt")
    if isinstance(vocab, str) and isinstance(merges, str):
        return Path(vocab).parent
    return None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# ----------------------------------------------------------------------------------------
# Text of the panels


def warnings_text(row: int, lines: list[str], others: int) -> Text:
    """A row's warnings, one line per example ("example 3 (row 7): a; b; c")."""
    grouped: dict[str, list[str]] = {}
    for line in lines:
        who, sep, what = line.partition("): ")
        key, what = (who + ")", what) if sep else ("", line)
        grouped.setdefault(key, []).append(what)
    text = Text()
    for i, (who, problems) in enumerate(grouped.items()):
        if i:
            text.append("\n")
        text.append("⚠ ", style="bold")
        text.append(f"row {row}", style="bold")
        if who:
            text.append(f" · {who}: ", style="bold")
        else:
            text.append(": ")
        text.append("; ".join(problems))
    if others and len(grouped) == 1:
        text.append(f"  (+{others} in other rows)", style="dim")
    return text


def row_header(batch, row: int) -> str:
    """The title line of a row in the grid."""
    parts = batch.parts[row]
    examples = batch.examples[row]
    real = sum(n for _i, _s, n in parts)
    targets = int((batch.labels[row] != -100).sum())
    if len(parts) == 1:
        idx, _s, _n = parts[0]
        who = f"example {idx} (source row {examples[0].row})"
    else:
        rows = ", ".join(str(e.row) for e in examples[:6]) + ("…" if len(examples) > 6 else "")
        who = f"{len(parts)} examples (source rows {rows})"
    return f"row {row} · {who} · {real} positions · {targets} targets"


def detail_text(batch, row: int, info: dict) -> Text:
    """Three lines: the selected position (input, target = the next token, position id,
    segment), why it is or is not trained, and the row's stats."""
    from workbench.tokenizer import visible

    text = Text()
    pos = info["pos"]
    width = batch.shape[1]
    if info["kind"] == "pad" and width - pos > 1:
        text.append(f"pos {pos}–{width - 1}", style="bold")
        text.append(f" ({width - pos} pads)", style="dim")
    else:
        text.append(f"pos {pos}", style="bold")
    text.append("  input ", style="dim")
    text.append(f"{info['input_id']} ", style="bold")
    text.append(visible(info["input"]), style="reverse")
    if info.get("input_kind"):
        text.append(f" {info['input_kind']}", style="dim")
    text.append("  → target ", style="dim")
    if info["kind"] == "pad":
        text.append("-100", style="bold")
    elif info["trained"]:
        text.append(f"{info['target_id']} ", style="bold")
        text.append(visible(info.get("target_token", "")), style="reverse")
        text.append(f" {info['kind']}", style="dim")
    else:
        text.append("-100", style="bold")
        text.append(" (next ", style="dim")
        text.append(f"{next_token_id(batch, row, pos)} ", style="bold")
        text.append(visible(info.get("target_token", "")), style="reverse")
        text.append(f" {info['kind']})", style="dim")
    text.append("  pos id ", style="dim")
    text.append(str(info["position_id"]))
    text.append("  segment ", style="dim")
    text.append(str(info["segment"]))
    text.append("\n")
    if info["trained"]:
        text.append("✓ " + info["why"], style="bold green")
    else:
        text.append("✗ " + info["why"], style="bold")
    text.append("\n")
    examples = batch.examples[row]
    prompt = sum(e.n_prompt for e in examples)
    response = sum(e.n_response for e in examples)
    targets = int((batch.labels[row] != -100).sum())
    truncated = any(e.truncated for e in examples)
    end_ok = all(e.end_trained for e in examples)
    text.append(f"row {row}", style="bold")
    text.append(f"/{batch.shape[0]}", style="dim")
    if len(examples) > 1:
        text.append(f" · {len(examples)} examples")
    text.append(f" · prompt {prompt} · response {response} · targets {targets} · truncated ")
    text.append("YES" if truncated else "no", style="bold red" if truncated else "")
    text.append(" · end trained ")
    text.append("yes" if end_ok else "NO", style="bold green" if end_ok else "bold red")
    return text


def next_token_id(batch, row: int, pos: int) -> int:
    """The id of the token after position `pos` in its example (the target, trained or not)."""
    seg = int(batch.segment_ids[row, pos])
    if seg == 0:
        return -100
    enc = batch.examples[row][seg - 1]
    start = batch.parts[row][seg - 1][1]
    return int(enc.ids[pos - start + 1])


def _eff_style(value: float) -> str:
    return "bold green" if value >= 0.8 else ("bold yellow" if value >= 0.5 else "bold red")
