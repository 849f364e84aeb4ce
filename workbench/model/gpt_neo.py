"""What GPT-Neo (EleutherAI; the TinyStories models) does differently from GPT-2, and nothing
else: the rest of the model (embeddings, pre-LayerNorm blocks, the GELU-tanh MLP, the tied
LM head, packing, the KV cache, the losses) is `gpt2.py`'s.

Checked against `transformers`' modeling_gpt_neo.py:

* attention is split into `q_proj`, `k_proj`, `v_proj` (no bias) and `out_proj` (with a
  bias), all `nn.Linear` (no Conv1D transpose), under `attn.attention.` in the checkpoint;
* the scores are NOT scaled by 1/sqrt(head size);
* layers alternate global and local attention (`attention_types`, expanded per layer): a
  local layer's query sees itself and the `window_size - 1` keys before it. The window is
  over positions in the sequence (a KV cache's slots), so a long generation keeps it;
* the MLP is GPT-2's (`c_fc`, `c_proj`, gelu_new), `intermediate_size` wide (4C if unset);
* positions are learned up to `max_position_embeddings` (2048), the head tied to `wte`.

Attention runs through `F.scaled_dot_product_attention` with `scale=1.0`. TinyStories-1M
has a head size of 4; SDPA still beats the explicit matmul-softmax-matmul transformers runs,
forward and backward, by 2.3-3.7x at every TinyStories head size on this CPU, with a local
window mask too (bench/bench_neo_attention.py), so it is the one path.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .gpt2 import Packed, _rows, linear


def expand_attention_types(spec, n_layer: int, where: str = "config") -> tuple[str, ...]:
    """`[[["global", "local"], 4]]` -> ("global", "local", ..., ) of n_layer entries."""
    out: list[str] = []
    try:
        for kinds, repeat in spec:
            for _ in range(int(repeat)):
                out.extend(str(k) for k in kinds)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: attention_types must look like [[[\"global\", \"local\"], "
                         f"N]], got {spec!r}") from None
    if len(out) != n_layer or any(k not in ("global", "local") for k in out):
        raise ValueError(f"{where}: attention_types give {len(out)} layers of "
                         f"{sorted(set(out))}, the model has {n_layer} (global/local)")
    return tuple(out)


def compress_attention_types(layers: tuple[str, ...]) -> list:
    """The inverse, for config.json: the shortest repeated pattern."""
    n = len(layers)
    for size in range(1, n + 1):
        if n % size == 0 and list(layers) == list(layers[:size]) * (n // size):
            return [[list(layers[:size]), n // size]]
    return [[list(layers), 1]]  # pragma: no cover - size n always matches


def window_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, window: int) -> torch.Tensor:
    """(…, Tq, Tk) bool: key j is visible from query i when i - window < j <= i."""
    d = q_pos[..., :, None] - k_pos[..., None, :]
    return (d >= 0) & (d < window)


class NeoSelfAttention(nn.Module):
    """GPT-Neo's attention: separate projections, unscaled scores, global or local."""

    def __init__(self, config, local: bool) -> None:
        super().__init__()
        C = config.n_embd
        self.q_proj = nn.Linear(C, C, bias=False)
        self.k_proj = nn.Linear(C, C, bias=False)
        self.v_proj = nn.Linear(C, C, bias=False)
        self.out_proj = nn.Linear(C, C, bias=True)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = C
        self.dropout = config.dropout
        self.local = local
        self.window = config.window_size

    def forward(self, x, masks, cache=None, layer=0, select=None):
        """(B, T, C) -> (B, T, C), or (N, C) at the flat positions `select`. `masks` holds
        the forward's attention layouts for global and for local layers (`NeoMasks`)."""
        B, T, C = x.size()
        hs = C // self.n_head
        mask, is_causal = masks.local if self.local else masks.global_
        if isinstance(mask, Packed):
            return self.resid_dropout(linear(self.out_proj, _rows(self._packed(x, mask), select)))
        q = linear(self.q_proj, x).view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = linear(self.k_proj, x).view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = linear(self.v_proj, x).view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, nh, L, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=is_causal and mask is None, scale=1.0,
            dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(linear(self.out_proj, _rows(y, select)))

    def _packed(self, x, packed: Packed):
        """Attention inside each example of packed rows (see gpt2.CausalSelfAttention):
        positions restart at each example, so the window counts from its first token."""
        B, T, C = x.size()
        hs = C // self.n_head
        flat = x.reshape(B * T, C)[packed.index]  # (E, Lmax, C)
        E, L = packed.index.shape
        q, k, v = (linear(p, flat).view(E, L, self.n_head, hs).transpose(1, 2)
                   for p in (self.q_proj, self.k_proj, self.v_proj))  # 3 x (E, nh, L, hs)
        mask = None
        if self.local and L > self.window:
            pos = torch.arange(L, device=x.device)
            mask = window_mask(pos, pos, self.window)  # (L, L)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None, scale=1.0,
            dropout_p=self.dropout if self.training else 0.0)  # (E, nh, L, hs)
        y = y.transpose(1, 2).reshape(E, L, C)
        out = x.new_zeros(B * T, C)
        out[packed.index[packed.valid]] = y[packed.valid]
        return out.view(B, T, C)


class NeoAttention(nn.Module):
    """The `attn` of a block, holding `attention` as the checkpoint names it."""

    def __init__(self, config, local: bool) -> None:
        super().__init__()
        self.attention = NeoSelfAttention(config, local)

    def forward(self, x, masks, cache=None, layer=0, select=None):
        return self.attention(x, masks, cache, layer, select)
