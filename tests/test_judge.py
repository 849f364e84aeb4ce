"""The ending judge (`workbench.diagnose.endings.classify_ending`), measured on stories it was
not built on (issue 16, "a judge you can trust": >= 0.95 accuracy on >= 200 held-out
generator stories and on >= 50 model-written stories labelled by a person).

Two sets, each split into a tuning part (read while the rules were changed) and a held-out
part (measured once the rules were fixed):

* Generator stories (`workbench.demo.stories`), regenerated here from fixed seeds. Tuning:
  400 stories of the 12 plots and the names seed 000 trains on, seed "judge/tune".
  Held-out: 240 stories of the 3 held-out plots (kite, boat, snow) with the held-out names
  (`demo.tinystories.split_plots_and_names`), seed "judge/heldout".
* Model-written stories (`tests/fixtures/diagnose/model_stories.jsonl`): written by the demo
  base model and a balanced SFT of it at temperature 0.8
  (`tests/fixtures/diagnose/make_model_stories.py`), each labelled happy / sad / unclear by
  a person reading it (unclear ones are kept and left out of the accuracy). Split: row `i`
  of each source is "tune" when i % 3 == 0, else "heldout" (the `split` field).

Each held-out set must reach MIN_ACCURACY, and the judge's errors must be exactly the ones
listed below (reasons in the fixture README): a change to the rules that fixes or breaks one
fails here, and the list (and the README) has to be updated with it.

Run `pytest -s tests/test_judge.py` to see the numbers.
"""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from conftest import FIXTURES
from workbench.demo.stories import draft_story
from workbench.demo.tinystories import split_plots_and_names
from workbench.diagnose.endings import classify_ending, ending_report

MODEL_STORIES = FIXTURES / "diagnose" / "model_stories.jsonl"
MIN_ACCURACY = 0.95
N_GEN_TUNE, N_GEN_HELDOUT = 400, 240

# The judge's errors on the held-out parts: id -> the label it gives (the person's label is
# in the fixture). Measured once after tuning (none on either set; before tuning, the one
# error on the tuning parts was base17-18); see tests/fixtures/diagnose/README.md.
MODEL_HELDOUT_ERRORS: dict[str, str] = {}
GENERATOR_HELDOUT_ERRORS: list[int] = []


def _generator_stories(part: str) -> list:
    """Generator stories, alternately happy and sad, cycling through the part's plots."""
    train_plots, train_names, test_plots, test_names = split_plots_and_names()
    plots, names, n = ((train_plots, train_names, N_GEN_TUNE) if part == "tune"
                       else (test_plots, test_names, N_GEN_HELDOUT))
    rng = random.Random(f"judge/{part}")
    out = []
    for i in range(n):
        d = draft_story(rng, ("happy", "sad")[i % 2], plots[(i // 2) % len(plots)])
        hero = rng.choice(names[d.hero])
        friend = rng.choice([x for x in names[d.friend] if x != hero])
        out.append(d.named(hero, friend))
    return out


def _rows():
    return [json.loads(x) for x in MODEL_STORIES.read_text(encoding="utf-8").splitlines()
            if x.strip()]


@pytest.mark.parametrize("part", ["tune", "heldout"])
def test_generator_stories(part):
    stories = _generator_stories(part)
    assert len(stories) >= (200 if part == "heldout" else 1)
    assert Counter(s.ending for s in stories) == {"happy": len(stories) // 2,
                                                  "sad": len(stories) // 2}
    got = [classify_ending(s.text).label for s in stories]
    rep = ending_report([(s.ending, g) for s, g in zip(stories, got)])
    print(f"\ngenerator {part} (n={rep['n']}): accuracy {rep['accuracy']:.3f} "
          f"{rep['confusion']}")
    assert rep["accuracy"] >= MIN_ACCURACY
    if part == "heldout":
        wrong = [i for i, (s, g) in enumerate(zip(stories, got)) if g != s.ending]
        assert wrong == GENERATOR_HELDOUT_ERRORS


def test_model_stories_fixture_is_labelled():
    rows = _rows()
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    for r in rows:
        assert r["label"] in ("happy", "sad", "unclear"), r["id"]
        assert r["split"] in ("tune", "heldout") and r["reason"] and r["text"], r["id"]
        assert r["model"] and r["source"], r["id"]
    by_source: dict[str, list] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r)
    for source_rows in by_source.values():   # the split rule, as the README states it
        assert [r["split"] for r in source_rows] == [
            "tune" if i % 3 == 0 else "heldout" for i in range(len(source_rows))]
    clear = [r for r in rows if r["label"] != "unclear"]
    held = [r for r in clear if r["split"] == "heldout"]
    assert len(clear) >= 50 and len(held) >= 50
    labels = Counter(r["label"] for r in held)
    assert min(labels["happy"], labels["sad"]) >= 20, labels


@pytest.mark.parametrize("split", ["tune", "heldout"])
def test_model_stories(split):
    rows = [r for r in _rows() if r["split"] == split and r["label"] != "unclear"]
    got = {r["id"]: classify_ending(r["text"]).label for r in rows}
    rep = ending_report([(r["label"], got[r["id"]]) for r in rows])
    wrong = {r["id"]: got[r["id"]] for r in rows if got[r["id"]] != r["label"]}
    print(f"\nmodel stories {split} (n={rep['n']}): accuracy {rep['accuracy']:.3f} "
          f"{rep['confusion']}; wrong {wrong}")
    if split == "heldout":
        assert rep["accuracy"] >= MIN_ACCURACY
        assert wrong == MODEL_HELDOUT_ERRORS


def test_a_tie_widens_one_sentence_at_a_time():
    """The tuning error that changed the rules (base17-18: a garbled sad storm ending whose
    last 3 sentences hold no cue was read over the whole story, cheerful opening and all)."""
    story = ("Tom was a cheerful, kind boy who loved to play. The storm came. He was sad. "
             "He sat by the door. The rain went on. Then it was night.")
    r = classify_ending(story)
    assert r.label == "sad" and story[r.window[0]:].startswith("He was sad.")
    assert classify_ending("They went home. It was night.").label == "unknown"
