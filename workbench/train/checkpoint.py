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
    """Write step-N (model + trainer state), update the index, prune old ones.

    Disk use: a checkpoint that this save makes obsolete is removed *before* the new one is
    written when another checkpoint stays as a fallback (the best), so with keep_last = 1 a
    save needs room for one checkpoint besides those kept, never two. Every file and the
    folder are fsynced before the rename; a save that fails (a full disk, a read-only
    folder) removes its partial folder and raises OSError, the earlier checkpoints intact.
    """
    import torch

    from ..model import save_model

    root = session / CHECKPOINTS
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step}"
    tmp = root / f".step-{step}.tmp"
    index = read_index(session)
    entries = [e for e in index.get("checkpoints", []) if e["name"] != final.name]
    planned = entries + [{"name": final.name, "step": step, "val_loss": val_loss}]
    planned.sort(key=lambda e: e["step"])
    keep, best = _kept(planned, keep_last)
    doomed = [e for e in entries if e["name"] not in keep]
    survivors = [e for e in entries if e["name"] in keep]
    if doomed and not survivors:  # one checkpoint stays as the fallback while this one saves
        survivors, doomed = doomed[-1:], doomed[:-1]
    if doomed:  # make room first: these go after this save anyway
        for e in doomed:
            shutil.rmtree(root / e["name"], ignore_errors=True)
        entries = survivors
        names = {e["name"] for e in survivors}
        write_json_atomic(root / INDEX, {
            "latest": index.get("latest") if index.get("latest") in names else survivors[-1]["name"],
            "best": index.get("best") if index.get("best") in names else None,
            "checkpoints": survivors})
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        save_model(model, tokenizer, tmp, template=template, extra=extra)
        torch.save(state, tmp / TRAINER_STATE)
        _fsync_tree(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    entries.append({"name": final.name, "step": step, "val_loss": val_loss})
    entries.sort(key=lambda e: e["step"])
    keep, best = _kept(entries, keep_last)
    for e in entries:
        if e["name"] not in keep:
            shutil.rmtree(root / e["name"], ignore_errors=True)
    entries = [e for e in entries if e["name"] in keep]
    write_json_atomic(root / INDEX, {"latest": final.name, "best": best, "checkpoints": entries})
    return final


def remove_partial(session: Path) -> list[str]:
    """Remove the `.step-N.tmp` folders of saves that never finished (a kill -9 during a
    save leaves one): they are not checkpoints, and they hold disk space."""
    root = session / CHECKPOINTS
    gone = []
    for tmp in root.glob(".step-*.tmp") if root.is_dir() else ():
        shutil.rmtree(tmp, ignore_errors=True)
        gone.append(tmp.name)
    return gone


def _kept(entries: list[dict], keep_last: int) -> tuple[set[str], str | None]:
    """The names kept (the last `keep_last` and the best by validation loss) and the best."""
    scored = [e for e in entries if e.get("val_loss") is not None]
    best = min(scored, key=lambda e: (e["val_loss"], e["step"]))["name"] if scored else None
    keep = {e["name"] for e in entries[-max(1, keep_last):]}
    if best:
        keep.add(best)
    return keep, best


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a folder; the files themselves are synced
    finally:
        os.close(fd)


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
        from ..errors import one_line

        raise WorkbenchError(f"{path}: cannot be read ({type(err).__name__}: "
                             f"{one_line(str(err), 200)}); this checkpoint cannot be resumed") from None


def check_trainer_state(state: Any, model, optimizer, folder: Path, session: Path | None = None) -> None:
    """Refuse a trainer state that does not fit this model and optimizer, before torch is
    handed it: the keys a resume reads, and each AdamW moment against its parameter's shape
    and dtype (torch would crash on a wrong shape, not raise). The message names the file,
    what is wrong, and the previous checkpoint to resume from instead."""
    import torch

    from ..errors import WorkbenchError

    path = folder / TRAINER_STATE

    def bad(problem: str):
        others = []
        if session is not None:
            others = [e["name"] for e in read_index(session).get("checkpoints", [])
                      if e.get("name") != folder.name and (session / CHECKPOINTS / e["name"]).is_dir()]
        offer = (f"; resume from an earlier checkpoint with `workbench train --resume "
                 f"{session.name} --from {others[-1]}`" if others and session is not None
                 else "; start the run again (no other checkpoint to resume from)")
        raise WorkbenchError(f"{path}: {problem}: this checkpoint cannot be resumed{offer}")

    if not isinstance(state, dict):
        bad(f"expected a dict, got {type(state).__name__}")
    for key, kind in (("optimizer", dict), ("step", int), ("tokens_seen", int),
                      ("elapsed_s", (int, float)), ("data_epoch", int), ("data_index", int),
                      ("rng", dict)):
        if key not in state:
            bad(f"no {key!r}")
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            bad(f"{key!r} is a {type(state[key]).__name__}")
    if state["step"] < 0 or state["data_epoch"] < 0 or state["data_index"] < 0:
        bad("a negative step or data position")
    rng = state["rng"]
    if not isinstance(rng.get("torch"), torch.Tensor) or rng["torch"].dtype != torch.uint8 or \
            not isinstance(rng.get("python"), (list, tuple)) or \
            not isinstance(rng.get("numpy"), (list, tuple)) or len(rng["numpy"]) != 5:
        bad("the random-number states are missing or malformed")
    opt = state["optimizer"]
    groups, saved_state = opt.get("param_groups"), opt.get("state")
    ours = optimizer.param_groups
    if not isinstance(groups, list) or not isinstance(saved_state, dict):
        bad("the optimizer state has no param_groups / state")
    if len(groups) != len(ours) or any(not isinstance(g, dict) or not isinstance(g.get("params"), list)
                                       or len(g["params"]) != len(o["params"])
                                       for g, o in zip(groups, ours)):
        bad(f"the optimizer state has {len(groups)} parameter groups of "
            f"{[len(g.get('params', [])) if isinstance(g, dict) else '?' for g in groups]} "
            f"parameters; this model's optimizer has {[len(o['params']) for o in ours]}")
    params = {pid: p for g, o in zip(groups, ours) for pid, p in zip(g["params"], o["params"])}
    for pid, entry in saved_state.items():
        if pid not in params:
            bad(f"the optimizer state has an entry for parameter {pid!r}, which it does not list")
        p = params[pid]
        if not isinstance(entry, dict):
            bad(f"parameter {pid}: state is a {type(entry).__name__}")
        for key in ("exp_avg", "exp_avg_sq"):
            t = entry.get(key)
            if not isinstance(t, torch.Tensor):
                bad(f"parameter {pid}: no {key} tensor")
            if tuple(t.shape) != tuple(p.shape):
                bad(f"parameter {pid}: {key} has shape {tuple(t.shape)}, the parameter "
                    f"{tuple(p.shape)} (the checkpoint belongs to another model)")
            if not t.is_floating_point():
                bad(f"parameter {pid}: {key} is {t.dtype}, not a float")
            if not bool(torch.isfinite(t).all()):
                bad(f"parameter {pid}: {key} holds NaN or infinity")
        step = entry.get("step")
        if not isinstance(step, (torch.Tensor, int, float)) or (
                isinstance(step, torch.Tensor) and step.numel() != 1):
            bad(f"parameter {pid}: no step count")
