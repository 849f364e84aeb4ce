"""LoRA: train a low-rank update of some linear layers and freeze everything else.

A targeted `nn.Linear` becomes a `LoRALinear` in place (same weight and bias, so the base
model's parameter names do not change) with two small matrices: y = W x + b + (alpha / r)
B A dropout(x), A (r, in) Kaiming-uniform and B (out, r) zero, so training starts from the
base model exactly. `gpt2.linear` adds the update; nothing else in the model knows.

Checkpoints are PEFT adapters: `adapter_config.json` and `adapter_model.safetensors` with
PEFT's key names (`base_model.model.<module>.lora_A.weight`, (r, in); `lora_B.weight`,
(out, r)), `fan_in_fan_out` true for GPT-2 (whose checkpoints store Conv1D weights), so
`peft.PeftModel.from_pretrained(transformers_model, folder)` loads them. `workbench.json`
records the base model the adapter belongs to. Rows that a template's special tokens add to
the embedding are not trained (they keep the mean of the others, as the full fine-tune
starts them); they are saved in `added_embeddings.safetensors` so the workbench restores
exactly those rows.

The base model behind an adapter can be used without it (`AdaptersOff`): the Chat screen's
base-vs-SFT comparison runs two forward passes over one copy of the base weights. The
switch is per thread, so the two sides can generate at the same time.
"""

from __future__ import annotations

import contextlib
import math
import threading
from dataclasses import asdict, dataclass, field

import torch
import torch.nn as nn

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADDED_EMBEDDINGS = "added_embeddings.safetensors"
DEFAULT_TARGETS = {"gpt2": ("c_attn",), "gpt_neo": ("q_proj", "v_proj")}
PREFIX = "base_model.model."

_OFF = threading.local()


@contextlib.contextmanager
def adapters_disabled():
    """In this thread, LoRA layers compute the base model only."""
    before = getattr(_OFF, "off", False)
    _OFF.off = True
    try:
        yield
    finally:
        _OFF.off = before


def adapters_active() -> bool:
    return not getattr(_OFF, "off", False)


@dataclass
class LoRASpec:
    """What was adapted and how; kept on the model (`model.lora`) and in workbench.json."""

    r: int
    alpha: float
    dropout: float = 0.0
    targets: tuple[str, ...] = ()
    base: str = ""            # the model spec the adapter belongs to (config.model)
    base_source: str = ""     # where that resolved to, for display
    base_vocab: int = 0       # the base model's vocabulary before special tokens were added
    modules: list[str] = field(default_factory=list)  # the adapted modules' names

    @property
    def scaling(self) -> float:
        return self.alpha / self.r

    def to_dict(self) -> dict:
        d = asdict(self)
        d["targets"] = list(self.targets)
        return d


class LoRALinear(nn.Linear):
    """An nn.Linear (frozen) with a trainable low-rank update."""

    def add_lora(self, r: int, alpha: float, dropout: float) -> None:
        self.lora_A = nn.Linear(self.in_features, r, bias=False, device=self.weight.device)
        self.lora_B = nn.Linear(r, self.out_features, bias=False, device=self.weight.device)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))  # as PEFT does
        nn.init.zeros_(self.lora_B.weight)
        self.lora_dropout = nn.Dropout(dropout)
        self.scaling = alpha / r

    def lora_delta(self, x: torch.Tensor) -> torch.Tensor:
        """(alpha / r) B A dropout(x): (..., in) -> (..., out)."""
        return self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling

    def forward(self, x):  # when called as a module (the model calls gpt2.linear)
        y = super().forward(x)
        return y + self.lora_delta(x) if adapters_active() else y

    @torch.no_grad()
    def merged_weight(self) -> torch.Tensor:
        """W + (alpha / r) B A: the weight with the update folded in."""
        return self.weight + (self.lora_B.weight @ self.lora_A.weight) * self.scaling


def targets_for(model, names) -> tuple[str, ...]:
    """The target names given (a comma-separated string or a list), else the family's."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    return tuple(names) or DEFAULT_TARGETS[model.config.family]


def apply_lora(model, r: int, alpha: float, dropout: float = 0.0, targets=(),
               base: str = "", base_source: str = "") -> LoRASpec:
    """Turn the linear layers named by `targets` (their last name: c_attn, q_proj, c_fc, ...)
    into LoRA layers; freeze every other parameter. Returns the spec (also `model.lora`)."""
    from ..errors import WorkbenchError

    targets = targets_for(model, targets)
    modules = []
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in targets and type(module) is nn.Linear:
            module.__class__ = LoRALinear
            module.add_lora(r, alpha, dropout)
            modules.append(name)
    if not modules:
        linears = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                          if isinstance(m, nn.Linear) and n != "lm_head"})
        raise WorkbenchError(f"lora_targets {', '.join(targets)}: no such linear layer in this "
                             f"{model.config.family} model (its linear layers: {', '.join(linears)})")
    for pname, p in model.named_parameters():
        p.requires_grad_(".lora_A." in pname or ".lora_B." in pname)
    spec = LoRASpec(r, float(alpha), float(dropout), targets, base, base_source,
                    model.config.vocab_size, modules)
    model.lora = spec
    return spec


def adapter_state(model) -> dict[str, torch.Tensor]:
    """The adapter's tensors under PEFT's names, on the CPU."""
    out = {}
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            out[f"{PREFIX}{name}.lora_A.weight"] = module.lora_A.weight.detach().cpu().contiguous()
            out[f"{PREFIX}{name}.lora_B.weight"] = module.lora_B.weight.detach().cpu().contiguous()
    return out


def peft_config(spec: LoRASpec, family: str) -> dict:
    """adapter_config.json as PEFT writes it (the fields PEFT reads)."""
    return {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "r": spec.r, "lora_alpha": spec.alpha,
        "lora_dropout": spec.dropout, "target_modules": list(spec.targets),
        "fan_in_fan_out": family == "gpt2", "bias": "none", "modules_to_save": None,
        "base_model_name_or_path": spec.base, "inference_mode": True,
        "init_lora_weights": True, "use_rslora": False, "use_dora": False,
        "layers_to_transform": None, "layers_pattern": None, "rank_pattern": {},
        "alpha_pattern": {}, "revision": None,
    }


def load_adapter(model, state: dict[str, torch.Tensor], where: str) -> None:
    """Put an adapter's tensors into a model that `apply_lora` prepared; every name and
    shape must match."""
    from ..errors import WorkbenchError

    ours = adapter_state(model)
    missing = sorted(set(ours) - set(state))
    extra = sorted(set(state) - set(ours))
    if missing or extra:
        raise WorkbenchError(f"{where}: the adapter does not fit the base model ("
                             + ("missing " + ", ".join(missing[:3]) if missing else "")
                             + ("; " if missing and extra else "")
                             + ("unexpected " + ", ".join(extra[:3]) if extra else "") + ")")
    modules = dict(model.named_modules())
    with torch.no_grad():
        for key, tensor in state.items():
            name, part = key[len(PREFIX):].rsplit(".", 2)[0], key.rsplit(".", 2)[1]
            target = getattr(modules[name], part).weight
            if tuple(tensor.shape) != tuple(target.shape):
                raise WorkbenchError(f"{where}: {key} has shape {tuple(tensor.shape)}, the model "
                                     f"needs {tuple(target.shape)}")
            target.copy_(tensor.to(target.dtype))


@torch.no_grad()
def merge_lora(model) -> None:
    """Fold every adapter into its weight and make the layers plain nn.Linear again."""
    for module in list(model.modules()):
        if isinstance(module, LoRALinear):
            module.weight.copy_(module.merged_weight())
            del module.lora_A, module.lora_B, module.lora_dropout
            module.__class__ = nn.Linear
    for p in model.parameters():
        p.requires_grad_(True)
    model.lora = None


class AdaptersOff(nn.Module):
    """The base model behind a LoRA model, sharing its weights: every call runs with the
    adapters off (in the calling thread only)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.inner = model

    @property
    def config(self):
        return self.inner.config

    def hidden(self, *args, **kwargs):
        with adapters_disabled():
            return self.inner.hidden(*args, **kwargs)

    def logits(self, *args, **kwargs):
        with adapters_disabled():
            return self.inner.logits(*args, **kwargs)

    def forward(self, *args, **kwargs):
        with adapters_disabled():
            return self.inner(*args, **kwargs)

    def target_loss(self, *args, **kwargs):
        with adapters_disabled():
            return self.inner.target_loss(*args, **kwargs)

    def num_params(self, non_embedding: bool = False) -> int:
        return self.inner.num_params(non_embedding)

    def resize_token_embeddings(self, new_vocab: int) -> None:
        """A template's tokens: the shared embedding grows for both sides alike."""
        self.inner.resize_token_embeddings(new_vocab)
