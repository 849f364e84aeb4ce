"""Labels, balancing (the TinyStoriesInstruct recipe and the other strategies), splits, saving
with a manifest, the browsing API, streaming, and the `workbench data` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from workbench.data.balance import balance, make_validation, parse_ratio, targets
from workbench.data.save import save_dataset
from workbench.data.sources import open_dataset
from workbench.errors import WorkbenchError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "wb-cache"))


def raw_stories(n: int, sad_every: int = 12) -> str:
    """TinyStoriesInstruct-format text: every `sad_every`-th example has BadEnding."""
    parts = []
    for i in range(n):
        sad = i % sad_every == 0
        parts.append(f"Summary: story number {i}\nFeatures: Dialogue{', BadEnding' if sad else ''}\n"
                     f"Story: Once upon a time there was a cat called Cat{i}.\n"
                     f"{'It was lost forever.' if sad else 'They were happy.'}\n<|endoftext|>\n")
    return "".join(parts)


@pytest.fixture
def stories(tmp_path) -> Path:
    f = tmp_path / "stories.txt"
    f.write_text(raw_stories(1200))
    return f


def test_undersample_keeps_every_minority_example(stories):
    ds = open_dataset(str(stories))
    assert ds.stats("ending") == {"train": {"happy": 1100, "sad": 100}}
    out, report = balance(ds, "ending", "undersample", seed=5)
    assert report.after == {"train": {"happy": 100, "sad": 100}}
    assert out.stats("ending") == {"train": {"happy": 100, "sad": 100}}
    sad_rows = {r for r in ds.split().row_numbers()[ds.labels(None, "ending") == "sad"]}
    kept = out.split().row_numbers()
    assert sad_rows <= set(kept.tolist())          # every sad example is kept
    assert len(set(kept.tolist())) == 200           # no repeats
    again, _ = balance(ds, "ending", "undersample", seed=5)
    other, _ = balance(ds, "ending", "undersample", seed=6)
    assert (again.split().row_numbers() == kept).all()
    assert set(other.split().row_numbers()) != set(kept)


def test_oversample_and_ratio(stories):
    ds = open_dataset(str(stories))
    over, rep = balance(ds, "ending", "oversample", seed=1)
    assert over.stats("ending") == {"train": {"happy": 1100, "sad": 1100}}
    rows = over.split().row_numbers()
    counts = np.bincount(rows)
    sad = ds.split().row_numbers()[ds.labels(None, "ending") == "sad"]
    assert (counts[sad] >= 11).all() and (counts[sad] <= 12).all()  # whole copies + remainder
    shares, _ = balance(ds, "ending", "ratio", seed=1, ratio=parse_ratio("happy=0.75,sad=0.25"))
    assert shares.stats("ending") == {"train": {"happy": 300, "sad": 100}}
    caps, _ = balance(ds, "ending", "ratio", seed=1, ratio=parse_ratio("happy=50,sad=500"))
    assert caps.stats("ending") == {"train": {"sad": 100, "happy": 50}}
    only, _ = balance(ds, "ending", "ratio", seed=1, ratio=parse_ratio("sad=1.0"))
    assert only.stats("ending") == {"train": {"sad": 100}}


def test_targets_and_ratio_errors():
    assert targets({"a": 10, "b": 3}, "undersample") == {"a": 3, "b": 3}
    assert targets({"a": 10, "b": 3}, "oversample") == {"a": 10, "b": 10}
    assert targets({"a": 10, "b": 3}, "ratio", {"a": 0.5, "b": 0.5}) == {"a": 3, "b": 3}
    with pytest.raises(WorkbenchError, match="no class 'c'"):
        targets({"a": 1}, "ratio", {"c": 1.0})
    with pytest.raises(WorkbenchError, match="not a number"):
        parse_ratio("a=x")
    with pytest.raises(WorkbenchError, match="unknown strategy"):
        targets({"a": 1}, "smote")


def test_balance_is_per_split(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    for split, n in (("train", 600), ("validation", 120)):
        (folder / f"{split}.txt").write_text(raw_stories(n, sad_every=6))
    ds = open_dataset(str(folder))
    out, rep = balance(ds, "ending", "undersample", seed=0)
    assert rep.after == {"train": {"happy": 100, "sad": 100}, "validation": {"happy": 20, "sad": 20}}


def test_stratified_validation_split(stories):
    ds = open_dataset(str(stories))
    split = make_validation(ds, 0.1, seed=3, stratify="ending")
    assert split.stats("ending") == {"train": {"happy": 990, "sad": 90},
                                     "validation": {"happy": 110, "sad": 10}}
    rows = lambda name: set(split.split(name).row_numbers().tolist())  # noqa: E731
    assert not rows("train") & rows("validation")
    assert len(rows("train") | rows("validation")) == 1200
    plain = make_validation(ds, 0.25, seed=3)
    assert plain.counts() == {"train": 900, "validation": 300}
    with pytest.raises(WorkbenchError, match="between 0 and 1"):
        make_validation(ds, 1.5)


def test_length_buckets_use_the_rendered_example(gpt2_tok, tmp_path):
    from workbench.collate import TokenLength
    from workbench.data.records import Example
    from workbench.templates import get_template

    prompt = get_template("alpaca").prompt_text(Example.single("Say hi."))
    p = len(gpt2_tok.encode(prompt))
    assert gpt2_tok.encode(" ".join(["hi"] * 5)) == [5303] + [23105] * 4   # k words = k tokens
    # total tokens = prompt + response words + the end token
    wanted = {"0-63": 63, "64-127": 64, "128-255": 200, "512-1023": 1023}
    f = tmp_path / "d.jsonl"
    f.write_text("".join(json.dumps({"instruction": "Say hi.", "input": "",
                                     "output": " ".join(["hi"] * (n - p - 1))}) + "\n"
                         for n in wanted.values()))
    ds = open_dataset(str(f))
    length = TokenLength(get_template("alpaca"), gpt2_tok)
    values = ds.labels(None, "length", length_of=length).tolist()
    assert values == list(wanted)
    with pytest.raises(WorkbenchError, match="needs a template and a tokenizer"):
        ds.labels(None, "length")


def test_save_jsonl_and_disk_with_manifest(stories, tmp_path):
    ds = open_dataset(str(stories))
    out, rep = balance(ds, "ending", "undersample", seed=2)
    out = make_validation(out, 0.2, seed=2, stratify="ending")
    meta = save_dataset(out, tmp_path / "bal", manifest_extra={"balance": rep.to_dict()})
    manifest = json.loads((tmp_path / "bal" / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(meta))
    assert manifest["format"] == "tinystories" and manifest["source"]["spec"] == str(stories)
    assert manifest["balance"]["before"] == {"train": {"happy": 1100, "sad": 100}}
    assert manifest["rows"] == {"train": 160, "validation": 40}
    back = open_dataset(str(tmp_path / "bal"))
    assert back.counts() == {"train": 160, "validation": 40}
    assert back.stats("ending") == out.stats("ending")
    # rows keep their source row numbers
    assert sorted(back.split("validation").table.column("source_row").to_pylist()) == \
        sorted(out.split("validation").row_numbers().tolist())
    with pytest.raises(WorkbenchError, match="do not fit one .jsonl"):
        save_dataset(out, tmp_path / "one.jsonl")
    single = save_dataset(out.with_splits({"train": out.split("train")}), tmp_path / "one.jsonl")
    assert single["rows"] == {"train": 160}
    assert (tmp_path / "one.manifest.json").exists()
    assert open_dataset(str(tmp_path / "one.jsonl")).stats("ending") == {"train": {"happy": 80, "sad": 80}}


def test_browsing_api(stories, gpt2_tok):
    ds = open_dataset(str(stories))
    page = ds.page(None, 2, 25)
    assert page.total == 1200 and page.pages == 48 and [r.position for r in page.rows] == list(range(50, 75))
    hits = ds.page(None, 0, 10, search="CAT1199")
    assert hits.matched == 1 and hits.rows[0].row == 1199
    sad = ds.page(None, 1, 30, label="ending", value="sad")
    assert sad.matched == 100 and all(r.raw["ending"] == "sad" for r in sad.rows)
    assert [r.row for r in sad.rows][:2] == [360, 372]
    both = ds.page(None, 0, 50, search="cat12", label="ending", value="sad")
    assert {r.row for r in both.rows} == {12, 120}   # Cat12, Cat120..129 match; 12 and 120 are sad
    from workbench.templates import get_template
    segs = get_template("story").render(page.rows[0].example)
    assert segs[0].text.startswith("Write a story about: story number 50") and segs[1].trainable


def test_search_reaches_nested_chat_content(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hello {i}"},
                                                  {"role": "assistant", "content": f"reply {i}"}]}) + "\n"
                         for i in range(20)))
    ds = open_dataset(str(f))
    assert [r.row for r in ds.page(None, 0, 10, search="REPLY 1").rows] == [1] + list(range(10, 19))


def test_streaming_pages_and_balance_match_in_memory(stories, tmp_path):
    sds = open_dataset(str(stories), streaming=True)
    assert sds.format == "tinystories" and sds.num_rows() is None
    page = sds.page(None, 1, 10)
    assert [r.row for r in page.rows] == list(range(10, 20)) and page.total is None
    res = run_cli("data", "balance", str(stories), "--label", "ending", "--strategy", "undersample",
                  "--seed", "4", "--out", str(tmp_path / "mem.jsonl"), "--json")
    assert res.returncode == 0, res.stderr
    res2 = run_cli("data", "balance", str(stories), "--streaming", "--label", "ending", "--strategy",
                   "undersample", "--seed", "4", "--out", str(tmp_path / "stream.jsonl"), "--json")
    assert res2.returncode == 0, res2.stderr
    assert (tmp_path / "mem.jsonl").read_bytes() == (tmp_path / "stream.jsonl").read_bytes()
    assert json.loads(res.stdout)["after"] == json.loads(res2.stdout)["after"] == {"happy": 100, "sad": 100}


# ---------------------------------------------------------------------------------------
# The CLI


def test_cli_show_stats_balance(stories, tmp_path):
    res = run_cli("data", "show", str(stories), "--limit", "3", "--offset", "5", "--json",
                  "--template", "story")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["format"] == "tinystories" and out["format_detected"] and out["splits"] == {"train": 1200}
    assert [r["row"] for r in out["rows"]] == [5, 6, 7]
    assert out["rows"][0]["rendered"]["prompt"].endswith("### Story:\n")
    text = run_cli("data", "show", str(stories), "--filter", "ending=sad", "--limit", "2").stdout
    assert "tinystories (detected)" in text and "ending=sad" in text and "matching (100)" in text
    res = run_cli("data", "stats", str(stories), "--label", "ending", "--json")
    stats = json.loads(res.stdout)["stats"]["train"]
    assert stats["counts"] == {"happy": 1100, "sad": 100} and abs(stats["shares"]["sad"] - 1 / 12) < 1e-9
    res = run_cli("data", "balance", str(stories), "--label", "ending", "--strategy", "ratio",
                  "--ratio", "happy=0.5,sad=0.5", "--val-ratio", "0.1", "--out", str(tmp_path / "b"))
    assert res.returncode == 0, res.stderr
    assert "before · label ending" in res.stdout and "after ratio" in res.stdout
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    # the validation split is cut first, from the data as it is (stratified: 110 happy, 10
    # sad), and only the training part is balanced
    assert manifest["counts"]["after"] == {"train": {"happy": 90, "sad": 90},
                                           "validation": {"happy": 110, "sad": 10}}
    assert manifest["validation"]["ratio"] == 0.1 and manifest["validation"]["seed"] == 0
    assert manifest["validation"]["stratify"] == "ending" and manifest["validation"]["rows"] == 120
    assert "before balancing" in manifest["validation"]["cut"]


def test_cli_bad_input_reports_and_loads_the_rest(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"instruction": "a", "input": "", "output": "b"}\nnot json\n'
                 '{"instruction": "c", "input": ""}\n{"instruction": "d", "input": "", "output": "e"}\n')
    res = run_cli("data", "show", str(f))
    assert res.returncode == 0 and "bad rows skipped: 2" in res.stdout
    assert "malformed JSON (rows 1)" in res.stdout and "missing field (rows 2)" in res.stdout
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"instruction": "a", "input": "", "output": ""}\n')
    res = run_cli("data", "stats", str(empty), "--label", "x")
    assert res.returncode == 2 and "no usable rows" in res.stderr and "Traceback" not in res.stderr
    res = run_cli("data", "stats", str(f), "--label", "nope")
    assert res.returncode == 2 and "no label 'nope'" in res.stderr
    res = run_cli("data", "balance", str(f), "--label", "x", "--strategy", "ratio", "--out", "o.jsonl")
    assert res.returncode == 2 and "needs --ratio" in res.stderr


def test_batch_accepts_any_source(stories, gpt2_dir):
    res = run_cli("batch", str(stories), "-t", "story", "--tokenizer", str(gpt2_dir), "--json", "-b", "2")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    # training holds out val_ratio 0.05 of the 1,200 rows first
    assert out["format"] == "tinystories" and out["examples"] == 1140
