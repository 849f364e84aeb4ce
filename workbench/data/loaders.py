"""Reading sources into Arrow tables: local files, `save_to_disk` folders, the Hub.

Each loader returns a `RawData`: one Arrow table per split with the source's own columns
(plus `_row`, the source row number, where rows were skipped or re-numbered), the rows it
could not read (malformed JSON, a ragged CSV row, invalid UTF-8, an unterminated example),
and facts for the manifest. Parsed TinyStoriesInstruct text and large local files are
written to a cache of Arrow IPC files and memory-mapped, so a million rows cost no Python
objects and reopening is instant.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pyarrow as pa

from ..errors import RowError, WorkbenchError
from .formats import VOTE_ROWS, row_to_example, vote_format
from .local import read_json_rows
from .problems import BadRows
from . import tinystories as ts

CACHE_VERSION = "1"
LOCAL_SUFFIXES = (".json", ".jsonl", ".csv", ".tsv", ".parquet", ".txt")
SPLIT_FILE_SUFFIXES = (".jsonl", ".json", ".csv", ".parquet", ".txt")


@dataclass
class RawData:
    """Tables per split as read, before format validation.

    Attributes:
        splits: split name -> table (source columns, maybe `_row`).
        bad: split name -> rows that could not be read at all.
        format: the format if the loader knows it (parsed TinyStories), else None.
        validated: the splits whose rows were already checked against `format`.
        info: source facts for the manifest (kind, path, revision, config, parse stats).
    """

    splits: dict[str, pa.Table]
    bad: dict[str, BadRows] = field(default_factory=dict)
    format: str | None = None
    validated: set[str] = field(default_factory=set)
    info: dict[str, Any] = field(default_factory=dict)


def import_datasets():
    """`datasets`, with its progress bars and warnings silenced (they would tear a TUI screen
    and clutter CLI output)."""
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def cache_dir() -> Path:
    root = os.environ.get("WORKBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "sft-workbench")
    return Path(root)


def _file_key(path: Path, *extra: str) -> str:
    st = path.stat()
    raw = "|".join([CACHE_VERSION, str(path.resolve()), str(st.st_size), str(st.st_mtime_ns), *extra])
    return hashlib.sha1(raw.encode()).hexdigest()[:20]


# ----------------------------------------------------------------------------------------
# Python rows -> Arrow


def rows_to_table(rows: list[dict], numbers: list[int]) -> pa.Table:
    """Build a table from dict rows, column by column. A column whose values have mixed
    types (an extra label column, say) is stored as JSON text rather than failing."""
    names: dict[str, None] = {}
    for r in rows:
        for k in r:
            names[k] = None
    cols: dict[str, pa.Array] = {}
    for name in names:
        values = [r.get(name) for r in rows]
        try:
            cols[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            cols[name] = pa.array([None if v is None else (v if isinstance(v, str) else json.dumps(v))
                                   for v in values], type=pa.string())
    cols["_row"] = pa.array(numbers, type=pa.int64())
    return pa.table(cols)


def _python_rows(items: Iterable[tuple[int, Any]], fmt: str | None, bad: BadRows,
                 file: str) -> tuple[pa.Table, str]:
    """The careful path: check each row with the format's converter, keep the good ones."""
    items = iter(items)
    buffered: list[tuple[int, Any]] = []
    if fmt is None:
        dicts = 0
        for row, obj in items:
            buffered.append((row, obj))
            dicts += isinstance(obj, dict)
            if dicts >= VOTE_ROWS or len(buffered) > 10 * VOTE_ROWS:
                break
        fmt, _votes = vote_format(o for _, o in buffered)
        if fmt is None:
            columns = next((o.keys() for _, o in buffered if isinstance(o, dict)), [])
            raise WorkbenchError(f"{file}: cannot tell the format from columns {sorted(columns)}; "
                                 "pass --format (alpaca, chat, prompt-completion, text, ...)")
    rows, numbers = [], []

    def all_items():
        yield from buffered
        yield from items

    for row, obj in all_items():
        try:
            row_to_example(obj, fmt, row)
        except RowError as err:
            bad.add(err.kind, row, err.problem)
            continue
        rows.append(obj)
        numbers.append(row)
    return rows_to_table(rows, numbers), fmt


# ----------------------------------------------------------------------------------------
# Local files


def load_local(path: Path, fmt: str | None) -> RawData:
    if path.is_dir():
        return _load_folder(path, fmt)
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        return _load_json(path, fmt)
    if suffix in (".csv", ".tsv"):
        return _load_csv(path, fmt, delimiter="\t" if suffix == ".tsv" else ",")
    if suffix == ".parquet":
        return _load_parquet(path)
    if suffix == ".txt":
        return _load_txt(path, fmt)
    raise WorkbenchError(f"{path}: unsupported file type {suffix or '(none)'} "
                         f"(supported: {', '.join(LOCAL_SUFFIXES)}, or a save_to_disk folder)")


def _load_json(path: Path, fmt: str | None) -> RawData:
    bad = BadRows(file=str(path))
    info = {"kind": "local", "path": str(path)}
    if fmt not in ("chat", "sharegpt"):
        table = _try_arrow_json(path)
        if table is not None:
            return RawData({"train": table}, {"train": bad}, None, set(), info)
    table, fmt = _python_rows(read_json_rows(path, bad), fmt, bad, str(path))
    return RawData({"train": table}, {"train": bad}, fmt, {"train"}, info)


def _try_arrow_json(path: Path) -> pa.Table | None:
    """pyarrow's fast reader: newline-delimited JSON with consistent types only."""
    import pyarrow.json as pj

    with open(path, "rb") as fh:
        head = fh.read(64).lstrip()
    if head.startswith(b"[") or head.startswith(b"\xef\xbb\xbf"):
        return None
    try:
        table = pj.read_json(path, read_options=pj.ReadOptions(block_size=16 << 20))
        # pyarrow does not check that string values are UTF-8: a row with a bad byte would
        # fail later, in a search or a page. The careful reader counts and skips such rows.
        table.validate(full=True)
        return table
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, UnicodeDecodeError):
        return None


def _load_csv(path: Path, fmt: str | None, delimiter: str = ",") -> RawData:
    import pyarrow.csv as pcsv

    bad = BadRows(file=str(path))
    info = {"kind": "local", "path": str(path)}
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader(fh, delimiter=delimiter), None)
    if not header:
        raise WorkbenchError(f"{path}: the file is empty (no header row)")
    ragged: list[tuple[int, str]] = []

    def on_invalid(row):
        ragged.append((row.number, f"line {row.number}: {row.actual_columns} fields, "
                                    f"expected {row.expected_columns}"))
        return "skip"

    try:
        table = pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid,
                                            newlines_in_values=True),
            convert_options=pcsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                strings_can_be_null=False))
    except (pa.ArrowInvalid, UnicodeDecodeError):
        table = None
    if table is not None and not ragged:
        return RawData({"train": table}, {"train": bad}, None, set(), info)
    # Careful path: Python's csv module, counting ragged rows and invalid UTF-8 by row.
    items = []
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        next(reader, None)
        for row_no, values in enumerate(reader):
            line = reader.line_num
            if len(values) != len(header):
                bad.add("ragged CSV row", row_no, f"line {line}: {len(values)} fields, "
                                                  f"expected {len(header)}")
                continue
            if any(_has_surrogates(v) for v in values):
                bad.add("invalid UTF-8", row_no, f"line {line}: invalid UTF-8")
                continue
            items.append((row_no, dict(zip(header, values))))
    table, fmt = _python_rows(items, fmt, bad, str(path))
    return RawData({"train": table}, {"train": bad}, fmt, {"train"}, info)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _load_parquet(path: Path) -> RawData:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, memory_map=True)
    except (pa.ArrowInvalid, OSError) as err:
        raise WorkbenchError(f"{path}: not a readable Parquet file ({err})") from None
    return RawData({"train": table}, {"train": BadRows(file=str(path))}, None, set(),
                   {"kind": "local", "path": str(path)})


def _load_txt(path: Path, fmt: str | None) -> RawData:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16).decode("utf-8", errors="replace")
    if fmt == ts_format() or (fmt is None and ts.looks_like_raw(head)):
        return parse_tinystories_file(path)
    bad = BadRows(file=str(path))
    text_rows, numbers = [], []
    if ts.END in head or fmt == "text-documents":
        pieces = (p for p in ts.read_blocks(path))
        docs = "".join(pieces).split(ts.END)
        for i, doc in enumerate(docs):
            if doc.strip():
                text_rows.append(doc.strip("\n"))
                numbers.append(i)
    else:
        with open(path, "rb") as fh:
            for i, raw in enumerate(fh):
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as err:
                    bad.add("invalid UTF-8", i, f"line {i + 1}: invalid UTF-8 at byte {err.start}")
                    continue
                if line.strip():
                    text_rows.append(line)
                    numbers.append(i)
    table = pa.table({"text": pa.array(text_rows, type=pa.string()),
                      "_row": pa.array(numbers, type=pa.int64())})
    return RawData({"train": table}, {"train": bad}, "text", {"train"},
                   {"kind": "local", "path": str(path)})


def ts_format() -> str:
    from .formats import TINYSTORIES_RAW

    return TINYSTORIES_RAW


def _load_folder(path: Path, fmt: str | None) -> RawData:
    if any((path / f).exists() for f in ("dataset_dict.json", "state.json", "dataset_info.json")):
        return _load_from_disk(path)
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SPLIT_FILE_SUFFIXES
                   and not p.name.startswith(".") and not p.name.endswith("manifest.json"))
    if not files:
        raise WorkbenchError(f"{path}: a folder with neither a save_to_disk dataset nor data files "
                             f"({', '.join(SPLIT_FILE_SUFFIXES)})")
    out = RawData({}, {}, None, set(), {"kind": "local", "path": str(path)})
    for f in files:
        part = load_local(f, fmt)
        name = f.stem
        out.splits[name] = part.splits["train"]
        out.bad[name] = part.bad.get("train", BadRows(file=str(f)))
        out.format = out.format or part.format
        if "train" in part.validated:
            out.validated.add(name)
        out.info.setdefault("parse", {}).update({name: part.info.get("parse")} if part.info.get("parse") else {})
    return out


def _load_from_disk(path: Path) -> RawData:
    datasets = import_datasets()

    try:
        ds = datasets.load_from_disk(str(path))
    except Exception as err:  # noqa: BLE001 - datasets raises many kinds
        raise WorkbenchError(f"{path}: cannot load this save_to_disk folder ({type(err).__name__}: "
                             f"{err})") from None
    return _from_hf(ds, {"kind": "disk", "path": str(path)}, str(path))


def _from_hf(ds, info: dict, label: str, split: str | None = None) -> RawData:
    datasets = import_datasets()

    if isinstance(ds, datasets.DatasetDict):
        items = dict(ds.items())
    else:
        items = {split or (ds.split and str(ds.split)) or "train": ds}
    tables = {}
    for name, d in items.items():
        tables[name] = d.data.table if d._indices is None else d.with_format("arrow")[:]
    out = RawData(tables, {n: BadRows(file=label) for n in tables}, None, set(), info)
    return _maybe_parse_raw_text(out, label)


def _maybe_parse_raw_text(raw: RawData, label: str) -> RawData:
    """A table with one `text` column of TinyStoriesInstruct raw rows gets parsed."""
    first = next(iter(raw.splits.values()), None)
    if first is None or first.column_names != ["text"] or first.num_rows == 0:
        return raw
    head = "\n".join(str(x) for x in first.column("text").slice(0, 200).to_pylist())
    if not ts.looks_like_raw(head):
        return raw
    out = RawData({}, {}, "tinystories", set(raw.splits), dict(raw.info))
    for name, table in raw.splits.items():
        bad = BadRows(file=f"{label} [{name}]")
        rows = (r for b in table.column("text").chunks for r in b.to_pylist())
        table_out, stats = _columns_to_table(ts.parse_row_stream(
            (r if r is not None else "" for r in rows), bad))
        out.splits[name] = table_out
        out.bad[name] = bad
        out.info.setdefault("parse", {})[name] = stats.to_dict()
    return out


def _columns_to_table(batches) -> tuple[pa.Table, ts.ParseStats]:
    stats = ts.ParseStats()
    tables = []
    for cols, st in batches:
        stats.merge(st)
        if len(cols):
            tables.append(pa.table(cols.as_dict(), schema=TS_SCHEMA))
    return (pa.concat_tables(tables) if tables else TS_SCHEMA.empty_table()), stats


TS_SCHEMA = pa.schema([("summary", pa.string()), ("story", pa.string()), ("ending", pa.string()),
                       ("features", pa.string()), ("words", pa.string()),
                       ("random_sentence", pa.string()), ("_row", pa.int64()),
                       ("_line", pa.int64())])


# ----------------------------------------------------------------------------------------
# TinyStoriesInstruct raw files: parsed in parallel into memory-mapped Arrow files


PARALLEL_MIN_BYTES = 32 << 20


def parse_tinystories_file(path: Path, *, workers: int | None = None,
                           use_cache: bool = True) -> RawData:
    """Parse a raw TinyStoriesInstruct text file into memory-mapped Arrow (cached by the
    file's path, size and mtime). Big files are parsed by two processes."""
    key = _file_key(path, "tinystories")
    folder = cache_dir() / "parsed" / key
    meta_file = folder / "meta.json"
    if use_cache and meta_file.exists():
        meta = json.loads(meta_file.read_text())
        return _open_parsed(folder, meta, path)
    folder.mkdir(parents=True, exist_ok=True)
    size = path.stat().st_size
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if size >= PARALLEL_MIN_BYTES else 1
    points = ts.split_points(path, workers) if workers > 1 else [0, size]
    ranges = list(zip(points, points[1:]))
    starts = _range_starts(path, ranges)
    jobs = [(str(path), a, b, n0, l0, i == len(ranges) - 1, str(folder / f"part-{i}.arrow"))
            for i, ((a, b), (n0, l0)) in enumerate(zip(ranges, starts))]
    results = _run_parse_jobs(jobs)
    stats = ts.ParseStats()
    bad = BadRows(file=str(path))
    for st, b in results:
        stats.merge(ts.ParseStats(**{**st, "missing": st["missing"], "endings": st["endings"]}))
        bad.merge(_bad_from_dict(b, str(path)))
    meta = {"parts": [j[6].rsplit("/", 1)[1] for j in jobs], "stats": stats.to_dict(),
            "bad": bad.to_dict(), "source": str(path)}
    (folder / "meta.json.tmp").write_text(json.dumps(meta))
    os.replace(folder / "meta.json.tmp", meta_file)
    return _open_parsed(folder, meta, path)


def _range_starts(path: Path, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """(first example number, first line) of each byte range: count markers and newlines
    in the ranges before it (a fast byte scan)."""
    starts = [(0, 1)]
    marker = ts.END.encode()
    number, line = 0, 1
    with open(path, "rb") as fh:
        for a, b in ranges[:-1]:
            fh.seek(a)
            remaining = b - a
            tail = b""
            while remaining > 0:
                data = fh.read(min(ts.BLOCK, remaining))
                remaining -= len(data)
                chunk = tail + data
                number += chunk.count(marker) - tail.count(marker)
                line += data.count(b"\n")
                tail = chunk[-(len(marker) - 1):]
            starts.append((number, line))
    return starts


def _run_parse_jobs(jobs: list[tuple]) -> list[tuple[dict, dict]]:
    """Run the byte-range parses: one in this process, the others as `python -m
    workbench.data.loaders JOB` children (independent of how this program was started)."""
    import subprocess
    import sys

    children = [subprocess.Popen([sys.executable, "-m", "workbench.data.loaders", json.dumps(job)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for job in jobs[1:]]
    results = [_parse_range(jobs[0])]
    for job, child in zip(jobs[1:], children):
        out, err = child.communicate()
        if child.returncode != 0:  # a child failed (killed, out of memory): do it here
            results.append(_parse_range(job))
        else:
            results.append(tuple(json.loads(out)))
    return results


def _parse_range(job) -> tuple[dict, dict]:
    path, start, end, first_number, first_line, final, out = job

    bad = BadRows(file=path)
    stats = ts.ParseStats()
    with pa.OSFile(out + ".tmp", "wb") as sink, pa.ipc.new_file(sink, TS_SCHEMA) as writer:
        for cols, st in ts.parse_blocks(ts.read_blocks(path, start, end), bad,
                                        first_number=first_number, first_line=first_line,
                                        final=final):
            stats.merge(st)
            if len(cols):
                writer.write_table(pa.table(cols.as_dict(), schema=TS_SCHEMA))
    os.replace(out + ".tmp", out)
    return stats.to_dict(), bad.to_dict()


def _bad_from_dict(d: dict, file: str) -> BadRows:
    bad = BadRows(file=file)
    bad.counts = dict(d.get("counts", {}))
    bad.first = {k: [(x["row"], x["problem"]) for x in v] for k, v in d.get("first", {}).items()}
    return bad


def _open_parsed(folder: Path, meta: dict, path: Path) -> RawData:
    tables = [pa.ipc.open_file(pa.memory_map(str(folder / p))).read_all() for p in meta["parts"]]
    table = pa.concat_tables(tables) if tables else TS_SCHEMA.empty_table()
    bad = _bad_from_dict(meta["bad"], str(path))
    return RawData({"train": table}, {"train": bad}, "tinystories", {"train"},
                   {"kind": "local", "path": str(path), "parse": {"train": meta["stats"]},
                    "cache": str(folder)})


# ----------------------------------------------------------------------------------------
# The Hub


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick check before `datasets` spends ~20 s retrying an unreachable Hub."""
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True") or \
            os.environ.get("HF_DATASETS_OFFLINE") in ("1", "true", "True"):
        return False
    import socket
    import threading
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.getaddrinfo(host, 443)
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout)
    return bool(result and result[0])


def offline_message(name: str) -> str:
    return (f"dataset {name!r}: the Hugging Face Hub cannot be reached and the dataset is not in "
            "the local HF cache. Point SOURCE at a local copy (a .json/.jsonl/.csv/.parquet/.txt "
            "file or a save_to_disk folder), or, if it was downloaded before, make sure HF_HOME / "
            "HF_DATASETS_CACHE point at that cache and set HF_HUB_OFFLINE=1")


def load_hub(name: str, *, config: str | None = None, split: str | None = None,
             revision: str | None = None, streaming: bool = False):
    """A Hub dataset through `datasets.load_dataset`. With no network, the datasets cache and
    then the hub cache (a snapshot of the repo's data files) are tried, offline."""
    datasets = import_datasets()

    online = hub_reachable()
    kwargs = dict(name=config, split=split, revision=revision, streaming=streaming)
    info = {"kind": "hub", "id": name, "config": config, "split": split, "revision": revision}
    errors: list[str] = []
    if online:
        try:
            return datasets.load_dataset(name, **kwargs), info
        except (datasets.exceptions.DatasetNotFoundError, FileNotFoundError) as err:
            raise WorkbenchError(f"dataset {name!r}: {err}".split("\n")[0]) from None
        except ValueError as err:  # unknown config / split
            raise WorkbenchError(f"dataset {name!r}: {err}".split("\n")[0]) from None
        except ConnectionError as err:
            errors.append(str(err))
    # Offline: datasets' own cache first (what a previous load_dataset left there) ...
    old = datasets.config.HF_HUB_OFFLINE
    try:
        datasets.config.HF_HUB_OFFLINE = True
        try:
            return datasets.load_dataset(name, **kwargs), {**info, "offline": "datasets-cache"}
        except Exception as err:  # noqa: BLE001
            errors.append(f"{type(err).__name__}: {err}")
    finally:
        datasets.config.HF_HUB_OFFLINE = old
    # ... then a snapshot of the dataset repo in the hub cache (hf download / snapshot_download).
    snapshot = _hub_snapshot(name, revision)
    if snapshot is not None:
        data_dir = snapshot / config if config and (snapshot / config).is_dir() else snapshot
        ds = datasets.load_dataset(str(data_dir), split=split, streaming=streaming)
        return ds, {**info, "offline": "hub-cache", "snapshot": str(snapshot)}
    raise WorkbenchError(offline_message(name))


def _hub_snapshot(name: str, revision: str | None) -> Path | None:
    try:
        from huggingface_hub import snapshot_download

        path = snapshot_download(name, repo_type="dataset", revision=revision,
                                 local_files_only=True)
        return Path(path)
    except Exception:  # noqa: BLE001 - not cached
        return None


def raw_from_hub(ds, info: dict, name: str, split: str | None) -> RawData:
    return _from_hf(ds, info, name, split)


if __name__ == "__main__":  # a parse worker (see _run_parse_jobs)
    import sys

    print(json.dumps(_parse_range(json.loads(sys.argv[1]))))
