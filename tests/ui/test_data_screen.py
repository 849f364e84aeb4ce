"""The Data screen, driven with Pilot: open (through the dialog, from the recent list, preloaded),
page, search, filter, change format and template, label chart, split switch, balance and
save, bad rows; SVG snapshots at 80x24 and 160x48.

Fixtures: tests/fixtures/ui/data/ (see its build.py). Every test has its own dataset cache
and state file; nothing touches the user's config.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from pathlib import Path

import pytest

from screens.app import make_app

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "fixtures" / "ui" / "data"
# Relative to the repository root (the tests run there), so snapshots show stable paths.
ALPACA = "tests/fixtures/ui/data/alpaca.jsonl"
STORIES = "tests/fixtures/ui/data/stories.txt"
CHAT = "tests/fixtures/ui/data/chat"


def sync(test):
    """Run an async test with asyncio (the project has no async pytest plugin)."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return run


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(ROOT)


def app_for(tmp_path: Path, data: str | None = None, **kw):
    state = tmp_path / "state.json"
    if not state.exists():
        state.write_text("{}")  # not a first run: no demo data preloaded
    return make_app(sessions_dir=tmp_path / "sessions", state_file=state, data=data, **kw)


async def settle(pilot) -> None:
    """Let jobs (threads) finish and their results reach the screen (a finished job may
    start another: the chart after an open)."""
    app = pilot.app
    for _ in range(100):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers) and not any(
                getattr(s, "busy", False) for s in app.screen_stack):
            return
    raise AssertionError("jobs did not finish")


async def press(pilot, *keys: str) -> None:
    await pilot.press(*keys)
    await settle(pilot)


def text_of(widget) -> str:
    """The plain text a Static / label shows."""
    visual = widget.render()
    return str(getattr(visual, "plain", visual))


def screen_text(screen, selector: str) -> str:
    return text_of(screen.query_one(selector))


def write_alpaca(path: Path, n: int) -> Path:
    cats = ["capital", "arithmetic", "list", "code"]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"instruction": f"Question number {i}", "input": "",
                                 "output": f"Answer number {i}", "category": cats[i % 4]}) + "\n")
    return path


# -- opening ----------------------------------------------------------------------------------


@sync
async def test_empty_state_tells_to_press_o(tmp_path):
    app = app_for(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.has_class("-empty")
        assert "Press o to open" in screen_text(screen, "#data-empty")
        assert app.focused is None or app.focused.id == "data-table"  # keys reach the screen
        await press(pilot, "n", "f", "b")  # data keys do nothing without data
        assert screen.ds is None and len(app.screen_stack) == 1


@sync
async def test_open_through_the_dialog_typing_a_path_with_completion(tmp_path):
    app = app_for(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "o")
        from screens.dialogs.open_source import OpenSourceDialog

        assert isinstance(app.screen, OpenSourceDialog)
        await press(pilot, *"tests/fixtures/ui/data/alp")
        await press(pilot, "tab")  # takes the completion
        assert app.screen.query_one("#open-source").value == ALPACA
        await press(pilot, "enter")
        screen = app.screen
        assert type(screen).__name__ == "DataScreen"
        assert screen.ds is not None and screen.ds.format == "alpaca"
        assert app.state.source == ALPACA and app.state.recent[0] == ALPACA
        assert screen.table.row_count == 48
        info = screen_text(screen, "#data-info")
        assert "alpaca (detected)" in info and "train 48" in info
        assert "1–48 of 48" in screen_text(screen, "#data-status")
        assert app.focused is screen.table
        # the context header shows the new source
        assert "alpaca.jsonl" in screen_text(screen, "#context")


@sync
async def test_open_a_recent_source_with_arrows(tmp_path):
    app = app_for(tmp_path)
    app.state.recent = [ALPACA, STORIES]
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        assert STORIES in screen_text(app.screen, "#data-empty")  # recent listed
        await press(pilot, "o", "down", "down", "enter")
        assert app.state.source == STORIES
        assert app.screen.ds.format == "tinystories"
        assert app.state.recent[:2] == [STORIES, ALPACA]


@sync
async def test_preloaded_source_opens_on_mount_and_reports_bad_rows(tmp_path):
    app = app_for(tmp_path, data=STORIES)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.ds.format == "tinystories" and screen.table.row_count == 37
        info = screen_text(screen, "#data-info")
        assert "tinystories (detected)" in info
        assert "332 raw rows → 39 examples, 37 usable" in info
        assert "empty stories 1" in info and "unterminated 1" in info
        bad = screen_text(screen, "#data-bad")
        assert screen.query_one("#data-bad").display
        assert "3 bad rows skipped" in bad
        assert "missing field" in bad and "empty story" in bad and "unterminated" in bad


@sync
async def test_bad_rows_of_an_alpaca_file_short_terminal(tmp_path):
    app = app_for(tmp_path, data=ALPACA)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        bad = screen_text(app.screen, "#data-bad")
        assert "2 bad rows skipped" in bad
        assert "malformed JSON 1" in bad and "missing field 1" in bad
        assert "row 6" in bad  # the first problem, with its row


@sync
async def test_a_source_that_cannot_open_shows_an_error_not_a_crash(tmp_path):
    app = app_for(tmp_path, data=str(tmp_path / "missing.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.ds is None and screen.has_class("-empty")
        assert "Could not open" in screen_text(screen, "#data-empty")
        errors = screen.query_one("#errors")
        assert errors.shown and "no such file" in text_of(errors)
        await press(pilot, "escape")
        assert not errors.shown


@sync
async def test_an_unknown_format_is_explained_in_the_apps_terms(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text("".join(f'{{"foo": "a{i}", "bar": "b"}}\n' for i in range(5)))
    app = app_for(tmp_path, data=str(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        shown = " ".join(text_of(app.screen.query_one("#errors")).split())
        assert "cannot tell the format" in shown
        assert "Open dialog" in shown and "--format" not in shown


def test_app_terms_rewrites_every_cli_phrase_it_knows():
    from screens.terms import PHRASES, app_terms
    from workbench.data.sources import load_examples
    from workbench.errors import WorkbenchError

    assert app_terms("x: pass --format (alpaca, chat, ...)") == (
        "x: choose the format in the Open dialog (o, field 'format')")
    assert "--" not in app_terms("row 3: bad (pass --skip-bad to load the other rows)")
    assert app_terms("--ratio: no CLASS=VALUE pairs") == "ratio: no CLASS=VALUE pairs"
    assert len(PHRASES) >= 5
    with pytest.raises(WorkbenchError) as caught:  # the engine's wording matches the table
        load_examples(str(_odd_file()))
    message = caught.value.message
    assert "--format" in message and "--format" not in app_terms(message)


def _odd_file():
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "odd.jsonl"
    path.write_text('{"foo": 1}\n')
    return path


# -- browsing -------------------------------------------------------------------------------


@sync
async def test_paging_with_keys(tmp_path):
    path = write_alpaca(tmp_path / "rows.jsonl", 230)
    app = app_for(tmp_path, data=str(path))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        status = lambda: screen_text(screen, "#data-status")  # noqa: E731
        assert status() == "page 1 of 5 · rows 1–50 of 230"
        await press(pilot, "n")
        assert status() == "page 2 of 5 · rows 51–100 of 230"
        assert screen.table.current.position == 50
        await press(pilot, "p")
        assert screen.page_no == 0
        await press(pilot, "p")  # nothing before the first page
        assert screen.page_no == 0
        # arrows roll over the page edge
        screen.table.move_cursor(row=49)
        await press(pilot, "down")
        assert screen.page_no == 1 and screen.table.current.position == 50
        await press(pilot, "up")
        assert screen.page_no == 0 and screen.table.current.position == 49
        await press(pilot, "end")
        assert status() == "page 5 of 5 · rows 201–230 of 230"
        assert screen.table.current.position == 229
        await press(pilot, "down")  # the last row stays the last
        assert screen.page_no == 4
        await press(pilot, "home")
        assert screen.page_no == 0 and screen.table.current.position == 0
        # go to a row by its #
        await press(pilot, "g", *"123", "enter")
        assert screen.page_no == 2 and screen.table.current.position == 123
        assert "Question number 123" in screen_text(screen, "#data-preview")


@sync
async def test_preview_shows_prompt_and_response_differently(tmp_path):
    app = app_for(tmp_path, data=ALPACA)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        preview = app.screen.query_one("#data-preview")
        content = preview.visual
        plain = content.plain
        assert "### Instruction:↵" in plain and "### Response:↵" in plain
        assert "<|endoftext|>" in plain
        response = app.screen.table.current.example.response
        start = plain.index(response)
        styles = {str(span.style) for span in content.spans
                  if span.start <= start < span.end}
        assert any("success" in s for s in styles)  # the response is in the success colour
        prompt_at = plain.index("### Instruction")
        assert not any("success" in str(span.style) for span in content.spans
                       if span.start <= prompt_at < span.end)
        special_at = plain.index("<|endoftext|>")
        assert any("warning" in str(span.style) for span in content.spans
                   if span.start <= special_at < span.end)


@sync
async def test_search_runs_on_enter_and_x_clears(tmp_path):
    app = app_for(tmp_path, data=ALPACA)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        await press(pilot, "slash")
        assert app.focused.id == "data-search"
        # letters that are also keys of the screen or the app (f, l, o, p, n, b, q, 1) go
        # into the search box
        await press(pilot, "q", "1", "backspace", "backspace")
        assert len(app.screen_stack) == 1 and app.current_mode == "data" and app.is_running
        await press(pilot, *"capital of peru", "enter")
        assert app.state.source == ALPACA and len(app.screen_stack) == 1
        assert screen.search == "capital of peru"
        assert screen.table.row_count == 2
        assert all("peru" in v.example.instruction.lower() for v in screen.table.views)
        assert "rows 1–2 of 2 matching · 48 in train" in screen_text(screen, "#data-status")
        assert app.focused is screen.table
        await press(pilot, "x")
        assert screen.search == "" and screen.table.row_count == 48
        assert screen.query_one("#data-search").value == ""


@sync
async def test_filter_by_label_value(tmp_path):
    app = app_for(tmp_path, data=ALPACA)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await press(pilot, "f")  # one label (category): straight to its values
        from screens.widgets.data_pickers import ListPicker

        picker = app.screen
        assert isinstance(picker, ListPicker)
        options = picker.query_one("#picker-list")
        assert [options.get_option_at_index(i).id for i in range(options.option_count)] == [
            "capital", "arithmetic", "definition", "code"]
        await press(pilot, "down", "down", "down", "enter")
        assert screen.filter == ("category", "code")
        assert screen.table.row_count == 4
        assert {v.raw["category"] for v in screen.table.views} == {"code"}
        assert "4 matching" in screen_text(screen, "#data-status")
        assert "category = code" in screen_text(screen, "#data-filter-chip")
        assert "▸ code" in screen_text(screen, "#data-chart")  # the chart marks the value
        # a search narrows the filter further
        await press(pilot, "slash", *"python", "enter")
        assert screen.table.row_count == 3
        await press(pilot, "x")
        assert screen.filter is None and screen.table.row_count == 48


@sync
async def test_switch_splits(tmp_path):
    app = app_for(tmp_path, data=CHAT)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.ds.format == "chat" and screen.split == "train"
        assert screen.table.row_count == 9
        assert "splits" in screen_text(screen, "#data-info")
        await press(pilot, "s")
        assert screen.split == "validation" and screen.table.row_count == 3
        assert app.state.split == "validation"
        assert "rows 1–3 of 3" in screen_text(screen, "#data-status")
        await press(pilot, "s")
        assert screen.split == "train"


@sync
async def test_streaming_reads_as_it_goes(tmp_path):
    app = app_for(tmp_path)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await press(pilot, "o", *ALPACA)
        app.screen.query_one("#open-streaming").value = True
        app.screen.query_one("#open-source").focus()
        await press(pilot, "enter")
        screen = app.screen
        assert screen.ds.streaming and app.state.source == ALPACA
        assert "streaming" in screen_text(screen, "#data-info")
        assert screen.table.row_count == 48
        assert "press l to count" in screen_text(screen, "#data-chart")
        await press(pilot, "f", "enter")  # values of the rows read so far
        assert screen.filter == ("category", "capital")
        assert screen.table.row_count == 24
        await press(pilot, "x", "l", "enter")
        assert "capital" in screen_text(screen, "#data-chart")
        await press(pilot, "end")  # the last page of a stream is unknown: nothing breaks
        assert screen.page_no == 0


# -- format, template, label chart ------------------------------------------------------------


@sync
async def test_change_format_reopens_and_a_bad_choice_keeps_the_data(tmp_path):
    app = app_for(tmp_path, data=STORIES)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        from workbench.data.formats import format_names

        await press(pilot, "F")
        names = ["", *format_names()]
        # choose "text": every line of the file becomes a row
        await press(pilot, *["down"] * names.index("text"), "enter")
        assert screen.ds.format == "text" and not screen.ds.detected
        assert app.state.format == "text"
        assert "text (given)" in screen_text(screen, "#data-info")
        assert screen.page.total == 40  # one text row per <|endoftext|> block
        # "chat" fits none of the rows: an error, and the text view stays
        await press(pilot, "F", *["down"] * names.index("chat"), "enter")
        assert screen.query_one("#errors").shown
        assert screen.ds.format == "text" and app.state.format == "text"
        # back to detection
        await press(pilot, "escape", "F", "home", "enter")
        assert screen.ds.format == "tinystories" and screen.ds.detected
        assert app.state.format == ""


@sync
async def test_template_picker_renders_rows_in_the_chosen_template(tmp_path):
    app = app_for(tmp_path, data=ALPACA)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        from workbench.templates import BUILTIN

        await press(pilot, "t", *["down"] * (1 + list(BUILTIN).index("phi3")), "enter")
        assert app.state.template == "phi3"
        assert "<|assistant|>" in screen_text(app.screen, "#data-preview")
        assert "template phi3" in screen_text(app.screen, "#data-info")


@sync
async def test_label_chart_counts_and_shares(tmp_path):
    app = app_for(tmp_path, data=STORIES)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        chart = screen_text(screen, "#data-chart")
        assert screen.chart_label == "ending"
        assert "happy 32  86.5%" in chart and "sad    5  13.5%" in chart
        # l picks another label
        await press(pilot, "l")
        labels = screen.labels
        await press(pilot, *["down"] * labels.index("features"), "enter")
        assert screen.chart_label == "features"
        assert "features · 37 rows" in screen_text(screen, "#data-chart")
        # v hides the chart; on a narrow terminal it replaces the preview
        await press(pilot, "v")
        assert not screen.query_one("#data-chart-box").display


@sync
async def test_label_chart_of_token_lengths(tmp_path):
    app = app_for(tmp_path, data=ALPACA)
    # lengths are counted as the working config's run would tokenize: a scratch model with
    # the byte tokenizer needs no tokenizer files
    app.state.model, app.state.tokenizer = "scratch", "bytes"
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await press(pilot, "l", "end", "enter")  # the last choice: length
        assert screen.chart_label == "length"
        chart = screen_text(screen, "#data-chart")
        assert "length · 48 rows" in chart and "128-255" in chart


@sync
async def test_label_chart_on_a_narrow_terminal_replaces_the_preview(tmp_path):
    app = app_for(tmp_path, data=ALPACA)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#data-preview-box").display
        assert not screen.query_one("#data-chart-box").display
        await press(pilot, "v")
        assert screen.query_one("#data-chart-box").display
        assert not screen.query_one("#data-preview-box").display
        assert "capital" in screen_text(screen, "#data-chart")


# -- balance and save -------------------------------------------------------------------------


@sync
async def test_balance_undersample_and_save_switches_to_the_new_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = app_for(tmp_path, data=str(DATA / "alpaca.jsonl"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "b")
        from screens.dialogs.balance import BalanceDialog

        dialog = app.screen
        assert isinstance(dialog, BalanceDialog)
        await pilot.pause(0.3)
        await settle(pilot)
        preview = screen_text(dialog, "#balance-preview")
        assert "capital" in preview and "→" in preview
        assert dialog.result[2] == {"train": {"capital": 4, "arithmetic": 4, "definition": 4,
                                              "code": 4}}
        out = dialog.query_one("#balance-out").value
        assert out == "data/alpaca-balanced.jsonl"
        assert not dialog.query_one("#balance-save").disabled
        dialog.query_one("#balance-out").focus()
        await press(pilot, "enter")
        await settle(pilot)
        saved = tmp_path / "data" / "alpaca-balanced.jsonl"
        manifest = tmp_path / "data" / "alpaca-balanced.manifest.json"
        assert saved.exists() and manifest.exists()
        rows = [json.loads(line) for line in saved.read_text().splitlines()]
        assert len(rows) == 16
        meta = json.loads(manifest.read_text())
        assert meta["balance"]["strategy"] == "undersample" and meta["seed"] == 0
        assert meta["counts"]["after"] == {"train": {"arithmetic": 4, "capital": 4, "code": 4,
                                                     "definition": 4}}
        assert meta["counts"]["before"]["train"]["capital"] == 24
        assert meta["bad_rows"]["total"] == 2
        # the new file is the current source, shown
        screen = app.screen
        assert app.state.source == str(saved)
        assert app.state.recent[0] == str(saved)
        assert screen.ds.source == str(saved) and screen.table.row_count == 16
        assert "rows 1–16 of 16" in screen_text(screen, "#data-status")
        assert not screen.query_one("#data-bad").display  # the saved file is clean
        # the row preview names the row in this file and the original row it came from
        title = screen_text(screen, "#data-preview").splitlines()[0]
        assert title.startswith(f"#0 · file row 0 · from row {rows[0]['source_row']} ·")
        assert "source_row" not in title


@sync
async def test_balance_ratio_with_a_validation_share_saves_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = app_for(tmp_path, data=str(DATA / "alpaca.jsonl"))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "b")
        dialog = app.screen
        dialog.query_one("#balance-strategy").value = "ratio"
        await settle(pilot)
        dialog.query_one("#balance-ratio").value = "capital=0.5,arithmetic=0.5"
        dialog.query_one("#balance-seed").value = "3"
        dialog.query_one("#balance-val").value = "0.25"
        await pilot.pause(0.3)
        await settle(pilot)
        # the validation share is cut first, from the data as it is (every class keeps its
        # share there); only the training part is balanced
        assert dialog.result[2] == {"train": {"capital": 9, "arithmetic": 9},
                                    "validation": {"capital": 6, "arithmetic": 3,
                                                   "definition": 2, "code": 1}}
        assert "cut first" in screen_text(dialog, "#balance-preview")
        assert dialog.query_one("#balance-out").value == "data/alpaca-balanced"
        dialog.query_one("#balance-save").press()
        await settle(pilot)
        folder = tmp_path / "data" / "alpaca-balanced"
        meta = json.loads((folder / "manifest.json").read_text())
        assert meta["rows"] == {"train": 18, "validation": 12}
        assert {k: meta["validation"][k] for k in ("ratio", "stratify", "seed", "rows")} == {
            "ratio": 0.25, "stratify": "category", "seed": 3, "rows": 12}
        assert meta["balance"]["ratio"] == {"capital": 0.5, "arithmetic": 0.5}
        screen = app.screen
        assert app.state.source == str(folder)
        assert screen.ds.counts() == {"train": 18, "validation": 12}


@sync
async def test_balance_problems_show_in_the_dialog(tmp_path):
    app = app_for(tmp_path, data=ALPACA)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await press(pilot, "b")
        dialog = app.screen
        dialog.query_one("#balance-strategy").value = "ratio"
        dialog.query_one("#balance-ratio").value = "nosuch=1"
        await pilot.pause(0.3)
        await settle(pilot)
        assert "no class 'nosuch'" in screen_text(dialog, "#balance-preview")
        assert dialog.query_one("#balance-save").disabled
        await press(pilot, "escape")
        assert type(app.screen).__name__ == "DataScreen"


# -- palette, speed ------------------------------------------------------------------------


@sync
async def test_palette_offers_the_screen_actions(tmp_path):
    app = app_for(tmp_path, data=CHAT)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.screen.commands()}
        for want in ("Open data…", "Search rows", "Filter by label value…",
                     "Clear search and filter", "Balance by a label…", "Change format…",
                     "Next page", "Previous page", "Label chart…", "Next split"):
            assert want in titles
        system = {c.title for c in app.get_system_commands(app.screen)}
        assert "Balance by a label…" in system


@sync
async def test_page_changes_stay_fast_on_a_large_dataset(tmp_path):
    path = write_alpaca(tmp_path / "big.jsonl", 100_000)
    app = app_for(tmp_path, data=str(path))
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.page.total == 100_000
        await pilot.press("n")  # warm up
        t = time.perf_counter()
        for _ in range(20):
            await pilot.press("n")
        per_page = (time.perf_counter() - t) / 20
        assert screen.page_no == 21
        assert "page 22 of 2,000" in screen_text(screen, "#data-status")
        await pilot.press("end")
        await pilot.pause()
        assert screen.table.current.position == 99_999
        assert per_page < 0.25, f"a page change took {per_page * 1000:.0f} ms"


# -- snapshots -------------------------------------------------------------------------------


def _snap_app(tmp_path, data, theme="textual-dark"):
    app = app_for(tmp_path, data=data)
    app.state.recent = [ALPACA, STORIES]
    app.theme = theme
    return app


async def _ready(pilot) -> None:
    await settle(pilot)


SIZES = [(80, 24), (120, 36), (200, 60)]
SIZE_IDS = ["80x24", "120x36", "200x60"]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_alpaca(tmp_path, snap_compare, size):
    assert snap_compare(_snap_app(tmp_path, ALPACA), terminal_size=size, run_before=_ready)


def test_snapshot_stories_200x60_light(tmp_path, snap_compare):
    assert snap_compare(_snap_app(tmp_path, STORIES, "textual-light"), terminal_size=(200, 60),
                        run_before=_ready)


def test_snapshot_stories_80x24(tmp_path, snap_compare):
    assert snap_compare(_snap_app(tmp_path, STORIES), terminal_size=(80, 24), run_before=_ready)


def test_snapshot_empty_80x24(tmp_path, snap_compare):
    assert snap_compare(_snap_app(tmp_path, None), terminal_size=(80, 24), run_before=_ready)


def _pressed(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press(*keys)
        await pilot.pause(0.3)
        await settle(pilot)
        steady_cursors(pilot.app.screen)
        await pilot.pause()
    return run_before


def steady_cursors(screen) -> None:
    """A blinking cursor is shown or not depending on when the screenshot is taken."""
    from textual.widgets import Input

    for field in screen.query(Input):
        field.cursor_blink = False


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_open_dialog(tmp_path, snap_compare, size):
    assert snap_compare(_snap_app(tmp_path, None), terminal_size=size, run_before=_pressed("o"))


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_balance_dialog(tmp_path, snap_compare, size):
    assert snap_compare(_snap_app(tmp_path, ALPACA), terminal_size=size, run_before=_pressed("b"))


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_help(tmp_path, snap_compare, size):
    assert snap_compare(_snap_app(tmp_path, ALPACA), terminal_size=size, run_before=_pressed("f1"))


# -- the demo data ----------------------------------------------------------------------------


@sync
async def test_first_run_preloads_the_demo_data(tmp_path, monkeypatch):
    """No saved state and nothing asked for: the demo instruction set is written and opened."""
    from screens.widgets.error_panel import ErrorPanel

    monkeypatch.chdir(tmp_path)
    app = make_app(sessions_dir=tmp_path / "sessions", state_file=tmp_path / "state.json")
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await settle(pilot)
        assert app.state.source == "data/demo/tinystories-instruct.txt"
        assert (tmp_path / "data" / "demo" / "tinystories-instruct.txt").is_file()
        assert app.screen.ds is not None and app.screen.ds.num_rows() == 6000
        assert not app.screen.query_one(ErrorPanel).shown


@sync
async def test_saved_demo_source_that_is_gone_is_written_again(tmp_path, monkeypatch):
    """A fresh clone with an old state file: the demo data the state names is not there.
    It is written again and opened, rather than failing to open."""
    from screens.widgets.error_panel import ErrorPanel

    monkeypatch.chdir(tmp_path)
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"source": "data/demo/tinystories-instruct.txt",
                                 "template": "story"}))
    app = make_app(sessions_dir=tmp_path / "sessions", state_file=state)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await settle(pilot)
        assert (tmp_path / "data" / "demo" / "tinystories-instruct.txt").is_file()
        assert app.screen.ds is not None and app.screen.ds.num_rows() == 6000
        assert not app.screen.query_one(ErrorPanel).shown
        assert app.state.template == "story"  # the rest of the saved state is kept
