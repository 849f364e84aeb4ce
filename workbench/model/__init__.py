"""GPT-2 in plain torch (`gpt2.py`) and its checkpoints (`load.py`).

Importing this package imports torch; the CLI and the commands import it inside functions.
"""

from .gpt2 import GPT, GPTConfig, KVCache
from .load import (LoadedModel, build_model, config_from_hf, hf_config, hf_state_dict, load_model,
                   read_weights, save_model)

__all__ = ["GPT", "GPTConfig", "KVCache", "LoadedModel", "build_model", "config_from_hf",
           "hf_config", "hf_state_dict", "load_model", "read_weights", "save_model"]
