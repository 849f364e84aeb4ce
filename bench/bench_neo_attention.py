"""GPT-Neo's attention at TinyStories shapes on this machine: SDPA (what gpt_neo.py runs,
scale=1.0) against the explicit matmul-softmax-matmul that transformers' GPTNeo runs, forward
and backward, for head sizes 4 (TinyStories-1M), 8 (-3M), 16 (-8M) and 48 (-33M). Prints the
median milliseconds of each and their ratio; the fastest correct path is the one to keep.

    python bench/bench_neo_attention.py
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F


def explicit(q, k, v, mask):
    w = q @ k.transpose(-1, -2)  # unscaled, as GPT-Neo
    w = w.masked_fill(~mask, torch.finfo(w.dtype).min)
    return torch.softmax(w, dim=-1) @ v


def sdpa(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=1.0)


def timed(fn, q, k, v, mask, repeats=7):
    out = []
    for _ in range(repeats):
        qq, kk, vv = (t.detach().requires_grad_() for t in (q, k, v))
        t0 = time.perf_counter()
        y = fn(qq, kk, vv, mask)
        y.sum().backward()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out[1:])


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)
    B, T = 8, 512
    print(f"B={B} T={T}, fp32 CPU, {torch.get_num_threads()} threads, forward+backward, "
          "median ms of 6")
    for name, nh, hs in (("1M", 16, 4), ("3M", 16, 8), ("8M", 16, 16), ("33M", 16, 48)):
        q, k, v = (torch.randn(B, nh, T, hs) for _ in range(3))
        pos = torch.arange(T)
        for kind, mask in (("global", pos[None, :] <= pos[:, None]),
                           ("local w=256", (pos[:, None] - pos[None, :] >= 0)
                            & (pos[:, None] - pos[None, :] < 256))):
            a = sdpa(q, k, v, mask)
            b = explicit(q, k, v, mask)
            err = float((a - b).abs().max())
            ms_s, ms_e = timed(sdpa, q, k, v, mask), timed(explicit, q, k, v, mask)
            print(f"  TinyStories-{name:3} hs {hs:2} {kind:12} SDPA {ms_s:7.1f} ms · explicit "
                  f"{ms_e:7.1f} ms · SDPA is {ms_e / ms_s:4.2f}× · max |diff| {err:.1e}")


if __name__ == "__main__":
    main()
