"""The CUDA path, tested on the CPU as far as it runs there: packed rows through
flex_attention against the gather path, the compiled training step (checkpoint keys and
resume unchanged), the static-cache decode step of CUDA generation, and the out-of-memory
failure. What needs a GPU skips with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from workbench.model import GPT, GPTConfig, gpt2

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU (this torch sees none)")


def packed_batch(vocab: int = 300, seed: int = 0):
    """Three rows of T=150 (more than one 128-block): two examples + padding, one example
    filling the row, three examples of 5, 4 and 91 tokens + padding."""
    g = torch.Generator().manual_seed(seed)
    B, T = 3, 150
    seg = torch.zeros(B, T, dtype=torch.long)
    seg[0, :30], seg[0, 30:140] = 1, 2
    seg[1, :] = 1
    seg[2, :5], seg[2, 5:9], seg[2, 9:100] = 1, 2, 3
    pos = torch.zeros(B, T, dtype=torch.long)
    for b in range(B):
        for s in seg[b].unique().tolist():
            if s:
                idx = (seg[b] == s).nonzero().squeeze(1)
                pos[b, idx] = torch.arange(len(idx))
    ids = torch.randint(0, vocab, (B, T), generator=g)
    labels = torch.where(seg > 0, torch.randint(0, vocab, (B, T), generator=g), -100)
    return ids, labels, pos, seg


@pytest.fixture
def kernel(monkeypatch):
    """Set gpt2.PACKED_KERNEL for one test."""
    def set_kind(kind: str) -> None:
        monkeypatch.setitem(gpt2.PACKED_KERNEL, "kind", kind)
    return set_kind


def tiny_model(**kw) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**{**dict(n_layer=2, n_head=2, n_embd=32, n_positions=160,
                                   vocab_size=300), **kw}))


# -- packed rows on flex_attention -------------------------------------------------------

def test_flex_equals_gather_on_cpu_fp32(kernel):
    """flex_attention runs forward-only on the CPU in torch 2.13 (eager, unfused): the
    document-causal block mask gives the gather path's hidden states, padding included."""
    if not gpt2._has_flex():
        pytest.skip("this torch has no flex_attention")
    model = tiny_model().eval()
    ids, labels, pos, seg = packed_batch()
    out = {}
    with torch.no_grad():
        for kind in ("gather", "flex"):
            kernel(kind)
            layout = model._attention_mask(ids.size(1), seg, None, ids.device)[0]
            assert type(layout).__name__ == {"gather": "Packed", "flex": "DocMask"}[kind]
            out[kind] = (model.hidden(ids, pos, seg), model.target_loss(ids, labels, pos, seg)[0])
    (h_g, loss_g), (h_f, loss_f) = out["gather"], out["flex"]
    torch.testing.assert_close(h_f, h_g, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss_f, loss_g, atol=1e-4, rtol=1e-6)


def test_packed_kernel_choice(kernel):
    """auto: flex on CUDA only; the CPU keeps the gather path (and must while gradients are
    recorded: flex has no backward there); GPT-Neo and attention dropout keep the gather."""
    ids, _labels, _pos, seg = packed_batch()
    kernel("auto")
    assert gpt2.packed_kernel("cpu") == "gather"
    assert gpt2.packed_kernel("mps") == "gather"
    if gpt2._has_flex():
        assert gpt2.packed_kernel("cuda") == "flex"
    kernel("flex")
    assert gpt2.packed_kernel("cpu") == "gather"  # grad enabled here
    with torch.no_grad():
        expect = "flex" if gpt2._has_flex() else "gather"
        assert gpt2.packed_kernel("cpu") == expect
        neo = tiny_model(family="gpt_neo", attention_layers=("global", "local"), window_size=8)
        assert isinstance(neo._attention_mask(150, seg, None, "cpu")[0], gpt2.Packed)
        drop = tiny_model(dropout=0.1).train()
        assert isinstance(drop._attention_mask(150, seg, None, "cpu")[0], gpt2.Packed)
    kernel("gather")
    assert gpt2.packed_kernel("cuda") == "gather"


@needs_cuda
def test_flex_equals_gather_on_cuda_bf16_forward_and_backward(kernel):
    model = tiny_model().cuda()
    ids, labels, pos, seg = (t.cuda() for t in packed_batch())
    out = {}
    for kind in ("gather", "flex"):
        kernel(kind)
        model.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss, _n = model.target_loss(ids, labels, pos, seg)
        loss.backward()
        out[kind] = (loss.detach(), [p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(out["flex"][0], out["gather"][0], rtol=2e-2, atol=1.0)
    for a, b in zip(out["flex"][1], out["gather"][1]):
        torch.testing.assert_close(a, b, rtol=5e-2, atol=5e-2)


# -- the compiled training step --------------------------------------------------------

@pytest.fixture
def data(qa_data) -> Path:
    return qa_data


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))


def tiny(data: Path, **kw):
    from workbench.train.config import TrainConfig

    base = dict(model="scratch", tokenizer="bytes", n_layer=2, n_head=2, n_embd=32,
                n_positions=64, data=str(data), template="inst-resp", max_len=64,
                batch_size=4, lr=3e-3, max_steps=6, warmup_steps=2, eval_every=3,
                save_every=3, keep_last=2, sample_prompts=["What is 1 plus 1?"],
                sample_every=3, sample_max_new_tokens=4, seed=3, threads=1, val_ratio=0.1)
    base.update(kw)
    return TrainConfig(**base)


def test_compile_field_is_a_choice_in_the_run_group(data):
    from workbench.errors import WorkbenchError
    from workbench.train.config import CHOICES, SECTIONS, TrainConfig, field_help
    from workbench.train.loop import use_compile

    assert CHOICES["compile"] == ("auto", "on", "off") and "compile" in SECTIONS["run"]
    assert TrainConfig().compile == "auto" and "torch.compile" in field_help()["compile"]
    assert "compile" in tiny(data, compile="sometimes").problems()
    with pytest.raises(WorkbenchError, match="config field 'compile'"):
        tiny(data, compile="yes").validate()
    assert "compile = \"on\"" in tiny(data, compile="on").to_toml()
    assert use_compile(tiny(data), "cpu") is False and use_compile(tiny(data), "cuda") is True
    assert use_compile(tiny(data, compile="on"), "cpu") is True
    assert use_compile(tiny(data, compile="off"), "cuda:1") is False


@pytest.mark.slow
def test_compiled_run_saves_the_same_keys_and_resumes(data, tmp_path):
    """compile=on on the CPU (inductor's C++ backend): the blocks are compiled in place, so
    the checkpoint has exactly the keys of an eager run and a resumed compiled run goes on
    from it; the losses equal the eager run's to float rounding."""
    import time

    from safetensors.torch import load_file

    from workbench.sessions import read_index, read_status
    from workbench.train import loop

    t = time.time()
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    assert loop.run(tiny(data, compile="off"), eager) == "finished"
    stop = __import__("threading").Event()
    assert loop.run(tiny(data, compile="on"), compiled, stop=stop,
                    on_step=lambda m: stop.set() if m["step"] == 3 else None) == "stopped"
    assert loop.run(tiny(data, compile="on"), compiled, resume=True) == "finished"
    assert read_status(compiled)["state"] == "finished"
    a = load_file(str(eager / "checkpoints" / read_index(eager)["latest"] / "model.safetensors"))
    b = load_file(str(compiled / "checkpoints" / read_index(compiled)["latest"] / "model.safetensors"))
    assert sorted(a) == sorted(b) and not any("_orig_mod" in k for k in b)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-3
    loss = lambda s: [json.loads(x)["loss"] for x in (s / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert loss(compiled) == pytest.approx(loss(eager), rel=1e-4)
    log = (compiled / "train.log").read_text()
    assert "transformer blocks are compiled" in log and "compiling included" in log
    print(f"compiled run + resume on the CPU: {time.time() - t:.0f} s")


# -- out of memory ---------------------------------------------------------------------

def test_out_of_memory_fails_with_step_micro_batch_and_advice(data, tmp_path, monkeypatch):
    from workbench.sessions import read_status

    def oom(self, *a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(GPT, "target_loss", oom)
    session = tmp_path / "oom"
    from workbench.train import loop

    assert loop.run(tiny(data, compile="off"), session) == "failed"
    status = read_status(session)
    error = status["error"]
    assert status["state"] == "failed" and status["failed_step"] == 1
    assert error.startswith("out of memory at step 1 with micro-batch size 4 (4 rows × ")
    for advice in ("lower batch_size", "grad_accum", "max_len", "LoRA"):
        assert advice in error
    assert "Traceback" not in (session / "train.log").read_text()


def test_out_of_memory_exit_code_and_no_traceback_on_the_cli(data, tmp_path):
    """Through `workbench train` in a child process: a step that runs out of memory exits
    1 (the failure code) with one line, no traceback."""
    import subprocess
    import sys

    cfg = tiny(data, compile="off", max_steps=3)
    toml = tmp_path / "c.toml"
    toml.write_text(cfg.to_toml())
    code = ("import sys, torch\n"
            "from workbench.model import GPT\n"
            "def oom(self, *a, **k):\n"
            "    raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')\n"
            "GPT.target_loss = oom\n"
            "from workbench.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n")
    out = subprocess.run([sys.executable, "-c", code, "train", str(toml), "--sessions",
                          str(tmp_path / "sessions"), "--session", "oom"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr
    assert "out of memory at step 1 with micro-batch size 4" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


# -- generation: the static cache of the CUDA-graph decode step --------------------------

class _Bytes:
    """A tokenizer stand-in: ids are bytes."""
    n_vocab = 300
    eos_id = 299

    def token_bytes(self, i: int) -> bytes:
        return bytes([i % 256])


@pytest.mark.parametrize("family", ["gpt2", "gpt_neo"])
def test_static_cache_step_gives_the_same_tokens(monkeypatch, family):
    """The decode step over the static cache (every slot attended, unfilled ones and the
    left padding masked; GPT-Neo's window counted in slots) picks the tokens the growing
    cache picks, for a batch of prompts of different lengths. On the CPU it runs eagerly:
    everything of the CUDA path but the graph capture."""
    from workbench import generate as gen

    kw = dict(family="gpt_neo", attention_layers=("global", "local"), window_size=6) \
        if family == "gpt_neo" else {}
    model = tiny_model(**kw).eval()
    prompts = [[5, 6, 7, 8, 9, 10, 11], [20, 21], [30, 31, 32, 33]]
    cfg = gen.GenerationConfig(max_new_tokens=20)
    plain = gen.generate(model, _Bytes(), prompts, cfg, stop_ids=())
    made = []
    real_step = gen.GraphStep
    monkeypatch.setattr(gen, "graph_pays", lambda device, batch, steps: True)
    monkeypatch.setattr(gen, "GraphStep", lambda *a: made.append(real_step(*a)) or made[-1])
    static = gen.generate(model, _Bytes(), prompts, cfg, stop_ids=())
    assert len(made) == 1 and made[0].next_slot == 7 + 19  # 19 decode steps after the prompt
    assert [r.token_ids for r in static] == [r.token_ids for r in plain]
    for i in range(len(prompts)):  # one alone too (no padding: keep is all ones)
        alone = gen.generate(model, _Bytes(), [prompts[i]], cfg, stop_ids=())
        assert alone[0].token_ids == plain[i].token_ids


def test_graph_pays_only_on_cuda_for_small_batches():
    from workbench.generate import graph_pays

    assert graph_pays("cuda", 1, 128) and graph_pays("cuda:0", 8, 16)
    assert not graph_pays("cpu", 1, 128) and not graph_pays("mps", 1, 128)
    assert not graph_pays("cuda", 9, 128) and not graph_pays("cuda", 1, 8)


@needs_cuda
def test_cuda_graph_generation_equals_the_plain_cache(monkeypatch):
    from workbench import generate as gen

    model = tiny_model().cuda().eval()
    prompts = [[5, 6, 7, 8, 9, 10, 11], [20, 21]]
    cfg = gen.GenerationConfig(max_new_tokens=40)
    graphed = gen.generate(model, _Bytes(), prompts, cfg, stop_ids=())
    monkeypatch.setattr(gen, "graph_pays", lambda device, batch, steps: False)
    plain = gen.generate(model, _Bytes(), prompts, cfg, stop_ids=())
    assert [r.token_ids for r in graphed] == [r.token_ids for r in plain]


# -- bench/gpu.sh ------------------------------------------------------------------------
# The dry run (`bash bench/gpu.sh --dry-run`) takes about 1.5 minutes on two cores, more
# than a test may: its argument handling, rates and table are tested here instead.

def _bench():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "bench" / "gpu_bench.py"
    spec = importlib.util.spec_from_file_location("gpu_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gpu_bench_arguments(capsys):
    bench = _bench()
    real = bench.parse([])
    assert (real.steps, real.warmup, real.batch_size, real.new_tokens) == (60, 10, 8, 128)
    assert bench.shape(False) == dict(n_layer=12, n_head=12, n_embd=768, max_len=1024,
                                      device="cuda", dtype="bf16")
    dry = bench.parse(["--dry-run"])
    assert dry.dry_run and (dry.steps, dry.warmup) == (6, 2) and bench.shape(True)["device"] == "cpu"
    assert bench.parse(["--steps", "20", "--warmup", "0"]).steps == 20
    for bad in (["--steps", "1"], ["--steps", "5", "--warmup", "5"], ["--warmup", "-1"],
                ["--steps", "x"]):
        with pytest.raises(SystemExit) as err:
            bench.parse(bad)
        assert err.value.code == 2
    assert "--warmup 5 leaves no step of 5" in capsys.readouterr().err
    if not CUDA:
        assert bench.main([]) == 2  # no GPU: says so, runs nothing
        assert "--dry-run" in capsys.readouterr().err


def test_gpu_bench_rates_and_table():
    bench = _bench()
    metrics = [{"step": i, "tokens": 1000, "target_tokens": 400, "elapsed_s": 10.0 + i}
               for i in range(1, 7)]
    metrics[0]["elapsed_s"] = 30.0  # the compiling step
    metrics = [{**m, "elapsed_s": m["elapsed_s"] + 20 if m["step"] > 1 else m["elapsed_s"]}
               for m in metrics]
    r = bench.rates(metrics, warmup=2)
    assert r == {"steps_measured": 4, "real_tokens_per_s": 1000.0,
                 "supervised_tokens_per_s": 400.0}
    report = {"date": "2026-12-05", "device": "NVIDIA H200", "torch": "2.13.0", "dry_run": False,
              "command": "bash bench/gpu.sh", "model": "12 layers", "data": "rasbt",
              "training": [{"contender": "workbench packed compile=on", **r,
                            "peak_memory_mb": 12345.6, "mfu": 0.412,
                            "first_step": "step 1: 40.0 s, compiling included"},
                           {"contender": "TRL SFTTrainer", "error": "skipped: no trl"}],
              "generation": {"prompt_tokens": 64, "new_tokens": 128, "generation": [
                  {"contender": "workbench cache", "batch": 1, "tokens_per_s": 812.3}]}}
    text = bench.table(report)
    assert "GPU benchmark 2026-12-05 · NVIDIA H200" in text and "command: bash bench/gpu.sh" in text
    assert "workbench packed compile=on" in text and "12,346" in text and "41.2%" in text
    assert "TRL SFTTrainer                               skipped: no trl" in text
    assert "workbench cache" in text and "812" in text
