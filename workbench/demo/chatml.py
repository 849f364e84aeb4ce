"""A small hand-written ChatML-lite set (seed 002): quality over quantity.

Written by hand, like a course author would, to one style so that a tiny model learns one
convention rather than several:

* the assistant answers at once: no "Sure!", no "Great question", no restating the question;
* one or two short sentences in plain words, ending with a full stop;
* facts it cannot know are not invented: it says so briefly (two examples);
* a follow-up question is answered in the same style, using what was said before.

`EXAMPLES` (64 conversations: 50 single-turn, 11 with a follow-up, 3 with a system turn)
is what SFT trains on; its order is mixed so that the first N make a fair smaller set for
a data-size sweep (`examples(n)`). `EVAL_PROMPTS` (12 questions with reference answers,
none of them in `EXAMPLES`) are for comparing base and SFT models. `FORGETTING_PASSAGES`
(12 short plain-text passages in the style of the pretraining stories, not in the corpus)
measure plain-text loss before and after SFT. `OFF_STYLE` (8 answers in another voice) is
for the optional inconsistency-injection exercise.
"""

from __future__ import annotations

import json
from pathlib import Path

from ._io import atomic_writer


def _chat(*turns: str, system: str | None = None) -> dict:
    """A conversation from alternating user / assistant texts (user first)."""
    msgs = [{"role": "system", "content": system}] if system else []
    for i, text in enumerate(turns):
        msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return {"messages": msgs}


SYSTEM = "You are a helpful assistant. Answer briefly and plainly."

_SINGLE = (
    _chat("What color is the sky on a clear day?",
          "The sky is blue on a clear day."),
    _chat("How many legs does a spider have?",
          "A spider has eight legs."),
    _chat("What do bees make?",
          "Bees make honey and wax."),
    _chat("Why do we need to sleep?",
          "Sleep lets the body rest and the brain sort out what it learned during the day."),
    _chat("What is the opposite of hot?",
          "The opposite of hot is cold."),
    _chat("How many days are in a week?",
          "There are seven days in a week."),
    _chat("What is 9 plus 6?",
          "9 plus 6 is 15."),
    _chat("Give me a word that rhymes with cat.",
          "Hat rhymes with cat."),
    _chat("What do plants need to grow?",
          "Plants need light, water, air and good soil to grow."),
    _chat("Where does rain come from?",
          "Rain falls from clouds when their tiny water drops join into drops heavy enough to fall."),
    _chat("What is the plural of mouse?",
          "The plural of mouse is mice."),
    _chat("Which animal is known as the king of the jungle?",
          "The lion is called the king of the jungle."),
    _chat("How do I say thank you in Spanish?",
          "In Spanish, thank you is \"gracias\"."),
    _chat("What is frozen water called?",
          "Frozen water is called ice."),
    _chat("How many minutes are in an hour?",
          "There are sixty minutes in an hour."),
    _chat("What should I do if I feel cold?",
          "Put on a warm sweater or a coat, and drink something warm."),
    _chat("Is a tomato a fruit or a vegetable?",
          "A tomato is a fruit, but people usually cook it like a vegetable."),
    _chat("What is the biggest planet in our solar system?",
          "Jupiter is the biggest planet in our solar system."),
    _chat("Write a sentence using the word \"brave\".",
          "The brave girl climbed down the cliff to help the lost puppy."),
    _chat("What is 7 times 8?",
          "7 times 8 is 56."),
    _chat("Why do leaves change color in autumn?",
          "In autumn, trees stop making the green that colors their leaves, so the yellow and red underneath show through."),
    _chat("How do fish breathe?",
          "Fish breathe with gills, which take oxygen from the water."),
    _chat("What is a baby cat called?",
          "A baby cat is called a kitten."),
    _chat("Name three colors of the rainbow.",
          "Red, yellow and blue are three colors of the rainbow."),
    _chat("What does a thermometer measure?",
          "A thermometer measures temperature."),
    _chat("What is the capital of Italy?",
          "The capital of Italy is Rome."),
    _chat("How can I be a good friend?",
          "Listen well, be kind, keep your promises and help when your friend needs it."),
    _chat("What is my neighbor's name?",
          "I don't know your neighbor's name, but you could ask them."),
    _chat("Why is the sea salty?",
          "Rivers carry salt from rocks into the sea, and it stays there when the water evaporates."),
    _chat("Turn this into a question: The dog is sleeping.",
          "Is the dog sleeping?"),
    _chat("How many sides does a triangle have?",
          "A triangle has three sides."),
    _chat("What is the opposite of early?",
          "The opposite of early is late."),
    _chat("What do caterpillars turn into?",
          "Caterpillars turn into butterflies or moths."),
    _chat("How do I make my handwriting neater?",
          "Write more slowly, hold the pencil loosely and practice a few lines every day."),
    _chat("What is 20 minus 7?",
          "20 minus 7 is 13."),
    _chat("What gives us light during the day?",
          "The sun gives us light during the day."),
    _chat("Fix the spelling: I have a freind.",
          "I have a friend."),
    _chat("What is a group of wolves called?",
          "A group of wolves is called a pack."),
    _chat("Why should I brush my teeth?",
          "Brushing removes food and germs that cause holes in your teeth and bad breath."),
    _chat("What is the tallest animal?",
          "The giraffe is the tallest animal."),
    _chat("What will the weather be like tomorrow?",
          "I can't see a weather forecast, so please check a weather report for tomorrow."),
    _chat("Put these numbers in order: 8, 3, 5.",
          "In order, the numbers are 3, 5, 8."),
    _chat("What is the past tense of run?",
          "The past tense of run is ran."),
    _chat("How long does it take the Earth to go around the sun?",
          "The Earth goes around the sun in about one year, or 365 days."),
    _chat("What is a noun?",
          "A noun is a word for a person, place, animal or thing."),
    _chat("Which is heavier, a kilogram of feathers or a kilogram of stones?",
          "They weigh the same, because both are one kilogram."),
    _chat("What can I do when I feel sad?",
          "Talk to someone you trust, go for a walk or do something you enjoy."),
    _chat("What do cows eat?",
          "Cows mostly eat grass and hay."),
    _chat("Summarize in one sentence: Mia lost her hat at the park. She looked everywhere. Her brother found it under a bench.",
          "Mia's brother found her lost hat under a bench at the park."),
    _chat("What is half of 10?",
          "Half of 10 is 5."),
)
_FOLLOW_UP = (
    _chat("What is the capital of France?",
          "The capital of France is Paris.",
          "What river runs through it?",
          "The Seine runs through Paris."),
    _chat("How many legs does a dog have?",
          "A dog has four legs.",
          "And a bird?",
          "A bird has two legs."),
    _chat("What is 5 plus 3?",
          "5 plus 3 is 8.",
          "Now double it.",
          "Double 8 is 16."),
    _chat("Name a fruit that is yellow.",
          "A banana is yellow.",
          "Name one that is red.",
          "A strawberry is red."),
    _chat("What is the opposite of big?",
          "The opposite of big is small.",
          "Use it in a sentence.",
          "The small mouse hid under the chair."),
    _chat("What do you call a baby dog?",
          "A baby dog is called a puppy.",
          "What about a baby sheep?",
          "A baby sheep is called a lamb."),
    _chat("How many months are in a year?",
          "There are twelve months in a year.",
          "Which one is the shortest?",
          "February is the shortest month."),
    _chat("What is water made of?",
          "Water is made of hydrogen and oxygen.",
          "What happens when it boils?",
          "When water boils, it turns into steam."),
    _chat("Spell the word \"school\" backwards.",
          "Backwards, school is \"loohcs\".",
          "And \"cat\"?",
          "Backwards, cat is \"tac\"."),
    _chat("Which planet is closest to the sun?",
          "Mercury is the planet closest to the sun.",
          "Is it hot there?",
          "Yes, in the day it is very hot, but at night it gets very cold."),
    _chat("I want to plant a tree. When should I do it?",
          "Autumn or early spring is the best time to plant a tree.",
          "How often should I water it?",
          "Water it deeply about once a week, and more often when the weather is hot and dry."),
)
_WITH_SYSTEM = (
    _chat("What is the largest ocean?",
          "The Pacific Ocean is the largest ocean.", system=SYSTEM),
    _chat("How do I boil an egg?",
          "Put the egg in boiling water for about nine minutes, then cool it in cold water.",
          system=SYSTEM),
    _chat("What is 12 divided by 4?",
          "12 divided by 4 is 3.",
          "And 12 divided by 3?",
          "12 divided by 3 is 4.", system=SYSTEM),
)


def _spread(*groups: tuple[dict, ...]) -> tuple[dict, ...]:
    """Interleave the groups evenly, so that any prefix holds each kind in proportion."""
    keyed = [((i + 0.5) / len(g), gi, row) for gi, g in enumerate(groups)
             for i, row in enumerate(g)]
    return tuple(row for _, _, row in sorted(keyed, key=lambda k: (k[0], k[1])))


EXAMPLES: tuple[dict, ...] = _spread(_SINGLE, _FOLLOW_UP, _WITH_SYSTEM)

EVAL_PROMPTS: tuple[dict, ...] = (
    {"prompt": "What color is grass?", "reference": "Grass is green."},
    {"prompt": "How many legs does a cat have?", "reference": "A cat has four legs."},
    {"prompt": "What is the opposite of up?", "reference": "The opposite of up is down."},
    {"prompt": "What is 4 plus 5?", "reference": "4 plus 5 is 9."},
    {"prompt": "What is a baby cow called?", "reference": "A baby cow is called a calf."},
    {"prompt": "How many days are in a year?",
     "reference": "There are 365 days in a year, or 366 in a leap year."},
    {"prompt": "What do birds use to fly?", "reference": "Birds use their wings to fly."},
    {"prompt": "What is the capital of Spain?", "reference": "The capital of Spain is Madrid."},
    {"prompt": "What is the plural of child?", "reference": "The plural of child is children."},
    {"prompt": "Why do we wear coats in winter?",
     "reference": "Coats keep us warm when the weather is cold."},
    {"prompt": "What is my favorite color?",
     "reference": "I don't know your favorite color, but you can tell me."},
    {"prompt": "What is the past tense of eat?", "reference": "The past tense of eat is ate."},
)

FORGETTING_PASSAGES: tuple[str, ...] = (
    "Once upon a time, there was a little fox named Red. Red lived in a hole under an old "
    "oak tree. Every morning, he ran to the river to drink the cold, clear water.",
    "Sam had a blue bike. He rode it to school every day. One morning, the chain came off, "
    "and Sam had to walk. His friend Mia helped him fix it after school.",
    "The old man sat on the bench by the pond. He threw bread to the ducks, and the ducks "
    "swam over to him, one by one. \"Good morning, ducks,\" he said with a smile.",
    "It was raining all day. Lucy looked out of the window and sighed. Then she had an idea. "
    "She got her paper and crayons and drew a big yellow sun.",
    "Ben and his dad went fishing on the lake. They sat in the little boat for a long time. "
    "At last, Ben felt a tug on the line. He pulled and pulled, and up came an old boot.",
    "The little bird could not fly yet. It sat in the nest and waited for its mother. When "
    "she came back with a worm, the little bird opened its mouth wide.",
    "Anna wanted to bake a cake for her mom. She mixed flour, eggs and sugar in a big bowl. "
    "The cake came out of the oven warm and golden, and the whole house smelled sweet.",
    "One windy day, Tom lost his hat. It flew over the fence and into the field. A kind "
    "farmer found it and gave it back to him. Tom said thank you and held his hat tight.",
    "The moon was big and round. Lily could see it from her bed. She whispered good night "
    "to the moon, closed her eyes and fell asleep.",
    "A small turtle wanted to see the sea. The walk was long and slow. The sun was hot, "
    "but the turtle kept going. At last, it felt the cool water on its feet.",
    "In the garden, there was a tall sunflower. Every day, it turned its face to the sun. "
    "The bees loved it, and the children liked to measure how tall it had grown.",
    "Max did not want to share his blocks. His sister cried. Then Max saw how sad she was. "
    "He gave her half of the blocks, and together they built a tall tower.",
)

OFF_STYLE: tuple[dict, ...] = (
    _chat("What color is a banana?",
          "Sure! Great question. Bananas are usually yellow when they are ripe, although they "
          "can be green before that, and brown spots appear later on. Hope this helps!"),
    _chat("How many wheels does a bike have?",
          "Sure, let me think about that... A bike, or bicycle, has 2 wheels!"),
    _chat("What is 3 plus 3?",
          "Great question! Let me work it out step by step: three and three makes six. So the "
          "answer is 6!"),
    _chat("What do frogs eat?",
          "Sure! Frogs are amazing animals. They eat insects like flies and crickets. Is there "
          "anything else you would like to know about frogs?"),
    _chat("What is the opposite of fast?",
          "Slow"),
    _chat("Where do penguins live?",
          "Sure thing! Most penguins live in the southern half of the world, many near "
          "Antarctica, where it is very cold. Let me know if you have more questions!"),
    _chat("What is a baby horse called?",
          "Great question!!! A baby horse is called a foal :)"),
    _chat("How many hours are in a day?",
          "Sure. There are 24 hours in a day. I hope this answer was helpful to you!"),
)


def examples(n: int | None = None) -> list[dict]:
    """The first `n` training conversations (all of them by default), as fresh copies."""
    chosen = EXAMPLES if n is None else EXAMPLES[:n]
    return json.loads(json.dumps(list(chosen)))


def eval_prompts() -> list[dict]:
    """The held-out questions, `{"prompt", "reference"}` each."""
    return [dict(p) for p in EVAL_PROMPTS]


def forgetting_passages() -> list[str]:
    """Plain-text passages for measuring plain-text loss before and after SFT."""
    return list(FORGETTING_PASSAGES)


def _write_rows(path: str | Path, rows: list[dict]) -> dict:
    with atomic_writer(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {"path": str(path), "rows": len(rows)}


def write_chatml(path: str | Path, n: int | None = None, *, off_style: int = 0) -> dict:
    """Write the training conversations as JSONL `{"messages": [...]}` rows (the
    workbench's `chat` format). `n` keeps the first n; `off_style` mixes in that many
    `OFF_STYLE` conversations (at fixed, spread-out positions) for the inconsistency
    exercise."""
    rows = examples(n)
    bad = json.loads(json.dumps(list(OFF_STYLE[:off_style])))
    for k, row in enumerate(bad):
        rows.insert((k + 1) * len(rows) // (len(bad) + 1) + k, row)
    return _write_rows(path, rows)


def write_chatml_eval(path: str | Path) -> dict:
    """Write the held-out questions as chat rows: the user prompt and the reference answer."""
    return _write_rows(path, [_chat(p["prompt"], p["reference"]) for p in EVAL_PROMPTS])


def write_forgetting(path: str | Path) -> dict:
    """Write the forgetting passages as JSONL `{"text": ...}` rows (plain-text format)."""
    return _write_rows(path, [{"text": t} for t in FORGETTING_PASSAGES])
