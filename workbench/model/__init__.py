"""GPT-2 in plain torch (`gpt2.py`) and its checkpoints (`load.py`).

The names below are imported on first use (PEP 562), so `from workbench.model.load import
read_model_files` reads a model's small files without importing torch; `GPT`, `load_model`
and the rest import it when they are first touched.
"""

from __future__ import annotations

import importlib

_WHERE = {
    "GPT": "gpt2", "GPTConfig": "gpt2", "KVCache": "gpt2",
    "LoadedModel": "load", "ModelFiles": "load", "build_model": "load",
    "config_from_hf": "load", "hf_config": "load", "hf_state_dict": "load",
    "load_model": "load", "read_model_files": "load", "read_weights": "load",
    "save_model": "load",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
