"""Jump to a field of the Train form (ctrl+f there): type part of a field's name (or of its
help), ↑/↓ choose among the matches, Enter goes. The Train screen unfolds the field's group
and focuses it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


def matches(fields: list[tuple[str, str]], query: str) -> list[str]:
    """Field names for `query`: names starting with it first, then names containing it,
    then fields whose help mentions it (case-insensitive; "maxst" finds max_steps:
    underscores and spaces are ignored)."""
    q = query.strip().lower().replace("_", "").replace(" ", "")
    if not q:
        return [name for name, _ in fields]
    flat = {name: name.lower().replace("_", "") for name, _ in fields}
    starts = [n for n, _ in fields if flat[n].startswith(q)]
    within = [n for n, _ in fields if q in flat[n] and n not in starts]
    words = query.strip().lower()
    helped = [n for n, h in fields if words in h.lower() and n not in starts and n not in within]
    return starts + within + helped


class FindFieldDialog(ModalScreen["str | None"]):
    """Dismisses with a field name, or None."""

    DEFAULT_CSS = """
    FindFieldDialog { align: center top; }
    FindFieldDialog > Vertical {
        width: 76; max-width: 98%; height: auto; max-height: 90%; margin-top: 2;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    FindFieldDialog OptionList { height: auto; max-height: 14; margin-top: 1; }
    FindFieldDialog #find-problem { color: $error; height: auto; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="find-field-cancel")]

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        super().__init__()
        self.fields = fields
        self.help = dict(fields)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Go to a field[/b]: type part of its name · ↑↓ choose · Enter "
                         "goes · Esc cancels")
            yield Input(placeholder="e.g. max_steps, lr, warmup", id="find-field")
            yield OptionList(id="find-options")
            yield Static("", id="find-problem")

    def on_mount(self) -> None:
        self._refresh("")
        self.query_one(Input).focus()

    def _refresh(self, query: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        found = matches(self.fields, query)
        options.add_options([Option(f"{n:<22} {self.help.get(n, '')[:48]}", id=n) for n in found])
        if found:
            options.highlighted = 0
        self.query_one("#find-problem", Static).update(
            "" if found else f"no field matches {query.strip()!r}: try part of its name")

    def on_input_changed(self, event: Input.Changed) -> None:
        self._refresh(event.value)

    def on_key(self, event) -> None:
        """↑/↓ move through the matches while the cursor stays in the input."""
        if isinstance(self.focused, Input) and event.key in ("down", "up"):
            options = self.query_one(OptionList)
            if options.option_count:
                step = 1 if event.key == "down" else -1
                current = options.highlighted if options.highlighted is not None else -step
                options.highlighted = max(0, min(options.option_count - 1, current + step))
            event.stop()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one(OptionList)
        if options.highlighted is None or not options.option_count:
            text = event.value.strip()
            self.query_one("#find-problem", Static).update(
                f"no field matches {text!r}: try part of its name" if text
                else "type part of a field's name (↑↓ choose among the matches)")
            return
        self.dismiss(options.get_option_at_index(options.highlighted).id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
