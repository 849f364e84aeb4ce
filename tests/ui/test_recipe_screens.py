"""One working config, one recipe, as a person uses them in the app:

* the Batches screen and the Train form show one config: change the batcher in the form and
  the Batches screen plans with it; change it on the Batches screen and the form says so;
* from a session's loss curve to its batch: pick a step (on the Sessions or Train screen)
  and the Batches screen shows that step's micro-batch of that session, with that session's
  config, and says it matches the run's record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import sync


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def data(tmp_path) -> Path:
    rows = [{"instruction": f"Say {w}", "input": "", "output": f"{w} " * (1 + i % 5)}
            for i, w in enumerate(["cat", "dog", "sun", "sea", "sky", "owl", "ant", "bee"] * 4)]
    path = tmp_path / "say.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make(tmp_path: Path, data: Path, start_mode: str = "train"):
    from screens.app import make_app

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"source": str(data), "model": "scratch", "tokenizer": "bytes",
                                 "template": "inst-resp", "template_for": str(data)}))
    return make_app(state_file=state, sessions_dir=tmp_path / "sessions", start_mode=start_mode)


async def until(pilot, check, what: str, timeout: float = 30.0):
    for _ in range(int(timeout / 0.05)):
        await pilot.pause(0.05)
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - not there yet
            pass
    raise AssertionError(f"timed out waiting for {what}")


def batches_ready(app) -> bool:
    from screens.batches import BatchesScreen

    screen = app.screen
    return isinstance(screen, BatchesScreen) and not screen.busy and screen.batch is not None


def text_of(widget) -> str:
    content = widget.render()
    return str(getattr(content, "plain", content))


@sync
async def test_the_train_form_and_the_batches_screen_share_one_config(tmp_path, data):
    app = make(tmp_path, data)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.screen.get_field("batcher") == "grouped", "the form")
        form = app.screen
        form.query_one("#f-batcher").value = "packed"  # the person picks it in the form
        form.query_one("#f-batch_size").value = "3"
        await pilot.pause(0.2)
        await pilot.press("2")
        await until(pilot, lambda: batches_ready(app), "the batches")
        batches = app.screen
        assert batches.config.batcher == "packed" and batches.config.batch_size == 3
        assert batches.recipe.config.batcher == "packed" and batches.batch.packed
        assert batches.batch.shape[0] <= 3
        assert "packed" in text_of(batches.query_one("#batch-settings"))
        await pilot.press("b")  # packed -> random, on the Batches screen
        await until(pilot, lambda: batches_ready(app) and not app.screen.batch.packed, "re-plan")
        await pilot.press("3")
        await until(pilot, lambda: app.screen.get_field("batcher") == "random", "the form")
        assert app.screen.get_field("batch_size") == "3"


@sync
async def test_pick_a_step_on_a_sessions_curve_and_see_its_batch(tmp_path, data):
    from workbench.train import loop
    from workbench.train.config import TrainConfig

    sessions = tmp_path / "sessions"
    config = TrainConfig(model="scratch", tokenizer="bytes", n_layer=1, n_head=2, n_embd=32,
                         n_positions=128, data=str(data), template="inst-resp", max_len=64,
                         batch_size=4, grad_accum=2, batcher="packed", val_ratio=0.25, seed=3,
                         max_steps=4, eval_every=0, save_every=0, sample_every=0, device="cpu",
                         threads=1)
    assert loop.run(config, sessions / "run", sessions_dir=sessions) == "finished"
    app = make(tmp_path, data, start_mode="sessions")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.screen.highlighted == "run", "the sessions list")
        await pilot.press("i")
        await until(pilot, lambda: app.screen.query_one("#pick-step"), "the step dialog")
        spikes = app.screen.query_one("#pick-spikes")  # the loss spikes are offered
        assert spikes.option_count >= 1 and "step" in str(spikes.get_option_at_index(0).prompt)
        await pilot.press("3", "enter")
        await until(pilot, lambda: batches_ready(app), "the session's batch")
        screen = app.screen
        assert screen.session == "run"
        assert screen.config.batcher == "packed" and screen.config.seed == 3  # its config
        from workbench.recipe import RECIPE_FIELDS

        assert all(getattr(screen.config, f) == getattr(config, f) for f in RECIPE_FIELDS)
        assert screen.recipe.step_of(screen.epoch, screen.batch_index) == (3, 0)
        assert text_of(screen.query_one("#batch-summary")).startswith("step 3 micro 0/2")
        receipt = text_of(screen.query_one("#batch-receipt"))
        assert "matches the run's record" in receipt and screen.receipt.ok
        await pilot.press("right")  # its next micro-batch: also recorded, also matching
        await until(pilot, lambda: app.screen.recipe.step_of(app.screen.epoch,
                                                             app.screen.batch_index) == (3, 1),
                    "the next micro-batch")
        assert screen.receipt.ok
        # the working config was not touched; w goes back to it
        assert app.working_config().batcher == "grouped"
        await pilot.press("w")
        await until(pilot, lambda: batches_ready(app) and app.screen.session is None, "working")
        assert app.screen.config.batcher == "grouped"
