"""Data sources: every format detected, every local file kind, save_to_disk folders, the Hub
offline (from the caches the tests build), bad input counted by kind with row numbers, and
the TinyStoriesInstruct raw parser."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from workbench.data import tinystories as ts
from workbench.data.loaders import parse_tinystories_file
from workbench.data.problems import BadRows
from workbench.data.sources import load_examples, open_dataset
from workbench.errors import WorkbenchError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ALPACA = [{"instruction": f"Question {i}?", "input": "" if i % 2 else f"ctx {i}",
           "output": f"Answer {i}.", "category": "even" if i % 2 == 0 else "odd"} for i in range(6)]


@pytest.mark.parametrize("rows,fmt", [
    (ALPACA, "alpaca"),
    ([{"prompt": "p", "completion": "c"}], "prompt-completion"),
    ([{"prompt": "p", "response": "r"}], "prompt-response"),
    ([{"question": "q", "answer": "a"}], "question-answer"),
    ([{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}], "chat"),
    ([{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}], "sharegpt"),
    ([{"text": "Once upon a time."}], "text"),
])
def test_formats_are_detected(tmp_path, rows, fmt):
    ds = open_dataset(str(write_jsonl(tmp_path / "d.jsonl", rows)))
    assert ds.format == fmt and ds.detected
    ex = ds.example(None, 0)
    if fmt == "text":
        assert ex.messages[0].role == "text"
    else:
        assert ex.messages[-1].role == "assistant" and ex.response


def test_alpaca_rows_keep_input_apart_and_labels_as_meta(tmp_path):
    ds = open_dataset(str(write_jsonl(tmp_path / "a.jsonl", ALPACA)))
    ex = ds.example(None, 0)
    assert ex.instruction == "Question 0?" and ex.input == "ctx 0" and ex.response == "Answer 0."
    assert ex.meta["category"] == "even" and ex.meta["row"] == 0
    assert ds.label_names() == ["category"]


def test_format_override(tmp_path):
    f = write_jsonl(tmp_path / "x.jsonl", [{"prompt": "p", "response": "r", "text": "t"}])
    assert open_dataset(str(f)).format == "prompt-response"
    ds = open_dataset(str(f), format="text")
    assert ds.format == "text" and not ds.detected and ds.example(None, 0).messages[0].content == "t"
    with pytest.raises(WorkbenchError, match="unknown format 'nope'"):
        open_dataset(str(f), format="nope")


def test_json_array_csv_parquet_txt(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(ALPACA))
    with open(tmp_path / "a.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(ALPACA[0]))
        w.writeheader()
        w.writerows(ALPACA)
    pq.write_table(pa.Table.from_pylist(ALPACA), tmp_path / "a.parquet")
    (tmp_path / "a.txt").write_text("First line of text.\n\nSecond line.\n")
    for name in ("a.json", "a.csv", "a.parquet"):
        ds = open_dataset(str(tmp_path / name))
        assert ds.format == "alpaca" and ds.num_rows() == 6, name
        assert [e.response for e in ds.iter_examples()] == [r["output"] for r in ALPACA]
    txt = open_dataset(str(tmp_path / "a.txt"))
    assert txt.format == "text" and [e.messages[0].content for e in txt.iter_examples()] == \
        ["First line of text.", "Second line."]
    assert txt.page().rows[1].row == 2   # source line numbers survive skipped blank lines


def test_save_to_disk_folder_and_split_files(tmp_path):
    import datasets

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_list(ALPACA[:4]),
                               "test": datasets.Dataset.from_list(ALPACA[4:])})
    dd.save_to_disk(str(tmp_path / "disk"))
    ds = open_dataset(str(tmp_path / "disk"))
    assert ds.counts() == {"train": 4, "test": 2} and ds.format == "alpaca"
    assert open_dataset(str(tmp_path / "disk"), split="test").counts() == {"test": 2}
    folder = tmp_path / "files"
    folder.mkdir()
    write_jsonl(folder / "train.jsonl", ALPACA[:5])
    write_jsonl(folder / "validation.jsonl", ALPACA[5:])
    assert open_dataset(str(folder)).counts() == {"train": 5, "validation": 1}
    with pytest.raises(WorkbenchError, match="no split 'dev'"):
        open_dataset(str(folder), split="dev")


# ---------------------------------------------------------------------------------------
# Bad input: counted by kind with the first row numbers; the rest loads.


def test_every_kind_of_bad_row_is_counted(tmp_path):
    good = json.dumps({"instruction": "ok", "input": "", "output": "fine"})
    lines = [
        good,                                                          # 0
        '{"instruction": "broken", ',                                  # 1 malformed JSON
        json.dumps({"instruction": "no output", "input": ""}),         # 2 missing field
        json.dumps({"instruction": "typed", "input": "", "output": 7}),  # 3 wrong type
        json.dumps({"instruction": "empty", "input": "", "output": " "}),  # 4 empty string
        good,                                                          # 5
    ]
    raw = ("\n".join(lines) + "\n").encode() + b'{"instruction": "\xff\xfe", "output": "x"}\n' + \
        (good + "\n").encode()                                         # 6 invalid UTF-8, 7 good
    f = tmp_path / "bad.jsonl"
    f.write_bytes(raw)
    ds = open_dataset(str(f))
    assert ds.num_rows() == 3
    assert [r.row for r in ds.page().rows] == [0, 5, 7]
    bad = ds.bad
    assert bad.counts == {"malformed JSON": 1, "missing field": 1, "wrong type": 1,
                          "empty string": 1, "invalid UTF-8": 1}
    assert bad.first["missing field"][0][0] == 2 and bad.first["wrong type"][0][0] == 3
    assert "line 2" in bad.first["malformed JSON"][0][1]
    text = "\n".join(bad.lines())
    assert "rows 4" in text and "field 'output' is empty" in text


def test_ragged_and_non_utf8_csv(tmp_path):
    f = tmp_path / "r.csv"
    f.write_bytes(b"instruction,input,output\nq1,,a1\nq2,x,a2,EXTRA\nq3,,a3\n\xff\xfe,,a4\nq5,,\n")
    ds = open_dataset(str(f))
    assert [e.instruction for e in ds.iter_examples()] == ["q1", "q3"]
    assert ds.bad.counts == {"ragged CSV row": 1, "invalid UTF-8": 1, "empty string": 1}
    assert ds.bad.first["ragged CSV row"][0][0] == 1


def test_nothing_usable_is_an_error(tmp_path):
    f = write_jsonl(tmp_path / "all-bad.jsonl", [{"instruction": "x", "input": "", "output": ""}] * 3)
    with pytest.raises(WorkbenchError, match="no usable rows.*3 bad"):
        open_dataset(str(f))


def test_strict_loader_stops_at_the_first_bad_row(tmp_path):
    f = write_jsonl(tmp_path / "s.jsonl", [ALPACA[0], {"instruction": "x", "input": ""}, ALPACA[1]])
    with pytest.raises(WorkbenchError, match=r"s.jsonl: row 1: missing field 'output'"):
        load_examples(str(f))
    loaded = load_examples(str(f), skip_bad=True)
    assert len(loaded.examples) == 2 and loaded.bad.total == 1


def test_missing_file_and_unknown_kinds(tmp_path):
    with pytest.raises(WorkbenchError, match="no such file or folder"):
        open_dataset(str(tmp_path / "nope.jsonl"))
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(WorkbenchError, match="unsupported file type .xlsx"):
        open_dataset(str(tmp_path / "d.xlsx"))
    f = write_jsonl(tmp_path / "odd.jsonl", [{"foo": 1, "bar": 2}])
    with pytest.raises(WorkbenchError, match="cannot tell the format.*--format"):
        open_dataset(str(f))


# ---------------------------------------------------------------------------------------
# TinyStoriesInstruct raw


RAW = ("Summary: Lily lost her red ball.\nFeatures: Dialogue, BadEnding\nWords: ball, red, lost\n"
       "Random sentence: The park was big.\nStory: \n\nOnce upon a time, Lily had a red ball.\n"
       "She lost it. She cried.\n<|endoftext|>\n"
       "Story: Tom found a dog.\nThe dog was happy.\nFeatures: Dialogue\nSummary: Tom and a dog.\n"
       "<|endoftext|>\n"
       "Words: cake\nSummary: no story here\n<|endoftext|>\n"
       "Summary: an empty story\nStory:\n\n<|endoftext|>\n"
       "Summary: Ben runs.\nStory: Ben ran fast.\n<|endoftext|>\n"
       "Summary: cut off\nStory: It was a dark")


def test_tinystories_fields_any_order_labels_and_counts(tmp_path):
    f = tmp_path / "raw.txt"
    f.write_text(RAW)
    ds = open_dataset(str(f))
    assert ds.format == "tinystories" and ds.detected
    rows = ds.page().rows
    assert [r.raw["ending"] for r in rows] == ["sad", "happy", "happy"]
    assert rows[0].raw["summary"] == "Lily lost her red ball."
    assert rows[0].raw["story"] == "Once upon a time, Lily had a red ball.\nShe lost it. She cried."
    assert rows[1].raw["story"] == "Tom found a dog.\nThe dog was happy."   # stops at Features:
    assert rows[2].raw["features"] == "" and rows[2].raw["words"] == ""
    assert [r.row for r in rows] == [0, 1, 4]
    parse = ds.info["parse"]["train"]
    assert parse["examples"] == 5 and parse["usable"] == 3 and parse["unterminated"] == 1
    assert parse["empty_story"] == 1
    assert parse["missing"] == {"Summary": 0, "Features": 3, "Words": 3, "Random sentence": 4, "Story": 1}
    assert ds.bad.counts == {"missing field": 1, "empty story": 1, "unterminated example": 1}
    assert "line 15" in ds.bad.first["missing field"][0][1]          # the example's first row
    ex = ds.example(None, 0)
    assert ex.meta["ending"] == "sad" and ex.meta["summary"] == "Lily lost her red ball."
    from workbench.templates import get_template
    assert get_template("story").prompt_text(ex) == \
        "Write a story about: Lily lost her red ball.\nWith: sad ending\n\n### Story:\n"


@settings(max_examples=40, deadline=None)
@given(cuts=st.lists(st.integers(1, len(RAW) - 1), max_size=12, unique=True))
def test_tinystories_parse_is_independent_of_block_boundaries(cuts):
    def parse(blocks):
        bad = BadRows()
        cols = ts.Columns()
        stats = ts.ParseStats()
        for c, s in ts.parse_blocks(blocks, bad):
            stats.merge(s)
            for k, v in c.as_dict().items():
                getattr(cols, k).extend(v)
        return cols.as_dict(), stats.to_dict(), bad.to_dict()

    edges = [0, *sorted(cuts), len(RAW)]
    assert parse([RAW[a:b] for a, b in zip(edges, edges[1:])]) == parse([RAW])


def test_parallel_parse_equals_single_process(tmp_path, monkeypatch):
    f = tmp_path / "many.txt"
    f.write_text("".join(f"Summary: s{i}\nFeatures: {'BadEnding' if i % 7 == 0 else 'Dialogue'}\n"
                         f"Story: story {i}\nline two\n<|endoftext|>\n" for i in range(3000))
                 + "Summary: tail\nStory: cut")
    one = parse_tinystories_file(f, workers=1, use_cache=False)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "other-cache"))
    two = parse_tinystories_file(f, workers=2, use_cache=False)
    a, b = one.splits["train"], two.splits["train"]
    assert a.num_rows == b.num_rows == 3000
    assert a.column("_row").to_pylist() == b.column("_row").to_pylist() == list(range(3000))
    assert a.column("_line").to_pylist() == b.column("_line").to_pylist()
    assert a.column("ending").to_pylist() == b.column("ending").to_pylist()
    assert one.info["parse"] == two.info["parse"]
    assert two.bad["train"].to_dict() == one.bad["train"].to_dict()
    assert "example 3000 (line 15001)" in two.bad["train"].lines()[0]


def test_parsed_cache_is_reused_and_invalidated(tmp_path):
    f = tmp_path / "r.txt"
    f.write_text(RAW)
    first = open_dataset(str(f))
    cache = Path(first.info["cache"])
    assert (cache / "meta.json").exists()
    assert open_dataset(str(f)).info["cache"] == str(cache)
    f.write_text(RAW.replace("Ben ran fast.", "Ben ran very fast."))
    os.utime(f, ns=(1, 10**18))
    assert open_dataset(str(f)).info["cache"] != str(cache)


# ---------------------------------------------------------------------------------------
# The Hub, offline


def _offline(monkeypatch):
    from workbench.data import loaders

    monkeypatch.setattr(loaders, "hub_reachable", lambda timeout=3.0: False)


def test_hub_id_offline_without_cache_says_what_to_do(tmp_path, monkeypatch):
    _offline(monkeypatch)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "empty-ds"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    import datasets.config
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "empty-ds")
    with pytest.raises(WorkbenchError) as err:
        open_dataset("acme/not-cached")
    msg = err.value.message
    assert "acme/not-cached" in msg and "HF_HUB_OFFLINE=1" in msg and "local copy" in msg


def test_hub_id_loads_from_the_datasets_cache_offline(tmp_path, monkeypatch):
    import datasets.config
    from datasets.packaged_modules.json.json import Json

    src = write_jsonl(tmp_path / "train.jsonl", ALPACA)
    cache = tmp_path / "ds-cache"
    Json(cache_dir=str(cache), dataset_name="tiny", data_files={"train": str(src)},
         hash="abc123").download_and_prepare()
    # lay it out as load_dataset("acme/tiny") would have: <ns>___<name>/default/<ver>/<hash>
    built = next((cache / "tiny").iterdir())
    (cache / "acme___tiny").mkdir()
    built.rename(cache / "acme___tiny" / "default")
    _offline(monkeypatch)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    ds = open_dataset("acme/tiny")
    assert ds.format == "alpaca" and ds.num_rows() == 6 and ds.info["offline"] == "datasets-cache"


def test_hub_id_loads_from_the_hub_snapshot_cache_offline(tmp_path, monkeypatch):
    import datasets.config

    hub = tmp_path / "hub"
    snap = hub / "datasets--acme--snap" / "snapshots" / "0123abc"
    (snap / "data").mkdir(parents=True)
    write_jsonl(snap / "data" / "train.jsonl", ALPACA)
    (hub / "datasets--acme--snap" / "refs").mkdir()
    (hub / "datasets--acme--snap" / "refs" / "main").write_text("0123abc")
    _offline(monkeypatch)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "empty")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    import huggingface_hub.constants as hc
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(hub))
    ds = open_dataset("acme/snap")
    assert ds.num_rows() == 6 and ds.info["offline"] == "hub-cache"


def test_hub_arguments_reach_load_dataset(monkeypatch):
    import datasets
    from workbench.data import loaders

    seen = {}

    def fake_load(path, **kw):
        seen.update(path=path, **kw)
        return datasets.Dataset.from_list(ALPACA)

    monkeypatch.setattr(loaders, "hub_reachable", lambda timeout=3.0: True)
    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    ds = open_dataset("org/data", config="cfg", split="train", revision="v1.0")
    assert seen == {"path": "org/data", "name": "cfg", "split": "train", "revision": "v1.0",
                    "streaming": False}
    assert ds.counts() == {"train": 6} and ds.info["revision"] == "v1.0"


def test_local_sources_are_cached_memory_mapped(tmp_path):
    f = write_jsonl(tmp_path / "c.jsonl", ALPACA + [{"instruction": "bad", "input": ""}])
    first = open_dataset(str(f))
    again = open_dataset(str(f))
    assert again.num_rows() == 6 and again.bad.counts == {"missing field": 1}
    cached = list((tmp_path / "wb-cache" / "datasets").iterdir())
    assert len(cached) == 1 and (cached[0] / "train.arrow").exists()
    assert [r.row for r in again.page().rows] == [r.row for r in first.page().rows] == list(range(6))
    write_jsonl(f, ALPACA[:2])
    os.utime(f, ns=(1, 10**18))
    assert open_dataset(str(f)).num_rows() == 2           # an edited file is read again
