"""`workbench compare` and `workbench.compare`: tiny scripted models saved to folders (one
leaks "### Instruction:", one loops, one ends cleanly) answer the same prompts; the text
output, --json, the flags and rates are what the answers really hold; a seeded run repeats
exactly; the loss side equals a direct computation; bad input is one line and exit 2."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import run_cli
from workbench.collate import encode_segments
from workbench.compare import (CompareResult, compare, item_from_example, items_from_data,
                               loss_metrics, make_item, read_prompts, summary_rows,
                               text_passages)
from workbench.data.records import Example, Message
from workbench.errors import WorkbenchError
from workbench.generate import GenerationConfig
from workbench.model import load_model, save_model
from workbench.model.toy import random_gpt, scripted_gpt
from workbench.templates import get_template
from workbench.tokenizer import ByteTokenizer

TOK = ByteTokenizer()
EOT = TOK.eos_id
ALPACA = get_template("alpaca")
LEAK = "Sure.\n### Instruction:\nmore"          # ends on a leaked Alpaca header
LOOP = "the cat sat on the mat and "            # never ends, repeats itself
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
CONTEXT = 256  # n_positions of the random models


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """A tiny model gains nothing from threads; on a busy machine their barriers cost."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare")
    out = {}
    # no template saved with the base model (a plain pretrained model); the SFT model
    # carries alpaca, which compare must use for both
    save_model(scripted_gpt(list(LEAK.encode()), vocab_size=257, n_positions=512), TOK,
               root / "leaky")
    save_model(scripted_gpt(list(LOOP.encode()), vocab_size=257, n_positions=512), TOK,
               root / "loopy", template=ALPACA)
    save_model(scripted_gpt([EOT], vocab_size=257, n_positions=512), TOK, root / "clean",
               template=ALPACA)  # answers "" and ends: the cleanest possible stop
    save_model(scripted_gpt(list(b"Paris") + [EOT], vocab_size=257, n_positions=512), TOK,
               root / "short", template=ALPACA)
    for name, seed in (("rand-a", 1), ("rand-b", 2)):
        save_model(random_gpt(vocab_size=257, n_positions=CONTEXT, scale=0.3, seed=seed), TOK,
                   root / name, template=ALPACA)
    for name in ("leaky", "loopy", "clean", "short", "rand-a", "rand-b"):
        out[name] = root / name
    return out


@pytest.fixture()
def prompts(tmp_path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("What is 2+2?\n\nName a color.\nSay hi\n", encoding="utf-8")
    return path


def _main(capsys, *args):
    """`workbench compare ARGS` in this process (a subprocess costs a torch import)."""
    from workbench.cli import main

    code = main(["compare", *args])
    out = capsys.readouterr()
    return type("Proc", (), {"returncode": code, "stdout": out.out, "stderr": out.err})


def _one_line_error(proc, *needles):
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ----------------------------------------------------------------------------------------
# The CLI


def test_json_flags_and_rates_are_what_the_answers_hold(folders, prompts, capsys):
    proc = _main(capsys, "--base", str(folders["leaky"]), "--sft", str(folders["loopy"]),
                 "--prompts", str(prompts), "--max-new-tokens", "100", "--device", "cpu",
                 "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    rows, summary = lines[:-1], lines[-1]["summary"]
    assert [r["prompt"] for r in rows] == ["What is 2+2?", "Name a color.", "Say hi"]
    assert [r["id"] for r in rows] == ["line 1", "line 3", "line 4"]
    for r in rows:
        base, sft = r["base"], r["sft"]
        # the base model leaks: generation stopped on the marker, kept in `text`, and the
        # leakage span points at it
        assert base["stop_reason"] == "stop_string" and base["stop_string"] == "### Instruction:"
        assert base["text"].endswith("### Instruction:")
        assert base["clean_text"] == base["text"][:-len("### Instruction:")]
        assert base["flags"]["leakage"] and base["flagged"] == ["leakage"]
        a, b = base["findings"]["leakage"]["spans"][-1]
        assert base["text"][a:b] == "### Instruction:"
        # the SFT model loops until the token limit
        assert sft["stop_reason"] == "length" and sft["new_tokens"] == 100
        assert sft["flags"]["looping"] and sft["flags"]["no_stop"]
        assert not sft["flags"]["leakage"]
        a, b = sft["findings"]["looping"]["spans"][0]
        assert set(sft["text"][a:b].split()) == set(LOOP.split())  # the repeated stretch
        assert bytes(sft["token_ids"]).decode() == sft["text"]
    assert summary["base"]["n"] == summary["sft"]["n"] == 3
    assert summary["base"]["leakage"] == 1.0 and summary["base"]["looping"] == 0.0
    assert summary["base"]["stop_reasons"]["stop_string"] == 3
    assert summary["sft"]["looping"] == 1.0 and summary["sft"]["no_stop"] == 1.0
    assert summary["sft"]["leakage"] == 0.0 and summary["sft"]["stop_reasons"]["length"] == 3
    assert summary["sft"]["mean_tokens"] == 100
    # the template saved with the SFT model was used for both
    assert summary["template"] == "alpaca"
    assert summary["models"] == {"base": str(folders["leaky"]), "sft": str(folders["loopy"])}
    assert summary["settings"]["seed"] == 0 and summary["settings"]["max_new_tokens"] == 100
    assert summary["loss"] == {"data": None, "text": None}  # no references, no --text


def test_text_output_side_by_side(folders, prompts, capsys):
    proc = _main(capsys, "--base", str(folders["leaky"]), "--sft", str(folders["clean"]),
                 "--prompts", str(prompts), "--max-new-tokens", "40", "--device", "cpu",
                 "--width", "140", "--color", "never")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    first = out[:out.index("━━")].replace("\n", " ")
    assert f"base {folders['leaky']}" in first and "template alpaca" in first
    assert "greedy · seed 0 · max 40 new tokens · 3 prompts" in first
    assert "━━ 1/3 · line 1 " in out and "prompt: What is 2+2?" in out
    # two columns split by " │ ", no line wider than asked
    assert all(len(line) <= 140 for line in out.splitlines())
    heads = [line for line in out.splitlines() if line.startswith("base: ")]
    assert heads and all(" │ sft: " in line for line in heads)
    # the flags and their evidence, marked where color is off
    assert "leakage · stop '### Instruction:'" in out
    assert "[[### Instruction:]]" in out
    assert "! leakage: role marker '### Instruction:'" in out
    assert "empty · stop end · 1 token" in out  # the clean model ends at once: empty
    # the summary: summary_lines per model, side by side
    summary = out[out.index("━━ summary"):]
    leak_row = next(line for line in summary.splitlines() if line.lstrip().startswith("leakage"))
    left, right = leak_row.split(" │ ")
    assert "3/3" in left and "100.0%" in left and "0/3" in right and "0.0%" in right
    # too narrow for two summary columns: one model after the other
    proc = _main(capsys, "--base", str(folders["leaky"]), "--sft", str(folders["clean"]),
                 "--prompts", str(prompts), "--max-new-tokens", "40", "--device", "cpu",
                 "--width", "60", "--color", "never")
    out = proc.stdout
    assert all(len(line) <= 60 for line in out.splitlines())
    summary = out[out.index("━━ summary"):].splitlines()
    assert summary[1].startswith("base: ") and any(s.startswith("sft: ") for s in summary)


def test_color_highlights_evidence(folders, prompts, capsys):
    proc = _main(capsys, "--base", str(folders["leaky"]), "--sft", str(folders["clean"]),
                 "--prompts", str(prompts), "--max-new-tokens", "40", "--device", "cpu",
                 "--color", "always")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b[1;97;41m### Instruction:\x1b[0m" in proc.stdout


def test_data_source_references_categories_and_loss(folders, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))
    data = tmp_path / "data"
    data.mkdir()
    train = [{"instruction": f"train {i}", "input": "", "output": "x", "category": "a"}
             for i in range(5)]
    val = [{"instruction": "Capital of France?", "input": "", "output": "Paris", "category": "geo"},
           {"instruction": "Capital of Italy?", "input": "", "output": "Rome", "category": "geo"},
           {"instruction": "Add 2 and 2.", "input": "", "output": "4", "category": "math"}]
    (data / "train.json").write_text(json.dumps(train))
    (data / "validation.json").write_text(json.dumps(val))
    text = tmp_path / "passages.txt"
    text.write_text("Once upon a time there was a cat.\nThe sun rose over the hill.\n")
    proc = _main(capsys, "--base", str(folders["leaky"]), "--sft", str(folders["short"]),
                 "--data", str(data), "--n", "2", "--text", str(text),
                 "--max-new-tokens", "30", "--device", "cpu", "--json")
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    rows, summary = lines[:-1], lines[-1]["summary"]
    # the validation split, its first N rows, their answers as references
    assert [r["prompt"] for r in rows] == ["Capital of France?", "Capital of Italy?"]
    assert [r["reference"] for r in rows] == ["Paris", "Rome"]
    assert [r["category"] for r in rows] == ["geo", "geo"]
    assert summary["data"]["split"] == "validation" and summary["data"]["rows"] == 2
    for r in rows:
        assert r["sft"]["exact_match"] == float(r["sft"]["clean_text"].strip() == r["reference"])
    assert summary["sft"]["by_category"]["geo"]["n"] == 2
    assert summary["base"]["exact_match"] == 0.0
    loss = summary["loss"]
    assert loss["data"]["examples"] == 2 and loss["data"]["targets"] > 0
    assert loss["text"]["examples"] == 2 and loss["text"]["targets"] > 0
    assert loss["text"]["forgetting"] == pytest.approx(loss["text"]["sft"] - loss["text"]["base"])
    # the text version prints the loss table
    proc = _main(capsys, "--base", str(folders["leaky"]), "--sft", str(folders["short"]),
                 "--data", str(data), "--n", "2", "--text", str(text),
                 "--max-new-tokens", "30", "--device", "cpu", "--width", "120")
    assert proc.returncode == 0, proc.stderr
    assert "loss per target token" in proc.stdout
    assert "on the data (2 examples" in proc.stdout and "on plain text (2 examples" in proc.stdout
    assert "exact match" in proc.stdout and "geo" in proc.stdout


def test_a_real_user_run_in_a_subprocess(folders, prompts):
    proc = run_cli("compare", "--base", str(folders["leaky"]), "--sft", str(folders["clean"]),
                   "--prompts", str(prompts), "--max-new-tokens", "40", "--device", "cpu",
                   env=ONE_THREAD)
    assert proc.returncode == 0, proc.stderr
    assert "━━ summary" in proc.stdout and "[[### Instruction:]]" in proc.stdout
    assert proc.stderr == ""  # no progress line when stderr is not a terminal


def test_bad_input_is_one_line_and_exit_2(folders, prompts, tmp_path, capsys):
    base, sft = str(folders["leaky"]), str(folders["clean"])
    _one_line_error(_main(capsys, "--base", base, "--prompts", str(prompts)), "--sft")
    _one_line_error(_main(capsys, "--base", base, "--sft", sft), "--prompts FILE or --data")
    _one_line_error(_main(capsys, "--base", base, "--sft", sft, "--prompts", str(prompts),
                          "--data", "x.json"), "one of the two")
    _one_line_error(_main(capsys, "--base", base, "--sft", sft, "--prompts",
                          str(tmp_path / "missing.txt")), "missing.txt", "no such file")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    _one_line_error(_main(capsys, "--base", base, "--sft", sft, "--prompts", str(empty)),
                    "no prompts")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": 3}\n')
    _one_line_error(_main(capsys, "--base", base, "--sft", sft, "--prompts", str(bad)),
                    "bad.jsonl: line 2", "'prompt'")
    bad.write_text('{"prompt": "ok"}\n{"prompt": "x", "ending": "maybe"}\n')
    _one_line_error(_main(capsys, "--base", base, "--sft", sft, "--prompts", str(bad)),
                    "line 2", "happy or sad")
    bad.write_text('{"prompt": "ok"\n')
    _one_line_error(_main(capsys, "--base", base, "--sft", sft, "--prompts", str(bad)),
                    "line 1", "malformed JSON")
    # fields beyond a prompt's: kept for a template that uses them (the story template's
    # summary), said once, never an error
    extra = tmp_path / "extra.jsonl"
    extra.write_text('{"prompt": "a dog", "summary": "a dog finds a ball", "ending": "sad", '
                     '"answer": 3}\n')
    notes = []
    (item,) = read_prompts(extra, on_notice=notes.append)
    assert item.example.meta["summary"] == "a dog finds a ball" and "answer" not in item.example.meta
    assert len(notes) == 1 and "answer, summary" in notes[0]
    assert get_template("story").prompt_text(item.example).startswith(
        "Write a story about: a dog finds a ball\nWith: sad ending")
    _one_line_error(_main(capsys, "--base", base, "--sft", sft, "--prompts", str(prompts),
                          "--template", "nope"), "nope")
    _one_line_error(_main(capsys, "--base", base, "--sft", sft, "--data", "x.json", "--n", "0"),
                    "--n must be at least 1")
    _one_line_error(_main(capsys, "--base", base, "--sft", sft, "--prompts", str(prompts),
                          "--top-p", "0"), "top_p")
    # the base model has no saved template; as --sft without --template it cannot be used
    _one_line_error(_main(capsys, "--base", sft, "--sft", base, "--prompts", str(prompts),
                          "--device", "cpu"), "no template was saved", "--template")
    _one_line_error(_main(capsys, "--base", str(tmp_path / "nowhere"), "--sft", sft,
                          "--prompts", str(prompts), "--device", "cpu"), "nowhere")
    long = tmp_path / "long.txt"
    long.write_text("x" * 600 + "\n")
    _one_line_error(_main(capsys, "--base", base, "--sft", sft, "--prompts", str(long),
                          "--device", "cpu"), "never cut")


# ----------------------------------------------------------------------------------------
# The API


def test_identical_seeds_give_identical_results(folders):
    a, b = load_model(folders["rand-a"]), load_model(folders["rand-b"])
    items = [make_item(p) for p in ("hello", "a longer prompt here", "x", "why?")]
    sampled = GenerationConfig(max_new_tokens=12, temperature=1.0, seed=11)

    def run(config):
        result = compare(a, b, ALPACA, items, config, batch_size=3, loss=False)
        return [(c.base.result.token_ids, c.sft.result.token_ids) for c in result.items]

    first, again = run(sampled), run(sampled)
    assert first == again
    other = run(GenerationConfig(max_new_tokens=12, temperature=1.0, seed=12))
    assert other != first  # the seed matters
    greedy = run(GenerationConfig(max_new_tokens=12))
    assert greedy == run(GenerationConfig(max_new_tokens=12))
    assert any(b != s for b, s in greedy)  # the two models differ


def test_progress_callbacks_and_cancel(folders):
    a, b = load_model(folders["leaky"]), load_model(folders["clean"])
    items = [make_item(f"prompt {i}") for i in range(5)]
    seen = []
    result = compare(a, b, ALPACA, items, GenerationConfig(max_new_tokens=30), batch_size=2,
                     on_item=lambda c, done, total: seen.append((c.item.prompt, done, total)))
    assert seen == [(f"prompt {i}", i + 1, 5) for i in range(5)]
    assert isinstance(result, CompareResult) and not result.cancelled
    assert [c.item.prompt for c in result.items] == [f"prompt {i}" for i in range(5)]

    cancel = threading.Event()

    def stop_after_first_batch(compared, done, total):
        if done == 2:
            cancel.set()

    result = compare(a, b, ALPACA, items, GenerationConfig(max_new_tokens=30), batch_size=2,
                     on_item=stop_after_first_batch, cancel=cancel)
    assert result.cancelled and len(result.items) == 2 and result.loss is None
    assert result.summary_base["n"] == 2


def _direct_loss(model, template, examples, loss_on):
    """Sum of token cross-entropies over the trained positions / their count, one
    example at a time, with no batching, padding or masking code involved. A long example
    keeps its first CONTEXT + 1 tokens (the collation's truncation rule)."""
    total, count = 0.0, 0
    tok = TOK.with_special_tokens(template.special_tokens)
    with torch.no_grad():
        for ex in examples:
            ids, _, target = encode_segments(template.render(ex), tok, loss_on)
            ids, target = ids[:CONTEXT + 1], target[:CONTEXT + 1]
            logits = model(torch.tensor(ids[:-1])[None])[0]  # (T, V)
            wanted = torch.tensor(target[1:])
            y = torch.tensor(ids[1:])
            total += float(F.cross_entropy(logits[wanted], y[wanted], reduction="sum"))
            count += int(wanted.sum())
    return total / count, count


def test_loss_metrics_equal_a_direct_computation(folders, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))
    a, b = load_model(folders["rand-a"]), load_model(folders["rand-b"])
    examples = [Example.single("Capital of France?", "Paris"),
                Example.single("Add two and two", "Four, of course."),
                Example.single("Say something long", "word " * 40)]
    passages = tmp_path / "p.txt"
    passages.write_text("Once upon a time there was a cat.\nShe sat on a mat all day long.\n"
                        + "a" * 400 + "\n")
    text, info = text_passages(str(passages), 10)
    assert info["passages"] == 3
    loss = loss_metrics(a, b, ALPACA, examples, text, batch_size=2)
    for part, template, exs, loss_on in (("data", ALPACA, examples, "response"),
                                         ("text", get_template("text"), text, "all")):
        for side, model in (("base", a.model), ("sft", b.model)):
            want, n = _direct_loss(model, template, exs, loss_on)
            assert loss[part][side] == pytest.approx(want, rel=1e-5), (part, side)
            assert loss[part]["targets"] == n
        assert loss[part]["change"] == pytest.approx(loss[part]["sft"] - loss[part]["base"])
    assert loss["text"]["truncated"] == 1  # the 400-character passage, cut to the context
    assert loss["text"]["forgetting"] == loss["text"]["change"]

    # compare() computes the data loss on the items with a reference
    items = [make_item(ex.instruction, reference=ex.response) for ex in examples]
    result = compare(a, b, ALPACA, items, GenerationConfig(max_new_tokens=4), text=text)
    assert result.loss["data"]["base"] == pytest.approx(loss["data"]["base"], rel=1e-6)
    assert result.loss["text"]["sft"] == pytest.approx(loss["text"]["sft"], rel=1e-6)
    rows = dict((m, (x, y)) for m, x, y in summary_rows(result))
    assert rows["answers"] == ("3", "3")
    key = next(k for k in rows if k.startswith("loss on data"))
    assert rows[key] == (f"{loss['data']['base']:.3f}", f"{loss['data']['sft']:.3f}")


# ----------------------------------------------------------------------------------------
# Reading prompts and data


def test_read_prompts_txt_and_jsonl(tmp_path):
    txt = tmp_path / "p.txt"
    txt.write_text("\ufeffFirst\n\n  Second line\\nwith a break  \n")
    items = read_prompts(txt)
    assert [i.prompt for i in items] == ["First", "Second line\nwith a break"]
    assert [i.id for i in items] == ["line 1", "line 3"]
    jl = tmp_path / "p.jsonl"
    jl.write_text(json.dumps({"prompt": "Translate", "input": "chat", "reference": ["cat", "Katze"],
                              "category": "translate", "id": 7}) + "\n\n"
                  + json.dumps({"instruction": "Tell a story", "ending": "Sad ending"}) + "\n")
    a, b = read_prompts(jl)
    assert (a.prompt, a.input, a.reference, a.category, a.id) == (
        "Translate", "chat", ["cat", "Katze"], "translate", 7)
    assert a.training_example.messages[-1] == Message("assistant", "cat")
    assert (b.prompt, b.ending, b.id) == ("Tell a story", "sad", "line 3")
    assert b.example.meta["ending"] == "sad" and b.training_example is None
    # the story template reads the requested ending from the example
    assert "With: sad ending" in get_template("story").prompt_text(b.example)
    js = tmp_path / "p.json"
    js.write_text(json.dumps([{"prompt": "one"}, {"prompt": "two"}]))
    assert [i.prompt for i in read_prompts(js)] == ["one", "two"]
    with pytest.raises(WorkbenchError, match=r"p.json: item 1: expected a JSON object"):
        js.write_text(json.dumps([{"prompt": "one"}, "two"]))
        read_prompts(js)


def test_items_from_story_rows_measure_the_requested_ending(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))
    rows = [{"summary": "A dog finds a ball.", "story": "The dog was happy.", "ending": "happy"},
            {"summary": "A cat loses a toy.", "story": "The cat cried.", "ending": "sad"},
            {"summary": "A bird sings.", "story": "It sang.", "ending": "Bad"}]
    path = tmp_path / "stories.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    # no validation split and no session: there are no held-out rows, and it says so
    with pytest.raises(WorkbenchError, match="no held-out rows.*--split NAME"):
        items_from_data(str(path), 5)
    items, info = items_from_data(str(path), 5, split="train")  # chosen knowingly
    assert info["format"] == "tinystories" and info["split"] == "train" and info["rows"] == 3
    assert info["held_out"] is None and "chosen" in info["why"]
    assert [i.ending for i in items] == ["happy", "sad", "sad"]
    assert items[0].prompt == "A dog finds a ball." and items[0].reference == "The dog was happy."
    assert "With: happy ending" in get_template("story").prompt_text(items[0].example)
    chat = item_from_example(Example([Message("user", "hi"), Message("assistant", "hello"),
                                      Message("user", "how are you?"),
                                      Message("assistant", "fine")], {"row": 4}))
    assert (chat.prompt, chat.reference, chat.id) == ("how are you?", "fine", "row 4")
    assert get_template("chatml").prompt_text(chat.example).endswith("how are you?\n<|assistant|>\n")
