"""Inference shortcuts of the model, each against the plain computation.

The linear layers at inference on the CPU go through oneDNN (faster fp32 matrix-vector
products than MKL's on the CPUs we measured); training and other dtypes keep F.linear. Both
must give the same numbers, and a torch whose oneDNN op fails must still generate.
`hidden(select=...)` computes the last block's output only where it is asked for; those
rows must equal the full computation's."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from workbench.generate import GenerationConfig, generate
from workbench.model import gpt2
from workbench.model.gpt2 import KVCache
from workbench.model.toy import random_gpt
from workbench.tokenizer import ByteTokenizer

needs_onednn = pytest.mark.skipif(
    not gpt2._onednn_ok(), reason="this torch build has no oneDNN linear (the F.linear path "
    "is what runs here, and the rest of the suite tests it)")


class _Spy:
    """Counts calls to the oneDNN op and passes them on (or fails them on purpose)."""

    def __init__(self, real, fail: bool = False) -> None:
        self.real, self.fail, self.calls = real, fail, 0

    def __call__(self, *args):
        self.calls += 1
        if self.fail:
            raise RuntimeError("oneDNN says no")
        return self.real(*args)


@pytest.fixture
def spy(monkeypatch):
    s = _Spy(torch.ops.mkldnn._linear_pointwise)
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", s)
    monkeypatch.setitem(gpt2._ONEDNN, "ok", gpt2._onednn_ok())  # restored after the test
    return s


def _layer(n_in=48, n_out=80, seed=0):
    torch.manual_seed(seed)
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.bias.normal_(0, 0.5)
    return layer


@needs_onednn
@pytest.mark.parametrize("gelu", [False, True])
@pytest.mark.parametrize("shape", [(1, 48), (8, 48), (3, 5, 48)])
def test_inference_linear_uses_onednn_and_equals_f_linear(spy, gelu, shape):
    layer, x = _layer(), torch.randn(*shape)
    want = F.linear(x, layer.weight, layer.bias)
    if gelu:
        want = F.gelu(want, approximate="tanh")
    with torch.inference_mode():
        got = gpt2.linear(layer, x, gelu=gelu)
    with torch.no_grad():
        got_no_grad = gpt2.linear(layer, x, gelu=gelu)
    assert spy.calls == 2
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_no_grad, want, rtol=1e-5, atol=1e-5)


@needs_onednn
def test_training_and_other_dtypes_keep_f_linear(spy):
    layer, x = _layer(), torch.randn(4, 48)
    y = gpt2.linear(layer, x, gelu=True)  # grad enabled: the op has no backward
    y.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    with torch.no_grad():
        half = gpt2.linear(layer.to(torch.bfloat16), x.to(torch.bfloat16))
        assert half.dtype == torch.bfloat16
        with torch.autocast("cpu", dtype=torch.bfloat16):
            gpt2.linear(layer.float(), x)
    assert spy.calls == 0


@needs_onednn
def test_generation_uses_onednn_and_gives_the_same_tokens_as_f_linear(spy, monkeypatch):
    model, tok = random_gpt(scale=0.3, seed=5, vocab_size=257), ByteTokenizer()
    prompts = [list(b"one prompt"), list(b"and another, longer")]
    cfg = GenerationConfig(max_new_tokens=10)
    fast = [r.token_ids for r in generate(model, tok, prompts, cfg, stop_ids=())]
    assert spy.calls > 0
    monkeypatch.setitem(gpt2._ONEDNN, "ok", False)
    plain = [r.token_ids for r in generate(model, tok, prompts, cfg, stop_ids=())]
    assert fast == plain


def test_a_failing_onednn_op_falls_back_to_f_linear_for_good(monkeypatch):
    failing = _Spy(None, fail=True)
    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", failing, raising=False)
    monkeypatch.setitem(gpt2._ONEDNN, "ok", True)
    layer, x = _layer(), torch.randn(2, 48)
    with torch.no_grad():
        got = gpt2.linear(layer, x, gelu=True)
        again = gpt2.linear(layer, x)
    assert failing.calls == 1 and gpt2._ONEDNN["ok"] is False
    torch.testing.assert_close(got, F.gelu(F.linear(x, layer.weight, layer.bias),
                                           approximate="tanh"))
    torch.testing.assert_close(again, F.linear(x, layer.weight, layer.bias))


@needs_onednn
def test_wrong_inputs_raise_and_keep_onednn_on(spy):
    layer = _layer()
    with torch.no_grad(), pytest.raises(RuntimeError):
        gpt2.linear(layer, torch.randn(2, 47))  # 47 features, the layer takes 48
    assert gpt2._ONEDNN["ok"] is True
    with torch.no_grad():
        gpt2.linear(layer, torch.randn(2, 48))
    assert spy.calls == 2


@pytest.mark.parametrize("path", ["causal", "packed", "left-padded cache"])
def test_hidden_at_selected_positions_equals_the_full_computation(path):
    model = random_gpt(scale=0.3, seed=6, vocab_size=257)
    ids = torch.randint(0, 257, (3, 9), generator=torch.Generator().manual_seed(0))
    kw: dict = {}
    if path == "packed":
        kw["segment_ids"] = torch.tensor([[1, 1, 1, 1, 2, 2, 2, 2, 2]] * 2 + [[1] * 6 + [0] * 3])
        kw["position_ids"] = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3, 4]] * 2 + [[*range(6), 0, 0, 0]])
    select = torch.tensor([3, 8, 13, 23])  # flat positions: row 0 slots 3 and 8, row 1, row 2
    with torch.no_grad():
        if path == "left-padded cache":
            keep = torch.ones(3, 9, dtype=torch.bool)
            keep[1, :4] = False
            full = model.hidden(ids, cache=KVCache(model.config, 3, 12, keep))
            cache = KVCache(model.config, 3, 12, keep)
            some = model.hidden(ids, cache=cache, select=select)
            assert cache.length == 9  # every position's keys and values are stored
            after = model.hidden(ids[:, :1], cache=cache)  # and decoding goes on from them
            fresh = _filled(model, ids, keep)
            torch.testing.assert_close(after, model.hidden(ids[:, :1], cache=fresh))
        else:
            full = model.hidden(ids, **kw)
            some = model.hidden(ids, **kw, select=select)
    assert some.shape == (4, model.config.n_embd)
    torch.testing.assert_close(some, full.reshape(-1, full.size(-1))[select],
                               rtol=1e-5, atol=1e-5)


def _filled(model, ids, keep):
    cache = KVCache(model.config, ids.size(0), 12, keep)
    model.hidden(ids, cache=cache)
    return cache
