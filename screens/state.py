"""What the workbench remembers between launches: the current data source, template, model,
tokenizer and session, recent sources, and the theme. A small JSON file in the user's
config directory ($XDG_CONFIG_HOME/sft-workbench/state.json, or $WORKBENCH_STATE)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

RECENT_MAX = 10


def default_state_file() -> Path:
    env = os.environ.get("WORKBENCH_STATE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "sft-workbench" / "state.json"


@dataclass
class AppState:
    """The current context, shown in the header and shared by every screen.

    Attributes:
        source: the data source (path or Hub id); format: its format override ("" = detect).
        template: the template name or .toml path ("" = the format's usual one).
        model: base model (Hub id, folder, session); tokenizer: gpt2, bytes, or a folder.
        session: the SFT session shown in Chat and Sessions.
        recent: recently opened sources, newest first.
        theme: the Textual theme.
    """

    source: str = ""
    format: str = ""
    split: str = ""
    template: str = ""
    model: str = ""
    tokenizer: str = "gpt2"
    session: str = ""
    recent: list[str] = field(default_factory=list)
    theme: str = "textual-dark"

    def remember(self, source: str) -> None:
        self.recent = [source] + [s for s in self.recent if s != source]
        del self.recent[RECENT_MAX:]

    @classmethod
    def load(cls, path: Path | None) -> "AppState":
        if path is None or not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return cls()
        known = {f.name for f in fields(cls)}
        state = cls(**{k: v for k, v in data.items() if k in known})
        if not isinstance(state.recent, list):
            state.recent = []
        return state

    def save(self, path: Path | None) -> None:
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable config dir must never stop the app
