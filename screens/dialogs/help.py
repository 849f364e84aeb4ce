"""F1: every key binding, of the app, of the current screen and of the focused widget."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def _key(binding: Binding) -> str:
    return ", ".join(k.strip() for k in binding.key.split(","))


class HelpScreen(ModalScreen[None]):
    """Lists bindings; Escape, F1 or q closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90;
        max-width: 95%;
        height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="help-close")]

    def compose(self) -> ComposeResult:
        app = self.app
        stack = [s for s in app.screen_stack if s is not self]
        below = stack[-1] if stack else None
        sections: list[tuple[str, list[tuple[str, str]]]] = []
        from ..base import WorkbenchScreen

        goto: dict[str, list[str]] = {}  # a screen's keys on one row: "f2, alt+1, 1"
        rows = []
        for b in [*app.BINDINGS, *WorkbenchScreen.BINDINGS]:
            if not isinstance(b, Binding):
                continue
            if b.action.startswith("goto("):
                if b.description not in goto:
                    goto[b.description] = []
                    rows.append(("", b.description))
                goto[b.description].append(_key(b))
            else:
                rows.append((_key(b), b.description or b.action))
        rows = [(", ".join(goto[d]) if not k else k, f"{d} screen" if not k else d)
                for k, d in rows]
        sections.append(("Everywhere", rows + [("ctrl+p", "Command palette: this screen's actions"),
                                               ("tab, shift+tab", "Move focus")]))
        if below is not None:
            screen_rows = [(_key(b), b.description or b.action)
                           for b in getattr(below, "BINDINGS", []) if isinstance(b, Binding)]
            if screen_rows:
                title = getattr(below, "TITLE", "") or type(below).__name__
                sections.append((f"This screen: {title}", screen_rows))
            seen = set()
            widget_rows = []
            for node in below.query("*"):
                for b in getattr(node, "BINDINGS", []):
                    if isinstance(b, Binding) and b.description and b.show:
                        key = (type(node).__name__, b.key)
                        if key not in seen:
                            seen.add(key)
                            widget_rows.append((_key(b), f"{b.description}  ({type(node).__name__})"))
            if widget_rows:
                sections.append(("Widgets on this screen", widget_rows))
        with VerticalScroll():
            yield Static("[b]SFT Workbench: keys[/b]  (Esc closes)\n")
            for title, rows in sections:
                table = Table(title=title, title_justify="left", show_header=False, expand=True,
                              box=None, padding=(0, 2))
                table.add_column(style="bold", width=18)
                table.add_column()
                for key, desc in rows:
                    table.add_row(key, desc)
                yield Static(table)
                yield Static("")
