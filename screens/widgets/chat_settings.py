"""The Chat screen's settings bar: one line with the template both models use (read-only:
it comes from the SFT checkpoint) and the generation settings both share: temperature,
top-k, top-p, seed and max new tokens. Invalid values are marked as they are typed; `config()`
turns the bar into a `GenerationConfig` or raises a WorkbenchError naming the field."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.validation import Function, Integer, Number
from textual.widgets import Input, Label, Static

# field id -> (label, default, tooltip)
FIELDS = {
    "temperature": ("temp", "0", "Temperature: 0 is greedy (the same answer every time); "
                                 "above 0 samples, seeded by the seed"),
    "top_k": ("top-k", "0", "Sample among the k most likely tokens only (0: off)"),
    "top_p": ("top-p", "1", "Sample within the smallest set of tokens whose probability "
                            "reaches p (1: off)"),
    "seed": ("seed", "0", "Seeds the sampler: the same seed gives the same tokens, for both "
                          "models"),
    "max_new_tokens": ("max", "128", "The most new tokens per answer"),
}


def _validators(name: str):
    if name == "temperature":
        return [Number(minimum=0, failure_description="temperature must be 0 or more")]
    if name == "top_k":
        return [Integer(minimum=0, failure_description="top-k must be a whole number, 0 or more")]
    if name == "top_p":
        return [Number(failure_description="top-p must be a number"),
                Function(lambda v: _float(v) is not None and 0 < _float(v) <= 1,
                         "top-p must be above 0 and at most 1")]
    if name == "seed":
        return [Integer(minimum=0, failure_description="seed must be a whole number, 0 or more")]
    return [Integer(minimum=1, maximum=100_000,
                    failure_description="max new tokens must be a whole number, 1 or more")]


def _float(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


class SettingsBar(Horizontal):
    """Template (read-only) and generation settings, on one line."""

    DEFAULT_CSS = """
    SettingsBar {
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    SettingsBar > Label {
        width: auto;
        color: $text-muted;
        padding: 0 0 0 1;
    }
    SettingsBar > #chat-template {
        width: auto;
        max-width: 30;
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        padding: 0 1 0 0;
    }
    SettingsBar > Input {
        width: 5;
        margin: 0 0 0 1;
        background: $surface;
    }
    SettingsBar > Input:focus {
        background: $primary 30%;
    }
    SettingsBar > Input#set-max_new_tokens {
        width: 6;
    }
    SettingsBar:disabled > Input {
        opacity: 70%;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static(Text("template: …"), id="chat-template")
        for name, (label, default, tip) in FIELDS.items():
            yield Label(label)
            field = Input(default, id=f"set-{name}", compact=True, validators=_validators(name),
                          tooltip=tip, select_on_focus=True)
            yield field

    # -- reading --------------------------------------------------------------------------------
    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#set-{name}", Input).value.strip() for name in FIELDS}

    def config(self):
        """A GenerationConfig from the fields; a WorkbenchError names a bad one."""
        from workbench.errors import WorkbenchError
        from workbench.generate import GenerationConfig

        v = self.values()
        for name in FIELDS:
            field = self.query_one(f"#set-{name}", Input)
            result = field.validate(field.value)
            if result is not None and not result.is_valid:
                raise WorkbenchError(f"setting {FIELDS[name][0]}: "
                                     f"{'; '.join(result.failure_descriptions)} "
                                     f"(not {field.value!r})")
        try:
            return GenerationConfig(max_new_tokens=int(v["max_new_tokens"]),
                                    temperature=float(v["temperature"]), top_k=int(v["top_k"]),
                                    top_p=float(v["top_p"]), seed=int(v["seed"]))
        except ValueError as err:
            raise WorkbenchError(f"settings: {err}") from None

    def show_template(self, name: str | None, where: str) -> None:
        text = Text()
        text.append("template ", style="dim")
        text.append(name or "none", style="bold" if name else "bold red")
        static = self.query_one("#chat-template", Static)
        static.update(text)
        static.tooltip = (f"Both models get this template ({where})" if name
                          else f"No template: {where}")

    def summary(self) -> str:
        """The settings in words, for an exchange's header."""
        v = self.values()
        try:
            greedy = float(v["temperature"]) == 0
        except ValueError:
            greedy = False
        how = "greedy" if greedy else f"temp {v['temperature']} top-k {v['top_k']} top-p {v['top_p']}"
        return f"{how} · seed {v['seed']} · max {v['max_new_tokens']}"
