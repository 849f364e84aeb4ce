"""Following a session folder from the UI: read what a training process writes, a little at
a time, at a steady rate (toolong's habit: progress comes from files, never from the
process itself), plus the wording the Train and Sessions screens share (times, durations,
ETA, what to do after a failure).

Everything here is plain file reading: no torch, no Textual. `SessionWatch.poll()` is cheap
enough for the UI thread once a second: it reads status.json (small), and only the bytes
appended to metrics.jsonl, eval.jsonl, samples.jsonl and train.log since the last poll.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from workbench.sessions import (CONFIG, EVAL, LOG, METRICS, SAMPLES, STATUS, checkpoint_rows,
                                read_status)

LIVE_STATES = ("starting", "running")


class FileTail:
    """The complete lines appended to a file since the last read. A torn last line (no
    newline yet) waits for the next read; a file that shrank or was replaced is read again
    from the start, and `reset` says so."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.inode: int | None = None
        self.reset = False

    def read_lines(self, max_bytes: int | None = None) -> list[str]:
        """New complete lines; with `max_bytes`, only those in the last max_bytes of what is
        new (the tail of a long log)."""
        self.reset = False
        try:
            st = os.stat(self.path)
        except OSError:
            if self.offset:
                self.offset, self.inode, self.reset = 0, None, True
            return []
        if st.st_size < self.offset or (self.inode is not None and st.st_ino != self.inode):
            self.offset, self.reset = 0, True
        self.inode = st.st_ino
        if st.st_size == self.offset:
            return []
        start, skip_first = self.offset, False
        if max_bytes is not None and st.st_size - start > max_bytes:
            start, skip_first = st.st_size - max_bytes, True
        try:
            with open(self.path, "rb") as fh:
                fh.seek(start)
                data = fh.read(st.st_size - start)
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset = start + end + 1
        lines = data[:end].decode("utf-8", errors="replace").split("\n")
        return lines[1:] if skip_first else lines


class JsonlTail(FileTail):
    def read(self) -> list[dict]:
        lines = [line for line in self.read_lines() if line.strip()]
        if not lines:
            return []
        try:  # one decode for the whole chunk: ~10x faster than a loads per line
            rows = json.loads("[" + ",".join(lines) + "]")
        except json.JSONDecodeError:
            rows = []
            for line in lines:  # a broken line somewhere: keep the others
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return [r for r in rows if isinstance(r, dict)]


@dataclass
class SessionWatch:
    """One session folder, read incrementally. `poll()` returns the names of what changed:
    status, metrics, evals, samples, log."""

    path: Path
    log_lines: int = 300
    status: dict = field(default_factory=dict)
    metrics: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    log: deque = field(default_factory=deque)
    loading: bool = False   # being read in a worker: the UI thread leaves it alone

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self._metrics = JsonlTail(self.path / METRICS)
        self._evals = JsonlTail(self.path / EVAL)
        self._samples = JsonlTail(self.path / SAMPLES)
        self._log = FileTail(self.path / LOG)
        self.log = deque(maxlen=self.log_lines)
        self._status_key: tuple | None = None
        self.new_log_lines: list[str] = []
        self._train: list[tuple[int, float]] = []
        self._val: list[tuple[int, float]] = []
        self._metric: list[tuple[int, float]] = []  # exact match on the eval prompts

    @property
    def name(self) -> str:
        return self.path.name

    def is_big(self, limit: int = 2_000_000) -> bool:
        """Whether the first read is long enough (tens of thousands of logged steps) to do
        it off the UI thread."""
        try:
            return (self.path / METRICS).stat().st_size > limit
        except OSError:
            return False

    @property
    def state(self) -> str:
        return self.status.get("state", "unknown")

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES

    def poll(self, check_alive: bool = True) -> set[str]:
        changed: set[str] = set()
        status = self._read_status(check_alive)
        if status is not None and status != self.status:
            self.status = status
            changed.add("status")
        for name, tail, store in (("metrics", self._metrics, self.metrics),
                                  ("evals", self._evals, self.evals),
                                  ("samples", self._samples, self.samples)):
            new = tail.read()
            if tail.reset:
                store.clear()
                changed.add(name)
                if name == "metrics":
                    self._train.clear()
                elif name == "evals":
                    self._val.clear()
                    self._metric.clear()
            if new:
                store.extend(new)
                changed.add(name)
                if name == "metrics":
                    self._train.extend(_points(new, "loss"))
                elif name == "evals":
                    self._val.extend(_points(new, "val_loss"))
                    self._metric.extend(_points(new, "exact_match"))
        lines = self._log.read_lines(max_bytes=64 * 1024)
        if self._log.reset:
            self.log.clear()
        self.new_log_lines = lines
        if lines:
            self.log.extend(lines)
            changed.add("log")
        return changed

    def _read_status(self, check_alive: bool) -> dict | None:
        path = self.path / STATUS
        try:
            st = path.stat()
        except OSError:
            return {} if self.status else None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        live = self.status.get("state") in LIVE_STATES or not self.status
        if key == self._status_key and not live:
            return None
        if live and check_alive:
            # a `running` run whose process is gone is marked failed (killed) on disk
            from workbench.train.status import check_alive as _check

            status = _check(self.path)
        else:
            status = read_status(self.path)
        if not status:
            return None  # unreadable just now: keep what we had and read it again next time
        self._status_key = key
        return status

    # -- derived numbers -------------------------------------------------------------------
    @property
    def step(self) -> int:
        if self.metrics:
            return max(int(self.status.get("step") or 0), int(self.metrics[-1].get("step", 0)))
        return int(self.status.get("step") or 0)

    @property
    def max_steps(self) -> int | None:
        m = self.status.get("max_steps")
        return int(m) if m else None

    def train_points(self) -> list[tuple[int, float]]:
        """(step, train loss), kept up to date as metrics.jsonl grows (a resumed run's steps
        continue where the checkpoint was; lines logged after it and before a crash, if
        any, stay as they were written)."""
        return self._train

    def val_points(self) -> list[tuple[int, float]]:
        return self._val

    def metric_points(self) -> list[tuple[int, float]]:
        """(step, exact match on the eval prompts), when the run has eval prompts."""
        return self._metric

    def curve(self, color: int | None = None):
        """The run's curves for the loss plot."""
        from .loss_plot import Curve

        return Curve(self.name, self._train, self._val, color=color, metric=self._metric,
                     metric_label="exact match")

    def eta_seconds(self) -> float | None:
        """Seconds left at the pace of the last 50 logged steps (evaluations and checkpoints
        included, since they sit inside elapsed_s)."""
        max_steps = self.max_steps
        if not max_steps or len(self.metrics) < 2:
            return None
        window = self.metrics[-50:]
        a, b = window[0], window[-1]
        steps = b.get("step", 0) - a.get("step", 0)
        secs = (b.get("elapsed_s") or 0) - (a.get("elapsed_s") or 0)
        if steps <= 0 or secs <= 0:
            return None
        return max(0.0, (max_steps - b.get("step", 0)) * secs / steps)

    def elapsed_seconds(self) -> float | None:
        if self.metrics and self.metrics[-1].get("elapsed_s") is not None:
            return float(self.metrics[-1]["elapsed_s"])
        return None

    def latest_samples(self) -> tuple[int | None, list[dict]]:
        if not self.samples:
            return None, []
        step = self.samples[-1].get("step")
        return step, [s for s in self.samples if s.get("step") == step]

    def config_text(self) -> str:
        try:
            return (self.path / CONFIG).read_text(encoding="utf-8")
        except OSError:
            return ""

def _points(rows: list[dict], key: str) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r[key])) for r in rows
            if isinstance(r.get("step"), int) and isinstance(r.get(key), (int, float))]



# -- wording ----------------------------------------------------------------------------------
def parse_time(value: str | None) -> _dt.datetime | None:
    if not value:
        return None
    try:
        t = _dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t


def fmt_time(value: str | None) -> str:
    """An ISO time as local `YYYY-MM-DD HH:MM` (no seconds, no 'ago': stable on screen)."""
    t = parse_time(value)
    return t.astimezone().strftime("%Y-%m-%d %H:%M") if t else "—"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s % 3600) // 60:02d}m"
    return f"{s // 86400}d {(s % 86400) // 3600:02d}h"


def fmt_loss(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "—"


def fmt_rate(value) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    if value >= 10_000:
        return f"{value / 1000:.1f}k"
    return f"{value:,.0f}"


STATE_STYLE = {"starting": "bold $warning", "running": "bold $success", "stopped": "bold $warning",
               "finished": "bold $primary", "failed": "bold $error", "unknown": "dim"}
STATE_ICON = {"starting": "◌", "running": "●", "stopped": "■", "finished": "✔", "failed": "✖",
              "unknown": "?"}


def state_markup(state: str) -> str:
    """Content markup for a state word with its icon, coloured by the theme."""
    style = STATE_STYLE.get(state, "dim")
    return f"[{style}]{STATE_ICON.get(state, '?')} {state}[/]"


_LOG_ERROR = re.compile(r"workbench: error: (.*)")


def failure_cause(status: dict, log_lines) -> str:
    """The session's own message; for a process that died without writing one (killed, or
    an error before training started), the last `workbench: error:` line of train.log."""
    error = status.get("error") or ""
    if status.get("killed"):
        for line in reversed(list(log_lines)):
            m = _LOG_ERROR.search(line)
            if m:
                return f"the process ended with: {m.group(1)}"
    return error


def first_sentences(text: str, limit: int) -> str:
    """As many whole sentences of `text` as fit in `limit` characters (at least the first,
    cut with an ellipsis), for a narrow screen: the full message is in train.log."""
    out = ""
    for sentence in re.split(r"(?<=[.;])\s+", text):
        if out and len(out) + 1 + len(sentence) > limit:
            return out + " …"
        out = f"{out} {sentence}".strip()
    return out if len(out) <= limit else out[:limit - 1] + "…"


def advice(status: dict, log_lines=(), keys: dict | None = None) -> str:
    """What to do next, for a stopped or failed session, naming the screen's keys."""
    keys = {"resume": "ctrl+r", "reuse": "ctrl+b", **(keys or {})}
    state = status.get("state")
    error = (failure_cause(status, log_lines) or "").lower()
    ckpt = status.get("last_checkpoint")
    resume = (f"{keys['resume']} resumes from {ckpt}" if ckpt
              else f"{keys['resume']} starts it again from step 0 (no checkpoint yet)")
    if state == "stopped":
        return f"on request at step {status.get('step', 0)}: {resume}."
    if state != "failed":
        return ""
    if "out of memory" in error:
        return (f"{keys['reuse']} copies this config into the form: lower batch_size and raise "
                "grad_accum (same effective batch), or lower max_len; then launch.")
    words = set(re.findall(r"[a-z]+", error))
    if "loss became" in error or words & {"nan", "inf"}:
        return (f"{keys['reuse']} copies this config: lower lr or add warmup_steps, then launch; "
                f"or {resume} as is.")
    if "the process ended with" in error or status.get("before_training"):
        return f"fix the cause, then launch again ({keys['reuse']} copies this config into the form)."
    if status.get("killed"):
        return f"killed from outside (kill -9, a reboot, the OOM killer): {resume}."
    return f"{resume}; or {keys['reuse']} copies the config to change it first."


def stop_question(session: Path, resume_key: str) -> str:
    """What the stop confirmation says, read from the run's status now (the dialog calls it
    each second: the run goes on while the question is open)."""
    from workbench.sessions import read_status

    try:
        status = read_status(session)
    except OSError:
        status = {}
    return (f"{session.name} at step {status.get('step') or 0}/{status.get('max_steps') or '?'}:"
            f" it finishes the current step, saves a checkpoint and ends 'stopped'. "
            f"{resume_key} resumes it.")
