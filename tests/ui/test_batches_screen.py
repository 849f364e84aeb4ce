"""The Batches screen: open fixture data, move between batches and rows, select a token and
read its detail (it must say what `explain_position` says), switch loss_on and see the masks
change, packed boundaries, truncation warnings, errors, and SVG snapshots at 80×24 and 160×48.

Most tests use a `scratch` model with the byte tokenizer (fast, deterministic, no shared
files); one uses the real GPT-2 files from ../shared/gpt2-bpe and skips when they are
absent. The screen shows the app's working config, the one the Train form edits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from conftest import GPT2_BPE, ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "ui" / "batches"
ALPACA = FIXTURES / "alpaca.jsonl"
CHAT = FIXTURES / "chat.jsonl"
# relative to the repository root: the header shows the source as given, so snapshots do
# not depend on where the checkout lives (the snapshot tests chdir to ROOT)
ALPACA_REL = "tests/fixtures/ui/batches/alpaca.jsonl"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """The dataset cache goes to a temporary folder, not the user's."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


def make(tmp_path: Path, data: Path | str | None = ALPACA, tokenizer: str = "bytes",
         template: str | None = None):
    from screens.app import make_app

    state = tmp_path / "state.json"  # a saved state: not a first launch (no demo preload)
    if not state.exists():
        state.write_text("{}", encoding="utf-8")
    app = make_app(data=str(data) if data else None, template=template, start_mode="batches",
                   state_file=state, sessions_dir=tmp_path / "sessions")
    app.state.tokenizer = tokenizer
    app.state.model = "scratch"  # a new model: its tokenizer is the config's
    return app


async def ready(pilot, timeout: float = 20.0):
    """Wait until the Batches screen is shown and its job has finished."""
    from screens.batches import BatchesScreen

    app = pilot.app
    for _ in range(int(timeout / 0.02)):
        await pilot.pause(0.02)
        screen = app.screen
        if isinstance(screen, BatchesScreen) and not screen.busy and (
                screen.batch is not None or screen.has_class("-empty")):
            await pilot.pause(0.02)
            return screen
    raise AssertionError("the Batches screen did not finish loading")


def text_of(widget) -> str:
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


def detail(screen) -> str:
    return text_of(screen.query_one("#batch-detail"))


def summary(screen) -> str:
    return text_of(screen.query_one("#batch-summary"))


def run(coro):
    return asyncio.run(coro)


# ----------------------------------------------------------------------------------------


def test_empty_state_without_a_source(tmp_path):
    async def go():
        app = make(tmp_path, data=None)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await ready(pilot)
            assert screen.has_class("-empty")
            message = text_of(screen.query_one("#batch-empty"))
            assert "Data" in message and "press 1" in message
            await pilot.press("right", "down", "l", "m", "g")  # nothing to do, nothing breaks
            assert screen.batch is None
    run(go())


def test_open_move_between_batches_and_rows(tmp_path):
    async def go():
        app = make(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            p = screen.recipe
            # 12 rows, one held out for validation as a training run does (val_ratio 0.05)
            assert len(p.train) == 11 and p.template.name == "alpaca"
            assert p.heldout["kind"] == "ratio" and p.heldout["rows"] == 1
            assert screen.config.batcher == "grouped" and screen.config.batch_size == 8
            assert screen.batch_index == 0 and summary(screen).startswith("step 1 · batch 0/2")
            first = [r for r in p.plan(0)[0]]
            await pilot.press("right")
            assert screen.batch_index == 1 and summary(screen).startswith("step 2 · batch 1/2")
            assert [r for r in p.plan(0)[1]] != first
            # the grid shows exactly the collated batch: one block per row
            assert len(screen.grid.rows) == screen.batch.shape[0] == len(p.plan(0)[1])
            await pilot.press("right")  # past the last batch: the next epoch, as training
            assert (screen.epoch, screen.batch_index) == (1, 0)
            assert summary(screen).startswith("step 3 · batch 0/2 of epoch 1")
            await pilot.press("left")
            assert (screen.epoch, screen.batch_index) == (0, 1)
            await pilot.press("left")
            assert screen.batch_index == 0
            await pilot.press("left")  # before the first: stays
            assert (screen.epoch, screen.batch_index) == (0, 0)
            await pilot.press("down", "down")
            assert screen.grid.row == 2 and "row 2/" in detail(screen)
            await pilot.press("up")
            assert screen.grid.row == 1
            # the row stats are the examples' own
            ex = screen.batch.examples[1][0]
            assert f"prompt {ex.n_prompt} · response {ex.n_response}" in detail(screen)
    run(go())


def check_detail(screen) -> dict:
    """The detail panel says what explain_position says about the cursor's position."""
    from workbench.collate import explain_position
    from workbench.tokenizer import visible

    r, p = screen.grid.cursor
    info = explain_position(screen.batch, r, p, screen.recipe.tokenizer,
                            screen.config.loss_on)
    text = detail(screen)
    assert f"pos {p} " in text or f"pos {p}–" in text
    assert f"input {info['input_id']} {visible(info['input'])}" in text
    assert info["why"] in text
    if info["trained"]:
        assert f"target {info['target_id']} {visible(info['target_token'])}" in text
    else:
        assert "target -100" in text
    assert f"pos id {info['position_id']}" in text
    assert f"segment {info['segment']}" in text
    return info


def test_select_a_token_and_read_the_detail(tmp_path):
    async def go():
        app = make(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            grid = screen.grid
            assert grid.cursor == (0, 0)
            check_detail(screen)
            await pilot.press("l", "l", "l")
            assert grid.cursor == (0, 3)
            await pilot.press("h")
            assert grid.cursor == (0, 2)
            info = check_detail(screen)
            assert not info["trained"] and info["kind"] == "prompt"
            await pilot.press("j")  # a wrapped line down: a later position of the same row
            row, pos = grid.cursor
            assert row == 0 and pos > 2
            check_detail(screen)
            # the last real position of the row: its target is the end token, trained
            real = grid.rows[0].real
            grid.move_to(0, real - 1)
            await pilot.pause(0.05)
            info = check_detail(screen)
            assert info["trained"] and info["kind"] == "end"
            assert "the end token that closes the response" in detail(screen)
            # a response position: trained
            await pilot.press("h")
            info = check_detail(screen)
            assert info["trained"] and info["kind"] in ("response", "end")
    run(go())


def test_pad_run_is_one_cell_and_explained(tmp_path):
    async def go():
        app = make(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            batch = screen.batch
            widths = [sum(n for _i, _s, n in parts) for parts in batch.parts]
            row = int(np.argmin(widths))
            assert widths[row] < batch.shape[1], "the fixture batch has a padded row"
            screen.grid.move_to(row, 0)
            await pilot.press("end")
            assert screen.grid.cursor == (row, widths[row])
            text = detail(screen)
            assert f"pos {widths[row]}–{batch.shape[1] - 1}" in text
            assert "-100: padding" in text and f"input {batch.pad_id}" in text
    run(go())


def test_loss_on_all_trains_the_prompt_too(tmp_path):
    async def go():
        app = make(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            await pilot.press("right", "down", "l", "l")
            where = (screen.batch_index, *screen.grid.cursor)
            before = screen.batch.n_targets
            trained_cells = sum(int((r.cls >= 2).sum()) for r in screen.grid.rows)
            assert trained_cells == before
            assert "-100: the next token is prompt text" in detail(screen)
            await pilot.press("m")
            screen = await ready(pilot)
            assert screen.config.loss_on == "all"
            assert app.working_config().loss_on == "all"  # the Train form's config too
            assert (screen.batch_index, *screen.grid.cursor) == where  # same place
            after = screen.batch.n_targets
            assert after > before
            assert sum(int((r.cls >= 2).sum()) for r in screen.grid.rows) == after
            assert "trained: loss_on=all trains the prompt too" in detail(screen)
            assert "loss on all" in text_of(screen.query_one("#batch-settings"))
            await pilot.press("m")
            screen = await ready(pilot)
            assert screen.batch.n_targets == before
    run(go())


def test_packed_rows_show_example_boundaries(tmp_path):
    async def go():
        app = make(tmp_path, data=CHAT)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            assert screen.recipe.template.name == "chatml"
            await pilot.press("b")  # grouped -> packed
            screen = await ready(pilot)
            assert screen.config.batcher == "packed" and screen.batch.packed
            packed = [r for r, parts in enumerate(screen.batch.parts) if len(parts) > 1]
            assert packed, "the chat fixture packs several examples into a row"
            row = packed[0]
            cells = [c for line in screen.grid._lines if line.row == row and not line.header
                     for c in line.cells]
            marks = [c.text for c in cells if c.style == "boundary"]
            assert marks == [f"┃{k}" for k in range(1, len(screen.batch.parts[row]) + 1)]
            # moving onto the second example: segment 2, position ids restart at 0
            start = screen.batch.parts[row][1][1]
            screen.grid.move_to(row, start)
            await pilot.pause(0.05)
            assert "pos id 0" in detail(screen) and "segment 2" in detail(screen)
            assert "┃2" in app.export_screenshot()
    run(go())


def test_truncation_warning_with_a_small_max_length(tmp_path):
    async def go():
        app = make(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            await pilot.press("s")
            await pilot.pause(0.05)
            dialog = app.screen
            dialog.query_one("#f-max_len").value = "200"
            dialog.query_one("#f-max_len").focus()
            await pilot.press("enter")
            screen = await ready(pilot)
            assert screen.config.max_len == 200 and app.working_config().max_len == 200
            enc = screen.recipe.train
            assert enc.truncated.any() and enc.dropped
            assert "truncated" in summary(screen) and "dropped" in summary(screen)
            cut_row = int(enc.rows[np.flatnonzero(enc.truncated)[0]])
            await pilot.press("g")
            await pilot.pause(0.05)
            await pilot.press(*f"r{cut_row}", "enter")
            await pilot.pause(0.05)
            row = screen.grid.row
            assert screen.batch.examples[row][0].row == cut_row
            warnings = text_of(screen.query_one("#batch-warnings"))
            assert screen.query_one("#batch-warnings").has_class("-shown")
            assert "response cut by truncation" in warnings
            assert "no trained end token" in warnings
            assert "truncated YES" in detail(screen) and "end trained NO" in detail(screen)
            assert "⚠" in summary(screen)
            # the cut example ends with the ✂ marker instead of its end token
            cells = [c for line in screen.grid._lines if line.row == row for c in line.cells]
            assert any(c.style == "cut" for c in cells)
    run(go())


def test_jump_to_batch_and_to_source_row(tmp_path):
    async def go():
        app = make(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            await pilot.press("g")
            await pilot.pause(0.05)
            await pilot.press("1", "enter")
            await pilot.pause(0.05)
            assert screen.batch_index == 1
            await pilot.press("g")
            await pilot.pause(0.05)
            await pilot.press("9", "9", "enter")  # out of range: the dialog says so
            await pilot.pause(0.05)
            assert "there are" in text_of(app.screen.query_one("#jump-problem"))
            await pilot.press("escape")
            await pilot.pause(0.05)
            assert app.screen is screen and screen.batch_index == 1
            held_out = int(screen.recipe.dataset.split("validation").row_numbers()[0])
            row = next(r for r in range(12) if r != held_out)
            screen.jump(f"r{row}")
            r, _pos = screen.grid.cursor
            assert screen.batch.examples[r][0].row == row
            screen.jump(f"r{held_out}")  # held out: in no training batch, and it says so
            screen.jump("s3")  # optimizer step 3: the first batch of epoch 1
            assert (screen.epoch, screen.batch_index) == (1, 0)
    run(go())


def test_changing_settings_keeps_the_example_in_view(tmp_path):
    async def go():
        app = make(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            await pilot.press("down", "down", "l", "l", "l")
            r, p = screen.grid.cursor
            source_row = screen.batch.examples[r][0].row
            await pilot.press("b")  # re-plan as packed: the same example, same offset
            screen = await ready(pilot)
            r2, p2 = screen.grid.cursor
            seg = int(screen.batch.segment_ids[r2, p2])
            assert screen.batch.examples[r2][seg - 1].row == source_row
            assert int(screen.batch.position_ids[r2, p2]) == p
    run(go())


def test_layout_toggle_and_reload_keep_the_cursor(tmp_path):
    async def go():
        app = make(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            await pilot.press("down", "l", "l")
            where = (screen.batch_index, *screen.grid.cursor)
            text_lines = len(screen.grid._lines)
            await pilot.press("t")  # grid layout: lines filled, fewer of them
            assert not screen.grid.text_layout and len(screen.grid._lines) < text_lines
            assert (screen.batch_index, *screen.grid.cursor) == where
            await pilot.press("r")
            screen = await ready(pilot)
            assert (screen.batch_index, *screen.grid.cursor) == where
    run(go())


def test_a_tokenizer_problem_shows_in_the_error_panel(tmp_path):
    async def go():
        app = make(tmp_path, tokenizer=str(tmp_path / "no-such-tokenizer"))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            assert screen.has_class("-empty")
            panel = screen.query_one("#errors")
            assert panel.shown and "no-such-tokenizer" in text_of(panel)
            assert "Could not build the batches" in text_of(screen.query_one("#batch-empty"))
            assert "Traceback" not in app.export_screenshot()
            # fixing the setting recovers
            screen.apply_settings(tokenizer="bytes")
            screen = await ready(pilot)
            assert not screen.has_class("-empty") and screen.batch is not None
            assert app.state.tokenizer == "bytes"
    run(go())


def test_model_tokenizer_from_a_checkpoint_folder(tmp_path):
    """A model folder: its own tokenizer files and special tokens, without loading weights
    (there are none here), exactly as training on it will tokenize."""
    import json

    from workbench.tokenizer import load_tokenizer

    folder = tmp_path / "model"
    load_tokenizer("bytes").with_special_tokens(["<|user|>", "<|assistant|>"]).save(folder)
    (folder / "workbench.json").write_text(
        '{"added_tokens": {"<|user|>": 257, "<|assistant|>": 258}}', encoding="utf-8")
    (folder / "config.json").write_text(json.dumps(
        {"model_type": "gpt2", "n_positions": 512, "vocab_size": 300}), encoding="utf-8")

    async def go():
        app = make(tmp_path, data=CHAT, tokenizer="gpt2")
        app.state.model = str(folder)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            tok = screen.recipe.tokenizer
            assert tok.kind == "bytes" and tok.special_tokens["<|user|>"] == 257
            assert "model" in text_of(screen.query_one("#batch-settings"))
    run(go())


def test_palette_offers_the_screen_actions(tmp_path):
    async def go():
        app = make(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            titles = [c.title for c in screen.commands()]
            for title in ("Next batch", "Previous batch", "Jump to batch…", "Next row",
                          "Previous row", "Toggle loss_on (now response)", "Batcher: random",
                          "Batcher: packed", "Change template…", "Change tokenizer…",
                          "Change max length…", "Change batch size…", "Change seed…"):
                assert title in titles
            next_batch = next(c for c in screen.commands() if c.title == "Next batch")
            next_batch.callback()
            assert screen.batch_index == 1
    run(go())


def test_real_gpt2_tokenizer(tmp_path):
    from workbench.collate import explain_position

    if not GPT2_BPE.exists():
        pytest.skip(f"{GPT2_BPE} is absent: the shared GPT-2 tokenizer files are needed")

    async def go():
        app = make(tmp_path, data=CHAT, tokenizer=str(GPT2_BPE))
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await ready(pilot)
            tok = screen.recipe.tokenizer
            assert tok.kind == "bpe" and tok.eos_id == 50256
            batch = screen.batch
            # every row starts with the <|user|> or <|system|> marker, a special token
            assert all(bool(r.special[0]) for r in screen.grid.rows)
            assert batch.input_ids[0, 0] >= 50257
            info = explain_position(batch, 0, 0, tok)
            assert f"input {info['input_id']} " in detail(screen) and info["why"] in detail(screen)
            # a multi-turn row: every <|end|> closing an assistant turn is a trained target
            end_id = tok.special_tokens["<|end|>"]
            targets = batch.labels[batch.labels != -100]
            assert (targets == end_id).sum() == sum(
                int((e.ids == end_id).sum()) for r in batch.examples for e in r)
            assert any(int((e.ids == end_id).sum()) > 1 for r in batch.examples for e in r)
    run(go())


# ----------------------------------------------------------------------------------------
# SVG snapshots


SIZES = [(80, 24), (120, 36), (200, 60)]
SIZE_IDS = ["80x24", "120x36", "200x60"]


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


async def _settle(pilot):
    await ready(pilot)
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_snapshot(snap_compare, tmp_path, at_root, size):
    app = make(tmp_path, data=ALPACA_REL)

    async def before(pilot):
        await _settle(pilot)
        await pilot.press("down", "l", "l", "l", "l", "l")
        await pilot.pause(0.1)

    assert snap_compare(app, terminal_size=size, run_before=before)


def test_snapshot_packed_chat_80x24(snap_compare, tmp_path, at_root):
    app = make(tmp_path, data="tests/fixtures/ui/batches/chat.jsonl")

    async def before(pilot):
        await _settle(pilot)
        await pilot.press("b")
        await _settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=before)
