"""Tokenizers: GPT-2 byte-level BPE through tiktoken, and a plain byte tokenizer.

This is the only module that turns text into ids. Two rules hold everywhere:

* `encode(text)` treats every marker string as plain text. A user who types
  "<|user|>" gets the BPE pieces of that string, never the special id.
* Special tokens (the end-of-text token and the markers a template adds) are looked up
  by name with `special_id(marker)`; the template decides where they go.

GPT-2 BPE is built from a model folder (`vocab.json` + `merges.txt`, the Hugging Face
layout, or OpenAI's `encoder.json` + `vocab.bpe`), or from tiktoken's registry
(`"gpt2"`, which needs its files cached or a network). Added special tokens get the ids
right after the base vocabulary, in the order they are added.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

from .errors import WorkbenchError
from .fsutil import write_text_atomic as _write_text

EOT = "<|endoftext|>"
GPT2_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)
# Files written beside vocab.json/merges.txt that record what the workbench added.
ADDED_TOKENS_FILE = "added_tokens.json"
WORKBENCH_TOKENIZER_FILE = "workbench_tokenizer.json"


# ---------------------------------------------------------------------------------------
# GPT-2's reversible map between bytes and printable unicode characters (vocab.json keys)


@functools.lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """The GPT-2 table mapping each byte to a printable character (as in encoder.py)."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    table = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return table


@functools.lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


def _token_to_bytes(token: str, where: str) -> bytes:
    table = unicode_to_bytes()
    try:
        return bytes(table[c] for c in token)
    except KeyError as err:
        raise WorkbenchError(f"{where}: token {token!r} is not in GPT-2's byte alphabet") from err


def _bytes_to_token(data: bytes) -> str:
    table = bytes_to_unicode()
    return "".join(table[b] for b in data)


# ---------------------------------------------------------------------------------------
# Display helpers (used by the inspector and the CLI tables)


def visible(text: str) -> str:
    """Make whitespace and control characters visible: ␣ for a space, \\n, \\t, \\xNN."""
    out = []
    for ch in text:
        if ch == " ":
            out.append("␣")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


# ---------------------------------------------------------------------------------------


class Tokenizer:
    """Common interface of the BPE and byte tokenizers.

    Attributes:
        name: where it came from ("gpt2", "bytes", or a folder path).
        kind: "bpe" or "bytes".
        base_vocab: ids below this are ordinary tokens; the native end-of-text token and
            the added special tokens sit at and above it.
        eos_id: id of `<|endoftext|>`.
        special_tokens: every special token (end-of-text and added markers) -> id.
        added: the added special tokens in id order (not `<|endoftext|>`).
    """

    kind: str = ""

    def __init__(self, name: str, base_vocab: int, special_tokens: dict[str, int],
                 added: Sequence[str]) -> None:
        self.name = name
        self.base_vocab = base_vocab
        self.special_tokens = dict(special_tokens)
        self.added = list(added)
        self.eos_id = self.special_tokens[EOT]
        self._id_to_special = {i: s for s, i in self.special_tokens.items()}

    # -- sizes and names --------------------------------------------------------------
    @property
    def n_vocab(self) -> int:
        """One more than the largest id this tokenizer can produce."""
        return max([self.base_vocab - 1, *self.special_tokens.values()]) + 1

    def special_id(self, marker: str) -> int:
        """Id of a special token; a clear error if this tokenizer does not have it."""
        try:
            return self.special_tokens[marker]
        except KeyError:
            raise WorkbenchError(
                f"tokenizer {self.name}: {marker!r} is not a special token here "
                f"(specials: {', '.join(self.special_tokens)})"
            ) from None

    def is_special(self, token_id: int) -> bool:
        return token_id in self._id_to_special

    # -- to implement --------------------------------------------------------------------
    def encode(self, text: str, allowed_special: Iterable[str] | str = ()) -> list[int]:
        """Encode text. Marker strings are plain text unless named in `allowed_special`
        ("all" allows every special token)."""
        raise NotImplementedError

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token (a special token gives its marker's UTF-8 bytes)."""
        raise NotImplementedError

    def with_special_tokens(self, markers: Iterable[str]) -> "Tokenizer":
        """A tokenizer with `markers` added as special tokens (ids after the last one).
        Markers already present keep their ids, so this is idempotent."""
        raise NotImplementedError

    def save(self, folder: str | os.PathLike) -> None:
        """Write the tokenizer files into `folder` (HF GPT-2 layout for BPE)."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------
    def decode(self, ids: Iterable[int]) -> str:
        """Decode ids to text; an id this tokenizer does not know decodes to nothing."""
        return b"".join(self.token_bytes(i) for i in ids if self.known(i)).decode(
            "utf-8", errors="replace")

    def known(self, token_id: int) -> bool:
        return 0 <= token_id < self.base_vocab or token_id in self._id_to_special

    def token_text(self, token_id: int) -> str:
        """One token as text for display: invalid UTF-8 pieces become \\xNN escapes."""
        if not self.known(token_id):
            return f"<id {token_id}>"
        return self.token_bytes(token_id).decode("utf-8", errors="backslashreplace")

    def _new_specials(self, markers: Iterable[str]) -> tuple[dict[str, int], list[str]]:
        specials = dict(self.special_tokens)
        added = list(self.added)
        next_id = self.n_vocab
        for marker in markers:
            if not marker:
                raise WorkbenchError("an added special token cannot be the empty string")
            if marker in specials:
                continue
            specials[marker] = next_id
            added.append(marker)
            next_id += 1
        return specials, added

    def describe(self) -> str:
        extra = f", +{len(self.added)} special" if self.added else ""
        return f"{self.name} ({self.kind}, {self.n_vocab} ids{extra})"

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Tokenizer {self.describe()}>"


class BPETokenizer(Tokenizer):
    """GPT-2 byte-level BPE, backed by a tiktoken `Encoding`."""

    kind = "bpe"

    def __init__(self, name: str, ranks: dict[bytes, int], special_tokens: dict[str, int],
                 added: Sequence[str] = (), merges: Sequence[tuple[str, str]] | None = None,
                 pattern: str = GPT2_PATTERN) -> None:
        import tiktoken

        super().__init__(name, len(ranks), special_tokens, added)
        self._ranks = ranks
        self._merges = merges
        self._pattern = pattern
        self._enc = tiktoken.Encoding(
            name=f"workbench-{len(ranks)}-{len(special_tokens)}",
            pat_str=pattern,
            mergeable_ranks=ranks,
            special_tokens=self.special_tokens,
        )

    def encode(self, text: str, allowed_special: Iterable[str] | str = ()) -> list[int]:
        if allowed_special == "all":
            return self._enc.encode(text, allowed_special="all", disallowed_special=())
        allowed = set(allowed_special)
        if not allowed:
            return self._enc.encode_ordinary(text)
        return self._enc.encode(text, allowed_special=allowed, disallowed_special=())

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self._id_to_special:
            return self._id_to_special[token_id].encode("utf-8")
        return self._enc.decode_single_token_bytes(token_id)

    def with_special_tokens(self, markers: Iterable[str]) -> "BPETokenizer":
        specials, added = self._new_specials(markers)
        if added == self.added:
            return self
        return _cached_bpe(self.name, self._ranks, self._merges, self._pattern,
                           tuple(sorted(specials.items(), key=lambda kv: kv[1])), tuple(added))

    @property
    def merges(self) -> list[tuple[str, str]]:
        """The merge list in rank order (rebuilt from the ranks when not loaded from a file)."""
        if self._merges is None:
            self._merges = _merges_from_ranks(self._ranks)
        return list(self._merges)

    def save(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        vocab = {_bytes_to_token(b): i for b, i in self._ranks.items()}
        vocab[EOT] = self.eos_id
        _write_text(folder / "vocab.json",
                    json.dumps(dict(sorted(vocab.items(), key=lambda kv: kv[1])),
                               ensure_ascii=False))
        lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in self.merges]
        _write_text(folder / "merges.txt", "\n".join(lines) + "\n")
        _save_added(folder, self)


_BPE_CACHE: dict[tuple, BPETokenizer] = {}


def _cached_bpe(name: str, ranks: dict[bytes, int], merges, pattern: str,
                specials: tuple[tuple[str, int], ...], added: tuple[str, ...]) -> BPETokenizer:
    """Building a tiktoken Encoding takes ~0.1 s; templates ask for the same one often."""
    key = (name, id(ranks), pattern, specials, added)
    tok = _BPE_CACHE.get(key)
    if tok is None:
        tok = BPETokenizer(name, ranks, dict(specials), added, merges=merges, pattern=pattern)
        _BPE_CACHE[key] = tok
    return tok


class ByteTokenizer(Tokenizer):
    """Ids 0-255 are the bytes; `<|endoftext|>` is 256; added special tokens follow."""

    kind = "bytes"

    def __init__(self, added: Sequence[str] = ()) -> None:
        specials = {EOT: 256}
        for i, marker in enumerate(added):
            specials[marker] = 257 + i
        super().__init__("bytes", 256, specials, added)

    def encode(self, text: str, allowed_special: Iterable[str] | str = ()) -> list[int]:
        allowed = list(self.special_tokens) if allowed_special == "all" else list(allowed_special)
        if not allowed:
            return list(text.encode("utf-8"))
        ids: list[int] = []
        rest = text
        while rest:
            hits = [(rest.find(m), -len(m), m) for m in allowed if m in rest]
            if not hits:
                ids.extend(rest.encode("utf-8"))
                break
            pos, _, marker = min(hits)
            ids.extend(rest[:pos].encode("utf-8"))
            ids.append(self.special_tokens[marker])
            rest = rest[pos + len(marker):]
        return ids

    def token_bytes(self, token_id: int) -> bytes:
        if token_id in self._id_to_special:
            return self._id_to_special[token_id].encode("utf-8")
        if 0 <= token_id < 256:
            return bytes([token_id])
        raise WorkbenchError(f"byte tokenizer: id {token_id} is out of range")

    def with_special_tokens(self, markers: Iterable[str]) -> "ByteTokenizer":
        _, added = self._new_specials(markers)
        return self if added == self.added else ByteTokenizer(added)

    def save(self, folder: str | os.PathLike) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _save_added(folder, self)


# ---------------------------------------------------------------------------------------
# Loading


def load_tokenizer(spec: str | os.PathLike) -> Tokenizer:
    """Load a tokenizer by name or folder.

    `spec` is "bytes", "gpt2" (tiktoken's registry or the Hugging Face cache), or a folder
    holding `vocab.json` + `merges.txt` or `encoder.json` + `vocab.bpe` (a model folder
    also works). Raises WorkbenchError with what to do when it cannot.
    """
    text = str(spec)
    if text == "bytes":
        return ByteTokenizer()
    path = Path(text).expanduser()
    if path.exists():
        return _load_folder(path)
    if text == "gpt2":
        return _load_gpt2_registry()
    raise WorkbenchError(
        f"tokenizer {text!r}: not 'gpt2', 'bytes', or an existing folder with "
        "vocab.json + merges.txt (or encoder.json + vocab.bpe)")


@functools.lru_cache(maxsize=8)
def _load_folder_cached(folder: str, mtime_key: tuple) -> Tokenizer:
    path = Path(folder)
    info = _read_json(path / WORKBENCH_TOKENIZER_FILE) if (path / WORKBENCH_TOKENIZER_FILE).exists() else {}
    added = _read_added(path)
    if info.get("kind") == "bytes":
        return ByteTokenizer([m for m, _ in sorted(added.items(), key=lambda kv: kv[1])])
    for vocab_name, merges_name in (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
        if (path / vocab_name).exists() and (path / merges_name).exists():
            ranks, merges, eos = _read_bpe_files(path / vocab_name, path / merges_name)
            specials = {EOT: eos}
            order = [m for m, _ in sorted(added.items(), key=lambda kv: kv[1])]
            for marker in order:
                specials[marker] = added[marker]
            tok = BPETokenizer(str(path), ranks, specials, order, merges=merges)
            _check_added_ids(tok, added, path)
            return tok
    raise WorkbenchError(
        f"tokenizer folder {path}: no vocab.json + merges.txt or encoder.json + vocab.bpe "
        "(and no workbench_tokenizer.json)")


def _load_folder(path: Path) -> Tokenizer:
    if not path.is_dir():
        raise WorkbenchError(f"tokenizer {path}: expected a folder, got a file")
    key = tuple(sorted((p.name, p.stat().st_mtime_ns) for p in path.iterdir() if p.is_file()))
    return _load_folder_cached(str(path.resolve()), key)


def _check_added_ids(tok: Tokenizer, added: dict[str, int], path: Path) -> None:
    expected = tok.base_vocab + 1  # added ids start right after <|endoftext|>
    for marker, token_id in sorted(added.items(), key=lambda kv: kv[1]):
        if token_id != expected:
            raise WorkbenchError(
                f"{path / ADDED_TOKENS_FILE}: {marker!r} has id {token_id}, expected {expected} "
                "(added tokens must follow the base vocabulary without gaps)")
        expected += 1


@functools.lru_cache(maxsize=1)
def _load_gpt2_registry() -> Tokenizer:
    """`gpt2`: the Hugging Face cache if it holds a GPT-2 tokenizer, else tiktoken's
    registry (its own cache, or a download)."""
    for folder in _gpt2_local_candidates():
        try:
            tok = _load_folder(folder)
        except WorkbenchError:
            continue
        tok.name = "gpt2"
        return tok
    try:
        import tiktoken

        enc = tiktoken.get_encoding("gpt2")
    except Exception as err:  # network errors, hash mismatch, ...
        raise WorkbenchError(
            "tokenizer 'gpt2': its files are not cached and could not be downloaded "
            f"({type(err).__name__}). Pass --tokenizer FOLDER with vocab.json + merges.txt "
            "(any GPT-2 model folder) or encoder.json + vocab.bpe, set WORKBENCH_GPT2_TOKENIZER "
            "to such a folder, run from the repository (its demo model ships GPT-2's files), "
            "or fill TIKTOKEN_CACHE_DIR") from None
    ranks = enc._mergeable_ranks  # noqa: SLF001 - tiktoken has no public accessor
    return BPETokenizer("gpt2", ranks, {EOT: enc.eot_token}, ())


# The demo base model shipped in the repository is a GPT-2 with the genuine GPT-2
# vocabulary; its checkpoint folder holds vocab.json + merges.txt (see workbench/demo/build.py).
SHIPPED_GPT2 = Path(__file__).resolve().parent.parent / "sessions" / "demo-base" / "checkpoints"


def _gpt2_local_candidates() -> list[Path]:
    """Where `gpt2` is looked for without a network, in order: $WORKBENCH_GPT2_TOKENIZER,
    the demo model shipped with the repository, the Hugging Face cache."""
    found = []
    env = os.environ.get("WORKBENCH_GPT2_TOKENIZER")
    if env:
        found.append(Path(env).expanduser())
    if SHIPPED_GPT2.is_dir():
        found += sorted(p for p in SHIPPED_GPT2.glob("step-*")
                        if (p / "vocab.json").exists() and not _read_added(p))
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency
        return found
    for repo in ("openai-community/gpt2", "gpt2"):
        vocab = try_to_load_from_cache(repo, "vocab.json")
        merges = try_to_load_from_cache(repo, "merges.txt")
        if isinstance(vocab, str) and isinstance(merges, str):
            found.append(Path(vocab).parent)
    return found


def _read_bpe_files(vocab_file: Path, merges_file: Path):
    """Read a GPT-2 vocabulary and merges; ranks must follow merge order (as tiktoken needs)."""
    vocab = _read_json(vocab_file)
    if not isinstance(vocab, dict):
        raise WorkbenchError(f"{vocab_file}: expected a JSON object of token -> id")
    text = merges_file.read_text(encoding="utf-8")
    merges: list[tuple[str, str]] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip() or (lineno == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise WorkbenchError(f"{merges_file}: line {lineno}: expected two tokens, got {line!r}")
        merges.append((parts[0], parts[1]))
    # single bytes first, in GPT-2's order (printable Latin-1 first, then the rest)
    ranks: dict[bytes, int] = {bytes([b]): r for b, r in _byte_rank_table().items()}
    where = str(merges_file)
    for first, second in merges:
        token = _token_to_bytes(first, where) + _token_to_bytes(second, where)
        if token not in ranks:
            ranks[token] = len(ranks)
    eos = vocab.get(EOT)
    from_vocab = {}
    for token, token_id in vocab.items():
        if token in (EOT, "<|startoftext|>"):
            continue
        from_vocab[_token_to_bytes(token, str(vocab_file))] = token_id
    if from_vocab != ranks:
        missing = len(set(ranks) ^ set(from_vocab))
        raise WorkbenchError(
            f"{vocab_file}: ids do not follow the merge order of {merges_file.name} "
            f"({missing} tokens differ); only GPT-2-style vocabularies are supported")
    if eos is None:
        eos = len(ranks)
    if eos != len(ranks):
        raise WorkbenchError(f"{vocab_file}: {EOT} has id {eos}, expected {len(ranks)}")
    return ranks, merges, eos


@functools.lru_cache(maxsize=1)
def _byte_rank_table() -> dict[int, int]:
    """GPT-2's single-byte ids: printable Latin-1 first (isprintable, not space), then the rest."""
    printable = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    order = printable + [b for b in range(256) if b not in printable]
    return {b: i for i, b in enumerate(order)}


def _merges_from_ranks(ranks: dict[bytes, int]) -> list[tuple[str, str]]:
    """Rebuild the merge list: for each multi-byte token, the pair BPE joins last."""
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = [bytes([b]) for b in token]
        while len(parts) > 2:
            best = None
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < rank and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                raise WorkbenchError("cannot rebuild merges: the vocabulary is not a BPE vocabulary")
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        merges.append((_bytes_to_token(parts[0]), _bytes_to_token(parts[1])))
    return merges


def _read_added(folder: Path) -> dict[str, int]:
    file = folder / ADDED_TOKENS_FILE
    if not file.exists():
        return {}
    data = _read_json(file)
    if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, int) for k, v in data.items()):
        raise WorkbenchError(f"{file}: expected a JSON object of token -> integer id")
    data.pop(EOT, None)
    return data


def _save_added(folder: Path, tok: Tokenizer) -> None:
    added = {m: tok.special_tokens[m] for m in tok.added}
    _write_text(folder / ADDED_TOKENS_FILE, json.dumps(added, ensure_ascii=False, indent=2))
    info = {"kind": tok.kind, "eos_token": EOT, "eos_id": tok.eos_id,
            "base_vocab": tok.base_vocab, "added": added}
    _write_text(folder / WORKBENCH_TOKENIZER_FILE, json.dumps(info, ensure_ascii=False, indent=2))
    special_map = {"bos_token": EOT, "eos_token": EOT, "unk_token": EOT}
    if tok.added:
        special_map["additional_special_tokens"] = list(tok.added)
    _write_text(folder / "special_tokens_map.json", json.dumps(special_map, indent=2))
    if tok.kind == "bpe":
        decoder = {str(tok.special_tokens[m]): {"content": m, "special": True, "lstrip": False,
                                                 "rstrip": False, "normalized": False,
                                                 "single_word": False}
                   for m in [EOT, *tok.added]}
        config = {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False,
                  "bos_token": EOT, "eos_token": EOT, "unk_token": EOT,
                  "added_tokens_decoder": decoder}
        if tok.added:
            config["additional_special_tokens"] = list(tok.added)
        _write_text(folder / "tokenizer_config.json", json.dumps(config, ensure_ascii=False, indent=2))


def _read_json(file: Path):
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WorkbenchError(f"{file}: cannot read JSON ({err})") from None


