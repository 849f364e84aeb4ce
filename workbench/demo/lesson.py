"""Seed 001 as the lesson runs it: 200 deterministic instruction-response pairs of six task
kinds, split 160 train / 40 test with every kind in the test split, for a tiny byte-level
model trained from scratch (hidden 96, 2 blocks, 64 positions).

The lesson (../shared/seeds/001) describes its data only by kind: factual single-shot
(capital of X), arithmetic, list extraction, one-sentence summary, code (print, sort),
definition, "each task has a templated instruction and a deterministic response", drawn
with a fixed seed. This module draws them the same way, from small tables, so every pair
fits the lesson's 64 positions in bytes:

=========== ================================== ===========================
kind        instruction                         response
=========== ================================== ===========================
capital     What is the capital of Spain?       Madrid.
arithmetic  What is 3 + 4?                      7.
list        List the colors: red cat blue       red, blue.
summary     Summarize: Tom ran. Tom fell.       Tom ran and fell.
code        Print hi. / Sort 3 1 2.             print('hi') / sorted([3, 1, 2])
definition  Define brave.                       Not afraid.
=========== ================================== ===========================

Because the tables are small, a test pair can be a pair the training split also holds
(a different row with the same text), as it is in the lesson: `overlap` counts them, and
the report gives exact match on the test pairs that are not in training as well.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from ._io import atomic_writer

KINDS = ("capital", "arithmetic", "list", "summary", "code", "definition")

CAPITALS = (("France", "Paris"), ("Spain", "Madrid"), ("Italy", "Rome"), ("Japan", "Tokyo"),
            ("Egypt", "Cairo"), ("Peru", "Lima"), ("Kenya", "Nairobi"), ("Chile", "Santiago"))
COLORS = ("red", "blue", "green", "pink", "gray")
THINGS = ("cat", "cup", "sun", "box", "hat")
SUMMARIES = (("Tom ran. Tom fell.", "Tom ran and fell."),
             ("Ann sang. Ann smiled.", "Ann sang and smiled."),
             ("Sam ate. Sam slept.", "Sam ate and slept."),
             ("Mia read. Mia wrote.", "Mia read and wrote."),
             ("Bo swam. Bo rested.", "Bo swam and rested."))
WORDS = ("hi", "yes", "cat", "ok", "sun", "go")
DEFINITIONS = (("brave", "Not afraid."), ("tiny", "Very small."), ("glad", "Happy."),
               ("swift", "Very fast."), ("calm", "Not upset."), ("vast", "Very big."))


def _pair(rng: random.Random, kind: str) -> dict:
    if kind == "capital":
        country, capital = rng.choice(CAPITALS)
        return {"instruction": f"What is the capital of {country}?", "output": f"{capital}."}
    if kind == "arithmetic":
        a, b = rng.randint(1, 5), rng.randint(1, 4)
        return {"instruction": f"What is {a} + {b}?", "output": f"{a + b}."}
    if kind == "list":
        colors = rng.sample(COLORS, 2)
        words = colors + [rng.choice(THINGS)]
        rng.shuffle(words)
        return {"instruction": f"List the colors: {' '.join(words)}",
                "output": ", ".join(w for w in words if w in colors) + "."}
    if kind == "summary":
        passage, summary = rng.choice(SUMMARIES)
        return {"instruction": f"Summarize: {passage}", "output": summary}
    if kind == "code":
        if rng.random() < 0.5:
            word = rng.choice(WORDS)
            return {"instruction": f"Print {word}.", "output": f"print('{word}')"}
        digits = rng.sample(range(1, 10), 3)
        return {"instruction": f"Sort {' '.join(map(str, digits))}.",
                "output": f"sorted([{', '.join(map(str, digits))}])"}
    word, meaning = rng.choice(DEFINITIONS)
    return {"instruction": f"Define {word}.", "output": meaning}


def lesson_pairs(n: int = 200, seed: int = 0) -> list[dict]:
    """`n` pairs, the six kinds in turn (as even as possible), drawn with a fixed seed:
    alpaca rows `{"instruction", "input", "output", "category"}`."""
    rng = random.Random(f"lesson-001/{seed}")
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        row = _pair(rng, kind)
        out.append({"instruction": row["instruction"], "input": "", "output": row["output"],
                    "category": kind})
    return out


def lesson_split(pairs: list[dict], n_test: int = 40, seed: int = 0) -> tuple[list, list]:
    """(train, test): a seeded split of the rows (not of their text) with every kind in the
    test split, as even as possible."""
    rng = random.Random(f"lesson-001-split/{seed}")
    by_kind: dict[str, list[int]] = {k: [] for k in KINDS}
    for i, row in enumerate(pairs):
        by_kind[row["category"]].append(i)
    test_idx: set[int] = set()
    k = 0
    while len(test_idx) < n_test:
        rows = [i for i in by_kind[KINDS[k % len(KINDS)]] if i not in test_idx]
        if rows:
            test_idx.add(rng.choice(rows))
        k += 1
    train = [r for i, r in enumerate(pairs) if i not in test_idx]
    test = [r for i, r in enumerate(pairs) if i in test_idx]
    return train, test


def overlap(train: list[dict], test: list[dict]) -> int:
    """Test pairs whose (instruction, output) text is also a training pair."""
    seen = {(r["instruction"], r["output"]) for r in train}
    return sum(1 for r in test if (r["instruction"], r["output"]) in seen)


def write_lesson_data(folder: str | Path, n: int = 200, n_test: int = 40, seed: int = 0) -> dict:
    """`train.jsonl` (alpaca rows) and `test.jsonl` (prompts with a reference and a category,
    for `eval_prompts` and `workbench compare`) in `folder`. Returns the counts."""
    folder = Path(folder)
    train, test = lesson_split(lesson_pairs(n, seed), n_test, seed)
    with atomic_writer(folder / "train.jsonl") as fh:
        for row in train:
            fh.write(json.dumps(row) + "\n")
    with atomic_writer(folder / "test.jsonl") as fh:
        for row in test:
            fh.write(json.dumps({"prompt": row["instruction"], "reference": row["output"],
                                 "category": row["category"]}) + "\n")
    return {"train": len(train), "test": len(test), "overlap": overlap(train, test),
            "test_by_kind": {k: sum(1 for r in test if r["category"] == k) for k in KINDS}}
