"""LoRA: only the adapter trains and is saved, in PEFT's layout, so `peft` loads it onto the
`transformers` base model and gives the same outputs; `workbench merge` writes a full model;
a LoRA run resumes exactly; the base behind an adapter is usable without a second copy."""

from __future__ import annotations

import json
import threading

import pytest
import torch

from workbench.cli import main
from workbench.model import GPT, GPTConfig, load_model, save_model
from workbench.tokenizer import ByteTokenizer
from workbench.train import loop
from workbench.train.config import TrainConfig

transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))


def base_folder(tmp_path, family: str = "gpt2"):
    """A random base model saved in the Hugging Face layout (what a Hub model looks like)."""
    torch.manual_seed(0)
    if family == "gpt2":
        config = GPTConfig(n_layer=2, n_head=2, n_embd=32, n_positions=128, vocab_size=ByteTokenizer().n_vocab)
    else:
        config = GPTConfig(family="gpt_neo", n_layer=2, n_head=4, n_embd=32, n_positions=256,
                           vocab_size=ByteTokenizer().n_vocab, attention_layers=("global", "local"),
                           window_size=16)
    folder = tmp_path / f"base-{family}"
    save_model(GPT(config), ByteTokenizer(), folder)
    return folder


@pytest.fixture
def data(tmp_path):
    rows = [{"instruction": f"Name a {k}", "input": "", "output": f"A {w} is a {k}."}
            for k, w in [("colour", "red"), ("fruit", "pear"), ("tree", "oak"), ("bird", "owl")] * 8]
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def lora_config(base, data, **kw) -> TrainConfig:
    values = dict(model=str(base), data=str(data), template="inst-resp", max_len=120, batch_size=4,
                  lr=5e-3, max_steps=6, save_every=3, eval_every=3, sample_every=0,
                  device="cpu", threads=1, lora_r=4, lora_alpha=8.0, val_ratio=0.1)
    values.update(kw)
    return TrainConfig(**values)


@pytest.mark.parametrize("family,targets", [("gpt2", ("c_attn",)), ("gpt_neo", ("q_proj", "v_proj"))])
def test_only_the_adapter_trains_and_peft_loads_it(tmp_path, data, family, targets):
    base = base_folder(tmp_path, family)
    session = tmp_path / "s"
    assert loop.run(lora_config(base, data), session) == "finished"
    ckpt = session / "checkpoints" / "step-6"
    names = {p.name for p in ckpt.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "workbench.json"} <= names
    assert "model.safetensors" not in names  # the base is not copied
    adapter = json.loads((ckpt / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and adapter["lora_alpha"] == 8.0
    assert adapter["target_modules"] == list(targets)
    assert adapter["fan_in_fan_out"] is (family == "gpt2")
    assert json.loads((ckpt / "workbench.json").read_text())["lora"]["base"] == str(base)

    ours = load_model(ckpt)
    base_model = load_model(base)
    # the base weights did not move; the adapter did
    lora_sd = ours.model.state_dict()
    V = base_model.model.config.vocab_size  # the template's <INST>/<RESP> rows come after
    for key, value in base_model.model.state_dict().items():
        assert torch.equal(lora_sd[key][:V] if key.endswith(("wte.weight", "lm_head.weight"))
                           else lora_sd[key], value), key
    assert any(float(m.lora_B.weight.detach().abs().sum()) > 0 for m in ours.model.modules()
               if hasattr(m, "lora_B"))

    hf_cls = (transformers.GPT2LMHeadModel if family == "gpt2"
              else transformers.GPTNeoForCausalLM)
    hf = peft.PeftModel.from_pretrained(hf_cls.from_pretrained(base), ckpt).eval()
    ids = torch.randint(0, 256, (2, 40))
    with torch.no_grad():
        want = hf(ids).logits
        got = ours.model(ids)[..., :V]
        plain = base_model.model(ids)
    assert torch.allclose(got, want, atol=1e-5, rtol=0), (got - want).abs().max()
    assert not torch.allclose(got, plain, atol=1e-4)  # the adapter changes the outputs

    # merge: a full model that transformers loads alone, with the same outputs
    assert main(["merge", "s@step-6", "--sessions", str(tmp_path), "--out",
                 str(tmp_path / "merged")]) == 0
    merged = hf_cls.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits[..., :V], want, atol=1e-5, rtol=0)


def test_a_lora_run_resumes_exactly(tmp_path, data):
    base = base_folder(tmp_path)
    config = lora_config(base, data, max_steps=8, save_every=2, keep_last=5)
    assert loop.run(config, tmp_path / "straight") == "finished"
    stop = threading.Event()

    def on_step(m):
        if m["step"] == 4:
            stop.set()

    assert loop.run(config, tmp_path / "resumed", stop=stop, on_step=on_step) == "stopped"
    assert loop.run(config, tmp_path / "resumed", resume=True) == "finished"
    a = load_model(tmp_path / "straight" / "checkpoints" / "step-8").model.state_dict()
    b = load_model(tmp_path / "resumed" / "checkpoints" / "step-8").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_special_tokens_and_the_base_view(tmp_path, data):
    """chatml adds tokens: their embedding rows are restored exactly from the checkpoint;
    the base behind the adapter answers as the base model, from the same weights."""
    from workbench.model.lora import AdaptersOff

    base = base_folder(tmp_path)
    chat = tmp_path / "chat.jsonl"
    chat.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                     {"role": "assistant", "content": "hello"}]})
                            + "\n" for i in range(16)))
    session = tmp_path / "c"
    assert loop.run(lora_config(base, chat, template="chatml"), session) == "finished"
    ours = load_model(session / "checkpoints" / "step-6")
    assert ours.model.config.vocab_size > ByteTokenizer().n_vocab and ours.template.name == "chatml"
    plain = load_model(base)
    plain.model.resize_token_embeddings(ours.model.config.vocab_size)
    view = AdaptersOff(ours.model)
    ids = torch.randint(0, ours.model.config.vocab_size, (1, 30))
    with torch.no_grad():
        assert torch.allclose(view(ids), plain.model(ids), atol=1e-6)
        assert not torch.allclose(ours.model(ids), plain.model(ids), atol=1e-4)
    shared = {id(p) for p in view.parameters()} & {id(p) for p in ours.model.parameters()}
    assert len(shared) == len(list(ours.model.parameters()))  # one copy of the weights


def test_lora_flags_and_bad_targets(tmp_path, data, capsys):
    base = base_folder(tmp_path)
    code = main(["train", "--model", str(base), "--data", str(data), "--template", "inst-resp",
                 "--lora-r", "4", "--lora-alpha", "8", "--lora-targets", "nope",
                 "--max-steps", "1", "--max-len", "64", "--sessions", str(tmp_path / "sessions"),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "lora_targets nope: no such linear layer" in err and "c_attn" in err


def test_generate_and_compare_load_a_lora_session_with_one_base(tmp_path, data, capsys):
    from workbench.model.load import load_pair
    from workbench.model.lora import AdaptersOff

    base = base_folder(tmp_path)
    sessions = tmp_path / "sessions"
    assert loop.run(lora_config(base, data), sessions / "lo", sessions_dir=sessions) == "finished"
    b, s = load_pair(str(base), "lo@step-6", sessions_dir=sessions)
    assert isinstance(b.model, AdaptersOff) and b.model.inner is s.model
    assert s.info["lora"]["r"] == 4 and b.source == s.info["base"]
    code = main(["generate", "--model", "lo", "--sessions", str(sessions), "--prompt", "Name a tree",
                 "--max-new-tokens", "4", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["lora"]["r"] == 4 and out["prompt_ids"] and out["template"] == "inst-resp"
    prompts = tmp_path / "p.txt"
    prompts.write_text("Name a tree\nName a bird\n")
    code = main(["compare", "--base", str(base), "--sft", "lo", "--sessions", str(sessions),
                 "--prompts", str(prompts), "--max-new-tokens", "4", "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(lines) == 3 and "summary" in json.loads(lines[-1])
