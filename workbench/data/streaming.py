"""Datasets read as a stream, for data that does not fit in memory (a Hub dataset opened
with streaming, or a huge local file opened with `--streaming`).

Rows are read in order and checked one by one; what has been read is kept only as far as
the pages the user looked at. The total is unknown until the stream ends. Counting labels
and balancing take whole passes (see `balance.balance_stream`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..errors import RowError, WorkbenchError
from .dataset import INTERNAL, Page, RowView
from .formats import detect_format, row_to_example
from .problems import BadRows
from .records import Example
from . import tinystories as ts

RowSource = Callable[[BadRows], Iterator[tuple[int, dict]]]


class StreamingDataset:
    """Splits read as streams of raw rows. `opener(split, bad)` starts a fresh pass."""

    streaming = True

    def __init__(self, source: str, fmt: str | None, detected: bool,
                 openers: dict[str, RowSource], info: dict | None = None) -> None:
        self.source = source
        self.openers = openers
        self.info = info or {}
        self._seen: dict[str, list[RowView]] = {n: [] for n in openers}
        self._iters: dict[str, Iterator[tuple[int, dict]]] = {}
        self._done: dict[str, bool] = {n: False for n in openers}
        self._bad: dict[str, BadRows] = {n: BadRows(file=source) for n in openers}
        self._hits: dict[tuple, tuple[int, list[int]]] = {}  # search/filter -> (rows checked, hits)
        self.detected = detected
        self.format = fmt or self._detect()

    def _detect(self) -> str:
        name = next(iter(self.openers))
        bad = BadRows(file=self.source)
        for _, raw in self.openers[name](bad):
            fmt = detect_format(raw.keys())
            if fmt is None:
                raise WorkbenchError(f"{self.source}: cannot tell the format from columns "
                                     f"{sorted(raw)}; pass --format")
            self.detected = True
            return fmt
        raise WorkbenchError(f"{self.source}: no rows")

    @property
    def split_names(self) -> list[str]:
        return list(self.openers)

    @property
    def default_split(self) -> str:
        return "train" if "train" in self.openers else self.split_names[0]

    @property
    def bad(self) -> BadRows:
        merged = BadRows(file=self.source)
        for b in self._bad.values():
            merged.merge(b)
        return merged

    def counts(self) -> dict[str, int | None]:
        return {n: (len(self._seen[n]) if self._done[n] else None) for n in self.openers}

    def num_rows(self, split: str | None = None) -> int | None:
        return self.counts()[split or self.default_split]

    def _split(self, split: str | None) -> str:
        split = split or self.default_split
        if split not in self.openers:
            raise WorkbenchError(f"{self.source}: no split {split!r} (splits: {', '.join(self.openers)})")
        return split

    def iter_raw(self, split: str | None = None, bad: BadRows | None = None
                 ) -> Iterator[tuple[int, dict, Example]]:
        """A fresh pass over usable rows: (row number, raw row, example). Bad rows go to `bad`."""
        split = self._split(split)
        bad = bad if bad is not None else BadRows(file=self.source)
        for row, raw in self.openers[split](bad):
            clean = {k: v for k, v in raw.items() if k not in INTERNAL}
            try:
                ex = row_to_example(clean, self.format, row)
            except RowError as err:
                bad.add(err.kind, row, err.problem)
                continue
            yield row, clean, ex

    def iter_examples(self, split: str | None = None) -> Iterator[Example]:
        for _, _, ex in self.iter_raw(split):
            yield ex

    def _next(self, split: str) -> RowView | None:
        """Read one more usable row into the seen rows (None at the end of the stream)."""
        if self._done[split]:
            return None
        if split not in self._iters:
            self._iters[split] = self.iter_raw(split, self._bad[split])
        try:
            row, raw, ex = next(self._iters[split])
        except StopIteration:
            self._done[split] = True
            return None
        view = RowView(len(self._seen[split]), row, ex, raw)
        self._seen[split].append(view)
        return view

    def page(self, split: str | None = None, page: int = 0, size: int = 50, *,
             search: str | None = None, label: str | None = None,
             value: str | None = None, cancel=None, scan_limit: int = 200_000) -> Page:
        """Rows `page*size ...` of the stream read so far (reading on as needed). With a search
        or filter, at most `scan_limit` more rows are read per call; `cancel` (an Event) stops
        the scan early."""
        split = self._split(split)
        want = (page + 1) * size
        seen = self._seen[split]
        if search or label:
            needle = (search or "").lower()

            def keep(r: RowView) -> bool:
                if needle and needle not in json.dumps(r.raw, ensure_ascii=False).lower():
                    return False
                return not label or str(r.raw.get(label)) == value

            key = (split, needle, label, value)
            checked, hits = self._hits.get(key, (0, []))
            hits.extend(r.position for r in seen[checked:] if keep(r))  # rows read meanwhile
            scanned = 0
            while len(hits) < want and scanned < scan_limit:
                if cancel is not None and scanned % 1000 == 0 and cancel.is_set():
                    break
                view = self._next(split)
                if view is None:
                    break
                scanned += 1
                if keep(view):
                    hits.append(view.position)
            self._hits[key] = (len(seen), hits)
            rows = [seen[i] for i in hits[page * size:want]]
            matched = len(hits)
        else:
            while len(seen) < want and self._next(split) is not None:
                pass
            rows = seen[page * size:want]
            matched = len(seen)
        total = len(seen) if self._done[split] else None
        return Page(rows, page, size, matched, total)

    def stats(self, label: str, **_: Any) -> dict[str, dict[str, int]]:
        out = {}
        for split in self.openers:
            counts: dict[str, int] = {}
            for _, raw, _ in self.iter_raw(split):
                v = raw.get(label)
                key = "(none)" if v is None else str(v)
                counts[key] = counts.get(key, 0) + 1
            out[split] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
        return out

    def describe(self) -> str:
        return f"{self.source} · {self.format}{' (detected)' if self.detected else ''} · streaming"


# ----------------------------------------------------------------------------------------
# Openers for local files


def local_openers(path: Path, fmt: str | None) -> tuple[dict[str, RowSource], str | None]:
    """Row streams for a local file; TinyStories raw text is parsed on the fly."""
    suffix = path.suffix.lower()
    if suffix == ".txt":
        with open(path, "rb") as fh:
            head = fh.read(1 << 16).decode("utf-8", errors="replace")
        if fmt in (None, "tinystories-raw", "tinystories") and ts.looks_like_raw(head):
            def tiny(bad: BadRows) -> Iterator[tuple[int, dict]]:
                for cols, _ in ts.parse_blocks(ts.read_blocks(path), bad, batch=2048):
                    d = cols.as_dict()
                    for i, row in enumerate(d["_row"]):
                        yield row, {k: d[k][i] for k in ts.COLUMNS}
            return {"train": tiny}, "tinystories"

        def lines(bad: BadRows) -> Iterator[tuple[int, dict]]:
            with open(path, "rb") as fh:
                for i, raw in enumerate(fh):
                    try:
                        text = raw.decode("utf-8").rstrip("\r\n")
                    except UnicodeDecodeError as err:
                        bad.add("invalid UTF-8", i, f"line {i + 1}: invalid UTF-8 at byte {err.start}")
                        continue
                    if text.strip():
                        yield i, {"text": text}
        return {"train": lines}, "text"
    if suffix in (".json", ".jsonl"):
        from .local import read_json_rows

        def json_rows(bad: BadRows) -> Iterator[tuple[int, dict]]:
            for row, obj in read_json_rows(path, bad):
                if not isinstance(obj, dict):
                    bad.add("wrong type", row, f"expected an object, got {type(obj).__name__}")
                    continue
                yield row, obj
        return {"train": json_rows}, fmt
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        def parquet_rows(bad: BadRows) -> Iterator[tuple[int, dict]]:
            n = 0
            for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
                for obj in batch.to_pylist():
                    yield n, obj
                    n += 1
        return {"train": parquet_rows}, fmt
    if suffix in (".csv", ".tsv"):
        import csv

        def csv_rows(bad: BadRows) -> Iterator[tuple[int, dict]]:
            with open(path, newline="", encoding="utf-8", errors="surrogateescape") as fh:
                reader = csv.reader(fh, delimiter="\t" if suffix == ".tsv" else ",")
                header = next(reader, [])
                for i, values in enumerate(reader):
                    if len(values) != len(header):
                        bad.add("ragged CSV row", i, f"line {reader.line_num}: {len(values)} "
                                                     f"fields, expected {len(header)}")
                        continue
                    yield i, dict(zip(header, values))
        return {"train": csv_rows}, fmt
    raise WorkbenchError(f"{path}: streaming is supported for .jsonl, .json, .txt, .csv and "
                         ".parquet files")


def hub_openers(ds, split: str | None) -> tuple[dict[str, RowSource], str | None]:
    """Row streams for a `datasets` IterableDataset (or IterableDatasetDict)."""
    from .loaders import import_datasets

    datasets = import_datasets()

    items = dict(ds.items()) if isinstance(ds, datasets.IterableDatasetDict) else {split or "train": ds}
    openers: dict[str, RowSource] = {}
    fmt: str | None = None
    for name, d in items.items():
        first = next(iter(d.take(1)), None)
        if first is not None and list(first) == ["text"]:
            head = "\n".join(str(r["text"]) for r in d.take(200))
            if ts.looks_like_raw(head):
                fmt = "tinystories"

                def tiny(bad: BadRows, d=d) -> Iterator[tuple[int, dict]]:
                    rows = (r["text"] or "" for r in d)
                    for cols, _ in ts.parse_row_stream(rows, bad, batch=2048):
                        dd = cols.as_dict()
                        for i, row in enumerate(dd["_row"]):
                            yield row, {k: dd[k][i] for k in ts.COLUMNS}
                openers[name] = tiny
                continue

        def plain(bad: BadRows, d=d) -> Iterator[tuple[int, dict]]:
            for i, r in enumerate(d):
                yield i, r
        openers[name] = plain
    return openers, fmt

