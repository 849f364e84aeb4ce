"""GPT-Neo (the TinyStories models) against `transformers` as the oracle, on random-init
models built from the real configs of TinyStories-1M, -8M and -33M (the vocabulary cut to
1,000 ids so the tests stay fast): logits within 1e-4 in fp32 with a prompt longer than
the local window, greedy tokens equal with the KV cache across the window, packed rows equal
to one example per row, and a checkpoint saved by the workbench loads in `transformers`."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")

from workbench.model import load_model, save_model  # noqa: E402
from workbench.tokenizer import ByteTokenizer  # noqa: E402

# the real configs (config.json of roneneldan/TinyStories-*), vocabulary cut
CONFIGS = {
    "1M": dict(hidden_size=64, num_layers=8, num_heads=16),
    "8M": dict(hidden_size=256, num_layers=8, num_heads=16),
    "33M": dict(hidden_size=768, num_layers=4, num_heads=16),
}
COMMON = dict(attention_types=[[["global", "local"], 0]], window_size=256,
              max_position_embeddings=2048, vocab_size=1000, intermediate_size=None,
              activation_function="gelu_new", resid_dropout=0.0, embed_dropout=0.0,
              attention_dropout=0.0, layer_norm_epsilon=1e-5, bos_token_id=256,
              eos_token_id=256)


def hf_neo(size: str, seed: int = 0):
    cfg = dict(COMMON, **CONFIGS[size])
    cfg["attention_types"] = [[["global", "local"], cfg["num_layers"] // 2]]
    torch.manual_seed(seed)
    model = transformers.GPTNeoForCausalLM(transformers.GPTNeoConfig(**cfg)).eval()
    with torch.no_grad():  # a random init with the scale of a trained model's weights
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model


@pytest.fixture(scope="module", params=["1M", "8M", "33M"])
def pair(request, tmp_path_factory):
    """(transformers model, the workbench's load of its save_pretrained folder)."""
    hf = hf_neo(request.param)
    folder = tmp_path_factory.mktemp(f"neo-{request.param}")
    hf.save_pretrained(folder, safe_serialization=True)
    ByteTokenizer().save(folder)
    return hf, load_model(folder)


def test_logits_equal_with_a_prompt_longer_than_the_window(pair):
    hf, ours = pair
    assert ours.model.config.family == "gpt_neo"
    assert ours.model.config.attention_layers[:2] == ("global", "local")
    ids = torch.randint(0, 1000, (2, 300))  # 300 > window 256: local layers differ from global
    with torch.no_grad():
        want = hf(ids).logits
        got = ours.model(ids)
    assert torch.allclose(got, want, atol=1e-4, rtol=0), (got - want).abs().max()


def test_greedy_tokens_equal_with_the_cache_across_the_window(pair):
    from workbench.generate import GenerationConfig, generate

    hf, ours = pair
    prompt = torch.randint(0, 256, (1, 250))  # the cache crosses the window while decoding
    with torch.no_grad():
        # the workbench never generates an id its tokenizer lacks (257 byte ids here)
        want = hf.generate(prompt, max_new_tokens=20, do_sample=False, pad_token_id=256,
                           eos_token_id=None, min_new_tokens=20,
                           suppress_tokens=list(range(257, 1000)))[0, 250:].tolist()
    for use_cache in (True, False):
        got = generate(ours.model, ours.tokenizer, [prompt[0].tolist()],
                       GenerationConfig(max_new_tokens=20, use_cache=use_cache), stop_ids=())[0]
        assert got.token_ids == want, use_cache


def test_packed_rows_equal_one_example_per_row(pair):
    """Two examples in one packed row: each sees only itself (the windows restart with it)."""
    _hf, ours = pair
    a, b = torch.randint(0, 1000, (270,)), torch.randint(0, 1000, (40,))
    row = torch.cat([a, b])[None]
    seg = torch.cat([torch.full((270,), 1), torch.full((40,), 2)])[None]
    pos = torch.cat([torch.arange(270), torch.arange(40)])[None]
    labels = torch.cat([a[1:], torch.tensor([-100]), b[1:], torch.tensor([-100])])[None]
    with torch.no_grad():
        packed, n = ours.model.target_loss(row, labels, pos, seg)
        la, na = ours.model.target_loss(a[None], torch.cat([a[1:], torch.tensor([-100])])[None])
        lb, nb = ours.model.target_loss(b[None], torch.cat([b[1:], torch.tensor([-100])])[None])
    assert int(n) == int(na) + int(nb)
    assert torch.allclose(packed, la + lb, rtol=1e-5), (packed, la + lb)


def test_a_workbench_checkpoint_loads_in_transformers(pair, tmp_path):
    hf, ours = pair
    save_model(ours.model, ours.tokenizer, tmp_path / "out")
    back = transformers.GPTNeoForCausalLM.from_pretrained(tmp_path / "out").eval()
    ids = torch.randint(0, 1000, (1, 280))
    with torch.no_grad():
        assert torch.allclose(back(ids).logits, hf(ids).logits, atol=1e-5, rtol=0)


def test_training_a_neo_model_from_the_workbench(tmp_path):
    """Fine-tune a GPT-Neo folder for a few steps, resume, and generate from the session."""
    import json

    from workbench.train import loop
    from workbench.train.config import TrainConfig

    hf = hf_neo("1M")
    hf.save_pretrained(tmp_path / "base", safe_serialization=True)
    ByteTokenizer().save(tmp_path / "base")
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"instruction": f"say {w}", "input": "", "output": w}) + "\n"
                            for w in ["cat", "dog", "owl", "bee"] * 8))
    config = TrainConfig(model=str(tmp_path / "base"), data=str(data), template="inst-resp",
                         max_len=64, batch_size=4, max_steps=6, save_every=3, eval_every=3,
                         lr=1e-3, device="cpu", threads=1, sample_every=0)
    assert loop.run(config, tmp_path / "s") == "finished"
    loaded = load_model(tmp_path / "s" / "checkpoints" / "step-6")
    assert loaded.model.config.family == "gpt_neo" and loaded.template.name == "inst-resp"
    back = transformers.GPTNeoForCausalLM.from_pretrained(tmp_path / "s" / "checkpoints" / "step-6")
    ids = torch.randint(0, 259, (1, 30))
    with torch.no_grad():
        assert torch.allclose(back(ids).logits, loaded.model(ids), atol=1e-4, rtol=0)


def test_a_neo_hub_id_loads_from_the_hf_cache_offline(tmp_path, monkeypatch):
    """A TinyStories-like repo in an HF cache built here: loaded by its Hub id with
    HF_HUB_OFFLINE=1, no network."""
    import huggingface_hub.constants as hub

    commit = "c" * 40
    hf = hf_neo("1M")
    repo = tmp_path / "hub" / "models--roneneldan--TinyStories-1M"
    snap = repo / "snapshots" / commit
    hf.save_pretrained(snap, safe_serialization=True)
    ByteTokenizer().save(snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    loaded = load_model("roneneldan/TinyStories-1M")
    assert loaded.info["kind"] == "hub" and loaded.model.config.family == "gpt_neo"
    ids = torch.randint(0, 1000, (1, 20))
    with torch.no_grad():
        assert torch.allclose(loaded.model(ids), hf(ids).logits, atol=1e-4, rtol=0)
