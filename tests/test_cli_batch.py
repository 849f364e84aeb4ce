"""`workbench batch` as a user runs it: the alignment table, --json, and bad input as one
line with exit code 2 (never a traceback)."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from workbench.tokenizer import load_tokenizer


def test_batch_json_on_real_data(rasbt_json, gpt2_dir):
    res = run_cli("batch", str(rasbt_json), "--template", "alpaca", "--tokenizer", str(gpt2_dir),
                  "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    # training holds out val_ratio (5%) first: 1,045 of the 1,100 rows are trained on
    assert out["format"] == "alpaca" and out["examples"] == 1045 and out["batches"] == 131
    assert out["heldout"]["kind"] == "ratio" and out["heldout"]["rows"] == 55
    assert out["step"] == 1 and out["micro"] == 0 and out["template_origin"] == "chosen"
    assert len(out["rows"]) == 8
    data = json.loads(rasbt_json.read_text())
    tok = load_tokenizer(gpt2_dir)
    for row in out["rows"]:
        toks = row["tokens"]
        example = row["stats"]["examples"][0]
        src = data[example["source_row"]]
        # positions are consecutive; each target is the next input of the row
        assert [t["pos"] for t in toks] == list(range(len(toks)))
        for a, b in zip(toks, toks[1:]):
            if a["target_id"] != -100 and b["kind"] != "pad":
                assert a["target_id"] == b["input_id"]
        trained = [t for t in toks if t["target_id"] != -100]
        # the trained text is exactly the response, closed by <|endoftext|> (decoded as a
        # whole: a token's own text can hold half of a multi-byte character)
        assert tok.decode([t["target_id"] for t in trained[:-1]]) == src["output"]
        assert trained[-1]["target_id"] == 50256 and trained[-1]["kind"] == "end"
        assert row["stats"]["targets"] == len(trained) and row["stats"]["end_trained"]
        # the masked part is the alpaca prompt
        first = next(i for i, t in enumerate(toks) if t["target_id"] != -100)
        prompt = "".join(t["input"] for t in toks[:first + 1])
        assert all(t["target"] is None for t in toks[:first])
        assert prompt.startswith("Below is an instruction") and src["instruction"] in prompt
        for t in toks:
            if t["kind"] == "pad":
                assert t["target_id"] == -100 and t["input_id"] == 50256
    assert 0 < out["padding_efficiency"] <= 1


def test_batch_table_output(rasbt_json, gpt2_dir):
    res = run_cli("batch", str(rasbt_json), "-t", "alpaca-ch7", "--tokenizer", str(gpt2_dir),
                  "-b", "2", "--index", "3", "--batcher", "packed", "--max-len", "256")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "batch 3 of" in out and "input_id" in out and "masked (prompt)" in out
    assert "trained (end)" in out and "padding efficiency" in out
    assert "\\n" in out and "␣" in out  # whitespace made visible


def test_batch_bytes_tokenizer_inst_resp(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"instruction": "2+2?", "input": "", "output": "4"}\n'
                 '{"instruction": "Capital of France?", "input": "", "output": "Paris"}\n')
    res = run_cli("batch", str(f), "-t", "inst-resp", "--tokenizer", "bytes", "--json", "--loss-on", "all")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    ids = {t["input_id"] for row in out["rows"] for t in row["tokens"]}
    assert 257 in ids and 258 in ids          # <INST>, <RESP> as special ids after <|endoftext|>=256


def test_chat_rows(tmp_path, gpt2_dir):
    f = tmp_path / "chat.json"
    f.write_text(json.dumps([{"messages": [{"role": "user", "content": "Hi"},
                                           {"role": "assistant", "content": "Hello!"},
                                           {"role": "user", "content": "Bye"},
                                           {"role": "assistant", "content": "Goodbye!"}]}]))
    res = run_cli("batch", str(f), "-t", "chatml", "--tokenizer", str(gpt2_dir), "--json")
    assert res.returncode == 0, res.stderr
    toks = json.loads(res.stdout)["rows"][0]["tokens"]
    trained = "".join(t["target"] for t in toks if t["target_id"] != -100)
    assert trained == "Hello!<|end|>Goodbye!<|end|>"


BAD_ROWS = [
    ('{"instruction": "a", "input": "", "output": "b"}\n{"instruction": "c", "input": ""}\n',
     "row 1: missing field 'output'"),
    ('{"instruction": "a", "input": "", "output": "  "}\n', "row 0: field 'output' is empty"),
    ('{"instruction": "a", "input": "", "output": 5}\n', "row 0: field 'output' is int, expected a string"),
    ('{"messages": [{"role": "user", "content": "hi"}]}\n', "row 0: messages has no assistant turn"),
    ('{"instruction": "a", "output": "b"}\n{"instruction": "c", oops}\n', "row 1: line 2: malformed JSON"),
]


@pytest.mark.parametrize("content,message", BAD_ROWS)
def test_bad_rows_one_line_exit_2(tmp_path, content, message):
    f = tmp_path / "bad.jsonl"
    f.write_text(content)
    res = run_cli("batch", str(f), "-t", "alpaca", "--tokenizer", "bytes")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and str(f) in lines[0] and message in lines[0], res.stderr


def test_skip_bad_loads_the_rest_and_counts(tmp_path):
    f = tmp_path / "mixed.jsonl"
    f.write_text('{"instruction": "a", "input": "", "output": "b"}\n'
                 '{"instruction": "c", "input": ""}\n'
                 'not json\n'
                 '{"instruction": "d", "input": "", "output": "e"}\n')
    res = run_cli("batch", str(f), "-t", "alpaca", "--tokenizer", "bytes", "--skip-bad", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["examples"] == 2 and out["skipped_bad_rows"] == 2
    res = run_cli("batch", str(f), "-t", "alpaca", "--tokenizer", "bytes", "--skip-bad")
    assert "skipped 2 bad rows" in res.stdout


@pytest.mark.parametrize("args,message", [
    (["-t", "alpacca"], "unknown template 'alpacca'"),
    (["-t", "alpaca", "--index", "99"], "--index 99: there are 1 batches"),
    (["-t", "alpaca", "--tokenizer", "nope"], "tokenizer 'nope'"),
])
def test_bad_arguments(tmp_path, args, message):
    f = tmp_path / "d.jsonl"
    f.write_text('{"instruction": "a", "input": "", "output": "b"}\n')
    res = run_cli("batch", str(f), *(["--tokenizer", "bytes"] if "--tokenizer" not in args else []), *args)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_not_json_file(tmp_path):
    f = tmp_path / "d.json"
    f.write_text("[{\"instruction\": \"a\",,]")
    res = run_cli("batch", str(f), "-t", "alpaca", "--tokenizer", "bytes")
    assert res.returncode == 2 and f"{f}: not valid JSON" in res.stderr
    res = run_cli("batch", str(tmp_path / "missing.json"), "-t", "alpaca", "--tokenizer", "bytes")
    assert res.returncode == 2 and "no such file" in res.stderr


def test_python_dash_m_and_help():
    res = run_cli("--help")
    assert res.returncode == 0 and "batch" in res.stdout
    res = run_cli("batch", "--help")
    assert res.returncode == 0 and "--loss-on" in res.stdout
