"""Load a GPT-2 model from a Hub id, a local folder, or a workbench session; save one back.

A model folder has the Hugging Face GPT-2 layout, so what the workbench writes loads in
`transformers.GPT2LMHeadModel.from_pretrained(folder)` unchanged, and what the Hub holds
loads here:

```
config.json          model_type "gpt2", n_layer, n_head, n_embd, n_positions, vocab_size, ...
model.safetensors    (or pytorch_model.bin, read with torch.load(weights_only=True))
vocab.json           GPT-2 BPE (tokenizer files, written by Tokenizer.save)
merges.txt
added_tokens.json    the special tokens a template added (<|user|>, ...) and their ids
workbench.json       written by the workbench: the template and the added special tokens
```

Weights: Hugging Face stores `c_attn`, `c_proj`, `c_fc` as Conv1D (in, out); ours are
nn.Linear (out, in), so they are transposed both ways. Keys may carry the `transformer.`
prefix (a GPT2LMHeadModel save) or not (a GPT2Model save, like the original `gpt2`
weights). The `attn.bias` / `attn.masked_bias` buffers of older saves are causal-mask
constants, not weights, and are skipped. The LM head is tied to `wte` and stored once.

No code from a checkpoint ever runs: safetensors holds only tensors, and a `.bin` is read
with `weights_only=True`, which refuses any pickled object that is not a tensor.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import WorkbenchError
from ..fsutil import write_json_atomic
from ..templates import Template, template_from_dict
from ..tokenizer import Tokenizer, load_tokenizer

WORKBENCH_FILE = "workbench.json"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("vocab.json", "merges.txt")
OPTIONAL_FILES = ("workbench.json", "workbench_tokenizer.json", "added_tokens.json")
# Conv1D weights in a Hugging Face GPT-2 checkpoint: stored (in, out), transposed here
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
# causal-mask buffers some saves include; constants, not weights
BUFFERS = (".attn.bias", ".attn.masked_bias", ".attn.attention.bias", ".attn.attention.masked_bias")
# a Hub id: "gpt2", "distilgpt2", "openai-community/gpt2"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


@dataclass
class LoadedModel:
    """A model ready to generate or train.

    Attributes:
        model: the GPT, in eval mode, on its device.
        tokenizer: its tokenizer, with the special tokens it was trained with restored.
        template: the template saved with the checkpoint, or None (a plain Hub model).
        source: where it came from, for display ("hub:gpt2@<commit>", a folder, "session:x@step-40").
        info: kind (hub/folder/session), folder, weights file, revision, params, config, device.
    """

    model: Any
    tokenizer: Tokenizer
    template: Template | None
    source: str
    info: dict = field(default_factory=dict)

    @property
    def device(self) -> str:
        return self.info.get("device", "cpu")


# ----------------------------------------------------------------------------------------
# Loading


def load_model(spec: str | os.PathLike, *, device: str = "cpu", revision: str | None = None,
               sessions_dir: str | os.PathLike | None = None,
               dropout: float = 0.0) -> LoadedModel:
    """Load a model named by `spec`, in this order:

    * a workbench session: `NAME`, `NAME@latest`, `NAME@best`, `NAME@step-N`, `session:NAME`;
    * a local folder in the Hugging Face GPT-2 layout;
    * a Hugging Face Hub id (`revision` pins a branch, tag or commit; HF_TOKEN is honoured;
      with no network, or HF_HUB_OFFLINE=1, it loads from the HF cache).

    `device` is "auto", "cuda", "mps" or "cpu"; `dropout` is set for fine-tuning (the
    checkpoint's own dropout settings are not used). Raises WorkbenchError naming the
    model and the problem.
    """
    from ..device import pick_device

    device = pick_device(device)
    folder, source, info = locate_model(spec, revision=revision, sessions_dir=sessions_dir)
    return _load_folder(folder, device, dropout, source, info, sessions_dir)


def locate_model(spec: str | os.PathLike, *, revision: str | None = None,
                 sessions_dir: str | os.PathLike | None = None,
                 weights: bool = True) -> tuple[Path, str, dict]:
    """(folder, source for display, info) of the model `spec` names (see `load_model` for the
    order). A Hub model is fetched into (or found in) the HF cache; with `weights=False` only
    its small files are, which is all `read_model_files` needs."""
    from ..sessions import default_sessions_dir, find_session, resolve_checkpoint, split_model_spec

    text = str(spec).strip()
    if not text:
        raise WorkbenchError("no model given (a Hub id, a folder, or a session name)")
    session = find_session(text, sessions_dir)
    if session is None and text.startswith("session:"):
        name = split_model_spec(text.removeprefix("session:"))[0]
        raise WorkbenchError(f"model {text}: no session {name!r} in "
                             f"{Path(sessions_dir or default_sessions_dir())}")
    if session is not None or Path(text).expanduser().exists():
        if revision:
            raise WorkbenchError(f"model {text}: --revision applies to Hub ids only, "
                                 "not to a local folder or a session")
    if session is not None:
        which = split_model_spec(text.removeprefix("session:"))[1]
        folder = resolve_checkpoint(session, which)
        return folder, f"session:{session.name}@{folder.name}", {
            "kind": "session", "session": session.name, "checkpoint": folder.name}
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise WorkbenchError(f"model {path}: is a file; give the folder that holds "
                                 "config.json and the weights")
        return path, str(path), {"kind": "folder"}
    if HUB_ID.match(text):
        folder, commit = _fetch_from_hub(text, revision, weights=weights)
        return folder, f"hub:{text}@{commit[:12]}", {"kind": "hub", "repo_id": text,
                                                      "revision": commit}
    raise WorkbenchError(
        f"model {text!r}: not a session in {Path(sessions_dir or default_sessions_dir())}, "
        "not an existing folder, and not a Hugging Face Hub id")


@dataclass
class ModelFiles:
    """What a model's small files say, read without its weights (no torch): its tokenizer
    (with the special tokens it was trained with), the template saved with it, and its size.
    Enough to tokenize data exactly as training on this model will."""

    folder: Path
    source: str
    tokenizer: Tokenizer
    template: Template | None
    n_positions: int
    vocab_size: int


def read_model_files(spec: str | os.PathLike, *, revision: str | None = None,
                     sessions_dir: str | os.PathLike | None = None) -> ModelFiles:
    """`ModelFiles` of the model `spec` names (a session, a folder, or a Hub id)."""
    folder, source, _info = locate_model(spec, revision=revision, sessions_dir=sessions_dir,
                                         weights=False)
    return read_folder_files(folder, source, sessions_dir)


def lora_base_of(spec: str, *, sessions_dir: str | os.PathLike | None = None) -> str | None:
    """The base model spec of a LoRA checkpoint (a session or a local folder), read from its
    workbench.json alone; None for anything else."""
    from ..sessions import find_session, resolve_checkpoint, split_model_spec
    from .lora import ADAPTER_CONFIG

    text = str(spec).strip()
    try:
        session = find_session(text, sessions_dir)
        if session is not None:
            folder = resolve_checkpoint(session, split_model_spec(text.removeprefix("session:"))[1])
        elif Path(text).expanduser().is_dir():
            folder = Path(text).expanduser()
        else:
            return None
    except WorkbenchError:
        return None
    if not (folder / ADAPTER_CONFIG).is_file():
        return None
    lora = _read_workbench_json(folder).get("lora")
    return lora.get("base") if isinstance(lora, dict) else None


def same_model(a: str, b: str) -> bool:
    """Two spellings of one model spec (equal, or two paths to one folder)."""
    if a.strip() == b.strip():
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def base_view(sft: LoadedModel) -> LoadedModel:
    """The base model behind a LoRA model, from the same weights (adapters off in the
    calling thread): one copy of the base in memory for a base-vs-SFT comparison."""
    from .lora import AdaptersOff

    return LoadedModel(AdaptersOff(sft.model), sft.tokenizer, None,
                       sft.info.get("base") or "base", dict(sft.info, shared_with=sft.source,
                                                            lora=None))


def load_pair(base_spec: str, sft_spec: str, *, device: str = "cpu",
              sessions_dir: str | os.PathLike | None = None,
              progress=lambda _label: None) -> tuple[LoadedModel, LoadedModel]:
    """(base, SFT) for a comparison. When the SFT model is a LoRA adapter of `base_spec`,
    the base is the adapter's own base with the adapter off (loaded once)."""
    progress("loading the SFT model")
    sft = load_model(sft_spec, device=device, sessions_dir=sessions_dir)
    lora = sft.info.get("lora")
    if lora and same_model(lora.get("base", ""), base_spec):
        return base_view(sft), sft
    progress("loading the base model")
    return load_model(base_spec, device=device, sessions_dir=sessions_dir), sft


def saved_template(spec: str, *, sessions_dir: str | os.PathLike | None = None) -> Template | None:
    """The template saved with a model, read from its workbench.json alone, without the
    network: a session or a local folder, or a Hub model already in the HF cache. None when
    it has none (a plain Hugging Face model) or cannot be found here."""
    from ..sessions import find_session, resolve_checkpoint, split_model_spec

    text = str(spec).strip()
    if not text or text == "scratch":
        return None
    file = None
    try:
        session = find_session(text, sessions_dir)
        if session is not None:
            which = split_model_spec(text.removeprefix("session:"))[1]
            file = resolve_checkpoint(session, which) / WORKBENCH_FILE
        elif Path(text).expanduser().is_dir():
            file = Path(text).expanduser() / WORKBENCH_FILE
        elif HUB_ID.match(text):
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(text, WORKBENCH_FILE)
            file = Path(found) if isinstance(found, str) else None
    except (WorkbenchError, OSError, ValueError):
        return None
    if file is None or not file.is_file():
        return None
    meta = _read_json_object(file)
    return template_from_dict(meta["template"], f"{file}: template") if meta.get("template") else None


def read_folder_files(folder: Path, source: str | None = None, sessions_dir=None) -> ModelFiles:
    """`ModelFiles` of a model folder (config.json, tokenizer files, workbench.json); of a
    LoRA checkpoint, its own tokenizer and template and its base model's size."""
    from .lora import ADAPTER_CONFIG

    if (folder / ADAPTER_CONFIG).is_file():
        meta = _read_workbench_json(folder)
        base_spec = (meta.get("lora") or {}).get("base") if isinstance(meta.get("lora"), dict) else None
        if not base_spec:
            raise WorkbenchError(f"{folder}: an adapter whose workbench.json names no base model")
        base = read_model_files(base_spec, sessions_dir=sessions_dir or _sessions_of(folder))
        tokenizer = _load_tokenizer(folder, meta)
        template = (template_from_dict(meta["template"], f"{folder / WORKBENCH_FILE}: template")
                    if meta.get("template") else None)
        return ModelFiles(folder, source or str(folder), tokenizer, template, base.n_positions,
                          max(base.vocab_size, tokenizer.n_vocab))
    file = folder / "config.json"
    if not file.is_file():
        raise WorkbenchError(f"model {folder}: no config.json (a Hugging Face GPT-2 "
                             "folder holds config.json, model.safetensors, vocab.json, merges.txt)")
    data = _read_json_object(file)
    if data.get("model_type") not in FAMILIES:
        raise WorkbenchError(f"{file}: model_type {data.get('model_type') or '(missing)'}: "
                             "supported are gpt2 and gpt_neo")
    try:
        n_positions = int(data.get("max_position_embeddings", 2048)
                          if data["model_type"] == "gpt_neo"
                          else data.get("n_positions", data.get("n_ctx", 1024)))
        vocab_size = int(data.get("vocab_size", 50257))
    except (TypeError, ValueError) as err:
        raise WorkbenchError(f"{file}: {err}") from None
    meta = _read_workbench_json(folder)
    tokenizer = _load_tokenizer(folder, meta)
    if tokenizer.n_vocab > vocab_size:
        raise WorkbenchError(f"model {folder}: the tokenizer has {tokenizer.n_vocab} ids but the "
                             f"model only {vocab_size} embeddings")
    template = None
    if meta.get("template"):
        template = template_from_dict(meta["template"], f"{folder / WORKBENCH_FILE}: template")
    return ModelFiles(folder, source or str(folder), tokenizer, template, n_positions, vocab_size)


def _load_folder(folder: Path, device: str, dropout: float, source: str,
                 info: dict, sessions_dir=None) -> LoadedModel:
    from .lora import ADAPTER_CONFIG

    if (folder / ADAPTER_CONFIG).is_file():
        return _load_adapter_folder(folder, device, dropout, source, info, sessions_dir)
    config = read_config(folder / "config.json", dropout)
    weights = next((folder / n for n in WEIGHT_FILES if (folder / n).is_file()), None)
    if weights is None:
        sharded = sorted(p.name for p in folder.glob("*.index.json"))
        hint = (f" (sharded weights {sharded[0]} are not supported; save as one file)"
                if sharded else "")
        raise WorkbenchError(f"model {folder}: no weights: neither model.safetensors nor "
                             f"pytorch_model.bin{hint}")
    # the small files first: a bad tokenizer or template fails before gigabytes are read
    files = read_folder_files(folder, source)
    model = build_model(config, read_weights(weights), str(weights))
    model.to(device).eval()
    info = dict(info, folder=str(folder), weights=weights.name, params=model.num_params(),
                config=asdict(config), device=device)
    return LoadedModel(model, files.tokenizer, files.template, source, info)


def _load_adapter_folder(folder: Path, device: str, dropout: float, source: str, info: dict,
                         sessions_dir=None) -> LoadedModel:
    """A LoRA checkpoint: its base model (loaded by the spec workbench.json records), the
    embedding rows its template's tokens added, and the adapter."""
    import torch

    from .lora import ADDED_EMBEDDINGS, ADAPTER_WEIGHTS, apply_lora, load_adapter

    meta = _read_workbench_json(folder)
    spec = meta.get("lora") if isinstance(meta.get("lora"), dict) else None
    if spec is None or not spec.get("base"):
        raise WorkbenchError(f"{folder}: an adapter (adapter_config.json) whose workbench.json "
                             "does not say which base model it belongs to; load it with peft "
                             "onto its base, or `workbench merge` it where it was made")
    files = read_folder_files(folder, source, sessions_dir=sessions_dir)
    base = load_model(spec["base"], device=device, dropout=dropout,
                      sessions_dir=sessions_dir or _sessions_of(folder))
    model = base.model
    if files.tokenizer.n_vocab > model.config.vocab_size:
        model.resize_token_embeddings(files.tokenizer.n_vocab)
    lora = apply_lora(model, int(spec["r"]), float(spec["alpha"]), float(spec.get("dropout", 0)),
                      tuple(spec.get("targets") or ()), spec["base"], base.source)
    lora.base_vocab = int(spec.get("base_vocab") or base.model.config.vocab_size)
    where = folder / ADAPTER_WEIGHTS
    load_adapter(model, read_weights(where), str(where))
    added = folder / ADDED_EMBEDDINGS
    if added.is_file():
        rows = read_weights(added).get("rows")
        if rows is None or rows.shape[0] != model.config.vocab_size - lora.base_vocab:
            raise WorkbenchError(f"{added}: does not hold the {model.config.vocab_size - lora.base_vocab} "
                                 "added embedding rows this adapter's tokenizer needs")
        with torch.no_grad():
            model.transformer.wte.weight[lora.base_vocab:] = rows.to(model.transformer.wte.weight)
    model.to(device).eval()
    info = dict(info, folder=str(folder), weights=where.name, params=model.num_params(),
                config=asdict(model.config), device=device, lora=lora.to_dict(),
                base=base.source)
    return LoadedModel(model, files.tokenizer, files.template, source, info)


def _sessions_of(folder: Path) -> Path | None:
    """The sessions folder holding a checkpoint folder (sessions/<name>/checkpoints/step-N)."""
    return folder.parents[2] if folder.parent.name == "checkpoints" and len(folder.parents) > 2 else None


def read_config(file: Path, dropout: float = 0.0):
    """GPTConfig from a Hugging Face config.json; a clear error for anything not GPT-2."""
    if not file.is_file():
        raise WorkbenchError(f"model {file.parent}: no config.json (a Hugging Face GPT-2 "
                             "folder holds config.json, model.safetensors, vocab.json, merges.txt)")
    return config_from_hf(_read_json_object(file), str(file), dropout)


def _read_json_object(file: Path) -> dict:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WorkbenchError(f"{file}: cannot read JSON ({err})") from None
    if not isinstance(data, dict):
        raise WorkbenchError(f"{file}: expected a JSON object")
    return data


FAMILIES = ("gpt2", "gpt_neo")


def config_from_hf(data: dict, where: str = "config", dropout: float = 0.0):
    """GPTConfig from the dict of a Hugging Face GPT-2 or GPT-Neo config (config.json)."""
    from .gpt2 import GPTConfig

    model_type = data.get("model_type")
    if model_type not in FAMILIES:
        raise WorkbenchError(f"{where}: model_type {model_type or '(missing)'}: supported are "
                             "gpt2 (GPT2LMHeadModel) and gpt_neo (GPTNeoForCausalLM)")
    # options that change the computation; the model implements the defaults only
    unsupported = []
    if data.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        unsupported.append(f"activation_function {data['activation_function']}")
    if data.get("tie_word_embeddings", True) is False:
        unsupported.append("an untied LM head (tie_word_embeddings false)")
    try:
        if model_type == "gpt_neo":
            from .gpt_neo import expand_attention_types

            n_layer = int(data.get("num_layers", 24))
            n_embd = int(data.get("hidden_size", 2048))
            layers = expand_attention_types(data.get("attention_types", [[["global", "local"],
                                                                          n_layer // 2]]),
                                            n_layer, where)
            if unsupported:
                raise WorkbenchError(f"{where}: {', '.join(unsupported)}: not supported")
            return GPTConfig(
                family="gpt_neo", n_layer=n_layer, n_head=int(data.get("num_heads", 16)),
                n_embd=n_embd, n_positions=int(data.get("max_position_embeddings", 2048)),
                vocab_size=int(data.get("vocab_size", 50257)),
                layer_norm_epsilon=float(data.get("layer_norm_epsilon", 1e-5)), dropout=dropout,
                attention_layers=layers, window_size=int(data.get("window_size", 256)),
                n_inner=int(data["intermediate_size"]) if data.get("intermediate_size") else None)
        if data.get("scale_attn_by_inverse_layer_idx"):
            unsupported.append("scale_attn_by_inverse_layer_idx")
        if data.get("scale_attn_weights", True) is False:
            unsupported.append("scale_attn_weights false")
        if data.get("add_cross_attention"):
            unsupported.append("add_cross_attention")
        if data.get("n_inner") not in (None, 4 * data.get("n_embd", 768)):
            unsupported.append(f"n_inner {data['n_inner']}")
        if unsupported:
            raise WorkbenchError(f"{where}: {', '.join(unsupported)}: not supported (GPT-2's "
                                 "defaults only)")
        return GPTConfig(
            n_layer=int(data.get("n_layer", 12)), n_head=int(data.get("n_head", 12)),
            n_embd=int(data.get("n_embd", 768)),
            n_positions=int(data.get("n_positions", data.get("n_ctx", 1024))),
            vocab_size=int(data.get("vocab_size", 50257)),
            layer_norm_epsilon=float(data.get("layer_norm_epsilon", 1e-5)), dropout=dropout)
    except (TypeError, ValueError) as err:
        raise WorkbenchError(f"{where}: {err}") from None


def read_weights(file: Path) -> dict:
    """The tensors of a safetensors or .bin file, by their stored names."""
    import pickle

    import torch

    if file.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(file))
        except (SafetensorError, OSError, ValueError) as err:
            raise WorkbenchError(f"{file}: not a readable safetensors file, truncated or "
                                 f"corrupt ({err})") from None
    try:
        state = torch.load(str(file), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise WorkbenchError(f"{file}: refused: it holds pickled objects other than tensors, "
                             f"which could run code (torch.load weights_only: {first})") from None
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        raise WorkbenchError(f"{file}: not a readable PyTorch weights file ({err})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WorkbenchError(f"{file}: expected a dict of tensor name -> tensor")
    return state


def build_model(config, state: dict, where: str = "checkpoint"):
    """A GPT holding Hugging Face GPT-2 weights: keys mapped, Conv1D transposed, fp32.

    Missing, unexpected and wrongly shaped weights are reported by name.
    """
    import torch

    from .gpt2 import GPT

    with _without_init(), torch.device("meta"):  # every weight comes from `state`
        model = GPT(config)
    expected = {k: v.shape for k, v in model.state_dict().items() if k != "lm_head.weight"}
    mapped: dict[str, torch.Tensor] = {}
    unexpected, head = [], None
    conv1d = config.family == "gpt2"  # GPT-Neo stores nn.Linear weights: nothing to transpose
    for key, tensor in state.items():
        name = key.removeprefix("transformer.")
        if name.endswith(BUFFERS):
            continue
        if name == "lm_head.weight":
            head = tensor
            continue
        ours = f"transformer.{name}"
        if ours not in expected:
            unexpected.append(key)
            continue
        if conv1d and name.endswith(CONV1D):
            tensor = tensor.t()
        mapped[ours] = _aligned(tensor.to(torch.float32).contiguous())
    missing = [k for k in expected if k not in mapped]
    problems = []
    if missing:
        problems.append(f"missing {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {_names(unexpected)}")
    wrong = [f"{k} {tuple(mapped[k].shape)} (config says {tuple(expected[k])})"
             for k in expected if k in mapped and mapped[k].shape != expected[k]]
    if wrong:
        problems.append(f"wrong shape {_names(wrong)}")
    if problems:
        raise WorkbenchError(f"{where}: weights do not match the config "
                             f"({config.n_layer} layers, n_embd {config.n_embd}, vocab "
                             f"{config.vocab_size}): {'; '.join(problems)}")
    wte = mapped["transformer.wte.weight"]
    if head is not None and (head.shape != wte.shape or not torch.equal(head.to(wte.dtype), wte)):
        raise WorkbenchError(f"{where}: lm_head.weight differs from transformer.wte.weight; "
                             "only a tied LM head is supported")
    mapped["lm_head.weight"] = wte
    model.load_state_dict(mapped, strict=True, assign=True)
    model.tie_weights()  # assign=True gave the head its own Parameter; share wte's again
    return model


def _aligned(t):
    """`t` in memory of torch's own allocator (64-byte aligned). safetensors hands out
    tensors at 8-byte offsets, and a CPU kernel may take another path for them: the same
    weights then give gradients that differ in the last bits now and then (seen as a resumed
    run drifting from a straight one after ~1,000 steps), so a loaded model is copied."""
    return t.clone() if t.data_ptr() % 64 else t


@contextlib.contextmanager
def _without_init():
    """Module constructors without their random init (the weights are replaced next).

    Drawing 124M random numbers takes seconds on a CPU; on the meta device it takes no
    time but makes torch import torch._dynamo (another second). So the init functions
    the modules call are no-ops while the model is built.

    The patch is process-wide, so builds are serialised: the Chat screen loads two models
    at once in two threads, and interleaved save/restore pairs would leave the no-ops in
    place for good (every later `GPT(...)` in the process would start from garbage).
    """
    from torch.nn import init

    names = ("normal_", "uniform_", "kaiming_uniform_", "zeros_", "ones_")
    with _INIT_LOCK:
        saved = {name: getattr(init, name) for name in names}
        for name in names:
            setattr(init, name, _no_init)
        try:
            yield
        finally:
            for name, fn in saved.items():
                setattr(init, name, fn)


_INIT_LOCK = threading.Lock()


def _no_init(tensor, *args, **kwargs):
    return tensor


def _names(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def _read_workbench_json(folder: Path) -> dict:
    file = folder / WORKBENCH_FILE
    return _read_json_object(file) if file.is_file() else {}


def _load_tokenizer(folder: Path, meta: dict) -> Tokenizer:
    """The folder's tokenizer, with the special tokens recorded in workbench.json restored
    at exactly their recorded ids."""
    tok = load_tokenizer(folder)
    recorded = meta.get("added_tokens") or {}
    if not isinstance(recorded, dict):
        raise WorkbenchError(f"{folder / WORKBENCH_FILE}: added_tokens must be an object")
    order = [m for m, _ in sorted(recorded.items(), key=lambda kv: kv[1])]
    tok = tok.with_special_tokens(order)
    for marker, token_id in recorded.items():
        if tok.special_tokens.get(marker) != token_id:
            raise WorkbenchError(f"{folder}: special token {marker!r} has id "
                                 f"{tok.special_tokens.get(marker)} in the tokenizer files but "
                                 f"{token_id} in {WORKBENCH_FILE}")
    return tok


# ----------------------------------------------------------------------------------------
# The Hub


def _fetch_from_hub(repo_id: str, revision: str | None, weights: bool = True) -> tuple[Path, str]:
    """Download (or find in the HF cache) the files a model needs; return (folder, commit).

    One API call asks for the commit and the file list, so no request is wasted on a file
    the repo lacks. When the Hub cannot be reached (no network, or HF_HUB_OFFLINE=1) the
    files come from the HF cache (HF_HOME / HF_HUB_CACHE) with no network at all.
    """
    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HFValidationError,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    where = f"model {repo_id}" + (f" (revision {revision})" if revision else "")
    files: set[str] | None = None
    commit = revision
    with _quiet_hub():
        try:
            info = HfApi().model_info(repo_id, revision=revision)  # token=None: HF_TOKEN is used
            files = {s.rfilename for s in info.siblings or ()}
            commit = info.sha or revision
        except GatedRepoError:
            raise WorkbenchError(f"{where}: a gated repo: accept its terms on huggingface.co and "
                                 "set HF_TOKEN") from None
        except RepositoryNotFoundError:
            raise WorkbenchError(f"{where}: not found on the Hugging Face Hub (if it is private, "
                                 "set HF_TOKEN)") from None
        except RevisionNotFoundError:
            raise WorkbenchError(f"{where}: no such revision on the Hub") from None
        except HFValidationError as err:
            raise WorkbenchError(f"model {repo_id!r}: not a valid Hub id ({err})") from None
        except Exception:  # noqa: BLE001 - no network, offline mode, a Hub outage: use the cache
            files = None

        def fetch(name: str) -> Path | None:
            if files is not None and name not in files:
                return None
            try:
                return Path(hf_hub_download(repo_id, name, revision=commit,
                                            local_files_only=files is None))
            except EntryNotFoundError:  # not in the repo, or (offline) not in the cache
                return None
            except Exception as err:  # noqa: BLE001 - the network dropped mid-download
                raise WorkbenchError(f"{where}: downloading {name} failed "
                                     f"({type(err).__name__}: {err})") from None

        config = fetch("config.json")
        if config is None:
            if files is None:
                raise WorkbenchError(_offline_message(repo_id, revision))
            raise WorkbenchError(f"{where}: the repo has no config.json (not a transformers model)")
        found = (fetch("model.safetensors") or fetch("pytorch_model.bin")) if weights else True
        if found is None:
            if files is None:
                raise WorkbenchError(_offline_message(repo_id, revision, "its weights"))
            raise WorkbenchError(f"{where}: the repo has neither model.safetensors nor "
                                 "pytorch_model.bin")
        for name in (*OPTIONAL_FILES, *TOKENIZER_FILES):
            fetch(name)
    folder = config.parent  # the snapshot folder: every file of this commit lands in it
    return folder, commit or folder.name


def _offline_message(repo_id: str, revision: str | None, what: str = "it") -> str:
    rev = f" at revision {revision}" if revision else ""
    return (f"model {repo_id}: the Hugging Face Hub cannot be reached and {what} is not in the "
            f"HF cache{rev}. Load it from a local folder (--model PATH holding config.json, "
            "model.safetensors, vocab.json, merges.txt), or download it once with network into "
            "the HF cache (HF_HOME / HF_HUB_CACHE) and rerun with HF_HUB_OFFLINE=1")


@contextlib.contextmanager
def _quiet_hub():
    """huggingface_hub logs every retry as a warning; the user gets our one line instead."""
    import logging

    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# ----------------------------------------------------------------------------------------
# Saving


def hf_state_dict(model) -> dict:
    """The model's weights under Hugging Face GPT-2 names, Conv1D layout, on the CPU.

    The LM head is left out: it is `wte` (transformers re-ties it on load), and safetensors
    refuses two names for one tensor.
    """
    out = {}
    conv1d = model.config.family == "gpt2"
    for key, tensor in model.state_dict().items():
        if key == "lm_head.weight":
            continue
        tensor = tensor.detach()
        if conv1d and key.endswith(CONV1D):
            tensor = tensor.t()
        out[key] = tensor.to("cpu").contiguous()
    return out


def hf_config(model, tokenizer: Tokenizer) -> dict:
    """config.json for GPT2LMHeadModel / GPTNeoForCausalLM.from_pretrained."""
    c = model.config
    if c.family == "gpt_neo":
        from .gpt_neo import compress_attention_types

        return {
            "model_type": "gpt_neo", "architectures": ["GPTNeoForCausalLM"],
            "num_layers": c.n_layer, "num_heads": c.n_head, "hidden_size": c.n_embd,
            "max_position_embeddings": c.n_positions, "vocab_size": c.vocab_size,
            "attention_types": compress_attention_types(c.attention_layers),
            "window_size": c.window_size, "intermediate_size": c.n_inner,
            "layer_norm_epsilon": c.layer_norm_epsilon, "activation_function": "gelu_new",
            "resid_dropout": c.dropout, "embed_dropout": c.dropout, "attention_dropout": c.dropout,
            "initializer_range": 0.02, "use_cache": True,
            "bos_token_id": tokenizer.eos_id, "eos_token_id": tokenizer.eos_id,
            "tie_word_embeddings": True, "torch_dtype": "float32",
        }
    return {
        "model_type": "gpt2",
        "architectures": ["GPT2LMHeadModel"],
        "n_layer": c.n_layer, "n_head": c.n_head, "n_embd": c.n_embd,
        "n_positions": c.n_positions, "n_ctx": c.n_positions, "vocab_size": c.vocab_size,
        "layer_norm_epsilon": c.layer_norm_epsilon,
        "activation_function": "gelu_new",
        "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": c.dropout,
        "initializer_range": 0.02, "scale_attn_weights": True, "use_cache": True,
        "bos_token_id": tokenizer.eos_id, "eos_token_id": tokenizer.eos_id,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }


def save_model(model, tokenizer: Tokenizer, folder: str | os.PathLike, *,
               template: Template | None = None, extra: dict | None = None) -> Path:
    """Write `folder` in the Hugging Face GPT-2 layout, plus workbench.json (the template
    and the added special tokens, so `load_model` restores both). Every file is replaced
    atomically (temp file + rename), the weights first and workbench.json last."""
    from safetensors.torch import save_file

    folder = Path(folder)
    if tokenizer.n_vocab > model.config.vocab_size:
        raise WorkbenchError(f"saving {folder}: the tokenizer has {tokenizer.n_vocab} ids but "
                             f"the model only {model.config.vocab_size} embeddings (call "
                             "model.resize_token_embeddings first)")
    folder.mkdir(parents=True, exist_ok=True)
    lora = getattr(model, "lora", None)
    if lora is not None:  # a PEFT adapter, not the whole model
        from .lora import ADAPTER_CONFIG, ADAPTER_WEIGHTS, ADDED_EMBEDDINGS, adapter_state, peft_config

        with _atomic(folder / ADAPTER_WEIGHTS) as tmp:
            save_file(adapter_state(model), str(tmp), metadata={"format": "pt"})
        write_json_atomic(folder / ADAPTER_CONFIG, peft_config(lora, model.config.family))
        if model.config.vocab_size > lora.base_vocab:  # the rows a template's tokens added
            rows = model.transformer.wte.weight.detach()[lora.base_vocab:].cpu().contiguous()
            with _atomic(folder / ADDED_EMBEDDINGS) as tmp:
                save_file({"rows": rows}, str(tmp), metadata={"first_id": str(lora.base_vocab)})
    else:
        with _atomic(folder / "model.safetensors") as tmp:
            save_file(hf_state_dict(model), str(tmp), metadata={"format": "pt"})
        write_json_atomic(folder / "config.json", hf_config(model, tokenizer))
    tokenizer.save(folder)
    meta = {
        "format": 1,
        "template": template.to_dict() if template is not None else None,
        "added_tokens": {m: tokenizer.special_tokens[m] for m in tokenizer.added},
        "tokenizer": {"kind": tokenizer.kind, "n_vocab": tokenizer.n_vocab,
                      "eos_id": tokenizer.eos_id},
        "extra": dict(extra or {}),
    }
    if lora is not None:
        meta["lora"] = lora.to_dict()
    write_json_atomic(folder / WORKBENCH_FILE, meta)
    return folder


@contextlib.contextmanager
def _atomic(path: Path):
    """Yield a temp path beside `path`; on success it is flushed to disk and renamed over
    `path`, on failure removed, so `path` is always the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
