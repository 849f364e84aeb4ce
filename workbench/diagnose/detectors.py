"""Detectors: pure functions over one generated response.

Each detector looks at the response text (and, where it matters, the stop reason, the
template or the prompt) and returns a `Finding`: a flag, a score in [0, 1] where the
detector has one, the evidence as character spans into the response (so a UI can highlight
them) and a one-line message. Nothing here imports torch or the UI.

What each detector calls a failure, and why the thresholds are where they are, is written
in its docstring; the numbers live in `Thresholds`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # only for annotations; templates is a lower layer and light to import
    from ..templates import Template

STOP_REASONS = ("end", "stop_string", "length")
"""What `generate` reports: the end token, a stop string of the template, or the token limit."""


class Span(NamedTuple):
    """Characters `text[start:end]` of the response. Serializes to JSON as `[start, end]`."""

    start: int
    end: int


@dataclass(frozen=True)
class Finding:
    """What one detector found in one response.

    Attributes:
        name: the detector ("leakage", "looping", "no_stop", "empty", "echo").
        flag: True when the response fails this check.
        score: a degree in [0, 1] (looping, echo), or None for yes/no detectors.
        spans: the evidence, as character offsets into the response, in order.
        message: one line for people: what was found, or why nothing was.
    """

    name: str
    flag: bool
    score: float | None = None
    spans: tuple[Span, ...] = ()
    message: str = ""

    def to_dict(self) -> dict:
        return {"flag": self.flag,
                "score": None if self.score is None else round(self.score, 4),
                "spans": [list(s) for s in self.spans], "message": self.message}


@dataclass(frozen=True)
class Thresholds:
    """The numbers the detectors decide with. The defaults are the documented behaviour.

    Attributes:
        loop_min_repeats: a stretch of words repeated this many times in a row is a loop...
        loop_min_words: ... when its copies hold at least this many words in all: 3
            copies of "ha" are not a loop, 3 of "The cat sat on the mat." (18 words) are.
        loop_max_period: the longest stretch (in words) checked for back-to-back copies.
        loop_ngram: n for the repeated-n-gram share (in words).
        loop_window: the share is measured over the last this-many words.
        loop_share: a tail whose repeated-n-gram share reaches this is a loop...
        loop_min_window: ... when the tail has at least this many words.
        loop_sentence_words: a sentence counts for the sentence criteria of looping when
            it has at least this many words: "Tom smiled." and "The end." may come back
            as often as they like, "Lily was very happy." may not.
        loop_sentence_repeats: one such sentence said this many times anywhere in the
            response is a loop: twice is a refrain ("I think I can, I think I can"), three
            times across a short story is a model that lost its thread.
        loop_sentence_share: a response whose copies of earlier sentences (of at least
            `loop_sentence_words` words) make up this share of all its sentences is a
            loop...
        loop_sentence_copies: ... when there are at least this many copies: one sentence
            said twice is not a loop, whatever the length of the response.
        echo_ngram: n for the echo overlap (response n-grams found in the prompt).
        echo_share: a response whose overlap share reaches this is an echo...
        echo_min_words: ... when it has at least this many words, none of them new.
    """

    loop_min_repeats: int = 3
    loop_min_words: int = 12
    loop_max_period: int = 60
    loop_ngram: int = 4
    loop_window: int = 200
    loop_share: float = 0.5
    loop_min_window: int = 24
    loop_sentence_words: int = 4
    loop_sentence_repeats: int = 3
    loop_sentence_share: float = 0.3
    loop_sentence_copies: int = 2
    echo_ngram: int = 3
    echo_share: float = 0.8
    echo_min_words: int = 3


DEFAULT_THRESHOLDS = Thresholds()


# ----------------------------------------------------------------------------------------
# Units: what echo and looping count. A unit is a run of word characters or a run of
# punctuation ("###", "<|", "..."), compared in lower case. Whitespace is never a unit, so
# "Paris.\n\nParis." and "Paris. Paris." repeat the same way, and every unit has a span.
# Looping keeps only the word units.

_UNIT = re.compile(r"\w+|[^\w\s]+")
_ENUMERATOR = re.compile(r"(?m)^[ \t]*(\d+)(?=[.)][ \t])")   # "12. " / "3) " opening a line


def units(text: str) -> tuple[list[str], list[Span]]:
    """The lower-cased units of `text` and their character spans."""
    words, spans = [], []
    for m in _UNIT.finditer(text):
        words.append(m.group().lower())
        spans.append(Span(m.start(), m.end()))
    return words, spans


def is_word(unit: str) -> bool:
    return unit[0].isalnum() or unit[0] == "_"


def _loop_units(text: str) -> tuple[list[str], list[Span]]:
    """The word units of `text` (punctuation left out, so markup and code that repeat
    their brackets do not look like loops), with the numbers of a numbered list ("1. ",
    "12) " at the start of a line) all read as "#": a list that cycles through the same
    items is a loop even though its numbers go up. Other numbers stay as they are."""
    words, spans = units(text)
    starts = {m.start(1) for m in _ENUMERATOR.finditer(text)}
    kept = [(("#" if s.start in starts else w), s) for w, s in zip(words, spans) if is_word(w)]
    return [w for w, _ in kept], [s for _, s in kept]


def merge_spans(spans: list[Span]) -> tuple[Span, ...]:
    """Sorted, with overlapping or touching spans joined."""
    out: list[Span] = []
    for s in sorted(spans):
        if out and s.start <= out[-1].end:
            out[-1] = Span(out[-1].start, max(out[-1].end, s.end))
        else:
            out.append(s)
    return tuple(out)


def _char_span(unit_spans: list[Span], first: int, last: int) -> Span:
    """The characters from unit `first` to unit `last` (inclusive)."""
    return Span(unit_spans[first].start, unit_spans[last].end)


def _covered_spans(unit_spans: list[Span], covered: list[bool], offset: int = 0) -> tuple[Span, ...]:
    """Character spans of the runs of covered units (`covered[i]` is unit `offset + i`)."""
    out, i = [], 0
    while i < len(covered):
        if covered[i]:
            j = i
            while j + 1 < len(covered) and covered[j + 1]:
                j += 1
            out.append(_char_span(unit_spans, offset + i, offset + j))
            i = j + 1
        else:
            i += 1
    return tuple(out)


# ----------------------------------------------------------------------------------------
# Role leakage

GENERIC_MARKERS = (
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>",
    "<|end|>", "[INST]", "[/INST]", "<INST>", "<RESP>",
    "### Instruction:", "### Input:", "### Response:", "### Human:", "### Assistant:",
    "### User:", "### System:",
)
"""Checked for every template except plain text, whatever its own markers: chat and
instruction markers that a fine-tune picks up from pretraining data or another template,
and that never belong in an answer. Plain role words at the start of a line ("User:",
"Human:", "Assistant:") are deliberately not here: answers use them legitimately (a
glossary entry, a dialogue in a story), so they count only when a template names them."""

_STRUCTURE = set("#<>|[]{}")


@lru_cache(maxsize=256)
def marker_pattern(marker: str) -> re.Pattern[str]:
    """A regex that finds `marker` the way a model mangles it, and only that.

    * Spaces and tabs may appear inside and around the marker's punctuation: `<| user |>`,
      `###  Instruction :`, `###Instruction:` (not newlines: a marker broken across lines
      is no longer one).
    * A leading run of `#` matches 2 to 6 of them: `## Response:` and `#### Response:` too.
    * A `#` header's closing colon may be missing when the header ends its line:
      "### Response" alone on a line counts, "### Response codes" does not.
    * Markers with structure characters (`#`, `<`, `|`, `[`) match in any letter case;
      markers made only of words ("Customer:", "Write a story about:") match their case
      exactly, so prose like "the customer: ..." stays clean.
    * Word edges are respected: `<INST>` does not match `<INSTALL>`, "User:" does not
      match "SuperUser:".
    """
    m = marker.strip()
    structured = any(ch in _STRUCTURE for ch in m)
    gap = r"[ \t]*" if structured else ""          # between two pieces of the marker
    space = r"[ \t]*" if structured else r"[ \t]+"  # where the marker has a space
    pieces = re.findall(r"#+|\w+|\s+|[^\w\s]", m)
    header = len(pieces) > 1 and len(pieces[0]) >= 2 and pieces[0][0] == "#"
    colon_optional = header and pieces[-1] == ":"
    if colon_optional:
        pieces = pieces[:-1]
    out: list[str] = []
    for k, piece in enumerate(pieces):
        if piece.isspace():
            out.append(space)
            continue
        if k and not pieces[k - 1].isspace():
            out.append(gap)
        out.append(r"(?<!#)#{2,6}" if (k == 0 and header) else re.escape(piece))
    if re.match(r"\w", m):
        out.insert(0, r"(?<!\w)")
    if colon_optional:
        out.append(r"(?:[ \t]*:|(?=[ \t]*(?:\n|$)))")
    elif re.search(r"\w$", m):
        out.append(r"(?!\w)")
    return re.compile("".join(out), re.IGNORECASE if structured else 0)


def markers_for(template: "Template | None") -> tuple[str, ...]:
    """The markers whose appearance in a response is leakage under `template`: its own
    (`all_markers()`) plus `GENERIC_MARKERS`; none at all for plain-text templates."""
    if template is not None and getattr(template, "kind", "") == "text":
        return ()
    own = template.all_markers() if template is not None else ()
    seen: dict[str, None] = {}
    for m in (*own, *GENERIC_MARKERS):
        if m.strip():
            seen[m] = None
    return tuple(seen)


def find_markers(text: str, markers: tuple[str, ...]) -> list[tuple[Span, str]]:
    """Every place a marker appears in `text`, as (span, marker), in text order; where two
    markers match overlapping text the longer match wins."""
    hits = []
    for marker in markers:
        for m in marker_pattern(marker).finditer(text):
            if m.end() > m.start():
                hits.append((Span(m.start(), m.end()), marker))
    hits.sort(key=lambda h: (h[0].start, -(h[0].end - h[0].start)))
    out: list[tuple[Span, str]] = []
    for span, marker in hits:
        if out and span.start < out[-1][0].end:
            continue
        out.append((span, marker))
    return out


def _cut_marker(text: str, markers: tuple[str, ...]) -> list[tuple[Span, str]]:
    """A marker the token limit cut in two: the text ends with the first part of a marker
    that has structure characters ("<|us" of "<|user|>", "### Instr" of
    "### Instruction:"), with a letter in it and either two structure characters or five
    characters in all (so HTML cut at "<in" is not "<INST>"), starting at a word edge.
    Only asked when generation stopped at the token limit."""
    body = text.rstrip()
    low = body.lower()
    best: tuple[Span, str] | None = None
    for marker in markers:
        m = marker.strip()
        if not any(ch in _STRUCTURE for ch in m):
            continue
        for k in range(len(m) - 1, 2, -1):
            part = m[:k].rstrip()
            if (not any(ch.isalpha() for ch in part) or not low.endswith(part.lower())
                    or (sum(ch in _STRUCTURE for ch in part) < 2 and len(part) < 5)):
                continue
            start = len(body) - len(part)
            if start and (body[start - 1].isalnum() or body[start - 1] == "_"):
                continue
            if best is None or start < best[0].start:
                best = (Span(start, len(body)), marker)
            break
    return [best] if best else []


def detect_leakage(text: str, template: "Template | None" = None, *,
                   stop_reason: str | None = None, stop_string: str | None = None) -> Finding:
    """Role leakage: the response contains a role marker or section header.

    The markers are the template's (`all_markers()`: role markers, section headers and its
    end token written as text) plus `GENERIC_MARKERS`, matched as `marker_pattern` says,
    anywhere in the text (mid-line too). Plain-text templates (`text`) have no roles, so
    nothing leaks under them. When the token limit stopped generation, a marker cut in
    two at the very end counts too (a response ending in "<|us"; see `_cut_marker`).

    A response that ended on a stop string leaked too, even when the generator cut the
    marker off the text: with `stop_string` (the string that matched) given, when it is a
    marker; without it, when every stop string of the template is a marker (true of all
    built-in templates: their stop strings are the role markers a model writes when it
    starts the next turn). Such a finding has no span (the marker is not in the text).
    """
    markers = markers_for(template)
    if not markers:
        return Finding("leakage", False, message="no role markers (plain-text template)")
    hits = find_markers(text, markers)
    cut = []
    if stop_reason == "length" and not (hits and hits[-1][0].end >= len(text.rstrip())):
        cut = _cut_marker(text, markers)
    if hits or cut:
        names = list(dict.fromkeys(text[s.start:s.end].strip() for s, _ in hits))
        said = []
        if names:
            shown = ", ".join(repr(n) for n in names[:4]) + (", …" if len(names) > 4 else "")
            first = hits[0][0]
            said.append(f"role marker {shown} in the response ({len(hits)}×, first at "
                        f"{first.start}–{first.end})")
        for span, marker in cut:
            said.append(f"{text[span.start:span.end]!r} at the end is the start of {marker!r} "
                        "(cut by the token limit)")
        return Finding("leakage", True, None, tuple(s for s, _ in hits + cut), "; ".join(said))
    if stop_reason == "stop_string":
        own_stops = tuple(getattr(template, "stop_strings", ()) or ())
        if stop_string:
            if find_markers(stop_string, markers):
                return Finding("leakage", True, None, (),
                               f"stopped on the role marker {stop_string.strip()!r} "
                               "(cut from the text)")
        elif own_stops and all(find_markers(s, markers) for s in own_stops):
            return Finding("leakage", True, None, (),
                           f"stopped on a stop string, and every stop string of template "
                           f"{template.name!r} is a role marker (cut from the text)")
    return Finding("leakage", False, message="no role marker")


# ----------------------------------------------------------------------------------------
# Looping


def _longest_run(words: list[str], th: Thresholds) -> tuple[int, int, int] | None:
    """The longest stretch of back-to-back copies: (start unit, period, copies), or None.

    For every period p, a run of positions where `words[i] == words[i + p]` of length L
    means `words[start : start + p + L]` repeats with period p, i.e. (p + L) // p copies.
    The longest such stretch wins; on a tie, the shortest period (the true one: a loop of
    period 7 also repeats with period 14).
    """
    n = len(words)
    best: tuple[int, int, int, int] | None = None  # (covered, -period, start, copies)
    for p in range(1, min(th.loop_max_period, n // th.loop_min_repeats) + 1):
        run = 0
        for i in range(n - p + 1):
            if i < n - p and words[i] == words[i + p]:
                run += 1
                continue
            if run:
                start = i - run
                copies = (p + run) // p
                covered = copies * p
                if copies >= th.loop_min_repeats and covered >= th.loop_min_words:
                    key = (covered, -p, start, copies)
                    if best is None or key[:2] > best[:2]:
                        best = key
            run = 0
    if best is None:
        return None
    return best[2], -best[1], best[3]


_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s|$)")
_CLOSERS = set("\"'”’»)]")
_ABBREVIATION = re.compile(
    r"(?:(?<![\w.])(?:mr|mrs|ms|dr|st|jr|sr|prof|mt|vs|fig|vol|jan|feb|mar|apr|jun|jul|aug"
    r"|sep|sept|oct|nov|dec)|(?<!\w)(?:[a-z]\.)*[a-z])\.$", re.IGNORECASE)
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’»)\]]*$")
_VERSE_MIN_LINES = 4


def sentence_spans(text: str) -> list[Span]:
    """The sentences of `text`, as character spans (whitespace around them left out).

    A sentence ends at ". ! ? …" (with any closing quotes or brackets) before whitespace
    or the end, and at every line break (list items, lines of a poem). Quotes are kept
    with their sentence, and a quoted sentence followed by its speaker in lower case runs
    on: `"Stop!" she said.` and `"Every storm stops," his mom said.` are one sentence
    each. Abbreviations and initials ("Mr. Brown", "J. K.", "e.g.", "n.d.") and the
    number of a numbered list item ("1. Fill a pot.") do not end a sentence.
    """
    out: list[Span] = []
    enumerators = {m.end(1) for m in _ENUMERATOR.finditer(text)}
    for line in re.finditer(r"[^\n]+", text):
        start, stop = line.start(), line.end()
        for m in _SENTENCE_END.finditer(text, start, stop):
            after = text[m.end():stop].lstrip()
            if m.start() in enumerators:
                continue
            if any(ch in _CLOSERS for ch in m.group()) and after[:1].islower():
                continue                                   # "Stop!" she said.
            if m.group() == "." and _ABBREVIATION.search(text, start, m.end()):
                continue                                   # Mr. Brown, J. K. Rowling
            out.append(Span(start, m.end()))
            start = m.end()
        out.append(Span(start, stop))
    spans = []
    for s in out:
        body = text[s.start:s.end]
        lead, trail = len(body) - len(body.lstrip()), len(body) - len(body.rstrip())
        if body.strip():
            spans.append(Span(s.start + lead, s.end - trail))
    return spans


def is_verse(text: str) -> bool:
    """Whether `text` is laid out in lines rather than sentences: at least 4 lines, no
    more than half of which end a sentence (a song or poem whose lines end in "," or in
    nothing, a list of bare items, code). Songs repeat their chorus and code its lines on
    purpose."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < _VERSE_MIN_LINES:
        return False
    ended = sum(bool(_ENDS_SENTENCE.search(line)) for line in lines)
    return ended * 2 <= len(lines)


def _counts_as_word(unit: str) -> bool:
    """A word for the sentence minimum: it has a letter and is not a lone letter other
    than "a" and "I" (so "N.p., n.d." and "01 Mar. 2016" have no words to speak of)."""
    return any(ch.isalpha() for ch in unit) and (len(unit) > 1 or unit in ("a", "i"))


def repeated_sentences(text: str, min_words: int) -> tuple[list[list[Span]], int]:
    """The sentences of at least `min_words` words said more than once, and how many
    sentences `text` has (counting those with a word in them).

    Sentences are compared by their words (`_loop_units`: lower case, punctuation and
    whitespace left out), so '"Every storm stops," his mom said.' and 'every storm
    stops his mom said' are the same sentence. Numbers and lone letters are compared
    but do not count towards `min_words`. Returns one list of spans per repeated
    sentence (each copy, in text order), the most repeated first (then the earliest).
    """
    words, spans = _loop_units(text)
    copies: dict[tuple[str, ...], list[Span]] = {}
    n_sentences, i = 0, 0
    for sent in sentence_spans(text):
        while i < len(spans) and spans[i].start < sent.start:
            i += 1
        j = i
        while j < len(spans) and spans[j].end <= sent.end:
            j += 1
        key = tuple(words[i:j])
        i = j
        if not key:
            continue
        n_sentences += 1
        if sum(map(_counts_as_word, key)) >= min_words:
            copies.setdefault(key, []).append(sent)
    groups = [g for g in copies.values() if len(g) > 1]
    groups.sort(key=lambda g: (-len(g), g[0].start))
    return groups, n_sentences


def repeated_ngram_share(words: list[str], n: int) -> tuple[float, list[bool]]:
    """The share of units inside an n-gram that already occurred earlier in `words`, and
    which units those are. 0 for prose that never repeats itself; near 1 - 1/k for k
    copies of the same stretch."""
    covered = [False] * len(words)
    seen: set[tuple[str, ...]] = set()
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        if gram in seen:
            for j in range(i, i + n):
                covered[j] = True
        else:
            seen.add(gram)
    share = sum(covered) / len(words) if words else 0.0
    return share, covered


def detect_looping(text: str, th: Thresholds = DEFAULT_THRESHOLDS) -> Finding:
    """Looping: the response repeats itself.

    Counted over the words of the text (lower-cased; punctuation left out, numbered-list
    numbers read alike, see `_loop_units`), not over token ids: the evidence is character
    spans, and base and SFT are measured the same way whatever their tokenizer. Flagged
    when any of these holds:

    * **run**: a stretch of 1 to `loop_max_period` (60) words appears `loop_min_repeats`
      (3) or more times back to back, the copies holding at least `loop_min_words` (12)
      words. "The cat sat on the mat. The cat sat on the mat. The cat sat on the mat." is
      a run (6 words × 3); "no, no, no" and "ran and ran and ran" are too short to be one.
    * **sentences**: the same sentence comes back across the response, not necessarily
      in a row (`sentence_spans` splits; sentences compare by their words, so case,
      whitespace and punctuation do not matter). Either one sentence of at least
      `loop_sentence_words` (4) words is said `loop_sentence_repeats` (3) or more times
      ('"Every storm stops," his mom said.' four times through a story), or copies of
      earlier such sentences make up `loop_sentence_share` (0.3) of all the sentences,
      with at least `loop_sentence_copies` (2) copies (a story that starts over). Short
      sentences ("Tom smiled.", "The end.", "Yes!") never count; a refrain said twice
      ("I think I can, I think I can") is one copy. Text laid out in lines rather than
      sentences (`is_verse`: songs and poems, code) is left to the other two criteria:
      a chorus sung three times is no loop, nor is a line of code written three times.
    * **tail share**: in the last `loop_window` (200) words, at least `loop_share` (0.5)
      of the words lie in a `loop_ngram`-gram (4 words) that already occurred earlier in
      that tail, and the tail has at least `loop_min_window` (24) words. This catches
      loops whose copies vary a little ("She was very happy and she played with her kite
      every day and she was very happy and ...").

    Known limits: code and markup whose right answer repeats itself (an array of 24
    zeros, a regex repeating `[0-9]{1,3}`, an HTML table of empty cells) is flagged; so is
    a tale that tells its refrain three times on purpose ("Little pig, little pig, let me
    come in" once per pig) and a song whose verses share a line.
    Measured on tests/fixtures/diagnose/sentence_loops.jsonl (test_diagnose_quality.py).

    The score is the tail share: how much of the end of the response repeats. Evidence:
    each copy of the run; or each copy of the repeated sentences; or else the repeating
    stretches of the tail.
    """
    words, spans = _loop_units(text)
    window = words[-th.loop_window:]
    offset = len(words) - len(window)
    share, covered = repeated_ngram_share(window, th.loop_ngram)
    run = _longest_run(words, th)
    if run is not None:
        start, period, copies = run
        copy_spans = tuple(_char_span(spans, start + k * period, start + (k + 1) * period - 1)
                           for k in range(copies))
        first = copy_spans[0]
        snippet = _short(text[first.start:first.end])
        return Finding("looping", True, share, copy_spans,
                       f"{snippet!r} repeated {copies}× in a row ({period} words each, "
                       f"from {first.start})")
    groups, n_sentences = repeated_sentences(text, th.loop_sentence_words)
    if groups and not is_verse(text):
        top = groups[0]
        said = _short(text[top[0].start:top[0].end], 60)
        often = [g for g in groups if len(g) >= th.loop_sentence_repeats]
        if often:
            more = (f" (and {len(often) - 1} more said {th.loop_sentence_repeats}× or more)"
                    if len(often) > 1 else "")
            return Finding("looping", True, share, tuple(sorted(s for g in often for s in g)),
                           f"{said!r} said {len(top)}× across the response{more}")
        n_copies = sum(len(g) - 1 for g in groups)
        if (n_copies >= th.loop_sentence_copies
                and n_copies / n_sentences >= th.loop_sentence_share):
            shown = ", ".join(f"{_short(text[g[0].start:g[0].end], 40)!r} {len(g)}×"
                              for g in groups[:2]) + (", …" if len(groups) > 2 else "")
            return Finding("looping", True, share, tuple(sorted(s for g in groups for s in g)),
                           f"{n_copies} of {n_sentences} sentences repeat earlier ones "
                           f"({shown})")
    if len(window) >= th.loop_min_window and share >= th.loop_share:
        return Finding("looping", True, share, _covered_spans(spans, covered, offset),
                       f"{share:.0%} of the last {len(window)} words repeat earlier "
                       f"{th.loop_ngram}-word stretches")
    return Finding("looping", False, share, (),
                   f"no loop (repeated {th.loop_ngram}-gram share {share:.2f})")


def _short(s: str, limit: int = 40) -> str:
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


# ----------------------------------------------------------------------------------------
# No-stop, empty, echo


def detect_no_stop(stop_reason: str | None) -> Finding:
    """No-stop: generation ended at the token limit (`length`), not at the end token
    (`end`) or a stop string (`stop_string`). Unknown stop reasons (None) do not flag."""
    if stop_reason == "length":
        return Finding("no_stop", True, None, (),
                       "ran to the token limit (stop reason 'length'): never emitted the end token")
    if stop_reason is None:
        return Finding("no_stop", False, message="stop reason unknown")
    return Finding("no_stop", False, message=f"stopped by {stop_reason!r}")


def detect_empty(text: str) -> Finding:
    """Empty: nothing but whitespace (typically the end token straight away)."""
    if text.strip():
        return Finding("empty", False, message="not empty")
    return Finding("empty", True, None, (),
                   "empty response" + (f" ({len(text)} whitespace characters)" if text else ""))


def detect_echo(text: str, prompt: str, th: Thresholds = DEFAULT_THRESHOLDS) -> Finding:
    """Echo: the response repeats the prompt instead of answering it.

    The score is the share of the response's units that lie in an `echo_ngram`-gram (3
    units) also found in the prompt (the raw instruction or the whole rendered prompt:
    both work, the measure only asks what of the response comes from the prompt).
    Flagged when all of these hold:

    * the score is at least `echo_share` (0.8): the response mostly repeats the prompt;
    * the response adds no word of its own (every word, in any case, is in the prompt);
    * it has at least `echo_min_words` (3) words: "Yes." to "yes or no?" is an answer.

    "The capital of France is Paris." for "What is the capital of France?" quotes part of
    the prompt (score 0.57) and is not flagged; the instruction copied back is (1.0); so is
    the input copied back unchanged. "He goes to school every day." for "Correct: He go to
    school every day." scores 0.67 and adds "goes": not flagged. Known limit: an edit task
    whose right answer only changes case or punctuation or deletes a word ("Where are you
    going" -> "Where are you going?") is flagged; read echo next to exact match there.
    Evidence: the copied stretches.
    """
    words, spans = units(text)
    n = th.echo_ngram
    if not prompt.strip():
        return Finding("echo", False, 0.0, (), "no prompt to compare with")
    pwords, _ = units(prompt)
    grams = {tuple(pwords[i:i + n]) for i in range(len(pwords) - n + 1)}
    covered = [False] * len(words)
    for i in range(len(words) - n + 1):
        if tuple(words[i:i + n]) in grams:
            for j in range(i, i + n):
                covered[j] = True
    share = sum(covered) / len(words) if words else 0.0
    said = f"{share:.0%} of the response repeats the prompt"
    n_words = sum(map(is_word, words))
    if n_words < th.echo_min_words:
        return Finding("echo", False, share, (), f"{said}, but it is too short to be an echo")
    if share < th.echo_share:
        return Finding("echo", False, share, (), said)
    known = set(pwords)
    new = [w for w in words if is_word(w) and w not in known]
    if new:
        shown = ", ".join(repr(w) for w in dict.fromkeys(new[:3]))
        return Finding("echo", False, share, (), f"{said}, but it adds words of its own ({shown})")
    return Finding("echo", True, share, _covered_spans(spans, covered), said)
