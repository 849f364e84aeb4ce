"""status.json: the run's state, written atomically, and how a reader tells a live run from
a dead one.

A run writes its pid and the pid's start time (from /proc where there is one). A reader
that finds `running` (or `starting`) with a pid that is gone, or reused by another process,
knows the run was killed (kill -9, a reboot, an OOM killer) and marks it `failed` with
"killed", so the UI can offer to resume from the last checkpoint.
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path
from typing import Any

from ..fsutil import write_json_atomic
from ..sessions import STATUS, read_status


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def process_start_time(pid: int) -> int | None:
    """Clock ticks since boot when `pid` started (Linux), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid: int | None, start: int | None = None) -> bool:
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if start is not None:
        current = process_start_time(int(pid))
        if current is not None and current != start:
            return False  # the pid now belongs to another process
    if _is_zombie(int(pid)):
        return False
    return True


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class StatusWriter:
    """Merges updates into status.json (atomic replace). Disabled on non-main DDP ranks."""

    def __init__(self, session: Path, enabled: bool = True) -> None:
        self.path = session / STATUS
        self.enabled = enabled
        self.data: dict[str, Any] = read_status(session) if enabled else {}

    now = staticmethod(now)

    def update(self, **fields: Any) -> None:
        if not self.enabled:
            return
        self.data.update(fields)
        self.data["updated_at"] = now()
        write_json_atomic(self.path, self.data)

    def try_update(self, **fields: Any) -> bool:
        """`update`, for the paths that report a failure: a write that fails too (the disk
        is full) must not hide the first failure. The space kept in reserve (`reserve`) is
        given back first so that the failure itself can be recorded. False when it could
        not be written (a read-only folder)."""
        for attempt in range(2):
            try:
                self.update(**fields)
                return True
            except OSError:
                if attempt or not release_reserve(self.path.parent):
                    return False
        return False


RESERVE = ".reserve"
RESERVE_BYTES = 256 * 1024


def keep_reserve(session: Path) -> None:
    """Set a little disk space aside for the session (a file of zeros), so that a run that
    fills the disk can still write why it failed."""
    path = session / RESERVE
    try:
        if path.exists() and path.stat().st_size >= RESERVE_BYTES:
            return
        with open(path, "wb") as fh:
            fh.write(b"\0" * RESERVE_BYTES)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        try:
            path.unlink()
        except OSError:
            pass


def release_reserve(session: Path) -> bool:
    try:
        (session / RESERVE).unlink()
        return True
    except OSError:
        return False


def _recent(status: dict, seconds: float) -> bool:
    try:
        then = _dt.datetime.fromisoformat(status.get("updated_at") or "")
    except ValueError:
        return False
    return (_dt.datetime.now(_dt.timezone.utc) - then).total_seconds() < seconds


def trainer_alive(session: Path, status: dict) -> bool:
    """Is a process training `session`? Its lock says so (held for the life of the trainer,
    released by the kernel however it ends); a session from before locks: its pid."""
    from .lock import has_lock_file, held_by

    if has_lock_file(session):
        return held_by(session) is not None
    return pid_alive(status.get("pid"), status.get("pid_start"))


def check_alive(session: Path) -> dict:
    """The session's status; a `running`/`starting` run whose process is gone is marked
    `failed` (killed) on disk first (in memory only when the disk refuses: a reader never
    raises)."""
    status = read_status(session)
    if status.get("state") not in ("starting", "running"):
        return status
    if trainer_alive(session, status):
        return status
    if status.get("state") == "starting" and not status.get("pid") and _recent(status, 60) \
            and not (session / ".lock").exists():
        return status  # being launched by an older launcher: the pid comes in a moment
    status.update(state="failed", killed=True,
                  error=f"killed: process {status.get('pid')} is gone (at step "
                        f"{status.get('step', 0)}); resume from the last checkpoint with "
                        f"`workbench train --resume {session.name}`",
                  updated_at=now())
    try:
        write_json_atomic(session / STATUS, status)
    except OSError as err:  # a full or read-only disk: the reader still sees the run as ended
        status["error"] = (f"the run ended at step {status.get('step', 0)} without recording "
                           f"why: its folder cannot be written ({err.strerror}), so it may "
                           f"have stopped on that. Make room or make it writable, then "
                           f"`workbench train --resume {session.name}`")
    return status
