"""Prompt templates: the only place that knows how an example looks as text.

`Template.render(example)` returns the training row as a list of `Segment`s (text, whether
it is trained on, whether it is a special token). `Template.render_prompt(example)` returns
the inference prompt: exactly the segments of the training row up to where the response
starts. Training, the batch inspector, generation and the chat pane all call these, so the
prompt at inference is byte-for-byte the training prefix.

Two kinds of template:

* `FieldTemplate`: one instruction (with optional input) and one response, laid out by a
  format string with named fields (`{instruction}`, `{input}`, `{response}`, `{summary}`,
  `{ending}`, any `meta` key). Optional sections appear only when the fields they use are
  non-empty. Built in: alpaca, alpaca-ch7, phi3, story, inst-resp, and `text`.
* `ChatTemplate`: role turns (system / user / assistant), every assistant turn closed by the
  end token and trained. Built in: chatml (ChatML-lite).

Custom templates come from a TOML file (see `template_from_toml`).
"""

from __future__ import annotations

import string
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .data.records import Example, Message
from .errors import WorkbenchError
from .tokenizer import EOT


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text with one training status.

    Attributes:
        text: the text (or the marker, when `special`).
        trainable: its tokens are loss targets when training on responses only.
        special: encoded as one special-token id, never as text.
        role: "system", "user", "assistant", "text", or "end" (the closing end token).
    """

    text: str
    trainable: bool
    special: bool = False
    role: str = ""


class TemplateError(WorkbenchError):
    """An example does not fit the template (a missing field, too many turns)."""


# Fields a single-turn template may name when meta does not hold them.
_ALIASES = {
    "instruction": "instruction", "prompt": "instruction", "question": "instruction",
    "summary": "instruction", "input": "input", "response": "response",
    "output": "response", "answer": "response", "story": "response", "completion": "response",
    "system": "system",
}


@dataclass(frozen=True)
class Template:
    """What every template has. Subclasses implement `render` and `render_prompt`.

    Attributes:
        name: short name shown in the UI and saved with sessions.
        description: one line for help screens.
        end_token: closes each response; trained on, so the model learns to stop.
        special_tokens: markers encoded as single added token ids (not `<|endoftext|>`).
        stop_strings: generation also stops when the decoded text contains one of these.
        markers: role markers and section headers; a response containing one leaks roles.
    """

    name: str
    description: str = ""
    end_token: str = EOT
    special_tokens: tuple[str, ...] = ()
    stop_strings: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()

    kind = "base"

    def render(self, example: Example) -> list[Segment]:
        raise NotImplementedError

    def render_prompt(self, example: Example) -> list[Segment]:
        raise NotImplementedError

    # ------------------------------------------------------------------------------------
    def render_text(self, example: Example) -> str:
        return "".join(s.text for s in self.render(example))

    def prompt_text(self, example: Example) -> str:
        return "".join(s.text for s in self.render_prompt(example))

    def end_segment(self) -> Segment:
        return Segment(self.end_token, trainable=True, special=True, role="end")

    def all_markers(self) -> tuple[str, ...]:
        """Every string whose appearance in a response means role leakage."""
        seen: dict[str, None] = {}
        for m in (*self.markers, *self.special_tokens, self.end_token):
            if m and m != EOT:
                seen[m] = None
        return tuple(seen)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind
        for k, v in list(d.items()):
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    def to_toml(self) -> str:
        """The template as a TOML file that `template_from_toml` reads back identically."""
        return _dump_toml(self.to_dict())

    def _split_specials(self, text: str, role: str, trainable: bool) -> list[Segment]:
        """Split the template's own text at its special markers. Never called on user text:
        a marker typed by a user stays plain text."""
        out: list[Segment] = []
        rest = text
        specials = (*self.special_tokens, self.end_token, EOT)
        while rest:
            hits = [(rest.find(m), -len(m), m) for m in specials if m and m in rest]
            if not hits:
                out.append(Segment(rest, trainable, False, role))
                break
            pos, _, marker = min(hits)
            if pos:
                out.append(Segment(rest[:pos], trainable, False, role))
            out.append(Segment(marker, trainable, True, role))
            rest = rest[pos + len(marker):]
        return out


def _merge(segments: list[Segment]) -> list[Segment]:
    """Join neighbouring plain segments of the same role and status (one BPE run)."""
    out: list[Segment] = []
    for seg in segments:
        if not seg.text:
            continue
        if (out and not seg.special and not out[-1].special and out[-1].role == seg.role
                and out[-1].trainable == seg.trainable):
            out[-1] = Segment(out[-1].text + seg.text, seg.trainable, False, seg.role)
        else:
            out.append(seg)
    return out


# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldTemplate(Template):
    """One instruction and one response laid out by format strings.

    Attributes:
        prompt: the prompt, with `{field}` placeholders; a placeholder named in `optional`
            inserts that section.
        prompt_with_input: used instead of `prompt` when the example has a non-empty input.
        response: the response part (trained on); normally "{response}".
        optional: section name -> text; rendered only when every field it names is non-empty.
    """

    prompt: str = "{instruction}\n"
    prompt_with_input: str = ""
    response: str = "{response}"
    optional: dict[str, str] = field(default_factory=dict)

    kind = "fields"

    def render(self, example: Example) -> list[Segment]:
        segs = self.render_prompt(example)
        response = self._pieces(self.response, example, "assistant", True)
        if not "".join(s.text for s in response if not s.special):
            raise TemplateError(f"row {example.row}: the response is empty")
        return _merge(segs + response + [self.end_segment()])

    def render_prompt(self, example: Example) -> list[Segment]:
        users = [m for m in example.messages if m.role == "user"]
        assistants = [m for m in example.messages if m.role == "assistant"]
        if len(users) > 1 or len(assistants) > 1:
            raise TemplateError(
                f"row {example.row}: template {self.name!r} renders one instruction and one "
                f"response; this example has {len(users)} user and {len(assistants)} assistant "
                "turns (use a chat template such as chatml)")
        fmt = self.prompt_with_input if (self.prompt_with_input and example.input) else self.prompt
        return _merge(self._pieces(fmt, example, "user", False))

    # ------------------------------------------------------------------------------------
    def fields_used(self) -> set[str]:
        names: set[str] = set()
        for text in (self.prompt, self.prompt_with_input, self.response, *self.optional.values()):
            names |= {n for _, n, _, _ in string.Formatter().parse(text) if n}
        return names - set(self.optional)

    def _pieces(self, fmt: str, example: Example, role: str, trainable: bool,
                depth: int = 0) -> list[Segment]:
        """Fill `fmt`: its literal text is split at special markers, field values never are."""
        out: list[Segment] = []
        try:
            parsed = list(string.Formatter().parse(fmt))
        except ValueError as err:
            raise TemplateError(f"template {self.name!r}: bad format string {fmt!r} ({err})") from None
        for literal, name, spec, conv in parsed:
            out += self._split_specials(literal, role, trainable)
            if name is None:
                continue
            if spec or conv:
                raise TemplateError(f"template {self.name!r}: use plain {{{name}}} placeholders")
            if name in self.optional and depth == 0:
                section = self.optional[name]
                needed = [n for _, n, _, _ in string.Formatter().parse(section) if n]
                if all(_field(example, n, self.name, required=False) for n in needed):
                    out += self._pieces(section, example, role, trainable, depth + 1)
                continue
            out.append(Segment(_field(example, name, self.name), trainable, False, role))
        return out


def _field(example: Example, name: str, template: str, required: bool = True) -> str:
    if name in example.meta and example.meta[name] is not None:
        return str(example.meta[name])
    alias = _ALIASES.get(name)
    if alias == "instruction":
        m = example.first("user")
    elif alias == "input":
        m = example.first("user")
        return m.input if m else ""
    elif alias == "response":
        m = example.first("assistant")
    elif alias == "system":
        m = example.first("system")
        return m.content if m else ""
    else:
        m = None
    if m is not None:
        return m.content
    if not required or alias == "response":
        return ""
    row = f"row {example.row}: " if example.row is not None else ""
    raise TemplateError(f"{row}template {template!r} needs field {name!r}, which this example "
                        "does not have")


def extra_fields(template: Template) -> set[str]:
    """The fields a template fills from an example's meta rather than from its messages
    (the story template's `ending`): what a typed prompt must give besides itself."""
    if isinstance(template, FieldTemplate):
        return {f for f in template.fields_used() if f not in _ALIASES}
    return set()


def split_fields(text: str, template: Template,
                 how: str = "add a line like '{line}' under the prompt") -> tuple[str, dict[str, str]]:
    """A typed prompt, and the template fields given as trailing `name: value` lines (what
    the Chat screen and `workbench generate` take). The story template needs an ending:
    "a dog finds a bone" then a line "ending: sad". Only fields the template uses beyond the
    prompt itself are read, so an ordinary last line that happens to contain a colon stays
    in the prompt. A needed field that is missing is a TemplateError saying how to give it
    (`how`, with {line} an example line and {name} the field)."""
    needed = extra_fields(template)
    if not needed:
        return text, {}
    lines = text.rstrip().split("\n")
    fields: dict[str, str] = {}
    while lines:
        name, sep, value = lines[-1].partition(":")
        if sep and name.strip().lower() in needed and value.strip():
            fields.setdefault(name.strip().lower(), value.strip())  # the last line wins
            lines.pop()
        else:
            break
    missing = sorted(needed - set(fields))
    if missing:
        line = "ending: happy (or sad)" if missing == ["ending"] else f"{missing[0]}: …"
        raise TemplateError(f"template {template.name!r} also needs {', '.join(missing)}: "
                            + how.format(line=line, name=missing[0]))
    return "\n".join(lines).strip(), fields


SAMPLE_HOW = "add a line like '{line}' under that sample prompt"


def prompt_example(text: str, template: Template, row: int | None = None,
                   how: str = SAMPLE_HOW) -> Example:
    """The example a typed prompt stands for: its text as the user turn (the `text` turn of
    a text template) and the template fields given as trailing `name: value` lines
    (`split_fields`) in its meta, as the Chat screen builds it. What the trainer's sample
    prompts are answered from; a missing field is a TemplateError (`how` says what to do)."""
    prompt, fields = split_fields(text, template, how=how)
    role = "text" if template.kind == "text" else "user"
    meta: dict[str, Any] = dict(fields)
    if row is not None:
        meta["row"] = row
    return Example([Message(role, prompt)], meta)


def sample_prompt_problem(prompts: list[str], template: Template) -> str | None:
    """Why one of the sample `prompts` cannot be rendered with `template`, in one line
    naming the prompt and what to add, or None when every one can."""
    for text in prompts:
        try:
            template.render_prompt(prompt_example(text, template))
        except TemplateError as err:
            shown = text if len(text) <= 60 else text[:59] + "…"
            return f"sample prompt {shown!r}: {err.message}"
    return None


# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatTemplate(Template):
    """Role turns. `{content}` marks where a turn's text goes.

    Attributes:
        system: layout of a system turn.
        user: layout of a user turn.
        assistant: layout of an assistant turn; the text before `{content}` is the prompt's
            last part, the rest is trained; the end token follows.
    """

    system: str = "<|system|>\n{content}\n"
    user: str = "<|user|>\n{content}\n"
    assistant: str = "<|assistant|>\n{content}"

    kind = "chat"

    def render(self, example: Example) -> list[Segment]:
        if not any(m.role == "assistant" for m in example.messages):
            raise TemplateError(f"row {example.row}: no assistant turn to train on")
        segs: list[Segment] = []
        for m in example.messages:
            if m.role == "assistant":
                if not m.content:
                    raise TemplateError(f"row {example.row}: an assistant turn is empty")
                segs += self._assistant_turn(m)
            else:
                segs += self._turn(m, example)
        return _merge(segs)

    def render_prompt(self, example: Example) -> list[Segment]:
        msgs = list(example.messages)
        while msgs and msgs[-1].role == "assistant":
            msgs.pop()  # inference answers the last user turn
        if not msgs:
            raise TemplateError(f"row {example.row}: no user turn to answer")
        segs: list[Segment] = []
        for m in msgs:
            segs += self._assistant_turn(m) if m.role == "assistant" else self._turn(m, example)
        segs += self._split_specials(self._assistant_parts()[0], "assistant", False)
        # Merge first (so earlier turns split into the same BPE runs as in training), then
        # mark everything untrained: in the prompt it is all context for the next answer.
        return [Segment(s.text, False, s.special, s.role) for s in _merge(segs)]

    def _assistant_turn(self, m: Message) -> list[Segment]:
        """Prefix (context), then the answer and the suffix (trained), then the end token."""
        before, after = self._assistant_parts()
        return (self._split_specials(before, "assistant", False)
                + [Segment(m.content, True, False, "assistant")]
                + self._split_specials(after, "assistant", True)
                + [self.end_segment()])

    def _assistant_parts(self) -> tuple[str, str]:
        if "{content}" not in self.assistant:
            raise TemplateError(f"template {self.name!r}: 'assistant' needs a {{content}} placeholder")
        before, after = self.assistant.split("{content}", 1)
        return before, after

    def _turn(self, m: Message, example: Example) -> list[Segment]:
        layout = {"system": self.system, "user": self.user}.get(m.role)
        if layout is None:
            raise TemplateError(f"row {example.row}: template {self.name!r} has no {m.role!r} turns")
        content = m.content + (f"\n\n{m.input}" if m.input else "")
        if "{content}" not in layout:
            raise TemplateError(f"template {self.name!r}: {m.role!r} needs a {{content}} placeholder")
        before, after = layout.split("{content}", 1)
        return (self._split_specials(before, m.role, False)
                + [Segment(content, False, False, m.role)]
                + self._split_specials(after, m.role, False))


@dataclass(frozen=True)
class TextTemplate(Template):
    """Plain text for continued pretraining: every token is a target."""

    kind = "text"

    def render(self, example: Example) -> list[Segment]:
        text = "".join(m.content for m in example.messages)
        if not text:
            raise TemplateError(f"row {example.row}: the text is empty")
        return [Segment(text, True, False, "text"), self.end_segment()]

    def render_prompt(self, example: Example) -> list[Segment]:
        text = "".join(m.content for m in example.messages if m.role != "assistant")
        return [Segment(text, False, False, "text")] if text else []


# ----------------------------------------------------------------------------------------
# Built-in templates

_ALPACA_PREAMBLE = ("Below is an instruction that describes a task. "
                    "Write a response that appropriately completes the request.")
_ALPACA_PREAMBLE_INPUT = ("Below is an instruction that describes a task, paired with an input "
                          "that provides further context. "
                          "Write a response that appropriately completes the request.")
_ALPACA_MARKERS = ("### Instruction:", "### Input:", "### Response:")

BUILTIN: dict[str, Template] = {
    "alpaca": FieldTemplate(
        name="alpaca",
        description="Stanford Alpaca: preamble, ### Instruction:, optional ### Input:, ### Response:",
        prompt=f"{_ALPACA_PREAMBLE}\n\n### Instruction:\n{{instruction}}\n\n### Response:\n",
        prompt_with_input=(f"{_ALPACA_PREAMBLE_INPUT}\n\n### Instruction:\n{{instruction}}"
                           "\n\n### Input:\n{input}\n\n### Response:\n"),
        stop_strings=_ALPACA_MARKERS, markers=_ALPACA_MARKERS,
    ),
    "alpaca-ch7": FieldTemplate(
        name="alpaca-ch7",
        description="Alpaca as in LLMs-from-scratch ch. 7: one preamble, ### Input: only when non-empty",
        prompt=f"{_ALPACA_PREAMBLE}\n\n### Instruction:\n{{instruction}}{{input_section}}"
               "\n\n### Response:\n",
        optional={"input_section": "\n\n### Input:\n{input}"},
        stop_strings=_ALPACA_MARKERS, markers=_ALPACA_MARKERS,
    ),
    "phi3": FieldTemplate(
        name="phi3",
        description="Phi-3 style as text markers: <|user|>, <|assistant|>, closed by <|endoftext|>",
        prompt="<|user|>\n{instruction}{input_section}\n<|assistant|>\n",
        optional={"input_section": "\n{input}"},
        stop_strings=("<|user|>", "<|assistant|>"), markers=("<|user|>", "<|assistant|>"),
    ),
    "chatml": ChatTemplate(
        name="chatml",
        description="ChatML-lite: <|user|>/<|assistant|> special tokens, each answer closed by <|end|>",
        end_token="<|end|>",
        special_tokens=("<|system|>", "<|user|>", "<|assistant|>", "<|end|>"),
        stop_strings=("<|user|>", "<|assistant|>", "<|system|>"),
        markers=("<|user|>", "<|assistant|>", "<|system|>", "<|end|>"),
    ),
    "story": FieldTemplate(
        name="story",
        description="TinyStoriesInstruct: 'Write a story about: …\\nWith: … ending\\n\\n### Story:\\n'",
        prompt="Write a story about: {summary}\nWith: {ending} ending\n\n### Story:\n",
        stop_strings=("### Story:", "Write a story about:"),
        markers=("### Story:", "Write a story about:"),
    ),
    "inst-resp": FieldTemplate(
        name="inst-resp",
        description="<INST>instruction<RESP>response, markers as special tokens",
        prompt="<INST>{instruction}{input_section}<RESP>",
        optional={"input_section": "\n{input}"},
        special_tokens=("<INST>", "<RESP>"),
        stop_strings=("<INST>", "<RESP>"), markers=("<INST>", "<RESP>"),
    ),
    "text": TextTemplate(
        name="text",
        description="plain text (continued pretraining): every token is trained",
    ),
}


def template_names() -> list[str]:
    return list(BUILTIN)


def get_template(spec: str | Template) -> Template:
    """A built-in template by name, or a custom one from a TOML file path."""
    if isinstance(spec, Template):
        return spec
    if spec in BUILTIN:
        return BUILTIN[spec]
    path = Path(spec).expanduser()
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise WorkbenchError(f"template file {spec}: not found")
        return template_from_toml(path)
    raise WorkbenchError(
        f"unknown template {spec!r} (built in: {', '.join(BUILTIN)}; or a path to a .toml file)")


_COMMON_KEYS = {"name", "description", "kind", "end_token", "special_tokens", "stop_strings",
                "markers"}
_KIND_KEYS = {
    "fields": {"prompt", "prompt_with_input", "response", "optional"},
    "chat": {"system", "user", "assistant"},
    "text": set(),
}


def template_from_dict(data: dict[str, Any], where: str = "template") -> Template:
    """Build a template from its dict form (a TOML file, or what a session saved)."""
    kind = data.get("kind", "fields")
    if kind not in _KIND_KEYS:
        raise WorkbenchError(f"{where}: kind must be one of {', '.join(_KIND_KEYS)}, not {kind!r}")
    allowed = _COMMON_KEYS | _KIND_KEYS[kind]
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise WorkbenchError(f"{where}: unknown key {unknown[0]!r} for a {kind} template "
                             f"(allowed: {', '.join(sorted(allowed))})")
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key == "kind":
            continue
        if key in ("special_tokens", "stop_strings", "markers"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise WorkbenchError(f"{where}: {key} must be a list of non-empty strings")
            kwargs[key] = tuple(value)
        elif key == "optional":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise WorkbenchError(f"{where}: optional must be a table of name = \"text\"")
            kwargs[key] = dict(value)
        else:
            if not isinstance(value, str):
                raise WorkbenchError(f"{where}: {key} must be a string")
            kwargs[key] = value
    if "name" not in kwargs:
        raise WorkbenchError(f"{where}: a template needs a name")
    end = kwargs.get("end_token", EOT)
    if end != EOT and end not in kwargs.get("special_tokens", ()):
        kwargs["special_tokens"] = (*kwargs.get("special_tokens", ()), end)
    cls = {"fields": FieldTemplate, "chat": ChatTemplate, "text": TextTemplate}[kind]
    template = cls(**kwargs)
    if isinstance(template, FieldTemplate) and not template.prompt:
        raise WorkbenchError(f"{where}: a fields template needs a prompt")
    if isinstance(template, ChatTemplate):
        for key in ("user", "assistant"):
            if "{content}" not in getattr(template, key):
                raise WorkbenchError(f"{where}: {key} needs a {{content}} placeholder")
    return template


def template_from_toml(path: str | Path) -> Template:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise WorkbenchError(f"{path}: cannot read ({err})") from None
    except tomllib.TOMLDecodeError as err:
        raise WorkbenchError(f"{path}: not valid TOML ({err})") from None
    if "template" in data and isinstance(data["template"], dict):
        data = data["template"]
    return template_from_dict(data, str(path))


# ----------------------------------------------------------------------------------------
# A tiny TOML writer for the template/config shapes we use (strings, lists, one table).


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32 or ord(ch) == 127:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _dump_toml(d: dict[str, Any]) -> str:
    lines = []
    tables = {}
    for k, v in d.items():
        if isinstance(v, dict):
            tables[k] = v
        elif v is not None:
            lines.append(f"{k} = {toml_value(v)}")
    for name, table in tables.items():
        if not table:
            continue
        lines.append(f"\n[{name}]")
        for k, v in table.items():
            lines.append(f"{k} = {toml_value(v)}")
    return "\n".join(lines) + "\n"
