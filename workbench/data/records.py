"""The normalized record every format becomes: a list of messages plus metadata.

An Alpaca row becomes one user turn (instruction, with its optional input kept apart so
Alpaca templates can show an `### Input:` section) and one assistant turn. Chat rows keep
their turns. Plain text becomes one `text` turn. TinyStoriesInstruct examples become a user
turn holding the summary and an assistant turn holding the story, with `summary` and
`ending` in `meta`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant", "text")


@dataclass(frozen=True, slots=True)
class Message:
    """One turn. `input` is the Alpaca "input" of a user turn (empty otherwise)."""

    role: str
    content: str
    input: str = ""

    def to_dict(self) -> dict[str, str]:
        d = {"role": self.role, "content": self.content}
        if self.input:
            d["input"] = self.input
        return d


@dataclass(slots=True)
class Example:
    """A normalized example.

    Attributes:
        messages: the turns, in order.
        meta: `row` (0-based row number in the source), labels such as `ending` or
            `category`, the `split`, and format-specific fields (`summary`, ...).
    """

    messages: list[Message]
    meta: dict[str, Any] = field(default_factory=dict)

    # Convenience views used by single-turn templates and the UI ---------------------
    def first(self, role: str) -> Message | None:
        for m in self.messages:
            if m.role == role:
                return m
        return None

    @property
    def instruction(self) -> str:
        m = self.first("user")
        return m.content if m else ""

    @property
    def input(self) -> str:
        m = self.first("user")
        return m.input if m else ""

    @property
    def response(self) -> str:
        m = self.first("assistant")
        return m.content if m else ""

    @property
    def row(self) -> int | None:
        return self.meta.get("row")

    def to_dict(self) -> dict[str, Any]:
        return {"messages": [m.to_dict() for m in self.messages], "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Example":
        return cls([Message(m["role"], m["content"], m.get("input", "")) for m in d["messages"]],
                   dict(d.get("meta", {})))

    @classmethod
    def single(cls, instruction: str, response: str = "", input: str = "",
               **meta: Any) -> "Example":
        """An instruction (with optional input) and, if given, its response."""
        msgs = [Message("user", instruction, input)]
        if response:
            msgs.append(Message("assistant", response))
        return cls(msgs, dict(meta))
