"""The Data screen on a 1M-row dataset, driven through Pilot as a user would: how long a
page change takes from the key press to the table showing the new page, and how long the
open, a search and a filter take (those run in jobs).

    python bench/bench_data_screen.py [--rows 1000000]

Target: a page change well under 100 ms (the browsing API's page costs < 1 ms; the rest is
refilling the table and the preview). Wall times include what Pilot itself spends per key
(waiting for the app to be idle, a frame or two: printed first); the CPU time is the work.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


async def until(pilot, done, timeout: float = 120.0) -> float:
    t = time.perf_counter()
    while not done():
        await pilot.pause(0.005)
        if time.perf_counter() - t > timeout:
            raise TimeoutError("the screen did not get there")
    return time.perf_counter() - t


async def run(path: Path, rows: int, presses: int) -> None:
    from screens.app import make_app

    app = make_app(data=str(path), state_file=Path(tempfile.mkdtemp()) / "state.json",
                   sessions_dir=Path(tempfile.mkdtemp()))
    async with app.run_test(size=(160, 48)) as pilot:
        t = await until(pilot, lambda: getattr(app.screen, "page", None) is not None)
        screen = app.screen
        print(f"open (first time: read, check, cache) until the first page shows: {t:.2f} s")
        await until(pilot, lambda: not screen.busy)
        t0 = time.perf_counter()
        for _ in range(presses):
            await pilot.press("z")  # no binding: what Pilot itself costs per key
        noop = (time.perf_counter() - t0) / presses
        print(f"a key with no binding (Pilot's own cost per key): {noop * 1000:.1f} ms")
        times, cpu = [], []
        for _ in range(presses):
            t0, c0 = time.perf_counter(), time.process_time()
            await pilot.press("down")
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(f"next row (↓, the preview follows): median {statistics.median(times) * 1000:.1f} ms "
              f"wall, {statistics.median(cpu) * 1000:.1f} ms CPU")
        times, cpu = [], []
        for _ in range(presses):
            before = screen.page_no
            t0, c0 = time.perf_counter(), time.process_time()
            await pilot.press("n")
            await until(pilot, lambda: screen.page_no == before + 1)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(f"page change (n, {presses}×): median {statistics.median(times) * 1000:.1f} ms wall "
              f"(max {max(times) * 1000:.1f}), {statistics.median(cpu) * 1000:.1f} ms CPU · "
              f"{screen.query_one('#data-status').render()}")
        t0 = time.perf_counter()
        await pilot.press("end")
        await until(pilot, lambda: screen.table.current is not None
                    and screen.table.current.position == rows - 1)
        print(f"last page (End): {(time.perf_counter() - t0) * 1000:.1f} ms")
        t0 = time.perf_counter()
        await pilot.press("slash", *"fox jumps", "enter")
        await until(pilot, lambda: screen.search and not screen.busy)
        print(f"search 'fox jumps' (a job): {time.perf_counter() - t0:.2f} s · "
              f"{screen.page.matched:,} rows match")
        times = []
        for _ in range(10):
            before = screen.page_no
            t0 = time.perf_counter()
            await pilot.press("n")
            await until(pilot, lambda: screen.page_no == before + 1)
            times.append(time.perf_counter() - t0)
        print(f"page change within the search: median {statistics.median(times) * 1000:.1f} ms")
        await pilot.press("x")
        await until(pilot, lambda: not screen.search)
        screen.filter = ("category", "code")
        t0 = time.perf_counter()
        screen.goto_page(0)
        await until(pilot, lambda: not screen.busy and screen.page.matched < rows)
        print(f"filter category=code (a job): {time.perf_counter() - t0:.2f} s · "
              f"{screen.page.matched:,} rows")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--presses", type=int, default=30)
    args = ap.parse_args()
    from bench_data_browse import make_file

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_CACHE"] = os.path.join(tmp, "cache")
        path = Path(tmp) / "rows.jsonl"
        make_file(path, args.rows)
        print(f"{args.rows:,} alpaca rows, {path.stat().st_size / 1e6:.0f} MB")
        asyncio.run(run(path, args.rows, args.presses))


if __name__ == "__main__":
    main()
