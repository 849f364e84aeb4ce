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
