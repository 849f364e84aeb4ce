"""GPT-2 in plain torch against transformers' GPT2LMHeadModel (the oracle, tests only):
same logits from the same weights both ways through the checkpoint files, with and without
the KV cache, packed rows without cross-contamination, the sparse-head loss, and resizing
for added special tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import SHARED
from workbench import collate
from workbench.data.records import Example
from workbench.model import GPT, GPTConfig, KVCache, load_model, save_model
from workbench.model.toy import random_gpt
from workbench.templates import get_template
from workbench.tokenizer import ByteTokenizer

transformers = pytest.importorskip("transformers")

TINY = dict(n_layer=2, n_head=4, n_embd=32, n_positions=64, vocab_size=300)


def _hf_tiny(seed: int = 0):
    """A transformers GPT-2 with every parameter drawn at a visible scale: a transpose
    or a swapped weight anywhere would change the logits."""
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(**TINY, bos_token_id=256, eos_token_id=256)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.normal_(0.0, 0.3)
    hf.tie_weights()
    return hf


@pytest.fixture(scope="module")
def hf_and_ours(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf-tiny")
    hf = _hf_tiny()
    hf.save_pretrained(folder)
    ByteTokenizer().save(folder)
    return hf, load_model(folder), folder


def _ids(b=3, t=20, seed=1, vocab=300):
    return torch.randint(0, vocab, (b, t), generator=torch.Generator().manual_seed(seed))


def test_logits_equal_transformers_after_loading_its_checkpoint(hf_and_ours):
    hf, loaded, _ = hf_and_ours
    ids = _ids()
    with torch.no_grad():
        want = hf(ids).logits
        got = loaded.model(ids)
    assert got.shape == (3, 20, 300)
    assert want.abs().max() > 1.0  # the comparison is not between near-zero numbers
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    assert loaded.template is None and loaded.info["kind"] == "folder"
    assert loaded.model.lm_head.weight is loaded.model.transformer.wte.weight


def test_saved_model_loads_in_transformers_unchanged(tmp_path):
    ours = random_gpt(scale=0.3, seed=3, **{k: v for k, v in TINY.items()})
    folder = save_model(ours, ByteTokenizer(), tmp_path / "ours", template=get_template("alpaca"))
    hf = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    ids = _ids(seed=4)
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, ours(ids), atol=1e-4, rtol=0)
    import json
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["architectures"] == ["GPT2LMHeadModel"]
    assert config["n_ctx"] == config["n_positions"] == 64
    from safetensors import safe_open
    with safe_open(folder / "model.safetensors", "pt") as f:
        keys = set(f.keys())
        assert tuple(f.get_tensor("transformer.h.0.attn.c_attn.weight").shape) == (32, 96)  # Conv1D
    assert "lm_head.weight" not in keys  # tied: stored once
    assert not list(folder.glob(".*.tmp"))  # atomic writes leave no temp files behind


def test_kv_cache_incremental_decoding_equals_full_forward(hf_and_ours):
    hf, loaded, _ = hf_and_ours
    model = loaded.model
    ids = _ids(b=2, t=16, seed=5)
    with torch.no_grad():
        want = hf(ids).logits  # (2, 16, V), no cache
        cache = KVCache(model.config, 2, 16)
        parts = [model(ids[:, :6], cache=cache)]  # a prompt, then one token at a time,
        parts += [model(ids[:, t:t + 1], cache=cache) for t in range(6, 12)]
        parts.append(model(ids[:, 12:], cache=cache))  # then a block of several
    torch.testing.assert_close(torch.cat(parts, dim=1), want, atol=1e-4, rtol=0)
    assert cache.length == 16


def test_left_padded_cache_matches_each_prompt_alone():
    model = random_gpt(scale=0.3, seed=6)
    lengths = [9, 4, 1]
    prompts = [_ids(1, n, seed=10 + n)[0] for n in lengths]
    T0 = max(lengths)
    ids = torch.zeros(3, T0, dtype=torch.long)
    keep = torch.zeros(3, T0, dtype=torch.bool)
    for i, p in enumerate(prompts):
        ids[i, T0 - len(p):], keep[i, T0 - len(p):] = p, True
    positions = (keep.cumsum(1) - 1).clamp(min=0)
    nxt = _ids(3, 3, seed=20)
    with torch.no_grad():
        cache = KVCache(model.config, 3, T0 + 3, keep)
        first = model(ids, position_ids=positions, cache=cache)[:, -1]  # (3, V)
        steps = [model(nxt[:, s:s + 1], position_ids=torch.tensor(lengths)[:, None] + s,
                       cache=cache)[:, 0] for s in range(3)]
        for i, p in enumerate(prompts):
            alone = model(torch.cat([p, nxt[i]])[None])[0]  # (n + 3, V)
            torch.testing.assert_close(first[i], alone[len(p) - 1], atol=1e-5, rtol=0)
            for s in range(3):
                torch.testing.assert_close(steps[s][i], alone[len(p) + s], atol=1e-5, rtol=0)


def test_target_loss_is_cross_entropy_sum_over_targets_only(hf_and_ours):
    model = hf_and_ours[1].model
    ids = _ids(b=2, t=12, seed=7)
    labels = _ids(b=2, t=12, seed=8)
    labels[:, :7] = collate.IGNORE_INDEX  # the prompt part
    labels[1, 10:] = collate.IGNORE_INDEX  # padding
    loss_sum, n = model.target_loss(ids, labels)
    logits = model(ids)
    want = F.cross_entropy(logits.view(-1, 300), labels.view(-1), reduction="sum")
    torch.testing.assert_close(loss_sum, want, atol=1e-4, rtol=1e-6)
    assert int(n) == 5 + 3 and loss_sum.dtype == torch.float32
    loss_sum.backward()  # it trains: gradients reach the embeddings through the tied head
    assert model.transformer.wte.weight.grad is not None
    model.zero_grad(set_to_none=True)


def _packed_batch(tok, template, texts):
    examples = [Example.single(q, a, row=i) for i, (q, a) in enumerate(texts)]
    encoded = collate.encode_examples(examples, template, tok, max_len=64)
    plan = collate.plan_batches(encoded.lengths, 2, "packed", seed=0, max_len=64)
    return encoded, [collate.collate_plan(encoded, b, pad_id=tok.eos_id) for b in plan]


def test_packed_rows_do_not_leak_between_examples():
    model = random_gpt(scale=0.3, seed=9)
    tok, template = ByteTokenizer(), get_template("inst-resp")
    texts = [("hi", "hello there"), ("2+2?", "4"), ("name a colour", "blue"),
             ("why", "because it is"), ("ok", "fine"), ("count", "one two three")]
    encoded, batches = _packed_batch(tok, template, texts)
    assert any(b.packed and max(len(p) for p in b.parts) > 1 for b in batches)
    checked = 0
    with torch.no_grad():
        for batch in batches:
            t = batch.to_torch()
            logits = model(t["input_ids"], t["position_ids"], t.get("segment_ids"))
            for r, parts in enumerate(batch.parts):
                for idx, start, n in parts:
                    alone = torch.as_tensor(encoded[idx].ids[:-1], dtype=torch.long)[None]
                    torch.testing.assert_close(logits[r, start:start + n], model(alone)[0],
                                               atol=1e-5, rtol=0)
                    checked += 1
            # the packed loss is the sum of the examples' own losses
            loss, n_targets = model.target_loss(t["input_ids"], t["labels"], t["position_ids"],
                                                t.get("segment_ids"))
            want = 0.0
            for parts in batch.parts:
                for idx, _start, _n in parts:
                    one = collate.collate([[encoded[idx]]], pad_id=tok.eos_id).to_torch()
                    want += float(model.target_loss(one["input_ids"], one["labels"])[0])
            assert int(n_targets) == batch.n_targets
            assert float(loss) == pytest.approx(want, rel=1e-5)
    assert checked == len(texts)


def test_padding_rows_in_a_packed_batch_stay_finite():
    model = random_gpt(scale=0.3, seed=9)
    ids = _ids(1, 8, seed=2)
    seg = torch.tensor([[1, 1, 1, 2, 2, 0, 0, 0]])
    pos = torch.tensor([[0, 1, 2, 0, 1, 0, 0, 0]])
    with torch.no_grad():
        out = model(ids, pos, seg)
    assert torch.isfinite(out).all()


def test_resize_token_embeddings_starts_new_rows_at_the_mean_and_keeps_the_tie():
    model = random_gpt(scale=0.3, seed=11, vocab_size=260)
    old = model.transformer.wte.weight.detach().clone()
    model.resize_token_embeddings(263)
    new = model.transformer.wte.weight
    assert new.shape == (263, 32) and model.config.vocab_size == 263
    torch.testing.assert_close(new[:260], old)
    for row in range(260, 263):
        torch.testing.assert_close(new[row], old.mean(dim=0))
    assert model.lm_head.weight is new and new.requires_grad
    assert model(_ids(1, 5, seed=1, vocab=263)).shape == (1, 5, 263)


def test_added_special_tokens_survive_save_and_load(tmp_path):
    template = get_template("chatml")
    tok = collate.tokenizer_for(ByteTokenizer(), template)  # <|system|> <|user|> ... ids 257+
    model = random_gpt(scale=0.3, seed=12, vocab_size=257)
    model.resize_token_embeddings(tok.n_vocab)
    save_model(model, tok, tmp_path / "ck", template=template, extra={"step": 3})
    loaded = load_model(tmp_path / "ck")
    assert loaded.tokenizer.special_tokens == tok.special_tokens
    assert loaded.tokenizer.added == tok.added == list(template.special_tokens)
    assert loaded.template == template
    torch.testing.assert_close(loaded.model.transformer.wte.weight, model.transformer.wte.weight)
    ids = loaded.tokenizer.special_id("<|user|>")
    assert ids == tok.special_id("<|user|>") < loaded.model.config.vocab_size


def test_added_special_tokens_with_gpt2_bpe(tmp_path, gpt2_tok):
    template = get_template("chatml")
    tok = collate.tokenizer_for(gpt2_tok, template)
    model = random_gpt(vocab_size=50257, n_embd=16, n_head=2, n_layer=1, seed=13)
    model.resize_token_embeddings(tok.n_vocab)
    save_model(model, tok, tmp_path / "ck", template=template)
    loaded = load_model(tmp_path / "ck")
    assert loaded.tokenizer.special_tokens == tok.special_tokens
    assert [loaded.tokenizer.special_id(m) for m in template.special_tokens] == [
        50257, 50258, 50259, 50260]
    text = "<|user|>\nhi<|end|>"
    assert loaded.tokenizer.encode(text, "all") == tok.encode(text, "all")
    torch.testing.assert_close(loaded.model.transformer.wte.weight[50257:],
                               model.transformer.wte.weight[50257:])


# ----------------------------------------------------------------------------------------
# A real pretrained checkpoint, when one is present beside the repository.

def _real_checkpoints() -> list[Path]:
    root = SHARED / "models"
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob("config.json")
                  if (p.parent / "model.safetensors").exists()
                  or (p.parent / "pytorch_model.bin").exists())


def test_real_pretrained_checkpoint_greedy_tokens_equal_transformers():
    found = _real_checkpoints()
    if not found:
        pytest.skip(f"no pretrained GPT-2 checkpoint under {SHARED / 'models'} "
                    "(a folder with config.json and model.safetensors or pytorch_model.bin)")
    from workbench.generate import GenerationConfig, generate

    folder = found[0]
    loaded = load_model(folder)
    hf = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    prompt = loaded.tokenizer.encode("The meaning of life is")
    ours = generate(loaded.model, loaded.tokenizer, [prompt], GenerationConfig(max_new_tokens=20),
                    stop_ids=())[0].token_ids
    with torch.no_grad():
        out = hf.generate(torch.tensor([prompt]), max_new_tokens=20, do_sample=False,
                          eos_token_id=None, pad_token_id=loaded.tokenizer.eos_id)
    assert ours == out[0, len(prompt):].tolist()


def test_model_config_rejects_bad_head_count():
    with pytest.raises(ValueError):
        GPTConfig(n_embd=30, n_head=4)
    assert GPT(GPTConfig(**TINY)).num_params() > 0


@pytest.mark.parametrize("batcher", ["packed", "grouped"])
def test_bf16_autocast_on_the_cpu_trains_every_layout(batcher):
    """Under CPU bf16 autocast (dtype auto picks it on CPUs with fast bf16) packed rows and
    padded rows run forward and backward, and the loss stays near fp32's."""
    torch.manual_seed(0)
    model = GPT(GPTConfig(**TINY))
    ids = torch.randint(0, 300, (2, 24))
    segment_ids = (torch.tensor([[1] * 10 + [2] * 14, [1] * 20 + [0] * 4])
                   if batcher == "packed" else None)
    labels = ids.clone()
    losses = {}
    for dtype in (None, torch.bfloat16):
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype is not None):
            loss_sum, n = model.target_loss(ids, labels, segment_ids=segment_ids)
        (loss_sum / n).backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all()
                   for p in model.parameters() if p.requires_grad)
        losses[dtype] = float(loss_sum / n)
    assert abs(losses[None] - losses[torch.bfloat16]) < 0.05 * losses[None]
