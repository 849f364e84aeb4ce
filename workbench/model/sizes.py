"""Model sizes by name, and the memory plan of a run before it starts.

Presets (`scratch:NAME` as a config's model trains a new model of that shape, and the Train
form shows the size of whatever model is set): OpenAI's four GPT-2 sizes and the five
TinyStories models (GPT-Neo; roneneldan/TinyStories-*).

The memory plan counts what a training step holds, per part, in bytes:

* weights: every parameter in fp32 (the master copy; bf16 autocast casts on the fly);
* gradients and AdamW's two moments: 4 and 8 bytes per *trainable* parameter (with LoRA
  only the adapter's);
* activations saved for the backward pass: per layer and per position of a micro-batch,
  about `ACT_FLOATS` floats of the width (the LayerNorm inputs, q/k/v, the attention
  output, the MLP's 4x-wide input and GELU output, the residuals), in fp32, or half of it
  in bf16; SDPA's fused kernels keep no T x T matrix;
* the LM head's loss: one chunk of logits and its softmax, and (when the embedding is
  trained) a gradient buffer the size of the embedding;
* a checkpoint being written: the Hugging Face layout's transposed copies of GPT-2's
  Conv1D weights (none for an adapter). Activations are gone by then, so a step's peak is
  the larger of the two;
* the runtime itself (torch, the data): `RUNTIME_BYTES`.

`ACT_FLOATS` was fitted to the peak memory measured on the CPU for gpt2 and gpt2-medium,
full and LoRA (bench/bench_lora_memory.py prints the estimate beside the measured peak).
"""

from __future__ import annotations

from dataclasses import dataclass

PRESETS: dict[str, dict] = {
    "gpt2": dict(family="gpt2", n_layer=12, n_head=12, n_embd=768, n_positions=1024),
    "gpt2-medium": dict(family="gpt2", n_layer=24, n_head=16, n_embd=1024, n_positions=1024),
    "gpt2-large": dict(family="gpt2", n_layer=36, n_head=20, n_embd=1280, n_positions=1024),
    "gpt2-xl": dict(family="gpt2", n_layer=48, n_head=25, n_embd=1600, n_positions=1024),
    "tinystories-1m": dict(family="gpt_neo", n_layer=8, n_head=16, n_embd=64, n_positions=2048),
    "tinystories-3m": dict(family="gpt_neo", n_layer=8, n_head=16, n_embd=128, n_positions=2048),
    "tinystories-8m": dict(family="gpt_neo", n_layer=8, n_head=16, n_embd=256, n_positions=2048),
    "tinystories-28m": dict(family="gpt_neo", n_layer=8, n_head=16, n_embd=512, n_positions=2048),
    "tinystories-33m": dict(family="gpt_neo", n_layer=4, n_head=16, n_embd=768, n_positions=2048),
}
"""name -> GPTConfig fields (GPT-Neo: alternating global/local layers, window 256)."""

AUTO_MAX_LEN = 512     # max_len 0 (auto): the model's context, at most this many positions
TINY_PARAMS = 30_000_000   # below this many parameters a model gets the tiny-model lr

ACT_FLOATS = 28        # floats of width C saved per layer and position (fitted, fp32)
RUNTIME_BYTES = 450 * 2**20   # torch, tokenizer and data in a training process (CPU, fitted)
HEAD_CHUNK = 256       # rows of logits ChunkedHeadLoss holds at once


def preset_config(name: str, vocab_size: int):
    """The GPTConfig of preset `name` with this vocabulary."""
    from ..errors import WorkbenchError
    from .gpt2 import GPTConfig

    key = name.lower()
    if key not in PRESETS:
        raise WorkbenchError(f"model size {name!r}: not one of {', '.join(PRESETS)}")
    fields = dict(PRESETS[key])
    if fields["family"] == "gpt_neo":
        fields["attention_layers"] = ("global", "local") * (fields["n_layer"] // 2)
        fields["window_size"] = 256
    return GPTConfig(vocab_size=vocab_size, **fields)


def auto_max_len(n_positions: int | None) -> tuple[int, str]:
    """The positions per row of a run whose max_len is 0 (auto), and why: the model's
    context, at most `AUTO_MAX_LEN` (512: longer rows cost memory and time in proportion,
    and instruction data rarely needs them); `AUTO_MAX_LEN` while the model is not known."""
    if not n_positions:
        return AUTO_MAX_LEN, f"the model is not known yet; {AUTO_MAX_LEN} until it is"
    if n_positions <= AUTO_MAX_LEN:
        return n_positions, f"the model's context is {n_positions} positions"
    return AUTO_MAX_LEN, (f"the model's context is {n_positions} positions, capped at "
                          f"{AUTO_MAX_LEN}")


def suggest_lr(n_params: int, lora: bool) -> tuple[float, str]:
    """The peak learning rate of a run whose lr is 0 (auto), and where it comes from in one
    short phrase. By the model's parameter count (the tied head counted once) and whether
    only a LoRA adapter is trained:

    | parameters                            | full fine-tune | LoRA |
    |---------------------------------------|----------------|------|
    | under 30M (demo base 3.45M, TinyStories-1M/3M/8M) | 1e-3 | 1e-3 |
    | 30M and more (gpt2 124M, gpt2-medium 355M, ...)   | 5e-5 | 2e-4 |

    * 1e-3 under 30M: this repository's own measurement, the seed 002 lr sweep on the
      3.45M demo base (README, "Seed pipelines"): at 3e-4 the model has not learned to stop
      (no-stop 0.75), at 3e-3 it forgets its story language most (plain-text loss 7.72),
      1e-3 stops every time and forgets less; seeds 000 and 001 train at 1e-3 too. Nothing
      is measured for LoRA at this size; it gets the same rate (LoRA is run at or above the
      full rate, below).
    * 5e-5 from 30M, full: Raschka, LLMs-from-scratch chapter 7 fine-tunes gpt2-medium
      (355M) at 5e-5 (AdamW, weight decay 0.1); the seed 000 post fine-tunes its 30M and
      125M TinyStories GPT-2s at 5e-5 too.
    * 2e-4 from 30M, LoRA: the LoRA paper's GPT-2 Medium recipe (Hu et al. 2021,
      microsoft/LoRA examples/NLG: r 4, alpha 32, lr 2e-4); QLoRA uses 2e-4 for its
      smaller (7B, 13B) models. The adapter starts at zero and is small, so it takes a
      higher rate than the whole model.
    """
    size = (f"{n_params / 1e9:.3g}B" if n_params >= 1e9 else f"{n_params / 1e6:.3g}M"
            if n_params >= 1e6 else f"{n_params / 1e3:.3g}K")
    what = f"LoRA on {size} parameters" if lora else f"full fine-tune of {size} parameters"
    if n_params < TINY_PARAMS:
        return 1e-3, f"{what}; seed 002's lr sweep on the 3.45M demo base (README)"
    if lora:
        return 2e-4, f"{what}; the LoRA paper's GPT-2 recipe uses 2e-4"
    return 5e-5, f"{what}; chapter 7 uses 5e-5"


def count_params(config) -> int:
    """Parameters of a model of this shape (the tied head counted once), without building
    its weights."""
    import torch

    from .gpt2 import GPT
    from .load import _without_init

    with _without_init(), torch.device("meta"):
        return GPT(config).num_params()


def lora_params(config, r: int, targets: tuple[str, ...]) -> int:
    """Trainable parameters of LoRA rank r on the named linear layers of this shape."""
    import torch

    from .gpt2 import GPT
    from .load import _without_init

    with _without_init(), torch.device("meta"):
        model = GPT(config)
    total = 0
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in targets and isinstance(module, torch.nn.Linear):
            total += r * (module.in_features + module.out_features)
    return total


@dataclass
class MemoryPlan:
    """Bytes per part of a training step, and what the device has."""

    params: int
    trainable: int
    weights: int
    gradients: int
    optimizer: int
    activations: int
    head: int
    checkpoint: int
    runtime: int
    available: int | None      # bytes free on the device (None: unknown)
    device: str
    max_len: int = 0           # positions per row planned for (max_len 0 resolved)

    @property
    def total(self) -> int:
        """The peak: what always stays, plus the activations of a step or a checkpoint
        being written, whichever is larger (they never coexist)."""
        return (self.weights + self.gradients + self.optimizer + self.head + self.runtime
                + max(self.activations, self.checkpoint))

    def parts(self) -> list[tuple[str, int]]:
        return [("weights", self.weights), ("gradients", self.gradients),
                ("AdamW state", self.optimizer), ("activations", self.activations),
                ("LM head loss", self.head), ("checkpoint save", self.checkpoint),
                ("runtime", self.runtime)]

    def describe(self, brief: bool = False) -> str:
        """The plan in one line; `brief` leaves out the parts (a narrow terminal)."""
        mb = lambda n: f"{n / 2**20:,.0f} MB"  # noqa: E731
        if brief:
            line = f"{self.params / 1e6:,.1f}M params; memory about {mb(self.total)}"
            if self.available is not None:
                line += f" of {mb(self.available)} free on {self.device}"
            return line
        line = (f"{self.params / 1e6:,.1f}M parameters, {self.trainable / 1e6:,.2f}M trained; "
                f"memory about {mb(self.total)} ("
                + ", ".join(f"{name} {mb(n)}" for name, n in self.parts() if n) + ")")
        if self.available is not None:
            line += f" of {mb(self.available)} free on {self.device}"
        return line

    def verdict(self) -> str:
        """"" when it fits, "warn" above 85% of what is free, "refuse" above it."""
        if self.available is None:
            return ""
        if self.total > self.available:
            return "refuse"
        return "warn" if self.total > 0.85 * self.available else ""

    def advice(self, config) -> str:
        tips = []
        if not config.lora_r:
            tips.append("LoRA (lora_r 8: only the adapter is trained)")
        if config.batch_size > 1:
            tips.append(f"a smaller micro-batch with more accumulation (batch_size "
                        f"{max(1, config.batch_size // 2)}, grad_accum {config.grad_accum * 2})")
        if not self.device.startswith("cpu") and config.dtype != "bf16":
            tips.append("bf16")
        max_len = self.max_len or config.max_len
        if max_len > 256:
            tips.append(f"a shorter max_len ({max_len // 2})")
        return "; ".join(tips)


def plan_memory(model_config, config, *, trainable: int | None = None,
                device: str = "cpu") -> MemoryPlan:
    """The memory plan of training `model_config` with run `config` on `device`."""
    params = count_params(model_config)
    if trainable is None:
        trainable = (lora_params(model_config, config.lora_r, _targets(model_config, config))
                     if config.lora_r else params)
    C, L = model_config.n_embd, model_config.n_layer
    max_len = config.max_len or auto_max_len(model_config.n_positions)[0]  # 0: auto
    tokens = config.batch_size * max_len
    half = device.startswith("cuda") and config.dtype in ("auto", "bf16")
    act_bytes = 2 if half else 4
    activations = int(L * tokens * C * ACT_FLOATS * act_bytes)
    V = model_config.vocab_size
    full = trainable == params
    head = HEAD_CHUNK * V * 4 * 2 + (V * C * 4 if full else 0)
    inner = model_config.n_inner or 4 * C
    conv1d = L * (4 * C * C + 2 * C * inner) if model_config.family == "gpt2" else 0
    return MemoryPlan(params=params, trainable=trainable, weights=params * 4,
                      gradients=trainable * 4, optimizer=trainable * 8, activations=activations,
                      head=head, checkpoint=conv1d * 4 if full else 0,
                      runtime=RUNTIME_BYTES if device.startswith("cpu") else 0,
                      available=device_free_bytes(device), device=device, max_len=max_len)


def model_config_for(config, sessions_dir=None):
    """The GPTConfig the run of `config` will train, read without its weights: a scratch
    model's (or preset's) shape, or the model's config.json (a LoRA checkpoint: its base's)."""
    from ..errors import WorkbenchError
    from .gpt2 import GPTConfig
    from .load import _read_workbench_json, config_from_hf, locate_model, _read_json_object
    from .lora import ADAPTER_CONFIG

    if config.model.startswith("scratch"):
        from ..tokenizer import load_tokenizer

        vocab = load_tokenizer(config.tokenizer).n_vocab
        if ":" in config.model:
            return preset_config(config.model.split(":", 1)[1], vocab)
        return GPTConfig(n_layer=config.n_layer, n_head=config.n_head, n_embd=config.n_embd,
                         n_positions=config.n_positions, vocab_size=vocab)
    spec = config.model
    for _ in range(4):  # an adapter names its base; a base may be a session of its own
        folder, _source, _info = locate_model(spec, revision=config.revision or None,
                                              sessions_dir=sessions_dir, weights=False)
        if not (folder / ADAPTER_CONFIG).is_file():
            return config_from_hf(_read_json_object(folder / "config.json"),
                                  str(folder / "config.json"))
        spec = (_read_workbench_json(folder).get("lora") or {}).get("base") or ""
        if not spec:
            break
    raise WorkbenchError(f"model {config.model}: cannot tell its size (an adapter with no base)")


def plan_for(config, sessions_dir=None, device: str | None = None) -> MemoryPlan:
    """The memory plan of `config`'s run, on its device (resolved)."""
    if device is None:
        from ..device import pick_device

        device = pick_device(config.device)
    return plan_memory(model_config_for(config, sessions_dir), config, device=device)


def _targets(model_config, config) -> tuple[str, ...]:
    from .lora import DEFAULT_TARGETS

    names = tuple(t.strip() for t in config.lora_targets.split(",") if t.strip())
    return names or DEFAULT_TARGETS[model_config.family]


def device_free_bytes(device: str) -> int | None:
    """Bytes free for a run on `device`: CUDA's free memory, else the machine's available
    memory (/proc/meminfo MemAvailable)."""
    if device.startswith("cuda"):
        try:
            import torch

            index = int(device.split(":")[1]) if ":" in device else 0
            return int(torch.cuda.mem_get_info(index)[0])
        except Exception:  # noqa: BLE001 - no CUDA here
            return None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(config, sessions_dir=None) -> MemoryPlan | None:
    """The plan of `config`'s run; a WorkbenchError (with what to change) when it will not
    fit on its device. None when the model cannot be sized (the run reports that itself)."""
    from ..errors import WorkbenchError

    try:
        plan = plan_for(config, sessions_dir)
    except WorkbenchError:
        return None
    if plan.verdict() == "refuse":
        raise WorkbenchError(f"this run will not fit: {plan.describe()}; try "
                             f"{plan.advice(config)}")
    return plan
