"""Starting, watching and stopping a training process that outlives its caller.

`start(config, name)` writes the session's config and launches `workbench train` in a new
process session (setsid), its output going to train.log, and returns at once: closing the
TUI or losing the SSH connection does not stop it. `attach(name)` reads a session back (and
notices a run that died without saying so); `stop(name)` sends SIGTERM, after which the run
finishes its step, writes a checkpoint and ends `stopped`; `resume(name)` continues it.
This is the API the Train screen uses.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from ..errors import WorkbenchError
from ..fsutil import write_json_atomic, write_text_atomic
from ..sessions import CONFIG, LOG, STATUS, default_sessions_dir, read_status
from .config import TrainConfig
from .status import check_alive, now, pid_alive

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


def new_session_name(config: TrainConfig, sessions_dir: Path) -> str:
    """`<data stem>-<template>-<yyyymmdd-hhmmss>`, unique in sessions_dir."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", Path(config.data.rstrip("/")).stem or "run").strip("-")[:24]
    base = f"{stem or 'run'}-{config.template or 'sft'}-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    name, n = base, 1
    while (sessions_dir / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise WorkbenchError(f"session name {name!r}: use letters, digits, '.', '_' and '-' "
                             "(at most 80, starting with a letter or digit)")
    return name


def command_for(session: Path, *, resume: bool, nproc: int = 1) -> list[str]:
    """The command line that runs (or resumes) a session in the foreground."""
    args = ["train", "--sessions", str(session.parent), "--quiet"]
    args += ["--resume", session.name] if resume else [str(session / CONFIG), "--session", session.name]
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={nproc}", "-m", "workbench", *args]
    return [sys.executable, "-m", "workbench", *args]


def _launch(session: Path, cmd: list[str]) -> int:
    with open(session / LOG, "a", encoding="utf-8") as log:
        log.write(f"{_dt.datetime.now():%Y-%m-%d %H:%M:%S} launching: {' '.join(cmd)}\n")
        log.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env,
                                cwd=os.getcwd())
    return proc.pid


def _launch_starting(session: Path, status: dict, *, resume: bool, nproc: int) -> None:
    """Mark the session `starting` (no pid yet: readers give it a minute), launch the process,
    and record its pid unless the process has already written its own status."""
    status = dict(status, state="starting", error=None, pid=None, updated_at=now())
    write_json_atomic(session / STATUS, status)
    pid = _launch(session, command_for(session, resume=resume, nproc=nproc))
    current = read_status(session)
    if current.get("state") == "starting" and not current.get("pid"):
        current["pid"] = pid
        write_json_atomic(session / STATUS, current)


def start(config: TrainConfig, name: str | None = None,
          sessions_dir: str | os.PathLike | None = None) -> Path:
    """Validate, create sessions/<name>/ with config.toml, launch detached. Returns the folder."""
    config.validate()
    root = Path(sessions_dir or default_sessions_dir())
    root.mkdir(parents=True, exist_ok=True)
    name = check_name(name) if name else new_session_name(config, root)
    session = root / name
    if session.exists() and any(session.iterdir()):
        raise WorkbenchError(f"session {name!r} already exists in {root}; choose another name "
                             f"or resume it with `workbench train --resume {name}`")
    session.mkdir(parents=True, exist_ok=True)
    write_text_atomic(session / CONFIG, config.to_toml())
    _launch_starting(session, {"step": 0, "max_steps": None, "started_at": now(),
                               "model": config.model, "data": config.data},
                     resume=False, nproc=config.nproc)
    return session


def resume(name: str, sessions_dir: str | os.PathLike | None = None) -> Path:
    """Continue a stopped or failed session from its last checkpoint, detached."""
    session = _existing(name, sessions_dir)
    status = check_alive(session)
    if status.get("state") in ("starting", "running"):
        raise WorkbenchError(f"session {name!r} is still running (pid {status.get('pid')})")
    if status.get("state") == "finished":
        raise WorkbenchError(f"session {name!r} has finished; start a new run to train further")
    config = TrainConfig.from_toml(session / CONFIG)
    _launch_starting(session, status, resume=True, nproc=config.nproc)
    return session


def stop(name: str, sessions_dir: str | os.PathLike | None = None) -> bool:
    """Ask a running session to stop (SIGTERM to its process group): it finishes the step,
    saves a checkpoint and ends `stopped`. False if it was not running."""
    session = _existing(name, sessions_dir)
    status = check_alive(session)
    pid = status.get("pid")
    if status.get("state") not in ("starting", "running") or not pid_alive(pid, status.get("pid_start")):
        return False
    try:
        os.killpg(os.getpgid(int(pid)), signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            return False
    return True


def attach(name: str, sessions_dir: str | os.PathLike | None = None) -> dict:
    """The status of a session, with a dead `running` process marked failed (killed)."""
    return check_alive(_existing(name, sessions_dir))


def running_sessions(sessions_dir: str | os.PathLike | None = None) -> list[str]:
    """Sessions whose process is alive (what the TUI re-attaches to on start)."""
    root = Path(sessions_dir or default_sessions_dir())
    if not root.is_dir():
        return []
    out = []
    for path in sorted(p for p in root.iterdir() if (p / STATUS).exists()):
        if check_alive(path).get("state") in ("starting", "running"):
            out.append(path.name)
    return out


def _existing(name: str, sessions_dir) -> Path:
    session = Path(sessions_dir or default_sessions_dir()) / name
    if not (session / CONFIG).exists():
        raise WorkbenchError(f"no session {name!r} in {session.parent}")
    return session
