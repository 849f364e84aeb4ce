"""An Alpaca-style question set of six task kinds with exact answers (seed 001).

Rows are `{"instruction", "input", "output", "category"}` (the workbench's `alpaca` format;
`category` becomes a label). Every answer has one fixed shape per kind, so exact match is
meaningful:

=========== ============================================ ====================================
category    instruction (several phrasings)              output
=========== ============================================ ====================================
capital     What is the capital of France?               The capital of France is Paris.
arithmetic  What is 7 plus 5?                            7 + 5 = 12
list        List the fruits in the following words.      apple, banana
            (input: ``apple, chair, banana, red``)       (in input order)
summary     Summarize the following text in one          Tom bought apples and bread at the
            sentence. (input: a 3-sentence passage)      market.
code        Write Python code that sorts the list        sorted([3, 1, 2])
            [3, 1, 2].
definition  What does "brave" mean?                      Brave means not afraid to do
                                                         something hard or scary.
=========== ============================================ ====================================

The held-out split (`split_tasks`, `write_tasks`): test items are drawn first, a balanced
share of each kind; train items are drawn after, never with an (instruction, input) pair
that is in test. Train may repeat an item (the capital and definition tables are small);
test never does. By default a test item may ask a fact that train asks in other words
("Name the capital of France." in test, "What is the capital of France?" in train): the
demo base model knows no geography, so this measures what SFT taught. With
`hold_out_facts=True`, a fifth of the countries and of the words are asked only in test:
exact match on them measures knowledge that SFT cannot teach (expect about zero).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Callable

from ._io import atomic_writer

CATEGORIES = ("capital", "arithmetic", "list", "summary", "code", "definition")

# ---------------------------------------------------------------- tables (facts)
CAPITALS: tuple[tuple[str, str], ...] = (
    ("France", "Paris"), ("Germany", "Berlin"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Portugal", "Lisbon"), ("the United Kingdom", "London"), ("Ireland", "Dublin"),
    ("Belgium", "Brussels"), ("the Netherlands", "Amsterdam"), ("Austria", "Vienna"),
    ("Switzerland", "Bern"), ("Poland", "Warsaw"), ("Hungary", "Budapest"),
    ("Greece", "Athens"), ("Sweden", "Stockholm"), ("Norway", "Oslo"),
    ("Denmark", "Copenhagen"), ("Finland", "Helsinki"), ("Iceland", "Reykjavik"),
    ("Russia", "Moscow"), ("Ukraine", "Kyiv"), ("Romania", "Bucharest"),
    ("Bulgaria", "Sofia"), ("Serbia", "Belgrade"), ("Croatia", "Zagreb"),
    ("Turkey", "Ankara"), ("Egypt", "Cairo"), ("Kenya", "Nairobi"),
    ("Ethiopia", "Addis Ababa"), ("Ghana", "Accra"), ("Morocco", "Rabat"),
    ("Nigeria", "Abuja"), ("Senegal", "Dakar"), ("Uganda", "Kampala"), ("Japan", "Tokyo"),
    ("China", "Beijing"), ("India", "New Delhi"), ("South Korea", "Seoul"),
    ("Thailand", "Bangkok"), ("Vietnam", "Hanoi"), ("the Philippines", "Manila"),
    ("Malaysia", "Kuala Lumpur"), ("Pakistan", "Islamabad"), ("Bangladesh", "Dhaka"),
    ("Nepal", "Kathmandu"), ("Iran", "Tehran"), ("Iraq", "Baghdad"),
    ("Saudi Arabia", "Riyadh"), ("Mongolia", "Ulaanbaatar"), ("Canada", "Ottawa"),
    ("Mexico", "Mexico City"), ("Cuba", "Havana"), ("Jamaica", "Kingston"),
    ("Argentina", "Buenos Aires"), ("Chile", "Santiago"), ("Peru", "Lima"),
    ("Venezuela", "Caracas"), ("Ecuador", "Quito"), ("Uruguay", "Montevideo"),
    ("Brazil", "Brasilia"), ("Australia", "Canberra"), ("New Zealand", "Wellington"),
    ("Fiji", "Suva"),
)

DEFINITIONS: tuple[tuple[str, str], ...] = (
    ("happy", "feeling good and pleased"),
    ("sad", "feeling unhappy or sorry about something"),
    ("brave", "not afraid to do something hard or scary"),
    ("tiny", "very, very small"),
    ("huge", "very, very big"),
    ("quick", "moving or happening fast"),
    ("quiet", "making little or no noise"),
    ("loud", "making a lot of noise"),
    ("kind", "friendly and caring to others"),
    ("angry", "feeling very cross about something"),
    ("tired", "needing rest or sleep"),
    ("hungry", "wanting or needing food"),
    ("thirsty", "wanting or needing something to drink"),
    ("bright", "full of light or shining strongly"),
    ("dark", "with little or no light"),
    ("ancient", "very, very old"),
    ("gentle", "soft and careful, not rough"),
    ("curious", "wanting to know or learn about something"),
    ("honest", "telling the truth"),
    ("polite", "having good manners"),
    ("fragile", "easy to break"),
    ("enormous", "extremely large"),
    ("shy", "nervous about meeting or talking to other people"),
    ("proud", "pleased about something you did well"),
    ("lonely", "sad because you are alone"),
    ("clever", "quick to learn and understand"),
    ("calm", "peaceful and not worried"),
    ("damp", "a little wet"),
    ("empty", "with nothing inside"),
    ("fierce", "wild and strong in a frightening way"),
    ("giggle", "to laugh in a silly, quiet way"),
    ("whisper", "to speak very softly"),
    ("wander", "to walk around without going anywhere special"),
    ("borrow", "to take something for a while and then give it back"),
    ("share", "to let others use or have part of something"),
    ("gather", "to bring things together into one place"),
    ("shiver", "to shake because you are cold or afraid"),
    ("explore", "to travel around a place to learn about it"),
    ("rescue", "to save someone from danger"),
    ("repair", "to fix something that is broken"),
    ("invent", "to make something that did not exist before"),
    ("recipe", "a list of steps for cooking a dish"),
    ("island", "land with water all around it"),
    ("forest", "a large area covered with trees"),
    ("library", "a place where you can borrow books"),
    ("planet", "a large round object that moves around a star"),
    ("puddle", "a small pool of water on the ground"),
    ("shadow", "a dark shape made when something blocks the light"),
    ("map", "a drawing that shows where places are"),
    ("harvest", "the time when crops are gathered from the fields"),
    ("journey", "a trip from one place to another"),
    ("treasure", "a collection of gold, jewels or other precious things"),
    ("orchard", "a field where fruit trees grow"),
    ("pebble", "a small, smooth stone"),
    ("breeze", "a light, gentle wind"),
    ("meadow", "a field of grass and flowers"),
    ("nest", "a home that birds build for their eggs"),
    ("echo", "a sound that comes back to you after it bounces off something"),
    ("dozen", "a group of twelve"),
    ("century", "a period of one hundred years"),
)

# Word groups for list extraction: no word is in two groups.
LIST_GROUPS: dict[str, tuple[str, ...]] = {
    "fruits": ("apple", "banana", "cherry", "grape", "pear", "plum", "mango", "peach",
               "lemon", "melon", "kiwi", "strawberry"),
    "animals": ("dog", "cat", "horse", "rabbit", "lion", "tiger", "elephant", "mouse",
                "zebra", "monkey", "frog", "sheep"),
    "colors": ("red", "blue", "green", "yellow", "purple", "pink", "black", "white",
               "brown", "gray"),
    "vehicles": ("car", "bus", "train", "bicycle", "truck", "boat", "plane", "tractor",
                 "scooter", "van"),
    "furniture": ("chair", "table", "sofa", "bed", "desk", "shelf", "stool", "cupboard",
                  "bench", "wardrobe"),
    "clothes": ("shirt", "hat", "coat", "sock", "scarf", "dress", "glove", "jacket",
                "skirt", "sweater"),
    "vegetables": ("carrot", "potato", "onion", "pea", "cabbage", "lettuce", "spinach",
                   "broccoli", "celery", "radish"),
    "instruments": ("piano", "guitar", "drum", "violin", "flute", "trumpet", "harp",
                    "cello", "banjo", "tuba"),
    "drinks": ("milk", "tea", "coffee", "juice", "water", "lemonade", "cocoa", "soda"),
    "tools": ("hammer", "saw", "drill", "wrench", "shovel", "rake", "ladder", "screwdriver",
              "chisel", "pliers"),
}

# ---------------------------------------------------------------- phrasings
CAPITAL_Q = ("What is the capital of {country}?", "Name the capital of {country}.",
             "Which city is the capital of {country}?", "Tell me the capital of {country}.")
ADD_Q = ("What is {a} plus {b}?", "Add {a} and {b}.", "Calculate {a} + {b}.",
         "What is the sum of {a} and {b}?")
SUB_Q = ("What is {a} minus {b}?", "Subtract {b} from {a}.", "Calculate {a} - {b}.",
         "What is {a} take away {b}?")
MUL_Q = ("What is {a} times {b}?", "Multiply {a} by {b}.", "Calculate {a} * {b}.",
         "What is the product of {a} and {b}?")
LIST_Q = ("List the {group} in the following words.", "Which of these words are {group}?",
          "Pick out the {group} from this list.", "Find all the {group} in this list.")
SUMMARY_Q = ("Summarize the following text in one sentence.",
             "Write a one-sentence summary of this passage.",
             "Give a one-sentence summary of the text below.",
             "Sum up this passage in one sentence.")
DEFINE_Q = ("What does \"{word}\" mean?", "Define the word \"{word}\".",
            "What is the meaning of \"{word}\"?", "Explain what \"{word}\" means.")

# ---------------------------------------------------------------- summary passages
_PEOPLE = (("Tom", "he", "his"), ("Anna", "she", "her"), ("Ben", "he", "his"),
           ("Lucy", "she", "her"), ("Sam", "he", "his"), ("Mia", "she", "her"),
           ("Jack", "he", "his"), ("Emma", "she", "her"), ("Leo", "he", "his"),
           ("Sara", "she", "her"), ("Max", "he", "his"), ("Nina", "she", "her"),
           ("Paul", "he", "his"), ("Rosa", "she", "her"), ("Omar", "he", "his"),
           ("Kate", "she", "her"))
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SHOPS = (("market", ("apples", "bread", "cheese", "eggs", "carrots", "milk", "rice")),
          ("bakery", ("a cake", "two rolls", "a loaf of bread", "some cookies", "a pie")),
          ("toy shop", ("a kite", "a puzzle", "a ball", "a yo-yo", "a board game")),
          ("book shop", ("a comic", "a map", "a cookbook", "a diary", "a storybook")))
_ROOMS = ("bedroom", "kitchen", "garage", "attic", "classroom", "bathroom")
_SKILLS = ("swim", "ride a bike", "play the piano", "juggle", "skate", "bake bread",
           "speak French", "draw horses", "play chess", "knit a scarf")
_CITIES = ("Paris", "Rome", "London", "Tokyo", "Madrid", "Vienna", "Cairo", "Lima",
           "Oslo", "Athens")
_RELS = ("mother", "father", "sister", "brother", "aunt", "uncle", "grandmother",
         "grandfather", "cousin", "best friend")
_PETS = (("dog", "Rex"), ("dog", "Bella"), ("cat", "Tiger"), ("puppy", "Spot"),
         ("dog", "Buddy"), ("goat", "Daisy"), ("pony", "Star"))
_PARKS = ("park", "forest", "field", "garden", "village", "hills")
_DISHES = (("soup", ("carrots", "onions", "potatoes", "beans", "salt")),
           ("a salad", ("lettuce", "tomatoes", "cucumber", "olives", "cheese")),
           ("pancakes", ("flour", "eggs", "milk", "butter", "sugar")),
           ("a pizza", ("cheese", "tomatoes", "mushrooms", "peppers", "ham")))
_EVENTS = ("fair", "concert", "parade", "market", "festival", "race")
_TOWNS = ("Greenfield", "Riverton", "Oakville", "Hillside", "Brookdale", "Maplewood",
          "Stonebridge", "Lakeview")
_THINGS = ("ball", "hat", "watch", "key", "scarf", "book", "glove", "wallet")
_FURNITURE = ("sofa", "bed", "table", "desk", "stairs", "car seat")


def _summary_item(rng: random.Random) -> tuple[str, str]:
    """A short passage and its one-sentence reference summary (one fixed shape per kind)."""
    name, he, his = rng.choice(_PEOPLE)
    He = he.capitalize()
    kind = rng.randrange(8)
    if kind == 0:
        shop, goods = rng.choice(_SHOPS)
        g1, g2 = rng.sample(goods, 2)
        day = rng.choice(_DAYS)
        how = rng.choice(("in the rain", "in the sun", "slowly", "with a smile"))
        passage = (f"{name} went to the {shop} on {day}. {He} bought {g1} and {g2}. "
                   f"Then {he} walked home {how}.")
        summary = f"{name} bought {g1} and {g2} at the {shop} on {day}."
    elif kind == 1:
        room, day = rng.choice(_ROOMS), rng.choice(_DAYS)
        passage = (f"On {day}, {name} cleaned {his} {room}. {He} put the books on the shelf "
                   f"and the toys in a box. When {he} finished, the {room} looked "
                   f"{rng.choice(('new', 'bright', 'tidy', 'much bigger'))}.")
        summary = f"{name} cleaned {his} {room} on {day}."
    elif kind == 2:
        (pet, petname), park = rng.choice(_PETS), rng.choice(_PARKS)
        passage = (f"{name} has a {pet} named {petname}. Every morning, {name} takes "
                   f"{petname} for a walk in the {park}. {petname} likes to chase "
                   f"{rng.choice(('birds', 'leaves', 'sticks', 'butterflies'))}.")
        summary = f"{name} walks {his} {pet} {petname} in the {park} every morning."
    elif kind == 3:
        skill, k = rng.choice(_SKILLS), rng.randint(2, 9)
        passage = (f"{name} wanted to learn to {skill}. {He} practiced every day for {k} "
                   f"weeks. Now {he} can {skill} very well.")
        summary = f"{name} learned to {skill} after {k} weeks of practice."
    elif kind == 4:
        rel, city, k = rng.choice(_RELS), rng.choice(_CITIES), rng.randint(2, 9)
        passage = (f"Last {rng.choice(('summer', 'winter', 'spring', 'autumn'))}, {name} "
                   f"and {his} {rel} visited {city}. They saw old buildings and ate "
                   f"{rng.choice(('ice cream', 'soup', 'fresh bread', 'fish'))}. They stayed "
                   f"for {k} days.")
        summary = f"{name} and {his} {rel} visited {city} for {k} days."
    elif kind == 5:
        thing, rel, furn = rng.choice(_THINGS), rng.choice(_RELS), rng.choice(_FURNITURE)
        passage = (f"{name} lost {his} {thing} on {rng.choice(_DAYS)}. {He} looked for it "
                   f"all afternoon. In the evening, {his} {rel} found it under the {furn}.")
        summary = f"{name}'s {rel} found {his} lost {thing} under the {furn}."
    elif kind == 6:
        dish, parts = rng.choice(_DISHES)
        p1, p2, p3 = rng.sample(parts, 3)
        passage = (f"{name} made {dish} for dinner. {He} used {p1}, {p2} and {p3}. "
                   f"Everyone at the table asked for more.")
        summary = f"{name} made {dish} with {p1}, {p2} and {p3} for dinner."
    else:
        event, town, hour = rng.choice(_EVENTS), rng.choice(_TOWNS), rng.randint(1, 11)
        passage = (f"The {event} in {town} started at {hour} o'clock. {name} went there "
                   f"with {his} {rng.choice(_RELS)}. They stayed until it got dark.")
        summary = f"{name} went to the {event} in {town}."
    return passage, summary


# ---------------------------------------------------------------- code
_PRINT_WORDS = ("hello", "hello world", "good morning", "I like cats", "Python is fun",
                "thank you", "goodbye", "see you soon", "happy birthday", "it is raining",
                "the end", "well done", "welcome", "let's go", "time for lunch", "yes",
                "no", "hi there", "good night", "keep going")
_STRINGS = ("cat", "dog", "hello", "python", "apple", "stars", "robot", "garden", "moon",
            "river", "tiger", "code", "green", "lemon", "music", "paper", "smile", "water")


def _int_list(rng: random.Random) -> list[int]:
    return [rng.randint(0, 20) for _ in range(rng.randint(3, 6))]


# (what the question is about, its phrasings, the reference code); {x} is the data.
_CODE_KINDS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("phrase", ("Write Python code that prints \"{x}\".",
                "Write one line of Python that prints \"{x}\".",
                "How do I print \"{x}\" in Python?"), "print(\"{x}\")"),
    ("list", ("Write Python code that sorts the list {x}.", "Sort the list {x} in Python.",
              "Write one line of Python that sorts {x}."), "sorted({x})"),
    ("string", ("Write Python code that reverses the string \"{x}\".",
                "Reverse the string \"{x}\" in Python.",
                "Write one line of Python that reverses \"{x}\"."), "\"{x}\"[::-1]"),
    ("list", ("Write Python code that gives the length of the list {x}.",
              "How do I get the length of {x} in Python?",
              "Write one line of Python that counts the items in {x}."), "len({x})"),
    ("list", ("Write Python code that adds up the numbers in {x}.",
              "How do I sum the list {x} in Python?"), "sum({x})"),
    ("list", ("Write Python code that finds the largest number in {x}.",
              "How do I get the maximum of {x} in Python?"), "max({x})"),
    ("string", ("Write Python code that turns \"{x}\" into capital letters.",
                "How do I make \"{x}\" upper case in Python?"), "\"{x}\".upper()"),
)


def _code_item(rng: random.Random) -> tuple[str, str]:
    data, phrasings, code = rng.choice(_CODE_KINDS)
    if data == "phrase":
        x = rng.choice(_PRINT_WORDS)
    elif data == "string":
        x = rng.choice(_STRINGS)
    else:
        x = _int_list(rng)
    return rng.choice(phrasings).format(x=x), code.format(x=x)


# ---------------------------------------------------------------- one item per kind
def _capital(rng: random.Random, facts: dict) -> dict:
    country, capital = rng.choice(facts["capitals"])
    return {"instruction": rng.choice(CAPITAL_Q).format(country=country), "input": "",
            "output": f"The capital of {country} is {capital}."}


def _arithmetic(rng: random.Random, facts: dict) -> dict:
    op = rng.randrange(3)
    if op == 0:
        a, b = rng.randint(0, 20), rng.randint(0, 20)
        q, out = rng.choice(ADD_Q), f"{a} + {b} = {a + b}"
    elif op == 1:
        a = rng.randint(0, 20)
        b = rng.randint(0, a)
        q, out = rng.choice(SUB_Q), f"{a} - {b} = {a - b}"
    else:
        a, b = rng.randint(1, 10), rng.randint(1, 10)
        q, out = rng.choice(MUL_Q), f"{a} * {b} = {a * b}"
    return {"instruction": q.format(a=a, b=b), "input": "", "output": out}


def _list(rng: random.Random, facts: dict) -> dict:
    group = rng.choice(tuple(LIST_GROUPS))
    hits = rng.sample(LIST_GROUPS[group], rng.randint(1, 3))
    others = [g for g in LIST_GROUPS if g != group]
    misses = [rng.choice(LIST_GROUPS[g]) for g in rng.sample(others, rng.randint(2, 3))]
    words = hits + misses
    rng.shuffle(words)
    return {"instruction": rng.choice(LIST_Q).format(group=group), "input": ", ".join(words),
            "output": ", ".join(w for w in words if w in hits)}


def _summary(rng: random.Random, facts: dict) -> dict:
    passage, summary = _summary_item(rng)
    return {"instruction": rng.choice(SUMMARY_Q), "input": passage, "output": summary}


def _code(rng: random.Random, facts: dict) -> dict:
    q, out = _code_item(rng)
    return {"instruction": q, "input": "", "output": out}


def _definition(rng: random.Random, facts: dict) -> dict:
    word, meaning = rng.choice(facts["definitions"])
    return {"instruction": rng.choice(DEFINE_Q).format(word=word), "input": "",
            "output": f"{word.capitalize()} means {meaning}."}


MAKERS: dict[str, Callable[[random.Random, dict], dict]] = {
    "capital": _capital, "arithmetic": _arithmetic, "list": _list, "summary": _summary,
    "code": _code, "definition": _definition,
}
_ALL_FACTS = {"capitals": CAPITALS, "definitions": DEFINITIONS}


def make_task(rng: random.Random, category: str, facts: dict | None = None) -> dict:
    """One item of a kind: `{"instruction", "input", "output", "category"}`."""
    item = MAKERS[category](rng, facts or _ALL_FACTS)
    item["category"] = category
    return item


def _key(item: dict) -> tuple[str, str]:
    return item["instruction"], item["input"]


def _balanced(n: int, rng: random.Random) -> list[str]:
    """`n` category names, as even as possible, in a shuffled order."""
    cats = [CATEGORIES[i % len(CATEGORIES)] for i in range(n)]
    rng.shuffle(cats)
    return cats


def generate_tasks(n: int, seed: int = 0) -> list[dict]:
    """`n` items, the six kinds as evenly as possible, in a shuffled order (repeats allowed)."""
    rng = random.Random(f"tasks/{seed}")
    return [make_task(rng, c) for c in _balanced(n, rng)]


def split_tasks(n_train: int = 2000, n_test: int = 200, seed: int = 0,
                hold_out_facts: bool = False) -> tuple[list[dict], list[dict]]:
    """A train and a held-out test list (see the module doc). Test items are distinct and
    none of their (instruction, input) pairs is in train; both cover all six kinds when
    their size is at least six."""
    rng = random.Random(f"tasks-split/{seed}")
    train_facts = test_facts = _ALL_FACTS
    if hold_out_facts:
        train_facts, test_facts = {}, {}
        for name, table in _ALL_FACTS.items():
            shuffled = list(table)
            rng.shuffle(shuffled)
            cut = len(shuffled) // 5
            test_facts[name], train_facts[name] = tuple(shuffled[:cut]), tuple(shuffled[cut:])
    seen: set[tuple[str, str]] = set()
    test = _draw(rng, n_test, test_facts, seen, distinct=True)
    train = _draw(rng, n_train, train_facts, seen, distinct=False)
    return train, test


def _draw(rng: random.Random, n: int, facts: dict, avoid: set[tuple[str, str]], *,
          distinct: bool) -> list[dict]:
    """`n` balanced items whose keys are not in `avoid` (with `distinct`, each new key is
    added to `avoid`, so no item repeats)."""
    items = []
    for cat in _balanced(n, rng):
        for _ in range(1000):
            item = make_task(rng, cat, facts)
            if _key(item) not in avoid:
                break
        else:  # only when a small table cannot give that many distinct items
            raise ValueError(f"cannot draw {n} items of kind {cat!r} that are not held out")
        if distinct:
            avoid.add(_key(item))
        items.append(item)
    return items


def _count(items: list[dict]) -> dict[str, int]:
    return {c: sum(1 for it in items if it["category"] == c) for c in CATEGORIES}


def write_tasks(folder: str | Path, n_train: int = 2000, n_test: int = 200, seed: int = 0,
                hold_out_facts: bool = False) -> dict:
    """Write `train.jsonl` and `test.jsonl` (alpaca rows with a `category` column) into
    `folder` (made if missing), atomically. Returns counts per split and kind."""
    folder = Path(folder)
    train, test = split_tasks(n_train, n_test, seed, hold_out_facts)
    for name, items in (("train", train), ("test", test)):
        with atomic_writer(folder / f"{name}.jsonl") as fh:
            for item in items:
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return {"folder": str(folder), "train": _count(train), "test": _count(test),
            "train_distinct": len({_key(it) for it in train}),
            "hold_out_facts": hold_out_facts}
