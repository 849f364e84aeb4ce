"""How good the detectors are, measured on hand-labeled data (tests/fixtures/diagnose/).

* labeled.jsonl: 146 responses written by hand as small GPT-2 fine-tunes produce them
  (each failure mode under alpaca, chatml, inst-resp, story, phi3 and a custom template,
  near misses, clean answers), each with the flags a person expects. Every detector must
  reach precision and recall >= 0.95 on it.
* sentence_loops.jsonl: 48 stories and answers for sentence-level looping (a sentence said
  3+ times across the text, not back to back, or a story that starts over), half of them
  hard negatives (refrains said twice, "Tom smiled." thrice, "Yes!" dialogue, lists, Q&A
  answers that look alike). Looping must reach precision >= 0.95 and recall >= 0.9.
* endings.jsonl: 72 short stories with their intended ending; 48 ("dev") were used while
  building the ending lexicon's rules, 24 ("heldout") were written afterwards.
* ../shared/data (when present): 3,922 clean reference answers of three instruction
  datasets, which the detectors should almost never flag.

Run `pytest -s tests/test_diagnose_quality.py` to see the numbers.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from conftest import FIXTURES, SHARED, need_shared
from workbench.diagnose import (DETECTORS, classify_ending, detect_looping, diagnose,
                                ending_report)

LABELED = FIXTURES / "diagnose" / "labeled.jsonl"
SENTENCE_LOOPS = FIXTURES / "diagnose" / "sentence_loops.jsonl"
ENDINGS = FIXTURES / "diagnose" / "endings.jsonl"


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _resolve(template: str) -> str:
    return str(FIXTURES.parent.parent / template) if template.endswith(".toml") else template


def precision_recall(rows) -> dict[str, dict[str, float]]:
    counts = {name: Counter() for name in DETECTORS}
    misses = []
    for row in rows:
        d = diagnose(row["response"], prompt=row["prompt"], stop_reason=row["stop_reason"],
                     template=_resolve(row["template"]), stop_string=row.get("stop_string"))
        for name in DETECTORS:
            want, got = name in row["expect"], d.flags[name]
            counts[name][("tp" if want else "fp") if got else ("fn" if want else "tn")] += 1
            if want != got:
                misses.append(f"{'FN' if want else 'FP'} {name:8} {row['id']}: "
                              f"{d.findings[name].message}")
    out = {}
    for name, c in counts.items():
        flagged, positive = c["tp"] + c["fp"], c["tp"] + c["fn"]
        out[name] = {"precision": c["tp"] / flagged if flagged else 1.0,
                     "recall": c["tp"] / positive if positive else 1.0,
                     "positives": positive, "tp": c["tp"], "fp": c["fp"], "fn": c["fn"]}
    return out, misses


def test_labeled_set_is_what_the_issue_asks_for():
    rows = _rows(LABELED)
    assert len(rows) >= 80 and len({r["id"] for r in rows}) == len(rows)
    templates = Counter(r["template"] for r in rows)
    for name in ("alpaca", "chatml", "inst-resp", "story"):
        assert templates[name] >= 10, name
    positives = Counter(f for r in rows for f in r["expect"])
    for name in DETECTORS:
        assert positives[name] >= 6, name
    clean = [r for r in rows if not r["expect"]]
    assert len(clean) >= 40        # clean answers and near misses
    for row in rows:
        assert set(row["expect"]) <= set(DETECTORS), row["id"]
        assert row["stop_reason"] in ("end", "stop_string", "length", None), row["id"]


def test_detectors_precision_and_recall_on_the_labeled_set():
    scores, misses = precision_recall(_rows(LABELED))
    print(f"\n{'detector':<9} {'precision':>9} {'recall':>7} {'positives':>9}  (tp/fp/fn)")
    for name, s in scores.items():
        print(f"{name:<9} {s['precision']:>9.3f} {s['recall']:>7.3f} {s['positives']:>9}"
              f"  ({s['tp']}/{s['fp']}/{s['fn']})")
    for line in misses:
        print("  " + line)
    for name, s in scores.items():
        assert s["precision"] >= 0.95 and s["recall"] >= 0.95, (name, s, misses)


def test_sentence_loop_set_is_what_the_issue_asks_for():
    rows = _rows(SENTENCE_LOOPS)
    assert len(rows) >= 40 and len({r["id"] for r in rows}) == len(rows)
    positives = sum(r["looping"] for r in rows)
    assert abs(positives - len(rows) / 2) <= len(rows) / 10      # about half each way
    assert all(r["why"] and r["stop_reason"] in ("end", "length") for r in rows)
    storm = next(r for r in rows if r["id"] == "pos-storm-mom")  # the report that started it
    assert storm["looping"] and storm["response"].count('"Every storm stops," his mom said.') == 4


def test_sentence_looping_precision_and_recall():
    """Looping as a whole (run, sentences, tail share) on the sentence-level set. First
    measurement, with the thresholds fixed before the set was run: precision 0.958 and
    recall 0.958 (23/1/1); the two misses are documented in the fixtures README."""
    tp = fp = fn = 0
    misses = []
    for row in _rows(SENTENCE_LOOPS):
        f = detect_looping(row["response"])
        want = row["looping"]
        tp += want and f.flag
        fp += f.flag and not want
        fn += want and not f.flag
        if want != f.flag:
            misses.append(f"{'FN' if want else 'FP'} {row['id']}: {f.message}")
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"\nsentence loops: precision {precision:.3f} recall {recall:.3f} (tp/fp/fn "
          f"{tp}/{fp}/{fn})")
    for line in misses:
        print("  " + line)
    assert precision >= 0.95 and recall >= 0.9, misses


def test_clean_stories_do_not_loop():
    """The 72 hand-written stories of endings.jsonl repeat no sentence 3 times."""
    flagged = [r["id"] for r in _rows(ENDINGS) if detect_looping(r["story"]).flag]
    assert flagged == []


def test_ending_classifier_accuracy():
    rows = _rows(ENDINGS)
    assert len(rows) >= 40 and Counter(r["ending"] for r in rows) == {"happy": 36, "sad": 36}
    results = {}
    for split in ("dev", "heldout", None):
        pairs = [(r["ending"], classify_ending(r["story"]).label) for r in rows
                 if split is None or r["split"] == split]
        results[split or "all"] = ending_report(pairs)
    for split, rep in results.items():
        print(f"\nending accuracy ({split}, n={rep['n']}): {rep['accuracy']:.3f} "
              f"confusion {rep['confusion']}")
    # Measured: all 68/72 = 0.944; dev 47/48 = 0.979; held-out 21/24 = 0.875.
    assert results["all"]["accuracy"] >= 0.94
    assert results["heldout"]["accuracy"] >= 0.875
    assert results["dev"]["accuracy"] >= 0.97


REFERENCE_SETS = {
    # folder/file: (leakage, looping, echo) flag rates measured on the clean references
    "rasbt-instruction-data/instruction-data.json": (0.0, 0.0, 0.016),
    "code-alpaca-2k/code_alpaca_2k.json": (0.0, 0.009, 0.021),
    # looping 12 -> 14 with the sentence criterion: both new ones really loop (#148, an
    # essay that tells its first paragraphs again; #497, a two-sentence template said twice)
    "alpaca-eval-davinci003/model_outputs.json": (0.0, 0.018, 0.024),
}


@pytest.mark.parametrize("name", list(REFERENCE_SETS))
def test_clean_reference_answers_are_rarely_flagged(name):
    """Reference answers are (nearly all) clean, so flags on them are false alarms, except
    the few references that really loop or echo (davinci-003 has some). Leakage: none."""
    from workbench.data.records import Example, Message
    from workbench.templates import get_template

    rows = json.loads(need_shared(SHARED / "data" / name).read_text())
    alpaca = get_template("alpaca")
    flags = Counter()
    for r in rows:
        prompt = alpaca.prompt_text(Example([Message("user", r["instruction"], r.get("input", ""))]))
        d = diagnose(r["output"], prompt=prompt, stop_reason="end", template=alpaca)
        flags.update(d.flagged)
    rates = [flags[k] / len(rows) for k in ("leakage", "looping", "echo")]
    print(f"\n{name}: {len(rows)} references, flags {dict(flags)}")
    for rate, limit in zip(rates, REFERENCE_SETS[name]):
        assert rate <= limit + 1e-9, (rates, REFERENCE_SETS[name])
