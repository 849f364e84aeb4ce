"""A loaded dataset: splits of Arrow rows, read as `Example`s on demand.

This is the browsing API the Data screen uses: page N of size K, total rows, substring
search, filter by label value, one example rendered in a template. Rows stay in Arrow
(memory-mapped where the source allows); only the rows on screen become Python objects,
so a page of a million-row dataset costs milliseconds.

A split can be a view: the rows of a base table picked by an index array (a balanced or
re-split dataset, or a filter). Searches and labels are computed on the base table once
and indexed, so views are cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import RowError, WorkbenchError
from .formats import row_to_example
from .problems import BadRows
from .records import Example
from .validate import row_numbers

NONE_LABEL = "(none)"
LENGTH_EDGES = (64, 128, 256, 512, 1024)
# Columns that are internal bookkeeping, never labels or text.
INTERNAL = ("_row", "_line")


@dataclass
class Split:
    """One split: a base table and optionally the indices of the rows it holds."""

    name: str
    table: pa.Table
    indices: np.ndarray | None = None
    bad: BadRows = field(default_factory=BadRows)
    _rows: np.ndarray | None = None
    _cache: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.indices) if self.indices is not None else self.table.num_rows

    @property
    def base_rows(self) -> np.ndarray:
        if self._rows is None:
            self._rows = row_numbers(self.table)
        return self._rows

    def row_numbers(self) -> np.ndarray:
        rows = self.base_rows
        return rows[self.indices] if self.indices is not None else rows

    def take(self, positions: Sequence[int] | np.ndarray) -> pa.Table:
        """Rows at these positions (of this split) as a table."""
        pos = np.asarray(positions, dtype=np.int64)
        base = self.indices[pos] if self.indices is not None else pos
        if len(base) and np.all(np.diff(base) == 1):
            return self.table.slice(int(base[0]), len(base))
        return _take(self.table, base, self._cache)

    def view(self, positions: np.ndarray, name: str | None = None) -> "Split":
        """A split of some of these rows (positions may repeat, for oversampling)."""
        pos = np.asarray(positions, dtype=np.int64)
        base = self.indices[pos] if self.indices is not None else pos
        return Split(name or self.name, self.table, base, self.bad, self._rows, self._cache)

    def on_base(self, values: np.ndarray) -> np.ndarray:
        """Index a per-base-row array down to this split's rows."""
        return values[self.indices] if self.indices is not None else values


@dataclass
class RowView:
    """One row on a page."""

    position: int          # position within the split (what filters and pages count)
    row: int               # the source row number
    example: Example
    raw: dict[str, Any]


@dataclass
class Page:
    rows: list[RowView]
    page: int
    size: int
    matched: int           # rows matching the search/filter
    total: int | None      # rows in the split (None while streaming: unknown so far)

    @property
    def pages(self) -> int:
        return max(1, -(-self.matched // self.size)) if self.size else 1


class Dataset:
    """Splits of rows in one format, from one source.

    Attributes:
        source: what the user opened (path or hub id).
        format: the row format (detected unless overridden).
        detected: the format was detected, not given.
        splits: split name -> Split.
        info: facts about the source for the manifest (kind, revision, parse stats).
    """

    streaming = False

    def __init__(self, source: str, fmt: str, detected: bool, splits: dict[str, Split],
                 info: dict | None = None) -> None:
        self.source = source
        self.format = fmt
        self.detected = detected
        self.splits = splits
        self.info = info or {}

    # -- shape ----------------------------------------------------------------------------
    @property
    def split_names(self) -> list[str]:
        return list(self.splits)

    @property
    def default_split(self) -> str:
        return "train" if "train" in self.splits else self.split_names[0]

    def split(self, name: str | None = None) -> Split:
        name = name or self.default_split
        try:
            return self.splits[name]
        except KeyError:
            raise WorkbenchError(f"{self.source}: no split {name!r} "
                                 f"(splits: {', '.join(self.splits)})") from None

    def num_rows(self, split: str | None = None) -> int:
        return len(self.split(split))

    def counts(self) -> dict[str, int]:
        return {n: len(s) for n, s in self.splits.items()}

    @property
    def bad(self) -> BadRows:
        merged = BadRows(file=self.source)
        seen: set[int] = set()
        for s in self.splits.values():
            if id(s.bad) not in seen:  # views share their base split's report
                seen.add(id(s.bad))
                merged.merge(s.bad)
        return merged

    @property
    def columns(self) -> list[str]:
        first = next(iter(self.splits.values()))
        return [c for c in first.table.column_names if c not in INTERNAL]

    # -- rows ------------------------------------------------------------------------------
    def _example(self, raw: dict, row: int) -> Example:
        try:
            return row_to_example(raw, self.format, row)
        except RowError as err:  # validated at load; a changed format override lands here
            raise WorkbenchError(f"{self.source}: row {row}: {err.problem}") from None

    def rows(self, split: str | None, positions: Sequence[int]) -> list[RowView]:
        s = self.split(split)
        positions = list(positions)
        if not positions:
            return []
        raws = s.take(positions).to_pylist()
        rows = s.row_numbers()[np.asarray(positions, dtype=np.int64)]
        out = []
        for pos, raw, row in zip(positions, raws, rows):
            clean = {k: v for k, v in raw.items() if k not in INTERNAL}
            out.append(RowView(int(pos), int(row), self._example(clean, int(row)), clean))
        return out

    def example(self, split: str | None, position: int) -> Example:
        return self.rows(split, [position])[0].example

    def iter_examples(self, split: str | None = None) -> Iterator[Example]:
        return _iter_split_examples(self, self.split(split))

    def examples(self, split: str | None = None) -> list[Example]:
        return list(self.iter_examples(split))

    # -- search, labels, filters -------------------------------------------------------------
    def text_columns(self) -> list[str]:
        first = next(iter(self.splits.values())).table
        cols = []
        for name in first.column_names:
            t = first.schema.field(name).type
            if name in INTERNAL:
                continue
            if pa.types.is_string(t) or pa.types.is_large_string(t) or _nested_strings(t):
                cols.append(name)
        return cols

    def search_mask(self, split: str | None, needle: str) -> np.ndarray:
        """Rows whose text contains `needle` (case-insensitive)."""
        s = self.split(split)
        key = ("search", needle.lower())
        if key not in s._cache:
            base = np.zeros(s.table.num_rows, dtype=bool)
            for col in self.text_columns():
                base |= _match(s.table.column(col), needle, s.table.num_rows)
            s._cache[key] = base
        return s.on_base(s._cache[key])

    def label_names(self, split: str | None = None, max_values: int = 50) -> list[str]:
        """Columns that work as labels: scalar, not long text, few distinct values."""
        from .formats import FORMATS

        s = self.split(split)
        text_cols = set(FORMATS.get(self.format, {}).get("text", ()))
        out = []
        for name in s.table.column_names:
            if name in INTERNAL or name in text_cols:
                continue
            t = s.table.schema.field(name).type
            if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_integer(t)
                    or pa.types.is_boolean(t) or pa.types.is_dictionary(t)):
                continue
            sample = s.table.column(name).slice(0, 20000)
            if pc.count_distinct(sample).as_py() <= max_values:
                out.append(name)
        return out

    def labels(self, split: str | None, label: str, *, length_of=None) -> np.ndarray:
        """The label value of every row of a split, as strings. `label` is a column name or
        `length` (the token-length bucket of the rendered example: `length_of(example)`
        counts its tokens, -1 when it cannot be rendered; see `collate.TokenLength`)."""
        codes, names = self.label_codes(split, label, length_of=length_of)
        return np.asarray(names, dtype=object)[codes]

    def label_codes(self, split: str | None, label: str, *,
                    length_of=None) -> tuple[np.ndarray, list[str]]:
        """Each row's label as a small integer code, and the value of each code. Counting and
        balancing work on these: a byte or two a row, however many rows there are."""
        s = self.split(split)
        key = ("codes", label) if label != "length" else None
        if label == "length":
            if length_of is None:
                raise WorkbenchError("the 'length' label needs a template and a tokenizer "
                                     "to count tokens")
            values = self._length_buckets(s, length_of)
            names, codes = np.unique(values.astype(str), return_inverse=True)
            base = (codes.astype(_code_dtype(len(names))), [str(n) for n in names])
        elif key in s._cache:
            base = s._cache[key]
        else:
            if label not in s.table.column_names or label in INTERNAL:
                raise WorkbenchError(f"{self.source}: no label {label!r} (columns: "
                                     f"{', '.join(self.columns)}; or 'length')")
            col = s.table.column(label)
            t = col.type
            if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
                if _nested_strings(t) or pa.types.is_list(t) or pa.types.is_struct(t):
                    raise WorkbenchError(f"{self.source}: column {label!r} is not a scalar label")
                col = pc.cast(col, pa.string())
            # dictionary-encode: one Python string per distinct value, not one per row
            encoded = pc.dictionary_encode(pc.fill_null(col, NONE_LABEL)).combine_chunks()
            names = [str(v) for v in encoded.dictionary.to_pylist()]
            codes = encoded.indices.to_numpy(zero_copy_only=False).astype(_code_dtype(len(names)))
            base = (codes, names)
            s._cache[key] = base
        codes, names = base
        return s.on_base(codes), names

    def _length_buckets(self, s: Split, length_of) -> np.ndarray:
        key = ("length", getattr(length_of, "key", id(length_of)))
        if key not in s._cache:
            full = Split(s.name, s.table, None, s.bad, s._rows, {})
            lengths = np.fromiter((length_of(ex) for ex in _iter_split_examples(self, full)),
                                  dtype=np.int64, count=s.table.num_rows)
            s._cache[key] = np.array([length_bucket(n) for n in lengths], dtype=object)
        return s._cache[key]

    def filter_mask(self, split: str | None, label: str, value: str, **kw) -> np.ndarray:
        codes, names = self.label_codes(split, label, **kw)
        if value not in names:
            return np.zeros(len(codes), dtype=bool)
        return codes == names.index(value)

    def matching(self, split: str | None = None, *, search: str | None = None,
                 label: str | None = None, value: str | None = None) -> np.ndarray:
        """Positions of the rows matching a search and/or a label filter."""
        s = self.split(split)
        mask = np.ones(len(s), dtype=bool)
        if search:
            mask &= self.search_mask(split, search)
        if label and value is not None:
            mask &= self.filter_mask(split, label, value)
        return np.flatnonzero(mask)

    def page(self, split: str | None = None, page: int = 0, size: int = 50, *,
             search: str | None = None, label: str | None = None,
             value: str | None = None) -> Page:
        s = self.split(split)
        if search or label:
            positions = self.matching(split, search=search, label=label, value=value)
            matched = len(positions)
            chosen = positions[page * size:(page + 1) * size]
        else:
            matched = len(s)
            chosen = np.arange(page * size, min((page + 1) * size, matched))
        return Page(self.rows(split, chosen), page, size, matched, len(s))

    # -- stats and views ---------------------------------------------------------------------
    def stats(self, label: str, **kw) -> dict[str, dict[str, int]]:
        """Counts of each label value, per split."""
        return {name: self.label_counts(name, label, **kw) for name in self.splits}

    def label_counts(self, split: str | None, label: str, **kw) -> dict[str, int]:
        """Rows of one split per label value, in `order_counts` order."""
        return order_counts(label, count_codes(*self.label_codes(split, label, **kw)))

    def with_splits(self, splits: dict[str, Split], **info: Any) -> "Dataset":
        return Dataset(self.source, self.format, self.detected, splits, {**self.info, **info})

    def with_format(self, fmt: str) -> "Dataset":
        return Dataset(self.source, fmt, False, self.splits, self.info)

    def describe(self) -> str:
        counts = ", ".join(f"{n} {c:,}" for n, c in self.counts().items())
        return (f"{self.source} · {self.format}{' (detected)' if self.detected else ''} · "
                f"{counts}" + (f" · {self.bad.total} bad rows skipped" if self.bad else ""))


def count_codes(codes: np.ndarray, names: list[str]) -> dict[str, int]:
    """{value: rows} from `label_codes`, most common first; values with no row left out."""
    counts = np.bincount(codes, minlength=len(names))
    return {names[i]: int(c) for i, c in sorted(enumerate(counts), key=lambda ic: -ic[1]) if c}


def order_counts(label: str, counts: dict[str, int]) -> dict[str, int]:
    """A label's counts in the order every chart and table shows them: the `length`
    buckets by range (0-63, 64-127, ..., 1024+, then unrenderable), the values of any other
    label most common first."""
    if label == "length":
        return dict(sorted(counts.items(), key=lambda kv: length_bucket_key(kv[0])))
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def length_bucket_key(name: str) -> tuple[float, str]:
    """Sort key of a `length_bucket` name: its lower edge; a name that is no bucket last."""
    low = name.split("-")[0].rstrip("+")
    return (int(low), "") if low.isdigit() else (math.inf, name)


def _code_dtype(n: int):
    return np.int8 if n < 128 else (np.int16 if n < 32768 else np.int32)


def shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: (v / total if total else 0.0) for k, v in counts.items()}


def length_bucket(n: int) -> str:
    if n < 0:
        return "unrenderable"
    lo = 0
    for edge in LENGTH_EDGES:
        if n < edge:
            return f"{lo}-{edge - 1}"
        lo = edge
    return f"{LENGTH_EDGES[-1]}+"


def _nested_strings(t: pa.DataType) -> bool:
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _nested_strings(t.value_type) or pa.types.is_string(t.value_type)
    if pa.types.is_struct(t):
        return any(pa.types.is_string(f.type) or _nested_strings(f.type) for f in t)
    return False


def _match(col: pa.ChunkedArray, needle: str, n: int) -> np.ndarray:
    """Case-insensitive substring match over a column, nested lists/structs included."""
    t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        hit = pc.match_substring(col, needle, ignore_case=True)
        return pc.fill_null(hit, False).to_numpy(zero_copy_only=False)
    out = np.zeros(n, dtype=bool)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        offset = 0
        for chunk in col.chunks:
            flat = chunk.flatten()
            parents = pc.list_parent_indices(chunk).to_numpy(zero_copy_only=False)
            inner = _match(pa.chunked_array([flat]), needle, len(flat))
            out[offset + parents[inner]] = True
            offset += len(chunk)
        return out
    if pa.types.is_struct(t):
        for i, f in enumerate(t):
            sub = pa.chunked_array([c.field(i) for c in col.chunks], type=f.type)
            out |= _match(sub, needle, n)
        return out
    return out


def _iter_split_examples(ds: Dataset, s: Split) -> Iterator[Example]:
    rows = s.row_numbers()
    for start in range(0, len(s), 2048):
        positions = np.arange(start, min(start + 2048, len(s)))
        for raw, row in zip(s.take(positions).to_pylist(), rows[positions]):
            yield ds._example({k: v for k, v in raw.items() if k not in INTERNAL}, int(row))


def _take(table: pa.Table, rows: np.ndarray, cache: dict) -> pa.Table:
    """`table.take(rows)` batch by batch. Arrow's own take on a table of many record batches
    first concatenates each column, which overflows 32-bit string offsets past 2 GB of text
    (a few million stories); taking inside each batch never does."""
    if table.num_rows < (1 << 16) or len(rows) == 0:
        return table.take(pa.array(rows, type=pa.int64()))
    batches = cache.get("batches")
    if batches is None:
        batches = table.to_batches()
        cache["batches"] = batches
        cache["batch_starts"] = np.cumsum([0] + [b.num_rows for b in batches])
    starts = cache["batch_starts"]
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    which = np.searchsorted(starts, sorted_rows, side="right") - 1
    pieces = []
    for b in np.unique(which):
        local = sorted_rows[which == b] - starts[b]
        pieces.append(batches[b].take(pa.array(local, type=pa.int64())))
    out = pa.Table.from_batches(pieces, schema=table.schema)
    if np.any(np.diff(order) < 0):  # back to the order asked for (small: only these rows)
        out = out.take(pa.array(np.argsort(order, kind="stable"), type=pa.int64()))
    return out
