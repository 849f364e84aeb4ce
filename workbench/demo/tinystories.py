"""A TinyStoriesInstruct look-alike in the dataset's raw row format, from the demo stories.

`roneneldan/TinyStoriesInstruct` is a text dataset: one row per line, and one example spans
several rows, ending at a row `<|endoftext|>`. This module writes the same layout:

    Features: Dialogue, BadEnding
    Summary: a little girl named Lily who loses her red ball at the park
    Words: look, ball, red
    Random sentence: Lily looked under the bench.
    Story: 
    Once upon a time, there was a little girl named Lily. ...
    "Where is my ball?" Lily asked. ...
    <|endoftext|>

What was chosen where the real data leaves room (documented for the parser's sake):

* `Summary`, `Features`, `Words` and `Random sentence` rows come in a random order, each
  its own row, `Field: value` (one space after the colon). `Story: ` (with its trailing
  space) comes last, as in the real data; the story starts on the next row, one paragraph
  (or dialogue line) per row, no blank rows; then the `<|endoftext|>` row.
* `Summary` is always present (unless a defect is injected); `Words` is present in about
  60% of examples and `Random sentence` in about 45%. `Features` is present in every sad
  example (it holds `BadEnding`) and in about 75% of the happy ones that have features;
  a happy story with no feature has no `Features` row. So "sad exactly when Features
  contains BadEnding" labels every example correctly.
* About `sad_share` (default 8%, as in the real data: 92% happy / 8% sad) of examples are
  sad; each example is sad with that probability, independently.
* Speed: the first `pool` stories of each ending are freshly generated; after that, stories
  are drawn again from that pool with new names and a new field layout (so a 2M-example
  file takes well under a minute and stays varied: 20,000 stories x 80 hero names x ~79
  friend names per ending).
* Defects for tests and for the bad-input report can be injected: examples with no
  `Summary` row, examples with an empty story (`Story: ` followed at once by the end row),
  and an unterminated last example (the file ends without its `<|endoftext|>` row).

Same seed, same bytes.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Iterator

from ._io import atomic_writer
from .stories import Draft, draft_story
from .story_words import NAMES

END = "<|endoftext|>"
FIELDS = ("Summary", "Features", "Words", "Random sentence", "Story")
P_FEATURES_HAPPY, P_WORDS, P_RANDOM_SENTENCE = 0.75, 0.6, 0.45
DEFAULT_POOL = 20_000


class _Prepared:
    """A draft's rows, rendered once (names still open) so reusing it costs a few joins."""

    __slots__ = ("story", "summary", "features", "features_rev", "words", "sentence",
                 "hero", "friend", "ending")

    def __init__(self, d: Draft) -> None:
        self.story = "Story: \n" + d.text + "\n"
        self.summary = f"Summary: {d.summary}\n"
        self.features = f"Features: {', '.join(d.features)}\n" if d.features else ""
        self.features_rev = (f"Features: {', '.join(reversed(d.features))}\n"
                             if d.features else "")
        self.words = f"Words: {', '.join(d.words)}\n"
        self.sentence = f"Random sentence: {d.random_sentence}\n"
        self.hero, self.friend, self.ending = d.hero, d.friend, d.ending


def iter_raw_examples(n: int, seed: int = 0, sad_share: float = 0.08, *,
                      pool: int = DEFAULT_POOL, missing_summary: int = 0,
                      empty_story: int = 0, unterminated: bool = False,
                      stats: dict | None = None, plots: tuple[str, ...] | None = None,
                      names: dict[str, tuple[str, ...]] | None = None) -> Iterator[str]:
    """Yield `n` examples as text, each its rows joined with newlines (ending with one).

    `missing_summary` / `empty_story` examples get that defect (their positions are
    recorded in `stats["defects"]` when a dict is passed); with `unterminated` the last
    example has no `<|endoftext|>` row. `plots` and `names` ({"f": ..., "m": ...}) restrict
    the stories to those plots and characters (the rest held out for testing).
    """
    name_table = names or NAMES
    if n < 0 or not 0.0 <= sad_share <= 1.0 or pool < 1:
        raise ValueError("need n >= 0, 0 <= sad_share <= 1 and pool >= 1")
    if missing_summary + empty_story > n:
        raise ValueError("more defects than examples")
    rng = random.Random(f"tinystories-raw/{seed}")
    # Defects go to distinct examples, none of them the unterminated last one if possible.
    eligible = n - 1 if unterminated and n > missing_summary + empty_story else n
    chosen = rng.sample(range(eligible), missing_summary + empty_story)
    no_summary = set(chosen[:missing_summary])
    no_story = set(chosen[missing_summary:])
    st = stats if stats is not None else {}
    st.update(examples=n, happy=0, sad=0,
              fields={f: 0 for f in FIELDS},
              defects={"missing_summary": sorted(no_summary), "empty_story": sorted(no_story),
                       "unterminated": [n - 1] if unterminated and n else []})
    fields = st["fields"]
    pools: dict[str, list[_Prepared]] = {"happy": [], "sad": []}
    # The hot loop draws with rng.random() only (indexing by int(r * k)): several times
    # faster than choice / randrange / shuffle, and just as deterministic.
    rand = rng.random
    n_summary = n_features = n_words = n_sentence = 0
    for i in range(n):
        ending = "sad" if rand() < sad_share else "happy"
        bucket = pools[ending]
        if len(bucket) < pool:
            p = _Prepared(draft_story(rng, ending, rng.choice(plots) if plots else None))
            bucket.append(p)
        else:
            p = bucket[int(rand() * pool)]
        meta = []
        if i not in no_summary:
            meta.append(p.summary)
            n_summary += 1
        if p.features and (ending == "sad" or rand() < P_FEATURES_HAPPY):
            meta.append(p.features if rand() < 0.5 else p.features_rev)
            n_features += 1
        if rand() < P_WORDS:
            meta.append(p.words)
            n_words += 1
        if rand() < P_RANDOM_SENTENCE:
            meta.append(p.sentence)
            n_sentence += 1
        for j in range(len(meta) - 1, 0, -1):  # Fisher-Yates
            k = int(rand() * (j + 1))
            meta[j], meta[k] = meta[k], meta[j]
        meta.append("Story: \n" if i in no_story else p.story)
        if not (unterminated and i == n - 1):
            meta.append(END + "\n")
        hero_names, friend_names = name_table[p.hero], name_table[p.friend]
        hero = hero_names[int(rand() * len(hero_names))]
        friend = friend_names[int(rand() * len(friend_names))]
        while friend == hero:
            friend = friend_names[int(rand() * len(friend_names))]
        st[ending] += 1
        yield "".join(meta).replace("\x01", hero).replace("\x02", friend)
    fields.update({"Summary": n_summary, "Features": n_features, "Words": n_words,
                   "Random sentence": n_sentence, "Story": n})


def write_tinystories_raw(path: str | Path, n: int, seed: int = 0, sad_share: float = 0.08,
                          *, pool: int = DEFAULT_POOL, missing_summary: int = 0,
                          empty_story: int = 0, unterminated: bool = False,
                          plots: tuple[str, ...] | None = None,
                          names: dict[str, tuple[str, ...]] | None = None) -> dict:
    """Write `n` examples in the TinyStoriesInstruct raw row format (see the module doc).

    Written atomically. Returns a report: `examples`, `happy`, `sad`, `rows`, `bytes`,
    `fields` (how many examples have each field), `defects` (the 0-based example numbers
    of each injected defect), `seconds`, `examples_per_s`.
    """
    stats: dict = {}
    t0 = time.perf_counter()
    rows = size = 0
    chunk: list[str] = []
    with atomic_writer(path) as fh:
        for text in iter_raw_examples(n, seed, sad_share, pool=pool,
                                      missing_summary=missing_summary,
                                      empty_story=empty_story, unterminated=unterminated,
                                      stats=stats, plots=plots, names=names):
            chunk.append(text)
            if len(chunk) >= 2048:
                block = "".join(chunk)
                fh.write(block)
                rows += block.count("\n")
                size += len(block.encode("utf-8"))
                chunk.clear()
        block = "".join(chunk)
        fh.write(block)
        rows += block.count("\n")
        size += len(block.encode("utf-8"))
    seconds = time.perf_counter() - t0
    stats.update(path=str(path), rows=rows, bytes=size, seconds=round(seconds, 3),
                 examples_per_s=round(n / seconds) if seconds > 0 else None)
    return stats


def write_tinystories_dirty(path: str | Path, n: int = 40, seed: int = 0) -> dict:
    """A small raw file with one example of each defect the parser must count: one example
    with no `Summary` row, one with an empty story, and an unterminated last example."""
    return write_tinystories_raw(path, n, seed, missing_summary=1, empty_story=1,
                                 unterminated=True)


def write_story_instructions(path: str | Path, n: int, seed: int = 0,
                             sad_share: float = 0.5) -> dict:
    """The same kind of examples already parsed: JSONL rows `{"summary", "ending", "story",
    "words", "features"}` (the workbench's `tinystories` format), for when a demo wants the
    instruction set without going through the raw parser. Returns counts."""
    rng = random.Random(f"story-instructions/{seed}")
    counts = {"examples": 0, "happy": 0, "sad": 0}
    with atomic_writer(path) as fh:
        for _ in range(n):
            ending = "sad" if rng.random() < sad_share else "happy"
            s = draft_story(rng, ending).name(rng)
            fh.write(json.dumps({"summary": s.summary, "ending": s.ending, "story": s.text,
                                 "words": ", ".join(s.words),
                                 "features": ", ".join(s.features)},
                                ensure_ascii=False) + "\n")
            counts["examples"] += 1
            counts[ending] += 1
    return counts


# Seed 000's held-out requests are about plots and characters its training stories never have
HELD_OUT_PLOTS = ("kite", "boat", "snow")
HELD_OUT_NAMES = 8  # the last 8 girls' and 8 boys' names


def split_plots_and_names() -> tuple[tuple[str, ...], dict, tuple[str, ...], dict]:
    """(training plots, training names, held-out plots, held-out names)."""
    from .stories import PLOT_NAMES

    train_plots = tuple(p for p in PLOT_NAMES if p not in HELD_OUT_PLOTS)
    train_names = {g: tuple(v[:-HELD_OUT_NAMES]) for g, v in NAMES.items()}
    test_names = {g: tuple(v[-HELD_OUT_NAMES:]) for g, v in NAMES.items()}
    return train_plots, train_names, HELD_OUT_PLOTS, test_names


def held_out_requests(n_summaries: int = 100, seed: int = 0) -> list[dict]:
    """Story requests about the held-out plots and characters: `n_summaries` fresh summaries,
    each asked for with a happy and with a sad ending (2 × n requests; prompts-file rows)."""
    _tp, _tn, plots, names = split_plots_and_names()
    return story_requests(n_summaries, plots, names, f"seed-000-requests/{seed}")


def story_requests(n_summaries: int, plots: tuple[str, ...], names: dict[str, tuple[str, ...]],
                   stream: str) -> list[dict]:
    """`n_summaries` fresh summaries about `plots` with characters from `names` (the plots in
    turn), each asked for with a happy and with a sad ending; drawn from the random stream
    named `stream`."""
    rng = random.Random(stream)
    out = []
    for i in range(n_summaries):
        d = draft_story(rng, "happy", plots[i % len(plots)])
        hero = rng.choice(names[d.hero])
        friend = rng.choice([n for n in names[d.friend] if n != hero])
        summary = d.named(hero, friend).summary
        for ending in ("happy", "sad"):
            out.append({"prompt": summary, "summary": summary, "ending": ending,
                        "plot": d.plot})
    return out


def story_prompts(n: int = 20, seed: int = 0) -> list[dict]:
    """`n` fresh summaries for measuring ending adherence, each asked for with both endings:
    `[{"summary": ..., "ending": "happy"}, {"summary": ..., "ending": "sad"}, ...]`.
    Drawn from their own random stream, so they are not the summaries of the training files
    of the same seed (the plots and names are shared: that is the point of the demo)."""
    rng = random.Random(f"story-prompts/{seed}")
    out = []
    for _ in range(n):
        s = draft_story(rng, "happy").name(rng)
        out.append({"summary": s.summary, "ending": "happy"})
        out.append({"summary": s.summary, "ending": "sad"})
    return out
