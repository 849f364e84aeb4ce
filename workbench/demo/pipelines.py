"""The seed pipelines, reproduced headless with numbers (`workbench demo run SEED`).

Each fine-tunes the demo base model with the workbench's own trainer (sessions named
`demo-<seed>-...`, so they show up in the Sessions screen) and measures what its source
document reports:

* 000 (TinyStoriesInstruct balancing): SFT on the imbalanced (92/8) vs the balanced story
  instructions; ending adherence of happy and sad requests, base vs both SFT models.
* 001 (six task kinds): exact match per category on the held-out split, base vs SFT.
* 002 (ChatML-lite): the loss-mask ablation (response vs all), a data-size sweep, a
  learning-rate sweep, with the forgetting measurement (plain-text loss before and after).
* 003/004 (chapter 7): Alpaca SFT with the alpaca-ch7 template on the book's
  instruction-data.json (85/10/5 split in file order); loss, time, and the diagnostics of base
  vs SFT on the test split.

`quick=True` runs a few steps of each, for tests. Results go to `<out>/<seed>/report.json`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import WorkbenchError
from .build import DATA_DIR, DEMO_SESSION, write_demo_data

SEEDS = ("000", "001", "002", "003")


@dataclass
class Context:
    """Where a pipeline reads and writes, and how hard it works."""

    base: str = DEMO_SESSION                 # model spec of the base (a session or folder)
    sessions_dir: Path = Path("sessions")
    data_dir: Path = DATA_DIR
    out: Path = Path("demo-runs")
    quick: bool = False
    rasbt: Path | None = None                # instruction-data.json for seed 003
    log: Callable[[str], None] = print
    threads: int = 0
    results: dict[str, Any] = field(default_factory=dict)

    def steps(self, full: int) -> int:
        return 3 if self.quick else full


def _run_sft(ctx: Context, name: str, data: str, template: str, *, steps: int,
             **overrides) -> Path:
    """One SFT run of the base model, as `workbench train` would do it."""
    from ..train import loop
    from ..train.config import TrainConfig

    session = ctx.sessions_dir / name
    if session.exists():
        import shutil

        shutil.rmtree(session)
    cfg = dict(model=ctx.base, data=data, template=template, loss_on="response", max_len=512,
               batcher="packed", batch_size=8, lr=1e-3, warmup_steps=min(20, steps // 5),
               max_steps=steps, eval_every=max(1, steps // 4), eval_batches=10, save_every=0,
               keep_last=1,
               sample_prompts=[], val_ratio=0.05, seed=0, threads=ctx.threads)
    cfg.update(overrides)
    config = TrainConfig(**cfg)
    t = time.time()
    state = loop.run(config, session, sessions_dir=ctx.sessions_dir)
    if state != "finished":
        raise WorkbenchError(f"{name}: training ended {state}; see {session / 'train.log'}")
    ctx.log(f"  trained {name}: {steps} steps in {time.time() - t:.0f} s")
    return session


def _load(spec: str, ctx: Context):
    from ..model import load_model

    return load_model(spec, sessions_dir=ctx.sessions_dir)


def _generate(loaded, template, examples, max_new_tokens: int, temperature: float = 0.0):
    from ..generate import GenerationConfig, generate_for_examples

    return generate_for_examples(loaded, template, examples, GenerationConfig(
        max_new_tokens=max_new_tokens, temperature=temperature, seed=0))


def _diagnosed(loaded, template, items: list[dict], max_new_tokens: int) -> dict:
    """Generate for prompt items and summarize the diagnoses."""
    from ..data.records import Example, Message
    from ..diagnose import diagnose, summarize

    examples = []
    for i, it in enumerate(items):
        if "messages" in it:
            examples.append(Example([Message(m["role"], m["content"]) for m in it["messages"]],
                                    {"row": i}))
        else:
            examples.append(Example.single(it["prompt"], input=it.get("input", ""), row=i,
                                           **{k: v for k, v in it.items()
                                              if k in ("summary", "ending")}))
    results = _generate(loaded, template, examples, max_new_tokens)
    diags = [diagnose(r.text, prompt=template.prompt_text(ex), stop_reason=r.stop_reason,
                      template=template, token_ids=r.token_ids, stop_string=r.stop_string,
                      reference=it.get("reference"), category=it.get("category"),
                      requested_ending=it.get("ending"))
             for ex, r, it in zip(examples, results, items)]
    summary = summarize(diags)
    summary["samples"] = [{"prompt": it.get("prompt") or it.get("messages", [{}])[-1].get("content"),
                           "response": r.text[:300], "stop_reason": r.stop_reason,
                           "flags": d.flagged}
                          for it, r, d in list(zip(items, results, diags))[:3]]
    return summary


def _text_loss(loaded, path: Path) -> float:
    """Mean loss per token of plain text (pretraining-style): how much of the base language
    modelling survives SFT."""
    from ..collate import encode_examples
    from ..data.sources import open_dataset
    from ..templates import get_template
    from ..train.config import TrainConfig
    from ..train.loop import evaluate

    ds = open_dataset(str(path), format="text")
    enc = encode_examples(ds.iter_examples(), get_template("text"), loaded.tokenizer, max_len=512)
    cfg = TrainConfig(data=str(path), batch_size=8, max_len=512)
    loss, _ = evaluate(loaded.model, enc, cfg, loaded.tokenizer.eos_id, loaded.device)
    return loss


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


# ----------------------------------------------------------------------------------------


def seed_000(ctx: Context) -> dict:
    """Imbalanced vs balanced story instructions -> ending adherence (happy and sad asks)."""
    from ..templates import get_template

    paths = write_demo_data(ctx.data_dir)
    prompts = _read_jsonl(paths.story_prompts)
    if ctx.quick:
        prompts = prompts[:4]
    template = get_template("story")
    steps = ctx.steps(200)  # ~3,000 stories seen: 0.5 epoch imbalanced, 5 epochs balanced
    runs = {
        "imbalanced": _run_sft(ctx, "demo-000-imbalanced", str(paths.instruct), "story", steps=steps),
        "balanced": _run_sft(ctx, "demo-000-balanced", str(paths.instruct), "story", steps=steps,
                             balance_label="ending", balance_strategy="undersample"),
    }
    out: dict[str, Any] = {"steps": steps, "prompts": len(prompts), "models": {}}
    for label, spec in [("base", ctx.base)] + [(k, v.name) for k, v in runs.items()]:
        loaded = _load(spec, ctx)
        summary = _diagnosed(loaded, template, prompts, 16 if ctx.quick else 220)
        out["models"][label] = summary
        ending = summary.get("ending") or {}
        ctx.log(f"  {label}: ending accuracy {ending.get('accuracy')}, confusion "
                f"{ending.get('confusion')}")
    out["data"] = {name: _status_report(ctx.sessions_dir / s.name)
                   for name, s in runs.items()}
    return out


def seed_001(ctx: Context) -> dict:
    """Six task kinds: exact match per category on the held-out split, base vs SFT."""
    from ..templates import get_template

    paths = write_demo_data(ctx.data_dir)
    test = _read_jsonl(paths.tasks / "test.jsonl")
    items = [{"prompt": t["instruction"], "input": t.get("input", ""), "reference": t["output"],
              "category": t["category"]} for t in test]
    if ctx.quick:
        items = items[:6]
    session = _run_sft(ctx, "demo-001-tasks", str(paths.tasks / "train.jsonl"), "inst-resp",
                       steps=ctx.steps(150))  # ~10 epochs: packed rows hold ~17 tasks each
    template = get_template("inst-resp")
    out: dict[str, Any] = {"test_items": len(items), "models": {}}
    for label, spec in (("base", ctx.base), ("sft", session.name)):
        summary = _diagnosed(_load(spec, ctx), template, items, 40)
        out["models"][label] = summary
        ctx.log(f"  {label}: exact match {summary.get('exact_match')} · per category "
                f"{ {k: v.get('exact_match') for k, v in (summary.get('by_category') or {}).items()} }")
    return out


def seed_002(ctx: Context) -> dict:
    """ChatML-lite: loss-mask ablation, data-size sweep, LR sweep, forgetting."""
    from ..templates import get_template

    paths = write_demo_data(ctx.data_dir)
    items = []
    for e in _read_jsonl(paths.chatml_eval):  # conversations: the last turn is the reference
        *context, answer = e["messages"]
        items.append({"messages": context, "reference": answer["content"]})
    if ctx.quick:
        items = items[:3]
    template = get_template("chatml")
    base = _load(ctx.base, ctx)
    out: dict[str, Any] = {"base": {"text_loss": _text_loss(base, paths.forgetting),
                                    **_pick(_diagnosed(base, template, items, 48))}}
    ctx.log(f"  base: plain-text loss {out['base']['text_loss']:.3f}")
    full = paths.chatml / "train.jsonl"
    rows = _read_jsonl(full)
    variants: list[tuple[str, dict, Path]] = [
        ("response-lr1e-3-n64", {}, full),
        ("all-lr1e-3-n64", {"loss_on": "all"}, full),
        ("response-lr3e-4-n64", {"lr": 3e-4}, full),
        ("response-lr3e-3-n64", {"lr": 3e-3}, full),
    ]
    for n in (16, 32):
        subset = ctx.out / "002" / f"chatml-{n}.jsonl"
        subset.parent.mkdir(parents=True, exist_ok=True)
        subset.write_text("".join(json.dumps(r) + "\n" for r in rows[:n]))
        variants.append((f"response-lr1e-3-n{n}", {}, subset))
    if ctx.quick:
        variants = variants[:2]
    out["runs"] = {}
    for name, overrides, data in variants:
        # grouped batches of 8 conversations: 150 steps is ~19 epochs of 64 (the course's
        # "100-1000 steps"); packed rows would put the whole set in one step
        session = _run_sft(ctx, f"demo-002-{name}", str(data), "chatml", steps=ctx.steps(150),
                           val_ratio=0.1, batcher="grouped", **overrides)
        loaded = _load(session.name, ctx)
        summary = _pick(_diagnosed(loaded, template, items, 48))
        summary["text_loss"] = _text_loss(loaded, paths.forgetting)
        summary["best_val_loss"] = _status_report(session).get("best_val_loss")
        out["runs"][name] = summary
        ctx.log(f"  {name}: F1 {summary['f1']}, leakage {summary['leakage']}, no-stop "
                f"{summary['no_stop']}, plain-text loss {summary['text_loss']:.3f}")
    return out


def seed_003(ctx: Context) -> dict:
    """Chapter 7: alpaca-ch7 SFT on instruction-data.json (85/10/5 in file order)."""
    from ..templates import get_template

    src = ctx.rasbt or (Path(__file__).resolve().parents[2].parent / "shared" / "data"
                        / "rasbt-instruction-data" / "instruction-data.json")
    if not src.exists():
        raise WorkbenchError(f"seed 003 needs the chapter-7 data: {src} not found (pass --rasbt PATH "
                             "to instruction-data.json)")
    data = json.loads(src.read_text(encoding="utf-8"))
    n = len(data)
    train, test = data[:int(n * 0.85)], data[int(n * 0.85):int(n * 0.95)]
    val = data[int(n * 0.95):]
    folder = ctx.out / "003" / "data"
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("validation", val)):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = [{"prompt": r["instruction"], "input": r.get("input", ""), "reference": r["output"]}
             for r in test]
    if ctx.quick:
        items = items[:4]
    t = time.time()
    steps = ctx.steps(2 * len(train) // 8)   # two epochs of batch 8, as the chapter does
    session = _run_sft(ctx, "demo-003-alpaca-ch7", str(folder), "alpaca-ch7", steps=steps,
                       loss_on="all", lr=5e-4, batcher="grouped", val_ratio=0.0)
    seconds = time.time() - t
    template = get_template("alpaca-ch7")
    out: dict[str, Any] = {"train": len(train), "test": len(test), "steps": steps,
                           "train_seconds": round(seconds, 1), "models": {},
                           "session": _status_report(session)}
    for label, spec in (("base", ctx.base), ("sft", session.name)):
        summary = _diagnosed(_load(spec, ctx), template, items, 64)
        out["models"][label] = _pick(summary) | {"samples": summary["samples"]}
        ctx.log(f"  {label}: leakage {summary['leakage']}, looping {summary['looping']}, no-stop "
                f"{summary['no_stop']}, F1 {summary.get('f1')}")
    return out


def _pick(summary: dict) -> dict:
    keys = ("n", "leakage", "looping", "no_stop", "empty", "echo", "exact_match", "f1",
            "mean_tokens", "stop_reasons", "by_category", "ending")
    return {k: summary.get(k) for k in keys}


def _status_report(session: Path) -> dict:
    from ..sessions import read_status

    st = read_status(session)
    return {k: st.get(k) for k in ("step", "max_steps", "best_val_loss", "data_report", "template")}


PIPELINES = {"000": seed_000, "001": seed_001, "002": seed_002, "003": seed_003}


def run(seed: str, ctx: Context) -> dict:
    seed = {"0": "000", "1": "001", "2": "002", "3": "003", "4": "003", "004": "003"}.get(seed, seed)
    if seed not in PIPELINES:
        raise WorkbenchError(f"unknown seed {seed!r} (choose {', '.join(SEEDS)} or all)")
    ctx.log(f"seed {seed}: {PIPELINES[seed].__doc__.strip().splitlines()[0]}")
    t = time.time()
    result = PIPELINES[seed](ctx)
    result["seconds"] = round(time.time() - t, 1)
    result["quick"] = ctx.quick
    folder = ctx.out / seed
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(result, indent=2, default=str))
    ctx.log(f"seed {seed}: done in {result['seconds']} s -> {folder / 'report.json'}")
    return result
