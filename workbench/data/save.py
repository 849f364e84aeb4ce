"""Saving a dataset to JSONL or to a `save_to_disk` folder, with a manifest.

The manifest records where the data came from (source, revision, config), its format, the
filters, the balance strategy and seed, and the counts before and after, so a training run
can be traced back to its data. Rows keep their source columns plus `source_row`.

* `out.jsonl`: one JSONL file (one split), manifest in `out.manifest.json`.
* a folder with `as_="jsonl"`: `<split>.jsonl` per split and `manifest.json`.
* a folder (default): `datasets`' `save_to_disk` layout and `manifest.json`.

Rows are written in chunks, so saving a balanced view of a memory-mapped dataset keeps
memory flat.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa

from .. import __version__
from ..errors import WorkbenchError
from ..fsutil import write_json_atomic
from .dataset import INTERNAL, Dataset

CHUNK = 20000
MANIFEST = "manifest.json"


def manifest(ds, **extra: Any) -> dict[str, Any]:
    return {
        "workbench_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "source": {"spec": ds.source, **{k: v for k, v in ds.info.items() if k != "cache"}},
        "format": ds.format,
        "format_detected": ds.detected,
        "bad_rows": ds.bad.to_dict(),
        **extra,
    }


def _chunks(ds: Dataset, split: str) -> Iterator[pa.Table]:
    s = ds.split(split)
    rows = s.row_numbers()
    for start in range(0, len(s), CHUNK):
        pos = np.arange(start, min(start + CHUNK, len(s)))
        table = s.take(pos)
        keep = [c for c in table.column_names if c not in INTERNAL and c != "source_row"]
        table = table.select(keep).append_column("source_row", pa.array(rows[pos], type=pa.int64()))
        yield table


def _write_jsonl_rows(path: Path, rows: Iterable[dict]) -> int:
    tmp = path.with_name(f".{path.name}.tmp")
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def save_dataset(ds: Dataset, out: str | Path, *, as_: str | None = None,
                 manifest_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write `ds` to `out`; returns the manifest written beside it. A path that cannot be
    written (under a file, read-only, a full disk) is a WorkbenchError naming it; nothing
    partial is left behind."""
    out = Path(out)
    kind = as_ or ("jsonl" if out.suffix == ".jsonl" else "arrow")
    if kind not in ("jsonl", "arrow"):
        raise WorkbenchError(f"--as must be jsonl or arrow, not {kind!r}")
    if as_ == "arrow" and out.suffix == ".jsonl":
        raise WorkbenchError(f"--out {out}: --as arrow writes a folder (save_to_disk), not a "
                             ".jsonl file; drop --as, or give a folder")
    check_writable(out)
    try:
        return _save_dataset(ds, out, kind, manifest_extra)
    except OSError as err:
        raise WorkbenchError(_write_problem(out, err)) from None


def check_writable(out: Path) -> None:
    """Refuse an output path under a file (`x.json/y.jsonl`) before any work is done."""
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise WorkbenchError(f"--out {out}: {parent} is a file, not a folder; give a "
                                     "path in a folder")
            break


def _write_problem(out: Path, err: OSError) -> str:
    import errno

    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"--out {out}: the disk is full ({err.strerror}); free some space or write elsewhere"
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"--out {out}: cannot write there ({err.strerror}); give a writable folder"
    return f"--out {out}: cannot write ({err.strerror or err})"


def _save_dataset(ds: Dataset, out: Path, kind: str,
                  manifest_extra: dict[str, Any] | None) -> dict[str, Any]:
    counts = ds.counts()
    meta = manifest(ds, rows=counts, **(manifest_extra or {}))
    if out.suffix == ".jsonl":
        if len(ds.split_names) != 1:
            raise WorkbenchError(f"{out}: {len(ds.split_names)} splits ({', '.join(ds.split_names)})"
                                 " do not fit one .jsonl file; give a folder instead")
        out.parent.mkdir(parents=True, exist_ok=True)
        split = ds.split_names[0]
        _write_jsonl_rows(out, (r for t in _chunks(ds, split) for r in t.to_pylist()))
        meta["files"] = {split: out.name}
        write_json_atomic(out.with_name(out.stem + ".manifest.json"), meta)
        return meta
    if out.exists() and not out.is_dir():
        raise WorkbenchError(f"{out}: exists and is not a folder")
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if kind == "jsonl":
        meta["files"] = {}
        for split in ds.split_names:
            _write_jsonl_rows(tmp / f"{split}.jsonl",
                              (r for t in _chunks(ds, split) for r in t.to_pylist()))
            meta["files"][split] = f"{split}.jsonl"
    else:
        from .loaders import import_datasets

        datasets = import_datasets()
        # Each split goes through a memory-mapped Arrow file, so memory stays flat.
        tables = {}
        for split in ds.split_names:
            staged = tmp / f".{split}.arrow"
            schema = next(_chunks_schema(ds, split)).schema
            with pa.OSFile(str(staged), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
                for table in _chunks(ds, split):
                    writer.write_table(table.cast(schema))
            tables[split] = pa.ipc.open_file(pa.memory_map(str(staged))).read_all()
        dd = datasets.DatasetDict({split: datasets.Dataset(t) for split, t in tables.items()})
        dd.save_to_disk(str(tmp / "data"))
        del dd, tables
        for split in ds.split_names:
            (tmp / f".{split}.arrow").unlink()
        for item in (tmp / "data").iterdir():
            item.rename(tmp / item.name)
        (tmp / "data").rmdir()
        meta["files"] = {s: s for s in ds.split_names}
    write_json_atomic(tmp / MANIFEST, meta)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return meta


def _chunks_schema(ds: Dataset, split: str) -> Iterator[pa.Table]:
    s = ds.split(split)
    keep = [c for c in s.table.column_names if c not in INTERNAL and c != "source_row"]
    yield s.table.select(keep).slice(0, 0).append_column("source_row", pa.array([], type=pa.int64()))


def save_stream(sds, out: str | Path, rows_by_split: dict[str, Iterable[dict]],
                manifest_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write streamed rows (a streaming balance) as JSONL: a file for one split, else a
    folder of `<split>.jsonl`."""
    out = Path(out)
    check_writable(out)
    try:
        return _save_stream(sds, out, rows_by_split, manifest_extra)
    except OSError as err:
        raise WorkbenchError(_write_problem(out, err)) from None


def _save_stream(sds, out: Path, rows_by_split: dict[str, Iterable[dict]],
                 manifest_extra: dict[str, Any] | None) -> dict[str, Any]:
    meta = manifest(sds, **(manifest_extra or {}))
    meta["rows"] = {}
    if out.suffix == ".jsonl":
        if len(rows_by_split) != 1:
            raise WorkbenchError(f"{out}: several splits do not fit one .jsonl file; give a folder")
        out.parent.mkdir(parents=True, exist_ok=True)
        (split, rows), = rows_by_split.items()
        meta["rows"][split] = _write_jsonl_rows(out, rows)
        meta["files"] = {split: out.name}
        write_json_atomic(out.with_name(out.stem + ".manifest.json"), meta)
        return meta
    out.mkdir(parents=True, exist_ok=True)
    meta["files"] = {}
    for split, rows in rows_by_split.items():
        meta["rows"][split] = _write_jsonl_rows(out / f"{split}.jsonl", rows)
        meta["files"][split] = f"{split}.jsonl"
    write_json_atomic(out / MANIFEST, meta)
    return meta
