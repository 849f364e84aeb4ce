"""The Sessions screen, driven with Pilot, on a copy of the fixture sessions
(tests/fixtures/sessions/: a finished run, a stopped run on imbalanced data with loss on
everything, a run whose loss became NaN): the table and its live updates, overlaying the
curves of two marked runs, opening a run (config, curves, samples, checkpoints, log), using
it in Chat, deleting (refused while running, done after confirmation); SVG snapshots at
80x24 and 160x48.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from screens.app import make_app

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_SESSIONS = ROOT / "tests" / "fixtures" / "sessions"
FINISHED = "alpaca-balanced-20261120-140211"
STOPPED = "alpaca-imbalanced-all-20261120-153040"
FAILED = "stories-chatml-20261121-091500"
RASBT = "../shared/data/rasbt-instruction-data/instruction-data.json"


def sync(test):
    """Run an async test with asyncio (the project has no async pytest plugin)."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        return asyncio.run(test(*args, **kwargs))
    return run


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TZ", "UTC")  # the fixtures' fixed times show the same everywhere
    time.tzset()
    monkeypatch.chdir(ROOT)
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def sessions(tmp_path) -> Path:
    """A copy of the fixture sessions (the screen may write to them: a dead run is marked
    failed on disk, a deleted one is gone)."""
    dest = tmp_path / "sessions"
    shutil.copytree(FIXTURE_SESSIONS, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


def app_for(tmp_path: Path, sessions: Path, theme: str = "textual-dark"):
    app = make_app(sessions_dir=sessions, state_file=tmp_path / "state.json", data=RASBT,
                   template="alpaca", model="gpt2", start_mode="sessions")
    app.theme = theme
    return app


def fake_running(sessions: Path, name: str, started: str = "2026-11-22T08:00:00+00:00") -> Path:
    """A session whose `process` is this test process: alive as long as the test runs, so
    the screen sees a running session without training anything. Never stop it."""
    from workbench.train.status import process_start_time

    path = sessions / name
    shutil.copytree(sessions / STOPPED, path)
    status = json.loads((path / "status.json").read_text())
    status.update(state="running", pid=os.getpid(), pid_start=process_start_time(os.getpid()),
                  started_at=started, error=None)
    (path / "status.json").write_text(json.dumps(status))
    return path


async def settle(pilot) -> None:
    app = pilot.app
    for _ in range(200):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers) and not any(
                getattr(s, "busy", False) for s in app.screen_stack):
            return
    raise AssertionError("jobs did not finish")


def text_of(widget) -> str:
    visual = widget.render()
    return str(getattr(visual, "plain", visual))


def row_texts(table) -> list[list[str]]:
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(table.row_count)]


# -- the list ------------------------------------------------------------------------------------


@sync
async def test_lists_sessions_newest_first_with_their_numbers(tmp_path, sessions):
    from textual.widgets import DataTable

    app = app_for(tmp_path, sessions)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#sessions-table", DataTable)
        rows = row_texts(table)
        assert [r[1] for r in rows] == [FAILED, STOPPED, FINISHED]
        failed, stopped, finished = rows
        assert "failed" in failed[2] and failed[3] == "136/600"
        assert "stopped" in stopped[2] and stopped[8] == "all"
        assert "finished" in finished[2] and finished[3] == "300/300"
        assert finished[4].startswith("1.5351") and "@175" in finished[4]
        assert finished[5:8] == ["gpt2", "instruction-data.json", "alpaca"]
        assert finished[9] == "2026-11-20 14:02"


@sync
async def test_the_table_updates_live(tmp_path, sessions):
    from textual.widgets import DataTable

    app = app_for(tmp_path, sessions)
    app_screen_poll = 2.0
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#sessions-table", DataTable)
        # a new run appears, then progresses
        path = fake_running(sessions, "new-run")
        await pilot.pause(app_screen_poll + 0.5)
        assert row_texts(table)[0][1] == "new-run" and "running" in row_texts(table)[0][2]
        status = json.loads((path / "status.json").read_text())
        status.update(step=181, best_val_loss=1.7)
        (path / "status.json").write_text(json.dumps(status))
        await pilot.pause(app_screen_poll + 0.5)
        assert row_texts(table)[0][3] == "181/300"
        assert row_texts(table)[0][4].startswith("1.7000")
        # the cursor stayed on the run it was on; the highlighted run's curve follows its
        # metrics file
        assert screen.highlighted == FAILED
        await pilot.press("up")
        with open(path / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps({"step": 181, "loss": 1.5, "lr": 1e-5, "elapsed_s": 80.0}) + "\n")
        await pilot.pause(app_screen_poll + 0.5)
        plot = screen.query_one("#overlay-plot")
        assert plot.curves[0].label == "new-run" and plot.curves[0].train[-1] == (181, 1.5)
        status.update(state="finished")
        (path / "status.json").write_text(json.dumps(status))


@sync
async def test_overlay_two_marked_sessions(tmp_path, sessions):
    from screens.widgets.loss_plot import LossPlot

    app = app_for(tmp_path, sessions)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        plot = screen.query_one("#overlay-plot", LossPlot)
        assert [c.label for c in plot.curves] == [FAILED]          # the highlighted one
        await pilot.press("down", "space", "down", "space")
        await pilot.pause()
        assert screen.marked == [STOPPED, FINISHED]
        assert [c.label for c in plot.curves] == [STOPPED, FINISHED]
        assert [c.color for c in plot.curves] == [0, 1]
        assert len(plot.curves[0].train) == 180 and len(plot.curves[1].train) == 300
        assert [s for s, _ in plot.curves[1].val][:2] == [25, 50]
        legend = plot.legend_text(150).plain
        assert STOPPED in legend and FINISHED in legend
        assert "2 marked runs" in text_of(screen.query_one("#overlay-title"))
        marks = [str(getattr(c, "plain", c)) for c in
                 (screen.query_one("#sessions-table").get_row_at(i)[0] for i in range(3))]
        assert marks == [" ", "■", "■"]
        await pilot.press("space")                      # unmark the second
        assert [c.label for c in plot.curves] == [STOPPED]
        await pilot.press("c")
        assert screen.marked == [] and [c.label for c in plot.curves] == [FINISHED]


# -- one session ---------------------------------------------------------------------------------


@sync
async def test_open_a_session_and_use_it_in_chat(tmp_path, sessions):
    from textual.widgets import DataTable, TabbedContent

    from screens.widgets.loss_plot import LossPlot

    app = app_for(tmp_path, sessions)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert screen._detail_shown and screen.current == FINISHED
        head = text_of(screen.query_one("#detail-head"))
        assert "finished" in head and "step 300 of 300" in head and "1.5351 @175" in head
        assert not screen.query_one("#detail-alert").has_class("-shown")
        assert len(screen.query_one("#detail-plot", LossPlot).curves[0].train) == 300
        tabs = screen.query_one("#detail-tabs", TabbedContent)
        tabs.active = "detail-checkpoints"
        await pilot.pause()
        ckpts = row_texts(screen.query_one("#detail-ckpts", DataTable))
        assert [r[0] for r in ckpts] == ["step-300", "step-200"]
        assert "latest" in ckpts[0][3] and "best" in ckpts[1][3] and ckpts[1][2] == "1.5447"
        tabs.active = "detail-config"
        await pilot.pause()
        assert 'template = "alpaca"' in text_of(screen.query_one("#detail-config-text"))
        tabs.active = "detail-samples"
        await pilot.pause()
        samples = text_of(screen.query_one("#detail-samples-text"))
        assert samples.index("step 300") < samples.index("step 100")
        assert "The car is as fast as lightning." in samples
        # use it in Chat: the session's name goes into the shared context
        await pilot.press("u")
        await pilot.pause()
        assert app.state.session == FINISHED
        assert json.loads((tmp_path / "state.json").read_text())["session"] == FINISHED
        await pilot.press("escape")
        await pilot.pause()
        assert not screen._detail_shown
        assert "★" in row_texts(screen.query_one("#sessions-table"))[2][1]


@sync
async def test_a_failed_session_shows_its_message_and_what_to_do(tmp_path, sessions):
    app = app_for(tmp_path, sessions)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("enter")
        await pilot.pause()
        alert = text_of(screen.query_one("#detail-alert"))
        assert "loss became nan at step 137" in alert
        assert "lower lr" in alert and "r resumes from step-100" in alert


@sync
async def test_delete_refuses_a_running_session_and_deletes_a_finished_one(tmp_path, sessions):
    from screens.dialogs.confirm import ConfirmDialog

    fake_running(sessions, "busy-run")
    app = app_for(tmp_path, sessions)
    app.state.session = FINISHED
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.highlighted == "busy-run"
        await pilot.press("d")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)          # refused, no question
        assert (sessions / "busy-run").is_dir()
        assert any("still training" in n.message for n in app._notifications)
        # the finished one: asked, "n" keeps it, "y" deletes it
        await pilot.press("down", "down", "down")
        assert screen.highlighted == FINISHED
        await pilot.press("d")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert "2 checkpoints" in app.screen.detail and "Chat" in app.screen.detail
        await pilot.press("n")
        await pilot.pause()
        assert (sessions / FINISHED).is_dir()
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert not (sessions / FINISHED).exists()
        assert FINISHED not in screen.order and app.state.session == ""
        status = json.loads((sessions / "busy-run" / "status.json").read_text())
        status["state"] = "finished"  # let nothing try to stop this "run" (the test itself)
        (sessions / "busy-run" / "status.json").write_text(json.dumps(status))


@sync
async def test_follow_in_train(tmp_path, sessions):
    app = app_for(tmp_path, sessions)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("down", "t")
        await pilot.pause(0.5)
        await settle(pilot)
        assert app.current_mode == "train"
        assert app.screen.followed == STOPPED


# -- snapshots -----------------------------------------------------------------------------------


def _ready(*keys: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
        await pilot.pause(0.3)
        await settle(pilot)
    return run_before


SIZES = [(80, 24), (120, 36), (200, 60)]
SIZE_IDS = ["80x24", "120x36", "200x60"]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_list(tmp_path, sessions, snap_compare, size):
    assert snap_compare(app_for(tmp_path, sessions), terminal_size=size, run_before=_ready())


def test_snapshot_overlay_120x36(tmp_path, sessions, snap_compare):
    assert snap_compare(app_for(tmp_path, sessions), terminal_size=(120, 36),
                        run_before=_ready("down", "space", "down", "space"))


def test_snapshot_overlay_200x60_light(tmp_path, sessions, snap_compare):
    assert snap_compare(app_for(tmp_path, sessions, "textual-light"), terminal_size=(200, 60),
                        run_before=_ready("space", "down", "space", "down", "space"))


def test_snapshot_failed_detail_80x24(tmp_path, sessions, snap_compare):
    assert snap_compare(app_for(tmp_path, sessions), terminal_size=(80, 24),
                        run_before=_ready("enter"))


def test_snapshot_finished_checkpoints_200x60(tmp_path, sessions, snap_compare):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        pilot.app.screen.query_one("#detail-tabs").active = "detail-checkpoints"
        await pilot.pause(0.3)
        await settle(pilot)
    assert snap_compare(app_for(tmp_path, sessions), terminal_size=(200, 60), run_before=run_before)


def test_snapshot_finished_curves_80x24(tmp_path, sessions, snap_compare):
    assert snap_compare(app_for(tmp_path, sessions), terminal_size=(80, 24),
                        run_before=_ready("down", "down", "enter"))


@sync
async def test_stop_and_resume_a_real_run_from_the_list(tmp_path, sessions):
    from screens.dialogs.confirm import ConfirmDialog
    from workbench.train import runner
    from workbench.train.config import TrainConfig
    from workbench.train.status import pid_alive

    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"What is {a} plus {b}?", "input": "",
                                        "output": f"{a + b}."}) + "\n"
                            for a in range(8) for b in range(6)))
    config = TrainConfig(model="scratch", tokenizer="bytes", n_layer=2, n_head=2, n_embd=32,
                         n_positions=64, data=str(data), template="inst-resp", max_len=64,
                         batch_size=4, lr=3e-3, max_steps=100_000, eval_every=0, save_every=0,
                         sample_every=0, threads=1, device="cpu", val_ratio=0.1)
    runner.start(config, "live-run", sessions)
    app = app_for(tmp_path, sessions)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            await settle(pilot)
            screen = app.screen

            def state() -> str:
                return screen.infos.get("live-run", {}).get("status", {}).get("state", "")

            deadline = time.time() + 90
            while state() != "running" and time.time() < deadline:
                await pilot.pause(0.5)
            assert screen.highlighted == "live-run" and state() == "running"
            await pilot.press("x")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmDialog)
            await pilot.press("y")
            while state() != "stopped" and time.time() < deadline:
                await pilot.pause(0.5)
            assert state() == "stopped"
            assert "stopped" in row_texts(screen.query_one("#sessions-table"))[0][2]
            await pilot.press("r")
            while state() != "running" and time.time() < deadline:
                await pilot.pause(0.5)
            assert state() == "running"
    finally:
        runner.stop("live-run", sessions)
        status = json.loads((sessions / "live-run" / "status.json").read_text())
        end = time.time() + 30
        while pid_alive(status.get("pid")) and time.time() < end:
            time.sleep(0.2)
            status = json.loads((sessions / "live-run" / "status.json").read_text())
