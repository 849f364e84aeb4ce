"""Diagnose generations: role leakage, looping, no-stop, empty, echo; exact match, token
F1 and ending adherence; and a summary of many.

    d = diagnose(text, prompt=prompt, stop_reason="length", template="alpaca")
    d.flags        # {"leakage": True, "looping": False, "no_stop": True, ...}
    d.findings["leakage"].spans   # ((57, 73),): highlight text[57:73]
    summarize([d, ...])           # {"n": ..., "leakage": 0.25, "looping": ..., ...}

Pure functions over plain data: no torch, no UI. `workbench diagnose` runs them over a
JSONL file, `workbench compare` over the generations of a base and an SFT model, and the
chat pane under every answer. The detectors are in `detectors.py`, the answer metrics in
`metrics.py`, the ending classifier in `endings.py`; each documents its rules.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

from .detectors import (DEFAULT_THRESHOLDS, GENERIC_MARKERS, STOP_REASONS, Finding, Span,
                        Thresholds, detect_echo, detect_empty, detect_leakage,
                        detect_looping, detect_no_stop, find_markers, is_verse,
                        marker_pattern, markers_for, merge_spans, repeated_sentences,
                        sentence_spans, units)
from .endings import (EndingResult, classify_ending, ending_report, normalize_ending)
from .metrics import (aggregate_answers, answer_scores, answer_words, exact_match,
                      normalize_answer, token_f1)

if TYPE_CHECKING:
    from ..templates import Template

DETECTORS = ("leakage", "looping", "no_stop", "empty", "echo")
"""The flags every `Diagnosis` carries, in display order."""

__all__ = [
    "DETECTORS", "STOP_REASONS", "GENERIC_MARKERS", "Diagnosis", "Finding", "Span",
    "Thresholds", "DEFAULT_THRESHOLDS", "EndingResult", "diagnose", "summarize",
    "detect_leakage", "detect_looping", "detect_no_stop", "detect_empty", "detect_echo",
    "find_markers", "marker_pattern", "markers_for", "merge_spans", "units",
    "sentence_spans", "repeated_sentences", "is_verse",
    "exact_match", "token_f1", "normalize_answer", "answer_words", "answer_scores",
    "classify_ending", "ending_report", "normalize_ending",
]


@dataclass(frozen=True)
class Diagnosis:
    """Everything the workbench says about one response.

    Attributes:
        response: the text diagnosed (all spans index into it).
        findings: detector name -> `Finding`, for every name in `DETECTORS`.
        stop_reason: "end", "stop_string", "length", or None when not known.
        chars: characters; words: whitespace-separated words; tokens: len(token_ids), or
            None when no ids were given.
        exact_match, f1: against the reference, or None without one.
        category: the item's category (for per-category metrics), if any.
        requested_ending: "happy" / "sad" when the prompt asked for one.
        ending: the ending classifier's verdict, when an ending was requested. It is
            computed on an unfinished story too (see `ending_unfinished`), but does not
            count there: that story has no ending yet.
    """

    response: str
    findings: dict[str, Finding]
    stop_reason: str | None = None
    chars: int = 0
    words: int = 0
    tokens: int | None = None
    exact_match: float | None = None
    f1: float | None = None
    category: str | None = None
    requested_ending: str | None = None
    ending: EndingResult | None = field(default=None)

    @property
    def flags(self) -> dict[str, bool]:
        return {name: self.findings[name].flag for name in DETECTORS}

    @property
    def flagged(self) -> list[str]:
        """The names of the detectors that fired, in `DETECTORS` order."""
        return [name for name in DETECTORS if self.findings[name].flag]

    @property
    def flag_names(self) -> list[str]:
        """`flagged` as people read them: "no-stop", not "no_stop"."""
        return [name.replace("_", "-") for name in self.flagged]

    @property
    def ending_unfinished(self) -> bool:
        """An ending was asked for, and the token limit cut the story (stop reason
        "length") before it had one."""
        return self.requested_ending is not None and self.stop_reason == "length"

    @property
    def ending_note(self) -> str | None:
        """"ending sad ✓", "ending happy ✗ (asked sad)" or, for a story the token limit
        cut, "ending unfinished (asked sad)"; None when no ending was asked for."""
        if self.ending_adhered is None:
            return None
        if self.ending_unfinished:
            return f"ending unfinished (asked {self.requested_ending})"
        if self.ending_adhered:
            return f"ending {self.ending.label} ✓"
        return f"ending {self.ending.label} ✗ (asked {self.requested_ending})"

    @property
    def ending_line(self) -> str | None:
        """The plain-text form the CLI prints: "ending: sad (asked sad) ok", "ending: happy
        (asked sad) MISMATCH", or "ending: unfinished (asked sad; cut at the token limit)";
        None when no ending was asked for."""
        if self.ending_adhered is None:
            return None
        if self.ending_unfinished:
            return f"ending: unfinished (asked {self.requested_ending}; cut at the token limit)"
        mark = "ok" if self.ending_adhered else "MISMATCH"
        return f"ending: {self.ending.label} (asked {self.requested_ending}) {mark}"

    @property
    def ending_adhered(self) -> bool | None:
        """Whether the story ended the way it was asked to: the classified ending is the
        requested one. None without a request; False for an unfinished story (asked for
        an ending, it got none), whatever the classifier reads in the text so far."""
        if self.requested_ending is None or self.ending is None:
            return None
        if self.ending_unfinished:
            return False
        return self.ending.label == self.requested_ending

    def evidence(self) -> list[tuple[Span, str]]:
        """Every evidence span with the detector that found it, in text order."""
        return sorted((s, name) for name in DETECTORS for s in self.findings[name].spans)

    def to_dict(self, include_response: bool = True) -> dict:
        """A JSON-ready dict (spans as [start, end] lists)."""
        d: dict = {}
        if include_response:
            d["response"] = self.response
        d.update({
            "flags": self.flags, "flagged": self.flagged,
            "scores": {name: round(f.score, 4) for name, f in self.findings.items()
                       if f.score is not None},
            "findings": {name: self.findings[name].to_dict() for name in DETECTORS},
            "stop_reason": self.stop_reason, "chars": self.chars, "words": self.words,
            "tokens": self.tokens,
        })
        if self.exact_match is not None:
            d["exact_match"] = self.exact_match
            d["f1"] = round(self.f1, 4) if self.f1 is not None else None
        if self.category is not None:
            d["category"] = self.category
        if self.requested_ending is not None:
            d["requested_ending"] = self.requested_ending
            d["ending"] = self.ending.to_dict() if self.ending else None
            d["ending_adhered"] = self.ending_adhered
            d["ending_unfinished"] = self.ending_unfinished
        return d


def diagnose(response: str, *, prompt: str = "", stop_reason: str | None = None,
             template: "Template | str | None" = None,
             token_ids: Sequence[int] | None = None, stop_string: str | None = None,
             reference: str | Sequence[str] | None = None, category: str | None = None,
             requested_ending: str | None = None,
             thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Diagnosis:
    """Run every detector (and the metrics that apply) on one response.

    Args:
        response: the generated text (without the prompt).
        prompt: what the model was asked: the raw instruction or the rendered prompt (echo).
        stop_reason: "end", "stop_string" or "length" as `generate` reports it; None if
            unknown (then no-stop cannot fire).
        template: a `Template`, a template name or .toml path, or None (then only the
            generic markers count as leakage).
        token_ids: the response's token ids, if known (counted as `tokens`).
        stop_string: the stop string that ended generation, if the generator says.
        reference: the expected answer, or a list of acceptable ones (exact match, F1).
        category: the item's category, for per-category metrics.
        requested_ending: "happy" / "sad" (or "Happy", "sad ending", ...) for stories.
        thresholds: the detectors' numbers (`Thresholds()` documents the defaults).

    Raises:
        ValueError: an unknown stop reason or ending, or an empty reference list.
        WorkbenchError: an unknown template name.
    """
    if stop_reason is not None and stop_reason not in STOP_REASONS:
        raise ValueError(f"stop reason {stop_reason!r}: expected one of {', '.join(STOP_REASONS)}")
    if isinstance(template, str):
        from ..templates import get_template

        template = get_template(template)
    findings = {
        "leakage": detect_leakage(response, template, stop_reason=stop_reason,
                                  stop_string=stop_string),
        "looping": detect_looping(response, thresholds),
        "no_stop": detect_no_stop(stop_reason),
        "empty": detect_empty(response),
        "echo": detect_echo(response, prompt, thresholds),
    }
    em = f1 = None
    if reference is not None:
        em, f1 = exact_match(response, reference), token_f1(response, reference)
    ending = None
    if requested_ending is not None:
        requested_ending = normalize_ending(requested_ending)
        ending = classify_ending(response)
    return Diagnosis(response, findings, stop_reason, len(response), len(response.split()),
                     None if token_ids is None else len(token_ids), em, f1, category,
                     requested_ending, ending)


def summarize(diagnoses: Iterable[Diagnosis]) -> dict:
    """Rates and means over many diagnoses (one model's generations).

    Returns a JSON-ready dict with the same keys whatever the input, so two summaries
    (base and SFT) line up:

    * `n`; the rate of each flag (`leakage`, `looping`, `no_stop`, `empty`, `echo`) and of
      `any` flag, in [0, 1] (None when n is 0); `counts` of each (and of `any`);
    * `mean_chars`, `mean_words`, `mean_tokens` (over the items with token ids; None if
      none had them); `mean_scores` of looping and echo;
    * `stop_reasons`: counts of end / stop_string / length / unknown;
    * `exact_match`, `f1` (means over the items with a reference, None if none),
      `n_reference`, and `by_category` {category: {n, exact_match, f1}};
    * `ending`: over the items with a requested ending (None if none), {n, accuracy,
      unfinished, confusion}. `n` counts every story asked for an ending; `unfinished`
      those the token limit cut (`Diagnosis.ending_unfinished`). `accuracy` is adhered /
      n: an unfinished story counts as not adhered (an ending was asked for and none
      came), it is neither dropped from n nor credited with the classifier's guess.
      `confusion` is {requested: {happy, sad, unknown, unfinished: count}}: the finished
      stories by the classifier's verdict, the unfinished ones in their own column, so
      the cells add up to n.
    """
    items = list(diagnoses)
    n = len(items)

    def rate(k: int) -> float | None:
        return k / n if n else None

    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    counts = {name: sum(d.findings[name].flag for d in items) for name in DETECTORS}
    out: dict = {"n": n, **{name: rate(k) for name, k in counts.items()}}
    counts["any"] = sum(bool(d.flagged) for d in items)
    out["any"] = rate(counts["any"])
    out["counts"] = counts
    out["mean_chars"] = mean([d.chars for d in items])
    out["mean_words"] = mean([d.words for d in items])
    out["mean_tokens"] = mean([d.tokens for d in items if d.tokens is not None])
    out["mean_scores"] = {name: mean([d.findings[name].score for d in items])
                          for name in ("looping", "echo")}
    reasons = Counter(d.stop_reason or "unknown" for d in items)
    out["stop_reasons"] = {r: reasons.get(r, 0) for r in (*STOP_REASONS, "unknown")}
    answers = aggregate_answers([(d.exact_match, d.f1, d.category) for d in items
                          if d.exact_match is not None])
    out["exact_match"], out["f1"] = answers["exact_match"], answers["f1"]
    out["n_reference"], out["by_category"] = answers["n"], answers["by_category"]
    out["ending"] = _ending_summary([d for d in items if d.ending is not None])
    return out


def _ending_summary(stories: list[Diagnosis]) -> dict | None:
    """`summarize`'s `ending` entry (documented there) over stories asked for an ending."""
    if not stories:
        return None
    unfinished = [d for d in stories if d.ending_unfinished]
    report = ending_report((d.requested_ending, d.ending.label) for d in stories
                           if not d.ending_unfinished)
    confusion = report["confusion"]
    for row in confusion.values():
        row["unfinished"] = 0
    for d in unfinished:
        confusion[d.requested_ending]["unfinished"] += 1
    n = len(stories)
    return {"n": n, "accuracy": sum(bool(d.ending_adhered) for d in stories) / n,
            "unfinished": len(unfinished), "confusion": confusion}
