"""The Train screen, driven with Pilot: the form (prefilled from the context, every field's
problem marked before launch), a real 5-step CPU run launched from the form and followed
until `finished`, a run that outlives the app, is re-attached by a new app, stopped through
the dialog (`stopped`, with a checkpoint) and resumed; a killed run and its advice; several
running sessions. SVG snapshots of the fixture sessions (tests/fixtures/sessions/) at
80x24 and 160x48.

The runs are real detached processes on a tiny scratch model (2 layers, width 32, byte
tokenizer): a few seconds each, most of it Python and torch starting. Every test has its own
sessions folder, state file and dataset cache; a test that leaves a run going stops it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import shutil
import signal
import subprocess
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

TINY = dict(n_layer=2, n_head=2, n_embd=32, n_positions=64, max_len=64, batch_size=4, lr=3e-3,
            warmup_steps=1, eval_every=2, save_every=5, keep_last=1, val_ratio=0.1,
            sample_prompts=["What is 1 plus 1?"], sample_every=5, sample_max_new_tokens=8,
            threads=1, device="cpu", seed=3)

pytestmark = pytest.mark.slow


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
    _stop_all(tmp_path / "sessions")
    monkeypatch.undo()
    time.tzset()


def _stop_all(sessions: Path) -> None:
    """Leave no training process behind: SIGTERM, wait, then SIGKILL."""
    from workbench.sessions import read_status
    from workbench.train import runner
    from workbench.train.status import pid_alive

    if not sessions.is_dir():
        return
    for name in runner.running_sessions(sessions):
        if read_status(sessions / name).get("pid") != os.getpid():  # a stand-in "run"
            runner.stop(name, sessions)
    deadline = time.time() + 30
    for path in sessions.iterdir():
        status = read_status(path)
        pid = status.get("pid")
        if pid == os.getpid():
            continue
        while pid and pid_alive(pid, status.get("pid_start")) and time.time() < deadline:
            time.sleep(0.2)
        if pid and pid_alive(pid, status.get("pid_start")):
            try:
                os.killpg(os.getpgid(int(pid)), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def app_for(tmp_path: Path, *, data=None, template=None, model=None, sessions=None, **kw):
    app = make_app(sessions_dir=sessions or tmp_path / "sessions",
                   state_file=tmp_path / "state.json", data=data, template=template, model=model,
                   start_mode="train", **kw)
    return app


def scratch_app(tmp_path: Path, data: Path):
    app = app_for(tmp_path, data=str(data), template="inst-resp", model="scratch")
    app.state.tokenizer = "bytes"
    return app


def with_fixtures(tmp_path: Path) -> Path:
    """A copy of the fixture sessions (screens may mark a dead run failed on disk)."""
    dest = tmp_path / "sessions"
    shutil.copytree(FIXTURE_SESSIONS, dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return dest


async def settle(pilot) -> None:
    """Let jobs (threads: the device list) finish and their results reach the screen."""
    app = pilot.app
    for _ in range(200):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers) and not any(
                getattr(s, "busy", False) for s in app.screen_stack):
            return
    raise AssertionError("jobs did not finish")


async def wait_for(pilot, predicate, timeout: float = 60.0, what: str = "condition"):
    """Poll the UI (as a user would look at it) until `predicate()` holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        await pilot.pause(0.5)
        if predicate():
            return
    raise AssertionError(f"timed out waiting for {what}")


def text_of(widget) -> str:
    visual = widget.render()
    return str(getattr(visual, "plain", visual))


def shown(screen, selector: str) -> str:
    return text_of(screen.query_one(selector))


# -- the form -----------------------------------------------------------------------------------


@sync
async def test_form_is_prefilled_from_the_context_and_shows_help(tmp_path):
    from textual.widgets import TabbedContent

    from workbench.train.config import field_help

    app = app_for(tmp_path, data=RASBT, template="alpaca", model="gpt2")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#train-tabs", TabbedContent).active == "train-config"
        assert screen.get_field("data") == RASBT
        assert screen.get_field("template") == "alpaca"
        assert screen.get_field("model") == "gpt2"
        assert screen.get_field("lr") == "auto"           # the dataclass default (0): auto
        assert screen.validate_form() == {}
        assert "ready" in shown(screen, "#form-summary")
        # focusing a field shows its help under the form (narrow) / beside it (wide)
        screen.query_one("#f-lr").focus()
        await pilot.pause()
        assert field_help()["lr"] in shown(screen, "#field-help")
        # the form is the app's working config: an edit here is the header's template, and
        # a change made elsewhere (the header, the Batches screen) shows here
        screen.set_form(template="chatml", batcher="packed")
        assert app.state.template == "chatml" and app.working_config().batcher == "packed"
        app.set_context(source="other.jsonl", template="phi3")
        app.set_config(batcher="random", max_len=128)
        await pilot.pause()
        assert screen.get_field("data") == "other.jsonl"
        assert screen.get_field("template") == "phi3"
        assert screen.get_field("batcher") == "random" and screen.get_field("max_len") == "128"


@sync
async def test_invalid_values_are_marked_before_launch(tmp_path, qa_data):
    from workbench.train.config import TrainConfig

    app = scratch_app(tmp_path, qa_data)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.set_form(lr="-1", n_layer="two", n_embd="30", n_head="4", data="", name="bad name!")
        errors = screen.validate_form()
        assert set(errors) >= {"lr", "n_layer", "n_embd", "data", "name"}
        assert "whole number" in errors["n_layer"]
        assert "positive" in errors["lr"]
        assert "divisible" in errors["n_embd"]
        for name in ("lr", "n_layer", "n_embd", "data"):
            row = screen.query_one(f"#row-{name}")
            assert row.has_class("-invalid")
            assert "✖" in text_of(row.query_one(".field-help"))
        assert "to fix" in shown(screen, "#form-summary")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not (tmp_path / "sessions").exists() or not any((tmp_path / "sessions").iterdir())
        assert app.focused is screen.query_one("#f-lr") or app.focused.id.startswith("f-")
        # fixing them clears the marks, field by field
        screen.set_form(lr="0.003", n_layer="2", n_embd="32", n_head="2", data=str(qa_data), name="")
        assert screen.validate_form() == {}
        assert not screen.query(".field-row.-invalid")
        TrainConfig(**screen.read_form()[0]).validate()


@sync
async def test_device_choice_lists_what_the_machine_has(tmp_path, qa_data):
    from textual.widgets import Select

    from workbench.device import describe_devices

    app = scratch_app(tmp_path, qa_data)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        screen = app.screen
        select = screen.query_one("#f-device", Select)
        values = [v for _, v in select._options if v is not Select.BLANK]
        assert values[0] == "auto" and "cpu" in values
        labels = [str(label) for label, _ in select._options]
        assert any("cpu" in label and "threads" in label for label in labels)
        if any(d["kind"] == "cuda" for d in describe_devices()):
            assert "cuda" in values and any("GiB free" in label for label in labels)


# -- real runs -----------------------------------------------------------------------------------


@sync
async def test_launch_a_five_step_run_and_follow_it_until_finished(tmp_path, qa_data):
    from textual.widgets import ProgressBar, TabbedContent

    from screens.widgets.loss_plot import LossPlot

    app = scratch_app(tmp_path, qa_data)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.set_form(max_steps=5, **TINY)
        assert screen.validate_form() == {}
        await pilot.press("ctrl+s")
        await pilot.pause()
        name = screen.followed
        assert name and (tmp_path / "sessions" / name / "config.toml").exists()
        assert screen.query_one("#train-tabs", TabbedContent).active == "train-run"
        seen = []

        def done() -> bool:
            watch = screen.run_watch
            seen.append((watch.state, watch.step))
            return watch.state in ("finished", "failed", "stopped")

        try:
            await wait_for(pilot, done, 90, "the run to finish")
        except AssertionError:  # say what the screen saw and what is on disk (a rare flake)
            status = (tmp_path / "sessions" / name / "status.json").read_text()
            raise AssertionError(f"the run did not show as ended: screen saw {seen[-3:]}, "
                                 f"on screen {app.screen!r}, status.json {status[:300]}")
        assert screen.run_watch.state == "finished", screen.run_watch.status.get("error")
        assert seen[0][0] in ("starting", "running")      # followed from its start
        plot = screen.query_one("#run-plot", LossPlot)
        assert [s for s, _ in plot.curves[0].train] == [1, 2, 3, 4, 5]
        assert [s for s, _ in plot.curves[0].val] == [2, 4, 5]
        bar = screen.query_one("#run-progress", ProgressBar)
        assert (bar.total, bar.progress) == (5, 5)
        assert "finished" in shown(screen, "#run-state") and "step 5 of 5" in shown(screen, "#run-state")
        assert "What is 1 plus 1?" in shown(screen, "#run-samples")
        assert "finished 5 steps" in "\n".join(t.plain for t in screen.query_one("#run-log").lines)
        assert not screen.query_one("#run-alert").has_class("-shown")


@sync
async def test_run_outlives_the_app_is_reattached_stopped_and_resumed(tmp_path, qa_data):
    from textual.widgets import TabbedContent

    from screens.dialogs.confirm import ConfirmDialog
    from workbench.sessions import read_index, read_status
    from workbench.train import runner

    sessions = tmp_path / "sessions"
    app = scratch_app(tmp_path, qa_data)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.screen.set_form(name="long-run", max_steps=100_000, **{**TINY, "eval_every": 0,
                                                                  "save_every": 0, "sample_every": 0})
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen.run_watch.step >= 3, 90, "the first steps")
    # the app is gone; the run is not
    status = read_status(sessions / "long-run")
    assert status["state"] == "running" and runner.running_sessions(sessions) == ["long-run"]
    step_then = status["step"]
    time.sleep(1.0)
    assert read_status(sessions / "long-run")["step"] > step_then

    app2 = scratch_app(tmp_path, qa_data)
    async with app2.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app2.screen
        assert screen.followed == "long-run"
        assert screen.query_one("#train-tabs", TabbedContent).active == "train-run"
        first = screen.run_watch.step
        await wait_for(pilot, lambda: screen.run_watch.step > first, 30, "the steps to advance")
        assert "running" in shown(screen, "#run-state")
        assert "ETA" in shown(screen, "#run-eta")
        # stop, through the dialog
        await pilot.press("ctrl+t")
        await pilot.pause()
        assert isinstance(app2.screen, ConfirmDialog)
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.run_watch.state == "stopped", 60, "the run to stop")
        index = read_index(sessions / "long-run")
        stopped_at = screen.run_watch.step
        assert index["latest"] == f"step-{stopped_at}"
        assert (sessions / "long-run" / "checkpoints" / f"step-{stopped_at}").is_dir()
        assert screen.query_one("#run-alert").has_class("-shown")
        assert "ctrl+r resumes" in shown(screen, "#run-alert")
        # resume: the same session continues from its checkpoint
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: screen.run_watch.state == "running"
                       and screen.run_watch.step > stopped_at, 90, "the resumed run to advance")
        assert "resumed from step-" in (sessions / "long-run" / "train.log").read_text()
        assert runner.stop("long-run", sessions), read_status(sessions / "long-run")
        await wait_for(pilot, lambda: screen.run_watch.state == "stopped", 60, "the second stop")


@sync
async def test_a_killed_run_is_marked_failed_with_what_to_do(tmp_path):
    sessions = with_fixtures(tmp_path)
    proc = subprocess.Popen(["true"])
    proc.wait()  # a pid that is gone
    path = sessions / "gone-run"
    shutil.copytree(sessions / STOPPED, path)
    status = json.loads((path / "status.json").read_text())
    status.update(state="running", pid=proc.pid, pid_start=None, error=None,
                  started_at="2026-11-22T10:00:00+00:00")
    (path / "status.json").write_text(json.dumps(status))
    app = app_for(tmp_path, sessions=sessions)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.follow("gone-run")
        await pilot.pause()
        assert screen.run_watch.state == "failed"
        alert = shown(screen, "#run-alert")
        assert "killed" in alert and "ctrl+r resumes from step-180" in alert
        assert json.loads((path / "status.json").read_text())["killed"] is True


@sync
async def test_several_running_sessions_follow_the_latest_and_switch(tmp_path):
    from workbench.train.status import process_start_time

    sessions = with_fixtures(tmp_path)
    for name, started in (("run-a", "2026-11-22T10:00:00+00:00"), ("run-b", "2026-11-22T11:00:00+00:00")):
        path = sessions / name
        shutil.copytree(sessions / STOPPED, path)
        status = json.loads((path / "status.json").read_text())
        # "running" in this very process: alive for as long as the test runs
        status.update(state="running", pid=os.getpid(), pid_start=process_start_time(os.getpid()),
                      started_at=started)
        (path / "status.json").write_text(json.dumps(status))
    app = app_for(tmp_path, sessions=sessions)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.followed == "run-b"
        assert screen._follow_names[:2] == ["run-b", "run-a"]  # running ones first
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert screen.followed == "run-a"
        assert "running" in shown(screen, "#run-state")
    # no stop: these "runs" are the test process itself


# -- snapshots -----------------------------------------------------------------------------------


def _snap_app(tmp_path, theme="textual-dark", follow: str | None = None):
    sessions = with_fixtures(tmp_path)
    app = app_for(tmp_path, data=RASBT, template="alpaca", model="gpt2", sessions=sessions)
    app.theme = theme
    return app


def _ready(view: str = "config", follow: str | None = None, **form):
    async def run_before(pilot) -> None:
        await settle(pilot)
        screen = pilot.app.screen
        if form:
            screen.set_form(**form)
        if follow:
            screen.follow(follow, show=view == "run")
        elif view == "run":
            await pilot.press("ctrl+o")
        await pilot.pause(0.3)
        await settle(pilot)
    return run_before


SIZES = [(80, 24), (120, 36), (200, 60)]
SIZE_IDS = ["80x24", "120x36", "200x60"]


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_config(tmp_path, snap_compare, size):
    assert snap_compare(_snap_app(tmp_path), terminal_size=size, run_before=_ready())


def test_snapshot_config_invalid_120x36(tmp_path, snap_compare):
    assert snap_compare(_snap_app(tmp_path), terminal_size=(120, 36),
                        run_before=_ready(lr="-1", n_layer="two", batch_size="0"))


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_find_field_dialog(tmp_path, snap_compare, size):
    async def run_before(pilot) -> None:
        await _ready()(pilot)
        await pilot.press("ctrl+f", *"max")
        await pilot.pause(0.3)
        for field in pilot.app.screen.query("Input"):
            field.cursor_blink = False  # shown or not, depending on the moment
        await pilot.pause()
    assert snap_compare(_snap_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot_finished_run(tmp_path, snap_compare, size):
    assert snap_compare(_snap_app(tmp_path), terminal_size=size,
                        run_before=_ready("run", FINISHED))


def test_snapshot_failed_run_80x24(tmp_path, snap_compare):
    assert snap_compare(_snap_app(tmp_path), terminal_size=(80, 24),
                        run_before=_ready("run", FAILED))


def test_snapshot_failed_run_200x60_light(tmp_path, snap_compare):
    assert snap_compare(_snap_app(tmp_path, "textual-light"), terminal_size=(200, 60),
                        run_before=_ready("run", FAILED))


@sync
async def test_the_run_view_shows_the_hardware_telemetry(tmp_path):
    """status.json's telemetry (device, memory, utilization, tokens/s, MFU) is one line under
    the run's stats; a status without it (an older run) shows no such line."""
    sessions = with_fixtures(tmp_path)
    path = sessions / "gpu-run"
    shutil.copytree(sessions / FINISHED, path)
    status = json.loads((path / "status.json").read_text())
    status.update(started_at="2026-11-23T10:00:00+00:00", device_name="NVIDIA H200",
                  memory_used_gib=12.3, memory_total_gib=139.8, utilization_pct=97,
                  tokens_per_s_avg=412000.0, mfu=0.41)
    (path / "status.json").write_text(json.dumps(status))
    app = app_for(tmp_path, sessions=sessions)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.follow("gpu-run", show=True)
        await pilot.pause(0.3)
        await settle(pilot)
        stats = shown(screen, "#run-stats")
        assert "NVIDIA H200 · mem 12.3/139.8 GiB · util 97% · 412k tok/s · MFU 41%" in stats
        screen.follow(FINISHED, show=True)
        await pilot.pause(0.3)
        await settle(pilot)
        assert "MFU" not in shown(screen, "#run-stats")


@sync
async def test_a_long_run_is_read_in_a_worker(tmp_path):
    """Tens of thousands of logged steps: the first read happens off the UI thread, then the
    plot has every step (averaged down to the plot's width when drawn)."""
    sessions = with_fixtures(tmp_path)
    path = sessions / "long-history"
    shutil.copytree(sessions / FINISHED, path)
    with open(path / "metrics.jsonl", "w", encoding="utf-8") as fh:
        for step in range(1, 15_001):
            fh.write(json.dumps({"step": step, "epoch": step / 1000, "loss": 3.0 / (1 + step / 500),
                                 "lr": 1e-4, "grad_norm": 1.0, "tokens": 1500, "target_tokens": 500,
                                 "tokens_per_s": 3300.0, "elapsed_s": step * 0.4}) + "\n")
    status = json.loads((path / "status.json").read_text())
    status.update(step=15_000, max_steps=15_000, started_at="2026-11-22T10:00:00+00:00")
    (path / "status.json").write_text(json.dumps(status))
    app = app_for(tmp_path, sessions=sessions)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.followed == "long-history"        # the latest session
        plot = screen.query_one("#run-plot")
        assert len(plot.curves[0].train) == 15_000
        assert "step 15000 of 15000" in shown(screen, "#run-state")
        assert "trained for 1h 40m" in shown(screen, "#run-eta")


@sync
async def test_a_run_that_cannot_start_says_why(tmp_path, qa_data):
    """The process exits before its first step (max_len longer than the model's context):
    the run ends `failed` with the engine's message, and the advice is to fix the cause,
    never "killed"."""
    app = scratch_app(tmp_path, qa_data)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.set_form(**{**TINY, "max_len": 512, "max_steps": 5})
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: screen.run_watch.state == "failed", 60, "the failure")
        alert = shown(screen, "#run-alert")
        assert "max_len" in alert and "fix the cause" in alert
        assert "killed" not in alert.split("→")[0]
