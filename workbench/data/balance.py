"""Balancing by a label, and making a validation split. Deterministic for a seed.

Strategies (per split):

* `undersample`: keep every example of the smallest class, and a seeded sample of each
  larger class down to that count (the TinyStoriesInstruct recipe: all sad + as many happy).
* `oversample`: keep everything and repeat examples of the smaller classes up to the size of
  the largest (whole copies first, then a seeded sample for the remainder).
* `ratio`: target shares (`happy=0.5,sad=0.5`: the largest total the data allows without
  repeating, split by the shares; classes not named are dropped) or per-class caps
  (`happy=1000,sad=500`: at most that many of each).

`balance` works on an Arrow-backed `Dataset` and returns a new one (a view; nothing is
copied). `balance_stream` does the same for data that does not fit in memory in two passes:
count, then select while writing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from ..constants import BALANCE_STRATEGIES as STRATEGIES
from ..errors import WorkbenchError
from .dataset import Dataset, Split, count_codes


def _class_seed(seed: int, name: str) -> list[int]:
    return [int(seed), *name.encode("utf-8")]


@dataclass
class BalanceReport:
    """Counts before and after, per split and class."""

    label: str
    strategy: str
    seed: int
    ratio: dict[str, float] | None = None
    before: dict[str, dict[str, int]] = field(default_factory=dict)
    after: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        totals = lambda d: {k: sum(v.values()) for k, v in d.items()}  # noqa: E731
        return {"label": self.label, "strategy": self.strategy, "seed": self.seed,
                "ratio": self.ratio, "before": self.before, "after": self.after,
                "rows_before": totals(self.before), "rows_after": totals(self.after)}


def parse_ratio(text: str | None) -> dict[str, float] | None:
    """'happy=0.5,sad=0.5' -> shares; 'happy=1000,sad=500' -> caps (all integers)."""
    if not text:
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise WorkbenchError(f"--ratio: expected CLASS=VALUE pairs, got {part!r}")
        name, value = part.split("=", 1)
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise WorkbenchError(f"--ratio: {value!r} for {name.strip()!r} is not a number") from None
        if out[name.strip()] < 0:
            raise WorkbenchError(f"--ratio: {name.strip()!r} is negative")
    if not out:
        raise WorkbenchError("--ratio: no CLASS=VALUE pairs")
    return out


def _is_caps(ratio: dict[str, float]) -> bool:
    return all(float(v).is_integer() and v >= 1 for v in ratio.values()) and sum(ratio.values()) > 1.0001


def targets(counts: dict[str, int], strategy: str, ratio: dict[str, float] | None = None
            ) -> dict[str, int]:
    """How many examples of each class to keep."""
    if strategy not in STRATEGIES:
        raise WorkbenchError(f"unknown strategy {strategy!r} (use {', '.join(STRATEGIES)})")
    present = {k: v for k, v in counts.items() if v > 0}
    if not present:
        return {k: 0 for k in counts}
    if strategy == "undersample":
        n = min(present.values())
        return {k: min(v, n) for k, v in counts.items()}
    if strategy == "oversample":
        n = max(present.values())
        return {k: (n if v > 0 else 0) for k, v in counts.items()}
    if not ratio:
        raise WorkbenchError("strategy ratio needs --ratio (e.g. happy=0.5,sad=0.5 or happy=1000,sad=500)")
    unknown = [k for k in ratio if k not in counts]
    if unknown:
        raise WorkbenchError(f"--ratio: no class {unknown[0]!r} in the data "
                             f"(classes: {', '.join(counts)})")
    if _is_caps(ratio):
        return {k: min(v, int(ratio.get(k, 0))) for k, v in counts.items()}
    total_share = sum(ratio.values())
    if total_share <= 0:
        raise WorkbenchError("--ratio: the shares add up to 0")
    shares = {k: ratio.get(k, 0.0) / total_share for k in counts}
    n_total = min(counts[k] / s for k, s in shares.items() if s > 0)
    return {k: min(counts[k], int(round(n_total * s))) for k, s in shares.items()}


def choose(positions: np.ndarray, keep: int, rng: np.random.Generator) -> np.ndarray:
    """`keep` of these positions: a sample if fewer, repeats (whole copies + a sample) if more."""
    n = len(positions)
    if keep <= n:
        return np.sort(rng.choice(positions, size=keep, replace=False)) if keep < n else positions
    copies, rest = divmod(keep, n)
    extra = np.sort(rng.choice(positions, size=rest, replace=False)) if rest else positions[:0]
    return np.sort(np.concatenate([np.tile(positions, copies), extra]), kind="stable")


def balance(ds: Dataset, label: str, strategy: str, *, seed: int = 0,
            ratio: dict[str, float] | None = None, splits: list[str] | None = None,
            **label_kw: Any) -> tuple[Dataset, BalanceReport]:
    """Balance the splits of `ds` named in `splits` (default: every split) by `label`; the
    other splits are kept as they are."""
    report = BalanceReport(label, strategy, seed, ratio)
    new_splits: dict[str, Split] = dict(ds.splits)
    for name in (splits if splits is not None else ds.split_names):
        codes, names = ds.label_codes(name, label, **label_kw)
        before = count_codes(codes, names)  # most common first
        keep = targets(before, strategy, ratio)
        picked = []
        index_dtype = np.int32 if len(codes) < 2**31 else np.int64
        for cls in sorted(before):
            positions = np.flatnonzero(codes == names.index(cls)).astype(index_dtype)
            rng = np.random.default_rng(_class_seed(seed, cls))
            picked.append(choose(positions, keep[cls], rng))
        order = np.sort(np.concatenate(picked), kind="stable") if picked else np.array([], dtype=np.int64)
        new_splits[name] = ds.split(name).view(order)
        report.before[name] = before
        report.after[name] = {k: keep[k] for k in report.before[name]}
    return ds.with_splits(new_splits), report


def make_validation(ds: Dataset, ratio: float, *, seed: int = 0, stratify: str | None = None,
                    from_split: str | None = None, name: str = "validation",
                    **label_kw: Any) -> Dataset:
    """Cut a validation split off `from_split` (default: the first), seeded; stratified by a
    label on request (each class keeps its share in both parts).

    The cut is disjoint by source row: rows that carry the same `source_row` (copies of one
    row of an earlier source, as an oversampled file saved by the workbench holds) all go to
    the same side, so no validation row is a copy of a training row. Without that column
    every row is its own source row."""
    if not 0 < ratio < 1:
        raise WorkbenchError(f"validation ratio must be between 0 and 1, not {ratio}")
    source = from_split or ds.default_split
    if name in ds.splits and name != source:
        raise WorkbenchError(f"{ds.source}: it already has a {name!r} split")
    s = ds.split(source)
    n = len(s)
    groups, first, member = source_groups(s)
    n_groups = len(first)
    rng = np.random.default_rng([int(seed), 7])
    if stratify:
        codes, names = ds.label_codes(source, stratify, **label_kw)
        codes = codes[first]  # a group's class is its first row's
        val_parts = []
        for code in sorted(np.unique(codes).tolist(), key=lambda c: names[c]):
            pos = np.flatnonzero(codes == code)
            k = int(round(len(pos) * ratio))
            val_parts.append(rng.choice(pos, size=k, replace=False) if k else pos[:0])
        chosen = np.sort(np.concatenate(val_parts)) if val_parts else np.array([], dtype=np.int64)
    else:
        k = int(round(n_groups * ratio))
        chosen = np.sort(rng.choice(n_groups, size=k, replace=False))
    in_val = np.zeros(n_groups, dtype=bool)
    in_val[chosen] = True
    val_mask = in_val[member]
    if not val_mask.any() or val_mask.all():
        raise WorkbenchError(f"validation ratio {ratio} of {n} rows leaves an empty split")
    splits = {k: v for k, v in ds.splits.items() if k != source}
    splits = {source: s.view(np.flatnonzero(~val_mask), source),
              name: s.view(np.flatnonzero(val_mask), name), **splits}
    return ds.with_splits(splits)


def source_groups(s: Split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(group key of each row, position of each group's first row, group number of each
    row): rows share a group when they carry the same `source_row` value."""
    n = len(s)
    if "source_row" not in s.table.column_names:
        every = np.arange(n, dtype=np.int64)
        return every, every, every
    col = s.table.column("source_row")
    values = col.to_numpy(zero_copy_only=False) if col.null_count == 0 else None
    if values is None or not np.issubdtype(np.asarray(values).dtype, np.integer):
        every = np.arange(n, dtype=np.int64)
        return every, every, every
    keys = s.on_base(np.asarray(values, dtype=np.int64))
    _uniq, first, member = np.unique(keys, return_index=True, return_inverse=True)
    # groups numbered in the order they first appear, so the draw matches the plain cut
    # when no row repeats
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return keys, first[order], rank[member]


# ----------------------------------------------------------------------------------------
# Streaming: two passes, constant memory besides the chosen indices.


def stream_labels(sds, split: str, label: str) -> Iterator[tuple[dict, str]]:
    """Raw rows (with their `source_row`, as saved files have it) and their label."""
    for row, raw, _ex in sds.iter_raw(split):
        v = raw.get(label)
        yield {**raw, "source_row": row}, ("(none)" if v is None else str(v))


def balance_stream(sds, label: str, strategy: str, *, seed: int = 0,
                   ratio: dict[str, float] | None = None
                   ) -> tuple[BalanceReport, dict[str, Any]]:
    """Pass 1: count classes per split. Returns the report and a per-split selection
    (class -> sorted chosen ordinals with repeats, or None for 'keep all once') that
    `iter_selected` applies in pass 2."""
    report = BalanceReport(label, strategy, seed, ratio)
    selection: dict[str, Any] = {}
    for split in sds.split_names:
        counts: dict[str, int] = {}
        for _raw, cls in stream_labels(sds, split, label):
            counts[cls] = counts.get(cls, 0) + 1
        keep = targets(counts, strategy, ratio)
        chosen = {}
        for cls in sorted(counts):
            if keep[cls] == counts[cls]:
                chosen[cls] = None
            else:
                rng = np.random.default_rng(_class_seed(seed, cls))
                chosen[cls] = choose(np.arange(counts[cls]), keep[cls], rng)
        selection[split] = chosen
        report.before[split] = dict(sorted(counts.items(), key=lambda kv: -kv[1]))
        report.after[split] = {k: keep[k] for k in report.before[split]}
    return report, selection


def iter_selected(sds, split: str, label: str, chosen: dict[str, Any]) -> Iterator[dict]:
    """Pass 2: the raw rows the selection keeps (repeated as chosen), in stream order."""
    seen: dict[str, int] = {}
    for raw, cls in stream_labels(sds, split, label):
        ordinal = seen.get(cls, 0)
        seen[cls] = ordinal + 1
        picks = chosen.get(cls)
        if picks is None:
            yield raw
            continue
        lo = np.searchsorted(picks, ordinal, side="left")
        hi = np.searchsorted(picks, ordinal, side="right")
        for _ in range(hi - lo):
            yield raw


# ----------------------------------------------------------------------------------------
# Balance, optionally cut a validation split, and save with a manifest: what
# `workbench data balance` and the Data screen both do.


def cut_then_balance(ds, label: str, strategy: str, *, seed: int = 0,
                     ratio: dict[str, float] | None = None, val_ratio: float | None = None,
                     **label_kw: Any) -> tuple[Dataset, BalanceReport, dict[str, Any]]:
    """(the balanced dataset, the report, the manifest's `validation` entry or {}): with a
    `val_ratio` the validation split is cut first, from the data as it is (stratified by the
    label, disjoint by source row), and only the training part is balanced; so no
    validation row is a copy of a training row. What `balance_and_save` saves and what the
    Data screen's balance dialog previews."""
    extra: dict[str, Any] = {}
    splits = None
    if val_ratio:
        train_split = ds.default_split
        ds = make_validation(ds, val_ratio, seed=seed, stratify=label, from_split=train_split,
                             **label_kw)
        splits = [train_split]
        extra["validation"] = {"ratio": val_ratio, "stratify": label, "seed": seed,
                               "cut": "before balancing, disjoint by source row; not balanced",
                               "from_split": train_split, "rows": ds.num_rows("validation")}
    balanced, report = balance(ds, label, strategy, seed=seed, ratio=ratio, splits=splits,
                               **label_kw)
    return balanced, report, extra


def balance_and_save(ds, label: str, strategy: str, out, *, seed: int = 0,
                     ratio: dict[str, float] | None = None, val_ratio: float | None = None,
                     as_: str | None = None, **label_kw: Any) -> tuple[dict[str, Any], BalanceReport]:
    """Balance `ds` by `label`, cut a stratified validation split of `val_ratio` if given,
    save to `out` (see `workbench.data.save`), and return (manifest, report). A streaming
    dataset is balanced in two passes and saved as JSONL."""
    from .save import save_dataset, save_stream

    if strategy == "ratio" and not ratio:
        raise WorkbenchError("strategy ratio needs a ratio (e.g. happy=0.5,sad=0.5 or happy=1000,sad=500)")
    if getattr(ds, "streaming", False):
        if val_ratio:
            raise WorkbenchError("a validation split is not available while streaming; "
                                 "split the saved file afterwards")
        report, selection = balance_stream(ds, label, strategy, seed=seed, ratio=ratio)
        meta = save_stream(ds, out, {s: iter_selected(ds, s, label, selection[s])
                                     for s in ds.split_names},
                           {"balance": report.to_dict(), "seed": seed,
                            "counts": {"before": report.before, "after": report.after}})
        return meta, report
    balanced, report, extra = cut_then_balance(ds, label, strategy, seed=seed, ratio=ratio,
                                               val_ratio=val_ratio, **label_kw)
    meta = save_dataset(balanced, out, as_=as_, manifest_extra={
        "balance": report.to_dict(), "seed": seed, **extra,
        "counts": {"before": report.before, "after": balanced.stats(label, **label_kw)}})
    return meta, report
