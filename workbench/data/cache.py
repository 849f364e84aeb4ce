"""A disk cache of checked datasets as Arrow IPC files, memory-mapped on open.

A local source is read and checked once; the usable rows of each split go to
`<cache>/datasets/<key>/<split>.arrow` with a `meta.json` (format, bad-row reports, source
facts). Opening the same unchanged file again maps those files: instant, and rows cost no
memory until read. The key covers the path, size and modification time of every file of the
source, the requested format and the cache version, so an edited file is read again.
Set WORKBENCH_CACHE to move the cache (default: ~/.cache/sft-workbench).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pyarrow as pa

from .dataset import Dataset, Split
from .loaders import CACHE_VERSION, _bad_from_dict, cache_dir


def source_key(path: Path, fmt: str | None, split: str | None) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha1(f"{CACHE_VERSION}|{path.resolve()}|{fmt}|{split}".encode())
    for f in files:
        st = f.stat()
        h.update(f"|{f.relative_to(path) if f != path else ''}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def load(key: str, source: str) -> Dataset | None:
    folder = cache_dir() / "datasets" / key
    try:
        meta = json.loads((folder / "meta.json").read_text())
        splits = {}
        for name in meta["splits"]:
            table = pa.ipc.open_file(pa.memory_map(str(folder / f"{name}.arrow"))).read_all()
            splits[name] = Split(name, table, None, _bad_from_dict(meta["bad"][name], source))
    except (OSError, KeyError, ValueError, pa.ArrowInvalid):
        return None
    return Dataset(source, meta["format"], meta["detected"], splits, meta["info"])


def store(ds: Dataset, key: str) -> Dataset:
    """Write `ds` (plain splits, no views) to the cache and return it memory-mapped.

    Two processes may cache the same source at once (the ranks of a DDP run, the app and a
    training process): each writes its own temporary folder, and the first to rename it
    wins; the other's copy is dropped and the winner's is read. A cache that cannot be
    written (a full or read-only disk) is skipped: the data is used from memory."""
    root = cache_dir() / "datasets"
    try:
        return _store(ds, key, root)
    except OSError:
        return ds


def _store(ds: Dataset, key: str, root) -> Dataset:
    folder = root / key
    tmp = root / f".{key}.{os.getpid()}.tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    for name, s in ds.splits.items():
        table = s.table
        if "_row" not in table.column_names:
            table = table.append_column("_row", pa.array(s.base_rows, type=pa.int64()))
        with pa.OSFile(str(tmp / f"{name}.arrow"), "wb") as sink, \
                pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table, max_chunksize=65536)
    meta = {"format": ds.format, "detected": ds.detected, "splits": list(ds.splits),
            "bad": {n: s.bad.to_dict() for n, s in ds.splits.items()}, "info": ds.info}
    (tmp / "meta.json").write_text(json.dumps(meta, default=str))
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process stored the same source a moment before
        shutil.rmtree(tmp, ignore_errors=True)
    return load(key, ds.source) or ds
