"""Tokenizers: GPT-2 BPE identical to tiktoken's official encoding, atomic special tokens,
user text never turned into a special id, byte tokenizer layout, save/load round trips."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from hypothesis import given, settings, strategies as st

from workbench.errors import WorkbenchError
from workbench.tokenizer import ByteTokenizer, load_tokenizer, visible

SAMPLES = [
    "Hello world<|endoftext|>",
    "The quick brown fox jumps over the lazy dog. 1234567890 3.14159 -42",
    "Unicode: café, naïve, Ærøskøbing, Привет мир, Γειά σου, こんにちは世界, 中文, 🙂🚀",
    "Whitespace runs:    four spaces\t\ttabs\n\n\nnewlines   \n  trailing   ",
    "Code:\n    def f(x):\n        return x ** 2  # square\n",
    "Curly “quotes” and ‘apostrophes’ — em dash… ellipsis",
    "it's we'll they've I'M don't",
    "<|endoftext|>starts and ends<|endoftext|>",
    "",
    " ",
    "a" * 300,
]


@pytest.fixture(scope="module")
def official_gpt2(gpt2_dir, tmp_path_factory, monkeypatch_module):
    """tiktoken.get_encoding('gpt2') itself, offline: its cache prefilled (README method B)."""
    import tiktoken
    import tiktoken.registry

    cache = tmp_path_factory.mktemp("tiktoken-cache")
    base = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"
    for name in ("vocab.bpe", "encoder.json"):
        key = hashlib.sha1((base + name).encode()).hexdigest()
        shutil.copyfile(gpt2_dir / name, cache / key)
    monkeypatch_module.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    tiktoken.registry.ENCODINGS.pop("gpt2", None)
    enc = tiktoken.get_encoding("gpt2")
    yield enc
    tiktoken.registry.ENCODINGS.pop("gpt2", None)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.mark.parametrize("layout", ["openai", "hf"])
def test_bpe_from_files_equals_official_tiktoken(gpt2_dir, official_gpt2, layout):
    folder = gpt2_dir if layout == "openai" else gpt2_dir / "hf-format"
    tok = load_tokenizer(folder)
    assert tok.n_vocab == 50257 and tok.eos_id == 50256
    for text in SAMPLES:
        assert tok.encode(text, allowed_special={"<|endoftext|>"}) == official_gpt2.encode(
            text, allowed_special={"<|endoftext|>"}), text
        assert tok.encode(text) == official_gpt2.encode_ordinary(text), text
        assert tok.decode(tok.encode(text)) == text


def test_known_ids(gpt2_tok):
    assert gpt2_tok.encode("Hello world<|endoftext|>", allowed_special="all") == [15496, 995, 50256]


def test_marker_typed_by_user_is_plain_text(gpt2_tok):
    tok = gpt2_tok.with_special_tokens(["<|user|>", "<|assistant|>", "<|end|>"])
    assert tok.special_tokens == {"<|endoftext|>": 50256, "<|user|>": 50257,
                                  "<|assistant|>": 50258, "<|end|>": 50259}
    plain = tok.encode("say <|user|> and <|endoftext|>")
    assert not any(i >= 50256 for i in plain)
    assert tok.decode(plain) == "say <|user|> and <|endoftext|>"
    # Atomic when allowed (the template path uses special_id directly).
    assert tok.encode("<|user|>", allowed_special="all") == [50257]
    assert tok.special_id("<|end|>") == 50259


def test_added_specials_are_idempotent_and_ordered(gpt2_tok):
    a = gpt2_tok.with_special_tokens(["<INST>", "<RESP>"])
    b = a.with_special_tokens(["<RESP>", "<INST>", "<PAD>"])
    assert a.special_id("<INST>") == 50257 and a.special_id("<RESP>") == 50258
    assert b.special_id("<INST>") == 50257 and b.special_id("<PAD>") == 50259
    assert gpt2_tok.with_special_tokens([]) is gpt2_tok
    with pytest.raises(WorkbenchError, match="not a special token"):
        gpt2_tok.special_id("<|user|>")


def test_byte_tokenizer_layout():
    tok = ByteTokenizer().with_special_tokens(["<INST>", "<RESP>"])
    assert tok.encode("hé") == [104, 195, 169]
    assert tok.eos_id == 256
    assert tok.special_id("<INST>") == 257 and tok.special_id("<RESP>") == 258
    assert tok.encode("a<INST>b") == [97, 60, 73, 78, 83, 84, 62, 98]  # plain text
    assert tok.encode("a<INST>b", allowed_special="all") == [97, 257, 98]
    assert tok.n_vocab == 259
    assert tok.decode([104, 195, 169, 257]) == "hé<INST>"


def test_save_and_reload_restores_added_tokens(gpt2_tok, tmp_path):
    tok = gpt2_tok.with_special_tokens(["<|user|>", "<|assistant|>", "<|end|>"])
    tok.save(tmp_path / "tok")
    again = load_tokenizer(tmp_path / "tok")
    assert again.special_tokens == tok.special_tokens
    assert again.added == tok.added
    for text in SAMPLES:
        assert again.encode(text) == tok.encode(text)


def test_merges_rebuilt_from_ranks_equal_the_original_file(gpt2_tok, gpt2_dir, tmp_path):
    # tiktoken's registry gives ranks only; saving must rebuild GPT-2's exact merges.txt.
    from workbench.tokenizer import BPETokenizer

    bare = BPETokenizer("gpt2", gpt2_tok._ranks, {"<|endoftext|>": 50256}, merges=None)
    bare.save(tmp_path)
    original = (gpt2_dir / "vocab.bpe").read_text(encoding="utf-8").split("\n")
    saved = (tmp_path / "merges.txt").read_text(encoding="utf-8").split("\n")
    assert saved[1:50001] == original[1:50001]
    assert load_tokenizer(tmp_path).encode(SAMPLES[2]) == gpt2_tok.encode(SAMPLES[2])


def test_saved_tokenizer_loads_in_transformers(gpt2_tok, tmp_path):
    transformers = pytest.importorskip("transformers")
    tok = gpt2_tok.with_special_tokens(["<|user|>", "<|assistant|>", "<|end|>"])
    tok.save(tmp_path)
    hf = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    text = "<|user|>\nWhat is 2+2?\n<|assistant|>\n4<|end|>"
    assert hf.convert_tokens_to_ids("<|end|>") == 50259
    ours = tok.encode(text, allowed_special="all")
    assert hf(text)["input_ids"] == ours


def test_byte_tokenizer_save_load(tmp_path):
    tok = ByteTokenizer(["<INST>", "<RESP>"])
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.kind == "bytes" and again.special_tokens == tok.special_tokens


def test_bad_tokenizer_specs(tmp_path):
    with pytest.raises(WorkbenchError, match="not 'gpt2', 'bytes'"):
        load_tokenizer("no-such-tokenizer")
    with pytest.raises(WorkbenchError, match="no vocab.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "vocab.json").write_text("{not json")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(WorkbenchError, match="cannot read JSON"):
        load_tokenizer(tmp_path)


def test_gpt2_without_network_says_what_to_do(monkeypatch, tmp_path):
    import tiktoken.registry
    from workbench import tokenizer as tk

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty cache
    monkeypatch.delenv("WORKBENCH_GPT2_TOKENIZER", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(tk, "_gpt2_local_candidates", lambda: [])
    monkeypatch.setitem(tiktoken.registry.ENCODINGS, "gpt2", None)
    tiktoken.registry.ENCODINGS.pop("gpt2")

    def offline(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr("tiktoken.load.read_file", offline)
    tk._load_gpt2_registry.cache_clear()
    try:
        with pytest.raises(WorkbenchError, match="--tokenizer FOLDER"):
            load_tokenizer("gpt2")
    finally:
        tk._load_gpt2_registry.cache_clear()


def test_gpt2_from_env_folder(monkeypatch, gpt2_dir):
    from workbench import tokenizer as tk

    monkeypatch.setenv("WORKBENCH_GPT2_TOKENIZER", str(gpt2_dir / "hf-format"))
    tk._load_gpt2_registry.cache_clear()
    try:
        tok = load_tokenizer("gpt2")
        assert tok.name == "gpt2" and tok.encode("Hello world") == [15496, 995]
    finally:
        tk._load_gpt2_registry.cache_clear()


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_round_trip_any_text(text):
    from conftest import GPT2_BPE

    if not GPT2_BPE.exists():
        pytest.skip("shared GPT-2 files absent")
    tok = load_tokenizer(GPT2_BPE)
    assert tok.decode(tok.encode(text)) == text
    assert ByteTokenizer().decode(ByteTokenizer().encode(text)) == text


def test_visible_shows_whitespace():
    assert visible(" a\n\tb\r\x00") == "␣a\\n\\tb\\r\\x00"
