"""How long the Batches screen takes to show an 8×512 batch once the data is tokenized.

    python bench/bench_batches_render.py [--tokenizer gpt2-folder|bytes] [--rows N]
                                          [--size 160x48] [--repeat 20]

Writes a JSONL of Alpaca rows whose responses are long enough that every row of a batch
fills max_len 512, tokenizes it (timed, but not part of the budget), opens the Batches
screen headless (Textual's Pilot), and times, per batch, the median and worst of:

* show: collate the batch (`collate_plan`), its warnings, the cells and the layout;
* draw: draw every line on screen (what a frame costs);
* draw all: draw every line of the whole batch (as if scrolled through all of it);
* key → frame: press → (next batch) until the screen has rendered it.

The budget (issue 7) is 50 ms from a tokenized dataset to a rendered 8×512 batch: show +
draw. Uses ../shared/gpt2-bpe when present (GPT-2 tokens: realistic cell widths), else the
byte tokenizer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("the model reads every token of the prompt and learns to predict the next one "
         "while the loss counts only where labels are not minus one hundred, so padding "
         "and prompt positions are masked; newlines\nand  double spaces\tand tabs show too. "
         "Numbers 12345 and punctuation (like this) — or unicode: café, naïve, 東京.").split(" ")


def write_data(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(rows):
            n = 500 + (i * 37) % 400  # words: every response is longer than 512 tokens
            words = [WORDS[(i + k * 7) % len(WORDS)] for k in range(n)]
            fh.write(json.dumps({"instruction": f"Write paragraph {i} about training.",
                                 "input": "" if i % 3 else f"Context {i}: tokens.",
                                 "output": " ".join(words)}, ensure_ascii=False) + "\n")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


async def bench(data: Path, tokenizer: str, size: tuple[int, int], repeat: int,
                verbose: bool = False) -> dict:
    from screens.app import make_app
    from screens.batches import BatchesScreen

    app = make_app(data=str(data), start_mode="batches", persist=False,
                   sessions_dir=Path(tempfile.mkdtemp()) / "sessions")
    app.state.tokenizer = tokenizer
    out: dict = {}
    async with app.run_test(size=size) as pilot:
        t0 = time.perf_counter()
        screen = None
        for _ in range(6000):
            await pilot.pause(0.01)
            screen = app.screen
            if isinstance(screen, BatchesScreen) and not screen.busy and screen.batch is not None:
                break
        out["tokenize_s"] = time.perf_counter() - t0
        import gc; gc.freeze() if "FREEZE" in __import__("os").environ else None
        assert screen is not None and screen.batch is not None, "the screen did not load"
        p = screen.prepared
        out["examples"] = len(p.encoded)
        out["batches"] = len(p.plan)
        grid = screen.grid
        show, draw, draw_all, key = [], [], [], []
        n = min(repeat, len(p.plan))
        for i in range(n):
            t = time.perf_counter()
            screen.show_batch(i)
            show.append(time.perf_counter() - t)
            if verbose:
                print(f"  batch {i}: show {show[-1] * 1000:.1f} ms")
            assert screen.batch.shape == (8, 512), screen.batch.shape
            t = time.perf_counter()
            grid._strips.clear()
            for y in range(grid.size.height):
                grid.render_line(y)
            draw.append(time.perf_counter() - t)
            t = time.perf_counter()
            grid._strips.clear()
            for line in grid._lines:
                grid._draw(line, grid._layout_width)
            draw_all.append(time.perf_counter() - t)
        screen.show_batch(0)
        await pilot.pause(0.05)
        for i in range(n - 1):
            t = time.perf_counter()
            await pilot.press("right")
            await pilot.wait_for_scheduled_animations()
            await pilot.pause(0)
            key.append(time.perf_counter() - t)
        baseline = []
        for i in range(n - 1):  # a key the screen ignores: what Pilot itself costs
            t = time.perf_counter()
            await pilot.press("x")
            await pilot.wait_for_scheduled_animations()
            await pilot.pause(0)
            baseline.append(time.perf_counter() - t)
        out["lines"] = len(grid._lines)
        out["cells"] = sum(len(line.cells) for line in grid._lines)
        for name, values in (("show", show), ("draw", draw), ("draw_all", draw_all),
                             ("key_to_frame", key), ("pilot_baseline", baseline)):
            out[name] = {"median_ms": round(statistics.median(values) * 1000, 2),
                         "max_ms": round(max(values) * 1000, 2)}
        out["show_plus_draw_median_ms"] = round(
            statistics.median(s + d for s, d in zip(show, draw)) * 1000, 2)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = ROOT.parent / "shared" / "gpt2-bpe"
    p.add_argument("--tokenizer", default=str(shared) if shared.exists() else "bytes")
    p.add_argument("--rows", type=int, default=400)
    p.add_argument("--size", default="160x48")
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--verbose", "-v", action="store_true", help="print each batch's time")
    args = p.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "long.jsonl"
        write_data(data, args.rows)
        result = asyncio.run(bench(data, args.tokenizer, (w, h), args.repeat, args.verbose))
    print(f"tokenizer {args.tokenizer} · {result['examples']} examples tokenized in "
          f"{result['tokenize_s']:.2f} s (incl. app start) · {result['batches']} batches of 8×512 · "
          f"terminal {w}×{h} · {result['lines']} grid lines, {result['cells']} cells per batch")
    for name, label in (("show", "show (collate + warnings + cells + layout)"),
                        ("draw", "draw the lines on screen"),
                        ("draw_all", "draw every line of the batch"),
                        ("key_to_frame", "→ key to rendered frame (Pilot)"),
                        ("pilot_baseline", "an ignored key, for comparison (Pilot)")):
        r = result[name]
        print(f"  {label:<44} median {r['median_ms']:7.2f} ms   max {r['max_ms']:7.2f} ms")
    total = result["show_plus_draw_median_ms"]
    print(f"  show + draw (budget 50 ms)                   median {total:7.2f} ms   "
          f"{'OK' if total < 50 else 'OVER BUDGET'}")
    print(json.dumps(result))
    return 0 if total < 50 else 1


if __name__ == "__main__":
    raise SystemExit(main())
