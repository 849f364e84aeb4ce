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


def _recent(status: dict, seconds: float) -> bool:
    try:
        then = _dt.datetime.fromisoformat(status.get("updated_at") or "")
    except ValueError:
        return False
    return (_dt.datetime.now(_dt.timezone.utc) - then).total_seconds() < seconds


def check_alive(session: Path) -> dict:
    """The session's status; a `running`/`starting` run whose process is gone is marked
    `failed` (killed) on disk first."""
    status = read_status(session)
    if status.get("state") == "starting" and not status.get("pid") and _recent(status, 60):
        return status  # being launched: the launcher writes the pid in a moment
    if status.get("state") in ("starting", "running") and not pid_alive(
            status.get("pid"), status.get("pid_start")):
        status.update(state="failed", killed=True,
                      error=f"killed: process {status.get('pid')} is gone (at step "
                            f"{status.get('step', 0)}); resume from the last checkpoint with "
                            f"`workbench train --resume {session.name}`",
                      updated_at=now())
        write_json_atomic(session / STATUS, status)
    return status
