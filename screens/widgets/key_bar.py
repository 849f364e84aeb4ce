"""The footer: the keys that work now, wrapped onto a second (or third) line instead of cut.

Textual's Footer keeps one line and cuts what does not fit, so on a 130-column terminal the
screen keys pushed `F2 Data … F6 Sessions` off the edge (`2 Batc▏`). This bar lays the keys
out itself: the screen's own keys first, then the app's (screens, help, quit, palette); when
they need more than two lines, the five screen keys become one item (`F2-F6 screens`; F1
lists them). Disabled keys are dimmed, hidden ones left out (F1 shows every key). A click on
a key presses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.widget import Widget

SEP = "  "
MAX_LINES = 2


@dataclass
class Item:
    key: str        # what is pressed (a Textual key name)
    shown: str      # how the key is shown ("^s", "F2")
    label: str
    enabled: bool = True
    screen_key: bool = False  # one of the app's screen-switching keys


def layout(items: list[Item], width: int, max_lines: int = MAX_LINES) -> list[list[Item]]:
    """Greedy lines of `items` within `width` cells; the screen keys fold into one item
    when the bar would take more than `max_lines`."""
    lines = _wrap(items, width)
    if len(lines) > max_lines and any(i.screen_key for i in items):
        folded: list[Item] = []
        for item in items:
            if not item.screen_key:
                folded.append(item)
            elif not any(f.screen_key for f in folded):
                folded.append(Item("f1", "F2-F6", "screens", True, True))
        lines = _wrap(folded, width)
    return lines


def _wrap(items: list[Item], width: int) -> list[list[Item]]:
    lines: list[list[Item]] = [[]]
    used = 0
    for item in items:
        size = _size(item)
        extra = size if not lines[-1] else len(SEP) + size
        if lines[-1] and used + extra > width:
            lines.append([item])
            used = size
        else:
            lines[-1].append(item)
            used += extra
    return [line for line in lines if line] or [[]]


def _size(item: Item) -> int:
    return len(item.shown) + 1 + len(item.label)


class KeyBar(Widget):
    """The footer of every workbench screen."""

    DEFAULT_CSS = """
    KeyBar {
        height: auto;
        max-height: 3;
        background: $footer-background;
        color: $footer-foreground;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._lines: list[list[Item]] = []
        self._hits: list[tuple[int, int, int, str]] = []  # (line, x0, x1, key)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self._bindings_changed, None)

    def _bindings_changed(self, _screen) -> None:
        self._relayout()

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()

    def items(self) -> list[Item]:
        """The shown keys of what is focused, the screen and the app, one per action."""
        app = self.app
        own: list[Item] = []
        shared: list[Item] = []
        seen: set[tuple] = set()
        try:
            bindings = self.screen.active_bindings
        except Exception:  # noqa: BLE001 - a screen still composing: the next update draws it
            return []
        for key, active in bindings.items():
            binding = active.binding
            if not binding.show:
                continue
            ident = (binding.action, binding.description)
            if ident in seen:
                continue
            seen.add(ident)
            shown = app.get_key_display(binding)
            if shown.startswith("f") and shown[1:].isdigit():
                shown = shown.upper()
            item = Item(key, shown, binding.description, active.enabled,
                        binding.action.startswith("goto("))
            (shared if active.node is app else own).append(item)
        if app.ENABLE_COMMAND_PALETTE:
            shared.append(Item(app.COMMAND_PALETTE_BINDING, "^p", "palette"))
        return own + shared

    def _relayout(self) -> None:
        width = max(10, self.size.width or self.app.size.width - 2)
        lines = layout(self.items(), width)
        if lines != self._lines:
            self._lines = lines
            self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, len(self._lines))

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="crop")
        key_style = f"bold {self._accent}".strip()
        self._hits = []
        for n, line in enumerate(self._lines):
            if n:
                text.append("\n")
            x = 0
            for i, item in enumerate(line):
                if i:
                    text.append(SEP)
                    x += len(SEP)
                dim = "" if item.enabled else "dim"
                text.append(item.shown, style=f"{key_style} {dim}".strip())
                text.append(" " + item.label, style=dim)
                self._hits.append((n, x, x + _size(item), item.key))
                x += _size(item)
        return text

    @property
    def _accent(self) -> str:
        try:
            return self.app.theme_variables.get("footer-key-foreground", "") or ""
        except Exception:  # noqa: BLE001 - no theme yet
            return ""

    def on_click(self, event: events.Click) -> None:
        for line, x0, x1, key in self._hits:
            if event.y == line and x0 <= event.x < x1:
                event.stop()
                self.app.simulate_key(key)
                return
