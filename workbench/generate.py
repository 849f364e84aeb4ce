"""Generation with a KV cache: greedy or sampled, stop rules, batches, and streaming.

Decoding. Greedy when temperature is 0; otherwise the logits go through the repetition
penalty, the temperature, top-k, then top-p, and a token is sampled with a torch.Generator
seeded from `GenerationConfig.seed`, so the same call gives the same tokens. (A batch shares
one generator: a prompt sampled inside a batch is reproducible for that batch, not equal to
the same prompt sampled alone. Greedy tokens do not depend on the batch.)

Batches. Prompts of different lengths are left-padded so that every sequence writes its
next token into the same cache slot; each sequence keeps its own positions (0..n-1 for its
prompt), and the cache masks the padding. Every step feeds one token per sequence; a
sequence that has stopped keeps its row (the batch shape never changes, nothing is copied)
and its tokens are discarded.

Stop rules, per sequence, checked after every token:
* `end`: the token is one of `stop_ids` (the template's end token and <|endoftext|>). The
  end token is in `token_ids` but not in `text`.
* `stop_string`: the decoded text contains one of `stop_strings` (matched on text, so a
  marker that spans several tokens, like "### Instruction:", is caught). `text` keeps
  everything up to and including the matched string (the diagnostics highlight it as
  leakage); `clean_text` is cut before it; `stop_string` says which one.
* `length`: `max_new_tokens` new tokens, or the context is full.
* `cancelled` (streaming only): the cancel event was set.

CUDA. The decode step runs as a CUDA graph over a static cache (`GraphStep`): the prefill's
KV cache with every shape fixed, one token per sequence written into a slot given as a
device tensor, attention over all slots with those not filled yet masked. Replaying the
graph launches the step's ~200 kernels at once instead of one by one from Python, which is
where the time of a small model's decoding goes. Only on CUDA, with the cache, and where it
pays (`graph_pays`: up to 8 sequences and 16 new tokens or more); the CPU path is unchanged.

Context. A prompt longer than the model's context (n_positions) is refused with a
WorkbenchError, never cut. When prompt + max_new_tokens does not fit, generation runs up to
the last position and stops with reason `length` and `context_full=True`.

The model never emits an id the tokenizer does not know: logits beyond `tokenizer.n_vocab`
(a model resized or padded to a rounder vocabulary) are never picked.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

from .errors import WorkbenchError

STOP_REASONS = ("end", "stop_string", "length", "cancelled")


@dataclass(frozen=True)
class GenerationConfig:
    """How to generate. Attributes:

    max_new_tokens: the most new tokens per sequence.
    temperature: 0 is greedy; above 0 samples from softmax(logits / temperature).
    top_k: sample among the k most likely tokens only (0: all).
    top_p: sample within the smallest set of tokens whose probability reaches p (1: all).
    repetition_penalty: above 1 makes tokens already in the prompt or the output less
        likely (CTRL's rule: a positive logit is divided by it, a negative one multiplied).
    seed: seeds the sampler; the same seed gives the same tokens.
    stop_strings: stop when the decoded new text contains one of these.
    use_cache: False recomputes every position at every step (the same tokens, far slower;
        for checks and benchmarks).
    """

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int = 0
    stop_strings: tuple[str, ...] = ()
    use_cache: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "stop_strings", tuple(s for s in self.stop_strings if s))
        if self.max_new_tokens < 1:
            raise WorkbenchError(f"max_new_tokens must be at least 1, not {self.max_new_tokens}")
        if self.temperature < 0:
            raise WorkbenchError(f"temperature must be 0 (greedy) or more, not {self.temperature}")
        if self.top_k < 0:
            raise WorkbenchError(f"top_k must be 0 (off) or more, not {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise WorkbenchError(f"top_p must be in (0, 1], not {self.top_p}")
        if self.repetition_penalty <= 0:
            raise WorkbenchError(f"repetition_penalty must be above 0, not {self.repetition_penalty}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class GenerationResult:
    """One generated sequence.

    Attributes:
        token_ids: the new tokens (with the end token when stop_reason is "end").
        text: the decoded new text: without the end token; up to and including the matched
            stop string when stop_reason is "stop_string".
        stop_reason: "end", "stop_string", "length" or "cancelled".
        prompt_tokens: tokens in the prompt.
        new_tokens: len(token_ids).
        seconds: from the start of generation until this sequence stopped.
        stop_string: the stop string matched, if any.
        context_full: stopped because the model's context ran out (stop_reason "length").
    """

    token_ids: list[int]
    text: str
    stop_reason: str
    prompt_tokens: int
    new_tokens: int
    seconds: float
    stop_string: str | None = None
    context_full: bool = False

    @property
    def clean_text(self) -> str:
        """`text` cut before the matched stop string (the answer a user should see)."""
        if self.stop_string is not None and self.text.endswith(self.stop_string):
            return self.text[: len(self.text) - len(self.stop_string)]
        return self.text

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["clean_text"] = self.clean_text
        d["tokens_per_second"] = round(self.tokens_per_second, 2)
        return d


@dataclass(frozen=True)
class StreamToken:
    """One new token as it comes: its id and the text it adds ("" for an end token, or
    for a token that ends inside a UTF-8 character; that text comes with the next one).
    Joining the `text` of every token gives the final `GenerationResult.text`."""

    token_id: int
    text: str
    index: int = 0  # which prompt of the batch


# ----------------------------------------------------------------------------------------
# Public entry points


def generate(model, tokenizer, prompts: Sequence[Sequence[int]],
             config: GenerationConfig | None = None, *, stop_ids: Sequence[int] | None = None,
             device: str | None = None) -> list[GenerationResult]:
    """Generate for a batch of prompts (token ids, any lengths) with one KV cache.

    stop_ids: the ids that end a sequence (default: <|endoftext|>; pass () to never stop on a
    token). device: where to run (default: where the model is; the model is moved there).
    """
    config = config or GenerationConfig()
    steps = _decode(model, tokenizer, prompts, config, stop_ids, device, None,
                    track_text=bool(config.stop_strings))
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def stream(model, tokenizer, prompt_ids: Sequence[int], config: GenerationConfig | None = None,
           *, stop_ids: Sequence[int] | None = None, cancel: threading.Event | None = None,
           device: str | None = None) -> Iterator[StreamToken | GenerationResult]:
    """Generate for one prompt, yielding a StreamToken per new token, then the
    GenerationResult. Setting `cancel` stops it after the current token (stop_reason
    "cancelled"). Made for a worker thread: the caller's thread never runs under torch's
    inference mode or autocast between tokens."""
    results = yield from _decode(model, tokenizer, [prompt_ids], config or GenerationConfig(),
                                 stop_ids, device, cancel, track_text=True)
    yield results[0]


# ----------------------------------------------------------------------------------------
# With a template: what the CLI, the chat pane and `compare` call


def prompt_tokenizer(loaded, template):
    """The model's tokenizer with the template's special tokens.

    When the template adds special tokens the model has no embedding for (a base model
    with chatml's <|user|>, ...), the model's embeddings are resized in place, new rows at
    the mean of the others, exactly as fine-tuning starts: the base model is then shown
    the prompt the fine-tuned one will see.
    """
    from .collate import tokenizer_for

    tok = tokenizer_for(loaded.tokenizer, template)
    if tok.n_vocab > loaded.model.config.vocab_size:
        loaded.model.resize_token_embeddings(tok.n_vocab)
    return tok


def template_stops(template, tokenizer, config: GenerationConfig):
    """(stop ids, config with the template's stop strings added) for a template."""
    stop_ids = sorted({tokenizer.special_id(template.end_token), tokenizer.eos_id})
    strings = tuple(dict.fromkeys((*config.stop_strings, *template.stop_strings)))
    return stop_ids, dataclasses.replace(config, stop_strings=strings)


def encode_prompt(loaded, template, tokenizer, example) -> list[int]:
    """The inference prompt of `example`: the template's training prefix, tokenized the way
    training tokenizes it. Too long for the model: a WorkbenchError naming the row."""
    from .collate import encode_segments

    ids = encode_segments(template.render_prompt(example), tokenizer)[0]
    n_positions = loaded.model.config.n_positions
    if len(ids) > n_positions:
        row = f"row {example.row}: " if example.row is not None else ""
        raise WorkbenchError(f"{row}the prompt has {len(ids)} tokens with template "
                             f"{template.name}, more than the {n_positions}-position context "
                             f"of {loaded.source} (prompts are never cut; shorten it)")
    return ids


def generate_for_examples(loaded, template, examples: Sequence, config: GenerationConfig | None
                          = None, *, batch_size: int = 8) -> list[GenerationResult]:
    """Answer each example's inference prompt (template.render_prompt), in batches of
    similar length; stops on the template's end token, <|endoftext|> and its stop strings.
    Results come back in the order of `examples`."""
    config = config or GenerationConfig()
    tok = prompt_tokenizer(loaded, template)
    prompts = [encode_prompt(loaded, template, tok, ex) for ex in examples]
    stop_ids, config = template_stops(template, tok, config)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # less padding
    results: list[GenerationResult | None] = [None] * len(prompts)
    for start in range(0, len(order), max(1, batch_size)):
        chunk = order[start:start + max(1, batch_size)]
        out = generate(loaded.model, tok, [prompts[i] for i in chunk], config,
                       stop_ids=stop_ids, device=loaded.device)
        for i, res in zip(chunk, out):
            results[i] = res
    return results  # type: ignore[return-value]


def stream_for_example(loaded, template, example, config: GenerationConfig | None = None, *,
                       cancel: threading.Event | None = None):
    """`stream` for one example rendered with a template (the chat pane's call)."""
    config = config or GenerationConfig()
    tok = prompt_tokenizer(loaded, template)
    prompt = encode_prompt(loaded, template, tok, example)
    stop_ids, config = template_stops(template, tok, config)
    return stream(loaded.model, tok, prompt, config, stop_ids=stop_ids, cancel=cancel,
                  device=loaded.device)


# ----------------------------------------------------------------------------------------
# The decoding loop


@dataclass
class _Sequence:
    """One sequence's progress: its tokens, its text, and whether (and why) it stopped."""

    tokenizer: object
    limit: int  # the most new tokens (max_new_tokens, or fewer where the context ends)
    context_limited: bool
    stop_ids: frozenset
    stop_strings: tuple[str, ...]
    track_text: bool  # decode as it goes (for stop strings and streaming)
    tokens: list[int] = field(default_factory=list)
    data: bytearray = field(default_factory=bytearray)
    text: str = ""  # decoded so far, up to the last complete UTF-8 character
    emitted: int = 0  # characters of text already handed out as stream deltas
    reason: str | None = None
    stop_string: str | None = None
    cut: int | None = None  # where `text` ends when a stop string matched
    seconds: float = 0.0

    def add(self, token_id: int) -> str:
        """Take the next token; return the text it adds."""
        self.tokens.append(token_id)
        if token_id in self.stop_ids:
            self.reason = "end"
        else:
            self.data += self.tokenizer.token_bytes(token_id)
            if self.track_text:
                before = len(self.text)
                self.text = self.data[:_complete_utf8(self.data)].decode("utf-8", "replace")
                self._match(before)
        if self.reason is None and len(self.tokens) >= self.limit:
            self.reason = "length"
        final = self.final_text() if self.reason else self.text
        delta = final[self.emitted:]
        self.emitted += len(delta)
        return delta

    def _match(self, before: int) -> None:
        """The earliest stop string that ends in the new text (earlier text was checked)."""
        if not self.stop_strings:
            return
        longest = max(len(s) for s in self.stop_strings)
        start = max(0, before - longest + 1)
        hits = [(pos, s) for s in self.stop_strings if (pos := self.text.find(s, start)) >= 0]
        if hits:
            pos, s = min(hits, key=lambda h: (h[0], -len(h[1])))
            self.reason, self.stop_string, self.cut = "stop_string", s, pos + len(s)

    def final_text(self) -> str:
        if self.cut is not None:
            return self.text[:self.cut]
        return self.data.decode("utf-8", "replace")

    def result(self, prompt_tokens: int) -> GenerationResult:
        return GenerationResult(
            token_ids=list(self.tokens), text=self.final_text(),
            stop_reason=self.reason or "length", prompt_tokens=prompt_tokens,
            new_tokens=len(self.tokens), seconds=self.seconds, stop_string=self.stop_string,
            context_full=self.reason == "length" and self.context_limited
            and len(self.tokens) >= self.limit)


def _complete_utf8(data: bytes | bytearray) -> int:
    """Length of the longest prefix of `data` that does not end inside a UTF-8 character
    (a token can end in the middle of one; its text is shown once the character is whole)."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        byte = data[n - back]
        if byte & 0xC0 != 0x80:  # not a continuation byte: the last character starts here
            need = 2 if byte >> 5 == 0b110 else 3 if byte >> 4 == 0b1110 else (
                4 if byte >> 3 == 0b11110 else 1)
            return n if back >= need else n - back
    return n


def _decode(model, tokenizer, prompts, config: GenerationConfig, stop_ids, device, cancel,
            track_text: bool):
    """Yield a StreamToken per new token of each sequence; return the results."""
    import torch

    device = str(device or next(model.parameters()).device)
    model.to(device)  # outside inference mode: moved weights must stay trainable

    @torch.inference_mode()  # torch re-enters it around each step of the generator
    def run():
        return (yield from _decode_loop(model, tokenizer, prompts, config, stop_ids, device,
                                        cancel, track_text))

    return run()


def _decode_loop(model, tokenizer, prompts, config, stop_ids, device, cancel, track_text):
    import torch

    from .device import autocast
    from .model.gpt2 import KVCache

    cfg = model.config
    n_positions, n_vocab = cfg.n_positions, min(tokenizer.n_vocab, cfg.vocab_size)
    stop_ids = frozenset([tokenizer.eos_id] if stop_ids is None else stop_ids)
    # An empty prompt starts from <|endoftext|>, as GPT-2 starts unconditioned text.
    prompts = [list(p) if len(p) else [tokenizer.eos_id] for p in prompts]
    if not prompts:
        return []
    for i, p in enumerate(prompts):
        if len(p) > n_positions:
            raise WorkbenchError(f"prompt {i} has {len(p)} tokens, more than the model's "
                                 f"{n_positions}-position context (prompts are never cut)")
        if min(p) < 0 or max(p) >= cfg.vocab_size:
            raise WorkbenchError(f"prompt {i} holds token id {max(p) if max(p) >= 0 else min(p)}"
                                 f", outside the model's vocabulary of {cfg.vocab_size}")
    B, lengths = len(prompts), [len(p) for p in prompts]
    # the last new token is never fed back, so a prompt of n leaves n_positions - n + 1
    limits = [min(config.max_new_tokens, n_positions - n + 1) for n in lengths]
    T0, steps = max(lengths), max(limits)

    # Left-pad: every sequence's last prompt token sits in slot T0 - 1.
    ids = torch.zeros(B, T0, dtype=torch.long)  # (B, T0); the pad id is never attended
    keep = torch.zeros(B, T0, dtype=torch.bool)  # (B, T0) real tokens
    for i, p in enumerate(prompts):
        ids[i, T0 - len(p):] = torch.tensor(p)
        keep[i, T0 - len(p):] = True
    positions = (keep.cumsum(1) - 1).clamp(min=0)  # (B, T0): each prompt counts from 0
    ids, keep, positions = ids.to(device), keep.to(device), positions.to(device)
    next_pos = torch.tensor(lengths, device=device)  # (B,) position of each next token
    padded = min(lengths) != T0
    cache = KVCache(cfg, B, T0 + steps - 1, keep if padded else None)

    seen = None  # (B, V) tokens already in prompt or output, for the repetition penalty
    if config.repetition_penalty != 1.0:
        seen = torch.zeros(B, cfg.vocab_size, dtype=torch.bool, device=device)
        for i, p in enumerate(prompts):
            seen[i, torch.tensor(p, device=device)] = True
    generator = None
    if not config.greedy:
        generator = torch.Generator(device=device).manual_seed(config.seed)

    seqs = [_Sequence(tokenizer, limit, limit < config.max_new_tokens, stop_ids,
                      config.stop_strings, track_text) for limit in limits]
    graph = None  # the CUDA-graph decode step, made after the prefill where it pays
    was_training = model.training
    model.eval()
    start = time.perf_counter()
    try:
        with autocast(device):
            if config.use_cache:
                last = torch.arange(B, device=device) * T0 + T0 - 1  # (B,) flat slots
                x = model.hidden(ids, position_ids=positions, cache=cache, select=last)
                logits = model.logits(x)  # (B, V): only the last position predicts
            else:
                logits = model.logits(_last_hidden(model, prompts, device))  # (B, V)
        if config.use_cache and graph_pays(device, B, steps):
            graph = GraphStep(model, cache, T0)
        for _ in range(steps):
            new = _pick(logits[:, :n_vocab], config, seen, generator)  # (B,)
            chosen = new.tolist()
            now = time.perf_counter() - start
            for i, seq in enumerate(seqs):
                if seq.reason is None:
                    delta = seq.add(chosen[i])
                    seq.seconds = now
                    yield StreamToken(chosen[i], delta, i)
            if cancel is not None and cancel.is_set():
                for seq in seqs:
                    seq.reason = seq.reason or "cancelled"
            if all(seq.reason for seq in seqs):
                break
            if seen is not None:
                seen[torch.arange(B, device=device), new] = True
            with autocast(device):
                if graph is not None:
                    logits = graph(new, next_pos)  # (B, V)
                elif config.use_cache:
                    x = model.hidden(new[:, None], position_ids=next_pos[:, None], cache=cache)
                    logits = model.logits(x[:, -1])  # (B, V)
                else:  # every position again, of the sequences still going
                    going = [i for i, seq in enumerate(seqs) if seq.reason is None]
                    x = _last_hidden(model, [prompts[i] + seqs[i].tokens for i in going], device)
                    logits = logits.new_zeros(logits.shape)  # stopped rows: never used
                    logits[going] = model.logits(x)  # (B, V)
            # a stopped sequence keeps being fed; keep its position inside the table
            next_pos = (next_pos + 1).clamp_(max=n_positions - 1)
    finally:
        model.train(was_training)
    return [seq.result(n) for seq, n in zip(seqs, lengths)]


def graph_pays(device: str, batch: int, steps: int) -> bool:
    """A CUDA-graph decode step pays on CUDA for small batches (launch-bound: 1 to 8
    sequences) and generations long enough to repay the capture (16 new tokens or more)."""
    return str(device).startswith("cuda") and batch <= 8 and steps >= 16


class StaticCache:
    """A KV cache whose shapes never change, for a captured decode step: the prefill's
    `KVCache` tensors (n_layer, B, nh, max_len, hs), each step writing its keys and values
    into slot `slot` (a (1,) device tensor, set before each replay) and attending over all
    max_len slots, those after `slot` and the left padding masked (`mask`, which the model's
    `_attention_mask` asks for when a cache is `static`)."""

    static = True

    def __init__(self, cache, start: int) -> None:
        import torch

        self.k, self.v, self.shape, self.max_len = cache.k, cache.v, cache.shape, cache.max_len
        B, device = self.shape[1], cache.k.device
        self.keep = (cache.keep if cache.keep is not None
                     else torch.ones(B, self.max_len, dtype=torch.bool, device=device))
        self.slot = torch.full((1,), start, dtype=torch.long, device=device)  # (1,)
        self.slots = torch.arange(self.max_len, device=device)  # (L,)
        self.length = start  # the model adds each step's T; the slot tensor is what counts

    def update(self, layer: int, k, v):
        """Write one step's keys/values (B, nh, 1, hs) at `slot`; return all (B, nh, L, hs)."""
        self.k[layer].index_copy_(2, self.slot, k)
        self.v[layer].index_copy_(2, self.slot, v)
        return self.k[layer], self.v[layer]

    def mask(self, window: int | None = None):
        """(B, 1, 1, L) bool: the filled slots of real tokens up to `slot` (GPT-Neo's local
        layers: the last `window` of them)."""
        allowed = self.keep & (self.slots <= self.slot)  # (B, L)
        if window is not None:
            allowed = allowed & (self.slot - self.slots < window)
        return allowed[:, None, None, :]


class GraphStep:
    """One decode step (tokens (B,) and positions (B,) -> logits (B, V)) over a
    `StaticCache`, captured once as a CUDA graph and replayed. The capture runs under
    autocast without its weight cache (a cached cast would be freed under the graph);
    elsewhere (the CPU tests) the same step runs eagerly, which checks everything but the
    capture."""

    def __init__(self, model, cache, start: int) -> None:
        import torch

        self.model = model
        self.cache = StaticCache(cache, start)
        self.next_slot = start
        B, device = cache.shape[1], cache.k.device
        self.tok = torch.zeros(B, 1, dtype=torch.long, device=device)  # (B, 1)
        self.pos = torch.zeros(B, 1, dtype=torch.long, device=device)  # (B, 1)
        self.graph = None
        self.out = None

    def _forward(self):
        x = self.model.hidden(self.tok, position_ids=self.pos, cache=self.cache)  # (B, 1, C)
        return self.model.logits(x[:, -1])  # (B, V)

    def __call__(self, new, next_pos):
        import torch

        self.tok.copy_(new[:, None])
        self.pos.copy_(next_pos[:, None])
        self.cache.slot.fill_(self.next_slot)
        self.next_slot += 1
        if self.tok.device.type != "cuda":
            return self._forward()
        if self.graph is None:
            amp = torch.is_autocast_enabled("cuda")
            with torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), enabled=amp,
                                cache_enabled=False):
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):  # warm-up: writes this very step's keys
                    for _ in range(2):
                        self._forward()
                torch.cuda.current_stream().wait_stream(side)
                self.graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(self.graph):
                    self.out = self._forward()
        self.graph.replay()
        return self.out.clone()


def _last_hidden(model, rows, device):
    """The final hidden state at the last position of each token list, (n, C), every
    position computed afresh (the no-cache path). The lists go side by side into one packed
    row (positions restarting at 0, attention kept inside each list), so no padding is
    computed and a stopped sequence costs nothing."""
    import torch

    flat = torch.tensor([t for row in rows for t in row], device=device)[None]  # (1, N)
    if len(rows) == 1:
        return model.hidden(flat, select=torch.tensor([flat.size(1) - 1], device=device))
    lengths = torch.tensor([len(row) for row in rows], device=device)  # (n,)
    ends = lengths.cumsum(0)  # (n,) one past each list's last token
    segments = torch.repeat_interleave(torch.arange(1, len(rows) + 1, device=device), lengths)
    positions = torch.arange(flat.size(1), device=device) - torch.repeat_interleave(
        ends - lengths, lengths)  # (N,) 0.. for each list
    return model.hidden(flat, position_ids=positions[None], segment_ids=segments[None],
                        select=ends - 1)  # (n, C)


def _pick(logits, config: GenerationConfig, seen, generator):
    """The next token of each row, (B,): greedy, or sampled after penalty/temperature/top-k/top-p."""
    import torch

    logits = logits.float()  # (B, V)
    if seen is not None:
        seen = seen[:, :logits.size(1)]
        p = config.repetition_penalty
        logits = torch.where(seen, torch.where(logits > 0, logits / p, logits * p), logits)
    if config.greedy:
        return logits.argmax(dim=-1)
    logits = logits / config.temperature
    if config.top_k > 0:
        kth = torch.topk(logits, min(config.top_k, logits.size(-1))).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if config.top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)  # (B, V)
        probs = sorted_logits.softmax(dim=-1)
        # drop a token when the tokens before it already reach top_p (the first always stays)
        drop = probs.cumsum(dim=-1) - probs > config.top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(1, order, sorted_logits)
    probs = logits.softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)
