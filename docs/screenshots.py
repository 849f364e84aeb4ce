"""Make the README's screenshots (SVG exports from the app) of the five screens on the demo kit.

    python docs/screenshots.py [--sessions DIR] [--out docs/screens]
    python docs/screenshots.py --fix docs/screens/*.svg   # only make existing SVGs readable

Needs the demo data (written if missing) and, for Chat and Sessions, the SFT sessions of
`workbench demo run 000` (demo-000-imbalanced, demo-000-balanced) in --sessions.

Every SVG is passed through `readable_svg`: Textual writes each space as `&#160;` and sizes
each run of text with `textLength`, which renderers that drop leading and trailing
non-breaking spaces and ignore `textLength` (librsvg: GNOME viewers, many converters) turn
into `pos 3input 546`. Plain spaces kept by `xml:space="preserve"` / `white-space: pre`
render in the right columns there and look the same in browsers and cairosvg.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SIZE = (120, 36)


def readable_svg(svg: str) -> str:
    """A Rich/Textual SVG export whose spaces survive every renderer: `&#160;` (and a
    literal no-break space) become plain spaces, the root keeps them (`xml:space="preserve"`,
    the XML way, which librsvg and cairosvg follow) and the terminal's text is styled
    `white-space: pre` (the CSS way, for browsers). Running it twice changes nothing."""
    svg = svg.replace("&#160;", " ").replace("&#xa0;", " ").replace("\u00a0", " ")
    svg = re.sub(r"<svg\b(?![^>]*xml:space)", '<svg xml:space="preserve"', svg, count=1)
    # the matrix class holds every line of the terminal; white-space is inherited
    svg = re.sub(r"(\.terminal-\d+-matrix\s*\{)(?![^}]*white-space)",
                 r"\1\n        white-space: pre;", svg, count=1)
    return svg


def fix_file(path: Path) -> bool:
    """Rewrite one SVG with `readable_svg`; whether it changed."""
    text = path.read_text(encoding="utf-8")
    fixed = readable_svg(text)
    if fixed != text:
        path.write_text(fixed, encoding="utf-8")
    return fixed != text


async def wait(pilot, condition, timeout=120.0):
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the screen never got ready")
        await pilot.pause(0.1)
    await pilot.pause(0.5)


async def shoot(make, mode: str, out: Path, steps) -> None:
    app = make(mode)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        await steps(pilot, app)
        path = out / f"{mode}.svg"
        path.write_text(readable_svg(app.export_screenshot()), encoding="utf-8")
        print(f"wrote {path}")


async def data_steps(pilot, app):
    screen = app.screen
    await wait(pilot, lambda: getattr(screen, "ds", None) is not None)
    await pilot.press("down", "down")  # the third row: a sad one, its story in the preview
    await pilot.pause(1.0)


async def batches_steps(pilot, app):
    screen = app.screen
    await wait(pilot, lambda: getattr(screen, "batch", None) is not None)
    await pilot.press("l", "l", "l")


async def train_steps(pilot, app):
    await pilot.pause(2.0)


async def chat_steps(pilot, app):
    screen = app.screen
    await wait(pilot, lambda: all(s in ("ready", "error", "missing") for s in screen._status.values()))
    from screens.widgets.chat_prompt import PromptArea

    area = screen.query_one(PromptArea)
    area.load_text("a little girl who lost her toy\nending: sad")
    area.focus()
    await pilot.press("enter")
    await wait(pilot, lambda: screen._count == 1 and not screen.generating)


async def sessions_steps(pilot, app):
    await pilot.pause(2.0)
    table = app.screen.query_one("DataTable")
    for name in ("demo-000-imbalanced", "demo-000-balanced"):
        for row in range(table.row_count):
            if name in str(table.get_row_at(row)):
                table.move_cursor(row=row)
                await pilot.press("space")
    await pilot.pause(2.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", default="sessions")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screens"))
    ap.add_argument("--fix", nargs="+", metavar="SVG",
                    help="only rewrite these existing SVGs with readable spaces")
    args = ap.parse_args()
    if args.fix:
        for name in args.fix:
            print(f"{'fixed' if fix_file(Path(name)) else 'unchanged'} {name}")
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from screens.app import make_app
    from screens.chat import ChatScreen
    from workbench.demo.build import write_demo_data

    write_demo_data("data/demo", corpus=False)
    ChatScreen.mask_timing = True
    tmp = Path(tempfile.mkdtemp())
    os.environ["WORKBENCH_CACHE"] = str(tmp / "cache")

    def make(mode):
        state = tmp / f"{mode}.json"
        state.write_text('{"session": "demo-000-balanced"}')
        return make_app(sessions_dir=args.sessions, state_file=state, start_mode=mode,
                        data="data/demo/tinystories-instruct.txt", template="story",
                        model="demo-base")

    for mode, steps in (("data", data_steps), ("batches", batches_steps), ("train", train_steps),
                        ("chat", chat_steps), ("sessions", sessions_steps)):
        asyncio.run(shoot(make, mode, out, steps))


if __name__ == "__main__":
    main()
