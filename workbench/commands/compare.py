"""Compare a base model and its fine-tune: both answer the same prompts with the same
template, settings and seed; each prompt is printed with the two answers side by side and
their flags (role leakage, looping, no-stop, empty, echo; evidence highlighted), then a
summary per model (flag rates, stop reasons, mean length, exact match / F1 per category,
ending adherence) and the loss side (validation loss on the data, and on plain text with
--text, to measure forgetting). The template defaults to the one saved with the SFT
checkpoint, so both models see exactly the prompt the fine-tune was trained on."""

from __future__ import annotations

import argparse
import json
import shutil
import sys

EPILOG = """prompts: --prompts FILE (one prompt per line in a .txt file; in a .jsonl file one
object per line: {"prompt": str, "input": str, "reference": str or [str], "category": str,
"ending": "happy"|"sad", "id": any}, all but prompt optional) or --data SOURCE --n N (the
first N rows of the validation split, or of the first split; their answers are the
references, their category and requested story ending are measured).
--json prints one object per prompt {"prompt", ..., "base": {...}, "sft": {...}} and then
{"summary": {"base": {...}, "sft": {...}, "loss": {...}}}."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--base", "-b", metavar="M",
                   help="the base model: a Hub id (gpt2, ...), a model folder, or a session")
    p.add_argument("--sft", "-s", metavar="M",
                   help="the fine-tuned model: a session (NAME, NAME@best, NAME@step-N), "
                        "or a folder saved by the workbench")
    p.add_argument("--template", "-t", metavar="T",
                   help="template name or .toml file (default: the one saved with --sft)")
    p.add_argument("--prompts", metavar="FILE", help="prompts: a .txt or .jsonl file")
    p.add_argument("--data", metavar="SOURCE",
                   help="prompts from a dataset's held-out rows (a file, folder or Hub id): "
                        "the --sft session's own held-out cut when it was trained on SOURCE, "
                        "else SOURCE's validation split (default with an --sft session: the "
                        "data it was trained on)")
    p.add_argument("--n", type=int, default=20, metavar="N",
                   help="how many rows of --data (default 20)")
    p.add_argument("--format", metavar="F", help="the format of --data (default: detected)")
    p.add_argument("--split", metavar="S",
                   help="measure on this split of --data instead (said plainly when it is "
                        "the one the session trained on)")
    p.add_argument("--text", metavar="SOURCE",
                   help="plain-text passages (a .txt file, one per line, or a source with a "
                        "text column): loss of both models on them, to measure forgetting")
    p.add_argument("--text-n", type=int, default=100, metavar="N",
                   help="how many passages of --text (default 100)")
    p.add_argument("--no-loss", action="store_true", help="skip the loss-side metrics")
    p.add_argument("--max-new-tokens", type=int, default=128, metavar="N")
    p.add_argument("--temperature", type=float, default=0.0, metavar="X",
                   help="0 is greedy (the default); above 0 samples, seeded by --seed")
    p.add_argument("--top-k", type=int, default=0, metavar="K", help="0: off")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P", help="1: off")
    p.add_argument("--repetition-penalty", type=float, default=1.0, metavar="R", help="1: off")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--batch-size", type=int, default=8, metavar="B",
                   help="prompts generated together (default 8)")
    p.add_argument("--device", default="auto", metavar="D", help="auto, cuda, mps or cpu")
    p.add_argument("--sessions", metavar="DIR", help="sessions folder (default: ./sessions)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per prompt, then {\"summary\": ...}")
    p.add_argument("--max-chars", type=int, default=1200, metavar="N",
                   help="show at most N characters of each answer (default 1200; 0: all)")
    p.add_argument("--width", type=int, default=0, metavar="W",
                   help="output width in columns (default: the terminal's, else 100)")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="highlight evidence with colors (auto: when stdout is a terminal); "
                        "otherwise evidence is shown between [[ and ]]")


def run(args: argparse.Namespace) -> int:
    from ..compare import check_prompts, compare, items_from_data, read_prompts, text_passages
    from ..errors import WorkbenchError
    from ..generate import GenerationConfig
    from ..model.load import load_pair
    from ..templates import get_template

    # every check of the arguments first: a typo must not cost two model loads
    if not args.base or not args.sft:
        raise WorkbenchError("give both models: --base M (the base model) and --sft M (the "
                             "fine-tune: a session or a folder)")
    from ..sessions import find_session

    session = find_session(args.sft, args.sessions)
    if args.prompts and args.data:
        raise WorkbenchError("give the prompts with --prompts FILE or --data SOURCE --n N "
                             "(one of the two)")
    if not args.prompts and not args.data and session is None:
        raise WorkbenchError("give the prompts with --prompts FILE or --data SOURCE --n N "
                             "(or an --sft session: its held-out rows are used)")
    for flag, value, low in (("--n", args.n, 1), ("--text-n", args.text_n, 1),
                             ("--batch-size", args.batch_size, 1), ("--max-chars", args.max_chars, 0),
                             ("--width", args.width, 0)):
        if value < low:
            raise WorkbenchError(f"{flag} must be at least {low}, not {value}")
    config = GenerationConfig(
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
        top_p=args.top_p, repetition_penalty=args.repetition_penalty, seed=args.seed)
    template = get_template(args.template) if args.template else None
    data_info: dict = {}
    if args.prompts:
        items = read_prompts(args.prompts, on_notice=lambda m: print(f"workbench: {m}",
                                                                      file=sys.stderr))
        data_info = {"prompts": args.prompts, "rows": len(items)}
    else:
        items, data_info = items_from_data(args.data, args.n, format=args.format,
                                           split=args.split, session=session)
    text = None
    if args.text and not args.no_loss:
        text, text_info = text_passages(args.text, args.text_n)
        data_info["text"] = text_info

    progress = _Progress(enabled=sys.stderr.isatty())
    # a LoRA session of --base: its base is loaded once and shared (the adapter off for it)
    base, sft = load_pair(args.base, args.sft, device=args.device, sessions_dir=args.sessions,
                          progress=progress)
    if template is None:
        template = sft.template
        if template is None:
            raise WorkbenchError(f"--sft {args.sft}: no template was saved with it; pass "
                                 "--template (alpaca, alpaca-ch7, phi3, chatml, story, "
                                 "inst-resp, text, or a .toml file)")

    check_prompts((base, sft), template, items)

    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    width = args.width or shutil.get_terminal_size((100, 24)).columns
    width = max(40, width)
    out = sys.stdout
    if not args.json:
        head = (f"base {base.source} · sft {sft.source} · template {template.name} · "
                f"{_settings_line(config)} · {len(items)} prompt{'s' * (len(items) != 1)} "
                f"· {base.device}")
        out.write("".join(t + "\n" for t, _ in _plain(head, width)))
        if data_info.get("why"):
            where = (f"prompts: {data_info['rows']} rows of {data_info['source']}, "
                     f"{data_info['why']}")
            out.write("".join(t + "\n" for t, _ in _plain(where, width)))

    def on_item(compared, done, total):
        progress.clear()
        if args.json:
            out.write(json.dumps(compared.to_dict(), ensure_ascii=False) + "\n")
        else:
            out.write(_item_block(compared, done, total, base.source, sft.source, width,
                                  color, args.max_chars))
        out.flush()

    result = compare(base, sft, template, items, config, on_item=on_item,
                     on_progress=lambda d, t, label: progress(label),
                     batch_size=args.batch_size, text=text, loss=not args.no_loss)
    progress.clear()
    summary = result.summary()
    if args.json:
        summary.update(models={"base": base.source, "sft": sft.source},
                       template=template.name, settings=result.info["settings"],
                       device=base.device, data=data_info)
        out.write(json.dumps({"summary": summary}, ensure_ascii=False) + "\n")
    else:
        out.write(_summary_block(result, base.source, sft.source, width))
    return 0


class _Progress:
    """A status line on stderr (only when it is a terminal), overwritten in place."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, label: str) -> None:
        if self.enabled:
            sys.stderr.write(f"\r\x1b[2K{label} …")
            sys.stderr.flush()
            self.shown = True

    def clear(self) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
            self.shown = False


def _settings_line(config) -> str:
    if config.temperature == 0:
        how = "greedy"
    else:
        how = f"temperature {config.temperature:g}"
        if config.top_k:
            how += f" top-k {config.top_k}"
        if config.top_p < 1:
            how += f" top-p {config.top_p:g}"
    if config.repetition_penalty != 1:
        how += f" repetition penalty {config.repetition_penalty:g}"
    return f"{how} · seed {config.seed} · max {config.max_new_tokens} new tokens"


# ----------------------------------------------------------------------------------------
# Two columns


def wrap_spans(text: str, width: int) -> list[tuple[int, int]]:
    """Where each display line of `text` starts and ends, wrapped at `width` characters:
    at the last space that fits, else cut; a newline always breaks. The spans index into
    `text`, so evidence spans can be clipped to each line."""
    width = max(1, width)
    lines: list[tuple[int, int]] = []
    pos = 0
    for hard in text.split("\n"):
        start, end = pos, pos + len(hard)
        pos = end + 1
        if start == end:
            lines.append((start, end))
            continue
        i = start
        while i < end:
            if end - i <= width:
                lines.append((i, end))
                break
            cut = text.rfind(" ", i, i + width + 1)
            if cut <= i:
                lines.append((i, i + width))
                i += width
            else:
                lines.append((i, cut))
                i = cut + 1
            while i < end and text[i] == " ":
                i += 1
    return lines


def render_column(text: str, evidence: list, width: int, color: bool) -> list[tuple[str, int]]:
    """`text` wrapped to `width`, evidence highlighted: (line, visible length) pairs."""
    from .diagnose import highlight

    text = text.replace("\t", " ").replace("\r", " ")
    if not color and evidence:
        text, evidence = highlight(text, evidence, False), []
    out = []
    for a, b in wrap_spans(text, width):
        piece = text[a:b]
        if color and evidence:
            local = [((max(s[0], a) - a, min(s[1], b) - a), name) for s, name in evidence
                     if s[0] < b and s[1] > a]
            out.append((highlight(piece, local, True) if local else piece, len(piece)))
        else:
            out.append((piece, len(piece)))
    return out


def side_by_side(left: list[tuple[str, int]], right: list[tuple[str, int]], col: int) -> str:
    rows = []
    for i in range(max(len(left), len(right))):
        lt, ln = left[i] if i < len(left) else ("", 0)
        rt, _ = right[i] if i < len(right) else ("", 0)
        rows.append(f"{lt}{' ' * max(0, col - ln)} │ {rt}".rstrip() + "\n")
    return "".join(rows)


def _plain(text: str, width: int) -> list[tuple[str, int]]:
    return [(text[a:b], b - a) for a, b in wrap_spans(text, width)]


def _fit(label: str, name: str, col: int) -> list[tuple[str, int]]:
    """One line: a long model name loses its start ("…/checkpoints/step-40")."""
    room = col - len(label)
    if len(name) > room:
        name = "…" + name[-(room - 1):] if room > 1 else ""
    return [(label + name, len(label + name))]


def _answer_head(answer, col: int) -> list[tuple[str, int]]:
    from .diagnose import _count

    r, d = answer.result, answer.diagnosis
    why = repr(r.stop_string) if r.stop_string else r.stop_reason
    head = [", ".join(d.flag_names) or "ok", f"stop {why}",
            _count(r.new_tokens, "token")]
    if d.exact_match is not None:
        head.append(f"EM {d.exact_match:.0f} F1 {d.f1:.2f}")
    return _plain(" · ".join(head), col)


def _answer_body(answer, col: int, color: bool, max_chars: int) -> list[tuple[str, int]]:
    d = answer.diagnosis
    lines: list[tuple[str, int]] = []
    text = d.response
    if not text.strip():
        lines += _plain("(empty)", col)
    else:
        shown = text if not max_chars or len(text) <= max_chars else text[:max_chars]
        evidence = [((s[0], min(s[1], len(shown))), name) for s, name in d.evidence()
                    if s[0] < len(shown)]
        lines += render_column(shown, evidence, col, color)
        if len(shown) < len(text):
            lines += _plain(f"… ({len(text) - len(shown)} more characters)", col)
    for flag in d.flagged:
        lines += _plain(f"! {flag.replace('_', '-')}: {d.findings[flag].message}", col)
    if d.ending_line is not None:
        lines += _plain(d.ending_line, col)
    return lines


def _item_block(compared, done: int, total: int, base_name: str, sft_name: str, width: int,
                color: bool, max_chars: int) -> str:
    item = compared.item
    col = (width - 3) // 2
    where = f" · {item.id}" if item.id not in (None, "") else ""
    title = f"━━ {done}/{total}{where} "
    parts = [title + "━" * max(0, width - len(title)) + "\n"]
    parts += [t + "\n" for t, _ in _plain(f"prompt: {item.prompt}", width)]
    if item.input:
        parts += [t + "\n" for t, _ in _plain(f"input: {item.input}", width)]
    extra = []
    if item.reference is not None:
        ref = item.reference if isinstance(item.reference, str) else " | ".join(item.reference)
        extra.append(f"reference: {ref if len(ref) <= 200 else ref[:200] + '…'}")
    if item.category:
        extra.append(f"category: {item.category}")
    if item.ending:
        extra.append(f"asked for a {item.ending} ending")
    if extra:
        parts += [t + "\n" for t, _ in _plain(" · ".join(extra), width)]
    header = side_by_side(_fit("base: ", base_name, col), _fit("sft: ", sft_name, col), col)
    parts.append(header)
    left, right = _answer_head(compared.base, col), _answer_head(compared.sft, col)
    height = max(len(left), len(right))  # the rules under the heads line up
    rule = [("─" * col, col)]
    left += [("", 0)] * (height - len(left)) + rule
    right += [("", 0)] * (height - len(right)) + rule
    parts.append(side_by_side(left + _answer_body(compared.base, col, color, max_chars),
                              right + _answer_body(compared.sft, col, color, max_chars), col))
    return "".join(parts)


def _summary_block(result, base_name: str, sft_name: str, width: int) -> str:
    from .diagnose import summary_lines

    col = (width - 3) // 2
    title = "━━ summary "
    parts = ["\n", title + "━" * max(0, width - len(title)) + "\n"]
    if result.cancelled:
        parts.append(f"(cancelled after {len(result.items)} prompts)\n")
    parts.append(side_by_side(_fit("base: ", base_name, col), _fit("sft: ", sft_name, col), col))
    parts.append(side_by_side([("─" * col, col)], [("─" * col, col)], col))
    left, right = summary_lines(result.summary_base), summary_lines(result.summary_sft)
    if max(map(len, left + right)) <= col and len(left) == len(right):
        # the same items give the same lines: side by side, row for row
        parts.append(side_by_side([(t, len(t)) for t in left], [(t, len(t)) for t in right], col))
    else:  # too narrow for two columns: one model after the other
        parts.pop()
        parts.pop()
        for i, (label, name, lines) in enumerate((("base: ", base_name, left),
                                                  ("sft: ", sft_name, right))):
            parts.append("\n" * i + _fit(label, name, width)[0][0] + "\n")
            parts += [t + "\n" for line in lines for t, _ in _plain(line, width)]
    loss = result.loss or {}
    rows = []
    for key, label in (("data", "on the data"), ("text", "on plain text")):
        part = loss.get(key)
        if not part:
            continue
        desc = f"{label} ({part['examples']} examples, {part['targets']} target tokens)"
        change = part["change"]
        note = ""
        if key == "text" and change is not None:
            note = "  forgetting" if change > 0 else "  no forgetting"
        rows.append((desc, _fmt(part["base"]), _fmt(part["sft"]),
                     ("-" if change is None else f"{change:+.4f}") + note))
    if rows:
        w = max(len(r[0]) for r in rows)
        parts.append(f"\nloss per target token{' ' * max(1, w - 19)}{'base':>9} {'sft':>9}  change\n")
        for desc, b, s, c in rows:
            parts.append(f"  {desc:<{w}} {b:>9} {s:>9}  {c}\n")
    elif result.loss is not None:
        note = ("loss: no item has a reference answer (give --data, references in the "
                "prompts file, or --text)")
        parts += ["\n"] + [t + "\n" for t, _ in _plain(note, width)]
    return "".join(parts)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}"
