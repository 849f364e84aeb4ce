"""Browsing a 1M-row local dataset: open (first time and cached), page, search, filter.

    python bench/bench_data_browse.py [--rows 1000000]

The Data screen calls exactly these functions (workbench.data.dataset.Dataset.page).
Target (issue #3): under 100 ms per page on a 1M-row local dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def make_file(path: Path, rows: int) -> None:
    rng = random.Random(0)
    words = ("alpha beta gamma delta apple river stone cloud green quick brown fox jumps lazy dog "
             "music light paper garden window summer winter ocean mountain forest").split()
    cats = ["capital", "arithmetic", "list", "summary", "code", "definition"]
    with open(path, "w") as fh:
        for i in range(rows):
            ins = " ".join(rng.choices(words, k=rng.randint(5, 15)))
            out = " ".join(rng.choices(words, k=rng.randint(5, 40)))
            fh.write(json.dumps({"instruction": f"{ins} #{i}", "input": "", "output": out,
                                 "category": cats[i % 6]}) + "\n")


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_CACHE"] = os.path.join(tmp, "cache")
        from workbench.data.sources import open_dataset

        path = Path(tmp) / "rows.jsonl"
        t, _ = timed(lambda: make_file(path, args.rows))
        print(f"generated {args.rows:,} alpaca rows ({path.stat().st_size / 1e6:.0f} MB) in {t:.1f} s")
        t, ds = timed(lambda: open_dataset(str(path)))
        print(f"open (read + check every row, write the Arrow cache): {t:.2f} s · {ds.describe()}")
        t, ds = timed(lambda: open_dataset(str(path)))
        print(f"reopen (memory-mapped from the cache): {t * 1000:.1f} ms")
        rng = random.Random(1)
        pages = [rng.randrange(0, args.rows // 50) for _ in range(50)]
        it = iter(pages)
        t, _ = timed(lambda: ds.page(None, next(it), 50), repeat=50)
        print(f"page of 50 rows (random pages, median of 50): {t * 1000:.2f} ms")
        t, page = timed(lambda: ds.page(None, 0, 50, search="river stone"), repeat=1)
        print(f"search 'river stone' (first time, {page.matched:,} matches): {t * 1000:.0f} ms")
        t, _ = timed(lambda: ds.page(None, 3, 50, search="river stone"), repeat=5)
        print(f"  next pages of that search: {t * 1000:.2f} ms")
        t, page = timed(lambda: ds.page(None, 0, 50, label="category", value="code"), repeat=1)
        print(f"filter category=code (first time, {page.matched:,} matches): {t * 1000:.0f} ms")
        t, _ = timed(lambda: ds.page(None, 7, 50, label="category", value="code"), repeat=5)
        print(f"  next pages of that filter: {t * 1000:.2f} ms")
        t, stats = timed(lambda: ds.stats("category"))
        print(f"label counts: {t * 1000:.0f} ms")


if __name__ == "__main__":
    main()
