"""A loss plot drawn with plotext in the terminal: train loss per step as a line and the
validation loss as points joined by a line, for one run or several overlaid.

The widget owns no data source: a screen hands it `Curve`s (`set_curves`) whenever its
files grow, and the widget redraws at its own size. Colours come from a palette that has a
bright variant for dark themes and a deep one for light themes; axes and tick labels carry
no colour of their own, so they take the theme's text colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

# (dark theme, light theme) colour pairs, one per overlaid run; the first is the train line
# of a single run, the second its validation line.
PALETTE: list[tuple[tuple[int, int, int], tuple[int, int, int]]] = [
    ((86, 164, 255), (21, 94, 180)),     # blue
    ((255, 160, 64), (196, 88, 0)),      # orange
    ((96, 210, 120), (20, 130, 50)),     # green
    ((240, 100, 150), (180, 30, 90)),    # pink
    ((190, 150, 255), (110, 60, 190)),   # violet
    ((80, 210, 210), (0, 120, 130)),     # teal
    ((230, 210, 80), (140, 120, 0)),     # olive
    ((255, 110, 90), (190, 40, 30)),     # red
]


MARKER = "braille"


def palette_color(index: int, dark: bool = True) -> tuple[int, int, int]:
    pair = PALETTE[index % len(PALETTE)]
    return pair[0] if dark else pair[1]


def rgb_hex(color: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


@dataclass
class Curve:
    """One run's losses. `train` and `val` are (step, loss) pairs in step order; `metric`
    (step, value in [0, 1]) is drawn on a right-hand axis (exact match on eval prompts)."""

    label: str
    train: list[tuple[int, float]] = field(default_factory=list)
    val: list[tuple[int, float]] = field(default_factory=list)
    color: int | None = None   # palette index; None: by position in the plot
    metric: list[tuple[int, float]] = field(default_factory=list)
    metric_label: str = ""


def downsample(points: list[tuple[int, float]], buckets: int) -> list[tuple[float, float]]:
    """At most `buckets` points: the mean step and loss of consecutive runs of points (a long
    noisy curve reads better averaged than decimated). Non-finite losses are left out."""
    if buckets <= 0 or len(points) <= buckets:
        return [(float(s), v) for s, v in points if v is not None and math.isfinite(v)]
    import numpy as np

    arr = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    arr = arr[np.isfinite(arr[:, 1])]
    n = len(arr)
    if n <= buckets:
        return [(float(s), float(v)) for s, v in arr]
    edges = (np.arange(buckets + 1) * (n / buckets)).astype(np.int64)
    sums = np.add.reduceat(arr, edges[:-1], axis=0)
    counts = np.diff(edges).reshape(-1, 1)
    means = sums / np.maximum(counts, 1)
    return [(float(s), float(v)) for s, v in means]


def nice_ticks(lo: float, hi: float, count: int) -> list[float]:
    """Round tick positions (1, 2, 2.5, 5 × 10^k) covering [lo, hi], about `count` of them."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), 10 * mag)
    start = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = start
    while t <= hi + 1e-9 and len(ticks) < 50:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _fmt_step(v: float) -> str:
    if v >= 10_000:
        return f"{v / 1000:.0f}k" if v % 1000 == 0 else f"{v / 1000:.1f}k"
    return f"{v:.0f}"


def step_labels(ticks: list[int]) -> list[str]:
    """Labels of step ticks: 12.5k for large steps, unless that would repeat a label."""
    labels = [_fmt_step(t) for t in ticks]
    return labels if len(set(labels)) == len(labels) else [str(t) for t in ticks]


def step_ticks(x_hi: float, columns: int, count: int | None = None) -> list[int]:
    """Ticks of the step axis [0, x_hi] drawn `columns` cells wide: whole steps at a nice
    interval (1, 2, 5 × 10^k, and 25, 250, ...; never 0.5 or 2.5, which print as repeated
    labels: `0 0 1 2 2 2`), about `count` of them (default: one per 12 columns), and far
    enough apart that each label fits with a space either side (plotext silently drops a
    label that would touch another)."""
    x_hi = max(1, int(math.ceil(x_hi)))
    columns = max(1, columns)
    raw = x_hi / max(1, count if count is not None else columns // 12)
    k = max(0, math.floor(math.log10(max(raw, 1))))
    while True:
        for m in (1, 2, 2.5, 5):
            step = m * 10 ** k
            if step < raw or step != int(step):
                continue
            step = int(step)
            ticks = list(range(0, x_hi + 1, step))
            if len(ticks) == 1:
                return ticks
            # columns between neighbouring ticks; centred labels of up to `longest` cells
            # need `longest` + 1 of them, and one more for rounding to whole cells
            gap = step * (columns - 1) / x_hi
            longest = max(len(label) for label in step_labels(ticks))
            if gap >= longest + 2:
                return ticks
        k += 1


def _fmt_ticks(ticks: list[float]) -> list[str]:
    """Tick labels with as few decimals as show every tick exactly (2.25 stays 2.25)."""
    for decimals in range(0, 5):
        if all(abs(round(t, decimals) - t) < 1e-9 for t in ticks):
            return [f"{t:.{decimals}f}" for t in ticks]
    return [f"{t:.4g}" for t in ticks]


class LossPlot(Widget):
    """Train and validation loss against the step, for one or several runs."""

    DEFAULT_CSS = """
    LossPlot {
        height: 1fr;
        min-height: 6;
        width: 1fr;
        padding: 0 1 0 0;
    }
    """

    def __init__(self, *, legend: bool = True, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.curves: list[Curve] = []
        self.max_steps: int | None = None
        self.empty_message = "no loss yet"
        self.legend = legend
        self.log_y = False
        self._cache: tuple | None = None

    def on_mount(self) -> None:
        # redraw in the new palette when the theme flips between dark and light
        self.watch(self.app, "theme", lambda _theme: self.redraw(), init=False)

    def set_curves(self, curves: list[Curve], max_steps: int | None = None,
                   empty_message: str | None = None) -> None:
        """Replace what is drawn. `max_steps` fixes the step axis of a run in progress, so the
        curve grows towards the right edge."""
        self.curves = list(curves)
        self.max_steps = max_steps or None
        if empty_message is not None:
            self.empty_message = empty_message
        self.redraw()

    def toggle_log(self) -> bool:
        """Flip the loss axis between linear and logarithmic (a first steep drop no longer
        flattens the rest of the curve); returns whether it is now logarithmic."""
        self.log_y = not self.log_y
        self.redraw()
        return self.log_y

    def redraw(self) -> None:
        self._cache = None
        self.refresh()

    @property
    def has_data(self) -> bool:
        return any(c.train or c.val or c.metric for c in self.curves)

    # -- drawing --------------------------------------------------------------------------
    def _dark(self) -> bool:
        try:
            return bool(self.app.current_theme.dark)
        except Exception:  # noqa: BLE001 - no app yet
            return True

    def _colors(self) -> list[tuple[tuple[int, int, int], tuple[int, int, int]]]:
        """(train colour, val colour) per curve. A single run: two palette colours; several:
        one colour each, validation drawn with points in the same colour."""
        dark = self._dark()
        if len(self.curves) == 1 and self.curves[0].color is None:
            return [(palette_color(0, dark), palette_color(1, dark))]
        out = []
        for i, c in enumerate(self.curves):
            color = palette_color(c.color if c.color is not None else i, dark)
            out.append((color, color))
        return out

    def _metric_color(self) -> tuple[int, int, int]:
        return palette_color(2, self._dark())

    def legend_text(self, width: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis", justify="left")
        colors = self._colors()
        if len(self.curves) == 1 and self.curves[0].color is None:
            text.append("━━ ", style=rgb_hex(colors[0][0]))
            text.append("train loss", style="")
            if self.curves[0].val or not self.curves[0].metric:
                text.append("   ●─● ", style=rgb_hex(colors[0][1]))
                text.append("validation loss")
            if self.curves[0].metric:
                text.append("   ◆─◆ ", style=rgb_hex(self._metric_color()))
                text.append(f"{self.curves[0].metric_label} (right axis, 0-1)")
            if self.log_y:
                text.append("   (log scale)", style="dim")
            return text
        for i, (curve, (color, _)) in enumerate(zip(self.curves, colors)):
            if i:
                text.append("  ")
            text.append("━━ ", style=rgb_hex(color))
            text.append(curve.label)
        text.append("   (line: train, ●: validation" + (", log scale)" if self.log_y else ")"),
                    style="dim")
        return text

    def render(self) -> RenderableType:
        width, height = self.content_size.width, self.content_size.height
        key = (width, height, self._dark(), self.log_y)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        result = self._draw(width, height)
        self._cache = (key, result)
        return result

    def _draw(self, width: int, height: int) -> RenderableType:
        if not self.has_data:
            return Text(self.empty_message, style="dim", justify="center")
        legend_rows = 1 if self.legend and height >= 10 else 0
        plot_h = height - legend_rows
        if width < 20 or plot_h < 4:
            last = next((c.train[-1] for c in self.curves if c.train), None)
            return Text(f"loss {last[1]:.4f} at step {last[0]}" if last else "", style="dim")
        plot = self._plotext(width, plot_h)
        if legend_rows:
            return Group(self.legend_text(width), plot)
        return plot

    def _plotext(self, width: int, height: int) -> Text:
        import plotext as plt

        colors = self._colors()
        buckets = max(10, (width - 8) * 2)  # braille: two points per column
        log = self.log_y
        # on a log axis the points are drawn at log10(loss) and the ticks say the loss
        f = (lambda v: math.log10(v)) if log else (lambda v: v)
        series = []
        lo, hi, last_step = math.inf, -math.inf, 0
        for curve, (tc, vc) in zip(self.curves, colors):
            train = [(s, f(v)) for s, v in downsample(curve.train, buckets) if not log or v > 0]
            val = [(float(s), f(v)) for s, v in curve.val
                   if v is not None and math.isfinite(v) and (not log or v > 0)]
            for _, v in train + val:
                lo, hi = min(lo, v), max(hi, v)
            for s, _ in train + val + [(float(s), v) for s, v in curve.metric]:
                last_step = max(last_step, s)
            series.append((train, val, tc, vc))
        if lo == math.inf:
            return Text(self.empty_message, style="dim", justify="center")
        if hi - lo < 1e-6:
            lo, hi = lo - 0.5, hi + 0.5
        pad = (hi - lo) * 0.05
        lo, hi = (max(0.0, lo - pad) if lo >= 0 and not log else lo - pad), hi + pad
        x_hi = float(max(self.max_steps or 0, last_step, 1))

        plt.clear_figure()
        plt.limitsize(False, False)  # the widget's size, not the terminal's
        plt.plotsize(width, height)
        plt.theme("clear")
        plt.frame(True)
        metric = self.curves[0].metric if len(self.curves) == 1 else []
        if metric:  # on its own axis (right, 0-1)
            ms = [float(s) for s, _ in metric]
            mv = [float(v) for _, v in metric]
            mc = self._metric_color()
            if len(metric) > 1:
                plt.plot(ms, mv, color=mc, marker=MARKER, yside="right")
            plt.scatter(ms, mv, color=mc, marker="◆", yside="right")
            plt.ylim(0, 1, yside="right")
            plt.yticks([0, 0.5, 1], ["0", "0.5", "1"], yside="right")
        for train, val, tc, vc in series:
            if train:
                plt.plot([s for s, _ in train], [v for _, v in train], color=tc, marker=MARKER)
            if val:
                if len(val) > 1:
                    plt.plot([s for s, _ in val], [v for _, v in val], color=vc, marker=MARKER)
                plt.scatter([s for s, _ in val], [v for _, v in val], color=vc, marker="●")
        plt.xlim(0, x_hi)
        plt.ylim(lo, hi)
        if log:
            values = log_ticks(10 ** lo, 10 ** hi, max(2, height // 2 - 1))
            if len(values) < 3:  # less than a decade: round values, placed on the log axis
                values = [v for v in nice_ticks(10 ** lo, 10 ** hi, max(2, height // 2 - 1)) if v > 0]
            yt, ylabels = [math.log10(v) for v in values], _fmt_ticks(values)
        else:
            yt = nice_ticks(lo, hi, max(2, height // 2 - 1))
            ylabels = _fmt_ticks(yt)
        plt.yticks(yt, ylabels)
        # the canvas is what the frame and the tick labels on either side leave
        columns = width - max(map(len, ylabels), default=0) - 2 - (4 if metric else 0)
        xt = step_ticks(x_hi, columns, max(2, width // 12))
        plt.xticks(xt, step_labels(xt))
        text = Text.from_ansi(plt.build(), no_wrap=True, overflow="crop")
        plt.clear_figure()
        return text


def log_ticks(lo: float, hi: float, count: int) -> list[float]:
    """Round values (1, 2, 5 × 10^k; fewer when crowded) between lo and hi, for a log axis."""
    for mults in ((1, 2, 5), (1, 3), (1,)):
        out = []
        k = math.floor(math.log10(lo))
        while 10 ** k <= hi * 10:
            for m in mults:
                v = round(m * 10 ** k, 12)
                if lo <= v <= hi:
                    out.append(v)
            k += 1
        if len(out) <= max(2, count) or mults == (1,):
            return out or [lo, hi]
    return [lo, hi]
