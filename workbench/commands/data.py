"""Show, count, balance, split and save instruction data. SOURCE is a local file (.json,
.jsonl, .csv, .parquet, .txt: TinyStoriesInstruct raw text is recognised), a folder (a
save_to_disk dataset, or files named by split), or a Hugging Face Hub dataset id. Bad rows
are counted and reported with their row numbers; the rest loads (exit code 2 only when
nothing usable remains)."""

from __future__ import annotations

import argparse
import json
import sys


def _source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="file, folder, or Hub dataset id")
    p.add_argument("--format", metavar="F", help="row format (auto-detected; the detected one is shown)")
    p.add_argument("--split", metavar="S", help="use only this split")
    p.add_argument("--config", metavar="NAME", help="Hub dataset config")
    p.add_argument("--revision", metavar="REV", help="Hub dataset revision (commit, tag, branch)")
    p.add_argument("--streaming", action="store_true",
                   help="read rows as a stream (data that does not fit in memory)")
    p.add_argument("--json", action="store_true", help="print JSON")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    show = sub.add_parser("show", help="print rows (and the detected format, splits, bad rows)")
    _source_args(show)
    show.add_argument("--offset", type=int, default=0, metavar="N")
    show.add_argument("--limit", type=int, default=10, metavar="N")
    show.add_argument("--search", metavar="TEXT", help="only rows containing TEXT")
    show.add_argument("--filter", metavar="LABEL=VALUE", help="only rows with this label value")
    show.add_argument("--template", metavar="T", help="show each row rendered in template T")

    stats = sub.add_parser("stats", help="counts and shares of a label per split")
    _source_args(stats)
    stats.add_argument("--label", required=True, metavar="L",
                       help="a column (ending, category, ...) or 'length' (token buckets)")
    stats.add_argument("--template", metavar="T", help="template for --label length")
    stats.add_argument("--tokenizer", default="gpt2", metavar="TOK", help="tokenizer for --label length")

    bal = sub.add_parser("balance", help="balance by a label and save (with a manifest)")
    _source_args(bal)
    bal.add_argument("--label", required=True, metavar="L")
    bal.add_argument("--strategy", required=True, choices=("undersample", "oversample", "ratio"))
    bal.add_argument("--ratio", metavar="C=V,...",
                     help="shares (happy=0.5,sad=0.5) or per-class caps (happy=1000,sad=500)")
    bal.add_argument("--seed", type=int, default=0)
    bal.add_argument("--val-ratio", type=float, metavar="R",
                     help="also cut a validation split of this share (stratified by the label)")
    bal.add_argument("--out", required=True, metavar="PATH",
                     help="a .jsonl file, or a folder (save_to_disk, or --as jsonl)")
    bal.add_argument("--as", dest="as_", choices=("jsonl", "arrow"), help="folder layout")
    bal.add_argument("--template", metavar="T", help="template for --label length")
    bal.add_argument("--tokenizer", default="gpt2", metavar="TOK", help="tokenizer for --label length")

    spl = sub.add_parser("split", help="make train/validation by ratio and save")
    _source_args(spl)
    spl.add_argument("--val-ratio", type=float, required=True, metavar="R")
    spl.add_argument("--stratify", metavar="LABEL", help="keep each class's share in both splits")
    spl.add_argument("--seed", type=int, default=0)
    spl.add_argument("--out", required=True, metavar="PATH")
    spl.add_argument("--as", dest="as_", choices=("jsonl", "arrow"), help="folder layout")


def run(args: argparse.Namespace) -> int:
    from ..data.sources import open_dataset

    ds = open_dataset(args.source, format=args.format, split=args.split, config=args.config,
                      revision=args.revision, streaming=args.streaming)
    return {"show": _show, "stats": _stats, "balance": _balance, "split": _split}[
        args.data_command](ds, args)


def _header(ds) -> dict:
    return {"source": ds.source, "format": ds.format, "format_detected": ds.detected,
            "streaming": ds.streaming, "splits": ds.counts(), "bad_rows": ds.bad.to_dict()}


def _print_header(ds, out) -> None:
    counts = ", ".join(f"{n} {c:,}" if c is not None else f"{n} (unknown so far)"
                       for n, c in ds.counts().items())
    out.write(f"source {ds.source}\nformat {ds.format}{' (detected)' if ds.detected else ' (given)'}"
              f" · splits: {counts}\n")
    parse = ds.info.get("parse")
    if parse:
        for split, st in parse.items():
            if st:
                missing = ", ".join(f"{k} {v}" for k, v in st["missing"].items() if v)
                out.write(f"parsed [{split}]: {st['raw_rows']:,} raw rows → {st['examples']:,} "
                          f"examples, {st['usable']:,} usable · missing fields: {missing or 'none'}"
                          f" · empty stories {st['empty_story']} · unterminated {st['unterminated']}\n")
    bad = ds.bad
    if bad:
        out.write(f"bad rows skipped: {bad.total}\n")
        for line in bad.lines():
            out.write(f"  {line}\n")


def _label_kw(args, ds) -> dict:
    """`length_of` for the `length` label: tokens as the template renders each row."""
    if getattr(args, "label", None) != "length":
        return {}
    from ..recipe import token_length
    from ..train.config import TrainConfig

    config = TrainConfig(model="scratch", tokenizer=args.tokenizer, template=args.template or "")
    return {"length_of": token_length(config, ds.format)}


def _show(ds, args) -> int:
    from ..errors import WorkbenchError
    from ..templates import get_template

    if args.limit < 1 or args.offset < 0:
        raise WorkbenchError("--limit must be at least 1 and --offset at least 0")
    label = value = None
    if args.filter:
        if "=" not in args.filter:
            raise WorkbenchError(f"--filter: expected LABEL=VALUE, got {args.filter!r}")
        label, value = args.filter.split("=", 1)
    split = args.split or ds.default_split
    total = ds.num_rows(split)
    if total is not None and args.offset and args.offset >= total:
        raise WorkbenchError(f"--offset {args.offset}: split {split!r} of {args.source} has "
                             f"{total:,} rows (offsets 0 to {total - 1:,})")
    # pages of size `limit` starting at `offset`: fetch the covering range
    page_no, skip = divmod(args.offset, args.limit)
    page = ds.page(split, page_no, args.limit, search=args.search, label=label, value=value)
    if args.offset and args.offset >= page.matched and (args.search or label):
        raise WorkbenchError(f"--offset {args.offset}: {page.matched:,} rows match "
                             f"(offsets 0 to {max(0, page.matched - 1):,})")
    rows = page.rows[skip:]
    if skip:
        rows += ds.page(split, page_no + 1, args.limit, search=args.search, label=label,
                        value=value).rows[:skip]
    template = get_template(args.template) if args.template else None
    if args.json:
        out = _header(ds)
        out.update(split=split, offset=args.offset, limit=args.limit, matched=page.matched,
                   total=page.total, rows=[])
        for r in rows:
            item = {"position": r.position, "row": r.row, "raw": r.raw, "example": r.example.to_dict()}
            if template:
                segs = template.render(r.example)
                item["rendered"] = {"prompt": "".join(s.text for s in segs if not s.trainable),
                                    "response": "".join(s.text for s in segs if s.trainable),
                                    "segments": [{"text": s.text, "trainable": s.trainable,
                                                  "special": s.special} for s in segs]}
            out["rows"].append(item)
        print(json.dumps(out, ensure_ascii=False, default=str))
        return 0
    w = sys.stdout.write
    _print_header(ds, sys.stdout)
    total = f"{page.total:,}" if page.total is not None else "unknown so far"
    what = f" matching ({page.matched:,})" if (args.search or label) else ""
    w(f"\nsplit {split} · rows {args.offset}–{args.offset + len(rows) - 1}{what} of {total}\n")
    for r in rows:
        labels = {k: v for k, v in r.example.meta.items()
                  if k not in ("row", "summary") and isinstance(v, (str, int, float, bool))
                  and len(str(v)) <= 40}
        w(f"\n── #{r.position} · source row {r.row}" +
          (" · " + ", ".join(f"{k}={v}" for k, v in labels.items()) if labels else "") + "\n")
        if template:
            for seg in template.render(r.example):
                tag = "RESPONSE" if seg.trainable else "PROMPT  "
                for line in (seg.text if not seg.special else f"⟨{seg.text}⟩").split("\n"):
                    w(f"  {tag} │ {line}\n")
        else:
            for m in r.example.messages:
                text = m.content + (f"\n[input] {m.input}" if m.input else "")
                preview = text if len(text) <= 300 else text[:299] + "…"
                w(f"  {m.role:>9}: {preview.replace(chr(10), chr(10) + ' ' * 13)}\n")
    return 0


def _bar(share: float, width: int = 40) -> str:
    full = share * width
    return "█" * int(full) + ("▌" if full - int(full) >= 0.5 else "")


def _stats(ds, args) -> int:
    from ..data.dataset import shares

    stats = ds.stats(args.label, **_label_kw(args, ds))
    if args.json:
        out = _header(ds)
        out["label"] = args.label
        out["stats"] = {s: {"counts": c, "shares": shares(c), "total": sum(c.values())}
                        for s, c in stats.items()}
        print(json.dumps(out, ensure_ascii=False))
        return 0
    _print_header(ds, sys.stdout)
    _print_counts(args.label, stats)
    return 0


def _print_counts(label: str, stats: dict[str, dict[str, int]], title: str = "") -> None:
    from ..data.dataset import shares

    w = sys.stdout.write
    w(f"\n{title or 'label'} {label}\n")
    for split, counts in stats.items():
        total = sum(counts.values())
        w(f"  {split} ({total:,} rows)\n")
        width = max((len(k) for k in counts), default=4)
        for value, n in counts.items():
            share = shares(counts)[value]
            w(f"    {value:<{width}}  {n:>10,}  {share:6.1%}  {_bar(share)}\n")


def _balance(ds, args) -> int:
    from ..data.balance import balance_and_save, parse_ratio

    from ..errors import WorkbenchError

    ratio = parse_ratio(args.ratio)
    if args.strategy == "ratio" and not ratio:
        raise WorkbenchError("--strategy ratio needs --ratio (e.g. happy=0.5,sad=0.5)")
    meta, report = balance_and_save(ds, args.label, args.strategy, args.out, seed=args.seed,
                                    ratio=ratio, val_ratio=args.val_ratio, as_=args.as_,
                                    **_label_kw(args, ds))
    before = _totals(report.before)
    after = _totals(meta["counts"]["after"])
    if args.json:
        print(json.dumps({"before": before, "after": after, "splits": {
            s: {"before": report.before[s], "after": report.after[s]} for s in report.before},
            "out": str(args.out), "rows": meta["rows"], "label": args.label,
            "strategy": args.strategy, "seed": args.seed, "ratio": ratio,
            "bad_rows": ds.bad.to_dict()}, ensure_ascii=False))
        return 0
    _print_header(ds, sys.stdout)
    _print_counts(args.label, report.before, "before · label")
    _print_counts(args.label, meta["counts"]["after"], f"after {args.strategy} (seed {args.seed}) · label")
    rows = ", ".join(f"{s} {n:,}" for s, n in meta["rows"].items())
    sys.stdout.write(f"\nsaved {rows} rows to {args.out} (manifest beside it)\n")
    return 0


def _totals(per_split: dict[str, dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for counts in per_split.values():
        for k, v in counts.items():
            out[k] = out.get(k, 0) + v
    return out


def _split(ds, args) -> int:
    from ..data.balance import make_validation
    from ..data.save import save_dataset
    from ..errors import WorkbenchError

    if ds.streaming:
        raise WorkbenchError("split needs the whole dataset; drop --streaming")
    out_ds = make_validation(ds, args.val_ratio, seed=args.seed, stratify=args.stratify)
    extra = {"validation": {"ratio": args.val_ratio, "stratify": args.stratify, "seed": args.seed}}
    if args.stratify:
        extra["counts"] = {"after": out_ds.stats(args.stratify)}
    meta = save_dataset(out_ds, args.out, as_=args.as_, manifest_extra=extra)
    if args.json:
        print(json.dumps({"out": str(args.out), "rows": meta["rows"], **extra}, ensure_ascii=False))
        return 0
    _print_header(out_ds, sys.stdout)
    if args.stratify:
        _print_counts(args.stratify, extra["counts"]["after"])
    sys.stdout.write(f"\nsaved {', '.join(f'{s} {n:,}' for s, n in meta['rows'].items())} rows "
                     f"to {args.out}\n")
    return 0
