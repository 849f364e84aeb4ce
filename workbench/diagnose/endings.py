"""Ending adherence for story data: did the story end the way the prompt asked (happy/sad)?

A heuristic, and a transparent one: a word-list (lexicon) classifier of the story's last
sentences, not a model. It reads the last `SENTENCES` (3) sentences, counts happy cue words
(happy, smiled, hugged, friends, fun, glad, ...) and sad cue words (sad, cried, lost,
broke, alone, tears, ...), and calls the ending by the larger count.

* Negation flips a cue: a cue word within 3 words after a negator ("not", "no", "never",
  "without", "nobody", "cannot", any word ending in "n't") counts for the other side
  ("was not sad anymore" is happy, "could not find" and "didn't smile" are sad), except
  through "stop" + an -ing word ("could not stop laughing" is happy).
* A negator that negates no cue is itself a sad cue, of weight 0.5 ("There would be no
  tomatoes this year", "He did not want to build anymore"); "never" has weight 1 ("She
  never saw her toy again"). Every other cue has weight 1.
* A tie (including no cue at all) widens the window one sentence at a time, towards the
  start, until the tie breaks: the cues nearest the end decide, not the story's opening
  ("Tom was a cheerful, kind boy who loved to play. The storm came. He was sad. He sat by
  the door. The rain went on. Then it was night." is sad). A tie over the whole story is
  "unknown" (which never matches a request, so it counts against adherence).
* Evidence: every cue counted, with its character span, side and weight.

It misses irony, endings told only through events ("The tower fell down with a crash.")
and feelings it has no word for, and it calls a story whose last lines contradict its
events ("the snow bear was ruined ... went to sleep with a happy smile") by the last lines.
Measured (tuning part / held-out part, each used as its test file says):
* tests/fixtures/diagnose/endings.jsonl, short stories written for the purpose
  (test_diagnose_quality.py): 0.979 (n=48) / 0.875 (n=24);
* demo generator stories (test_judge.py): 1.000 (n=400) / 1.000 (n=240, unseen plots);
* model_stories.jsonl, stories by the demo base model and a balanced SFT of it, labelled by
  a person (test_judge.py): 1.000 (n=48) / 1.000 (n=85).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

SENTENCES = 3
NEGATION_REACH = 3
LABELS = ("happy", "sad")

HAPPY_WORDS = frozenset("""
happy happily happier happiest happiness glad joy joyful joyfully cheerful cheer cheered
cheering cheers smile smiled smiles smiling grin grinned grinning grins laugh laughed
laughs laughing laughter giggle giggled giggles giggling hug hugged hugs hugging kiss
kissed kisses love loved loves loving lovely fun funny friend friends friendly friendship
together safe safely proud thank thanked thanks thankful grateful excited exciting
celebrate celebrated celebrating party best great wonderful beautiful nice good kind
better delighted enjoy enjoyed enjoying enjoys play played playing plays dance danced
dancing sang sing singing sings found find finds saved save rescued helped help helping
share shared sharing forgave forgive fixed lucky warm cozy comfortable relieved hooray
yay yummy delicious favorite brave bravely proudly cuddle cuddled
""".split())

SAD_WORDS = frozenset("""
sad sadly sadder saddest sadness unhappy cry cried cries crying tears tear weep wept
weeping sob sobbed sobbing lost lose loses losing broke broken break breaks hurt hurts
hurting pain painful alone lonely gone died dead die dies dying death sick ill scared
afraid fear frightened angry mad upset miss missed misses missing worse worst bad badly
ruined sorrow frown frowned frowning gloomy terrible awful disappointed punished trouble
scolded sorry regret regretted late nothing empty destroyed gloom grief heartbroken
ashamed cold hungry wrong fail failed goodbye
""".split())

NEGATORS = frozenset({"not", "no", "never", "cannot", "without", "nobody"})
BARE_NEGATOR_WEIGHT = 0.5
"""A negator that negates no cue counts this much for sad ("never" counts 1)."""


@dataclass(frozen=True)
class Cue:
    """One cue counted: the word, the side it counted for, its span in the story, whether
    a negator flipped it, and its weight."""

    word: str
    label: str
    start: int
    end: int
    negated: bool = False
    weight: float = 1.0


@dataclass(frozen=True)
class EndingResult:
    """What `classify_ending` decided.

    Attributes:
        label: "happy", "sad" or "unknown".
        score: the happy share of the cue weight in [0, 1] (0.5 on a tie or no cue).
        happy: the weight of the happy cues; sad: the weight of the sad cues.
        window: the span of text that was read (the last sentences, widened on a tie).
        cues: every cue counted, in text order.
    """

    label: str
    score: float
    happy: float
    sad: float
    window: tuple[int, int]
    cues: tuple[Cue, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"label": self.label, "score": round(self.score, 4), "happy": self.happy,
                "sad": self.sad, "window": list(self.window),
                "cues": [{"word": c.word, "label": c.label, "span": [c.start, c.end],
                          "negated": c.negated, "weight": c.weight} for c in self.cues]}


_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)]*(?=\s|$)")
_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*")


def sentence_starts(text: str) -> list[int]:
    """Start offsets of the sentences of `text` (split after . ! ? and closing quotes)."""
    starts = [len(text) - len(text.lstrip())]
    for m in _SENTENCE_END.finditer(text):
        rest = text[m.end():]
        if rest.strip():
            starts.append(m.end() + len(rest) - len(rest.lstrip()))
    return starts


def _cues(text: str, start: int, end: int) -> list[Cue]:
    """The cues of `text[start:end]`, negation applied."""
    out: list[Cue] = []
    reach = -1                   # the last word index the pending negator still reaches
    negator: Cue | None = None   # counts as sad unless it negates a cue within reach
    words = list(_WORD.finditer(text, start, end))
    for i, m in enumerate(words):
        w = m.group().lower().replace("’", "'")
        if negator is not None and i > reach:
            out.append(negator)
            negator = None
        if w in NEGATORS or w.endswith("n't"):
            if negator is not None:
                out.append(negator)
            weight = 1.0 if w == "never" else BARE_NEGATOR_WEIGHT
            negator = Cue(w, "sad", m.start(), m.end(), weight=weight)
            reach = i + NEGATION_REACH
            continue
        if (w == "stop" and negator is not None and i + 1 < len(words)
                and words[i + 1].group().lower().endswith("ing")):
            negator = None       # "could not stop laughing": the laughing stands
            continue
        label = "happy" if w in HAPPY_WORDS else "sad" if w in SAD_WORDS else None
        if label is None:
            continue
        negated = negator is not None
        if negated:
            label = "sad" if label == "happy" else "happy"
            negator = None
        out.append(Cue(w, label, m.start(), m.end(), negated))
    if negator is not None:
        out.append(negator)
    return out


def classify_ending(story: str, sentences: int = SENTENCES) -> EndingResult:
    """Happy, sad or unknown, from the cue words of the last `sentences` sentences (one
    sentence more at a time on a tie). See the module docstring for the rules."""
    starts = sentence_starts(story)
    end = len(story.rstrip())
    first = max(0, len(starts) - sentences)
    # the last sentences, then one sentence more at a time, back to the whole story
    for lo in dict.fromkeys(min(starts[k], end) for k in range(first, -1, -1)):
        cues = _cues(story, lo, end)
        h = sum((c.weight for c in cues if c.label == "happy"), 0.0)
        s = sum((c.weight for c in cues if c.label == "sad"), 0.0)
        label = "happy" if h > s else "sad" if s > h else "unknown"
        result = EndingResult(label, h / (h + s) if h + s else 0.5, h, s, (lo, end), tuple(cues))
        if label != "unknown":
            break
    return result


def normalize_ending(value: str) -> str:
    """"happy" or "sad" from what data calls an ending ("Happy", "sad ending", "bad",
    "BadEnding"); raises ValueError otherwise."""
    v = value.strip().lower().replace("_", " ").replace("-", " ")
    v = re.sub(r"\s*ending$", "", v).strip()
    aliases = {"happy": "happy", "good": "happy", "sad": "sad", "bad": "sad"}
    if v not in aliases:
        raise ValueError(f"ending {value!r}: expected happy or sad")
    return aliases[v]


def ending_report(pairs: Iterable[tuple[str, str]]) -> dict:
    """Accuracy and confusion matrix over (requested, predicted) pairs.

    Returns `{"n", "accuracy", "confusion": {requested: {predicted: count}}}` with rows
    happy and sad and columns happy, sad, unknown; accuracy is None when there are no pairs.
    """
    confusion = {want: {got: 0 for got in (*LABELS, "unknown")} for want in LABELS}
    n = right = 0
    for want, got in pairs:
        confusion[want][got] += 1
        n += 1
        right += want == got
    return {"n": n, "accuracy": right / n if n else None, "confusion": confusion}
