"""Small file helpers: atomic replace and whole-line appends.

A reader of a session folder (the TUI, another process) must never see half a file or half
a line, and a crash must never leave a corrupt one. Files are replaced with write-to-temp +
rename; logs grow by appending whole lines and flushing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text`: a reader sees the old content or the new, never half."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def append_jsonl(path: str | os.PathLike, obj: Any) -> None:
    """Append one JSON object as one whole line, flushed, in a single write call.

    A writer killed (kill -9) in the middle of that call can leave the start of a line with
    no newline: Linux stops a file write at a page boundary when a fatal signal is pending.
    Readers skip such a torn last line (`read_jsonl`); the next append cuts it off first, so
    it never glues onto the next whole line.
    """
    line = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    with open(path, "ab+") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end:
            fh.seek(end - 1)
            if fh.read(1) != b"\n":
                fh.truncate(_last_line_end(fh, end))
        fh.write(line)
        fh.flush()


def _last_line_end(fh, end: int, chunk: int = 4096) -> int:
    """Offset just past the last newline before `end` (0 when there is none)."""
    while end > 0:
        start = max(0, end - chunk)
        fh.seek(start)
        at = fh.read(end - start).rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0


def truncate_jsonl_after(path: str | os.PathLike, step: int) -> int:
    """Drop the lines of a session's JSONL file whose "step" is above `step` (what a resumed
    run will write again), and a torn last line; atomically. Returns how many went."""
    path = Path(path)
    if not path.exists():
        return 0
    keep, dropped = [], 0
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.endswith("\n"):
                dropped += 1
                break
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                dropped += 1
                continue
            if isinstance(obj, dict) and isinstance(obj.get("step"), int) and obj["step"] > step:
                dropped += 1
                continue
            keep.append(line)
    if dropped:
        write_text_atomic(path, "".join(keep))
    return dropped


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read the complete lines of a JSONL file; a torn last line (no newline yet) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return out
