"""GPT-2 in plain torch, in one file you can read top to bottom.

The architecture is OpenAI's GPT-2: learned position embeddings, pre-LayerNorm blocks,
GELU with the tanh approximation ("gelu_new"), and an LM head that shares its weight with
the token embedding. Parameter names are Hugging Face's `GPT2LMHeadModel` names
(`transformer.wte`, `transformer.h.0.attn.c_attn`, ...), so a checkpoint maps over with one
change: Hugging Face stores `c_attn`, `c_proj` and `c_fc` as `Conv1D` with weight
(in, out); here they are `nn.Linear` with weight (out, in), and `load.py` transposes them.

Attention always goes through `F.scaled_dot_product_attention`, in one of three ways:

* plain causal (one example per row): `is_causal=True`, no mask tensor (the fast path);
* packed rows (several examples per row, from the collator): each example is gathered into
  a short sequence of its own and attention runs causally over those (the unpad/pad trick),
  so no example sees its neighbour and no work is spent on the T x T cross-example block.
  On CUDA, `flex_attention` with a document-causal block mask (`DocMask`) does the same in
  one fused kernel that skips the blocks across examples, with no gather and no scatter;
* with a `KVCache` (generation): the new queries attend to every filled cache slot that
  holds a real token, and causally among themselves. Prompts of different lengths are
  left-padded, and the cache remembers which slots are padding.

Linear layers at inference on the CPU (no autograd, fp32) go through oneDNN's inner
product (`linear` below) rather than `F.linear`: measured on a 2-core AMD EPYC, MKL's fp32
matrix-vector products stream GPT-2 small's weights at 12-14 GB/s and oneDNN's at 25-34
(bench/bench_matvec.py), and generating one token is reading every weight once. Same
weights, no copy; results equal `F.linear`'s to float rounding. Training and every other
device use `F.linear`.

Shapes: B batch, T time (new positions), L keys in the cache, C n_embd, nh heads,
hs head size (C // nh), V vocabulary.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..constants import IGNORE_INDEX


@dataclass
class GPTConfig:
    """The shape of a model (defaults: GPT-2 small, 124M parameters).

    `family` "gpt2" or "gpt_neo": GPT-Neo differs only in its attention (gpt_neo.py):
    `attention_layers` gives each layer's kind ("global" / "local", all global for GPT-2)
    and `window_size` the local window; `n_inner` is the MLP width (None: 4 * n_embd).
    """

    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    n_positions: int = 1024
    vocab_size: int = 50257
    layer_norm_epsilon: float = 1e-5
    dropout: float = 0.0
    family: str = "gpt2"
    attention_layers: tuple[str, ...] | None = None
    window_size: int = 256
    n_inner: int | None = None

    def __post_init__(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")
        if self.family not in ("gpt2", "gpt_neo"):
            raise ValueError(f"family {self.family!r}: gpt2 or gpt_neo")
        if self.attention_layers is None:
            self.attention_layers = ("global",) * self.n_layer
        self.attention_layers = tuple(self.attention_layers)
        if len(self.attention_layers) != self.n_layer:
            raise ValueError(f"{len(self.attention_layers)} attention kinds for {self.n_layer} layers")
        if self.family == "gpt2" and "local" in self.attention_layers:
            raise ValueError("GPT-2 has no local attention layers")

    @property
    def has_local(self) -> bool:
        return "local" in self.attention_layers


def linear(layer: nn.Linear, x: torch.Tensor, gelu: bool = False) -> torch.Tensor:
    """layer(x), then GELU-tanh if `gelu`: through oneDNN (the activation fused into the
    matmul) when `_use_onednn` says it applies, else F.linear. A LoRA layer (lora.py) adds
    its low-rank update, unless adapters are off in this thread."""
    if hasattr(layer, "lora_A"):
        from .lora import adapters_active

        if adapters_active():
            y = _dense(layer, x, False) + layer.lora_delta(x)
            return F.gelu(y, approximate="tanh") if gelu else y
    return _dense(layer, x, gelu)


def _dense(layer: nn.Linear, x: torch.Tensor, gelu: bool) -> torch.Tensor:
    if _use_onednn(x, layer.weight):
        try:
            return torch.ops.mkldnn._linear_pointwise(
                x, layer.weight, layer.bias, "gelu" if gelu else "none", [], "tanh" if gelu else "")
        except (RuntimeError, AttributeError):  # a torch without the op, or one that refuses
            y = _f_linear(layer, x, gelu)  # wrong inputs raise here too, and change nothing
            _ONEDNN["ok"] = False  # F.linear from now on
            return y
    return _f_linear(layer, x, gelu)


def _f_linear(layer: nn.Linear, x: torch.Tensor, gelu: bool) -> torch.Tensor:
    y = F.linear(x, layer.weight, layer.bias)
    return F.gelu(y, approximate="tanh") if gelu else y


LINEAR_KERNELS = ("onednn", "f_linear")
"""The CPU inference kernels for fp32 linear layers; WORKBENCH_CPU_LINEAR=onednn|f_linear
forces one, else (auto) the one measured faster on this CPU is used."""


def _measure_linear_kernels(reps: int = 3) -> dict:
    """Stream fp32 weights through F.linear and oneDNN's inner product, as a decoding step
    does: eight distinct 3072x768 matrices (75 MB, more than the caches), at batch 1 and 8,
    best of `reps` interleaved rounds (about 0.1 s). oneDNN is chosen only where it is the
    faster at both batch sizes, so inference is never slower than with F.linear."""
    from ..device import time_interleaved

    op = torch.ops.mkldnn._linear_pointwise
    weights = [torch.full((3072, 768), 0.01) for _ in range(8)]  # (out, in) each
    bias = torch.zeros(3072)
    gb = sum(w.numel() for w in weights) * 4 / 1e9
    out: dict = {"shape": "8 x 3072x768 fp32"}
    wins = True
    with torch.inference_mode():
        for batch in (1, 8):
            x = torch.randn(batch, 768)  # (B, 768)
            t = time_interleaved({
                "f_linear": lambda: [F.linear(x, w, bias) for w in weights],
                "onednn": lambda: [op(x, w, bias, "none", [], "") for w in weights]}, reps)
            out[f"batch_{batch}_gb_s"] = {k: round(gb / v, 1) for k, v in t.items()}
            wins = wins and t["onednn"] < t["f_linear"]
    out["kernel"] = "onednn" if wins else "f_linear"
    return out


def _linear_kernel() -> str:
    """The fp32 CPU inference kernel: forced by WORKBENCH_CPU_LINEAR, else measured once per
    CPU model (cached by workbench.device). F.linear where oneDNN's op is missing."""
    available = (torch.backends.mkldnn.is_available()
                 and hasattr(torch.ops.mkldnn, "_linear_pointwise"))
    forced = os.environ.get("WORKBENCH_CPU_LINEAR", "auto").strip().lower()
    if not available or forced == "f_linear":
        return "f_linear"
    if forced == "onednn":
        return "onednn"
    from ..device import cpu_measured

    return cpu_measured("inference_linear", _measure_linear_kernels).get("kernel", "f_linear")


# "ok": oneDNN's linear is the kernel for fp32 inference on the CPU (set False for good if
# the op ever fails); None until the first CPU inference asks (`_onednn_ok`): measured on
# this CPU, not assumed from its vendor, and never at import (training does not need it).
_ONEDNN: dict = {"ok": None}


def _onednn_ok() -> bool:
    if _ONEDNN["ok"] is None:
        _ONEDNN["ok"] = _linear_kernel() == "onednn"
    return _ONEDNN["ok"]


def _use_onednn(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """oneDNN's linear has no autograd formula: only where no gradient is recorded, on the
    CPU, in fp32 (not under CPU autocast), for plain dense tensors, and only where it was
    measured faster than F.linear on this CPU (`_ONEDNN`)."""
    return (x.device.type == "cpu" and not torch.is_grad_enabled()
            and x.dtype == torch.float32 and weight.dtype == torch.float32
            and x.layout == torch.strided and weight.layout == torch.strided
            and not torch.is_autocast_enabled("cpu") and _onednn_ok())


class KVCache:
    """Keys and values of every past position, preallocated for the whole generation.

    One tensor for K and one for V, each (n_layer, B, nh, max_len, hs), written in place:
    a decoding step copies only its own new keys and never re-concatenates the past (a
    cache that grows with `torch.cat` copies all of it at every step).

    `keep` (B, max_len) marks the slots that hold real tokens: prompts of different lengths
    are left-padded so that every sequence writes its next token into the same slot, and
    the padded slots must never be attended to. None means no slot is padding.
    """

    def __init__(self, config: GPTConfig, batch_size: int, max_len: int,
                 keep: torch.Tensor | None = None) -> None:
        self.shape = (config.n_layer, batch_size, config.n_head, max_len,
                      config.n_embd // config.n_head)
        self.max_len = max_len
        self.length = 0  # slots filled so far (the same for every sequence)
        self.k: torch.Tensor | None = None  # allocated on the first write, in the
        self.v: torch.Tensor | None = None  # activations' dtype and device (bf16 under autocast)
        if keep is not None and keep.shape[1] < max_len:  # slots after the prompt are real
            pad = keep.new_ones(keep.shape[0], max_len - keep.shape[1])
            keep = torch.cat([keep, pad], dim=1)
        self.keep = keep  # (B, max_len) bool, or None

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Store the new keys/values of one layer; return all of them so far, (B, nh, L, hs)."""
        if self.k is None:
            self.k = k.new_zeros(self.shape)
            self.v = v.new_zeros(self.shape)
        start, end = self.length, self.length + k.size(2)
        if end > self.max_len:
            raise ValueError(f"KV cache full: {end} slots needed, {self.max_len} allocated")
        self.k[layer, :, :, start:end] = k
        self.v[layer, :, :, start:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


@dataclass
class Packed:
    """Where the examples of packed rows sit, for per-example attention.

    index (E, Lmax): for each of the E examples, the flat positions (into B*T) of its tokens,
    padded on the right up to the longest example; valid (E, Lmax): which slots are real.
    Padding positions of the rows (segment 0) belong to no example.
    """

    index: torch.Tensor
    valid: torch.Tensor

    @classmethod
    def from_segments(cls, segment_ids: torch.Tensor) -> "Packed":
        B, T = segment_ids.shape
        flat = segment_ids.reshape(-1)  # (B*T,)
        new_run = torch.ones_like(flat, dtype=torch.bool)
        new_run[1:] = flat[1:] != flat[:-1]
        new_run[::T] = True  # every row starts a run
        starts = torch.nonzero(new_run).squeeze(1)  # (R,)
        ends = torch.cat([starts[1:], starts.new_tensor([B * T])])
        real = flat[starts] != 0  # runs of padding are no example
        starts, lengths = starts[real], (ends - starts)[real]  # (E,)
        slots = torch.arange(int(lengths.max()), device=flat.device)  # (Lmax,)
        valid = slots[None, :] < lengths[:, None]  # (E, Lmax)
        index = torch.where(valid, starts[:, None] + slots[None, :], starts[:, None])
        return cls(index, valid)


@dataclass
class DocMask:
    """Packed rows for `flex_attention`: a document-causal `BlockMask` over the (B, T) rows,
    built once per forward from segment_ids and shared by every layer (like `Packed`).

    A query sees the earlier keys of its own example only; padding (segment 0) sees nothing
    and gets zeros, as with `Packed`. The kernel skips every 128 x 128 block in which no
    query may look at any key, so the cross-example blocks cost nothing, and the rows stay
    in place (no gather, no scatter). Used where `packed_kernel` says "flex".
    """

    block_mask: object

    @classmethod
    def from_segments(cls, segment_ids: torch.Tensor) -> "DocMask":
        from torch.nn.attention.flex_attention import create_block_mask

        B, T = segment_ids.shape

        def document_causal(b, h, q, k):  # scalar indices -> may query q look at key k?
            return (segment_ids[b, q] == segment_ids[b, k]) & (q >= k) & (segment_ids[b, q] != 0)

        return cls(create_block_mask(document_causal, B, None, T, T, device=segment_ids.device))


PACKED_KERNEL = {"kind": "auto"}
"""Which kernel packed rows use: "auto" (flex on CUDA where torch has it, else the gather),
"flex" (also on the CPU where no gradient is recorded: for tests) or "gather"."""


def packed_kernel(device: torch.device | str) -> str:
    """ "flex" or "gather" for packed rows on `device` (see PACKED_KERNEL)."""
    kind = PACKED_KERNEL["kind"]
    if kind == "gather" or not _has_flex():
        return "gather"
    if torch.device(device).type == "cuda":
        return "flex"
    # forced elsewhere (tests); flex has no backward on the CPU in torch 2.13
    return "flex" if kind == "flex" and not torch.is_grad_enabled() else "gather"


def _has_flex() -> bool:
    try:
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention  # noqa: F401
    except ImportError:  # torch before 2.5
        return False
    return True


_FLEX: dict = {}


def _flex_attention(q, k, v, block_mask):
    """flex_attention (B, nh, T, hs) -> (B, nh, T, hs). On CUDA through torch.compile: the
    eager version materialises the whole T x T score matrix; compiled it is one fused kernel
    (compiled once per process, and inlined when the caller is compiled already). On the
    CPU eager (the tests' path), with its "without torch.compile" warning silenced."""
    from torch.nn.attention.flex_attention import flex_attention

    if torch.compiler.is_compiling():
        return flex_attention(q, k, v, block_mask=block_mask)
    if q.device.type == "cuda":
        if "compiled" not in _FLEX:
            _FLEX["compiled"] = torch.compile(flex_attention)
        return _FLEX["compiled"](q, k, v, block_mask=block_mask)
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*flex_attention called without torch.compile")
        return flex_attention(q, k, v, block_mask=block_mask)


@dataclass
class Masks:
    """The attention layouts of one forward, built once and shared by every layer: for
    global layers and (GPT-Neo) for local ones, each a (mask, is_causal) pair for SDPA:
    mask None (plain causal: SDPA's fused path), a boolean tensor (True where a query may
    look), or a `Packed` / `DocMask` layout for packed rows."""

    global_: tuple
    local: tuple | None = None


class ChunkedHeadLoss(torch.autograd.Function):
    """sum of cross_entropy(x @ W.T, targets), never holding the (N, V) logits.

    Rows of x are taken `chunk` at a time: logits, log-softmax, the loss and the gradients
    of x and W are computed for that chunk and the chunk is dropped. With ~1,000 targets a
    batch and V = 50257 the full logits are 200 MB (and as much again for log-softmax and its
    gradient); fresh buffers that size cost more in page faults and memory traffic than the
    head's matmuls do. The gradients are computed in the forward pass (this loss is always
    differentiated), and backward only scales them.
    """

    @staticmethod
    def forward(ctx, x, weight, targets, chunk: int = 256):
        needs_x, needs_w = x.requires_grad, weight.requires_grad
        grad_x = torch.empty_like(x) if needs_x else None
        grad_w = torch.zeros_like(weight) if needs_w else None
        acc = torch.promote_types(x.dtype, torch.float32)  # fp32 (fp64 for gradcheck)
        total = x.new_zeros((), dtype=acc)
        for start in range(0, x.size(0), chunk):
            xc, tc = x[start:start + chunk], targets[start:start + chunk]  # (c, C), (c,)
            logits = (xc @ weight.t()).to(acc)  # (c, V), at least fp32 for the softmax
            lse = torch.logsumexp(logits, dim=1)  # (c,)
            total += (lse - logits.gather(1, tc[:, None]).squeeze(1)).sum()
            if needs_x or needs_w:
                probs = logits.sub_(lse[:, None]).exp_()  # softmax, in place: (c, V)
                probs[torch.arange(len(tc), device=tc.device), tc] -= 1.0  # dloss/dlogits
                probs = probs.to(x.dtype)
                if needs_x:
                    grad_x[start:start + chunk] = probs @ weight  # (c, C)
                if needs_w:
                    grad_w.addmm_(probs.t(), xc)  # (V, C)
        ctx.save_for_backward(grad_x, grad_w)
        return total

    @staticmethod
    def backward(ctx, grad_out):
        grad_x, grad_w = ctx.saved_tensors
        return (grad_x * grad_out if grad_x is not None else None,
                grad_w * grad_out if grad_w is not None else None, None, None)


class CausalSelfAttention(nn.Module):

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        # query, key and value projections for all heads in one matrix, as GPT-2 stores them
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout

    def forward(self, x, masks, cache=None, layer=0, select=None):
        """(B, T, C) -> (B, T, C); with `select` (flat indices into the B*T positions), the
        output at those positions only, (N, C): every position is still a key and value."""
        B, T, C = x.size()
        mask, is_causal = masks.global_
        if isinstance(mask, Packed):
            return self.resid_dropout(linear(self.c_proj, _rows(self._packed(x, mask), select)))
        if isinstance(mask, DocMask):
            return self.resid_dropout(linear(self.c_proj, _rows(self._flex(x, mask), select)))
        q, k, v = self._heads(x)  # 3 x (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(layer, k, v)  # (B, nh, L, hs), L = past + T
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=is_causal and mask is None,
            dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): heads side by side
        return self.resid_dropout(linear(self.c_proj, _rows(y, select)))

    def _packed(self, x, packed: Packed):
        """Attention inside each example of packed rows: gather every example into a row of
        its own (padded on the right, which causal attention never looks at), run the fused
        causal kernel, scatter back. Padding positions of the rows get zeros."""
        B, T, C = x.size()
        hs = C // self.n_head
        qkv = linear(self.c_attn, x).view(B * T, 3, self.n_head, hs)  # (B*T, 3, nh, hs)
        g = qkv[packed.index]  # (E, Lmax, 3, nh, hs)
        q, k, v = (t.transpose(1, 2) for t in g.unbind(2))  # 3 x (E, nh, Lmax, hs)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(*packed.index.shape, C)  # (E, Lmax, C)
        out = y.new_zeros(B * T, C)  # y's dtype: bf16 under autocast, like the plain path
        out[packed.index[packed.valid]] = y[packed.valid]
        return out.view(B, T, C)

    def _heads(self, x):
        """(B, T, C) -> q, k, v, each (B, nh, T, hs)."""
        B, T, C = x.size()
        q, k, v = linear(self.c_attn, x).split(self.n_embd, dim=2)  # 3 x (B, T, C)
        return (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))

    def _flex(self, x, doc: DocMask):
        """Attention inside each example of packed rows in place, through flex_attention
        and the forward's document-causal block mask (no dropout: `_attention_mask` picks
        the gather path when attention dropout is on)."""
        B, T, C = x.size()
        q, k, v = self._heads(x)  # 3 x (B, nh, T, hs)
        y = _flex_attention(q, k, v, doc.block_mask)  # (B, nh, T, hs); padding rows: 0
        return y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)


def _rows(x: torch.Tensor, select: torch.Tensor | None) -> torch.Tensor:
    """x (B, T, C) at the flat positions `select`, (N, C); x itself when select is None."""
    return x if select is None else x.reshape(-1, x.size(-1))[select]


class MLP(nn.Module):

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        inner = config.n_inner or 4 * config.n_embd
        self.c_fc = nn.Linear(config.n_embd, inner)
        self.c_proj = nn.Linear(inner, config.n_embd)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        # GPT-2's "gelu_new" is exactly the tanh form of GELU
        x = linear(self.c_fc, x, gelu=True)  # (B, T, 4C)
        return self.dropout(linear(self.c_proj, x))  # (B, T, C)


class Block(nn.Module):

    def __init__(self, config: GPTConfig, layer: int = 0) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        if config.family == "gpt_neo":  # the one difference between the families
            from .gpt_neo import NeoAttention

            self.attn = NeoAttention(config, config.attention_layers[layer] == "local")
        else:
            self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = MLP(config)

    def forward(self, x, masks, cache=None, layer=0, select=None):
        # pre-LayerNorm: each sublayer reads a normalized copy and adds to the residual stream
        a = self.attn(self.ln_1(x), masks, cache, layer, select)
        x = _rows(x, select) + a  # (B, T, C), or (N, C) at the selected positions
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.n_positions, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config, i) for i in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.tie_weights()
        self.apply(self._init_weights)
        # GPT-2 scales the init of the projections that write into the residual stream by
        # 1/sqrt(2 * n_layer): each block adds two of them, and the sum must not grow with depth
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def tie_weights(self) -> None:
        """The LM head is the token embedding read backwards (one tensor, as in GPT-2)."""
        self.lm_head.weight = self.transformer.wte.weight

    def _init_weights(self, module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameters (the tied head counted once); non_embedding leaves out wte and wpe."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wte.weight.numel() + self.transformer.wpe.weight.numel()
        return n

    # ------------------------------------------------------------------------------------

    def hidden(self, input_ids, position_ids=None, segment_ids=None, cache=None, select=None):
        """Final hidden states after ln_f, (B, T, C).

        position_ids (B, T): defaults to 0..T-1 (after the cached positions with a cache);
        packed rows restart them at 0 for each example.
        segment_ids (B, T): 1, 2, ... per example of a packed row, 0 for padding; attention
        stays inside a segment. None: one causal sequence per row.
        cache: a KVCache; the new keys/values are stored in it and it advances by T.
        select: flat indices into the B*T positions (generation: the last of each prompt);
        only their hidden states are returned, (N, C), and the last block spends its output
        projection and MLP on them alone (those are the only rows it passes on).
        """
        B, T = input_ids.size()
        past = cache.length if cache is not None else 0
        if position_ids is None:
            if past + T > self.config.n_positions:
                raise ValueError(f"{past + T} positions, the model has {self.config.n_positions}")
            position_ids = torch.arange(past, past + T, device=input_ids.device)  # (T,)
        masks = Masks(self._attention_mask(T, segment_ids, cache, input_ids.device))
        if self.config.has_local:
            masks.local = self._attention_mask(T, segment_ids, cache, input_ids.device,
                                               window=self.config.window_size)
        tok_emb = self.transformer.wte(input_ids)  # (B, T, C)
        pos_emb = self.transformer.wpe(position_ids)  # (B, T, C) or (T, C)
        x = self.transformer.drop(tok_emb + pos_emb)  # (B, T, C)
        for i, block in enumerate(self.transformer.h):
            last = i == len(self.transformer.h) - 1
            x = block(x, masks, cache, i, select if last else None)
        if cache is not None:
            cache.length += T
        return self.transformer.ln_f(x)  # (B, T, C), or (N, C) with select

    def forward(self, input_ids, position_ids=None, segment_ids=None, cache=None):
        """Logits at every position, (B, T, V): diagnostics look at all of them."""
        return self.logits(self.hidden(input_ids, position_ids, segment_ids, cache))

    def logits(self, x):
        """The LM head: hidden states (..., C) -> logits (..., V). Generation calls it on
        the last position only."""
        return linear(self.lm_head, x)

    def target_loss(self, input_ids, labels, position_ids=None, segment_ids=None, vocab=None):
        """(sum of cross-entropy over the positions whose label is not -100, their count).

        The LM head runs only at those positions. It is the largest matrix in the model
        (C x 50257), and with the loss on responses only most positions have no target,
        so gathering the hidden states first skips most of the head's work (and memory).

        vocab: optional sorted ids (K,) the softmax is restricted to (every target must be
        one of them): for pretraining a small model on a corpus that uses a few thousand of
        the 50257 ids, the head then costs K/V of its full price. None: the full vocabulary.
        """
        x = self.hidden(input_ids, position_ids, segment_ids)  # (B, T, C)
        has_target = labels != IGNORE_INDEX  # (B, T)
        x = x[has_target]  # (N, C), N = positions with a target
        targets = labels[has_target]  # (N,)
        weight = self.lm_head.weight  # (V, C)
        if vocab is not None:
            weight = weight[vocab]  # (K, C)
            targets = torch.searchsorted(vocab, targets)  # ids -> positions in vocab
        if torch.is_autocast_enabled(x.device.type):  # the head in the autocast dtype
            dtype = torch.get_autocast_dtype(x.device.type)
            x, weight = x.to(dtype), weight.to(dtype)
        with torch.autocast(x.device.type, enabled=False):
            loss_sum = ChunkedHeadLoss.apply(x, weight, targets)  # fp32 softmax and sum
        return loss_sum, has_target.sum()

    def _attention_mask(self, T, segment_ids, cache, device, window: int | None = None):
        """(mask, is_causal) for SDPA; mask is boolean, True where a query may look, or a
        `Packed` layout for packed rows. `window`: a local layer's (GPT-Neo), where a query
        sees itself and the window - 1 positions before it.

        Built once per forward and shared by every layer. Returns (None, True) for plain
        causal attention, so SDPA takes its fused causal path with no mask tensor.
        """
        if segment_ids is not None:
            if cache is not None:
                raise ValueError("packed rows (segment_ids) and a KV cache do not mix")
            # flex for GPT-2's attention without dropout (flex has none); GPT-Neo's windows
            # and attention dropout keep the gather path
            if (self.config.family == "gpt2" and not (self.training and self.config.dropout)
                    and packed_kernel(segment_ids.device) == "flex"):
                return DocMask.from_segments(segment_ids), False
            return Packed.from_segments(segment_ids), False  # windows: per example, inside
        if getattr(cache, "static", False):  # a CUDA-graph decode step's (generate.py)
            return cache.mask(window), False
        past = cache.length if cache is not None else 0
        local = window is not None and past + T > window  # else the window changes nothing
        if cache is None and not local:
            return None, True
        if cache is not None and cache.keep is None and not local:
            if T == 1:
                return None, False  # one new token may look at everything before it
            if past == 0:
                return None, True
        q_slot = torch.arange(past, past + T, device=device)[:, None]  # (T, 1)
        k_slot = torch.arange(past + T, device=device)[None, :]  # (1, L)
        allowed = k_slot <= q_slot  # (T, L): causal across the cache and the new block
        if local:
            allowed = allowed & (q_slot - k_slot < window)  # (T, L)
        if cache is None:
            return allowed[None, None], False  # (1, 1, T, T)
        if cache.keep is not None:
            allowed = allowed & cache.keep[:, None, :past + T]  # (B, T, L): skip padding
            # a padding query still sees itself: some SDPA kernels (and torch before 2.5)
            # turn an all-masked row into NaN, which would then spread through the values
            allowed = allowed | (k_slot == q_slot)
        else:
            allowed = allowed[None]  # (1, T, L)
        return allowed.unsqueeze(1), False  # (B or 1, 1, T, L)

    # ------------------------------------------------------------------------------------

    @torch.no_grad()
    def resize_token_embeddings(self, new_vocab: int) -> None:
        """Grow (or shrink) the vocabulary, e.g. for added special tokens like <|user|>.

        New rows start at the mean of the existing rows: a new token then looks like an
        average token to every layer, instead of a random vector of the wrong scale that
        the first updates have to undo. The LM head stays tied.
        """
        old = self.transformer.wte.weight  # (V, C)
        if new_vocab == old.size(0):
            return
        if new_vocab < 1:
            raise ValueError(f"vocabulary size must be at least 1, not {new_vocab}")
        keep = min(new_vocab, old.size(0))
        weight = old.new_empty(new_vocab, old.size(1))  # (new V, C)
        weight[:keep] = old[:keep]
        weight[keep:] = old.mean(dim=0, keepdim=True)
        self.transformer.wte = nn.Embedding.from_pretrained(weight, freeze=not old.requires_grad)
        self.lm_head.out_features = new_vocab
        self.tie_weights()
        self.config.vocab_size = new_vocab
