"""Generation tokens/s on the CPU: workbench.generate vs transformers' `generate`, same weights.

    .venv/bin/python bench/bench_generate.py            # GPT-2 small shape (124M), random weights
    .venv/bin/python bench/bench_generate.py --small    # a 6-layer, 384-wide model, faster

Both sides run greedy in fp32 with 2 threads, on the same random weights (a transformers
GPT2LMHeadModel, copied into ours through the checkpoint loader), with early stopping off
(no end token), so every run makes exactly the same number of tokens; the script checks
that both produce the same tokens. Batch 1 and batch 8 (prompts of different lengths, left
padded), with the KV cache and without it (every step recomputes every position; fewer new
tokens, as that is quadratic). Ours and transformers take turns, --repeats times each after
a warm-up; the tok/s shown are the best runs, the ratio the median of the paired runs.
transformers is a test/bench dependency only; nothing is downloaded.

With the cache, a bf16 column: our model with its weights cast to bf16 (a decoding step then
reads half the bytes), in the same turns, against transformers in fp32 (bf16 rounding may
pick other tokens, so only the fp32 tokens are compared). --no-bf16 leaves it out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="6 layers, n_embd 384, 6 heads")
    ap.add_argument("--new-tokens", type=int, default=64, help="new tokens with the cache")
    ap.add_argument("--nocache-new-tokens", type=int, default=16,
                    help="new tokens without the cache")
    ap.add_argument("--prompt-len", type=int, default=48, help="longest prompt (tokens)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=("all", "cache", "nocache"), default="all")
    ap.add_argument("--no-bf16", action="store_true", help="no bf16 column")
    args = ap.parse_args()

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from workbench.generate import GenerationConfig, generate
    from workbench.model import build_model, config_from_hf

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape = dict(n_layer=6, n_head=6, n_embd=384) if args.small else dict(
        n_layer=12, n_head=12, n_embd=768)
    hf_cfg = GPT2Config(vocab_size=50257, n_positions=1024, **shape)
    hf = GPT2LMHeadModel(hf_cfg).eval()
    ours = build_model(config_from_hf(hf_cfg.to_dict()), hf.state_dict(), "bench").eval()
    ours16 = None if args.no_bf16 else build_model(
        config_from_hf(hf_cfg.to_dict()), hf.state_dict(), "bench").eval().to(torch.bfloat16)
    from workbench.device import cpu_model
    from workbench.model import gpt2

    print(f"CPU: {cpu_model()} · fp32 inference kernel: "
          f"{'oneDNN' if gpt2._onednn_ok() else 'F.linear'} (measured, cached) · "
          f"command: {' '.join(sys.argv)}")
    tok = _ByteCounter(50257)
    load_before = os.getloadavg()[0]
    print(f"model: GPT-2 {'6L/384' if args.small else 'small 12L/768'}, vocab 50257, "
          f"{ours.num_params() / 1e6:.1f}M params, random weights · torch {torch.__version__} · "
          f"{args.threads} threads · fp32 · greedy, no early stop")

    gen = torch.Generator().manual_seed(1)
    lengths8 = [args.prompt_len - 3 * i for i in range(8)]  # different lengths: left padding
    prompts8 = [torch.randint(0, 50256, (n,), generator=gen).tolist() for n in lengths8]
    rows = []
    cases = []
    if args.only in ("all", "cache"):
        cases += [(1, True, args.new_tokens), (8, True, args.new_tokens)]
    if args.only in ("all", "nocache"):
        cases += [(1, False, args.nocache_new_tokens), (8, False, args.nocache_new_tokens)]
    for batch, cache, new in cases:
        prompts = prompts8[:batch]
        cfg = GenerationConfig(max_new_tokens=new, use_cache=cache)

        def run_ours():
            return [r.token_ids for r in generate(ours, tok, prompts, cfg, stop_ids=())]

        def run_hf():
            width = max(len(p) for p in prompts)
            ids = torch.zeros(len(prompts), width, dtype=torch.long)
            mask = torch.zeros(len(prompts), width, dtype=torch.long)
            for i, p in enumerate(prompts):
                ids[i, width - len(p):] = torch.tensor(p)
                mask[i, width - len(p):] = 1
            with torch.inference_mode():
                out = hf.generate(ids, attention_mask=mask, max_new_tokens=new, do_sample=False,
                                  use_cache=cache, pad_token_id=0, eos_token_id=None)
            return out[:, width:].tolist()

        def run_ours16():
            return [r.token_ids for r in generate(ours16, tok, prompts, cfg, stop_ids=())]

        fns = [run_ours, run_hf] + ([run_ours16] if cache and ours16 is not None else [])
        runs = _paired(fns, args.repeats)
        (times_ours, toks_ours), (times_hf, toks_hf) = runs[:2]
        n = batch * new
        assert all(len(t) == new for t in toks_ours) and all(len(t) == new for t in toks_hf)
        same = toks_ours == toks_hf
        ratios = sorted(h / o for o, h in zip(times_ours, times_hf))
        row = [batch, "yes" if cache else "no", new, n / min(times_ours),
               n / min(times_hf), ratios[len(ratios) // 2], ratios[0], ratios[-1], same, None]
        line = (f"  batch {batch}, cache {cache}: ours {[round(n / t, 1) for t in times_ours]} "
                f"HF {[round(n / t, 1) for t in times_hf]}")
        if len(runs) > 2:
            times16 = runs[2][0]
            r16 = sorted(h / o for o, h in zip(times16, times_hf))
            row[-1] = (n / min(times16), r16[len(r16) // 2], r16[0], r16[-1])
            line += f" ours bf16 {[round(n / t, 1) for t in times16]}"
        rows.append(row)
        print(line + " tok/s", flush=True)
    print(f"\n{'batch':>5} {'cache':>5} {'new':>4} {'ours tok/s':>11} {'HF tok/s':>9} "
          f"{'ratio':>6} {'(range)':>12}  same tokens  {'ours bf16':>9} {'/ HF fp32':>9} "
          f"{'(range)':>12}")
    for b, c, new, ours_tps, hf_tps, ratio, lo, hi, same, bf in rows:
        tail = (f"  {bf[0]:>9.1f} {bf[1]:>8.2f}x {f'({bf[2]:.2f}-{bf[3]:.2f})':>12}"
                if bf else "")
        print(f"{b:>5} {c:>5} {new:>4} {ours_tps:>11.1f} {hf_tps:>9.1f} {ratio:>5.2f}x "
              f"{f'({lo:.2f}-{hi:.2f})':>12}  {'yes' if same else 'NO':<11}{tail}")
    print("\ntok/s: the best run of each; ratio: the median over the back-to-back pairs of "
          "HF time / our time (range: lowest and highest pair)")
    print(f"load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
          f"({os.cpu_count()} CPUs; other processes slow both sides, unevenly)")
    return 0 if all(r[8] for r in rows) else 1


def _paired(fns, repeats):
    """[(run times, last output)] of each function, taking turns (a busy moment on a shared
    machine then hits all alike), after a warm-up of each (first-call allocations and kernel
    choices)."""
    outs = [fn() for fn in fns]
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            t = time.perf_counter()
            outs[k] = fn()
            times[k].append(time.perf_counter() - t)
    return list(zip(times, outs))


class _ByteCounter:
    """A stand-in tokenizer for random ids: generate needs the vocabulary size, the EOS id
    and each token's bytes (for the text it returns), nothing else."""

    def __init__(self, n_vocab: int) -> None:
        self.n_vocab = n_vocab
        self.eos_id = n_vocab - 1

    def token_bytes(self, token_id: int) -> bytes:
        return b"x"


if __name__ == "__main__":
    raise SystemExit(main())
