"""SFT throughput on the CPU, the peers' protocol: the workbench against a plain chapter-7
loop on the Hugging Face model, in fp32 and in bf16 autocast, side by side, interleaved.

    .venv/bin/python bench/bench_train.py [--steps 20] [--rounds 2] [--shape 4L/256]

Contenders (each run in its own process, so its peak memory is its own):
* `plain`: ../shared/peers/plain_loop.py itself (Raschka's chapter-7 collate and loss on
  transformers' GPT2LMHeadModel: full logits, F.cross_entropy, fused AdamW, weight decay
  0.1 on matrices, grad-norm clip 1.0, constant LR 5e-5). In bf16 the same script runs with
  the model's forward and the loss under bf16 autocast, as a person adding autocast to that
  loop would (backward, clipping and AdamW outside it). Skipped
  with a message when ../shared/peers is absent (it is never a project dependency).
* `trl`: ../shared/peers/trl_sft.py itself (TRL's SFTTrainer, `--trl-mode`, default
  padding_free: its best mode on this CPU; measured 2026-12-05, 4L/256, 5 steps, fp32:
  padding_free 451 real tok/s, dynamic 312, packing 189 with an 8.5 GB peak), run by
  $TRL_PYTHON (default .venv-peers/bin/python, the peers' own environment; the parent
  resolves it once and its children inherit it). In bf16 the same script runs with `SFTConfig(bf16=True)`,
  TRL's own switch (its default; autocast on the CPU too). Its MFU is not given: TRL's
  flattened rows and chunked LM head do work this script cannot count from its report.
* `packed`, `grouped`: `workbench.train.loop.run`, what `workbench train` runs, with the same
  hyperparameters (lr 5e-5 constant, no warmup, weight decay 0.1, clip 1.0, batch 8) and
  `dtype = fp32` or `bf16`.
Same data (../shared/data/rasbt-instruction-data), GPT-2 tokenizer, random init, max_len
512, alpaca prompt, loss on responses, 2 threads. The rounds take turns (round 1 of every
contender, then round 2), since the machine is shared; every figure is given as its range
over the rounds. Each round first measures the 2048x2048 matmul peak in fp32 and in bf16
here, in this run; MFU divides a contender's achieved FLOP/s by the best peak of the dtype
it ran in. FLOPs are those computed: 6 x (24 d^2 L + 4 T d L) per position (the blocks and
full T x T attention, forward + backward), plus 6 d V per position through the LM head (the
target positions for the workbench, every position for the plain loop). The first
`--warm` steps of each run are not timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
PEERS = SHARED / "peers"
SHAPES = {"4L/256": dict(n_layer=4, n_head=4, n_embd=256),
          "12L/768": dict(n_layer=12, n_head=12, n_embd=768)}
VOCAB = 50257

# the plain loop under bf16 autocast, as a person adds it to that loop: the model's forward
# and the loss run under autocast; backward, clipping and AdamW outside it
_AUTOCAST_WRAPPER = """
import functools, runpy, sys
import torch, torch.nn.functional as F
from transformers import GPT2LMHeadModel

def autocast(fn):
    @functools.wraps(fn)
    def run(*a, **k):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fn(*a, **k)
    return run

GPT2LMHeadModel.forward = autocast(GPT2LMHeadModel.forward)
F.cross_entropy = autocast(F.cross_entropy)
path = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(path, run_name="__main__")
"""

# TRL's own bf16 switch: SFTConfig(bf16=True) whatever the peers' script passes (it pins False
# for its fp32 comparison)
_TRL_BF16_WRAPPER = """
import runpy, sys
import trl

class SFTConfig(trl.SFTConfig):
    def __init__(self, *a, **k):
        k["bf16"] = True
        super().__init__(*a, **k)

trl.SFTConfig = SFTConfig
path = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(path, run_name="__main__")
"""


def flops(shapes: list[tuple[int, int, int]], n_layer: int, d: int, targets_only: bool) -> float:
    """Training FLOPs computed for micro-batches of (B rows, T positions, n targets)."""
    total = 0.0
    for B, T, n in shapes:
        fwd = n_layer * B * T * (24 * d * d + 4 * T * d)
        fwd += 2 * d * VOCAB * (n if targets_only else B * T)
        total += 3 * fwd
    return total


def matmul_peaks(threads: int, n: int = 2048, reps: int = 5) -> dict[str, float]:
    """GFLOP/s of an n x n torch.mm in fp32 and bf16, best of `reps` interleaved rounds."""
    import torch

    from workbench.device import time_interleaved

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    a16, b16 = a.bfloat16(), b.bfloat16()
    with torch.inference_mode():
        t = time_interleaved({"fp32": lambda: torch.mm(a, b), "bf16": lambda: torch.mm(a16, b16)},
                             reps)
    return {k: 2 * n ** 3 / v / 1e9 for k, v in t.items()}


# -- the contenders (each in a child process) --------------------------------------------------


def run_workbench(batcher: str, dtype: str, args) -> dict:
    import torch

    import workbench.collate as collate
    from workbench.train import loop
    from workbench.train.config import TrainConfig

    torch.set_num_threads(args.threads)
    shape = SHAPES[args.shape]
    shapes: list[tuple[int, int, int]] = []
    real_collate = collate.collate_plan

    def recording(*a, **k):  # the shape of every micro-batch trained on
        b = real_collate(*a, **k)
        shapes.append((b.shape[0], b.shape[1], b.n_targets))
        return b

    collate.collate_plan = recording
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_CACHE"] = os.path.join(tmp, "cache")  # no dataset cache reuse
        cfg = TrainConfig(model="scratch", tokenizer=args.tokenizer, data=args.data,
                          template="alpaca", loss_on="response", batcher=batcher,
                          max_steps=args.steps, lr=5e-5, warmup_steps=0, schedule="constant",
                          weight_decay=0.1, grad_clip=1.0, eval_every=0, save_every=0,
                          sample_prompts=[], val_ratio=0.0, threads=args.threads, seed=0,
                          dtype=dtype, device="cpu", n_positions=512, max_len=512,
                          batch_size=8, **shape)
        session = Path(tmp) / "s"
        loop.run(cfg, session)
        metrics = [json.loads(x) for x in (session / "metrics.jsonl").read_text().splitlines()]
        log = (session / "train.log").read_text()
    m = metrics[args.warm:]
    seconds = sum(x["tokens"] / x["tokens_per_s"] for x in m)
    real = sum(x["tokens"] for x in m)
    timed = shapes[args.warm:args.steps]
    return {"real_tok_s": real / seconds, "padding_efficiency": real / sum(B * T for B, T, _ in timed),
            "flops_per_s": flops(timed, shape["n_layer"], shape["n_embd"], True) / seconds,
            "steps": len(m), "losses": [x["loss"] for x in metrics],
            "dtype_line": next((x.split(" ", 2)[2] for x in log.splitlines() if " dtype " in x), "")}


def trl_python() -> str | None:
    """The Python that has TRL: $TRL_PYTHON, else the peers' venv (.venv-peers), else None."""
    python = os.environ.get("TRL_PYTHON") or str(ROOT / ".venv-peers" / "bin" / "python")
    if not Path(python).exists():
        return None
    ok = subprocess.run([python, "-c", "import trl"], capture_output=True)
    return python if ok.returncode == 0 else None


def run_peer(mode: str, dtype: str, args) -> dict:
    """plain_loop.py (mode `plain`) or trl_sft.py (mode `trl`) of ../shared/peers."""
    shape = SHAPES[args.shape]
    script = PEERS / ("plain_loop.py" if mode == "plain" else "trl_sft.py")
    cmd = [str(script), "--data", args.data, "--layers", str(shape["n_layer"]),
           "--d-model", str(shape["n_embd"]), "--heads", str(shape["n_head"]), "--max-len", "512",
           "--batch-size", "8", "--threads", str(args.threads), "--seed", "0",
           "--steps", str(args.steps)]
    if mode == "trl":
        python = os.environ.get("TRL_PYTHON") or trl_python()  # the parent resolved it
        cmd = [python] + (["-c", _TRL_BF16_WRAPPER] if dtype == "bf16" else []) + cmd
        cmd += ["--mode", args.trl_mode]
    else:
        cmd = [sys.executable] + (["-c", _AUTOCAST_WRAPPER] if dtype == "bf16" else []) + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, env=_child_env())
    if out.returncode:
        raise RuntimeError(f"{script.name} failed: {out.stderr.strip().splitlines()[-1:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    per = r["per_step"]
    w = args.warm
    seconds = sum(per["t_step"][w:])  # compute time of each step, as the workbench's
    real = sum(per["real"][w:])
    timed = [(8, p // 8, p // 8 * 8) for p in per["padded"][w:]]  # every position has logits
    flops_per_s = (flops(timed, shape["n_layer"], shape["n_embd"], False) / seconds
                   if mode == "plain" else None)
    return {"real_tok_s": real / seconds, "padding_efficiency": real / sum(per["padded"][w:]),
            "flops_per_s": flops_per_s, "steps": len(per["real"]) - w, "losses": per["loss"],
            "peak_rss_mb": r["peak_rss_mb"], "optimizer": r.get("optimizer"),
            "bf16": r.get("trl_config", {}).get("bf16")}


def _child_env() -> dict:
    env = dict(os.environ)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(k, None)
    return env


def child(args) -> None:
    mode, dtype = args.child.split(":")
    if mode in ("plain", "trl"):
        out = run_peer(mode, dtype, args)
    else:
        import resource

        out = run_workbench(mode, dtype, args)
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


# -- the parent: rounds, then the table -------------------------------------------------------


def _range(xs: list[float], fmt: str) -> str:
    if not xs:
        return "-"
    lo, hi = min(xs), max(xs)
    return format(lo, fmt) if len(xs) == 1 else f"{format(lo, fmt)}–{format(hi, fmt)}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warm", type=int, default=2, help="first steps of each run not timed")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="4L/256")
    ap.add_argument("--modes", default="plain,trl,grouped,packed")
    ap.add_argument("--trl-mode", default="padding_free",
                    choices=["dynamic", "packing", "padding_free"],
                    help="TRL's mode (padding_free: its fastest on this CPU)")
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data", default=str(SHARED / "data/rasbt-instruction-data/instruction-data.json"))
    ap.add_argument("--tokenizer", default=str(SHARED / "gpt2-bpe"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return 0

    import torch

    from workbench.device import cpu_model

    modes = [m for m in args.modes.split(",") if m]
    if "plain" in modes and not (PEERS / "plain_loop.py").is_file():
        print(f"note: {PEERS / 'plain_loop.py'} is absent: the plain chapter-7 loop is skipped")
        modes.remove("plain")
    if "trl" in modes:
        python = trl_python() if (PEERS / "trl_sft.py").is_file() else None
        if python:
            os.environ["TRL_PYTHON"] = python  # checked once here; the children inherit it
        else:
            print("note: TRL is skipped: it needs ../shared/peers/trl_sft.py and a Python with "
                  "trl ($TRL_PYTHON, or .venv-peers as ../shared/peers/README.md sets it up)")
            modes.remove("trl")
    if not Path(args.data).is_file():
        print(f"{args.data} is absent: nothing to train on")
        return 1
    contenders = [(m, d) for m in modes for d in args.dtypes.split(",") if d]
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    has = [f for f in ("avx512_bf16", "amx_bf16", "avx512f", "avx2") if f" {f}" in flags]
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')} · CPU: {cpu_model()} ({os.cpu_count()} CPUs; "
          f"{' '.join(has) or 'no AVX-512'}) · torch {torch.__version__} · python "
          f"{platform.python_version()}")
    print(f"command: {' '.join(shlex.quote(a) for a in sys.argv)}")
    print(f"config: GPT-2 {args.shape}, vocab {VOCAB}, max_len 512, batch 8, {args.threads} threads, "
          f"lr 5e-5 constant, wd 0.1, clip 1.0, loss on responses; {args.steps} steps, the "
          f"first {args.warm} not timed; {args.rounds} interleaved rounds")
    print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)

    results: dict[tuple[str, str], list[dict]] = {c: [] for c in contenders}
    peaks: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for rnd in range(1, args.rounds + 1):
        p = matmul_peaks(args.threads)
        for k, v in p.items():
            peaks[k].append(v)
        print(f"round {rnd}: matmul peak fp32 {p['fp32']:.0f} GFLOP/s, bf16 {p['bf16']:.0f} GFLOP/s",
              flush=True)
        for mode, dtype in contenders:
            cmd = [sys.executable, __file__, "--child", f"{mode}:{dtype}", "--steps", str(args.steps),
                   "--warm", str(args.warm), "--shape", args.shape, "--threads", str(args.threads),
                   "--data", args.data, "--tokenizer", args.tokenizer, "--trl-mode", args.trl_mode]
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, env=_child_env())
            line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
            if line is None:
                print(f"  {mode} {dtype}: failed\n{(out.stderr or out.stdout)[-1500:]}")
                continue
            r = json.loads(line[7:])
            results[(mode, dtype)].append(r)
            gfs = "-" if r["flops_per_s"] is None else f"{r['flops_per_s'] / 1e9:.1f}"
            print(f"  {mode:<8}{dtype:<5} {r['real_tok_s']:>8,.0f} real tok/s  "
                  f"{gfs:>6} GFLOP/s  loss {r['losses'][0]:.3f} -> "
                  f"{r['losses'][-1]:.3f}  ({time.perf_counter() - t0:.0f} s)"
                  + (f"  [{r['dtype_line']}]" if r.get("dtype_line") and rnd == 1 else "")
                  + (f"  [SFTConfig.bf16 = {r['bf16']}]" if r.get("bf16") is not None and rnd == 1
                     else ""),
                  flush=True)

    best = {k: max(v) for k, v in peaks.items() if v}
    print(f"\nmatmul peak (2048², {args.threads} threads) over the rounds: fp32 "
          f"{_range(peaks['fp32'], '.0f')} GFLOP/s, bf16 {_range(peaks['bf16'], '.0f')} GFLOP/s; "
          f"MFU below is against the best of its dtype ({best.get('fp32', 0):.0f} / "
          f"{best.get('bf16', 0):.0f})")
    print(f"\n{'contender':<20}{'real tok/s':>16}{'pad eff':>9}{'GFLOP/s':>14}{'MFU':>12}"
          f"{'peak MB':>9}")
    for (mode, dtype), rs in results.items():
        if not rs:
            continue
        label = {"plain": "plain ch7 (HF)", "trl": f"TRL {args.trl_mode}"}.get(
            mode, "workbench " + mode)
        name = f"{label} {dtype}"
        tps = [r["real_tok_s"] for r in rs]
        gf = [r["flops_per_s"] / 1e9 for r in rs if r["flops_per_s"] is not None]
        mfu = [g / best[dtype] * 100 for g in gf]
        print(f"{name:<20}{_range(tps, ',.0f'):>16}{rs[0]['padding_efficiency']:>9.3f}"
              f"{_range(gf, '.1f'):>14}{(_range(mfu, '.0f') + '%') if mfu else '-':>12}"
              f"{max(r['peak_rss_mb'] for r in rs):>9,.0f}")

    def ratio(a, b) -> str:
        ra, rb = results.get(a, []), results.get(b, [])
        xs = [x["real_tok_s"] / y["real_tok_s"] for x, y in zip(ra, rb)]
        return f"{_range(xs, '.2f')}x (median {statistics.median(xs):.2f})" if xs else "-"

    print("\nratios of real tokens/s, round by round:")
    peers = {"plain": "plain loop", "trl": f"TRL {args.trl_mode}"}
    for mode in [m for m in modes if m not in peers]:
        print(f"  workbench {mode} bf16 / fp32: {ratio((mode, 'bf16'), (mode, 'fp32'))}")
        for peer in [p for p in peers if p in modes]:
            for dtype in ("fp32", "bf16"):
                print(f"  workbench {mode} / {peers[peer]}, both {dtype}: "
                      f"{ratio((mode, dtype), (peer, dtype))}")
    for peer in [p for p in peers if p in modes]:
        print(f"  {peers[peer]} bf16 / fp32: {ratio((peer, 'bf16'), (peer, 'fp32'))}")
    print(f"load average after: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs; other processes "
          f"slow every contender, unevenly)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
