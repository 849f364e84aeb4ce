"""The Sessions screen: every training run under the sessions folder, live.

The list (a table, newest first, refreshed every two seconds) shows each run's state, steps,
best validation loss, model, data, template and start time, with the loss curves of the
highlighted run below it. Space marks runs to overlay their curves in one plot (balanced vs
imbalanced data, loss on the response vs on everything), each in its own colour, the same
colour as its mark in the table.

Enter opens a run: its description (and, for a stopped or failed run, the message and what
to do), then tabs for its curves, samples, checkpoints (latest / best with validation loss),
config.toml and the tail of train.log. From the list or an open run: `u` makes it the SFT
model of the Chat screen (`app.state.session`), `t` follows it in the Train screen, `x` stops
it, `r` resumes it, `d` deletes it (asks first; refuses while it runs).
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import ContentSwitcher, DataTable, Static, TabbedContent, TabPane

from workbench.errors import WorkbenchError
from workbench.sessions import CHECKPOINTS, checkpoint_rows

from .base import ScreenCommand, WorkbenchScreen
from .widgets.loss_plot import LossPlot, palette_color, rgb_hex
from .widgets.session_log import SessionLog
from .widgets.session_text import config_content, samples_content, short_source
from .widgets.session_watch import (LIVE_STATES, STATE_ICON, SessionWatch, advice,
                                    failure_cause, first_sentences, fmt_duration, fmt_loss,
                                    fmt_time, state_markup)

COLUMNS = [("mark", " "), ("name", "Session"), ("state", "State"), ("steps", "Steps"),
           ("best", "Best val"), ("model", "Model"), ("data", "Data"), ("template", "Template"),
           ("loss_on", "Loss on"), ("started", "Started")]
# the order columns leave a narrow terminal in (the highlighted row's hidden fields show in
# a line under the table)
DROP_ORDER = ("loss_on", "template", "started", "data", "model", "steps")
STATE_COLORS = {"starting": "yellow", "running": "green", "stopped": "yellow", "finished": "blue",
                "failed": "red"}
KEYS = {"resume": "r", "reuse": "t, then ctrl+b,"}


class SessionsScreen(WorkbenchScreen):
    """Past and running training sessions."""

    TITLE = "Sessions"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    POLL_SECONDS = 2.0

    BINDINGS = [
        Binding("space", "mark", "Mark", id="sessions-mark",
                tooltip="Mark or unmark the run to overlay its curves with the other marked runs"),
        Binding("u", "use_in_chat", "Use in Chat", id="sessions-use",
                tooltip="Make this run the SFT model of the Chat screen"),
        Binding("d", "delete", "Delete", id="sessions-delete",
                tooltip="Delete the run's folder, or every marked run's (asks first; refuses while one runs)"),
        Binding("x", "stop", "Stop", id="sessions-stop",
                tooltip="Stop the run after its current step (it saves a checkpoint)"),
        Binding("r", "resume", "Resume", id="sessions-resume",
                tooltip="Continue a stopped or failed run from its last checkpoint"),
        Binding("i", "inspect_step", "Step's batch", id="sessions-inspect",
                tooltip="Pick a step of this run (its loss spikes are offered) and see its "
                        "micro-batches on the Batches screen"),
        Binding("t", "follow_in_train", "Follow in Train", id="sessions-train", show=False,
                tooltip="Show this run in the Train screen"),
        Binding("c", "clear_marks", "Clear marks", id="sessions-clear", show=False,
                tooltip="Unmark every run"),
        Binding("l", "log_scale", "Log scale", id="sessions-log-scale", show=False,
                tooltip="Loss axis: linear or logarithmic"),
        Binding("backspace", "back", "Back", id="sessions-back",
                tooltip="Back to the list (Escape too)"),
    ]

    DEFAULT_CSS = """
    SessionsScreen #sessions-switcher { height: 1fr; }
    SessionsScreen #sessions-list, SessionsScreen #session-detail { height: 1fr; }
    SessionsScreen #sessions-table { height: auto; max-height: 45%; margin: 0 1; }
    SessionsScreen.-wide #sessions-table { max-height: 50%; margin-top: 1; }
    SessionsScreen #sessions-empty { height: auto; margin: 1 2; color: $text-muted; display: none; }
    SessionsScreen #sessions-list.-empty #sessions-empty { display: block; }
    SessionsScreen #sessions-list.-empty #sessions-table,
    SessionsScreen #sessions-list.-empty #overlay-title,
    SessionsScreen #sessions-list.-empty #overlay-plot { display: none; }
    SessionsScreen #sessions-more { height: auto; margin: 0 1; color: $text-muted; display: none; }
    SessionsScreen #sessions-more.-shown { display: block; }
    SessionsScreen #overlay-title { height: auto; margin: 1 1 0 1; }
    SessionsScreen #overlay-plot { height: 1fr; margin: 0 1; }

    SessionsScreen #detail-head { height: auto; margin: 0 1; }
    SessionsScreen.-wide #detail-head { margin-top: 1; }
    SessionsScreen #detail-alert { height: auto; margin: 0 1; padding: 0 1; display: none;
                                   border-left: thick $error; background: $error 12%; }
    SessionsScreen #detail-alert.-stopped { border-left: thick $warning; background: $warning 12%; }
    SessionsScreen #detail-alert.-shown { display: block; }
    SessionsScreen #detail-tabs { height: 1fr; }
    SessionsScreen #detail-tabs TabPane { padding: 0 1; }
    SessionsScreen #detail-plot { height: 1fr; }
    SessionsScreen #detail-ckpts { height: auto; max-height: 100%; }
    SessionsScreen #detail-ckpt-note { height: auto; color: $text-muted; margin-top: 1; }
    SessionsScreen #detail-samples-box, SessionsScreen #detail-config-box { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.infos: dict[str, dict] = {}          # name -> {"status", "config", "path"}
        self.order: list[str] = []
        self.marked: list[str] = []               # in marking order: colour i
        self.columns: list[str] = [key for key, _ in COLUMNS]  # shown, by the width
        self.watches: dict[str, SessionWatch] = {}
        self.detail: SessionWatch | None = None
        self._config_cache: dict[str, tuple[float, dict]] = {}
        self._plot_key: tuple | None = None
        self._highlight_timer = None

    # -- layout -----------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        with ContentSwitcher(id="sessions-switcher", initial="sessions-list"):
            with Vertical(id="sessions-list"):
                table: DataTable = DataTable(id="sessions-table", cursor_type="row",
                                             zebra_stripes=True)
                for key, label in COLUMNS:
                    table.add_column(label, key=key)
                yield table
                yield Static(id="sessions-more")
                yield Static("No training sessions yet. Launch one from the Train screen (F4).",
                             id="sessions-empty")
                yield Static(id="overlay-title")
                yield LossPlot(id="overlay-plot")
            with Vertical(id="session-detail"):
                yield Static(id="detail-head")
                yield Static(id="detail-alert")
                with TabbedContent(id="detail-tabs"):
                    with TabPane("Curves", id="detail-curves"):
                        yield LossPlot(id="detail-plot")
                    with TabPane("Samples", id="detail-samples"):
                        with VerticalScroll(id="detail-samples-box"):
                            yield Static(id="detail-samples-text")
                    with TabPane("Checkpoints", id="detail-checkpoints"):
                        ckpts: DataTable = DataTable(id="detail-ckpts", cursor_type="row")
                        for key, label in (("name", "Checkpoint"), ("step", "Step"),
                                           ("val", "Val loss"), ("tags", ""), ("disk", "Folder")):
                            ckpts.add_column(label, key=key)
                        yield ckpts
                        yield Static(id="detail-ckpt-note")
                    with TabPane("Config", id="detail-config"):
                        with VerticalScroll(id="detail-config-box"):
                            yield Static(id="detail-config-text")
                    with TabPane("Log", id="detail-log-tab"):
                        yield SessionLog(id="detail-log")

    MAIN = "#sessions-table"

    def on_mount(self) -> None:
        self.refresh_sessions()
        self.watch(self.app, "theme", lambda _t: self._redraw_marks(), init=False)
        self.set_interval(self.POLL_SECONDS, self._tick)
        self.query_one("#sessions-table", DataTable).focus()

    # -- the list ---------------------------------------------------------------------------
    @property
    def sessions_dir(self) -> Path:
        return Path(self.app.sessions_dir)  # type: ignore[attr-defined]

    def _read_config(self, path: Path) -> dict:
        from workbench.sessions import CONFIG, read_config_fields

        try:
            mtime = (path / CONFIG).stat().st_mtime
        except OSError:
            return {}
        cached = self._config_cache.get(path.name)
        if cached and cached[0] == mtime:
            return cached[1]
        flat = read_config_fields(path)
        self._config_cache[path.name] = (mtime, flat)
        return flat

    def refresh_sessions(self) -> None:
        """Read every session's status (marking dead `running` ones failed) and config, and
        bring the table up to date without losing the cursor."""
        from workbench.sessions import read_status, session_folders
        from workbench.train.status import check_alive

        infos: dict[str, dict] = {}
        for path in session_folders(self.sessions_dir):
            status = read_status(path)
            if status.get("state") in LIVE_STATES:
                status = check_alive(path)
            infos[path.name] = {"path": path, "status": status,
                                "config": self._read_config(path)}
        order = sorted(infos, key=lambda n: str(infos[n]["status"].get("started_at") or ""),
                       reverse=True)
        self.marked = [n for n in self.marked if n in infos]
        table = self.query_one("#sessions-table", DataTable)
        cells = {name: self._cells(name, infos[name]) for name in order}
        columns = self._fit_columns(cells)
        if columns != self.columns:
            self.columns = columns
            self.order = []  # rebuilt below with the columns that fit
            current = self.highlighted
            table.clear(columns=True)
            for key, label in COLUMNS:
                if key in columns:
                    table.add_column(label, key=key)
            self._restore = current
        if order != self.order:
            current = self.highlighted or getattr(self, "_restore", None)
            table.clear()
            for name in order:
                table.add_row(*[cells[name][k] for k in self.columns], key=name)
            self.order = order
            if current in order:
                table.move_cursor(row=order.index(current), animate=False)
        else:
            for name in order:
                if infos[name]["status"] != self.infos.get(name, {}).get("status") or \
                        infos[name]["config"] is not self.infos.get(name, {}).get("config"):
                    for key in self.columns:
                        table.update_cell(name, key, cells[name][key])
        self._cells_now = cells
        self.infos = infos
        self._show_more()
        self.query_one("#sessions-list").set_class(not order, "-empty")
        self._redraw_marks()
        self.refresh_bindings()
        self._update_overlay()

    def _cells(self, name: str, info: dict) -> dict:
        status, config = info["status"], info["config"]
        state = status.get("state", "unknown")
        chat = getattr(self.app.state, "session", "") == name  # type: ignore[attr-defined]
        name_cell = Text(name)
        if chat:
            name_cell.append(" ★", style="bold yellow")
        state_cell = Text(f"{STATE_ICON.get(state, '?')} {state}",
                          style=f"bold {STATE_COLORS.get(state, 'dim')}")
        if state == "failed" and status.get("killed"):
            state_cell.append(" (killed)", style="dim")
        max_steps = status.get("max_steps")
        steps = f"{status.get('step') or 0}/{max_steps}" if max_steps else f"{status.get('step') or 0}/?"
        best = status.get("best_val_loss")
        best_cell = Text(f"{best:.4f}" if isinstance(best, (int, float)) else "—", justify="right")
        if isinstance(best, (int, float)) and status.get("best_step") is not None:
            best_cell.append(f" @{status['best_step']}", style="dim")
        values = [self._mark_cell(name), name_cell, state_cell, Text(steps, justify="right"),
                  best_cell, short_source(str(config.get("model") or status.get("model") or ""), 24),
                  short_source(str(config.get("data") or status.get("data") or ""), 28),
                  str(status.get("template") or config.get("template") or "auto"),
                  str(config.get("loss_on") or "—"), fmt_time(status.get("started_at"))]
        return dict(zip((key for key, _ in COLUMNS), values))

    def _fit_columns(self, cells: dict[str, dict]) -> list[str]:
        """The columns that fit the table's width, dropping them in DROP_ORDER (the
        highlighted row's dropped fields show under the table)."""
        width = (self.size.width or self.app.size.width) - 4  # margins and the scrollbar
        need = {key: max([len(label)] + [len(str(getattr(c[key], "plain", c[key])))
                                          for c in cells.values()]) + 2
                for key, label in COLUMNS}
        columns = [key for key, _ in COLUMNS]
        for key in DROP_ORDER:
            if sum(need[k] for k in columns) <= width:
                break
            columns.remove(key)
        return columns

    def _show_more(self) -> None:
        """Under the table: the highlighted session's fields whose columns did not fit."""
        box = self.query_one("#sessions-more", Static)
        hidden = [key for key, _ in COLUMNS if key not in self.columns]
        name = self.highlighted
        cells = getattr(self, "_cells_now", {}).get(name) if name else None
        box.set_class(bool(hidden and cells), "-shown")
        if not (hidden and cells):
            return
        labels = dict(COLUMNS)
        text = Text(f"{name}: ", style="bold")
        for i, key in enumerate(hidden):
            if i:
                text.append(" · ", style="dim")
            text.append(f"{labels[key].lower()} ", style="dim")
            text.append(str(getattr(cells[key], "plain", cells[key])))
        text.append("  (a wider terminal shows every column)", style="dim")
        box.update(text)



    def _mark_cell(self, name: str) -> Text:
        if name not in self.marked:
            return Text(" ")
        dark = bool(self.app.current_theme.dark)
        return Text("■", style=f"bold {rgb_hex(palette_color(self.marked.index(name), dark))}")

    def _redraw_marks(self) -> None:
        table = self.query_one("#sessions-table", DataTable)
        for name in self.order:
            table.update_cell(name, "mark", self._mark_cell(name))
        self._plot_key = None
        self._update_overlay()

    @property
    def highlighted(self) -> str | None:
        table = self.query_one("#sessions-table", DataTable)
        if not self.order or table.cursor_row is None or table.cursor_row >= len(self.order):
            return None
        try:
            key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except Exception:  # noqa: BLE001 - an empty table
            return None
        return key.value

    @property
    def current(self) -> str | None:
        """The session the actions apply to: the open one, else the highlighted one."""
        if self.detail is not None and self._detail_shown:
            return self.detail.name
        return self.highlighted

    @property
    def _detail_shown(self) -> bool:
        return self.query_one("#sessions-switcher", ContentSwitcher).current == "session-detail"

    @on(DataTable.RowHighlighted, "#sessions-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()
        self._show_more()
        # holding an arrow key down should not read every session on the way
        if self._highlight_timer is not None:
            self._highlight_timer.stop()
        self._highlight_timer = self.set_timer(0.15, self._update_overlay)

    @on(DataTable.RowSelected, "#sessions-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.open_session(str(event.row_key.value))

    # -- the overlay plot -------------------------------------------------------------------
    def _watch_for(self, name: str) -> SessionWatch:
        watch = self.watches.get(name)
        if watch is None or not watch.path.exists():
            watch = SessionWatch(self.sessions_dir / name)
            self.watches[name] = watch
        return watch

    def plotted(self) -> list[str]:
        """The runs in the overlay plot: the marked ones, else the highlighted one."""
        if self.marked:
            return list(self.marked)
        h = self.highlighted
        return [h] if h else []

    def _update_overlay(self, poll: bool = True) -> None:
        names = self.plotted()
        changed = False
        for name in names:
            fresh = name not in self.watches
            watch = self._watch_for(name)
            if watch.loading:
                continue
            if fresh and watch.is_big():  # tens of thousands of steps: read them in a worker
                watch.loading = True
                self.run_job(f"load-{name}", functools.partial(_load, watch),
                             on_done=self._loaded, label=f"reading {name}")
                continue
            if poll and watch.poll(check_alive=False) & {"metrics", "evals", "status"}:
                changed = True
        for gone in set(self.watches) - set(names) - ({self.detail.name} if self.detail else set()):
            del self.watches[gone]
        key = (tuple(names), bool(self.app.current_theme.dark))
        if not changed and key == self._plot_key:
            return
        self._plot_key = key
        plot = self.query_one("#overlay-plot", LossPlot)
        title = self.query_one("#overlay-title", Static)
        if self.marked:
            curves = [self.watches[n].curve(color=i)
                      for i, n in enumerate(names)]
            plot.set_curves(curves, empty_message="the marked runs have no metrics yet")
            title.update(Content.from_markup(
                "[b]$n marked runs[/] [dim]· space: mark/unmark · c: clear · enter: open[/]",
                n=str(len(names))))
        elif names:
            w = self.watches[names[0]]
            plot.set_curves([w.curve()],
                            max_steps=w.max_steps if w.live else None,
                            empty_message="no metrics in this session yet")
            title.update(Content.from_markup(
                "[b]$name[/] [dim]· space: overlay runs · enter: open[/]",
                name=names[0]))
        else:
            plot.set_curves([])
            title.update("")

    def _loaded(self, watch: SessionWatch) -> None:
        watch.loading = False
        if self.detail is watch:
            self._poll_detail(initial=True, polled=True)
        self._plot_key = None
        self._update_overlay(poll=False)

    # -- the detail view ------------------------------------------------------------------------
    def open_session(self, name: str) -> None:
        if name not in self.infos:
            return
        self.detail = SessionWatch(self.sessions_dir / name)
        self.query_one("#sessions-switcher", ContentSwitcher).current = "session-detail"
        if self.detail.is_big():
            self.detail.loading = True
            self.run_job("load-detail", functools.partial(_load, self.detail),
                         on_done=self._loaded, label=f"reading {name}")
        else:
            self._poll_detail(initial=True)
        self.focus_main()  # the tab bar: ←/→ change tabs at once
        self.refresh_bindings()

    def focus_main(self) -> None:
        if self._detail_shown:
            from textual.widgets import Tabs

            self.query_one("#detail-tabs").query_one(Tabs).focus()
        else:
            super().focus_main()

    def action_back(self) -> None:
        if self._detail_shown:
            self.query_one("#sessions-switcher", ContentSwitcher).current = "sessions-list"
            self.detail = None
            self.query_one("#sessions-table", DataTable).focus()
            self.refresh_bindings()

    def action_escape(self) -> None:
        from .widgets.error_panel import ErrorPanel

        panel = self.query_one(ErrorPanel)
        if panel.shown:
            panel.hide()
        elif self._detail_shown:
            self.action_back()

    def on_resize(self) -> None:
        if self.detail is not None:
            self.call_after_refresh(self._show_detail_head)
        if self.is_mounted and self.infos:
            self.call_after_refresh(self.refresh_sessions)  # the columns that fit

    def _poll_detail(self, initial: bool = False, polled: bool = False) -> None:
        watch = self.detail
        if watch is None or watch.loading:
            return
        changed = set() if polled else watch.poll()
        if initial:
            changed |= {"status", "metrics", "evals", "samples", "log"}
        if changed & {"status", "metrics", "evals"}:
            self._show_detail_head()
            self.query_one("#detail-plot", LossPlot).set_curves(
                [watch.curve()],
                max_steps=watch.max_steps if watch.live else None,
                empty_message="no metrics in this session yet")
        if "status" in changed or initial:
            self._show_checkpoints()
        if "samples" in changed:
            rows = list(reversed(watch.samples))
            box = self.query_one("#detail-samples-text", Static)
            box.update(samples_content(sorted(rows, key=lambda r: -(r.get("step") or 0)), with_step=True)
                       if rows else Content.from_markup("[dim]no samples (the config has no "
                                                        "sample_prompts, or none were due yet)[/]"))
        if initial:
            self.query_one("#detail-config-text", Static).update(config_content(watch.config_text()))
            self.query_one("#detail-log", SessionLog).set_lines(watch.log)
        elif "log" in changed:
            self.query_one("#detail-log", SessionLog).append(watch.new_log_lines)

    def _show_detail_head(self) -> None:
        watch = self.detail
        assert watch is not None
        s = watch.status
        info = self.infos.get(watch.name, {})
        cfg = info.get("config", {})
        best = s.get("best_val_loss")
        wide = self.size.width >= 120
        if wide:
            markup = (f"[b]$name[/]  {state_markup(watch.state)}  [b]step $step[/][dim] of $max[/]  "
                      "[dim]best val[/] [b]$best[/]\n"
                      "$model [dim]on[/] $data [dim]·[/] $template [dim]· loss on[/] $loss_on "
                      "[dim]·[/] $device [dim]· started[/] $started [dim]· trained for[/] $took")
        else:
            markup = (f"[b]$name[/]  {state_markup(watch.state)}  [b]step $step[/][dim] of $max[/]\n"
                      "[dim]best val[/] [b]$best[/] [dim]·[/] $model [dim]on[/] $data [dim]·[/] "
                      "$template\n[dim]loss on[/] $loss_on [dim]·[/] $device [dim]· started[/] "
                      "$started")
        head = Content.from_markup(
            markup,
            name=watch.name, step=str(watch.step), max=str(watch.max_steps or "?"),
            best=(f"{best:.4f} @{s.get('best_step')}" if isinstance(best, (int, float)) else "—"),
            model=short_source(str(cfg.get("model") or s.get("model") or ""), 32),
            data=short_source(str(cfg.get("data") or s.get("data") or ""), 40 if wide else 24),
            template=str(s.get("template") or cfg.get("template") or "auto"),
            loss_on=str(cfg.get("loss_on") or "—"), device=str(s.get("device") or "—"),
            started=fmt_time(s.get("started_at")), took=fmt_duration(watch.elapsed_seconds()))
        self.query_one("#detail-head", Static).update(head)
        alert = self.query_one("#detail-alert", Static)
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
                at=f" at step {at}" if at else "", cause=cause, advice=advice(s, watch.log, KEYS)))
        elif state == "stopped":
            alert.update(Content.from_markup("[b $warning]■ stopped[/] $advice",
                                             advice=advice(s, watch.log, KEYS)))

    def _show_checkpoints(self) -> None:
        watch = self.detail
        assert watch is not None
        table = self.query_one("#detail-ckpts", DataTable)
        table.clear()
        rows = checkpoint_rows(watch.path)
        for row in rows:
            tags = Text()
            if row["latest"]:
                tags.append("latest ", style="bold")
            if row["best"]:
                tags.append("★ best", style="bold yellow")
            table.add_row(row["name"], Text(str(row["step"]), justify="right"),
                          Text(fmt_loss(row["val_loss"]), justify="right"), tags,
                          "✓" if row["present"] else Text("missing", style="red"), key=row["name"])
        note = self.query_one("#detail-ckpt-note", Static)
        if not rows:
            note.update("No checkpoint yet.")
        else:
            note.update(Content.from_markup(
                "[dim]u uses this session in Chat (its checkpoints load there: best by "
                "validation loss, or latest)[/]"))

    # -- polling ----------------------------------------------------------------------------------
    def _tick(self) -> None:
        if self not in self.app.screen_stack:  # another mode is shown (a dialog above is fine)
            return
        self.refresh_sessions()
        if self._detail_shown:
            self._poll_detail()

    def context_changed(self) -> None:
        # the Chat session may have changed: the ★ follows it
        for name in self.order:
            if name in self.infos:
                self.query_one("#sessions-table", DataTable).update_cell(
                    name, "name", self._cells(name, self.infos[name])["name"])
        if self.is_mounted:
            self.refresh_sessions()

    # -- actions ----------------------------------------------------------------------------------
    def allows(self, action: str, parameters: tuple) -> bool | None:
        name = self.current
        state = self.infos.get(name, {}).get("status", {}).get("state") if name else None
        if action == "stop":
            return state in LIVE_STATES
        if action == "resume":
            return state in ("stopped", "failed")
        if action in ("use_in_chat", "delete", "follow_in_train", "inspect_step"):
            return True if name else None
        if action == "mark":
            return not self._detail_shown
        if action == "clear_marks":
            return bool(self.marked) and not self._detail_shown
        if action == "back":
            return self._detail_shown
        return True

    def action_mark(self) -> None:
        name = self.highlighted
        if name is None:
            return
        if name in self.marked:
            self.marked.remove(name)
        else:
            self.marked.append(name)
        self._redraw_marks()
        self.refresh_bindings()

    def action_clear_marks(self) -> None:
        self.marked.clear()
        self._redraw_marks()
        self.refresh_bindings()

    def action_log_scale(self) -> None:
        log = False
        for plot in self.query(LossPlot):
            log = plot.toggle_log()
        self.notify(f"loss axis: {'logarithmic' if log else 'linear'}", timeout=2)

    def action_use_in_chat(self) -> None:
        name = self.current
        if name is None:
            return
        if not checkpoint_rows(self.sessions_dir / name) and \
                not (self.sessions_dir / name / CHECKPOINTS).is_dir():
            self.notify(f"{name} has no checkpoint yet: nothing to chat with", severity="warning")
            return
        self.app.set_context(session=name)  # type: ignore[attr-defined]
        self.notify(f"Chat will answer with {name} as the SFT model (F5 opens Chat)",
                    title="SFT model", timeout=5)

    def action_inspect_step(self) -> None:
        """Pick a step of this run and see its micro-batches (Batches screen)."""
        name = self.current
        if name:
            self.app.pick_step(name)  # type: ignore[attr-defined]

    def action_follow_in_train(self) -> None:
        name = self.current
        if name is None:
            return

        def follow() -> None:
            screen = self.app.screen
            if hasattr(screen, "follow"):
                screen.follow(name, show=True)  # type: ignore[attr-defined]

        self.app.switch_mode("train")
        self.app.call_after_refresh(follow)

    def action_stop(self) -> None:
        name = self.current
        if name is None:
            return
        from .dialogs.confirm import ConfirmDialog

        from workbench.sessions import session_dir

        from .widgets.session_watch import stop_question

        path = session_dir(name, self.sessions_dir)
        self.app.push_screen(ConfirmDialog("Stop training?", yes="Stop", no="Keep training",
                                           live=lambda: stop_question(path, "r")),
                             lambda ok: self._stop(name) if ok else None)

    def _stop(self, name: str) -> None:
        from workbench.train import runner

        try:
            sent = runner.stop(name, self.sessions_dir)
        except WorkbenchError as err:
            self.show_error(err.message, hint="(stop)")
            return
        self.notify(f"stopping {name}: it saves a checkpoint first" if sent
                    else f"{name} is not running any more", timeout=5)
        self.refresh_sessions()

    def action_resume(self) -> None:
        name = self.current
        if name is None:
            return
        from workbench.train import runner

        try:
            runner.resume(name, self.sessions_dir)
        except WorkbenchError as err:
            self.show_error(err.message, hint="(resume)")
            return
        self.notify(f"resuming {name} (t follows it in Train)", timeout=5)
        self.refresh_sessions()
        if self.detail is not None and self.detail.name == name:
            self.open_session(name)

    def action_delete(self) -> None:
        """Delete the highlighted session, or every marked one (space marks) at once, with
        one confirmation. A session still training is never deleted (it is named)."""
        names = list(self.marked) if self.marked and not self._detail_shown else \
            ([self.current] if self.current else [])
        if not names:
            return
        from workbench.train.runner import attach

        live, rows = [], []
        for name in names:
            try:
                status = attach(name, self.sessions_dir)
            except WorkbenchError:
                status = self.infos.get(name, {}).get("status", {})
            if status.get("state") in LIVE_STATES:
                live.append(name)
            else:
                rows.append((name, status))
        if not rows:
            self.notify(f"{', '.join(live)} {'is' if len(live) == 1 else 'are'} still training: "
                        "stop it first (x), wait for 'stopped', then delete it",
                        title="Not deleted", severity="error", timeout=6)
            return
        from .dialogs.confirm import ConfirmDialog

        size = sum(_folder_size(self.sessions_dir / n) for n, _ in rows)
        n_ckpt = sum(len(checkpoint_rows(self.sessions_dir / n)) for n, _ in rows)
        chat_model = getattr(self.app.state, "session", "")  # type: ignore[attr-defined]
        chat = " One is the Chat screen's SFT model." if any(n == chat_model for n, _ in rows) \
            else ""
        kept = f" Still training, kept: {', '.join(live)}." if live else ""
        if len(rows) == 1:
            name, status = rows[0]
            what = (f"{name} ({status.get('state', 'unknown')}, step {status.get('step') or 0}): "
                    "its config, metrics, samples, log and")
        else:
            listed = ", ".join(n for n, _ in rows[:6]) + (f" and {len(rows) - 6} more"
                                                          if len(rows) > 6 else "")
            what = f"{len(rows)} sessions ({listed}): their configs, metrics, samples, logs and"
        detail = (f"{what} {n_ckpt} checkpoint{'s' if n_ckpt != 1 else ''} ({_human_size(size)})"
                  f" are removed for good.{chat}{kept}")
        question = "Delete session?" if len(rows) == 1 else f"Delete {len(rows)} sessions?"
        self.app.push_screen(ConfirmDialog(question, detail, yes="Delete", no="Keep"),
                             lambda ok: self._delete([n for n, _ in rows]) if ok else None)

    def _delete(self, names: list[str]) -> None:
        from workbench.train.runner import attach

        gone = []
        for name in names:
            try:
                if attach(name, self.sessions_dir).get("state") in LIVE_STATES:  # resumed meanwhile
                    self.notify(f"{name} started training again; not deleted", severity="error")
                    continue
            except WorkbenchError:
                pass
            gone.append(name)
        if not gone:
            return

        def remove(control) -> list[str]:
            done = []
            for name in gone:
                if control.cancelled:
                    break
                control.progress(len(done), len(gone), f"deleting {name}")
                shutil.rmtree(self.sessions_dir / name)
                done.append(name)
            return done

        self.run_job("delete", remove, on_done=self._deleted,
                     label=f"deleting {gone[0]}" if len(gone) == 1 else
                     f"deleting {len(gone)} sessions")

    def _deleted(self, names: list[str]) -> None:
        if getattr(self.app.state, "session", "") in names:  # type: ignore[attr-defined]
            self.app.set_context(session="")  # type: ignore[attr-defined]
        if self.detail is not None and self.detail.name in names:
            self.action_back()
        for name in names:
            self.watches.pop(name, None)
            if name in self.marked:
                self.marked.remove(name)
        self.refresh_sessions()
        self.refresh_bindings()
        self.notify(f"deleted {', '.join(names)}" if len(names) <= 3 else
                    f"deleted {len(names)} sessions", timeout=4)

    def commands(self):
        yield ScreenCommand("Sessions: open", "Config, curves, samples, checkpoints, log",
                            lambda: self.open_session(self.highlighted) if self.highlighted else None)
        yield ScreenCommand("Sessions: use in Chat", "Make this run the Chat screen's SFT model",
                            self.action_use_in_chat)
        yield ScreenCommand("Sessions: inspect a step's batch", "Pick a step (its loss spikes "
                            "are offered) and see what it trained on (i)",
                            self.action_inspect_step)
        yield ScreenCommand("Sessions: follow in Train", "Watch this run in the Train screen",
                            self.action_follow_in_train)
        yield ScreenCommand("Sessions: mark for the overlay", "Compare the curves of marked runs",
                            self.action_mark)
        yield ScreenCommand("Sessions: clear marks", "Unmark every run", self.action_clear_marks)
        yield ScreenCommand("Sessions: log / linear loss axis", "Flip the plots' loss axis",
                            self.action_log_scale)
        yield ScreenCommand("Sessions: stop", "SIGTERM: it checkpoints and ends stopped",
                            self.action_stop)
        yield ScreenCommand("Sessions: resume", "Continue from the last checkpoint", self.action_resume)
        yield ScreenCommand("Sessions: delete", "Remove the run's folder (asks first)",
                            self.action_delete)


def _load(watch: SessionWatch, control) -> SessionWatch:
    """Read a session's files (in a worker)."""
    watch.poll(check_alive=False)
    return watch


def _folder_size(path: Path) -> int:
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def _human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"
