"""Templates render byte-exact, the inference prompt is exactly the training prefix, and
custom TOML templates work (and fail with clear messages)."""

from __future__ import annotations

import pytest

from workbench.data.records import Example, Message
from workbench.errors import WorkbenchError
from workbench.templates import (BUILTIN, get_template, split_fields, template_from_dict,
                                 template_from_toml)

NO_INPUT = Example.single("Name a color.", "Blue.", row=0)
WITH_INPUT = Example.single("Translate to Spanish.", "Hola", input="Hello", row=1)
STORY = Example([Message("user", "a dog finds a bone"), Message("assistant", "Once upon a time.")],
                {"summary": "a dog finds a bone", "ending": "sad", "row": 2})
CHAT = Example([Message("system", "Be brief."), Message("user", "Hi"), Message("assistant", "Hello."),
                Message("user", "2+2?"), Message("assistant", "4")], {"row": 3})


def text(name, ex):
    return get_template(name).render_text(ex)


def test_alpaca_exact():
    assert text("alpaca", NO_INPUT) == (
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request.\n\n### Instruction:\nName a color.\n\n### Response:\nBlue.<|endoftext|>")
    assert text("alpaca", WITH_INPUT) == (
        "Below is an instruction that describes a task, paired with an input that provides "
        "further context. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nTranslate to Spanish.\n\n### Input:\nHello\n\n### Response:\nHola<|endoftext|>")


def test_alpaca_ch7_exact():
    pre = ("Below is an instruction that describes a task. Write a response that appropriately "
           "completes the request.")
    assert text("alpaca-ch7", NO_INPUT) == (
        f"{pre}\n\n### Instruction:\nName a color.\n\n### Response:\nBlue.<|endoftext|>")
    assert text("alpaca-ch7", WITH_INPUT) == (
        f"{pre}\n\n### Instruction:\nTranslate to Spanish.\n\n### Input:\nHello\n\n### Response:\nHola<|endoftext|>")


def test_phi3_exact():
    assert text("phi3", NO_INPUT) == "<|user|>\nName a color.\n<|assistant|>\nBlue.<|endoftext|>"
    assert text("phi3", WITH_INPUT) == "<|user|>\nTranslate to Spanish.\nHello\n<|assistant|>\nHola<|endoftext|>"


def test_chatml_exact_multi_turn_with_system():
    assert text("chatml", CHAT) == ("<|system|>\nBe brief.\n<|user|>\nHi\n<|assistant|>\nHello.<|end|>"
                                    "<|user|>\n2+2?\n<|assistant|>\n4<|end|>")
    segs = get_template("chatml").render(CHAT)
    trained = [s.text for s in segs if s.trainable]
    assert trained == ["Hello.", "<|end|>", "4", "<|end|>"]
    assert {s.text for s in segs if s.special} == {"<|system|>", "<|user|>", "<|assistant|>", "<|end|>"}


def test_story_and_inst_resp_exact():
    assert text("story", STORY) == ("Write a story about: a dog finds a bone\nWith: sad ending\n\n"
                                    "### Story:\nOnce upon a time.<|endoftext|>")
    assert text("inst-resp", NO_INPUT) == "<INST>Name a color.<RESP>Blue.<|endoftext|>"
    segs = get_template("inst-resp").render(NO_INPUT)
    assert [s.text for s in segs if s.special] == ["<INST>", "<RESP>", "<|endoftext|>"]


PREFIX_CASES = [(n, ex) for n in ("alpaca", "alpaca-ch7", "phi3", "inst-resp", "chatml")
                for ex in ("plain", "input")] + [("story", "story"), ("chatml", "chat")]
EXAMPLES = {"plain": NO_INPUT, "input": WITH_INPUT, "story": STORY, "chat": CHAT}


@pytest.mark.parametrize("name,example_id", PREFIX_CASES)
def test_prompt_is_exactly_the_training_prefix(name, example_id, gpt2_tok):
    from workbench.collate import encode_segments, tokenizer_for

    template = get_template(name)
    example = EXAMPLES[example_id]
    full = template.render(example)
    prompt = template.render_prompt(example)
    full_text = "".join(s.text for s in full)
    prompt_text = "".join(s.text for s in prompt)
    assert full_text.startswith(prompt_text)
    tok = tokenizer_for(gpt2_tok, template)
    full_ids = encode_segments(full, tok)[0]
    prompt_ids = encode_segments(prompt, tok)[0]
    assert full_ids[:len(prompt_ids)] == prompt_ids
    # what follows the prompt is exactly the trained part (the last response + end)
    assert all(not s.trainable for s in prompt)


def test_user_text_with_markers_stays_plain():
    ex = Example.single("Please print <|user|> and <INST> literally", "<|assistant|> ok", row=0)
    for name in ("chatml", "inst-resp"):
        segs = get_template(name).render(ex)
        specials = [s.text for s in segs if s.special]
        assert "<|user|> and" not in "".join(specials)
        plain = "".join(s.text for s in segs if not s.special)
        assert "<|user|>" in plain and "<|assistant|> ok" in plain


def test_single_turn_template_refuses_multi_turn():
    with pytest.raises(WorkbenchError, match="chat template"):
        get_template("alpaca").render(CHAT)


def test_missing_field_and_empty_response():
    with pytest.raises(WorkbenchError, match="^row 0: template 'story' needs field 'ending'"):
        get_template("story").render(NO_INPUT)
    with pytest.raises(WorkbenchError, match="^template 'story' needs field 'ending'"):
        get_template("story").render(Example.single("a typed prompt"))  # no row to name
    with pytest.raises(WorkbenchError, match="response is empty"):
        get_template("alpaca").render(Example.single("x", "", row=7))


def test_unknown_template_names_the_choices():
    with pytest.raises(WorkbenchError, match="unknown template 'alpacca'.*alpaca-ch7"):
        get_template("alpacca")


def test_custom_toml_template(tmp_path):
    path = tmp_path / "qa.toml"
    path.write_text('name = "qa"\nprompt = "<Q> {instruction}{ctx}\\nA:"\nend_token = "</s>"\n'
                    'stop_strings = ["<Q>"]\nspecial_tokens = ["<Q>"]\n'
                    '[optional]\nctx = "\\nContext: {input}"\n')
    t = template_from_toml(path)
    assert t.render_text(NO_INPUT) == "<Q> Name a color.\nA:Blue.</s>"
    assert t.render_text(WITH_INPUT) == "<Q> Translate to Spanish.\nContext: Hello\nA:Hola</s>"
    assert "</s>" in t.special_tokens
    segs = t.render(WITH_INPUT)
    assert [s.text for s in segs if s.special] == ["<Q>", "</s>"]
    # round trip through the saved form
    again = template_from_toml(_write(tmp_path / "again.toml", t.to_toml()))
    assert again.render(WITH_INPUT) == segs and again == t


def test_custom_chat_template_and_roundtrip(tmp_path):
    t = template_from_dict({"name": "tiny-chat", "kind": "chat", "user": "U: {content}\n",
                            "assistant": "A: {content}\n", "system": "S: {content}\n",
                            "end_token": "<eot>"})
    assert t.render_text(CHAT) == "S: Be brief.\nU: Hi\nA: Hello.\n<eot>U: 2+2?\nA: 4\n<eot>"
    assert t.prompt_text(CHAT) == "S: Be brief.\nU: Hi\nA: Hello.\n<eot>U: 2+2?\nA: "
    for builtin in BUILTIN.values():
        assert template_from_dict(builtin.to_dict()) == builtin


@pytest.mark.parametrize("body,match", [
    ('name = "x"\nprompt = 3\n', "prompt must be a string"),
    ('name = "x"\nprompt = "{instruction}"\ncolour = "red"\n', "unknown key 'colour'"),
    ('prompt = "{instruction}"\n', "needs a name"),
    ('name = "x"\nkind = "chat"\nuser = "no placeholder"\n', "user needs a {content}"),
    ('name = "x"\nprompt = \n', "not valid TOML"),
])
def test_bad_custom_templates(tmp_path, body, match):
    with pytest.raises(WorkbenchError, match=match):
        template_from_toml(_write(tmp_path / "t.toml", body))


def _write(path, text):
    path.write_text(text)
    return path


def test_split_fields_reads_trailing_field_lines_the_template_needs():
    story = get_template("story")
    assert split_fields("a dog finds a bone\nending: sad", story) == ("a dog finds a bone",
                                                                      {"ending": "sad"})
    # the last line wins; a colon in the prompt itself stays there
    assert split_fields("Note: a dog\nEnding: happy\nending: sad", story) == (
        "Note: a dog", {"ending": "sad"})
    # a template that takes everything from the prompt reads no field lines
    assert split_fields("What is 2+2?\nending: sad", get_template("alpaca")) == (
        "What is 2+2?\nending: sad", {})
    with pytest.raises(WorkbenchError, match="also needs ending: add a line like 'ending: happy"):
        split_fields("a dog finds a bone", story)
    with pytest.raises(WorkbenchError, match="also needs ending: pass --field ending=VALUE"):
        split_fields("a dog finds a bone\nending:", story, how="pass --field {name}=VALUE")
