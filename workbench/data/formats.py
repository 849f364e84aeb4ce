"""Row formats: detect which one a dataset uses, and turn one row into an `Example`.

Formats (the name is what `--format` takes):

* `alpaca`: `instruction`, optional `input`, `output`.
* `prompt-completion`, `prompt-response`, `question-answer`: one prompt and one answer.
* `chat`: `messages`, a list of `{role, content}` (roles system / user / assistant).
* `sharegpt`: `conversations`, a list of `{from, value}` (human / gpt / system).
* `text`: `text`, plain text for continued pretraining.
* `tinystories`: TinyStoriesInstruct after parsing (`summary`, `story`, `ending`, ...);
  the raw multi-row text is parsed by `workbench.data.tinystories`.

Every problem with a row raises `RowError` whose `kind` groups it for the bad-input report
("missing field", "wrong type", "empty string", ...).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..errors import RowError, WorkbenchError
from .records import Example, Message

# format name -> (required columns, the columns that hold its text)
FORMATS: dict[str, dict[str, Any]] = {
    "alpaca": {"required": ("instruction", "output"), "text": ("instruction", "input", "output")},
    "prompt-completion": {"required": ("prompt", "completion"), "text": ("prompt", "completion")},
    "prompt-response": {"required": ("prompt", "response"), "text": ("prompt", "response")},
    "question-answer": {"required": ("question", "answer"), "text": ("question", "answer")},
    "chat": {"required": ("messages",), "text": ("messages",)},
    "sharegpt": {"required": ("conversations",), "text": ("conversations",)},
    "tinystories": {"required": ("summary", "story"), "text": ("summary", "story")},
    "text": {"required": ("text",), "text": ("text",)},
}
# Tried in this order: the first whose required columns are all present wins.
DETECT_ORDER = ("chat", "sharegpt", "alpaca", "tinystories", "prompt-completion",
                "prompt-response", "question-answer", "text")
TINYSTORIES_RAW = "tinystories-raw"

_SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                   "chatgpt": "assistant", "bing": "assistant", "model": "assistant",
                   "bard": "assistant", "system": "system"}
_CHAT_ROLES = {"system", "user", "assistant"}


# The template a format is usually trained with (the UI's and the CLI's default).
DEFAULT_TEMPLATES = {"alpaca": "alpaca", "prompt-completion": "alpaca", "prompt-response": "alpaca",
                     "question-answer": "alpaca", "chat": "chatml", "sharegpt": "chatml",
                     "tinystories": "story", "text": "text"}


def default_template(fmt: str) -> str:
    return DEFAULT_TEMPLATES.get(fmt, "alpaca")


def format_names() -> list[str]:
    return [*FORMATS, TINYSTORIES_RAW]


def detect_format(columns: Iterable[str]) -> str | None:
    """The format whose required columns are all present, or None."""
    cols = set(columns)
    for name in DETECT_ORDER:
        if all(c in cols for c in FORMATS[name]["required"]):
            return name
    return None


VOTE_ROWS = 100
"""How many rows vote on a file's format."""


def vote_format(rows: Iterable[Any]) -> tuple[str | None, dict[str, int]]:
    """The format most of these rows fit, by the keys each holds (a key whose value is
    null does not count), and the votes: one odd row first does not decide a file."""
    votes: dict[str, int] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        fmt = detect_format(k for k, v in row.items() if v is not None and not k.startswith("_"))
        if fmt is not None:
            votes[fmt] = votes.get(fmt, 0) + 1
    if not votes:
        return None, votes
    order = {name: i for i, name in enumerate(DETECT_ORDER)}
    best = max(votes, key=lambda f: (votes[f], -order[f]))
    return best, dict(sorted(votes.items(), key=lambda kv: -kv[1]))


def check_format(name: str) -> str:
    if name not in FORMATS and name != TINYSTORIES_RAW:
        raise WorkbenchError(f"unknown format {name!r} (known: {', '.join(format_names())})")
    return name


def text_columns(fmt: str) -> tuple[str, ...]:
    return FORMATS[fmt]["text"]


def _string(row: Mapping[str, Any], key: str, *, required: bool = True,
            allow_empty: bool = False) -> str:
    if key not in row or row[key] is None:
        if required:
            raise RowError(f"missing field {key!r}", kind="missing field")
        return ""
    value = row[key]
    if not isinstance(value, str):
        raise RowError(f"field {key!r} is {type(value).__name__}, expected a string",
                       kind="wrong type")
    if not allow_empty and not value.strip():
        raise RowError(f"field {key!r} is empty", kind="empty string")
    return value


def _meta(row: Mapping[str, Any], used: Iterable[str]) -> dict[str, Any]:
    """Scalar columns that are not the example's text become labels / metadata."""
    skip = set(used)
    return {k: v for k, v in row.items()
            if k not in skip and isinstance(v, (str, int, float, bool)) and not k.startswith("_")}


def row_to_example(row: Any, fmt: str, row_number: int) -> Example:
    """Convert one raw row. Raises RowError (without file/row; the caller adds them)."""
    if not isinstance(row, Mapping):
        raise RowError(f"expected an object, got {type(row).__name__}", kind="wrong type")
    if fmt == "alpaca":
        instruction = _string(row, "instruction")
        input_ = _string(row, "input", required=False, allow_empty=True)
        output = _string(row, "output")
        msgs = [Message("user", instruction, input_), Message("assistant", output)]
        meta = _meta(row, ("instruction", "input", "output"))
    elif fmt in ("prompt-completion", "prompt-response", "question-answer"):
        p, a = FORMATS[fmt]["required"]
        msgs = [Message("user", _string(row, p)), Message("assistant", _string(row, a))]
        meta = _meta(row, (p, a))
    elif fmt == "chat":
        msgs = _turns(row, "messages", "role", "content", None)
        meta = _meta(row, ("messages",))
    elif fmt == "sharegpt":
        msgs = _turns(row, "conversations", "from", "value", _SHAREGPT_ROLES)
        meta = _meta(row, ("conversations",))
    elif fmt == "tinystories":
        summary = _string(row, "summary")
        story = _string(row, "story")
        msgs = [Message("user", summary), Message("assistant", story)]
        meta = _meta(row, ("story",))
        meta["summary"] = summary
        meta.setdefault("ending", "happy")
    elif fmt == "text":
        msgs = [Message("text", _string(row, "text"))]
        meta = _meta(row, ("text",))
    else:
        raise WorkbenchError(f"unknown format {fmt!r} (known: {', '.join(format_names())})")
    meta["row"] = row_number
    return Example(msgs, meta)


def _turns(row: Mapping[str, Any], key: str, role_key: str, content_key: str,
           role_map: dict[str, str] | None) -> list[Message]:
    turns = row.get(key)
    if turns is None:
        raise RowError(f"missing field {key!r}", kind="missing field")
    if not isinstance(turns, list):
        raise RowError(f"field {key!r} is {type(turns).__name__}, expected a list",
                       kind="wrong type")
    if not turns:
        raise RowError(f"field {key!r} is empty", kind="empty string")
    msgs = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, Mapping):
            raise RowError(f"{key}[{i}] is {type(turn).__name__}, expected an object",
                           kind="wrong type")
        role = turn.get(role_key)
        if not isinstance(role, str):
            raise RowError(f"{key}[{i}] has no {role_key!r} string", kind="missing field")
        role_norm = role_map.get(role.lower()) if role_map else (
            role if role in _CHAT_ROLES else None)
        if role_norm is None:
            allowed = ", ".join(sorted(role_map or _CHAT_ROLES))
            raise RowError(f"{key}[{i}] has role {role!r} (expected one of {allowed})",
                           kind="wrong type")
        content = turn.get(content_key)
        if not isinstance(content, str):
            raise RowError(f"{key}[{i}].{content_key} is "
                           f"{'missing' if content is None else type(content).__name__}, "
                           "expected a string", kind="missing field" if content is None
                           else "wrong type")
        if role_norm == "assistant" and not content.strip():
            raise RowError(f"{key}[{i}] is an empty assistant turn", kind="empty string")
        msgs.append(Message(role_norm, content))
    if not any(m.role == "assistant" for m in msgs):
        raise RowError(f"{key} has no assistant turn", kind="missing field")
    if not any(m.role == "user" for m in msgs):
        raise RowError(f"{key} has no user turn", kind="missing field")
    return msgs
