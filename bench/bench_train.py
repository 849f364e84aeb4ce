"""SFT throughput on CPU: real (non-pad) tokens/s, padding efficiency, peak memory, and
achieved FLOP/s as a share of plain torch.matmul, for the random, grouped and packed
batchers, plus a plain chapter-7-style loop (Raschka's collate: pad to the longest row,
full logits, mean cross-entropy) on the same machine for comparison.

    python bench/bench_train.py [--steps 40] [--data ../shared/data/rasbt-instruction-data/instruction-data.json]

Config (issue #5): GPT-2 architecture, 4 layers, d_model 256, 4 heads, max_len 512, batch 8,
2 threads, fp32, GPT-2 tokenizer, alpaca template, loss on responses. Each mode runs in its
own process (so peak memory is its own); the trainer modes run `workbench.train.loop.run`
itself, the code `workbench train` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
CFG = dict(n_layer=4, n_head=4, n_embd=256, n_positions=512, max_len=512, batch_size=8)


def flops_per_step(batch_shapes: list[tuple[int, int, int]], n_layer: int, d: int, vocab: int,
                   loss_targets_only: bool) -> float:
    """Training FLOPs (forward + backward = 3 x forward) actually computed.

    Per micro-batch of B rows x T positions with n targets: the blocks' matmuls
    (24 d^2 per position per layer: qkv 6d^2, proj 2d^2, MLP 16d^2), attention scores and
    values (4 T d per position per layer, the full T x T as SDPA computes it), and the LM head
    (2 d V per position that goes through it: the targets only, or every position)."""
    total = 0.0
    for B, T, n in batch_shapes:
        positions = B * T
        fwd = n_layer * positions * (24 * d * d + 4 * T * d)
        fwd += 2 * d * vocab * (n if loss_targets_only else positions)
        total += 3 * fwd
    return total


def matmul_peak(threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    reps, t = 10, time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t)


def run_trainer(batcher: str, steps: int, data: str, tok: str) -> dict:
    import torch

    from workbench.train import loop
    from workbench.train.config import TrainConfig

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_CACHE"] = os.path.join(tmp, "cache")
        cfg = TrainConfig(model="scratch", tokenizer=tok, data=data, template="alpaca",
                          loss_on="response", batcher=batcher, max_steps=steps, lr=3e-4,
                          eval_every=0, save_every=0, sample_prompts=[], val_ratio=0.0,
                          threads=2, seed=0, **CFG)
        shapes: list[tuple[int, int, int]] = []
        import workbench.collate as collate

        real_collate = collate.collate_plan

        def recording(*a, **k):
            b = real_collate(*a, **k)
            shapes.append((b.shape[0], b.shape[1], b.n_targets))
            return b

        collate.collate_plan = recording
        session = Path(tmp) / "s"
        loop.run(cfg, session)
        metrics = [json.loads(x) for x in (session / "metrics.jsonl").read_text().splitlines()]
    warm = 5
    m = metrics[warm:]
    seconds = sum(x["tokens"] / x["tokens_per_s"] for x in m)
    real = sum(x["tokens"] for x in m)
    computed = sum(B * T for B, T, _ in shapes[warm:steps])
    return {"mode": f"workbench {batcher}", "real_tokens_per_s": real / seconds,
            "padding_efficiency": real / computed,
            "flops_per_s": flops_per_step(shapes[warm:steps], CFG["n_layer"], CFG["n_embd"], 50257, True) / seconds,
            "steps": len(m)}


def run_plain(steps: int, data: str, tok: str) -> dict:
    """Chapter 7's loop: random order, pad each batch to its longest row with EOS (the first
    EOS is a target, the rest -100), full logits, F.cross_entropy mean. Prompt tokens are
    masked here too (loss on responses) so the work compares with the trainer's."""
    import torch
    import torch.nn.functional as F

    from workbench.collate import collate_plan, encode_examples, plan_batches
    from workbench.data.sources import load_examples
    from workbench.model import GPT, GPTConfig
    from workbench.templates import get_template
    from workbench.tokenizer import load_tokenizer

    torch.set_num_threads(2)
    torch.manual_seed(0)
    tokenizer = load_tokenizer(tok)
    enc = encode_examples(load_examples(data).examples, get_template("alpaca"), tokenizer,
                          max_len=CFG["max_len"])
    model = GPT(GPTConfig(n_layer=CFG["n_layer"], n_head=CFG["n_head"], n_embd=CFG["n_embd"],
                          n_positions=CFG["n_positions"], vocab_size=tokenizer.n_vocab))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.1)
    plan = plan_batches(enc.lengths, CFG["batch_size"], "random", seed=0)
    real = computed = 0
    shapes = []
    seconds = 0.0
    for i, bp in enumerate(plan[:steps]):
        b = collate_plan(enc, bp, pad_id=tokenizer.eos_id)
        t = b.to_torch()
        t0 = time.perf_counter()
        logits = model(t["input_ids"])                                # (B, T, V): every position
        loss = F.cross_entropy(logits.flatten(0, 1), t["labels"].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad()
        if i >= 5:
            seconds += time.perf_counter() - t0
            real += b.n_real
            computed += b.input_ids.size
            shapes.append((b.shape[0], b.shape[1], b.n_targets))
    return {"mode": "plain ch7 loop", "real_tokens_per_s": real / seconds,
            "padding_efficiency": real / computed,
            "flops_per_s": flops_per_step(shapes, CFG["n_layer"], CFG["n_embd"], 50257, False) / seconds,
            "steps": len(shapes)}


def child(args) -> None:
    if args.mode == "plain":
        out = run_plain(args.steps, args.data, args.tokenizer)
    else:
        out = run_trainer(args.mode, args.steps, args.data, args.tokenizer)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--data", default=str(SHARED / "data/rasbt-instruction-data/instruction-data.json"))
    ap.add_argument("--tokenizer", default=str(SHARED / "gpt2-bpe"))
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode:
        child(args)
        return
    peak = matmul_peak(2)
    print(f"config: {CFG}, 2 threads, fp32, loss on responses; {args.steps} steps "
          f"(first 5 not timed)")
    print(f"plain torch.matmul fp32 (2048x2048, 2 threads): {peak / 1e9:.1f} GFLOP/s")
    print(f"{'mode':<20}{'real tok/s':>12}{'pad eff':>10}{'peak MB':>10}{'GFLOP/s':>10}{'of matmul':>11}")
    for mode in ("plain", "random", "grouped", "packed"):
        out = subprocess.run([sys.executable, __file__, "--mode", mode, "--steps", str(args.steps),
                              "--data", args.data, "--tokenizer", args.tokenizer],
                             capture_output=True, text=True)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"{mode}: failed\n{out.stderr[-2000:]}")
            continue
        r = json.loads(line[7:])
        print(f"{r['mode']:<20}{r['real_tokens_per_s']:>12,.0f}{r['padding_efficiency']:>10.3f}"
              f"{r['peak_rss_mb']:>10,.0f}{r['flops_per_s'] / 1e9:>10.1f}"
              f"{r['flops_per_s'] / peak:>10.0%}")


if __name__ == "__main__":
    main()
