"""Training: the loss normalisation, exact resume (10 + resume + 10 == 20), the session
layout, the detached process (SIGTERM stop, kill -9, re-attach), failures (NaN, OOM, no
target), text mode, and DDP on two CPU processes."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from conftest import run_cli
from workbench.errors import WorkbenchError
from workbench.fsutil import read_jsonl
from workbench.sessions import read_index, read_status
from workbench.train import loop, runner
from workbench.train.config import TrainConfig, field_help

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))


@pytest.fixture
def data(qa_data) -> Path:
    return qa_data


def tiny(data: Path, **kw) -> TrainConfig:
    base = dict(model="scratch", tokenizer="bytes", n_layer=2, n_head=2, n_embd=32, n_positions=64,
                data=str(data), template="inst-resp", max_len=64, batch_size=4, lr=3e-3,
                max_steps=20, warmup_steps=3, eval_every=5, save_every=10, keep_last=2,
                sample_prompts=["What is 1 plus 1?"], sample_every=10, sample_max_new_tokens=8,
                seed=3, threads=1, val_ratio=0.1, dtype="fp32")  # exact sums (auto may be bf16)
    base.update(kw)
    return TrainConfig(**base)


def weights(session: Path, which: str = "latest") -> dict:
    from safetensors.torch import load_file
    from workbench.sessions import resolve_checkpoint

    return load_file(str(resolve_checkpoint(session, which) / "model.safetensors"))


def losses(session: Path) -> list[tuple[int, float]]:
    return [(m["step"], m["loss"]) for m in map(json.loads, (session / "metrics.jsonl").read_text().splitlines())]


def test_lr_schedule_and_param_groups():
    c = TrainConfig(data="x", lr=1.0, warmup_steps=2, min_lr_ratio=0.1, schedule="cosine")
    assert [round(loop.lr_at(s, c, 10), 4) for s in (0, 1, 2, 10)] == [0.5, 1.0, 1.0, 0.1]
    c.schedule = "linear"
    assert round(loop.lr_at(6, c, 10), 4) == 0.55
    from workbench.model import GPT, GPTConfig
    groups = loop.param_groups(GPT(GPTConfig(n_layer=1, n_head=2, n_embd=8, vocab_size=20)), 0.1)
    assert all(p.dim() >= 2 for p in groups[0]["params"])          # matrices decay
    assert all(p.dim() == 1 for p in groups[1]["params"]) and groups[1]["weight_decay"] == 0.0


def test_accumulated_loss_is_sum_over_all_targets(data, tmp_path):
    """grad_accum=2 x batch 4 gives the same step as batch 8: sum of token losses / targets."""
    a = tmp_path / "a"
    b = tmp_path / "b"
    loop.run(tiny(data, batch_size=8, grad_accum=1, max_steps=3, batcher="random",
                  eval_every=0, save_every=0, sample_prompts=[]), a)
    # the same 8 rows per step, split in two micro-batches: plan batches of 4 in the same order
    cfg = tiny(data, batch_size=4, grad_accum=2, max_steps=3, batcher="random", eval_every=0,
               save_every=0, sample_prompts=[])
    import workbench.collate as collate

    real_plan = collate.plan_batches

    def plan_as_eight(lengths, batch_size, batcher, **kw):
        """The batch-8 plan, each batch cut in two halves of 4 rows."""
        eights = real_plan(lengths, 8, batcher, **kw)
        return [half for batch in eights for half in (batch[:4], batch[4:]) if half]

    import unittest.mock as mock
    with mock.patch.object(collate, "plan_batches", plan_as_eight):
        loop.run(cfg, b)
    la, lb = losses(a), losses(b)
    assert [s for s, _ in la] == [1, 2, 3] and [s for s, _ in lb] == [1, 2, 3]
    for (_, x), (_, y) in zip(la, lb):
        assert abs(x - y) < 1e-5
    wa, wb = weights(a), weights(b)
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5


def test_exact_resume_10_plus_10_equals_20(data, tmp_path):
    straight = tmp_path / "straight"
    assert loop.run(tiny(data), straight) == "finished"
    split = tmp_path / "split"
    stop = threading.Event()
    state = loop.run(tiny(data), split, stop=stop,
                     on_step=lambda m: stop.set() if m["step"] == 10 else None)
    assert state == "stopped"
    assert read_status(split)["state"] == "stopped" and read_status(split)["step"] == 10
    assert read_index(split)["latest"] == "step-10"
    assert loop.run(tiny(data), split, resume=True) == "finished"
    assert losses(split) == losses(straight)                     # the same logged losses
    a, b = weights(straight), weights(split)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6
    ev = lambda s: [(e["step"], e["val_loss"]) for e in map(json.loads, (s / "eval.jsonl").read_text().splitlines())]  # noqa: E731
    assert ev(split) == ev(straight)


def test_session_layout_is_pinned(data, tmp_path):
    session = tmp_path / "run"
    loop.run(tiny(data, max_steps=30, save_every=10, keep_last=1), session)
    assert sorted(p.name for p in session.iterdir()) == [
        ".lock", "batches.jsonl", "checkpoints", "config.toml", "eval.jsonl", "metrics.jsonl",
        "recipe.json", "samples.jsonl", "status.json", "train.log"]
    assert sorted(p.name for p in (session / "checkpoints").iterdir()) == sorted(
        ["index.json", *{read_index(session)["best"], "step-30"}])
    ckpt = session / "checkpoints" / "step-30"
    assert sorted(p.name for p in ckpt.iterdir()) == sorted([
        "added_tokens.json", "config.json", "model.safetensors", "special_tokens_map.json",
        "trainer_state.pt", "workbench.json", "workbench_tokenizer.json"])
    status = read_status(session)
    assert {"state", "pid", "step", "max_steps", "error"} <= set(status)
    assert status["state"] == "finished" and status["step"] == 30 and status["max_steps"] == 30
    metric = json.loads((session / "metrics.jsonl").read_text().splitlines()[0])
    assert set(metric) == {"step", "epoch", "loss", "lr", "grad_norm", "tokens", "target_tokens",
                           "tokens_per_s", "elapsed_s"}
    sample = json.loads((session / "samples.jsonl").read_text().splitlines()[-1])
    assert sample["stop_reason"] in ("end", "stop_string", "length") and sample["step"] == 30
    assert TrainConfig.from_toml(session / "config.toml") == tiny(data, max_steps=30, save_every=10, keep_last=1)
    # keep_last=1 plus the best by validation loss
    index = read_index(session)
    assert index["latest"] == "step-30" and len(index["checkpoints"]) <= 2
    # the checkpoint loads in transformers unchanged
    transformers = pytest.importorskip("transformers")
    hf = transformers.GPT2LMHeadModel.from_pretrained(str(ckpt))
    assert hf.config.n_layer == 2


def test_refuses_to_start_without_targets(data, tmp_path):
    with pytest.raises(WorkbenchError, match="no training example has a target"):
        loop.run(tiny(data, max_len=10), tmp_path / "s")   # every prompt fills max_len


def test_config_errors_name_the_field(data, tmp_path):
    with pytest.raises(WorkbenchError, match="config field 'lr'"):
        loop.run(tiny(data, lr=-1e-4), tmp_path / "s")   # 0 is auto, a negative rate is not
    with pytest.raises(WorkbenchError, match="config field 'batcher'"):
        tiny(data, batcher="zigzag").validate()
    assert "micro-batch" in field_help()["batch_size"].lower() or "Rows" in field_help()["batch_size"]


def test_nan_loss_fails_with_step_and_last_checkpoint(data, tmp_path, monkeypatch):
    from workbench.model import GPT

    real = GPT.target_loss
    calls = {"n": 0}

    def poisoned(self, *a, **k):
        calls["n"] += 1
        loss, n = real(self, *a, **k)
        return (loss * float("nan"), n) if calls["n"] > 12 else (loss, n)

    monkeypatch.setattr(GPT, "target_loss", poisoned)
    session = tmp_path / "nan"
    assert loop.run(tiny(data, eval_every=0, sample_prompts=[]), session) == "failed"
    status = read_status(session)
    assert status["state"] == "failed" and status["failed_step"] == 11
    assert "loss became nan at step 11" in status["error"] and "step-10" in status["error"]
    assert (session / "checkpoints" / "step-10" / "model.safetensors").exists()


def test_cuda_oom_fails_with_advice(data, tmp_path, monkeypatch):
    from workbench.model import GPT

    def oom(self, *a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(GPT, "target_loss", oom)
    session = tmp_path / "oom"
    assert loop.run(tiny(data), session) == "failed"
    error = read_status(session)["error"]
    assert "out of memory at step 1 with micro-batch size 4" in error and "grad_accum" in error


def test_text_mode_trains_every_token(tmp_path):
    f = tmp_path / "stories.jsonl"
    f.write_text("".join(json.dumps({"text": f"Once upon a time there was cat number {i}."}) + "\n"
                         for i in range(30)))
    session = tmp_path / "pre"
    cfg = tiny(f, template="", max_steps=4, sample_prompts=["Once upon a time"], eval_every=2)
    assert loop.run(cfg, session) == "finished"
    report = read_status(session)["data_report"]
    assert report["format"] == "text"
    assert read_status(session)["template"] == "text"
    m = json.loads((session / "metrics.jsonl").read_text().splitlines()[0])
    # every position but the padding carries a target
    assert m["target_tokens"] == m["tokens"]


# ---------------------------------------------------------------------------------------
# The detached process


def wait_for(pred, timeout=120.0, every=0.2):
    end = time.time() + timeout
    while time.time() < end:
        value = pred()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("timed out")


def test_detached_run_stop_resume_and_kill(data, tmp_path):
    sessions = tmp_path / "sessions"
    cfg = tiny(data, max_steps=400, save_every=50, eval_every=0, sample_prompts=[])
    session = runner.start(cfg, "bg", sessions)
    assert read_status(session)["state"] in ("starting", "running")
    wait_for(lambda: read_status(session).get("step", 0) >= 3)
    assert "bg" in runner.running_sessions(sessions)
    assert runner.stop("bg", sessions)
    wait_for(lambda: read_status(session)["state"] == "stopped")
    step = read_status(session)["step"]
    assert read_index(session)["latest"] == f"step-{step}"
    # resume in the background, then kill -9 it: the next reader marks it failed (killed)
    runner.resume("bg", sessions)
    wait_for(lambda: read_status(session).get("state") == "running"
             and read_status(session).get("step", 0) > step)
    pid = read_status(session)["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: runner.attach("bg", sessions)["state"] == "failed")
    status = read_status(session)
    assert status["killed"] and "killed" in status["error"] and "--resume bg" in status["error"]
    assert "bg" not in runner.running_sessions(sessions)
    # nothing already written is lost: every finished metrics line is whole (the kill may
    # tear the line being written; readers skip it) and the checkpoint loads
    text = (session / "metrics.jsonl").read_text()
    lines = text.splitlines()
    whole = lines if text.endswith("\n") else lines[:-1]
    rows = [json.loads(line) for line in whole]
    assert rows and read_jsonl(session / "metrics.jsonl") == rows
    assert weights(session)  # the latest checkpoint is intact


def test_cli_foreground_and_help(data, tmp_path):
    cfg = tiny(data, max_steps=3, eval_every=0, save_every=0, sample_prompts=[])
    (tmp_path / "c.toml").write_text(cfg.to_toml())
    res = run_cli("train", str(tmp_path / "c.toml"), "--session", "cli", "--sessions",
                  str(tmp_path / "s"), "--max-steps", "4")
    assert res.returncode == 0, res.stderr
    assert "session cli: finished at step 4/4" in res.stdout
    res = run_cli("train", "--help-config")
    assert res.returncode == 0 and "batcher" in res.stdout and "similar lengths" in res.stdout
    res = run_cli("train", "--data", str(data), "--lr", "-1", "--sessions", str(tmp_path / "s"))
    assert res.returncode == 2 and "config field 'lr'" in res.stderr
    res = run_cli("train", "--resume", "nope", "--sessions", str(tmp_path / "s"))
    assert res.returncode == 2 and "no session 'nope'" in res.stderr


def test_ddp_two_cpu_processes_match_gradient_accumulation(data, tmp_path):
    """--nproc 2 (gloo) with batch 4 trains exactly like one process with grad_accum 2."""
    common = dict(max_steps=4, eval_every=0, save_every=0, sample_prompts=[], batcher="random",
                  batch_size=4)
    (tmp_path / "ddp.toml").write_text(tiny(data, nproc=2, **common).to_toml())
    res = run_cli("train", str(tmp_path / "ddp.toml"), "--session", "ddp", "--sessions",
                  str(tmp_path / "s"), "--quiet", timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    single = tmp_path / "s" / "single"
    loop.run(tiny(data, grad_accum=2, **common), single)
    ddp = tmp_path / "s" / "ddp"
    la, lb = losses(ddp), losses(single)
    assert [s for s, _ in la] == [1, 2, 3, 4]
    assert max(abs(x - y) for (_, x), (_, y) in zip(la, lb)) < 1e-5
    wa, wb = weights(ddp), weights(single)
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5
