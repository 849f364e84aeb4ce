"""What the workbench remembers between launches: the current data source, template, model,
tokenizer and session, the rest of the working training config (the one the Batches screen
shows and the Train form edits), recent sources, and the theme. A small JSON file in the
user's config directory ($XDG_CONFIG_HOME/sft-workbench/state.json, or $WORKBENCH_STATE).

A file that is not JSON, or holds values of the wrong type, never stops the app: what can be
read is kept, the rest falls back to its default, and `problems` says what was dropped."""

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
        template_for: the source the template was chosen for; opening another source
            makes the template follow the data again ("" = it was chosen for no source).
        session: the SFT session shown in Chat and Sessions.
        train: the other fields of the working training config that differ from the
            defaults (batcher, batch_size, max_len, ...), shared by Batches and Train.
        configs: the `train` fields last used with each data source and model
            ("SOURCE\tMODEL" -> fields): opening that pair again brings them back.
        folded: the Train form's folded groups.
        recent: recently opened sources, newest first.
        theme: the Textual theme.
    """

    source: str = ""
    format: str = ""
    split: str = ""
    template: str = ""
    model: str = ""
    tokenizer: str = "gpt2"
    template_for: str = ""
    session: str = ""
    train: dict = field(default_factory=dict)
    configs: dict = field(default_factory=dict)
    folded: list = field(default_factory=lambda: ["model", "evaluation", "saving", "run"])
    recent: list[str] = field(default_factory=list)
    theme: str = "textual-dark"
    problems: list[str] = field(default_factory=list, compare=False, repr=False)

    def remember(self, source: str) -> None:
        self.recent = [source] + [s for s in self.recent if s != source]
        del self.recent[RECENT_MAX:]

    @classmethod
    def load(cls, path: Path | None) -> "AppState":
        if path is None or not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            state = cls()
            state.problems.append(f"{path}: not readable JSON ({err}); started with defaults")
            return state
        state = cls()
        if not isinstance(data, dict):
            state.problems.append(f"{path}: expected a JSON object; started with defaults")
            return state
        for f in fields(cls):
            if f.name == "problems" or f.name not in data:
                continue
            value, default = data[f.name], getattr(state, f.name)
            if f.name == "recent" and isinstance(value, list):
                value = [v for v in value if isinstance(v, str)]
            if type(value) is not type(default):
                state.problems.append(f"{path}: {f.name} {value!r} is not a "
                                      f"{type(default).__name__}; using {default!r}")
                continue
            setattr(state, f.name, value)
        if "template_for" not in data and state.template:
            state.template_for = state.source  # a state file from before templates followed data
        return state

    def save(self, path: Path | None) -> None:
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            data = {k: v for k, v in asdict(self).items() if k != "problems"}
            tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # an unwritable config dir must never stop the app
