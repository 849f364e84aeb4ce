"""The recipe (`workbench.recipe`) is the one home of what a run trains on.

* What the model received during training, token for token, is what `workbench batch
  --config CONFIG --step N --micro M` shows, for every micro-batch of a run with
  non-default settings (val_ratio, balancing, packed rows, grad_accum 2, another seed), and
  for a run stopped and resumed; `workbench batch --session` says the batch matches the
  run's record, and says loudly when it does not.
* Every path that reports a held-out figure uses rows the run never trained on.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from workbench.cli import main
from workbench.model.gpt2 import GPT
from workbench.recipe import build_recipe, cut_and_balance, resolve_template, session_recipe
from workbench.train import loop
from workbench.train.config import TrainConfig


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def data(tmp_path):
    """40 Alpaca rows of different lengths, labelled 30 `a` / 10 `b`."""
    rows = []
    for i in range(40):
        kind = "b" if i % 4 == 0 else "a"
        rows.append({"instruction": f"Task {i}: repeat the word {kind} " + "x" * (i % 7),
                     "input": "", "output": " ".join([kind] * (3 + i % 9)), "kind": kind})
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def config_for(data, **overrides) -> TrainConfig:
    values = dict(model="scratch", tokenizer="bytes", n_layer=1, n_head=2, n_embd=32,
                  n_positions=256, data=str(data), template="inst-resp", val_ratio=0.2,
                  balance_label="kind",
                  balance_strategy="oversample", batcher="packed", grad_accum=2, batch_size=2,
                  seed=5, max_len=128, max_steps=3, lr=1e-3, eval_every=0, save_every=0,
                  sample_every=0, device="cpu", threads=1)
    values.update(overrides)
    return TrainConfig(**values)


class Spy:
    """Records what the model is fed in training (gradients on; validation runs without)."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[dict] = []
        original = GPT.target_loss

        def target_loss(model, input_ids, labels, position_ids=None, segment_ids=None, vocab=None):
            if torch.is_grad_enabled():
                self.calls.append({
                    "input_ids": input_ids.numpy().copy(), "labels": labels.numpy().copy(),
                    "position_ids": position_ids.numpy().copy(),
                    "segment_ids": None if segment_ids is None else segment_ids.numpy().copy()})
            return original(model, input_ids, labels, position_ids, segment_ids, vocab)

        monkeypatch.setattr(GPT, "target_loss", target_loss)


def shown(capsys, *args) -> tuple[int, dict]:
    code = main(["batch", *args, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def arrays(out: dict) -> dict:
    rows = out["rows"]
    get = lambda key: np.array([[t[key] for t in r["tokens"]] for r in rows])  # noqa: E731
    return {"input_ids": get("input_id"), "labels": get("target_id"),
            "position_ids": get("position_id"), "segment_ids": get("segment")}


def assert_same(fed: dict, out: dict, where: str) -> None:
    seen = arrays(out)
    for key in ("input_ids", "labels", "position_ids"):
        assert np.array_equal(fed[key], seen[key]), f"{where}: {key} differ"
    if fed["segment_ids"] is not None:
        assert np.array_equal(fed["segment_ids"], seen["segment_ids"]), f"{where}: segments"


def test_every_micro_batch_trained_on_is_the_one_shown(data, tmp_path, monkeypatch, capsys):
    config = config_for(data)
    toml = tmp_path / "run.toml"
    toml.write_text(config.to_toml(), encoding="utf-8")
    spy = Spy(monkeypatch)
    session = tmp_path / "sessions" / "run"
    assert loop.run(config, session, sessions_dir=tmp_path / "sessions") == "finished"
    assert len(spy.calls) == 3 * 2  # 3 steps of 2 micro-batches
    assert any(c["segment_ids"] is not None for c in spy.calls), "packed rows were fed"
    receipts = [json.loads(line) for line in (session / "batches.jsonl").read_text().splitlines()]
    assert [r["step"] for r in receipts] == [1, 2, 3]
    for k, fed in enumerate(spy.calls):
        step, micro = k // 2 + 1, k % 2
        code, out = shown(capsys, "--config", str(toml), "--step", str(step), "--micro", str(micro))
        assert code == 0 and (out["step"], out["micro"]) == (step, micro)
        assert_same(fed, out, f"--config step {step} micro {micro}")
        assert out["fingerprint"] == receipts[step - 1]["micro"][micro]
        code, out = shown(capsys, "--session", "run", "--sessions", str(tmp_path / "sessions"),
                          "--step", str(step), "--micro", str(micro))
        assert code == 0 and out["receipt"]["state"] == "match"
        assert_same(fed, out, f"--session step {step} micro {micro}")
    # what was trained on is 80% of the rows, oversampled: the held-out fifth never is
    assert out["heldout"]["kind"] == "ratio" and out["heldout"]["rows"] == 8
    # --index I is batch I of epoch 0: the same as the step it falls in
    code, by_index = shown(capsys, "--config", str(toml), "--index", "3")
    assert (by_index["step"], by_index["micro"]) == (2, 1)
    assert_same(spy.calls[3], by_index, "--index 3")


def test_a_resumed_run_trains_on_what_the_inspector_shows(data, tmp_path, monkeypatch, capsys):
    config = config_for(data, max_steps=5, save_every=2, batch_size=3, seed=11)
    sessions = tmp_path / "sessions"
    session = sessions / "resumed"
    import threading

    stop = threading.Event()

    def on_step(m):
        if m["step"] == 2:
            stop.set()

    assert loop.run(config, session, stop=stop, on_step=on_step, sessions_dir=sessions) == "stopped"
    # a step logged after the checkpoint, as a kill between a step and the next save leaves
    with open(session / "batches.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"step": 3, "micro": ["stale", "stale"], "at": []}) + "\n")
    spy = Spy(monkeypatch)
    assert loop.run(config, session, resume=True, sessions_dir=sessions) == "finished"
    assert len(spy.calls) == 3 * 2  # steps 3, 4, 5
    steps = [json.loads(line)["step"] for line in (session / "batches.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]  # each step once: the stale line was cut on resume
    for k, fed in enumerate(spy.calls):
        step, micro = 3 + k // 2, k % 2
        code, out = shown(capsys, "--session", "resumed", "--sessions", str(sessions),
                          "--step", str(step), "--micro", str(micro))
        assert code == 0 and out["receipt"]["state"] == "match", out["receipt"]
        assert_same(fed, out, f"resumed step {step} micro {micro}")


def test_a_batch_that_is_not_the_one_trained_on_is_said_loudly(data, tmp_path, capsys):
    config = config_for(data, max_steps=2)
    sessions = tmp_path / "sessions"
    assert loop.run(config, sessions / "run", sessions_dir=sessions) == "finished"
    code, out = shown(capsys, "--session", "run", "--sessions", str(sessions), "--step", "2")
    assert code == 0 and out["receipt"]["state"] == "match"
    # the data changes after the run: the same settings now give other batches
    lines = data.read_text().splitlines()
    data.write_text("\n".join(lines[1:] + lines[:1]) + "\n", encoding="utf-8")
    code = main(["batch", "--session", "run", "--sessions", str(sessions), "--step", "2"])
    captured = capsys.readouterr()
    assert code == 3
    assert "DOES NOT MATCH the run's record" in captured.out
    assert "DOES NOT MATCH" in captured.err and "changed since" in captured.out
    code, out = shown(capsys, "--session", "run", "--sessions", str(sessions), "--step", "9")
    assert code == 0 and out["receipt"]["state"] == "none"  # past the run: no record


# ----------------------------------------------------------------------------------------
# Held out means held out


def source_rows(ds, split):
    return set(ds.split(split).row_numbers().tolist())


@pytest.mark.parametrize("strategy", ["undersample", "oversample"])
def test_the_held_out_cut_comes_before_balancing(data, strategy):
    recipe = build_recipe(config_for(data, balance_strategy=strategy))
    train_rows = set(recipe.train.rows.tolist())
    val_rows = set(recipe.val.rows.tolist())
    assert val_rows and train_rows and not train_rows & val_rows
    assert len(val_rows) == 8 == recipe.heldout["rows"]
    # the held-out part is not balanced: its rows are as the data has them, once each
    assert len(recipe.val) == 8
    counts = recipe.balance.after["train"]
    assert counts["a"] == counts["b"]
    assert recipe.report["heldout"].startswith("val_ratio 0.2")


def test_copies_of_one_source_row_stay_on_one_side(tmp_path):
    """A file saved by an oversampling balance repeats rows (same source_row): the held-out
    cut keeps all copies of a row on one side, so validation never holds a training row."""
    rows = []
    for i in range(30):
        copies = 4 if i % 5 == 0 else 1
        rows += [{"instruction": f"q{i}", "input": "", "output": f"a{i}", "source_row": i}] * copies
    path = tmp_path / "oversampled.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    from workbench.data.sources import open_dataset

    ds, heldout, _ = cut_and_balance(open_dataset(str(path)), TrainConfig(
        data=str(path), val_ratio=0.25, seed=3))
    col = lambda split: set(ds.split(split).take(  # noqa: E731
        np.arange(ds.num_rows(split))).column("source_row").to_pylist())
    assert heldout["kind"] == "ratio" and col("validation") and col("train")
    assert not col("validation") & col("train")


def test_data_balance_val_ratio_cuts_first(data, tmp_path):
    out = tmp_path / "balanced"
    code = main(["data", "balance", str(data), "--label", "kind", "--strategy", "oversample",
                 "--val-ratio", "0.25", "--out", str(out), "--as", "jsonl"])
    assert code == 0
    read = lambda name: [json.loads(x) for x in (out / name).read_text().splitlines()]  # noqa: E731
    train, val = read("train.jsonl"), read("validation.jsonl")
    assert not {r["source_row"] for r in train} & {r["source_row"] for r in val}
    assert len(val) == len({r["source_row"] for r in val}) == 10  # stratified, never repeated
    manifest = json.loads((out / "manifest.json").read_text())
    assert "before balancing" in manifest["validation"]["cut"]
    assert sum(1 for r in train if r["kind"] == "a") == sum(1 for r in train if r["kind"] == "b")


def test_compare_uses_the_sessions_own_held_out_rows(data, tmp_path):
    from workbench.compare import items_from_data

    config = config_for(data, max_steps=1)
    sessions = tmp_path / "sessions"
    assert loop.run(config, sessions / "run", sessions_dir=sessions) == "finished"
    recipe = session_recipe(sessions / "run", sessions_dir=sessions)
    trained = set(recipe.train.rows.tolist())
    items, info = items_from_data(None, 50, session=sessions / "run")
    rows = {int(i.id.split()[-1]) for i in items}
    assert info["held_out"] is True and "held out by session run" in info["why"]
    assert rows == set(recipe.val.rows.tolist()) and not rows & trained
    # the same data named explicitly: the same held-out rows
    items2, _ = items_from_data(str(data), 50, session=sessions / "run")
    assert [i.id for i in items2] == [i.id for i in items]
    # the training split asked for knowingly is labelled so, never "held out"
    _items, info = items_from_data(str(data), 5, split="train", session=sessions / "run")
    assert info["held_out"] is False and "trained on" in info["why"]


def test_no_held_out_rows_is_said_not_papered_over(data, tmp_path):
    from workbench.compare import items_from_data
    from workbench.errors import WorkbenchError

    config = config_for(data, max_steps=1, val_ratio=0.0)
    sessions = tmp_path / "sessions"
    assert loop.run(config, sessions / "run", sessions_dir=sessions) == "finished"
    with pytest.raises(WorkbenchError, match="held no rows out"):
        items_from_data(None, 5, session=sessions / "run")


# ----------------------------------------------------------------------------------------
# Template and config


def test_template_resolution_order():
    from workbench.templates import get_template

    saved = get_template("chatml")
    assert resolve_template("phi3", saved, "alpaca")[1] == "chosen"
    assert resolve_template("", saved, "alpaca") == (saved, "model")
    t, origin = resolve_template("", get_template("text"), "tinystories")
    assert (t.name, origin) == ("story", "format")  # a saved `text` says nothing


def test_a_template_that_cannot_render_the_data_is_an_error(data):
    from workbench.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="template story cannot render this data.*usual "
                                             "template for alpaca data is alpaca"):
        build_recipe(config_for(data, template="story"))


def test_problems_lists_every_field_at_once():
    config = TrainConfig(data="", lr=-1, batcher="zig", n_layer=0, val_ratio=2)
    problems = config.problems()
    assert set(problems) >= {"data", "lr", "batcher", "n_layer", "val_ratio"}
    assert "random, grouped, packed" in problems["batcher"]
    from workbench.errors import WorkbenchError

    with pytest.raises(WorkbenchError, match="config field 'data'.*also"):
        config.validate()
