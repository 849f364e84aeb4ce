"""Render-with-mask, truncation, batching, padding, the shift, and -100: all of it here.

The rest of the workbench (trainer, batch inspector, CLI, tests) calls these functions, so
the batch the model trains on is exactly the batch the user inspects.

Encoding. `encode_example` renders an example with its template and encodes segment by
segment (BPE never merges across the prompt/response boundary, and the inference prompt
tokenizes exactly as the training prefix). Every token gets a kind (prompt text, special
marker, response text, or the end token that closes a response) and a target flag: token i
is a loss target (predicted at position i-1) when it belongs to a response (`loss_on =
"response"`, the default; every assistant turn of a chat is trained) or always (`loss_on =
"all"`; the instruction is trained too). The end token closing each response is a target.

The shift. An example of n tokens occupies n-1 positions: input ids[0..n-2], target
ids[1..n-1], or -100 where the target token is not trained. The last token (the end token)
is only ever a target, so in a packed row no position ever predicts a token of the next
example.

Truncation policy. `max_len` is the number of positions in a row. A longer example keeps its
first `max_len + 1` tokens: the prompt stays whole and the response loses its tail (and its
end token, which the inspector and the stats flag). If that leaves no response token as a
target (the prompt alone fills `max_len`), the example is dropped and counted, never emitted
as an all -100 row.

Padding. Rows are padded on the right to the longest row of the batch (optionally to a
multiple of 8) with `pad_id` (default: the tokenizer's end-of-text id); padded positions get
target -100, position 0 and segment 0.

Batchers. `random`: one example per row, seeded shuffle. `grouped`: one example per row,
sorted by length inside mega-batches, then the batches shuffled. `packed`: several examples
per row up to `max_len` positions (best-fit decreasing), positions restart at 0 for each
example, and `segment_ids` tell the model to confine attention to each example.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from .constants import BATCHERS, IGNORE_INDEX, LOSS_ON
from .data.records import Example
from .errors import WorkbenchError
from .templates import Segment, Template, TemplateError
from .tokenizer import Tokenizer

# Token kinds (what the token is, independent of whether it is trained).
PROMPT, MARKER, RESPONSE, END = 0, 1, 2, 3
KIND_NAMES = {PROMPT: "prompt", MARKER: "marker", RESPONSE: "response", END: "end"}


def tokenizer_for(tokenizer: Tokenizer, template: Template) -> Tokenizer:
    """The tokenizer with the template's special tokens added (ids after the vocabulary)."""
    return tokenizer.with_special_tokens(template.special_tokens)


def encode_segments(segments: Sequence[Segment], tokenizer: Tokenizer,
                    loss_on: str = "response") -> tuple[list[int], list[int], list[bool]]:
    """Encode segment by segment: ids, kinds, and target flags (see module doc)."""
    if loss_on not in LOSS_ON:
        raise WorkbenchError(f"loss_on must be one of {', '.join(LOSS_ON)}, not {loss_on!r}")
    ids: list[int] = []
    kinds: list[int] = []
    target: list[bool] = []
    for seg in segments:
        if seg.special:
            piece = [tokenizer.special_id(seg.text)]
            kind = END if seg.role == "end" else (RESPONSE if seg.trainable else MARKER)
        else:
            piece = tokenizer.encode(seg.text)
            kind = RESPONSE if seg.trainable else PROMPT
        ids.extend(piece)
        kinds.extend([kind] * len(piece))
        target.extend([seg.trainable or loss_on == "all"] * len(piece))
    if target:
        target[0] = False  # nothing predicts the first token
    return ids, kinds, target


@dataclass(slots=True)
class Encoded:
    """One encoded example (views into an `EncodedSet`, or standalone arrays).

    Attributes:
        ids: token ids, int32, including the end token(s).
        kinds: PROMPT / MARKER / RESPONSE / END per token.
        target: token i is a loss target (predicted at position i-1).
        row: the example's row number in its source.
        truncated: tokens were cut to fit `max_len`.
        full_length: number of tokens before truncation.
    """

    ids: np.ndarray
    kinds: np.ndarray
    target: np.ndarray
    row: int = -1
    truncated: bool = False
    full_length: int = 0

    @property
    def positions(self) -> int:
        """Positions this example occupies in a row (tokens - 1)."""
        return len(self.ids) - 1

    @property
    def n_prompt(self) -> int:
        return int(np.count_nonzero(self.kinds < RESPONSE))

    @property
    def n_response(self) -> int:
        return int(np.count_nonzero(self.kinds >= RESPONSE))

    @property
    def n_targets(self) -> int:
        return int(np.count_nonzero(self.target))

    @property
    def end_trained(self) -> bool:
        """At least one end token is a target and the last response closes with one."""
        ends = np.flatnonzero(self.kinds == END)
        return bool(len(ends)) and bool(self.target[ends].all()) and not self.truncated

    def stats(self) -> dict:
        return {"row": self.row, "tokens": len(self.ids), "prompt_tokens": self.n_prompt,
                "response_tokens": self.n_response, "targets": self.n_targets,
                "truncated": self.truncated, "end_trained": self.end_trained}


def encode_example(example: Example, template: Template, tokenizer: Tokenizer, *,
                   loss_on: str = "response", max_len: int | None = None) -> Encoded:
    """Render, encode and truncate one example. Raises `Dropped` when no response target
    survives truncation, `TemplateError` when the example does not fit the template."""
    tok = tokenizer_for(tokenizer, template)
    ids, kinds, target, full, cut = _encode_truncated(example, template, tok, loss_on, max_len)
    return Encoded(np.asarray(ids, dtype=np.int32), np.asarray(kinds, dtype=np.uint8),
                   np.asarray(target, dtype=bool), _row(example), cut, full)


def _row(example: Example, default: int = -1) -> int:
    return example.row if example.row is not None else default


def _encode_truncated(example: Example, template: Template, tok: Tokenizer, loss_on: str,
                      max_len: int | None):
    """Encode, apply the truncation policy, and refuse a row with no response target."""
    ids, kinds, target = encode_segments(template.render(example), tok, loss_on)
    full = len(ids)
    cut = max_len is not None and full - 1 > max_len
    if cut:
        ids, kinds, target = ids[:max_len + 1], kinds[:max_len + 1], target[:max_len + 1]
    if not any(t and k >= RESPONSE for t, k in zip(target, kinds)):
        reason = "the prompt alone fills max_len" if cut else "no response token is a target"
        raise Dropped(_row(example), f"{reason} ({full} tokens, max_len {max_len})")
    return ids, kinds, target, full, cut


class Dropped(WorkbenchError):
    """An example that would give a row with no target; counted, never emitted."""

    def __init__(self, row: int, reason: str) -> None:
        self.row = row
        self.reason = reason
        super().__init__(f"row {row}: dropped: {reason}")


# ----------------------------------------------------------------------------------------


@dataclass
class EncodedSet:
    """Many encoded examples stored flat (ids, kinds, target) with offsets: compact enough
    for hundreds of thousands of examples, and fast to slice when collating."""

    ids: np.ndarray
    kinds: np.ndarray
    target: np.ndarray
    offsets: np.ndarray          # example i is [offsets[i], offsets[i+1])
    rows: np.ndarray             # source row number of each example
    truncated: np.ndarray        # bool per example
    full_lengths: np.ndarray
    dropped: list[tuple[int, str]] = field(default_factory=list)   # (row, reason)
    errors: list[tuple[int, str]] = field(default_factory=list)    # (row, problem)
    loss_on: str = "response"
    max_len: int | None = None

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> Encoded:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return Encoded(self.ids[a:b], self.kinds[a:b], self.target[a:b], int(self.rows[i]),
                       bool(self.truncated[i]), int(self.full_lengths[i]))

    @property
    def lengths(self) -> np.ndarray:
        """Positions per example (tokens - 1)."""
        return np.diff(self.offsets) - 1

    def index_of_row(self, row: int) -> int | None:
        hits = np.flatnonzero(self.rows == row)
        return int(hits[0]) if len(hits) else None

    def summary(self) -> dict:
        lengths = self.lengths
        return {
            "examples": len(self),
            "dropped": len(self.dropped),
            "errors": len(self.errors),
            "truncated": int(self.truncated.sum()),
            "tokens": int(len(self.ids)),
            "targets": int(self.target.sum()),
            "max_positions": int(lengths.max()) if len(lengths) else 0,
            "mean_positions": float(lengths.mean()) if len(lengths) else 0.0,
        }


def encode_examples(examples: Iterable[Example], template: Template, tokenizer: Tokenizer, *,
                    loss_on: str = "response", max_len: int | None = None) -> EncodedSet:
    """Encode many examples. Dropped examples and template errors are counted with their
    row numbers, never silently lost."""
    tok = tokenizer_for(tokenizer, template)
    ids: list[int] = []
    kinds: list[int] = []
    target: list[bool] = []
    offsets = [0]
    rows, truncated, full_lengths = [], [], []
    dropped: list[tuple[int, str]] = []
    errors: list[tuple[int, str]] = []
    for n, example in enumerate(examples):
        row = _row(example, n)
        try:
            e_ids, e_kinds, e_target, full, cut = _encode_truncated(
                example, template, tok, loss_on, max_len)
        except Dropped as err:
            dropped.append((row, err.reason))
            continue
        except TemplateError as err:
            errors.append((row, err.message))
            continue
        ids.extend(e_ids)
        kinds.extend(e_kinds)
        target.extend(e_target)
        offsets.append(len(ids))
        rows.append(row)
        truncated.append(cut)
        full_lengths.append(full)
    return EncodedSet(
        np.asarray(ids, dtype=np.int32), np.asarray(kinds, dtype=np.uint8),
        np.asarray(target, dtype=bool), np.asarray(offsets, dtype=np.int64),
        np.asarray(rows, dtype=np.int64), np.asarray(truncated, dtype=bool),
        np.asarray(full_lengths, dtype=np.int64), dropped, errors, loss_on, max_len)


class TokenLength:
    """`example -> number of tokens` as rendered with a template and a tokenizer (-1 when the
    template cannot render it): what the `length` label of `workbench.data` counts."""

    def __init__(self, template: Template, tokenizer: Tokenizer) -> None:
        self.template = template
        self.tokenizer = tokenizer_for(tokenizer, template)
        self.key = (template.name, self.tokenizer.name, self.tokenizer.n_vocab)

    def __call__(self, example: Example) -> int:
        try:
            return len(encode_segments(self.template.render(example), self.tokenizer)[0])
        except WorkbenchError:
            return -1


# ----------------------------------------------------------------------------------------
# Batch plans: which examples go in which row of which batch.


def _rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(epoch)])


def plan_batches(lengths: Sequence[int] | np.ndarray, batch_size: int, batcher: str = "random",
                 *, seed: int = 0, epoch: int = 0, max_len: int | None = None,
                 group_factor: int = 32) -> list[list[list[int]]]:
    """Plan one epoch: a list of batches, each a list of rows, each a list of example
    indices (one per row unless packed). Deterministic for (seed, epoch)."""
    if batch_size < 1:
        raise WorkbenchError(f"batch size must be at least 1, not {batch_size}")
    if batcher not in BATCHERS:
        raise WorkbenchError(f"batcher must be one of {', '.join(BATCHERS)}, not {batcher!r}")
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    if n == 0:
        return []
    rng = _rng(seed, epoch)
    order = rng.permutation(n)
    if batcher == "random":
        return [[[int(i)] for i in order[s:s + batch_size]] for s in range(0, n, batch_size)]
    if batcher == "grouped":
        batches = []
        mega = batch_size * group_factor
        for s in range(0, n, mega):
            chunk = order[s:s + mega]
            chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
            batches += [[[int(i)] for i in chunk[b:b + batch_size]]
                        for b in range(0, len(chunk), batch_size)]
        perm = rng.permutation(len(batches))
        return [batches[i] for i in perm]
    # packed
    capacity = int(max_len) if max_len else int(lengths.max())
    if capacity < int(lengths.max()):
        raise WorkbenchError(f"packing: an example has {int(lengths.max())} positions, "
                             f"more than max_len {capacity} (encode with max_len first)")
    bins = _best_fit_decreasing(order, lengths, capacity)
    # A batch is as wide as its fullest row: put rows of similar fill together, then shuffle
    # the batches (rows are shuffled first so equal fills do not keep their packing order).
    bins = [bins[i] for i in rng.permutation(len(bins))]
    fills = np.array([int(lengths[b].sum()) for b in bins])
    bins = [bins[i] for i in np.argsort(-fills, kind="stable")]
    batches = [bins[s:s + batch_size] for s in range(0, len(bins), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def _best_fit_decreasing(order: np.ndarray, lengths: np.ndarray, capacity: int,
                         chunk: int = 8192) -> list[list[int]]:
    """Pack examples into rows of at most `capacity` positions. Works on shuffled chunks so
    the cost stays O(n log n) and rows mix examples from across the data."""
    rows: list[list[int]] = []
    for s in range(0, len(order), chunk):
        part = order[s:s + chunk]
        part = part[np.argsort(-lengths[part], kind="stable")]
        free: list[tuple[int, int]] = []  # (remaining capacity, row index), sorted
        for i in part:
            need = int(lengths[i])
            k = bisect.bisect_left(free, (need, -1))
            if k < len(free):
                remaining, r = free.pop(k)
                rows[r].append(int(i))
                remaining -= need
            else:
                rows.append([int(i)])
                r = len(rows) - 1
                remaining = capacity - need
            if remaining > 0:
                bisect.insort(free, (remaining, r))
    return rows


def plan_efficiency(plan: list[list[list[int]]], lengths: Sequence[int] | np.ndarray,
                    pad_to_multiple_of: int | None = None) -> float:
    """Padding efficiency of a whole epoch: real positions / computed positions."""
    lengths = np.asarray(lengths)
    real = computed = 0
    for batch in plan:
        row_lens = [int(lengths[r].sum()) for r in batch]
        width = _round_up(max(row_lens), pad_to_multiple_of)
        real += sum(row_lens)
        computed += width * len(batch)
    return real / computed if computed else 1.0


def _round_up(n: int, multiple: int | None) -> int:
    if multiple and multiple > 1:
        return -(-n // multiple) * multiple
    return n


# ----------------------------------------------------------------------------------------


@dataclass
class Batch:
    """A collated batch. All arrays are int64 of shape (B, T).

    Attributes:
        input_ids: token ids fed to the model (pad_id where padded).
        labels: next-token targets, IGNORE_INDEX (-100) where no loss.
        position_ids: positions, restarting at 0 for each example of a packed row.
        segment_ids: 1, 2, ... for the examples of a row; 0 for padding.
        packed: rows hold several examples; the model must confine attention per segment.
        parts: per row, the (example index, start position, positions) of each example.
        examples: per row, the `Encoded` examples it holds.
        pad_id: the id used for padding.
    """

    input_ids: np.ndarray
    labels: np.ndarray
    position_ids: np.ndarray
    segment_ids: np.ndarray
    packed: bool
    parts: list[list[tuple[int, int, int]]]
    examples: list[list[Encoded]]
    pad_id: int

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.input_ids.shape)  # type: ignore[return-value]

    @property
    def n_real(self) -> int:
        """Positions holding a real token (not padding)."""
        return int(np.count_nonzero(self.segment_ids))

    @property
    def n_targets(self) -> int:
        return int(np.count_nonzero(self.labels != IGNORE_INDEX))

    @property
    def padding_efficiency(self) -> float:
        return self.n_real / self.input_ids.size if self.input_ids.size else 1.0

    def to_torch(self, device=None) -> dict:
        """Tensors for the model (torch is imported here, not at module import)."""
        import torch

        out = {
            "input_ids": torch.from_numpy(self.input_ids).to(device),
            "labels": torch.from_numpy(self.labels).to(device),
            "position_ids": torch.from_numpy(self.position_ids).to(device),
        }
        if self.packed:
            out["segment_ids"] = torch.from_numpy(self.segment_ids).to(device)
        return out


def fingerprint(batch: Batch) -> str:
    """A short hash of exactly what the model is fed: the shape, input ids, labels, positions
    and (packed rows) segment ids, as int64. The trainer records it for every micro-batch;
    the inspector recomputes it to prove it shows what was trained on."""
    import hashlib

    h = hashlib.blake2b(digest_size=12)
    h.update(np.asarray(batch.input_ids.shape, dtype=np.int64).tobytes())
    arrays = [batch.input_ids, batch.labels, batch.position_ids]
    if batch.packed:
        arrays.append(batch.segment_ids)
    for arr in arrays:
        h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
    return h.hexdigest()


def collate(rows: Sequence[Sequence[Encoded]], *, pad_id: int,
            pad_to_multiple_of: int | None = None,
            indices: Sequence[Sequence[int]] | None = None) -> Batch:
    """Lay examples out in rows, shift, mask, pad. `indices` (same shape as `rows`) records
    which example each one is, for the inspector."""
    if not rows:
        raise WorkbenchError("cannot collate an empty batch")
    packed = any(len(r) > 1 for r in rows)
    widths = [sum(e.positions for e in r) for r in rows]
    width = _round_up(max(widths), pad_to_multiple_of)
    b = len(rows)
    input_ids = np.full((b, width), pad_id, dtype=np.int64)
    labels = np.full((b, width), IGNORE_INDEX, dtype=np.int64)
    position_ids = np.zeros((b, width), dtype=np.int64)
    segment_ids = np.zeros((b, width), dtype=np.int64)
    parts: list[list[tuple[int, int, int]]] = []
    for r, row in enumerate(rows):
        start = 0
        row_parts = []
        for k, enc in enumerate(row):
            n = enc.positions
            end = start + n
            input_ids[r, start:end] = enc.ids[:-1]
            labels[r, start:end] = np.where(enc.target[1:], enc.ids[1:], IGNORE_INDEX)
            position_ids[r, start:end] = np.arange(n)
            segment_ids[r, start:end] = k + 1
            idx = indices[r][k] if indices is not None else k
            row_parts.append((int(idx), start, n))
            start = end
        parts.append(row_parts)
    return Batch(input_ids, labels, position_ids, segment_ids, packed, parts,
                 [list(r) for r in rows], pad_id)


def collate_plan(encoded: EncodedSet, batch_plan: Sequence[Sequence[int]], *, pad_id: int,
                 pad_to_multiple_of: int | None = None) -> Batch:
    """Collate one planned batch (rows of example indices) from an EncodedSet."""
    rows = [[encoded[i] for i in row] for row in batch_plan]
    return collate(rows, pad_id=pad_id, pad_to_multiple_of=pad_to_multiple_of,
                   indices=batch_plan)


# ----------------------------------------------------------------------------------------
# What the inspector and the CLI say about rows and positions.


def row_warnings(batch: Batch, row: int, tokenizer: Tokenizer) -> list[str]:
    """Problems worth shouting about for one row of a batch."""
    warnings = []
    for enc, (idx, _start, _n) in zip(batch.examples[row], batch.parts[row]):
        label = f"example {idx} (row {enc.row})"
        if enc.n_targets == 0:
            warnings.append(f"{label}: no targets")
        if enc.truncated:
            warnings.append(f"{label}: response cut by truncation "
                            f"({enc.full_length} tokens, kept {len(enc.ids)})")
        if not enc.end_trained:
            warnings.append(f"{label}: no trained end token: the model will not learn to stop")
            if batch.pad_id == tokenizer.eos_id:
                warnings.append(f"{label}: pad id equals EOS ({batch.pad_id}) and the EOS "
                                "is not trained")
        first_resp = np.flatnonzero(enc.kinds == RESPONSE)
        if len(first_resp) and first_resp[0] > 0:
            before = int(enc.ids[first_resp[0] - 1])
            if enc.kinds[first_resp[0] - 1] == PROMPT and tokenizer.token_text(before).endswith(" "):
                warnings.append(f"{label}: the prompt ends with a space: BPE will split the "
                                "response's first word unnaturally")
    return warnings


def explain_position(batch: Batch, row: int, pos: int, tokenizer: Tokenizer,
                     loss_on: str = "response") -> dict:
    """Everything about one position: input, target (the next token), and why it is or is
    not trained."""
    input_id = int(batch.input_ids[row, pos])
    label = int(batch.labels[row, pos])
    seg = int(batch.segment_ids[row, pos])
    info = {"row": row, "pos": pos, "input_id": input_id,
            "input": tokenizer.token_text(input_id), "target_id": label,
            "position_id": int(batch.position_ids[row, pos]), "segment": seg}
    if seg == 0:
        info.update(target=None, kind="pad", trained=False,
                    why="-100: padding (no token here)")
        return info
    enc = batch.examples[row][seg - 1]
    _idx, start, _n = batch.parts[row][seg - 1]
    j = pos - start  # the input is token j of the example, the target is token j+1
    next_id = int(enc.ids[j + 1])
    next_kind = int(enc.kinds[j + 1])
    info["input_kind"] = KIND_NAMES[int(enc.kinds[j])]
    info["target_token"] = tokenizer.token_text(next_id)
    info["kind"] = KIND_NAMES[next_kind]
    info["trained"] = label != IGNORE_INDEX
    if label != IGNORE_INDEX:
        why = {RESPONSE: "trained: the next token is part of the response",
               END: "trained: the next token is the end token that closes the response",
               PROMPT: "trained: loss_on=all trains the prompt too",
               MARKER: "trained: loss_on=all trains the markers too"}[next_kind]
    else:
        why = {PROMPT: "-100: the next token is prompt text (loss_on=response)",
               MARKER: "-100: the next token is a role marker (loss_on=response)"}.get(
            next_kind, "-100: not a target")
    info["why"] = why
    return info
