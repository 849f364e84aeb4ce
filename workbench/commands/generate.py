"""Generate from a model (a Hub id, a local folder, or a session) with a template: the prompt
is rendered exactly as the training prefix, and generation stops on the template's end
token, <|endoftext|>, its stop strings, or --max-new-tokens. Prints the answer and a footer
(why it stopped, tokens, tokens/s, and the Chat screen's flags and ending check when they
fire); --json prints one JSON object."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", required=True, metavar="M",
                   help="a Hugging Face Hub id (gpt2, distilgpt2, ...), a local model folder, "
                        "or a session (NAME, NAME@best, NAME@step-N)")
    p.add_argument("--template", "-t", metavar="T",
                   help="template name or .toml file (default: the one saved with the model)")
    p.add_argument("--prompt", "-p", required=True, metavar="TEXT",
                   help="the instruction (or the user turn)")
    p.add_argument("--input", default="", metavar="TEXT",
                   help="the optional input that goes with the instruction (Alpaca's input)")
    p.add_argument("--field", action="append", default=[], metavar="NAME=VALUE",
                   help="a template field beyond the prompt, e.g. --field ending=sad for the "
                        "story template (a last line 'ending: sad' in --prompt works too)")
    p.add_argument("--max-new-tokens", type=int, default=128, metavar="N")
    p.add_argument("--temperature", type=float, default=0.0, metavar="X",
                   help="0 is greedy (the default); above 0 samples")
    p.add_argument("--top-k", type=int, default=0, metavar="K", help="0: off")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P", help="1: off")
    p.add_argument("--repetition-penalty", type=float, default=1.0, metavar="R", help="1: off")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--device", default="auto", metavar="D", help="auto, cuda, mps or cpu")
    p.add_argument("--dtype", default="fp32", choices=("fp32", "bf16"),
                   help="the weights' precision: bf16 reads half the bytes per new token "
                        "(faster decoding on GPUs and on CPUs with AVX512-BF16 or AMX); its "
                        "rounding may pick other tokens than fp32 (default fp32)")
    p.add_argument("--sessions", metavar="DIR", help="sessions folder (default: ./sessions)")
    p.add_argument("--revision", metavar="REV", help="Hub branch, tag or commit to load")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from ..compare import diagnose_answer
    from ..data.records import Example
    from ..errors import WorkbenchError
    from ..generate import GenerationConfig, generate_for_examples
    from ..model import load_model
    from ..templates import extra_fields, get_template, split_fields

    config = GenerationConfig(
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
        top_p=args.top_p, repetition_penalty=args.repetition_penalty, seed=args.seed)
    loaded = load_model(args.model, device=args.device, revision=args.revision,
                        sessions_dir=args.sessions)
    if args.dtype == "bf16":
        if loaded.device == "mps":
            raise WorkbenchError("--dtype bf16: not on MPS; use --dtype fp32 there")
        import torch

        loaded.model.to(torch.bfloat16)  # inference only: the weights as they are read
    template = get_template(args.template) if args.template else loaded.template
    if template is None:  # a plain Hugging Face model: it continues text
        template = get_template("text")
        sys.stderr.write(f"workbench: {loaded.source} has no saved template: continuing the "
                         "prompt as plain text (--template chooses one)\n")
    lines = [args.prompt]
    for item in args.field:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise WorkbenchError(f"--field {item!r}: expected NAME=VALUE, e.g. --field ending=sad")
        if name.strip().lower() not in extra_fields(template):
            takes = ", ".join(sorted(extra_fields(template))) or "none"
            raise WorkbenchError(f"--field {item!r}: template {template.name!r} takes no field "
                                 f"{name.strip()!r} (fields beyond the prompt: {takes})")
        lines.append(f"{name.strip()}: {value.strip()}")
    prompt, fields = split_fields("\n".join(lines), template, how=(
        "pass --field {name}=VALUE (or end --prompt with a line '{line}')"))
    example = Example.single(prompt, input=args.input, **fields)
    result = generate_for_examples(loaded, template, [example], config)[0]
    # the Chat screen's checks: role leakage, looping, no stop, empty, echo; a story's ending
    diagnosis = diagnose_answer(result, template, prompt=prompt,
                                requested_ending=fields.get("ending"))

    if args.json:
        ending = None
        if diagnosis.ending_adhered is not None:
            ending = {"requested": diagnosis.requested_ending, "judged": diagnosis.ending.label,
                      "adhered": diagnosis.ending_adhered}
        from ..generate import encode_prompt, prompt_tokenizer

        out = result.to_dict()
        prompt_ids = encode_prompt(loaded, template, prompt_tokenizer(loaded, template), example)
        out.update(model=loaded.source, template=template.name, device=loaded.device,
                   dtype=args.dtype,
                   flagged=diagnosis.flagged, ending=ending, prompt_ids=prompt_ids)
        if loaded.info.get("lora"):
            out["lora"] = {"base": loaded.info.get("base"), "r": loaded.info["lora"]["r"]}
        json.dump(out, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    why = result.stop_reason
    if result.stop_string is not None:
        why += f" {result.stop_string!r} (cut from the text)"
    elif result.context_full:
        why += " (the context is full)"
    sys.stdout.write(result.clean_text.rstrip("\n") + "\n")
    sys.stdout.write(f"-- stop: {why} · {result.prompt_tokens} prompt tokens · "
                     f"{result.new_tokens} new tokens · {result.tokens_per_second:.1f} tokens/s"
                     f" · {loaded.source} · template {template.name} · {loaded.device}"
                     + (" bf16" if args.dtype == "bf16" else "") + "\n")
    checks = [f"flags: {', '.join(diagnosis.flag_names)}"] if diagnosis.flagged else []
    if diagnosis.ending_note:
        checks.append(diagnosis.ending_note)
    if checks:
        sys.stdout.write(f"-- {' · '.join(checks)}\n")
    return 0
