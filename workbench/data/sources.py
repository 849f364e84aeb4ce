"""Opening a data source and reading it as normalized examples."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RowError, WorkbenchError
from .formats import check_format, detect_format, row_to_example
from .local import read_json_rows
from .problems import BadRows
from .records import Example


@dataclass
class Loaded:
    """Examples read from a source, with the format used and what was skipped."""

    source: str
    format: str
    detected: bool
    examples: list[Example] = field(default_factory=list)
    bad: BadRows = field(default_factory=BadRows)


def load_examples(source: str, fmt: str | None = None, *, skip_bad: bool = False) -> Loaded:
    """Read every example of a local JSON / JSONL file.

    With `skip_bad=False` the first bad row stops everything with a one-line message naming
    the file and the row; with `skip_bad=True` bad rows are skipped and counted in `bad`.
    """
    path = Path(source).expanduser()
    bad = BadRows(file=str(source))
    rows = read_json_rows(path, bad)
    buffered: list[tuple[int, object]] = []
    if fmt is None:
        for row, obj in rows:
            buffered.append((row, obj))
            if isinstance(obj, dict):
                break
            if len(buffered) > 100:
                break
        columns = next((o.keys() for _, o in buffered if isinstance(o, dict)), [])
        fmt = detect_format(columns)
        if fmt is None:
            raise WorkbenchError(
                f"{source}: cannot tell the format from columns {sorted(columns)}; "
                "pass --format (alpaca, chat, prompt-completion, ...)")
        detected = True
    else:
        check_format(fmt)
        detected = False
    loaded = Loaded(str(source), fmt, detected, bad=bad)

    def all_rows():
        yield from buffered
        yield from rows

    for row, obj in all_rows():
        if bad and not skip_bad:
            break
        try:
            loaded.examples.append(row_to_example(obj, fmt, row))
        except RowError as err:
            bad.add(err.kind, row, err.problem)
    if bad and not skip_bad:
        raise WorkbenchError(f"{bad.first_error()} (pass --skip-bad to load the other rows)")
    if not loaded.examples:
        raise WorkbenchError(f"{source}: no usable rows"
                             + (f" ({bad.total} bad)" if bad else ""))
    return loaded
