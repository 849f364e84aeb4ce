"""Open a data source: a local file or folder (Tab completes names), a Hub dataset id with
its config / split / revision, or one of the recent sources (↓ from the path, then arrows).

Dismisses with an `OpenRequest`, or None when cancelled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select
from textual.widgets.option_list import Option

AUTO = "auto"


@dataclass
class OpenRequest:
    """What to open. Empty strings mean "not given"."""

    source: str
    format: str = ""
    config: str = ""
    split: str = ""
    revision: str = ""
    streaming: bool = False


class PathSuggester(Suggester):
    """Suggests the completion of the last part of a path (see `complete_path`)."""

    def __init__(self, cwd: str | os.PathLike | None = None) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.cwd = Path(cwd) if cwd else None

    async def get_suggestion(self, value: str) -> str | None:
        return complete_path(value, self.cwd)


def path_matches(value: str, cwd: Path | None = None) -> tuple[str, list[str]]:
    """The folder part of `value` as typed, and the names in it that its last part starts
    (folders with a trailing `/`; hidden names only when the part starts with a dot)."""
    if "\n" in value:
        return "", []
    head, _, part = value.rpartition("/")
    folder_text = head + "/" if "/" in value else ""
    folder = Path(os.path.expanduser(folder_text or "."))
    if not folder.is_absolute() and cwd is not None:
        folder = cwd / folder
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return folder_text, []
    found = [name + ("/" if (folder / name).is_dir() else "") for name in names
             if name.startswith(part) and (part.startswith(".") or not name.startswith("."))]
    return folder_text, found


def complete_path(value: str, cwd: Path | None = None) -> str | None:
    """As a shell completes: one match is completed whole (a folder with its `/`); several
    are completed to their common prefix only, so Tab on `data/rasbt` gives
    `data/rasbt-instruction-data/`, never a file inside it. None: nothing to add."""
    if not value:
        return None
    folder_text, found = path_matches(value, cwd)
    if not found:
        return None
    common = os.path.commonprefix(found)
    completed = folder_text + common
    return completed if completed != value else None


class PathInput(Input):
    """An Input whose Tab completes (to the common prefix of the matches, listing them when
    there are several) and stays in the field while the path is not a file yet; Tab on a
    complete file name moves on. ↓ moves to the recent sources."""

    BINDINGS = [
        Binding("tab", "complete", "Complete", show=False),
        Binding("down", "recent", "Recent", show=False),
    ]

    def action_complete(self) -> None:
        cwd = getattr(self.screen, "cwd", None)
        done = complete_path(self.value, Path(cwd) if cwd else None)
        if done:
            self.value = done
            self.cursor_position = len(self.value)
        _, found = path_matches(self.value, Path(cwd) if cwd else None) if self.value else ("", [])
        target = Path(os.path.expanduser(self.value)) if self.value else None
        if target is not None and not target.is_absolute() and cwd:
            target = Path(cwd) / target
        if done is None and target is not None and target.is_file():
            self.screen.focus_next()  # a whole file name: Tab moves on as usual
            return
        show = getattr(self.screen, "show_matches", None)
        if show is not None:
            show(found if len(found) > 1 or done is None else [])

    def action_recent(self) -> None:
        recent = self.screen.query("#open-recent")
        if recent and recent.first().display:
            recent.first().focus()


class OpenSourceDialog(ModalScreen[OpenRequest | None]):
    """The `o` dialog of the Data screen."""

    DEFAULT_CSS = """
    OpenSourceDialog {
        align: center middle;
    }
    OpenSourceDialog > Vertical {
        width: 90;
        max-width: 96%;
        height: auto;
        max-height: 96%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    OpenSourceDialog .title {
        text-style: bold;
        color: $accent;
        width: 100%;
    }
    OpenSourceDialog .hint {
        color: $text-muted;
        width: 100%;
    }
    OpenSourceDialog .field-label {
        width: 9;
        color: $text-muted;
    }
    OpenSourceDialog .row {
        height: auto;
        margin-top: 1;
    }
    OpenSourceDialog Input, OpenSourceDialog Select > SelectCurrent {
        background: $boost;
    }
    OpenSourceDialog Input:focus, OpenSourceDialog Select:focus > SelectCurrent {
        background: $primary 30%;
    }
    OpenSourceDialog #open-source {
        width: 1fr;
    }
    OpenSourceDialog #open-recent-title {
        margin-top: 1;
    }
    OpenSourceDialog .small {
        width: 1fr;
        margin-right: 1;
    }
    OpenSourceDialog #open-format {
        width: 26;
        margin-right: 2;
    }
    OpenSourceDialog #open-recent, OpenSourceDialog #open-recent:focus {
        height: auto;
        max-height: 8;
        border: none;
        padding: 0;
        background: $surface;
    }
    OpenSourceDialog #open-buttons {
        align-horizontal: right;
        margin-bottom: 0;
    }
    OpenSourceDialog Button {
        margin-left: 2;
    }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="open-cancel")]

    def __init__(self, recent: list[str], current: str = "", formats: list[str] | None = None,
                 cwd: str | os.PathLike | None = None) -> None:
        super().__init__()
        self.recent = list(recent)
        self.current = current
        self.formats = formats or []
        self.cwd = cwd

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Open data", classes="title")
            yield Label("A file (.json .jsonl .csv .parquet .txt), a folder, or a Hub dataset "
                        "id. Tab completes a path.", classes="hint")
            with Horizontal(classes="row"):
                yield Label("source", classes="field-label")
                yield PathInput(value=self.current, placeholder="data/train.jsonl or user/dataset",
                                suggester=PathSuggester(self.cwd), compact=True, id="open-source")
            yield Label("", classes="hint", id="open-matches")
            with Horizontal(classes="row"):
                yield Label("hub", classes="field-label")
                yield Input(placeholder="config", compact=True, classes="small", id="open-config")
                yield Input(placeholder="split (all)", compact=True, classes="small",
                            id="open-split")
                yield Input(placeholder="revision", compact=True, classes="small",
                            id="open-revision")
            with Horizontal(classes="row"):
                yield Label("format", classes="field-label")
                yield Select([("auto (detect)", AUTO)] + [(f, f) for f in self.formats],
                             value=AUTO, allow_blank=False, compact=True, id="open-format")
                yield Checkbox("streaming (larger than memory)", compact=True,
                               id="open-streaming")
            if self.recent:
                yield Label("recent  (↓ from the source, Enter opens)", classes="hint",
                            id="open-recent-title")
                yield OptionList(*(Option(r, id=str(i)) for i, r in enumerate(self.recent)),
                                 id="open-recent")
            with Horizontal(id="open-buttons", classes="row"):
                yield Button("Cancel", id="open-cancel-button", compact=True)
                yield Button("Open", id="open-ok", variant="primary", compact=True)

    def on_mount(self) -> None:
        field = self.query_one("#open-source", PathInput)
        field.focus()
        field.cursor_position = len(field.value)

    def show_matches(self, names: list[str]) -> None:
        """Under the source: what Tab could complete to, or that nothing matches."""
        label = self.query_one("#open-matches", Label)
        value = self.query_one("#open-source", Input).value
        if names:
            shown = "  ".join(names[:12]) + (f"  … {len(names) - 12} more" if len(names) > 12 else "")
            label.update(f"{len(names)} matches: {shown}")
        elif value and not value.endswith("/"):
            label.update("no file or folder starts with that here (a Hub id opens as typed)")
        else:
            label.update("")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "open-source":
            self.query_one("#open-matches", Label).update("")

    def _request(self, source: str | None = None) -> OpenRequest | None:
        source = (source if source is not None else self.query_one("#open-source", Input).value)
        source = source.strip()
        if not source:
            self.query_one("#open-matches", Label).update(
                "type a path (Tab completes it) or a Hub id, or ↓ for a recent source")
            self.notify("type a path or a Hub id first", severity="warning", timeout=3)
            return None
        fmt = self.query_one("#open-format", Select).value
        return OpenRequest(
            source=source,
            format="" if fmt in (AUTO, Select.BLANK) else str(fmt),
            config=self.query_one("#open-config", Input).value.strip(),
            split=self.query_one("#open-split", Input).value.strip(),
            revision=self.query_one("#open-revision", Input).value.strip(),
            streaming=self.query_one("#open-streaming", Checkbox).value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        request = self._request()
        if request:
            self.dismiss(request)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.has_focus:
            self.query_one("#open-source", Input).value = self.recent[int(event.option.id)]

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        request = self._request(self.recent[int(event.option.id)])
        if request:
            self.dismiss(request)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "open-ok":
            request = self._request()
            if request:
                self.dismiss(request)
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
