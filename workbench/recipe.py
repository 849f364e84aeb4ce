"""The recipe: what a run trains on and what it is measured on, resolved in one place.

Given a `TrainConfig` (complete, or as far as a screen has filled it) the recipe

1. resolves the template and the tokenizer, in one order: the template the person chose,
   else the one saved with the model (unless it is `text`: a pretrained model's saved
   "no template" says nothing about instruction data), else the data format's usual one;
   the tokenizer is the model's own (a `scratch` model: the config's `tokenizer`), with the
   template's special tokens added;
2. opens the data and makes the held-out cut: the data's validation split (`val_split`, or
   one named `validation`), else `val_ratio` of the training split, seeded and disjoint by
   source row (rows that are copies of one source row, as an oversampled file saved by the
   workbench holds, stay on one side). The cut is always made *before* balancing;
3. balances the training part (never the held-out part: an oversampled validation split
   would count a row several times);
4. encodes both parts (`workbench.collate.encode_examples`), counting every dropped,
   truncated or unrenderable row;
5. plans the micro-batches of each epoch (`plan_batches`, a pure function of the seed and
   the epoch) and numbers them by optimizer step: micro-batch `m` of step `n` (from 1, as
   in metrics.jsonl) is the `(n - 1) * per_step + m`-th of the endless sequence epoch 0,
   epoch 1, ... (`per_step` = grad_accum × processes).

The auto settings are resolved here too (`resolve_auto`): `max_len` 0 is the model's
context capped at 512, `lr` 0 a rate by the model's size and LoRA
(`workbench.model.sizes.auto_max_len` / `suggest_lr` hold the rules). A run records the
resolved numbers in its config.toml, so the batch a session shows is the batch it trained on.

The trainer, `workbench batch`, the Batches screen, `compare`'s held-out rows and every
preview call this module; none of them re-derives any part of it. The trainer records a
fingerprint of each micro-batch it trains on (`workbench.collate.fingerprint`) in the
session's `batches.jsonl`; `check_receipt` compares the inspector's batch with that record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .errors import WorkbenchError
from .sessions import CONFIG, RECIPE, read_index, read_receipts
from .train.config import TrainConfig

RECIPE_FIELDS = ("model", "revision", "tokenizer", "n_positions", "data", "format", "split",
                 "val_split", "val_ratio", "balance_label", "balance_strategy",
                 "balance_ratio", "template", "loss_on", "max_len", "batcher", "batch_size",
                 "grad_accum", "epochs", "max_steps", "seed", "nproc")
"""The config fields the recipe reads: a problem in another field (lr, say) does not stop
the Batches screen from showing what would be trained on."""

# Fields whose change means the data must be opened, cut, balanced or encoded again; the
# other recipe fields only change the plan.
_ENCODE_FIELDS = ("model", "revision", "tokenizer", "n_positions", "data", "format", "split",
                  "val_split", "val_ratio", "balance_label", "balance_strategy",
                  "balance_ratio", "template", "loss_on", "max_len", "seed")


class Cancelled(WorkbenchError):
    """Building the recipe was cancelled (the screen's job was)."""

    def __init__(self) -> None:
        super().__init__("cancelled")


# ----------------------------------------------------------------------------------------
# Template and tokenizer


def resolve_template(chosen: str, saved, fmt: str | None):
    """(template, where it came from): `chosen` ("chosen"), else the model's `saved`
    template unless it is `text` ("model"), else the usual one of the data format `fmt`
    ("format"). The one order every part of the workbench uses."""
    from .data.formats import default_template
    from .templates import get_template

    if chosen:
        return get_template(chosen), "chosen"
    if saved is not None and saved.name != "text":
        return saved, "model"
    return get_template(default_template(fmt or "")), "format"


@dataclass
class ModelSide:
    """What the recipe needs of the model: its tokenizer, the template saved with it, its
    context length, and how to name it. Read from the model's small files (no weights)."""

    tokenizer: Any
    template: Any
    n_positions: int
    source: str
    pinned: bool = False     # template and tokenizer come from a run (resume, a session)


def model_side(config: TrainConfig, sessions_dir=None) -> ModelSide:
    """The model side of a config: a `scratch` model's tokenizer and size, or what a
    model's files (a session, a folder, a Hub id in the HF cache) say."""
    if config.model.startswith("scratch"):
        from .tokenizer import load_tokenizer

        if ":" in config.model:
            from .model.sizes import PRESETS

            name = config.model.split(":", 1)[1].lower()
            return ModelSide(load_tokenizer(config.tokenizer), None,
                             PRESETS[name]["n_positions"], f"scratch ({name})")
        return ModelSide(load_tokenizer(config.tokenizer), None, config.n_positions,
                         f"scratch ({config.n_layer}L/{config.n_embd})")
    from .model.load import read_model_files

    files = read_model_files(config.model, revision=config.revision or None,
                             sessions_dir=sessions_dir)
    return ModelSide(files.tokenizer, files.template, files.n_positions, files.source)


def pinned_side(folder: Path, n_positions: int | None = None) -> ModelSide:
    """The template and tokenizer a run used, from one of its checkpoints: what a resumed
    run trains with and what a session's batches are shown with."""
    from .model.load import read_folder_files

    files = read_folder_files(folder)
    if files.template is None:
        raise WorkbenchError(f"{folder}: the checkpoint records no template")
    return ModelSide(files.tokenizer, files.template, n_positions or files.n_positions,
                     files.source, pinned=True)


# ----------------------------------------------------------------------------------------
# The auto settings


def resolve_max_len(config: TrainConfig, n_positions: int | None) -> tuple[TrainConfig, str | None]:
    """(config with max_len resolved, a line saying what auto chose or None): max_len 0
    (auto) becomes the model's context (`n_positions`; None while the model is not known)
    capped at 512. An explicit max_len is kept as it is (`build_recipe` refuses one beyond
    the context)."""
    if config.max_len:
        return config, None
    from .model.sizes import auto_max_len

    value, why = auto_max_len(n_positions)
    return replace(config, max_len=value), f"max_len {value} (auto: {why})"


def resolve_lr(config: TrainConfig, n_params: int) -> tuple[TrainConfig, str | None]:
    """(config with lr resolved, a line saying what auto chose or None): lr 0 (auto)
    becomes `suggest_lr(n_params, lora_r > 0)`."""
    if config.lr:
        return config, None
    from .model.sizes import suggest_lr

    value, why = suggest_lr(n_params, lora=config.lora_r > 0)
    return replace(config, lr=value), f"lr {value:g} (auto: {why})"


def resolve_auto(config: TrainConfig, *, sessions_dir=None, side: ModelSide | None = None
                 ) -> tuple[TrainConfig, list[str]]:
    """(config with every auto field resolved for its model, one line per resolved field
    saying what was chosen and why). What a run trains with and records; `workbench train`
    prints the lines and train.log keeps them. Reads the model's small files (no weights)
    only when a field is auto; raises WorkbenchError when the model cannot be found."""
    notes: list[str] = []
    if not config.max_len:
        side = side or model_side(config, sessions_dir)
        config, note = resolve_max_len(config, side.n_positions)
        notes.append(note)
    if not config.lr:
        from .model.sizes import count_params, model_config_for

        config, note = resolve_lr(config, count_params(model_config_for(config, sessions_dir)))
        notes.append(note)
    return config, notes


def token_length(config: TrainConfig, fmt: str | None, sessions_dir=None):
    """`collate.TokenLength` for the `length` label of data in format `fmt`: the template
    and tokenizer this config's run would use (`model` "scratch" with `tokenizer` for a
    plain tokenizer)."""
    from .collate import TokenLength

    side = model_side(config, sessions_dir)
    template, _origin = resolve_template(config.template, side.template, fmt)
    return TokenLength(template, side.tokenizer)


def template_problem(template, examples, limit: int = 64) -> str | None:
    """Why `template` cannot render this data, or None: it fails on at least half of the
    first `limit` examples (a few odd rows are counted and skipped; a template that fits
    no row is the wrong template)."""
    from .templates import TemplateError

    tried = failed = 0
    first = None
    for example in examples:
        if tried >= limit:
            break
        tried += 1
        try:
            template.render(example)
        except TemplateError as err:
            failed += 1
            first = first or err.message
    if tried and failed * 2 >= tried:
        return (f"template {template.name} cannot render this data ({failed} of the first "
                f"{tried} rows: {first})")
    return None


# ----------------------------------------------------------------------------------------
# The held-out cut and balancing


def cut_and_balance(ds, config: TrainConfig, log: Callable[[str], None] = lambda _m: None):
    """(dataset of the training split and the held-out split, held-out description,
    balance report or None), as a run with this config uses them. See the module doc."""
    from .data.balance import balance, make_validation, parse_ratio

    if config.split not in ds.splits:
        raise WorkbenchError(f"config field 'split': {config.data} has no split {config.split!r} "
                             f"(splits: {', '.join(ds.split_names)})")
    if config.val_split and config.val_split not in ds.splits:
        raise WorkbenchError(f"config field 'val_split': {config.data} has no split "
                             f"{config.val_split!r} (splits: {', '.join(ds.split_names)})")
    if config.val_split == config.split:
        raise WorkbenchError(f"config field 'val_split': {config.split!r} is the training split; "
                             "validating on it would measure rows the model trains on")
    val_split = config.val_split or ("validation" if "validation" in ds.splits
                                     and config.split != "validation" else "")
    heldout: dict[str, Any]
    if val_split:
        heldout = {"kind": "split", "split": val_split,
                   "why": f"the data's {val_split!r} split"}
    else:
        heldout = {"kind": "none", "split": "",
                   "why": "no validation split and val_ratio is 0"}
        if config.val_ratio > 0:
            n = ds.num_rows(config.split)
            if 0 < round(n * config.val_ratio) < n:
                ds = make_validation(ds, config.val_ratio, seed=config.seed,
                                     from_split=config.split, name="validation")
                val_split = "validation"
                heldout = {"kind": "ratio", "split": val_split, "ratio": config.val_ratio,
                           "seed": config.seed,
                           "why": f"val_ratio {config.val_ratio:g} of {config.split!r} "
                                  f"(seed {config.seed}), cut before any balancing"}
            else:
                heldout["why"] = f"val_ratio {config.val_ratio:g} of {n} rows is no row"
                log(f"no validation: {heldout['why']}")
    keep = {config.split: ds.split(config.split)}
    if val_split:
        keep[val_split] = ds.split(val_split)
    ds = ds.with_splits(keep)
    report = None
    if config.balance_label:
        ds, report = balance(ds, config.balance_label, config.balance_strategy,
                             seed=config.seed, ratio=parse_ratio(config.balance_ratio),
                             splits=[config.split])
        log(f"balanced {config.split} by {config.balance_label} ({config.balance_strategy}): "
            f"{report.before[config.split]} -> {report.after[config.split]}")
    if val_split:
        heldout["rows"] = ds.num_rows(val_split)
    return ds, heldout, report


# ----------------------------------------------------------------------------------------
# The recipe


@dataclass
class Recipe:
    """Everything a run with `config` trains on and is validated on.

    Attributes:
        config: the config it was built from, max_len resolved (auto: the model's context,
            at most 512): the number every batch is planned and cut with.
        template, template_origin: the template and where it came from ("chosen", "model",
            "format", or "run" for a resumed run or a session's pinned template).
        tokenizer: the model's tokenizer with the template's special tokens.
        model_source: the model, for display.
        n_positions: the model's context length.
        dataset: the training split (balanced) and the held-out split.
        heldout: how the held-out split was made (kind "split" | "ratio" | "none", ...).
        balance: the balance report, or None.
        train, val: the encoded examples (`EncodedSet`; val None when there is none).
        report: counts for the log, the status and the screens.
    """

    config: TrainConfig
    template: Any
    template_origin: str
    tokenizer: Any
    model_source: str
    n_positions: int
    dataset: Any
    heldout: dict
    balance: Any
    train: Any
    val: Any
    report: dict
    _plans: dict = field(default_factory=dict, repr=False)

    # -- the plan ---------------------------------------------------------------------------
    @property
    def train_split(self) -> str:
        return self.config.split

    @property
    def val_split(self) -> str:
        return self.heldout.get("split", "")

    @property
    def pad_id(self) -> int:
        return self.tokenizer.eos_id

    @property
    def per_step(self) -> int:
        """Micro-batches per optimizer step (all processes together)."""
        return self.config.grad_accum * self.config.nproc

    def plan(self, epoch: int) -> list:
        """Epoch `epoch`'s micro-batches: rows of example indices (cached)."""
        from .collate import plan_batches

        if epoch not in self._plans:
            if len(self._plans) > 4:
                self._plans.clear()
            c = self.config
            self._plans[epoch] = plan_batches(self.train.lengths, c.batch_size, c.batcher,
                                              seed=c.seed, epoch=epoch, max_len=c.max_len)
        return self._plans[epoch]

    @property
    def batches_per_epoch(self) -> int:
        return len(self.plan(0))

    @property
    def max_steps(self) -> int:
        """Optimizer steps of a run: `max_steps`, else `epochs` of epoch 0's length."""
        import math

        c = self.config
        return c.max_steps or max(1, math.ceil(c.epochs * self.batches_per_epoch / self.per_step))

    def locate(self, step: int, micro: int = 0) -> tuple[int, int]:
        """(epoch, batch index in that epoch) of micro-batch `micro` of optimizer step
        `step` (from 1). Epochs follow one another with no gap, so a step can span two."""
        if step < 1:
            raise WorkbenchError(f"step {step}: steps are numbered from 1")
        if not 0 <= micro < self.per_step:
            raise WorkbenchError(f"micro-batch {micro}: a step has {self.per_step} "
                                 f"(0 to {self.per_step - 1}; grad_accum {self.config.grad_accum}"
                                 f" × {self.config.nproc} process(es))")
        g = (step - 1) * self.per_step + micro
        return self.position_of(g)

    def position_of(self, g: int) -> tuple[int, int]:
        """(epoch, index) of the g-th micro-batch (0-based) of the endless sequence."""
        epoch = 0
        while True:
            n = len(self.plan(epoch))
            if n == 0:
                raise WorkbenchError("the plan is empty: no training example")
            if g < n:
                return epoch, g
            g -= n
            epoch += 1
            if epoch > 100_000:  # pragma: no cover - a guard, not a limit anyone meets
                raise WorkbenchError("step too far ahead")

    def step_of(self, epoch: int, index: int) -> tuple[int, int]:
        """(step from 1, micro-batch) of batch `index` of epoch `epoch`."""
        g = sum(len(self.plan(e)) for e in range(epoch)) + index
        return g // self.per_step + 1, g % self.per_step

    def batch(self, epoch: int, index: int):
        """The collated micro-batch `index` of epoch `epoch`, exactly as the trainer feeds it."""
        from .collate import collate_plan

        plan = self.plan(epoch)
        if not 0 <= index < len(plan):
            raise WorkbenchError(f"batch {index}: epoch {epoch} has {len(plan)} batches "
                                 f"(0 to {len(plan) - 1})")
        return collate_plan(self.train, plan[index], pad_id=self.pad_id)

    def stream(self, epoch: int = 0, index: int = 0) -> "Cursor":
        return Cursor(self, epoch, index)

    # -- what the session records -------------------------------------------------------------
    def describe(self) -> dict:
        """The resolved recipe for the session's recipe.json: enough to show later what the
        run trained on and to notice when the data changed since."""
        return {
            "template": self.template.to_dict(), "template_origin": self.template_origin,
            "tokenizer": {"name": self.tokenizer.name, "kind": self.tokenizer.kind,
                          "n_vocab": self.tokenizer.n_vocab, "eos_id": self.tokenizer.eos_id,
                          "added": list(self.tokenizer.added)},
            "model": self.model_source, "data": self.config.data,
            "format": self.dataset.format, "heldout": self.heldout,
            "balance": self.balance.to_dict() if self.balance is not None else None,
            "report": self.report, "train_fingerprint": encoded_fingerprint(self.train),
            "val_fingerprint": encoded_fingerprint(self.val) if self.val is not None else None,
            "batches_per_epoch": self.batches_per_epoch, "per_step": self.per_step,
        }

class Cursor:
    """The trainer's position in the endless sequence of micro-batches: (epoch, index).
    It is all a resume needs, since plans are a function of (seed, epoch)."""

    def __init__(self, recipe: Recipe, epoch: int = 0, index: int = 0) -> None:
        self.recipe, self.epoch, self.index = recipe, epoch, index

    def take(self, n: int) -> list[tuple[int, int, Any]]:
        """The next n micro-batches as (epoch, index, collated batch), advancing."""
        out = []
        for _ in range(n):
            if self.index >= len(self.recipe.plan(self.epoch)):
                self.epoch, self.index = self.epoch + 1, 0
            out.append((self.epoch, self.index, self.recipe.batch(self.epoch, self.index)))
            self.index += 1
        return out

    @property
    def epoch_progress(self) -> float:
        return self.epoch + self.index / max(1, len(self.recipe.plan(self.epoch)))


def encoded_fingerprint(encoded) -> str:
    """A short hash of an EncodedSet's tokens, targets and rows: equal when the data, the
    template, the tokenizer and the cut gave the same examples."""
    h = hashlib.blake2b(digest_size=12)
    for arr in (encoded.ids, encoded.target, encoded.offsets, encoded.rows):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------
# Building


def recipe_problems(config: TrainConfig) -> dict[str, str]:
    """The config's problems in the fields the recipe reads."""
    return {k: v for k, v in config.problems().items() if k in RECIPE_FIELDS}


def build_recipe(config: TrainConfig, *, sessions_dir=None, side: ModelSide | None = None,
                 dataset=None, reuse: Recipe | None = None,
                 log: Callable[[str], None] = lambda _m: None,
                 progress: Callable[[int, int, str], None] | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> Recipe:
    """The recipe of `config` (see the module doc).

    `side` gives the model side when the caller has it (a resumed run, a session), else it
    is read from the model's files. `dataset` is `config.data` already opened. `reuse`, a
    recipe whose data and encoding settings equal this config's, is re-planned without
    encoding again. `progress(done, total, label)` reports encoding; `cancelled()` is
    polled and raises `Cancelled`. Raises WorkbenchError naming the field or the row.
    """
    problems = recipe_problems(config)
    if problems:
        name, why = next(iter(problems.items()))
        raise WorkbenchError(f"config field {name!r}: {why}")
    if reuse is not None:
        same = resolve_max_len(config, reuse.n_positions)[0]  # max_len 0 as reuse resolved it
        if _key(reuse.config) == _key(same):
            return replace(reuse, config=same, _plans={})
    from .collate import encode_examples, tokenizer_for

    side = side or model_side(config, sessions_dir)
    config, _note = resolve_max_len(config, side.n_positions)  # the one the plan uses
    if config.max_len > side.n_positions:
        raise WorkbenchError(f"config field 'max_len': {config.max_len} is more than the "
                             f"model's context ({side.n_positions} positions)")
    if dataset is None:
        from .data.sources import open_dataset

        dataset = open_dataset(config.data, format=config.format or None)
    if cancelled():
        raise Cancelled()
    if side.pinned:
        template, origin = side.template, "run"
    else:
        template, origin = resolve_template(config.template, side.template, dataset.format)
    tokenizer = tokenizer_for(side.tokenizer, template)
    ds, heldout, balance_report = cut_and_balance(dataset, config, log)
    problem = template_problem(template, ds.iter_examples(config.split))
    if problem:
        from .data.formats import default_template

        raise WorkbenchError(f"{config.data}: {problem}; the usual template for "
                             f"{ds.format} data is {default_template(ds.format)}")

    def encode(split: str, label: str):
        total = ds.num_rows(split)
        examples = _counted(ds.iter_examples(split), total, label, progress, cancelled)
        return encode_examples(examples, template, tokenizer, loss_on=config.loss_on,
                               max_len=config.max_len)

    train = encode(config.split, "tokenizing")
    val = encode(heldout["split"], "tokenizing the held-out rows") if heldout["split"] else None
    bad = ds.bad
    report = {"format": ds.format, "train_rows": ds.num_rows(config.split),
              "trainable": len(train), "dropped": len(train.dropped),
              "truncated": int(train.truncated.sum()), "template_errors": len(train.errors),
              "bad_rows": bad.total,
              "val_rows": ds.num_rows(heldout["split"]) if heldout["split"] else 0,
              "val_trainable": len(val) if val is not None else 0,
              "target_tokens": int(train.target.sum()), "heldout": heldout["why"]}
    if bad:
        log(f"{bad.total} bad rows in {config.data} skipped: " + "; ".join(bad.lines()))
    log(f"data {config.data} ({ds.format}): {report['train_rows']} training rows -> "
        f"{report['trainable']} trainable examples, {report['dropped']} dropped (no target "
        f"after truncation to max_len {config.max_len}), {report['truncated']} truncated, "
        f"{report['template_errors']} not renderable with {template.name}; held out: "
        f"{heldout['why']}, {report['val_trainable']} examples")
    for row, reason in train.dropped[:3]:
        log(f"  dropped row {row}: {reason}")
    for row, why in train.errors[:3]:
        log(f"  skipped row {row}: {why}")
    if len(train) == 0:
        raise WorkbenchError(f"{config.data}: no training example has a target "
                             f"({report['train_rows']} rows: {report['dropped']} dropped, "
                             f"{report['template_errors']} not renderable with template "
                             f"{template.name})")
    if val is not None and len(val) == 0:
        val = None
    return Recipe(config, template, origin, tokenizer, side.source, side.n_positions, ds,
                  heldout, balance_report, train, val, report)


def _key(config: TrainConfig) -> tuple:
    return tuple(getattr(config, f) for f in _ENCODE_FIELDS)


def _counted(examples: Iterator, total: int, label: str, progress, cancelled) -> Iterator:
    for n, example in enumerate(examples):
        if n % 256 == 0:
            if cancelled():
                raise Cancelled()
            if progress is not None:
                progress(n, total, f"{label} {n:,}/{total:,}")
        yield example
    if progress is not None:
        progress(total, total, label)


# ----------------------------------------------------------------------------------------
# Sessions: the recipe a run used, and its receipts




def session_recipe(session: Path, *, sessions_dir=None, dataset=None, reuse: Recipe | None = None,
                   progress=None, cancelled: Callable[[], bool] = lambda: False) -> Recipe:
    """The recipe session `session` trained with: its config.toml, and the template and
    tokenizer of its checkpoints (or, before the first one, as its recipe.json records)."""
    session = Path(session)
    if not (session / CONFIG).is_file():
        raise WorkbenchError(f"session {session.name}: no {CONFIG} in {session}")
    config = TrainConfig.from_toml(session / CONFIG)
    side = None
    index = read_index(session)
    folder = session / "checkpoints" / index["latest"] if index.get("latest") else None
    if folder is not None and folder.is_dir():
        side = pinned_side(folder)
    else:
        record = read_recipe_record(session)
        if record.get("template"):
            from .templates import template_from_dict

            base = model_side(config, sessions_dir)
            side = replace(base, template=template_from_dict(record["template"],
                                                             str(session / RECIPE)),
                           pinned=True)
    try:
        recipe = build_recipe(config, sessions_dir=sessions_dir, side=side, dataset=dataset,
                              reuse=reuse, progress=progress, cancelled=cancelled)
    except Cancelled:
        raise
    except WorkbenchError as err:
        raise WorkbenchError(f"session {session.name} (trained on {config.data}): "
                             f"{err.message}") from None
    record = read_recipe_record(session)
    want = record.get("train_fingerprint")
    if want and want != encoded_fingerprint(recipe.train):
        recipe.report["changed"] = (f"the data or the model's tokenizer changed since "
                                    f"{session.name} was trained: these are not the rows it "
                                    "trained on")
    return recipe


def read_recipe_record(session: Path) -> dict:
    try:
        data = json.loads((Path(session) / RECIPE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class ReceiptCheck:
    """How an inspected micro-batch compares with the run's record of it."""

    state: str           # "match" | "mismatch" | "none" (no record for this step)
    recorded: str | None
    computed: str
    message: str

    @property
    def ok(self) -> bool:
        return self.state == "match"


def check_receipt(session: Path, step: int, micro: int, batch) -> ReceiptCheck:
    """Compare `batch` (what the inspector shows as step `step`, micro-batch `micro`) with
    the fingerprint the trainer recorded when it trained on that micro-batch."""
    from .collate import fingerprint

    computed = fingerprint(batch)
    record = read_receipts(session).get(step)
    if record is None or micro >= len(record["micro"]):
        return ReceiptCheck("none", None, computed,
                            f"no record of step {step} in {Path(session).name} (not trained yet, "
                            "or trained before receipts were kept)")
    recorded = record["micro"][micro]
    if recorded == computed:
        return ReceiptCheck("match", recorded, computed, "matches the run's record")
    return ReceiptCheck("mismatch", recorded, computed,
                        f"DOES NOT MATCH the run's record (recorded {recorded}, shown "
                        f"{computed}): the data, the template or the tokenizer changed since "
                        "the run, so this is not the batch it trained on")
