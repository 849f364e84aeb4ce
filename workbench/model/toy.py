"""Tiny GPTs with known behaviour, for tests and demos: no download, no training.

`scripted_gpt(script, ...)` builds a model whose greedy choice at position p is
`script[p % len(script)]`, whatever the input: every block adds nothing to the residual
stream (its output projections are zero), and each position embedding is the embedding of
the token to emit, scaled far above the token embeddings. After ln_f the hidden state
points along that token's embedding, and the tied head scores it highest (a dot product
of about n_embd against roughly +-3 sqrt(n_embd) for the others). Tests use it to make a
model end, leak a stop string, or run to its length, on purpose.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .gpt2 import GPT, GPTConfig


def scripted_gpt(script: Sequence[int], *, vocab_size: int, n_positions: int = 128,
                 n_embd: int = 64, n_layer: int = 2, n_head: int = 2, seed: int = 0) -> GPT:
    """A GPT that greedily emits `script` by position (cycling), in eval mode on the CPU."""
    if not script:
        raise ValueError("the script needs at least one token")
    if max(script) >= vocab_size or min(script) < 0:
        raise ValueError(f"script ids must be in 0..{vocab_size - 1}")
    model = GPT(GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                          n_positions=n_positions, vocab_size=vocab_size))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        wte = torch.randn(vocab_size, n_embd, generator=g)  # (V, C), unit scale
        model.transformer.wte.weight.copy_(wte)
        emit = torch.tensor([script[p % len(script)] for p in range(n_positions)])  # (P,)
        model.transformer.wpe.weight.copy_(100.0 * wte[emit])  # (P, C)
        for block in model.transformer.h:
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                proj.weight.zero_()
                proj.bias.zero_()
    return model.eval()


def random_gpt(*, vocab_size: int = 300, n_positions: int = 64, n_embd: int = 32,
               n_layer: int = 2, n_head: int = 4, scale: float = 0.0, seed: int = 0) -> GPT:
    """A small GPT with GPT-2's random init; `scale` > 0 redraws every parameter from
    N(0, scale^2) (LayerNorm gains from N(1, scale^2)), so that each one visibly changes
    the logits and the output depends on the input."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd,
                          n_positions=n_positions, vocab_size=vocab_size))
    if scale > 0:
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in model.named_parameters():
                gain = name.endswith("weight") and ".ln_" in f".{name}"
                p.copy_(torch.randn(p.shape, generator=g) * scale + (1.0 if gain else 0.0))
    return model.eval()
