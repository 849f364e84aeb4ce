#!/usr/bin/env python3
"""TRL's SFTTrainer on the GPU benchmark's data and shape, in its best mode here (a child of
bench/gpu_bench.py; TRL is never a dependency of the project).

Modelled on ../shared/peers/trl_sft.py (TRL 1.x), for CUDA and bf16: a randomly initialised
transformers GPT2LMHeadModel, alpaca prompts and completions (completion-only loss), AdamW
fused, no evaluation, saving or logging. The mode: padding_free with flash attention 2 when
`flash_attn` is importable (each batch flattened into one row, attention kept inside each
example by the varlen kernel), else packing (TRL's bfd bins, also flattened, on SDPA).
Prints one JSON object: real and supervised tokens/s after the warm-up, peak memory, MFU.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import tempfile
import time

ALPACA = ("Below is an instruction that describes a task{extra}. Write a response that "
          "appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n{inp}"
          "### Response:\n")


def prompt(row: dict) -> str:
    inp = f"### Input:\n{row['input']}\n\n" if row.get("input") else ""
    extra = ", paired with an input that provides further context" if inp else ""
    return ALPACA.format(extra=extra, instruction=row["instruction"], inp=inp)


def parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--tokenizer", required=True, help="folder with vocab.json + merges.txt")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--d-model", type=int, default=768)
    ap.add_argument("--max-len", type=int, default=1024)
    ap.add_argument("--cpu", action="store_true", help="the dry run: CPU, fp32")
    return ap.parse_args()


def main() -> None:
    args = parse()
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        report = run(args)
    print(json.dumps(report), file=real_stdout)


def run(args) -> dict:
    import dataclasses

    import torch
    import transformers
    from datasets import Dataset
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    transformers.logging.set_verbosity_error()
    transformers.set_seed(0)
    rows = json.load(open(args.data, encoding="utf-8"))
    ds = Dataset.from_list([{"prompt": prompt(r), "completion": r["output"]} for r in rows])
    tok = GPT2TokenizerFast(f"{args.tokenizer}/vocab.json", f"{args.tokenizer}/merges.txt")
    tok.pad_token = tok.eos_token
    cuda = not args.cpu
    flash = cuda and importlib.util.find_spec("flash_attn") is not None
    attn = "flash_attention_2" if flash else "sdpa"
    mode = "padding_free" if flash else "packing"
    cfg = GPT2Config(n_layer=args.layers, n_head=args.heads, n_embd=args.d_model,
                     n_positions=args.max_len, vocab_size=len(tok), resid_pdrop=0.0,
                     embd_pdrop=0.0, attn_pdrop=0.0)
    try:
        model = GPT2LMHeadModel._from_config(cfg, attn_implementation=attn)
    except (TypeError, ValueError, ImportError, AttributeError):
        model = GPT2LMHeadModel(cfg)
    if cuda:
        model = model.cuda()
        torch.cuda.reset_peak_memory_stats()
    kwargs = dict(
        output_dir=tempfile.mkdtemp(prefix="trl-gpu-"), max_steps=args.steps,
        per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=1,
        learning_rate=3e-4, weight_decay=0.1, lr_scheduler_type="constant", warmup_steps=0,
        max_grad_norm=1.0, optim="adamw_torch_fused", seed=0, data_seed=0,
        bf16=cuda, fp16=False, use_cpu=not cuda, dataloader_num_workers=0,
        logging_strategy="no", save_strategy="no", eval_strategy="no", report_to="none",
        disable_tqdm=True, completion_only_loss=True, packing=mode == "packing",
        packing_strategy="bfd", padding_free=mode == "padding_free",
        max_length=None if mode == "padding_free" else args.max_len,
        shuffle_dataset=False, dataset_num_proc=None)
    fields = {f.name for f in dataclasses.fields(SFTConfig)}
    ckpt = "activation_checkpointing" if "activation_checkpointing" in fields else "gradient_checkpointing"
    kwargs[ckpt] = False
    kwargs = {k: v for k, v in kwargs.items() if k in fields}
    steps: list[dict] = []
    clock = {"begin": None}

    def sync():
        if cuda:
            torch.cuda.synchronize()

    class Timer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            sync()
            clock["begin"] = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            sync()
            if steps:
                steps[-1]["seconds"] = time.perf_counter() - clock["begin"]

    class Bench(SFTTrainer):
        def training_step(self, *a, **kw):
            inputs = a[1] if len(a) > 1 else kw["inputs"]
            labels = inputs["labels"]
            if "attention_mask" in inputs:
                real = int(inputs["attention_mask"].sum())
            else:
                real = int(inputs["input_ids"].numel())  # flattened rows: no padding
            steps.append({"real": real, "supervised": int((labels[:, 1:] != -100).sum())})
            return super().training_step(*a, **kw)

    trainer = Bench(model=model, args=SFTConfig(**kwargs), train_dataset=ds,
                    processing_class=tok, callbacks=[Timer()])
    if mode == "padding_free":  # TRL refuses max_length here: truncate as TRL would
        L = args.max_len
        trainer.train_dataset = trainer.train_dataset.map(
            lambda ex: {k: v[:L] if isinstance(v, list) else v for k, v in ex.items()})
    trainer.train()
    after = [s for s in steps[args.warmup:] if "seconds" in s]
    seconds = sum(s["seconds"] for s in after)
    real = sum(s["real"] for s in after)
    n = sum(p.numel() for p in model.parameters()) - args.max_len * args.d_model
    fpt = 6 * n + 12 * args.layers * args.heads * (args.d_model // args.heads) * args.max_len
    peak_flops = None
    try:
        sys.path.insert(0, __file__.rsplit("/bench/", 1)[0])
        from workbench.train.telemetry import device_peak

        peak_flops = device_peak("cuda" if cuda else "cpu", "bf16" if cuda else "fp32")[0]
    except Exception:  # noqa: BLE001 - no MFU then
        pass
    return {"contender": f"TRL SFTTrainer {mode} ({model.config._attn_implementation})",
            "trl": importlib.import_module("trl").__version__,
            "transformers": transformers.__version__, "steps_measured": len(after),
            "real_tokens_per_s": round(real / seconds, 1),
            "supervised_tokens_per_s": round(sum(s["supervised"] for s in after) / seconds, 1),
            "peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None,
            "mfu": round(fpt * real / seconds / peak_flops, 4) if peak_flops else 0.0}


if __name__ == "__main__":
    main()
