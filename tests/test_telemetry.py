"""Training telemetry: nanoGPT's MFU formula by hand, the peak table and its cache, the
status fields of a tiny run, and the Train screen's line (None for an old status)."""

from __future__ import annotations

import json

import pytest
import torch

from workbench.model import GPT, GPTConfig
from workbench.sessions import read_status
from workbench.train import loop, telemetry
from workbench.train.config import TrainConfig
from workbench.train.telemetry import (Telemetry, flops_per_token, model_flops_per_token, mfu,
                                       table_peak, telemetry_line)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))


def test_flops_per_token_is_nanogpts_formula_by_hand():
    # gpt2-124M at T=1024: N = 124,439,808 parameters less the 1024 x 768 position table
    n = 124_439_808 - 1024 * 768
    assert flops_per_token(n, 12, 12, 64, 1024) == 6 * n + 12 * 12 * 12 * 64 * 1024
    assert flops_per_token(n, 12, 12, 64, 1024) == 741_920_256 + 113_246_208  # 855 MFLOP per token
    # and from a model: every parameter once (the head is tied to wte), less wpe
    model = GPT(GPTConfig(n_layer=2, n_head=4, n_embd=64, n_positions=128, vocab_size=500))
    C, V, P, L = 64, 500, 128, 2
    per_layer = 2 * C + (C * 3 * C + 3 * C) + (C * C + C) + 2 * C + (C * 4 * C + 4 * C) + (4 * C * C + C)
    N = V * C + L * per_layer + 2 * C  # wte (= head), the blocks, ln_f
    assert sum(p.numel() for p in model.parameters()) == N + P * C
    assert model_flops_per_token(model, 100) == 6 * N + 12 * L * 4 * 16 * 100
    # MFU: achieved over the peak; nanoGPT's 124M at 1,000 tokens/s on a 1 TFLOP/s device
    assert mfu(855_166_464, 1000.0, 1e12) == pytest.approx(0.855166464)
    assert mfu(1.0, 1.0, 0.0) == 0.0


def test_peak_table_by_device_name():
    assert table_peak("NVIDIA H200") == 989e12
    assert table_peak("NVIDIA H100 PCIe") == 756e12
    assert table_peak("NVIDIA H100 80GB HBM3") == 989e12
    assert table_peak("NVIDIA A100-SXM4-80GB") == 312e12
    assert table_peak("NVIDIA L40S") == 362e12 and table_peak("NVIDIA L4") == 121e12
    assert table_peak("NVIDIA A10") == 125e12
    assert table_peak("NVIDIA GeForce RTX 4090") == 165e12
    assert table_peak("Some Future GPU") is None


def test_cpu_peak_is_measured_once_and_cached(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(telemetry, "measure_matmul_peak",
                        lambda device, dtype: calls.append(dtype) or 1.5e11)
    assert telemetry.device_peak("cpu", "fp32") == (1.5e11, "measured")
    assert telemetry.device_peak("cpu", "fp32") == (1.5e11, "measured")
    assert calls == ["fp32"]  # the second came from the cache
    cached = json.loads((tmp_path / "wb-cache" / "peaks.json").read_text())
    assert list(cached.values()) == [1.5e11] and "|fp32|" in next(iter(cached))
    telemetry.device_peak("cpu", "bf16")
    assert calls == ["fp32", "bf16"]  # per dtype


def test_real_matmul_peak_is_plausible():
    peak = telemetry.measure_matmul_peak("cpu", "fp32", n=256, reps=2)
    assert 1e8 < peak < 1e14


def test_sample_fields_on_cpu(monkeypatch):
    monkeypatch.setattr(telemetry, "measure_matmul_peak", lambda device, dtype: 1e11)
    model = GPT(GPTConfig(n_layer=1, n_head=2, n_embd=32, n_positions=64, vocab_size=100))
    tel = Telemetry(model, "cpu", 64)
    assert tel.sample().keys() >= {"device_name", "memory_used_gib", "memory_total_gib"}
    tel.step(1000, 0.5)
    tel.step(1000, 0.5)
    out = tel.sample()
    assert out["tokens_per_s_avg"] == 2000.0
    assert out["mfu"] == pytest.approx(model_flops_per_token(model, 64) * 2000 / 1e11, abs=1e-4)
    assert out["peak_source"] == "measured fp32" and out["peak_tflops"] == 0.1
    assert 0 < out["memory_used_gib"] < out["memory_total_gib"]
    assert "tokens_per_s_avg" not in tel.sample()  # the counters restart


def test_telemetry_line():
    status = {"device_name": "NVIDIA H200", "memory_used_gib": 12.34, "memory_total_gib": 139.8,
              "utilization_pct": 97.2, "tokens_per_s_avg": 412_345.0, "mfu": 0.4123,
              "tokens_per_s": 400_000.0}
    assert telemetry_line(status) == ("NVIDIA H200 · mem 12.3/139.8 GiB · util 97% · "
                                      "412k tok/s · MFU 41%")
    assert telemetry_line({"device_name": "AMD EPYC", "memory_used_gib": 0.9,
                           "memory_total_gib": 23.4, "tokens_per_s": 8123.0, "mfu": 0.031}) == \
        "AMD EPYC · mem 0.9/23.4 GiB · 8.1k tok/s · MFU 3.1%"
    # a status from before telemetry (or before the first log line): None
    assert telemetry_line({"state": "running", "step": 3, "tokens_per_s": 812.0}) is None
    assert telemetry_line({}) is None


@pytest.mark.slow
def test_status_gets_telemetry_during_a_tiny_run(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"What is {a} plus {b}?", "input": "",
                                        "output": f"{a + b}."}) + "\n"
                            for a in range(6) for b in range(4)))
    session = tmp_path / "run"
    seen = []
    cfg = TrainConfig(model="scratch", tokenizer="bytes", n_layer=1, n_head=2, n_embd=32,
                      n_positions=64, data=str(data), template="inst-resp", max_len=64,
                      batch_size=4, lr=3e-3, max_steps=6, eval_every=0, save_every=0,
                      sample_prompts=[], val_ratio=0.0, seed=0, threads=1, compile="off")
    assert loop.run(cfg, session,
                    on_step=lambda m: seen.append(read_status(session))) == "finished"
    status = read_status(session)
    assert status["device_name"] == telemetry.cpu_name()
    assert status["memory_total_gib"] > status["memory_used_gib"] > 0
    assert status["tokens_per_s_avg"] > 0 and 0 < status["mfu"] < 1
    assert status["peak_source"] == "measured fp32"
    assert telemetry_line(status).startswith(telemetry.cpu_name() + " · mem ")
    assert all("mfu" in s for s in seen[1:])  # at every log line
    log = (session / "train.log").read_text()
    assert "MFLOP per token (nanoGPT's MFU)" in log
