"""Checking every row of an Arrow table against its format, vectorized where possible.

Returns which rows are usable and a `BadRows` report of the others (missing field, wrong
type, empty string). Flat formats (alpaca, prompt/answer pairs, text, parsed TinyStories)
are checked with Arrow compute kernels; chat formats row by row.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import RowError
from .formats import FORMATS, row_to_example
from .problems import BadRows

# format -> optional string columns (may be empty or absent)
_OPTIONAL = {"alpaca": ("input",)}


def row_numbers(table: pa.Table) -> np.ndarray:
    """Source row numbers: the `_row` column if present, else 0..n-1."""
    if "_row" in table.column_names:
        return table.column("_row").to_numpy(zero_copy_only=False).astype(np.int64)
    return np.arange(table.num_rows, dtype=np.int64)


def validate_table(table: pa.Table, fmt: str, bad: BadRows) -> np.ndarray:
    """A boolean mask of usable rows; every other row is added to `bad` with its reason."""
    n = table.num_rows
    rows = row_numbers(table)
    if fmt in ("chat", "sharegpt"):
        return _validate_rows(table, fmt, rows, bad)
    ok = np.ones(n, dtype=bool)
    for col in FORMATS[fmt]["required"]:
        _check_string_column(table, col, rows, ok, bad, required=True)
    for col in _OPTIONAL.get(fmt, ()):
        if col in table.column_names:
            _check_string_column(table, col, rows, ok, bad, required=False)
    return ok


def _check_string_column(table: pa.Table, col: str, rows: np.ndarray, ok: np.ndarray,
                         bad: BadRows, *, required: bool) -> None:
    if col not in table.column_names:
        if required:
            for i in np.flatnonzero(ok):
                bad.add("missing field", int(rows[i]), f"missing field {col!r}")
            ok[:] = False
        return
    arr = table.column(col)
    nulls = arr.is_null().to_numpy(zero_copy_only=False)
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        if required:
            trimmed = pc.utf8_length(pc.utf8_trim_whitespace(arr))
            empty = pc.fill_null(pc.equal(trimmed, 0), False).to_numpy(zero_copy_only=False)
        else:
            empty = np.zeros(len(nulls), dtype=bool)
        wrong = np.zeros(len(nulls), dtype=bool)
        type_name = ""
    elif pa.types.is_null(arr.type):
        empty = np.zeros(len(nulls), dtype=bool)
        wrong = np.zeros(len(nulls), dtype=bool)
        type_name = ""
    else:
        empty = np.zeros(len(nulls), dtype=bool)
        wrong = ~nulls
        type_name = _type_name(arr.type)
    if required:
        for i in np.flatnonzero(ok & nulls):
            bad.add("missing field", int(rows[i]), f"missing field {col!r}")
        ok &= ~nulls
    for i in np.flatnonzero(ok & wrong):
        bad.add("wrong type", int(rows[i]), f"field {col!r} is {type_name}, expected a string")
    ok &= ~wrong
    for i in np.flatnonzero(ok & empty):
        bad.add("empty string", int(rows[i]), f"field {col!r} is empty")
    ok &= ~empty


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "int"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "list"
    if pa.types.is_struct(t):
        return "dict"
    return str(t)


def _validate_rows(table: pa.Table, fmt: str, rows: np.ndarray, bad: BadRows) -> np.ndarray:
    ok = np.ones(table.num_rows, dtype=bool)
    offset = 0
    for batch in table.to_batches(max_chunksize=4096):
        for j, row in enumerate(batch.to_pylist()):
            i = offset + j
            try:
                row_to_example(row, fmt, int(rows[i]))
            except RowError as err:
                bad.add(err.kind, int(rows[i]), err.problem)
                ok[i] = False
        offset += batch.num_rows
    return ok
