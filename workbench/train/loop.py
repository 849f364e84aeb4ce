"""The SFT loop, read top to bottom: set up, loop, save.

`run(config, session)` trains in this process and writes the session folder as it goes
(see `workbench.sessions`). It is what `workbench train` runs, in the foreground or as a
detached process started by `workbench.train.runner`.

* Loss: the sum of token losses divided by the number of target tokens of the whole
  optimizer step, across all its micro-batches (and all processes), not a mean of
  per-micro-batch means. The LM head runs only at target positions (`GPT.target_loss`).
* AdamW without weight decay on biases and LayerNorm weights; linear warmup, then cosine,
  linear or constant; gradient clipping; the training step under bf16 autocast on CUDA and on
  a CPU whose bf16 matmuls measure fast (`device.precision`), else fp32; evaluation in fp32
  on the CPU.
* What it trains on comes from `workbench.recipe` (the template, tokenizer, held-out cut,
  balancing, encoding and micro-batch plan), the same recipe `workbench batch` and the
  Batches screen build. Each step's micro-batch fingerprints go to batches.jsonl, so the
  inspector can show that a batch it draws is the one trained on.
* Exact resume: a checkpoint holds the weights, the optimizer, the step, the data position
  (epoch, micro-batch) and the RNG states; the data order is a pure function of
  (seed, epoch), so 10 + resume + 10 steps equal 20 straight. The metrics, eval, samples
  and batches lines after the checkpoint's step are cut on resume: each step is in a
  session's files once.
* Stop (SIGTERM/SIGINT set `stop`): the current step finishes, a checkpoint is written,
  the state becomes `stopped`. A NaN/inf loss or CUDA out-of-memory ends the run `failed`
  with the step, what happened and what to do; earlier checkpoints are kept.
* Fast on CUDA: `compile` (auto: on for CUDA) compiles each transformer block in place, so
  checkpoints keep their keys; evaluation and samples run those blocks eagerly. fp32
  matmuls use TF32; AdamW is fused. Telemetry (device, memory, utilization, tokens/s, MFU:
  `workbench.train.telemetry`) goes to status.json at log intervals.
"""

from __future__ import annotations

import math
import os
import random
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import WorkbenchError
from ..fsutil import append_jsonl, truncate_jsonl_after, write_json_atomic, write_text_atomic
from ..sessions import (CHECKPOINTS, CONFIG, EVAL, LOG, METRICS, RECEIPTS, RECIPE, SAMPLES,
                        read_index, read_status)
from .config import TrainConfig
from .status import StatusWriter, keep_reserve, process_start_time, release_reserve


class Log:
    """Lines for train.log (and stderr in the foreground)."""

    def __init__(self, session: Path, echo: bool, enabled: bool = True) -> None:
        self.path = session / LOG
        self.echo = echo
        self.enabled = enabled

    def __call__(self, message: str, show: bool = False) -> None:
        """Append `message` to train.log; on stderr too when echoing, or when `show` (a
        line the person should see even under a progress bar: what auto chose)."""
        if not self.enabled:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        except OSError:
            pass  # a full or read-only disk: the failure itself is reported elsewhere
        if self.echo:
            print(line, file=sys.stderr, flush=True)
        elif show:
            print(message, file=sys.stderr, flush=True)


def lr_at(step: int, config: TrainConfig, max_steps: int) -> float:
    """Learning rate for optimizer step `step` (0-based): warmup, then the schedule."""
    peak, floor = config.lr, config.lr * config.min_lr_ratio
    if config.warmup_steps and step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return peak
    span = max(1, max_steps - config.warmup_steps)
    progress = min(1.0, (step - config.warmup_steps) / span)
    if config.schedule == "linear":
        return peak - (peak - floor) * progress
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def param_groups(model, weight_decay: float) -> list[dict]:
    """Decay matrices (and embeddings); never biases or LayerNorm weights (1-D tensors)."""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(model, config: TrainConfig, device: str):
    """AdamW, fused where torch has a fused kernel for the device: one pass over each tensor
    instead of ten, which on CPU is ~10x faster for the 50257 x C embedding."""
    import torch

    kwargs = dict(lr=config.lr, betas=(config.beta1, config.beta2), eps=1e-8)
    groups = param_groups(model, config.weight_decay)
    try:
        return torch.optim.AdamW(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this device
        return torch.optim.AdamW(param_groups(model, config.weight_decay), **kwargs)


# ----------------------------------------------------------------------------------------


def build_model(config: TrainConfig, recipe, device: str, sessions_dir: Path | None,
                resume_from: Path | None = None):
    """The model to train: the checkpoint's weights (a resumed run; a LoRA checkpoint
    brings its base and adapter), a new one (`scratch`, or `scratch:NAME` of a preset size,
    seeded), or the pretrained one; its embeddings grown to the recipe's tokenizer (the
    template's special tokens); with lora_r > 0, the LoRA layers, everything else frozen."""
    from ..model import load_model

    if resume_from is not None:
        model = load_model(resume_from, device=device, sessions_dir=sessions_dir).model
        if getattr(model, "lora", None) is None and recipe.tokenizer.n_vocab > model.config.vocab_size:
            model.resize_token_embeddings(recipe.tokenizer.n_vocab)
        return model
    source = config.model
    if config.model.startswith("scratch"):
        import torch

        torch.manual_seed(config.seed)
        model = _scratch(config, recipe.tokenizer.n_vocab).to(device)
    else:
        loaded = load_model(config.model, device=device, revision=config.revision or None,
                            sessions_dir=sessions_dir)
        model, source = loaded.model, loaded.source
        if getattr(model, "lora", None) is not None:
            from ..model.lora import merge_lora

            merge_lora(model)  # fine-tuning a LoRA session: its merged weights are the base
    base_vocab = model.config.vocab_size
    if recipe.tokenizer.n_vocab > model.config.vocab_size:
        model.resize_token_embeddings(recipe.tokenizer.n_vocab)
    if config.lora_r:
        from ..model.lora import apply_lora

        lora = apply_lora(model, config.lora_r, config.lora_alpha, config.lora_dropout,
                          config.lora_targets, base=config.model, base_source=source)
        lora.base_vocab = base_vocab
    return model


def _scratch(config: TrainConfig, vocab_size: int):
    """A new model: the config's n_layer/n_head/n_embd/n_positions (`scratch`), or a preset's
    shape (`scratch:gpt2-medium`, `scratch:tinystories-33m`)."""
    from ..model import GPT, GPTConfig

    if ":" in config.model:
        from ..model.sizes import preset_config

        return GPT(preset_config(config.model.split(":", 1)[1], vocab_size))
    return GPT(GPTConfig(n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd,
                         n_positions=config.n_positions, vocab_size=vocab_size))


# ----------------------------------------------------------------------------------------


def head_vocab(recipe, config: TrainConfig, device: str):
    """The sorted token ids the LM head's softmax covers when head_vocab = "data", else None."""
    if config.head_vocab != "data":
        return None
    import torch

    parts = [recipe.train.ids] + ([recipe.val.ids] if recipe.val is not None else [])
    ids = np.unique(np.concatenate(parts))
    return torch.from_numpy(ids.astype(np.int64)).to(device)


def evaluate(model, encoded, config: TrainConfig, pad_id: int, device: str,
             vocab=None) -> tuple[float, int]:
    """Mean loss per target token over the validation data (or its first eval_batches)."""
    import torch

    from ..collate import collate_plan, plan_batches
    from ..device import autocast

    plan = plan_batches(encoded.lengths, config.batch_size, "grouped", seed=0, epoch=0,
                        max_len=config.max_len)
    if config.eval_batches:
        plan = plan[:config.eval_batches]
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch_plan in plan:
            batch = collate_plan(encoded, batch_plan, pad_id=pad_id).to_torch(device)
            with autocast(device):
                loss_sum, n = model.target_loss(batch["input_ids"], batch["labels"],
                                                batch["position_ids"], batch.get("segment_ids"),
                                                vocab)
            total += float(loss_sum)
            count += int(n)
    model.train(was_training)
    return (total / count if count else float("nan")), count


def generative_eval(model, tokenizer, template, items, config: TrainConfig, device: str) -> dict:
    """Greedy answers to the eval prompts, diagnosed as `workbench compare` diagnoses them:
    {"exact_match", "f1", "by_category": {category: exact match}, "ending_accuracy"}."""
    from ..compare import diagnose_answer
    from ..diagnose import summarize
    from ..generate import GenerationConfig, generate_for_examples
    from ..model import LoadedModel

    loaded = LoadedModel(model, tokenizer, template, "training", {"device": device})
    was_training = model.training
    model.eval()
    try:
        results = generate_for_examples(loaded, template, [it.example for it in items],
                                        GenerationConfig(max_new_tokens=config.eval_max_new_tokens))
    finally:
        model.train(was_training)
    summary = summarize(diagnose_answer(r, template, prompt=it.prompt, reference=it.reference,
                                        category=it.category, requested_ending=it.ending)
                        for r, it in zip(results, items))
    out: dict = {"eval_items": len(items)}
    if summary["n_reference"]:
        out.update(exact_match=summary["exact_match"], f1=summary["f1"],
                   by_category={k: v["exact_match"] for k, v in summary["by_category"].items()})
    if summary.get("ending"):
        out["ending_accuracy"] = summary["ending"]["accuracy"]
        confusion = summary["ending"]["confusion"]
        out["ending_by_request"] = {want: (row[want] / sum(row.values()) if sum(row.values())
                                           else None) for want, row in confusion.items()}
    return out


def seen_in_training(items, recipe) -> int:
    """How many eval prompts are, word for word with their answer, a training example."""
    train = {(ex.instruction, ex.input, ex.response) for ex in recipe.dataset.iter_examples(recipe.train_split)}
    return sum(1 for it in items if (it.prompt, it.input, it.reference if isinstance(it.reference, str)
                                     else None) in train)


def write_samples(session: Path, step: int, model, tokenizer, template, config: TrainConfig,
                  device: str) -> list[dict]:
    """Greedy answers to the configured prompts, with their stop reasons."""
    from ..generate import GenerationConfig, generate_for_examples
    from ..model import LoadedModel
    from ..templates import prompt_example

    if not config.sample_prompts:
        return []
    loaded = LoadedModel(model, tokenizer, template, "training", {"device": device})
    was_training = model.training
    model.eval()
    try:
        # a prompt's trailing `ending: sad` lines fill the template's fields, as in Chat
        examples = [prompt_example(p, template, row=i) for i, p in enumerate(config.sample_prompts)]
        results = generate_for_examples(loaded, template, examples,
                                        GenerationConfig(max_new_tokens=config.sample_max_new_tokens))
    except WorkbenchError as err:  # a prompt longer than the context, say
        results = None
        out = [{"step": step, "prompt": p, "error": err.message} for p in config.sample_prompts]
    finally:
        model.train(was_training)
    if results is not None:
        out = [{"step": step, "prompt": p, "text": r.text, "stop_reason": r.stop_reason,
                "new_tokens": r.new_tokens} for p, r in zip(config.sample_prompts, results)]
    for line in out:
        append_jsonl(session / SAMPLES, line)
    return out


# ----------------------------------------------------------------------------------------


def run(config: TrainConfig, session: Path, *, resume: bool = False,
        stop: threading.Event | None = None, echo: bool = False,
        on_step: Callable[[dict], None] | None = None,
        sessions_dir: Path | None = None, resume_from: str | None = None,
        discard_on_preflight: bool = False, announce: bool = False) -> str:
    """Train; returns the final state (finished, stopped or failed). Raises WorkbenchError
    for problems found before training starts (bad config, data with no target, another
    trainer holding the session, a read-only folder), after writing them to the status as
    `failed` where the session is this run's to write; and for a checkpoint that cannot be
    written (a full disk, a read-only folder), after ending the run `failed`.

    `resume_from` names the checkpoint to resume from (`step-N`, `best`; default latest).
    `discard_on_preflight`: a new session whose run fails before its first step (a bad
    path, an unknown model, no CUDA) is removed rather than left behind `failed` (the CLI
    prints the message; the TUI keeps the session to show it).

    Auto settings (max_len 0, lr 0) are resolved for the model (`workbench.recipe.
    resolve_auto`) before config.toml is written, so the session records the numbers it
    trained with; what was chosen goes to train.log (and stderr with `announce`).
    """
    from . import lock as session_lock
    from .distributed import Dist

    dist = Dist.from_env()
    stop = stop or threading.Event()
    try:
        session.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WorkbenchError(disk_problem(err, session.parent, "create the session folder")) from None
    # one trainer per session: the kernel releases the lock when this process ends; under
    # torchrun the launching process holds it for every rank
    held = None
    if dist.world == 1:
        held = session_lock.inherited(session) or session_lock.acquire(session)
        if not resume and ((session / CHECKPOINTS).is_dir() or (session / METRICS).exists()):
            held.release()  # checked under the lock: a run that just ended is not retrained
            raise WorkbenchError(f"session {session.name!r} already exists in {session.parent} "
                                 f"with a run in it; choose another name or resume it with "
                                 f"`workbench train --resume {session.name}`")
    try:
        log = Log(session, echo, enabled=dist.is_main)
        status = StatusWriter(session, enabled=dist.is_main)
        if dist.is_main:
            keep_reserve(session)  # room to record a failure on a disk the run fills
        try:
            return _run(config, session, resume=resume, stop=stop, on_step=on_step,
                        sessions_dir=sessions_dir, dist=dist, log=log, status=status,
                        resume_from=resume_from, announce=announce)
        except BaseException as err:
            # A problem before the loop (bad data, model, device, config): the run ends
            # `failed` with the message, so no reader mistakes the exited process for a
            # killed one. Writing that may fail too (a full disk): the message still goes out.
            if status.data.get("state") in (None, "starting", "running"):
                message = (err.message if isinstance(err, WorkbenchError)
                           else f"{type(err).__name__}: {err}")
                if discard_on_preflight and not resume and dist.is_main:
                    import shutil

                    shutil.rmtree(session, ignore_errors=True)
                else:
                    log(f"failed before training: {message}")
                    status.try_update(state="failed", error=message, before_training=True,
                                      finished_at=status.now())
            raise
    finally:
        if dist.is_main:
            release_reserve(session)
        if held is not None:
            held.release()


class SaveFailed(WorkbenchError):
    """A checkpoint (or the session's files) could not be written: the run ended `failed`."""


def disk_problem(err: OSError, where: Path, doing: str, need_mb: float | None = None) -> str:
    """One line for a write that failed: what, where, and what to do."""
    import errno

    code = err.errno
    what = err.strerror or type(err).__name__
    if code in (errno.ENOSPC, errno.EDQUOT):
        free = _free_mb(where)
        room = (f"; it needs about {need_mb:,.0f} MB" if need_mb else "")
        return (f"could not {doing} in {where}: the disk is full ({free:,.0f} MB free{room}). "
                "Free some space, or pick another folder with --sessions DIR")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"could not {doing} in {where}: the folder is read-only ({what}). Pick a "
                "writable folder with --sessions DIR")
    return f"could not {doing} in {where}: {what}"


def _free_mb(where: Path) -> float:
    import shutil

    for path in (where, *where.parents):
        try:
            return shutil.disk_usage(path).free / 2**20
        except OSError:
            continue
    return 0.0


def _run(config: TrainConfig, session: Path, *, resume: bool, stop: threading.Event,
         on_step, sessions_dir, dist, log, status, resume_from: str | None = None,
         announce: bool = False) -> str:
    import torch

    from ..device import autocast, pick_device
    from ..recipe import resolve_auto
    from .checkpoint import (check_trainer_state, load_trainer_state, remove_partial,
                             save_checkpoint)

    config.validate()
    # max_len 0 and lr 0 become numbers for this model, and the session records those
    config, chosen = resolve_auto(config, sessions_dir=sessions_dir)
    for line in chosen:
        log(line, show=announce)
    if dist.is_main and not resume:
        try:
            write_text_atomic(session / CONFIG, config.to_toml())
        except OSError as err:
            raise WorkbenchError(disk_problem(err, session, f"write {CONFIG}")) from None
    status.update(state="starting", pid=os.getpid(), pid_start=process_start_time(os.getpid()),
                  host=socket.gethostname(), error=None, max_steps=None,
                  started_at=status.now() if not resume else read_status(session).get("started_at"),
                  model=config.model, data=config.data)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = dist.device(pick_device(config.device))
    # bf16 autocast or fp32 (auto: measured on a CPU); weights and AdamW stay fp32
    import functools

    from ..device import precision

    amp, why = precision(device, config.dtype)
    autocast = functools.partial(autocast, dtype=amp)  # what the training step runs under
    log(f"dtype {why}", show=announce)
    if device.startswith("cuda"):  # fp32 matmuls (outside autocast) on TF32 tensor cores
        torch.set_float32_matmul_precision("high")
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)

    # -- set up -------------------------------------------------------------------------
    from ..collate import fingerprint
    from ..recipe import build_recipe, encoded_fingerprint, pinned_side, read_recipe_record

    if dist.is_main:
        for name in remove_partial(session):
            log(f"removed {name}: a checkpoint whose save never finished")
    resume_from = _resume_folder(session, resume_from) if resume else None
    # what the run trains on: one recipe (a resumed run keeps its checkpoint's template and
    # tokenizer), the same the inspector builds
    side = pinned_side(resume_from) if resume_from is not None else None
    recipe = build_recipe(config, sessions_dir=sessions_dir, side=side, log=log)
    if config.sample_prompts:  # said now, not as an error on every sample of the run
        from ..templates import sample_prompt_problem

        problem = sample_prompt_problem(config.sample_prompts, recipe.template)
        if problem:
            origin = {"chosen": "chosen", "model": "the model's", "run": "the run's",
                      "format": f"usual for {recipe.dataset.format} data"}
            raise WorkbenchError(f"config field 'sample_prompts': {problem} (template "
                                 f"{recipe.template.name}: "
                                 f"{origin.get(recipe.template_origin, recipe.template_origin)})")
    model = build_model(config, recipe, device, sessions_dir, resume_from)
    tokenizer, template = recipe.tokenizer, recipe.template
    if dist.is_main:
        if resume_from is None or not (session / RECIPE).exists():
            write_json_atomic(session / RECIPE, recipe.describe())
        elif read_recipe_record(session).get("train_fingerprint") not in (
                None, encoded_fingerprint(recipe.train)):
            log("warning: the data (or the tokenizer) changed since this run started: the "
                "resumed steps train on other examples than the first ones did")
    eval_items = []
    if config.eval_prompts:
        from ..compare import read_prompts

        eval_items = read_prompts(config.eval_prompts)
        seen = seen_in_training(eval_items, recipe)
        log(f"eval prompts {config.eval_prompts}: {len(eval_items)}, answered greedily at every "
            f"evaluation" + (f"; {seen} of them are also training examples (prompt and answer)"
                             if seen else "; none is a training example"))
    pad_id = recipe.pad_id
    per_step = recipe.per_step
    cursor = recipe.stream()
    max_steps = recipe.max_steps
    optimizer = make_optimizer(model, config, device)
    step, tokens_seen, elapsed_before, best = 0, 0, 0.0, (None, None)
    if resume_from is not None:
        folder = resume_from
        state = load_trainer_state(folder)
        # checked against this model and optimizer before torch sees it: a state whose
        # moments have the wrong shapes would crash inside the optimizer
        check_trainer_state(state, model, optimizer, folder, session)
        optimizer.load_state_dict(state["optimizer"])
        step, tokens_seen = state["step"], state["tokens_seen"]
        elapsed_before = state["elapsed_s"]
        best = (state.get("best_val_loss"), state.get("best_step"))
        cursor.epoch, cursor.index = state["data_epoch"], state["data_index"]
        _set_rng(state["rng"])
        if dist.is_main:  # the steps after the checkpoint run again: their lines go
            for name in (METRICS, EVAL, RECEIPTS, SAMPLES):
                truncate_jsonl_after(session / name, step)
        log(f"resumed from {folder.name} at step {step} (epoch {cursor.epoch}, batch {cursor.index})")
    vocab = head_vocab(recipe, config, device)
    if vocab is not None:
        log(f"head_vocab data: the softmax covers the {len(vocab)} token ids of the data")
    train_model = dist.wrap(model, vocab)
    compiled = use_compile(config, device)
    if compiled:
        compile_blocks(model)
        log(f"compile {config.compile}: the {len(model.transformer.h)} transformer blocks are "
            "compiled (torch.compile); the first step includes compiling", show=announce)
    n_params = sum(p.numel() for p in model.parameters())
    n_trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if n_trained < n_params:
        log(f"LoRA r={config.lora_r} alpha={config.lora_alpha:g} on "
            f"{', '.join(model.lora.targets)} ({len(model.lora.modules)} layers): "
            f"{n_trained:,} of {n_params:,} parameters trained")
    log(f"model {config.model} ({n_params / 1e6:.2f}M parameters) on {device}"
        f"{' ×' + str(dist.world) if dist.world > 1 else ''}; template {template.name}; "
        f"tokenizer {tokenizer.describe()}; {max_steps} steps of {per_step} micro-batches × "
        f"{config.batch_size} rows ({config.batcher}, loss on {config.loss_on})")
    plan = _memory_plan(model, config, device, n_trained)
    if plan is not None:
        log(f"memory plan: {plan.describe()}")
    status.update(state="running", step=step, max_steps=max_steps, device=device,
                  template=template.name, data_report=recipe.report, n_params=n_params,
                  n_trained=n_trained,
                  memory_plan_mb=round(plan.total / 2**20) if plan is not None else None)
    telemetry = _telemetry(model, config, device, dist.world, log) if dist.is_main else None
    first_step = step
    micro: tuple[int, ...] | None = None  # the shape of the micro-batch being trained

    def trainer_state() -> dict:
        return {"step": step, "tokens_seen": tokens_seen, "elapsed_s": elapsed_s(),
                "optimizer": optimizer.state_dict(), "data_epoch": cursor.epoch,
                "data_index": cursor.index, "rng": _get_rng(), "best_val_loss": best[0],
                "best_step": best[1], "max_steps": max_steps}

    start_time = time.time()

    def elapsed_s() -> float:
        return elapsed_before + time.time() - start_time

    def checkpoint(val_loss: float | None) -> None:
        if dist.is_main:
            try:
                folder = save_checkpoint(session, step, model, tokenizer, template,
                                         trainer_state(), val_loss, config.keep_last,
                                         extra={"step": step, "session": session.name})
            except OSError as err:
                raise WriteFailed(err, f"save checkpoint step-{step}") from None
            status.update(last_checkpoint=folder.name, best_checkpoint=read_index(session).get("best"))
            log(f"checkpoint {folder.name}" + (f" (val loss {val_loss:.4f})" if val_loss is not None else ""))
        dist.barrier()

    def run_eval() -> float | None:
        nonlocal best
        if recipe.val is None and not eval_items:
            return None
        line: dict[str, Any] = {"step": step}
        val_loss = None
        if recipe.val is not None:
            val_loss, n = evaluate(model, recipe.val, config, pad_id, device, vocab)
            if best[0] is None or val_loss < best[0]:
                best = (val_loss, step)
            line.update(val_loss=val_loss, val_tokens=n)
            log(f"step {step}: val loss {val_loss:.4f} ({n} target tokens)")
        if eval_items and dist.is_main:
            scores = generative_eval(model, tokenizer, template, eval_items, config, device)
            line.update(scores)
            if scores.get("exact_match") is not None:
                per = ", ".join(f"{k} {v:.2f}" for k, v in scores["by_category"].items())
                log(f"step {step}: exact match {scores['exact_match']:.3f} on "
                    f"{scores['eval_items']} eval prompts ({per})")
        line["elapsed_s"] = round(elapsed_s(), 3)
        if dist.is_main:
            append_jsonl(session / EVAL, line)
            status.update(best_val_loss=best[0], best_step=best[1], last_val_loss=val_loss,
                          last_exact_match=line.get("exact_match"))
        return val_loss

    # -- the loop -----------------------------------------------------------------------
    model.train()
    last_val: float | None = None
    try:
        while step < max_steps:
            t0 = time.time()
            lr = lr_at(step, config, max_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            taken = cursor.take(per_step)
            batches = [b for _e, _i, b in taken]
            mine = batches[dist.rank::dist.world]
            # the step's loss is normalised by ALL its target tokens, on every process
            n_targets = dist.sum(sum(b.n_targets for b in batches[dist.rank::dist.world]))
            loss_total = 0.0
            for k, batch in enumerate(mine):
                t = batch.to_torch(device)
                micro = tuple(t["input_ids"].shape)
                with dist.no_sync(train_model, last=k == len(mine) - 1), autocast(device):
                    loss_sum, _ = train_model(t["input_ids"], t["labels"], t["position_ids"],
                                              t.get("segment_ids"))
                    (loss_sum * dist.world / max(1, n_targets)).backward()
                loss_total += float(loss_sum.detach())
            loss = dist.sum(loss_total) / max(1, n_targets)
            if not math.isfinite(loss):
                raise NonFinite(loss)
            grad_norm = (torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                         if config.grad_clip > 0 else _grad_norm(model))
            optimizer.step()
            # zeroed in place, not freed: fresh gradient buffers cost page faults each step
            optimizer.zero_grad(set_to_none=False)
            step += 1
            real = dist.sum(sum(b.n_real for b in mine))
            tokens_seen += real
            dt = time.time() - t0
            if compiled and step == first_step + 1:
                log(f"step {step}: {dt:.1f} s, compiling included", show=announce)
            elif telemetry is not None:
                telemetry.step(real, dt)
            if dist.is_main:  # the receipt: what each micro-batch of this step was
                append_jsonl(session / RECEIPTS, {"step": step,
                                                  "micro": [fingerprint(b) for b in batches],
                                                  "at": [[e, i] for e, i, _b in taken]})
            if dist.is_main and (step % config.log_every == 0 or step == max_steps):
                metrics = {"step": step, "epoch": round(cursor.epoch_progress, 4), "loss": loss,
                           "lr": lr, "grad_norm": float(grad_norm), "tokens": real,
                           "target_tokens": n_targets, "tokens_per_s": round(real / dt, 1),
                           "elapsed_s": round(elapsed_s(), 3)}
                append_jsonl(session / METRICS, metrics)
                status.update(step=step, epoch=metrics["epoch"], loss=loss,
                              tokens_per_s=metrics["tokens_per_s"], tokens_seen=tokens_seen,
                              **(telemetry.sample() if telemetry is not None else {}))
                if on_step:
                    on_step({**metrics, "max_steps": max_steps})
            at_end = step == max_steps
            if (config.eval_every and step % config.eval_every == 0) or at_end or \
                    (config.save_every and step % config.save_every == 0):
                with eager(compiled):  # no recompiling for eval shapes and the KV cache
                    last_val = run_eval()
            if dist.is_main and ((config.sample_every and step % config.sample_every == 0) or at_end):
                with eager(compiled):
                    write_samples(session, step, model, tokenizer, template, config, device)
            stopping = dist.any(stop.is_set())
            if at_end or stopping or (config.save_every and step % config.save_every == 0):
                checkpoint(last_val if _evaluated_now(config, step, at_end) else None)
            if stopping and not at_end:
                log(f"stopped at step {step} of {max_steps} (resume with: workbench train "
                    f"--resume {session.name})")
                status.update(state="stopped", finished_at=status.now())
                return "stopped"
    except (WriteFailed, OSError) as err:
        # a full disk, a folder gone read-only: end `failed` with what to do; the partial
        # checkpoint is gone (save_checkpoint removes it) and the earlier ones are intact
        doing = err.doing if isinstance(err, WriteFailed) else "write the session's files"
        cause = err.cause if isinstance(err, WriteFailed) else err
        latest = read_index(session).get("latest")
        msg = (disk_problem(cause, session, doing, need_mb=_checkpoint_mb(model))
               + f". The run stopped at step {step}; earlier checkpoints are intact (latest: "
               f"{latest or 'none'}); resume with `workbench train --resume {session.name}` "
               "once there is room")
        log(msg)
        status.try_update(state="failed", error=msg, failed_step=step, finished_at=status.now())
        raise SaveFailed(msg) from None
    except NonFinite as err:
        msg = (f"loss became {err.value} at step {step + 1}; stopped before updating the weights. "
               f"Last good checkpoint: {read_index(session).get('latest') or 'none'}. Try a lower "
               "lr, more warmup_steps, or check the data for empty or broken rows")
        log(msg)
        status.try_update(state="failed", error=msg, failed_step=step + 1, finished_at=status.now())
        return "failed"
    except Exception as err:  # noqa: BLE001 - every failure ends in the status, with its step
        oom = _is_oom(err)
        if oom:
            msg = oom_message(step + 1, config, micro, device, plan,
                              read_index(session).get("latest"))
        else:
            msg = f"{type(err).__name__} at step {step + 1}: {err}"
        log(msg)
        if not oom:  # an out-of-memory is said in full above; its traceback helps no one
            log(traceback.format_exc().rstrip())
        status.try_update(state="failed", error=msg, failed_step=step + 1, finished_at=status.now())
        return "failed"
    finally:
        dist.close()
    peak = _peak_mb(device)
    log(f"finished {max_steps} steps in {elapsed_s():.1f} s"
        + (f"; best val loss {best[0]:.4f} at step {best[1]}" if best[0] is not None else "")
        + (f"; peak memory {peak:,.0f} MB" if peak else "")
        + (f" (planned {plan.total / 2**20:,.0f} MB)" if plan is not None and peak else ""))
    status.update(state="finished", finished_at=status.now(), peak_memory_mb=peak)
    return "finished"


class WriteFailed(Exception):
    """A write of the run failed: what it was doing, and the OSError."""

    def __init__(self, cause: OSError, doing: str) -> None:
        super().__init__(f"{doing}: {cause}")
        self.cause, self.doing = cause, doing


def _memory_plan(model, config: TrainConfig, device: str, trainable: int):
    """The memory plan of this run (workbench.model.sizes), or None if it cannot be made."""
    try:
        from ..model.sizes import plan_memory

        return plan_memory(model.config, config, trainable=trainable, device=device)
    except Exception:  # noqa: BLE001 - a plan is advice; it never stops a run
        return None


def _peak_mb(device: str) -> float | None:
    """The peak memory this process used: CUDA's allocator peak, else the resident peak."""
    try:
        if device.startswith("cuda"):
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except Exception:  # noqa: BLE001
        return None


def use_compile(config: TrainConfig, device: str) -> bool:
    """compile = on, or auto on a CUDA device (where torch has torch.compile)."""
    import torch

    if config.compile == "off" or not hasattr(torch, "compile"):
        return False
    return config.compile == "on" or device.startswith("cuda")


def compile_blocks(model) -> None:
    """torch.compile each transformer block in place (`nn.Module.compile`): the blocks hold
    nearly all the arithmetic, while the embeddings, the attention masks (built once per
    forward, data-dependent) and the chunked head loss stay eager, so nothing breaks the
    graphs. In place, the state_dict keeps its keys (no `_orig_mod.` prefix): checkpoints
    and resume are the same as without compiling."""
    for block in model.transformer.h:
        block.compile()


def eager(compiled: bool):
    """Run compiled modules eagerly inside (evaluation, samples: other shapes, a KV cache,
    no gradients; compiling those would cost more than it saves)."""
    import contextlib

    import torch

    set_stance = getattr(torch.compiler, "set_stance", None)  # torch 2.6 and later
    if not compiled or set_stance is None:
        return contextlib.nullcontext()
    return set_stance("force_eager")


def _run_dtype(config: TrainConfig, device: str) -> str:
    """"bf16" or "fp32": the dtype the training step's matmuls run in (the MFU's peak)."""
    from ..device import precision

    try:
        amp = precision(device, config.dtype)[0]  # cached: the run's own choice
    except Exception:  # noqa: BLE001 - telemetry is advice; fp32's peak then
        amp = None
    return "bf16" if amp is not None and "bfloat16" in str(amp) else "fp32"


def _telemetry(model, config: TrainConfig, device: str, world: int, log):
    """The run's Telemetry (its peak looked up or measured now), or None if it cannot be
    made (telemetry is advice; it never stops a run)."""
    try:
        from .telemetry import Telemetry

        tel = Telemetry(model, device, config.max_len, _run_dtype(config, device), world)
        if tel.peak:
            log(f"telemetry: {tel.name}, peak {tel.peak / 1e12:.3g} TFLOP/s ({tel.peak_source} "
                f"{tel.dtype}), {tel.flops_token / 1e6:.1f} MFLOP per token (nanoGPT's MFU)")
        return tel
    except Exception:  # noqa: BLE001
        return None


def oom_message(step: int, config: TrainConfig, micro: tuple[int, ...] | None, device: str,
                plan, latest: str | None) -> str:
    """What an out-of-memory says: the step, the micro-batch, the memory, what to change."""
    shape = f" ({micro[0]} rows × {micro[1]} positions)" if micro and len(micro) == 2 else ""
    peak = _peak_mb(device) if device.startswith("cuda") else None
    memory = ""
    if peak:
        memory = f"; peak {peak:,.0f} MB"
        if plan is not None:
            memory += f" (the memory plan said {plan.total / 2**20:,.0f} MB)"
    lora = "" if config.lora_r else ", or train LoRA (lora_r 8) instead of every weight"
    return (f"out of memory at step {step} with micro-batch size {config.batch_size}{shape} × "
            f"max_len {config.max_len}{memory}: lower batch_size and raise grad_accum to keep "
            f"the same effective batch (batch_size × grad_accum), or lower max_len{lora}. "
            f"Last good checkpoint: {latest or 'none'}")


def _checkpoint_mb(model) -> float:
    """About what a checkpoint takes on disk: fp32 weights plus two AdamW moments."""
    return sum(p.numel() for p in model.parameters()) * 4 * 3 / 2**20


class NonFinite(Exception):
    def __init__(self, value: float) -> None:
        super().__init__(str(value))
        self.value = value


def _evaluated_now(config: TrainConfig, step: int, at_end: bool) -> bool:
    return at_end or bool(config.eval_every and step % config.eval_every == 0) or \
        bool(config.save_every and step % config.save_every == 0)


def _is_oom(err: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", ())
    return isinstance(err, oom) or "out of memory" in str(err).lower()


def _grad_norm(model) -> float:
    import torch

    norms = [p.grad.detach().norm() for p in model.parameters() if p.grad is not None]
    return float(torch.norm(torch.stack(norms))) if norms else 0.0


def _resume_folder(session: Path, which: str | None = None) -> Path:
    from ..sessions import resolve_checkpoint

    return resolve_checkpoint(session, which or "latest")


def _get_rng() -> dict:
    import torch

    np_state = np.random.get_state()
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng(state: dict) -> None:
    import torch

    random.setstate(_tuplify(state["python"]))
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x
