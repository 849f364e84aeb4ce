"""Reading local JSON and JSONL files row by row, with a precise report of bad rows.

`read_json_rows(path)` yields `(row_number, object)` for every row it could parse and
records every row it could not (malformed JSON, invalid UTF-8) in a `BadRows`. Rows are
numbered from 0 in file order: the index in a JSON array, or the line's position among the
non-blank lines of a JSONL file (the message also gives the 1-based line number).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from ..errors import WorkbenchError
from .problems import BadRows


def read_json_rows(path: str | Path, bad: BadRows) -> Iterator[tuple[int, Any]]:
    path = Path(path)
    if not path.exists():
        raise WorkbenchError(f"{path}: no such file")
    if path.is_dir():
        raise WorkbenchError(f"{path}: is a folder, not a JSON file")
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:].lstrip()
    if not head:
        raise WorkbenchError(f"{path}: the file is empty")
    if head[:1] == b"[" or (path.suffix == ".json" and head[:1] == b"{" and not _looks_jsonl(path)):
        yield from _read_array(path)
    else:
        yield from _read_lines(path, bad)


def _looks_jsonl(path: Path) -> bool:
    """A .json file holding one object per line (common): the first line parses alone."""
    with open(path, "rb") as fh:
        first = fh.readline()
    try:
        json.loads(first)
        return True
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False


def _read_array(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise WorkbenchError(f"{path}: not UTF-8 (invalid byte at offset {err.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise WorkbenchError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: "
                             f"{err.msg})") from None
    if isinstance(data, dict):
        lists = [k for k, v in data.items() if isinstance(v, list)]
        if len(lists) == 1:  # {"data": [...]} / {"train": [...]}
            data = data[lists[0]]
        else:
            raise WorkbenchError(f"{path}: expected a JSON array of rows (or one object per line)")
    if not isinstance(data, list):
        raise WorkbenchError(f"{path}: expected a JSON array of rows, got {type(data).__name__}")
    yield from enumerate(data)


def _read_lines(path: Path, bad: BadRows) -> Iterator[tuple[int, Any]]:
    row = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as err:
                bad.add("invalid UTF-8", row, f"line {lineno}: invalid UTF-8 at byte {err.start}")
                row += 1
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                bad.add("malformed JSON", row, f"line {lineno}: malformed JSON ({err.msg}, "
                                                f"column {err.colno})")
                row += 1
                continue
            yield row, obj
            row += 1
