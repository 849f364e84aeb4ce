"""Diagnose generations: read one JSON object per line ({"prompt", "response",
"stop_reason"}, optionally "reference", "category", "ending", "token_ids", "stop_string")
from a file or stdin; print each response with its flags (role leakage, looping, no-stop,
empty, echo), scores and highlighted evidence, then the rates over all lines."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, BinaryIO, Iterator

FIELDS_HELP = """input lines (JSONL): {"prompt": str, "response": str, "stop_reason":
"end"|"stop_string"|"length"|null} plus, optionally, "reference" (str or list of str),
"category" (str), "ending" or "requested_ending" ("happy"/"sad"), "token_ids" (list of
int), "stop_string" (the stop string that ended generation), "id". "text" is read when
"response" is absent (the shape `workbench generate --json` prints)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = FIELDS_HELP
    p.add_argument("source", nargs="?", default="-", metavar="FILE",
                   help="a JSONL file of generations (default: stdin)")
    p.add_argument("--template", "-t", metavar="T",
                   help="the template the generations were made with (alpaca, alpaca-ch7, "
                        "phi3, chatml, story, inst-resp, text, or a .toml file): its role "
                        "markers count as leakage; without it only the generic markers do")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per input line, then {\"summary\": {...}}")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip bad lines (counted) instead of stopping")
    p.add_argument("--only-flagged", action="store_true",
                   help="print only the lines with a flag (the summary still counts all)")
    p.add_argument("--max-chars", type=int, default=1200, metavar="N",
                   help="show at most N characters of each response (default 1200; 0: all)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="highlight evidence with colors (auto: when stdout is a terminal); "
                        "otherwise evidence is shown between [[ and ]]")


def run(args: argparse.Namespace) -> int:
    from ..diagnose import diagnose, summarize
    from ..errors import WorkbenchError
    from ..templates import get_template

    template = get_template(args.template) if args.template else None
    if args.max_chars < 0:
        raise WorkbenchError(f"--max-chars must be 0 or more, not {args.max_chars}")
    name = "<stdin>" if args.source == "-" else args.source
    items, bad = _read(args.source, name, args.skip_bad)
    if not items:
        raise WorkbenchError(f"{name}: no generations to diagnose"
                             + (f" ({_count(len(bad), 'bad line')})" if bad else ""))
    results = [(line, item_id, diagnose(template=template, **fields))
               for line, item_id, fields in items]
    summary = summarize(d for _, _, d in results)
    summary["template"] = template.name if template else None
    summary["skipped_bad_lines"] = len(bad)
    if args.json:
        _print_json(results, summary, bad)
    else:
        color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
        _print_text(results, summary, bad, name, color, args.only_flagged, args.max_chars)
    return 0


# ----------------------------------------------------------------------------------------
# Reading and checking the input


def _read(source: str, name: str, skip_bad: bool) -> tuple[list, list[tuple[int, str]]]:
    """The usable lines as (line number, id, diagnose() keywords), and the bad ones as
    (line number, problem). Without `skip_bad` the first bad line stops everything."""
    from ..errors import WorkbenchError

    items: list[tuple[int, Any, dict]] = []
    bad: list[tuple[int, str]] = []
    for line, obj, problem in _json_lines(source, name):
        if problem is None:
            try:
                items.append((line, obj.get("id") if isinstance(obj, dict) else None,
                              _item(obj)))
                continue
            except ValueError as err:
                problem = str(err)
        if not skip_bad:
            raise WorkbenchError(f"{name}: line {line}: {problem} (pass --skip-bad to diagnose "
                                 "the other lines)")
        bad.append((line, problem))
    return items, bad


def _json_lines(source: str, name: str) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed object or None, problem or None) for every non-blank line."""
    from ..errors import WorkbenchError

    if source == "-":
        if sys.stdin.isatty():
            raise WorkbenchError("no input: give a JSONL file, or pipe one in "
                                 "(workbench diagnose -t T < generations.jsonl)")
        yield from _parse_lines(sys.stdin.buffer, name)
        return
    try:
        with open(source, "rb") as fh:
            yield from _parse_lines(fh, name)
    except FileNotFoundError:
        raise WorkbenchError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise WorkbenchError(f"{name}: is a folder, not a JSONL file") from None
    except OSError as err:
        raise WorkbenchError(f"{name}: cannot read ({err.strerror})") from None


def _parse_lines(fh: BinaryIO, name: str) -> Iterator[tuple[int, Any, str | None]]:
    for lineno, raw in enumerate(fh, start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as err:
            yield lineno, None, f"invalid UTF-8 at byte {err.start}"
            continue
        try:
            yield lineno, json.loads(text), None
        except json.JSONDecodeError as err:
            yield lineno, None, f"malformed JSON ({err.msg}, column {err.colno})"


def _item(obj: Any) -> dict:
    """The diagnose() keywords of one input object; ValueError names what is wrong."""
    from ..diagnose import STOP_REASONS, normalize_ending

    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {_kind(obj)}")
    key = "response" if "response" in obj or "text" not in obj else "text"
    if key not in obj:
        raise ValueError("missing field 'response'")
    out: dict[str, Any] = {"response": _string(obj, key)}
    if obj.get("prompt") is not None:
        out["prompt"] = _string(obj, "prompt")
    reason = obj.get("stop_reason")
    if reason is not None:
        if reason not in STOP_REASONS:
            raise ValueError(f"field 'stop_reason' is {reason!r}, expected "
                             f"{', '.join(STOP_REASONS)} or null")
        out["stop_reason"] = reason
    for field in ("stop_string", "category"):
        if obj.get(field) is not None:
            out[field] = _string(obj, field)
    ref = obj.get("reference")
    if ref is not None:
        if isinstance(ref, list) and ref and all(isinstance(r, str) for r in ref):
            out["reference"] = ref
        elif not isinstance(ref, str):
            raise ValueError(f"field 'reference' is {_kind(ref)}, expected a string or a "
                             "non-empty list of strings")
        else:
            out["reference"] = ref
    ending_key = "requested_ending" if obj.get("requested_ending") is not None else "ending"
    if obj.get(ending_key) is not None:
        out["requested_ending"] = normalize_ending(_string(obj, ending_key))
    ids = obj.get("token_ids")
    if ids is not None:
        if not isinstance(ids, list):
            raise ValueError(f"field 'token_ids' is {_kind(ids)}, expected a list of integers")
        if not all(type(i) is int for i in ids):
            raise ValueError("field 'token_ids' holds something other than integers")
        out["token_ids"] = ids
    return out


def _string(obj: dict, field: str) -> str:
    value = obj[field]
    if not isinstance(value, str):
        raise ValueError(f"field {field!r} is {_kind(value)}, expected a string")
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", type(None): "null", bool: "a boolean",
            int: "a number", float: "a number", str: "a string"}.get(type(value), type(value).__name__)


# ----------------------------------------------------------------------------------------
# Output


def _print_json(results, summary: dict, bad: list[tuple[int, str]]) -> None:
    w = sys.stdout.write
    for line, item_id, d in results:
        row = {"line": line}
        if item_id is not None:
            row["id"] = item_id
        row.update(d.to_dict())
        w(json.dumps(row, ensure_ascii=False) + "\n")
    summary = dict(summary, bad_lines=[{"line": n, "problem": p} for n, p in bad[:20]])
    w(json.dumps({"summary": summary}, ensure_ascii=False) + "\n")


_ANSI = {"leakage": "\x1b[1;97;41m", "looping": "\x1b[30;43m", "echo": "\x1b[30;46m"}
_RESET = "\x1b[0m"


def highlight(text: str, evidence: list, color: bool) -> str:
    """`text` with its evidence spans marked: ANSI colors (leakage red, looping yellow, echo
    cyan; the first listed wins where they overlap), or [[ ]] around each merged span."""
    from ..diagnose import Span, merge_spans

    if not color:
        out, pos = [], 0
        for s in merge_spans([Span(*span) for span, _ in evidence]):
            out += [text[pos:s.start], "[[", text[s.start:s.end], "]]"]
            pos = s.end
        return "".join(out) + text[pos:]
    owner = [""] * len(text)
    for span, name in sorted(evidence, key=lambda e: list(_ANSI).index(e[1])
                             if e[1] in _ANSI else 9, reverse=True):
        for i in range(span[0], span[1]):
            owner[i] = name
    out, run_start = [], 0
    for i in range(1, len(text) + 1):
        if i == len(text) or owner[i] != owner[run_start]:
            piece = text[run_start:i]
            code = _ANSI.get(owner[run_start], "")
            if code:  # close the color at line ends, so the "│" margin stays plain
                piece = code + piece.replace("\n", f"{_RESET}\n{code}") + _RESET
            out.append(piece)
            run_start = i
    return "".join(out)


def _print_text(results, summary: dict, bad, name: str, color: bool, only_flagged: bool,
                max_chars: int) -> None:
    w = sys.stdout.write
    template = summary["template"] or "none (generic markers only)"
    w(f"{name} · {_count(summary['n'], 'generation')} · template {template}\n")
    for line, item_id, d in results:
        if only_flagged and not d.flagged:
            continue
        w("\n" + _headline(line, item_id, d) + "\n")
        for flag in d.flagged:
            w(f"  {flag}: {d.findings[flag].message}\n")
        if d.ending_line is not None:
            cues = ", ".join(f"{c.word}({c.label})" for c in d.ending.cues[:8])
            w(f"  {d.ending_line}" + (f" · cues {cues}" if cues else "") + "\n")
        w(_body(d, color, max_chars))
    w("\n" + "\n".join(summary_lines(summary)) + "\n")
    if bad:
        first = "; ".join(f"line {n}: {p}" for n, p in bad[:3])
        w(f"skipped {_count(len(bad), 'bad line')} ({first}"
          + ("; …" if len(bad) > 3 else "") + ")\n")


def _headline(line: int, item_id, d) -> str:
    parts = [f"line {line}" + (f" (id {item_id})" if item_id is not None else ""),
             ", ".join(d.flagged) if d.flagged else "ok",
             f"stop {d.stop_reason or 'unknown'}",
             _count(d.words, "word") + (f", {_count(d.tokens, 'token')}" if d.tokens is not None else ""),
             f"loop {d.findings['looping'].score:.2f}", f"echo {d.findings['echo'].score:.2f}"]
    if d.exact_match is not None:
        parts.append(f"exact {d.exact_match:.0f} · F1 {d.f1:.2f}")
    if d.category is not None:
        parts.append(d.category)
    return " · ".join(parts)


def _body(d, color: bool, max_chars: int) -> str:
    text = d.response
    if not text.strip():
        return "  │ (empty)\n"
    shown = text if not max_chars or len(text) <= max_chars else text[:max_chars]
    evidence = [(s, name) for s, name in d.evidence() if s[0] < len(shown)]
    evidence = [((s[0], min(s[1], len(shown))), name) for s, name in evidence]
    body = highlight(shown, evidence, color)
    if len(shown) < len(text):
        body += f" … ({len(text) - len(shown)} more characters)"
    return "".join(f"  │ {ln}\n" for ln in body.split("\n"))


def _count(n: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun if n == 1 else plural}"


def summary_lines(summary: dict) -> list[str]:
    """The summary as lines of text (also what `workbench compare` can print per model)."""
    from ..diagnose import DETECTORS

    n = summary["n"]
    out = [f"summary: {_count(n, 'generation')}"]
    for name in (*DETECTORS, "any"):
        k, rate = summary["counts"][name], summary[name] or 0.0
        out.append(f"  {('any flag' if name == 'any' else name):<9} {k:>5}/{n:<5} {rate:6.1%}")
    reasons = " · ".join(f"{r} {c}" for r, c in summary["stop_reasons"].items() if c)
    out.append(f"  stop reasons: {reasons}")
    length = f"  mean length: {summary['mean_words']:.1f} words, {summary['mean_chars']:.1f} characters"
    if summary["mean_tokens"] is not None:
        length += f", {summary['mean_tokens']:.1f} tokens"
    out.append(length)
    if summary["n_reference"]:
        out.append(f"  exact match {summary['exact_match']:.3f} · token F1 {summary['f1']:.3f} "
                   f"({summary['n_reference']} with a reference)")
        for cat, m in summary["by_category"].items():
            out.append(f"    {cat:<24} n={m['n']:<4} exact {m['exact_match']:.3f}  F1 {m['f1']:.3f}")
    ending = summary["ending"]
    if ending:
        out.append(f"  ending adherence {ending['accuracy']:.3f} ({_count(ending['n'], 'story')}; "
                   "lexicon heuristic)")
        for want, row in ending["confusion"].items():
            out.append(f"    asked {want:<5} -> " + ", ".join(f"{got} {c}" for got, c in row.items()))
    return out
