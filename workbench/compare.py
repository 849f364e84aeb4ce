"""Compare a base model and its fine-tune on the same prompts, under identical settings.

    items = read_prompts("prompts.jsonl")            # or items_from_data(source, n)
    result = compare(base, sft, template, items, GenerationConfig(max_new_tokens=128))
    result.items[0].sft.diagnosis.flagged            # ["leakage"]
    result.summary()                                 # {"base": {...}, "sft": {...}, "loss": {...}}

What is compared, and how:

* Both models answer every item's inference prompt (`template.render_prompt`: the training
  prefix, byte for byte) with the same `GenerationConfig` (temperature, top-k/p, seed, max
  new tokens, stop strings) and in the same batches, so a seeded sampled run draws the same
  way for both. The template is one for both models: the SFT checkpoint's by default, so the
  base model is shown exactly the prompt the fine-tune was trained on.
* Every answer is diagnosed (`workbench.diagnose`): role leakage, looping, no-stop, empty,
  echo, with evidence spans into `GenerationResult.text` (which keeps a matched stop string,
  so a leaked marker is highlighted). Exact match, token F1 and ending adherence are
  measured on `clean_text`, the answer a user would see (cut before the stop string).
* Loss side (`loss_metrics`): the mean loss per target token of each model on the items
  that carry a reference answer (the SFT data: response tokens and the end token, exactly as
  training counts them), and, given plain-text passages, on those (every token: how much
  of its pretraining-style language modelling the fine-tune lost; `forgetting` is SFT minus
  base). Computed with `workbench.train.loop.evaluate`, the function training validates with.

`workbench compare` prints this; the Chat screen's "compare over a set" shows the same
numbers. torch is imported only when something runs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from .data.records import Example, Message
from .errors import WorkbenchError

if TYPE_CHECKING:
    from .diagnose import Diagnosis
    from .generate import GenerationConfig, GenerationResult
    from .model import LoadedModel
    from .templates import Template

PROMPT_FIELDS = ("prompt", "instruction", "input", "reference", "category", "ending", "id")
"""What a JSONL prompts file may hold per line (`prompt` or `instruction` is required)."""

SIDES = ("base", "sft")


# ----------------------------------------------------------------------------------------
# Items: what both models are asked


@dataclass
class CompareItem:
    """One prompt to put to both models.

    Attributes:
        example: what the template renders (`render_prompt` drops a trailing answer).
        prompt: the instruction (or last user turn) as shown to people; also what the
            echo detector compares the answer with.
        input: Alpaca's optional input.
        reference: the expected answer(s), for exact match and F1 (and the data loss).
        category: for per-category metrics.
        ending: "happy" / "sad" when a story with that ending was asked for.
        id: where it came from: the line of a prompts file, the row of a dataset.
    """

    example: Example
    prompt: str
    input: str = ""
    reference: str | list[str] | None = None
    category: str | None = None
    ending: str | None = None
    id: Any = None

    def to_dict(self) -> dict:
        d: dict = {"prompt": self.prompt}
        for key in ("input", "reference", "category", "ending", "id"):
            value = getattr(self, key)
            if value not in (None, ""):
                d[key] = value
        return d

    @property
    def training_example(self) -> Example | None:
        """The item as a training example (prompt + reference answer), for the data loss;
        None without a reference."""
        if any(m.role == "assistant" for m in self.example.messages):
            return self.example
        if self.reference is None:
            return None
        answer = self.reference if isinstance(self.reference, str) else self.reference[0]
        return Example(list(self.example.messages) + [Message("assistant", answer)],
                       dict(self.example.meta))


def make_item(prompt: str, *, input: str = "", reference: str | list[str] | None = None,
              category: str | None = None, ending: str | None = None, id: Any = None,
              row: int | None = None) -> CompareItem:
    """An item from an instruction (what the Chat screen's prompt box and a prompts file
    give). A requested ending goes into the example's meta, where the story template
    reads it."""
    meta: dict[str, Any] = {}
    if row is not None:
        meta["row"] = row
    if ending is not None:
        meta["ending"] = ending
    example = Example([Message("user", prompt, input)], meta)
    return CompareItem(example, prompt, input, reference, category, ending, id)


def item_from_example(example: Example, id: Any = None) -> CompareItem:
    """An item from a dataset row: the prompt is the row minus its last answer; that
    answer is the reference; `category` and a story's requested `ending` come from meta."""
    from .diagnose import normalize_ending

    messages = list(example.messages)
    reference = None
    if messages and messages[-1].role == "assistant":
        reference = messages[-1].content
    users = [m for m in messages if m.role in ("user", "text")]
    last = users[-1] if users else (messages[0] if messages else Message("user", ""))
    category = example.meta.get("category")
    ending = example.meta.get("ending")
    try:
        ending = normalize_ending(ending) if isinstance(ending, str) else None
    except ValueError:
        ending = None
    if id is None and example.row is not None:
        id = f"row {example.row}"
    return CompareItem(example, last.content, last.input, reference,
                       str(category) if category is not None else None, ending, id)


def read_prompts(path: str | Path, on_notice: Callable[[str], None] | None = None
                 ) -> list[CompareItem]:
    """Items from a prompts file.

    * `.jsonl` (or `.json`): one JSON object per line with `prompt` (or `instruction`) and
      optionally `input`, `reference` (a string or a list of strings), `category`,
      `ending` ("happy"/"sad"), `id`; a `.json` file may also hold one array of them.
    * anything else (`.txt`): one prompt per non-blank line. A literal "\\n" in a line is
      a line break inside the prompt.

    Raises WorkbenchError naming the file, the line and the problem.
    """
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WorkbenchError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise WorkbenchError(f"{name}: is a folder, not a prompts file") from None
    except OSError as err:
        raise WorkbenchError(f"{name}: cannot read ({err.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise WorkbenchError(f"{name}: invalid UTF-8 at byte {err.start}") from None
    items: list[CompareItem] = []
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        stripped = text.lstrip()
        if path.suffix.lower() == ".json" and stripped.startswith("["):
            try:
                rows = json.loads(text)
            except json.JSONDecodeError as err:
                raise WorkbenchError(f"{name}: malformed JSON ({err.msg}, line {err.lineno})") from None
            numbered = [(f"item {i}", obj) for i, obj in enumerate(rows)]
        else:
            numbered = []
            for lineno, line in enumerate(text.splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    numbered.append((f"line {lineno}", json.loads(line)))
                except json.JSONDecodeError as err:
                    raise WorkbenchError(f"{name}: line {lineno}: malformed JSON ({err.msg}, "
                                         f"column {err.colno})") from None
        extra: set[str] = set()
        for where, obj in numbered:
            try:
                items.append(_item_from_object(obj, where))
            except ValueError as err:
                raise WorkbenchError(f"{name}: {where}: {err}") from None
            extra |= set(obj) - set(PROMPT_FIELDS)
        if extra and on_notice is not None:
            on_notice(f"{name}: fields {', '.join(sorted(extra))} are not prompt fields: kept "
                      "for templates that use them (the story template's summary), else "
                      "ignored")
    else:
        for lineno, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                items.append(make_item(line.strip().replace("\\n", "\n"), id=f"line {lineno}",
                                       row=lineno))
    if not items:
        raise WorkbenchError(f"{name}: no prompts (one per line in a .txt file, or JSON "
                             "objects with a \"prompt\" in a .jsonl file)")
    return items


def _item_from_object(obj: Any, where: str) -> CompareItem:
    from .diagnose import normalize_ending

    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    key = "prompt" if "prompt" in obj else "instruction"
    prompt = obj.get(key)
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("missing or empty field 'prompt'" if prompt in (None, "")
                         else f"field {key!r} is not a string")
    for f in ("input", "category"):
        if obj.get(f) is not None and not isinstance(obj[f], str):
            raise ValueError(f"field {f!r} is not a string")
    ref = obj.get("reference")
    if ref is not None and not (isinstance(ref, str) or (
            isinstance(ref, list) and ref and all(isinstance(r, str) for r in ref))):
        raise ValueError("field 'reference' must be a string or a non-empty list of strings")
    ending = obj.get("ending")
    if ending is not None:
        if not isinstance(ending, str):
            raise ValueError("field 'ending' is not a string")
        ending = normalize_ending(ending)  # ValueError names what is wrong
    row = int(where.split()[-1]) if where.split()[-1].isdigit() else None
    item = make_item(prompt, input=obj.get("input") or "", reference=ref,
                     category=obj.get("category"), ending=ending,
                     id=obj.get("id", where), row=row)
    # other fields a template may use (the story template's summary, ...) go to the
    # example's meta; those that are not text are left out (`read_prompts` says which)
    for key, value in obj.items():
        if key not in PROMPT_FIELDS and isinstance(value, str) and value.strip():
            item.example.meta[key] = value
    return item


def items_from_data(source: str | None, n: int, *, format: str | None = None,
                    split: str | None = None, session=None,
                    sessions_dir=None) -> tuple[list[CompareItem], dict]:
    """The first `n` held-out rows as items, with where they came from for the report.

    Held out means never trained on. In this order:

    * `split` named: that split, as asked; labelled `held_out: False` when it is the
      session's training split (it is then said plainly, never called validation);
    * `session` (a session folder: the SFT model's run) trained on `source` (or `source`
      is None): the session's own held-out rows, cut exactly as its run cut them
      (`workbench.recipe.cut_and_balance`: its validation split or its val_ratio cut);
    * `source` has a `validation` split: that split;
    * otherwise there are no held-out rows: a WorkbenchError says so and what to do.

    Returns (items, {"source", "format", "split", "rows", "available", "held_out", "why"}).
    """
    from .data.sources import open_dataset

    if n < 1:
        raise WorkbenchError(f"--n must be at least 1, not {n}")
    config = _session_config(session) if session is not None else None
    if source is None:
        if config is None:
            raise WorkbenchError("no data to take rows from: give --data SOURCE, or an SFT "
                                 "session (its held-out rows are used)")
        source = config.data
    trained_on_it = config is not None and _same_source(config.data, source)
    if trained_on_it and config.format and not format:
        format = config.format
    ds = open_dataset(source, format=format or None)
    held_out, why = True, ""
    if split:
        name = ds.split(split).name
        if trained_on_it and name == config.split:
            held_out, why = False, (f"split {name!r}: the rows session {Path(session).name} "
                                    "trained on (chosen; not held out)")
        else:
            held_out, why = None, f"split {name!r} (chosen)"
    elif trained_on_it:
        from .recipe import cut_and_balance

        ds, heldout, _ = cut_and_balance(ds, config)
        if not heldout["split"]:
            raise WorkbenchError(
                f"session {Path(session).name} held no rows out of {source} ({heldout['why']}): "
                "there is nothing it did not train on to measure. Give --data another source "
                "with a validation split, --prompts FILE, or --split NAME to measure on a split "
                "knowingly")
        name, why = heldout["split"], f"held out by session {Path(session).name}: {heldout['why']}"
    elif "validation" in ds.splits:
        name, why = "validation", f"the {source} validation split"
    else:
        whose = (f", and session {Path(session).name} was not trained on it"
                 if session is not None else "")
        raise WorkbenchError(
            f"{source}: no held-out rows: it has no validation split{whose}. Give the SFT "
            "session that was trained on it (its own held-out cut is used), --prompts FILE, "
            "or --split NAME to measure on a split knowingly (it is then not called held out)")
    s = ds.split(name)
    rows = ds.rows(name, range(min(n, len(s))))
    items = [item_from_example(r.example) for r in rows]
    if not items:
        raise WorkbenchError(f"{source}: split {name!r} has no rows")
    return items, {"source": source, "format": ds.format, "split": name, "rows": len(items),
                   "available": len(s), "held_out": held_out, "why": why}


def _session_config(session):
    from .sessions import CONFIG
    from .train.config import TrainConfig

    return TrainConfig.from_toml(Path(session) / CONFIG)


def _same_source(a: str, b: str) -> bool:
    """Two spellings of one data source (a path, relative or not, or a Hub id)."""
    if a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    return pa.exists() and pb.exists() and pa.resolve() == pb.resolve()


def text_passages(source: str, n: int = 100) -> tuple[list[Example], dict]:
    """Up to `n` plain-text passages for the forgetting loss: a .txt file (one passage
    per line, or documents separated by <|endoftext|>), or any source with a `text`
    column; its validation split when it has one."""
    from .data.sources import open_dataset

    if n < 1:
        raise WorkbenchError(f"--text-n must be at least 1, not {n}")
    ds = open_dataset(source, format="text")
    name = "validation" if "validation" in ds.splits else ds.default_split
    rows = ds.rows(name, range(min(n, len(ds.split(name)))))
    examples = [r.example for r in rows]
    if not examples:
        raise WorkbenchError(f"{source}: no text passages")
    return examples, {"source": source, "split": name, "passages": len(examples)}


# ----------------------------------------------------------------------------------------
# Answers


@dataclass
class Answer:
    """One model's answer to one item, and what the workbench says about it."""

    result: "GenerationResult"
    diagnosis: "Diagnosis"

    def to_dict(self) -> dict:
        d = self.result.to_dict()
        d.update(self.diagnosis.to_dict(include_response=False))
        d["stop_reason"] = self.result.stop_reason
        return d


@dataclass
class ComparedItem:
    """An item with both answers."""

    item: CompareItem
    base: Answer
    sft: Answer

    def to_dict(self) -> dict:
        return {**self.item.to_dict(), "base": self.base.to_dict(), "sft": self.sft.to_dict()}


@dataclass
class CompareResult:
    """What `compare` returns.

    Attributes:
        items: every item with both answers (those done before a cancel, if cancelled).
        summary_base, summary_sft: `workbench.diagnose.summarize` of each model's answers.
        loss: `loss_metrics` (None when cancelled before it ran).
        cancelled: the cancel event stopped it early.
    """

    items: list[ComparedItem]
    summary_base: dict
    summary_sft: dict
    loss: dict | None = None
    cancelled: bool = False
    info: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {"base": self.summary_base, "sft": self.summary_sft, "loss": self.loss}


def diagnose_answer(result: "GenerationResult", template: "Template | None", *,
                    prompt: str = "", reference: str | Sequence[str] | None = None,
                    category: str | None = None, requested_ending: str | None = None) -> "Diagnosis":
    """Diagnose one generation the way `compare` and the Chat screen do: the detectors on
    `result.text` (spans index into it, a matched stop string included), the answer
    metrics on `result.clean_text`. A cancelled generation has no stop reason to judge."""
    from .diagnose import classify_ending, diagnose, exact_match, token_f1

    reason = result.stop_reason if result.stop_reason != "cancelled" else None
    d = diagnose(result.text, prompt=prompt, stop_reason=reason, template=template,
                 token_ids=result.token_ids, stop_string=result.stop_string,
                 reference=reference, category=category, requested_ending=requested_ending)
    clean = result.clean_text
    if clean != result.text:
        changes: dict[str, Any] = {}
        if reference is not None:
            changes.update(exact_match=exact_match(clean, reference), f1=token_f1(clean, reference))
        if d.requested_ending is not None:
            changes["ending"] = classify_ending(clean)
        if changes:
            d = dataclasses.replace(d, **changes)
    return d


def _answer(result, template, item: CompareItem) -> Answer:
    prompt = item.prompt + (f"\n\n{item.input}" if item.input else "")
    return Answer(result, diagnose_answer(result, template, prompt=prompt,
                                          reference=item.reference, category=item.category,
                                          requested_ending=item.ending))


# ----------------------------------------------------------------------------------------
# The comparison


def compare(base: "LoadedModel", sft: "LoadedModel", template: "Template",
            items: Sequence[CompareItem], config: "GenerationConfig | None" = None, *,
            on_item: Callable[[ComparedItem, int, int], None] | None = None,
            on_progress: Callable[[int, int, str], None] | None = None,
            cancel: threading.Event | None = None, batch_size: int = 8,
            text: Sequence[Example] | None = None, loss: bool = True) -> CompareResult:
    """Generate with both models for every item under `config`, diagnose, summarize.

    Items go in batches of `batch_size`, each batch through the base model and then the
    SFT model (the same batches for both, so a seeded sampled run draws alike); results
    come back in the order of `items`. `on_item(compared, done, total)` is called as each
    item is done; `on_progress(done, total, label)` for every stage; setting `cancel` stops
    after the current batch (the result says `cancelled` and holds what was done). With
    `loss` the loss-side metrics are computed too (`loss_metrics`, with `text` passages
    when given).
    """
    from .diagnose import summarize
    from .generate import GenerationConfig, generate_for_examples

    config = config or GenerationConfig()
    items = list(items)
    check_prompts((base, sft), template, items)
    batch_size = max(1, batch_size)
    total = len(items)
    done: list[ComparedItem] = []
    cancelled = False
    for start in range(0, total, batch_size):
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        chunk = items[start:start + batch_size]
        examples = [it.example for it in chunk]
        if on_progress:
            on_progress(start, total, f"generating {start + 1}-{start + len(chunk)} of {total} (base)")
        base_out = generate_for_examples(base, template, examples, config, batch_size=batch_size)
        if on_progress:
            on_progress(start, total, f"generating {start + 1}-{start + len(chunk)} of {total} (sft)")
        sft_out = generate_for_examples(sft, template, examples, config, batch_size=batch_size)
        for it, b, s in zip(chunk, base_out, sft_out):
            compared = ComparedItem(it, _answer(b, template, it), _answer(s, template, it))
            done.append(compared)
            if on_item:
                on_item(compared, len(done), total)
    if cancel is not None and cancel.is_set():
        cancelled = True
    result = CompareResult(done, summarize(c.base.diagnosis for c in done),
                           summarize(c.sft.diagnosis for c in done), None, cancelled,
                           {"template": template.name, "base": base.source, "sft": sft.source,
                            "settings": _settings(config), "batch_size": batch_size})
    if loss and not cancelled:
        if on_progress:
            on_progress(total, total, "loss on the data")
        result.loss = loss_metrics(base, sft, template,
                                   [e for e in (c.item.training_example for c in done) if e],
                                   text, batch_size=batch_size)
    return result


def check_prompts(models: Iterable["LoadedModel"], template: "Template",
                  items: Sequence[CompareItem]) -> None:
    """Render and tokenize every prompt for every model before anything is generated: a
    prompt the template cannot render, or one longer than a model's context, stops the
    run at once (a WorkbenchError naming the row) instead of after minutes of work."""
    from .generate import encode_prompt, prompt_tokenizer

    if not items:
        raise WorkbenchError("nothing to compare: no prompts")
    for loaded in models:
        tok = prompt_tokenizer(loaded, template)
        for item in items:
            encode_prompt(loaded, template, tok, item.example)


def _settings(config) -> dict:
    d = dataclasses.asdict(config)
    d.pop("use_cache", None)
    d["stop_strings"] = list(d["stop_strings"])
    return d


# ----------------------------------------------------------------------------------------
# Loss side


def validation_loss(loaded: "LoadedModel", template: "Template", examples: Sequence[Example], *,
                    loss_on: str = "response", batch_size: int = 8,
                    max_len: int | None = None) -> dict:
    """Mean loss per target token of `loaded` on `examples` rendered with `template`
    (`loss_on` "response": the answers and their end tokens, as SFT trains; "all": every
    token). Examples longer than the context keep their first tokens, as in training.
    Returns {loss, targets, examples, dropped, truncated}."""
    from .collate import encode_examples
    from .generate import prompt_tokenizer
    from .train.loop import evaluate

    tok = prompt_tokenizer(loaded, template)  # the template's markers, embeddings resized
    max_len = max_len or loaded.model.config.n_positions
    encoded = encode_examples(examples, template, tok, loss_on=loss_on, max_len=max_len)
    out = {"examples": len(encoded), "dropped": len(encoded.dropped) + len(encoded.errors),
           "truncated": int(encoded.truncated.sum()), "targets": 0, "loss": None}
    if len(encoded) == 0:
        return out
    settings = SimpleNamespace(batch_size=batch_size, max_len=max_len, eval_batches=0)
    loss, count = evaluate(loaded.model, encoded, settings, tok.eos_id, loaded.device)
    out.update(loss=None if math.isnan(loss) else loss, targets=count)
    return out


def loss_metrics(base: "LoadedModel", sft: "LoadedModel", template: "Template",
                 examples: Sequence[Example], text: Sequence[Example] | None = None, *,
                 batch_size: int = 8) -> dict:
    """Validation loss of both models on the SFT data (`examples`, response tokens, under
    `template`) and on plain text (`text`, every token, under the `text` template).

    Returns {"data": {...} | None, "text": {...} | None}; each part holds the base and SFT
    loss, their `change` (SFT minus base), the number of examples and target tokens, and
    for text `forgetting` (the change: above 0, the fine-tune models plain text worse).
    Both models see the same examples cut to the same length (the shorter context).
    """
    from .templates import get_template

    max_len = min(base.model.config.n_positions, sft.model.config.n_positions)

    def part(exs, tmpl, loss_on):
        if not exs:
            return None
        b = validation_loss(base, tmpl, exs, loss_on=loss_on, batch_size=batch_size, max_len=max_len)
        s = validation_loss(sft, tmpl, exs, loss_on=loss_on, batch_size=batch_size, max_len=max_len)
        change = (s["loss"] - b["loss"]) if b["loss"] is not None and s["loss"] is not None else None
        return {"base": b["loss"], "sft": s["loss"], "change": change,
                "examples": s["examples"], "targets": s["targets"],
                "targets_base": b["targets"], "dropped": s["dropped"],
                "truncated": s["truncated"], "template": tmpl.name, "loss_on": loss_on}

    out = {"data": part(list(examples), template, "response"), "text": None}
    if text:
        out["text"] = part(list(text), get_template("text"), "all")
        if out["text"] is not None:
            out["text"]["forgetting"] = out["text"]["change"]
    return out


# ----------------------------------------------------------------------------------------
# Tables for people (the CLI and the Chat screen share these rows)


def summary_rows(result_or_summary: CompareResult | dict) -> list[tuple[str, str, str]]:
    """The comparison as (metric, base, sft) rows of text: flag rates, stop reasons, mean
    length, exact match / F1 (per category), ending adherence, the loss side."""
    from .diagnose import DETECTORS

    s = (result_or_summary.summary() if isinstance(result_or_summary, CompareResult)
         else result_or_summary)
    base, sft, loss = s["base"], s["sft"], s.get("loss")
    rows: list[tuple[str, str, str]] = [("answers", str(base["n"]), str(sft["n"]))]

    def rate(summary, name):
        n, k = summary["n"], summary["counts"][name]
        return f"{k}/{n} {k / n:6.1%}" if n else "-"

    for name in (*DETECTORS, "any"):
        rows.append(("any flag" if name == "any" else name.replace("_", "-"),
                     rate(base, name), rate(sft, name)))
    for reason in ("end", "stop_string", "length"):
        rows.append((f"stop: {reason}", str(base["stop_reasons"].get(reason, 0)),
                     str(sft["stop_reasons"].get(reason, 0))))
    rows.append(("mean words", _num(base["mean_words"], 1), _num(sft["mean_words"], 1)))
    rows.append(("mean tokens", _num(base["mean_tokens"], 1), _num(sft["mean_tokens"], 1)))
    if base["n_reference"]:
        rows.append((f"exact match (n={base['n_reference']})", _num(base["exact_match"]),
                     _num(sft["exact_match"])))
        rows.append(("token F1", _num(base["f1"]), _num(sft["f1"])))
        for cat, m in base["by_category"].items():
            other = sft["by_category"].get(cat, {})
            rows.append((f"  {cat} (n={m['n']}) EM / F1",
                         f"{_num(m['exact_match'], 2)} / {_num(m['f1'], 2)}",
                         f"{_num(other.get('exact_match'), 2)} / {_num(other.get('f1'), 2)}"))
    if base["ending"]:
        rows.append((f"ending adherence (n={base['ending']['n']})",
                     _num(base["ending"]["accuracy"]), _num(sft["ending"]["accuracy"])))
    if loss:
        data, text = loss.get("data"), loss.get("text")
        if data:
            rows.append((f"loss on data ({data['examples']} ex, {data['targets']} tok)",
                         _num(data["base"]), _num(data["sft"])))
        if text:
            rows.append((f"loss on text ({text['examples']} ex, {text['targets']} tok)",
                         _num(text["base"]), _num(text["sft"])))
    return rows


def _num(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
