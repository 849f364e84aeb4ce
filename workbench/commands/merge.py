"""Merge a LoRA session's adapter into its base model and write a full model in the Hugging
Face layout (GPT2LMHeadModel / GPTNeoForCausalLM load it alone), with the tokenizer and the
template: `workbench merge NAME[@step-N] --out DIR`."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", metavar="SESSION[@step]",
                   help="a LoRA session (NAME, NAME@best, NAME@step-N) or adapter folder")
    p.add_argument("--out", required=True, metavar="DIR", help="where to write the full model")
    p.add_argument("--sessions", metavar="DIR", help="sessions folder (default: ./sessions)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import WorkbenchError
    from ..model import load_model, save_model
    from ..model.lora import merge_lora

    loaded = load_model(args.model, sessions_dir=args.sessions)
    lora = getattr(loaded.model, "lora", None)
    if lora is None:
        raise WorkbenchError(f"{args.model}: not a LoRA checkpoint (no adapter_config.json); "
                             "it is a full model already")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise WorkbenchError(f"--out {out}: exists and is not empty; give a new folder")
    merge_lora(loaded.model)
    try:
        save_model(loaded.model, loaded.tokenizer, out, template=loaded.template,
                   extra={"merged_from": loaded.source, "lora": lora.to_dict()})
    except OSError as err:
        raise WorkbenchError(f"--out {out}: cannot write ({err.strerror})") from None
    print(f"merged {loaded.source} (LoRA r={lora.r}, alpha {lora.alpha:g}, on "
          f"{', '.join(lora.targets)}) into {lora.base_source}: {out}")
    return 0
