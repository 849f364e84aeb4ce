"""Readability of what the screens draw, from usability reports: the loss plot's step axis
(distinct whole-step labels at any width), the label chart's order (length buckets by range,
other labels by count), and the balance dialog's columns (a class name never touches its
count).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from textual.app import App, ComposeResult

from screens.app import make_app
from screens.widgets.loss_plot import Curve, LossPlot, step_ticks
from conftest import sync, write_rows

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("isolated")


async def settle(pilot) -> None:
    """Let the screen's jobs (threads) finish and their results arrive."""
    app = pilot.app
    for _ in range(100):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if not any(w.is_running for w in app.workers) and not any(
                getattr(s, "busy", False) for s in app.screen_stack):
            return
    raise AssertionError("jobs did not finish")


def app_for(tmp_path: Path, data: str):
    state = tmp_path / "state.json"
    state.write_text("{}")
    return make_app(sessions_dir=tmp_path / "sessions", state_file=state, data=data)


def screen_lines(app) -> list[str]:
    """The text on the terminal, one string per row."""
    return ["".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()]


# -- loss plot: the step axis ---------------------------------------------------------------


def curve(steps: int, metric: bool = False) -> Curve:
    every = max(1, steps // 400)
    train = [(s, 3.0 - s / steps) for s in range(0, steps + 1, every)]
    val = [(s, 3.1 - s / steps) for s in range(0, steps + 1, max(1, steps // 4))]
    return Curve("run", train=train, val=val,
                 metric=[(s, s / steps) for s, _ in val] if metric else [])


def step_value(label: str) -> float:
    return float(label[:-1]) * 1000 if label.endswith("k") else float(label)


def axis_labels(text: str) -> list[str]:
    """The step labels: the row under the plot's bottom frame."""
    lines = text.splitlines()
    frame = max(i for i, line in enumerate(lines) if "└" in line)
    return lines[frame + 1].split()


def check_axis(labels: list[str], where: str) -> None:
    assert len(labels) >= 2, f"{where}: {labels}"
    values = [step_value(label) for label in labels]
    assert len(set(labels)) == len(labels), f"{where}: repeated labels {labels}"
    assert all(v == int(v) for v in values), f"{where}: a label between steps {labels}"
    assert values == sorted(values) and values[0] == 0, f"{where}: {labels}"
    steps = {b - a for a, b in zip(values, values[1:])}
    assert len(steps) == 1, f"{where}: uneven or missing labels {labels}"
    step = steps.pop()
    mantissa = step / 10 ** (len(str(int(step))) - 1)
    assert mantissa in (1, 2, 2.5, 5), f"{where}: step {step} is not 1, 2, 2.5 or 5 x 10^k"


def test_the_four_step_run_of_the_report_labels_each_step_once():
    plot = LossPlot()
    plot.curves = [curve(4)]
    labels = axis_labels(plot._draw(100, 14).renderables[-1].plain)
    assert labels == ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize("steps", [1, 2, 3, 4, 5, 7, 9, 10, 11, 13, 17, 33, 99, 100, 101, 250,
                                   999, 1234, 9999, 10_000, 12_345, 54_321, 99_999, 100_000])
def test_step_labels_are_distinct_whole_steps_at_every_width(steps):
    plot = LossPlot()
    for metric in (False, True):
        plot.curves = [curve(steps, metric)]
        for width in list(range(30, 61, 3)) + [80, 100, 120, 160, 200, 240]:
            text = plot._draw(width, 9)  # no legend row below 10 rows
            check_axis(axis_labels(text.plain), f"{steps} steps, {width} columns, "
                                                f"metric {metric}")


def test_a_run_in_progress_labels_the_planned_steps():
    plot = LossPlot()
    plot.curves = [curve(3)]
    plot.max_steps = 50_000
    for width in (30, 47, 80, 133):
        check_axis(axis_labels(plot._draw(width, 9).plain), f"{width} columns")


def test_step_ticks_leave_room_for_their_labels():
    for x_hi in (1, 4, 7, 10, 99, 1000, 10_001, 100_000):
        for columns in range(10, 200, 7):
            ticks = step_ticks(x_hi, columns)
            assert ticks[0] == 0 and all(isinstance(t, int) for t in ticks)
            assert len(set(ticks)) == len(ticks) and ticks[-1] <= max(1, x_hi)


class PlotApp(App):
    def compose(self) -> ComposeResult:
        yield LossPlot(id="plot")


@sync
async def test_the_plot_in_an_app_labels_each_step_once():
    for size, steps in (((30, 12), 4), ((80, 20), 4), ((120, 30), 4), ((45, 12), 100_000),
                        ((200, 30), 7)):
        app = PlotApp()
        async with app.run_test(size=size) as pilot:
            app.query_one(LossPlot).set_curves([curve(steps)])
            await pilot.pause()
            lines = screen_lines(app)
            frame = max(i for i, line in enumerate(lines) if "└" in line)
            check_axis(lines[frame + 1].split(), f"{size}, {steps} steps")


# -- the label chart and the balance dialog -------------------------------------------------


def chart_rows(text: str) -> list[str]:
    """The value names of the chart's bars, in the order shown."""
    return [line.split()[0] for line in text.splitlines()[2:] if "%" in line]


@sync
async def test_label_chart_shows_length_buckets_by_range_and_labels_by_count(tmp_path):
    # most rows are long: by count the long bucket would come first
    data = write_rows(tmp_path / "d.jsonl", {"long": (30, 700), "short": (5, 40),
                                             "mid": (10, 250)})
    app = app_for(tmp_path, str(data))
    app.state.model, app.state.tokenizer = "scratch", "bytes"  # the byte tokenizer: no files
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        screen = app.screen
        await pilot.press("l")
        await settle(pilot)
        await pilot.press(*["down"] * screen.labels.index("category"), "enter")
        await settle(pilot)
        assert screen.chart_label == "category"
        chart = screen.query_one("#data-chart").render().plain
        assert chart_rows(chart) == ["long", "mid", "short"]  # most common first
        await pilot.press("l", "end", "enter")  # the last choice: length
        await settle(pilot)
        assert screen.chart_label == "length"
        buckets = chart_rows(screen.query_one("#data-chart").render().plain)
        assert len(buckets) == 3
        lows = [int(b.split("-")[0].rstrip("+")) for b in buckets]
        assert lows == sorted(lows), buckets


def touching(lines: list[str]) -> list[str]:
    """Rows where a letter runs straight into a count (`happy5,520`, `total6,000`)."""
    return [line for line in lines if re.search(r"[A-Za-z]\d|[a-z)\-]\d{1,3},\d{3}", line)]


@pytest.mark.parametrize("size", [(80, 30), (120, 40)])
@sync
async def test_balance_dialog_columns_never_touch(tmp_path, size):
    # the report: happy5,520  92.0%, total6,000 (names and counts of the same width)
    data = write_rows(tmp_path / "d.jsonl", {"happy": (5520, 10), "sad": (480, 10)})
    app = app_for(tmp_path, str(data))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await pilot.pause(0.3)
        await settle(pilot)
        dialog = app.screen
        assert type(dialog).__name__ == "BalanceDialog"
        assert dialog.result is not None
        lines = [line for line in screen_lines(app) if "→" in line]
        assert any("happy" in line for line in lines)
        assert not touching(lines), lines
        for name, count in (("happy", "5,520"), ("sad", "480"), ("total", "6,000")):
            row = next(line for line in lines if f" {name} " in line)
            assert re.search(rf"{name}\s+{count}\s+", row), row


def test_counts_table_separates_every_column():
    from screens.dialogs.balance import counts_table

    before = {"train": {"128-255": 5954, "0-63": 46}}
    after = {"train": {"128-255": 46, "0-63": 46}, "validation": {"0-63": 3}}
    for width in (40, 66, 70, 120):
        lines = counts_table(before, after, width).plain.splitlines()
        assert not touching(lines), lines
        assert re.search(r"128-255\s+5,954\s+99\.2%\s+→\s+46\s+50\.0%", lines[1]), lines
        assert re.search(r"total\s+6,000\s+→\s+92", lines[3]), lines
    long = {"train": {"a-class-name-of-thirty-letters": 1_234_567, "b": 1}}
    for line in counts_table(long, long, 50).plain.splitlines():
        assert len(line) <= 50 and not touching([line]), line


# -- the README's screenshots ---------------------------------------------------------------


def load_screenshots():
    import importlib.util

    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "docs" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SMALL_SVG = """<svg class="rich-terminal" viewBox="0 0 994 50" xmlns="http://www.w3.org/2000/svg">
    <style>
    .terminal-42-matrix {
        font-family: Fira Code, monospace;
        font-size: 20px;
    }
    </style>
    <g class="terminal-42-matrix">
    <text class="terminal-42-r1" x="12.2" y="20" textLength="61">pos&#160;3</text>
<text class="terminal-42-r2" x="73.2" y="20" textLength="97.6">&#160;&#160;input&#160;</text>
<text class="terminal-42-r1" x="170.8" y="20" textLength="48.8">546&#160;</text>
    </g>
</svg>
"""


def test_readable_svg_keeps_every_space_as_a_plain_one():
    import xml.etree.ElementTree as ET

    readable_svg = load_screenshots().readable_svg
    fixed = readable_svg(SMALL_SVG)
    assert "&#160;" not in fixed and "\u00a0" not in fixed
    root = ET.fromstring(fixed)
    assert root.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"
    assert re.search(r"\.terminal-42-matrix\s*\{\s*white-space: pre;", fixed)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == ["pos 3", "  input ", "546 "]  # the leading spaces are kept, as spaces
    assert readable_svg(fixed) == fixed  # twice changes nothing


def test_the_readme_screenshots_are_readable():
    readable_svg = load_screenshots().readable_svg
    shots = sorted((ROOT / "docs" / "screens").glob("*.svg"))
    if not shots:
        pytest.skip("no screenshots under docs/screens")
    for path in shots:
        text = path.read_text(encoding="utf-8")
        assert readable_svg(text) == text, f"{path}: run python docs/screenshots.py --fix"
