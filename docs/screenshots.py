"""Make the README's screenshots (SVG exports from the app) of the five screens on the demo kit.

    python docs/screenshots.py [--sessions DIR] [--out docs/screens]

Needs the demo data (written if missing) and, for Chat and Sessions, the SFT sessions of
`workbench demo run 000` (demo-000-imbalanced, demo-000-balanced) in --sessions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SIZE = (120, 36)


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
        app.save_screenshot(str(out / f"{mode}.svg"))
        print(f"wrote {out / f'{mode}.svg'}")


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
    args = ap.parse_args()
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
