"""Answer metrics against a reference: exact match and token F1, overall and per category.

Both compare normalized text, so case, spacing and a trailing full stop do not decide:

* `normalize_answer`: lower case, runs of whitespace collapsed to one space, punctuation
  stripped at both ends ("  The capital is PARIS. " -> "the capital is paris"). Punctuation
  inside stays ("3.14", "don't", "a, b and c").
* `answer_words`: the normalized answer split on spaces, each word stripped of punctuation
  at its ends, empty words dropped. Unlike SQuAD, articles are kept: the references of
  small SFT sets are whole sentences, and "the" is part of getting them right.

A reference may be a list of acceptable answers; the best one counts.
"""

from __future__ import annotations

import string
from collections import Counter
from typing import Iterable, Sequence

_PUNCT = string.punctuation + "“”‘’«»…–—¿¡·"


def normalize_answer(text: str) -> str:
    """Lower case, whitespace collapsed, punctuation stripped at both ends."""
    return " ".join(text.lower().split()).strip(_PUNCT + " ")


def answer_words(text: str) -> list[str]:
    """The words F1 counts: normalized, split, each stripped of edge punctuation."""
    return [w for w in (w.strip(_PUNCT) for w in normalize_answer(text).split()) if w]


def _references(reference: str | Sequence[str]) -> list[str]:
    refs = [reference] if isinstance(reference, str) else list(reference)
    if not refs:
        raise ValueError("a reference list needs at least one answer")
    return refs


def exact_match(response: str, reference: str | Sequence[str]) -> float:
    """1.0 when the normalized response equals a normalized reference, else 0.0."""
    got = normalize_answer(response)
    return float(any(got == normalize_answer(r) for r in _references(reference)))


def token_f1(response: str, reference: str | Sequence[str]) -> float:
    """SQuAD-style F1 of the bags of `answer_words` (the best over the references).
    Both empty: 1.0; one empty: 0.0."""
    got = answer_words(response)
    best = 0.0
    for ref in _references(reference):
        want = answer_words(ref)
        if not got or not want:
            best = max(best, float(got == want))
            continue
        common = sum((Counter(got) & Counter(want)).values())
        if common:
            p, r = common / len(got), common / len(want)
            best = max(best, 2 * p * r / (p + r))
    return best


def answer_scores(items: Iterable[tuple[str, str | Sequence[str], str | None]]) -> dict:
    """Exact match and F1 over (response, reference, category) triples: the means overall
    and per category (items without a category count only overall).

    Returns `{"n", "exact_match", "f1", "by_category": {cat: {"n", "exact_match", "f1"}}}`;
    the means are None when there are no items.
    """
    rows = [(exact_match(resp, ref), token_f1(resp, ref), cat) for resp, ref, cat in items]
    return aggregate_answers(rows)


def aggregate_answers(rows: list[tuple[float, float, str | None]]) -> dict:
    """Means of (exact match, F1, category) rows, overall and per category."""
    def means(part):
        n = len(part)
        return {"n": n,
                "exact_match": sum(r[0] for r in part) / n if n else None,
                "f1": sum(r[1] for r in part) / n if n else None}

    out = means(rows)
    cats = sorted({r[2] for r in rows if r[2] is not None})
    out["by_category"] = {c: means([r for r in rows if r[2] == c]) for c in cats}
    return out
