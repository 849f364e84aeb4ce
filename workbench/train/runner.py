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
from .status import check_alive, now



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
    from ..sessions import check_session_name

    return check_session_name(name)


def command_for(session: Path, *, resume: bool, nproc: int = 1) -> list[str]:
    """The command line that runs (or resumes) a session in the foreground."""
    args = ["train", "--sessions", str(session.parent), "--quiet"]
    args += ["--resume", session.name] if resume else [str(session / CONFIG), "--session", session.name]
    if nproc > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc-per-node={nproc}", "-m", "workbench", *args]
    return [sys.executable, "-m", "workbench", *args]


def _launch(session: Path, cmd: list[str], lock_fd: int) -> int:
    """Start `cmd` in a new process session, handing it the session's locked file."""
    from .lock import ENV_FD

    with open(session / LOG, "a", encoding="utf-8") as log:
        log.write(f"{_dt.datetime.now():%Y-%m-%d %H:%M:%S} launching: {' '.join(cmd)}\n")
        log.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1", **{ENV_FD: str(lock_fd)})
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=env,
                                cwd=os.getcwd(), pass_fds=(lock_fd,))
    return proc.pid


def _launch_starting(session: Path, status: dict, *, resume: bool, nproc: int, lock) -> None:
    """Mark the session `starting`, launch the process with the session's lock (taken by
    the caller: the child holds it from its first instant, so a second launch is refused
    at once), and record its pid unless the process has already written its own status."""
    try:
        status = dict(status, state="starting", error=None, pid=None, updated_at=now())
        write_json_atomic(session / STATUS, status)
        pid = _launch(session, command_for(session, resume=resume, nproc=nproc), lock.fd)
    except OSError as err:
        lock.release()
        from .loop import disk_problem

        raise WorkbenchError(disk_problem(err, session, "start the training process")) from None
    lock.hand_over()  # the child's copy of the descriptor keeps the lock
    current = read_status(session)
    if current.get("state") == "starting" and not current.get("pid"):
        current["pid"] = pid
        try:
            write_json_atomic(session / STATUS, current)
        except OSError:
            pass  # the child writes its own status; a full disk is its to report


def start(config: TrainConfig, name: str | None = None,
          sessions_dir: str | os.PathLike | None = None) -> Path:
    """Validate, create sessions/<name>/ with config.toml, launch detached. Returns the folder."""
    config.validate()
    root = Path(sessions_dir or default_sessions_dir())
    from ..model.sizes import check_fits

    check_fits(config, root)  # a run that will not fit is refused before it starts
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        from .loop import disk_problem

        raise WorkbenchError(disk_problem(err, root.parent, f"create {root}")) from None
    name = check_name(name) if name else new_session_name(config, root)
    session = root / name
    if session.exists() and any(p.name != ".lock" for p in session.iterdir()):
        raise WorkbenchError(f"session {name!r} already exists in {root}; choose another name "
                             f"or resume it with `workbench train --resume {name}`")
    from .lock import acquire

    lock = acquire(session)  # two launches at once: the second is refused here
    try:
        write_text_atomic(session / CONFIG, config.to_toml())
    except OSError as err:
        lock.release()
        from .loop import disk_problem

        raise WorkbenchError(disk_problem(err, root, f"write {name}/{CONFIG}")) from None
    _launch_starting(session, {"step": 0, "max_steps": None, "started_at": now(),
                               "model": config.model, "data": config.data},
                     resume=False, nproc=config.nproc, lock=lock)
    return session


def resume(name: str, sessions_dir: str | os.PathLike | None = None) -> Path:
    """Continue a stopped or failed session from its last checkpoint, detached."""
    from .lock import acquire

    session = _existing(name, sessions_dir)
    lock = acquire(session, wait=0.5)  # refused while a trainer holds it
    status = check_alive(session)
    if status.get("state") == "finished":
        lock.release()
        raise WorkbenchError(f"session {name!r} has finished; start a new run to train further")
    config = TrainConfig.from_toml(session / CONFIG)
    _launch_starting(session, status, resume=True, nproc=config.nproc, lock=lock)
    return session


def stop(name: str, sessions_dir: str | os.PathLike | None = None) -> bool:
    """Ask a running session to stop (SIGTERM to its process group): it finishes the step,
    saves a checkpoint and ends `stopped`. False if it was not running."""
    from .lock import held_by
    from .status import trainer_alive

    session = _existing(name, sessions_dir)
    status = check_alive(session)
    if status.get("state") not in ("starting", "running") or not trainer_alive(session, status):
        return False
    pid = (held_by(session) or {}).get("pid") or status.get("pid")
    if not pid:
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
    from ..sessions import session_folders

    return [p.name for p in session_folders(sessions_dir)
            if (p / STATUS).exists() and check_alive(p).get("state") in ("starting", "running")]


def _existing(name: str, sessions_dir) -> Path:
    session = Path(sessions_dir or default_sessions_dir()) / check_name(name)
    if not (session / CONFIG).exists():
        raise WorkbenchError(f"no session {name!r} in {session.parent}")
    return session
