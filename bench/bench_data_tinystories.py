"""TinyStoriesInstruct at scale: parse + label + balance, raw rows/s and peak memory, for a
file of N examples and one of 2N (memory must stay flat when the file doubles).

    python bench/bench_data_tinystories.py [--examples 2000000] [--keep]

The file is written by the demo generator in the real raw-row format (92% happy, 8% sad).
Two paths are measured, each in a fresh process (so its memory is its own):

* arrow: `open_dataset` parses the file in two processes into memory-mapped Arrow (the
  cache), then `stats("ending")` and `balance(..., "undersample")` (the recipe of seed 000:
  keep every sad example, sample as many happy ones); saving the 16% kept is timed apart.
* stream: `--streaming`, the two-pass streaming balance of `workbench data balance
  --streaming`, written to JSONL (one process, constant memory).

Peak memory is the high-water mark of anonymous memory (heap: RssAnon sampled every 50 ms,
plus the parse workers' own peak RSS); file pages mapped from the Arrow cache are page cache
the kernel can drop, and are reported apart as peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_anon_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class PeakAnon:
    def __init__(self) -> None:
        self.peak = rss_anon_kb()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_anon_kb())
            time.sleep(0.05)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return max(self.peak, rss_anon_kb())


def child_arrow(path: str, out: str) -> dict:
    from workbench.data.balance import balance
    from workbench.data.save import save_dataset
    from workbench.data.sources import open_dataset

    peak = PeakAnon()
    t0 = time.perf_counter()
    ds = open_dataset(path)
    t1 = time.perf_counter()
    stats = ds.stats("ending")
    t2 = time.perf_counter()
    balanced, report = balance(ds, "ending", "undersample", seed=0)
    t3 = time.perf_counter()
    anon_before_save = peak.stop()
    peak = PeakAnon()
    save_dataset(balanced, out)
    t4 = time.perf_counter()
    parse = ds.info["parse"]["train"]
    return {"path": "arrow", "raw_rows": parse["raw_rows"], "examples": parse["examples"],
            "before": stats["train"], "after": report.after["train"],
            "parse_s": t1 - t0, "label_s": t2 - t1, "balance_s": t3 - t2, "save_s": t4 - t3,
            "peak_anon_mb": anon_before_save / 1024, "peak_anon_save_mb": peak.stop() / 1024,
            "workers_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_stream(path: str, out: str) -> dict:
    from workbench.data.balance import balance_stream, iter_selected
    from workbench.data.save import save_stream
    from workbench.data.sources import open_dataset

    peak = PeakAnon()
    t0 = time.perf_counter()
    sds = open_dataset(path, streaming=True)
    report, selection = balance_stream(sds, "ending", "undersample", seed=0)   # pass 1
    t1 = time.perf_counter()
    save_stream(sds, out, {"train": iter_selected(sds, "train", "ending", selection["train"])})
    t2 = time.perf_counter()                                                     # pass 2
    before = report.before["train"]
    return {"path": "stream", "examples": sum(before.values()), "before": before,
            "after": report.after["train"], "pass1_s": t1 - t0, "pass2_s": t2 - t1,
            "peak_anon_mb": peak.stop() / 1024,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=2_000_000)
    ap.add_argument("--dir", default=None, help="work folder (default: a temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, path, out = args.child
        fn = child_arrow if kind == "arrow" else child_stream
        print("RESULT " + json.dumps(fn(path, out)))
        return
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-ts-"))
    work.mkdir(parents=True, exist_ok=True)
    from workbench.demo.tinystories import write_tinystories_raw

    try:
        for n in (args.examples, 2 * args.examples):
            path = work / f"raw-{n}.txt"
            t = time.perf_counter()
            info = write_tinystories_raw(path, n, seed=0)
            print(f"\n{n:,} examples: wrote {path.stat().st_size / 1e9:.2f} GB, {info['rows']:,} raw "
                  f"rows ({info['sad']:,} sad) in {time.perf_counter() - t:.0f} s")
            for kind in ("arrow", "stream"):
                env = dict(os.environ, WORKBENCH_CACHE=str(work / f"cache-{n}"))
                out = work / f"balanced-{kind}-{n}.jsonl"
                res = subprocess.run([sys.executable, __file__, "--child", kind, str(path), str(out)],
                                     capture_output=True, text=True, env=env)
                line = next((x for x in res.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    print(f"  {kind}: failed\n{res.stderr[-3000:]}")
                    continue
                r = json.loads(line[7:])
                if kind == "arrow":
                    work_s = r["parse_s"] + r["label_s"] + r["balance_s"]
                    print(f"  arrow  parse {r['parse_s']:.1f} s + label {r['label_s']:.2f} s + balance "
                          f"{r['balance_s']:.2f} s = {work_s:.1f} s: {r['raw_rows'] / work_s / 1e6:.2f}M raw "
                          f"rows/s, {r['examples'] / work_s / 1e3:.0f}k examples/s · {r['before']} -> "
                          f"{r['after']}")
                    print(f"         peak memory: main {r['peak_anon_mb']:.0f} MB heap, parse workers "
                          f"{r['workers_peak_rss_mb']:.0f} MB RSS · saving the kept rows: "
                          f"{r['save_s']:.1f} s, {r['peak_anon_save_mb']:.0f} MB heap "
                          f"(peak RSS with mapped file pages {r['peak_rss_mb']:.0f} MB)")
                else:
                    work_s = r["pass1_s"] + r["pass2_s"]
                    print(f"  stream two passes {work_s:.1f} s ({r['pass1_s']:.1f} + {r['pass2_s']:.1f}): "
                          f"{r['examples'] / work_s / 1e3:.0f}k examples/s · peak memory "
                          f"{r['peak_anon_mb']:.0f} MB heap ({r['peak_rss_mb']:.0f} MB RSS)")
            for f in (path, *work.glob(f"balanced-*-{n}*")):
                if not args.keep:
                    f.unlink(missing_ok=True)
            if not args.keep:
                shutil.rmtree(work / f"cache-{n}", ignore_errors=True)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
