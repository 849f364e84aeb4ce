"""Show a micro-batch exactly as the trainer feeds it to the model: every position's input
token, its target (the next token, or -100) and why; then per-row stats, the padding
efficiency and warnings. The batch comes from the recipe the trainer itself builds
(`workbench.recipe`): the same template and tokenizer, the same held-out cut (val_ratio),
balancing, encoding and micro-batch plan.

  workbench batch SOURCE [--FIELD VALUE ...] [--index I] [--epoch E]   batch I of epoch E
  workbench batch --config CONFIG.toml --step N [--micro M]           step N's micro-batch M
  workbench batch --session NAME --step N [--micro M]                 ... of a run, checked
                                                                       against its record

Steps are numbered from 1, as in metrics.jsonl; micro-batches from 0 (a step has
grad_accum × nproc of them). With --session the batch's fingerprint is compared with the
one the run recorded when it trained on it: "matches the run's record", or loudly not."""

from __future__ import annotations

import argparse
import json
import sys

from ._config_flags import add_config_flags, given_flags


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("source", metavar="SOURCE", nargs="?",
                   help="a dataset (local JSON/JSONL file, folder, Hub id); the same as --data")
    p.add_argument("--config", metavar="CONFIG.toml", help="a training config (flags override it)")
    p.add_argument("--session", metavar="NAME", help="a training session: its config, its "
                   "template and tokenizer, and its record of each micro-batch")
    p.add_argument("--sessions", metavar="DIR", help="sessions folder (default: ./sessions)")
    p.add_argument("--step", type=int, metavar="N", help="optimizer step (from 1, as in "
                   "metrics.jsonl)")
    p.add_argument("--micro", type=int, default=0, metavar="M",
                   help="micro-batch of the step (from 0; default 0)")
    p.add_argument("--index", "-i", type=int, default=None, metavar="I",
                   help="batch I (0-based) of --epoch (default: batch 0 of epoch 0)")
    p.add_argument("--epoch", type=int, default=0, metavar="E", help="epoch (with --index)")
    p.add_argument("--skip-bad", action="store_true",
                   help="with SOURCE: skip bad rows (counted) as training does, instead of "
                        "stopping at the first (a --config or --session batch always skips them)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    group = p.add_argument_group("config fields (as `workbench train` takes them; defaults are "
                                 "training's)")
    add_config_flags(group, aliases={"template": ["-t"], "batch_size": ["-b"]})


def _config(args: argparse.Namespace):
    """The TrainConfig to show, and the session folder (or None)."""
    from ..errors import WorkbenchError
    from ..sessions import CONFIG, default_sessions_dir
    from ..train.config import TrainConfig
    from ..train.runner import check_name

    given = given_flags(args)
    if args.session:
        if args.config or given or args.source:
            raise WorkbenchError("--session shows what the run trained on: give no SOURCE, "
                                 "--config or config flags with it")
        from pathlib import Path

        session = Path(args.sessions or default_sessions_dir()) / check_name(args.session)
        if not (session / CONFIG).is_file():
            raise WorkbenchError(f"no session {args.session!r} in {session.parent}")
        return TrainConfig.from_toml(session / CONFIG), session
    base = TrainConfig.from_toml(args.config).to_dict() if args.config else {}
    if args.source:
        if "data" in given and given["data"] != args.source:
            raise WorkbenchError("give the data once: SOURCE or --data")
        given["data"] = args.source
    if not args.config and "tokenizer" in given and "model" not in given:
        given["model"] = "scratch"  # a tokenizer is the model's own unless it is new
    base.update(given)
    config = TrainConfig.from_dict(base, args.config or "flags")
    if not config.data:
        raise WorkbenchError("give the data: SOURCE, --data, --config CONFIG.toml or "
                             "--session NAME")
    return config, None


def run(args: argparse.Namespace) -> int:
    from ..collate import (IGNORE_INDEX, explain_position, fingerprint, plan_efficiency,
                           row_warnings)
    from ..errors import WorkbenchError
    from ..recipe import build_recipe, check_receipt, session_recipe
    from ..tokenizer import visible

    config, session = _config(args)
    if args.step is not None and args.index is not None:
        raise WorkbenchError("give --step N [--micro M] or --index I [--epoch E], not both")
    if args.index is None and args.step is None:
        args.index = 0
    if session is not None:
        recipe = session_recipe(session, sessions_dir=session.parent)
    else:
        recipe = build_recipe(config, sessions_dir=args.sessions)
        strict = not args.skip_bad and not args.config
        if strict and recipe.dataset.bad:
            raise WorkbenchError(f"{recipe.dataset.bad.first_error()} (pass --skip-bad to "
                                 "skip bad rows as training does)")
        if strict and recipe.train.errors:
            row, problem = recipe.train.errors[0]
            raise WorkbenchError(f"{config.data}: {problem} (pass --skip-bad to skip rows the "
                                 "template cannot render, as training does)")
    if args.step is not None:
        if args.step < 1:
            raise WorkbenchError(f"--step {args.step}: steps are numbered from 1")
        if not 0 <= args.micro < recipe.per_step:
            raise WorkbenchError(f"--micro {args.micro}: a step has {recipe.per_step} "
                                 f"micro-batches (0 to {recipe.per_step - 1})")
        epoch, index = recipe.locate(args.step, args.micro)
        step, micro = args.step, args.micro
    else:
        if args.epoch < 0:
            raise WorkbenchError(f"--epoch {args.epoch}: must not be negative")
        epoch, index = args.epoch, args.index
        n = len(recipe.plan(epoch))
        if not 0 <= index < n:
            raise WorkbenchError(f"--index {index}: there are {n} batches (0 to {n - 1})")
        step, micro = recipe.step_of(epoch, index)
    plan = recipe.plan(epoch)
    batch = recipe.batch(epoch, index)
    tokenizer = recipe.tokenizer
    epoch_eff = plan_efficiency(plan, recipe.train.lengths)
    receipt = check_receipt(session, step, micro, batch) if session is not None else None

    rows_out = []
    warnings: list[str] = []
    for r in range(batch.shape[0]):
        tokens = [explain_position(batch, r, pos, tokenizer, config.loss_on)
                  for pos in range(batch.shape[1])]
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

    ds, train = recipe.dataset, recipe.train
    skipped = ds.bad.total + len(train.errors)
    header = {
        "source": config.data, "format": ds.format, "format_detected": ds.detected,
        "template": recipe.template.name, "template_origin": recipe.template_origin,
        "tokenizer": tokenizer.describe(), "model": recipe.model_source,
        "session": session.name if session is not None else None,
        "examples": len(train), "dropped": len(train.dropped),
        "truncated": int(train.truncated.sum()), "skipped_bad_rows": skipped,
        "heldout": recipe.heldout, "train_rows": recipe.report["train_rows"],
        "step": step, "micro": micro, "micro_per_step": recipe.per_step,
        "epoch": epoch, "batch": index, "batches": len(plan), "batcher": config.batcher,
        "loss_on": config.loss_on, "seed": config.seed, "shape": list(batch.shape),
        "max_len": recipe.config.max_len,  # resolved (0 is auto: the model's context ≤ 512)
        "pad_id": batch.pad_id, "targets": batch.n_targets,
        "padding_efficiency": round(batch.padding_efficiency, 4),
        "epoch_padding_efficiency": round(epoch_eff, 4),
        "fingerprint": fingerprint(batch),
        "receipt": None if receipt is None else {
            "state": receipt.state, "recorded": receipt.recorded, "message": receipt.message},
    }
    if recipe.report.get("changed"):
        header["changed"] = recipe.report["changed"]
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
        out["dropped_rows"] = [{"row": r, "reason": why} for r, why in train.dropped[:20]]
        json.dump(out, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0 if receipt is None or receipt.state != "mismatch" else 3

    w = sys.stdout.write
    w(f"source {config.data} ({ds.format}{', detected' if ds.detected else ''}) · "
      f"{len(train)} examples · template {recipe.template.name} ({recipe.template_origin}) · "
      f"tokenizer {tokenizer.describe()}\n")
    w(f"held out: {recipe.heldout['why']}" + (f" ({recipe.heldout.get('rows', 0)} rows)"
                                              if recipe.val_split else "") + "\n")
    if skipped or train.dropped:
        w(f"skipped {skipped} bad rows · dropped {len(train.dropped)} examples with no target "
          f"after truncation · truncated {header['truncated']}\n")
    where = f"session {session.name} · " if session is not None else ""
    w(f"{where}step {step} · micro-batch {micro} of {recipe.per_step} · batch {index} of "
      f"{len(plan)} in epoch {epoch} ({config.batcher}, seed {config.seed}, loss_on "
      f"{config.loss_on}, max_len {recipe.config.max_len}"
      f"{'' if config.max_len else ' auto'}) · {batch.shape[0]} rows × {batch.shape[1]} "
      f"positions · pad id {batch.pad_id}\n")
    if receipt is not None:
        mark = "✓" if receipt.state == "match" else ("!!" if receipt.state == "mismatch" else "?")
        w(f"{mark} fingerprint {header['fingerprint']}: {receipt.message}\n")
    if recipe.report.get("changed"):
        w(f"!! {recipe.report['changed']}\n")
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
    if receipt is not None and receipt.state == "mismatch":
        sys.stderr.write(f"workbench: {receipt.message}\n")
        return 3
    return 0


def _cell(text: str, width: int = 18) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
