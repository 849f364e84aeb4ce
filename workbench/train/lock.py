"""One trainer per session, enforced by the operating system.

A trainer holds an exclusive `flock` on `sessions/<name>/.lock` for as long as its process
lives; the kernel releases it when the process ends, however it ends (kill -9 included),
so a lock can never be left behind by a crash. A second trainer (a fresh start, a
`--detach`, a `--resume`, the TUI) fails to take it and is told who holds it.

A detached start takes the lock in the launching process and hands the locked file to the
child (an inherited descriptor shares the lock), so two launches racing each other cannot
both print "started". The child finds the descriptor in `WORKBENCH_LOCK_FD`.

Readers ask `held_by(session)`: the holder's pid and start time, or None. It probes with a
shared lock, so it never blocks a trainer for more than the instant of the probe (the
trainer retries for a moment before giving up).
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from ..errors import WorkbenchError

LOCK = ".lock"
ENV_FD = "WORKBENCH_LOCK_FD"


class SessionBusy(WorkbenchError):
    """Another process is training this session."""


class SessionLock:
    """The exclusive lock of one session, held until `release()` or the process ends."""

    def __init__(self, session: Path, fd: int) -> None:
        self.session = session
        self.fd = fd

    def record(self, pid: int | None = None) -> None:
        """Write who holds the lock (for the message a second trainer gets)."""
        from .status import now

        info = json.dumps({"pid": pid or os.getpid(), "since": now()}).encode()
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, info, 0)
        except OSError:
            pass  # a full or read-only disk: the lock still holds, only the note is lost

    def hand_over(self) -> None:
        """Close this process's descriptor without unlocking: a child that inherited it
        holds the lock from now on."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def release(self) -> None:
        if self.fd >= 0:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = -1

    def __enter__(self) -> "SessionLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def acquire(session: Path, *, wait: float = 0.5) -> SessionLock:
    """Take the session's lock or raise WorkbenchError (exit 2) naming the holder. Waits up to
    `wait` seconds (a reader's probe holds it for an instant)."""
    try:
        session.mkdir(parents=True, exist_ok=True)
        fd = os.open(session / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        from .loop import disk_problem

        raise WorkbenchError(disk_problem(err, session.parent, f"create session {session.name}")) from None
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder(fd)
                os.close(fd)
                raise SessionBusy(busy_message(session.name, holder)) from None
            time.sleep(0.05)
    lock = SessionLock(session, fd)
    lock.record()
    return lock


def inherited(session: Path) -> SessionLock | None:
    """The lock a launching process took and passed down (`WORKBENCH_LOCK_FD`), if this
    process was started that way for this session."""
    value = os.environ.pop(ENV_FD, "")
    if not value.isdigit():
        return None
    fd = int(value)
    try:
        os.fstat(fd)
    except OSError:
        return None
    lock = SessionLock(session, fd)
    lock.record()
    return lock


def held_by(session: Path) -> dict | None:
    """{"pid", "since"} of the process training `session`, or None when none is."""
    try:
        fd = os.open(session / LOCK, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        return holder or {"pid": None, "since": None}
    except OSError:
        os.close(fd)
        return None
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    return None


def has_lock_file(session: Path) -> bool:
    return (session / LOCK).exists()


def busy_message(name: str, holder: dict | None) -> str:
    holder = holder or {}
    pid = holder.get("pid")
    since = holder.get("since")
    who = f"pid {pid}" if pid else "another process"
    when = f" (started {since})" if since else ""
    return (f"session {name} is being trained by {who}{when}; wait for it to end, stop it "
            f"with `workbench train --stop {name}`, or train another session")


def _holder(fd: int) -> dict | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
