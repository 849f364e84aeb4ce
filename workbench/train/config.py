"""The training configuration: one dataclass, read from and written to TOML.

Each field's docstring is its help text (the Train screen shows it beside the field, and
`field_help()` reads it). `validate()` checks everything before a run starts and names the
field that is wrong.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..constants import (BALANCE_STRATEGIES, BATCHERS, DEVICES, DTYPES, HEAD_VOCABS, LOSS_ON,
                         SCHEDULES)
from ..errors import WorkbenchError

COMPILE = ("auto", "on", "off")
"""torch.compile for the training step: auto (on for CUDA, off elsewhere), on, or off."""

CHOICES: dict[str, tuple[str, ...]] = {
    "loss_on": LOSS_ON, "batcher": BATCHERS, "schedule": SCHEDULES, "dtype": DTYPES,
    "device": DEVICES, "balance_strategy": BALANCE_STRATEGIES, "head_vocab": HEAD_VOCABS,
    "compile": COMPILE,
}
"""The fields that take one of a few values, and the values (argparse's `choices`, the Train
form's drop-downs, the Batches screen's cycling keys). `device` also takes `cuda:N`."""


@dataclass
class TrainConfig:
    # -- model ------------------------------------------------------------------------
    model: str = "demo-base"
    """Model to fine-tune: a Hub id (gpt2, roneneldan/TinyStories-33M), a local HF folder
    (GPT-2 or GPT-Neo), a session (NAME, NAME@best), `scratch` for a new random GPT-2 of the
    sizes below, or `scratch:SIZE` for one of a preset size (gpt2, gpt2-medium, gpt2-large,
    gpt2-xl, tinystories-1m/3m/8m/28m/33m)."""
    revision: str = ""
    """Hub revision (commit, tag or branch) to pin; empty for the default branch."""
    tokenizer: str = "gpt2"
    """Tokenizer for a `scratch` model: gpt2, bytes, or a folder. Ignored otherwise (the
    model's own tokenizer is used)."""
    n_layer: int = 4
    """Layers of a `scratch` model."""
    n_head: int = 4
    """Attention heads of a `scratch` model."""
    n_embd: int = 256
    """Width of a `scratch` model."""
    n_positions: int = 512
    """Context length of a `scratch` model."""
    lora_r: int = 0
    """LoRA rank: train a low-rank update of the lora_targets layers and freeze the rest
    (0: a full fine-tune). The checkpoints are PEFT adapters."""
    lora_alpha: float = 16.0
    """LoRA scaling numerator: the update is multiplied by lora_alpha / lora_r."""
    lora_dropout: float = 0.0
    """Dropout on the LoRA branch's input."""
    lora_targets: str = ""
    """Linear layers to adapt, by name, comma-separated (c_attn, c_proj, c_fc, q_proj, ...);
    empty for the family's usual ones (GPT-2: c_attn; GPT-Neo: q_proj,v_proj)."""

    # -- data ---------------------------------------------------------------------------
    data: str = ""
    """Training data: a file, a folder, or a Hub dataset id (anything `workbench data` takes)."""
    format: str = ""
    """Row format; empty to detect (alpaca, chat, sharegpt, prompt-completion, text, ...)."""
    split: str = "train"
    """Split to train on."""
    val_split: str = ""
    """Split to validate on; empty to use `validation` if the data has one, else `val_ratio`."""
    val_ratio: float = 0.05
    """Share of the training split held out for validation when there is no validation split
    (0 for none)."""
    balance_label: str = ""
    """Balance the training data by this label (e.g. ending); empty for no balancing."""
    balance_strategy: str = "undersample"
    """undersample, oversample, or ratio (see `workbench data balance`)."""
    balance_ratio: str = ""
    """For ratio: shares (happy=0.5,sad=0.5) or caps (happy=1000,sad=500)."""
    template: str = ""
    """Prompt template (alpaca, alpaca-ch7, phi3, chatml, story, inst-resp, text, or a .toml
    file); empty for the model's saved template, else the data format's usual one."""
    loss_on: str = "response"
    """response: train only on answers (and their end token); all: the prompt too."""
    max_len: int = 0
    """Positions per row; longer examples lose the end of their response (counted). 0:
    auto, the model's context capped at 512 (the run records the number it used)."""
    head_vocab: str = "full"
    """full: the LM head's softmax over the whole vocabulary (normal training). data: only
    over the token ids that occur in the training and validation data, a shortcut for
    pretraining a small model on a narrow corpus (the loss is then over those ids)."""
    batcher: str = "grouped"
    """random, grouped (similar lengths together: little padding), or packed (several
    examples per row, attention kept inside each)."""

    # -- optimisation ---------------------------------------------------------------------
    batch_size: int = 8
    """Rows per micro-batch."""
    grad_accum: int = 1
    """Micro-batches per optimizer step."""
    epochs: float = 1.0
    """Passes over the training data (used when max_steps is 0)."""
    max_steps: int = 0
    """Optimizer steps to run; 0 to derive from epochs."""
    lr: float = 0.0
    """Peak learning rate (SFT: 5-20% of the pretraining rate). 0: auto, by the model's size
    and LoRA: 1e-3 under 30M parameters, else 5e-5 (full) or 2e-4 (LoRA); the run records
    the rate it used."""
    warmup_steps: int = 0
    """Steps of linear warmup from 0 to lr."""
    schedule: str = "cosine"
    """After warmup: cosine or linear decay to min_lr_ratio × lr, or constant."""
    min_lr_ratio: float = 0.1
    """Final learning rate as a share of lr."""
    weight_decay: float = 0.1
    """AdamW weight decay (not applied to biases and LayerNorm weights)."""
    beta1: float = 0.9
    """AdamW beta1."""
    beta2: float = 0.95
    """AdamW beta2."""
    grad_clip: float = 1.0
    """Clip the gradient norm to this (0 for no clipping)."""

    # -- evaluation, checkpoints, samples --------------------------------------------------
    eval_every: int = 50
    """Validation loss every N steps (0 for only at the end)."""
    eval_batches: int = 0
    """Validation batches per evaluation (0 for all)."""
    eval_prompts: str = ""
    """A prompts file answered greedily at every evaluation (JSONL: prompt, input, reference,
    category, ending; see `workbench compare`): exact match, token F1 per category and a
    story's ending adherence go to eval.jsonl and the plot. Use held-out prompts (the run
    says how many also appear in its training data)."""
    eval_max_new_tokens: int = 64
    """Longest answer to an eval prompt."""
    save_every: int = 100
    """Checkpoint every N steps (0 for only at the end)."""
    keep_last: int = 2
    """Checkpoints to keep besides the best by validation loss."""
    sample_prompts: list[str] = field(default_factory=list)
    """Prompts (rendered with the template) to answer greedily during training. A template
    that needs more than the prompt takes it as last lines, as in Chat (story:
    "a dog finds a bone" then a line "ending: sad")."""
    sample_every: int = 100
    """Write samples every N steps (0 for only at the end)."""
    sample_max_new_tokens: int = 64
    """Longest sample answer."""
    log_every: int = 1
    """Write a metrics line every N steps."""

    # -- run ------------------------------------------------------------------------------
    seed: int = 0
    """Seed for data order, sampling and initialisation."""
    device: str = "auto"
    """auto (cuda > mps > cpu), cuda, cuda:N (one GPU of several), mps, or cpu."""
    dtype: str = "auto"
    """auto (bf16 autocast on CUDA, and on a CPU whose bf16 matmul measures ≥1.5x fp32;
    fp32 elsewhere), fp32, or bf16 (CUDA or CPU; not MPS)."""
    compile: str = "auto"
    """torch.compile the model's blocks for training: auto (on for CUDA, off elsewhere), on,
    or off. The first step then takes longer (compiling; the log says how long); checkpoints
    are the same either way."""
    threads: int = 0
    """CPU threads for torch (0: torch's default)."""
    nproc: int = 1
    """Processes (GPUs) for data-parallel training under torchrun; 1 for one."""

    # ------------------------------------------------------------------------------------
    def problems(self) -> dict[str, str]:
        """Every field that is wrong, at once: {field: what is wrong (and what it got)}.

        The Train form marks each of them, argparse and `validate()` report them, and the
        recipe refuses a config that has any. A field whose value cannot be checked while
        another is wrong (n_embd against a bad n_head) is only checked when that one is right.
        """
        out: dict[str, str] = {}

        def bad(name: str, why: str) -> None:
            out.setdefault(name, f"{why} (got {getattr(self, name)!r})")

        if not self.model:
            bad("model", "a model is needed (a Hub id, a folder, a session, or scratch)")
        if not self.data:
            bad("data", "a data source is needed")
        for name in ("n_layer", "n_head", "n_embd", "n_positions", "batch_size",
                     "grad_accum", "sample_max_new_tokens", "log_every", "nproc",
                     "eval_max_new_tokens"):
            if getattr(self, name) < 1:
                bad(name, "must be at least 1")
        if self.max_len < 0:
            bad("max_len", "must be at least 1 (or 0 for the model's context, at most 512)")
        if self.model == "scratch" and self.n_head >= 1 and self.n_embd % self.n_head:
            bad("n_embd", f"must be divisible by n_head ({self.n_head})")
        if self.model.startswith("scratch:"):
            from ..model.sizes import PRESETS

            if self.model.split(":", 1)[1].lower() not in PRESETS:
                bad("model", f"scratch:SIZE takes one of {', '.join(PRESETS)}")
        for name in ("max_steps", "warmup_steps", "eval_every", "eval_batches", "save_every",
                     "keep_last", "sample_every", "threads", "seed", "lora_r"):
            if getattr(self, name) < 0:
                bad(name, "must not be negative")
        if not (self.epochs > 0 or self.max_steps > 0) or not math.isfinite(self.epochs):
            bad("epochs", "must be positive when max_steps is 0")
        if not (self.lr >= 0 and math.isfinite(self.lr)):
            bad("lr", "must be a positive number (or 0 for one chosen by the model's size)")
        if not 0 <= self.min_lr_ratio <= 1:
            bad("min_lr_ratio", "must be between 0 and 1")
        if not 0 <= self.val_ratio < 1:
            bad("val_ratio", "must be in [0, 1)")
        if not self.weight_decay >= 0:
            bad("weight_decay", "must not be negative")
        if not self.grad_clip >= 0:
            bad("grad_clip", "must not be negative (0 turns clipping off)")
        for name in ("beta1", "beta2", "lora_dropout"):
            if not 0 <= getattr(self, name) < 1:
                bad(name, "must be in [0, 1)")
        if self.lora_r and not (self.lora_alpha > 0 and math.isfinite(self.lora_alpha)):
            bad("lora_alpha", "must be a positive number")
        if self.lora_targets and not all(t.strip().isidentifier()
                                         for t in self.lora_targets.split(",") if t.strip()):
            bad("lora_targets", "layer names separated by commas (c_attn, q_proj, ...)")
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if name == "device" and value.startswith("cuda:") and value[5:].isdigit():
                continue  # one GPU of several
            if value not in allowed:
                bad(name, f"must be one of {', '.join(allowed)}")
        if self.balance_label and self.balance_strategy == "ratio" and not self.balance_ratio:
            bad("balance_ratio", "the ratio strategy needs shares or caps")
        if not isinstance(self.sample_prompts, list) or not all(
                isinstance(p, str) for p in self.sample_prompts):
            bad("sample_prompts", "must be a list of strings")
        elif self.sample_prompts and self.template:
            why = self._sample_prompt_problem()
            if why:
                out.setdefault("sample_prompts", why)
        return out

    def _sample_prompt_problem(self) -> str | None:
        """Why a sample prompt cannot be rendered with the chosen template (a field the
        template needs besides the prompt, such as the story template's ending), or None.
        An empty template is resolved from the model or the data: the run checks that one
        before its first step."""
        from ..templates import get_template, sample_prompt_problem

        try:
            template = get_template(self.template)
        except WorkbenchError:
            return None  # an unknown template is the recipe's to report
        return sample_prompt_problem(self.sample_prompts, template)

    def validate(self) -> "TrainConfig":
        """Raise WorkbenchError naming every field that is wrong (the first one first)."""
        problems = self.problems()
        if problems:
            first, why = next(iter(problems.items()))
            more = (f"; also {', '.join(list(problems)[1:])}" if len(problems) > 1 else "")
            raise WorkbenchError(f"config field {first!r}: {why}{more}")
        return self

    # ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> "TrainConfig":
        """Build from a flat dict or one grouped in sections ([model], [data], ...)."""
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, dict) and key in SECTIONS:
                flat.update(value)
            else:
                flat[key] = value
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(flat) - set(known))
        if unknown:
            raise WorkbenchError(f"{where}: unknown field {unknown[0]!r} "
                                 f"(see `workbench train --help-config`)")
        kwargs = {}
        for name, value in flat.items():
            kwargs[name] = _coerce(name, value, known[name], where)
        return cls(**kwargs)

    def to_toml(self) -> str:
        from ..templates import toml_value

        lines = ["# SFT Workbench training config (workbench train CONFIG.toml)"]
        for section, names in SECTIONS.items():
            lines.append(f"\n[{section}]")
            for name in names:
                value = getattr(self, name)
                lines.append(f"{name} = {toml_value(value)}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, path: str | Path) -> "TrainConfig":
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WorkbenchError(f"{path}: no such config file") from None
        except (OSError, UnicodeDecodeError) as err:
            raise WorkbenchError(f"{path}: cannot read ({err})") from None
        except tomllib.TOMLDecodeError as err:
            raise WorkbenchError(f"{path}: not valid TOML ({err})") from None
        return cls.from_dict(data, str(path))


SECTIONS: dict[str, list[str]] = {
    "model": ["model", "revision", "tokenizer", "n_layer", "n_head", "n_embd", "n_positions",
              "lora_r", "lora_alpha", "lora_dropout", "lora_targets"],
    "data": ["data", "format", "split", "val_split", "val_ratio", "balance_label",
             "balance_strategy", "balance_ratio", "template", "loss_on", "max_len", "head_vocab",
             "batcher"],
    "optimisation": ["batch_size", "grad_accum", "epochs", "max_steps", "lr", "warmup_steps",
                     "schedule", "min_lr_ratio", "weight_decay", "beta1", "beta2", "grad_clip"],
    "evaluation": ["eval_every", "eval_batches", "eval_prompts", "eval_max_new_tokens",
                   "save_every", "keep_last", "sample_prompts",
                   "sample_every", "sample_max_new_tokens", "log_every"],
    "run": ["seed", "device", "dtype", "compile", "threads", "nproc"],
}


def _coerce(name: str, value: Any, f, where: str) -> Any:
    """TOML gives ints for floats and so on; check and convert to the field's type."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "str":
            if not isinstance(value, str):
                raise ValueError
            return value
        if kind.startswith("list"):
            if isinstance(value, str):
                return [value] if value else []
            if not isinstance(value, list):
                raise ValueError
            return [str(v) for v in value]
    except (TypeError, ValueError):
        what = "a list of strings" if kind.startswith("list") else f"a{'n' if kind == 'int' else ''} {kind}"
        raise WorkbenchError(f"{where}: field {name!r} must be {what}, got {value!r}") from None
    return value


@functools.lru_cache(maxsize=1)
def field_help() -> dict[str, str]:
    """Each field's docstring (the string right after its definition), as help text."""
    source = inspect.getsource(TrainConfig)
    tree = ast.parse(source)
    cls = tree.body[0]
    out: dict[str, str] = {}
    body = cls.body  # type: ignore[attr-defined]
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and \
                isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant) \
                and isinstance(nxt.value.value, str):
            out[node.target.id] = " ".join(nxt.value.value.split())
    return out
