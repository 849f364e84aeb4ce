"""The on-disk layout of a training run, and how to read it back.

```
sessions/<name>/
  config.toml         everything needed to rerun (TrainConfig)
  status.json         {"state": starting|running|stopped|finished|failed, "pid", "step",
                       "max_steps", "error", "started_at", "updated_at", ...}
  metrics.jsonl       one object per logged step
  eval.jsonl          one object per validation run
  samples.jsonl       greedy samples of the configured prompts
  batches.jsonl       per optimizer step, the fingerprint of each micro-batch trained on
  recipe.json         the resolved recipe: template, tokenizer, held-out cut, data counts
  train.log           the process's output
  .lock               flock'ed by the process training the session (one trainer at a time)
  checkpoints/
    index.json        {"latest": "step-40", "best": "step-30", "checkpoints": [...]}
    step-N/           HF GPT-2 layout (config.json, model.safetensors, tokenizer files,
                      workbench.json) + trainer_state.pt
```

Files are replaced atomically or appended a whole line at a time (see `fsutil`), so this
module can read a running session at any moment.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import WorkbenchError
from .fsutil import read_jsonl

STATES = ("starting", "running", "stopped", "finished", "failed")
CONFIG = "config.toml"
STATUS = "status.json"
METRICS = "metrics.jsonl"
EVAL = "eval.jsonl"
SAMPLES = "samples.jsonl"
LOG = "train.log"
RECEIPTS = "batches.jsonl"
RECIPE = "recipe.json"
CHECKPOINTS = "checkpoints"
INDEX = "index.json"


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_WHICH = re.compile(r"^(latest|best|step-[0-9]+)$")


def check_session_name(name: str) -> str:
    """A session name is a folder name, never a path: letters, digits, '.', '_', '-'."""
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", ".."):
        raise WorkbenchError(f"session name {name!r}: use letters, digits, '.', '_' and '-' "
                             "(at most 80, starting with a letter or digit)")
    return name


def check_checkpoint_name(which: str) -> str:
    if not _WHICH.match(which or ""):
        raise WorkbenchError(f"checkpoint {which!r}: use latest, best or step-N")
    return which


def default_sessions_dir() -> Path:
    """`$WORKBENCH_SESSIONS`, else `./sessions`."""
    return Path(os.environ.get("WORKBENCH_SESSIONS", "sessions"))


def session_dir(name: str, sessions_dir: str | os.PathLike | None = None) -> Path:
    return Path(sessions_dir or default_sessions_dir()) / name


def read_json(path: Path, default: Any = None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (OSError, json.JSONDecodeError):
        return default


def read_status(session: Path) -> dict:
    return read_json(session / STATUS, {}) or {}


def read_index(session: Path) -> dict:
    return read_json(session / CHECKPOINTS / INDEX, {}) or {}


def resolve_checkpoint(session: Path, which: str = "latest") -> Path:
    """A checkpoint folder of a session: `latest`, `best`, or `step-N`."""
    check_checkpoint_name(which)
    index = read_index(session)
    root = session / CHECKPOINTS
    if which in ("latest", "best"):
        name = index.get(which) or (index.get("latest") if which == "best" else None)
        if name is not None and not _WHICH.match(str(name)):
            raise WorkbenchError(f"session {session.name}: {root / INDEX} names checkpoint "
                                 f"{name!r}, which is not step-N")
        if name is None:  # no index (an older or copied run): the highest step
            steps = sorted((int(p.name.split("-")[1]), p) for p in root.glob("step-*")
                           if p.name.split("-")[1].isdigit()) if root.exists() else []
            if not steps:
                raise WorkbenchError(f"session {session.name}: no checkpoint yet ({root})")
            return steps[-1][1]
        path = root / name
    else:
        path = root / which
    if not path.is_dir():
        raise WorkbenchError(f"session {session.name}: checkpoint {which!r} not found in {root}")
    return path


def checkpoint_rows(session: Path) -> list[dict]:
    """The checkpoints of a session from checkpoints/index.json (newest first), each with
    `name`, `step`, `val_loss`, `latest`, `best`, `present` (the folder exists)."""
    index = read_index(session)
    rows = []
    for entry in index.get("checkpoints", []) or []:
        if not isinstance(entry, dict) or "name" not in entry:
            continue
        rows.append({"name": entry["name"], "step": entry.get("step"),
                     "val_loss": entry.get("val_loss"),
                     "latest": entry["name"] == index.get("latest"),
                     "best": entry["name"] == index.get("best"),
                     "present": (session / CHECKPOINTS / entry["name"]).is_dir()})
    rows.sort(key=lambda r: r["step"] or 0, reverse=True)
    return rows


def split_model_spec(spec: str) -> tuple[str, str]:
    """'name@best' -> ('name', 'best'); 'name' -> ('name', 'latest')."""
    if "@" in spec and not spec.startswith(("/", ".")):
        name, which = spec.rsplit("@", 1)
        return name, which or "latest"
    return spec, "latest"


def find_session(spec: str, sessions_dir: str | os.PathLike | None = None) -> Path | None:
    """The session folder a model spec names (`NAME`, `NAME@best`, `session:NAME`), if any.
    A spec that is a session name but asks for a checkpoint that is not latest, best or
    step-N (`NAME@../../x`) is refused: nothing outside the session is ever named."""
    is_session = spec.startswith("session:")
    name, which = split_model_spec(spec.removeprefix("session:"))
    if "/" in name or not name or not _NAME.match(name):
        if is_session:
            check_session_name(name)
        return None
    path = session_dir(name, sessions_dir)
    found = path if (path / CONFIG).exists() or (path / CHECKPOINTS).exists() else None
    if found is not None or is_session:
        check_checkpoint_name(which)
    return found


def read_receipts(session: Path) -> dict[int, dict]:
    """{step: {"step", "micro": [fingerprint, ...], "at": [[epoch, index], ...]}} from the
    session's batches.jsonl (the last record of a step wins: a resumed run records the steps
    after its checkpoint again)."""
    return {int(r["step"]): r for r in read_jsonl(session / RECEIPTS)
            if isinstance(r.get("step"), int) and isinstance(r.get("micro"), list)}


@dataclass
class SessionInfo:
    """What the Sessions screen lists about one run."""

    name: str
    path: Path
    status: dict
    config: dict

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")

    def metrics(self) -> list[dict]:
        return read_jsonl(self.path / METRICS)

    def evals(self) -> list[dict]:
        return read_jsonl(self.path / EVAL)

    def samples(self) -> list[dict]:
        return read_jsonl(self.path / SAMPLES)


def session_folders(sessions_dir: str | os.PathLike | None = None) -> list[Path]:
    """The session folders under `sessions_dir` (those with a config or a status), by name."""
    root = Path(sessions_dir or default_sessions_dir())
    if not root.is_dir():
        return []
    return [p for p in sorted(root.iterdir()) if p.is_dir()
            and ((p / CONFIG).exists() or (p / STATUS).exists())]


def list_sessions(sessions_dir: str | os.PathLike | None = None) -> list[SessionInfo]:
    return [SessionInfo(p.name, p, read_status(p), _read_toml(p / CONFIG))
            for p in session_folders(sessions_dir)]


def read_config_fields(session: Path) -> dict:
    """A session's config.toml as one flat dict of fields ({} when it cannot be read), for
    showing; `TrainConfig.from_toml` is what checks it."""
    flat: dict = {}
    for key, value in _read_toml(Path(session) / CONFIG).items():
        if isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return flat


def loss_spikes(metrics: list[dict], n: int = 5, window: int = 20) -> list[dict]:
    """The `n` steps whose training loss stands highest above the median of the `window`
    steps before them (the spikes worth looking at the batch of), highest first:
    [{"step", "loss", "median", "excess"}]. The first steps, with no window yet, compare
    with what there is."""
    import statistics

    points = [(int(m["step"]), float(m["loss"])) for m in metrics
              if isinstance(m.get("step"), int) and isinstance(m.get("loss"), (int, float))]
    scored = []
    for i, (step, loss) in enumerate(points):
        before = [v for _s, v in points[max(0, i - window):i]]
        median = statistics.median(before) if before else loss
        scored.append({"step": step, "loss": loss, "median": median, "excess": loss - median})
    scored.sort(key=lambda d: -d["excess"])
    return [d for d in scored[:n] if d["excess"] > 0] or scored[:min(n, 1)]


def _read_toml(path: Path) -> dict:
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
