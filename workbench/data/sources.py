"""Opening a data source: a local file or folder, a `save_to_disk` folder, or a Hub id.

`open_dataset` is what every command and screen calls. It detects the format (or takes the
one given), checks every row, and returns a `Dataset` (Arrow-backed) or, with
`streaming=True`, a `StreamingDataset`. Bad rows are counted with their row numbers and
skipped; an error is raised only when nothing usable remains. `load_examples` is the strict
variant `workbench batch` uses: it stops at the first bad row unless told to skip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..errors import WorkbenchError
from .dataset import Dataset, Split
from .formats import (TINYSTORIES_RAW, VOTE_ROWS, check_format, detect_format, format_names,
                      vote_format)
from .loaders import RawData, load_hub, load_local, parse_tinystories_file, raw_from_hub
from .problems import BadRows
from .records import Example
from .validate import validate_table

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_hub_id(spec: str) -> bool:
    return bool(_HUB_ID.match(spec)) and not Path(spec).expanduser().exists()


def open_dataset(source: str, *, format: str | None = None, split: str | None = None,
                 config: str | None = None, revision: str | None = None,
                 streaming: bool = False):
    """Open SOURCE (a path or a Hub id). `format` overrides detection; `split` keeps one
    split; `config`/`revision` apply to Hub ids; `streaming` reads rows as a stream."""
    if format is not None:
        check_format(format)
    path = Path(source).expanduser()
    if path.exists():
        if streaming and path.is_file():
            from .streaming import StreamingDataset, local_openers

            openers, known = local_openers(path, format)
            return StreamingDataset(source, _stream_format(format, known), format is None,
                                    openers, {"kind": "local", "path": str(path)})
        from . import cache

        key = cache.source_key(path, format, split)
        cached = cache.load(key, source)
        if cached is not None:
            return cached
        if format == TINYSTORIES_RAW:
            raw = parse_tinystories_file(path)
        else:
            raw = load_local(path, format)
        ds = _to_dataset(source, raw, format, split)
        if raw.info.get("cache") or _memory_mapped(raw):
            return ds  # already memory-mapped (parsed TinyStories, parquet, save_to_disk)
        return cache.store(ds, key)
    elif is_hub_id(source):
        ds, info = load_hub(source, config=config, split=split, revision=revision,
                            streaming=streaming)
        if streaming:
            from .streaming import StreamingDataset, hub_openers

            openers, known = hub_openers(ds, split)
            return StreamingDataset(source, _stream_format(format, known), format is None,
                                    openers, info)
        raw = raw_from_hub(ds, info, source, split)
    else:
        raise WorkbenchError(f"{source}: no such file or folder (and not a Hub dataset id)")
    return _to_dataset(source, raw, format, split)


def _memory_mapped(raw: RawData) -> bool:
    return raw.info.get("kind") == "disk" or str(raw.info.get("path", "")).endswith(".parquet")


def _stream_format(given: str | None, known: str | None) -> str | None:
    if given == TINYSTORIES_RAW:
        return "tinystories"
    return given or known


def _to_dataset(source: str, raw: RawData, fmt: str | None, split: str | None) -> Dataset:
    if fmt == TINYSTORIES_RAW:
        fmt = "tinystories"
    detected = fmt is None
    fmt = fmt or raw.format
    if fmt is None:
        # a vote of the first rows (by the fields each one holds), not the union of every
        # column: one odd row does not decide the format of the file
        first = next(iter(raw.splits.values()))
        fmt, _votes = vote_format(first.slice(0, VOTE_ROWS).to_pylist())
        if fmt is None:
            fmt = detect_format(c for c in first.column_names if not c.startswith("_"))
        if fmt is None:
            cols = sorted(c for c in first.column_names if not c.startswith("_"))
            raise WorkbenchError(f"{source}: cannot tell the format from columns {cols}; "
                                 "pass --format (alpaca, chat, prompt-completion, text, ...)")
    splits: dict[str, Split] = {}
    for name, table in raw.splits.items():
        if split is not None and name != split:
            continue
        bad = raw.bad.get(name) or BadRows(file=source)
        bad.file = bad.file or source
        if name not in raw.validated or (raw.format is not None and fmt != raw.format):
            ok = validate_table(table, fmt, bad)
            if not ok.all():
                numbers = pa.array(_numbers(table)[ok], type=pa.int64())
                table = table.filter(pa.array(ok))
                if "_row" not in table.column_names:
                    table = table.append_column("_row", numbers)
        splits[name] = Split(name, table, None, bad)
    if split is not None and not splits:
        raise WorkbenchError(f"{source}: no split {split!r} (splits: {', '.join(raw.splits)})")
    ds = Dataset(source, fmt, detected, splits, raw.info)
    if detected:
        _check_fit(source, fmt, ds)
    if sum(len(s) for s in splits.values()) == 0:
        bad = ds.bad
        raise WorkbenchError(f"{source}: no usable rows ({bad.total} bad"
                             + (f"; first: {bad.first_error()}" if bad else "") + ")")
    return ds


def _check_fit(source: str, fmt: str, ds: Dataset) -> None:
    """A detected format that most rows do not fit is the wrong one: refuse, with the
    counts, rather than train on the few that fit."""
    bad = ds.bad
    # rows without a column the format requires (not, say, a chat with no assistant turn:
    # that is a bad row of the right format)
    lacking = [p for _r, p in bad.first.get("missing field", []) if p.startswith("missing field '")]
    unfit = bad.counts.get("missing field", 0) if lacking else 0
    kept = sum(len(s) for s in ds.splits.values())
    total = kept + bad.total
    if total and unfit * 2 > total:
        first = lacking[0]
        raise WorkbenchError(
            f"{source}: read as {fmt} (detected), {unfit} of {total} rows lack its fields "
            f"(e.g. {first}), so only {kept} would be used; pass --format to say what the "
            f"rows are ({', '.join(format_names())})")


def _numbers(table: pa.Table) -> np.ndarray:
    from .validate import row_numbers

    return row_numbers(table)


@dataclass
class Loaded:
    """Examples read from a source, with the format used and what was skipped."""

    source: str
    format: str
    detected: bool
    examples: list[Example] = field(default_factory=list)
    bad: BadRows = field(default_factory=BadRows)
    dataset: Dataset | None = None


def load_examples(source: str, fmt: str | None = None, *, skip_bad: bool = False,
                  split: str | None = None, **kw) -> Loaded:
    """Every example of one split of a source. With `skip_bad=False` the first bad row
    stops everything with a one-line message naming the file and the row."""
    ds = open_dataset(source, format=fmt, **kw)
    name = split or ds.default_split
    bad = ds.bad
    if bad and not skip_bad:
        raise WorkbenchError(f"{bad.first_error()} (pass --skip-bad to load the other rows)")
    examples = list(ds.iter_examples(name))
    return Loaded(source, ds.format, ds.detected, examples, bad,
                  ds if isinstance(ds, Dataset) else None)
