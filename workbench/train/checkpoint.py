"""Checkpoints of a run: the model in HF layout plus `trainer_state.pt`, written atomically,
indexed, and pruned to the last K plus the best by validation loss.

A checkpoint is first written to `checkpoints/.step-N.tmp/` and renamed to `step-N/` only
when complete, so a crash never leaves half a checkpoint. `index.json` (replaced atomically)
names the latest and the best and lists every kept checkpoint with its validation loss.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ..fsutil import write_json_atomic
from ..sessions import CHECKPOINTS, INDEX, read_index

TRAINER_STATE = "trainer_state.pt"


def save_checkpoint(session: Path, step: int, model, tokenizer, template, state: dict[str, Any],
                    val_loss: float | None, keep_last: int, extra: dict | None = None) -> Path:
    """Write step-N (model + trainer state), update the index, prune old ones."""
    import torch

    from ..model import save_model

    root = session / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step}"
    tmp = root / f".step-{step}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    save_model(model, tokenizer, tmp, template=template, extra=extra)
    torch.save(state, tmp / TRAINER_STATE)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    index = read_index(session)
    entries = [e for e in index.get("checkpoints", []) if e["name"] != final.name]
    entries.append({"name": final.name, "step": step, "val_loss": val_loss})
    entries.sort(key=lambda e: e["step"])
    scored = [e for e in entries if e.get("val_loss") is not None]
    best = min(scored, key=lambda e: (e["val_loss"], e["step"]))["name"] if scored else None
    keep = {e["name"] for e in entries[-max(1, keep_last):]}
    if best:
        keep.add(best)
    for e in entries:
        if e["name"] not in keep:
            shutil.rmtree(root / e["name"], ignore_errors=True)
    entries = [e for e in entries if e["name"] in keep]
    write_json_atomic(root / INDEX, {"latest": final.name, "best": best, "checkpoints": entries})
    return final


def load_trainer_state(folder: Path) -> dict[str, Any]:
    import torch

    from ..errors import WorkbenchError

    path = folder / TRAINER_STATE
    if not path.exists():
        raise WorkbenchError(f"{folder}: no {TRAINER_STATE}; this checkpoint cannot be resumed")
    try:
        # weights_only: tensors and plain containers only, never code (the RNG states are
        # stored as tensors and lists for this reason)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - a corrupt file
        raise WorkbenchError(f"{path}: cannot be read ({type(err).__name__}: {err})") from None
