"""The demo kit: the demo datasets, and the demo base model pretrained on the story corpus by
the workbench's own trainer (`workbench demo build`).

Everything here is made by the project's own code from fixed seeds:

* `data/demo/` (generated on demand, seconds): `stories.jsonl` (the pretraining corpus),
  `tinystories-instruct.txt` (TinyStoriesInstruct raw rows, 92% happy / 8% sad),
  `story-prompts.jsonl` (summaries asked with a happy and with a sad ending, for ending
  adherence), `tasks/{train,test}.jsonl` (six task kinds, seed 001), `chatml/train.jsonl`,
  `chatml-eval.jsonl`, `forgetting.jsonl` (held-out stories: plain text for the forgetting
  measurement of seed 002), `alpaca-prompts.jsonl`.
* `sessions/demo-base-pretrain/` and `sessions/demo-base/` (shipped in the repository): the
  two runs of the recipe (see `build_base`). `demo-base` is a normal session whose checkpoint is
  a small GPT-2 (GPT-2 architecture and tokenizer) that writes stories and does not follow
  instructions. The shipped weights are stored in float16 to keep the repository small; they
  load as float32. Its trainer state (optimizer) is not shipped, so it cannot be resumed:
  rebuild it instead.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import WorkbenchError

REPO = Path(__file__).resolve().parent.parent.parent
DEMO_SESSION = "demo-base"
DATA_DIR = Path("data") / "demo"

# The demo base model: small enough to ship (the 50257-row embedding is most of it).
BASE_CONFIG = dict(
    model="scratch", tokenizer="gpt2", n_layer=4, n_head=4, n_embd=64, n_positions=512,
    format="text", template="text", loss_on="all", max_len=512, batcher="packed",
    head_vocab="data",
    batch_size=8, grad_accum=1, lr=3e-3, warmup_steps=50, schedule="cosine", min_lr_ratio=0.1,
    weight_decay=0.1, grad_clip=1.0, eval_every=100, eval_batches=10, save_every=0,
    keep_last=1, sample_prompts=["Once upon a time", "Once upon a time, there was a little girl",
                                 "Tom had a red ball."],
    sample_every=200, sample_max_new_tokens=120, val_ratio=0.02, seed=0, threads=0,
)
STORIES = 20_000
INSTRUCT_EXAMPLES = 6_000


@dataclass
class DemoPaths:
    root: Path

    @property
    def stories(self) -> Path:
        return self.root / "stories.jsonl"

    @property
    def instruct(self) -> Path:
        return self.root / "tinystories-instruct.txt"

    @property
    def story_prompts(self) -> Path:
        return self.root / "story-prompts.jsonl"

    @property
    def tasks(self) -> Path:
        return self.root / "tasks"

    @property
    def lesson(self) -> Path:
        """Seed 001's data as the lesson draws it (train.jsonl, test.jsonl)."""
        return self.root / "lesson-001"

    @property
    def chatml(self) -> Path:
        return self.root / "chatml"

    @property
    def chatml_eval(self) -> Path:
        return self.root / "chatml-eval.jsonl"

    @property
    def forgetting(self) -> Path:
        return self.root / "forgetting.jsonl"

    @property
    def alpaca_prompts(self) -> Path:
        return self.root / "alpaca-prompts.jsonl"


def write_demo_data(root: str | os.PathLike = DATA_DIR, *, force: bool = False,
                    stories: int = STORIES, instruct: int = INSTRUCT_EXAMPLES,
                    corpus: bool = True) -> DemoPaths:
    """Write every demo dataset that is missing (all of them with `force`). `corpus=False`
    skips the pretraining corpus (only `demo build` needs it; the rest takes under a second)."""
    from . import chatml, stories as st, tasks, tinystories

    p = DemoPaths(Path(root))
    p.root.mkdir(parents=True, exist_ok=True)

    def need(path: Path) -> bool:
        return force or not path.exists()

    if corpus and need(p.stories):
        st.write_story_corpus(p.stories, n=stories, seed=0, sad_share=0.5)
    if need(p.instruct):
        tinystories.write_tinystories_raw(p.instruct, instruct, seed=1, sad_share=0.08)
    if need(p.story_prompts):
        _write_jsonl(p.story_prompts, [
            {"prompt": item["summary"], "summary": item["summary"], "ending": item["ending"]}
            for item in _story_prompt_rows()])
    if need(p.tasks / "train.jsonl") or need(p.tasks / "test.jsonl"):
        tasks.write_tasks(p.tasks, n_train=2000, n_test=200, seed=0)
    if need(p.lesson / "train.jsonl") or need(p.lesson / "test.jsonl"):
        from .lesson import write_lesson_data

        write_lesson_data(p.lesson)
    if need(p.chatml / "train.jsonl"):
        chatml.write_chatml(p.chatml / "train.jsonl")
    if need(p.chatml_eval):
        chatml.write_chatml_eval(p.chatml_eval)
    if need(p.forgetting):
        # held-out stories from the pretraining distribution (another seed): plain text whose
        # loss before and after SFT measures forgetting of what the base model learned
        st.write_story_corpus(p.forgetting, n=200, seed=99, sad_share=0.5)
    if need(p.alpaca_prompts):
        _write_jsonl(p.alpaca_prompts, ALPACA_PROMPTS)
    return p


def _story_prompt_rows() -> list[dict]:
    from .tinystories import story_prompts

    return story_prompts(n=20, seed=0)


ALPACA_PROMPTS = [
    {"prompt": "Convert the active sentence to passive: 'The chef cooks the meal every day.'",
     "reference": "The meal is cooked every day by the chef."},
    {"prompt": "What is an antonym of 'complicated'?", "reference": "An antonym of 'complicated' is 'simple'."},
    {"prompt": "Name the capital of Italy.", "reference": "The capital of Italy is Rome."},
    {"prompt": "Rewrite the sentence using a simile.", "input": "The car is very fast.",
     "reference": "The car is as fast as lightning."},
    {"prompt": "What type of cloud is typically associated with thunderstorms?",
     "reference": "The type of cloud typically associated with thunderstorms is cumulonimbus."},
    {"prompt": "Translate 'thank you' into Spanish.", "reference": "Gracias."},
]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------
# The demo base model


def base_config(data: Path, *, tokenizer: str = "gpt2", max_steps: int = 1500, **overrides):
    from ..train.config import TrainConfig

    cfg = dict(BASE_CONFIG, data=str(data), tokenizer=tokenizer, max_steps=max_steps)
    cfg.update(overrides)
    return TrainConfig(**cfg)


CALIBRATION_STEPS = 100


def build_base(*, sessions_dir: str | os.PathLike = "sessions", data_dir: str | os.PathLike = DATA_DIR,
               tokenizer: str = "gpt2", max_steps: int = 1500, name: str = DEMO_SESSION,
               calibration_steps: int = CALIBRATION_STEPS, force: bool = False, echo: bool = True,
               **overrides) -> Path:
    """Pretrain the demo base model with `workbench train` in text mode, in two runs:

    1. `<name>-pretrain`: `max_steps` steps with head_vocab = data (the softmax over the ~1,500
       token ids the stories use: 15x cheaper than over all 50,257);
    2. `<name>`: `calibration_steps` more from there with the full softmax, which pushes the
       ids the stories never use down (after run 1 they hold a few % of the probability).

    Then the final checkpoint is made shippable (float16 weights, no optimizer state); run 1
    keeps its config, curves, samples and log but not its checkpoint (its weights live on in
    run 2), so the Sessions screen shows the whole recipe."""
    from ..train import loop

    paths = write_demo_data(data_dir)
    root = Path(sessions_dir)
    session, pretrain = root / name, root / f"{name}-pretrain"
    for folder in (session, pretrain):
        if folder.exists():
            if not force:
                raise WorkbenchError(f"{folder} exists; pass --force to rebuild it")
            shutil.rmtree(folder)
    config = base_config(paths.stories, tokenizer=tokenizer, max_steps=max_steps, **overrides)
    if loop.run(config, pretrain, echo=echo, sessions_dir=root) != "finished":
        raise WorkbenchError(f"pretraining ended early; see {pretrain / 'train.log'}")
    calibrate = base_config(paths.stories, tokenizer=tokenizer, max_steps=calibration_steps,
                            **{**overrides, **CALIBRATE})
    calibrate.model = pretrain.name
    if loop.run(calibrate, session, echo=echo, sessions_dir=root) != "finished":
        raise WorkbenchError(f"calibration ended early; see {session / 'train.log'}")
    make_shippable(session)
    shutil.rmtree(pretrain / "checkpoints")
    return session


# Run 2 of the recipe: the full softmax, a constant small learning rate.
CALIBRATE = dict(head_vocab="full", lr=1e-3, warmup_steps=10, schedule="constant", eval_every=50,
                 sample_every=100)


def make_shippable(session: Path) -> None:
    """Keep only the final checkpoint, weights in float16, without the trainer state."""
    from safetensors.torch import load_file, save_file

    from ..sessions import read_index, resolve_checkpoint

    final = resolve_checkpoint(session, "latest")
    for other in (session / "checkpoints").glob("step-*"):
        if other != final:
            shutil.rmtree(other)
    (final / "trainer_state.pt").unlink(missing_ok=True)
    weights = final / "model.safetensors"
    state = {k: v.half().contiguous() for k, v in load_file(str(weights)).items()}
    tmp = weights.with_name(".model.safetensors.tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, weights)
    config = json.loads((final / "config.json").read_text())
    config["torch_dtype"] = "float16"
    (final / "config.json").write_text(json.dumps(config, indent=2))
    index = read_index(session)
    index["checkpoints"] = [e for e in index.get("checkpoints", []) if e["name"] == final.name]
    index["best"] = final.name if index.get("best") else None
    (session / "checkpoints" / "index.json").write_text(json.dumps(index, indent=2))


def shipped_base() -> Path | None:
    """The demo base session that ships with the repository (if this is a checkout)."""
    path = REPO / "sessions" / DEMO_SESSION
    return path if (path / "checkpoints").is_dir() else None


FIRST_RUN_SOURCE = "tinystories-instruct.txt"


def first_run_context(sessions_dir: str | os.PathLike, data_dir: str | os.PathLike = DATA_DIR
                      ) -> dict[str, str]:
    """What the app preloads on its first launch: the demo instruction set (written now if
    missing), its template following the data (the story template, the usual one for
    TinyStoriesInstruct), and the demo base model if it is there."""
    paths = write_demo_data(data_dir, corpus=False)
    context = {"source": str(Path(data_dir) / FIRST_RUN_SOURCE), "format": "",
               "template": "", "tokenizer": "gpt2"}
    if (Path(sessions_dir) / DEMO_SESSION / "checkpoints").is_dir():
        context["model"] = DEMO_SESSION
    del paths
    return context
