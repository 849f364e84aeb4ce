"""Deterministic children's stories for the demo kit (TinyStories-like, happy or sad endings).

A story is built from one of 15 plots (`story_plots.PLOTS`: a lost toy, a trip, a new friend,
a broken toy, a storm, a race, baking, a garden, a lost pet, a kite, sharing, climbing, a
gift, a boat, a snowman), each a few beats with alternative wordings, filled from word
pools (`story_words`: 80 names, people and animals, 121 objects, 46 places), with
optional beats (dialogue, foreshadowing, a twist, a moral, a conflict), a varying opening
and varying beat order. The point is that a small GPT-2 pretrained on these stories learns
the language of stories, not one template.

Every story carries what a TinyStoriesInstruct row has: a one-line `summary` (it never gives
the ending away), `words` (a verb, a noun and an adjective the story uses), `features`
(`Dialogue`, `BadEnding`, `Foreshadowing`, `Twist`, `MoralValue`, `Conflict`: exactly what
the story contains; `BadEnding` exactly when the ending is sad) and a `random_sentence`
taken from the story. The last two sentences of a happy story carry a word of `HAPPY_CUES`
and none of `SAD_CUES`, and the reverse for a sad one, so a lexicon over the last sentences
can tell the endings apart.

Everything is a pure function of a `random.Random`: same seed, same stories, byte for byte.

    >>> rng = random.Random(0)
    >>> s = generate_story(rng, "sad")
    >>> s.ending, "BadEnding" in s.features
    ('sad', True)
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from ._io import atomic_writer
from .story_plots import PLOTS, SIGHTS
from .story_words import (ANIMAL_ADJ, ANIMALS, DISTRACT, FAMILY, FOOD_ADJ, HAPPY_FEELINGS,
                          HOBBIES, HOME_ADJ, HOMES_ANIMALS, HOMES_PEOPLE, IRREGULAR_PAST,
                          LANDMARKS, NAMES, OBJ_ADJ, PEOPLE, PEOPLE_ADJ, PET_ADJ, PET_NAMES,
                          PETS, PLACE_PREP, PRONOUNS, SAD_FEELINGS, SCARED_FEELINGS, TRAITS,
                          WORD_ADJECTIVES, WORD_NOUNS, WORD_VERBS)

ENDINGS = ("happy", "sad")
FEATURES = ("Dialogue", "BadEnding", "Foreshadowing", "Twist", "MoralValue", "Conflict")
PLOT_NAMES = tuple(PLOTS)
MIN_WORDS, MAX_WORDS = 80, 200

# Cue words of the endings (whole words or phrases, lower case). The closing lines are
# written so that the last two sentences of a story carry cues of its ending only.
HAPPY_CUES = ("smiled", "smile", "smiling", "happy", "happily", "laughed", "laugh", "hugged",
              "hug", "best day", "best trip", "best gift", "friends forever", "glad",
              "cheered", "proud", "joy", "fun", "danced")
SAD_CUES = ("cried", "cry", "crying", "tears", "tear", "sad", "alone", "lonely", "sorry",
            "lost forever", "gone forever", "never saw", "never found", "never came back",
            "broke", "broken", "too late", "missed", "ruined", "burned")

# Probability of each optional beat.
P_DIALOGUE, P_FORESHADOW, P_TWIST, P_MORAL, P_CONFLICT = 0.5, 0.15, 0.15, 0.25, 0.15
P_LIKES, P_HOME, P_TRAIT, P_FEELING = 0.6, 0.25, 0.3, 0.35

INTROS = (
    "Once upon a time, there was {akind} named {N}.",
    "Once upon a time, there was {akind} named {N}.",
    "Once upon a time, there was {akind} called {N}.",
    "Once upon a time, in {a_home}, there lived {akind} named {N}.",
    "Once upon a time, {akind} named {N} lived in {a_home}.",
    "There once was {akind} named {N}.",
    "{N} was {akind}.",
    "Once there was {akind} named {N}. {He} lived in {a_home} near the {place2}.",
    "In {a_home} near the {place2}, there lived {akind} named {N}.",
    "Once upon a time, in a land far away, there lived {akind} named {N}.",
    "Long ago, there was {akind} named {N}.",
    "Once upon a time, there was {akind} named {N} who lived in {a_home}.",
)
LIKES = (
    "{He} loved to {hobby}.",
    "Every day, {he} liked to {hobby}.",
    "{N} liked to {hobby} more than anything.",
    "More than anything, {N} loved to {hobby}.",
    "{N}'s favorite thing to do was to {hobby}.",
    "When the sun was shining, {N} liked to {hobby}.",
)
TRAIT_LINE = (
    "{N} was {trait} and {trait2}.",
    "Everyone knew {N} was very {trait}.",
    "{He} was a {trait}, {trait2} {kind}.",
)
# A feeling line that may follow the problem, by the plot's mood.
FEELING = {
    "good": ("{N} felt {happy_f} all over.", "{N} could not stop smiling.",
             "{His} heart was full of joy.", "{N} clapped {his} hands with glee."),
    "bad": ("{N} felt very {sad_f}.", "{His} eyes filled with tears.",
            "{N} did not know what to do.", "{N}'s lip began to shake."),
}
HOME_LINE = (
    "{He} lived in {a_home} near the {place2}.",
    "{His} {home} was close to the {place2}.",
)
FORESHADOW = (
    "{N} did not know that this day would be very different.",
    "Little did {he} know, something was about to happen.",
)
HAPPY_CLOSERS = (
    "{N} smiled a big smile. It was the best day ever.",
    "{N} was so happy.",
    "That night, {N} went to sleep with a happy smile.",
    "{N} felt warm and happy inside.",
    "{He} was so happy that {he} danced all the way home.",
    "{N} hugged {h} and laughed.",
    "{N} laughed and laughed. What a fun day it was!",
    "{N} felt proud and glad.",
    "And they all lived happily ever after.",
    "It was a happy day for everyone.",
)
SAD_CLOSERS = (
    "{N} sat alone and cried.",
    "{N} walked home slowly, feeling sad and alone.",
    "Big tears rolled down {his} cheeks. It was a very sad day.",
    "{N} felt very sorry, but it was too late.",
    "That night, {N} went to bed with tears in {his} eyes.",
    "{He} was sad for a long, long time.",
    "{N} cried and cried, and nobody could make {him} feel better.",
    "It was a sad day for {N}.",
)

_HERO, _FRIEND, _HELP, _HELP_CAP = "\x01", "\x02", "\x03", "\x04"
# Sentence ends: after . ! ? (or a closing quote after them) before a capital or a quote.
_SENTENCE_END = re.compile(r'(?<=[.!?])\s+(?=["A-Z\x01\x02])|(?<=[.!?]")\s+(?=[A-Z\x01\x02])')
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def _forms(verb: str) -> tuple[str, ...]:
    """The inflections a story may use for a verb of `WORD_VERBS`."""
    if verb.endswith("e"):
        out = {verb, verb + "s", verb + "d", verb[:-1] + "ing"}
    elif verb.endswith(("sh", "ch", "x", "s")):
        out = {verb, verb + "es", verb + "ed", verb + "ing"}
    else:
        out = {verb, verb + "s", verb + "ed", verb + "ing"}
    if len(verb) <= 4 and verb[-1] in "gnptbr" and verb[-2] in "aeiou" and verb[-3] not in "aeiou":
        out -= {verb + "ed", verb + "ing"}           # hug -> hugged, hugging
        out |= {verb + verb[-1] + "ed", verb + verb[-1] + "ing"}
    if verb in IRREGULAR_PAST:
        out.discard(verb + "ed")
        out.add(IRREGULAR_PAST[verb])
    return tuple(sorted(out))


VERB_FORMS = {v: _forms(v) for v in WORD_VERBS}
_FORM_TO_VERB = {f: v for v, fs in VERB_FORMS.items() for f in fs}
_ADJECTIVES = frozenset(WORD_ADJECTIVES)
_NOUNS = frozenset(WORD_NOUNS)


@dataclass(frozen=True)
class Story:
    """One generated story and its TinyStoriesInstruct fields.

    Attributes:
        text: the story, paragraphs separated by a newline.
        summary: one line about the story, ending-neutral ("a little girl named Lily who...").
        ending: "happy" or "sad".
        words: a verb, a noun and an adjective the story uses (the `Words:` field).
        features: of `FEATURES`, what the story has; `BadEnding` exactly when sad.
        random_sentence: one sentence of the story (the `Random sentence:` field).
        plot: the plot it was built from (a key of `story_plots.PLOTS`).
    """

    text: str
    summary: str
    ending: str
    words: tuple[str, ...]
    features: tuple[str, ...]
    random_sentence: str
    plot: str

    def to_dict(self) -> dict:
        d = asdict(self)
        d["words"], d["features"] = list(self.words), list(self.features)
        return d


@dataclass(frozen=True)
class Draft(Story):
    """A story with its two names left open (`\\x01` hero, `\\x02` friend), so that one draft
    can be named many ways (the raw TinyStoriesInstruct writer reuses drafts this way).

    Attributes:
        hero: "f" or "m", which names fit the hero.
        friend: "f" or "m", which names fit the second named character.
    """

    hero: str = "f"
    friend: str = "m"

    def named(self, hero: str, friend: str) -> Story:
        def sub(s: str) -> str:
            return s.replace(_HERO, hero).replace(_FRIEND, friend)
        return Story(sub(self.text), sub(self.summary), self.ending, self.words,
                     self.features, sub(self.random_sentence), self.plot)

    def name(self, rng: random.Random) -> Story:
        hero, friend = pick_names(rng, self.hero, self.friend)
        return self.named(hero, friend)


def pick_names(rng: random.Random, hero_gender: str, friend_gender: str) -> tuple[str, str]:
    """A hero name and a different friend name."""
    hero = rng.choice(NAMES[hero_gender])
    friend = rng.choice(NAMES[friend_gender])
    while friend == hero:
        friend = rng.choice(NAMES[friend_gender])
    return hero, friend


def sentences(text: str) -> list[str]:
    """Split story text into sentences (a dialogue line with its speaker tag may split in
    two; good enough for statistics and for picking a random sentence)."""
    out = []
    for para in text.split("\n"):
        out.extend(s for s in _SENTENCE_END.split(para.strip()) if s)
    return out


def _an(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _context(rng: random.Random, plot: dict) -> tuple[dict, tuple[str, str], str, str]:
    """Fill every slot a plot may use. Returns (slots, helper forms, hero and friend gender)."""
    g = rng.choice("fm")
    c = dict(PRONOUNS[g])
    c["N"], c["F"], c["h"], c["H"] = _HERO, _FRIEND, _HELP, _HELP_CAP
    animal = not plot.get("people_only") and rng.random() < 0.4
    if animal:
        kind, kadj = rng.choice(ANIMALS), rng.choice(ANIMAL_ADJ)
        c["home"] = rng.choice(HOMES_ANIMALS)
    else:
        kind, kadj = rng.choice(PEOPLE)[g == "m"], rng.choice(PEOPLE_ADJ)
        c["home"] = rng.choice(HOMES_PEOPLE)
    c["kind"], c["a_kind"] = kind, f"{_an(kind)} {kind}"
    c["akind"] = f"{_an(kadj)} {kadj} {kind}"
    fg = rng.choice("fm")
    fp = PRONOUNS[fg]
    c.update(fhe=fp["he"], fHe=fp["He"], fhis=fp["his"], fhim=fp["him"])
    fkind = rng.choice(ANIMALS) if animal else rng.choice(PEOPLE[:3])[fg == "m"]
    c["fkind"] = fkind
    c["afkind"] = f"{_an(fkind)} {fkind}"
    c["Afkind"] = _cap(c["afkind"])
    # The helper: family, or a named friend when the plot has no friend of its own.
    if plot.get("has_friend") or rng.random() < 0.7:
        rel, hg = rng.choice(FAMILY)
        first = later = f"{c['his']} {rel}"
    else:
        hg = fg
        first = f"{c['his']} friend {_FRIEND}" + (f" the {fkind}" if animal else "")
        later = _FRIEND
    hp = PRONOUNS[hg]
    c.update(hhe=hp["he"], hHe=hp["He"], hhis=hp["his"], hHis=hp["His"], hhim=hp["him"])
    obj = rng.choice(plot["obj"])
    adj_pool = plot.get("adj_pool")
    adj = "" if adj_pool == "none" else rng.choice(FOOD_ADJ if adj_pool == "food" else OBJ_ADJ)
    c["obj"], c["Obj"], c["adj"] = obj, _cap(obj), adj
    c["aobj"] = f"{_an(adj)} {adj} {obj}" if adj else f"{_an(obj)} {obj}"
    c["place"] = rng.choice(plot["place"])
    c["at_place"] = f"{PLACE_PREP.get(c['place'], 'at')} the {c['place']}"
    c["place2"] = rng.choice(LANDMARKS)
    c["time"] = rng.choice(plot["time"])
    home_adj = rng.choice(HOME_ADJ)
    c["a_home"] = f"{_an(home_adj)} {home_adj} {c['home']}"
    c["happy_f"] = rng.choice(HAPPY_FEELINGS)
    c["sad_f"] = rng.choice(SAD_FEELINGS)
    c["scared_f"] = rng.choice(SCARED_FEELINGS)
    c["trait"], c["trait2"] = [t for t in rng.sample(TRAITS, 3) if t != kadj][:2]
    c["distract"] = rng.choice(DISTRACT).format_map(c)
    c["hobby"] = rng.choice(HOBBIES).format_map(c)
    if c["place"] in SIGHTS:
        c["sight1"], c["sight2"] = rng.sample(SIGHTS[c["place"]], 2)
    if plot.get("pet"):
        pet = rng.choice(PETS)
        pp = PRONOUNS[rng.choice("fm")]
        c.update(pet=pet, apet=f"{_an(pet)} {pet}", petname=rng.choice(PET_NAMES),
                 pet_adj=rng.choice(PET_ADJ), pHe=pp["He"], phe=pp["he"], phim=pp["him"])
    return c, (first, later), g, fg


def _words(rng: random.Random, text: str, plot: dict, c: dict) -> tuple[str, str, str]:
    """A verb, a noun and an adjective that the story uses (TinyStoriesInstruct `Words:`)."""
    tokens = set(_WORD.findall(text.lower()))
    verbs = sorted({_FORM_TO_VERB[t] for t in tokens if t in _FORM_TO_VERB})
    verb = plot["verb"] if plot["verb"] in verbs else (rng.choice(verbs) if verbs else "play")
    noun = (c.get("pet") or c["obj"]).split()[-1]
    if noun not in tokens:
        nouns = sorted(tokens & _NOUNS)
        noun = rng.choice(nouns) if nouns else c["place"].split()[-1]
    adjectives = sorted(tokens & _ADJECTIVES)
    adjective = rng.choice(adjectives) if adjectives else "little"
    return verb, noun, adjective


def draft_story(rng: random.Random, ending: str, plot: str | None = None) -> Draft:
    """One story with its names left open (see `Draft`). `ending` is "happy" or "sad"."""
    if ending not in ENDINGS:
        raise ValueError(f"ending must be one of {ENDINGS}, not {ending!r}")
    if plot is not None and plot not in PLOTS:
        raise ValueError(f"unknown plot {plot!r} (known: {', '.join(PLOT_NAMES)})")
    name = plot or rng.choice(PLOT_NAMES)
    p = PLOTS[name]
    for _attempt in range(20):
        d = _draft_once(rng, ending, name, p)
        n_words = len(d.text.split())
        if MIN_WORDS <= n_words <= MAX_WORDS:
            break
    return d


def _draft_once(rng: random.Random, ending: str, name: str, p: dict) -> Draft:
    c, (help_first, help_later), g, fg = _context(rng, p)
    sad = ending == "sad"

    def pick(beat: tuple[str, ...] | list[str]) -> str:
        return rng.choice(beat).format_map(c)

    with_dialogue = rng.random() < P_DIALOGUE
    with_foreshadow = rng.random() < P_FORESHADOW
    with_twist = rng.random() < P_TWIST
    with_moral = rng.random() < P_MORAL
    with_conflict = rng.random() < P_CONFLICT

    # Paragraph 1: opening, what the hero likes / where they live / what they are like (in
    # a random order), setup, maybe foreshadowing.
    intro_t = rng.choice(INTROS)
    extras = []
    if rng.random() < P_LIKES:
        extras.append(pick(LIKES))
    if "{a_home}" not in intro_t and rng.random() < P_HOME:
        extras.append(pick(HOME_LINE))
    if rng.random() < P_TRAIT:
        extras.append(pick(TRAIT_LINE))
    if len(extras) > 1:
        rng.shuffle(extras)
    p1 = [intro_t.format_map(c), *extras, pick(p["setup"])]
    if with_foreshadow:
        p1.append(pick(p["foreshadow"] + FORESHADOW))
    paras = [p1]

    # Paragraph 2: the problem, one or two middle beats (in story order), maybe dialogue
    # (its own lines) before, between or after them, maybe a conflict.
    middle = p["middle"]
    k = 2 if len(middle) > 1 and rng.random() < 0.5 else 1
    beats = [middle[i].format_map(c) for i in sorted(rng.sample(range(len(middle)), k))]
    p2 = [pick(p["problem"])]
    if rng.random() < P_FEELING:
        p2.append(pick(FEELING[p["mood"]]))
    if with_dialogue:
        at = p.get("dialogue_at")
        cut = 0 if at == "before" else len(beats) if at == "after" else rng.randint(0, len(beats))
        p2 += beats[:cut]
        paras.append(p2)
        paras.extend([line] for line in pick(p["dialogue"]).split("\n"))
        p2 = beats[cut:]
    else:
        p2 += beats
    if with_conflict:
        p2.append(pick(p["conflict"]))
    if p2:
        paras.append(p2)

    # Paragraph 3: the ending (a twist is a self-contained ending), a moral, a closing line.
    if with_twist:
        p3 = [pick(p["twist_sad" if sad else "twist_happy"])]
    else:
        p3 = [pick(p["sad" if sad else "happy"])]
    if with_moral:
        p3.append(pick(p["moral_sad" if sad else "moral_happy"]))
    own = p["close_sad" if sad else "close_happy"]
    p3.append(pick(own if rng.random() < 0.5 else (SAD_CLOSERS if sad else HAPPY_CLOSERS)))
    paras.append(p3)

    text = "\n".join(" ".join(para) for para in paras if para)
    text = _resolve_helper(text, help_first, help_later)
    features = []
    if '"' in text:
        features.append("Dialogue")
    if sad:
        features.append("BadEnding")
    for flag, feature in ((with_foreshadow, "Foreshadowing"), (with_twist, "Twist"),
                          (with_moral, "MoralValue"), (with_conflict, "Conflict")):
        if flag:
            features.append(feature)
    # The random sentence: from a paragraph with no dialogue (one regex split, not all).
    plain = [para for para in text.split("\n") if '"' not in para]
    candidates = [s for s in _SENTENCE_END.split(rng.choice(plain)) if len(s.split()) >= 4]
    random_sentence = rng.choice(candidates) if candidates else sentences(text)[0]
    summary = pick(p["summary"])
    return Draft(text, summary, ending, _words(rng, text, p, c), tuple(features),
                 random_sentence, name, hero=g, friend=fg)


def _resolve_helper(text: str, first: str, later: str) -> str:
    """The helper's first mention names them in full ("her friend Tim"), later ones briefly."""
    i, j = text.find(_HELP), text.find(_HELP_CAP)
    if i >= 0 and (j < 0 or i < j):
        text = text.replace(_HELP, first, 1)
    elif j >= 0:
        text = text.replace(_HELP_CAP, _cap(first), 1)
    return text.replace(_HELP, later).replace(_HELP_CAP, _cap(later))


def generate_story(rng: random.Random, ending: str = "happy", plot: str | None = None) -> Story:
    """One story with the given ending ("happy" or "sad"), named."""
    return draft_story(rng, ending, plot).name(rng)


def iter_stories(n: int, seed: int = 0, sad_share: float = 0.5) -> Iterator[Story]:
    """`n` stories; each is sad with probability `sad_share`. Deterministic for a seed."""
    rng = random.Random(f"stories/{seed}")
    for _ in range(n):
        yield generate_story(rng, "sad" if rng.random() < sad_share else "happy")


def generate_stories(n: int, seed: int = 0, sad_share: float = 0.5) -> list[Story]:
    """`n` stories as a list (see `iter_stories`)."""
    return list(iter_stories(n, seed, sad_share))


def write_story_corpus(path: str | Path, n: int = 20_000, seed: int = 0,
                       sad_share: float = 0.5) -> dict:
    """Write `n` stories as JSONL rows `{"text": story}` (the workbench's plain-text format,
    for pretraining the demo base model). Written atomically. Returns counts."""
    counts = {"stories": 0, "happy": 0, "sad": 0, "words": 0}
    with atomic_writer(path) as fh:
        for s in iter_stories(n, seed, sad_share):
            fh.write(json.dumps({"text": s.text}, ensure_ascii=False) + "\n")
            counts["stories"] += 1
            counts[s.ending] += 1
            counts["words"] += len(s.text.split())
    counts["path"] = str(path)
    return counts


def ending_cues(text: str, last: int = 2) -> tuple[list[str], list[str]]:
    """The happy and the sad cue words found in the last `last` sentences of `text`.

    The generator guarantees one side only; the workbench's ending classifier may use the
    same lexicons (`HAPPY_CUES`, `SAD_CUES`)."""
    tail = " ".join(sentences(text)[-last:]).lower()
    return ([w for w in HAPPY_CUES if re.search(rf"\b{w}\b", tail)],
            [w for w in SAD_CUES if re.search(rf"\b{w}\b", tail)])
