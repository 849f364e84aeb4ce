"""A text bar chart of a label's distribution: counts and shares per split.

    ending · 37 rows · 2 values
    train  37 rows
      happy  ████████████████████████████▉       32  86.5%
      sad    ████▍                                5  13.5%

Each value keeps its colour in every split, bars are drawn to an eighth of a cell, and the
value being filtered on is marked. The chart redraws itself to the width it is given.
"""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

# Colours cycled over the values (by their order in the first split), from the theme.
PALETTE = ("$primary", "$success", "$warning", "$error", "$accent", "$secondary")
EIGHTHS = " ▏▎▍▌▋▊▉"
MAX_VALUES = 12  # per split; the rest are summed into one line


def bar(share: float, width: int) -> str:
    """`share` of `width` cells as block characters, to an eighth of a cell."""
    share = min(max(share, 0.0), 1.0)
    eighths = round(share * width * 8)
    full, part = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[part] if part else "")
    return text


class LabelChart(Widget):
    """Counts and shares of one label per split (`show(label, stats)`)."""

    DEFAULT_CSS = """
    LabelChart {
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label: str | None = None
        self.stats: dict[str, dict[str, int]] = {}
        self.message = ""
        self.marked: str | None = None

    def show(self, label: str | None, stats: dict[str, dict[str, int]] | None,
             marked: str | None = None) -> None:
        self.label, self.stats, self.marked, self.message = label, stats or {}, marked, ""
        self.refresh(layout=True)

    def show_message(self, message: str) -> None:
        self.message = message
        self.stats = {}
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, len(self._lines(width)))

    def render(self) -> Content:
        return Content("\n").join(self._lines(self.content_region.width or 60))

    # ------------------------------------------------------------------------------------
    def _lines(self, width: int) -> list[Content]:
        if self.message or not self.stats:
            message = Content.styled(self.message or "no label chosen (l picks one)", "$text-muted")
            return message.wrap(max(10, width))
        colours: dict[str, str] = {}
        for counts in self.stats.values():
            for value in counts:
                colours.setdefault(value, PALETTE[len(colours) % len(PALETTE)])
        grand = sum(sum(c.values()) for c in self.stats.values())
        values = len(colours)
        lines = [Content.assemble((self.label or "", "bold $accent"),
                                  (f" · {grand:,} rows · {values} value{'s' * (values != 1)}",
                                   "$text-muted"))]
        name_w = min(max((len(v) for v in colours), default=4), max(8, width // 4))
        count_w = max(len(f"{n:,}") for c in self.stats.values() for n in c.values())
        bar_w = max(4, width - name_w - count_w - 12)
        for split, counts in self.stats.items():
            total = sum(counts.values())
            lines.append(Content.assemble((split, "bold"), (f"  {total:,} rows", "$text-muted")))
            items = list(counts.items())
            shown, rest = items[:MAX_VALUES], items[MAX_VALUES:]
            for value, n in shown:
                share = n / total if total else 0.0
                marked = value == self.marked
                name = value if len(value) <= name_w else value[: name_w - 1] + "…"
                lines.append(Content.assemble(
                    ("▸" if marked else " ", "bold $text-accent"), " ",
                    (f"{name:<{name_w}}", "bold" if marked else ""),
                    (f" {n:>{count_w},}", ""),
                    (f" {share:6.1%} ", "$text-muted"),
                    (bar(share, bar_w), colours[value])))
            if rest:
                n = sum(c for _, c in rest)
                lines.append(Content.styled(
                    f"  … {len(rest)} more values, {n:,} rows ({n / total:.1%})", "$text-muted"))
        return lines
