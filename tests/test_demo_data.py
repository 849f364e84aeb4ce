"""The demo kit's data generators (issue #9): deterministic, well-formed, varied, correct."""

from __future__ import annotations

import ast
import json
import os
import random
import re
import subprocess
import sys

import pytest
from conftest import ROOT

from workbench.data.sources import load_examples
from workbench.demo import chatml, stories, tasks, tinystories
from workbench.demo import story_words as W
from workbench.demo.story_plots import PLOTS

END = "<|endoftext|>"
META_FIELDS = ("Summary", "Features", "Words", "Random sentence")


# ----------------------------------------------------------------------------- stories
@pytest.fixture(scope="module")
def many_stories() -> list[stories.Story]:
    return stories.generate_stories(2000, seed=3)


def test_stories_are_deterministic_for_a_seed():
    a = stories.generate_stories(50, seed=1)
    assert a == stories.generate_stories(50, seed=1)
    assert a != stories.generate_stories(50, seed=2)


def test_story_corpus_bytes_depend_only_on_the_seed(tmp_path):
    p1, p2, p3 = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    counts = stories.write_story_corpus(p1, 200, seed=5)
    stories.write_story_corpus(p2, 200, seed=5)
    stories.write_story_corpus(p3, 200, seed=6)
    assert p1.read_bytes() == p2.read_bytes() != p3.read_bytes()
    assert counts["stories"] == 200 and counts["happy"] + counts["sad"] == 200
    loaded = load_examples(str(p1))
    assert loaded.format == "text" and len(loaded.examples) == 200
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind


def test_word_pools_are_large_enough():
    assert len(set(W.GIRL_NAMES + W.BOY_NAMES)) >= 60
    objects = {o for p in PLOTS.values() for o in p["obj"]}
    assert len(objects) >= 80
    places = set(W.LANDMARKS) | {x for p in PLOTS.values() for x in p["place"]}
    assert len(places) >= 40
    assert not set(W.PET_NAMES) & set(W.GIRL_NAMES + W.BOY_NAMES)


def test_every_story_is_well_formed(many_stories):
    for s in many_stories:
        n_words = len(s.text.split())
        assert stories.MIN_WORDS <= n_words <= stories.MAX_WORDS, s.text
        assert s.ending in stories.ENDINGS
        assert set(s.features) <= set(stories.FEATURES)
        assert ("BadEnding" in s.features) == (s.ending == "sad")
        assert ("Dialogue" in s.features) == ('"' in s.text)
        assert s.random_sentence in s.text and '"' not in s.random_sentence
        assert s.summary and "\n" not in s.summary
        assert not re.search(r"[\x00-\x09\x0b-\x1f{}]", s.text + s.summary)  # all slots filled
        tokens = set(re.findall(r"[a-z]+(?:-[a-z]+)*", s.text.lower()))
        verb, noun, adjective = s.words
        assert noun in tokens and adjective in tokens, (s.words, s.text)
        assert tokens & set(stories.VERB_FORMS[verb]), (s.words, s.text)


def test_ending_is_lexically_clear_in_the_last_sentences(many_stories):
    for s in many_stories:
        happy, sad = stories.ending_cues(s.text)
        if s.ending == "happy":
            assert happy and not sad, (happy, sad, stories.sentences(s.text)[-2:])
        else:
            assert sad and not happy, (happy, sad, stories.sentences(s.text)[-2:])


def test_the_workbench_ending_classifier_reads_the_endings_right(many_stories):
    endings = pytest.importorskip("workbench.diagnose.endings")
    right = sum(endings.classify_ending(s.text).label == s.ending for s in many_stories)
    assert right / len(many_stories) > 0.99  # measured: 100% on seeds 0, 1, 3 (10k, 10k, 2k)


def test_summary_does_not_give_the_ending_away(many_stories):
    for s in many_stories:
        words = set(re.findall(r"[a-z]+", s.summary.lower()))
        assert not words & {"cried", "sad", "happy", "forever", "smiled", "lost forever"}


def test_stories_are_varied(many_stories):
    # Measured on seed 3 (2,000 stories): 4-gram ratio 0.26, 59% distinct sentences,
    # 1,240 word types; thresholds sit below with some margin.
    grams, total, vocab = set(), 0, set()
    sents = [x for s in many_stories for x in stories.sentences(s.text)]
    for s in many_stories:
        toks = re.findall(r"[A-Za-z']+|[.,!?\"]", s.text)
        vocab.update(t.lower() for t in toks)
        grams.update(zip(toks, toks[1:], toks[2:], toks[3:]))
        total += max(0, len(toks) - 3)
    assert len(grams) / total > 0.2
    assert len(set(sents)) / len(sents) > 0.45
    assert len(vocab) > 1000
    assert len({s.text for s in many_stories}) == len(many_stories)
    assert {s.plot for s in many_stories} == set(PLOTS)
    openings = {s.text.split(",")[0] for s in many_stories}
    assert "Once upon a time" in openings and len(openings) > 50


def test_every_plot_writes_both_endings():
    rng = random.Random(0)
    for plot in PLOTS:
        for ending in stories.ENDINGS:
            for _ in range(20):
                s = stories.generate_story(rng, ending, plot)
                assert s.plot == plot and s.ending == ending
                happy, sad = stories.ending_cues(s.text)
                assert bool(sad) == (ending == "sad") != bool(happy)
    with pytest.raises(ValueError):
        stories.generate_story(rng, "bittersweet")
    with pytest.raises(ValueError):
        stories.generate_story(rng, "happy", plot="no such plot")


def test_a_sad_share_is_respected():
    got = stories.generate_stories(1000, seed=0, sad_share=0.2)
    assert 0.15 < sum(s.ending == "sad" for s in got) / 1000 < 0.25


# ------------------------------------------------------------- TinyStoriesInstruct raw
def parse_raw(text: str) -> list[dict]:
    """A small reference parser of the raw format, as issue #3 describes it: rows up to a
    row holding <|endoftext|> make one example; fields Summary/Features/Words/Random
    sentence/Story; the Story field spans the rows that follow it."""
    examples, rows = [], []

    def close(terminated: bool) -> None:
        ex: dict = {"terminated": terminated, "fields": {}, "order": []}
        story = None
        for row in rows:
            if story is not None:
                story.append(row)
                continue
            name, sep, value = row.partition(": ")
            if row == "Story: ":
                name, sep, value = "Story", ": ", ""
            assert sep and name in (*META_FIELDS, "Story"), row
            assert name not in ex["fields"], f"field {name} twice"
            ex["order"].append(name)
            if name == "Story":
                story = [value] if value else []
            else:
                ex["fields"][name] = value
        if story is not None:
            ex["fields"]["Story"] = "\n".join(story)
        feats = ex["fields"].get("Features", "")
        ex["ending"] = "sad" if "BadEnding" in feats else "happy"
        examples.append(ex)

    lines = text.split("\n")
    assert lines[-1] == "", "file ends with a newline"
    for row in lines[:-1]:
        if END in row:
            assert row == END
            close(True)
            rows = []
        else:
            rows.append(row)
    if rows:
        close(False)
    return examples


@pytest.fixture(scope="module")
def raw5000(tmp_path_factory):
    path = tmp_path_factory.mktemp("raw") / "tinystories.txt"
    report = tinystories.write_tinystories_raw(path, 5000, seed=0)
    return path, report, parse_raw(path.read_text(encoding="utf-8"))


def test_raw_file_is_deterministic(tmp_path):
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    tinystories.write_tinystories_raw(a, 300, seed=1)
    tinystories.write_tinystories_raw(b, 300, seed=1)
    tinystories.write_tinystories_raw(c, 300, seed=2)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_raw_file_has_the_real_imbalance(raw5000):
    _, report, parsed = raw5000
    sad = sum(ex["ending"] == "sad" for ex in parsed)
    assert len(parsed) == 5000
    assert 0.065 < sad / 5000 < 0.095   # 8% +- 4 standard deviations
    assert report["sad"] == sad and report["happy"] == 5000 - sad


def test_every_raw_example_parses_with_its_fields(raw5000):
    _, report, parsed = raw5000
    counts = dict.fromkeys((*META_FIELDS, "Story"), 0)
    orders = set()
    for ex in parsed:
        f = ex["fields"]
        assert ex["terminated"]
        assert f["Summary"] and f["Story"].strip()
        assert ex["order"][-1] == "Story"
        orders.add(tuple(ex["order"]))
        for name in f:
            counts[name] += 1
        # The label from Features agrees with the story's own ending.
        happy_cues, sad_cues = stories.ending_cues(f["Story"])
        assert bool(sad_cues) == (ex["ending"] == "sad") and bool(happy_cues) != bool(sad_cues)
        if "Random sentence" in f:
            assert f["Random sentence"] in f["Story"]
        if "Words" in f:
            assert len(f["Words"].split(", ")) == 3
        if "Features" in f:
            assert set(f["Features"].split(", ")) <= set(stories.FEATURES)
    assert counts == report["fields"]
    # Optional fields are really optional, and their order varies.
    assert 0 < counts["Words"] < 5000 and 0 < counts["Random sentence"] < 5000
    assert 0 < counts["Features"] < 5000
    assert len(orders) > 10
    assert report["rows"] == sum(1 for _ in raw5000[0].open(encoding="utf-8"))


def test_dirty_raw_file_has_exactly_the_injected_defects(tmp_path):
    path = tmp_path / "dirty.txt"
    report = tinystories.write_tinystories_dirty(path, n=40, seed=4)
    parsed = parse_raw(path.read_text(encoding="utf-8"))
    assert len(parsed) == 40
    missing = [i for i, ex in enumerate(parsed) if "Summary" not in ex["fields"]]
    empty = [i for i, ex in enumerate(parsed) if not ex["fields"].get("Story", "").strip()]
    unterminated = [i for i, ex in enumerate(parsed) if not ex["terminated"]]
    assert missing == report["defects"]["missing_summary"] and len(missing) == 1
    assert empty == report["defects"]["empty_story"] and len(empty) == 1
    assert unterminated == report["defects"]["unterminated"] == [39]
    assert set(missing).isdisjoint(empty) and 39 not in missing + empty
    assert not path.read_text(encoding="utf-8").rstrip("\n").endswith(END)


def test_defects_can_be_injected_in_any_number(tmp_path):
    path = tmp_path / "d.txt"
    report = tinystories.write_tinystories_raw(path, 100, seed=0, missing_summary=3,
                                               empty_story=2)
    parsed = parse_raw(path.read_text(encoding="utf-8"))
    assert sum("Summary" not in ex["fields"] for ex in parsed) == 3
    assert sum(not ex["fields"]["Story"] for ex in parsed) == 2
    assert all(ex["terminated"] for ex in parsed) and report["defects"]["unterminated"] == []


def test_pool_reuse_keeps_the_format_and_renames(tmp_path):
    # A pool of 30 stories per ending for 400 examples: most examples are re-used drafts.
    path = tmp_path / "pool.txt"
    tinystories.write_tinystories_raw(path, 400, seed=0, pool=30, sad_share=0.5)
    parsed = parse_raw(path.read_text(encoding="utf-8"))
    assert len(parsed) == 400 and all(ex["terminated"] for ex in parsed)
    texts = [ex["fields"]["Story"] for ex in parsed]
    assert len(set(texts)) > 300  # new names make most of them distinct


def test_story_instructions_and_prompts(tmp_path):
    path = tmp_path / "si.jsonl"
    counts = tinystories.write_story_instructions(path, 60, seed=0)
    loaded = load_examples(str(path))
    assert loaded.format == "tinystories" and len(loaded.examples) == 60
    assert {e.meta["ending"] for e in loaded.examples} == {"happy", "sad"}
    assert counts["happy"] + counts["sad"] == 60
    prompts = tinystories.story_prompts(10, seed=0)
    assert len(prompts) == 20 and [p["ending"] for p in prompts[:2]] == ["happy", "sad"]


# ----------------------------------------------------------------------------- tasks
def _check_answer(item: dict) -> None:
    ins, inp, out, cat = item["instruction"], item["input"], item["output"], item["category"]
    if cat == "capital":
        matches = [(c, cap) for c, cap in tasks.CAPITALS if ins.endswith(f" {c}?")
                   or ins.endswith(f" {c}.")]
        assert len(matches) == 1, ins
        country, capital = matches[0]
        assert out == f"The capital of {country} is {capital}."
    elif cat == "arithmetic":
        a, b = map(int, re.findall(r"\d+", ins))
        m = re.fullmatch(r"(\d+) ([-+*]) (\d+) = (\d+)", out)
        assert m, out
        x, op, y, z = int(m[1]), m[2], int(m[3]), int(m[4])
        assert {"+": x + y, "-": x - y, "*": x * y}[op] == z >= 0
        assert (x, y) == ((b, a) if ins.startswith("Subtract") else (a, b))
    elif cat == "list":
        group = next(g for g in tasks.LIST_GROUPS if f" {g} " in f" {ins} ".replace("?", " ")
                     .replace(".", " "))
        expected = [w for w in inp.split(", ") if w in tasks.LIST_GROUPS[group]]
        assert expected and out == ", ".join(expected)
    elif cat == "summary":
        assert out.endswith(".") and out.count(". ") == 0 and inp.count(". ") >= 2
        assert out.split()[0].rstrip("'s") in inp  # the summary is about the passage's person
    elif cat == "code":
        ast.parse(out)
        call = re.fullmatch(r"(sorted|len|sum|max)\((\[[\d, ]*\])\)", out)
        if call:
            xs = ast.literal_eval(call[2])
            assert str(xs) in ins
        elif out.startswith("print("):
            assert ast.literal_eval(out[6:-1]) in ins
        else:
            m = re.fullmatch(r'"(\w+)"(\[::-1\]|\.upper\(\))', out)
            assert m and f'"{m[1]}"' in ins
    elif cat == "definition":
        word = re.search(r'"(\w+)"', ins)[1]
        assert out == f"{word.capitalize()} means {dict(tasks.DEFINITIONS)[word]}."
    else:
        raise AssertionError(cat)


def test_tables_are_big_enough_and_unambiguous():
    assert len(tasks.CAPITALS) >= 40 and len(dict(tasks.CAPITALS)) == len(tasks.CAPITALS)
    assert len(tasks.DEFINITIONS) >= 40 and len(dict(tasks.DEFINITIONS)) == len(tasks.DEFINITIONS)
    words = [w for g in tasks.LIST_GROUPS.values() for w in g]
    assert len(words) == len(set(words))


def test_task_answers_are_correct():
    items = tasks.generate_tasks(1200, seed=0)
    assert {it["category"] for it in items} == set(tasks.CATEGORIES)
    for item in items:
        assert set(item) == {"instruction", "input", "output", "category"}
        _check_answer(item)


def test_held_out_split_is_disjoint_and_covers_every_kind():
    train, test = tasks.split_tasks(600, 60, seed=1)
    train_keys = {(t["instruction"], t["input"]) for t in train}
    test_keys = [(t["instruction"], t["input"]) for t in test]
    assert len(train) == 600 and len(test) == 60
    assert len(set(test_keys)) == 60 and not train_keys & set(test_keys)
    assert {t["category"] for t in test} == {t["category"] for t in train} == set(tasks.CATEGORIES)
    for item in train + test:
        _check_answer(item)


def test_held_out_facts_never_reach_train():
    train, test = tasks.split_tasks(600, 60, seed=1, hold_out_facts=True)
    for cat in ("capital", "definition"):
        outs_train = {t["output"] for t in train if t["category"] == cat}
        outs_test = {t["output"] for t in test if t["category"] == cat}
        assert outs_test and not outs_train & outs_test


def test_write_tasks_files_load_and_are_deterministic(tmp_path):
    r1 = tasks.write_tasks(tmp_path / "a", 120, 30, seed=2)
    tasks.write_tasks(tmp_path / "b", 120, 30, seed=2)
    tasks.write_tasks(tmp_path / "c", 120, 30, seed=3)
    for name in ("train.jsonl", "test.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes()
    assert sum(r1["test"].values()) == 30 and min(r1["test"].values()) == 5
    loaded = load_examples(str(tmp_path / "a" / "test.jsonl"))
    assert loaded.format == "alpaca" and len(loaded.examples) == 30
    assert {e.meta["category"] for e in loaded.examples} == set(tasks.CATEGORIES)


# ----------------------------------------------------------------------------- chatml
def _check_conversation(msgs: list[dict]) -> None:
    roles = [m["role"] for m in msgs]
    if roles[0] == "system":
        roles = roles[1:]
    assert roles and roles[-1] == "assistant"
    assert roles == ["user", "assistant"] * (len(roles) // 2)
    for m in msgs:
        assert set(m) == {"role", "content"} and m["content"].strip() == m["content"] != ""


def test_chatml_set_is_well_formed_and_consistent():
    rows = chatml.examples()
    assert len(rows) >= 60
    for row in rows:
        _check_conversation(row["messages"])
        for m in row["messages"]:
            if m["role"] == "assistant":  # the house style: direct, short, full stop
                assert not m["content"].lower().startswith(("sure", "great", "of course"))
                assert m["content"][-1] in ".?" and len(m["content"].split()) <= 30
    assert sum(1 for r in rows if sum(m["role"] == "user" for m in r["messages"]) == 2) >= 8
    assert sum(1 for r in rows if r["messages"][0]["role"] == "system") >= 2
    users = [m["content"] for r in rows for m in r["messages"] if m["role"] == "user"]
    assert len(set(users)) == len(users)
    # Any prefix keeps multi-turn examples in it (for the data-size sweep).
    assert any(len(r["messages"]) > 3 for r in chatml.examples(15))


def test_chatml_eval_and_forgetting_sets():
    train_users = {m["content"] for r in chatml.examples() for m in r["messages"]
                   if m["role"] == "user"}
    prompts = chatml.eval_prompts()
    assert len(prompts) >= 10 and all(p["reference"] for p in prompts)
    assert not {p["prompt"] for p in prompts} & train_users
    passages = chatml.forgetting_passages()
    assert len(passages) >= 10 and all(len(p.split()) >= 25 for p in passages)


def test_chatml_files_load(tmp_path):
    chatml.write_chatml(tmp_path / "train.jsonl")
    chatml.write_chatml(tmp_path / "off.jsonl", 30, off_style=4)
    chatml.write_chatml_eval(tmp_path / "eval.jsonl")
    chatml.write_forgetting(tmp_path / "forget.jsonl")
    assert len(load_examples(str(tmp_path / "train.jsonl")).examples) == len(chatml.EXAMPLES)
    off = [json.loads(line) for line in (tmp_path / "off.jsonl").open()]
    assert len(off) == 34 and sum(r in chatml.OFF_STYLE for r in off) == 4
    assert load_examples(str(tmp_path / "eval.jsonl")).format == "chat"
    assert load_examples(str(tmp_path / "forget.jsonl")).format == "text"


def test_generators_need_only_the_standard_library():
    code = ("import sys, workbench.demo.stories, workbench.demo.tinystories, "
            "workbench.demo.tasks, workbench.demo.chatml\n"
            "bad = [m for m in ('torch', 'numpy', 'textual', 'datasets') if m in sys.modules]\n"
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_output_does_not_depend_on_the_hash_seed():
    # String seeds go through sha512 in `random.Random`, not through hash(), and no set
    # order leaks into the output.
    code = ("from workbench.demo.stories import generate_stories\n"
            "print(generate_stories(20, seed=9)[19])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": h},
                           check=True).stdout
            for h in ("1", "2", "3")}
    assert len(outs) == 1
