"""TinyStoriesInstruct raw text: one example spans several rows and ends at the row holding
`<|endoftext|>`. Fields `Summary:`, `Features:`, `Words:`, `Random sentence:` and `Story:`
come in any order and any may be missing; the story runs from its `Story:` row to the next
field or the end of the example. `ending` is `sad` when Features contains `BadEnding`, else
`happy`.

Parsing streams (constant memory): text is read in blocks, cut at end markers, and each
example becomes one row of (summary, story, ending, features, words, random_sentence,
_row, _line). An example without a summary or a story, or with an empty story, is not
usable: it is counted and reported with its example number and line, never silently lost.
So is an example left unterminated at the end of the input. A missing Features, Words or
Random sentence field is counted but the example is kept (no Features means no BadEnding).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from .problems import BadRows

END = "<|endoftext|>"
FIELDS = ("Summary", "Features", "Words", "Random sentence", "Story")
COLUMNS = ("summary", "story", "ending", "features", "words", "random_sentence")
_KEYS = {"Summary": "summary", "Features": "features", "Words": "words",
         "Random sentence": "random_sentence", "Story": "story"}
_FIELD_RE = re.compile(r"^(Summary|Features|Words|Random sentence|Story):[ \t]?", re.M)
BLOCK = 8 << 20


@dataclass
class ParseStats:
    """What a parse saw. `missing` counts examples lacking each field."""

    examples: int = 0          # examples seen (terminated ones), usable or not
    usable: int = 0
    raw_rows: int = 0
    missing: dict[str, int] = field(default_factory=lambda: {f: 0 for f in FIELDS})
    empty_story: int = 0
    unterminated: int = 0
    endings: dict[str, int] = field(default_factory=lambda: {"happy": 0, "sad": 0})

    def merge(self, other: "ParseStats") -> None:
        self.examples += other.examples
        self.usable += other.usable
        self.raw_rows += other.raw_rows
        self.empty_story += other.empty_story
        self.unterminated += other.unterminated
        for k, v in other.missing.items():
            self.missing[k] += v
        for k, v in other.endings.items():
            self.endings[k] = self.endings.get(k, 0) + v

    def to_dict(self) -> dict:
        return {"raw_rows": self.raw_rows, "examples": self.examples, "usable": self.usable,
                "missing": dict(self.missing), "empty_story": self.empty_story,
                "unterminated": self.unterminated, "endings": dict(self.endings)}


def parse_fields(text: str) -> dict[str, str]:
    """The fields of one example's text (without its end marker)."""
    out: dict[str, str] = {}
    matches = list(_FIELD_RE.finditer(text))
    for m, nxt in zip(matches, matches[1:] + [None]):
        key = _KEYS[m.group(1)]
        value = text[m.end(): nxt.start() if nxt else len(text)].strip()
        if key not in out:
            out[key] = value
    return out


class Columns:
    """Column lists for a batch of parsed examples (turned into Arrow by the caller)."""

    def __init__(self) -> None:
        self.summary: list[str] = []
        self.story: list[str] = []
        self.ending: list[str] = []
        self.features: list[str] = []
        self.words: list[str] = []
        self.random_sentence: list[str] = []
        self._row: list[int] = []
        self._line: list[int] = []

    def __len__(self) -> int:
        return len(self._row)

    def as_dict(self) -> dict[str, list]:
        return {"summary": self.summary, "story": self.story, "ending": self.ending,
                "features": self.features, "words": self.words,
                "random_sentence": self.random_sentence, "_row": self._row, "_line": self._line}


def _add_example(text: str, number: int, line: int, cols: Columns, stats: ParseStats,
                 bad: BadRows) -> None:
    stats.examples += 1
    f = parse_fields(text)
    for name, key in _KEYS.items():
        if key not in f:
            stats.missing[name] += 1
    if "story" in f and not f["story"]:
        stats.empty_story += 1
        bad.add("empty story", number, f"example {number} (line {line}): the story is empty")
        return
    if "summary" not in f or "story" not in f:
        which = "Summary" if "summary" not in f else "Story"
        bad.add("missing field", number, f"example {number} (line {line}): no {which}: field")
        return
    if not f["summary"]:
        bad.add("empty string", number, f"example {number} (line {line}): the summary is empty")
        return
    features = f.get("features", "")
    ending = "sad" if "BadEnding" in features else "happy"
    stats.usable += 1
    stats.endings[ending] += 1
    cols.summary.append(f["summary"])
    cols.story.append(f["story"])
    cols.ending.append(ending)
    cols.features.append(features)
    cols.words.append(f.get("words", ""))
    cols.random_sentence.append(f.get("random_sentence", ""))
    cols._row.append(number)
    cols._line.append(line)


def parse_blocks(blocks: Iterable[str], bad: BadRows, *, batch: int = 20000,
                 first_number: int = 0, first_line: int = 1,
                 final: bool = True) -> Iterator[tuple[Columns, ParseStats]]:
    """Parse text blocks (any split points) into batches of columns.

    Yields (columns, stats) every `batch` examples; stats are per batch (merge them).
    Examples are numbered from `first_number`; `line` is the 1-based line of an
    example's first row. With `final`, trailing text after the last end marker counts
    as an unterminated example.
    """
    cols, stats = Columns(), ParseStats()
    number, line = first_number, first_line
    carry = ""
    for block in blocks:
        text = carry + block if carry else block
        pieces = text.split(END)
        carry = pieces.pop()
        for piece in pieces:
            # `line` is the line this piece starts on. A leading newline closes the previous
            # end-marker row; the example's own rows follow, up to and including its marker row.
            nl = piece.count("\n")
            stats.raw_rows += nl + 1 - piece.startswith("\n")
            lead = len(piece) - len(piece.lstrip("\n"))
            _add_example(piece, number, line + lead, cols, stats, bad)
            number += 1
            line += nl
            if len(cols) >= batch:
                yield cols, stats
                cols, stats = Columns(), ParseStats()
    if final and carry.strip():
        stats.unterminated += 1
        stats.raw_rows += (carry.count("\n") + (not carry.endswith("\n"))
                           - carry.startswith("\n"))
        lead = len(carry) - len(carry.lstrip("\n"))
        bad.add("unterminated example", number,
                f"example {number} (line {line + lead}): cut off at the end of the input "
                f"(no {END})")
    if len(cols) or stats.examples or stats.unterminated or stats.raw_rows:
        yield cols, stats


def read_blocks(path: str | Path, start: int = 0, end: int | None = None,
                size: int = BLOCK) -> Iterator[str]:
    """Decode a byte range of a UTF-8 file in blocks (never splitting a character)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with open(path, "rb") as fh:
        fh.seek(start)
        remaining = None if end is None else end - start
        while remaining is None or remaining > 0:
            n = size if remaining is None else min(size, remaining)
            data = fh.read(n)
            if not data:
                break
            if remaining is not None:
                remaining -= len(data)
            yield decoder.decode(data)
        tail = decoder.decode(b"", final=True)
        if tail:
            yield tail


def split_points(path: str | Path, parts: int) -> list[int]:
    """Byte offsets that cut the file into `parts` ranges, each starting right after an
    end-marker row (so every range holds whole examples)."""
    size = Path(path).stat().st_size
    marker = (END + "\n").encode()
    points = [0]
    with open(path, "rb") as fh:
        for k in range(1, parts):
            target = size * k // parts
            fh.seek(target)
            window = fh.read(1 << 20)
            hit = window.find(marker)
            if hit < 0:
                continue
            points.append(target + hit + len(marker))
    points.append(size)
    return sorted(set(points))


def looks_like_raw(head: str) -> bool:
    """A text file's first block looks like TinyStoriesInstruct raw rows."""
    has_story = re.search(r"^Story:", head, re.M) is not None
    has_field = re.search(r"^(Summary|Features|Words|Random sentence):", head, re.M) is not None
    return has_story and (has_field or END in head)


def parse_row_stream(rows: Iterable[str], bad: BadRows, *,
                     batch: int = 20000) -> Iterator[tuple[Columns, ParseStats]]:
    """Parse rows that arrive one at a time (a streamed Hub dataset's `text` column)."""

    def blocks() -> Iterator[str]:
        buf: list[str] = []
        size = 0
        for row in rows:
            buf.append(row)
            buf.append("\n")
            size += len(row) + 1
            if size >= (1 << 20):
                yield "".join(buf)
                buf, size = [], 0
        if buf:
            yield "".join(buf)

    yield from parse_blocks(blocks(), bad, batch=batch)
