"""The Batches screen: the per-token mask inspector.

It shows micro-batches exactly as the trainer feeds them: it builds the trainer's own recipe
(`workbench.recipe`: template and tokenizer resolution, held-out cut, balancing, encoding,
the micro-batch plan) from the working config that the Train form edits too (change the
batcher here and the form shows it), and draws a batch with `TokenGrid`: one block per row,
one cell per position. A cell shows the position's INPUT token; its colour says what the
position trains on (`labels[p]`, the NEXT token): trained, the trained end token, masked
prompt (-100) or padding (-100). Special tokens are bold and underlined; packed rows mark
where each example starts. Every batch is numbered as training numbers it: batch i of
epoch e is micro-batch m of optimizer step n.

A session's batches: `show_session(name, step)` (from a step picked on a loss curve, or g
then sN) shows that run's config and its micro-batches, and compares each batch's
fingerprint with the one the run recorded when it trained on it: "matches the run's
record", or loudly not. w goes back to the working config.

Keys: ←/→ batch (in training order, across epochs), ↑/↓ row, h/l token (j/k a wrapped
line), g go to a batch / step / source row, s settings, m loss_on response/all, b batcher,
t text/grid layout, w the working config (from a session's batches). Building runs in a job
(progress, Escape cancels); a change that only re-plans keeps the encoding, and the cursor
stays on the same example and position when it can.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static

from workbench.constants import BATCHERS, LOSS_ON

from .base import JobControl, ScreenCommand, WorkbenchScreen
from .widgets.batch_dialogs import BatchSettingsDialog, JumpDialog, parse_jump
from .widgets.token_grid import TokenGrid, prepare_batch

_BATCH = Binding.Group("batch")
_ROW = Binding.Group("row")


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
    BatchesScreen #batch-settings.-session {
        background: $accent 25%;
    }
    BatchesScreen #batch-summary {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        padding: 0 1;
    }
    BatchesScreen #batch-receipt {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        padding: 0 1;
        display: none;
    }
    BatchesScreen #batch-receipt.-shown {
        display: block;
    }
    BatchesScreen #batch-receipt.-mismatch {
        background: $error 30%;
        text-style: bold;
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
        Binding("g", "jump", "Go to", tooltip="Go to a batch (N), a step (sN, sN.M) or a "
                "source row (rN)"),
        Binding("s", "settings", "Settings", tooltip="Template, max length, batch size, ..."),
        Binding("m", "toggle_loss_on", "Loss on", tooltip="loss_on: response ↔ all"),
        Binding("b", "cycle_batcher", "Batcher", tooltip="random → grouped → packed"),
        Binding("w", "working", "Working config", tooltip="Leave the session's batches: show "
                "the working config's"),
        Binding("t", "toggle_layout", "Text/grid layout", show=False,
                tooltip="Break lines at newlines (text) or fill lines (grid)"),
        Binding("r", "reload", "Reload the data", show=False,
                tooltip="Read and tokenize the data again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.config = None           # the TrainConfig shown (working config or a session's)
        self.session: str | None = None   # whose batches these are (None: the working config)
        self.recipe = None           # workbench.recipe.Recipe
        self.epoch = 0
        self.batch_index = 0
        self.batch = None
        self.receipt = None          # workbench.recipe.ReceiptCheck (a session's batches)
        self.warnings: list[list[str]] = []
        self._want: tuple | None = None   # what the last started job will produce
        self._built_for: tuple | None = None
        self._goto: tuple | None = None   # (step, micro) to show once built
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
            yield Static("", id="batch-receipt")
            yield TokenGrid(id="grid")
            yield Static("", id="batch-warnings")
            yield Static("", id="batch-detail")
            yield Static("", id="batch-legend")
        yield Static("", id="batch-empty")

    MAIN = "#grid"

    def on_mount(self) -> None:
        if self.config is None:
            self.config = self.app.working_config()  # type: ignore[attr-defined]
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
        pending = getattr(self.app, "pending_batches", None)
        if pending is not None:
            self.app.pending_batches = None  # type: ignore[attr-defined]
            self.show_session(*pending)
            return
        if self.session is None:
            self.config = self.app.working_config()  # type: ignore[attr-defined]
        self._show_settings()
        if self.session is None and not self.config.data:
            self.recipe = None
            self._empty("No data yet.\n\nOpen a dataset on the [b]Data[/b] screen (press "
                        "[b]1[/b]), or start with [b]workbench --data FILE[/b]. This screen "
                        "then shows its batches exactly as training will see them.")
            return
        self.rebuild()

    def _key(self) -> tuple:
        from workbench.recipe import RECIPE_FIELDS

        state = self.app.state  # type: ignore[attr-defined]
        return (self.session, state.format,
                *(getattr(self.config, f) for f in RECIPE_FIELDS))

    def show_session(self, name: str, step: int | None = None, micro: int = 0) -> None:
        """Show session `name`'s micro-batches (its config, its template and tokenizer),
        at `step` (from 1) when given, checked against the run's record."""
        from workbench.errors import WorkbenchError
        from workbench.sessions import CONFIG
        from workbench.train.config import TrainConfig

        folder = Path(self.app.sessions_dir) / name  # type: ignore[attr-defined]
        try:
            config = TrainConfig.from_toml(folder / CONFIG)
        except WorkbenchError as err:
            self.show_error(err.message, hint="(session batches)")
            return
        self.session, self.config = name, config
        self.refresh_bindings()
        self._goto = (step, micro) if step is not None else (1, 0)
        self._show_settings()
        if self.recipe is not None and self._built_for == self._key() and not self.busy:
            self._goto_step()
        else:
            self.rebuild()

    def allows(self, action: str, parameters: tuple) -> bool | None:
        if action == "working":
            return True if self.session is not None else None  # only from a session's batches
        return True

    def action_working(self) -> None:
        """Back to the working config's batches (from a session's)."""
        if self.session is None:
            self.notify("these are the working config's batches already", timeout=2)
            return
        self.session = None
        self.receipt = None
        self.refresh_bindings()
        self.context_changed()

    def rebuild(self) -> None:
        """Build the recipe (re-planning only when just the plan changed) in a job."""
        key = self._key()
        if self._want == key and (self.busy or self._built_for == key):
            if not self.busy and self._goto is not None:
                self._goto_step()
            return  # nothing changed, or the job for exactly this is running
        self._remember_position()
        self._want = key
        app = self.app
        config, session = self.config, self.session
        # a recipe is re-planned only for the same owner (a session pins its template)
        reuse = self.recipe if self._built_for and self._built_for[0] == session else None
        sessions_dir = getattr(app, "sessions_dir", None)
        datasets = getattr(app, "datasets", {})
        state = app.state  # type: ignore[attr-defined]
        fmt = state.format if session is None else config.format

        def job(control: JobControl):
            return build(control, config=config, session=session, sessions_dir=sessions_dir,
                         datasets=datasets, fmt=fmt, reuse=reuse)

        label = f"reading session {session}" if session else "tokenizing"
        self.run_job("batches", job, on_done=lambda r: self._built(key, *r), label=label)

    def on_worker_state_changed(self, event) -> None:
        from textual.worker import WorkerState

        failed = (event.worker.name == "batches" and event.state == WorkerState.ERROR
                  and event.worker.name in self._jobs
                  and not self._jobs[event.worker.name][0].cancelled)
        super().on_worker_state_changed(event)
        if failed:
            self._want = None
            if self._built_for != self._key():
                self.recipe = None
                self._empty("Could not build the batches: see the error below.\n\n"
                            "Press [b]s[/b] to change the settings, or fix the data on the "
                            "[b]Data[/b] screen." + (" [b]w[/b] goes back to the working "
                                                     "config." if self.session else ""))

    def cancel_jobs(self) -> bool:
        cancelled = super().cancel_jobs()
        if cancelled:
            self._want = None
            if self._built_for != self._key():
                self._empty("Tokenizing was cancelled.\n\nPress [b]r[/b] to start again, or "
                            "[b]s[/b] to change the settings.")
        return cancelled

    def action_reload(self) -> None:
        """Open and tokenize the data again (after the file changed on disk)."""
        if self.config is None or not self.config.data:
            return
        datasets = getattr(self.app, "datasets", None)
        if isinstance(datasets, dict):
            for key in [k for k in datasets if k[0] == self.config.data]:
                datasets.pop(key, None)
        self._remember_position()
        self.recipe = None
        self._built_for = self._want = None
        self.rebuild()

    def _built(self, key: tuple, recipe, opened: tuple | None) -> None:
        datasets = getattr(self.app, "datasets", None)
        if isinstance(datasets, dict) and opened is not None:
            datasets.setdefault(opened[0], opened[1])  # other screens reuse the opened data
        previous = self.recipe
        same_data = previous is not None and previous.config.data == recipe.config.data and \
            previous.config.split == recipe.config.split
        self.recipe = recipe
        self._built_for = key
        self.remove_class("-empty")
        self.grid.focus()
        epoch, index, row, pos = ((self.epoch, self.batch_index, self.grid.row, self.grid.pos)
                                  if same_data else (0, 0, 0, 0))
        if self._restore is not None:
            found = self.locate(*self._restore)
            if found is not None:
                epoch, index, row, pos = found
        self._restore = None
        self._show_settings()
        if self._goto is not None:
            self._goto_step()
            return
        n = len(recipe.plan(epoch))
        self.show_batch(max(0, min(index, n - 1)), epoch=epoch, row=row, pos=pos)

    def _goto_step(self) -> None:
        step, micro = self._goto or (1, 0)
        self._goto = None
        try:
            epoch, index = self.recipe.locate(step, micro)
        except Exception as err:  # noqa: BLE001 - a step past the plan, a bad micro
            from .base import describe_error

            self.show_error(describe_error(err), hint="(go to step)")
            epoch, index = 0, 0
        self.show_batch(index, epoch=epoch)

    def _empty(self, message: str) -> None:
        self.add_class("-empty")
        self.batch = None
        self.receipt = None
        self._shown_batches += 1
        self.grid.clear()
        self.query_one("#batch-receipt", Static).remove_class("-shown")
        self.query_one("#batch-empty", Static).update(Text.from_markup(message))

    # -- positions ------------------------------------------------------------------------
    def _remember_position(self) -> None:
        """Note the source row and the offset in it under the cursor, to come back to
        (only while the data stays the same)."""
        if self.batch is None or self.recipe is None:
            return
        if (self.recipe.config.data, self.recipe.config.split) != (self.config.data,
                                                                     self.config.split):
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

    def locate(self, source_row: int, offset: int = 0) -> tuple[int, int, int, int] | None:
        """(epoch, batch index, row, position) of a source row's example in the current
        epoch's plan (else epoch 0's)."""
        if self.recipe is None:
            return None
        enc = self.recipe.train
        idx = enc.index_of_row(source_row)
        if idx is None:
            return None
        lengths = enc.lengths
        for epoch in dict.fromkeys((self.epoch, 0)):
            for b, batch in enumerate(self.recipe.plan(epoch)):
                for r, examples in enumerate(batch):
                    if idx in examples:
                        start = int(sum(int(lengths[i]) for i in examples[:examples.index(idx)]))
                        return epoch, b, r, start + max(0, min(offset, int(lengths[idx]) - 1))
        return None

    # -- showing a batch ------------------------------------------------------------------
    def show_batch(self, index: int, *, epoch: int | None = None, row: int = 0,
                   pos: int = 0) -> None:
        from workbench.collate import row_warnings

        r = self.recipe
        if r is None:
            return
        epoch = self.epoch if epoch is None else epoch
        if not r.plan(epoch):
            return
        self.epoch, self.batch_index = epoch, index
        self._shown_batches += 1
        tok = r.tokenizer
        if self._text_tok is not tok:  # cell texts are cached per tokenizer
            self._text_cache, self._text_tok = {}, tok
        self.batch = batch = r.batch(epoch, index)
        self.receipt = None
        if self.session is not None:
            from workbench.recipe import check_receipt

            step, micro = r.step_of(epoch, index)
            folder = Path(self.app.sessions_dir) / self.session  # type: ignore[attr-defined]
            self.receipt = check_receipt(folder, step, micro, batch)
        self.warnings = [row_warnings(batch, i, tok) for i in range(batch.shape[0])]
        headers = [row_header(batch, i) for i in range(batch.shape[0])]
        rows = prepare_batch(batch, tok, headers=headers, warn=[bool(w) for w in self.warnings],
                             cache=self._text_cache)
        self._show_summary()
        self._show_receipt()
        self.grid.set_rows(rows, row=row, pos=pos)
        self._show_detail(*self.grid.cursor)  # now, not a message later: one frame

    def _show_summary(self) -> None:
        r, batch = self.recipe, self.batch
        if r is None or batch is None:
            return
        enc = r.train
        step, micro = r.step_of(self.epoch, self.batch_index)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"step {step}", style="bold")
        if r.per_step > 1:
            text.append(f" micro {micro}/{r.per_step}", style="bold")
        text.append(f" · batch {self.batch_index}", style="dim")
        text.append(f"/{len(r.plan(self.epoch))}", style="dim")
        text.append(f" of epoch {self.epoch}", style="dim")
        text.append(f" · {batch.shape[0]}×{batch.shape[1]}")
        n_warn = sum(len(w) for w in self.warnings)
        if n_warn:
            rows = sum(1 for w in self.warnings if w)
            text.append(" · ", style="dim")
            text.append(f"⚠ {n_warn} warning{'s' * (n_warn != 1)} in {rows} "
                        f"row{'s' * (rows != 1)}", style="bold yellow")
        text.append(" · padding efficiency ", style="dim")
        text.append(f"{batch.padding_efficiency:.1%}", style=_eff_style(batch.padding_efficiency))
        text.append(" · ", style="dim")
        text.append(f"{batch.n_targets} targets")
        text.append(f" · {len(enc)} examples", style="dim")
        extra = []
        if enc.dropped:
            extra.append(f"{len(enc.dropped)} dropped")
        if int(enc.truncated.sum()):
            extra.append(f"{int(enc.truncated.sum())} truncated")
        skipped = len(enc.errors) + r.report.get("bad_rows", 0)
        if skipped:
            extra.append(f"{skipped} bad rows")
        if r.val_split:
            extra.append(f"{r.heldout.get('rows', 0)} held out")
        if extra:
            text.append(" (" + ", ".join(extra) + ")", style="dim")
        self.query_one("#batch-summary", Static).update(text)

    def _show_receipt(self) -> None:
        widget = self.query_one("#batch-receipt", Static)
        receipt = self.receipt
        changed = self.recipe.report.get("changed") if self.recipe is not None else None
        widget.set_class(receipt is not None, "-shown")
        widget.set_class(receipt is not None and receipt.state == "mismatch", "-mismatch")
        if receipt is None:
            return
        text = Text(no_wrap=True, overflow="ellipsis")
        if receipt.state == "match":
            text.append("✓ ", style="bold green")
            text.append(receipt.message, style="bold green")
            text.append(f"  (fingerprint {receipt.computed})", style="dim")
        elif receipt.state == "mismatch":
            text.append("✗ " + receipt.message, style="bold")
        else:
            text.append("? " + receipt.message, style="bold yellow")
        if changed and receipt.state != "match":
            text.append(f"  · {changed}", style="bold")
        widget.update(text)

    def _show_settings(self) -> None:
        c = self.config
        widget = self.query_one("#batch-settings", Static)
        widget.set_class(self.session is not None, "-session")
        if c is None:
            return
        r = self.recipe if self._built_for == self._key() else None
        text = Text(no_wrap=True, overflow="ellipsis")

        def item(label: str, value: str, first: bool = False) -> None:
            if not first:
                text.append(" · ", style="dim")
            if label:
                text.append(f"{label} ", style="dim")
            text.append(value, style="bold")

        wide = self.size.width >= 100
        if self.session is not None:
            item("session", self.session, True)
            first = False
        else:
            first = True
        name = r.template.name if r is not None else (c.template or "auto")
        item("template", name, first)
        if r is not None and r.template_origin != "chosen":
            text.append(f" ({'auto' if r.template_origin == 'format' else r.template_origin})",
                        style="dim")
        if c.model == "scratch":
            tok = c.tokenizer
            if tok not in ("gpt2", "bytes") and Path(tok).expanduser().is_dir():
                tok = Path(tok).name or tok  # a folder: its name (the dialog shows the path)
            item("tok", tok)
        elif wide:
            item("model", c.model if len(c.model) <= 24 else "…" + c.model[-23:])
        item("max len", str(r.config.max_len) if r is not None else str(c.max_len or "auto"))
        item("batch", str(c.batch_size))
        if c.grad_accum > 1 or c.nproc > 1:
            item("accum", str(c.grad_accum * c.nproc))
        item("", c.batcher)
        item("loss on", c.loss_on)
        item("seed", str(c.seed))
        if wide:
            item("val", f"{c.val_ratio:g}" if not c.val_split else c.val_split)
            if c.balance_label:
                item("balance", f"{c.balance_label} {c.balance_strategy}")
            text.append("  " + ("w: working config" if self.session else "s edits"),
                        style="dim italic")
        widget.update(text)

    def on_resize(self) -> None:
        self._show_settings()

    def on_token_grid_cursor_moved(self, event: TokenGrid.CursorMoved) -> None:
        self._show_detail(event.row, event.pos)

    def _show_detail(self, row: int, pos: int) -> None:
        batch, r = self.batch, self.recipe
        shown = (self._shown_batches, row, pos)
        if shown == self._detail_for:
            return
        self._detail_for = shown
        detail = self.query_one("#batch-detail", Static)
        warn = self.query_one("#batch-warnings", Static)
        if batch is None or r is None or row >= batch.shape[0]:
            detail.update("")
            warn.remove_class("-shown")
            return
        info = self.explain(row, pos)
        detail.update(detail_text(batch, row, info))
        lines = self.warnings[row] if row < len(self.warnings) else []
        if lines:
            warn.update(warnings_text(row, lines, sum(
                len(w) for i, w in enumerate(self.warnings) if i != row)))
            warn.add_class("-shown")
        else:
            warn.remove_class("-shown")

    def explain(self, row: int, pos: int) -> dict:
        """`explain_position` for the cursor (what the detail panel shows)."""
        from workbench.collate import explain_position

        return explain_position(self.batch, row, pos, self.recipe.tokenizer,
                                self.recipe.config.loss_on)

    # -- actions --------------------------------------------------------------------------
    def action_batch(self, delta: int) -> None:
        """The next or previous micro-batch in training order (across epochs)."""
        r = self.recipe
        if r is None or self.batch is None:
            return
        epoch, index = self.epoch, self.batch_index + delta
        if index >= len(r.plan(epoch)):
            epoch, index = epoch + 1, 0
        elif index < 0:
            if epoch == 0:
                self.app.bell()
                return
            epoch -= 1
            index = len(r.plan(epoch)) - 1
        self.show_batch(index, epoch=epoch, row=self.grid.row, pos=0)

    def action_row(self, delta: int) -> None:
        if self.batch is not None:
            self.grid.move_row(delta)

    def action_jump(self) -> None:
        if self.recipe is None:
            return

        def done(value: str | None) -> None:
            if value:
                self.jump(value)

        self.app.push_screen(JumpDialog(len(self.recipe.plan(self.epoch)), self.batch_index,
                                        self.recipe.per_step), done)

    def jump(self, value: str) -> None:
        """Go to batch N of the current epoch, `sN` / `sN.M` (micro-batch M of optimizer
        step N), or `rN` (the batch holding source row N)."""
        value = value.strip().lower()
        n = len(self.recipe.plan(self.epoch))
        problem = parse_jump(value, n)
        if problem:
            self.notify(problem, severity="warning")
            return
        if value.startswith("r"):
            found = self.locate(int(value[1:]))
            if found is None:
                self.notify(f"source row {value[1:]} is not in any batch (held out, dropped, "
                            "bad, or out of range)", severity="warning")
                return
            epoch, index, row, pos = found
            self.show_batch(index, epoch=epoch, row=row, pos=pos)
            return
        if value.startswith("s"):
            step, _, micro = value[1:].partition(".")
            self._goto = (int(step), int(micro or 0))
            self._goto_step()
            return
        index = int(value)
        if index < 0:
            index += n
        self.show_batch(max(0, min(index, n - 1)), row=0, pos=0)

    def action_settings(self, focus_field: str = "template") -> None:
        from workbench.templates import template_names

        if self.session is not None:
            self.notify(f"these are session {self.session}'s batches, with its own config; "
                        "w goes back to the working config, which s edits", timeout=5)
            return
        if self.config is None:
            return

        def done(changes: dict | None) -> None:
            if changes:
                self.apply_settings(**changes)

        self.app.push_screen(BatchSettingsDialog(self.config, templates=template_names(),
                                                 focus_field=focus_field), done)

    def apply_settings(self, **changes) -> None:
        """Change fields of the working config (the Train form shows the change too)."""
        if self.session is not None:
            self.notify("a session's config is not edited here; w goes back to the working "
                        "config", severity="warning", timeout=4)
            return
        self.app.set_config(**changes)  # type: ignore[attr-defined]
        if self.app.screen is not self:  # set_config tells only the visible screen
            self.context_changed()

    def action_toggle_loss_on(self) -> None:
        if self.config is not None:
            i = LOSS_ON.index(self.config.loss_on)
            self.apply_settings(loss_on=LOSS_ON[(i + 1) % len(LOSS_ON)])

    def action_cycle_batcher(self) -> None:
        if self.config is not None:
            i = BATCHERS.index(self.config.batcher)
            self.set_batcher(BATCHERS[(i + 1) % len(BATCHERS)])

    def set_batcher(self, batcher: str) -> None:
        self.apply_settings(batcher=batcher)

    def action_toggle_layout(self) -> None:
        grid = self.grid
        grid.set_text_layout(not grid.text_layout)
        self.notify("layout: " + ("text (new line after \\n)" if grid.text_layout
                                  else "grid (lines filled)"), timeout=2)

    # -- the command palette --------------------------------------------------------------
    def commands(self) -> Iterable[ScreenCommand]:
        loss_on = self.config.loss_on if self.config is not None else "response"
        batcher = self.config.batcher if self.config is not None else ""
        other = "all" if loss_on == "response" else "response"
        yield ScreenCommand("Next batch", "Show the next batch (→)", lambda: self.action_batch(1))
        yield ScreenCommand("Previous batch", "Show the previous batch (←)",
                            lambda: self.action_batch(-1))
        yield ScreenCommand("Jump to batch…", "Go to a batch by index, sN for step N, or rN for "
                            "source row N (g)", self.action_jump)
        yield ScreenCommand("Next row", "Select the next row of the batch (↓)",
                            lambda: self.action_row(1))
        yield ScreenCommand("Previous row", "Select the previous row of the batch (↑)",
                            lambda: self.action_row(-1))
        yield ScreenCommand(f"Toggle loss_on (now {loss_on})",
                            f"Train on {other} (m)", self.action_toggle_loss_on)
        for name in BATCHERS:
            if name != batcher:
                yield ScreenCommand(f"Batcher: {name}", f"Plan the batches {name} (b cycles)",
                                    lambda b=name: self.set_batcher(b))
        for name, title in (("template", "template"), ("model", "model"),
                            ("tokenizer", "tokenizer"), ("max_len", "max length"),
                            ("batch_size", "batch size"), ("seed", "seed")):
            yield ScreenCommand(f"Change {title}…", f"Batch settings: {title} (s)",
                                lambda n=name: self.action_settings(n))
        if self.session is not None:
            yield ScreenCommand("Working config", "Leave the session's batches (w)",
                                self.action_working)
        yield ScreenCommand("Toggle text/grid layout", "Break lines after newline tokens or "
                            "fill lines (t)", self.action_toggle_layout)
        yield ScreenCommand("Reload the data", "Open and tokenize the data again (r)",
                            self.action_reload)


# ----------------------------------------------------------------------------------------
# The job: the recipe (off the UI thread)


def build(control: JobControl, *, config, session: str | None, sessions_dir, datasets: dict,
          fmt: str, reuse):
    """(the recipe, (cache key, dataset) when this job opened the data, else None)."""
    from workbench.recipe import build_recipe, session_recipe

    control.progress(None, None, "opening data")
    key = (config.data, fmt or None)
    ds = datasets.get(key)
    opened = None
    if ds is None:
        from workbench.data.sources import open_dataset

        ds = open_dataset(config.data, format=config.format or None)
        opened = (key, ds)
    kw = dict(dataset=ds, reuse=reuse, progress=control.progress,
              cancelled=lambda: control.cancelled)
    if session is not None:
        recipe = session_recipe(Path(sessions_dir) / session, sessions_dir=sessions_dir, **kw)
    else:
        recipe = build_recipe(config, sessions_dir=sessions_dir, **kw)
    control.progress(None, None, "planning batches")
    recipe.plan(0)
    return recipe, opened


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
