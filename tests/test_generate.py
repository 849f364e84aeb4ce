"""Generation: batched greedy equals one-by-one and transformers; seeded sampling; every
stop reason on purpose (a scripted tiny model spells what it will say); streaming with
cancel; the context limit; and the template path the CLI, chat and compare use."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import torch

from conftest import ROOT
from workbench.data.records import Example
from workbench.errors import WorkbenchError
from workbench.generate import (GenerationConfig, GenerationResult, StreamToken, generate,
                                generate_for_examples, stream, stream_for_example)
from workbench.model import LoadedModel
from workbench.model.toy import random_gpt, scripted_gpt
from workbench.templates import get_template
from workbench.tokenizer import ByteTokenizer

TOK = ByteTokenizer()  # ids 0-255 bytes, 256 <|endoftext|>
EOT = TOK.eos_id


def _b(text: str) -> list[int]:
    return list(text.encode("utf-8"))


def _greedy(n, **kw):
    return GenerationConfig(max_new_tokens=n, **kw)


@pytest.fixture(scope="module")
def rand():
    return random_gpt(scale=0.3, seed=3, vocab_size=257, n_positions=64)


PROMPTS = [_b("hello there"), _b("hi"), _b("a much longer prompt, yes"), _b("x")]


def test_batched_greedy_equals_one_by_one_and_recomputation(rand):
    batch = generate(rand, TOK, PROMPTS, _greedy(12), stop_ids=())
    for prompt, res in zip(PROMPTS, batch):
        alone = generate(rand, TOK, [prompt], _greedy(12), stop_ids=())[0]
        assert res.token_ids == alone.token_ids and len(res.token_ids) == 12
        assert res.prompt_tokens == len(prompt) and res.new_tokens == 12
    slow = generate(rand, TOK, PROMPTS, _greedy(12, use_cache=False), stop_ids=())
    assert [r.token_ids for r in slow] == [r.token_ids for r in batch]
    assert len({tuple(r.token_ids) for r in batch}) > 1  # the prompts matter


def test_batched_greedy_equals_transformers_generate(rand, tmp_path):
    transformers = pytest.importorskip("transformers")
    from workbench.model import save_model

    save_model(rand, TOK, tmp_path)
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    width = max(map(len, PROMPTS))
    ids = torch.zeros(len(PROMPTS), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(PROMPTS):
        ids[i, width - len(p):], mask[i, width - len(p):] = torch.tensor(p), 1
    with torch.no_grad():
        out = hf.generate(ids, attention_mask=mask, max_new_tokens=10, do_sample=False,
                          pad_token_id=0, eos_token_id=None)
    ours = generate(rand, TOK, PROMPTS, _greedy(10), stop_ids=())
    assert [r.token_ids for r in ours] == out[:, width:].tolist()


def test_seeded_sampling_is_reproducible():
    model = random_gpt(vocab_size=257, seed=4)  # GPT-2 init: flat distributions
    cfg = GenerationConfig(max_new_tokens=16, temperature=1.0, seed=7)
    a = generate(model, TOK, PROMPTS[:2], cfg, stop_ids=())
    b = generate(model, TOK, PROMPTS[:2], cfg, stop_ids=())
    c = generate(model, TOK, PROMPTS[:2], GenerationConfig(max_new_tokens=16, temperature=1.0,
                                                           seed=8), stop_ids=())
    assert [r.token_ids for r in a] == [r.token_ids for r in b]
    assert [r.token_ids for r in a] != [r.token_ids for r in c]
    greedy = generate(model, TOK, PROMPTS[:2], _greedy(16), stop_ids=())
    assert [r.token_ids for r in a] != [r.token_ids for r in greedy]


def test_top_k_one_and_tiny_top_p_are_greedy(rand):
    greedy = [r.token_ids for r in generate(rand, TOK, PROMPTS, _greedy(10), stop_ids=())]
    for cfg in (GenerationConfig(max_new_tokens=10, temperature=1.5, top_k=1, seed=1),
                GenerationConfig(max_new_tokens=10, temperature=1.5, top_p=1e-6, seed=1)):
        assert [r.token_ids for r in generate(rand, TOK, PROMPTS, cfg, stop_ids=())] == greedy


def test_repetition_penalty_avoids_tokens_already_seen():
    model = scripted_gpt(_b("a"), vocab_size=257)  # says "aaaa..." whatever it is given
    plain = generate(model, TOK, [_b("b")], _greedy(6), stop_ids=())[0]
    assert plain.text == "aaaaaa"
    penalised = generate(model, TOK, [_b("b")], _greedy(6, repetition_penalty=50.0),
                         stop_ids=())[0]
    assert penalised.text[0] == "a" and _b("b")[0] not in penalised.token_ids
    assert len(set(penalised.token_ids)) == 6  # every repeat is penalised


# ----------------------------------------------------------------------------------------
# Stop reasons, on purpose


SCRIPT = _b("Sure: 42.\n\n### Instruction:\nmore") + [EOT]


@pytest.fixture(scope="module")
def talker():
    return scripted_gpt(SCRIPT, vocab_size=260, n_positions=64)


def test_stops_at_the_end_token_which_is_not_in_the_text(talker):
    res = generate(talker, TOK, [_b("Q")], _greedy(50))[0]  # default stop: <|endoftext|>
    assert res.stop_reason == "end" and res.token_ids[-1] == EOT
    assert res.text == "Sure: 42.\n\n### Instruction:\nmore"
    assert res.new_tokens == len(SCRIPT) and res.stop_string is None


def test_stops_on_a_multi_token_stop_string_matched_on_text(talker):
    cfg = _greedy(50, stop_strings=("### Instruction:", "never"))
    res = generate(talker, TOK, [_b("Q")], cfg)[0]
    assert res.stop_reason == "stop_string" and res.stop_string == "### Instruction:"
    assert res.text == "Sure: 42.\n\n### Instruction:"  # kept: diagnostics show the leak
    assert res.clean_text == "Sure: 42.\n\n"
    assert res.new_tokens == len(_b("Sure: 42.\n\n### Instruction:"))


def test_stops_at_max_new_tokens(talker):
    res = generate(talker, TOK, [_b("Q")], _greedy(4))[0]
    assert (res.stop_reason, res.text, res.context_full) == ("length", "Sure", False)


@pytest.mark.parametrize("use_cache", [True, False])
def test_each_sequence_of_a_batch_stops_for_its_own_reason(talker, use_cache):
    cfg = _greedy(40, stop_strings=("### Instruction:",), use_cache=use_cache)
    # the script is indexed by position: a longer prompt starts later in it
    results = generate(talker, TOK, [_b("Q"), _b("Q" * 28), _b("Q" * 33)], cfg)
    assert [r.stop_reason for r in results] == ["stop_string", "end", "end"]
    assert results[1].text == "\nmore" and results[2].text == ""


def test_never_emits_an_id_the_tokenizer_does_not_know():
    model = scripted_gpt([280], vocab_size=300)  # wants id 280; the tokenizer stops at 256
    res = generate(model, TOK, [_b("hi")], _greedy(5), stop_ids=())[0]
    assert all(0 <= t < TOK.n_vocab for t in res.token_ids)


# ----------------------------------------------------------------------------------------
# The context


def test_a_prompt_longer_than_the_context_is_refused_not_cut(talker):
    with pytest.raises(WorkbenchError, match="65 tokens, more than the model's 64-position"):
        generate(talker, TOK, [_b("x" * 65)], _greedy(5))


def test_generation_stops_where_the_context_ends(talker):
    res = generate(talker, TOK, [_b("x" * 62)], _greedy(10), stop_ids=())[0]
    # 62 prompt positions + 2 fed back = 64; the third new token needs no position
    assert res.new_tokens == 3 and res.stop_reason == "length" and res.context_full
    full = generate(talker, TOK, [_b("x" * 64)], _greedy(10), stop_ids=())[0]
    assert full.new_tokens == 1 and full.context_full


# ----------------------------------------------------------------------------------------
# Streaming


def test_stream_yields_tokens_then_the_result_and_the_text_adds_up(talker):
    items = list(stream(talker, TOK, _b("Q"), _greedy(50, stop_strings=("### Instruction:",))))
    *tokens, result = items
    assert all(isinstance(t, StreamToken) for t in tokens)
    assert isinstance(result, GenerationResult) and result.stop_reason == "stop_string"
    assert [t.token_id for t in tokens] == result.token_ids
    assert "".join(t.text for t in tokens) == result.text


def test_stream_holds_back_half_a_utf8_character():
    model = scripted_gpt(_b("é!"), vocab_size=257)
    tokens = [t for t in stream(model, TOK, _b("Q"), _greedy(3), stop_ids=())
              if isinstance(t, StreamToken)]
    assert [t.text for t in tokens] == ["", "é", "!"]


def test_stream_cancel_from_another_thread_stops_it(rand):
    cancel = threading.Event()
    seen: list = []

    def worker():
        for item in stream(rand, TOK, _b("hi"), _greedy(50), stop_ids=(), cancel=cancel):
            seen.append(item)
            if len(seen) == 3:
                cancel.set()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(timeout=60)
    result = seen[-1]
    assert result.stop_reason == "cancelled" and result.new_tokens == 3
    assert not torch.is_inference_mode_enabled()


# ----------------------------------------------------------------------------------------
# With a template


def _loaded(model, template=None):
    return LoadedModel(model, TOK, template, "test-model", {"device": "cpu"})


def test_generate_for_examples_renders_the_training_prefix_and_uses_template_stops():
    template = get_template("alpaca")  # stop strings include "### Instruction:"
    examples = [Example.single("Say something", row=0),
                Example.single("Add", "", input="40 and 2", row=1)]
    # the script repeats: whatever the prompt's length, the model soon leaks a marker
    script = _b("Sure.\n### Instruction:\n")
    talker = scripted_gpt(script, vocab_size=260, n_positions=256)
    results = generate_for_examples(_loaded(talker, template), template, examples,
                                    _greedy(60))
    from workbench.collate import encode_segments
    for ex, res in zip(examples, results):
        prompt = encode_segments(template.render_prompt(ex), TOK)[0]
        assert res.prompt_tokens == len(prompt)
        assert res.stop_reason == "stop_string" and res.new_tokens < 2 * len(script)
        assert res.text == res.clean_text + "### Instruction:"
    assert results[0].prompt_tokens != results[1].prompt_tokens


def test_template_special_tokens_grow_a_base_model_and_end_tokens_stop():
    template = get_template("chatml")  # <|end|> closes answers
    end_id = 257 + template.special_tokens.index("<|end|>")
    base = random_gpt(vocab_size=257, seed=5)  # a base model: no embedding for <|end|>
    res = generate_for_examples(_loaded(base, template), template, [Example.single("hi")],
                                _greedy(3))[0]
    assert base.config.vocab_size == 261  # grown for <|system|> <|user|> <|assistant|> <|end|>
    assert res.prompt_tokens == 7  # <|user|> "\nhi\n" <|assistant|> "\n"
    # a model that says "kk..." up to position 9, then <|end|>
    talker = scripted_gpt([ord("k")] * 9 + [end_id] * 55, vocab_size=261)
    res = generate_for_examples(_loaded(talker, template), template, [Example.single("hi")],
                                _greedy(20))[0]
    assert res.stop_reason == "end" and res.token_ids == [ord("k")] * 3 + [end_id]
    assert res.text == "kkk"


def test_stream_for_example_refuses_a_prompt_longer_than_the_context(talker):
    template = get_template("alpaca")
    with pytest.raises(WorkbenchError, match="row 4: the prompt has .* tokens with template "
                                              "alpaca, more than the 64-position context"):
        list(stream_for_example(_loaded(talker, template), template,
                                Example.single("long " * 40, row=4)))


def test_bad_generation_settings_are_one_line_errors():
    for kw in ({"max_new_tokens": 0}, {"temperature": -1}, {"top_k": -2}, {"top_p": 0},
               {"top_p": 1.5}, {"repetition_penalty": 0}):
        with pytest.raises(WorkbenchError):
            GenerationConfig(**kw)


def test_generation_modules_do_not_import_torch():
    code = ("import sys, workbench.generate, workbench.device, workbench.commands.generate\n"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True)
    assert out.stdout.strip() == "False"


def test_device_choice():
    from workbench.device import autocast_dtype, describe_devices, pick_device

    assert pick_device("cpu") == "cpu" and autocast_dtype("cpu") is None
    assert pick_device("auto") in ("cuda", "mps", "cpu")
    devices = describe_devices()
    assert devices[-1]["device"] == "cpu" and all(d["label"] for d in devices)
    if not torch.cuda.is_available():
        with pytest.raises(WorkbenchError, match="device cuda: not available"):
            pick_device("cuda")
    with pytest.raises(WorkbenchError, match="unknown device"):
        pick_device("tpu")
