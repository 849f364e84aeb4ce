"""The job bar and the error panel sit above the footer, on every screen, and can be read.

(They were once docked to the bottom like the footer; Textual overlaps widgets docked to the
same edge, so an error's text hid under the footer and only its border showed.)"""

from __future__ import annotations

import asyncio
import threading

import pytest

from screens.app import make_app
from screens.widgets.error_panel import ErrorPanel

MODES = ["data", "batches", "train", "chat", "sessions"]


@pytest.mark.parametrize("mode", MODES)
def test_job_bar_and_error_show_above_the_footer(tmp_path, monkeypatch, mode):
    monkeypatch.chdir(tmp_path)  # no data/ or sessions/ of the repository
    asyncio.run(_check(tmp_path, mode))


async def _check(tmp_path, mode):
    app = make_app(sessions_dir=tmp_path / "sessions", state_file=None, persist=False,
                   model="", start_mode=mode)
    release = threading.Event()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        screen.run_job("hold", lambda control: release.wait(10), label="holding-on")
        screen.show_error("xyzzy-went-wrong", hint="do-this-instead")
        await pilot.pause()
        try:
            job, panel = screen.query_one("#job"), screen.query_one(ErrorPanel)
            footer = screen.query_one("KeyBar")
            assert job.display and panel.shown
            job_r, panel_r, foot_r = job.region, panel.region, footer.region
            assert job_r.height == 1 and panel_r.height >= 2  # border + the message
            assert job_r.bottom <= panel_r.y and panel_r.bottom <= foot_r.y < 30
            shot = app.export_screenshot()  # what a person sees, nothing covered
            for text in ("holding-on", "xyzzy-went-wrong", "do-this-instead"):
                assert text in shot, f"{text} is not on the {mode} screen"
        finally:
            release.set()
        await pilot.pause()
