"""The Data screen: open a source, browse its rows page by page, search and filter them, see
the selected row rendered in the current template, the label distribution per split, and
balance the data by a label into a new file that becomes the current source.

Opening runs in a job (a million rows take about a second and a half the first time, then
come memory-mapped from the cache); a page is fetched on the key press (under a millisecond);
a new search or filter runs in a job, and its later pages are fetched on the key press.

Keys: o open · / search · f filter · x clear · n/p pages (arrows and PageUp/PageDown roll
over the page edges, Home/End the first/last page) · g go to row · s split · F format ·
t template · l label chart · v show/hide the chart · b balance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from .base import ScreenCommand, WorkbenchScreen
from .terms import app_terms
from .dialogs.open_source import OpenRequest
from .widgets.data_preview import RowPreview, legend_markup
from .widgets.data_table import RowsTable, columns_for
from .widgets.label_chart import LabelChart

PAGE_SIZE = 50
WIDE = 120          # columns from which the row preview and the chart sit beside the table
TALL = 34           # rows from which the bad-row report shows more lines
LENGTH = "length"   # the token-length label (needs the tokenizer)
# Labels worth charting first, when a dataset has them.
PREFERRED_LABELS = ("ending", "category", "label", "type", "task", "source", "topic", "language")


@dataclass
class Opened:
    """What an open job hands back to the screen."""

    request: OpenRequest
    ds: Any
    split: str
    page: Any
    labels: list[str]
    note: str = ""
    has_input: bool = True


def preferred_label(labels: list[str]) -> str | None:
    for name in PREFERRED_LABELS:
        if name in labels:
            return name
    return labels[0] if labels else None


def balance_and_save(ds, label: str, strategy: str, *, seed: int, ratio_text: str,
                     val_ratio: float | None, out: str, label_kw: dict | None = None,
                     as_: str | None = None) -> dict:
    """Balance and save exactly as `workbench data balance` does (the same engine call, so
    the same manifest)."""
    from workbench.data.balance import balance_and_save as engine_balance_and_save, parse_ratio

    meta, _report = engine_balance_and_save(ds, label, strategy, out, seed=seed,
                                            ratio=parse_ratio(ratio_text), val_ratio=val_ratio,
                                            as_=as_, **(label_kw or {}))
    return meta


class DataScreen(WorkbenchScreen):
    """Browse, search, filter, chart and balance the current data source."""

    TITLE = "Data"
    AUTO_FOCUS = ""  # nothing: the table takes focus once there are rows

    DEFAULT_CSS = """
    DataScreen #data-info {
        height: auto;
        padding: 0 1;
        background: $boost;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    DataScreen #data-bad {
        display: none;
        height: auto;
        max-height: 9;
        padding: 0 1;
        background: $warning 12%;
        border-left: thick $warning;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    DataScreen.-bad #data-bad {
        display: block;
    }
    DataScreen #data-toolbar {
        height: 1;
        padding: 0 1;
    }
    DataScreen #data-search-key {
        width: auto;
        color: $text-muted;
    }
    DataScreen #data-search {
        width: 30;
    }
    DataScreen #data-filter-chip {
        width: auto;
        margin-left: 1;
    }
    DataScreen #data-status {
        width: 1fr;
        text-align: right;
        color: $text-muted;
    }
    DataScreen #data-main {
        height: 1fr;
        layout: vertical;
    }
    DataScreen.-wide #data-main {
        layout: horizontal;
    }
    DataScreen #data-table {
        height: 1fr;
        width: 1fr;
    }
    DataScreen #data-side {
        height: 50%;
        width: 1fr;
    }
    DataScreen.-wide #data-side {
        height: 1fr;
        width: 42%;
        border-left: tall $primary 40%;
    }
    DataScreen #data-preview-box, DataScreen #data-chart-box {
        height: 1fr;
        border-top: solid $primary 40%;
        border-title-color: $text-muted;
        border-title-align: left;
    }
    DataScreen #data-chart-box {
        display: none;
    }
    DataScreen.-chart #data-chart-box {
        display: block;
    }
    DataScreen.-chart #data-preview-box {
        display: none;
    }
    DataScreen.-wide.-chart #data-preview-box {
        display: block;
    }
    DataScreen.-wide.-chart #data-chart-box {
        height: auto;
        max-height: 50%;
    }
    DataScreen #data-empty {
        display: none;
        height: 1fr;
        content-align: center middle;
        text-align: center;
    }
    DataScreen.-empty #data-empty {
        display: block;
    }
    DataScreen.-empty #data-main, DataScreen.-empty #data-toolbar,
    DataScreen.-empty #data-info, DataScreen.-empty #data-bad {
        display: none;
    }
    """

    BINDINGS = [
        Binding("o", "open", "Open", id="data-open",
                tooltip="Open a file, a folder, a Hub dataset or a recent source"),
        Binding("slash", "search", "Search", id="data-search",
                tooltip="Search the rows for a substring (Enter runs it)"),
        Binding("f", "filter", "Filter", id="data-filter",
                tooltip="Show only the rows with one value of a label"),
        Binding("b", "balance", "Balance", id="data-balance",
                tooltip="Balance by a label and save to a new file"),
        Binding("l", "label", "Labels", id="data-label",
                tooltip="Chart the distribution of a label per split"),
        Binding("F", "format", "Format", id="data-format",
                tooltip="Read the source in another format"),
        Binding("x", "clear", "Clear", id="data-clear", tooltip="Clear the search and the filter"),
        Binding("s", "next_split", "Split", id="data-split", tooltip="Show the next split"),
        Binding("n", "page(1)", "Next page", id="data-next-page", tooltip="The next page of rows"),
        Binding("p", "page(-1)", "Prev page", id="data-prev-page",
                tooltip="The previous page of rows"),
        Binding("g", "goto", "Go to row", id="data-goto", show=False,
                tooltip="Jump to a row by its #"),
        Binding("t", "template", "Template", id="data-template", show=False,
                tooltip="The template the selected row is rendered in"),
        Binding("v", "toggle_chart", "Show/hide chart", id="data-chart", show=False,
                tooltip="Show or hide the label chart"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.ds = None
        self.request: OpenRequest | None = None
        self.split = ""
        self.page = None
        self.page_no = 0
        self.search = ""
        self.filter: tuple[str, str] | None = None
        self.labels: list[str] = []
        self.has_input = True
        self.chart_label: str | None = None
        self.stats: dict | None = None
        self._opening: tuple | None = None
        self._loaded: tuple | None = None
        self._query_ready: tuple | None = None   # the query whose masks are computed
        self._chart_wide = True                  # chart shown beside the preview (wide)
        self._chart_narrow = False               # chart instead of the preview (narrow)
        self._failed = ""
        self._preview_key: tuple | None = None
        self._template_key: tuple | None = None
        self._template_cached: tuple = (None, "", "format", "")

    # -- layout ---------------------------------------------------------------------------
    def compose_body(self) -> ComposeResult:
        yield Static(id="data-info")
        yield Static(id="data-bad")
        with Horizontal(id="data-toolbar"):
            yield Static("/ ", id="data-search-key")
            yield Input(placeholder="search rows (Enter)", compact=True, id="data-search")
            yield Static("", id="data-filter-chip")
            yield Static("", id="data-status")
        with Horizontal(id="data-main"):
            yield RowsTable(id="data-table")
            with Vertical(id="data-side"):
                with VerticalScroll(id="data-preview-box"):
                    yield RowPreview(id="data-preview")
                with VerticalScroll(id="data-chart-box"):
                    yield LabelChart(id="data-chart")
        yield Static(id="data-empty")

    MAIN = "#data-table"

    def on_mount(self) -> None:
        self.query_one("#data-preview-box").border_title = "row"
        self.query_one("#data-chart-box").border_title = "labels (l picks one)"
        self._layout_for(self.app.size.width, self.app.size.height)
        self._show_empty()

    def on_resize(self, event) -> None:
        self._layout_for(event.size.width, event.size.height)

    def _layout_for(self, width: int, height: int) -> None:
        wide = width >= WIDE
        tall = height >= TALL
        if tall != self.has_class("-tall"):
            self.set_class(tall, "-tall")
            self._refresh_bad()
        self.set_class(wide, "-wide")
        self.set_class(self._chart_wide if wide else self._chart_narrow, "-chart")

    @property
    def table(self) -> RowsTable:
        return self.query_one("#data-table", RowsTable)

    # -- context --------------------------------------------------------------------------
    def context_changed(self) -> None:
        state = self.app.state
        if not state.source:
            if self.ds is None:
                self._show_empty()
            return
        key = (state.source, state.format or "")
        if key != self._loaded and key != self._opening:
            if key[0] != (self._loaded or ("",))[0]:
                self.request = None
            keep = self.request if self.request and self.request.source == key[0] else None
            self.open_source(OpenRequest(
                key[0], key[1], config=keep.config if keep else "",
                split=keep.split if keep else "", revision=keep.revision if keep else "",
                streaming=keep.streaming if keep else False))
            return
        if self.ds is not None:
            if state.split and state.split != self.split and state.split in self.ds.split_names:
                self.split = state.split
                self.goto_page(0)
            self._refresh_info()
            self._refresh_preview()

    # -- opening --------------------------------------------------------------------------
    def open_source(self, request: OpenRequest) -> None:
        """Open `request` in a job; on success it becomes the current source."""
        key = (request.source, request.format)
        self._opening = key
        self._failed = ""
        if self.ds is None:
            self._show_empty(f"Opening {request.source} …")
        want_split = self.app.state.split

        def job(control) -> Opened:
            from workbench.data.sources import open_dataset

            control.progress(None, None, f"opening {request.source}")
            ds = open_dataset(request.source, format=request.format or None,
                              split=request.split or None, config=request.config or None,
                              revision=request.revision or None, streaming=request.streaming)
            split = want_split if want_split in ds.split_names else ds.default_split
            page = ds.page(split, 0, PAGE_SIZE)
            labels = _label_candidates(ds, split, page)
            return Opened(request, ds, split, page, labels, has_input=_has_input(ds, page))

        self.run_job("open", job, on_done=self._opened, label=f"opening {request.source}")

    def _opened(self, result: Opened) -> None:
        request, ds = result.request, result.ds
        self.ds, self.request, self.split = ds, request, result.split
        self.search, self.filter, self._query_ready = "", None, None
        self.query_one("#data-search", Input).value = ""
        self.labels = result.labels
        self.has_input = result.has_input
        if self.chart_label not in self.labels:
            self.chart_label = preferred_label(self.labels)
        self.stats = None
        self._loaded = (request.source, request.format)
        self._opening = None
        datasets = getattr(self.app, "datasets", None)
        if isinstance(datasets, dict) and not getattr(ds, "streaming", False):
            datasets[(request.source, request.format or None)] = ds  # the Batches screen reuses it
        self.remove_class("-empty")
        self._show_page(result.page, "first")
        self._refresh_info()
        self._refresh_bad()
        self.table.focus()
        self.refresh_bindings()
        self.app.set_context(source=request.source, format=request.format, split=result.split)
        if result.note:
            self.notify(result.note, timeout=6)
        self._load_chart(auto=True)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # The base class reports the error; here the screen only forgets what it was opening.
        if event.worker.name == "open" and event.state in (WorkerState.ERROR,
                                                            WorkerState.CANCELLED):
            failed = self._opening
            self._opening = None
            if self.ds is None:
                self._failed = failed[0] if failed else ""
                self._show_empty()

    def _show_empty(self, message: str = "") -> None:
        if self.ds is not None:
            return
        self.add_class("-empty")
        recent = self.app.state.recent[:3]
        lines = [Content.styled("No data open", "bold $accent"), Content("")]
        if message:
            lines = [Content.styled(message, "bold"), Content("")]
        elif self._failed:
            lines = [Content.styled(f"Could not open {self._failed}", "bold $text-error"),
                     Content.styled("(the reason is in the error panel below)", "$text-muted"),
                     Content("")]
        lines.append(Content.assemble("Press ", ("o", "bold reverse"),
                                      " to open a file, a folder or a Hub dataset"))
        if recent and not message:
            lines += [Content(""), Content.styled("recent", "$text-muted")]
            lines += [Content.styled(r, "$text-muted") for r in recent]
        self.query_one("#data-empty", Static).update(Content("\n").join(lines))
        if self.focused is not None:
            self.set_focus(None)
        self.refresh_bindings()

    # -- pages ----------------------------------------------------------------------------
    def _query(self) -> tuple:
        label, value = self.filter or (None, None)
        return (self.split, self.search, label, value)

    def goto_page(self, page_no: int, where: str = "first") -> None:
        """Show page `page_no` (clamped); a new query or a stream runs in a job."""
        if self.ds is None:
            return
        if self.page is not None and self.page.total is not None and self._query_ready == self._query():
            page_no = max(0, min(page_no, self.page.pages - 1))
        page_no = max(0, page_no)
        ds = self.ds
        split, search, label, value = self._query()
        fetch = lambda: ds.page(split, page_no, PAGE_SIZE, search=search or None,  # noqa: E731
                                label=label, value=value)
        if not getattr(ds, "streaming", False) and (
                self._query_ready == self._query() or not (search or label)):
            self._query_ready = self._query()
            self._show_page(fetch(), where)
            return
        query = self._query()

        def done(page) -> None:
            if query != self._query() or ds is not self.ds:
                return
            if not page.rows and page_no > 0 and self.page is not None:
                self.notify("no more rows", timeout=2)
                return
            self._query_ready = query
            self._show_page(page, where)

        what = "searching" if search else ("filtering" if label else "reading")
        self.run_job("page", lambda control: fetch(), on_done=done, label=f"{what}…")

    def _show_page(self, page, where: str = "first") -> None:
        self.page, self.page_no = page, page.page
        table = self.table
        table.spec = self._columns()
        table.show_rows(page.rows, 0 if where == "first" else len(page.rows) - 1)
        self._refresh_status()  # the table's CursorMoved brings the preview
        if getattr(self.ds, "streaming", False):  # bad rows and the total grow as rows are read
            self._refresh_info()
            self._refresh_bad()

    def _columns(self):
        shown = [name for name in self.labels if name != LENGTH][:2]
        return columns_for(self.ds.format, shown, has_input=self.has_input)

    def _refresh_status(self) -> None:
        page = self.page
        status = self.query_one("#data-status", Static)
        if page is None:
            status.update("")
            return
        n = len(page.rows)
        first = page.page * page.size + 1
        last = page.page * page.size + n
        filtered = bool(self.search or self.filter)
        if page.total is None:
            text = (f"page {page.page + 1:,} · rows {first:,}–{last:,}"
                    f"{' matching' if filtered else ''} · {page.matched:,} read, total unknown so far")
        elif n == 0:
            text = (f"no rows match · {page.total:,} in {self.split}" if filtered
                    else f"no rows in {self.split}")
        else:
            text = f"page {page.page + 1:,} of {page.pages:,} · rows {first:,}–{last:,} of {page.matched:,}"
            if filtered:
                text += f" matching · {page.total:,} in {self.split}"
        status.update(text)
        chip = self.query_one("#data-filter-chip", Static)
        if self.filter:
            chip.update(Content.assemble((f" {self.filter[0]} = {self.filter[1]} ",
                                          "bold $text-accent on $accent-muted"),
                                         (" x clears", "$text-muted")))
        elif self.search:
            chip.update(Content.styled("x clears", "$text-muted"))
        else:
            chip.update("")

    def on_rows_table_page_request(self, event: RowsTable.PageRequest) -> None:
        event.stop()
        if self.page is None:
            return
        if event.edge == "first":
            self.goto_page(0, "first")
        elif event.edge == "last":
            if self.page.total is None:
                self.notify("the last page is unknown while streaming", timeout=3)
                return
            self.goto_page(self.page.pages - 1, "last")
        else:
            target = self.page_no + event.delta
            if target < 0 or (self.page.total is not None and target >= self.page.pages):
                return  # already at the first / last row
            self.goto_page(target, event.where)

    def on_rows_table_cursor_moved(self, event: RowsTable.CursorMoved) -> None:
        self._refresh_preview()

    # -- the info line, the bad rows, the preview --------------------------------------------
    def _template(self):
        """(template or None, its name, where it came from, why it cannot render this data
        or "") by the recipe's order: the chosen one, the model's saved one, the format's
        usual one (`workbench.recipe.resolve_template`), checked on the first rows."""
        from workbench.errors import WorkbenchError
        from workbench.model.load import saved_template
        from workbench.recipe import resolve_template, template_problem

        state = self.app.state
        key = (id(self.ds), self.split, state.template, state.model)
        if self._template_key == key:
            return self._template_cached
        try:
            saved = saved_template(state.model or "demo-base",
                                   sessions_dir=self.app.sessions_dir)  # type: ignore[attr-defined]
        except WorkbenchError:
            saved = None
        try:
            template, origin = resolve_template(state.template, saved, self.ds.format)
        except WorkbenchError as err:
            result = (None, state.template, "chosen", app_terms(err.message))
        else:
            problem = ""
            if not getattr(self.ds, "streaming", False):
                page = self.ds.page(self.split, 0, 64).rows
                problem = template_problem(template, [r.example for r in page]) or ""
            result = (template, template.name, origin, problem)
        self._template_key, self._template_cached = key, result
        if self.app.template_problem != result[3]:  # type: ignore[attr-defined]
            self.app.template_problem = result[3]  # type: ignore[attr-defined]
            from .widgets.context_bar import ContextBar

            self.query_one(ContextBar).refresh_context()
        return result

    def _template_name(self) -> tuple[str, bool]:
        _template, name, origin, _problem = self._template()
        return name, origin != "chosen"

    def _refresh_info(self) -> None:
        ds = self.ds
        if ds is None:
            return
        parts: list = [("format ", "$text-muted"), (ds.format, "bold $text-accent"),
                       (" (detected)" if ds.detected else " (given)", "$text-muted"),
                       ("  ·  ", "$text-muted")]
        counts = ds.counts()
        if len(counts) > 1:
            parts.append(("splits ", "$text-muted"))
        for i, (name, n) in enumerate(counts.items()):
            shown = f"{n:,}" if n is not None else "?"
            if i:
                parts.append(("  ", ""))
            if name == self.split:
                parts.append((f" {name} {shown} ", "bold reverse" if len(counts) > 1 else "bold"))
            else:
                parts.append((f"{name} {shown}", "$text-muted"))
        if getattr(ds, "streaming", False):
            parts.append(("  ·  streaming", "$text-warning"))
        _template, name, origin, problem = self._template()
        parts += [("  ·  template ", "$text-muted"), (name, "bold"),
                  ({"format": " (the format's usual one)", "model": " (saved with the model)"}
                   .get(origin, ""), "$text-muted")]
        lines = [Content.assemble(*parts)]
        if problem:
            lines.append(Content.styled(f"✖ {problem}; t chooses another template",
                                        "bold $text-error"))
        parse = (ds.info or {}).get("parse") or {}
        for split, st in parse.items():
            if not st:
                continue
            missing = ", ".join(f"{k} {v:,}" for k, v in st.get("missing", {}).items() if v)
            lines.append(Content.assemble(
                ("parsed ", "$text-muted"),
                (f"{st.get('raw_rows', 0):,} raw rows → {st.get('examples', 0):,} examples, "
                 f"{st.get('usable', 0):,} usable", ""),
                ("  ·  missing fields: ", "$text-muted"), (missing or "none", ""),
                ("  ·  empty stories ", "$text-muted"), (f"{st.get('empty_story', 0):,}", ""),
                ("  ·  unterminated ", "$text-muted"), (f"{st.get('unterminated', 0):,}", ""),
                (f"  [{split}]" if len(parse) > 1 else "", "$text-muted")))
        self.query_one("#data-info", Static).update(Content("\n").join(lines))

    def _refresh_bad(self) -> None:
        bad = self.ds.bad if self.ds is not None else None
        panel = self.query_one("#data-bad", Static)
        if not bad:
            self.remove_class("-bad")
            panel.update("")
            return
        n = bad.total
        head = [("▲ ", "bold $text-warning"),
                (f"{n:,} bad row{'s' * (n != 1)} skipped", "bold $text-warning"),
                (" · not shown, not trained on", "$text-muted")]
        if self.has_class("-tall"):
            lines = [Content.assemble(*head, (" · the first of each kind:", "$text-muted"))]
            lines += [Content(f"  {line}") for line in bad.lines()]
        else:  # short terminals: the kinds on the first line, the first problem on the next
            kinds = ", ".join(f"{k} {c:,}" for k, c in sorted(bad.counts.items(),
                                                              key=lambda kc: -kc[1]))
            first = bad.first_error()
            if bad.file and first.startswith(f"{bad.file}: "):
                first = first[len(bad.file) + 2:]
            lines = [Content.assemble(*head[:2], (f" · {kinds}", "")),
                     Content.styled(f"  first: {first}", "$text-muted")]
        panel.update(Content("\n").join(lines))
        self.add_class("-bad")

    def _refresh_preview(self) -> None:
        preview = self.query_one("#data-preview", RowPreview)
        box = self.query_one("#data-preview-box")
        view = self.table.current if self.ds is not None else None
        name = self._template_name()[0] if self.ds is not None else ""
        key = (id(self.ds), self.split, view.position if view else None, view.row if view else None,
               name, tuple(self.labels))
        if key == self._preview_key:
            return  # already shown
        self._preview_key = key
        if view is None:
            box.border_title = "row"
            preview.show_message("no rows to show" if self.ds is not None else "")
            return
        labels = [(k, v) for k, v in view.raw.items()
                  if k in self.labels and k != "source_row" and v not in (None, "")
                  and len(str(v)) <= 40]
        title = Content.assemble((f"#{view.position:,}", "bold"),
                                 (_row_origin(view.row, view.raw), "$text-muted"),
                                 *[part for k, v in labels
                                   for part in ((f" · {k} ", "$text-muted"), (str(v), "bold"))])
        box.border_title = f"row · {name} · {legend_markup()}"
        try:
            template, _name, _origin, problem = self._template()
            if template is None:
                raise ValueError(problem)
            segments = template.render(view.example)
        except Exception as err:  # noqa: BLE001 - a row that does not fit is shown, not raised
            from .base import describe_error

            preview.update(Content("\n").join([
                title, Content.styled(f"cannot render in template {name}: {describe_error(err)}",
                                      "$text-error")]))
            return
        preview.show_row(title, segments)
        self.query_one("#data-preview-box", VerticalScroll).scroll_home(animate=False)

    # -- the label chart ------------------------------------------------------------------
    def label_kw(self, label: str) -> dict:
        """Extra arguments for `length`: how to count a row's tokens, as the working
        config's run would (its template and tokenizer); none otherwise."""
        if label != LENGTH:
            return {}
        from workbench.recipe import token_length

        config = self.app.working_config()  # type: ignore[attr-defined]
        return {"length_of": token_length(config, self.ds.format,
                                          self.app.sessions_dir)}  # type: ignore[attr-defined]

    def _load_chart(self, auto: bool = False) -> None:
        chart = self.query_one("#data-chart", LabelChart)
        ds, label = self.ds, self.chart_label
        if ds is None:
            return
        if not label:
            chart.show_message("no label columns here (a column with few distinct values); "
                               "l charts token lengths")
            return
        if getattr(ds, "streaming", False) and auto:
            chart.show_message(f"streaming: press l to count {label} (reads the whole stream)")
            return
        chart.show_message(f"counting {label} …")

        def job(control):
            return label, ds.stats(label, **self.label_kw(label))

        def done(result) -> None:
            got, stats = result
            if ds is not self.ds or got != self.chart_label:
                return
            self.stats = stats
            self._show_chart()

        self.run_job("chart", job, on_done=done, label=f"counting {label}")

    def _show_chart(self) -> None:
        marked = self.filter[1] if self.filter and self.filter[0] == self.chart_label else None
        self.query_one("#data-chart", LabelChart).show(self.chart_label, self.stats, marked)
        pass

    # -- actions --------------------------------------------------------------------------
    def allows(self, action: str, parameters: tuple) -> bool | None:
        if action in ("open", "escape"):
            return True
        if self.ds is None:
            return action not in _DATA_ACTIONS
        if action == "next_split":
            return len(self.ds.split_names) > 1
        return True

    def action_open(self) -> None:
        from workbench.data.formats import format_names

        from .dialogs.open_source import OpenSourceDialog

        state = self.app.state
        dialog = OpenSourceDialog(state.recent, current="", formats=format_names(),
                                  cwd=os.getcwd())

        def opened(request: OpenRequest | None) -> None:
            if request is not None:
                self.open_source(request)

        self.app.push_screen(dialog, opened)

    def action_search(self) -> None:
        self.query_one("#data-search", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "data-search":
            return
        event.stop()
        self.search = event.value.strip()
        self.table.focus()
        self.goto_page(0)

    def action_escape(self) -> None:
        field = self.query_one("#data-search", Input)
        if field.has_focus:
            field.value = self.search
            self.table.focus()
            return
        super().action_escape()

    def action_clear(self) -> None:
        if not (self.search or self.filter):
            return
        self.search, self.filter = "", None
        self.query_one("#data-search", Input).value = ""
        self.goto_page(0)
        if self.stats:
            self._show_chart()

    def action_page(self, delta: int) -> None:
        if self.page is None:
            return
        target = self.page_no + delta
        if target < 0 or (self.page.total is not None and target >= self.page.pages):
            self.notify("no more pages" if delta > 0 else "this is the first page", timeout=2)
            return
        self.goto_page(target)

    def action_goto(self) -> None:
        from .widgets.data_pickers import GotoDialog

        total = self.page.total if self.page is not None else None

        def go(position: int | None) -> None:
            if position is None or self.ds is None:
                return
            if self.search or self.filter:
                self.search, self.filter = "", None
                self.query_one("#data-search", Input).value = ""
            if total is not None:
                position = max(0, min(position, total - 1))
            page_no, index = divmod(max(0, position), PAGE_SIZE)
            self.goto_page(page_no)
            if self.page is not None and self.page_no == page_no:
                self.table.move_cursor(row=index, animate=False)

        self.app.push_screen(GotoDialog(total), go)

    def action_next_split(self) -> None:
        names = self.ds.split_names
        self.split = names[(names.index(self.split) + 1) % len(names)] if self.split in names else names[0]
        self.app.state.split = self.split
        self.goto_page(0)
        self._refresh_info()
        self.app.set_context(split=self.split)

    def action_format(self) -> None:
        from workbench.data.formats import format_names

        from .widgets.data_pickers import ListPicker

        detected = self.ds.format if self.ds.detected else ""
        options = [("", f"auto (detect){f': {detected}' if detected else ''}")]
        options += [(f, f) for f in format_names()]
        current = self.request.format if self.request else ""

        def chosen(fmt: str | None) -> None:
            if fmt is None or self.request is None or fmt == self.request.format:
                return
            r = self.request
            self.open_source(OpenRequest(r.source, fmt, r.config, r.split, r.revision, r.streaming))

        self.app.push_screen(ListPicker("Read the source as format", options, current), chosen)

    def action_template(self) -> None:
        from workbench.data.formats import default_template
        from workbench.templates import BUILTIN

        from .widgets.data_pickers import ListPicker

        usual = default_template(self.ds.format)
        options = [("", f"auto: the model's saved one, else the format's usual one ({usual})")]
        options += [(name, f"{name:<11} {t.description}") for name, t in BUILTIN.items()]
        current = self.app.state.template
        if current and current not in BUILTIN:
            options.append((current, current))

        def chosen(name: str | None) -> None:
            if name is not None and name != self.app.state.template:
                self.app.set_context(template=name)

        self.app.push_screen(ListPicker("Render rows in template", options, current), chosen)

    def action_label(self) -> None:
        from .widgets.data_pickers import ListPicker

        options = [(name, name) for name in self.labels]
        if not getattr(self.ds, "streaming", False):
            options.append((LENGTH, "length (token-length buckets; needs the tokenizer)"))

        def chosen(label: str | None) -> None:
            if label is None:
                return
            self.chart_label = label
            if self.has_class("-wide"):
                self._chart_wide = True
            else:
                self._chart_narrow = True
            self._layout_for(self.size.width, self.size.height)
            self._load_chart()

        self.app.push_screen(ListPicker("Chart the distribution of", options,
                                        self.chart_label), chosen)

    def action_toggle_chart(self) -> None:
        if self.has_class("-wide"):
            self._chart_wide = not self._chart_wide
        else:
            self._chart_narrow = not self._chart_narrow
        self._layout_for(self.size.width, self.size.height)
        if self.has_class("-chart") and self.stats is None:
            self._load_chart()

    def action_filter(self) -> None:
        from .widgets.data_pickers import ListPicker

        labels = list(self.labels)
        if not labels:
            self.notify("no label columns to filter by (a column with few distinct values)",
                        severity="warning", timeout=4)
            return

        def with_label(label: str | None) -> None:
            if label is not None:
                self._pick_value(label)

        if len(labels) == 1:
            with_label(labels[0])
        else:
            current = self.filter[0] if self.filter else self.chart_label
            self.app.push_screen(ListPicker("Filter by label", [(n, n) for n in labels], current),
                                 with_label)

    def _pick_value(self, label: str) -> None:
        from .widgets.data_pickers import ListPicker

        ds, split = self.ds, self.split

        def job(control) -> dict[str, int]:
            if getattr(ds, "streaming", False):
                counts: dict[str, int] = {}
                for view in self.page.rows if self.page else []:
                    v = view.raw.get(label)
                    key = "(none)" if v is None else str(v)
                    counts[key] = counts.get(key, 0) + 1
                return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
            return ds.label_counts(split, label)

        def done(counts: dict[str, int]) -> None:
            if ds is not self.ds:
                return
            total = sum(counts.values()) or 1
            width = max((len(v) for v in counts), default=4)
            options = [(v, f"{v:<{width}}  {n:>8,}  {n / total:6.1%}") for v, n in counts.items()]
            current = self.filter[1] if self.filter and self.filter[0] == label else None
            hint = ("values on this page only (streaming) · " if getattr(ds, "streaming", False)
                    else "") + "Enter filters · Esc cancels"

            def chosen(value: str | None) -> None:
                if value is None:
                    return
                self.filter = (label, value)
                self.goto_page(0)
                if self.chart_label != label:
                    self.chart_label = label
                    self._load_chart()
                elif self.stats:
                    self._show_chart()

            self.app.push_screen(ListPicker(f"{label} in {split}: show only", options, current,
                                            hint), chosen)

        self.run_job("values", job, on_done=done, label=f"counting {label}")

    def action_balance(self) -> None:
        from .dialogs.balance import BalanceDialog, BalanceRequest

        labels = list(self.labels)
        if not getattr(self.ds, "streaming", False):
            labels.append(LENGTH)
        dialog = BalanceDialog(self.ds, labels, self.chart_label, self.label_kw, cwd=os.getcwd())

        def chosen(request: BalanceRequest | None) -> None:
            if request is None:
                return
            out = Path(request.out).expanduser()
            if out.exists():
                from .dialogs.confirm import ConfirmDialog

                def confirmed(yes: bool | None) -> None:
                    if yes:
                        self._save_balanced(request)

                self.app.push_screen(ConfirmDialog(f"Replace {request.out}?",
                                                   "It exists; saving writes over it.",
                                                   yes="Replace"), confirmed)
            else:
                self._save_balanced(request)

        self.app.push_screen(dialog, chosen)

    def _save_balanced(self, request) -> None:
        ds = self.ds
        out = os.path.abspath(os.path.expanduser(request.out))

        def job(control) -> Opened:
            from workbench.data.sources import open_dataset

            control.progress(None, None, f"balancing by {request.label}")
            meta = balance_and_save(ds, request.label, request.strategy, seed=request.seed,
                                    ratio_text=request.ratio, val_ratio=request.val_ratio, out=out,
                                    label_kw=self.label_kw(request.label))
            control.progress(None, None, f"opening {out}")
            new = open_dataset(out)
            split = new.default_split
            page = new.page(split, 0, PAGE_SIZE)
            rows = ", ".join(f"{s} {n:,}" for s, n in meta["rows"].items())
            return Opened(OpenRequest(out), new, split, page, _label_candidates(new, split, page),
                          note=f"saved {rows} rows to {request.out} (manifest beside it)",
                          has_input=_has_input(new, page))

        def done(result: Opened) -> None:
            self.chart_label = request.label
            self._opened(result)

        self.run_job("balance", job, on_done=done, label=f"balancing by {request.label}")

    # -- the command palette -----------------------------------------------------------------
    def commands(self):
        cmds = [ScreenCommand("Open data…", "Open a file, a folder, a Hub dataset or a recent one",
                              self.action_open)]
        if self.ds is None:
            return cmds
        cmds += [
            ScreenCommand("Search rows", "Type a substring, Enter searches", self.action_search),
            ScreenCommand("Filter by label value…", "Only rows with one value of a label",
                          self.action_filter),
            ScreenCommand("Clear search and filter", "Show every row again", self.action_clear),
            ScreenCommand("Next page", "The next page of rows", lambda: self.action_page(1)),
            ScreenCommand("Previous page", "The previous page of rows",
                          lambda: self.action_page(-1)),
            ScreenCommand("Go to row…", "Jump to a row by its #", self.action_goto),
            ScreenCommand("Change format…", "Read the source in another row format",
                          self.action_format),
            ScreenCommand("Change template…", "The template rows are rendered in",
                          self.action_template),
            ScreenCommand("Label chart…", "Counts and shares of a label per split",
                          self.action_label),
            ScreenCommand("Show/hide the label chart", "Toggle the chart panel",
                          self.action_toggle_chart),
            ScreenCommand("Balance by a label…", "Undersample, oversample or a ratio; save",
                          self.action_balance),
        ]
        if len(self.ds.split_names) > 1:
            cmds.append(ScreenCommand("Next split", "Show the next split", self.action_next_split))
        return cmds


def _has_input(ds, page) -> bool:
    """Whether any Alpaca row has a non-empty `input` (else the table leaves the column out)."""
    if ds.format != "alpaca":
        return False
    if getattr(ds, "streaming", False):
        return any(v.example.input for v in page.rows)
    import pyarrow.compute as pc

    for s in ds.splits.values():
        if "input" in s.table.column_names:
            col = pc.fill_null(s.table.column("input"), "")
            if pc.any(pc.greater(pc.utf8_length(col), 0)).as_py():
                return True
    return False


_DATA_ACTIONS = {b.action.split("(")[0] for b in DataScreen.BINDINGS} - {"open"}


def _label_candidates(ds, split: str, page) -> list[str]:
    """Columns that work as labels: the dataset's own list, or (streaming) the short scalar
    fields of the rows read so far."""
    if not getattr(ds, "streaming", False):
        try:
            return list(ds.label_names(split))
        except Exception:  # noqa: BLE001 - labels are optional
            return []
    from workbench.data.formats import FORMATS

    text = set(FORMATS.get(ds.format, {}).get("text", ()))
    seen: dict[str, set] = {}
    for view in page.rows:
        for k, v in view.raw.items():
            if k in text or k.startswith("_") or not isinstance(v, (str, int, bool)):
                continue
            if isinstance(v, str) and len(v) > 40:
                continue
            seen.setdefault(k, set()).add(v)
    return [k for k, vals in seen.items() if len(vals) <= 20]


def _row_origin(row: int, raw: dict) -> str:
    """" · source row N", or, for a file the workbench wrote (balanced, oversampled: its
    rows carry the `source_row` they came from), " · file row N · from row M" so that the
    number a person looks up in the original data is the original one."""
    original = raw.get("source_row")
    if isinstance(original, int) and not isinstance(original, bool):
        return f" · file row {row} · from row {original}"
    return f" · source row {row}"

