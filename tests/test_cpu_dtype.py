"""Precision and kernels on the CPU, chosen by measuring the machine.

`dtype = auto` takes bf16 autocast on a CPU whose bf16 matmul is at least 1.5x as fast as
fp32's, measured once and cached per CPU model (+ torch version + threads) in the cache
folder; `fp32` forces fp32; `bf16` runs bf16 autocast on any CPU. Master weights and AdamW
stay fp32. The fp32 inference kernel (oneDNN's inner product or F.linear) is chosen the
same way. The probes are replaced by stand-ins here wherever the answer must not depend on
the machine running the tests."""

from __future__ import annotations

import json

import pytest
import torch

from workbench import device
from workbench.errors import WorkbenchError
from workbench.model import gpt2
from workbench.train import loop
from workbench.train.config import TrainConfig

pytestmark = pytest.mark.slow

# bf16 keeps 8 bits of mantissa: over 100 steps of a tiny model the per-step losses of the
# two precisions stay within this (measured: 0.002 at most on an AMD EPYC with AVX512-BF16)
LOSS_TOLERANCE = 0.03


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))
    monkeypatch.setattr(device, "_MEMO", {})  # this process's answers: none yet


class _Probe:
    """A stand-in for a measurement: counts calls, returns `result` or raises it."""

    def __init__(self, result) -> None:
        self.result, self.calls = result, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return dict(self.result)


def _bf16_probe(monkeypatch, speedup=3.0) -> _Probe:
    probe = _Probe({"n": 1024, "fp32_gflops": 100.0, "bf16_gflops": 100.0 * speedup,
                    "speedup": speedup})
    monkeypatch.setattr(device, "probe_cpu_bf16", probe)
    return probe


@pytest.fixture
def data(tmp_path):
    f = tmp_path / "qa.jsonl"
    rows = [{"instruction": f"What is {a} plus {b}?", "input": "", "output": f"{a + b}."}
            for a in range(8) for b in range(6)]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return f


def tiny(data, **kw) -> TrainConfig:
    base = dict(model="scratch", tokenizer="bytes", n_layer=2, n_head=2, n_embd=32,
                n_positions=64, data=str(data), template="inst-resp", max_len=64, batch_size=4,
                lr=3e-3, max_steps=100, warmup_steps=3, eval_every=0, save_every=0,
                sample_prompts=[], seed=3, threads=1, val_ratio=0.1, batcher="random",
                device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def _losses(session):
    return [json.loads(x)["loss"] for x in (session / "metrics.jsonl").read_text().splitlines()]


# -- the auto choice ---------------------------------------------------------------------


def test_auto_measures_once_then_reads_the_cache(monkeypatch):
    probe = _bf16_probe(monkeypatch, speedup=3.0)
    dtype, why = device.precision("cpu", "auto")
    assert dtype == "bf16" and "3.0x" in why and "measured now" in why
    assert device.autocast_dtype("cpu", "auto") is torch.bfloat16
    assert probe.calls == 1
    table = json.loads(device.cache_file().read_text())
    assert table[device.cpu_key()]["bf16_matmul"]["speedup"] == 3.0
    monkeypatch.setattr(device, "_MEMO", {})  # a new process: only the file remembers
    dtype, why = device.precision("cpu", "auto")
    assert dtype == "bf16" and "cached" in why and probe.calls == 1


def test_auto_stays_fp32_where_bf16_does_not_pay(monkeypatch):
    probe = _bf16_probe(monkeypatch, speedup=1.2)
    dtype, why = device.precision("cpu", "auto")
    assert dtype == "fp32" and "1.2x" in why and "1.5x" in why
    assert device.autocast_dtype("cpu", "auto") is None and probe.calls == 1


@pytest.mark.parametrize("failure", [RuntimeError("bf16 matmul unsupported"), OSError("no")])
def test_a_failing_probe_falls_back_to_fp32_and_is_remembered(monkeypatch, failure):
    probe = _Probe(failure)
    monkeypatch.setattr(device, "probe_cpu_bf16", probe)
    dtype, why = device.precision("cpu", "auto")
    assert dtype == "fp32" and "unavailable" in why
    monkeypatch.setattr(device, "_MEMO", {})
    assert device.precision("cpu", "auto")[0] == "fp32" and probe.calls == 1


def test_an_unwritable_cache_still_answers(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WORKBENCH_CACHE", str(blocker / "cache"))
    probe = _bf16_probe(monkeypatch, speedup=2.0)
    assert device.precision("cpu", "auto")[0] == "bf16" and probe.calls == 1


def test_a_corrupt_cache_file_is_measured_again(monkeypatch):
    device.cache_file().parent.mkdir(parents=True)
    device.cache_file().write_text("{not json")
    probe = _bf16_probe(monkeypatch, speedup=2.0)
    assert device.precision("cpu", "auto")[0] == "bf16" and probe.calls == 1
    assert json.loads(device.cache_file().read_text())  # rewritten whole


def test_fp32_forces_fp32_and_measures_nothing(monkeypatch):
    probe = _bf16_probe(monkeypatch, speedup=5.0)
    assert device.precision("cpu", "fp32") == ("fp32", "fp32: asked for (dtype = fp32)")
    assert device.autocast_dtype("cpu", "fp32") is None
    with device.autocast("cpu", "fp32"):
        assert not torch.is_autocast_enabled("cpu")
    assert device.precision("cpu", "bf16")[0] == "bf16"  # asked for: no measurement either
    with device.autocast("cpu", "bf16"):
        assert torch.is_autocast_enabled("cpu")
    assert probe.calls == 0


def test_without_a_config_choice_the_cpu_stays_fp32(monkeypatch):
    """Code with no config (generation) keeps fp32 on the CPU: autocast makes decoding
    slower there (the weights are cast at every step)."""
    probe = _bf16_probe(monkeypatch, speedup=5.0)
    assert device.autocast_dtype("cpu") is None and probe.calls == 0


def test_bad_choices_get_one_line(monkeypatch):
    with pytest.raises(WorkbenchError, match="unknown dtype 'fp16'"):
        device.precision("cpu", "fp16")
    with pytest.raises(WorkbenchError, match="bf16 is not offered on mps"):
        device.precision("mps", "bf16")
    assert device.precision("mps", "auto")[0] == "fp32"


def test_describe_devices_shows_the_cpus_auto_dtype(monkeypatch):
    _bf16_probe(monkeypatch, speedup=2.5)
    cpu = device.describe_devices()[-1]
    assert cpu["device"] == "cpu" and cpu["dtype"] == "bf16" and "bf16 (2.5x fp32)" in cpu["label"]
    monkeypatch.setattr(device, "_MEMO", {})
    monkeypatch.setenv("WORKBENCH_CACHE", str(device.cache_file().parent / "other"))
    _bf16_probe(monkeypatch, speedup=1.0)
    cpu = device.describe_devices()[-1]
    assert cpu["dtype"] == "fp32" and cpu["label"].endswith("fp32")


def test_the_real_probe_reports_both_speeds():
    m = device.probe_cpu_bf16(n=256, reps=1)
    assert m["n"] == 256 and m["fp32_gflops"] > 0 and m["bf16_gflops"] > 0 and m["speedup"] > 0


# -- training in each precision ----------------------------------------------------------


def test_bf16_and_fp32_loss_curves_agree_over_100_steps(data, tmp_path):
    assert loop.run(tiny(data, dtype="fp32"), tmp_path / "fp32") == "finished"
    assert loop.run(tiny(data, dtype="bf16"), tmp_path / "bf16") == "finished"
    a, b = _losses(tmp_path / "fp32"), _losses(tmp_path / "bf16")
    assert len(a) == len(b) == 100
    assert a != b  # bf16 really ran: its rounding shows
    worst = max(abs(x - y) for x, y in zip(a, b))
    assert worst < LOSS_TOLERANCE, f"losses differ by up to {worst:.4f}"
    assert a[-1] < a[0] - 2 and b[-1] < b[0] - 2  # both learn
    assert "dtype fp32: asked for" in (tmp_path / "fp32" / "train.log").read_text()
    assert "dtype bf16 autocast on the CPU: asked for" in (tmp_path / "bf16" / "train.log").read_text()
    from safetensors.torch import load_file

    from workbench.sessions import resolve_checkpoint

    saved = load_file(str(resolve_checkpoint(tmp_path / "bf16", "latest") / "model.safetensors"))
    assert {t.dtype for t in saved.values()} == {torch.float32}  # master weights stay fp32
    state = torch.load(resolve_checkpoint(tmp_path / "bf16", "latest") / "trainer_state.pt",
                       weights_only=True)
    moments = [v for s in state["optimizer"]["state"].values() for k, v in s.items()
               if k in ("exp_avg", "exp_avg_sq")]
    assert moments and {m.dtype for m in moments} == {torch.float32}  # and AdamW's state


def test_auto_training_logs_the_measured_choice(data, tmp_path, monkeypatch):
    _bf16_probe(monkeypatch, speedup=2.7)
    assert loop.run(tiny(data, max_steps=3, dtype="auto"), tmp_path / "auto") == "finished"
    log = (tmp_path / "auto" / "train.log").read_text()
    assert "dtype bf16 autocast: auto (a 1024x1024 bf16 matmul ran 2.7x fp32's speed" in log
    monkeypatch.setattr(device, "_MEMO", {})
    _bf16_probe(monkeypatch, speedup=1.1)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "slow-cpu"))
    assert loop.run(tiny(data, max_steps=3, dtype="auto"), tmp_path / "auto2") == "finished"
    assert "dtype fp32: auto (a bf16 matmul ran only 1.1x" in (tmp_path / "auto2" / "train.log").read_text()


# -- the inference kernel ----------------------------------------------------------------


def test_the_linear_kernel_is_measured_once_then_cached(monkeypatch):
    monkeypatch.delenv("WORKBENCH_CPU_LINEAR", raising=False)
    probe = _Probe({"kernel": "f_linear", "batch_1_gb_s": {"f_linear": 30.0, "onednn": 27.0}})
    monkeypatch.setattr(gpt2, "_measure_linear_kernels", probe)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", object(), raising=False)
    assert gpt2._linear_kernel() == "f_linear" and probe.calls == 1
    monkeypatch.setattr(device, "_MEMO", {})
    assert gpt2._linear_kernel() == "f_linear" and probe.calls == 1  # read from the file
    entry = json.loads(device.cache_file().read_text())[device.cpu_key()]["inference_linear"]
    assert entry["kernel"] == "f_linear"


@pytest.mark.parametrize("forced", ["onednn", "f_linear"])
def test_a_forced_kernel_is_honoured_without_measuring(monkeypatch, forced):
    probe = _Probe({"kernel": "onednn" if forced == "f_linear" else "f_linear"})
    monkeypatch.setattr(gpt2, "_measure_linear_kernels", probe)
    monkeypatch.setenv("WORKBENCH_CPU_LINEAR", forced)
    want = forced if (torch.backends.mkldnn.is_available()
                      and hasattr(torch.ops.mkldnn, "_linear_pointwise")) else "f_linear"
    assert gpt2._linear_kernel() == want and probe.calls == 0


def test_forcing_f_linear_keeps_generation_off_onednn(monkeypatch):
    from workbench.generate import GenerationConfig, generate
    from workbench.model.toy import random_gpt
    from workbench.tokenizer import ByteTokenizer

    calls = []
    real = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise",
                        lambda *a: calls.append(1) or real(*a), raising=False)
    model, tok = random_gpt(scale=0.3, seed=5, vocab_size=257), ByteTokenizer()
    monkeypatch.setitem(gpt2._ONEDNN, "ok", False)
    plain = [r.token_ids for r in generate(model, tok, [list(b"a prompt")],
                                           GenerationConfig(max_new_tokens=6), stop_ids=())]
    assert calls == [] and len(plain[0]) == 6


def test_the_real_kernel_measurement_names_a_kernel():
    if not (torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
        pytest.skip("this torch build has no oneDNN linear: F.linear is the only kernel")
    m = gpt2._measure_linear_kernels(reps=1)
    assert m["kernel"] in gpt2.LINEAR_KERNELS
    assert set(m["batch_1_gb_s"]) == set(m["batch_8_gb_s"]) == {"f_linear", "onednn"}


def test_importing_the_model_measures_nothing():
    """The inference kernel is measured on the first CPU inference, not on import (a training
    process never needs it)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import workbench.model.gpt2 as g; "
                          "print(g._ONEDNN['ok'])"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"
