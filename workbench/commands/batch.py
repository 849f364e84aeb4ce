"""Show batch I exactly as the trainer would see it: every position's input token, its target
(the next token, or -100) and why; then per-row stats, the padding efficiency and warnings."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="a dataset (local JSON/JSONL file, ...)")
    p.add_argument("--format", metavar="F", help="row format (auto-detected)")
    p.add_argument("--template", "-t", required=True, metavar="T",
                   help="template name (alpaca, alpaca-ch7, phi3, chatml, story, inst-resp, "
                        "text) or a .toml file")
    p.add_argument("--tokenizer", default="gpt2", metavar="gpt2|bytes|PATH",
                   help="tokenizer: gpt2, bytes, or a folder with vocab.json + merges.txt")
    p.add_argument("--batch-size", "-b", type=int, default=8, metavar="B")
    p.add_argument("--index", "-i", type=int, default=0, metavar="I", help="which batch (0-based)")
    p.add_argument("--max-len", type=int, default=1024, metavar="L",
                   help="positions per row; longer examples lose the tail of their response")
    p.add_argument("--batcher", choices=("random", "grouped", "packed"), default="random")
    p.add_argument("--loss-on", choices=("response", "all"), default="response")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--epoch", type=int, default=0, metavar="E", help="epoch (changes the order)")
    p.add_argument("--pad-id", type=int, default=None, help="padding id (default: end-of-text)")
    p.add_argument("--pad-to-multiple-of", type=int, default=None, metavar="N")
    p.add_argument("--skip-bad", action="store_true", help="skip bad rows (counted) instead of stopping")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from ..collate import (IGNORE_INDEX, collate_plan, encode_examples,
                           explain_position, plan_batches, plan_efficiency, row_warnings,
                           tokenizer_for)
    from ..errors import WorkbenchError
    from ..templates import get_template
    from ..tokenizer import load_tokenizer, visible
    from ..data.sources import load_examples

    if args.batch_size < 1:
        raise WorkbenchError(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.max_len < 1:
        raise WorkbenchError(f"--max-len must be at least 1, not {args.max_len}")
    template = get_template(args.template)
    tokenizer = tokenizer_for(load_tokenizer(args.tokenizer), template)
    loaded = load_examples(args.source, args.format, skip_bad=args.skip_bad)
    encoded = encode_examples(loaded.examples, template, tokenizer, loss_on=args.loss_on,
                              max_len=args.max_len)
    if encoded.errors and not args.skip_bad:
        row, problem = encoded.errors[0]
        raise WorkbenchError(f"{args.source}: {problem} (pass --skip-bad to load the other rows)")
    if len(encoded) == 0:
        raise WorkbenchError(f"{args.source}: no example has a target "
                             f"({len(encoded.dropped)} dropped, {len(encoded.errors)} bad)")
    plan = plan_batches(encoded.lengths, args.batch_size, args.batcher, seed=args.seed,
                        epoch=args.epoch, max_len=args.max_len)
    if not 0 <= args.index < len(plan):
        raise WorkbenchError(f"--index {args.index}: there are {len(plan)} batches "
                             f"(0 to {len(plan) - 1})")
    pad_id = tokenizer.eos_id if args.pad_id is None else args.pad_id
    batch = collate_plan(encoded, plan[args.index], pad_id=pad_id,
                         pad_to_multiple_of=args.pad_to_multiple_of)
    epoch_eff = plan_efficiency(plan, encoded.lengths, args.pad_to_multiple_of)

    rows_out = []
    warnings: list[str] = []
    for r in range(batch.shape[0]):
        tokens = []
        for pos in range(batch.shape[1]):
            info = explain_position(batch, r, pos, tokenizer, args.loss_on)
            tokens.append(info)
        parts = [{"example": idx, "source_row": ex.row, "start": start, "positions": n,
                  **{k: v for k, v in ex.stats().items() if k != "row"}}
                 for (idx, start, n), ex in zip(batch.parts[r], batch.examples[r])]
        stats = {
            "prompt_tokens": sum(p["prompt_tokens"] for p in parts),
            "response_tokens": sum(p["response_tokens"] for p in parts),
            "targets": int((batch.labels[r] != IGNORE_INDEX).sum()),
            "truncated": any(p["truncated"] for p in parts),
            "end_trained": all(p["end_trained"] for p in parts),
            "examples": parts,
        }
        row_warn = row_warnings(batch, r, tokenizer)
        warnings += [f"row {r}: {w}" for w in row_warn]
        rows_out.append({"tokens": tokens, "stats": stats, "warnings": row_warn})

    skipped = loaded.bad.total + len(encoded.errors)
    header = {
        "source": args.source, "format": loaded.format, "format_detected": loaded.detected,
        "template": template.name, "tokenizer": tokenizer.describe(),
        "examples": len(encoded), "dropped": len(encoded.dropped),
        "truncated": int(encoded.truncated.sum()), "skipped_bad_rows": skipped,
        "batch": args.index, "batches": len(plan), "batcher": args.batcher,
        "loss_on": args.loss_on, "seed": args.seed, "shape": list(batch.shape),
        "pad_id": pad_id, "targets": batch.n_targets,
        "padding_efficiency": round(batch.padding_efficiency, 4),
        "epoch_padding_efficiency": round(epoch_eff, 4),
    }
    if args.json:
        out = dict(header)
        out["rows"] = [{"tokens": [{"pos": t["pos"], "input_id": t["input_id"], "input": t["input"],
                                    "target_id": t["target_id"],
                                    "target": t.get("target_token") if t["target_id"] != IGNORE_INDEX else None,
                                    "kind": t["kind"], "trained": t["trained"],
                                    "position_id": t["position_id"], "segment": t["segment"]}
                                   for t in row["tokens"]],
                        "stats": row["stats"], "warnings": row["warnings"]}
                       for row in rows_out]
        out["warnings"] = warnings
        out["dropped_rows"] = [{"row": r, "reason": why} for r, why in encoded.dropped[:20]]
        json.dump(out, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0

    w = sys.stdout.write
    w(f"source {args.source} ({loaded.format}{', detected' if loaded.detected else ''}) · "
      f"{len(encoded)} examples · template {template.name} · tokenizer {tokenizer.describe()}\n")
    if skipped or encoded.dropped:
        w(f"skipped {skipped} bad rows · dropped {len(encoded.dropped)} examples with no target "
          f"after truncation · truncated {header['truncated']}\n")
    w(f"batch {args.index} of {len(plan)} ({args.batcher}, seed {args.seed}, loss_on "
      f"{args.loss_on}) · {batch.shape[0]} rows × {batch.shape[1]} positions · pad id {pad_id}\n")
    for r, row in enumerate(rows_out):
        w(f"\nrow {r}: " + ", ".join(f"example {p['example']} (source row {p['source_row']})"
                                     for p in row["stats"]["examples"]) + "\n")
        w(f"{'pos':>5} {'input_id':>8}  {'input':<18} {'target_id':>9}  {'target':<18} status\n")
        for t in row["tokens"]:
            target_txt = visible(t.get("target_token", "")) if t["kind"] != "pad" else "-"
            status = "trained" if t["trained"] else (
                "masked (pad)" if t["kind"] == "pad" else f"masked ({t['kind']})")
            if t["trained"] and t["kind"] == "end":
                status = "trained (end)"
            w(f"{t['pos']:>5} {t['input_id']:>8}  {_cell(visible(t['input'])):<18} "
              f"{t['target_id']:>9}  {_cell(target_txt):<18} {status}\n")
        s = row["stats"]
        w(f"  row {r}: prompt tokens {s['prompt_tokens']} · response tokens {s['response_tokens']}"
          f" · targets {s['targets']} · truncated {'yes' if s['truncated'] else 'no'} · "
          f"end token trained {'yes' if s['end_trained'] else 'NO'}\n")
    w(f"\npadding efficiency: batch {batch.padding_efficiency:.3f} "
      f"({batch.n_real} real / {batch.input_ids.size} computed positions) · "
      f"epoch {epoch_eff:.3f}\n")
    if warnings:
        w(f"warnings ({len(warnings)}):\n")
        for line in warnings:
            w(f"  ! {line}\n")
    else:
        w("warnings: none\n")
    return 0


def _cell(text: str, width: int = 18) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
