"""How fast the CPU streams weights through fp32 matrix products: F.linear (MKL) against
oneDNN's inner product (the two fp32 kernels the model chooses between at inference, by
measuring: workbench.model.gpt2._linear_kernel), and F.linear on bf16 weights, at the shapes
of GPT-2 small.

    .venv/bin/python bench/bench_matvec.py

Decoding one token reads every weight once, so tokens/s at batch 1 is this bandwidth
divided by the model's size. The 12 layers' weights are all distinct (340 MB, far more than
the caches), as in a real decoding step. A plain reduction over 500 MB shows what the memory
itself gives. Prints ms and GB/s per variant; no assertion, no download.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BLOCK = [(2304, 768), (768, 768), (3072, 768), (768, 3072)]  # c_attn, c_proj, c_fc, mlp c_proj
HEAD = (50257, 768)


def _ms(fn, n: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e3


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=12)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    onednn = torch.ops.mkldnn._linear_pointwise
    layers = [[(torch.randn(o, i) * 0.02, torch.zeros(o)) for o, i in BLOCK]
              for _ in range(args.layers)]
    head = torch.randn(*HEAD) * 0.02
    block_mb = sum(o * i for o, i in BLOCK) * 4 * args.layers / 1e6
    head_mb = head.numel() * 4 / 1e6
    from workbench.device import cpu_model
    from workbench.model import gpt2

    print(f"{cpu_model()} · torch {torch.__version__} · {args.threads} threads · blocks "
          f"{block_mb:.0f} MB fp32 ({args.layers} layers), head {head_mb:.0f} MB · the model's "
          f"measured fp32 kernel here: {'oneDNN' if gpt2._onednn_ok() else 'F.linear'}")
    layers16 = [[(w.bfloat16(), b.bfloat16()) for w, b in layer] for layer in layers]
    head16 = head.bfloat16()

    big = torch.randn(125_000_000)  # 500 MB
    with torch.inference_mode():
        ms = _ms(lambda: big.sum(), 10)
    print(f"plain reduction over 500 MB: {ms:.1f} ms = {500 / ms:.1f} GB/s")
    del big

    print(f"\n{'batch':>5} {'what':<8} {'F.linear (MKL)':>22} {'oneDNN':>22} {'speed-up':>9}"
          f" {'bf16 weights, F.linear':>26}")
    for batch in (1, 8):
        xs = {n: torch.randn(batch, n) for n in (768, 3072)}
        x_head = torch.randn(batch, HEAD[1])

        def blocks(fn, weights=layers, x16=False):
            for layer in weights:
                for (o, i), (w, b) in zip(BLOCK, layer):
                    fn(xs[i].bfloat16() if x16 else xs[i], w, b)

        with torch.inference_mode():
            rows = [
                ("blocks", block_mb,
                 _ms(lambda: blocks(F.linear), 20),
                 _ms(lambda: blocks(lambda x, w, b: onednn(x, w, b, "none", [], "")), 20),
                 _ms(lambda: blocks(F.linear, layers16, True), 20)),
                ("LM head", head_mb,
                 _ms(lambda: F.linear(x_head, head), 20),
                 _ms(lambda: onednn(x_head, head, None, "none", [], ""), 20),
                 _ms(lambda: F.linear(x_head.bfloat16(), head16), 20)),
            ]
        for what, mb, mkl, dnn, bf in rows:
            print(f"{batch:>5} {what:<8} {f'{mkl:.2f} ms {mb / mkl:.1f} GB/s':>22} "
                  f"{f'{dnn:.2f} ms {mb / dnn:.1f} GB/s':>22} {mkl / dnn:>8.2f}x "
                  f"{f'{bf:.2f} ms ({mkl / bf:.2f}x fp32)':>26}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
