"""Keys, focus, dialogs and feedback as a person over SSH meets them (issue 18): screen keys
that work from inside text fields, each screen's main control focused on arrival, Ctrl+C
(not Escape) cancelling jobs, path completion that stops at the common prefix, the Train
form's groups and jump-to-field, the config kept per data and model, the live stop
question, deleting several sessions at once, a finished run becoming Chat's SFT model, and
the footer and header keeping every key and label on screen.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from screens.app import make_app
from conftest import sync, until

ROOT = Path(__file__).resolve().parents[2]

FIXTURE_SESSIONS = ROOT / "tests" / "fixtures" / "sessions"
FINISHED = "alpaca-balanced-20261120-140211"
STOPPED = "alpaca-imbalanced-all-20261120-153040"
FAILED = "stories-chatml-20261121-091500"
ALPACA = ROOT / "tests" / "fixtures" / "ui" / "batches" / "alpaca.jsonl"


pytestmark = pytest.mark.usefixtures("isolated")


@pytest.fixture
def sessions(tmp_path) -> Path:
    dest = tmp_path / "sessions"
    shutil.copytree(FIXTURE_SESSIONS, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


def app_for(tmp_path: Path, sessions: Path | None = None, mode: str = "data", **kw):
    return make_app(sessions_dir=sessions or tmp_path / "sessions",
                    state_file=tmp_path / "state.json", data=kw.pop("data", str(ALPACA)),
                    template=kw.pop("template", "alpaca"), model=kw.pop("model", "scratch"),
                    start_mode=mode, **kw)


# -- screen keys and focus ----------------------------------------------------------------------


@sync
async def test_f_keys_switch_screens_from_inside_a_form_field_and_digits_type_there(tmp_path):
    app = app_for(tmp_path, mode="train")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        await until(pilot, lambda: app.focused is not None, "the focus")
        assert type(app.focused).__name__ == "CollapsibleTitle"  # not a text field
        field = screen.query_one("#f-max_steps")
        screen.jump_to("max_steps")
        await until(pilot, lambda: app.focused is field, "the field")
        field.value = ""
        await pilot.press("3", "0")
        assert field.value == "30" and app.current_mode == "train"  # digits are typed
        for key, mode in (("f3", "batches"), ("f6", "sessions"), ("f2", "data"),
                          ("alt+3", "train")):
            await pilot.press(key)
            await until(pilot, lambda: app.current_mode == mode, mode)
        # back on Train: its main control, not the field focused last time
        await until(pilot, lambda: app.screen is screen and app.focused is not field,
                    "the main control")
        assert screen.get_field("max_steps") == "30"


@sync
async def test_escape_leaves_a_field_and_ctrl_c_cancels_a_job(tmp_path):
    app = app_for(tmp_path, mode="train")
    release = threading.Event()
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        screen.jump_to("lr")
        await until(pilot, lambda: app.focused is screen.query_one("#f-lr"), "the field")
        screen.run_job("hold", lambda control: release.wait(10), label="holding")
        await pilot.pause(0.1)
        bar = [i.label for i in screen.query_one("KeyBar").items()]
        assert "Cancel job" in bar  # shown while something runs
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert screen.busy and not isinstance(app.focused, type(screen.query_one("#f-lr")))
        await pilot.press("ctrl+c")
        await until(pilot, lambda: not screen.busy, "the cancel")
        await pilot.pause(0.1)
        assert "Cancel job" not in [i.label for i in screen.query_one("KeyBar").items()]
        release.set()


# -- the footer and the header ------------------------------------------------------------------


def test_the_key_bar_wraps_instead_of_cutting_and_folds_the_screen_keys():
    from screens.widgets.key_bar import Item, layout

    items = [Item(k, k, f"action {k}") for k in "abcdefghij"] + \
        [Item(f"f{i}", f"F{i}", name, True, True) for i, name in
         zip(range(2, 7), ("Data", "Batches", "Train", "Chat", "Sessions"))] + \
        [Item("f1", "F1", "Help"), Item("ctrl+q", "^q", "Quit")]
    wide = layout(items, 200)
    assert sum(len(line) for line in wide) == len(items)  # everything, in full
    mid = layout(items, 130)
    assert len(mid) == 2 and sum(len(line) for line in mid) == len(items)
    for line in mid:
        assert sum(len(i.shown) + 1 + len(i.label) for i in line) + 2 * (len(line) - 1) <= 130
    narrow = layout(items, 78)
    assert len(narrow) <= 3  # KeyBar's max height
    flat = [i for line in narrow for i in line]
    assert any(i.shown == "F2-F6" for i in flat) and not any(i.shown == "F3" for i in flat)
    assert {i.label for i in flat} >= {"Help", "Quit"} | {f"action {k}" for k in "abcdefghij"}


def test_the_header_keeps_every_label_with_a_long_session_name():
    from screens.widgets.context_bar import fit

    values = ["data/demo/tinystories-instruct.txt", "story", "demo-base",
              "tinystories-instruct-story-20261204-191200-with-a-long-suffix"]
    short = fit(values, 50)
    assert sum(map(len, short)) <= 50
    assert short[0].endswith("instruct.txt") and short[1] == "story"
    assert short[3].startswith("tinyst") and short[3].endswith("suffix")  # both ends kept


@sync
async def test_header_and_footer_at_80x24_show_every_label(tmp_path, sessions):
    app = app_for(tmp_path, sessions, mode="chat")
    app.state.session = FINISHED + "-and-a-much-longer-name-than-usual"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        screen = app.screen
        header = str(screen.query_one("#context").render())
        keys = str(screen.query_one("KeyBar").render())
        assert len(header) <= 78 and all(len(line) <= 78 for line in keys.splitlines())
        for label in ("data:", "tpl:", "model:", "tok:", "sess:"):  # short labels at 80
            assert label in header, label
        assert "al" in header.split("sess:")[1]  # the start of the session's name
        for label in ("F1", "Quit", "SFT model", "Settings"):
            assert label in keys, label


# -- dialogs ------------------------------------------------------------------------------------


def test_path_completion_stops_at_the_common_prefix(tmp_path):
    from screens.dialogs.open_source import complete_path

    (tmp_path / "rasbt-instruction-data").mkdir()
    (tmp_path / "rasbt-instruction-data" / "LICENSE.txt").write_text("x")
    (tmp_path / "rasbt-instruction-data" / "instruction-data.json").write_text("[]")
    (tmp_path / "rows-a.jsonl").write_text("")
    (tmp_path / "rows-b.jsonl").write_text("")
    assert complete_path("rasbt", tmp_path) == "rasbt-instruction-data/"
    assert complete_path("rasbt-instruction-data/", tmp_path) is None  # two files: no pick
    assert complete_path("rasbt-instruction-data/i", tmp_path) == \
        "rasbt-instruction-data/instruction-data.json"
    assert complete_path("ro", tmp_path) == "rows-"
    assert complete_path("rows-", tmp_path) is None
    assert complete_path("zzz", tmp_path) is None


@sync
async def test_open_dialog_tab_completes_lists_and_stays_and_empty_enter_explains(tmp_path):
    from screens.dialogs.open_source import OpenSourceDialog

    (tmp_path / "rasbt-instruction-data").mkdir()
    for name in ("LICENSE.txt", "instruction-data.json"):
        (tmp_path / "rasbt-instruction-data" / name).write_text("[]")
    app = app_for(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = OpenSourceDialog([], cwd=tmp_path)
        app.push_screen(dialog)
        await until(pilot, lambda: app.screen is dialog, "the dialog")
        field = dialog.query_one("#open-source")
        field.value = ""
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.screen is dialog
        assert "type a path" in str(dialog.query_one("#open-matches").render())
        await pilot.press(*"rasbt", "tab")
        await pilot.pause(0.1)
        assert field.value == "rasbt-instruction-data/" and app.focused is field
        await pilot.press("tab")  # nothing more to add: the two names are listed, focus stays
        await pilot.pause(0.1)
        assert app.focused is field and field.value == "rasbt-instruction-data/"
        listed = str(dialog.query_one("#open-matches").render())
        assert "LICENSE.txt" in listed and "instruction-data.json" in listed
        await pilot.press("i", "tab")
        await pilot.pause(0.1)
        assert field.value == "rasbt-instruction-data/instruction-data.json"
        await pilot.press("tab")  # a whole file name: Tab moves on
        await pilot.pause(0.1)
        assert app.focused is not field


@sync
async def test_chat_sft_dialog_is_in_the_footer_empty_enter_explains_down_enters_list(
        tmp_path, sessions):
    from screens.widgets.chat_dialogs import ModelDialog

    app = app_for(tmp_path, sessions, mode="chat", model="")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        await pilot.pause(0.3)
        assert "SFT model" in [i.label for i in screen.query_one("KeyBar").items()]
        await pilot.press("ctrl+o")
        await until(pilot, lambda: isinstance(app.screen, ModelDialog), "the dialog")
        dialog = app.screen
        dialog.query_one("#model-spec").value = ""
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.screen is dialog
        assert "Nothing typed" in str(dialog.query_one("#model-problem").render())
        await pilot.press("down")
        await pilot.pause(0.1)
        options = dialog.query_one("#model-sessions")
        assert app.focused is options
        await pilot.press("down")
        await pilot.pause(0.1)
        assert dialog.query_one("#model-spec").value in [s.name for s in sessions.iterdir()]


@sync
async def test_session_detail_tabs_take_arrows_at_once(tmp_path, sessions):
    app = app_for(tmp_path, sessions, mode="sessions")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.order, "the sessions")
        screen.open_session(FINISHED)
        await pilot.pause(0.3)
        tabs = screen.query_one("#detail-tabs")
        first = tabs.active
        await pilot.press("right")
        await pilot.pause(0.2)
        assert tabs.active != first
        await pilot.press("left")
        await pilot.pause(0.2)
        assert tabs.active == first


# -- the Train form -----------------------------------------------------------------------------


@sync
async def test_train_form_jump_to_field_unfolds_its_group(tmp_path):
    from textual.widgets import Collapsible

    from screens.dialogs.find_field import FindFieldDialog, matches

    assert matches([("max_steps", ""), ("max_len", ""), ("lr", "learning rate")], "maxst") == \
        ["max_steps"]
    assert matches([("lr", "learning rate"), ("seed", "")], "learning") == ["lr"]
    app = app_for(tmp_path, mode="train")
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        group = screen.query_one("#group-run", Collapsible)
        assert group.collapsed  # folded by default
        await pilot.press("ctrl+f")
        await until(pilot, lambda: isinstance(app.screen, FindFieldDialog), "the dialog")
        await pilot.press(*"thre", "enter")
        await until(pilot, lambda: app.focused is screen.query_one("#f-threads"), "the field")
        assert not group.collapsed
        # the folded state is kept between launches
        assert "run" not in app.state.folded
        # a folded group still says what it holds that is not the default
        screen.set_form(seed="7")
        group.collapsed = True
        await pilot.pause(0.2)
        assert "seed 7" in str(group.title)


@sync
async def test_train_config_is_kept_per_data_and_model(tmp_path):
    other = tmp_path / "other.jsonl"
    shutil.copy(ALPACA, other)
    app = app_for(tmp_path, mode="train")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        await pilot.pause(0.2)
        screen.set_form(max_steps="77")
        app.set_context(source=str(other))
        await pilot.pause(0.1)
        screen.set_form(max_steps="12")
        app.set_context(source=str(ALPACA))
        await pilot.pause(0.2)
        assert screen.get_field("max_steps") == "77"
        app.set_context(source=str(other))
        await pilot.pause(0.2)
        assert screen.get_field("max_steps") == "12"
    saved = json.loads((tmp_path / "state.json").read_text())
    assert any(v.get("max_steps") == 77 for v in saved["configs"].values())


# -- feedback -----------------------------------------------------------------------------------


def _fake_running(sessions: Path, name: str) -> Path:
    from workbench.train.status import process_start_time

    path = sessions / name
    shutil.copytree(sessions / STOPPED, path)
    status = json.loads((path / "status.json").read_text())
    status.update(state="running", pid=os.getpid(), pid_start=process_start_time(os.getpid()),
                  step=20, error=None)
    (path / "status.json").write_text(json.dumps(status))
    return path


@sync
async def test_the_stop_question_names_the_step_the_run_is_at_now(tmp_path, sessions):
    from screens.dialogs.confirm import ConfirmDialog

    path = _fake_running(sessions, "live-run")
    app = app_for(tmp_path, sessions, mode="sessions")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.screen
        await until(pilot, lambda: "live-run" in screen.order, "the sessions")
        screen.query_one("#sessions-table").move_cursor(row=screen.order.index("live-run"))
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        label = app.screen.query_one("#confirm-detail")
        assert "step 20/" in str(label.render())
        status = json.loads((path / "status.json").read_text())
        status["step"] = 28
        (path / "status.json").write_text(json.dumps(status))
        await until(pilot, lambda: "step 28/" in str(label.render()), "the live step", 5)
        await pilot.press("n")


@sync
async def test_marked_sessions_are_deleted_together_and_a_live_one_is_kept(tmp_path, sessions):
    from screens.dialogs.confirm import ConfirmDialog

    _fake_running(sessions, "live-run")
    app = app_for(tmp_path, sessions, mode="sessions")
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        await until(pilot, lambda: len(screen.order) == 4, "the sessions")
        table = screen.query_one("#sessions-table")
        for name in (FAILED, STOPPED, "live-run"):
            table.move_cursor(row=screen.order.index(name))
            await pilot.press("space")
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the question")
        text = str(app.screen.query_one("#confirm-detail").render())
        assert "2 sessions" in text and "kept: live-run" in text
        await pilot.press("y")
        await until(pilot, lambda: not (sessions / FAILED).exists()
                    and not (sessions / STOPPED).exists(), "the deletion")
        assert (sessions / FINISHED).exists() and (sessions / "live-run").exists()


@sync
async def test_a_run_that_finishes_becomes_the_chat_sft_model(tmp_path, sessions):
    path = _fake_running(sessions, "fresh-run")
    app = app_for(tmp_path, sessions, mode="data")
    app.RUNS_POLL_SECONDS = 0.2
    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, lambda: app._live_runs and "fresh-run" in app._live_runs, "the run")
        status = json.loads((path / "status.json").read_text())
        status.update(state="finished")
        (path / "status.json").write_text(json.dumps(status))
        await until(pilot, lambda: app.state.session == "fresh-run", "the pick-up", 10)
        await pilot.press("f5")
        await until(pilot, lambda: "fresh-run" in app.export_screenshot(), "the Chat header")


@sync
async def test_sessions_table_drops_columns_by_priority_and_shows_them_below(tmp_path, sessions):
    app = app_for(tmp_path, sessions, mode="sessions")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await until(pilot, lambda: screen.order, "the sessions")
        await pilot.pause(0.3)
        assert {"name", "state", "best"} <= set(screen.columns)
        assert "loss_on" not in screen.columns
        more = str(screen.query_one("#sessions-more").render())
        assert "loss on" in more
        await pilot.resize_terminal(220, 50)
        await until(pilot, lambda: "loss_on" in screen.columns, "every column")
        assert not screen.query_one("#sessions-more").has_class("-shown")


def test_every_config_field_has_a_place_in_the_train_form():
    """A new TrainConfig field must be placed in one of the form's groups (or the launch
    bar); otherwise the form cannot show it and fails to fill."""
    from dataclasses import fields

    from screens.train import BAR_FIELDS, GROUPS
    from workbench.train.config import TrainConfig

    placed = [name for _title, names in GROUPS.values() for name in names]
    assert len(placed) == len(set(placed)), "a field sits in two groups"
    missing = {f.name for f in fields(TrainConfig)} - set(placed) - set(BAR_FIELDS)
    assert not missing, f"fields with no group in screens/train.py GROUPS: {sorted(missing)}"
